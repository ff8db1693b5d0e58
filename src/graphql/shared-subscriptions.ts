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
 * The socket a member writes its events to itself: the part of a `ws` WebSocket it needs. Only
 * `send` is called, and only while `readyState` is `OPEN` (as graphql-ws' own adapter does).
 */
export interface FrameSocket {
  readonly readyState: number;
  readonly OPEN: number;
  send(frame: string): void;
}

/** Where a member delivers directly: its graphql-ws socket and the subscription's id on it. */
export interface DirectDelivery {
  socket: FrameSocket;
  id: string;
}

/**
 * The graphql-transport-ws `next` message for a payload already serialised: byte for byte what
 * graphql-ws sends for `{ id, type: 'next', payload }` (its `stringifyMessage`, no replacer).
 */
export function nextFrame(id: string, payload: string): string {
  return `{"id":${JSON.stringify(id)},"type":"next","payload":${payload}}`;
}

/**
 * One event of a group, shared by all its members: the result, and its JSON when it can be
 * written straight to a socket. A result carrying errors has none: graphql-ws sends it (its
 * `onNext` hook shapes errors), as it does for every result of a member without a socket.
 */
interface Delivery {
  readonly result: Result;
  readonly payload: string | undefined;
}

function deliveryOf(result: Result): Delivery {
  if (result.errors !== undefined) return { result, payload: undefined };
  try {
    return { result, payload: JSON.stringify(result) };
  } catch {
    return { result, payload: undefined };
  }
}

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
 * and token (see {@link subscriptionGroupKey}) are one group per pod: the operation is subscribed
 * once and every event is executed once. Without this a pod executes every event once per
 * subscriber — the cost that dominates fan-out to thousands.
 *
 * A member that joined with its socket ({@link DirectDelivery}) is then not served through
 * graphql-ws' per-subscription loop (a promise chain, a copy and a `JSON.stringify` of the whole
 * message per socket): the group serialises each event once, and the member writes
 * `{"id":…,"type":"next","payload":<that JSON>}` to its socket itself — the bytes graphql-ws would
 * have sent. It does so only while graphql-ws is waiting on it for the next event, so graphql-ws
 * has registered the subscription (a client's early `complete` still wins) and has finished
 * sending whatever it sent before: frames keep their order. graphql-ws still ends the
 * subscription: when the group ends, the member's pending `next()` says done and graphql-ws sends
 * `complete` after the last frame. Results with errors go through graphql-ws as before.
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
  async join(
    key: string,
    start: () => Promise<Source>,
    replayLatest: boolean,
    direct?: DirectDelivery,
  ): Promise<Source> {
    const running = this.groups.get(key);
    if (running && !running.ended) return running.member(direct);
    const source = await start();
    if (!isAsyncIterable(source)) return source;
    // Another member may have started the same group meanwhile; then this stream is extra.
    const raced = this.groups.get(key);
    if (raced && !raced.ended) {
      void source[Symbol.asyncIterator]().return?.();
      return raced.member(direct);
    }
    const group = new Group(source, replayLatest, () => {
      if (this.groups.get(key) === group) this.groups.delete(key);
    });
    this.groups.set(key, group);
    return group.member(direct);
  }
}

class Group {
  ended = false;
  private readonly members = new Set<GroupMember>();
  private latest: Delivery | undefined;
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
        // Serialised once for every member that writes to its socket itself.
        const delivery = deliveryOf(next.value);
        if (this.replayLatest) this.latest = delivery;
        for (const member of this.members) member.push(delivery);
      }
    } catch (error) {
      const delivery = deliveryOf({ errors: [error as never] });
      for (const member of this.members) member.push(delivery);
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

  member(direct?: DirectDelivery): AsyncIterableIterator<Result> {
    const member = new GroupMember(this, direct?.socket, direct?.id);
    this.members.add(member);
    if (this.replayLatest && this.latest) member.push(this.latest);
    return member;
  }
}

/**
 * One subscriber's view of a group: results pushed while it is not waiting are buffered. A class
 * rather than closures: an idle member is one small object (a pod holds tens of thousands).
 *
 * With a socket, a result that has its JSON is written to the socket at once while graphql-ws
 * waits in `next()` (which stays pending), or, if it arrived before graphql-ws was waiting, when
 * graphql-ws next asks; only results without JSON (errors) are handed to graphql-ws.
 */
class GroupMember implements AsyncIterableIterator<Result> {
  /** Events not yet delivered; allocated when the first one has to wait. */
  private buffer: Delivery[] | undefined;
  private waiting: ((r: IteratorResult<Result>) => void) | undefined;
  private done = false;

  constructor(
    private readonly group: Group,
    private readonly socket?: FrameSocket,
    private readonly id?: string,
  ) {}

  push(delivery: Delivery): void {
    const waiting = this.waiting;
    if (waiting && this.socket && delivery.payload !== undefined) this.write(delivery.payload);
    else if (waiting) {
      this.waiting = undefined;
      waiting({ value: delivery.result, done: false });
    } else if (this.buffer) this.buffer.push(delivery);
    else this.buffer = [delivery];
  }

  end(): void {
    this.done = true;
    this.release();
  }

  next(): Promise<IteratorResult<Result>> {
    // graphql-ws asks: it has sent everything before, so what waited can be written now, in order.
    for (let item = this.buffer?.shift(); item; item = this.buffer?.shift()) {
      if (this.socket && item.payload !== undefined) this.write(item.payload);
      else return Promise.resolve({ value: item.result, done: false });
    }
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

  /** As graphql-ws' adapter: nothing is sent on a socket that is no longer open. */
  private write(payload: string): void {
    const socket = this.socket as FrameSocket;
    if (socket.readyState === socket.OPEN) socket.send(nextFrame(this.id as string, payload));
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
