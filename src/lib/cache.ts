import { LRUCache } from 'lru-cache';
import type { Redis } from './redis.js';

/** The little a cache needs: batched reads and expiring writes of strings. */
export interface KeyValueCache {
  /** One round trip for all keys; a missing key is null. Rejects when the store is unreachable. */
  mget(keys: readonly string[]): Promise<(string | null)[]>;
  /** Writes every entry with its own time to live, in one round trip. */
  setMany(entries: readonly { key: string; value: string; ttlMs: number }[]): Promise<void>;
  /**
   * Claims each key for `ttlMs` with `token`, unless another holder has it: whether each was
   * claimed. One round trip. A claim expires by itself, so a holder that dies releases it.
   */
  claim(keys: readonly string[], token: string, ttlMs: number): Promise<boolean[]>;
  /** Releases the keys `token` still holds (never another holder's claim). One round trip. */
  release(keys: readonly string[], token: string): Promise<void>;
  /** For readiness: resolves when the store answers. */
  ping(): Promise<void>;
}

/** Deletes a claim only if it still holds this token: an expired one may already be another's. */
const RELEASE_SCRIPT = `
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 0
`;

/** The cache of a stateless pod: Redis, shared by every pod. */
export class RedisCache implements KeyValueCache {
  constructor(private readonly redis: Redis) {}

  async mget(keys: readonly string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return [];
    return this.redis.mget(...keys);
  }

  async setMany(entries: readonly { key: string; value: string; ttlMs: number }[]): Promise<void> {
    if (entries.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const { key, value, ttlMs } of entries) pipeline.set(key, value, 'PX', Math.max(1, Math.round(ttlMs)));
    const results = await pipeline.exec();
    const failed = results?.find(([error]) => error);
    if (failed?.[0]) throw failed[0];
  }

  async claim(keys: readonly string[], token: string, ttlMs: number): Promise<boolean[]> {
    if (keys.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const key of keys) pipeline.set(key, token, 'PX', Math.max(1, Math.round(ttlMs)), 'NX');
    const results = (await pipeline.exec()) ?? [];
    return keys.map((_, i) => {
      const [error, answer] = results[i] ?? [new Error('no answer')];
      if (error) throw error;
      return answer === 'OK';
    });
  }

  async release(keys: readonly string[], token: string): Promise<void> {
    if (keys.length === 0) return;
    await this.redis.eval(RELEASE_SCRIPT, keys.length, ...keys, token);
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }
}

/** The embedded mode's cache (`npm start` without REDIS_URL): an in-process LRU with per-entry TTL. */
export class MemoryCache implements KeyValueCache {
  private readonly lru: LRUCache<string, string>;

  constructor(maxEntries = 50_000) {
    this.lru = new LRUCache<string, string>({ max: maxEntries, ttlAutopurge: false });
  }

  async mget(keys: readonly string[]): Promise<(string | null)[]> {
    return keys.map((key) => this.lru.get(key) ?? null);
  }

  async setMany(entries: readonly { key: string; value: string; ttlMs: number }[]): Promise<void> {
    for (const { key, value, ttlMs } of entries) this.lru.set(key, value, { ttl: ttlMs });
  }

  async claim(keys: readonly string[], token: string, ttlMs: number): Promise<boolean[]> {
    return keys.map((key) => {
      if (this.lru.has(key)) return false;
      this.lru.set(key, token, { ttl: ttlMs });
      return true;
    });
  }

  async release(keys: readonly string[], token: string): Promise<void> {
    for (const key of keys) if (this.lru.get(key) === token) this.lru.delete(key);
  }

  async ping(): Promise<void> {}
}
