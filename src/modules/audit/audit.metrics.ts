import { Counter, type Registry } from 'prom-client';
import type { AuditLog } from './audit.service.js';

/**
 * The group commit's batching, read at scrape time: events ÷ writes is how many reads shared one
 * durable write (one stream append, or one INSERT without NATS).
 */
export function watchAudit(registry: Registry, log: AuditLog): void {
  const counter = (name: string, help: string, value: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(value());
      },
    });
  counter(
    'audit_writes_total',
    'Durable writes of read audit events (stream appends or direct INSERTs).',
    () => log.stats.writes,
  );
  counter('audit_events_total', 'Read audit events made durable.', () => log.stats.events);
}
