import { z } from 'zod';

/**
 * The diagnosis job contract shared by the API (which enqueues) and the worker (which consumes).
 * A job names the diagnosis only: everything else is read from Postgres by id, so a message
 * carries no patient data and a redelivered message always sees the current state.
 */
export const diagnosisJobSchema = z.object({
  diagnosisId: z.uuid(),
  /** When the API accepted the request (epoch ms), for queue-latency metrics. */
  requestedAt: z.number().int().positive(),
  /**
   * W3C trace context of the request that enqueued it (only when tracing), so the worker's span
   * joins the request's trace even when the relay publishes the row later. A malformed value is
   * dropped, never a reason to refuse a job.
   */
  traceparent: z
    .string()
    .regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/)
    .optional()
    .catch(undefined),
  tracestate: z.string().max(512).optional().catch(undefined),
});
export type DiagnosisJob = z.infer<typeof diagnosisJobSchema>;

/** JetStream names of one deployment, derived from its namespace (`NATS_NAMESPACE`). */
export interface JobNames {
  /** Work-queue stream holding pending jobs. */
  stream: string;
  subject: string;
  /** Durable pull consumer shared by every worker. */
  consumer: string;
  /** Stream receiving a copy of every job that ended FAILED. */
  deadLetterStream: string;
  deadLetterSubject: string;
}

export function jobNames(namespace: string): JobNames {
  const upper = namespace.toUpperCase().replace(/-/g, '_');
  return {
    stream: `${upper}_DIAGNOSIS_JOBS`,
    subject: `${namespace}.diagnosis.jobs`,
    consumer: `${namespace}-diagnosis-workers`,
    deadLetterStream: `${upper}_DIAGNOSIS_DLQ`,
    deadLetterSubject: `${namespace}.diagnosis.dlq`,
  };
}

/** Validates a job on publish and on consume. */
export function parseJob(value: unknown): DiagnosisJob {
  return diagnosisJobSchema.parse(value);
}
