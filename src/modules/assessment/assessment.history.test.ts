import { describe, expect, it } from 'vitest';
import { FRAMINGHAM_MODEL, NEWS2_MODEL } from '../../ml/risk-model.contract.js';
import { foldObservation, type ObservationValues } from '../patient/observation.entity.js';
import type { SnapshotAt } from '../patient/patient.service.js';
import { historyLength, historyRows } from './assessment.service.js';

const CARDIO: ObservationValues = {
  totalCholesterol: 200,
  hdlCholesterol: 50,
  systolicBp: 125,
  onBpTreatment: false,
  smoker: false,
  diabetic: false,
};
/** The reference server's Framingham age domain (its metadata's `min`/`max`). */
const AGES = [{ name: 'age', datatype: 'FP64' as const, shape: [-1], parameters: { min: 30, max: 74 } }];
const at = (iso: string, values: ObservationValues, n = 0): SnapshotAt => ({
  observationId: `obs-${n}`,
  recordedAt: new Date(iso),
  values,
});

describe('historyRows', () => {
  it("takes the patient's age as of each recording's day, not today's", () => {
    // Born 1990-06-15: 29 on 2020-06-14 (outside the equations' 30–74), 30 from 2020-06-15.
    const rows = historyRows(
      FRAMINGHAM_MODEL,
      [
        at('2020-06-14T23:59:00Z', CARDIO, 1),
        at('2020-06-15T00:01:00Z', CARDIO, 2),
        at('2026-01-01T08:00:00Z', CARDIO, 3),
      ],
      { birthDate: '1990-06-15', sex: 'MALE' },
      AGES,
    );
    expect(rows.map((r) => [r.snapshot.observationId, r.row.age])).toEqual([
      ['obs-2', 30],
      ['obs-3', 35],
    ]);
  });

  it('gives a snapshot with an input not yet recorded no point', () => {
    const partial = at('2026-01-01T08:00:00Z', { heartRate: 90 }, 1);
    expect(historyRows(NEWS2_MODEL, [partial], { birthDate: '1960-01-01', sex: 'FEMALE' }, [])).toEqual([]);
  });
});

describe('foldObservation', () => {
  it('replaces the fields a recording measured and keeps the others', () => {
    const first = foldObservation(null, { heartRate: 90, spo2: 95 });
    expect(foldObservation(first, { heartRate: 80, smoker: null })).toEqual({ heartRate: 80, spo2: 95 });
  });
});

describe('historyLength', () => {
  it('defaults to 20 and allows 0 to 100', () => {
    expect(historyLength(undefined)).toBe(20);
    expect(historyLength(null)).toBe(20);
    expect(historyLength(0)).toBe(0);
    expect(historyLength(100)).toBe(100);
    for (const bad of [101, -1, 2.5]) expect(() => historyLength(bad)).toThrow('last must be an integer from 0 to 100');
  });
});
