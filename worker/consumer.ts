import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from '../src/config.js';
import type { Consumption, JobQueue } from '../src/jobs/queue.js';
import type { Logger } from '../src/lib/logger.js';
import type { JobOutcome, WorkerMetrics } from '../src/lib/metrics.js';
import { noTracing, type Tracing } from '../src/lib/tracing.js';
import type { LiveStateStore } from '../src/modules/diagnosis/diagnosis.live.js';
import { handleDiagnosisJob } from './handlers/diagnose.handler.js';
import { traceJob } from './handlers/diagnose.tracing.js';
import { OpenAiProvider } from './llm/openai.provider.js';
import type { DiagnosisProvider } from './llm/provider.js';
import { RulesProvider } from './llm/rules.provider.js';

/** The configured provider. There is no fallback: a failing `openai` provider fails its jobs. */
export function createProvider(config: Config): DiagnosisProvider {
  if (config.llm.provider === 'openai') {
    return new OpenAiProvider({
      baseUrl: config.llm.baseUrl as string,
      model: config.llm.model as string,
      apiKey: config.llm.apiKey,
    });
  }
  return new RulesProvider({ chunkDelayMs: config.worker.rulesChunkDelayMs });
}

export interface WorkerParts {
  config: Config;
  orm: MikroORM;
  live: LiveStateStore;
  queue: JobQueue;
  logger: Logger;
  provider?: DiagnosisProvider;
  /** A span per job, continuing the trace of the request that enqueued it (off when absent). */
  tracing?: Tracing;
  /** Counts jobs by outcome and times them (the worker's `/metrics`). */
  metrics?: WorkerMetrics;
}

export interface RunningWorker {
  /** Stops taking jobs, releases (naks) the ones under way, and resolves when their handlers returned. */
  stop(): Promise<void>;
}

/** Consumes diagnosis jobs until stopped: the loop of `npm run start:worker`, and of `npm start`. */
export function startConsumer(parts: WorkerParts): RunningWorker {
  const shutdown = new AbortController();
  const provider = parts.provider ?? createProvider(parts.config);
  const tracing = parts.tracing ?? noTracing;
  const consumption: Consumption = parts.queue.consume(parts.config.worker.concurrency, (message) => {
    const started = performance.now();
    return traceJob(tracing, handleDiagnosisJob, message, {
      orm: parts.orm,
      live: parts.live,
      queue: parts.queue,
      provider,
      logger: parts.logger,
      maxDeliver: parts.config.jobs.maxDeliver,
      retryDelayMs: parts.config.jobs.retryDelayMs,
      ackWaitMs: parts.config.jobs.ackWaitMs,
      shutdown: shutdown.signal,
    })
      .catch((error: Error): JobOutcome => {
        // A bug or an outage of Postgres/Redis: leave the message unacknowledged for redelivery.
        parts.logger.error(
          { err: { message: error.message }, diagnosisId: message.job.diagnosisId },
          'job handler failed',
        );
        return 'error';
      })
      .then((outcome) => parts.metrics?.job(outcome, (performance.now() - started) / 1_000));
  });
  parts.logger.info(
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
