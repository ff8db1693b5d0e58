import { type ChildProcess, spawn } from 'node:child_process';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { loadConfig } from '../../src/config.js';
import { openCore } from '../../src/core.js';
import type { JetStreamQueue } from '../../src/jobs/queue.js';
import { createLogger } from '../../src/lib/logger.js';
import { RedisLiveStateWriter } from '../../src/modules/diagnosis/diagnosis.live.js';
import { startConsumer } from '../../worker/consumer.js';
import type { DiagnosisProvider } from '../../worker/llm/provider.js';
import { WorkerMetrics } from '../../worker/metrics.js';
import { testEnv } from './env.js';
import type { TestApi } from './server.js';

export interface WorkerTarget {
  databaseUrl: string;
  redisKeyPrefix: string;
  natsNamespace: string;
  natsUrl?: string;
}

export const targetOf = (api: TestApi, natsUrl?: string): WorkerTarget => ({
  databaseUrl: api.db.url,
  redisKeyPrefix: api.redisKeyPrefix,
  natsNamespace: api.natsNamespace,
  ...(natsUrl ? { natsUrl } : {}),
});

function workerEnv(target: WorkerTarget, env: Record<string, string>): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: target.databaseUrl,
    DATABASE_POOL_SIZE: '4',
    REDIS_URL: testEnv.redisUrl,
    REDIS_KEY_PREFIX: target.redisKeyPrefix,
    NATS_URL: target.natsUrl ?? testEnv.natsUrl,
    NATS_NAMESPACE: target.natsNamespace,
    RULES_CHUNK_DELAY_MS: '20',
    JOB_RETRY_DELAY_MS: '50',
    WORKER_HEALTH_PORT: '0',
    ...env,
  };
}

export interface TestWorker {
  queue: JetStreamQueue;
  stop(): Promise<void>;
}

/**
 * A diagnosis worker in this process, against an API's database, Redis prefix and namespace;
 * with `spanExporter`, its jobs are traced into that exporter.
 */
export async function startTestWorker(
  target: WorkerTarget,
  env: Record<string, string> = {},
  provider?: DiagnosisProvider,
  spanExporter?: SpanExporter,
): Promise<TestWorker> {
  const config = loadConfig(workerEnv(target, env), 'worker');
  const metrics = new WorkerMetrics();
  // The worker's own wiring, with a silent logger and, for tracing tests, an in-memory exporter.
  const { orm, redis, queue, tracing, logger, stores, closers } = await openCore(config, {
    role: 'worker',
    storeGauge: metrics.storeUp,
    logger: createLogger({ level: 'silent' }),
    connectionName: 'test-worker',
    ...(spanExporter ? { spanExporter } : {}),
  });
  const live = new RedisLiveStateWriter(redis, target.redisKeyPrefix);
  const running = startConsumer({
    config,
    orm,
    live,
    queue,
    logger,
    tracing,
    metrics,
    stores,
    ...(provider ? { provider } : {}),
  });
  return {
    queue,
    stop: async () => {
      await running.stop();
      await closers.close();
    },
  };
}

/**
 * `npm run start:worker`'s program (from the TypeScript sources) as a child process. With `logs`,
 * its stdout (the JSON log) is piped too — the caller must then read it, or the worker blocks.
 */
export function spawnWorker(
  target: WorkerTarget,
  env: Record<string, string> = {},
  { logs = false }: { logs?: boolean } = {},
): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], {
    cwd: new URL('../..', import.meta.url).pathname,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...workerEnv(target, env) },
    stdio: ['ignore', logs ? 'pipe' : 'ignore', 'pipe'],
  });
}
