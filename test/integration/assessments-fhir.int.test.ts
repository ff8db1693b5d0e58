import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CreatePatientInput, type ObservationsInput, RecordObservationsDocument } from '../../client/index.js';
import { AssessmentFhirDocument, PatientObservationsDocument } from '../gql/graphql.js';
import { fhirIssues, loadFhirValidator, r4Profile } from '../helpers/fhir.js';
import { execute } from '../helpers/graphql.js';
import { createPatientWith, VITALS_NEWS2_7, yearsAgo } from '../helpers/patients.js';
import { startTestApi, type TestApi } from '../helpers/server.js';

// A file of its own: the validator's R4 definitions make a large heap, which would slow the
// timing-sensitive breaker tests of assessments.int.test.ts if they shared a process.

/** RCP NEWS2 chart: RR 24 → 2, SpO2 95 → 1, air → 0, SBP 105 → 1, HR 115 → 2, alert → 0, 38.5 °C → 1. */

interface FhirObservation {
  meta?: { profile?: string[] };
  code: { coding?: { code: string }[] };
  category?: { coding?: { system: string; code: string }[] }[];
  effectiveDateTime?: string;
}
interface FhirRiskAssessment {
  method: unknown;
  basis: unknown[];
  contained: FhirObservation[];
  prediction: { whenRange?: unknown }[];
}

/**
 * No issue from an independent FHIR R4 validator: the resource with its contained Observations,
 * and each Observation again against the R4 profiles it claims (the vital-signs ones).
 */
function expectValidFhir(resource: FhirRiskAssessment): void {
  expect(fhirIssues(resource)).toEqual([]);
  for (const observation of resource.contained) {
    for (const profile of observation.meta?.profile ?? []) {
      expect(fhirIssues({ ...observation, resourceType: 'Observation' }, r4Profile(profile)), profile).toEqual([]);
    }
  }
}

let a: TestApi;
let token: string;

beforeAll(async () => {
  loadFhirValidator(); // first: it blocks the event loop (see its doc)
  a = await startTestApi();
  token = await a.token('dr-fhir');
});
afterAll(() => a?.close());

const patientWith = (obs: ObservationsInput, over: Partial<CreatePatientInput> = {}) =>
  createPatientWith(a.url, token, obs, { birthDate: '1960-05-05', sex: 'MALE', ...over });

describe('assessments as FHIR R4 RiskAssessments', () => {
  it('offers the assessment as a FHIR R4 RiskAssessment that a FHIR validator accepts', async () => {
    // Two recordings: each contained Observation must carry the time of the one its value came from.
    const { heartRate, systolicBp, ...rest } = VITALS_NEWS2_7;
    const id = await patientWith(rest);
    await new Promise((r) => setTimeout(r, 20));
    (
      await execute(a.url, RecordObservationsDocument, { patientId: id, input: { heartRate, systolicBp } }, { token })
    ).expectData();
    const recorded = (await execute(a.url, PatientObservationsDocument, { id }, { token })).expectData().patient
      ?.observations.edges;
    const [second, first] = (recorded ?? []).map((e) => e.node.recordedAt);

    const fhir = (await execute(a.url, AssessmentFhirDocument, { patientId: id }, { token })).expectData().assessment
      .fhir as FhirRiskAssessment;
    expect(fhir).toMatchObject({
      resourceType: 'RiskAssessment',
      status: 'final',
      subject: { reference: `Patient/${id}` },
      method: { coding: [{ code: 'news2' }] },
      performer: { display: 'Risk model news2 1.0.0' },
      prediction: [
        { qualitativeRisk: { coding: [{ code: 'high' }], text: 'HIGH' }, rationale: 'NEWS2 aggregate score 7' },
      ],
    });
    // NEWS2 grades the patient now: no prediction horizon is claimed.
    expect(fhir.prediction[0]?.whenRange).toBeUndefined();
    expect(fhir.basis).toHaveLength(7);
    expectValidFhir(fhir);

    const byLoinc = (code: string) => fhir.contained.find((o) => o.code.coding?.some((c) => c.code === code));
    expect(byLoinc('8867-4')?.effectiveDateTime).toBe(second); // heart rate: the second recording
    expect(byLoinc('8480-6')?.effectiveDateTime).toBe(second);
    expect(byLoinc('9279-1')?.effectiveDateTime).toBe(first); // respiratory rate: the first
    expect(first).not.toBe(second);
    const vitals = ['9279-1', '8867-4', '8480-6', '8310-5', '2708-6'].map(byLoinc);
    for (const observation of vitals) {
      expect(observation?.category?.[0]?.coding?.[0]).toMatchObject({
        system: 'http://terminology.hl7.org/CodeSystem/observation-category',
        code: 'vital-signs',
      });
    }
    expect(vitals.map((o) => o?.meta?.profile?.[0]?.split('/').at(-1))).toEqual([
      'resprate',
      'heartrate',
      'vitalsigns',
      'bodytemp',
      'oxygensat',
    ]);
  });

  it("states Framingham's 10-year horizon, and its laboratory basis, in a valid RiskAssessment", async () => {
    const id = await patientWith(
      {
        totalCholesterol: 213,
        hdlCholesterol: 50,
        systolicBp: 125,
        onBpTreatment: false,
        smoker: true,
        diabetic: false,
      },
      { birthDate: yearsAgo(61), sex: 'FEMALE' },
    );
    const fhir = (
      await execute(a.url, AssessmentFhirDocument, { patientId: id, model: 'FRAMINGHAM_CVD_10Y' }, { token })
    ).expectData().assessment.fhir as FhirRiskAssessment;
    expect(fhir.method).toMatchObject({ coding: [{ code: 'framingham-cvd-10y' }] });
    const years = { unit: 'years', system: 'http://unitsofmeasure.org', code: 'a' };
    expect(fhir.prediction[0]).toMatchObject({
      probabilityDecimal: expect.any(Number),
      whenRange: { low: { value: 0, ...years }, high: { value: 10, ...years } },
    });
    expect(fhir.basis).toHaveLength(6);
    expectValidFhir(fhir);
    const categoryOf = (code: string) =>
      fhir.contained.find((o) => o.code.coding?.some((c) => c.code === code))?.category?.[0]?.coding?.[0]?.code;
    expect(categoryOf('2093-3')).toBe('laboratory');
    expect(categoryOf('2085-9')).toBe('laboratory');
    expect(categoryOf('8480-6')).toBe('vital-signs');
    expect(fhir.contained.every((o) => typeof o.effectiveDateTime === 'string')).toBe(true);
  });
});
