import { connectRedis } from '../../src/lib/redis.js';
import { RedisLiveState } from '../../src/modules/diagnosis/diagnosis.live.js';
import { lifecycleCases } from '../../src/modules/diagnosis/diagnosis.transitions.cases.js';
import { testEnv } from '../helpers/env.js';
import { deleteRedisKeys, uniqueRedisPrefix } from '../helpers/redis.js';

// The unit test's cases (src/modules/diagnosis/diagnosis.transitions.test.ts), on the real Lua
// compare-and-set and Redis pub/sub.
lifecycleCases('Redis', async () => {
  const prefix = uniqueRedisPrefix();
  const redis = await connectRedis({ url: testEnv.redisUrl, keyPrefix: prefix });
  const subscriber = await connectRedis({ url: testEnv.redisUrl, keyPrefix: prefix });
  const store = new RedisLiveState(redis, subscriber, prefix);
  return {
    store,
    close: async () => {
      await store.close();
      // The UNSUBSCRIBEs wait in ioredis' auto-pipeline until the next turn: let them go first.
      await new Promise((resolve) => setImmediate(resolve));
      subscriber.disconnect();
      redis.disconnect();
      await deleteRedisKeys(prefix);
    },
  };
});
