import { type ExecutionResult, buildSchema as fromSdl, GraphQLError, getOperationAST, parse } from 'graphql';
import { makeServer } from 'graphql-ws';
import { describe, expect, it } from 'vitest';
import { buildSchema, buildSubgraphSchema } from './schema.js';
import {
  credentialDigest,
  type DirectDelivery,
  type FrameSocket,
  isReplayable,
  nextFrame,
  SharedSubscriptions,
  subscriptionGroupKey,
} from './shared-subscriptions.js';

/** A controllable upstream: push results, end it, and see whether it was closed. */
function upstream() {
  const queue: ({ data: unknown } | null)[] = [];
  let wake: (() => void) | null = null;
  const state = { returned: false, starts: 0 };
  const push = (value: { data: unknown } | null) => {
    queue.push(value);
    wake?.();
  };
  const iterable: AsyncIterable<ExecutionResult> = {
    [Symbol.asyncIterator]() {
      state.starts += 1;
      return {
        next: async (): Promise<IteratorResult<ExecutionResult>> => {
          while (queue.length === 0 && !state.returned) await new Promise<void>((r) => (wake = r));
          const item = queue.shift();
          return item ? { value: item as ExecutionResult, done: false } : { value: undefined, done: true };
        },
        return: async () => {
          state.returned = true;
          wake?.();
          return { value: undefined, done: true } as IteratorResult<ExecutionResult>;
        },
      };
    },
  };
  return { iterable, push, state };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('SharedSubscriptions', () => {
  it('starts one upstream per key, fans every result out to all members, and replays the latest to a joiner', async () => {
    const shared = new SharedSubscriptions();
    const up = upstream();
    let starts = 0;
    const start = async () => {
      starts += 1;
      return up.iterable;
    };
    const a = (await shared.join('k', start, true)) as AsyncIterableIterator<unknown>;
    up.push({ data: 1 });
    expect(await a.next()).toEqual({ value: { data: 1 }, done: false });
    const b = (await shared.join('k', start, true)) as AsyncIterableIterator<unknown>;
    expect(await b.next()).toEqual({ value: { data: 1 }, done: false }); // the latest, replayed
    up.push({ data: 2 });
    const [na, nb] = await Promise.all([a.next(), b.next()]);
    expect(na.value).toBe(nb.value); // the same object: executed once
    expect(starts).toBe(1);

    await a.return?.();
    up.push({ data: 3 });
    expect(await b.next()).toEqual({ value: { data: 3 }, done: false });
    expect(up.state.returned).toBe(false);
    await b.return?.();
    await tick();
    expect(up.state.returned).toBe(true); // the last member left: upstream closed
    expect(shared.has('k')).toBe(false);
  });

  it('ends every member when the upstream completes, and never shares a non-stream answer', async () => {
    const shared = new SharedSubscriptions();
    const up = upstream();
    const a = (await shared.join('k', async () => up.iterable, false)) as AsyncIterableIterator<unknown>;
    const b = (await shared.join('k', async () => up.iterable, false)) as AsyncIterableIterator<unknown>;
    up.push({ data: 'final' });
    up.push(null);
    expect((await a.next()).value).toEqual({ data: 'final' });
    expect((await a.next()).done).toBe(true);
    expect((await b.next()).value).toEqual({ data: 'final' });
    expect((await b.next()).done).toBe(true);
    expect(shared.has('k')).toBe(false);

    const error = { errors: [{ message: 'not found' }] };
    expect(await shared.join('e', async () => error as never, true)).toBe(error);
    expect(shared.has('e')).toBe(false);
  });
});

/**
 * One connection to graphql-ws' own server core (`makeServer`, as its `ws` adapter drives it),
 * whose subscriptions join `shared`'s group `k`; `direct` members write to the same transcript.
 */
function connection(shared: SharedSubscriptions, upstreamOf: () => AsyncIterable<ExecutionResult>, direct: boolean) {
  const sent: string[] = [];
  const frames: FrameSocket = { readyState: 1, OPEN: 1, send: (frame) => sent.push(frame) };
  let directWrites = 0;
  const counted: FrameSocket = {
    ...frames,
    send: (frame) => {
      directWrites += 1;
      frames.send(frame);
    },
  };
  let onMessage: ((data: string) => Promise<void>) | undefined;
  const server = makeServer<Record<string, unknown>, { direct: boolean }>({
    schema: fromSdl('type Query { n: Int } type Subscription { n: Int }'),
    onSubscribe: (_ctx, id, payload) => ({
      schema: fromSdl('type Query { n: Int } type Subscription { n: Int }'),
      document: parse(payload.query),
      rootValue: { id },
    }),
    subscribe: (args) => {
      const id = (args.rootValue as { id: string }).id;
      const target: DirectDelivery | undefined = direct ? { socket: counted, id } : undefined;
      return shared.join('k', async () => upstreamOf(), true, target) as never;
    },
  });
  server.opened(
    {
      protocol: 'graphql-transport-ws',
      send: async (data) => {
        sent.push(data);
      },
      close: (code) => {
        sent.push(`close ${code}`);
      },
      onMessage: (cb) => {
        onMessage = cb;
      },
    },
    { direct },
  );
  const receive = (message: object) => (onMessage as (data: string) => Promise<void>)(JSON.stringify(message));
  return { sent, receive, directWrites: () => directWrites, frames };
}

describe('members that write to their socket themselves', () => {
  it('send the bytes graphql-ws sends, in the same order, errors through graphql-ws, and end with its complete', async () => {
    const shared = new SharedSubscriptions();
    const up = upstream();
    const viaGraphqlWs = connection(shared, () => up.iterable, false);
    const viaSocket = connection(shared, () => up.iterable, true);
    // An id that JSON has to escape, the same on both connections.
    const id = 'sub "1" \\ é';
    for (const c of [viaGraphqlWs, viaSocket]) {
      void c.receive({ type: 'connection_init' });
      await tick();
      void c.receive({ id, type: 'subscribe', payload: { query: 'subscription { n }' } });
    }
    await tick();
    up.push({ data: { n: 1 } });
    // Pushed back to back: the error is sent by graphql-ws (asynchronously) and what follows it must wait.
    up.push({ data: { n: 2 }, extensions: { at: 'x' } } as never);
    up.push({ data: null, errors: [new GraphQLError('partial', { extensions: { code: 'INTERNAL' } })] } as never);
    up.push({ data: { n: 3 } });
    await tick();
    // A member joining the running group starts from the latest event, as before.
    const late = connection(shared, () => up.iterable, true);
    void late.receive({ type: 'connection_init' });
    await tick();
    void late.receive({ id, type: 'subscribe', payload: { query: 'subscription { n }' } });
    await tick();
    up.push({ data: { n: 4 } });
    up.push(null); // the upstream ends (a terminal state): every member completes
    await tick();

    expect(viaGraphqlWs.sent).toEqual([
      '{"type":"connection_ack"}',
      `{"id":${JSON.stringify(id)},"type":"next","payload":{"data":{"n":1}}}`,
      `{"id":${JSON.stringify(id)},"type":"next","payload":{"data":{"n":2},"extensions":{"at":"x"}}}`,
      `{"id":${JSON.stringify(id)},"type":"next","payload":{"data":null,"errors":[{"message":"partial","extensions":{"code":"INTERNAL"}}]}}`,
      `{"id":${JSON.stringify(id)},"type":"next","payload":{"data":{"n":3}}}`,
      `{"id":${JSON.stringify(id)},"type":"next","payload":{"data":{"n":4}}}`,
      `{"id":${JSON.stringify(id)},"type":"complete"}`,
    ]);
    expect(viaSocket.sent).toEqual(viaGraphqlWs.sent);
    expect(viaSocket.directWrites()).toBe(4); // every event but the one with errors
    expect(late.sent).toEqual([viaGraphqlWs.sent[0], ...viaGraphqlWs.sent.slice(4)]);
    expect(shared.has('k')).toBe(false);
  });

  it('write nothing before graphql-ws asks, after the client completes, or to a socket no longer open', async () => {
    const shared = new SharedSubscriptions();
    const up = upstream();
    const start = async () => up.iterable;
    const sent: string[] = [];
    const socket = { readyState: 1, OPEN: 1, send: (frame: string) => sent.push(frame) };
    const a = (await shared.join('k', start, true, { socket, id: 'a' })) as AsyncIterableIterator<unknown>;
    up.push({ data: 1 });
    await tick();
    expect(sent).toEqual([]); // graphql-ws has not registered the subscription yet
    const pending = a.next();
    expect(sent).toEqual([nextFrame('a', '{"data":1}')]);
    socket.readyState = 2; // closing
    up.push({ data: 2 });
    await tick();
    expect(sent).toHaveLength(1);
    socket.readyState = 1;
    await a.return?.();
    expect(await pending).toEqual({ value: undefined, done: true });
    up.push({ data: 3 });
    await tick();
    expect(sent).toHaveLength(1);
    expect(up.state.returned).toBe(true);
  });
});

describe('subscriptionGroupKey', () => {
  it('separates tokens that share sub and exp but not roles, and never holds the token itself', () => {
    const parts = { query: 'subscription { x }', operationName: null, variables: { p: '1' } };
    const admin = subscriptionGroupKey({ ...parts, credential: credentialDigest('Bearer admin.token') });
    const clinician = subscriptionGroupKey({ ...parts, credential: credentialDigest('Bearer clinician.token') });
    expect(admin).not.toBe(clinician);
    expect(subscriptionGroupKey({ ...parts, credential: credentialDigest('Bearer admin.token') })).toBe(admin);
    expect(admin).not.toContain('admin.token');
  });
});

describe('isReplayable (the schema marks which subscriptions carry full states)', () => {
  const operation = (query: string) => {
    const op = getOperationAST(parse(query));
    if (!op) throw new Error('no operation');
    return op;
  };

  it.each([
    ['the API schema', buildSchema()],
    ['the subgraph schema', buildSubgraphSchema()],
  ])('replays diagnosisUpdated and nothing else, in %s', (_name, schema) => {
    expect(isReplayable(schema, operation('subscription { diagnosisUpdated(id: "d") { id } }'))).toBe(true);
    expect(isReplayable(schema, operation('subscription { patientDiagnoses(patientId: "p") { id } }'))).toBe(false);
    // A group is replayed only when every field it subscribes to is: one change feed spoils it.
    expect(
      isReplayable(
        schema,
        operation('subscription { a: diagnosisUpdated(id: "d") { id } b: patientDiagnoses(patientId: "p") { id } }'),
      ),
    ).toBe(false);
    expect(
      isReplayable(
        schema,
        operation('subscription { ...F } fragment F on Subscription { diagnosisUpdated(id: "d") { id } }'),
      ),
    ).toBe(false);
  });
});
