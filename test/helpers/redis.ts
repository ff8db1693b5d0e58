import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { testEnv } from './env.js';

/** A key prefix no other test run uses. */
export function uniqueRedisPrefix(): string {
  return `cc-test:${Date.now().toString(36)}${randomBytes(3).toString('hex')}:`;
}

/** Deletes the keys under `prefix` (only those: the Redis is shared with others). */
export async function deleteRedisKeys(prefix: string): Promise<void> {
  const redis = new Redis(testEnv.redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Keys currently under `prefix` (without it). */
export async function listRedisKeys(prefix: string): Promise<string[]> {
  const redis = new Redis(testEnv.redisUrl);
  try {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      found.push(...keys.map((k) => k.slice(prefix.length)));
    } while (cursor !== '0');
    return found;
  } finally {
    redis.disconnect();
  }
}

/** Waits until some connection (a pod's subscriber) is subscribed to `channel`. */
export async function waitForSubscriber(channel: string, timeoutMs = 10_000): Promise<void> {
  const redis = new Redis(testEnv.redisUrl);
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [, count] = (await redis.pubsub('NUMSUB', channel)) as [string, number];
      if (Number(count) > 0) return;
      if (Date.now() > deadline) throw new Error(`nobody subscribed to ${channel}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    redis.disconnect();
  }
}
