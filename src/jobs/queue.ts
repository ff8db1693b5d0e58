import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { connect, headers, type MsgHdrs, type NatsConnection, nanos } from '@nats-io/transport-node';
import { SpanKind } from '@opentelemetry/api';
import { noTracing, type TraceCarrier, type Tracing } from '../lib/tracing.js';
import { type DiagnosisJob, type JobNames, parseJob } from './diagnosis.job.js';

/** One delivery of a job to a worker. */
export interface JobMessage {
  readonly job: DiagnosisJob;
  /** 1 on the first delivery. */
  readonly deliveryCount: number;
  /** The W3C trace context the job was published with (empty when none): the job's span continues it. */
  readonly trace: TraceCarrier;
  ack(): void;
  /** Give the job back, to be delivered again after `delayMs`. */
  nak(delayMs: number): void;
  /** "Still working": restarts the ack-wait clock so a long model call is not redelivered. */
  working(): void;
}

export interface ConsumeOptions {
  /**
   * Awaited before every pull: a worker whose stores are down waits here instead of taking jobs
   * it could not run (see worker/consumer.ts).
   */
  beforePull?: () => Promise<void>;
}

export interface Consumption {
  /** Stops taking jobs and resolves once the handlers running now have returned. */
  stop(): Promise<void>;
}

/** The diagnosis work queue: NATS JetStream in production, in-process under `npm start`. */
export interface JobQueue {
  /** Enqueues a job; a second publish of the same diagnosis id within the dedupe window is dropped. */
  publish(job: DiagnosisJob): Promise<void>;
  /** Keeps a copy of a job that ended FAILED, with the reason. */
  deadLetter(job: DiagnosisJob, reason: string): Promise<void>;
  /** Runs `handler` on up to `concurrency` jobs at a time until stopped. */
  consume(concurrency: number, handler: (message: JobMessage) => Promise<void>, options?: ConsumeOptions): Consumption;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface JetStreamQueueOptions {
  url: string;
  names: JobNames;
  maxDeliver: number;
  ackWaitMs: number;
  /** A name for this connection in the NATS server's monitoring. */
  connectionName: string;
  /** A `diagnosis.enqueue` span per publish, whose context goes in the message headers. */
  tracing?: Tracing;
}

const DEDUPE_WINDOW_MS = 10 * 60_000;

/**
 * JetStream: a work-queue stream (each job is removed once acknowledged), one durable pull
 * consumer shared by all workers with explicit acks, bounded redelivery (`max_deliver`) and an ack
 * wait that `working()` extends. Publishing uses the diagnosis id as `Nats-Msg-Id`, so the outbox
 * relay may publish the same job twice (two pods, a crash before marking) and only one is kept.
 */
export class JetStreamQueue implements JobQueue {
  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly options: JetStreamQueueOptions,
  ) {}

  static async connect(options: JetStreamQueueOptions): Promise<JetStreamQueue> {
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
    const jsm = await jetstreamManager(nc);
    const queue = new JetStreamQueue(nc, jetstream(nc), jsm, options);
    await queue.ensureTopology();
    return queue;
  }

  /** Creates the streams and the consumer if missing (idempotent: every pod and worker calls it). */
  private async ensureTopology(): Promise<void> {
    const { names, maxDeliver, ackWaitMs } = this.options;
    await this.addStream({
      name: names.stream,
      subjects: [names.subject],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      duplicate_window: nanos(DEDUPE_WINDOW_MS),
    });
    await this.addStream({
      name: names.deadLetterStream,
      subjects: [names.deadLetterSubject],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: nanos(30 * 24 * 60 * 60_000),
    });
    const consumer = {
      durable_name: names.consumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(ackWaitMs),
      // One more than the handler's own limit: the handler ends the job FAILED on its last
      // attempt, so JetStream's limit only matters if a worker dies during that attempt.
      max_deliver: maxDeliver + 1,
      filter_subject: names.subject,
    };
    try {
      await this.jsm.consumers.add(names.stream, consumer);
    } catch (error) {
      // Exists with another config (e.g. a changed ack wait): bring it in line.
      if (!/already (exists|in use)/i.test((error as Error).message)) throw error;
      await this.jsm.consumers.update(names.stream, names.consumer, consumer);
    }
  }

  private async addStream(config: Parameters<JetStreamManager['streams']['add']>[0] & { name: string }): Promise<void> {
    try {
      await this.jsm.streams.add(config);
    } catch (error) {
      if (!/already in use|exists/i.test((error as Error).message)) throw error;
      await this.jsm.streams.update(config.name, config);
    }
  }

  async publish(job: DiagnosisJob): Promise<void> {
    // The trace context travels in the message headers (W3C `traceparent`), not in the body.
    const { traceparent, tracestate, ...valid } = parseJob(job);
    const { subject } = this.options.names;
    const tracing = this.options.tracing ?? noTracing;
    const parent = { traceparent, tracestate };
    const attributes = {
      'messaging.system': 'nats',
      'messaging.destination.name': subject,
      'diagnosis.id': valid.diagnosisId,
    };
    await tracing.run('diagnosis.enqueue', { kind: SpanKind.PRODUCER, parent, attributes }, async () => {
      const trace = tracing.carrier(parent);
      await this.js.publish(subject, JSON.stringify(valid), {
        msgID: valid.diagnosisId,
        timeout: 2_000,
        ...(trace.traceparent ? { headers: traceHeaders(trace) } : {}),
      });
    });
  }

  async deadLetter(job: DiagnosisJob, reason: string): Promise<void> {
    await this.js.publish(
      this.options.names.deadLetterSubject,
      JSON.stringify({ ...job, reason, failedAt: Date.now() }),
      {
        msgID: `dlq-${job.diagnosisId}`,
        timeout: 2_000,
      },
    );
  }

  consume(
    concurrency: number,
    handler: (message: JobMessage) => Promise<void>,
    options: ConsumeOptions = {},
  ): Consumption {
    let stopping = false;
    const slot = async () => {
      let consumer: Awaited<ReturnType<typeof this.js.consumers.get>> | undefined;
      while (!stopping) {
        await options.beforePull?.();
        if (stopping) break;
        let msg: Awaited<ReturnType<NonNullable<typeof consumer>['next']>>;
        try {
          // Looked up inside the loop: NATS may be down when the worker starts pulling.
          consumer ??= await this.js.consumers.get(this.options.names.stream, this.options.names.consumer);
          // Short expiry, so a stopping worker is not held by a long poll.
          msg = await consumer.next({ expires: 1_000 });
        } catch {
          if (stopping) break;
          await new Promise((r) => setTimeout(r, 500));
          continue;
        }
        if (!msg) continue;
        let job: DiagnosisJob;
        try {
          job = parseJob(msg.json());
        } catch {
          // Not a job of ours: never deliver it again.
          msg.term('invalid job payload');
          continue;
        }
        const m = msg;
        await handler({
          job,
          deliveryCount: m.info.deliveryCount,
          trace: traceOf(m.headers),
          ack: () => m.ack(),
          nak: (delayMs) => m.nak(delayMs),
          working: () => m.working(),
        });
      }
    };
    const slots = Array.from({ length: concurrency }, () => slot());
    return {
      stop: async () => {
        stopping = true;
        await Promise.allSettled(slots);
      },
    };
  }

  async ping(): Promise<void> {
    if (this.nc.isClosed()) throw new Error('NATS connection closed');
    await this.nc.flush();
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.drain();
  }

  /** For metrics: the shared consumer's backlog and jobs in hand, and the dead letters kept. */
  async stats(): Promise<{ pending: number; ackPending: number; redelivered: number; deadLetters: number }> {
    const { names } = this.options;
    const [consumer, dlq] = await Promise.all([
      this.jsm.consumers.info(names.stream, names.consumer),
      this.jsm.streams.info(names.deadLetterStream),
    ]);
    return {
      pending: consumer.num_pending,
      ackPending: consumer.num_ack_pending,
      redelivered: consumer.num_redelivered,
      deadLetters: dlq.state.messages,
    };
  }

  /** For tests and operations: pending jobs and dead letters. */
  async counts(): Promise<{ pending: number; deadLetters: number }> {
    const jobs = await this.jsm.streams.info(this.options.names.stream);
    const dlq = await this.jsm.streams.info(this.options.names.deadLetterStream);
    return { pending: jobs.state.messages, deadLetters: dlq.state.messages };
  }

  /** For tests: the dead-letter copies. */
  async deadLetters(): Promise<unknown[]> {
    const consumer = await this.js.consumers.get(this.options.names.deadLetterStream);
    const out: unknown[] = [];
    const batch = await consumer.fetch({ max_messages: 100, expires: 1_000 });
    for await (const m of batch) out.push(m.json());
    return out;
  }
}

/**
 * The embedded mode's queue (`npm start` without NATS_URL): the same contract in process memory.
 * It keeps jobs only as long as the process lives — fine for a demo, which is all it is for.
 */
export class MemoryQueue implements JobQueue {
  private readonly pending: { job: DiagnosisJob; deliveryCount: number }[] = [];
  private readonly seen = new Set<string>();
  private readonly waiters: (() => void)[] = [];

  async publish(job: DiagnosisJob): Promise<void> {
    const valid = parseJob(job);
    if (this.seen.has(valid.diagnosisId)) return;
    this.seen.add(valid.diagnosisId);
    this.push({ job: valid, deliveryCount: 0 });
  }

  /** Nothing to keep: the diagnosis row already says FAILED with its error, and no one reads a copy in memory. */
  async deadLetter(_job: DiagnosisJob, _reason: string): Promise<void> {}

  private push(entry: { job: DiagnosisJob; deliveryCount: number }): void {
    this.pending.push(entry);
    this.waiters.shift()?.();
  }

  consume(
    concurrency: number,
    handler: (message: JobMessage) => Promise<void>,
    options: ConsumeOptions = {},
  ): Consumption {
    let stopping = false;
    const slot = async () => {
      while (!stopping) {
        await options.beforePull?.();
        if (stopping) break;
        const entry = this.pending.shift();
        if (!entry) {
          await new Promise<void>((resolve) => {
            this.waiters.push(resolve);
            setTimeout(resolve, 500).unref();
          });
          continue;
        }
        const deliveryCount = entry.deliveryCount + 1;
        let settled = false;
        await handler({
          job: entry.job,
          deliveryCount,
          trace: { traceparent: entry.job.traceparent, tracestate: entry.job.tracestate },
          ack: () => {
            settled = true;
          },
          nak: (delayMs) => {
            settled = true;
            setTimeout(() => this.push({ job: entry.job, deliveryCount }), delayMs).unref();
          },
          working: () => undefined,
        });
        // A handler that neither acked nor nakked (it crashed) gets the job again, as JetStream would.
        if (!settled) setTimeout(() => this.push({ job: entry.job, deliveryCount }), 1_000).unref();
      }
    };
    const slots = Array.from({ length: concurrency }, () => slot());
    return {
      stop: async () => {
        stopping = true;
        for (const wake of this.waiters.splice(0)) wake();
        await Promise.allSettled(slots);
      },
    };
  }

  async ping(): Promise<void> {}
  async close(): Promise<void> {}
}

function traceHeaders(trace: TraceCarrier): MsgHdrs {
  const h = headers();
  h.set('traceparent', trace.traceparent as string);
  if (trace.tracestate) h.set('tracestate', trace.tracestate);
  return h;
}

function traceOf(h: MsgHdrs | undefined): TraceCarrier {
  if (!h) return {};
  return { traceparent: h.get('traceparent') || undefined, tracestate: h.get('tracestate') || undefined };
}
