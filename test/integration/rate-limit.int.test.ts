import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreatePatientDocument,
  MeDocument,
  PatientDiagnosesDocument,
  RequestDiagnosisDocument,
} from '../../client/index.js';
import { signToken } from '../../src/auth/jwt.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/lib/logger.js';
import { Metrics } from '../../src/lib/metrics.js';
import { LEASE_SHARE, RateLimiter } from '../../src/lib/rate-limit.js';
import { connectRedis } from '../../src/lib/redis.js';
import { testEnv } from '../helpers/env.js';
import { execute, type GraphQLResponse } from '../helpers/graphql.js';
import { operationsExecuted, rateLimitRejections, runWs } from '../helpers/limits.js';
import { deleteRedisKeys, listRedisKeys, uniqueRedisPrefix, waitForSubscriber } from '../helpers/redis.js';
import { startTestApi, type TestApi } from '../helpers/server.js';
import { connectWs } from '../helpers/ws.js';

const patientInput = () => ({
  mrn: `RL-${randomUUID().slice(0, 8)}`,
  givenName: 'Rate',
  familyName: 'Limited',
  birthDate: '1970-01-01',
  sex: 'OTHER' as const,
});

function expectRateLimited(res: GraphQLResponse<unknown>, limit: number): void {
  expect(res.status).toBe(429);
  expect(res.codes).toEqual(['RATE_LIMITED']);
  expect(res.data ?? null).toBeNull();
  const retryAfterMs = res.errors?.[0]?.extensions?.retryAfterMs as number;
  expect(retryAfterMs).toBeGreaterThan(0);
  expect(retryAfterMs).toBeLessThanOrEqual(60_000);
  expect(Number(res.headers.get('retry-after'))).toBe(Math.ceil(retryAfterMs / 1000));
  expect(res.headers.get('ratelimit-limit')).toBe(String(limit));
  expect(res.headers.get('ratelimit-remaining')).toBe('0');
  expect(Number(res.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
}

describe('per-clinician rate limits over HTTP', () => {
  // Small budgets so the tests cross them quickly; the costs are the contract's defaults.
  const env = { RATE_LIMIT_POINTS: '50', RATE_LIMIT_IP_POINTS: '5' };
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ env });
  });
  afterAll(() => api?.close());

  it('refuses a clinician over the budget with RATE_LIMITED, 429 and headers, before execution', async () => {
    const token = await api.token('dr-flood');
    for (let i = 0; i < 50; i++) {
      const res = await execute(api.url, MeDocument, {}, { token });
      expect(res.expectData().me.id).toBe('dr-flood');
      expect(res.headers.get('ratelimit-limit')).toBe('50');
      expect(res.headers.get('ratelimit-remaining')).toBe(String(49 - i));
    }
    const executedBefore = await operationsExecuted(api);
    const rejectionsBefore = await rateLimitRejections(api, 'clinician');
    expectRateLimited(await execute(api.url, MeDocument, {}, { token }), 50);
    expect(await operationsExecuted(api)).toBe(executedBefore);
    expect(await rateLimitRejections(api, 'clinician')).toBe(rejectionsBefore + 1);
    expect(await (await fetch(`${api.base}/metrics`)).text()).toMatch(
      /rate_limit_rejections_total\{scope="clinician"\} \d+/,
    );
  });

  it('never slows another clinician behind the same address', async () => {
    const flooder = await api.token('dr-noisy');
    for (let i = 0; i < 55; i++) await execute(api.url, MeDocument, {}, { token: flooder });
    expect((await execute(api.url, MeDocument, {}, { token: flooder })).status).toBe(429);
    const colleague = await api.token('dr-quiet');
    const res = await execute(api.url, MeDocument, {}, { token: colleague });
    expect(res.expectData().me.id).toBe('dr-quiet');
    expect(res.headers.get('ratelimit-remaining')).toBe('49');
  });

  it('weighs a mutation 10 and requestDiagnosis 20, and a refused request costs nothing', async () => {
    const token = await api.token('dr-weights');
    const created = await execute(api.url, CreatePatientDocument, { input: patientInput() }, { token });
    const patientId = created.expectData().createPatient.id;
    expect(created.headers.get('ratelimit-remaining')).toBe('40');
    const first = await execute(
      api.url,
      RequestDiagnosisDocument,
      { patientId, input: { symptoms: ['cough'] } },
      { token },
    );
    expect(first.expectData().requestDiagnosis.status).toBe('QUEUED');
    expect(first.headers.get('ratelimit-remaining')).toBe('20');
    expect((await execute(api.url, MeDocument, {}, { token })).headers.get('ratelimit-remaining')).toBe('19');
    // 19 left: a second diagnosis (20) is refused — and, refused, it takes nothing ...
    const refused = await execute(
      api.url,
      RequestDiagnosisDocument,
      { patientId, input: { symptoms: ['fever'] } },
      { token },
    );
    expect(refused.status).toBe(429);
    expect(refused.codes).toEqual(['RATE_LIMITED']);
    expect(refused.headers.get('ratelimit-remaining')).toBe('19');
    // ... so a mutation (10) still fits, and then 9 queries, and nothing more.
    const write = await execute(api.url, CreatePatientDocument, { input: patientInput() }, { token });
    expect(write.headers.get('ratelimit-remaining')).toBe('9');
    for (let i = 0; i < 9; i++) expect((await execute(api.url, MeDocument, {}, { token })).status).toBe(200);
    expectRateLimited(await execute(api.url, MeDocument, {}, { token }), 50);
    const diagnoses = await api.deps.orm.em
      .getConnection()
      .execute<{ n: number }[]>('select count(*)::int as n from diagnosis where patient_id = ?', [patientId]);
    expect(diagnoses[0]?.n).toBe(1);
  });

  it('charges each aliased write in one mutation', async () => {
    const token = await api.token('dr-aliases');
    const field = (i: number) => {
      const p = patientInput();
      return `p${i}: createPatient(input: { mrn: "${p.mrn}", givenName: "A", familyName: "B", birthDate: "1970-01-01", sex: OTHER }) { id }`;
    };
    const res = await fetch(api.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: `mutation { ${[0, 1, 2].map(field).join(' ')} }` }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit-remaining')).toBe('20');
  });

  it('counts unauthenticated requests and failed authentications against the address', async () => {
    const forged = await signToken('another-secret-of-at-least-thirty-two-chars', { sub: 'x', roles: ['admin'] });
    const codes: (string | undefined)[] = [];
    for (const token of [undefined, forged, undefined, forged, undefined]) {
      const res = await execute(api.url, MeDocument, {}, { token });
      expect(res.status).toBe(401);
      codes.push(...res.codes);
    }
    expect(codes).toEqual(Array(5).fill('UNAUTHENTICATED'));
    expectRateLimited(await execute(api.url, MeDocument, {}, {}), 5);
    expectRateLimited(await execute(api.url, MeDocument, {}, { token: forged }), 5);
    expect(await rateLimitRejections(api, 'ip')).toBeGreaterThanOrEqual(2);
    // Signed-in clinicians from that same address are not affected.
    const res = await execute(api.url, MeDocument, {}, { token: await api.token('dr-same-nat') });
    expect(res.expectData().me.id).toBe('dr-same-nat');
  });

  it('keeps the budgets in Redis under the deployment key prefix', async () => {
    const keys = await listRedisKeys(api.redisKeyPrefix);
    expect(keys).toEqual(expect.arrayContaining(['rl:clinician:dr-flood', 'rl:ip:127.0.0.1']));
  });
});

describe('rate limits shared by pods', () => {
  let a: TestApi;
  let b: TestApi;
  beforeAll(async () => {
    a = await startTestApi({ env: { RATE_LIMIT_POINTS: '30' } });
    b = await startTestApi({ db: a.db, redisKeyPrefix: a.redisKeyPrefix, env: { RATE_LIMIT_POINTS: '30' } });
  });
  afterAll(async () => {
    // b shares a's database and key prefix: a, closed last, drops them.
    await b?.close();
    await a?.close();
  });

  it('draws one clinician budget from every pod sharing the Redis prefix', async () => {
    const token = await a.token('dr-roaming');
    for (let i = 0; i < 15; i++) {
      expect((await execute(a.url, MeDocument, {}, { token })).status).toBe(200);
      expect((await execute(b.url, MeDocument, {}, { token })).status).toBe(200);
    }
    expectRateLimited(await execute(a.url, MeDocument, {}, { token }), 30);
    expectRateLimited(await execute(b.url, MeDocument, {}, { token }), 30);
  });
});

describe('client address', () => {
  it('trusts X-Forwarded-For only when TRUST_PROXY says a proxy sets it', async () => {
    const trusting = await startTestApi({ env: { RATE_LIMIT_IP_POINTS: '1', TRUST_PROXY: 'true' } });
    try {
      const from = (ip: string) => ({ headers: { 'x-forwarded-for': `${ip}, 10.0.0.1` } });
      expect((await execute(trusting.url, MeDocument, {}, from('198.51.100.7'))).status).toBe(401);
      expect((await execute(trusting.url, MeDocument, {}, from('198.51.100.7'))).status).toBe(429);
      // Another client behind the same proxy has a budget of its own.
      expect((await execute(trusting.url, MeDocument, {}, from('198.51.100.8'))).status).toBe(401);
      expect(await listRedisKeys(trusting.redisKeyPrefix)).toEqual(
        expect.arrayContaining(['rl:ip:198.51.100.7', 'rl:ip:198.51.100.8']),
      );
    } finally {
      await trusting.close();
    }
    const direct = await startTestApi({ env: { RATE_LIMIT_IP_POINTS: '1' } });
    try {
      const spoofed = (ip: string) => ({ headers: { 'x-forwarded-for': ip } });
      expect((await execute(direct.url, MeDocument, {}, spoofed('203.0.113.1'))).status).toBe(401);
      // A made-up header does not buy a fresh budget.
      expect((await execute(direct.url, MeDocument, {}, spoofed('203.0.113.2'))).status).toBe(429);
    } finally {
      await direct.close();
    }
  });
});

describe('rate limits over WebSocket', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({
      env: { RATE_LIMIT_POINTS: '12', RATE_LIMIT_IP_POINTS: '2', RATE_LIMIT_WS_CONNECT_POINTS: '6' },
    });
  });
  afterAll(() => api?.close());

  it('charges operations and subscriptions on a socket to the clinician, and answers RATE_LIMITED', async () => {
    const token = await api.token('dr-socket');
    const patientId = (await execute(api.url, CreatePatientDocument, { input: patientInput() }, { token })).expectData()
      .createPatient.id;
    const ws = connectWs(api.wsUrl, `Bearer ${token}`);
    try {
      await ws.connected;
      // 10 spent on the mutation; a query and a subscription take the last 2.
      expect(await ws.run(MeDocument)).toEqual([
        { data: { me: { id: 'dr-socket', name: 'dr-socket', roles: ['clinician'] } } },
      ]);
      const live = ws.stream(PatientDiagnosesDocument, { patientId });
      await waitForSubscriber(`${api.redisKeyPrefix}patient-diagnoses:${patientId}`);
      const refused = ws.stream(PatientDiagnosesDocument, { patientId });
      await refused.until((rs) => rs.length > 0);
      await refused.done;
      const error = refused.results[0]?.errors?.[0];
      expect(error?.extensions?.code).toBe('RATE_LIMITED');
      expect(error?.extensions?.retryAfterMs).toBeGreaterThan(0);
      expect(error?.extensions).not.toHaveProperty('http');
      const [query] = await runWs(ws, { query: '{ me { id } }' });
      expect(query?.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
      // The first subscription stays open and delivers: only new work is refused.
      expect(live.results).toEqual([]);
      live.stop();
    } finally {
      await ws.dispose();
    }
    // Another clinician on the same address is unaffected.
    const other = connectWs(api.wsUrl, `Bearer ${await api.token('dr-other-socket')}`);
    try {
      expect(await runWs(other, { query: '{ me { id } }' })).toEqual([{ data: { me: { id: 'dr-other-socket' } } }]);
    } finally {
      await other.dispose();
    }
  });

  it('closes failed authentications past the address budget with 1013', async () => {
    // The connection attempts so far: 2 sockets in the previous test.
    const forged = await signToken('another-secret-of-at-least-thirty-two-chars', { sub: 'm', roles: ['admin'] });
    expect((await connectWs(api.wsUrl, `Bearer ${forged}`).closed).code).toBe(4401);
    expect((await connectWs(api.wsUrl).closed).code).toBe(4401);
    const closed = await connectWs(api.wsUrl, `Bearer ${forged}`).closed;
    expect(closed.code).toBe(1013);
    expect(closed.reason).toMatch(/^Rate limit exceeded; retryAfterMs=\d+$/);
  });

  it('limits connection attempts per address, closing the extra ones with 1013', async () => {
    // 5 attempts so far; the 6th is the last the budget allows.
    const last = connectWs(api.wsUrl, `Bearer ${await api.token('dr-connect')}`);
    await last.connected;
    const rejectionsBefore = await rateLimitRejections(api, 'ws_connect');
    const refused = connectWs(api.wsUrl, `Bearer ${await api.token('dr-connect')}`);
    const { code, reason } = await refused.closed;
    expect(code).toBe(1013);
    const retryAfterMs = Number(/retryAfterMs=(\d+)/.exec(reason)?.[1]);
    expect(retryAfterMs).toBeGreaterThan(0);
    expect(retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(await rateLimitRejections(api, 'ws_connect')).toBe(rejectionsBefore + 1);
    await last.dispose();
  });
});

describe('budget windows', () => {
  it('refills when the window ends, and the refused requests did not push it back', async () => {
    const api = await startTestApi({ env: { RATE_LIMIT_POINTS: '2', RATE_LIMIT_WINDOW_MS: '2000' } });
    try {
      const token = await api.token('dr-window');
      await execute(api.url, MeDocument, {}, { token });
      await execute(api.url, MeDocument, {}, { token });
      const refused = await execute(api.url, MeDocument, {}, { token });
      expect(refused.status).toBe(429);
      const retryAfterMs = refused.errors?.[0]?.extensions?.retryAfterMs as number;
      expect(retryAfterMs).toBeLessThanOrEqual(2_000);
      // Hammering while refused changes nothing about when the budget returns.
      for (let i = 0; i < 20; i++) expect((await execute(api.url, MeDocument, {}, { token })).status).toBe(429);
      await new Promise((r) => setTimeout(r, retryAfterMs + 50));
      expect((await execute(api.url, MeDocument, {}, { token })).expectData().me.id).toBe('dr-window');
    } finally {
      await api.close();
    }
  });
});

describe('RateLimiter on Redis', () => {
  it('takes points atomically under concurrency, refuses exactly the excess, and charges refusals nothing', async () => {
    const prefix = uniqueRedisPrefix();
    const redis = await connectRedis({ url: testEnv.redisUrl, keyPrefix: prefix });
    try {
      const config = loadConfig({ RATE_LIMIT_POINTS: '100', NODE_ENV: 'test' }, 'embedded').rateLimit;
      const limiter = new RateLimiter({
        config,
        redis,
        metrics: new Metrics(),
        logger: createLogger({ level: 'silent' }),
      });
      const decisions = await Promise.all(Array.from({ length: 130 }, () => limiter.consume('clinician', 'c', 1)));
      expect(decisions.filter((d) => d.allowed)).toHaveLength(100);
      expect(decisions.filter((d) => !d.allowed)).toHaveLength(30);
      expect(await redis.get('rl:clinician:c')).toBe('100');
      const ttl = await redis.pttl('rl:clinician:c');
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
    } finally {
      redis.disconnect();
      await deleteRedisKeys(prefix);
    }
  });

  it('takes points in leases: one Redis grant serves many requests, and pods never exceed the shared budget', async () => {
    const prefix = uniqueRedisPrefix();
    const redis = await connectRedis({ url: testEnv.redisUrl, keyPrefix: prefix });
    const pod = () =>
      new RateLimiter({
        config: loadConfig({ RATE_LIMIT_POINTS: '1000', NODE_ENV: 'test' }, 'embedded').rateLimit,
        redis,
        metrics: new Metrics(),
        logger: createLogger({ level: 'silent' }),
      });
    try {
      const a = pod();
      const b = pod();
      const lease = 1000 / LEASE_SHARE;
      // One request takes a whole lease from Redis; the next ones in it do not touch Redis.
      expect(await a.consume('clinician', 'c', 1)).toMatchObject({ allowed: true, remaining: 999 });
      expect(await redis.get('rl:clinician:c')).toBe(String(lease));
      for (let i = 1; i < lease; i++) await a.consume('clinician', 'c', 1);
      expect(await redis.get('rl:clinician:c')).toBe(String(lease));
      // Both pods, concurrently, until the budget is spent: exactly the limit is granted in all.
      const decisions = await Promise.all(
        Array.from({ length: 1200 }, (_, i) => (i % 2 ? a : b).consume('clinician', 'c', 1)),
      );
      const allowed = decisions.filter((d) => d.allowed).length;
      // The first lease (all spent) plus what both pods were granted, less what b may still hold.
      expect(allowed + lease).toBeLessThanOrEqual(1000);
      expect(allowed + lease).toBeGreaterThanOrEqual(1000 - lease);
      expect(await redis.get('rl:clinician:c')).toBe('1000');
      // A refusal is remembered for the rest of the window: a flood costs Redis nothing more.
      const refused = await a.consume('clinician', 'c', 1);
      expect(refused.allowed).toBe(false);
      expect(refused.retryAfterMs).toBeGreaterThan(0);
      a.close();
      b.close();
    } finally {
      redis.disconnect();
      await deleteRedisKeys(prefix);
    }
  });

  it('falls back to a per-process budget when Redis is unreachable, instead of refusing everyone', async () => {
    const prefix = uniqueRedisPrefix();
    const redis = await connectRedis({ url: testEnv.redisUrl, keyPrefix: prefix });
    const config = loadConfig({ RATE_LIMIT_POINTS: '3', NODE_ENV: 'test' }, 'embedded').rateLimit;
    const limiter = new RateLimiter({
      config,
      redis,
      metrics: new Metrics(),
      logger: createLogger({ level: 'silent' }),
    });
    redis.disconnect();
    const decisions = [];
    for (let i = 0; i < 4; i++) decisions.push(await limiter.consume('clinician', 'c', 1));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false]);
  });
});
