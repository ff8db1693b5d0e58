import { ApolloClient, gql, HttpLink, InMemoryCache } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { fetchExchange, subscriptionExchange, Client as UrqlClient } from '@urql/core';
import { createClient as createSseClient, type ExecutionResult } from 'graphql-sse';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipe, subscribe } from 'wonka';
import WebSocket from 'ws';
import { RequestDiagnosisDocument } from '../../client/index.js';
import { STREAM_TOKEN_HEADER } from '../../src/graphql/sse-single-connection.js';
import { execute } from '../helpers/graphql.js';
import { createPatient } from '../helpers/patients.js';
import { startTestApi, type TestApi } from '../helpers/server.js';
import { startTestWorker, type TestWorker, targetOf } from '../helpers/worker.js';

/**
 * Each client library a clinician's app may use follows a diagnosis to COMPLETED against a real
 * pod and worker, speaking its own protocol with its own code: graphql-ws, graphql-sse in both of
 * its modes (distinct connections, Yoga's own; single connection, `@graphql-yoga/plugin-graphql-sse`),
 * Apollo Client over GraphQLWsLink and over HttpLink (Apollo's multipart HTTP subscriptions), and
 * urql's subscription exchange. None of them is our helper.
 */
const SUBSCRIPTION = /* GraphQL */ `
  subscription Follow($id: ID!) {
    diagnosisUpdated(id: $id) { id status version result { summary } }
  }
`;
const INPUT = { symptoms: ['fever', 'cough', 'shortness of breath'], notes: 'three days, worsening' };

interface Update {
  id: string;
  status: string;
  version: number;
  result: { summary: string } | null;
}

let api: TestApi;
let worker: TestWorker;
let alice: string;
let bob: string;
let patientId: string;
beforeAll(async () => {
  api = await startTestApi();
  worker = await startTestWorker(targetOf(api));
  alice = await api.token('dr-alice-interop');
  bob = await api.token('dr-bob-interop');
  patientId = await createPatient(api.url, alice);
});
afterAll(async () => {
  await worker?.stop();
  await api?.close();
});

async function requestDiagnosis(): Promise<string> {
  const res = await execute(api.url, RequestDiagnosisDocument, { patientId, input: INPUT }, { token: alice });
  return res.expectData().requestDiagnosis.id;
}

/** What every client must have seen: QUEUED or later first, versions rising, COMPLETED last, with a result. */
function expectFollowedToCompleted(updates: Update[], id: string) {
  expect(updates.length).toBeGreaterThanOrEqual(2);
  expect(updates.every((u) => u.id === id)).toBe(true);
  const versions = updates.map((u) => u.version);
  expect([...versions].sort((a, b) => a - b)).toEqual(versions);
  const last = updates.at(-1);
  expect(last?.status).toBe('COMPLETED');
  expect(last?.result?.summary).toBeTruthy();
  expect(updates.slice(0, -1).some((u) => u.status === 'COMPLETED')).toBe(false);
}

function wsClient(token: string): WsClient {
  return createWsClient({
    url: api.wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
  });
}

describe('each client library follows a diagnosis to COMPLETED', () => {
  it('graphql-ws', async () => {
    const client = wsClient(alice);
    try {
      const id = await requestDiagnosis();
      const updates: Update[] = [];
      for await (const result of client.iterate<{ diagnosisUpdated: Update }>({
        query: SUBSCRIPTION,
        variables: { id },
      })) {
        expect(result.errors).toBeUndefined();
        if (result.data) updates.push(result.data.diagnosisUpdated);
      }
      expectFollowedToCompleted(updates, id);
    } finally {
      await client.dispose();
    }
  }, 60_000);

  it.each([
    ['distinct connections', false],
    ['single connection', true],
  ] as const)(
    'graphql-sse, %s mode',
    async (_mode, singleConnection) => {
      const client = createSseClient({
        url: api.url.href,
        singleConnection,
        headers: { authorization: `Bearer ${alice}` },
        retryAttempts: 0,
      });
      try {
        const id = await requestDiagnosis();
        const updates: Update[] = [];
        for await (const result of client.iterate<{ diagnosisUpdated: Update }>({
          query: SUBSCRIPTION,
          variables: { id },
        })) {
          expect(result.errors).toBeUndefined();
          if (result.data) updates.push(result.data.diagnosisUpdated);
        }
        expectFollowedToCompleted(updates, id);
      } finally {
        client.dispose();
      }
    },
    60_000,
  );

  it('Apollo Client with GraphQLWsLink', async () => {
    const ws = wsClient(alice);
    const apollo = new ApolloClient({ link: new GraphQLWsLink(ws), cache: new InMemoryCache() });
    try {
      const id = await requestDiagnosis();
      const updates = await new Promise<Update[]>((resolve, reject) => {
        const seen: Update[] = [];
        apollo.subscribe<{ diagnosisUpdated: Update }>({ query: gql(SUBSCRIPTION), variables: { id } }).subscribe({
          next: (result) => {
            if (result.error) reject(result.error);
            if (result.data) seen.push(result.data.diagnosisUpdated as Update);
          },
          error: reject,
          complete: () => resolve(seen),
        });
      });
      expectFollowedToCompleted(updates, id);
    } finally {
      apollo.stop();
      await ws.dispose();
    }
  }, 60_000);

  it('Apollo Client with HttpLink (multipart HTTP subscriptions)', async () => {
    const apollo = new ApolloClient({
      link: new HttpLink({ uri: api.url.href, headers: { authorization: `Bearer ${alice}` } }),
      cache: new InMemoryCache(),
    });
    try {
      const id = await requestDiagnosis();
      const updates = await new Promise<Update[]>((resolve, reject) => {
        const seen: Update[] = [];
        apollo.subscribe<{ diagnosisUpdated: Update }>({ query: gql(SUBSCRIPTION), variables: { id } }).subscribe({
          next: (result) => {
            if (result.error) reject(result.error);
            if (result.data) seen.push(result.data.diagnosisUpdated as Update);
          },
          error: reject,
          complete: () => resolve(seen),
        });
      });
      expectFollowedToCompleted(updates, id);
    } finally {
      apollo.stop();
    }
  }, 60_000);

  it('urql with its subscription exchange over graphql-ws', async () => {
    const ws = wsClient(alice);
    const urql = new UrqlClient({
      url: api.url.href,
      fetchOptions: { headers: { authorization: `Bearer ${alice}` } },
      exchanges: [
        fetchExchange,
        subscriptionExchange({
          forwardSubscription: (request) => ({
            subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query ?? '' }, sink) }),
          }),
        }),
      ],
    });
    try {
      const id = await requestDiagnosis();
      const updates = await new Promise<Update[]>((resolve, reject) => {
        const seen: Update[] = [];
        const { unsubscribe } = pipe(
          urql.subscription<{ diagnosisUpdated: Update }>(SUBSCRIPTION, { id }),
          subscribe((result) => {
            if (result.error) {
              reject(result.error);
              return;
            }
            if (result.data) seen.push(result.data.diagnosisUpdated);
            if (result.data?.diagnosisUpdated.status === 'COMPLETED') {
              unsubscribe();
              resolve(seen);
            }
          }),
        );
      });
      expectFollowedToCompleted(updates, id);
    } finally {
      await ws.dispose();
    }
  }, 60_000);
});

describe('multipart HTTP subscriptions have the same authorization', () => {
  const accept = 'multipart/mixed;boundary="graphql";subscriptionSpec=1.0,application/json';
  const post = (headers: Record<string, string>, id: string) =>
    fetch(api.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept, ...headers },
      body: JSON.stringify({ query: SUBSCRIPTION, variables: { id } }),
    });

  it('refuses them without a token, and answers another clinician’s diagnosis NOT_FOUND, never data', async () => {
    const id = await requestDiagnosis();
    const anonymous = await post({}, id);
    const text = await anonymous.text();
    expect(anonymous.status === 401 || text.includes('UNAUTHENTICATED')).toBe(true);
    expect(text).not.toContain('"diagnosisUpdated"');
    const asBob = await post({ authorization: `Bearer ${bob}` }, id);
    const bobText = await asBob.text();
    expect(bobText).toContain('NOT_FOUND');
    expect(bobText).not.toContain('"status"');
    expect(bobText.trimEnd().endsWith('--graphql--')).toBe(true);
  }, 30_000);
});

describe('graphql-sse single connection mode has the same authorization', () => {
  const put = (headers: Record<string, string>) => fetch(api.url, { method: 'PUT', headers });

  it('refuses a reservation without a valid token, and an unreserved stream token', async () => {
    expect((await put({})).status).toBe(401);
    expect((await put({ authorization: 'Bearer not-a-jwt' })).status).toBe(401);
    const stray = await fetch(api.url, {
      headers: {
        accept: 'text/event-stream',
        authorization: `Bearer ${alice}`,
        [STREAM_TOKEN_HEADER]: crypto.randomUUID(),
      },
    });
    expect(stray.status).toBe(404);
  });

  it('needs the token on the stream too, and another clinician’s token cannot open or use it', async () => {
    const reservation = await put({ authorization: `Bearer ${alice}` });
    expect(reservation.status).toBe(201);
    const streamToken = await reservation.text();
    const open = (authorization?: string) =>
      fetch(api.url, {
        headers: {
          accept: 'text/event-stream',
          [STREAM_TOKEN_HEADER]: streamToken,
          ...(authorization ? { authorization } : {}),
        },
      });
    // No token, and Bob's token, are refused; Bob is told nothing more than for a missing stream.
    expect((await open()).status).toBe(401);
    const asBob = await open(`Bearer ${bob}`);
    expect(asBob.status).toBe(404);
    expect(await asBob.text()).toContain('Stream not found');
    // Bob cannot send an operation into Alice's stream either.
    const id = await requestDiagnosis();
    const bobOperation = await fetch(api.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${bob}`,
        [STREAM_TOKEN_HEADER]: streamToken,
      },
      body: JSON.stringify({ query: SUBSCRIPTION, variables: { id }, extensions: { operationId: 'bob-1' } }),
    });
    expect(bobOperation.status).toBe(404);

    // Alice opens it, and sees her diagnosis's events on it.
    const abort = new AbortController();
    const stream = await fetch(api.url, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${alice}`, [STREAM_TOKEN_HEADER]: streamToken },
      signal: abort.signal,
    });
    expect(stream.status).toBe(200);
    const operation = await fetch(api.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${alice}`,
        [STREAM_TOKEN_HEADER]: streamToken,
      },
      body: JSON.stringify({ query: SUBSCRIPTION, variables: { id }, extensions: { operationId: 'alice-1' } }),
    });
    expect(operation.status).toBe(202);
    const reader = stream.body?.getReader();
    let received = '';
    while (!received.includes('"COMPLETED"')) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) break;
      received += new TextDecoder().decode(chunk.value);
    }
    expect(received).toContain('"id":"alice-1"');
    expect(received).toContain('"status":"COMPLETED"');
    abort.abort();
  }, 60_000);

  it('applies the care-team rule: a clinician’s operation on another’s diagnosis is NOT_FOUND', async () => {
    const id = await requestDiagnosis();
    const client = createSseClient({
      url: api.url.href,
      singleConnection: true,
      headers: { authorization: `Bearer ${bob}` },
      retryAttempts: 0,
    });
    try {
      const results: ExecutionResult<Record<string, unknown>, unknown>[] = [];
      for await (const result of client.iterate({ query: SUBSCRIPTION, variables: { id } })) results.push(result);
      // Her diagnosis answers Bob like a missing one: one error, no data, and the operation ends.
      expect(results.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
      expect(results.some((r) => r.data)).toBe(false);
    } finally {
      client.dispose();
    }
  }, 30_000);

  it('charges operations it refuses (invalid, unparsable) to the clinician, as over HTTP', async () => {
    const limited = await startTestApi({ env: { RATE_LIMIT_POINTS: '3' } });
    try {
      const carol = await limited.token('dr-carol-interop');
      const headers = { authorization: `Bearer ${carol}` };
      const streamToken = await (await fetch(limited.url, { method: 'PUT', headers })).text();
      const abort = new AbortController();
      const stream = await fetch(limited.url, {
        headers: { ...headers, accept: 'text/event-stream', [STREAM_TOKEN_HEADER]: streamToken },
        signal: abort.signal,
      });
      expect(stream.status).toBe(200);
      for (const [i, query] of ['subscription { nope }', 'subscription {', 'query { nope }'].entries()) {
        const sent = await fetch(limited.url, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json', [STREAM_TOKEN_HEADER]: streamToken },
          body: JSON.stringify({ query, extensions: { operationId: `bad-${i}` } }),
        });
        const text = await sent.text();
        // Refused with a 400 that says why, as over HTTP — never a 500, never a stack trace.
        expect(sent.status, `${query}: ${text}`).toBe(400);
        expect(text).not.toMatch(/\n\s+at /);
        expect(text).toMatch(/Syntax Error|Cannot query field/);
      }
      // Three refusals spent the three points (charged as they were refused): the next operation
      // anywhere is RATE_LIMITED.
      await new Promise((r) => setTimeout(r, 200));
      const next = await fetch(limited.url, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ me { id } }' }),
      });
      const answer = (await next.json()) as { errors?: { extensions?: { code?: string } }[] };
      expect(answer.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
      abort.abort();
    } finally {
      await limited.close();
    }
  }, 30_000);

  it('gives a reservation back when its stream closes, so a clinician never runs out', async () => {
    for (let i = 0; i < 12; i++) {
      const reservation = await put({ authorization: `Bearer ${alice}` });
      expect(reservation.status, `reservation ${i}`).toBe(201);
      const abort = new AbortController();
      const stream = await fetch(api.url, {
        headers: {
          accept: 'text/event-stream',
          authorization: `Bearer ${alice}`,
          [STREAM_TOKEN_HEADER]: await reservation.text(),
        },
        signal: abort.signal,
      });
      expect(stream.status).toBe(200);
      await stream.body?.getReader().read();
      abort.abort();
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 30_000);
});
