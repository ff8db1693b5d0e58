import { Counter, Histogram } from 'prom-client';
import { ProcessMetrics } from '../src/lib/metrics.js';

/** What one diagnosis job delivery came to, as the worker's handler reports it. */
export type JobOutcome = 'completed' | 'failed' | 'retried' | 'cancelled' | 'released' | 'skipped' | 'error';

/** The worker's registry, served on WORKER_HEALTH_PORT. */
export class WorkerMetrics extends ProcessMetrics {
  readonly jobs: Counter<'outcome'>;
  readonly jobDuration: Histogram<'outcome'>;

  constructor() {
    super();
    this.jobs = new Counter({
      name: 'diagnosis_jobs_total',
      help: 'Diagnosis job deliveries handled, by outcome: completed, failed (last attempt), retried (nak with back-off), cancelled (by a clinician, or superseded), released (nak on shutdown), skipped (already finished or unknown), error (handler crashed; redelivered after the ack wait).',
      labelNames: ['outcome'],
      registers: [this.registry],
    });
    this.jobDuration = new Histogram({
      name: 'diagnosis_job_duration_seconds',
      help: 'Time a worker spent on one delivery of a diagnosis job, by outcome.',
      labelNames: ['outcome'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers: [this.registry],
    });
  }

  /** Counts one handled delivery. */
  job(outcome: JobOutcome, seconds: number): void {
    this.jobs.inc({ outcome });
    this.jobDuration.observe({ outcome }, seconds);
  }
}
