import { describe, expect, it } from 'vitest';
import { ageInYears } from './dates.js';

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
