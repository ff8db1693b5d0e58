import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { nowIso } from '../../lib/dates.js';
import { errorFields, type Logger } from '../../lib/logger.js';
import { uuid7 } from '../../lib/uuid7.js';
import type { AuditRow, AuditStream } from './audit.stream.js';
import { type AuditAction, AuditEvent, AuditOutcome, type AuditRecord } from './audit-event.entity.js';

/** Rows per INSERT (and per group-commit write): bounds one statement's arrays and one message. */
const MAX_BATCH = 2_000;
/** `audit_event`'s columns in the order rows carry them, each with its PostgreSQL type. */
const AUDIT_COLUMN_TYPES = {
  id: 'uuid',
  recorded_at: 'timestamptz',
  action: 'text',
  outcome: 'smallint',
  agent_id: 'text',
  patient_id: 'uuid',
  subtype: 'text',
  operation_name: 'text',
  request_id: 'text',
  source: 'text',
  entity_clinician_id: 'text',
} as const;
const AUDIT_COLUMNS = Object.keys(AUDIT_COLUMN_TYPES);
const ROW_PLACEHOLDERS = `(${AUDIT_COLUMNS.map(() => '?').join(', ')})`;
/**
 * The drainer's INSERT: one array parameter per column, unnested into rows. Eleven parameters
 * whatever the batch, so neither knex nor PostgreSQL parses and binds a VALUES list of thousands
 * of placeholders.
 */
const INSERT_UNNESTED = `insert into audit_event (${AUDIT_COLUMNS.join(', ')}) select * from unnest(${Object.values(
  AUDIT_COLUMN_TYPES,
)
  .map((t) => `?::${t}[]`)
  .join(', ')}) on conflict (id) do nothing`;

/**
 * A record's values in {@link AUDIT_COLUMNS} order, the time as ISO text: the row the stream
 * carries and the hand-written INSERTs bind. The one place that order is written.
 */
function auditRow(id: string, recordedAt: string, source: string, r: AuditRecord): AuditRow {
  return [
    id,
    recordedAt,
    r.action,
    r.outcome,
    r.agentId,
    r.patientId,
    r.subtype,
    r.operationName,
    r.requestId,
    source,
    r.entityClinicianId,
  ];
}

/**
 * Writes rows to `audit_event`, at most {@link MAX_BATCH} per INSERT, skipping any whose id is
 * already there: the drainer's writer, for which a redelivered batch must add nothing.
 */
export async function insertAuditRows(orm: MikroORM, rows: readonly (readonly unknown[])[]): Promise<void> {
  const knex = orm.em.getConnection().getKnex();
  for (let i = 0; i < rows.length; i += MAX_BATCH) {
    const chunk = rows.slice(i, i + MAX_BATCH);
    // Through knex with bound parameters: MikroORM's `execute` would first inline every value
    // into the SQL text, which for thousands of rows costs more CPU than the INSERT itself.
    const columns = AUDIT_COLUMNS.map((_, c) => chunk.map((row) => row[c] ?? null));
    await knex.raw(INSERT_UNNESTED, columns as never[]);
  }
}

/**
 * SQL that inserts one audit event, as a statement or a CTE part, with its bindings: for writes
 * done in one hand-written statement, whose audit row must commit with them.
 */
export function auditInsert(event: AuditEvent): { sql: string; bindings: unknown[] } {
  return {
    sql: `insert into audit_event (${AUDIT_COLUMNS.join(', ')}) values ${ROW_PLACEHOLDERS}`,
    bindings: [...auditRow(event.id, event.recordedAt.toISOString(), event.source, event)],
  };
}

interface Pending {
  rows: AuditRow[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Writes audit events durably with group commit. Every caller awaits its own events, and the
 * answer is not sent until they are durable; but callers in the same turn of the event loop share
 * one write (it starts in `setImmediate`, after every callback of that turn has run — e.g. every
 * request answered by one Redis reply), and callers that arrive while a write is under way share
 * the next one. Under load that is one write for many requests, never one round trip per field or
 * per patient, and no timer: when idle the wait is one turn of the loop, not a delay.
 *
 * Durable means: appended to the JetStream audit stream and acknowledged (see {@link AuditStream},
 * whose drainers write the rows to `audit_event` in batches), or — without NATS, or when the
 * append fails — committed to `audit_event` directly. Only if both fail is the write refused, and
 * the caller withholds its answer: no unaudited read, and a NATS outage degrades to the direct path.
 */
export class AuditLog {
  private queue: Pending[] = [];
  private inFlight: Promise<void> | null = null;
  /** Whether a write is due at the end of this turn of the event loop. */
  private due = false;
  /** Group-commit writes and events so far, and how many went to the stream (to show the batching). */
  readonly stats = { writes: 0, events: 0, streamed: 0 };
  /** Whether appends are failing (so writes go directly to PostgreSQL): logged when it changes. */
  private direct = false;

  constructor(
    private readonly orm: MikroORM,
    private readonly source: string,
    private readonly logger: Logger,
    private readonly stream?: AuditStream,
  ) {}

  /** Resolves once every record is durable; rejects if it could not be made so. */
  write(records: readonly AuditRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    // Rows as the stream carries them, built directly: an AuditEvent entity per read would cost
    // MikroORM's property setters for an object that is only ever serialised.
    const at = nowIso();
    const rows = records.map((r) => auditRow(uuid7(), at, this.source, r));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ rows, resolve, reject });
      if (this.due || this.inFlight) return;
      this.due = true;
      setImmediate(() => {
        this.due = false;
        this.pump();
      });
    });
  }

  /** Waits for everything queued so far (shutdown). */
  async drain(): Promise<void> {
    while (this.inFlight || this.due) {
      if (this.inFlight) await this.inFlight;
      else await new Promise((r) => setImmediate(r));
    }
  }

  /**
   * Resolves once everything written so far is in `audit_event`, drained from the stream by any
   * pod: what a test waits for before it counts rows (instead of sleeping).
   */
  async settled(timeoutMs?: number): Promise<void> {
    await this.drain();
    await this.stream?.settled(timeoutMs);
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
      rows += next.rows.length;
    }
    this.inFlight = this.persist(batch).finally(() => {
      this.inFlight = null;
      this.pump();
    });
  }

  private async persist(batch: Pending[]): Promise<void> {
    const rows = batch.length === 1 ? (batch[0] as Pending).rows : batch.flatMap((p) => p.rows);
    try {
      if (!(await this.append(rows))) {
        // One multi-row INSERT, written by hand: the ORM's unit of work is pure overhead for rows
        // that are only ever appended. Idempotent, like the drainer's: an append whose
        // acknowledgement was lost may still be drained.
        await insertAuditRows(this.orm, rows);
      }
      this.stats.writes += 1;
      this.stats.events += rows.length;
      for (const p of batch) p.resolve();
    } catch (error) {
      this.logger.error({ ...errorFields(error), rows: batch.length }, 'audit write failed');
      for (const p of batch) p.reject(error);
    }
  }

  /** Appends to the stream: true once stored, false without a stream or when the append failed. */
  private async append(rows: readonly AuditRow[]): Promise<boolean> {
    if (!this.stream) return false;
    try {
      await this.stream.append((rows[0] as AuditRow)[0], rows);
      this.stats.streamed += rows.length;
      if (this.direct) this.logger.info('audit stream appends resumed');
      this.direct = false;
      return true;
    } catch (error) {
      // One line when the stream starts failing, not one per write for the length of an outage.
      if (!this.direct) this.logger.warn({ ...errorFields(error) }, 'audit stream append failed; writing directly');
      this.direct = true;
      return false;
    }
  }
}

/** What a resolver says about an access; the trail fills in who and which request. */
export interface AuditNote {
  action: AuditAction;
  patientId: string | null;
  subtype: string;
  outcome?: AuditOutcome;
  /** The clinician the access was about (a care-team member added or removed), once known. */
  entityClinicianId?: string;
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
      entityClinicianId: note.entityClinicianId ?? null,
    };
  }
}
