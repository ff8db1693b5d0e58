import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeDocument } from '../../client/index.js';
import { signToken } from '../../src/auth/jwt.js';
import { execute, executeRaw } from '../helpers/graphql.js';
import { startTestApi, type TestApi } from '../helpers/server.js';
import { connectWs } from '../helpers/ws.js';

const secret = (s: string) => new TextEncoder().encode(s);

describe('authentication', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(() => api?.close());

  it('answers me with the token subject, name and roles, and creates the clinician row', async () => {
    const token = await api.token('dr-who', { name: 'Dr Who', roles: ['clinician', 'admin'] });
    const res = await execute(api.url, MeDocument, {}, { token });
    expect(res.expectData().me).toEqual({ id: 'dr-who', name: 'Dr Who', roles: ['clinician', 'admin'] });
    const rows = await api.deps.orm.em
      .getConnection()
      .execute('select id, name, roles from clinician where id = ?', ['dr-who']);
    expect(rows).toEqual([{ id: 'dr-who', name: 'Dr Who', roles: ['clinician', 'admin'] }]);
  });

  it('rejects a request without a token with UNAUTHENTICATED and 401', async () => {
    const res = await execute(api.url, MeDocument, {});
    expect(res.status).toBe(401);
    expect(res.codes).toEqual(['UNAUTHENTICATED']);
    expect(res.data ?? null).toBeNull();
  });

  it('rejects a malformed Authorization header', async () => {
    const res = await execute(api.url, MeDocument, {}, { headers: { authorization: 'Basic abc' } });
    expect(res.codes).toEqual(['UNAUTHENTICATED']);
  });

  it('rejects a token signed with another secret', async () => {
    const forged = await signToken('another-secret-of-at-least-thirty-two-chars', { sub: 'mallory', roles: ['admin'] });
    const res = await execute(api.url, MeDocument, {}, { token: forged });
    expect(res.codes).toEqual(['UNAUTHENTICATED']);
  });

  it('rejects an expired token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ roles: ['clinician'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('dr-late')
      .setIssuedAt(now - 3600)
      .setExpirationTime(now - 60)
      .sign(secret(api.config.auth?.kind === 'secret' ? api.config.auth.secret : ''));
    const res = await execute(api.url, MeDocument, {}, { token: expired });
    expect(res.codes).toEqual(['UNAUTHENTICATED']);
    expect(res.errors?.[0]?.message).toBe('Token expired');
  });

  it('rejects a token without exp, and the "none" algorithm', async () => {
    const key = secret(api.config.auth?.kind === 'secret' ? api.config.auth.secret : '');
    const noExp = await new SignJWT({ roles: ['clinician'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('x')
      .sign(key);
    expect((await execute(api.url, MeDocument, {}, { token: noExp })).codes).toEqual(['UNAUTHENTICATED']);
    const header = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    const body = Buffer.from(JSON.stringify({ sub: 'x', roles: ['admin'], exp: 9e9 })).toString('base64url');
    expect((await execute(api.url, MeDocument, {}, { token: `${header}.${body}.` })).codes).toEqual([
      'UNAUTHENTICATED',
    ]);
  });

  it('refuses a valid token that grants no role with FORBIDDEN', async () => {
    const token = await signToken(api.config.auth?.kind === 'secret' ? api.config.auth.secret : '', {
      sub: 'visitor',
      roles: [],
    });
    const res = await execute(api.url, MeDocument, {}, { token });
    expect(res.codes).toEqual(['FORBIDDEN']);
  });

  it('answers malformed JSON with 400 and no data', async () => {
    const token = await api.token('dr-a');
    const res = await executeRaw(api.url, '{"query": "{ me { id }', { token });
    expect(res.status).toBe(400);
  });

  it('runs queries over graphql-ws with the token in connectionParams', async () => {
    const ws = connectWs(api.wsUrl, `Bearer ${await api.token('dr-ws', { name: 'Dr Socket' })}`);
    try {
      const results = await ws.run(MeDocument);
      expect(results).toEqual([{ data: { me: { id: 'dr-ws', name: 'Dr Socket', roles: ['clinician'] } } }]);
    } finally {
      await ws.dispose();
    }
  });

  it('closes a WebSocket without a token with 4401 before any operation runs', async () => {
    const ws = connectWs(api.wsUrl);
    expect((await ws.closed).code).toBe(4401);
  });

  it('closes a WebSocket with a forged token with 4401', async () => {
    const forged = await signToken('another-secret-of-at-least-thirty-two-chars', { sub: 'mallory', roles: ['admin'] });
    const ws = connectWs(api.wsUrl, `Bearer ${forged}`);
    expect((await ws.closed).code).toBe(4401);
  });

  it('closes a WebSocket with a role-less token with 4403', async () => {
    const token = await api.token('visitor', { roles: [] });
    const ws = connectWs(api.wsUrl, `Bearer ${token}`);
    expect((await ws.closed).code).toBe(4403);
  });

  it('closes a WebSocket with 4401 when its token expires', async () => {
    const token = await api.token('dr-brief', { ttl: 2 });
    const ws = connectWs(api.wsUrl, `Bearer ${token}`);
    await ws.connected;
    const started = Date.now();
    const { code, reason } = await ws.closed;
    expect(code).toBe(4401);
    expect(reason).toBe('Token expired');
    // It stayed open until (about) the expiry, not closed at once.
    expect(Date.now() - started).toBeGreaterThan(500);
  });
});
