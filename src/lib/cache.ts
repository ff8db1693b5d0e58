import { LRUCache } from 'lru-cache';
import type { Redis } from './redis.js';

/** The little a cache needs: batched reads and expiring writes of strings. */
export interface KeyValueCache {
  /** One round trip for all keys; a missing key is null. Rejects when the store is unreachable. */
  mget(keys: readonly string[]): Promise<(string | null)[]>;
  /** Writes every entry with its own time to live, in one round trip. */
  setMany(entries: readonly { key: string; value: string; ttlMs: number }[]): Promise<void>;
  /** For readiness: resolves when the store answers. */
  ping(): Promise<void>;
}

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

  async ping(): Promise<void> {}
}
