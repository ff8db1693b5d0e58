/**
 * One diagnosis worker: `npm run start:worker` (or `node dist/worker/main.js`). Any number may run:
 * they share one durable JetStream consumer. Serves /health/live, /health/ready and /metrics on
 * WORKER_HEALTH_PORT; on SIGTERM stops pulling, releases its current jobs and exits 0.
 */
import { createServer } from 'node:http';
import { hostname } from 'node:os';
import { ConfigError, loadConfig } from '../src/config.js';
import { openCore } from '../src/core.js';
import { liveness, readiness, readinessHttpStatus } from '../src/http/health.js';
import { EventLoopMonitor } from '../src/lib/event-loop.js';
import { runUntilSignal } from '../src/lifecycle.js';
import { insertAuditRows } from '../src/modules/audit/audit.service.js';
import { AuditStream, auditNames } from '../src/modules/audit/audit.stream.js';
import { RedisLiveStateWriter } from '../src/modules/diagnosis/diagnosis.live.js';
import { startConsumer } from './consumer.js';
import { WorkerMetrics } from './metrics.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env, 'worker');
  const metrics = new WorkerMetrics();
  const core = await openCore(config, { role: 'worker', storeGauge: metrics.storeUp });
  const { logger, tracing, orm, redis, queue, stores, closers } = core;
  // Only writes: a worker publishes states and never subscribes, so it holds no subscriber connection.
  const live = new RedisLiveStateWriter(redis, config.redisKeyPrefix);
  // The audit stream's drainer (AUDIT_DRAINER): where production runs it, off the API pods' CPU.
  // It shares one durable consumer with any other drainer, so workers may come and go.
  if (config.auditDrainer) {
    const audit = await closers.open('cannot reach NATS', () =>
      AuditStream.connect({
        url: config.natsUrl,
        names: auditNames(config.jobs.namespace),
        connectionName: `worker-audit-${hostname()}`,
        logger,
      }),
    );
    closers.defer(() => audit.close());
    audit.startDrainer((rows) => insertAuditRows(orm, rows));
  }
  const eventLoop = new EventLoopMonitor().start();
  closers.defer(() => eventLoop.stop());
  metrics.watchEventLoop(eventLoop);
  let draining = false;
  // Readiness as for an API pod (the contract's rule, see Core.healthChecks): only the database
  // makes it 503; without Redis or NATS the worker is `degraded` and pulls nothing (startConsumer).
  const checks = core.healthChecks;
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
    await new Promise<void>((resolve) => health.close(() => resolve()));
    await closers.close();
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : `worker failed to start: ${(error as Error).message}`);
  process.exit(1);
});
