import type { MikroORM } from '@mikro-orm/postgresql';
import { parseJob } from '../../jobs/diagnosis.job.js';
import type { JobQueue } from '../../jobs/queue.js';
import type { Logger } from '../../lib/logger.js';

const BATCH = 100;

/**
 * Hands outbox rows to the queue. Runs in every API pod: rows are claimed with
 * `FOR UPDATE SKIP LOCKED`, so pods never publish the same row at the same time, and a row is
 * deleted only after the queue stored the job — if a pod dies in between, another publishes it
 * again and JetStream's de-duplication (the diagnosis id as `Nats-Msg-Id`) drops the copy.
 * A request kicks the relay at once; a poll catches whatever a NATS outage or a crash left behind.
 */
export class OutboxRelay {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(
    private readonly orm: MikroORM,
    private readonly queue: JobQueue,
    private readonly logger: Logger,
    private readonly pollMs: number,
  ) {}

  start(): void {
    this.stopped = false;
    const tick = () => {
      this.kick();
      if (!this.stopped) this.timer = setTimeout(tick, this.pollMs);
    };
    this.timer = setTimeout(tick, this.pollMs);
  }

  /** Publishes pending rows now (coalesced with a run already under way). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .then(() => undefined)
      .catch((error: Error) => this.logger.warn({ err: { message: error.message } }, 'outbox relay failed'))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Publishes until the outbox is empty or the queue refuses; returns how many were published. */
  async drain(): Promise<number> {
    let published = 0;
    for (;;) {
      const done = await this.orm.em.fork().transactional(async (em) => {
        const rows = await em
          .getConnection()
          .execute<{ id: string; payload: unknown }[]>(
            'select id, payload from outbox_message order by created_at limit ? for update skip locked',
            [BATCH],
            'all',
            em.getTransactionContext(),
          );
        let sent = 0;
        for (const row of rows) {
          try {
            await this.queue.publish(parseJob(row.payload));
          } catch (error) {
            await em
              .getConnection()
              .execute(
                'update outbox_message set attempts = attempts + 1, last_error = ? where id = ?',
                [(error as Error).message.slice(0, 500), row.id],
                'run',
                em.getTransactionContext(),
              );
            return { sent, more: false };
          }
          await em
            .getConnection()
            .execute('delete from outbox_message where id = ?', [row.id], 'run', em.getTransactionContext());
          sent += 1;
        }
        return { sent, more: rows.length === BATCH };
      });
      published += done.sent;
      if (!done.more) return published;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
