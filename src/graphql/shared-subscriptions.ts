import { createHash } from 'node:crypto';
import type { ExecutionResult, GraphQLSchema, OperationDefinitionNode } from 'graphql';

type Result = ExecutionResult;

/**
 * The field extension that marks a subscription whose every event is a full state, so a member
 * joining a running group may start from the group's latest event (see {@link SharedSubscriptions}).
 */
export const REPLAYABLE = 'replayable';

/** Whether every root field an operation subscribes to is marked {@link REPLAYABLE} in the schema. */
export function isReplayable(schema: GraphQLSchema, operation: OperationDefinitionNode): boolean {
  const fields = schema.getSubscriptionType()?.getFields() ?? {};
  return operation.selectionSet.selections.every(
    (s) => s.kind === 'Field' && fields[s.name.value]?.extensions?.[REPLAYABLE] === true,
  );
}
type Source = AsyncIterable<Result> | Result;

/**
 * The group a subscription joins: its document, operation name and variables, and the credential
 * it was authenticated with. Members of a group share one execution — one authorisation, made
 * with the first member's context — so they must be indistinguishable to every rule that decides
 * access. Keying on the token itself (its digest) makes that hold for every claim, present or
 * future: roles, expiry, issuer. (Keyed on `sub` and `exp` alone, a token with the same two claims
 * and fewer roles joined an admin's group and received what it may not read.)
 */
export function subscriptionGroupKey(parts: {
  query: string;
  operationName: string | null;
  variables: Readonly<Record<string, unknown>> | null;
  credential: string;
}): string {
  return JSON.stringify([parts.query, parts.operationName, parts.variables, parts.credential]);
}

/** What a socket's credential is remembered as: never the bearer token itself. */
export function credentialDigest(presented: string): string {
  return createHash('sha256').update(presented).digest('base64url');
}

/**
 * Identical subscriptions share one execution. Subscriptions with the same document, variables
 * and token (see {@link subscriptionGroupKey}) are one group per pod: the operation is subscribed once, every event is executed once, and the same result
 * object goes to every member (graphql-ws then only serialises it per socket). Without this a pod
 * executes every event once per subscriber — the cost that dominates fan-out to thousands.
 *
 * A member that joins a running group first receives the group's latest result when
 * `replayLatest` is set: for operations whose events are full states (`diagnosisUpdated`) that
 * is exactly the "current state first" a fresh subscription would have produced.
 */
export class SharedSubscriptions {
  private readonly groups = new Map<string, Group>();

  /** Open groups (for metrics and tests). */
  get size(): number {
    return this.groups.size;
  }

  /** Whether a running group exists for `key`. */
  has(key: string): boolean {
    return this.groups.get(key)?.ended === false;
  }

  /**
   * Joins the group for `key`, starting it with `start()` if there is none. Returns what the
   * subscription should answer: an event stream, or `start()`'s single result (an error at
   * subscribe time, e.g. NOT_FOUND), which is never shared.
   */
  async join(key: string, start: () => Promise<Source>, replayLatest: boolean): Promise<Source> {
    const running = this.groups.get(key);
    if (running && !running.ended) return running.member();
    const source = await start();
    if (!isAsyncIterable(source)) return source;
    // Another member may have started the same group meanwhile; then this stream is extra.
    const raced = this.groups.get(key);
    if (raced && !raced.ended) {
      void source[Symbol.asyncIterator]().return?.();
      return raced.member();
    }
    const group = new Group(source, replayLatest, () => {
      if (this.groups.get(key) === group) this.groups.delete(key);
    });
    this.groups.set(key, group);
    return group.member();
  }
}

class Group {
  ended = false;
  private readonly members = new Set<GroupMember>();
  private latest: Result | undefined;
  private readonly upstream: AsyncIterator<Result>;

  constructor(
    source: AsyncIterable<Result>,
    private readonly replayLatest: boolean,
    private readonly onEnd: () => void,
  ) {
    this.upstream = source[Symbol.asyncIterator]();
    void this.pump();
  }

  private async pump(): Promise<void> {
    try {
      for (;;) {
        const next = await this.upstream.next();
        if (next.done) break;
        if (this.replayLatest) this.latest = next.value;
        for (const member of this.members) member.push(next.value);
      }
    } catch (error) {
      const result: Result = { errors: [error as never] };
      for (const member of this.members) member.push(result);
    } finally {
      this.finish();
    }
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd();
    for (const member of this.members) member.end();
    this.members.clear();
  }

  leave(member: GroupMember): void {
    this.members.delete(member);
    if (this.members.size === 0 && !this.ended) {
      // The last member left: stop the upstream subscription (and its pub/sub listener).
      this.finish();
      void this.upstream.return?.();
    }
  }

  member(): AsyncIterableIterator<Result> {
    const member = new GroupMember(this);
    this.members.add(member);
    if (this.replayLatest && this.latest) member.push(this.latest);
    return member;
  }
}

/**
 * One subscriber's view of a group: results pushed while it is not waiting are buffered. A class
 * rather than closures: an idle member is one small object (a pod holds tens of thousands).
 */
class GroupMember implements AsyncIterableIterator<Result> {
  /** Results not yet read; allocated when the first one has to wait. */
  private buffer: Result[] | undefined;
  private waiting: ((r: IteratorResult<Result>) => void) | undefined;
  private done = false;

  constructor(private readonly group: Group) {}

  push(result: Result): void {
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = undefined;
      waiting({ value: result, done: false });
    } else if (this.buffer) this.buffer.push(result);
    else this.buffer = [result];
  }

  end(): void {
    this.done = true;
    this.release();
  }

  next(): Promise<IteratorResult<Result>> {
    const item = this.buffer?.shift();
    if (item) return Promise.resolve({ value: item, done: false });
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  async return(): Promise<IteratorResult<Result>> {
    if (!this.done) {
      this.done = true;
      this.release();
      this.group.leave(this);
    }
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Result> {
    return this;
  }

  /** Ends a pending `next()`. */
  private release(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.({ value: undefined, done: true });
  }
}

function isAsyncIterable(value: unknown): value is AsyncIterable<Result> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}
