import type { EventLoopLag, EventLoopMonitor } from '../lib/event-loop.js';

/** One dependency `/health/ready` asks about. */
export interface HealthCheck {
  name: string;
  check: () => Promise<unknown>;
  /**
   * Whether the pod cannot serve at all without it (its database). A shared store that is not
   * critical (Redis, NATS for an API pod) only makes the pod `degraded`: every pod shares it, so
   * turning them all unready at once would make a partial outage total.
   */
  critical?: boolean;
}

export interface CheckResult {
  ok: boolean;
  latencyMs: number;
  error?: string;
}

export type ReadinessStatus = 'ok' | 'degraded' | 'unavailable' | 'draining';

export interface Readiness {
  status: ReadinessStatus;
  checks: Record<string, CheckResult>;
}

/**
 * Runs every check at once, each bounded by `timeoutMs`, so one hung dependency cannot stall the
 * probe. `draining` wins; then a failing critical check makes the pod `unavailable`, a failing
 * other one `degraded`.
 */
export async function readiness(
  checks: readonly HealthCheck[],
  timeoutMs: number,
  draining: boolean,
): Promise<Readiness> {
  const results = await Promise.all(checks.map((c) => runCheck(c, timeoutMs)));
  const byName = Object.fromEntries(checks.map((c, i) => [c.name, results[i] as CheckResult]));
  const failing = checks.filter((_, i) => !results[i]?.ok);
  const status: ReadinessStatus = draining
    ? 'draining'
    : failing.some((c) => c.critical)
      ? 'unavailable'
      : failing.length > 0
        ? 'degraded'
        : 'ok';
  return { status, checks: byName };
}

/** The HTTP status of a readiness report: 503 only when the pod cannot serve (draining, or a critical store down). */
export function readinessHttpStatus(report: Readiness): 200 | 503 {
  return report.status === 'ok' || report.status === 'degraded' ? 200 : 503;
}

/** One check, bounded by `timeoutMs`; never rejects. */
export async function runCheck({ check }: HealthCheck, timeoutMs: number): Promise<CheckResult> {
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
