import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Distinct operation names kept as labels; past this they count as `other` (bounded cardinality). */
const MAX_OPERATION_LABELS = 200;

/** One registry per app, so tests can run several apps in a process without clashes. */
export class Metrics {
  readonly registry = new Registry();
  readonly operations: Counter<'operation' | 'type' | 'outcome'>;
  readonly operationDuration: Histogram<'operation' | 'type'>;
  readonly breakerState: Gauge<'breaker'>;
  readonly breakerEvents: Counter<'breaker' | 'event'>;
  readonly cacheLookups: Counter<'cache' | 'result'>;
  readonly modelCalls: Histogram<'model' | 'outcome'>;
  readonly rateLimitRejections: Counter<'scope'>;
  private readonly knownOperations = new Set<string>();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
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
  }

  /** A label for a client-chosen operation name, without letting clients grow the series forever. */
  operationLabel(name: string | null | undefined): string {
    if (!name) return 'anonymous';
    if (this.knownOperations.has(name)) return name;
    if (this.knownOperations.size >= MAX_OPERATION_LABELS || !/^[_A-Za-z][_0-9A-Za-z]{0,63}$/.test(name))
      return 'other';
    this.knownOperations.add(name);
    return name;
  }
}
