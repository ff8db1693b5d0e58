import { afterEach, describe, expect, it } from 'vitest';
import { liveness } from '../http/health.js';
import { EventLoopMonitor } from './event-loop.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Keeps the loop busy for `totalMs`, yielding every `chunkMs` (a loop that is mostly blocked). */
async function hog(totalMs: number, chunkMs: number): Promise<void> {
  const end = performance.now() + totalMs;
  while (performance.now() < end) {
    const until = Math.min(end, performance.now() + chunkMs);
    while (performance.now() < until) {
      // Busy: nothing else runs.
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('EventLoopMonitor', () => {
  let monitor: EventLoopMonitor | undefined;
  afterEach(() => monitor?.stop());

  it('reports a small lag for an idle loop', async () => {
    monitor = new EventLoopMonitor({ windowMs: 1_000, intervalMs: 10 }).start();
    await sleep(300);
    const lag = monitor.lag();
    expect(lag.samples).toBeGreaterThan(5);
    // Generous: the machine running the tests may be busy.
    expect(lag.p99Ms).toBeLessThan(250);
  });

  it('reports a mostly blocked loop in the p99, and forgets it once the window has passed', async () => {
    monitor = new EventLoopMonitor({ windowMs: 1_000, intervalMs: 10 }).start();
    await sleep(50);
    await hog(800, 100);
    const lag = monitor.lag();
    expect(lag.p99Ms).toBeGreaterThanOrEqual(80);
    expect(liveness(monitor, 50)).toMatchObject({ status: 'lagging', eventLoop: { thresholdMs: 50 } });
    // Polled with a deadline: the window slides on a loaded machine too.
    const deadline = Date.now() + 10_000;
    while (liveness(monitor, 50).status !== 'ok' && Date.now() < deadline) await sleep(50);
    expect(liveness(monitor, 50).status).toBe('ok');
  });

  it('shows one long pause in the maximum without failing the p99', async () => {
    monitor = new EventLoopMonitor({ windowMs: 5_000, intervalMs: 10 }).start();
    // Enough samples (over 100) that the p99 is not simply the largest.
    for (const deadline = Date.now() + 4_500; monitor.lag().samples < 150 && Date.now() < deadline; ) await sleep(50);
    await hog(150, 150);
    await sleep(30);
    const lag = monitor.lag();
    expect(lag.maxMs).toBeGreaterThanOrEqual(120);
    expect(lag.samples).toBeGreaterThan(100);
    expect(lag.p99Ms).toBeLessThan(lag.maxMs);
  });

  it('counts a loop blocked right now through the overdue sample', () => {
    monitor = new EventLoopMonitor({ windowMs: 1_000, intervalMs: 10 }).start();
    const until = performance.now() + 100;
    while (performance.now() < until) {
      // Blocked: no sample can be taken.
    }
    expect(monitor.lag().maxMs).toBeGreaterThanOrEqual(80);
  });
});
