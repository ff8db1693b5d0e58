/**
 * The wiring an API pod and a diagnosis worker share: logger, tracing, the database, Redis, the
 * JetStream work queue, the readiness checks of those stores and their background monitor. Each
 * process builds the rest on top (src/deps.ts, worker/main.ts) and registers how to close it on
 * the same {@link Closers}, so everything closes in the reverse order it was opened — also when
 * start-up fails halfway.
 */
import { hostname } from 'node:os';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import type { Gauge } from 'prom-client';
import type { Config } from './config.js';
import { initOrm } from './db/orm.js';
import type { HealthCheck } from './http/health.js';
import { jobNames } from './jobs/diagnosis.job.js';
import { JetStreamQueue, type JobQueue, MemoryQueue } from './jobs/queue.js';
import { Closers } from './lib/closers.js';
import { createLogger, type Logger } from './lib/logger.js';
import { connectRedis, type Redis } from './lib/redis.js';
import { StoreMonitor } from './lib/store-health.js';
import { initTracing, type Tracing } from './lib/tracing.js';

/** Redis is there whenever the configuration requires it (an API pod's and a worker's do). */
type RedisOf<C extends Config> = C extends { readonly redisUrl: string } ? Redis : Redis | undefined;
/** Likewise JetStream whenever NATS is required. */
type QueueOf<C extends Config> = C extends { readonly natsUrl: string } ? JetStreamQueue : JobQueue;

export interface Core<C extends Config = Config> {
  readonly logger: Logger;
  readonly tracing: Tracing;
  readonly orm: MikroORM;
  /** Absent only under `npm start` without REDIS_URL. */
  readonly redis: RedisOf<C>;
  /** JetStream; in-process under `npm start` without NATS_URL. */
  readonly queue: QueueOf<C>;
  /**
   * Readiness: only the database is critical. Without Redis or NATS a process is `degraded`, still
   * serving (the contract's rule): every pod shares those stores, and unreadying all of them at
   * once would take the whole service away instead of degrading it.
   */
  readonly healthChecks: readonly HealthCheck[];
  /** The same stores probed in the background: `store_up`, and a log line when one goes or returns. */
  readonly stores: StoreMonitor;
  /** Where the process registers how to close what it builds on the core. */
  readonly closers: Closers;
}

export interface CoreOptions {
  /** `api` or `worker`: names the NATS connection (`api-<host>`), and the logger for a worker. */
  role: 'api' | 'worker';
  /** The NATS connection's name, when not `<role>-<host>`. */
  connectionName?: string;
  /** `store_up`, set by the store monitor. */
  storeGauge: Gauge<'store'>;
  logger?: Logger;
  /** The embedded mode's PGlite URL. */
  databaseUrl?: string;
  /** Tests: spans go to this exporter (an in-memory one) instead of OTLP. */
  spanExporter?: SpanExporter;
}

/** Opens the stores in order, failing at start-up with one clear line rather than on the first request. */
export async function openCore<C extends Config>(config: C, options: CoreOptions): Promise<Core<C>> {
  const closers = new Closers();
  const logger =
    options.logger ??
    createLogger({
      level: config.logLevel,
      ...(options.role === 'worker' ? { name: 'clinical-copilot-worker' } : {}),
    });
  const tracing = await initTracing(config, options.spanExporter ? { exporter: options.spanExporter } : {});
  closers.defer(() => tracing.shutdown());
  const databaseUrl = options.databaseUrl ?? config.databaseUrl;
  if (!databaseUrl) throw new Error('DATABASE_URL is required');
  const orm = await closers.open('cannot reach the database', async () => {
    const orm = await initOrm({ databaseUrl, poolSize: config.databasePoolSize });
    closers.defer(() => orm.close(true));
    await orm.em.getConnection().execute('select 1');
    return orm;
  });
  const redisUrl = config.redisUrl;
  const redis = redisUrl
    ? await closers.open('cannot reach Redis', async () => {
        const redis = await connectRedis({ url: redisUrl, keyPrefix: config.redisKeyPrefix });
        closers.defer(() => redis.disconnect());
        return redis;
      })
    : undefined;
  const natsUrl = config.natsUrl;
  const queue: JobQueue = natsUrl
    ? await closers.open('cannot reach NATS', () =>
        JetStreamQueue.connect({
          url: natsUrl,
          names: jobNames(config.jobs.namespace),
          maxDeliver: config.jobs.maxDeliver,
          ackWaitMs: config.jobs.ackWaitMs,
          connectionName: options.connectionName ?? `${options.role}-${hostname()}`,
          tracing,
        }),
      )
    : new MemoryQueue();
  closers.defer(() => queue.close());

  const healthChecks: HealthCheck[] = [
    { name: 'database', critical: true, check: () => orm.em.getConnection().execute('select 1') },
  ];
  if (redis) healthChecks.push({ name: 'redis', check: () => redis.ping() });
  if (natsUrl) healthChecks.push({ name: 'nats', check: () => queue.ping() });
  const stores = new StoreMonitor(healthChecks, {
    intervalMs: config.storeCheckIntervalMs,
    timeoutMs: config.healthTimeoutMs,
    logger,
    gauge: options.storeGauge,
  }).start();
  closers.defer(() => stores.stop());

  return {
    logger,
    tracing,
    orm,
    redis: redis as RedisOf<C>,
    queue: queue as QueueOf<C>,
    healthChecks,
    stores,
    closers,
  };
}
