import { connectRedis } from '../../src/lib/redis.js';
import { RedisLiveFeed, RedisLiveStateWriter } from '../../src/modules/diagnosis/diagnosis.live.js';
import { lifecycleCases } from '../../src/modules/diagnosis/diagnosis.transitions.cases.js';
import { testEnv } from '../helpers/env.js';
import { deleteRedisKeys, uniqueRedisPrefix } from '../helpers/redis.js';

// The unit test's cases (src/modules/diagnosis/diagnosis.transitions.test.ts), on the real Lua
// compare-and-set and Redis pub/sub.
lifecycleCases('Redis', async () => {
  const prefix = uniqueRedisPrefix();
  const redis = await connectRedis({ url: testEnv.redisUrl, keyPrefix: prefix });
  const subscriber = await connectRedis({ url: testEnv.redisUrl, keyPrefix: prefix });
  const writer = new RedisLiveStateWriter(redis, prefix);
  const feed = new RedisLiveFeed(subscriber, prefix);
  return {
    store: {
      get: (ids) => writer.get(ids),
      change: (id, precondition, patch, seed) => writer.change(id, precondition, patch, seed),
      announce: (view) => writer.announce(view),
      listen: (channel, onView, onResync) => feed.listen(channel, onView, onResync),
      channelOfDiagnosis: (id) => feed.channelOfDiagnosis(id),
      channelOfPatient: (patientId) => feed.channelOfPatient(patientId),
    },
    close: async () => {
      // The UNSUBSCRIBEs wait in ioredis' auto-pipeline until the next turn: let them go first.
      await new Promise((resolve) => setImmediate(resolve));
      subscriber.disconnect();
      redis.disconnect();
      await deleteRedisKeys(prefix);
    },
  };
});
