import type { EventLoopLag, EventLoopMonitor } from '../lib/event-loop.js';

/** One dependency `/health/ready` asks about. */
export interface HealthCheck {
  name: string;
  check: () => Promise<unknown>;
}

export interface CheckResult {
  ok: boolean;
  latencyMs: number;
  error?: string;
}

export interface Readiness {
  status: 'ok' | 'unavailable' | 'draining';
  checks: Record<string, CheckResult>;
}

/** Runs every check at once, each bounded by `timeoutMs`, so one hung dependency cannot stall the probe. */
export async function readiness(
  checks: readonly HealthCheck[],
  timeoutMs: number,
  draining: boolean,
): Promise<Readiness> {
  const results = await Promise.all(checks.map((c) => runCheck(c, timeoutMs)));
  const byName = Object.fromEntries(checks.map((c, i) => [c.name, results[i] as CheckResult]));
  const allOk = results.every((r) => r.ok);
  return { status: draining ? 'draining' : allOk ? 'ok' : 'unavailable', checks: byName };
}

async function runCheck({ check }: HealthCheck, timeoutMs: number): Promise<CheckResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true, latencyMs: elapsed(started) };
  } catch (error) {
    // Only the error's message: never a stack, never a connection string.
    return { ok: false, latencyMs: elapsed(started), error: (error as Error).message.slice(0, 200) };
  } finally {
    clearTimeout(timer);
  }
}

const elapsed = (started: number) => Math.round((performance.now() - started) * 10) / 10;

export interface Liveness {
  status: 'ok' | 'lagging';
  eventLoop: EventLoopLag & { thresholdMs: number };
}

/**
 * Liveness looks at the event loop only: a pod whose dependencies are down is alive (readiness
 * takes it out of rotation; a restart would not bring Postgres back), while one whose loop has been
 * mostly blocked for seconds cannot serve and is better restarted.
 */
export function liveness(monitor: EventLoopMonitor, maxLagMs: number): Liveness {
  const lag = monitor.lag();
  return { status: lag.p99Ms > maxLagMs ? 'lagging' : 'ok', eventLoop: { ...lag, thresholdMs: maxLagMs } };
}
