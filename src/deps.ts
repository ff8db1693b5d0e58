import { hostname } from 'node:os';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { createTokenVerifier, type TokenVerifier } from './auth/jwt.js';
import type { AuthConfig, Config } from './config.js';
import { openCore } from './core.js';
import type { HealthCheck } from './http/health.js';
import { JetStreamQueue, type JobQueue } from './jobs/queue.js';
import { watchQueue } from './jobs/queue.metrics.js';
import { Breaker } from './lib/breaker.js';
import { type KeyValueCache, MemoryCache, RedisCache } from './lib/cache.js';
import type { Logger } from './lib/logger.js';
import { Metrics } from './lib/metrics.js';
import { definedKeys } from './lib/objects.js';
import { RateLimiter } from './lib/rate-limit.js';
import { connectRedis, type Redis } from './lib/redis.js';
import type { StoreMonitor } from './lib/store-health.js';
import type { Tracing } from './lib/tracing.js';
import { ModelClient, ModelServerError } from './ml/client.js';
import { AssessmentEngine } from './modules/assessment/assessment.engine.js';
import { watchAudit } from './modules/audit/audit.metrics.js';
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
import { SnapshotLeases } from './modules/patient/snapshot-leases.js';

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
  const auth = overrides.auth ?? config.auth;
  const mlUrl = overrides.mlUrl ?? config.mlUrl;
  if (!auth) throw new Error('JWT_SECRET or JWT_JWKS_URL is required');
  if (!mlUrl) throw new Error('ML_URL is required');

  const metrics = new Metrics();
  const core = await openCore(config, {
    role: 'api',
    storeGauge: metrics.storeUp,
    ...definedKeys(overrides, 'logger', 'databaseUrl', 'spanExporter'),
  });
  const { logger, tracing, orm, redis, queue, closers } = core;
  return closers.guard(async () => {
    const cache: KeyValueCache = redis ? new RedisCache(redis) : new MemoryCache();
    const mlClient = new ModelClient({ baseUrl: mlUrl, timeoutMs: config.ml.timeoutMs });
    closers.defer(() => mlClient.close());
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
    closers.defer(() => mlBreaker.shutdown());
    const assessmentEngine = new AssessmentEngine({
      cache,
      client: mlClient,
      breaker: mlBreaker,
      metrics,
      logger,
      freshMs: config.assessment.freshMs,
      retainMs: config.assessment.retainMs,
      // A claim outlives the longest model call: the client's deadline, with a margin.
      claimMs: config.ml.timeoutMs + 1_000,
    });

    // A subscribed connection can do nothing else: pub/sub gets a connection of its own.
    const redisUrl = config.redisUrl;
    const subscriber =
      redis && redisUrl
        ? await closers.open('cannot reach Redis', async () => {
            const subscriber = await connectRedis({ url: redisUrl, keyPrefix: config.redisKeyPrefix });
            closers.defer(() => subscriber.disconnect());
            return subscriber;
          })
        : undefined;
    const memory = redis && subscriber ? undefined : new MemoryLiveState();
    const live: LiveStateWriter = memory ?? new RedisLiveStateWriter(redis as Redis, config.redisKeyPrefix);
    const feed: LiveStateFeed = memory ?? new RedisLiveFeed(subscriber as Redis, config.redisKeyPrefix);
    // The same subscriber connection as the live state: see RedisCareTeamEvents on why order matters.
    const careTeamEvents: CareTeamEvents =
      redis && subscriber
        ? new RedisCareTeamEvents(redis, subscriber, config.redisKeyPrefix, logger)
        : new MemoryCareTeamEvents();
    // Reads' audit events are appended to a JetStream stream and written to audit_event in batches
    // by drainers — in workers, and in pods unless AUDIT_DRAINER=false (see AuditStream); without
    // NATS they are committed directly.
    const natsUrl = config.natsUrl;
    const auditStream = natsUrl
      ? await closers.open('cannot reach NATS', () =>
          AuditStream.connect({
            url: natsUrl,
            names: auditNames(config.jobs.namespace),
            connectionName: `api-audit-${hostname()}`,
            logger,
          }),
        )
      : undefined;
    if (config.auditDrainer) auditStream?.startDrainer((rows) => insertAuditRows(orm, rows));
    const auditLog = new AuditLog(orm, hostname(), logger, auditStream);
    closers.defer(async () => {
      await auditLog.drain();
      await auditStream?.close();
    });
    const relay = new OutboxRelay(orm, queue, logger, config.jobs.outboxPollMs);
    relay.start();
    closers.defer(() => relay.stop());
    watchOutbox(metrics.registry, relay);
    watchAudit(metrics.registry, auditLog);
    if (queue instanceof JetStreamQueue) watchQueue(metrics.registry, queue);
    // Leases need the pod's subscription (invalidations and heartbeats arrive on it).
    const leases =
      redis && subscriber && config.snapshotLeaseMs > 0
        ? new SnapshotLeases({
            redis,
            subscriber,
            prefix: config.redisKeyPrefix,
            leaseMs: config.snapshotLeaseMs,
            logger,
          })
        : undefined;
    await leases?.start();
    if (leases) closers.defer(() => leases.close());
    const patientSnapshots = new PatientSnapshots({
      versions: redis ? new RedisSnapshotVersions(redis, leases) : new MemorySnapshotVersions(),
      logger,
    });
    closers.defer(() => patientSnapshots.close());

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
      // The model server is deliberately not a readiness check: a failing model degrades answers
      // (stale cache, ML_UNAVAILABLE); it must not take every pod out of the load balancer.
      healthChecks: core.healthChecks,
      stores: core.stores,
      rateLimiter: new RateLimiter({ config: config.rateLimit, redis, metrics, logger }),
      tracing,
      close: () => closers.close(),
    };
  });
}
