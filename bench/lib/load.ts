import { Pool } from 'undici';

/** One request of a load run: a GraphQL body (the pool already knows the origin and headers). */
export interface LoadTarget {
  url: URL;
  headers: Record<string, string>;
  /** The body of the i-th request (lets a run rotate over many patients). */
  body: (i: number) => string;
  /** Whether an answer counts as the expected one (e.g. has data, or the expected error code). */
  accept: (status: number, body: string) => boolean;
}

export interface LoadResult {
  requests: number;
  unexpected: number;
  durationS: number;
  rps: number;
  /** Latencies in milliseconds. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

function summarize(latencies: number[], unexpected: number, durationS: number): LoadResult {
  const sorted = Float64Array.from(latencies).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return {
    requests: latencies.length,
    unexpected,
    durationS: round(durationS),
    rps: Math.round(latencies.length / durationS),
    p50: round(at(0.5)),
    p90: round(at(0.9)),
    p99: round(at(0.99)),
    max: round(sorted[sorted.length - 1] ?? Number.NaN),
  };
}

async function send(pool: Pool, target: LoadTarget, i: number): Promise<boolean> {
  const res = await pool.request({
    method: 'POST',
    path: target.url.pathname,
    headers: target.headers,
    body: target.body(i),
  });
  const text = await res.body.text();
  return target.accept(res.statusCode, text);
}

/**
 * Open-loop load at a fixed rate: request i is due at start + i/rate, and its latency is measured
 * from when it was due (not when it was sent), so a stalled server cannot hide its queueing delay
 * (no coordinated omission).
 */
export async function fixedRate(
  target: LoadTarget,
  rate: number,
  durationMs: number,
  connections = 32,
): Promise<LoadResult> {
  return (await fixedRateInterleaved([target], rate, durationMs, connections))[0] as LoadResult;
}

/**
 * {@link fixedRate} over several targets at once, request i going to target i mod n (each gets
 * `rate / n`): paths compared this way see the same moments of a noisy machine, so their ratio is
 * not at the mercy of when each phase happened to run. One result per target, in order.
 */
export async function fixedRateInterleaved(
  targets: readonly LoadTarget[],
  rate: number,
  durationMs: number,
  connections = 32,
): Promise<LoadResult[]> {
  const pools = targets.map(
    (target) => new Pool(target.url.origin, { connections, pipelining: 1, keepAliveTimeout: 30_000 }),
  );
  const total = Math.round((rate * durationMs) / 1000);
  const latencies = targets.map((): number[] => []);
  const unexpected = targets.map(() => 0);
  const inFlight = new Set<Promise<void>>();
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const k = i % targets.length;
    // From when it was due (a late send counts its wait), or from when it left if it left early:
    // a request up to 1 ms early (not worth a timer) must not come out with a negative latency.
    const from = Math.min(due, performance.now());
    const p = send(pools[k] as Pool, targets[k] as LoadTarget, Math.floor(i / targets.length)).then(
      (ok) => {
        latencies[k]?.push(performance.now() - from);
        if (!ok) unexpected[k] = (unexpected[k] ?? 0) + 1;
      },
      () => {
        latencies[k]?.push(performance.now() - from);
        unexpected[k] = (unexpected[k] ?? 0) + 1;
      },
    );
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  }
  await Promise.all(inFlight);
  const durationS = (performance.now() - start) / 1000;
  await Promise.all(pools.map((pool) => pool.close()));
  return latencies.map((samples, k) => summarize(samples, unexpected[k] ?? 0, durationS));
}

/** Closed-loop saturation: `concurrency` workers send back to back for `durationMs`. */
export async function saturate(target: LoadTarget, concurrency: number, durationMs: number): Promise<LoadResult> {
  const pool = new Pool(target.url.origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 30_000 });
  const latencies: number[] = [];
  const start = performance.now();
  const unexpected = await saturateInto(pool, target, concurrency, durationMs, latencies);
  const durationS = (performance.now() - start) / 1000;
  await pool.close();
  return summarize(latencies, unexpected, durationS);
}

async function saturateInto(
  pool: Pool,
  target: LoadTarget,
  concurrency: number,
  durationMs: number,
  latencies: number[],
): Promise<number> {
  let unexpected = 0;
  let next = latencies.length;
  const end = performance.now() + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const i = next++;
        const sent = performance.now();
        try {
          if (!(await send(pool, target, i))) unexpected += 1;
        } catch {
          unexpected += 1;
        }
        latencies.push(performance.now() - sent);
      }
    }),
  );
  return unexpected;
}

/**
 * {@link saturate} over several targets in turns: `rounds` slices of `durationMs / rounds` each,
 * target after target, so every target's figures (and their ratios) come from the same stretch of
 * a noisy machine rather than from whichever seconds its phase happened to get. `meter` reads a
 * cumulative counter (e.g. the pod's CPU milliseconds) around each slice; each target gets the sum
 * of its slices' differences as `metered`.
 */
export async function saturateInTurns(
  targets: readonly LoadTarget[],
  concurrency: number,
  durationMs: number,
  rounds: number,
  meter: () => number,
): Promise<(LoadResult & { metered: number })[]> {
  const pools = targets.map(
    (target) => new Pool(target.url.origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 30_000 }),
  );
  const latencies = targets.map((): number[] => []);
  const unexpected = targets.map(() => 0);
  const metered = targets.map(() => 0);
  const elapsed = targets.map(() => 0);
  const slice = durationMs / rounds;
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < targets.length; k++) {
      const before = meter();
      const started = performance.now();
      unexpected[k] =
        (unexpected[k] ?? 0) +
        (await saturateInto(pools[k] as Pool, targets[k] as LoadTarget, concurrency, slice, latencies[k] as number[]));
      metered[k] = (metered[k] ?? 0) + meter() - before;
      elapsed[k] = (elapsed[k] ?? 0) + performance.now() - started;
    }
  }
  await Promise.all(pools.map((pool) => pool.close()));
  return latencies.map((samples, k) => ({
    ...summarize(samples, unexpected[k] ?? 0, (elapsed[k] ?? 0) / 1000),
    metered: metered[k] ?? 0,
  }));
}

/**
 * One request at a time over one keep-alive connection, `count` times: what a single client sees
 * of a pod that is not otherwise loaded (latency without any queueing).
 */
export async function sequential(target: LoadTarget, count: number): Promise<LoadResult> {
  const pool = new Pool(target.url.origin, { connections: 1, pipelining: 1, keepAliveTimeout: 30_000 });
  const latencies: number[] = [];
  let unexpected = 0;
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const sent = performance.now();
    try {
      if (!(await send(pool, target, i))) unexpected += 1;
    } catch {
      unexpected += 1;
    }
    latencies.push(performance.now() - sent);
  }
  const durationS = (performance.now() - start) / 1000;
  await pool.close();
  return summarize(latencies, unexpected, durationS);
}
