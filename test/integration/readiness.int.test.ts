import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../bench/lib/processes.js';
import type { TestDatabase } from '../helpers/database.js';
import { uniqueNatsNamespace } from '../helpers/nats.js';
import { uniqueRedisPrefix } from '../helpers/redis.js';
import { migratedDatabase, startTestApi, type TestApi } from '../helpers/server.js';
import { eventually, type OwnServer, startOwnNats, startOwnRedis } from '../helpers/services.js';
import { spawnWorker } from '../helpers/worker.js';

interface CheckResult {
  ok: boolean;
  latencyMs: number;
  error?: string;
}
interface Probe {
  status: number;
  body: { status: string; checks: Record<string, CheckResult> };
}

async function probe(base: string, path = '/health/ready'): Promise<Probe> {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, body: await res.json() };
}

const readyWith = (checks: Record<string, boolean>) => (p: Probe) =>
  Object.entries(checks).every(([name, ok]) => p.body.checks[name]?.ok === ok);

/**
 * Stops one dependency and waits for readiness to name it (and only it) as failing — API pods and
 * workers alike stay 200 `degraded`: Redis and NATS are shared by
 * every pod, and unreadying them all would turn a partial outage into a total one — checks the
 * process stays live and `store_up` says which store is down, then starts the dependency again on
 * the same port and waits for readiness to recover.
 */
async function outageAndRecovery(base: string, server: OwnServer, name: 'redis' | 'nats'): Promise<void> {
  await server.stop();
  const down = await eventually(
    () => probe(base),
    (p) => p.body.checks[name]?.ok === false,
    { what: `readiness naming ${name}` },
  );
  expect(down.status).toBe(200);
  expect(down.body.status).toBe('degraded');
  expect(down.body.checks[name]).toEqual({ ok: false, latencyMs: expect.any(Number), error: expect.any(String) });
  expect(down.body.checks.database?.ok).toBe(true);
  for (const other of ['redis', 'nats'].filter((n) => n !== name)) expect(down.body.checks[other]?.ok).toBe(true);
  // A dependency's outage is no reason to restart the process.
  expect((await probe(base, '/health/live')).status).toBe(200);
  const metrics = await eventually(
    async () => (await fetch(`${base}/metrics`)).text(),
    (text) => text.includes(`store_up{store="${name}"} 0`),
    { what: `store_up naming ${name} down` },
  );
  expect(metrics).toContain('store_up{store="database"} 1');

  await server.start();
  const up = await eventually(
    () => probe(base),
    (p) => p.body.status === 'ok',
    { timeoutMs: 30_000, what: `readiness ok after ${name} came back` },
  );
  expect(up.status).toBe(200);
  expect(up.body).toEqual({
    status: 'ok',
    checks: {
      database: { ok: true, latencyMs: expect.any(Number) },
      redis: { ok: true, latencyMs: expect.any(Number) },
      nats: { ok: true, latencyMs: expect.any(Number) },
    },
  });
  await eventually(
    async () => (await fetch(`${base}/metrics`)).text(),
    (text) => text.includes(`store_up{store="${name}"} 1`),
    { what: `store_up naming ${name} up again` },
  );
}

describe('readiness of an API pod', () => {
  let redis: OwnServer;
  let nats: OwnServer;
  let api: TestApi;

  beforeAll(async () => {
    [redis, nats] = await Promise.all([startOwnRedis(), startOwnNats()]);
    api = await startTestApi({
      env: { REDIS_URL: redis.url, NATS_URL: nats.url, HEALTH_TIMEOUT_MS: '2000', STORE_CHECK_INTERVAL_MS: '200' },
    });
  });
  afterAll(async () => {
    await api?.close();
    await Promise.all([redis?.dispose(), nats?.dispose()]);
  });

  it('uses the Redis and NATS it was given, and is ready', async () => {
    expect(api.config.redisUrl).toBe(redis.url);
    expect(api.config.natsUrl).toBe(nats.url);
    const ready = await eventually(() => probe(api.base), readyWith({ database: true, redis: true, nats: true }));
    expect(ready.status).toBe(200);
  });

  it('stays 200 "degraded" naming Redis while its Redis is down, and recovers when it is back', async () => {
    await outageAndRecovery(api.base, redis, 'redis');
  }, 60_000);

  it('stays 200 "degraded" naming NATS while its NATS is down, and recovers when it is back', async () => {
    await outageAndRecovery(api.base, nats, 'nats');
  }, 60_000);
});

describe('readiness of a worker process', () => {
  let redis: OwnServer;
  let nats: OwnServer;
  let db: TestDatabase;
  let worker: ChildProcess | undefined;
  let stderr = '';
  let base: string;

  beforeAll(async () => {
    [redis, nats, db] = await Promise.all([startOwnRedis(), startOwnNats(), migratedDatabase()]);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    worker = spawnWorker(
      {
        databaseUrl: db.url,
        redisKeyPrefix: uniqueRedisPrefix(),
        natsNamespace: uniqueNatsNamespace(),
        natsUrl: nats.url,
      },
      {
        REDIS_URL: redis.url,
        WORKER_HEALTH_PORT: String(port),
        HOST: '127.0.0.1',
        HEALTH_TIMEOUT_MS: '2000',
        STORE_CHECK_INTERVAL_MS: '200',
      },
    );
    worker.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-10_000);
    });
    // Compiling the worker's sources on a busy machine takes a while.
    await eventually(
      () => probe(base),
      (p) => p.status === 200,
      { timeoutMs: 60_000, what: 'the worker to be ready' },
    ).catch((error: Error) => {
      throw new Error(`${error.message}\nworker stderr: ${stderr}`);
    });
  }, 90_000);
  afterAll(async () => {
    if (worker && worker.exitCode === null) {
      const exited = new Promise((resolve) => worker?.once('exit', resolve));
      worker.kill('SIGTERM');
      await exited;
    }
    await Promise.all([redis?.dispose(), nats?.dispose()]);
    await db?.drop();
  });

  it('answers liveness with the event-loop lag it judged', async () => {
    const res = await fetch(`${base}/health/live`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', eventLoop: { thresholdMs: 1000 } });
  });

  it('stays 200 "degraded" naming Redis while its Redis is down, and recovers when it is back', async () => {
    await outageAndRecovery(base, redis, 'redis');
  }, 60_000);

  it('stays 200 "degraded" naming NATS while its NATS is down, and recovers when it is back', async () => {
    await outageAndRecovery(base, nats, 'nats');
  }, 60_000);

  it('still drains and exits 0 on SIGTERM after the outages', async () => {
    const child = worker as ChildProcess;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 40_000);
});

describe('liveness', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ env: { LIVENESS_MAX_LAG_MS: '100' } });
  });
  afterAll(() => api?.close());

  it('turns 503 while the event loop is mostly blocked, with the lag in the body, and recovers', async () => {
    // This test's process is the pod's: keep its loop busy in 300 ms stretches for 2.4 s.
    const end = performance.now() + 2_400;
    while (performance.now() < end) {
      const until = performance.now() + 300;
      while (performance.now() < until) {
        // Busy: nothing else runs.
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    const res = await fetch(`${api.base}/health/live`);
    const body = await res.json();
    expect(res.status).toBe(503);
    expect(body).toMatchObject({ status: 'lagging', eventLoop: { thresholdMs: 100 } });
    expect(body.eventLoop.p99Ms).toBeGreaterThan(100);
    expect(body.eventLoop.maxMs).toBeGreaterThanOrEqual(250);
    // The gauge shows what liveness judged.
    const metrics = await (await fetch(`${api.base}/metrics`)).text();
    const gauge = Number(/^liveness_event_loop_lag_seconds (\S+)$/m.exec(metrics)?.[1]);
    expect(gauge).toBeGreaterThan(0.1);

    // Readiness is about dependencies, not the loop.
    expect((await fetch(`${api.base}/health/ready`)).status).toBe(200);
    // The window is 5 s: once it has slid past the busy stretch, the pod is live again.
    const live = await eventually(
      () => probe(api.base, '/health/live'),
      (p) => p.status === 200,
      { timeoutMs: 30_000, what: 'liveness 200 after the loop is free again' },
    );
    expect(live.body.status).toBe('ok');
  }, 60_000);
});
