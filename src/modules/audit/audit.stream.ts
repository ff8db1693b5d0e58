import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { connect, type NatsConnection, nanos } from '@nats-io/transport-node';
import { AckedPublisher } from '../../lib/jetstream-publish.js';
import { errorFields, type Logger } from '../../lib/logger.js';

/** JetStream names of one deployment's audit log, derived from its namespace (`NATS_NAMESPACE`). */
export interface AuditNames {
  stream: string;
  subject: string;
  /** Durable pull consumer shared by every pod's drainer. */
  consumer: string;
}

export function auditNames(namespace: string): AuditNames {
  const upper = namespace.toUpperCase().replace(/-/g, '_');
  return { stream: `${upper}_AUDIT`, subject: `${namespace}.audit`, consumer: `${namespace}-audit-drainer` };
}

/**
 * One audit event on the wire and in the drainer: its column values in `audit_event`'s order
 * (id, recorded_at as ISO text, action, outcome, agent_id, patient_id, subtype, operation_name,
 * request_id, source, entity_clinician_id). Ids and codes only, like the row: never patient data.
 * A row of the ten columns before entity_clinician_id (appended by a pod of the previous release
 * during a rolling update) is still read, with no entity clinician.
 */
export type AuditRow = readonly [
  string,
  string,
  string,
  number,
  string,
  string | null,
  string,
  string | null,
  string | null,
  string,
  string | null,
];

/** Writes a batch of rows to `audit_event`, ignoring rows whose id is already there. */
export type AuditRowWriter = (rows: readonly AuditRow[]) => Promise<void>;

export interface AuditStreamOptions {
  url: string;
  names: AuditNames;
  connectionName: string;
  logger: Logger;
  /** How long a drainer may hold a batch before JetStream gives it to another (default 10 s). */
  ackWaitMs?: number;
}

/** Longest wait for an append's acknowledgement before the caller writes directly instead. */
const APPEND_TIMEOUT_MS = 1_000;

/** Messages a drainer asks for at once, and writes at most at once (acknowledged only after). */
const PULL_MESSAGES = 256;

/**
 * How long a drainer lets received messages gather before it writes them, unless a full batch
 * ({@link PULL_MESSAGES}) is in hand sooner. Nothing waits on it — the events are durable in the
 * stream, and the answers that carried them have gone — but it decides what a written event costs:
 * under cached-assessment load messages arrive a few hundred a second with a handful of events
 * each, and writing each as it came cost ~190 µs of machine CPU per event (worker, NATS and one
 * small PostgreSQL commit after another), against ~26 µs for the same events written in batches
 * while catching up (`npm run bench -- --scenario assessment`, docs/benchmarks.md).
 */
const DRAIN_LINGER_MS = 100;

/** Rows a drainer writes at most at once (then the next messages go in the next write). */
const DRAIN_ROWS = 20_000;

/**
 * The audit log's durable buffer: a file-backed JetStream work-queue stream. The API appends each
 * group of audit events as one message and answers only once JetStream acknowledged it (stored);
 * drainers — one in every pod, sharing one durable pull consumer — write the messages' rows into
 * `audit_event` in batches and acknowledge them only after. A drainer that dies mid-batch leaves
 * its messages unacknowledged: JetStream redelivers them after the ack wait, and since every row
 * keeps its event id (`insert … on conflict (id) do nothing`) a batch written twice adds nothing.
 * So an event acknowledged to the API is written exactly once, however drainers fail.
 */
export class AuditStream {
  private draining: Promise<void> | null = null;
  private stopping = false;
  /** The drainer's subscription, messages received and not yet written, and the write under way. */
  private messages: ConsumerMessages | undefined;
  private readonly received: JsMsg[] = [];
  private writing: Promise<void> | null = null;
  /** The write due when the {@link DRAIN_LINGER_MS} linger of the oldest unwritten message ends. */
  private lingering: NodeJS.Timeout | null = null;
  /** False while the connection is down: appends then fail at once instead of after a timeout. */
  private connected = true;
  private readonly publisher: AckedPublisher;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly options: AuditStreamOptions,
  ) {
    this.publisher = new AckedPublisher(nc, APPEND_TIMEOUT_MS);
  }

  static async connect(options: AuditStreamOptions): Promise<AuditStream> {
    const nc = await connect({
      servers: options.url,
      name: options.connectionName,
      timeout: 2_000,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      // Otherwise every request (a JetStream publish is one) builds an Error to keep its caller's
      // stack for a timeout: 3–6 % of an API pod's CPU under cached-assessment load, per profile.
      noAsyncTraces: true,
    });
    try {
      const jsm = await jetstreamManager(nc);
      const stream = new AuditStream(nc, jetstream(nc), jsm, options);
      await stream.ensureTopology();
      void stream.watchConnection();
      return stream;
    } catch (error) {
      await nc.close();
      throw error;
    }
  }

  private async watchConnection(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === 'disconnect' || status.type === 'close') this.connected = false;
      else if (status.type === 'reconnect') this.connected = true;
    }
  }

  /** Creates the stream and the consumer if missing (idempotent: every pod calls it). */
  private async ensureTopology(): Promise<void> {
    const { names, ackWaitMs = 10_000 } = this.options;
    const stream = {
      name: names.stream,
      subjects: [names.subject],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      // The API's own retry of an append whose acknowledgement was lost is stored once.
      duplicate_window: nanos(2 * 60_000),
    };
    try {
      await this.jsm.streams.add(stream);
    } catch (error) {
      if (!/already in use|exists/i.test((error as Error).message)) throw error;
      await this.jsm.streams.update(stream.name, stream);
    }
    const consumer = {
      durable_name: names.consumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(ackWaitMs),
      // Never given up: an audit event is only ever removed by being written.
      max_deliver: -1,
      filter_subject: names.subject,
    };
    try {
      await this.jsm.consumers.add(names.stream, consumer);
    } catch (error) {
      if (!/already (exists|in use)/i.test((error as Error).message)) throw error;
      await this.jsm.consumers.update(names.stream, names.consumer, consumer);
    }
  }

  /**
   * Appends rows as one message; resolves once JetStream has stored it, rejects otherwise (the
   * caller then writes them to PostgreSQL itself, or withholds its answer). `id` (the first
   * event's) is the message id, so a retried append is stored once.
   */
  async append(id: string, rows: readonly AuditRow[]): Promise<void> {
    if (!this.connected) throw new Error('NATS disconnected');
    await this.publisher.publish(this.options.names.subject, JSON.stringify(rows), id);
  }

  /**
   * Resolves once every message appended before the call has been written and acknowledged by a
   * drainer (any pod's). For tests and shutdown checks; rejects after `timeoutMs`.
   */
  async settled(timeoutMs = 20_000): Promise<void> {
    const { stream, consumer } = this.options.names;
    const last = (await this.jsm.streams.info(stream)).state.last_seq;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = await this.jsm.consumers.info(stream, consumer);
      if (info.ack_floor.stream_seq >= last) return;
      if (Date.now() > deadline) throw new Error(`audit stream not drained in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Events appended and not yet written (for `/metrics` and readiness detail). */
  async backlog(): Promise<number> {
    return (await this.jsm.streams.info(this.options.names.stream)).state.messages;
  }

  /**
   * Starts this pod's drainer: a consumer that keeps pulls outstanding and hands `write` the rows
   * of the messages received, in one batch per {@link DRAIN_LINGER_MS} (or per full batch, as soon
   * as one is in hand: catching up runs at full speed); messages that arrive during a write go to
   * the next one.
   */
  startDrainer(write: AuditRowWriter): void {
    if (this.draining) return;
    this.draining = this.consumeLoop(write);
  }

  private async consumeLoop(write: AuditRowWriter): Promise<void> {
    const { names } = this.options;
    while (!this.stopping) {
      try {
        // Looked up inside the loop: NATS may be down when the pod starts.
        const consumer = await this.js.consumers.get(names.stream, names.consumer);
        this.messages = await consumer.consume({
          max_messages: PULL_MESSAGES,
          callback: (m) => {
            this.received.push(m);
            this.scheduleWrite(write);
          },
        });
        // close() may have come while the consumer was being looked up or started: it found no
        // messages to stop then, so stop them here, or this loop would wait on them for ever.
        if (this.stopping) this.messages.stop();
        await this.messages.closed();
      } catch {
        // Retried below.
      }
      if (!this.stopping) await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** Starts a write at once for a full batch, else when the linger of what is held ends. */
  private scheduleWrite(write: AuditRowWriter): void {
    if (this.writing || this.stopping) return;
    if (this.received.length >= PULL_MESSAGES) {
      if (this.lingering) clearTimeout(this.lingering);
      this.lingering = null;
      this.writing = this.writeReceived(write);
    } else {
      this.lingering ??= setTimeout(() => {
        this.lingering = null;
        this.writing ??= this.writeReceived(write);
      }, DRAIN_LINGER_MS);
    }
  }

  private async writeReceived(write: AuditRowWriter): Promise<void> {
    const { logger } = this.options;
    while (this.received.length > 0 && !this.stopping) {
      const rows: AuditRow[] = [];
      const valid: JsMsg[] = [];
      // At most a batch of messages, and of rows: a pod's message holds up to 2,000 (MAX_BATCH).
      for (let taken = 0; taken < PULL_MESSAGES && rows.length < DRAIN_ROWS; taken++) {
        const m = this.received.shift();
        if (!m) break;
        const parsed = parseRows(m);
        if (parsed) {
          rows.push(...parsed);
          valid.push(m);
        } else {
          // Not something our pods append: it can never be written, and must not block the queue.
          logger.error({ seq: m.seq }, 'audit message unreadable; dropped');
          m.term();
        }
      }
      try {
        await write(rows);
      } catch (error) {
        // Written partly or not at all: give the batch back (a retry skips rows already written).
        logger.error({ ...errorFields(error), rows: rows.length }, 'audit drain write failed; retrying');
        for (const m of valid) m.nak(1_000);
        await new Promise((r) => setTimeout(r, 1_000));
        continue;
      }
      // A lost acknowledgement only means a redelivery, whose rows are skipped: no need to wait.
      for (const m of valid) m.ack();
      // Less than a batch left: it gathers for a linger again, like the first message did.
      if (this.received.length < PULL_MESSAGES) break;
    }
    this.writing = null;
    if (this.received.length > 0) this.scheduleWrite(write);
  }

  /** Stops the drainer after its current write (what it holds unwritten goes back), then closes. */
  async close(): Promise<void> {
    this.stopping = true;
    if (this.lingering) clearTimeout(this.lingering);
    this.lingering = null;
    this.messages?.stop();
    await this.writing;
    for (const m of this.received.splice(0)) m.nak();
    await this.draining;
    this.publisher.close();
    await this.nc.drain().catch(() => this.nc.close());
  }

  async ping(): Promise<void> {
    await this.nc.flush();
  }
}

function parseRows(m: JsMsg): AuditRow[] | null {
  try {
    const value = m.json<unknown>();
    if (!Array.isArray(value)) return null;
    const rows: AuditRow[] = [];
    for (const row of value) {
      if (!Array.isArray(row) || typeof row[0] !== 'string') return null;
      if (row.length === 10) rows.push([...row, null] as unknown as AuditRow);
      else if (row.length === 11) rows.push(row as unknown as AuditRow);
      else return null;
    }
    return rows;
  } catch {
    return null;
  }
}
