/**
 * Removes a patient's own identifiers from the free text (symptoms, notes) a clinician typed, before
 * it leaves for a provider: the structured identifiers are never sent, but a note such as "Jane
 * Doe, MRN 12345, born 04/03/1950" would carry them anyway. Errs on the side of privacy: a given
 * name that is also an ordinary word ("May") is removed wherever it stands as a word.
 */

export interface PatientIdentifiers {
  givenName: string;
  familyName: string;
  mrn: string;
  /** ISO `YYYY-MM-DD`. */
  birthDate: string;
}

export const REDACTED = { name: '[name]', mrn: '[MRN]', birthDate: '[birth date]' } as const;

const MONTHS = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
];

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** `term` where it stands alone: not inside a longer word or number. */
const standalone = (term: string) => `(?<![\\p{L}\\p{N}])${term}(?![\\p{L}\\p{N}])`;

/** A birth date as people write it: ISO, d/m/y and m/d/y with any common separator, with or without a leading zero, or with the month's name. */
function birthDatePatterns(iso: string): string[] {
  const [y, m, d] = iso.split('-') as [string, string, string];
  const day = `0?${Number(d)}`;
  const month = `0?${Number(m)}`;
  const sep = '[-/. ]';
  const name = MONTHS[Number(m) - 1] as string;
  const monthName = `(?:${name}|${name.slice(0, 3)}\\.?)`;
  const ordinal = `${Number(d)}(?:st|nd|rd|th)?`;
  return [
    `${y}${sep}${month}${sep}${day}`,
    `${day}${sep}${month}${sep}${y}`,
    `${month}${sep}${day}${sep}${y}`,
    `${d}${m}${y}`,
    `${y}${m}${d}`,
    `0?${ordinal}(?: of)? ${monthName},? ${y}`,
    `${monthName} 0?${ordinal},? ${y}`,
  ];
}

/** The name, and each of its parts of two letters or more ("Mary-Ann" → "Mary-Ann", "Mary", "Ann"). */
function nameTerms(ids: PatientIdentifiers): string[] {
  const full = [
    `${ids.givenName} ${ids.familyName}`,
    `${ids.familyName}, ${ids.givenName}`,
    ids.givenName,
    ids.familyName,
  ];
  const parts = full.flatMap((n) => n.split(/[\s,-]+/));
  const terms = [...full, ...parts].map((t) => t.trim()).filter((t) => [...t].length >= 2);
  // Longest first, so "Jane Doe" goes as one before "Jane" and "Doe" could leave a comma behind.
  return [...new Set(terms)].sort((a, b) => b.length - a.length);
}

/** A scrubber for one patient: the same identifiers removed from every text it is given. */
export function identifierScrubber(ids: PatientIdentifiers): (text: string) => string {
  const rules: [RegExp, string][] = [
    [new RegExp(standalone(`(?:${escapeRegExp(ids.mrn.trim())})`), 'giu'), REDACTED.mrn],
    [new RegExp(standalone(`(?:${birthDatePatterns(ids.birthDate).join('|')})`), 'giu'), REDACTED.birthDate],
    [new RegExp(standalone(`(?:${nameTerms(ids).map(escapeRegExp).join('|')})`), 'giu'), REDACTED.name],
  ];
  return (text) => rules.reduce((out, [pattern, replacement]) => out.replace(pattern, replacement), text);
}
