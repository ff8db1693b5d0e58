/**
 * Calendar dates as the API stores and speaks them: `YYYY-MM-DD`, in UTC. A patient's age is the
 * same whole-year count whether the assessment service or the diagnosis worker computes it.
 */

const DAY_MS = 86_400_000;
/** The last answer of {@link todayUtc} and the instant (epoch ms) at which it stops being true. */
let today = '';
let tomorrowAt = 0;

/** Today's date in UTC, `YYYY-MM-DD` (formatted once a day: every assessment asks). */
export function todayUtc(): string {
  const now = Date.now();
  if (now >= tomorrowAt || now < tomorrowAt - DAY_MS) {
    today = new Date(now).toISOString().slice(0, 10);
    tomorrowAt = Math.floor(now / DAY_MS) * DAY_MS + DAY_MS;
  }
  return today;
}

/** The last answer of {@link nowIso} and its millisecond. */
let iso = '';
let isoAt = -1;

/** Now as ISO 8601 text (`toISOString`), formatted once per millisecond however often it is asked. */
export function nowIso(): string {
  const now = Date.now();
  if (now !== isoAt) {
    iso = new Date(now).toISOString();
    isoAt = now;
  }
  return iso;
}

/** Whole years between `birthDate` and `today` (both `YYYY-MM-DD`): a birthday not yet reached today does not count. */
export function ageInYears(birthDate: string, today: string = todayUtc()): number {
  const years = Number(today.slice(0, 4)) - Number(birthDate.slice(0, 4));
  // Month and day compare as text: both are zero-padded, so "MM-DD" orders like the dates.
  return today.slice(5) < birthDate.slice(5) ? years - 1 : years;
}
