import type { IncomingMessage } from 'node:http';
import { isIPv6 } from 'node:net';
import {
  type IRateLimiterOptions,
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from 'rate-limiter-flexible';
import type { RateLimitConfig } from '../config.js';
import { errorFields, type Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { Redis } from './redis.js';

/**
 * The budgets: each clinician's operations, each client address's unauthenticated requests and
 * failed authentications, and each client address's WebSocket connection attempts.
 */
export type RateLimitScope = 'clinician' | 'ip' | 'ws_connect';

/** The answer to one request for points. */
export interface RateLimitDecision {
  readonly allowed: boolean;
  /** The budget of one window. */
  readonly limit: number;
  /** Points left in the current window (after this request, if it was allowed). */
  readonly remaining: number;
  /** Until the current window ends and the budget is whole again. */
  readonly resetMs: number;
  /** When refused: how long until a request of the same cost can pass (0 when allowed). */
  readonly retryAfterMs: number;
}

/**
 * Redis side of a consume, atomic: the window's counter grows only when the request fits, so a
 * refused request costs nothing — a flood that keeps retrying neither extends nor deepens its
 * block, and a cheaper request that still fits passes. (rate-limiter-flexible's own script adds
 * first and compares after, which charges refused requests.) It answers like that script,
 * `{points counted or wanted, ttl}`, so the library reports a refusal when the first exceeds
 * the limit. ARGV: points, window in seconds, limit.
 */
const CONSUME_IF_FITS_LUA = `redis.call('set', KEYS[1], 0, 'EX', ARGV[2], 'NX')
local wanted = tonumber(redis.call('get', KEYS[1])) + tonumber(ARGV[1])
if wanted <= tonumber(ARGV[3]) then redis.call('incrby', KEYS[1], ARGV[1]) end
local ttl = redis.call('pttl', KEYS[1])
if ttl == -1 then
  redis.call('expire', KEYS[1], ARGV[2])
  ttl = 1000 * ARGV[2]
end
return {wanted, ttl}`;

/**
 * The in-process limiter with the same rule: the memory store adds before comparing, so a refused
 * request gives its points straight back.
 */
class RefundingMemoryLimiter extends RateLimiterMemory {
  override async consume(key: string | number, points = 1, options?: { [key: string]: unknown }) {
    try {
      return await super.consume(key, points, options);
    } catch (refusal) {
      if (refusal instanceof RateLimiterRes) await this.reward(key, points, options);
      throw refusal;
    }
  }
}

export interface RateLimiterOptions {
  config: RateLimitConfig;
  /** The shared command connection (its key prefix applies); without it budgets are per process. */
  redis: Redis | undefined;
  metrics: Metrics;
  logger: Logger;
}

/**
 * A pod takes points from a shared budget in leases of 1/LEASE_SHARE of it (at least what the
 * request needs), and spends them locally until they run out or the window ends: one Redis round
 * trip per lease instead of one per request. The budget stays shared — Redis never grants more
 * than the limit in a window, whichever pods ask — but a pod may hold up to one lease it has not
 * spent, which other pods cannot use until the window ends. With budgets under LEASE_SHARE points
 * a lease is one request's points: exactly the per-request behaviour.
 */
export const LEASE_SHARE = 50;

/** Points this pod took from one key's window in Redis and has not spent yet. */
interface Lease {
  /** Unspent points. */
  left: number;
  /** The window's counter in Redis when the lease was last granted (all pods' grants). */
  counted: number;
  /** When the window ends (performance.now() time). */
  endsAt: number;
  /** A grant under way: other requests for the key wait for it instead of asking Redis too. */
  pending: Promise<void> | null;
  /**
   * The fewest points beyond `left` that Redis refused in this window (Infinity: none). A window's
   * counter only grows, so until it ends any request needing as many is refused here, without
   * asking again: a flood past its limit costs no Redis round trips.
   */
  refusedNeed: number;
}

/**
 * Fixed-window budgets shared by every pod through Redis (rate-limiter-flexible), taken in leases
 * (see {@link LEASE_SHARE}). If Redis fails, each pod falls back to an in-memory budget of the
 * same size (the library's insurance limiter): limits loosen to per pod for a while rather than
 * refusing every clinician or letting floods in.
 */
export class RateLimiter {
  private readonly limiters: Record<RateLimitScope, RateLimiterAbstract>;
  /** Only with Redis: in memory a lease would save nothing. Bounded by the keys seen in a window. */
  private readonly leases: Record<RateLimitScope, Map<string, Lease>> | null;

  constructor(private readonly options: RateLimiterOptions) {
    const { config, redis } = options;
    const duration = config.windowMs / 1000;
    const limiter = (scope: RateLimitScope, points: number): RateLimiterAbstract => {
      const base: IRateLimiterOptions = { keyPrefix: `rl:${scope}`, points, duration };
      const memory = new RefundingMemoryLimiter(base);
      if (!redis) return memory;
      return new RateLimiterRedis({
        ...base,
        storeClient: redis,
        // The connection has no offline queue: while it is down, go to the insurance at once.
        rejectIfRedisNotReady: true,
        customIncrTtlLuaScript: CONSUME_IF_FITS_LUA,
        insuranceLimiter: memory,
      });
    };
    this.limiters = {
      clinician: limiter('clinician', config.clinicianPoints),
      ip: limiter('ip', config.ipPoints),
      ws_connect: limiter('ws_connect', config.wsConnectPoints),
    };
    this.leases = redis ? { clinician: new Map(), ip: new Map(), ws_connect: new Map() } : null;
    if (this.leases) {
      // Ended windows' leases are worthless: drop them once a window, so idle keys cost nothing.
      const leases = this.leases;
      this.sweeper = setInterval(() => {
        const now = performance.now();
        for (const byKey of Object.values(leases))
          for (const [key, lease] of byKey) if (lease.endsAt <= now && !lease.pending) byKey.delete(key);
      }, config.windowMs);
      this.sweeper.unref();
    }
  }

  private readonly sweeper: NodeJS.Timeout | undefined;

  /**
   * Takes `points` from `key`'s budget in `scope` if they fit; a refused request takes nothing.
   * A broken limiter lets the request through (logged): limits protect the service, and must not
   * become the outage themselves.
   */
  async consume(scope: RateLimitScope, key: string, points: number): Promise<RateLimitDecision> {
    const limiter = this.limiters[scope];
    const limit = limiter.points;
    if (points <= 0) return { allowed: true, limit, remaining: limit, resetMs: 0, retryAfterMs: 0 };
    const leases = this.leases?.[scope];
    if (!leases) return this.consumeNow(scope, key, points);
    for (;;) {
      let lease = leases.get(key);
      const now = performance.now();
      if (lease && lease.endsAt <= now && !lease.pending) lease = undefined;
      if (lease && points - lease.left >= lease.refusedNeed && lease.endsAt > now) {
        this.options.metrics.rateLimitRejections.inc({ scope });
        const retryAfterMs = Math.max(1, lease.endsAt - now);
        const remaining = Math.max(0, limit - lease.counted + lease.left);
        return { allowed: false, limit, remaining, resetMs: retryAfterMs, retryAfterMs };
      }
      if (lease && lease.left >= points) {
        lease.left -= points;
        return {
          allowed: true,
          limit,
          remaining: Math.max(0, limit - lease.counted + lease.left),
          resetMs: lease.endsAt - now,
          retryAfterMs: 0,
        };
      }
      if (lease?.pending) {
        await lease.pending;
        continue;
      }
      return this.grow(scope, key, points, leases, lease);
    }
  }

  /** Asks Redis for a lease big enough for `points` (or exactly them, if a lease does not fit). */
  private async grow(
    scope: RateLimitScope,
    key: string,
    points: number,
    leases: Map<string, Lease>,
    current: Lease | undefined,
  ): Promise<RateLimitDecision> {
    const limiter = this.limiters[scope];
    const limit = limiter.points;
    const lease: Lease = current ?? { left: 0, counted: 0, endsAt: 0, pending: null, refusedNeed: Infinity };
    if (lease.endsAt <= performance.now()) {
      // The window has ended: whatever was left of it, and what it refused, no longer count.
      lease.left = 0;
      lease.refusedNeed = Infinity;
    }
    leases.set(key, lease);
    const need = points - lease.left;
    const size = Math.max(need, Math.floor(limit / LEASE_SHARE));
    let release = () => {};
    lease.pending = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      let granted = await this.take(limiter, key, size);
      if (granted instanceof RateLimiterRes && size > need) granted = await this.take(limiter, key, need);
      if (granted instanceof RateLimiterRes) {
        this.options.metrics.rateLimitRejections.inc({ scope });
        // Nothing was taken: the window has what its counter leaves, plus this pod's unspent points.
        const counted = granted.consumedPoints - need;
        const remaining = Math.max(0, limit - counted + lease.left);
        const retryAfterMs = Math.max(1, granted.msBeforeNext);
        lease.counted = counted;
        lease.endsAt = performance.now() + granted.msBeforeNext;
        lease.refusedNeed = Math.min(lease.refusedNeed, need);
        return { allowed: false, limit, remaining, resetMs: retryAfterMs, retryAfterMs };
      }
      if (granted === null) {
        // The limiter failed (logged in take): let the request through without touching the lease.
        return { allowed: true, limit, remaining: limit, resetMs: 0, retryAfterMs: 0 };
      }
      const now = performance.now();
      lease.left += granted.points - points;
      lease.counted = granted.counted;
      lease.endsAt = now + granted.msBeforeNext;
      return {
        allowed: true,
        limit,
        remaining: Math.max(0, limit - lease.counted + lease.left),
        resetMs: granted.msBeforeNext,
        retryAfterMs: 0,
      };
    } finally {
      lease.pending = null;
      release();
    }
  }

  /** One consume-if-fits: the grant, the refusal, or null when the limiter itself failed. */
  private async take(
    limiter: RateLimiterAbstract,
    key: string,
    points: number,
  ): Promise<{ points: number; counted: number; msBeforeNext: number } | RateLimiterRes | null> {
    try {
      const res = await limiter.consume(key, points);
      return { points, counted: res.consumedPoints, msBeforeNext: res.msBeforeNext };
    } catch (refusal) {
      if (refusal instanceof RateLimiterRes) return refusal;
      this.options.logger.warn({ ...errorFields(refusal) }, 'rate limiter failed');
      return null;
    }
  }

  /** Without Redis: the in-memory budget, request by request. */
  private async consumeNow(scope: RateLimitScope, key: string, points: number): Promise<RateLimitDecision> {
    const limiter = this.limiters[scope];
    const limit = limiter.points;
    try {
      const res = await limiter.consume(key, points);
      return { allowed: true, limit, remaining: res.remainingPoints, resetMs: res.msBeforeNext, retryAfterMs: 0 };
    } catch (refusal) {
      if (!(refusal instanceof RateLimiterRes)) {
        this.options.logger.warn({ ...errorFields(refusal), scope }, 'rate limiter failed');
        return { allowed: true, limit, remaining: limit, resetMs: 0, retryAfterMs: 0 };
      }
      this.options.metrics.rateLimitRejections.inc({ scope });
      // Nothing was taken, so the remaining points are what the window has left.
      const remaining = Math.max(0, limit - (refusal.consumedPoints - points));
      // At least a millisecond: "retry after 0" would invite a busy loop at the window's edge.
      const retryAfterMs = Math.max(1, refusal.msBeforeNext);
      return { allowed: false, limit, remaining, resetMs: retryAfterMs, retryAfterMs };
    }
  }

  /** Stops the lease sweeper (shutdown). */
  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
  }
}

/**
 * The address a request's budget is keyed by: the socket's peer, or — only when `trustProxy` says
 * a proxy in front of us sets it — the first `X-Forwarded-For` hop. IPv4-mapped IPv6 addresses are
 * unwrapped; other IPv6 addresses count by their /64, which one client can rotate through freely.
 */
export function clientIp(req: IncomingMessage | undefined, trustProxy: boolean): string {
  let address: string | undefined;
  if (trustProxy) {
    const header = req?.headers['x-forwarded-for'];
    const first = (Array.isArray(header) ? header[0] : header)?.split(',', 1)[0]?.trim();
    if (first) address = first;
  }
  address ??= req?.socket.remoteAddress ?? 'unknown';
  return normaliseIp(address);
}

export function normaliseIp(address: string): string {
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:') && lower.includes('.')) return lower.slice('::ffff:'.length);
  if (!isIPv6(lower)) return lower;
  return `${expandIPv6(lower).slice(0, 4).join(':')}::/64`;
}

function expandIPv6(address: string): string[] {
  const [head = '', tail] = address.split('%', 1)[0]?.split('::') ?? [];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const zeros = Array.from({ length: Math.max(0, 8 - left.length - right.length) }, () => '0');
  return [...left, ...(tail === undefined ? [] : zeros), ...right].map((group) => group.replace(/^0+(?=.)/, ''));
}
