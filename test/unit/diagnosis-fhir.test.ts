import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { DiagnosisStatus } from '../../src/modules/diagnosis/diagnosis.entity.js';
import { toFhirDiagnosticReport } from '../../src/modules/diagnosis/diagnosis.fhir.js';
import type { DiagnosisView, ReviewView } from '../../src/modules/diagnosis/diagnosis.view.js';
import { fhirIssues } from '../helpers/fhir.js';

const requester = { id: 'dr-request', name: 'Dr Request' };
const reviewer = { id: 'dr-review', name: 'Dr Review' };
const RESULT = {
  summary: 'Febrile illness with cough and hypoxaemia; pneumonia likely.',
  differentials: [
    { condition: 'Community-acquired pneumonia', likelihood: 0.7, rationale: 'fever, cough, SpO2 91%' },
    { condition: 'Stroke or transient ischaemic attack', likelihood: 0.1, rationale: null },
  ],
  provider: 'openai',
  model: 'gpt-test',
  providerVersion: 'openai-chat-completions-1',
  modelVersion: 'gpt-test-2026-11-01',
  promptVersion: 'clinical-prompt-2',
  inputDigest: `sha256:${'ab'.repeat(32)}`,
};

function view(status: DiagnosisStatus, review: ReviewView | null = null): DiagnosisView {
  const at = Date.UTC(2026, 11, 2, 9, 0, 0);
  return {
    id: '0b6f1c1e-2f8e-4d6a-9d55-6f9e0f3b8a11',
    patientId: '5e0f9a3c-7d2b-4c1e-8f6a-2b9d4e7c1a30',
    requestedById: requester.id,
    status,
    progress: status === 'COMPLETED' ? 1 : 0.4,
    stage: null,
    partialText: null,
    resultJson: status === 'COMPLETED' ? JSON.stringify(RESULT) : null,
    error: status === 'FAILED' ? 'boom' : null,
    attempts: 1,
    version: 5,
    createdAt: at,
    updatedAt: at + 60_000,
    completedAt: ['COMPLETED', 'FAILED', 'CANCELLED'].includes(status) ? at + 30_000 : null,
    review,
  };
}

const reviewed = (decision: ReviewView['decision']): ReviewView => ({
  decision,
  reviewerId: reviewer.id,
  note: null,
  amendedSummary: decision === 'AMENDED' ? 'Pneumonia confirmed on chest X-ray.' : null,
  reviewedAt: Date.UTC(2026, 11, 2, 10, 0, 0),
});

const cases: [string, string, DiagnosisView][] = [
  ['QUEUED', 'registered', view('QUEUED')],
  ['RUNNING', 'partial', view('RUNNING')],
  ['COMPLETED, unreviewed', 'preliminary', view('COMPLETED')],
  ['ACCEPTED', 'final', view('COMPLETED', reviewed('ACCEPTED'))],
  ['AMENDED', 'amended', view('COMPLETED', reviewed('AMENDED'))],
  ['REJECTED', 'entered-in-error', view('COMPLETED', reviewed('REJECTED'))],
  ['FAILED', 'cancelled', view('FAILED')],
  ['CANCELLED', 'cancelled', view('CANCELLED')],
];

describe('Diagnosis.fhir', () => {
  it.each(cases)('%s: a valid DiagnosticReport, %s, with a valid Provenance', (_label, status, v) => {
    const report = toFhirDiagnosticReport(v, { requester, reviewer: v.review ? reviewer : null });
    expect(report.status).toBe(status);
    expect(fhirIssues(report)).toEqual([]);
    const provenance = (report.contained as { resourceType: string }[]).find((r) => r.resourceType === 'Provenance');
    // On its own too (its `#` target then stands for the report it came in).
    expect(fhirIssues({ ...provenance, target: [{ reference: `DiagnosticReport/${v.id}` }] })).toEqual([]);
  });

  it('names the agent chain, the conclusion and the codes of a reviewed report', () => {
    const report = toFhirDiagnosticReport(view('COMPLETED', reviewed('AMENDED')), { requester, reviewer });
    expect(report).toMatchObject({
      subject: { reference: 'Patient/5e0f9a3c-7d2b-4c1e-8f6a-2b9d4e7c1a30' },
      performer: [{ reference: 'Practitioner/dr-review', display: 'Dr Review' }],
      conclusion: 'Pneumonia confirmed on chest X-ray.',
      issued: '2026-12-02T10:00:00.000Z',
      // Only the differential that is one SNOMED CT concept is coded.
      conclusionCode: [
        {
          coding: [{ system: 'http://snomed.info/sct', code: '385093006' }],
          text: 'Community-acquired pneumonia',
        },
      ],
    });
    const contained = report.contained as Record<string, unknown>[];
    const provenance = contained.find((r) => r.resourceType === 'Provenance') as {
      agent: { type: { coding: { code: string }[] }; who: { reference: string } }[];
      entity: { what: { identifier: { value: string } } }[];
    };
    expect(provenance.agent.map((a) => [a.type.coding[0]?.code, a.who.reference])).toEqual([
      ['author', '#model'],
      ['assembler', '#provider'],
      ['enterer', 'Practitioner/dr-request'],
      ['verifier', 'Practitioner/dr-review'],
    ]);
    expect(provenance.entity[0]?.what.identifier.value).toBe(RESULT.inputDigest);
    expect(contained.find((r) => r.id === 'model')).toMatchObject({
      deviceName: [{ name: 'gpt-test', type: 'model-name' }],
      version: [
        { type: { text: 'model' }, value: 'gpt-test-2026-11-01' },
        { type: { text: 'prompt' }, value: 'clinical-prompt-2' },
      ],
    });
    expect(contained.find((r) => r.id === 'provider')).toMatchObject({
      deviceName: [{ name: 'openai' }],
      version: [{ value: 'openai-chat-completions-1' }],
    });
  });

  it("keeps the model's summary as the conclusion of an unreviewed draft, and has no performer", () => {
    const report = toFhirDiagnosticReport(view('COMPLETED'), { requester, reviewer: null });
    expect(report.conclusion).toBe(RESULT.summary);
    expect(report.performer).toBeUndefined();
    expect(report.issued).toBe('2026-12-02T09:00:30.000Z');
  });
});

describe('docs/clinical-safety.md', () => {
  it('shows FHIR examples that pass the validator, the Provenance on its own too', () => {
    const doc = readFileSync(new URL('../../docs/clinical-safety.md', import.meta.url), 'utf8');
    const examples = [...doc.matchAll(/```json\n([\s\S]*?)\n```/g)].map((m) => JSON.parse(m[1] as string));
    const reports = examples.filter((e) => e.resourceType === 'DiagnosticReport');
    expect(reports.length).toBeGreaterThan(0);
    for (const example of examples) expect(fhirIssues(example)).toEqual([]);
    for (const report of reports) {
      const provenance = report.contained.find((r: { resourceType: string }) => r.resourceType === 'Provenance');
      expect(fhirIssues({ ...provenance, target: [{ reference: `DiagnosticReport/${report.id}` }] })).toEqual([]);
    }
  });
});
