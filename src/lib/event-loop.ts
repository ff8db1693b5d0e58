/** Event-loop delay over the recent window, in milliseconds. */
export interface EventLoopLag {
  /** The 99th percentile of the samples in the window: what liveness judges. */
  readonly p99Ms: number;
  /** The largest sample in the window (one long pause shows here, not in the p99). */
  readonly maxMs: number;
  readonly samples: number;
}

export interface EventLoopMonitorOptions {
  /** How far back `lag()` looks. */
  windowMs?: number;
  /** How often a sample is due. */
  intervalMs?: number;
}

/**
 * Measures how late a timer fires (timer drift) and keeps the samples of the last few seconds.
 * prom-client's own `nodejs_eventloop_lag_*` histogram is reset by each scrape, so it cannot
 * answer "how has the loop been lately" at the moment a probe asks; this can.
 *
 * A healthy loop yields one small sample per interval. A loop kept busy yields few samples, each
 * as long as the work that delayed it — so a loop that is mostly blocked has a high p99, while a
 * single pause in an otherwise healthy window shows only in `maxMs`.
 */
export class EventLoopMonitor {
  private readonly windowMs: number;
  private readonly intervalMs: number;
  /** Oldest first: [time the sample was taken, delay in ms]. */
  private readonly samples: [number, number][] = [];
  private timer: NodeJS.Timeout | undefined;
  private due = 0;

  constructor({ windowMs = 5_000, intervalMs = 20 }: EventLoopMonitorOptions = {}) {
    this.windowMs = windowMs;
    this.intervalMs = intervalMs;
  }

  start(): this {
    if (!this.timer) this.schedule(performance.now());
    return this;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The delay over the last `windowMs`, including how overdue the next sample is right now. */
  lag(): EventLoopLag {
    const now = performance.now();
    this.prune(now);
    const delays = this.samples.map(([, delay]) => delay);
    // A loop stuck since the last sample has not recorded it yet: the overdue time counts too.
    if (this.timer && now > this.due) delays.push(now - this.due);
    if (delays.length === 0) return { p99Ms: 0, maxMs: 0, samples: 0 };
    delays.sort((a, b) => a - b);
    const p99 = delays[Math.ceil(delays.length * 0.99) - 1] as number;
    return { p99Ms: round(p99), maxMs: round(delays.at(-1) as number), samples: delays.length };
  }

  private readonly tick = () => {
    const now = performance.now();
    this.samples.push([now, Math.max(0, now - this.due)]);
    this.prune(now);
    this.schedule(now);
  };

  private schedule(now: number): void {
    this.due = now + this.intervalMs;
    // Never the reason the process stays up.
    this.timer = setTimeout(this.tick, this.intervalMs).unref();
  }

  private prune(now: number): void {
    const oldest = now - this.windowMs;
    while (this.samples.length > 0 && (this.samples[0] as [number, number])[0] < oldest) this.samples.shift();
  }
}

const round = (ms: number) => Math.round(ms * 10) / 10;
