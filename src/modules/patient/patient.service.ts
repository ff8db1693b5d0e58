import {
  type EntityManager,
  type FilterQuery,
  LockMode,
  QueryOrder,
  UniqueConstraintViolationException,
} from '@mikro-orm/postgresql';
import DataLoader from 'dataloader';
import type { Viewer } from '../../auth/jwt.js';
import { AppError, BadUserInputError, NotFoundError } from '../../errors.js';
import { decodeCursor, olderThan, type Page, type PageArgs, pageSize, toPage } from '../../lib/pagination.js';
import { parseInput } from '../../lib/validation.js';
import type { AuditNote, AuditTrail } from '../audit/audit.service.js';
import { AuditOutcome } from '../audit/audit-event.entity.js';
import { Clinician } from '../clinician/clinician.entity.js';
import type { ClinicianRegistry } from '../clinician/clinician.service.js';
import type { CareTeamEvents } from './care-team.events.js';
import { CareTeamMember } from './care-team-member.entity.js';
import {
  foldObservation,
  OBSERVATION_FIELDS,
  Observation,
  type ObservationField,
  type ObservationValues,
  pickObservationValues,
  recordingTime,
} from './observation.entity.js';
import { Patient } from './patient.entity.js';
import type { PatientSnapshot, PatientSnapshots, ReadAlong } from './patient.snapshots.js';
import {
  type CreatePatientInput,
  clinicianIdSchema,
  createPatientSchema,
  isUuid,
  type ObservationsInput,
  observationsSchema,
} from './patient.validation.js';

/** Audit subtypes: what was done, independent of the GraphQL field that did it. */
/** The clinician a care-team change is about, for its audit event (refused changes too), when the id is valid. */
function memberNote(clinicianId: string): Pick<AuditNote, 'entityClinicianId'> {
  const member = clinicianIdSchema.safeParse(clinicianId);
  return member.success ? { entityClinicianId: member.data } : {};
}

export const PatientAudit = {
  read: 'patient.read',
  search: 'patient.search',
  create: 'patient.create',
  recordObservations: 'patient.observations.create',
  addCareTeamMember: 'patient.careTeam.add',
  removeCareTeamMember: 'patient.careTeam.remove',
} as const;

const MAX_SEARCH_LENGTH = 100;

/** A patient's snapshot right after one recording (see {@link PatientService.snapshotHistory}). */
export interface SnapshotAt {
  /** The recording that made this snapshot. */
  readonly observationId: string;
  /** When that recording took effect. */
  readonly recordedAt: Date;
  /** Every field's latest value as of then. */
  readonly values: ObservationValues;
}

/**
 * Everything about patients for one viewer and one operation (it holds that operation's
 * EntityManager fork and DataLoaders). The care-team rule lives here, in {@link accessFilter},
 * and every path to a patient goes through it.
 */
export class PatientService {
  private readonly visible = new DataLoader<string, Patient | null>((ids) => this.loadVisible(ids));
  private readonly careTeams = new DataLoader<string, Clinician[]>((ids) => this.loadCareTeams(ids));
  private readonly colleagues = new DataLoader<string, Clinician | null>((ids) => this.loadColleagues(ids));

  constructor(
    private readonly em: EntityManager,
    private readonly viewer: Viewer,
    private readonly audit: AuditTrail,
    private readonly clinicians: ClinicianRegistry,
    private readonly careTeamEvents: CareTeamEvents,
    private readonly snapshots: PatientSnapshots,
  ) {}

  /**
   * The care-team rule: admins see every patient; a clinician sees the patients whose care team
   * they are on. Whatever falls outside is reported exactly like a patient that does not exist.
   */
  private accessFilter(): FilterQuery<Patient> {
    return this.viewer.isAdmin ? {} : { careTeam: { clinician: this.viewer.id } };
  }

  /** The patient if it exists and the viewer may see it; else null. Audited as a read. */
  async find(id: string): Promise<Patient | null> {
    const lower = isUuid(id) ? id.toLowerCase() : null;
    const patient = lower ? await this.visible.load(lower) : null;
    this.recordRead(lower, patient);
    return patient;
  }

  /**
   * {@link get}, reading `along.keys` of the shared cache in the same round trip as the access
   * check (their values land in `along.values`): for a read that knows, from what this pod holds
   * of the patient ({@link peek}), which cache keys it will want next. The values are plain reads
   * of those keys and say nothing about the patient: the caller uses one only if the checked
   * patient leads it to that very key.
   *
   * The patient answered is the pod's shared, frozen snapshot — no per-operation copy — so the
   * caller may read it and must not hand it to GraphQL (which may tag what it resolves); nor is it
   * kept for this operation's later loads, which check and copy as usual.
   */
  async getReading(id: string, along: ReadAlong): Promise<Readonly<Patient>> {
    const lower = isUuid(id) ? id.toLowerCase() : null;
    const patient = lower ? ((await this.loadVisible([lower], along, true))[0] ?? null) : null;
    this.recordRead(lower, patient);
    if (!patient) throw new NotFoundError('Patient');
    return patient;
  }

  /**
   * What this pod holds of a patient, unchecked (its version is not read, nor the care team
   * consulted): only to guess cache keys for {@link getReading}, never to answer from.
   */
  peek(id: string): Patient | undefined {
    return isUuid(id) ? this.snapshots.peek(id.toLowerCase())?.patient : undefined;
  }

  /** Audits a read by id — a well-formed, lower-cased one, else null — refused if not found or hidden. */
  private recordRead(id: string | null, patient: Readonly<Patient> | null): void {
    this.audit.record({
      action: 'R',
      patientId: id,
      subtype: PatientAudit.read,
      outcome: patient ? AuditOutcome.Success : AuditOutcome.MinorFailure,
    });
  }

  /** Like {@link find}, but a missing or hidden patient is a `NOT_FOUND` error. */
  async get(id: string): Promise<Patient> {
    const patient = await this.find(id);
    if (!patient) throw new NotFoundError('Patient');
    return patient;
  }

  /**
   * The viewer's patients, newest first, optionally narrowed by a case-insensitive prefix of the
   * MRN, given name or family name. Every patient returned is audited as read.
   */
  async list(args: PageArgs & { search?: string | null }): Promise<Page<Patient>> {
    const size = pageSize(args.first);
    const after = decodeCursor(args.after);
    const conditions: FilterQuery<Patient>[] = [this.accessFilter()];
    const search = args.search?.trim();
    if (search) {
      if (search.length > MAX_SEARCH_LENGTH) {
        throw new BadUserInputError(`search must be at most ${MAX_SEARCH_LENGTH} characters`, 'search');
      }
      const prefix = `${search.replace(/[\\%_]/g, '\\$&')}%`;
      conditions.push({
        $or: [{ mrn: { $ilike: prefix } }, { givenName: { $ilike: prefix } }, { familyName: { $ilike: prefix } }],
      });
    }
    if (after) conditions.push(olderThan('createdAt', after));
    const rows = await this.em.find(
      Patient,
      { $and: conditions },
      { orderBy: [{ createdAt: QueryOrder.DESC }, { id: QueryOrder.DESC }], limit: size + 1 },
    );
    const page = toPage(rows, size, (p) => ({ at: p.createdAt, id: p.id }));
    for (const patient of page.nodes) {
      this.visible.prime(patient.id, patient);
      this.audit.record({ action: 'R', patientId: patient.id, subtype: PatientAudit.search });
    }
    return page;
  }

  /** Creates a patient; the creator joins its care team. An MRN already in use is `BAD_USER_INPUT`. */
  async create(input: CreatePatientInput): Promise<Patient> {
    const note: AuditNote = { action: 'C', patientId: null, subtype: PatientAudit.create };
    return this.audited(note, async () => {
      const fields = parseInput(createPatientSchema, input);
      try {
        return await this.em.transactional(async (em) => {
          const creator = em.getReference(Clinician, this.viewer.id);
          const patient = new Patient({ ...fields, createdBy: creator });
          em.persist(patient);
          em.persist(new CareTeamMember(patient, creator, this.viewer.id));
          this.audit.inTransaction(em, { action: 'C', patientId: patient.id, subtype: PatientAudit.create });
          return patient;
        });
      } catch (error) {
        if (error instanceof UniqueConstraintViolationException) {
          // The refusal is audited against the patient who holds the MRN, whoever asked: a
          // clinician probing MRNs they may not see leaves a trail on each patient found.
          note.patientId = await this.holderOfMrn(fields.mrn);
          throw new BadUserInputError('A patient with this MRN already exists', 'mrn');
        }
        throw error;
      }
    });
  }

  /**
   * Appends one observation row and folds its values into the patient's snapshot. The patient row
   * is locked for the transaction, so concurrent recordings never lose each other's fields.
   */
  async recordObservations(patientId: string, input: ObservationsInput): Promise<Patient> {
    const note: AuditNote = { action: 'C', patientId, subtype: PatientAudit.recordObservations };
    return this.audited(note, async () => {
      await this.requireVisible(patientId);
      const values = pickObservationValues(parseInput(observationsSchema, input));
      const patient = await this.em.transactional(async (em) => {
        const patient = await em.findOneOrFail(Patient, patientId, { lockMode: LockMode.PESSIMISTIC_WRITE });
        const observation = new Observation(patient, this.viewer.id, values, recordingTime(patient.observedAt));
        em.persist(observation);
        patient.latestObservations = foldObservation(patient.latestObservations, values);
        patient.observedAt = observation.recordedAt;
        this.audit.inTransaction(em, note);
        return patient;
      });
      // Before answering: from now on no pod assesses the patient on the snapshot before this one.
      await this.snapshots.changed(patientId);
      return patient;
    });
  }

  /** Adds a clinician (by token `sub`) to the care team. Adding a member twice changes nothing. */
  async addCareTeamMember(patientId: string, clinicianId: string): Promise<Patient> {
    const note: AuditNote = {
      action: 'U',
      patientId,
      subtype: PatientAudit.addCareTeamMember,
      ...memberNote(clinicianId),
    };
    return this.audited(note, async () => {
      await this.requireVisible(patientId);
      const memberId = parseInput(clinicianIdSchema, clinicianId);
      await this.em.transactional(async (em) => {
        const clinician = await this.clinicians.ensureReferenced(em, memberId);
        const patient = em.getReference(Patient, patientId);
        const existing = await em.findOne(CareTeamMember, { patient, clinician });
        if (existing) return;
        em.persist(new CareTeamMember(patient, clinician, this.viewer.id));
        this.audit.inTransaction(em, note);
      });
      await this.snapshots.changed(patientId);
      this.careTeams.clear(patientId);
      return this.em.findOneOrFail(Patient, patientId, { refresh: true });
    });
  }

  /**
   * Removes a clinician from the care team, by a member (themself included) or an admin. The
   * removal takes effect before this answers: the clinician's next read is `NOT_FOUND`, and every
   * pod has been told to end their open subscriptions on the patient (see
   * {@link accessRevoked}). The last member cannot be removed (`BAD_USER_INPUT`): a patient
   * nobody but admins can see would be lost to its clinicians. Removing a clinician who is not a
   * member answers the patient unchanged and audits no change.
   */
  async removeCareTeamMember(patientId: string, clinicianId: string): Promise<Patient> {
    const note: AuditNote = {
      action: 'U',
      patientId,
      subtype: PatientAudit.removeCareTeamMember,
      ...memberNote(clinicianId),
    };
    return this.audited(note, async () => {
      await this.requireVisible(patientId);
      const memberId = parseInput(clinicianIdSchema, clinicianId);
      await this.em.transactional(async (em) => {
        // The patient row lock serialises changes to one care team: two members removing each
        // other at once must not both pass the last-member check and leave the team empty.
        await em.findOneOrFail(Patient, patientId, { lockMode: LockMode.PESSIMISTIC_WRITE });
        const members = await em.find(CareTeamMember, { patient: patientId });
        if (!members.some((m) => m.clinician.id === memberId)) return;
        if (members.length === 1) {
          throw new BadUserInputError('The last member of a care team cannot be removed', 'clinicianId');
        }
        await em.nativeDelete(CareTeamMember, { patient: patientId, clinician: memberId });
        this.audit.inTransaction(em, note);
      });
      // Announced for a non-member too: a client repeating a removal announces it again.
      await this.accessRevoked(patientId, memberId);
      this.careTeams.clear(patientId);
      return this.em.findOneOrFail(Patient, patientId, { refresh: true });
    });
  }

  /**
   * THE place where a clinician's access to a patient is withdrawn, called after the change has
   * committed and before the mutation answers. Every cache of access decisions is invalidated
   * here: this operation's loaders, and every pod's snapshot cache through the patient's shared
   * version ({@link PatientSnapshots.changed}), so the removed clinician's very next read, on any
   * pod, is refused. Then every pod is told, and ends the clinician's open subscriptions on the
   * patient. If that cannot be told (Redis down) the removal still answers — reads are refused
   * already (pods that cannot reach Redis read PostgreSQL) — and the subscriptions end at their
   * next periodic re-check, or before they deliver anything when Redis returns.
   */
  private async accessRevoked(patientId: string, clinicianId: string): Promise<void> {
    this.visible.clear(patientId);
    this.colleagues.clearAll();
    await this.snapshots.changed(patientId);
    await this.careTeamEvents.removed(patientId, clinicianId);
  }

  /**
   * Calls `onRevoked` when the viewer may have lost the patient: removed from its care team on
   * any pod, or a Redis outage ended (a removal may have been announced meanwhile). For
   * long-lived subscriptions, which must then check again (an admin, say, still sees the patient)
   * and end. Resolves once listening; the function it returns stops.
   */
  watchAccess(patientId: string, onRevoked: () => void): Promise<() => Promise<void>> {
    const viewer = this.viewer.id;
    return this.careTeamEvents.listen(
      patientId,
      (clinicianId) => {
        if (clinicianId === viewer) onRevoked();
      },
      onRevoked,
    );
  }

  /** The id of the patient whose MRN is `mrn` in any case (MRNs are unique case-insensitively). */
  private async holderOfMrn(mrn: string): Promise<string | null> {
    const [row] = await this.em
      .getConnection()
      .execute<{ id: string }[]>('select id from patient where lower(mrn) = lower(?)', [mrn]);
    return row?.id ?? null;
  }

  /** The care team of a patient the viewer was already allowed to read (batched per operation). */
  careTeam(patient: Patient): Promise<Clinician[]> {
    return this.careTeams.load(patient.id);
  }

  /**
   * A clinician by id, as the care-team rule allows: yourself, anyone who shares a care team
   * with you (the people you could see on a visible patient's `careTeam`), or anyone for an
   * admin. Anyone else is `NOT_FOUND`, like a clinician who does not exist.
   */
  async clinician(id: string): Promise<Clinician> {
    const clinician = clinicianIdSchema.safeParse(id).success ? await this.colleagues.load(id) : null;
    if (!clinician) throw new NotFoundError('Clinician');
    return clinician;
  }

  /** Observation history of a readable patient, newest first. */
  async observations(patient: Patient, args: PageArgs): Promise<Page<Observation>> {
    const size = pageSize(args.first);
    const after = decodeCursor(args.after);
    const rows = await this.em.find(
      Observation,
      { patient: patient.id, ...olderThan('recordedAt', after) },
      { orderBy: [{ recordedAt: QueryOrder.DESC }, { id: QueryOrder.DESC }], limit: size + 1 },
    );
    return toPage(rows, size, (o) => ({ at: o.recordedAt, id: o.id }));
  }

  /**
   * When each field of a readable patient's current snapshot was recorded: the newest observation
   * row that measured it (the snapshot's fields may come from different rows). One aggregate over
   * the patient's rows, for a FHIR rendering's `effectiveDateTime` per value.
   */
  async observedTimes(patient: Pick<Patient, 'id'>): Promise<Partial<Record<ObservationField, Date>>> {
    const columns = OBSERVATION_FIELDS.map(
      (field) => `max(recorded_at) filter (where ${snakeCase(field)} is not null) as "${field}"`,
    );
    const [row] = await this.em
      .getConnection()
      .execute<Record<string, Date | string | null>[]>(
        `select ${columns.join(', ')} from observation where patient_id = ?`,
        [patient.id],
      );
    const times: Partial<Record<ObservationField, Date>> = {};
    for (const field of OBSERVATION_FIELDS) {
      const at = row?.[field];
      if (at) times[field] = new Date(at);
    }
    return times;
  }

  /**
   * The patient's snapshot as of each of its `last` most recent recordings, oldest first: what
   * `latestObservations` was right after that recording committed. Built by the same fold as the
   * live snapshot ({@link foldObservation}), over the recordings in the order the observation
   * history lists them (`recordedAt`, then id), starting from the per-field latest values of every
   * older recording — so two statements' worth of work whatever the length of the history: the
   * `last` rows, and one indexed look-up per field for the values before them.
   */
  async snapshotHistory(patient: Pick<Patient, 'id'>, last: number): Promise<SnapshotAt[]> {
    if (last <= 0) return [];
    const columns = OBSERVATION_FIELDS.map((field) => `${snakeCase(field)} as "${field}"`);
    // The latest value of each field among the recordings older than the window's oldest one.
    const before = OBSERVATION_FIELDS.map(
      (field) =>
        `(select o.${snakeCase(field)} from observation o
           where o.patient_id = edge.patient_id and o.${snakeCase(field)} is not null
             and (o.recorded_at, o.id) < (edge.recorded_at, edge.id)
           order by o.recorded_at desc, o.id desc limit 1) as "${field}"`,
    );
    const rows = await this.em.getConnection().execute<Record<string, unknown>[]>(
      `with recent as (
         select * from observation where patient_id = ? order by recorded_at desc, id desc limit ?
       ), edge as (
         select patient_id, recorded_at, id from recent order by recorded_at, id limit 1
       )
       select * from (
         select null::uuid as id, null::timestamptz as recorded_at, ${before.join(', ')} from edge
         union all
         select id, recorded_at, ${columns.join(', ')} from recent
       ) snapshots order by recorded_at nulls first, id`,
      [patient.id, last],
    );
    let snapshot: ObservationValues | null = null;
    const points: SnapshotAt[] = [];
    for (const { id, recorded_at: recordedAt, ...values } of rows) {
      snapshot = foldObservation(snapshot, values as ObservationValues);
      if (id)
        points.push({ observationId: id as string, recordedAt: new Date(recordedAt as string), values: snapshot });
    }
    return points;
  }

  /** The patient if the viewer may see it, without auditing: for callers that audit their own read. */
  async visibleOrNull(patientId: string): Promise<Patient | null> {
    return isUuid(patientId) ? this.visible.load(patientId.toLowerCase()) : null;
  }

  /**
   * Asks the database again whether the viewer may still see the patient, ignoring this
   * operation's cache: for subscriptions, which live far longer than one request.
   */
  async stillVisible(patientId: string): Promise<boolean> {
    this.visible.clear(patientId);
    return (await this.visible.load(patientId)) !== null;
  }

  async requireVisible(patientId: string): Promise<Patient> {
    const patient = isUuid(patientId) ? await this.visible.load(patientId.toLowerCase()) : null;
    if (!patient) throw new NotFoundError('Patient');
    return patient;
  }

  /**
   * Runs a write; a refused or failed write is still audited (outside the rolled-back transaction),
   * with the contract's failure outcome. Successful writes audit inside their transaction.
   */
  /** Audits a refused or failed write too (see {@link AuditTrail.write}), with a well-formed id only. */
  private audited<T>(note: AuditNote, work: () => Promise<T>): Promise<T> {
    return this.audit.write(
      () => ({ ...note, patientId: note.patientId && isUuid(note.patientId) ? note.patientId.toLowerCase() : null }),
      work,
      (error) => error instanceof AppError,
    );
  }

  /**
   * The same rule as {@link accessFilter}, decided on the patient's snapshot and care team from
   * {@link PatientSnapshots} (per pod, checked against the shared version on every read; see
   * there why it is never stale), so a read touches no PostgreSQL row when nothing changed.
   * With `shared`, the visible patients are the shared snapshots themselves (see {@link getReading}).
   */
  private async loadVisible(ids: readonly string[], along?: ReadAlong, shared = false): Promise<(Patient | null)[]> {
    const snapshots = await this.snapshots.load(ids, (missing) => this.loadSnapshots(missing), along);
    return ids.map((id) => {
      const snapshot = snapshots.get(id);
      if (!snapshot || !(this.viewer.isAdmin || snapshot.members.includes(this.viewer.id))) return null;
      if (shared) return snapshot.patient;
      // A shallow copy per operation (GraphQL layers may tag the object, e.g. federation's
      // __typename); its observations stay the shared, frozen object. Defined, not assigned:
      // assigning would run MikroORM's setters on the entity's prototype, which give each copy
      // entity state (a helper, tracked data) that a detached read never uses.
      return Object.create(Patient.prototype, copyDescriptors(snapshot.patient)) as Patient;
    });
  }

  /**
   * Patients and their care teams' ids from PostgreSQL, in one hand-written statement. Each
   * patient is mapped once, here, into a frozen object outside every identity map: it is shared
   * by every operation that reads it from the cache, so none may change it (writes load their own
   * managed copy), and serving it costs no ORM work per request, only a shallow copy.
   */
  private async loadSnapshots(ids: readonly string[]): Promise<Map<string, PatientSnapshot>> {
    const rows = await this.em.getConnection().execute<Record<string, unknown>[]>(
      `select p.*, array(select m.clinician_id from care_team_member m where m.patient_id = p.id) as care_team_ids
         from patient p where p.id in (?)`,
      [[...ids]],
    );
    const mapper = this.em.fork();
    const found = new Map<string, PatientSnapshot>();
    for (const { care_team_ids: members, ...row } of rows) {
      found.set(row.id as string, { patient: frozenPatient(mapper.map(Patient, row)), members: members as string[] });
    }
    return found;
  }

  private async loadColleagues(ids: readonly string[]): Promise<(Clinician | null)[]> {
    const rows = await this.em.getConnection().execute<Record<string, unknown>[]>(
      `select c.* from clinician c
        where c.id in (?)
          and (? or c.id = ? or exists (
            select 1 from care_team_member theirs
              join care_team_member mine on mine.patient_id = theirs.patient_id
             where theirs.clinician_id = c.id and mine.clinician_id = ?))`,
      [[...ids], this.viewer.isAdmin, this.viewer.id, this.viewer.id],
    );
    const byId = new Map(rows.map((row) => [row.id as string, this.em.map(Clinician, row)]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  private async loadCareTeams(patientIds: readonly string[]): Promise<Clinician[][]> {
    const members = await this.em.find(
      CareTeamMember,
      { patient: { $in: [...patientIds] } },
      { populate: ['clinician'], orderBy: { addedAt: QueryOrder.ASC } },
    );
    const byPatient = new Map<string, Clinician[]>();
    for (const member of members) {
      const list = byPatient.get(member.patient.id) ?? [];
      list.push(member.clinician);
      byPatient.set(member.patient.id, list);
    }
    return patientIds.map((id) => byPatient.get(id) ?? []);
  }
}

/**
 * A patient's fields as a frozen object of the entity's class, detached from any EntityManager
 * (no collection, no ORM state): what the read path shares between operations.
 */
function frozenPatient(entity: Patient): Patient {
  const patient = Object.create(Patient.prototype) as Patient;
  for (const key of ['id', 'mrn', 'givenName', 'familyName', 'birthDate', 'sex', 'createdAt', 'observedAt'] as const) {
    Object.defineProperty(patient, key, { value: entity[key], enumerable: true });
  }
  const observations = entity.latestObservations ? Object.freeze({ ...entity.latestObservations }) : null;
  Object.defineProperty(patient, 'latestObservations', { value: observations, enumerable: true });
  return Object.freeze(patient);
}

/** Per frozen snapshot patient: its fields as writable own properties, for cheap copies. */
const descriptorsOf = new WeakMap<Patient, PropertyDescriptorMap>();

function copyDescriptors(patient: Patient): PropertyDescriptorMap {
  let descriptors = descriptorsOf.get(patient);
  if (!descriptors) {
    descriptors = {};
    for (const [key, value] of Object.entries(patient)) {
      descriptors[key] = { value, writable: true, enumerable: true, configurable: true };
    }
    descriptorsOf.set(patient, descriptors);
  }
  return descriptors;
}

/** `heartRate` → `heart_rate`, as MikroORM names the observation columns. */
const snakeCase = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
