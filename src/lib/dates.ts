/**
 * Calendar dates as the API stores and speaks them: `YYYY-MM-DD`, in UTC. A patient's age is the
 * same whole-year count whether the assessment service or the diagnosis worker computes it.
 */

/** Today's date in UTC, `YYYY-MM-DD`. */
export const todayUtc = (): string => new Date().toISOString().slice(0, 10);

/** Whole years between `birthDate` and `today` (both `YYYY-MM-DD`): a birthday not yet reached today does not count. */
export function ageInYears(birthDate: string, today: string = todayUtc()): number {
  const [by, bm, bd] = birthDate.split('-').map(Number) as [number, number, number];
  const [ty, tm, td] = today.split('-').map(Number) as [number, number, number];
  return ty - by - (tm < bm || (tm === bm && td < bd) ? 1 : 0);
}
