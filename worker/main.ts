/**
 * One diagnosis worker: `npm run start:worker` (or `node dist/worker/main.js`). Any number may run:
 * they share one durable JetStream consumer. Serves /health/live, /health/ready and /metrics on
 * WORKER_HEALTH_PORT; on SIGTERM stops pulling, releases its current jobs and exits 0.
 */
import { createServer } from 'node:http';
import { hostname } from 'node:os';
import { ConfigError, loadConfig } from '../src/config.js';
import { initOrm } from '../src/db/orm.js';
import { type HealthCheck, liveness, readiness, readinessHttpStatus } from '../src/http/health.js';
import { jobNames } from '../src/jobs/diagnosis.job.js';
import { JetStreamQueue } from '../src/jobs/queue.js';
import { EventLoopMonitor } from '../src/lib/event-loop.js';
import { createLogger } from '../src/lib/logger.js';
import { connectRedis } from '../src/lib/redis.js';
import { StoreMonitor } from '../src/lib/store-health.js';
import { initTracing } from '../src/lib/tracing.js';
import { runUntilSignal } from '../src/lifecycle.js';
import { RedisLiveStateWriter } from '../src/modules/diagnosis/diagnosis.live.js';
import { startConsumer } from './consumer.js';
import { WorkerMetrics } from './metrics.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env, 'worker');
  const logger = createLogger({ level: config.logLevel, name: 'clinical-copilot-worker' });
  const tracing = await initTracing(config);
  const orm = await initOrm({ databaseUrl: config.databaseUrl, poolSize: config.databasePoolSize });
  await orm.em.getConnection().execute('select 1');
  const redisOptions = { url: config.redisUrl, keyPrefix: config.redisKeyPrefix };
  const redis = await connectRedis(redisOptions);
  // Only writes: a worker publishes states and never subscribes, so it holds no subscriber connection.
  const live = new RedisLiveStateWriter(redis, config.redisKeyPrefix);
  const queue = await JetStreamQueue.connect({
    url: config.natsUrl,
    names: jobNames(config.jobs.namespace),
    maxDeliver: config.jobs.maxDeliver,
    ackWaitMs: config.jobs.ackWaitMs,
    connectionName: `worker-${hostname()}`,
    tracing,
  });

  const metrics = new WorkerMetrics();
  const eventLoop = new EventLoopMonitor().start();
  metrics.watchEventLoop(eventLoop);
  let draining = false;
  // Readiness as for an API pod (the contract's rule): only the database makes it 503. A shared
  // store's outage makes every worker `degraded` at once — pulling nothing meanwhile (see
  // startConsumer) — and unreadying them all would only block rollouts and node drains (PDB).
  const checks: HealthCheck[] = [
    { name: 'database', critical: true, check: () => orm.em.getConnection().execute('select 1') },
    { name: 'redis', check: () => redis.ping() },
    { name: 'nats', check: () => queue.ping() },
  ];
  const stores = new StoreMonitor(checks, {
    intervalMs: config.storeCheckIntervalMs,
    timeoutMs: config.healthTimeoutMs,
    logger,
    gauge: metrics.storeUp,
  }).start();
  const health = createServer((req, res) => {
    const send = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/health/live') {
      const report = liveness(eventLoop, config.livenessMaxLagMs);
      return send(report.status === 'ok' ? 200 : 503, report);
    }
    if (req.url === '/health/ready') {
      void readiness(checks, config.healthTimeoutMs, draining).then((r) => send(readinessHttpStatus(r), r));
      return;
    }
    if (req.url === '/metrics') {
      void metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        () => send(500, { status: 'error' }),
      );
      return;
    }
    send(404, { error: 'Not found' });
  });
  await new Promise<void>((resolve) => health.listen(config.worker.healthPort, config.http.host, resolve));

  const worker = startConsumer({ config, orm, live, queue, logger, metrics, tracing, stores });
  await runUntilSignal(logger, config.shutdownGraceMs, async () => {
    draining = true;
    await worker.stop();
    stores.stop();
    await queue.close();
    await new Promise<void>((resolve) => health.close(() => resolve()));
    eventLoop.stop();
    redis.disconnect();
    await orm.close(true);
    await tracing.shutdown();
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : `worker failed to start: ${(error as Error).message}`);
  process.exit(1);
});
