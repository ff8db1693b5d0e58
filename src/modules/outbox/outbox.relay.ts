import type { MikroORM } from '@mikro-orm/postgresql';
import { type DiagnosisJob, parseJob } from '../../jobs/diagnosis.job.js';
import type { JobQueue } from '../../jobs/queue.js';
import { errorFields, type Logger } from '../../lib/logger.js';

const BATCH = 100;
/** The poll leaves younger rows to the request that wrote them (publishing twice is harmless, only wasteful). */
const FAST_PATH_GRACE_MS = 1_000;
/** Published rows are deleted in batches at most this long after publishing. */
const DELETE_BATCH_MS = 20;

/**
 * Hands outbox rows to the queue. The request that wrote a row publishes it at once, after its
 * answer, and deletes it ({@link publishNow}); a poll in every API pod publishes whatever that
 * left behind (NATS was down, the pod died) — rows claimed with `FOR UPDATE SKIP LOCKED`, so pods
 * never publish the same row at the same time. A row is deleted only after the queue stored the
 * job; when a job is published twice (fast path and poll, or a crash before the delete),
 * JetStream's de-duplication on the diagnosis id (`Nats-Msg-Id`) keeps one.
 */
export class OutboxRelay {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private readonly inFlight = new Set<Promise<void>>();
  /** Rows the fast path published, deleted together in one statement shortly after. */
  private readonly published: string[] = [];
  private deleting: NodeJS.Timeout | undefined;

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

  /** The fast path: publishes a just-committed job and deletes its row; a failure leaves it to the poll. */
  publishNow(job: DiagnosisJob): void {
    if (this.stopped) return;
    const work = this.queue.publish(job).then(
      () => this.deleteSoon(job.diagnosisId),
      (error: Error) => this.logger.warn(errorFields(error), 'job left in the outbox for the relay'),
    );
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  private deleteSoon(id: string): void {
    this.published.push(id);
    this.deleting ??= setTimeout(() => void this.deletePublished(), DELETE_BATCH_MS);
  }

  private async deletePublished(): Promise<void> {
    this.deleting = undefined;
    const ids = this.published.splice(0);
    if (ids.length === 0) return;
    try {
      await this.orm.em.getConnection().execute('delete from outbox_message where id in (?)', [ids], 'run');
    } catch (error) {
      // The rows stay; the poll publishes them again and JetStream drops the duplicates.
      this.logger.warn({ ...errorFields(error), rows: ids.length }, 'outbox cleanup failed');
    }
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
      .catch((error: Error) => this.logger.warn(errorFields(error), 'outbox relay failed'))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /**
   * Publishes the rows older than the fast path's usual delay, a batch at a time, concurrently,
   * until none are left or the queue refuses; returns how many were published.
   */
  async drain(): Promise<number> {
    let published = 0;
    for (;;) {
      const done = await this.orm.em.fork().transactional(async (em) => {
        const connection = em.getConnection();
        const tx = em.getTransactionContext();
        const rows = await connection.execute<{ id: string; payload: unknown }[]>(
          `select id, payload from outbox_message where created_at < ? order by created_at limit ? for update skip locked`,
          [new Date(Date.now() - FAST_PATH_GRACE_MS), BATCH],
          'all',
          tx,
        );
        if (rows.length === 0) return { sent: 0, more: false };
        const results = await Promise.allSettled(rows.map((row) => this.queue.publish(parseJob(row.payload))));
        const sent = rows.filter((_, i) => results[i]?.status === 'fulfilled').map((row) => row.id);
        const failed = rows.filter((_, i) => results[i]?.status === 'rejected').map((row) => row.id);
        if (sent.length > 0) await connection.execute('delete from outbox_message where id in (?)', [sent], 'run', tx);
        if (failed.length > 0) {
          const reason = (results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason as Error;
          await connection.execute(
            'update outbox_message set attempts = attempts + 1, last_error = ? where id in (?)',
            [String(reason?.message ?? reason).slice(0, 500), failed],
            'run',
            tx,
          );
        }
        return { sent: sent.length, more: failed.length === 0 && rows.length === BATCH };
      });
      published += done.sent;
      if (!done.more) return published;
    }
  }

  /** For metrics: rows waiting to be published, and how long the oldest has waited. */
  async backlog(): Promise<{ pending: number; oldestAgeSeconds: number }> {
    const [row] = await this.orm.em
      .getConnection()
      .execute<{ pending: number; age: number | null }[]>(
        'select count(*)::int as pending, extract(epoch from now() - min(created_at))::float8 as age from outbox_message',
      );
    return { pending: row?.pending ?? 0, oldestAgeSeconds: Math.max(0, row?.age ?? 0) };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await Promise.all(this.inFlight);
    clearTimeout(this.deleting);
    await this.deletePublished();
  }
}
