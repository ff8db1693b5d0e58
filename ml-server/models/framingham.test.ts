/**
 * Framingham general CVD 10-year risk (D'Agostino et al., Circulation 2008;117:743–753).
 *
 * The paper prints its coefficients and a points-based score sheet, but no full-precision worked
 * example of the continuous equation. The expected risks below are therefore the published outputs
 * of independent implementations of the same equation, each cited where it is used; matching all
 * of them to their printed precision checks our coefficients, the treated/untreated SBP choice,
 * the sex-specific means and baseline survival together.
 */
import { describe, expect, it } from 'vitest';
import {
  FRAMINGHAM_COEFFICIENTS,
  FRAMINGHAM_FACTORS,
  type FraminghamInputs,
  framinghamRisk,
  framinghamRiskLevel,
} from './framingham.js';

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
    // framinghamheartstudy.org, "Cardiovascular Disease (10-year risk)", Regression Coefficients
    // and Hazard Ratios – Primary Model; the same values as CRAN CVrisk's frs_coef.
    expect(FRAMINGHAM_COEFFICIENTS.MALE).toEqual({
      lnAge: 3.06117,
      lnTotalCholesterol: 1.1237,
      lnHdlCholesterol: -0.93263,
      lnSystolicBpUntreated: 1.93303,
      lnSystolicBpTreated: 1.99881,
      smoker: 0.65451,
      diabetic: 0.57367,
      meanLinearPredictor: 23.9802,
      baselineSurvival: 0.88936,
    });
    expect(FRAMINGHAM_COEFFICIENTS.FEMALE).toEqual({
      lnAge: 2.32888,
      lnTotalCholesterol: 1.20904,
      lnHdlCholesterol: -0.70833,
      lnSystolicBpUntreated: 2.76157,
      lnSystolicBpTreated: 2.82263,
      smoker: 0.52873,
      diabetic: 0.69154,
      meanLinearPredictor: 26.1931,
      baselineSurvival: 0.95012,
    });
  });
});

describe('framinghamRisk reproduces published results', () => {
  it('man, 53, TC 216.16, HDL 54.91, SBP 133 untreated, non-smoker, no diabetes: 10.37514 %', () => {
    // pharmaverse/admiral (CRAN), compute_framingham() reference page, first example output.
    const result = framinghamRisk({
      age: 53,
      sex: 'MALE',
      totalCholesterol: 216.16,
      hdlCholesterol: 54.91,
      systolicBp: 133,
      onBpTreatment: false,
      smoker: false,
      diabetic: false,
    });
    expect(result.risk * 100).toBeCloseTo(10.37514, 5);
    expect(result.riskLevel).toBe('MEDIUM');
  });

  it('woman, 52, TC 186.39, HDL 64.19, SBP 161 treated, smoker, no diabetes: 16.40353 %', () => {
    // pharmaverse/admiral (CRAN), compute_framingham() reference page, second example output.
    const result = framinghamRisk({
      age: 52,
      sex: 'FEMALE',
      totalCholesterol: 186.39,
      hdlCholesterol: 64.19,
      systolicBp: 161,
      onBpTreatment: true,
      smoker: true,
      diabetic: false,
    });
    expect(result.risk * 100).toBeCloseTo(16.40353, 5);
    expect(result.riskLevel).toBe('MEDIUM');
  });

  it('man, 55, TC 213, HDL 50, SBP 140 untreated, non-smoker, no diabetes: 13.53 %', () => {
    // vcastro/CVrisk (CRAN), ascvd_10y_frs() reference example output.
    expect(framinghamRisk(man).risk * 100).toBeCloseTo(13.53, 2);
  });

  it('man, 50, TC 200, HDL 50, SBP 130 untreated: linear predictor 23.6897, risk 8.40 %', () => {
    // scoutmytool.com Framingham 10-year CVD calculator, step-by-step worked example:
    // L = 23.6897, mean L = 23.9802, risk = 1 − 0.88936^exp(−0.2905) = 8.40 %.
    const result = framinghamRisk({ ...man, age: 50, totalCholesterol: 200, systolicBp: 130 });
    expect(result.relativeLogHazard).toBeCloseTo(23.6897 - 23.9802, 4);
    expect(result.risk * 100).toBeCloseTo(8.4, 2);
    expect(result.riskLevel).toBe('LOW');
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
    for (const [sex, expected] of [
      ['MALE', 0.11064],
      ['FEMALE', 0.04988],
    ] as const) {
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
