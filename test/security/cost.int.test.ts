import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeRaw, type GraphQLResponse } from '../helpers/graphql.js';
import { operationsExecuted, runWs, type WsOutcome } from '../helpers/limits.js';
import { startTestApi, type TestApi } from '../helpers/server.js';
import { connectWs } from '../helpers/ws.js';

/**
 * The review's cost attacks: list sizes hidden in variables (or left to the default page size),
 * `_entities` with hundreds of representations reused through aliases, and refusals repeated on
 * one socket for free. Each must be refused before anything runs, on every transport and both
 * endpoints, and every attempt must cost rate-limit points.
 */

const aliases = (n: number, field: (i: number) => string) => Array.from({ length: n }, (_, i) => field(i)).join(' ');
/** 30 aliases × `$n` patients × `$m` diagnoses each: 300,000 rows at n = m = 100. */
const VARIABLE_ATTACK = `query Rows($n: Int, $m: Int) { ${aliases(
  30,
  (i) => `a${i}: patients(first: $n) { edges { node { id diagnoses(first: $m) { edges { node { id } } } } } }`,
)} }`;
/** The same with no `first` at all: each list is the default page (20), 30 × 20 × 20 diagnoses. */
const DEFAULT_ATTACK = `{ ${aliases(30, (i) => `a${i}: patients { edges { node { id diagnoses { edges { node { id } } } } } }`)} }`;
/** 500 representations, reused by 30 aliases: 15,000 patients read for one request. */
const ENTITIES_ATTACK = `query Entities($r: [_Any!]!) { ${aliases(
  30,
  (i) => `e${i}: _entities(representations: $r) { ... on Patient { id } }`,
)} }`;
const representations = (n: number) => Array.from({ length: n }, (_, i) => ({ __typename: 'Patient', id: `p-${i}` }));

function expectCostRefusal(res: GraphQLResponse<unknown>): void {
  expect(res.status).toBe(400);
  expect(res.codes).toEqual(['BAD_USER_INPUT']);
  expect(res.errors?.[0]?.message).toMatch(/Cost limit of 10000 objects exceeded/);
  expect(res.data ?? null).toBeNull();
}

function wsErrors(outcome: WsOutcome[]) {
  return outcome.flatMap((r) => r.errors ?? []);
}

describe('cost bound: list sizes from variables, defaults and representations (defaults)', () => {
  let api: TestApi;
  let token: string;
  let subgraphUrl: URL;
  beforeAll(async () => {
    api = await startTestApi();
    token = await api.token('dr-cost', { roles: ['clinician', 'admin'] });
    subgraphUrl = new URL('/subgraph', api.base);
  });
  afterAll(() => api?.close());

  it('refuses 30 aliases sized by $n/$m before execution, after the same document ran small', async () => {
    // Small variables first: the document is then parsed and validated (and cached by Yoga),
    // and the estimate must still follow the variables of each request.
    const small = await executeRaw(api.url, { query: VARIABLE_ATTACK, variables: { n: 1, m: 1 } }, { token });
    expect(small.errors).toBeUndefined();
    const executed = await operationsExecuted(api);
    expectCostRefusal(await executeRaw(api.url, { query: VARIABLE_ATTACK, variables: { n: 100, m: 100 } }, { token }));
    expect(await operationsExecuted(api)).toBe(executed);
  });

  it('counts an omitted first as the default page size, and a variable default as its value', async () => {
    const executed = await operationsExecuted(api);
    expectCostRefusal(await executeRaw(api.url, { query: DEFAULT_ATTACK }, { token }));
    const defaulted = VARIABLE_ATTACK.replace('($n: Int, $m: Int)', '($n: Int = 100, $m: Int = 100)');
    expectCostRefusal(await executeRaw(api.url, { query: defaulted }, { token }));
    expect(await operationsExecuted(api)).toBe(executed);
    // One alias of the default-sized read is an ordinary screen and runs.
    const one = `{ patients { edges { node { id diagnoses { edges { node { id } } } } } } }`;
    expect((await executeRaw(api.url, { query: one }, { token })).errors).toBeUndefined();
  });

  it('refuses the same on /subgraph, and _entities with 500 representations through 30 aliases', async () => {
    const executed = await operationsExecuted(api);
    expectCostRefusal(
      await executeRaw(subgraphUrl, { query: VARIABLE_ATTACK, variables: { n: 100, m: 100 } }, { token }),
    );
    expectCostRefusal(
      await executeRaw(subgraphUrl, { query: ENTITIES_ATTACK, variables: { r: representations(500) } }, { token }),
    );
    expect(await operationsExecuted(api)).toBe(executed);
    // A gateway's ordinary fetch of one page of entities passes.
    const page = await executeRaw(
      subgraphUrl,
      { query: ENTITIES_ATTACK, variables: { r: representations(2) } },
      { token },
    );
    expect(page.codes.every((c) => c === 'NOT_FOUND')).toBe(true);
  });

  it('refuses over graphql-ws (query and subscription) and over SSE, before anything runs', async () => {
    const subscription = `subscription($p: ID!, $n: Int) { patientDiagnoses(patientId: $p) {
      patient { diagnoses(first: $n) { edges { node { patient { diagnoses(first: $n) { edges { node { id } } } } } } } } } }`;
    const variables = { p: 'any-patient', n: 100 };
    const ws = connectWs(api.wsUrl, `Bearer ${token}`);
    try {
      await ws.connected;
      const executed = await operationsExecuted(api);
      for (const payload of [
        { query: VARIABLE_ATTACK, variables: { n: 100, m: 100 } },
        { query: subscription, variables },
      ]) {
        const errors = wsErrors(await runWs(ws, payload));
        expect(errors.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
        expect(errors[0]?.message).toMatch(/Cost limit of 10000 objects exceeded/);
      }
      const subgraphWs = connectWs(api.wsUrl.replace('/graphql', '/subgraph'), `Bearer ${token}`);
      try {
        const errors = wsErrors(
          await runWs(subgraphWs, { query: ENTITIES_ATTACK, variables: { r: representations(500) } }),
        );
        expect(errors.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
      } finally {
        await subgraphWs.dispose();
      }
      expect(await operationsExecuted(api)).toBe(executed);
    } finally {
      await ws.dispose();
    }
    const sse = await fetch(api.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: subscription, variables }),
    });
    const text = await sse.text();
    expect(text).toContain('BAD_USER_INPUT');
    expect(text).toMatch(/Cost limit of 10000 objects exceeded/);
    expect(text).not.toContain('"data"');
  });
});

describe('rate-limit points follow cost, and refusals are not free', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ env: { RATE_LIMIT_POINTS: '300' } });
  });
  afterAll(() => api?.close());

  const remaining = (res: GraphQLResponse<unknown>) => Number(res.headers.get('ratelimit-remaining'));

  it('charges a query its base point plus one per 100 objects it could return', async () => {
    const token = await api.token('dr-points');
    const small = await executeRaw(api.url, { query: '{ me { id } }' }, { token });
    expect(remaining(small)).toBe(299);
    // 100 patients: the connection, 100 edges, 100 nodes = 201 objects → 1 + 2 points.
    const page = await executeRaw(
      api.url,
      { query: 'query($n: Int) { patients(first: $n) { edges { node { id } } } }', variables: { n: 100 } },
      { token },
    );
    expect(page.errors).toBeUndefined();
    expect(remaining(page)).toBe(296);
    // Refused for its cost, it pays as much as the largest operation allowed: 1 + 100.
    expectCostRefusal(await executeRaw(api.url, { query: VARIABLE_ATTACK, variables: { n: 100, m: 100 } }, { token }));
    expect(remaining(await executeRaw(api.url, { query: '{ me { id } }' }, { token }))).toBe(194);
  });

  it('charges invalid and unparsable operations over HTTP, until they are RATE_LIMITED', async () => {
    const token = await api.token('dr-invalid');
    const invalid = await executeRaw(api.url, { query: '{ nope }' }, { token });
    expect(invalid.codes).toEqual(['BAD_USER_INPUT']);
    expect(remaining(invalid)).toBe(299);
    const unparsable = await executeRaw(api.url, { query: '{ me { id }' }, { token });
    expect(unparsable.codes).toEqual(['BAD_USER_INPUT']);
    expect(remaining(unparsable)).toBe(298);
    const tooMany = `{ ${aliases(31, (i) => `a${i}: me { id }`)} }`;
    let last: GraphQLResponse<unknown> | undefined;
    for (let i = 0; i < 298; i++) last = await executeRaw(api.url, { query: tooMany }, { token });
    expect(last?.codes).toEqual(['BAD_USER_INPUT']);
    expect(remaining(last as GraphQLResponse<unknown>)).toBe(0);
    const limited = await executeRaw(api.url, { query: tooMany }, { token });
    expect(limited.status).toBe(429);
    expect(limited.codes).toEqual(['RATE_LIMITED']);
    expect((await executeRaw(api.url, { query: '{ me { id } }' }, { token })).codes).toEqual(['RATE_LIMITED']);
  });

  it('charges operations refused on one socket, until the socket gets RATE_LIMITED', async () => {
    const token = await api.token('dr-socket');
    const ws = connectWs(api.wsUrl, `Bearer ${token}`);
    try {
      await ws.connected;
      const tooMany = `{ ${aliases(31, (i) => `a${i}: me { id }`)} }`;
      const codes: unknown[] = [];
      // 300 points: at most 300 refusals pass as BAD_USER_INPUT, then every answer is RATE_LIMITED.
      for (let i = 0; i < 310; i++)
        codes.push(...wsErrors(await runWs(ws, { query: tooMany })).map((e) => e.extensions?.code));
      expect(codes.slice(0, 300)).toEqual(Array(300).fill('BAD_USER_INPUT'));
      expect(codes.slice(300)).toEqual(Array(10).fill('RATE_LIMITED'));
      const [me] = await runWs(ws, { query: '{ me { id } }' });
      expect(me?.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    } finally {
      await ws.dispose();
    }
  });
});
