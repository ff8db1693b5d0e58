import { Redis } from 'ioredis';

export type { Redis };

export interface RedisOptions {
  url: string;
  /** Prepended to every key (ioredis `keyPrefix`). */
  keyPrefix: string;
  /** Longest wait for one command; a slow Redis then counts as down instead of stalling requests. */
  commandTimeoutMs?: number;
}

/**
 * One shared, auto-pipelining connection for commands (cache, state). Commands issued in the same
 * tick go out as one pipeline, which is what makes a per-request DataLoader MGET cheap under load.
 * Without the offline queue, commands fail at once while disconnected rather than piling up.
 */
export async function connectRedis({ url, keyPrefix, commandTimeoutMs = 500 }: RedisOptions): Promise<Redis> {
  const redis = new Redis(url, {
    keyPrefix,
    lazyConnect: true,
    enableAutoPipelining: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  // Errors surface through the commands that fail; without a listener ioredis would log them raw.
  redis.on('error', () => undefined);
  await redis.connect();
  return redis;
}
