import { type EntityManager, QueryOrder } from '@mikro-orm/postgresql';
import DataLoader from 'dataloader';
import type { Viewer } from '../../auth/jwt.js';
import { AppError, BadUserInputError, NotFoundError, QueueUnavailableError } from '../../errors.js';
import { errorFields, type Logger } from '../../lib/logger.js';
import { decodeCursor, olderThan, type Page, type PageArgs, pageSize, toPage } from '../../lib/pagination.js';
import { noTracing, type Tracing } from '../../lib/tracing.js';
import { parseInput } from '../../lib/validation.js';
import { type AuditNote, type AuditTrail, auditInsert } from '../audit/audit.service.js';
import { AuditOutcome } from '../audit/audit-event.entity.js';
import { Clinician } from '../clinician/clinician.entity.js';
import type { OutboxRelay } from '../outbox/outbox.relay.js';
import { Patient } from '../patient/patient.entity.js';
import type { PatientService } from '../patient/patient.service.js';
import { isUuid } from '../patient/patient.validation.js';
import { Diagnosis } from './diagnosis.entity.js';
import type { LiveStateFeed, LiveStateWriter } from './diagnosis.live.js';
import { DiagnosisLifecycle, postgresRecord } from './diagnosis.transitions.js';
import {
  type DiagnosisRequestInput,
  type DiagnosisReviewInput,
  diagnosisRequestSchema,
  diagnosisReviewSchema,
} from './diagnosis.validation.js';
import { type DiagnosisView, isTerminal, newest, viewOf } from './diagnosis.view.js';

export const DiagnosisAudit = {
  request: 'diagnosis.request',
  read: 'diagnosis.read',
  /** `Patient.diagnoses`: the list of one patient's diagnoses. */
  list: 'diagnosis.list',
  cancel: 'diagnosis.cancel',
  review: 'diagnosis.review',
  subscribe: 'diagnosis.subscribe',
} as const;

/** What the diagnosis service needs beyond one operation's context. */
export interface DiagnosisDeps {
  live: LiveStateWriter;
  /** The published states subscriptions follow. */
  feed: LiveStateFeed;
  relay: OutboxRelay;
  logger: Logger;
  /** The job, the announced state and a cancel carry the operation's trace context. */
  tracing?: Tracing;
}

/**
 * Diagnoses for one viewer and one operation. Access follows the patient: a diagnosis is visible
 * exactly when its patient is (via {@link PatientService}). Reads merge the durable row with the
 * live state, whichever is newer.
 */
export class DiagnosisService {
  private readonly rows = new DataLoader<string, Diagnosis | null>(async (ids) => {
    const found = await this.em.find(Diagnosis, { id: { $in: [...ids] } });
    const byId = new Map(found.map((d) => [d.id, d]));
    return ids.map((id) => byId.get(id) ?? null);
  });

  private readonly clinicians = new DataLoader<string, Clinician | null>(async (ids) => {
    const found = await this.em.find(Clinician, { id: { $in: [...ids] } });
    const byId = new Map(found.map((c) => [c.id, c]));
    return ids.map((id) => byId.get(id) ?? null);
  });

  constructor(
    private readonly em: EntityManager,
    private readonly viewer: Viewer,
    private readonly audit: AuditTrail,
    private readonly patients: PatientService,
    private readonly deps: DiagnosisDeps,
  ) {}

  /** This process' spans (off unless configured). */
  get tracing(): Tracing {
    return this.deps.tracing ?? noTracing;
  }

  /** The live-state field that makes a state's deliveries part of this operation's trace. */
  private traced(): Pick<DiagnosisView, 'traceparent'> {
    return this.tracing.enabled ? { traceparent: this.tracing.carrier().traceparent ?? null } : {};
  }

  /** Where live states are subscribed to. */
  get feed(): LiveStateFeed {
    return this.deps.feed;
  }

  /** The clinician who requested a diagnosis (rows exist: created on first sight). */
  async clinician(id: string): Promise<Clinician> {
    const clinician = await this.clinicians.load(id);
    if (!clinician) throw new NotFoundError('Clinician');
    return clinician;
  }

  /**
   * Stores the diagnosis QUEUED and its job in the outbox, in one transaction, and answers at once:
   * the relay hands the job to NATS (now, or when NATS is back), so an accepted request is never lost.
   */
  async request(patientId: string, input: DiagnosisRequestInput): Promise<DiagnosisView> {
    const note: AuditNote = { action: 'C', patientId, subtype: DiagnosisAudit.request };
    return this.audited(note, async () => {
      await this.patients.requireVisible(patientId);
      const { symptoms, notes } = parseInput(diagnosisRequestSchema, input);
      const diagnosis = new Diagnosis(
        this.em.getReference(Patient, patientId),
        this.em.getReference(Clinician, this.viewer.id),
        symptoms,
        notes,
      );
      // The job carries the request's trace context, through the outbox row to the worker.
      const job = { diagnosisId: diagnosis.id, requestedAt: diagnosis.createdAt.getTime(), ...this.tracing.carrier() };
      const audit = auditInsert(this.audit.event({ ...note, patientId }));
      // The diagnosis, its outbox row and its audit row in ONE statement: atomic without a
      // transaction's extra round trips, which dominated this mutation's cost.
      await this.em.getConnection().execute(
        `with d as (
           insert into diagnosis (id, patient_id, requested_by_id, status, progress, attempts, version, symptoms, notes, created_at, updated_at)
           values (?, ?, ?, 'QUEUED', 0, 0, 1, ?::jsonb, ?, ?, ?) returning id),
         o as (insert into outbox_message (id, payload, created_at, attempts) select id, ?::jsonb, ?, 0 from d),
         t as (insert into diagnosis_transition (diagnosis_id, version, status, attempts, at) select id, 1, 'QUEUED', 0, ? from d)
         ${audit.sql}`,
        [
          diagnosis.id,
          patientId,
          this.viewer.id,
          JSON.stringify(symptoms),
          notes,
          diagnosis.createdAt,
          diagnosis.updatedAt,
          JSON.stringify(job),
          diagnosis.createdAt,
          diagnosis.createdAt,
          ...audit.bindings,
        ],
        'run',
      );
      const view = viewOf(diagnosis);
      // Best effort and not awaited: the answer does not wait for it. Subscribers of the patient
      // see it at once; readers of the diagnosis fall back to Postgres, and the announce never
      // overwrites a newer state (a worker's claim), as it only stores versions that are newer.
      void this.deps.live
        .announce({ ...view, ...this.traced() })
        .catch((error: Error) => this.deps.logger.warn(errorFields(error), 'could not announce a new diagnosis'));
      this.deps.relay.publishNow(job);
      return view;
    });
  }

  /**
   * The diagnosis if its patient is visible to the viewer; else null. Audited as a read — a
   * refused one against the diagnosis' patient when the diagnosis exists.
   */
  async find(id: string): Promise<DiagnosisView | null> {
    const view = await this.current(id);
    this.audit.record({
      action: 'R',
      patientId: view?.patientId ?? (await this.patientOf(id)),
      subtype: DiagnosisAudit.read,
      outcome: view ? AuditOutcome.Success : AuditOutcome.MinorFailure,
    });
    return view;
  }

  /** The patient of a diagnosis, whoever may see it: what a refused access is audited against. */
  async patientOf(id: string): Promise<string | null> {
    const row = isUuid(id) ? await this.rows.load(id.toLowerCase()) : null;
    return row?.patient.id ?? null;
  }

  async get(id: string): Promise<DiagnosisView> {
    const view = await this.find(id);
    if (!view) throw new NotFoundError('Diagnosis');
    return view;
  }

  /** The newest state (live or durable) of a visible diagnosis, unaudited (subscriptions audit once). */
  async current(id: string): Promise<DiagnosisView | null> {
    if (!isUuid(id)) return null;
    const row = await this.rows.load(id.toLowerCase());
    if (!row || !(await this.patients.visibleOrNull(row.patient.id))) return null;
    const [live] = await this.deps.live.get([row.id]).catch(() => [null]);
    return newest(live ?? null, viewOf(row));
  }

  /**
   * The newest state of a diagnosis read afresh — bypassing this operation's loaders, which keep
   * the first row they read — for a subscription catching up after a store outage. Unaudited and
   * unchecked: the subscription checked visibility when it began and re-checks on delivery.
   */
  async reread(id: string): Promise<DiagnosisView | null> {
    const row = await this.em.fork().findOne(Diagnosis, { id });
    if (!row) return null;
    const [live] = await this.deps.live.get([row.id]).catch(() => [null]);
    return newest(live ?? null, viewOf(row));
  }

  /**
   * The newest states of a patient's diagnoses that changed at or after `since` (epoch ms), read
   * afresh: what a patient subscription may have missed while a store was away.
   */
  async changedSince(patientId: string, since: number): Promise<DiagnosisView[]> {
    const rows = await this.em
      .fork()
      .find(Diagnosis, { patient: patientId, updatedAt: { $gte: new Date(since) } }, { orderBy: { createdAt: 'asc' } });
    const live = await this.deps.live.get(rows.map((r) => r.id)).catch(() => rows.map(() => null));
    return rows.map((row, i) => newest(live[i] ?? null, viewOf(row)) as DiagnosisView);
  }

  /** A patient's diagnoses, newest first (the patient was already authorised by the caller). */
  async forPatient(patient: Patient, args: PageArgs): Promise<Page<DiagnosisView>> {
    // A read of the patient's diagnoses, not only of the patient.
    this.audit.record({ action: 'R', patientId: patient.id, subtype: DiagnosisAudit.list });
    const size = pageSize(args.first);
    const after = decodeCursor(args.after);
    const rows = await this.em.find(
      Diagnosis,
      { patient: patient.id, ...olderThan('createdAt', after) },
      { orderBy: [{ createdAt: QueryOrder.DESC }, { id: QueryOrder.DESC }], limit: size + 1 },
    );
    const live = await this.deps.live.get(rows.map((r) => r.id)).catch(() => rows.map(() => null));
    const views = rows.map((row, i) => newest(live[i] ?? null, viewOf(row)) as DiagnosisView);
    return toPage(views, size, (v) => ({ at: new Date(v.createdAt), id: v.id }));
  }

  /**
   * Cancels a QUEUED or RUNNING diagnosis (the lifecycle's `cancel`): the live store's
   * compare-and-set decides the race with a worker finishing at the same moment; Postgres follows. A terminal diagnosis
   * is `BAD_USER_INPUT`.
   */
  async cancel(id: string): Promise<DiagnosisView> {
    const note: AuditNote = { action: 'U', patientId: null, subtype: DiagnosisAudit.cancel };
    return this.audited(note, async () => {
      const row = isUuid(id) ? await this.rows.load(id.toLowerCase()) : null;
      // Known before the visibility check: a refused cancel is audited against the patient too.
      note.patientId = row?.patient.id ?? null;
      if (!row || !(await this.patients.visibleOrNull(row.patient.id))) throw new NotFoundError('Diagnosis');
      const durable = viewOf(row);
      const change = await this.lifecycle().cancel(durable, this.traced());
      if (!change.applied) {
        const current = newest(change.current, durable);
        if (current && isTerminal(current)) {
          throw new BadUserInputError(`The diagnosis is already ${current.status} and cannot be cancelled`);
        }
        throw new BadUserInputError('The diagnosis changed while cancelling; try again');
      }
      this.audit.record({ ...note, patientId: row.patient.id });
      return change.view;
    });
  }

  /**
   * A clinician's sign-off of a COMPLETED diagnosis, once (the lifecycle's `review`): visibility
   * first (NOT_FOUND whatever the status), then the input, then the state — anything but an
   * unreviewed COMPLETED diagnosis is `BAD_USER_INPUT`. The model's result is left as it is; the
   * review is stored beside it, bumps `version` and is published to the patient's subscribers.
   */
  async review(id: string, input: DiagnosisReviewInput): Promise<DiagnosisView> {
    const note: AuditNote = { action: 'U', patientId: null, subtype: DiagnosisAudit.review };
    return this.audited(note, async () => {
      const row = isUuid(id) ? await this.rows.load(id.toLowerCase()) : null;
      if (!row || !(await this.patients.visibleOrNull(row.patient.id))) throw new NotFoundError('Diagnosis');
      note.patientId = row.patient.id;
      const { decision, note: text, amendedSummary } = parseInput(diagnosisReviewSchema, input);
      const durable = viewOf(row);
      const review = { decision, reviewerId: this.viewer.id, note: text, amendedSummary, reviewedAt: Date.now() };
      const change = await this.lifecycle().review(durable, review, this.traced());
      if (!change.applied) {
        const current = newest(change.current, durable) as DiagnosisView;
        if (current.status !== 'COMPLETED') {
          throw new BadUserInputError(`Only a COMPLETED diagnosis can be reviewed; this one is ${current.status}`);
        }
        throw new BadUserInputError('The diagnosis has already been reviewed');
      }
      this.audit.record({ ...note, patientId: row.patient.id });
      return change.view;
    });
  }

  /**
   * The lifecycle's transitions, with this operation's EntityManager for their Postgres step. A
   * live store that does not answer refuses the change with QUEUE_UNAVAILABLE (retryable; its
   * compare-and-set runs first, so nothing was changed), never INTERNAL.
   */
  private lifecycle(): DiagnosisLifecycle {
    const live = this.deps.live;
    const unavailable = (): never => {
      throw new QueueUnavailableError();
    };
    return new DiagnosisLifecycle(
      {
        get: (ids) => live.get(ids).catch(unavailable),
        change: (id, precondition, patch, seed) => live.change(id, precondition, patch, seed).catch(unavailable),
        announce: (view) => live.announce(view).catch(unavailable),
      },
      postgresRecord(this.em),
    );
  }

  /** Audits a refused or failed write too (see {@link AuditTrail.write}), with a well-formed id only. */
  private audited<T>(note: AuditNote, work: () => Promise<T>): Promise<T> {
    return this.audit.write(
      () => ({ ...note, patientId: note.patientId && isUuid(note.patientId) ? note.patientId.toLowerCase() : null }),
      work,
      (error) => error instanceof AppError,
    );
  }
}
