import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { fhirIssues, loadFhirValidator, r4Profile } from '../../../test/helpers/fhir.js';
import { FRAMINGHAM_MODEL, NEWS2_MODEL } from '../../ml/risk-model.contract.js';
import type { Assessment } from './assessment.engine.js';
import { toFhirRiskAssessment } from './assessment.fhir.js';

const PATIENT = '3f0c2a7e-5b1d-4c8e-9a6f-2d4b8e1c7a90';
const COMPUTED = Date.parse('2026-12-02T09:15:00.000Z');

/** pharmaverse/admiral's compute_framingham() example: a man of 53, TC 216.16, HDL 54.91, SBP 133 untreated. */
const framingham = (): Record<string, unknown> =>
  toFhirRiskAssessment(
    PATIENT,
    {
      model: FRAMINGHAM_MODEL,
      modelVersion: '1.0.0',
      score: 0.1037514,
      riskLevel: 'MEDIUM',
      source: 'LIVE',
      computedAt: COMPUTED,
    } as Assessment,
    {
      age: 53,
      sex: 'MALE',
      total_cholesterol: 216.16,
      hdl_cholesterol: 54.91,
      systolic_bp: 133,
      on_bp_treatment: false,
      smoker: false,
      diabetic: false,
    },
    {
      totalCholesterol: new Date('2026-11-28T07:40:00.000Z'),
      hdlCholesterol: new Date('2026-11-28T07:40:00.000Z'),
      systolicBp: new Date('2026-12-02T08:55:00.000Z'),
      onBpTreatment: new Date('2026-11-28T07:40:00.000Z'),
      smoker: new Date('2026-11-28T07:40:00.000Z'),
      diabetic: new Date('2026-11-28T07:40:00.000Z'),
    },
  );

const news2 = (): Record<string, unknown> & { contained: { meta?: { profile?: string[] } }[] } =>
  toFhirRiskAssessment(
    PATIENT,
    {
      model: NEWS2_MODEL,
      modelVersion: '1.0.0',
      score: 7,
      riskLevel: 'HIGH',
      source: 'CACHE',
      computedAt: COMPUTED,
    } as Assessment,
    {
      respiratory_rate: 24,
      spo2: 95,
      on_supplemental_oxygen: false,
      systolic_bp: 105,
      heart_rate: 115,
      consciousness: 'ALERT',
      temperature_c: 38.5,
    },
    {},
  ) as never;

beforeAll(loadFhirValidator);

describe('toFhirRiskAssessment', () => {
  it('passes the R4 validator for both models, each vital sign against the profile it claims', () => {
    for (const resource of [framingham(), news2()]) expect(fhirIssues(resource)).toEqual([]);
    const claimed = news2().contained.flatMap((o) => (o.meta?.profile ?? []).map((p) => [o, p] as const));
    expect(claimed).toHaveLength(5);
    for (const [observation, profile] of claimed) expect(fhirIssues(observation, r4Profile(profile))).toEqual([]);
  });

  it('dates a value without a recorded time by the computation (never leaves effective[x] out)', () => {
    for (const observation of news2().contained as { effectiveDateTime?: string }[]) {
      expect(observation.effectiveDateTime).toBe('2026-12-02T09:15:00.000Z');
    }
  });
});

describe('docs/clinical-safety.md', () => {
  it('shows exactly what toFhirRiskAssessment emits for the published Framingham example', () => {
    const doc = readFileSync(new URL('../../../docs/clinical-safety.md', import.meta.url), 'utf8');
    const examples = [...doc.matchAll(/```json\n([\s\S]*?)\n```/g)].map((m) => JSON.parse(m[1] as string));
    const shown = examples.filter((e) => e.resourceType === 'RiskAssessment');
    expect(shown).toEqual([framingham()]);
  });
});
