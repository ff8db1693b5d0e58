import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/lib/logger.js';
import { connectRedis, type Redis } from '../../src/lib/redis.js';
import { RedisLiveFeed } from '../../src/modules/diagnosis/diagnosis.live.js';
import { RedisCareTeamEvents } from '../../src/modules/patient/care-team.events.js';
import { uniqueRedisPrefix } from '../helpers/redis.js';
import { eventually, type OwnServer, startOwnRedis } from '../helpers/services.js';

/**
 * Care-team removals on a pod's pub/sub connection (this file's own redis-server, stopped and
 * started): in publish order with the diagnosis events sharing that connection, and across an
 * outage — a listener added while Redis is away is not refused, and each is told to check again
 * once Redis is back (a removal announced meanwhile never arrives).
 */
describe('care-team removal events', () => {
  let server: OwnServer;
  let redis: Redis;
  let subscriber: Redis;
  let events: RedisCareTeamEvents;
  let live: RedisLiveFeed;
  const prefix = uniqueRedisPrefix();
  const warnings: string[] = [];

  beforeAll(async () => {
    server = await startOwnRedis();
    redis = await connectRedis({ url: server.url, keyPrefix: prefix });
    subscriber = await connectRedis({ url: server.url, keyPrefix: prefix });
    const logger = createLogger({
      level: 'warn',
      destination: { write: (line: string) => warnings.push((JSON.parse(line) as { msg: string }).msg) },
    });
    events = new RedisCareTeamEvents(redis, subscriber, prefix, logger);
    live = new RedisLiveFeed(subscriber, prefix);
  });
  afterAll(async () => {
    subscriber?.disconnect();
    redis?.disconnect();
    await server?.dispose();
  });

  it('arrives in publish order with the diagnosis events of the same connection', async () => {
    const seen: string[] = [];
    const stopRemovals = await events.listen('p-order', (clinician) => seen.push(`removed ${clinician}`));
    const channel = live.channelOfPatient('p-order');
    const stopViews = await live.listen(channel, (view) => seen.push(`v${view.version}`));
    const view = (version: number) => JSON.stringify({ id: 'd', patientId: 'p-order', version });
    // Interleaved on one publishing connection, as a removal then a worker's change would be.
    for (let i = 1; i <= 20; i++) {
      await redis.publish(channel, view(i));
      if (i % 5 === 0) await events.removed('p-order', `dr-${i}`);
    }
    await eventually(
      async () => seen.length,
      (n) => n === 24,
    );
    const expected = Array.from({ length: 20 }, (_, i) => [
      `v${i + 1}`,
      ...((i + 1) % 5 === 0 ? [`removed dr-${i + 1}`] : []),
    ]);
    expect(seen).toEqual(expected.flat());
    await stopViews();
    await stopRemovals();
  });

  it('hears removals after an outage, on a listener from before it and one added during it, and asks for a re-check', async () => {
    const heard: Record<string, string[]> = { before: [], during: [] };
    const resyncs = { before: 0, during: 0 };
    const stopBefore = await events.listen(
      'p-before',
      (c) => heard.before?.push(c),
      () => {
        resyncs.before += 1;
      },
    );
    await server.stop();
    const stopDuring = await events.listen(
      'p-during',
      (c) => heard.during?.push(c),
      () => {
        resyncs.during += 1;
      },
    );
    // Announcing while Redis is down is lost, and logged: the removal itself stands (it is in
    // PostgreSQL), and listeners re-check access when Redis returns — which they are asked to below.
    await events.removed('p-before', 'dr-lost');
    expect(warnings).toEqual(['care-team removal not announced (redis): subscriptions re-check']);
    await server.start();
    await eventually(
      async () => resyncs,
      (r) => r.before > 0 && r.during > 0,
      { what: 'both listeners told to re-check' },
    );
    await eventually(
      async () => {
        await events.removed('p-before', 'dr-x');
        await events.removed('p-during', 'dr-y');
        return heard;
      },
      (h) => h.before?.includes('dr-x') === true && h.during?.includes('dr-y') === true,
      { what: 'removals heard after the outage' },
    );
    expect(heard.before).not.toContain('dr-lost');
    await stopBefore();
    await stopDuring();
    expect(await redis.pubsub('CHANNELS', `${prefix}care-team-removed:*`)).toEqual([]);
  });
});
