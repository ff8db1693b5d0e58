import { afterEach, describe, expect, it, vi } from 'vitest';
import { ageInYears, nowIso, todayUtc } from './dates.js';

describe('ageInYears', () => {
  it('counts a birthday from its day on, not before', () => {
    expect(ageInYears('1960-06-15', '2026-06-14')).toBe(65);
    expect(ageInYears('1960-06-15', '2026-06-15')).toBe(66);
    expect(ageInYears('1960-06-15', '2026-12-31')).toBe(66);
  });

  it('counts a 29 February birthday on 1 March in a common year', () => {
    expect(ageInYears('2000-02-29', '2025-02-28')).toBe(24);
    expect(ageInYears('2000-02-29', '2025-03-01')).toBe(25);
    expect(ageInYears('2000-02-29', '2028-02-29')).toBe(28);
  });

  it('is 0 on the day of birth', () => {
    expect(ageInYears('2026-12-03', '2026-12-03')).toBe(0);
  });
});

describe('todayUtc', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('turns at midnight UTC, and follows the clock backwards too', () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-12-03T23:59:59.999Z'));
    expect(todayUtc()).toBe('2026-12-03');
    vi.setSystemTime(new Date('2026-12-04T00:00:00.000Z'));
    expect(todayUtc()).toBe('2026-12-04');
    vi.setSystemTime(new Date('2026-12-04T13:00:00.000Z'));
    expect(todayUtc()).toBe('2026-12-04');
    vi.setSystemTime(new Date('2026-12-01T12:00:00.000Z'));
    expect(todayUtc()).toBe('2026-12-01');
  });
});

describe('nowIso', () => {
  it('is the current instant as toISOString writes it', () => {
    const before = Date.now();
    const at = Date.parse(nowIso());
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(Date.now());
    expect(nowIso()).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });
});
