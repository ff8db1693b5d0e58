import type { Registry } from 'prom-client';
import { sampledGauges } from '../../lib/metrics.js';
import type { OutboxRelay } from './outbox.relay.js';

/** The outbox's gauges, sampled from Postgres on scrape (the same table on every pod: use max()). */
export function watchOutbox(registry: Registry, relay: OutboxRelay): void {
  sampledGauges(registry, () => relay.backlog(), [
    {
      name: 'outbox_pending_messages',
      help: 'Accepted diagnosis requests whose jobs wait in the Postgres outbox for NATS.',
      value: (s) => s.pending,
    },
    {
      name: 'outbox_oldest_message_age_seconds',
      help: 'Age of the oldest job waiting in the outbox (0 when none waits).',
      value: (s) => s.oldestAgeSeconds,
    },
  ]);
}
