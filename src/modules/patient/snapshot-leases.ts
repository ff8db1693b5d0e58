import { randomBytes } from 'node:crypto';
import { errorFields, type Logger } from '../../lib/logger.js';
import type { Redis } from '../../lib/redis.js';
import { ChannelSubscriber } from '../../lib/redis-channels.js';

/**
 * Which patients were invalidated since a mark: what lets a read that raced a write refuse to
 * trust what it read. Bounded: past {@link MAX_TRACKED} ids it forgets them all and answers "yes"
 * for any older mark, which only costs a version round trip.
 */
export class Invalidations {
  private seq = 0;
  private readonly last = new Map<string, number>();
  private forgotten = 0;

  /** A mark to compare later invalidations with. */
  mark(): number {
    return this.seq;
  }

  note(id: string): void {
    this.seq += 1;
    if (this.last.size >= MAX_TRACKED) {
      this.last.clear();
      this.forgotten = this.seq;
    }
    this.last.set(id, this.seq);
  }

  /** Whether `id` may have been invalidated after `mark` was taken. */
  since(id: string, mark: number): boolean {
    return mark < this.forgotten || (this.last.get(id) ?? 0) > mark;
  }
}

const MAX_TRACKED = 50_000;

/**
 * What both kinds of snapshot versions (with leases across pods, and in memory for one process)
 * keep of invalidations: marks to test a read against, and the listeners told of each one.
 */
export abstract class InvalidationFeed {
  private readonly invalidated = new Invalidations();
  private readonly listeners: ((id: string) => void)[] = [];

  mark(): number {
    return this.invalidated.mark();
  }

  invalidatedSince(id: string, mark: number): boolean {
    return this.invalidated.since(id, mark);
  }

  /** Calls `listener` with every patient invalidated by any pod's write. */
  onInvalidate(listener: (id: string) => void): void {
    this.listeners.push(listener);
  }

  /** Notes that `id` was invalidated, and tells the listeners. */
  protected invalidate(id: string): void {
    this.invalidated.note(id);
    for (const listener of this.listeners) listener(id);
  }
}

/** Slack on a wait measured by another process's clock (same rate on one host, ppm apart across hosts). */
const CLOCK_MARGIN_MS = 25;

/**
 * Registers (or renews) this pod in the registry for `leaseMs` of Redis' own clock and publishes
 * the heartbeat on the snapshot channel, in one script, so registry and channel agree. KEYS: the
 * registry. ARGV: lease ms, pod id, channel, message.
 */
const HEARTBEAT_LUA = `local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('zadd', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
redis.call('pexpire', KEYS[1], tonumber(ARGV[1]) * 10)
redis.call('publish', ARGV[3], ARGV[4])
return 1`;

/**
 * Gives a patient its new version, publishes the invalidation and answers the pods whose leases
 * are live by Redis' clock, in one script: a pod missing from that answer registered its last
 * heartbeat over a lease ago, so its own lease (timed from before that heartbeat) has run out.
 * KEYS: the version key, the registry. ARGV: version, version TTL s, channel, message.
 */
const BUMP_LUA = `redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2])
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('zremrangebyscore', KEYS[2], '-inf', now)
redis.call('publish', ARGV[3], ARGV[4])
return redis.call('zrange', KEYS[2], 0, -1)`;

type RedisWithLeases = Redis & {
  snapshotHeartbeat(numKeys: number, ...args: (string | number)[]): Promise<number>;
  snapshotBump(numKeys: number, ...args: (string | number)[]): Promise<string[]>;
};

interface Waiter {
  /** The pods that must acknowledge, once the bump answered. */
  pods: readonly string[] | null;
  acked: Set<string>;
  resolve: () => void;
}

export interface SnapshotLeasesOptions {
  /** The shared command connection (heartbeats, bumps, acknowledgements). */
  redis: Redis;
  /** The pod's pub/sub connection. */
  subscriber: Redis;
  /** The deployment's key prefix: channel names carry it (ioredis prefixes keys, not channels). */
  prefix: string;
  /** How long one heartbeat lets this pod trust what it holds. */
  leaseMs: number;
  logger: Logger;
}

/**
 * Leases that let a pod answer from the snapshots it holds without reading their versions, while
 * keeping every write's change visible on every pod before that write answers.
 *
 * Every pod publishes a heartbeat every quarter lease, on the channel every invalidation travels
 * on, and registers itself for one lease (by Redis' clock). Hearing its own heartbeat back proves
 * the pod's subscription delivered everything published before it, so the pod holds a lease until
 * a lease after it SENT that heartbeat. A write's bump publishes an invalidation on the same
 * channel and waits until every registered pod has acknowledged it, each after dropping the
 * patient; a pod that does not answer (dead, cut off, stalled) is waited out for one lease —
 * Redis delivers one connection's messages in order, so a pod that never saw the invalidation saw
 * no later heartbeat either, and its lease has lapsed by then. Any gap — the subscription closed,
 * a lease that ran out before the next heartbeat came back — starts a new epoch: nothing held
 * from before it is trusted again until a version round trip confirms it.
 */
export class SnapshotLeases extends InvalidationFeed {
  readonly pod = randomBytes(6).toString('base64url');
  private readonly redis: RedisWithLeases;
  private readonly channel: string;
  private readonly registry = 'pv:pods';
  private readonly channels: ChannelSubscriber;
  private epoch = 0;
  /** performance.now() until which this pod trusts what it holds. */
  private leaseUntil = 0;
  private heartbeats = 0;
  /** When each heartbeat not yet heard back was sent. */
  private readonly sent = new Map<number, number>();
  private bumps = 0;
  private readonly waiting = new Map<number, Waiter>();
  /** When Redis last answered this pod (performance.now()). */
  private lastContact = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private closed = false;

  constructor(private readonly o: SnapshotLeasesOptions) {
    super();
    if (!('snapshotHeartbeat' in o.redis)) o.redis.defineCommand('snapshotHeartbeat', { lua: HEARTBEAT_LUA });
    if (!('snapshotBump' in o.redis)) o.redis.defineCommand('snapshotBump', { lua: BUMP_LUA });
    this.redis = o.redis as RedisWithLeases;
    this.channel = `${o.prefix}pv:events`;
    this.channels = new ChannelSubscriber(o.subscriber);
    // A closed subscription may have missed invalidations: nothing held is trusted from now on.
    o.subscriber.on('close', () => this.lapse());
  }

  /** Subscribes, then heartbeats every quarter lease. */
  async start(): Promise<void> {
    const acks = await this.channels.listen(this.ackChannel(this.pod), { onMessage: (raw) => this.onAck(raw) });
    const events = await this.channels.listen(this.channel, {
      onMessage: (raw) => this.onEvent(raw),
      onResync: () => this.lapse(),
    });
    this.unlisten = async () => {
      await events();
      await acks();
    };
    this.timer = setInterval(() => void this.heartbeat(), Math.max(10, Math.floor(this.o.leaseMs / 4))).unref();
    void this.heartbeat();
  }

  /** The current epoch while the lease is held; null while it is not. */
  held(): number | null {
    return performance.now() < this.leaseUntil ? this.epoch : null;
  }

  /**
   * Sets the patient's new version and resolves once every pod holding a lease dropped what it
   * held of the patient, or its lease ran out. If Redis cannot be reached it rejects — after
   * waiting until every lease this pod could have heard of has lapsed since Redis last answered.
   */
  async bump(versionKey: string, version: string, ttlS: number, id: string): Promise<void> {
    this.bumps += 1;
    const seq = this.bumps;
    let resolve!: () => void;
    const done = new Promise<void>((r) => {
      resolve = r;
    });
    // Registered before the bump: an acknowledgement may come before the bump's own answer.
    const waiter: Waiter = { pods: null, acked: new Set(), resolve };
    this.waiting.set(seq, waiter);
    try {
      waiter.pods = await this.redis.snapshotBump(
        2,
        versionKey,
        this.registry,
        version,
        ttlS,
        this.channel,
        `i ${this.pod} ${seq} ${id}`,
      );
    } catch (error) {
      this.waiting.delete(seq);
      const wait = this.lastContact + this.o.leaseMs + CLOCK_MARGIN_MS - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      throw error;
    }
    this.lastContact = performance.now();
    if (this.complete(waiter)) return;
    const timeout = setTimeout(() => {
      const missing = (waiter.pods ?? []).filter((p) => !waiter.acked.has(p)).length;
      this.o.logger.warn({ pods: missing }, 'snapshot invalidation not acknowledged; waited out their leases');
      resolve();
    }, this.o.leaseMs + CLOCK_MARGIN_MS);
    await done;
    clearTimeout(timeout);
    this.waiting.delete(seq);
  }

  /** Stops heartbeating and leaves the registry, so writes stop waiting for this pod. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.lapse();
    await this.unlisten?.().catch(() => undefined);
    await this.redis.zrem(this.registry, this.pod).catch(() => undefined);
  }

  private complete(waiter: Waiter): boolean {
    if (!waiter.pods || !waiter.pods.every((p) => waiter.acked.has(p))) return false;
    waiter.resolve();
    return true;
  }

  private lapse(): void {
    this.leaseUntil = 0;
    this.epoch += 1;
  }

  private async heartbeat(): Promise<void> {
    if (this.closed) return;
    this.heartbeats += 1;
    const seq = this.heartbeats;
    const now = performance.now();
    // One not heard back within a lease can no longer extend it (the subscription is away).
    for (const [s, at] of this.sent) if (at < now - this.o.leaseMs) this.sent.delete(s);
    this.sent.set(seq, now);
    try {
      await this.redis.snapshotHeartbeat(
        1,
        this.registry,
        this.o.leaseMs,
        this.pod,
        this.channel,
        `h ${this.pod} ${seq}`,
      );
      this.lastContact = performance.now();
    } catch {
      // The lease runs out by itself; the next heartbeat tries again.
      this.sent.delete(seq);
    }
  }

  private onEvent(raw: string): void {
    const [kind, pod, seqText, id] = raw.split(' ');
    const seq = Number(seqText);
    if (kind === 'h' && pod === this.pod) {
      const sentAt = this.sent.get(seq);
      if (sentAt === undefined) return;
      for (const s of this.sent.keys()) if (s <= seq) this.sent.delete(s);
      const now = performance.now();
      // Ran out before this heartbeat came back: something in between may have been missed.
      if (now >= this.leaseUntil) this.epoch += 1;
      this.leaseUntil = Math.max(this.leaseUntil, sentAt + this.o.leaseMs);
      if (now >= this.leaseUntil) this.lapse();
    } else if (kind === 'i' && pod && id) {
      this.invalidate(id);
      if (pod === this.pod) this.acknowledge(seq, this.pod);
      else
        void this.redis.publish(this.ackChannel(pod), `${seq} ${this.pod}`).catch((error: unknown) => {
          this.o.logger.warn(errorFields(error), 'snapshot invalidation acknowledgement failed');
        });
    }
  }

  private onAck(raw: string): void {
    const [seqText, pod] = raw.split(' ');
    if (pod) this.acknowledge(Number(seqText), pod);
  }

  private acknowledge(seq: number, pod: string): void {
    const waiter = this.waiting.get(seq);
    if (!waiter) return;
    waiter.acked.add(pod);
    this.complete(waiter);
  }

  private ackChannel(pod: string): string {
    return `${this.o.prefix}pv:ack:${pod}`;
  }
}
