import type { Gauge } from 'prom-client';
import { type HealthCheck, runCheck } from '../http/health.js';
import type { Logger } from './logger.js';

export interface StoreMonitorOptions {
  /** Between the end of one round of checks and the start of the next. */
  intervalMs: number;
  /** Longest wait for one check (a hung store counts as down). */
  timeoutMs: number;
  logger: Logger;
  /** `store_up{store}`: 1 while the store answers, 0 while it does not. */
  gauge?: Gauge<'store'>;
}

/**
 * Which shared stores (PostgreSQL, Redis, NATS) this process can reach right now, probed in the
 * background. It is what says *which* store is down — one log line when a store goes and one when
 * it comes back, and the `store_up` gauge — and what the worker waits on before it pulls a job.
 */
export class StoreMonitor {
  private readonly up = new Map<string, boolean>();
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private stopped = true;
  private waiters: (() => void)[] = [];
  private downCount = 0;

  constructor(
    private readonly checks: readonly HealthCheck[],
    private readonly options: StoreMonitorOptions,
  ) {
    // Until the first round says otherwise, assume what start-up just proved: every store answered.
    for (const { name } of checks) {
      this.up.set(name, true);
      options.gauge?.set({ store: name }, 1);
    }
  }

  /** Starts probing (a first round at once). */
  start(): this {
    if (!this.stopped) return this;
    this.stopped = false;
    void this.probe();
    return this;
  }

  /** The stores that did not answer the last probe. */
  down(): string[] {
    return [...this.up].filter(([, ok]) => !ok).map(([name]) => name);
  }

  get allUp(): boolean {
    return this.down().length === 0;
  }

  /**
   * How many times a store has gone down since start: a caller that reads it before some work and
   * after can tell whether an outage happened meanwhile, even one already over.
   */
  get outages(): number {
    return this.downCount;
  }

  /** Probes now (joining a round under way) and answers whether every store answered. */
  async checkNow(): Promise<boolean> {
    if (this.stopped) return this.allUp;
    clearTimeout(this.timer);
    await (this.round ?? this.probe());
    return this.allUp;
  }

  /** Resolves once every store answers (at once if they do), or when `signal` aborts. */
  waitUntilUp(signal?: AbortSignal): Promise<void> {
    if (this.allUp || signal?.aborted || this.stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      this.waiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const wake of this.waiters.splice(0)) wake();
  }

  private probe(): Promise<void> {
    const round = (async () => {
      const results = await Promise.all(this.checks.map((c) => runCheck(c, this.options.timeoutMs)));
      this.checks.forEach(({ name }, i) => {
        this.record(name, results[i]?.ok === true, results[i]?.error);
      });
      if (this.allUp) for (const wake of this.waiters.splice(0)) wake();
    })().finally(() => {
      this.round = undefined;
      if (!this.stopped) this.timer = setTimeout(() => void this.probe(), this.options.intervalMs);
    });
    this.round = round;
    return round;
  }

  private record(name: string, ok: boolean, error: string | undefined): void {
    const was = this.up.get(name);
    this.up.set(name, ok);
    this.options.gauge?.set({ store: name }, ok ? 1 : 0);
    if (was === ok) return;
    if (ok) this.options.logger.info({ store: name }, `store back: ${name}`);
    else {
      this.downCount += 1;
      // The check's own message only (never a URL or a stack).
      this.options.logger.warn({ store: name, err: { message: error } }, `store down: ${name}`);
    }
  }
}
