import { describe, expect, it } from 'vitest';
import { faultWindowStats, type Sample, windows } from '../../bench/lib/chaos.js';

const sample = (t: number, kind: Sample['kind'], ms: number, ok = true): Sample => ({ t, kind, ms, ok });

describe('the chaos bench timeline', () => {
  it('buckets samples per kind and window, with error rate and percentiles', () => {
    const samples = [
      sample(100, 'assessment', 10),
      sample(200, 'assessment', 30, false),
      sample(5_100, 'diagnosis', 7),
    ];
    expect(windows(samples, 5_000)).toEqual([
      { t: 0, kind: 'assessment', requests: 2, errors: 1, errorRate: 0.5, p50: 30, p99: 30 },
      { t: 5_000, kind: 'diagnosis', requests: 1, errors: 0, errorRate: 0, p50: 7, p99: 7 },
    ]);
  });

  it('counts a request inside a fault window for that fault, and the others as steady', () => {
    const samples = [sample(1_000, 'diagnosis', 5, false), sample(9_000, 'diagnosis', 3)];
    const stats = faultWindowStats(samples, [{ kind: 'kill-pod', target: 0, start: 500, end: 2_000 }]);
    expect((stats.faults[0] as Record<string, unknown> | undefined)?.diagnosis).toEqual({
      requests: 1,
      errors: 1,
      errorRate: 1,
      p99: 5,
    });
    expect(stats.steady.diagnosis).toEqual({ requests: 1, errors: 0, errorRate: 0, p99: 3 });
  });
});
