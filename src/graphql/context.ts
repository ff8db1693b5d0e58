import { randomUUID } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { bearerToken, type TokenVerifier, type Viewer } from '../auth/jwt.js';
import { UnauthenticatedError } from '../errors.js';
import type { AssessmentEngine } from '../modules/assessment/assessment.engine.js';
import { AssessmentService } from '../modules/assessment/assessment.service.js';
import { type AuditLog, AuditTrail } from '../modules/audit/audit.service.js';
import type { ClinicianRegistry } from '../modules/clinician/clinician.service.js';
import { type DiagnosisDeps, DiagnosisService } from '../modules/diagnosis/diagnosis.service.js';
import type { CareTeamEvents } from '../modules/patient/care-team.events.js';
import { PatientService } from '../modules/patient/patient.service.js';
import type { PatientSnapshots } from '../modules/patient/patient.snapshots.js';

/** What every resolver gets: who is asking, and that operation's services. */
export interface Context {
  readonly viewer: Viewer;
  readonly requestId: string;
  readonly audit: AuditTrail;
  readonly patients: PatientService;
  readonly assessments: AssessmentService;
  readonly diagnoses: DiagnosisService;
}

/** The parts of the process a context is built from. */
export interface ContextDeps {
  orm: MikroORM;
  auditLog: AuditLog;
  clinicians: ClinicianRegistry;
  careTeamEvents: CareTeamEvents;
  patientSnapshots: PatientSnapshots;
  verifier: TokenVerifier;
  assessmentEngine: AssessmentEngine;
  diagnosis: DiagnosisDeps;
}

/**
 * What the transports hand to Yoga's context factory. Over HTTP Yoga supplies `request` and
 * `params`; over graphql-ws there is no Fetch request, so the socket adapter authenticates once at
 * connection time and passes the `viewer` itself.
 */
export interface InitialContext {
  request?: Request;
  params?: { operationName?: string | null };
  viewer?: Viewer;
  requestId?: string;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The request id to log and audit under: the caller's `x-request-id` if sane, else a new one. */
export function requestIdOf(request: Request | undefined): string {
  const given = request?.headers.get('x-request-id');
  return given && REQUEST_ID.test(given) ? given : randomUUID();
}

/** Verifies a bearer token and makes sure the clinician row exists (created on first sight). */
export async function authenticate(deps: ContextDeps, authorization: unknown): Promise<Viewer> {
  const token = bearerToken(authorization);
  if (!token) throw new UnauthenticatedError();
  const viewer = await deps.verifier.verify(token);
  await deps.clinicians.ensure(viewer);
  return viewer;
}

/**
 * An operation's EntityManager fork, made when first used: a cached read (snapshot from the
 * per-pod cache, assessment from Redis) never touches the ORM, and forking costs more than the
 * rest of such a request's context. Every property is the real fork's, methods bound to it.
 */
function lazyFork(orm: MikroORM): EntityManager {
  let em: EntityManager | undefined;
  return new Proxy(Object.create(Object.getPrototypeOf(orm.em)) as EntityManager, {
    get(_target, property) {
      em ??= orm.em.fork();
      const value = Reflect.get(em, property, em) as unknown;
      return typeof value === 'function' ? value.bind(em) : value;
    },
  });
}

/** Builds one operation's context: an EntityManager fork (made when first used), loaders and audit trail. */
export async function createContext(deps: ContextDeps, initial: InitialContext): Promise<Context> {
  const viewer = initial.viewer ?? (await authenticate(deps, initial.request?.headers.get('authorization')));
  const requestId = initial.requestId ?? requestIdOf(initial.request);
  const em = lazyFork(deps.orm);
  const audit = new AuditTrail(deps.auditLog, viewer.id, requestId, initial.params?.operationName ?? null);
  const patients = new PatientService(em, viewer, audit, deps.clinicians, deps.careTeamEvents, deps.patientSnapshots);
  return {
    viewer,
    requestId,
    audit,
    patients,
    assessments: new AssessmentService(deps.assessmentEngine, audit, patients),
    diagnoses: new DiagnosisService(em, viewer, audit, patients, deps.diagnosis),
  };
}
