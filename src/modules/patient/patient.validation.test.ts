import { describe, expect, it } from 'vitest';
import { BadUserInputError } from '../../errors.js';
import { parseInput } from '../../lib/validation.js';
import {
  createPatientSchema,
  isIsoDate,
  isUuid,
  OBSERVATION_RANGES,
  observationsSchema,
} from './patient.validation.js';

const valid = { mrn: 'A-1', givenName: 'Ann', familyName: 'Lee', birthDate: '1970-01-31', sex: 'FEMALE' as const };

function rejection(fn: () => unknown): BadUserInputError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(BadUserInputError);
    return error as BadUserInputError;
  }
  throw new Error('expected BAD_USER_INPUT');
}

describe('createPatientSchema', () => {
  it('trims names and MRNs', () => {
    expect(parseInput(createPatientSchema, { ...valid, mrn: ' A-1 ', givenName: ' Ann ' })).toMatchObject({
      mrn: 'A-1',
      givenName: 'Ann',
    });
  });

  it.each([
    ['mrn', 'has;semicolon'],
    ['mrn', 'x'.repeat(65)],
    ['givenName', 'A\u0000nn'],
    ['birthDate', '2020-02-30'],
    ['sex', 'F'],
  ])('rejects %s = %j, naming the field', (field, value) => {
    const error = rejection(() => parseInput(createPatientSchema, { ...valid, [field]: value }));
    expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
  });
});

describe('observationsSchema', () => {
  it.each(Object.entries(OBSERVATION_RANGES))(
    'accepts the bounds of %s and rejects just outside',
    (field, [min, max]) => {
      const pairs: Record<string, number> =
        field === 'diastolicBp' ? { systolicBp: 300 } : field === 'hdlCholesterol' ? { totalCholesterol: 1000 } : {};
      expect(() => parseInput(observationsSchema, { ...pairs, [field]: min })).not.toThrow();
      expect(() => parseInput(observationsSchema, { ...pairs, [field]: max })).not.toThrow();
      for (const outside of [min - 0.01, max + 0.01]) {
        const error = rejection(() => parseInput(observationsSchema, { ...pairs, [field]: outside }));
        expect(error.extensions.field).toBe(field);
        expect(error.message).not.toContain(String(outside));
      }
    },
  );

  it('requires at least one value and plausible pairs', () => {
    expect(rejection(() => parseInput(observationsSchema, { heartRate: null })).message).toBe(
      'at least one observation value is required',
    );
    expect(rejection(() => parseInput(observationsSchema, { systolicBp: 90, diastolicBp: 90 })).extensions.field).toBe(
      'diastolicBp',
    );
  });
});

describe('identifiers and dates', () => {
  it('knows a UUID from anything else', () => {
    expect(isUuid('0b158553-924b-4ec4-b17c-36ed7c8469cd')).toBe(true);
    expect(isUuid("0b158553-924b-4ec4-b17c-36ed7c8469cd' or 1=1")).toBe(false);
    expect(isUuid('')).toBe(false);
  });

  it('knows calendar dates', () => {
    expect(isIsoDate('2024-02-29')).toBe(true);
    expect(isIsoDate('2023-02-29')).toBe(false);
    expect(isIsoDate('2023-2-1')).toBe(false);
  });
});
