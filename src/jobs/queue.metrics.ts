import type { Registry } from 'prom-client';
import { sampledGauges } from '../lib/metrics.js';
import type { JetStreamQueue } from './queue.js';

/**
 * The diagnosis work queue's gauges, sampled from JetStream on scrape. Every pod reports the same
 * stream, so aggregate with max(), not sum().
 */
export function watchQueue(registry: Registry, queue: JetStreamQueue): void {
  sampledGauges(registry, () => queue.stats(), [
    {
      name: 'diagnosis_queue_pending_jobs',
      help: 'Diagnosis jobs in JetStream not yet delivered to a worker (the consumer lag).',
      value: (s) => s.pending,
    },
    {
      name: 'diagnosis_queue_ack_pending_jobs',
      help: 'Diagnosis jobs delivered to a worker and not yet acknowledged (running, or held by a dead worker until the ack wait).',
      value: (s) => s.ackPending,
    },
    {
      name: 'diagnosis_queue_redelivered_jobs',
      help: 'Unacknowledged diagnosis jobs that have been delivered more than once.',
      value: (s) => s.redelivered,
    },
    {
      name: 'diagnosis_dead_letter_jobs',
      help: 'Diagnosis jobs kept in the dead-letter stream.',
      value: (s) => s.deadLetters,
    },
  ]);
}
