import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CancelDiagnosisDocument,
  DiagnosisUpdatedDocument,
  DiagnosisViewDocument,
  PatientDiagnosesDocument,
  RequestDiagnosisDocument,
  ReviewDiagnosisDocument,
} from '../../client/index.js';
import { DiagnosisFhirDocument } from '../gql/graphql.js';
import { queryDatabase } from '../helpers/database.js';
import { fhirIssues } from '../helpers/fhir.js';
import { execute } from '../helpers/graphql.js';
import { createPatient } from '../helpers/patients.js';
import { waitForSubscriber } from '../helpers/redis.js';
import { startTestApi, type TestApi } from '../helpers/server.js';
import { startTestWorker, type TestWorker, targetOf } from '../helpers/worker.js';
import { connectWs } from '../helpers/ws.js';

// Sign-off on the real stack: two API pods and a worker. The review is made on pod A and seen on pod B.
let a: TestApi;
let b: TestApi;
let worker: TestWorker;
let token: string;
const INPUT = { symptoms: ['fever', 'cough', 'shortness of breath'], notes: 'three days' };

beforeAll(async () => {
  a = await startTestApi();
  b = await startTestApi({ db: a.db, redisKeyPrefix: a.redisKeyPrefix, natsNamespace: a.natsNamespace });
  worker = await startTestWorker(targetOf(a));
  token = await a.token('dr-review', { name: 'Dr Review' });
});
afterAll(async () => {
  await worker?.stop();
  await b?.close();
  await a?.close();
});

const newPatient = () => createPatient(a.url, token, { sex: 'MALE' });

/** A diagnosis of a new patient, followed to COMPLETED. */
async function completed() {
  const patientId = await newPatient();
  const { id } = (await execute(a.url, RequestDiagnosisDocument, { patientId, input: INPUT }, { token })).expectData()
    .requestDiagnosis;
  const ws = connectWs(a.wsUrl, `Bearer ${token}`);
  try {
    await ws.stream(DiagnosisUpdatedDocument, { id }).done;
  } finally {
    await ws.dispose();
  }
  // The live store announces COMPLETED before Postgres records it: wait for both.
  await expect
    .poll(async () => (await queryDatabase(a.db.url, 'select status from diagnosis where id = $1', [id]))[0])
    .toEqual({ status: 'COMPLETED' });
  const diagnosis = (await execute(a.url, DiagnosisViewDocument, { id }, { token })).expectData().diagnosis;
  if (!diagnosis) throw new Error('no diagnosis');
  return { patientId, diagnosis };
}

describe('reviewDiagnosis', () => {
  it('signs off a COMPLETED draft once, on any pod, leaving the model result untouched', async () => {
    const { patientId, diagnosis } = await completed();
    expect(diagnosis).toMatchObject({ status: 'COMPLETED', reportStatus: 'PRELIMINARY', review: null });
    expect(diagnosis.result).toMatchObject({ provider: 'rules', generator: 'RULES_ENGINE', promptVersion: null });
    const draft = (await execute(b.url, DiagnosisFhirDocument, { id: diagnosis.id }, { token })).expectData().diagnosis
      ?.fhir as Record<string, unknown>;
    expect(draft).toMatchObject({
      resourceType: 'DiagnosticReport',
      status: 'preliminary',
      conclusion: diagnosis.result?.summary,
    });
    expect(draft.performer).toBeUndefined();
    expect(fhirIssues(draft)).toEqual([]);

    const ws = connectWs(b.wsUrl, `Bearer ${token}`);
    try {
      const feed = ws.stream(PatientDiagnosesDocument, { patientId });
      await waitForSubscriber(`${b.redisKeyPrefix}patient-diagnoses:${patientId}`);
      const amendedSummary = 'Community-acquired pneumonia; CURB-65 of 1.\nChest X-ray ordered.';
      const reviewed = (
        await execute(
          a.url,
          ReviewDiagnosisDocument,
          { id: diagnosis.id, input: { decision: 'AMENDED', amendedSummary, note: 'Agree,\twith caveats' } },
          { token },
        )
      ).expectData().reviewDiagnosis;
      expect(reviewed).toMatchObject({
        status: 'COMPLETED',
        reportStatus: 'AMENDED',
        version: diagnosis.version + 1,
        review: {
          decision: 'AMENDED',
          reviewer: { id: 'dr-review', name: 'Dr Review' },
          note: 'Agree,\twith caveats',
          amendedSummary,
        },
      });
      expect(reviewed.result).toEqual(diagnosis.result);
      const report = (await execute(b.url, DiagnosisFhirDocument, { id: diagnosis.id }, { token })).expectData()
        .diagnosis?.fhir as Record<string, unknown>;
      expect(fhirIssues(report)).toEqual([]);
      expect(report).toMatchObject({
        status: 'amended',
        subject: { reference: `Patient/${patientId}` },
        performer: [{ reference: 'Practitioner/dr-review', display: 'Dr Review' }],
        conclusion: amendedSummary,
      });
      expect(report.conclusionCode).toContainEqual(
        expect.objectContaining({
          coding: [expect.objectContaining({ system: 'http://snomed.info/sct', code: '385093006' })],
        }),
      );
      const provenance = (report.contained as Record<string, unknown>[]).find((r) => r.resourceType === 'Provenance');
      expect(provenance).toMatchObject({
        target: [{ reference: '#' }],
        agent: [
          { who: { reference: '#model', display: 'clinical-copilot-rules-1' } },
          { who: { reference: '#provider', display: 'rules' } },
          { who: { reference: 'Practitioner/dr-review' } },
          { who: { reference: 'Practitioner/dr-review' } },
        ],
        entity: [{ what: { identifier: { value: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) } } }],
      });
      expect(reviewed.completedAt).toBe(diagnosis.completedAt);
      // The history: one completion (a preliminary report), then the sign-off — not two completions.
      const history = await queryDatabase(
        a.db.url,
        `select version, status, report_status from diagnosis_transition
          where diagnosis_id = $1 and status = 'COMPLETED' order by version`,
        [diagnosis.id],
      );
      expect(history).toEqual([
        { version: diagnosis.version, status: 'COMPLETED', report_status: 'PRELIMINARY' },
        { version: reviewed.version, status: 'COMPLETED', report_status: 'AMENDED' },
      ]);

      // Pod B's patient subscribers get it through the pub/sub.
      await feed.until((rs) => rs.some((r) => r.data?.patientDiagnoses.reportStatus === 'AMENDED'));
      const event = feed.results.at(-1)?.data?.patientDiagnoses;
      expect(event).toMatchObject({
        id: diagnosis.id,
        version: reviewed.version,
        review: { decision: 'AMENDED', reviewer: { id: 'dr-review' } },
      });
      feed.stop();
    } finally {
      await ws.dispose();
    }

    const viaB = (await execute(b.url, DiagnosisViewDocument, { id: diagnosis.id }, { token })).expectData().diagnosis;
    expect(viaB).toMatchObject({ reportStatus: 'AMENDED', version: diagnosis.version + 1 });
    const [row] = await queryDatabase(
      a.db.url,
      `select version, review_decision, reviewed_by_id, review_note, amended_summary, result->>'summary' as summary
         from diagnosis where id = $1`,
      [diagnosis.id],
    );
    expect(row).toEqual({
      version: diagnosis.version + 1,
      review_decision: 'AMENDED',
      reviewed_by_id: 'dr-review',
      review_note: 'Agree,\twith caveats',
      amended_summary: 'Community-acquired pneumonia; CURB-65 of 1.\nChest X-ray ordered.',
      summary: diagnosis.result?.summary,
    });

    // Once: a second review, by anyone, with any decision, is refused and changes nothing.
    const admin = await a.token('dr-admin-review', { roles: ['clinician', 'admin'] });
    for (const who of [token, admin]) {
      const again = await execute(
        b.url,
        ReviewDiagnosisDocument,
        { id: diagnosis.id, input: { decision: 'ACCEPTED' } },
        { token: who },
      );
      expect(again.codes).toEqual(['BAD_USER_INPUT']);
    }
    const after = (await execute(a.url, DiagnosisViewDocument, { id: diagnosis.id }, { token })).expectData().diagnosis;
    expect(after).toMatchObject({ reportStatus: 'AMENDED', version: diagnosis.version + 1 });

    // Audited, as a success and as refusals.
    await a.auditSettled();
    const audits = await queryDatabase<{ outcome: number; agent_id: string }>(
      a.db.url,
      `select outcome, agent_id from audit_event where patient_id = $1 and subtype = 'diagnosis.review' order by recorded_at`,
      [patientId],
    );
    expect(audits.map((e) => e.agent_id)).toEqual(['dr-review', 'dr-review', 'dr-admin-review']);
    expect(audits[0]?.outcome).toBe(0);
    expect(audits.slice(1).every((e) => e.outcome !== 0)).toBe(true);
  });

  it('makes ACCEPTED FINAL and REJECTED REJECTED', async () => {
    for (const [decision, status] of [
      ['ACCEPTED', 'FINAL'],
      ['REJECTED', 'REJECTED'],
    ] as const) {
      const { diagnosis } = await completed();
      const res = await execute(b.url, ReviewDiagnosisDocument, { id: diagnosis.id, input: { decision } }, { token });
      expect(res.expectData().reviewDiagnosis).toMatchObject({
        reportStatus: status,
        review: { decision, amendedSummary: null, note: null },
      });
      const report = (await execute(b.url, DiagnosisFhirDocument, { id: diagnosis.id }, { token })).expectData()
        .diagnosis?.fhir;
      expect(report).toMatchObject({
        status: decision === 'ACCEPTED' ? 'final' : 'entered-in-error',
        conclusion: diagnosis.result?.summary,
      });
      expect(fhirIssues(report)).toEqual([]);
    }
  });

  it('refuses bad input, other statuses and hidden diagnoses — visibility first — and stores nothing', async () => {
    const { diagnosis } = await completed();
    const bad = [
      { decision: 'AMENDED' as const },
      { decision: 'AMENDED' as const, amendedSummary: '   ' },
      { decision: 'ACCEPTED' as const, amendedSummary: 'only for AMENDED' },
      { decision: 'ACCEPTED' as const, note: 'n'.repeat(2_001) },
      { decision: 'AMENDED' as const, amendedSummary: 's'.repeat(10_001) },
      { decision: 'ACCEPTED' as const, note: 'bell\u0007' },
    ];
    for (const input of bad) {
      const res = await execute(a.url, ReviewDiagnosisDocument, { id: diagnosis.id, input }, { token });
      expect(res.codes).toEqual(['BAD_USER_INPUT']);
    }
    const stranger = await a.token('dr-stranger-review');
    const hidden = await execute(
      a.url,
      ReviewDiagnosisDocument,
      { id: diagnosis.id, input: { decision: 'ACCEPTED' } },
      { token: stranger },
    );
    expect(hidden.codes).toEqual(['NOT_FOUND']);
    for (const id of ['not-a-uuid', '00000000-0000-4000-8000-000000000000']) {
      const missing = await execute(a.url, ReviewDiagnosisDocument, { id, input: { decision: 'ACCEPTED' } }, { token });
      expect(missing.codes).toEqual(['NOT_FOUND']);
    }
    const unchanged = (await execute(a.url, DiagnosisViewDocument, { id: diagnosis.id }, { token })).expectData()
      .diagnosis;
    expect(unchanged).toMatchObject({ version: diagnosis.version, reportStatus: 'PRELIMINARY', review: null });

    // Not COMPLETED: a cancelled one is BAD_USER_INPUT for its clinician, NOT_FOUND for a stranger.
    await worker.stop();
    try {
      const patientId = await newPatient();
      const { id } = (
        await execute(a.url, RequestDiagnosisDocument, { patientId, input: INPUT }, { token })
      ).expectData().requestDiagnosis;
      const queued = await execute(a.url, ReviewDiagnosisDocument, { id, input: { decision: 'ACCEPTED' } }, { token });
      expect(queued.codes).toEqual(['BAD_USER_INPUT']);
      expect(
        (await execute(a.url, DiagnosisViewDocument, { id }, { token })).expectData().diagnosis?.reportStatus,
      ).toBeNull();
      const queuedHidden = await execute(
        a.url,
        ReviewDiagnosisDocument,
        { id, input: { decision: 'ACCEPTED' } },
        { token: stranger },
      );
      expect(queuedHidden.codes).toEqual(['NOT_FOUND']);
      (await execute(a.url, CancelDiagnosisDocument, { id }, { token })).expectData();
      const cancelled = await execute(
        b.url,
        ReviewDiagnosisDocument,
        { id, input: { decision: 'ACCEPTED' } },
        { token },
      );
      expect(cancelled.codes).toEqual(['BAD_USER_INPUT']);
      const [row] = await queryDatabase(a.db.url, 'select status, review_decision from diagnosis where id = $1', [id]);
      expect(row).toEqual({ status: 'CANCELLED', review_decision: null });
      const report = (await execute(a.url, DiagnosisFhirDocument, { id }, { token })).expectData().diagnosis?.fhir;
      expect(report).toMatchObject({ status: 'cancelled' });
      expect(fhirIssues(report)).toEqual([]);
    } finally {
      worker = await startTestWorker(targetOf(a));
    }
  });
});
