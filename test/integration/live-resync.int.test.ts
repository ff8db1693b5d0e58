import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, type Redis as RedisClient } from '../../src/lib/redis.js';
import { RedisLiveFeed } from '../../src/modules/diagnosis/diagnosis.live.js';
import type { DiagnosisView } from '../../src/modules/diagnosis/diagnosis.view.js';
import { uniqueRedisPrefix } from '../helpers/redis.js';
import { eventually, type OwnServer, startOwnRedis } from '../helpers/services.js';

/**
 * The live store's pub/sub across a Redis outage (this file's own redis-server, stopped and
 * started): a listener survives it, one added while Redis is away is not refused, and each is told
 * to re-read once its channel is subscribed again (what was published meanwhile never arrives).
 */
describe('live-state subscriptions across a Redis outage', () => {
  let server: OwnServer;
  let redis: RedisClient;
  let subscriber: RedisClient;
  let live: RedisLiveFeed;
  const prefix = uniqueRedisPrefix();

  beforeAll(async () => {
    server = await startOwnRedis();
    redis = await connectRedis({ url: server.url, keyPrefix: prefix });
    subscriber = await connectRedis({ url: server.url, keyPrefix: prefix });
    live = new RedisLiveFeed(subscriber, prefix);
  });
  afterAll(async () => {
    subscriber?.disconnect();
    redis?.disconnect();
    await server?.dispose();
  });

  const view = (id: string, version: number) => ({ id, version }) as unknown as DiagnosisView;
  /** Publishes on a connection of its own (as another pod or a worker would), once Redis answers again. */
  const publish = async (channel: string, message: DiagnosisView) => {
    const other = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await other.connect();
      await other.publish(channel, JSON.stringify(message));
    } finally {
      other.disconnect();
    }
  };

  it('re-reads after the outage, and delivers again, on a channel subscribed before and one added during it', async () => {
    const before = live.channelOfDiagnosis('before');
    const during = live.channelOfDiagnosis('during');
    const got: Record<string, number[]> = { before: [], during: [] };
    const resyncs = { before: 0, during: 0 };
    const stopBefore = await live.listen(
      before,
      (v) => got.before?.push(v.version),
      () => {
        resyncs.before += 1;
      },
    );
    await publish(before, view('before', 1));
    await eventually(
      async () => got.before,
      (versions) => versions?.includes(1) === true,
    );

    await server.stop();
    // Added while Redis is down: registered, not refused.
    const stopDuring = await live.listen(
      during,
      (v) => got.during?.push(v.version),
      () => {
        resyncs.during += 1;
      },
    );
    await server.start();

    await eventually(
      async () => resyncs,
      (r) => r.before > 0 && r.during > 0,
      { what: 'both listeners resynced' },
    );
    // Subscribed again: what is published now arrives.
    await publish(before, view('before', 2));
    await publish(during, view('during', 1));
    await eventually(
      async () => got,
      (g) => g.before?.includes(2) === true && g.during?.includes(1) === true,
      {
        what: 'deliveries after the outage',
      },
    );
    expect(got).toEqual({ before: [1, 2], during: [1] });
    expect(resyncs.before).toBeGreaterThanOrEqual(1);
    await stopBefore();
    await stopDuring();
  }, 60_000);
});
