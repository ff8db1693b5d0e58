import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { EventLoopMonitor } from './event-loop.js';

/** Most operation names kept as labels (bounded cardinality, whatever the persisted list holds). */
const MAX_OPERATION_LABELS = 1_000;

/** Longest a scrape waits for one sampled reading (a hung dependency must not stall `/metrics`). */
const SAMPLE_TIMEOUT_MS = 1_000;

/** The diagnosis work queue as JetStream reports it. */
export interface QueueStats {
  /** Jobs in the stream not yet delivered to any worker: the consumer's lag. */
  pending: number;
  /** Jobs delivered and not yet acknowledged: being worked on (or held by a worker that died). */
  ackPending: number;
  /** Of those, jobs delivered more than once. */
  redelivered: number;
  /** Jobs kept in the dead-letter stream. */
  deadLetters: number;
}

/** Accepted diagnosis requests whose jobs are not yet in the queue. */
export interface OutboxStats {
  pending: number;
  /** Age of the oldest waiting row; 0 when none waits. */
  oldestAgeSeconds: number;
}

/** The process-level part every registry has: default Node metrics and the lag liveness judges. */
class ProcessMetrics {
  readonly registry = new Registry();
  /** Set by the process' StoreMonitor (src/lib/store-health.ts). */
  readonly storeUp: Gauge<'store'>;
  private eventLoop: EventLoopMonitor | undefined;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.storeUp = new Gauge({
      name: 'store_up',
      help: 'Whether this process reaches a shared store (database, redis, nats): 1 up, 0 down. Probed every second.',
      labelNames: ['store'],
      registers: [this.registry],
    });
    const metrics = this;
    new Gauge({
      name: 'liveness_event_loop_lag_seconds',
      help: 'Event-loop delay, p99 over the last 5 s: what /health/live compares with LIVENESS_MAX_LAG_MS.',
      registers: [this.registry],
      collect() {
        if (metrics.eventLoop) this.set(metrics.eventLoop.lag().p99Ms / 1_000);
      },
    });
  }

  /** The monitor behind `/health/live`, read on every scrape. */
  watchEventLoop(monitor: EventLoopMonitor): void {
    this.eventLoop = monitor;
  }
}

/** One registry per app, so tests can run several apps in a process without clashes. */
export class Metrics extends ProcessMetrics {
  readonly operations: Counter<'operation' | 'type' | 'outcome'>;
  readonly operationDuration: Histogram<'operation' | 'type'>;
  readonly breakerState: Gauge<'breaker'>;
  readonly breakerEvents: Counter<'breaker' | 'event'>;
  readonly cacheLookups: Counter<'cache' | 'result'>;
  readonly modelCalls: Histogram<'model' | 'outcome'>;
  readonly rateLimitRejections: Counter<'scope'>;
  readonly wsConnections: Gauge;
  readonly wsSubscriptions: Gauge;
  private readonly knownOperations = new Set<string>();
  private queueStats: (() => Promise<QueueStats | undefined>) | undefined;
  private outboxStats: (() => Promise<OutboxStats | undefined>) | undefined;

  constructor() {
    super();
    this.operations = new Counter({
      name: 'graphql_operations_total',
      help: 'GraphQL operations executed, by operation name, type and outcome (ok or error).',
      labelNames: ['operation', 'type', 'outcome'],
      registers: [this.registry],
    });
    this.operationDuration = new Histogram({
      name: 'graphql_operation_duration_seconds',
      help: 'Time to execute a GraphQL operation, by operation name and type.',
      labelNames: ['operation', 'type'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    this.breakerState = new Gauge({
      name: 'circuit_breaker_state',
      help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open.',
      labelNames: ['breaker'],
      registers: [this.registry],
    });
    this.breakerEvents = new Counter({
      name: 'circuit_breaker_events_total',
      help: 'Circuit breaker events: success, failure, timeout, reject (short-circuited), open, halfOpen, close.',
      labelNames: ['breaker', 'event'],
      registers: [this.registry],
    });
    this.cacheLookups = new Counter({
      name: 'cache_lookups_total',
      help: 'Cache lookups by result: hit (fresh), stale (kept past freshness), miss, error.',
      labelNames: ['cache', 'result'],
      registers: [this.registry],
    });
    this.modelCalls = new Histogram({
      name: 'ml_infer_duration_seconds',
      help: 'Model server inference calls (one per batch), by model and outcome.',
      labelNames: ['model', 'outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [this.registry],
    });
    this.rateLimitRejections = new Counter({
      name: 'rate_limit_rejections_total',
      help: 'Requests refused by a rate limit, by scope: clinician, ip (unauthenticated), ws_connect.',
      labelNames: ['scope'],
      registers: [this.registry],
    });
    this.wsConnections = new Gauge({
      name: 'graphql_ws_connections_active',
      help: 'WebSocket connections open on /graphql (graphql-ws), authenticated or not yet.',
      registers: [this.registry],
    });
    this.wsSubscriptions = new Gauge({
      name: 'graphql_ws_subscriptions_active',
      help: 'Subscription operations running over graphql-ws (each member of a shared subscription counts).',
      registers: [this.registry],
    });

    // Sampled on scrape: every pod reports the same stream, so aggregate with max(), not sum().
    const metrics = this;
    const queueGauge = (name: string, help: string, pick: (stats: QueueStats) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        async collect() {
          const stats = await metrics.queueStats?.();
          if (stats) this.set(pick(stats));
          // No reading (the store is down or slow): no series, rather than a number no longer true.
          else this.remove({});
        },
      });
    queueGauge(
      'diagnosis_queue_pending_jobs',
      'Diagnosis jobs in JetStream not yet delivered to a worker (the consumer lag).',
      (s) => s.pending,
    );
    queueGauge(
      'diagnosis_queue_ack_pending_jobs',
      'Diagnosis jobs delivered to a worker and not yet acknowledged (running, or held by a dead worker until the ack wait).',
      (s) => s.ackPending,
    );
    queueGauge(
      'diagnosis_queue_redelivered_jobs',
      'Unacknowledged diagnosis jobs that have been delivered more than once.',
      (s) => s.redelivered,
    );
    queueGauge('diagnosis_dead_letter_jobs', 'Diagnosis jobs kept in the dead-letter stream.', (s) => s.deadLetters);
    const outboxGauge = (name: string, help: string, pick: (stats: OutboxStats) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        async collect() {
          const stats = await metrics.outboxStats?.();
          if (stats) this.set(pick(stats));
          else this.remove({});
        },
      });
    outboxGauge(
      'outbox_pending_messages',
      'Accepted diagnosis requests whose jobs wait in the Postgres outbox for NATS.',
      (s) => s.pending,
    );
    outboxGauge(
      'outbox_oldest_message_age_seconds',
      'Age of the oldest job waiting in the outbox (0 when none waits).',
      (s) => s.oldestAgeSeconds,
    );
  }

  /** Where the queue gauges read from (JetStream; absent under `npm start`'s in-process queue). */
  sampleQueue(read: () => Promise<QueueStats>): void {
    this.queueStats = sampler(read);
  }

  /** Where the outbox gauges read from. */
  sampleOutbox(read: () => Promise<OutboxStats>): void {
    this.outboxStats = sampler(read);
  }

  /**
   * Operation names that may be labels: the schema's own (its root fields, as `patients` and
   * `Patients`) and those of the persisted operations. Called once per GraphQL endpoint.
   */
  allowOperationLabels(names: Iterable<string>): void {
    for (const name of names) if (this.knownOperations.size < MAX_OPERATION_LABELS) this.knownOperations.add(name);
  }

  /**
   * The label for an operation name. Names are chosen by clients, and one can carry anything (an
   * MRN was seen): only the names of {@link allowOperationLabels} are labels, any other is `other`.
   */
  operationLabel(name: string | null | undefined): string {
    if (!name) return 'anonymous';
    return this.knownOperations.has(name) ? name : 'other';
  }
}

/** What one diagnosis job delivery came to, as the worker's handler reports it. */
export type JobOutcome = 'completed' | 'failed' | 'retried' | 'cancelled' | 'released' | 'skipped' | 'error';

/** The worker's registry, served on WORKER_HEALTH_PORT. */
export class WorkerMetrics extends ProcessMetrics {
  readonly jobs: Counter<'outcome'>;
  readonly jobDuration: Histogram<'outcome'>;

  constructor() {
    super();
    this.jobs = new Counter({
      name: 'diagnosis_jobs_total',
      help: 'Diagnosis job deliveries handled, by outcome: completed, failed (last attempt), retried (nak with back-off), cancelled (by a clinician, or superseded), released (nak on shutdown), skipped (already finished or unknown), error (handler crashed; redelivered after the ack wait).',
      labelNames: ['outcome'],
      registers: [this.registry],
    });
    this.jobDuration = new Histogram({
      name: 'diagnosis_job_duration_seconds',
      help: 'Time a worker spent on one delivery of a diagnosis job, by outcome.',
      labelNames: ['outcome'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers: [this.registry],
    });
  }

  /** Counts one handled delivery. */
  job(outcome: JobOutcome, seconds: number): void {
    this.jobs.inc({ outcome });
    this.jobDuration.observe({ outcome }, seconds);
  }
}

/**
 * A reading for scrape-time gauges: the gauges of one scrape share it (one round trip, not one per
 * gauge), and a reading that fails or takes longer than {@link SAMPLE_TIMEOUT_MS} is `undefined`,
 * which removes the series rather than repeating a number that is no longer true.
 */
function sampler<T>(read: () => Promise<T>, maxAgeMs = 1_000): () => Promise<T | undefined> {
  let last: { at: number; value: Promise<T | undefined> } | undefined;
  return () => {
    const now = Date.now();
    if (last && now - last.at < maxAgeMs) return last.value;
    let timer: NodeJS.Timeout | undefined;
    const value = Promise.race([
      read(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), SAMPLE_TIMEOUT_MS);
      }),
    ]).then(
      (v) => v,
      () => undefined,
    );
    void value.finally(() => clearTimeout(timer));
    last = { at: now, value };
    return value;
  };
}
