import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildService, startAppointmentsProcess } from '../../gateway/processes.js';
import { signToken } from '../../src/auth/jwt.js';
import { createTestDatabase, queryDatabase, type TestDatabase } from '../helpers/database.js';
import { TEST_GATEWAY_HMAC_SECRET, TEST_JWT_SECRET } from '../helpers/env.js';
import { executeRaw } from '../helpers/graphql.js';

/**
 * The appointments subgraph accepts the tokens the API accepts, configured by the same JWT_*
 * variables: HS256 with JWT_SECRET, or RS256/ES256 from the key set at JWT_JWKS_URL with issuer
 * and audience checked (the key set winning over a secret, as in the API). The subgraph runs as its
 * own process, as in production: it has its own copy of graphql-js (gateway/node_modules).
 *
 * With GATEWAY_HMAC_SECRET it also requires the gateway's HMAC signature on every request, so a
 * valid token alone no longer reaches `_entities`.
 */

const ISSUER = 'https://idp.example/';
const AUDIENCE = 'clinical-copilot';

interface Appointments {
  _entities: { appointments: { kind: string; clinician: { id: string } }[] }[];
}

let db: TestDatabase;
let jwks: Server;
let jwksUrl: string;
let oidc: ChildService;
let secretOnly: ChildService;
let gatewayOnly: ChildService;
const keys: Record<'rsa' | 'ec' | 'unlisted', CryptoKey> = {} as Record<'rsa' | 'ec' | 'unlisted', CryptoKey>;
const patientId = crypto.randomUUID();

interface Operation {
  query: string;
  variables: Record<string, unknown>;
}

/** The read of one patient's appointments: it needs a verified token and reaches the database. */
const appointmentsOf = (id: string): Operation => ({
  query: `query Q($r: [_Any!]!) { _entities(representations: $r) { ... on Patient { appointments { kind clinician { id } } } } }`,
  variables: { r: [{ __typename: 'Patient', id }] },
});

function readAppointments(
  service: ChildService,
  token: string | undefined,
  { operation = appointmentsOf(patientId), extensions }: { operation?: Operation; extensions?: unknown } = {},
) {
  return executeRaw<Appointments>(service.url, { ...operation, ...(extensions ? { extensions } : {}) }, { token });
}

/**
 * The extension the gateway adds with `hmacSignature` (@graphql-mesh/hmac-upstream-signature,
 * which exports no signing function): base64 HMAC-SHA256 of `{ query, variables }` serialized
 * with sorted keys (json-stable-stringify), variables left out when empty.
 */
function gatewaySignature(secret: string, { query, variables }: Operation): { 'hmac-signature': string } {
  const signed = stableJson({ query, variables: Object.keys(variables).length > 0 ? variables : undefined });
  return { 'hmac-signature': createHmac('sha256', secret).update(signed).digest('base64') };
}

/** JSON with every object's keys sorted and undefined members left out, as json-stable-stringify. */
function stableJson(value: unknown): string {
  if (Array.isArray(value))
    return `[${value.map((item) => (item === undefined ? 'null' : stableJson(item))).join(',')}]`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const entries = Object.entries(value as Record<string, unknown>).filter(([, item]) => item !== undefined);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${stableJson(item)}`).join(',')}}`;
}

interface Claims {
  alg: 'RS256' | 'ES256';
  kid: string;
  key: CryptoKey;
  iss?: string;
  aud?: string;
  exp?: string | number | null;
}

function oidcToken({ alg, kid, key, iss = ISSUER, aud = AUDIENCE, exp = '5m' }: Claims): Promise<string> {
  let jwt = new SignJWT({ roles: ['clinician'] })
    .setProtectedHeader({ alg, kid })
    .setSubject('oidc-alice')
    .setIssuer(iss)
    .setAudience(aud)
    .setIssuedAt();
  if (exp !== null) jwt = jwt.setExpirationTime(exp);
  return jwt.sign(key);
}

const expectUnauthenticated = (response: Awaited<ReturnType<typeof readAppointments>>, message?: RegExp) => {
  expect(response.status).toBe(401);
  expect(response.codes).toEqual(['UNAUTHENTICATED']);
  if (message) expect(response.errors?.[0]?.message).toMatch(message);
  expect(response.data ?? null).toBeNull();
};

beforeAll(async () => {
  db = await createTestDatabase('cc_appts_auth');
  const [rsa, ec, unlisted] = await Promise.all([
    generateKeyPair('RS256'),
    generateKeyPair('ES256'),
    generateKeyPair('RS256'),
  ]);
  Object.assign(keys, { rsa: rsa.privateKey, ec: ec.privateKey, unlisted: unlisted.privateKey });
  const body = JSON.stringify({
    keys: [
      { ...(await exportJWK(rsa.publicKey)), kid: 'rsa', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(ec.publicKey)), kid: 'ec', alg: 'ES256', use: 'sig' },
    ],
  });
  jwks = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;

  // One after the other: both create the table at start.
  oidc = await startAppointmentsProcess({
    databaseUrl: db.url,
    jwtSecret: TEST_JWT_SECRET,
    env: { JWT_JWKS_URL: jwksUrl, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE },
  });
  secretOnly = await startAppointmentsProcess({ databaseUrl: db.url, jwtSecret: TEST_JWT_SECRET });
  gatewayOnly = await startAppointmentsProcess({
    databaseUrl: db.url,
    jwtSecret: TEST_JWT_SECRET,
    env: { GATEWAY_HMAC_SECRET: TEST_GATEWAY_HMAC_SECRET },
  });
  await queryDatabase(
    db.url,
    `insert into appointment (patient_id, clinician_id, starts_at, kind) values ($1, 'oidc-alice', now() + interval '1 day', 'REVIEW')`,
    [patientId],
  );
}, 60_000);

afterAll(async () => {
  await oidc?.close();
  await secretOnly?.close();
  await gatewayOnly?.close();
  await new Promise<void>((resolve) => (jwks ? jwks.close(() => resolve()) : resolve()));
  await db?.drop();
});

const ONE_REVIEW = [{ appointments: [{ kind: 'REVIEW', clinician: { id: 'oidc-alice' } }] }];

describe('with JWT_JWKS_URL, JWT_ISSUER and JWT_AUDIENCE (the production overlay)', () => {
  it('accepts RS256 and ES256 tokens of the key set with the right issuer and audience', async () => {
    for (const claims of [
      { alg: 'RS256', kid: 'rsa', key: keys.rsa },
      { alg: 'ES256', kid: 'ec', key: keys.ec },
    ] as const) {
      const response = await readAppointments(oidc, await oidcToken(claims));
      expect(response.expectData()._entities, claims.alg).toEqual(ONE_REVIEW);
    }
  });

  it('refuses a wrong audience or issuer, a missing exp, an expired token and a key not in the set', async () => {
    const rsa = { alg: 'RS256', kid: 'rsa', key: keys.rsa } as const;
    expectUnauthenticated(await readAppointments(oidc, await oidcToken({ ...rsa, aud: 'another-app' })), /aud/);
    expectUnauthenticated(
      await readAppointments(oidc, await oidcToken({ ...rsa, iss: 'https://evil.example/' })),
      /iss/,
    );
    expectUnauthenticated(await readAppointments(oidc, await oidcToken({ ...rsa, exp: null })), /exp/);
    const expired = Math.floor(Date.now() / 1000) - 60;
    expectUnauthenticated(await readAppointments(oidc, await oidcToken({ ...rsa, exp: expired })), /expired/);
    expectUnauthenticated(await readAppointments(oidc, await oidcToken({ ...rsa, key: keys.unlisted })));
    expectUnauthenticated(await readAppointments(oidc, undefined));
  });

  it('refuses HS256 tokens even with JWT_SECRET set: the key set wins, as in the API', async () => {
    const hs = await signToken(TEST_JWT_SECRET, {
      sub: 'oidc-alice',
      roles: ['clinician'],
      issuer: ISSUER,
      audience: AUDIENCE,
    });
    expectUnauthenticated(await readAppointments(oidc, hs));
  });
});

describe('with JWT_SECRET alone', () => {
  it("accepts the API's HS256 tokens and nothing signed otherwise", async () => {
    const hs = await signToken(TEST_JWT_SECRET, { sub: 'oidc-alice', roles: ['clinician'] });
    expect((await readAppointments(secretOnly, hs)).expectData()._entities).toEqual(ONE_REVIEW);
    expectUnauthenticated(
      await readAppointments(
        secretOnly,
        await signToken(`${TEST_JWT_SECRET}-other`, { sub: 'x', roles: ['clinician'] }),
      ),
    );
    expectUnauthenticated(
      await readAppointments(secretOnly, await oidcToken({ alg: 'RS256', kid: 'rsa', key: keys.rsa })),
    );
  });
});

describe('with GATEWAY_HMAC_SECRET: only what the gateway signed', () => {
  const expectForbidden = (response: Awaited<ReturnType<typeof readAppointments>>) => {
    expect(response.status).toBe(403);
    expect(response.codes).toEqual(['FORBIDDEN']);
    expect(response.errors?.[0]?.message).toMatch(/gateway signature/);
    expect(response.data ?? null).toBeNull();
  };

  it('serves a request signed as the gateway signs it', async () => {
    const token = await signToken(TEST_JWT_SECRET, { sub: 'oidc-alice', roles: ['clinician'] });
    const operation = appointmentsOf(patientId);
    const response = await readAppointments(gatewayOnly, token, {
      operation,
      extensions: gatewaySignature(TEST_GATEWAY_HMAC_SECRET, operation),
    });
    expect(response.expectData()._entities).toEqual(ONE_REVIEW);
  });

  it('refuses a valid token without a signature, or with a wrong, reused or malformed one', async () => {
    const token = await signToken(TEST_JWT_SECRET, { sub: 'oidc-alice', roles: ['clinician'] });
    const operation = appointmentsOf(patientId);
    expectForbidden(await readAppointments(gatewayOnly, token));
    expectForbidden(await readAppointments(gatewayOnly, token, { operation, extensions: {} }));
    expectForbidden(
      await readAppointments(gatewayOnly, token, {
        operation,
        extensions: gatewaySignature(`${TEST_GATEWAY_HMAC_SECRET}-other`, operation),
      }),
    );
    // A signature covers its variables: one seen for another patient opens nothing here.
    expectForbidden(
      await readAppointments(gatewayOnly, token, {
        operation,
        extensions: gatewaySignature(TEST_GATEWAY_HMAC_SECRET, appointmentsOf(crypto.randomUUID())),
      }),
    );
    for (const malformed of ['not base64!', 42, { nested: true }]) {
      expectForbidden(
        await readAppointments(gatewayOnly, token, { operation, extensions: { 'hmac-signature': malformed } }),
      );
    }
  });

  it('still requires a valid token on a signed request', async () => {
    const operation = appointmentsOf(patientId);
    expectUnauthenticated(
      await readAppointments(gatewayOnly, undefined, {
        operation,
        extensions: gatewaySignature(TEST_GATEWAY_HMAC_SECRET, operation),
      }),
    );
  });

  it('refuses to start in production without the secret, or with a short one', async () => {
    for (const [env, problem] of [
      [{ NODE_ENV: 'production' }, /GATEWAY_HMAC_SECRET is required in production/],
      [{ GATEWAY_HMAC_SECRET: 'too-short' }, /GATEWAY_HMAC_SECRET must be at least 32 characters/],
    ] as const) {
      await expect(
        startAppointmentsProcess({ databaseUrl: db.url, jwtSecret: TEST_JWT_SECRET, env, startTimeoutMs: 15_000 }),
      ).rejects.toThrow(problem);
    }
  });
});
