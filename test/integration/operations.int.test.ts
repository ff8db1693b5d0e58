import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeDocument } from '../../client/index.js';
import { execute } from '../helpers/graphql.js';
import { startTestApi, type TestApi } from '../helpers/server.js';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(() => api?.close());

describe('health', () => {
  it('answers liveness without a token, with the event-loop lag it judged', async () => {
    const res = await fetch(`${api.base}/health/live`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: 'ok',
      eventLoop: {
        p99Ms: expect.any(Number),
        maxMs: expect.any(Number),
        samples: expect.any(Number),
        thresholdMs: 1000,
      },
    });
  });

  it('answers readiness with each dependency named and timed', async () => {
    const res = await fetch(`${api.base}/health/ready`);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toEqual({
      status: 'ok',
      checks: {
        database: { ok: true, latencyMs: expect.any(Number) },
        redis: { ok: true, latencyMs: expect.any(Number) },
        nats: { ok: true, latencyMs: expect.any(Number) },
      },
    });
  });

  it('turns readiness to 503 naming the database when it is unreachable', async () => {
    const broken = await startTestApi({ env: { HEALTH_TIMEOUT_MS: '300' } });
    try {
      await broken.deps.orm.close(true);
      const res = await fetch(`${broken.base}/health/ready`);
      expect(res.status).toBe(503);
      const body = await res.json();
      expect(body.status).toBe('unavailable');
      expect(body.checks.database.ok).toBe(false);
      expect(body.checks.database.error).toEqual(expect.any(String));
      expect(JSON.stringify(body)).not.toContain('postgres://');
    } finally {
      await broken.app.close();
      await broken.db.drop();
    }
  });

  it('turns readiness to 503 "draining" once shutdown begins', async () => {
    const pod = await startTestApi();
    const closing = pod.app.close();
    expect(pod.app.draining).toBe(true);
    await closing;
    await pod.deps.close();
    await pod.db.drop();
  });
});

describe('metrics', () => {
  it('exports process metrics and per-operation counts and durations', async () => {
    const token = await api.token('metrics-user');
    await execute(api.url, MeDocument, {}, { token });
    await execute(api.url, MeDocument, {}, { token });
    const res = await fetch(`${api.base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
    expect(text).toMatch(/graphql_operations_total\{operation="Me",type="query",outcome="ok"\} 2/);
    expect(text).toMatch(/graphql_operation_duration_seconds_count\{operation="Me",type="query"\} 2/);
  });

  it('keeps operation-name labels bounded', () => {
    const label = api.deps.metrics.operationLabel('not a valid name; drop table');
    expect(label).toBe('other');
    expect(api.deps.metrics.operationLabel(undefined)).toBe('anonymous');
  });
});

describe('routing', () => {
  it('answers unknown paths with 404', async () => {
    expect((await fetch(`${api.base}/nope`)).status).toBe(404);
  });

  it('serves GraphiQL to a browser on /graphql', async () => {
    const res = await fetch(api.url, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('<title>Clinical Copilot</title>');
  });
});
