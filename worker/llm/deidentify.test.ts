import { describe, expect, it } from 'vitest';
import { identifierScrubber } from './deidentify.js';

const scrub = identifierScrubber({
  givenName: 'Mary-Ann',
  familyName: "O'Neill",
  mrn: 'MRN-0042',
  birthDate: '1950-03-04',
});

describe('identifierScrubber', () => {
  it("removes the patient's name, MRN and birth date however they are written", () => {
    const cases: [string, string][] = [
      ["Mary-Ann O'Neill, mrn-0042, born 1950-03-04", '[name], [MRN], born [birth date]'],
      ["O'NEILL, MARY-ANN (dob 04/03/1950)", '[name] (dob [birth date])'],
      ['Ann says 3/4/1950 or 4.3.1950 or 04031950', '[name] says [birth date] or [birth date] or [birth date]'],
      ['born 4th March 1950, i.e. Mar 4, 1950', 'born [birth date], i.e. [birth date]'],
      ['mary was seen', '[name] was seen'],
    ];
    for (const [input, expected] of cases) expect(scrub(input)).toBe(expected);
  });

  it('leaves clinical text alone, including words that merely contain a name', () => {
    const text = 'Maryanne and Annette report annual chest pain since 1950; SpO2 <92%, MRN-00421 is another patient';
    expect(scrub(text)).toBe(text);
  });
});
