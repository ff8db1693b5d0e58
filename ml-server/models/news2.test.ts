/**
 * The vectors — each band at both of its printed edges, values between bands, Chart 2's risk
 * levels on both sides of every threshold and whole patients — are published in
 * ml-server/models/vectors/news2.vectors.json with their sources (Royal College of Physicians,
 * National Early Warning Score (NEWS) 2, December 2017: Chart 1 for points, Chart 2 for the
 * clinical risk), beside the cases two open implementations test (each cited by repository, file,
 * commit and case), the cases our engine cannot take and why, and where a source departs from the
 * chart. The OIP conformance test runs the whole patients through the model server.
 */
import { describe, expect, it } from 'vitest';
import { CONSCIOUSNESS_LEVELS } from '../../src/ml/risk-model.contract.js';
import { news2Vectors } from '../../test/helpers/vectors.js';
import {
  consciousnessPoints,
  type News2Vitals,
  news2RiskLevel,
  pulsePoints,
  respiratoryRatePoints,
  roundToChart,
  scoreNews2,
  spo2Scale1Points,
  supplementalOxygenPoints,
  systolicBpPoints,
  temperaturePoints,
} from './news2.js';

const vectors = news2Vectors();

/** Each parameter's points function, by the parameter's name in the vectors. */
const pointsOf: Record<keyof News2Vitals, (value: never) => number> = {
  respiratoryRate: respiratoryRatePoints,
  spo2: spo2Scale1Points,
  onSupplementalOxygen: supplementalOxygenPoints,
  systolicBp: systolicBpPoints,
  heartRate: pulsePoints,
  consciousness: consciousnessPoints,
  temperatureC: temperaturePoints,
};

/** Scores 0 on every parameter (Chart 1's 0 column). */
const normal: News2Vitals = vectors.patients[0]?.vitals as News2Vitals;

describe('NEWS2 Chart 1 bands, at every printed edge (news2.vectors.json)', () => {
  it('has vectors for every parameter, sourced', () => {
    expect(Object.keys(vectors.bands).sort()).toEqual(Object.keys(pointsOf).sort());
    const ids = new Set(vectors.sources.map((s) => s.id));
    for (const band of Object.values(vectors.bands)) expect(ids).toContain(band.source);
  });

  for (const [parameter, band] of Object.entries(vectors.bands)) {
    it.each(band.cases)(`${parameter} %s scores %d (${band.rule})`, (value, points) => {
      expect(pointsOf[parameter as keyof News2Vitals](value as never)).toBe(points);
    });
  }
});

describe('values between the printed bands are rounded half up to the chart resolution', () => {
  it.each(vectors.betweenBands.cases)('%s %d scores %d', (parameter, value, points) => {
    expect(pointsOf[parameter](value as never)).toBe(points);
  });

  it('rounds every half-tenth from 25.05 to 44.95 °C up, although many are stored just below it', () => {
    for (let tenths = 250; tenths < 450; tenths++) {
      const midpoint = Number(`${Math.floor(tenths / 10)}.${tenths % 10}5`);
      expect(roundToChart(midpoint, 1)).toBe((tenths + 1) / 10);
    }
  });

  it('rounds to the chart resolution, halves up', () => {
    expect(roundToChart(36.05, 1)).toBe(36.1);
    expect(roundToChart(36.049, 1)).toBe(36);
    expect(roundToChart(20.5, 0)).toBe(21);
    expect(roundToChart(20.499, 0)).toBe(20);
  });
});

describe('NEWS2 Chart 2 clinical risk', () => {
  it.each(vectors.riskLevels.cases)('aggregate $aggregate with points $points is $riskLevel', (vector) => {
    expect(news2RiskLevel(vector.aggregate, vector.points)).toBe(vector.riskLevel);
  });
});

describe('scoreNews2', () => {
  it.each(vectors.patients)('scores $note: $score, $riskLevel', (patient) => {
    const result = scoreNews2(patient.vitals);
    expect(result.points).toEqual(patient.points);
    expect(result.score).toBe(patient.score);
    expect(result.riskLevel).toBe(patient.riskLevel);
  });

  it('gives every ACVPU level but Alert the same 3 points', () => {
    const scores = CONSCIOUSNESS_LEVELS.map((level) => scoreNews2({ ...normal, consciousness: level }).score);
    expect(scores).toEqual([0, 3, 3, 3, 3]);
  });

  it.each([
    ['respiratoryRate', 81, 'respiratory_rate must be between 0 and 80 breaths/min'],
    ['respiratoryRate', -1, 'respiratory_rate must be between 0 and 80 breaths/min'],
    ['spo2', 49, 'spo2 must be between 50 and 100 %'],
    ['spo2', 101, 'spo2 must be between 50 and 100 %'],
    ['systolicBp', 301, 'systolic_bp must be between 40 and 300 mmHg'],
    ['heartRate', 19, 'heart_rate must be between 20 and 300 beats/min'],
    ['temperatureC', 98.6, 'temperature_c must be between 25 and 45 °C'],
    ['temperatureC', Number.NaN, 'temperature_c must be between 25 and 45 °C'],
  ] as const)('rejects %s = %d with a RangeError that names the input, not the value', (field, value, message) => {
    const score = () => scoreNews2({ ...normal, [field]: value });
    expect(score).toThrow(RangeError);
    expect(score).toThrow(message);
  });
});

describe('the cases open implementations test, in our format (news2.vectors.json "published")', () => {
  const sources = new Map(vectors.sources.map((s) => [s.id, s]));

  it('cites each case group by repository, commit and file', () => {
    for (const group of [...vectors.published, ...vectors.notRun, ...vectors.disagreements]) {
      const source = sources.get(group.source);
      expect(source, group.source).toBeDefined();
      expect(source?.repository).toMatch(/^[\w.-]+\/[\w.-]+$/);
      expect(source?.commit).toMatch(/^[0-9a-f]{40}$/);
      expect(group.file).not.toBe('');
    }
  });

  for (const group of vectors.published) {
    describe(`${group.source}: ${group.file}${group.test ? ` — ${group.test}` : ''}`, () => {
      it.each(group.cases)('$ref', (vector) => {
        const vitals: News2Vitals = { ...normal, ...vector.set };
        if (vector.refused) {
          // Outside the physiologically possible range the API enforces: refused, never scored.
          expect(() => scoreNews2(vitals)).toThrow(RangeError);
          return;
        }
        const result = scoreNews2(vitals);
        for (const [parameter, points] of Object.entries(vector.points ?? {}))
          expect(result.points[parameter as keyof News2Vitals], parameter).toBe(points);
        if (vector.score !== undefined) expect(result.score).toBe(vector.score);
        if (vector.redScore !== undefined) expect(Object.values(result.points).includes(3)).toBe(vector.redScore);
        if (vector.riskLevel !== undefined) expect(result.riskLevel).toBe(vector.riskLevel);
        // A case that asserts nothing would pass whatever we scored.
        expect(vector.points ?? vector.score ?? vector.redScore ?? vector.riskLevel).toBeDefined();
      });
    });
  }

  it('tests every parameter at every printed band edge from both sides in the RCP vectors', () => {
    // The lower and upper printed limit of each band, Chart 1; each must be a vector.
    const printed: Record<string, number[]> = {
      respiratoryRate: [8, 9, 11, 12, 20, 21, 24, 25],
      spo2: [91, 92, 93, 94, 95, 96],
      systolicBp: [90, 91, 100, 101, 110, 111, 219, 220],
      heartRate: [40, 41, 50, 51, 90, 91, 110, 111, 130, 131],
      temperatureC: [35, 35.1, 36, 36.1, 38, 38.1, 39, 39.1],
    };
    for (const [parameter, edges] of Object.entries(printed)) {
      const tested = vectors.bands[parameter as keyof News2Vitals].cases.map(([value]) => value);
      expect(tested, parameter).toEqual(expect.arrayContaining(edges));
    }
  });

  it("records what it does not run, and the source's departures from the chart, with reasons", () => {
    expect(vectors.scope).toMatch(/Scale 1 only/);
    expect(vectors.notRun.some((n) => /Scale 2/.test(n.reason))).toBe(true);
    for (const d of vectors.disagreements)
      expect([d.finding, d.chart, d.verdict].every((t) => t.length > 0)).toBe(true);
  });
});
