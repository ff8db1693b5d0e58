import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { errorFields, type Logger } from '../../lib/logger.js';
import { type AuditAction, AuditEvent, AuditOutcome, type AuditRecord } from './audit-event.entity.js';

/** Rows per INSERT: 10 columns each keeps a batch far below Postgres' 65,535 parameters. */
const MAX_BATCH = 2_000;
const AUDIT_COLUMNS = [
  'id',
  'recorded_at',
  'action',
  'outcome',
  'agent_id',
  'patient_id',
  'subtype',
  'operation_name',
  'request_id',
  'source',
] as const;
const ROW_PLACEHOLDERS = `(${AUDIT_COLUMNS.map(() => '?').join(', ')})`;

/** An event's values in {@link AUDIT_COLUMNS} order, for hand-written INSERTs. */
function auditValues(e: AuditEvent): unknown[] {
  return [
    e.id,
    e.recordedAt,
    e.action,
    e.outcome,
    e.agentId,
    e.patientId,
    e.subtype,
    e.operationName,
    e.requestId,
    e.source,
  ];
}

/**
 * SQL that inserts one audit event, as a statement or a CTE part, with its bindings: for writes
 * done in one hand-written statement, whose audit row must commit with them.
 */
export function auditInsert(event: AuditEvent): { sql: string; bindings: unknown[] } {
  return {
    sql: `insert into audit_event (${AUDIT_COLUMNS.join(', ')}) values ${ROW_PLACEHOLDERS}`,
    bindings: auditValues(event),
  };
}

interface Pending {
  events: AuditEvent[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Writes audit events durably with group commit. Every caller awaits its own events, and the
 * answer is not sent until they are in Postgres; but callers that arrive while an INSERT is under
 * way share the next one. Under load that is one multi-row INSERT for many requests, never one
 * round trip per field or per patient, and with no timer there is no added latency when idle.
 */
export class AuditLog {
  private queue: Pending[] = [];
  private inFlight: Promise<void> | null = null;
  /** INSERT statements and rows written so far (for metrics and to show the batching). */
  readonly stats = { inserts: 0, events: 0 };

  constructor(
    private readonly orm: MikroORM,
    private readonly source: string,
    private readonly logger: Logger,
  ) {}

  /** Resolves once every record is committed; rejects if the INSERT failed. */
  write(records: readonly AuditRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    const now = new Date();
    const events = records.map((record) => new AuditEvent(record, this.source, now));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ events, resolve, reject });
      this.pump();
    });
  }

  /** Waits for everything queued so far (shutdown). */
  async drain(): Promise<void> {
    while (this.inFlight) await this.inFlight;
  }

  /** Builds events for a caller that inserts them in its own transaction. */
  events(records: readonly AuditRecord[]): AuditEvent[] {
    const now = new Date();
    return records.map((record) => new AuditEvent(record, this.source, now));
  }

  private pump(): void {
    if (this.inFlight || this.queue.length === 0) return;
    const batch: Pending[] = [];
    let rows = 0;
    while (this.queue.length > 0 && rows < MAX_BATCH) {
      const next = this.queue.shift() as Pending;
      batch.push(next);
      rows += next.events.length;
    }
    this.inFlight = this.insert(batch).finally(() => {
      this.inFlight = null;
      this.pump();
    });
  }

  private async insert(batch: Pending[]): Promise<void> {
    try {
      const events = batch.flatMap((p) => p.events);
      // One multi-row INSERT, written by hand: this runs for nearly every request, and the ORM's
      // unit of work is pure overhead for rows that are only ever appended.
      await this.orm.em
        .getConnection()
        .execute(
          `insert into audit_event (${AUDIT_COLUMNS.join(', ')}) values ${events.map(() => ROW_PLACEHOLDERS).join(', ')}`,
          events.flatMap(auditValues),
        );
      this.stats.inserts += 1;
      this.stats.events += events.length;
      for (const p of batch) p.resolve();
    } catch (error) {
      this.logger.error({ ...errorFields(error), rows: batch.length }, 'audit write failed');
      for (const p of batch) p.reject(error);
    }
  }
}

/** What a resolver says about an access; the trail fills in who and which request. */
export interface AuditNote {
  action: AuditAction;
  patientId: string | null;
  subtype: string;
  outcome?: AuditOutcome;
}

/**
 * The audit events of one GraphQL operation. Reads are collected and written once when the
 * operation ends (through {@link AuditLog}); writes persist theirs inside their own transaction
 * with {@link AuditTrail.inTransaction}, so a change and its audit row commit together.
 */
export class AuditTrail {
  private readonly notes = new Map<string, AuditRecord>();

  constructor(
    private readonly log: AuditLog,
    private readonly agentId: string,
    private readonly requestId: string | null,
    private operationName: string | null,
  ) {}

  setOperationName(name: string | null): void {
    this.operationName = name;
  }

  /** Records an access to be written when the operation ends. Repeats within one operation count once. */
  record(note: AuditNote): void {
    const record = this.toRecord(note);
    const key = `${record.action}|${record.patientId}|${record.subtype}`;
    const existing = this.notes.get(key);
    // A failure after a success for the same access keeps the worse outcome.
    if (!existing || existing.outcome < record.outcome) this.notes.set(key, record);
  }

  /** Persists an audit event in `em`'s unit of work (the caller's transaction). */
  inTransaction(em: EntityManager, note: AuditNote): void {
    em.persist(this.event(note));
  }

  /** The audit event for `note`, for a caller that writes it itself in its own statement. */
  event(note: AuditNote): AuditEvent {
    return this.log.events([this.toRecord(note)])[0] as AuditEvent;
  }

  /**
   * Runs a write. A refused or failed one is still audited — outside its rolled-back transaction —
   * with FHIR's minor-failure outcome for a refusal the client caused (`isRefusal`) and
   * serious-failure otherwise; a successful write audits itself inside its own statement.
   */
  async write<T>(note: () => AuditNote, work: () => Promise<T>, isRefusal: (error: unknown) => boolean): Promise<T> {
    try {
      return await work();
    } catch (error) {
      // The note is read after the work, which may have learnt the patient (e.g. a cancel).
      this.record({ ...note(), outcome: isRefusal(error) ? AuditOutcome.MinorFailure : AuditOutcome.SeriousFailure });
      throw error;
    }
  }

  /** Writes what was recorded; resolves when it is durable. */
  async flush(): Promise<void> {
    const records = [...this.notes.values()];
    this.notes.clear();
    await this.log.write(records);
  }

  private toRecord(note: AuditNote): AuditRecord {
    return {
      action: note.action,
      outcome: note.outcome ?? AuditOutcome.Success,
      agentId: this.agentId,
      patientId: note.patientId,
      subtype: note.subtype,
      operationName: this.operationName,
      requestId: this.requestId,
    };
  }
}
