import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from '../src/config.js';
import type { Consumption, JobMessage, JobQueue } from '../src/jobs/queue.js';
import { errorFields, type Logger } from '../src/lib/logger.js';
import type { StoreMonitor } from '../src/lib/store-health.js';
import { noTracing, type Tracing } from '../src/lib/tracing.js';
import type { LiveStateWriter } from '../src/modules/diagnosis/diagnosis.live.js';
import { handleDiagnosisJob } from './handlers/diagnose.handler.js';
import { traceJob } from './handlers/diagnose.tracing.js';
import { OpenAiProvider } from './llm/openai.provider.js';
import type { DiagnosisProvider } from './llm/provider.js';
import { RulesProvider } from './llm/rules.provider.js';
import type { JobOutcome, WorkerMetrics } from './metrics.js';

/** The configured provider. There is no fallback: a failing `openai` provider fails its jobs. */
export function createProvider(config: Config): DiagnosisProvider {
  if (config.llm.provider === 'openai') {
    return new OpenAiProvider({
      baseUrl: config.llm.baseUrl,
      model: config.llm.model,
      apiKey: config.llm.apiKey,
      structuredOutput: config.llm.structuredOutput,
    });
  }
  return new RulesProvider({ chunkDelayMs: config.worker.rulesChunkDelayMs });
}

export interface WorkerParts {
  config: Config;
  orm: MikroORM;
  live: LiveStateWriter;
  queue: JobQueue;
  logger: Logger;
  provider?: DiagnosisProvider;
  /** A span per job, continuing the trace of the request that enqueued it (off when absent). */
  tracing?: Tracing;
  /** Counts jobs by outcome and times them (the worker's `/metrics`). */
  metrics?: WorkerMetrics;
  /**
   * PostgreSQL, Redis and NATS as this worker reaches them. With it, the worker pulls no job while
   * one is down, and holds a job whose run an outage broke until the store is back (see
   * {@link startConsumer}); without it (`npm start`'s in-process stores) neither can happen.
   */
  stores?: StoreMonitor;
}

export interface RunningWorker {
  /** Stops taking jobs, releases (naks) the ones under way, and resolves when their handlers returned. */
  stop(): Promise<void>;
}

/**
 * Consumes diagnosis jobs until stopped: the loop of `npm run start:worker`, and of `npm start`.
 *
 * Store outages spend no attempt. A job's attempts are counted by its JetStream delivery (the
 * handler's last attempt is delivery `JOB_MAX_DELIVER`), so giving a job back (nak) because a
 * store is down would spend one, and an outage longer than the back-off budget would fail jobs
 * that never ran. Instead: while any store is down the worker pulls nothing, and a job whose run
 * was broken by an outage is *held* — its ack-wait clock kept running with `working()` — until
 * every store answers, then run again on the same delivery. Only a shutdown gives it back.
 */
export function startConsumer(parts: WorkerParts): RunningWorker {
  const shutdown = new AbortController();
  const provider = parts.provider ?? createProvider(parts.config);
  const tracing = parts.tracing ?? noTracing;
  const { stores, logger } = parts;
  const runOnce = (message: JobMessage): Promise<JobOutcome> =>
    traceJob(tracing, handleDiagnosisJob, message, {
      orm: parts.orm,
      live: parts.live,
      queue: parts.queue,
      provider,
      logger,
      maxDeliver: parts.config.jobs.maxDeliver,
      retryDelayMs: parts.config.jobs.retryDelayMs,
      ackWaitMs: parts.config.jobs.ackWaitMs,
      shutdown: shutdown.signal,
    });
  const run = async (message: JobMessage): Promise<JobOutcome> => {
    const diagnosisId = message.job.diagnosisId;
    for (;;) {
      const outagesBefore = stores?.outages ?? 0;
      try {
        return await runOnce(message);
      } catch (error) {
        // Did a store go down during the run (even briefly), or is one down now?
        const outage = stores && (stores.outages !== outagesBefore || !(await stores.checkNow()));
        if (!outage || shutdown.signal.aborted) {
          // A bug, or stopping: leave the message unacknowledged; JetStream redelivers it after the ack wait.
          logger.error({ ...errorFields(error), diagnosisId }, 'job handler failed');
          return 'error';
        }
        logger.warn(
          { ...errorFields(error), diagnosisId, down: stores.down() },
          'job held: a store is down; it runs again when every store is back',
        );
        const held = await hold(message, stores, shutdown.signal, parts.config.jobs.ackWaitMs);
        if (!held) {
          message.nak(0);
          return 'released';
        }
      }
    }
  };
  const consumption: Consumption = parts.queue.consume(
    parts.config.worker.concurrency,
    (message) => {
      const started = performance.now();
      return run(message).then((outcome) => parts.metrics?.job(outcome, (performance.now() - started) / 1_000));
    },
    stores ? { beforePull: () => stores.waitUntilUp(shutdown.signal) } : {},
  );
  logger.info(
    { provider: provider.name, model: provider.model, concurrency: parts.config.worker.concurrency },
    'worker consuming',
  );
  return {
    stop: async () => {
      shutdown.abort(new Error('worker shutting down'));
      await consumption.stop();
    },
  };
}

/**
 * Keeps a job's delivery alive (so JetStream does not hand it to another worker) until every store
 * answers — true — or the worker is stopping — false.
 */
async function hold(message: JobMessage, stores: StoreMonitor, stopping: AbortSignal, ackWaitMs: number) {
  const alive = () => {
    try {
      message.working();
    } catch {
      // NATS itself is down: the heartbeat is lost, and JetStream may redeliver the job later; the
      // claim's compare-and-set then lets only one of the two runs finish it.
    }
  };
  const heartbeat = setInterval(alive, Math.max(1_000, ackWaitMs / 3));
  try {
    alive();
    await stores.waitUntilUp(stopping);
    return !stopping.aborted;
  } finally {
    clearInterval(heartbeat);
  }
}
