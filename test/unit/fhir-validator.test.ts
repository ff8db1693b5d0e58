import { describe, expect, it } from 'vitest';
import { fhirIssues, r4Profile } from '../helpers/fhir.js';

// The helper is what every FHIR test trusts: show that it does find what it should.
describe('the FHIR R4 validator helper', () => {
  it('accepts a valid resource and reports structural errors, contained resources included', () => {
    expect(fhirIssues({ resourceType: 'Basic', code: { text: 'x' } })).toEqual([]);
    const issues = fhirIssues({
      resourceType: 'RiskAssessment',
      subject: { reference: 'Patient/p1' },
      madeUp: true,
      contained: [{ resourceType: 'Observation', id: 'o1', code: { text: 'x' } }],
    });
    expect(issues.map((i) => i.expression?.[0]).sort()).toEqual([
      'RiskAssessment.contained[0].status',
      'RiskAssessment.madeUp',
      'RiskAssessment.status',
    ]);
  });

  it("checks a profile's own constraints on top of the base resource", () => {
    const observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
      subject: { reference: 'Patient/p1' },
      valueQuantity: { value: 80, unit: 'beats/min', system: 'http://unitsofmeasure.org', code: '/min' },
    };
    expect(fhirIssues(observation)).toEqual([]);
    expect(fhirIssues(observation, r4Profile('vitalsigns')).map((i) => i.expression?.[0])).toEqual([
      'Observation.category',
      'Observation.effective[x]',
    ]);
  });
});
