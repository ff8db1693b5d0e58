import type { DiagnosisStatus } from './diagnosis.entity.js';
import { type DiagnosisView, reportStatusOf, resultOf, reviewOf } from './diagnosis.view.js';

/** A clinician as a FHIR reference: the token's `sub` is the Practitioner id. */
export interface ClinicianName {
  id: string;
  name: string;
}

const SNOMED = 'http://snomed.info/sct';
const PARTICIPANT = 'http://terminology.hl7.org/CodeSystem/provenance-participant-type';
/** Where the digest of the de-identified inputs is named (a URN of this system, not a web address). */
export const INPUT_DIGEST_SYSTEM = 'urn:clinical-copilot:diagnosis-input-digest';

/**
 * SNOMED CT concepts for conditions a differential may name: the rules table's conditions that
 * are one concept each, and a few common spellings of them. A differential whose condition is not
 * here (or names two conditions, like "Stroke or transient ischaemic attack") gets no code.
 */
const CONDITION_CODES: Record<string, { code: string; display: string }> = {
  sepsis: { code: '91302008', display: 'Sepsis (disorder)' },
  'acute coronary syndrome': { code: '394659003', display: 'Acute coronary syndrome (disorder)' },
  'community-acquired pneumonia': { code: '385093006', display: 'Community acquired pneumonia (disorder)' },
  'community acquired pneumonia': { code: '385093006', display: 'Community acquired pneumonia (disorder)' },
  pneumonia: { code: '233604007', display: 'Pneumonia (disorder)' },
  'pulmonary embolism': { code: '59282003', display: 'Pulmonary embolism (disorder)' },
  'bacterial meningitis': { code: '95883001', display: 'Bacterial meningitis (disorder)' },
  'asthma exacerbation': { code: '281239006', display: 'Exacerbation of asthma (disorder)' },
};

/** The report's status from the lifecycle (contract: Semantics, reviewDiagnosis). */
function reportStatus(view: DiagnosisView): string {
  const statuses: Record<DiagnosisStatus, string> = {
    QUEUED: 'registered',
    RUNNING: 'partial',
    COMPLETED: 'preliminary',
    FAILED: 'cancelled',
    CANCELLED: 'cancelled',
  };
  switch (reportStatusOf(view)) {
    case 'FINAL':
      return 'final';
    case 'AMENDED':
      return 'amended';
    case 'REJECTED':
      return 'entered-in-error';
    default:
      return statuses[view.status];
  }
}

const practitioner = (c: ClinicianName) => ({ reference: `Practitioner/${c.id}`, display: c.name });
const participant = (code: string, display: string) => ({ coding: [{ system: PARTICIPANT, code, display }] });
const instant = (ms: number) => new Date(ms).toISOString();

/**
 * The diagnosis as a FHIR R4 DiagnosticReport, with a contained Provenance naming the agent chain
 * — the model and its provider (as contained Devices), the prompt's version, a digest of the
 * de-identified inputs, the requesting clinician and, once reviewed, the reviewer (also the
 * report's `performer`). The conclusion is the model's summary, or the clinician's amendment.
 */
export function toFhirDiagnosticReport(
  view: DiagnosisView,
  clinicians: { requester: ClinicianName; reviewer: ClinicianName | null },
): Record<string, unknown> {
  const result = resultOf(view);
  const review = reviewOf(view);
  const generatedByRules = result?.provider === 'rules';
  const contained: Record<string, unknown>[] = [];
  const agents: Record<string, unknown>[] = [];

  if (result) {
    contained.push(
      {
        resourceType: 'Device',
        id: 'model',
        deviceName: [{ name: result.model, type: 'model-name' }],
        type: { text: generatedByRules ? 'Rules engine (not a language model)' : 'Large language model' },
        version: [
          { type: { text: 'model' }, value: result.modelVersion ?? result.model },
          ...(result.promptVersion ? [{ type: { text: 'prompt' }, value: result.promptVersion }] : []),
        ],
      },
      {
        resourceType: 'Device',
        id: 'provider',
        deviceName: [{ name: result.provider, type: 'user-friendly-name' }],
        type: { text: generatedByRules ? 'Offline rules provider' : 'OpenAI-compatible model API' },
        ...(result.providerVersion ? { version: [{ value: result.providerVersion }] } : {}),
      },
    );
    agents.push(
      { type: participant('author', 'Author'), who: { reference: '#model', display: result.model } },
      { type: participant('assembler', 'Assembler'), who: { reference: '#provider', display: result.provider } },
    );
  }
  agents.push({ type: participant('enterer', 'Enterer'), who: practitioner(clinicians.requester) });
  if (review && clinicians.reviewer) {
    agents.push({ type: participant('verifier', 'Verifier'), who: practitioner(clinicians.reviewer) });
  }
  contained.push({
    resourceType: 'Provenance',
    id: 'provenance',
    // The report that contains it.
    target: [{ reference: '#' }],
    recorded: instant(view.updatedAt),
    agent: agents,
    ...(result?.inputDigest
      ? {
          entity: [
            {
              role: 'source',
              what: {
                identifier: { system: INPUT_DIGEST_SYSTEM, value: result.inputDigest },
                display: 'the de-identified facts sent to the provider (SHA-256)',
              },
            },
          ],
        }
      : {}),
  });

  const codes = (result?.differentials ?? []).flatMap((d) => {
    const concept = CONDITION_CODES[d.condition.trim().toLowerCase()];
    return concept ? [{ coding: [{ system: SNOMED, ...concept }], text: d.condition }] : [];
  });
  const conclusion = review?.decision === 'AMENDED' && review.amendedSummary ? review.amendedSummary : result?.summary;
  const issued = review?.reviewedAt ?? view.completedAt;

  return {
    resourceType: 'DiagnosticReport',
    id: view.id,
    contained,
    status: reportStatus(view),
    code: { text: 'Differential diagnosis (clinical decision support)' },
    subject: { reference: `Patient/${view.patientId}` },
    effectiveDateTime: instant(view.createdAt),
    ...(issued ? { issued: instant(issued) } : {}),
    ...(review && clinicians.reviewer ? { performer: [practitioner(clinicians.reviewer)] } : {}),
    ...(conclusion ? { conclusion } : {}),
    ...(codes.length > 0 ? { conclusionCode: codes } : {}),
  };
}
