import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../src/graphql/limits.js';
import { executeRaw, type GraphQLResponse } from '../helpers/graphql.js';
import {
  createPatientField,
  operationsExecuted,
  patientsWithMrn,
  postChunked,
  runWs,
  type WsOutcome,
} from '../helpers/limits.js';
import { startTestApi, type TestApi } from '../helpers/server.js';
import { connectWs } from '../helpers/ws.js';

const newMrn = () => `LIM-${randomUUID().slice(0, 8)}`;
/**
 * `levels` × `diagnoses { edges { node { patient {` — four levels of depth each; short pages, so
 * that only the depth, not the cost bound, decides.
 */
const diagnosesOfPatient = (levels: number, inner: string) =>
  `${'diagnoses(first: 2) { edges { node { patient { '.repeat(levels)}${inner}${' } } } }'.repeat(levels)}`;
const aliases = (n: number, field: (i: number) => string) => Array.from({ length: n }, (_, i) => field(i)).join(' ');

describe('query shape limits (defaults)', () => {
  let api: TestApi;
  let token: string;
  beforeAll(async () => {
    api = await startTestApi();
    token = await api.token('dr-shape');
  });
  afterAll(() => api?.close());

  /**
   * Sends a `createPatient` mutation built around a fresh MRN and expects it refused before
   * execution: BAD_USER_INPUT, no data, no patient row, no operation executed.
   */
  async function expectRefusedBeforeExecution(
    build: (mrn: string) => string,
    message: RegExp,
  ): Promise<GraphQLResponse<Record<string, unknown>>> {
    const mrn = newMrn();
    const executedBefore = await operationsExecuted(api);
    const res = await executeRaw(api.url, { query: build(mrn) }, { token });
    expect(res.codes.length).toBeGreaterThan(0);
    expect(new Set(res.codes)).toEqual(new Set(['BAD_USER_INPUT']));
    expect(res.errors?.map((e) => e.message).join('\n')).toMatch(message);
    expect(res.data ?? null).toBeNull();
    expect(await patientsWithMrn(api, mrn)).toBe(0);
    expect(await operationsExecuted(api)).toBe(executedBefore);
    return res;
  }

  it('accepts a query 12 levels deep and refuses 13 before execution', async () => {
    const twelve = `{ patients(first: 2) { edges { node { ${diagnosesOfPatient(2, 'id')} } } } }`;
    expect((await executeRaw(api.url, { query: twelve }, { token })).errors).toBeUndefined();
    // createPatient 1 + 2 × 4 + diagnoses, edges, node 3 + id = 13
    await expectRefusedBeforeExecution(
      (mrn) =>
        `mutation { ${createPatientField(mrn, `{ ${diagnosesOfPatient(2, 'diagnoses { edges { node { id } } }')} }`)} }`,
      /depth limit of 12 exceeded, found 13/,
    );
  });

  it('accepts 30 aliases and refuses 31 before execution', async () => {
    const thirty = `{ ${aliases(30, (i) => `a${i}: me { id }`)} }`;
    expect((await executeRaw(api.url, { query: thirty }, { token })).errors).toBeUndefined();
    const res = await expectRefusedBeforeExecution(
      (mrn) =>
        `mutation { ${aliases(31, (i) => createPatientField(i === 0 ? mrn : `${mrn}-${i}`, '{ id }', `p${i}`))} }`,
      /Aliases limit of 30 exceeded, found 31/,
    );
    expect(res.status).toBe(400);
  });

  it('refuses more than 2,000 tokens while parsing', async () => {
    const res = await expectRefusedBeforeExecution(
      (mrn) => `mutation { ${createPatientField(mrn, `{ id ${'__typename '.repeat(2_000)} }`)} }`,
      /Token limit of 2000 exceeded/,
    );
    expect(res.status).toBe(400);
  });

  it('refuses an operation over the cost limit', async () => {
    // Literal `first` arguments multiply the objects of what they page through: ≈ 100 × 100.
    await expectRefusedBeforeExecution(
      (mrn) =>
        `mutation { ${createPatientField(mrn, '{ diagnoses(first: 100) { edges { node { patient { diagnoses(first: 100) { edges { node { id } } } } } } } }')} }`,
      /Cost limit of 10000 objects exceeded/,
    );
  });

  it('refuses more than 50 directives', async () => {
    await expectRefusedBeforeExecution(
      (mrn) => `mutation { ${createPatientField(mrn, `{ id ${'__typename @skip(if: false) '.repeat(51)} }`)} }`,
      /Directives limit of 50 exceeded/,
    );
  });

  it('answers a body over 1 MB with 413, whether Content-Length says so or the chunks do', async () => {
    const mrn = newMrn();
    const body = JSON.stringify({
      query: `mutation($pad: String) { ${createPatientField(mrn)} }`,
      variables: { pad: 'x'.repeat(1024 * 1024) },
    });
    const declared = await executeRaw(api.url, body, { token });
    expect(declared.status).toBe(413);
    expect(declared.codes).toEqual(['BAD_USER_INPUT']);
    const chunks = Array.from({ length: Math.ceil(body.length / 65_536) }, (_, i) =>
      body.slice(i * 65_536, (i + 1) * 65_536),
    );
    const streamed = await postChunked(api.url, chunks, { authorization: `Bearer ${token}` });
    expect(streamed.status).toBe(413);
    expect(await patientsWithMrn(api, mrn)).toBe(0);
  });

  it('accepts a body just under 1 MB, sent whole or in chunks', async () => {
    // Variables the operation does not declare are ignored: padding that travels but does nothing.
    const body = JSON.stringify({ query: '{ me { id } }', variables: { pad: 'x'.repeat(1_000_000) } });
    expect((await executeRaw(api.url, body, { token })).expectData()).toEqual({ me: { id: 'dr-shape' } });
    const chunks = [body.slice(0, 500_000), body.slice(500_000)];
    const streamed = await postChunked(api.url, chunks, { authorization: `Bearer ${token}` });
    expect(streamed.status).toBe(200);
    expect(JSON.parse(streamed.text)).toEqual({ data: { me: { id: 'dr-shape' } } });
  });

  it('still answers malformed JSON with 400, a contract code and no echo of the body', async () => {
    const res = await executeRaw(api.url, '{"query": "{ me { id } }", "variables": {"name": "Jane Doe"', { token });
    expect(res.status).toBe(400);
    expect(res.codes).toEqual(['BAD_USER_INPUT']);
    expect(JSON.stringify(res.errors)).not.toContain('Jane Doe');
  });

  it('serves introspection by default outside production', async () => {
    const res = await executeRaw(api.url, { query: '{ __schema { queryType { name } } }' }, { token });
    expect(res.expectData()).toEqual({ __schema: { queryType: { name: 'Query' } } });
  });

  it('applies the same limits to operations over graphql-ws, before execution', async () => {
    const ws = connectWs(api.wsUrl, `Bearer ${token}`);
    try {
      await ws.connected;
      const executedBefore = await operationsExecuted(api);
      const deep = newMrn();
      const many = newMrn();
      const long = newMrn();
      const outcomes: WsOutcome[][] = [
        await runWs(ws, {
          query: `mutation { ${createPatientField(deep, `{ ${diagnosesOfPatient(2, 'diagnoses { edges { node { id } } }')} }`)} }`,
        }),
        await runWs(ws, {
          query: `mutation { ${aliases(31, (i) => createPatientField(i === 0 ? many : `${many}-${i}`, '{ id }', `p${i}`))} }`,
        }),
        await runWs(ws, { query: `mutation { ${createPatientField(long, `{ id ${'__typename '.repeat(2_000)} }`)} }` }),
      ];
      const messages = outcomes.map((o) => o.flatMap((r) => r.errors ?? []).map((e) => e.message));
      expect(messages[0]).toEqual([expect.stringMatching(/depth limit of 12 exceeded/)]);
      expect(messages[1]).toEqual([expect.stringMatching(/Aliases limit of 30 exceeded/)]);
      expect(messages[2]).toEqual([expect.stringMatching(/Token limit of 2000 exceeded/)]);
      for (const outcome of outcomes) {
        expect(outcome.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
        expect(outcome.some((r) => r.data)).toBe(false);
      }
      for (const mrn of [deep, many, long]) expect(await patientsWithMrn(api, mrn)).toBe(0);
      expect(await operationsExecuted(api)).toBe(executedBefore);
      // The socket survived all three: a limit is an answer, not a crash.
      expect(await runWs(ws, { query: '{ me { id } }' })).toEqual([{ data: { me: { id: 'dr-shape' } } }]);
    } finally {
      await ws.dispose();
    }
  });
});

describe('introspection off, persisted operations alongside arbitrary ones', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cc-persisted-'));
  const meQuery = 'query Me { me { id } }';
  const introspection = '{ __schema { queryType { name } } }';
  let api: TestApi;
  let token: string;
  beforeAll(async () => {
    const file = join(dir, 'operations.json');
    writeFileSync(file, JSON.stringify({ [sha256(meQuery)]: meQuery, [sha256(introspection)]: introspection }));
    api = await startTestApi({ env: { INTROSPECTION: 'false', PERSISTED_OPERATIONS_FILE: file } });
    token = await api.token('dr-closed');
  });
  afterAll(async () => {
    await api?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses __schema and __type, keeps __typename, and hides field suggestions', async () => {
    for (const query of [introspection, '{ __type(name: "Patient") { name fields { name } } }']) {
      const res = await executeRaw(api.url, { query }, { token });
      expect(res.codes.length).toBeGreaterThan(0);
      expect(new Set(res.codes)).toEqual(new Set(['BAD_USER_INPUT']));
      expect(res.errors?.[0]?.message).toMatch(/introspection/i);
      expect(res.data ?? null).toBeNull();
    }
    expect((await executeRaw(api.url, { query: '{ __typename }' }, { token })).expectData()).toEqual({
      __typename: 'Query',
    });
    const typo = await executeRaw(api.url, { query: '{ patiens { edges { node { id } } } }' }, { token });
    expect(typo.codes).toEqual(['BAD_USER_INPUT']);
    expect(typo.errors?.[0]?.message).not.toMatch(/Did you mean|patients/);
  });

  it('refuses introspection over graphql-ws and through a persisted hash too', async () => {
    const byHash = await executeRaw(
      api.url,
      { extensions: { persistedQuery: { version: 1, sha256Hash: sha256(introspection) } } },
      { token },
    );
    expect(new Set(byHash.codes)).toEqual(new Set(['BAD_USER_INPUT']));
    expect(byHash.data ?? null).toBeNull();
    const ws = connectWs(api.wsUrl, `Bearer ${token}`);
    try {
      const [outcome] = await runWs(ws, { query: introspection });
      expect(outcome?.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(outcome?.data ?? null).toBeNull();
    } finally {
      await ws.dispose();
    }
  });

  it('runs both listed hashes and arbitrary queries when the list is not exclusive', async () => {
    const listed = await executeRaw(
      api.url,
      { extensions: { persistedQuery: { version: 1, sha256Hash: sha256(meQuery) } } },
      { token },
    );
    expect(listed.expectData()).toEqual({ me: { id: 'dr-closed' } });
    expect((await executeRaw(api.url, { query: '{ me { id } }' }, { token })).expectData()).toEqual({
      me: { id: 'dr-closed' },
    });
  });
});

describe('persisted operations only (the allow-list mode)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cc-persisted-'));
  const meQuery = 'query Me { me { id } }';
  const createQuery = `mutation Create($mrn: String!) {
    createPatient(input: { mrn: $mrn, givenName: "Al", familyName: "Lowed", birthDate: "1980-02-02", sex: FEMALE }) { mrn }
  }`;
  let api: TestApi;
  let token: string;
  beforeAll(async () => {
    const file = join(dir, 'operations.json');
    writeFileSync(file, JSON.stringify({ [sha256(meQuery)]: meQuery, [sha256(createQuery)]: createQuery }));
    api = await startTestApi({ env: { PERSISTED_OPERATIONS_FILE: file, PERSISTED_OPERATIONS_ONLY: 'true' } });
    token = await api.token('dr-listed');
  });
  afterAll(async () => {
    await api?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const byHash = (query: string, variables?: Record<string, unknown>) => ({
    ...(variables ? { variables } : {}),
    extensions: { persistedQuery: { version: 1, sha256Hash: sha256(query) } },
  });

  it('runs a listed operation by its hash, with variables', async () => {
    expect((await executeRaw(api.url, byHash(meQuery), { token })).expectData()).toEqual({ me: { id: 'dr-listed' } });
    const mrn = newMrn();
    expect((await executeRaw(api.url, byHash(createQuery, { mrn }), { token })).expectData()).toEqual({
      createPatient: { mrn },
    });
    expect(await patientsWithMrn(api, mrn)).toBe(1);
  });

  it('refuses a query that is not in the list, even one that is, sent as text, before execution', async () => {
    const mrn = newMrn();
    const executedBefore = await operationsExecuted(api);
    for (const body of [
      { query: `mutation { ${createPatientField(mrn, '{ id }')} }` },
      { query: createQuery, variables: { mrn } },
    ]) {
      const res = await executeRaw(api.url, body, { token });
      expect(res.status).toBe(400);
      expect(res.codes).toEqual(['BAD_USER_INPUT']);
      expect(res.errors?.[0]?.extensions?.reason).toBe('PERSISTED_QUERY_ONLY');
    }
    const unknown = await executeRaw(
      api.url,
      { extensions: { persistedQuery: { version: 1, sha256Hash: 'f'.repeat(64) } } },
      { token },
    );
    expect(unknown.codes).toEqual(['BAD_USER_INPUT']);
    expect(unknown.errors?.[0]?.extensions?.reason).toBe('PERSISTED_QUERY_NOT_FOUND');
    expect(await patientsWithMrn(api, mrn)).toBe(0);
    expect(await operationsExecuted(api)).toBe(executedBefore);
  });

  it('does not let an anonymous client probe the list', async () => {
    const res = await executeRaw(api.url, byHash(meQuery));
    expect(res.status).toBe(401);
    expect(res.codes).toEqual(['UNAUTHENTICATED']);
  });

  it('holds over graphql-ws too: hashes run, text is refused', async () => {
    const ws = connectWs(api.wsUrl, `Bearer ${token}`);
    try {
      expect(await runWs(ws, { query: '', ...byHash(meQuery) })).toEqual([{ data: { me: { id: 'dr-listed' } } }]);
      const [refused] = await runWs(ws, { query: meQuery });
      expect(refused?.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', reason: 'PERSISTED_QUERY_ONLY' });
      const [unknown] = await runWs(ws, {
        query: '',
        extensions: { persistedQuery: { version: 1, sha256Hash: 'e'.repeat(64) } },
      });
      expect(unknown?.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', reason: 'PERSISTED_QUERY_NOT_FOUND' });
    } finally {
      await ws.dispose();
    }
  });
});
