import { type ExecutionResult, getOperationAST, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { buildSchema, buildSubgraphSchema } from './schema.js';
import { credentialDigest, isReplayable, SharedSubscriptions, subscriptionGroupKey } from './shared-subscriptions.js';

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
