import { describe, expect, it } from 'vitest';
import { OBSERVATION_RANGES as API_RANGES } from '../src/modules/patient/patient.validation.js';
import { isTerminal, newerDiagnosis, OBSERVATION_RANGES, observationError } from './index.js';

describe('the typed client', () => {
  it("holds the API's observation ranges exactly", () => {
    expect(OBSERVATION_RANGES).toEqual(API_RANGES);
  });

  it('explains an out-of-range value as the API does, and accepts the edges', () => {
    expect(observationError('spo2', 49)).toBe('spo2 must be between 50 and 100 %');
    expect(observationError('spo2', 50)).toBeUndefined();
    expect(observationError('spo2', 100)).toBeUndefined();
    expect(observationError('temperatureC', 101)).toBe('temperatureC must be between 25 and 45 °C');
    expect(observationError('heartRate', Number.NaN)).toBe('heartRate must be between 20 and 300 beats/min');
  });

  it('never goes back to an older version of a diagnosis', () => {
    const v = (version: number) => ({ version });
    expect(newerDiagnosis(undefined, v(1))).toEqual(v(1));
    expect(newerDiagnosis(v(3), v(2))).toEqual(v(3));
    expect(newerDiagnosis(v(3), v(3))).toEqual(v(3));
    expect(newerDiagnosis(v(3), v(4))).toEqual(v(4));
    expect(isTerminal('COMPLETED')).toBe(true);
    expect(isTerminal('RUNNING')).toBe(false);
  });
});
