import { FRAMINGHAM_MODEL, NEWS2_MODEL } from '../../ml/protocol.js';
import type { Assessment } from './assessment.engine.js';
import { fieldOfInput, type InputRow, type RiskModelName } from './assessment.inputs.js';

/**
 * LOINC codes of the observations the models use, so a FHIR client can read the basis without
 * knowing our field names. Fields without a code here are sent with text only.
 */
const LOINC: Record<string, { code: string; display: string; unit?: string; ucum?: string }> = {
  respiratoryRate: { code: '9279-1', display: 'Respiratory rate', unit: 'breaths/min', ucum: '/min' },
  heartRate: { code: '8867-4', display: 'Heart rate', unit: 'beats/min', ucum: '/min' },
  systolicBp: { code: '8480-6', display: 'Systolic blood pressure', unit: 'mmHg', ucum: 'mm[Hg]' },
  temperatureC: { code: '8310-5', display: 'Body temperature', unit: '°C', ucum: 'Cel' },
  spo2: {
    code: '59408-5',
    display: 'Oxygen saturation in Arterial blood by Pulse oximetry',
    unit: '%',
    ucum: '%',
  },
  totalCholesterol: {
    code: '2093-3',
    display: 'Cholesterol [Mass/volume] in Serum or Plasma',
    unit: 'mg/dL',
    ucum: 'mg/dL',
  },
  hdlCholesterol: {
    code: '2085-9',
    display: 'Cholesterol in HDL [Mass/volume] in Serum or Plasma',
    unit: 'mg/dL',
    ucum: 'mg/dL',
  },
};

const MODEL_TEXT: Record<RiskModelName, { method: string; outcome: string }> = {
  [NEWS2_MODEL]: {
    method: 'National Early Warning Score 2 (Royal College of Physicians, 2017)',
    outcome: 'Acute clinical deterioration',
  },
  [FRAMINGHAM_MODEL]: {
    method: "Framingham general cardiovascular disease 10-year risk (D'Agostino et al., Circulation 2008)",
    outcome: 'Cardiovascular disease event within 10 years',
  },
};

/** FHIR's risk-probability codes for our risk levels. */
const QUALITATIVE: Record<Assessment['riskLevel'], string> = {
  LOW: 'low',
  LOW_MEDIUM: 'moderate',
  MEDIUM: 'moderate',
  HIGH: 'high',
};

/**
 * The assessment as a FHIR R4 RiskAssessment resource: the model as `method` and `performer`
 * (a device), the input values as contained Observations referenced from `basis`, and the score
 * and band in `prediction`. Framingham's score is a probability (`probabilityDecimal`); NEWS2's is
 * a points total, so it goes in the rationale and `qualitativeRisk` carries the band.
 */
export function toFhirRiskAssessment(
  patientId: string,
  assessment: Assessment,
  row: InputRow,
): Record<string, unknown> {
  const model = assessment.model as RiskModelName;
  const text = MODEL_TEXT[model];
  const computedAt = new Date(assessment.computedAt).toISOString();
  const contained = Object.entries(row)
    .filter(([name]) => name !== 'age' && name !== 'sex')
    .map(([name, value], i) => observationResource(`obs${i + 1}`, fieldOfInput(model, name), value, patientId));
  return {
    resourceType: 'RiskAssessment',
    status: 'final',
    subject: { reference: `Patient/${patientId}` },
    occurrenceDateTime: computedAt,
    method: {
      coding: [{ system: 'urn:clinical-copilot:risk-model', code: model, display: text.method }],
      text: `${text.method}, model version ${assessment.modelVersion}`,
    },
    performer: { type: 'Device', display: `Risk model ${model} ${assessment.modelVersion}` },
    contained,
    basis: contained.map((o) => ({ reference: `#${o.id as string}` })),
    prediction: [
      {
        outcome: { text: text.outcome },
        ...(model === FRAMINGHAM_MODEL ? { probabilityDecimal: assessment.score } : {}),
        qualitativeRisk: {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/risk-probability',
              code: QUALITATIVE[assessment.riskLevel],
            },
          ],
          text: assessment.riskLevel,
        },
        rationale:
          model === NEWS2_MODEL
            ? `NEWS2 aggregate score ${assessment.score}`
            : `10-year risk ${(assessment.score * 100).toFixed(1)} %`,
      },
    ],
    note: [{ text: `Source: ${assessment.source}` }],
  };
}

function observationResource(id: string, field: string, value: unknown, patientId: string): Record<string, unknown> {
  const loinc = LOINC[field];
  const code = loinc
    ? { coding: [{ system: 'http://loinc.org', code: loinc.code, display: loinc.display }], text: loinc.display }
    : { text: field };
  const valueX =
    typeof value === 'number'
      ? {
          valueQuantity: {
            value,
            ...(loinc?.unit ? { unit: loinc.unit, system: 'http://unitsofmeasure.org', code: loinc.ucum } : {}),
          },
        }
      : typeof value === 'boolean'
        ? { valueBoolean: value }
        : { valueString: String(value) };
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    code,
    subject: { reference: `Patient/${patientId}` },
    ...valueX,
  };
}
