import { FRAMINGHAM_MODEL, NEWS2_MODEL } from '../../ml/risk-model.contract.js';
import type { Assessment } from './assessment.engine.js';
import { fieldOfInput, type InputRow, type RiskModelName } from './assessment.inputs.js';

/**
 * What FHIR says about each observation field: its LOINC code(s) (so a FHIR client can read the
 * basis without knowing our field names; fields without one are sent with text only), unit, its
 * `Observation.category`, and for vital signs the R4 vital-signs profile it conforms to.
 */
interface FieldCoding {
  loinc?: { code: string; display: string }[];
  unit?: string;
  ucum?: string;
  category?: keyof typeof CATEGORIES;
  /** A profile of the R4 specification (`http://hl7.org/fhir/StructureDefinition/<name>`). */
  profile?: string;
}

const CATEGORIES = {
  'vital-signs': 'Vital Signs',
  exam: 'Exam',
  laboratory: 'Laboratory',
  'social-history': 'Social History',
} as const;

const FIELDS: Record<string, FieldCoding> = {
  respiratoryRate: {
    loinc: [{ code: '9279-1', display: 'Respiratory rate' }],
    unit: 'breaths/min',
    ucum: '/min',
    category: 'vital-signs',
    profile: 'resprate',
  },
  heartRate: {
    loinc: [{ code: '8867-4', display: 'Heart rate' }],
    unit: 'beats/min',
    ucum: '/min',
    category: 'vital-signs',
    profile: 'heartrate',
  },
  systolicBp: {
    loinc: [{ code: '8480-6', display: 'Systolic blood pressure' }],
    unit: 'mmHg',
    ucum: 'mm[Hg]',
    category: 'vital-signs',
    profile: 'vitalsigns',
  },
  temperatureC: {
    loinc: [{ code: '8310-5', display: 'Body temperature' }],
    unit: '°C',
    ucum: 'Cel',
    category: 'vital-signs',
    profile: 'bodytemp',
  },
  spo2: {
    // The oxygen-saturation profile requires the general code; the pulse-oximetry one says how.
    loinc: [
      { code: '2708-6', display: 'Oxygen saturation in Arterial blood' },
      { code: '59408-5', display: 'Oxygen saturation in Arterial blood by Pulse oximetry' },
    ],
    unit: '%',
    ucum: '%',
    category: 'vital-signs',
    profile: 'oxygensat',
  },
  // Air or oxygen is one of NEWS2's physiological parameters, charted with the vital signs.
  onSupplementalOxygen: { category: 'vital-signs' },
  consciousness: { category: 'exam' },
  totalCholesterol: {
    loinc: [{ code: '2093-3', display: 'Cholesterol [Mass/volume] in Serum or Plasma' }],
    unit: 'mg/dL',
    ucum: 'mg/dL',
    category: 'laboratory',
  },
  hdlCholesterol: {
    loinc: [{ code: '2085-9', display: 'Cholesterol in HDL [Mass/volume] in Serum or Plasma' }],
    unit: 'mg/dL',
    ucum: 'mg/dL',
    category: 'laboratory',
  },
  smoker: { category: 'social-history' },
  // `diabetic` and `onBpTreatment` are a condition and a treatment, recorded as yes/no: no
  // Observation category fits them, and FHIR makes category optional.
};

/** The UCUM year, for prediction horizons. */
const years = (value: number) => ({ value, unit: 'years', system: 'http://unitsofmeasure.org', code: 'a' });

const MODEL_TEXT: Record<RiskModelName, { method: string; outcome: string; horizonYears: number | null }> = {
  [NEWS2_MODEL]: {
    method: 'National Early Warning Score 2 (Royal College of Physicians, 2017)',
    outcome: 'Acute clinical deterioration',
    // NEWS2 grades the patient now; it states no prediction horizon.
    horizonYears: null,
  },
  [FRAMINGHAM_MODEL]: {
    method: "Framingham general cardiovascular disease 10-year risk (D'Agostino et al., Circulation 2008)",
    outcome: 'Cardiovascular disease event within 10 years',
    horizonYears: 10,
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
 * (a device), the input values as contained Observations referenced from `basis` — each with its
 * category, the time it was recorded (`observedAt`, by API field) and, for vital signs, the R4
 * vital-signs profile it meets — and the score and band in `prediction`. Framingham's score is a
 * probability (`probabilityDecimal`) over the next 10 years (`whenRange`); NEWS2's is a points
 * total, so it goes in the rationale and `qualitativeRisk` carries the band.
 */
export function toFhirRiskAssessment(
  patientId: string,
  assessment: Assessment,
  row: InputRow,
  observedAt: Partial<Record<string, Date>>,
): Record<string, unknown> {
  const model = assessment.model as RiskModelName;
  const text = MODEL_TEXT[model];
  const computedAt = new Date(assessment.computedAt).toISOString();
  const contained = Object.entries(row)
    .filter(([name]) => name !== 'age' && name !== 'sex')
    .map(([name, value], i) => {
      const field = fieldOfInput(model, name);
      // Every snapshot value came from some observation row; the computation time is a fallback.
      const at = observedAt[field] ?? new Date(assessment.computedAt);
      return observationResource(`obs${i + 1}`, field, value, patientId, at);
    });
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
        ...(text.horizonYears === null ? {} : { whenRange: { low: years(0), high: years(text.horizonYears) } }),
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

function observationResource(
  id: string,
  field: string,
  value: unknown,
  patientId: string,
  at: Date,
): Record<string, unknown> {
  const coding = FIELDS[field];
  const code = coding?.loinc
    ? {
        coding: coding.loinc.map((c) => ({ system: 'http://loinc.org', ...c })),
        text: coding.loinc.at(-1)?.display,
      }
    : { text: field };
  const valueX =
    typeof value === 'number'
      ? {
          valueQuantity: {
            value,
            ...(coding?.unit ? { unit: coding.unit, system: 'http://unitsofmeasure.org', code: coding.ucum } : {}),
          },
        }
      : typeof value === 'boolean'
        ? { valueBoolean: value }
        : { valueString: String(value) };
  return {
    resourceType: 'Observation',
    id,
    ...(coding?.profile ? { meta: { profile: [`http://hl7.org/fhir/StructureDefinition/${coding.profile}`] } } : {}),
    status: 'final',
    ...(coding?.category
      ? {
          category: [
            {
              coding: [
                {
                  system: 'http://terminology.hl7.org/CodeSystem/observation-category',
                  code: coding.category,
                  display: CATEGORIES[coding.category],
                },
              ],
            },
          ],
        }
      : {}),
    code,
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: at.toISOString(),
    ...valueX,
  };
}
