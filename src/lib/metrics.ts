import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { EventLoopMonitor } from './event-loop.js';

/** Most operation names kept as labels (bounded cardinality, whatever the persisted list holds). */
const MAX_OPERATION_LABELS = 1_000;

/** Longest a scrape waits for one sampled reading (a hung dependency must not stall `/metrics`). */
const SAMPLE_TIMEOUT_MS = 1_000;

/** The process-level part every registry has: default Node metrics and the lag liveness judges. */
export class ProcessMetrics {
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

/**
 * Gauges read at scrape time from one shared reading: `read` is called at most once per scrape (one
 * round trip for all of them, not one per gauge); while it fails or is slower than
 * {@link SAMPLE_TIMEOUT_MS} the gauges have no series rather than a number that is no longer true.
 */
export function sampledGauges<T>(
  registry: Registry,
  read: () => Promise<T>,
  gauges: readonly { name: string; help: string; value: (reading: T) => number }[],
): void {
  const sample = sampler(read);
  for (const { name, help, value } of gauges) {
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const reading = await sample();
        if (reading !== undefined) this.set(value(reading));
        else this.remove({});
      },
    });
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
