import { hostname } from 'node:os';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { createTokenVerifier, type TokenVerifier } from './auth/jwt.js';
import type { AuthConfig, Config } from './config.js';
import { initOrm } from './db/orm.js';
import type { HealthCheck } from './http/health.js';
import { jobNames } from './jobs/diagnosis.job.js';
import { JetStreamQueue, type JobQueue, MemoryQueue } from './jobs/queue.js';
import { watchQueue } from './jobs/queue.metrics.js';
import { Breaker } from './lib/breaker.js';
import { type KeyValueCache, MemoryCache, RedisCache } from './lib/cache.js';
import { createLogger, type Logger } from './lib/logger.js';
import { Metrics } from './lib/metrics.js';
import { RateLimiter } from './lib/rate-limit.js';
import { connectRedis, type Redis } from './lib/redis.js';
import { StoreMonitor } from './lib/store-health.js';
import { initTracing, type Tracing } from './lib/tracing.js';
import { ModelClient, ModelServerError } from './ml/client.js';
import { AssessmentEngine } from './modules/assessment/assessment.engine.js';
import { AuditLog, insertAuditRows } from './modules/audit/audit.service.js';
import { AuditStream, auditNames } from './modules/audit/audit.stream.js';
import { ClinicianRegistry } from './modules/clinician/clinician.service.js';
import {
  type LiveStateFeed,
  type LiveStateWriter,
  MemoryLiveState,
  RedisLiveFeed,
  RedisLiveStateWriter,
} from './modules/diagnosis/diagnosis.live.js';
import type { DiagnosisDeps } from './modules/diagnosis/diagnosis.service.js';
import { watchOutbox } from './modules/outbox/outbox.metrics.js';
import { OutboxRelay } from './modules/outbox/outbox.relay.js';
import { type CareTeamEvents, MemoryCareTeamEvents, RedisCareTeamEvents } from './modules/patient/care-team.events.js';
import {
  MemorySnapshotVersions,
  PatientSnapshots,
  RedisSnapshotVersions,
} from './modules/patient/patient.snapshots.js';

/** Everything long-lived a pod talks to. Created once; closed in the reverse order. */
export interface Deps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly orm: MikroORM;
  /** Absent only in the embedded mode without REDIS_URL. */
  readonly redis: Redis | undefined;
  readonly cache: KeyValueCache;
  readonly auditLog: AuditLog;
  readonly clinicians: ClinicianRegistry;
  readonly verifier: TokenVerifier;
  readonly mlBreaker: Breaker;
  readonly assessmentEngine: AssessmentEngine;
  /** The diagnosis work queue (JetStream, or in-process under `npm start`). */
  readonly queue: JobQueue;
  /** Live diagnosis state and its pub/sub (Redis, or in-process under `npm start`). */
  /** Live diagnosis states: where changes are written (and published), and where they are heard. */
  readonly live: LiveStateWriter;
  readonly feed: LiveStateFeed;
  /** Care-team removals told to every pod (on the live state's pub/sub connection). */
  readonly careTeamEvents: CareTeamEvents;
  /** Patients' snapshots and care teams for the read path, per pod, versioned in Redis. */
  readonly patientSnapshots: PatientSnapshots;
  readonly diagnosis: DiagnosisDeps;
  readonly healthChecks: readonly HealthCheck[];
  /** The same stores probed in the background: `store_up`, and a log line when one goes or returns. */
  readonly stores: StoreMonitor;
  /** Rate-limit budgets (Redis, shared by all pods; in-process under `npm start` without Redis). */
  readonly rateLimiter: RateLimiter;
  /** Spans of this pod (off unless OTEL_EXPORTER_OTLP_ENDPOINT, or a test's exporter). */
  readonly tracing: Tracing;
  close(): Promise<void>;
}

export interface DepsOverrides {
  logger?: Logger;
  /** The embedded mode supplies the PGlite URL, generated secret and in-process model server here. */
  databaseUrl?: string;
  auth?: AuthConfig;
  mlUrl?: string;
  /** Tests: spans go to this exporter (an in-memory one) instead of OTLP. */
  spanExporter?: SpanExporter;
}

export async function createDeps(config: Config, overrides: DepsOverrides = {}): Promise<Deps> {
  const logger = overrides.logger ?? createLogger({ level: config.logLevel });
  const databaseUrl = overrides.databaseUrl ?? config.databaseUrl;
  const auth = overrides.auth ?? config.auth;
  const mlUrl = overrides.mlUrl ?? config.mlUrl;
  if (!databaseUrl) throw new Error('DATABASE_URL is required');
  if (!auth) throw new Error('JWT_SECRET or JWT_JWKS_URL is required');
  if (!mlUrl) throw new Error('ML_URL is required');

  const metrics = new Metrics();
  const tracing = await initTracing(config, overrides.spanExporter ? { exporter: overrides.spanExporter } : {});
  const orm = await initOrm({ databaseUrl, poolSize: config.databasePoolSize });
  // Fail at start-up, with one clear line, rather than on the first request.
  await orm.em.getConnection().execute('select 1');
  const redis = config.redisUrl
    ? await connectRedis({ url: config.redisUrl, keyPrefix: config.redisKeyPrefix }).catch(async (error: Error) => {
        await orm.close(true);
        throw new Error(`cannot reach Redis: ${error.message}`);
      })
    : undefined;
  const cache: KeyValueCache = redis ? new RedisCache(redis) : new MemoryCache();
  const mlClient = new ModelClient({ baseUrl: mlUrl, timeoutMs: config.ml.timeoutMs });
  const mlBreaker = new Breaker(
    'ml',
    {
      // The client aborts at its own deadline; the breaker's is a backstop just after it.
      timeoutMs: config.ml.timeoutMs + 100,
      resetMs: config.ml.breakerResetMs,
      errorThresholdPercentage: 50,
      volumeThreshold: 5,
      rollingWindowMs: 10_000,
      isCallerError: (error) => error instanceof ModelServerError && error.isClientError,
    },
    metrics,
    logger,
  );
  const assessmentEngine = new AssessmentEngine({
    cache,
    client: mlClient,
    breaker: mlBreaker,
    metrics,
    logger,
    freshMs: config.assessment.freshMs,
    retainMs: config.assessment.retainMs,
  });

  // A subscribed connection can do nothing else: pub/sub gets a connection of its own.
  const subscriber =
    redis && config.redisUrl
      ? await connectRedis({ url: config.redisUrl, keyPrefix: config.redisKeyPrefix })
      : undefined;
  const memory = redis && subscriber ? undefined : new MemoryLiveState();
  const live: LiveStateWriter = memory ?? new RedisLiveStateWriter(redis as Redis, config.redisKeyPrefix);
  const feed: LiveStateFeed = memory ?? new RedisLiveFeed(subscriber as Redis, config.redisKeyPrefix);
  // The same subscriber connection as the live state: see RedisCareTeamEvents on why order matters.
  const careTeamEvents: CareTeamEvents =
    redis && subscriber
      ? new RedisCareTeamEvents(redis, subscriber, config.redisKeyPrefix)
      : new MemoryCareTeamEvents();
  const patientSnapshots = new PatientSnapshots({
    versions: redis ? new RedisSnapshotVersions(redis) : new MemorySnapshotVersions(),
    logger,
  });
  const queue: JobQueue = config.natsUrl
    ? await JetStreamQueue.connect({
        url: config.natsUrl,
        names: jobNames(config.jobs.namespace),
        maxDeliver: config.jobs.maxDeliver,
        ackWaitMs: config.jobs.ackWaitMs,
        connectionName: `api-${hostname()}`,
        tracing,
      }).catch(async (error: Error) => {
        subscriber?.disconnect();
        redis?.disconnect();
        await orm.close(true);
        throw new Error(`cannot reach NATS: ${error.message}`);
      })
    : new MemoryQueue();
  // Reads' audit events are appended to a JetStream stream and written to audit_event in batches
  // by a drainer in every pod (see AuditStream); without NATS they are committed directly.
  const auditStream = config.natsUrl
    ? await AuditStream.connect({
        url: config.natsUrl,
        names: auditNames(config.jobs.namespace),
        connectionName: `api-audit-${hostname()}`,
        logger,
      }).catch(async (error: Error) => {
        await queue.close();
        subscriber?.disconnect();
        redis?.disconnect();
        await orm.close(true);
        throw new Error(`cannot reach NATS: ${error.message}`);
      })
    : undefined;
  auditStream?.startDrainer((rows) => insertAuditRows(orm, rows));
  const auditLog = new AuditLog(orm, hostname(), logger, auditStream);
  const relay = new OutboxRelay(orm, queue, logger, config.jobs.outboxPollMs);
  relay.start();
  watchOutbox(metrics.registry, relay);
  if (queue instanceof JetStreamQueue) watchQueue(metrics.registry, queue);

  const healthChecks: HealthCheck[] = [
    { name: 'database', critical: true, check: () => orm.em.getConnection().execute('select 1') },
  ];
  // The model server is deliberately not a readiness check: a failing model degrades answers
  // (stale cache, ML_UNAVAILABLE); it must not take every pod out of the load balancer. Redis and
  // NATS are checks but not critical ones: without them the pod is `degraded`, still serving.
  if (redis) healthChecks.push({ name: 'redis', check: () => cache.ping() });
  if (config.natsUrl) healthChecks.push({ name: 'nats', check: () => queue.ping() });
  const stores = new StoreMonitor(healthChecks, {
    intervalMs: config.storeCheckIntervalMs,
    timeoutMs: config.healthTimeoutMs,
    logger,
    gauge: metrics.storeUp,
  }).start();

  return {
    logger,
    metrics,
    orm,
    redis,
    cache,
    auditLog,
    clinicians: new ClinicianRegistry(orm),
    verifier: createTokenVerifier(auth, { maxTtlSeconds: config.jwtMaxTtlSeconds }),
    mlBreaker,
    assessmentEngine,
    queue,
    live,
    feed,
    careTeamEvents,
    patientSnapshots,
    diagnosis: { live, feed, relay, logger, tracing },
    healthChecks,
    stores,
    rateLimiter: new RateLimiter({ config: config.rateLimit, redis, metrics, logger }),
    tracing,
    close: async () => {
      stores.stop();
      patientSnapshots.close();
      await relay.stop();
      await queue.close();
      subscriber?.disconnect();
      mlBreaker.shutdown();
      await mlClient.close();
      await auditLog.drain();
      await auditStream?.close();
      redis?.disconnect();
      await orm.close(true);
      await tracing.shutdown();
    },
  };
}
