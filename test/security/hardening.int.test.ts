import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_GATEWAY_HMAC_SECRET, TEST_JWT_SECRET } from '../helpers/env.js';
import { executeRaw } from '../helpers/graphql.js';
import { startTestApi, type TestApi } from '../helpers/server.js';
import { connectWs } from '../helpers/ws.js';

/**
 * The review's smaller findings: CORS reflected any Origin (production too), `/metrics` labels
 * came from client-chosen operation names, tokens had no maximum lifetime, and `_entities` with
 * an unknown `__typename` answered INTERNAL.
 */
let production: TestApi; // NODE_ENV=production, CORS_ORIGINS unset
let listed: TestApi; // CORS_ORIGINS set, JWT_MAX_TTL=1h
const CONSOLE = 'https://console.hospital.example';
const EVIL = 'https://evil.example';

beforeAll(async () => {
  [production, listed] = await Promise.all([
    // Production requires the gateway's secret while /subgraph is served.
    startTestApi({ env: { NODE_ENV: 'production', GATEWAY_HMAC_SECRET: TEST_GATEWAY_HMAC_SECRET } }),
    startTestApi({ env: { CORS_ORIGINS: `${CONSOLE}, https://other.hospital.example`, JWT_MAX_TTL: '1h' } }),
  ]);
});
afterAll(async () => {
  await Promise.all([production?.close(), listed?.close()]);
});

const me = (api: TestApi, token: string | undefined, headers: Record<string, string> = {}) =>
  executeRaw<{ me: { id: string } }>(api.url, { query: '{ me { id } }' }, { token, headers });

const preflight = (api: TestApi, origin: string) =>
  fetch(api.url, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
  });

/** A token signed with the test secret, with whatever `iat`/`exp` the attacker likes. */
async function forged(claims: { iat?: number; exp: number }): Promise<string> {
  const jwt = new SignJWT({ name: 'x', roles: ['clinician'] })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject('dr-forever')
    .setExpirationTime(claims.exp);
  if (claims.iat !== undefined) jwt.setIssuedAt(claims.iat);
  return jwt.sign(new TextEncoder().encode(TEST_JWT_SECRET));
}
const now = () => Math.floor(Date.now() / 1000);
const HOUR = 3_600;

describe('CORS is an allow-list', () => {
  it('in production, by default, gives no origin the CORS headers, credentials or not', async () => {
    const token = await production.token('dr-cors');
    const res = await me(production, token, { origin: EVIL });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect((await preflight(production, EVIL)).headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers listed origins only', async () => {
    const token = await listed.token('dr-cors', { ttl: '30m' });
    const allowed = await preflight(listed, CONSOLE);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(CONSOLE);
    expect(allowed.headers.get('access-control-allow-headers')).toContain('authorization');
    expect((await me(listed, token, { origin: CONSOLE })).headers.get('access-control-allow-origin')).toBe(CONSOLE);
    for (const origin of [EVIL, `${CONSOLE}.evil.example`, 'null']) {
      expect((await preflight(listed, origin)).headers.get('access-control-allow-origin'), origin).toBeNull();
      expect((await me(listed, token, { origin })).headers.get('access-control-allow-origin'), origin).toBeNull();
    }
  });
});

describe('tokens have a maximum lifetime (JWT_MAX_TTL)', () => {
  it('refuses a 100-year token, over HTTP and WebSocket, in the default 24 h', async () => {
    const token = await forged({ iat: now(), exp: now() + 100 * 365 * 24 * HOUR });
    const res = await me(production, token);
    expect(res.codes).toEqual(['UNAUTHENTICATED']);
    expect(res.status).toBe(401);
    const ws = connectWs(production.wsUrl, `Bearer ${token}`);
    expect((await ws.closed).code).toBe(4401);
    expect((await me(production, await forged({ iat: now(), exp: now() + 23 * HOUR }))).codes).toEqual([]);
    expect((await me(production, await forged({ iat: now(), exp: now() + 25 * HOUR }))).codes).toEqual([
      'UNAUTHENTICATED',
    ]);
  });

  it('judges exp − iat, and exp − now, so neither a missing nor a future iat helps', async () => {
    expect((await me(listed, await forged({ iat: now(), exp: now() + HOUR - 60 }))).codes).toEqual([]);
    expect((await me(listed, await forged({ iat: now(), exp: now() + 2 * HOUR }))).codes).toEqual(['UNAUTHENTICATED']);
    expect((await me(listed, await forged({ exp: now() + 2 * HOUR }))).codes).toEqual(['UNAUTHENTICATED']);
    // An iat set just before a far exp: short on paper, long in fact.
    const far = now() + 50 * 24 * HOUR;
    expect((await me(listed, await forged({ iat: far - 60, exp: far }))).codes).toEqual(['UNAUTHENTICATED']);
    // An old iat with a lifetime past the limit is refused even when little of it remains.
    expect((await me(listed, await forged({ iat: now() - 10 * HOUR, exp: now() + 60 }))).codes).toEqual([
      'UNAUTHENTICATED',
    ]);
  });
});

describe('/metrics operation labels', () => {
  it('labels only the schema’s and the persisted list’s operation names; a name carrying an MRN is `other`', async () => {
    const token = await listed.token('dr-labels', { ttl: '30m' });
    for (const name of ['MRN4711Smith', 'Patients', 'me'])
      await executeRaw(listed.url, { query: `query ${name} { me { id } }` }, { token });
    const metrics = await (await fetch(`${listed.base}/metrics`)).text();
    expect(metrics).not.toContain('MRN4711Smith');
    expect(metrics).toMatch(/graphql_operations_total\{operation="other",type="query",outcome="ok"\} 1/);
    expect(metrics).toMatch(/graphql_operations_total\{operation="Patients",type="query",outcome="ok"\} 1/);
    expect(metrics).toMatch(/graphql_operations_total\{operation="me",type="query",outcome="ok"\} 1/);
  });
});

describe('_entities', () => {
  it('answers an unknown __typename with BAD_USER_INPUT, not INTERNAL', async () => {
    const token = await listed.token('dr-entities', { ttl: '30m' });
    for (const representations of [
      [{ __typename: 'Nope', id: 'x' }],
      [
        { __typename: 'Clinician', id: 'dr-entities' },
        { __typename: 'Query', id: 'x' },
      ],
      [{ id: 'no-typename' }],
    ]) {
      const res = await executeRaw(
        `${listed.base}/subgraph`,
        {
          query: 'query E($r: [_Any!]!) { _entities(representations: $r) { ... on Clinician { id } } }',
          variables: { r: representations },
        },
        { token },
      );
      expect(res.codes, JSON.stringify(representations)).toEqual(['BAD_USER_INPUT']);
    }
  });
});
