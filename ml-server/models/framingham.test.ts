/**
 * Framingham general CVD 10-year risk (D'Agostino et al., Circulation 2008;117:743–753).
 *
 * The paper prints its coefficients and a points-based score sheet, but no full-precision worked
 * example of the continuous equation. The expected risks are therefore the published outputs of
 * independent implementations of the same equation; they, the coefficients and their sources are
 * in ml-server/models/vectors/framingham.vectors.json, which the OIP conformance test runs through
 * the model server too. Matching all of them to their printed precision checks our coefficients,
 * the treated/untreated SBP choice, the sex-specific means and baseline survival together.
 */
import { describe, expect, it } from 'vitest';
import { framinghamVectors } from '../../test/helpers/vectors.js';
import {
  FRAMINGHAM_COEFFICIENTS,
  FRAMINGHAM_FACTORS,
  type FraminghamInputs,
  framinghamRisk,
  framinghamRiskLevel,
} from './framingham.js';

const vectors = framinghamVectors();

const man: FraminghamInputs = {
  age: 55,
  sex: 'MALE',
  totalCholesterol: 213,
  hdlCholesterol: 50,
  systolicBp: 140,
  onBpTreatment: false,
  smoker: false,
  diabetic: false,
};
const woman: FraminghamInputs = { ...man, sex: 'FEMALE' };

describe('published coefficients', () => {
  it('are those of the Framingham Heart Study primary model table', () => {
    expect(FRAMINGHAM_COEFFICIENTS.MALE).toEqual(vectors.coefficients.MALE);
    expect(FRAMINGHAM_COEFFICIENTS.FEMALE).toEqual(vectors.coefficients.FEMALE);
  });
});

describe('framinghamRisk reproduces published results (framingham.vectors.json)', () => {
  it('has sourced vectors', () => {
    const ids = new Set(vectors.sources.map((s) => s.id));
    for (const vector of [...vectors.cases, vectors.pointsSheet]) expect(ids).toContain(vector.source);
    expect(vectors.cases.length).toBeGreaterThanOrEqual(12);
  });

  it.each(vectors.cases)('$inputs.sex, $inputs.age: $riskPercent % ($source: $ref)', (vector) => {
    const result = framinghamRisk(vector.inputs);
    expect(result.risk * 100).toBeCloseTo(vector.riskPercent, vector.digits);
    expect(result.riskLevel).toBe(vector.riskLevel);
    if (vector.relativeLogHazard !== undefined)
      expect(result.relativeLogHazard).toBeCloseTo(vector.relativeLogHazard, 4);
  });
});

describe("D'Agostino 2008's worked examples of its points score sheet (framingham.vectors.json pointsSheet)", () => {
  it.each(vectors.pointsSheet.cases)('$ref: $totalPoints points, $sheetRiskPercent % on the sheet', (example) => {
    const { points, totalPoints, sheetRiskPercent, rowsEitherSide } = example;
    expect(Object.values(points).reduce((sum, p) => sum + p, 0)).toBe(totalPoints);
    const [below, above] = rowsEitherSide;
    expect(below).toBeLessThan(sheetRiskPercent);
    expect(above).toBeGreaterThan(sheetRiskPercent);
    const result = framinghamRisk(example.inputs);
    // The equation, not the sheet, is our model: it falls between the sheet's rows either side,
    expect(result.risk * 100).toBeGreaterThan(below);
    expect(result.risk * 100).toBeLessThan(above);
    // and in the band the sheet's own answer falls in.
    expect(result.riskLevel).toBe(framinghamRiskLevel(sheetRiskPercent / 100));
  });
});

describe('contributions', () => {
  it('are the β·x terms, SBP with the treated or untreated β, and sum to the linear predictor', () => {
    const result = framinghamRisk({ ...man, onBpTreatment: true, smoker: true });
    expect(FRAMINGHAM_FACTORS.map((f) => result.contributions[f])).toEqual([
      3.06117 * Math.log(55),
      1.1237 * Math.log(213),
      -0.93263 * Math.log(50),
      1.99881 * Math.log(140),
      0.65451,
      0,
    ]);
    const sum = FRAMINGHAM_FACTORS.reduce((s, f) => s + result.contributions[f], 0);
    expect(sum - 23.9802).toBeCloseTo(result.relativeLogHazard, 12);
  });

  it('give an average member of the cohort the baseline risk 1 − S₀(10)', () => {
    // At Σβx = Σβx̄ the hazard ratio is 1: risk is 1 − 0.88936 for men (11.064 %) and
    // 1 − 0.95012 for women (4.988 %). Solve for the age that puts each there.
    for (const sex of ['MALE', 'FEMALE'] as const) {
      const expected = vectors.baseline[sex];
      const b = FRAMINGHAM_COEFFICIENTS[sex];
      const rest = framinghamRisk({ ...man, sex });
      const others = rest.relativeLogHazard + b.meanLinearPredictor - rest.contributions.age;
      const age = Math.exp((b.meanLinearPredictor - others) / b.lnAge);
      expect(framinghamRisk({ ...man, sex, age }).risk).toBeCloseTo(expected, 10);
    }
  });
});

describe('sanity properties', () => {
  const risk = (change: Partial<FraminghamInputs>, base: FraminghamInputs = man) =>
    framinghamRisk({ ...base, ...change }).risk;

  it('rises with age, for both sexes', () => {
    for (const base of [man, woman]) {
      const risks = [30, 40, 50, 60, 70, 74].map((age) => risk({ age }, base));
      for (let i = 1; i < risks.length; i++) expect(risks[i]).toBeGreaterThan(risks[i - 1] as number);
    }
  });

  it('rises with total cholesterol and systolic BP, falls with HDL', () => {
    expect(risk({ totalCholesterol: 260 })).toBeGreaterThan(risk({ totalCholesterol: 180 }));
    expect(risk({ systolicBp: 160 })).toBeGreaterThan(risk({ systolicBp: 120 }));
    expect(risk({ hdlCholesterol: 70 })).toBeLessThan(risk({ hdlCholesterol: 35 }));
  });

  it('is higher for smokers, diabetics, and treated than untreated SBP of the same value', () => {
    expect(risk({ smoker: true })).toBeGreaterThan(risk({}));
    expect(risk({ diabetic: true })).toBeGreaterThan(risk({}));
    expect(risk({ onBpTreatment: true })).toBeGreaterThan(risk({}));
  });

  it('is a probability, and lower for a woman than a man with the same factors', () => {
    const low = risk({ age: 30, totalCholesterol: 120, hdlCholesterol: 90, systolicBp: 100 }, woman);
    const high = risk({
      age: 74,
      totalCholesterol: 400,
      hdlCholesterol: 20,
      systolicBp: 220,
      smoker: true,
      diabetic: true,
    });
    expect(low).toBeGreaterThan(0);
    expect(low).toBeLessThan(0.01);
    expect(high).toBeLessThan(1);
    expect(high).toBeGreaterThan(0.9);
    expect(risk({}, woman)).toBeLessThan(risk({}));
  });
});

describe('risk bands (CCS 2016: low < 10 %, intermediate 10–19.9 %, high ≥ 20 %)', () => {
  it.each([
    [0, 'LOW'],
    [0.0999, 'LOW'],
    [0.1, 'MEDIUM'],
    [0.1999, 'MEDIUM'],
    [0.2, 'HIGH'],
    [0.65, 'HIGH'],
  ] as const)('%d is %s', (value, level) => {
    expect(framinghamRiskLevel(value)).toBe(level);
  });

  it('places a high-risk man in HIGH', () => {
    const result = framinghamRisk({ ...man, age: 65, systolicBp: 160, smoker: true, diabetic: true });
    expect(result.risk).toBeGreaterThan(0.2);
    expect(result.riskLevel).toBe('HIGH');
  });
});

describe('input validation', () => {
  it('accepts the ends of the derivation age range and refuses beyond them', () => {
    expect(() => framinghamRisk({ ...man, age: 30 })).not.toThrow();
    expect(() => framinghamRisk({ ...man, age: 74 })).not.toThrow();
    const message = 'age must be between 30 and 74 years, the ages the model was derived in';
    expect(() => framinghamRisk({ ...man, age: 29.9 })).toThrow(message);
    expect(() => framinghamRisk({ ...man, age: 74.1 })).toThrow(message);
  });

  it.each([
    ['totalCholesterol', 5.5, 'total_cholesterol must be between 50 and 1000 mg/dL'],
    ['hdlCholesterol', 1.3, 'hdl_cholesterol must be between 5 and 300 mg/dL'],
    ['systolicBp', 0, 'systolic_bp must be between 40 and 300 mmHg'],
    ['systolicBp', Number.POSITIVE_INFINITY, 'systolic_bp must be between 40 and 300 mmHg'],
  ] as const)('refuses %s = %d (a unit mistake) with a RangeError', (field, value, message) => {
    const compute = () => framinghamRisk({ ...man, [field]: value });
    expect(compute).toThrow(RangeError);
    expect(compute).toThrow(message);
  });

  it('refuses HDL that is not below total cholesterol', () => {
    expect(() => framinghamRisk({ ...man, hdlCholesterol: 213 })).toThrow(
      'hdl_cholesterol must be lower than total_cholesterol',
    );
  });
});
