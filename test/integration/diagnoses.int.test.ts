import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CancelDiagnosisDocument,
  DiagnosisUpdatedDocument,
  DiagnosisViewDocument,
  PatientDiagnosesDocument,
  RequestDiagnosisDocument,
} from '../../client/index.js';
import type { DiagnosisProvider } from '../../worker/llm/provider.js';
import { ProviderOutputError } from '../../worker/llm/provider.js';
import { PatientDiagnosisListDocument } from '../gql/graphql.js';
import { queryDatabase } from '../helpers/database.js';
import { execute } from '../helpers/graphql.js';
import { createPatient } from '../helpers/patients.js';
import { waitForSubscriber } from '../helpers/redis.js';
import { startTestApi, type TestApi } from '../helpers/server.js';
import { startTestWorker, type TestWorker, targetOf } from '../helpers/worker.js';
import { connectWs } from '../helpers/ws.js';

let a: TestApi;
let b: TestApi;
let worker: TestWorker;
let token: string;

const newPatient = (api: TestApi, as: string) => createPatient(api.url, as, { birthDate: '1950-03-04' });

const INPUT = { symptoms: ['fever', 'cough', 'shortness of breath'], notes: 'three days, worsening' };

beforeAll(async () => {
  a = await startTestApi();
  b = await startTestApi({ db: a.db, redisKeyPrefix: a.redisKeyPrefix, natsNamespace: a.natsNamespace });
  worker = await startTestWorker(targetOf(a));
  token = await a.token('dr-dx', { name: 'Dr Dx' });
});
afterAll(async () => {
  await worker?.stop();
  await b?.close();
  await a?.close();
});

describe('diagnoses across pods', () => {
  it('answers QUEUED at once, and a subscriber on the other pod sees every change to COMPLETED', async () => {
    const patientId = await newPatient(a, token);
    const ws = connectWs(b.wsUrl, `Bearer ${token}`);
    try {
      await ws.connected;
      const patientStream = ws.stream(PatientDiagnosesDocument, { patientId });
      await waitForSubscriber(`${b.redisKeyPrefix}patient-diagnoses:${patientId}`);

      const requested = (
        await execute(a.url, RequestDiagnosisDocument, { patientId, input: INPUT }, { token })
      ).expectData().requestDiagnosis;
      expect(requested).toMatchObject({ status: 'QUEUED', version: 1, attempts: 0, progress: 0, result: null });
      expect(requested.requestedBy.id).toBe('dr-dx');

      const updates = ws.stream(DiagnosisUpdatedDocument, { id: requested.id });
      await updates.done;
      const views = updates.results.map((r) => r.data?.diagnosisUpdated);
      expect(views.every(Boolean)).toBe(true);
      const statuses = views.map((v) => v?.status);
      expect(statuses.at(-1)).toBe('COMPLETED');
      const versions = views.map((v) => v?.version as number);
      // In order, no duplicates, no gaps after the first state.
      for (let i = 1; i < versions.length; i++) expect(versions[i]).toBe((versions[i - 1] as number) + 1);
      const final = views.at(-1);
      expect(final?.result?.provider).toBe('rules');
      expect(final?.result?.summary).toContain('not a language model');
      expect(final?.attempts).toBe(1);

      // The patient stream on pod B saw the whole life: QUEUED, RUNNING, progress, COMPLETED.
      await patientStream.until((rs) => rs.some((r) => r.data?.patientDiagnoses.status === 'COMPLETED'));
      const seen = patientStream.results.map((r) => r.data?.patientDiagnoses);
      expect(seen[0]).toMatchObject({ id: requested.id, status: 'QUEUED', version: 1 });
      expect(seen.map((s) => s?.status)).toContain('RUNNING');
      expect(seen.filter((s) => s?.status === 'RUNNING').length).toBeGreaterThan(2); // progress updates
      expect(seen.filter((s) => s?.status === 'COMPLETED')).toHaveLength(1);
      const pv = seen.map((s) => s?.version as number);
      for (let i = 1; i < pv.length; i++) expect(pv[i]).toBe((pv[i - 1] as number) + 1);
      patientStream.stop();
    } finally {
      await ws.dispose();
    }
  });

  it('gives a late subscriber the final state once, and keeps the result in Postgres', async () => {
    const patientId = await newPatient(a, token);
    const { id } = (await execute(a.url, RequestDiagnosisDocument, { patientId, input: INPUT }, { token })).expectData()
      .requestDiagnosis;
    const ws = connectWs(a.wsUrl, `Bearer ${token}`);
    try {
      await ws.stream(DiagnosisUpdatedDocument, { id }).done; // to the end
      const late = await ws.run(DiagnosisUpdatedDocument, { id });
      expect(late).toHaveLength(1);
      expect(late[0]?.data?.diagnosisUpdated.status).toBe('COMPLETED');
      const finalVersion = late[0]?.data?.diagnosisUpdated.version;

      const rows = await queryDatabase<{
        status: string;
        version: number;
        attempts: number;
        result: { provider: string };
      }>(a.db.url, 'select status, version, attempts, result from diagnosis where id = $1', [id]);
      expect(rows[0]).toMatchObject({
        status: 'COMPLETED',
        version: finalVersion,
        attempts: 1,
        result: { provider: 'rules' },
      });
      const viaB = (await execute(b.url, DiagnosisViewDocument, { id }, { token })).expectData().diagnosis;
      expect(viaB).toMatchObject({ status: 'COMPLETED', version: finalVersion, progress: 1 });
      expect(viaB?.completedAt).not.toBeNull();
      const list = (await execute(b.url, PatientDiagnosisListDocument, { id: patientId }, { token })).expectData();
      expect(list.patient?.diagnoses.edges.map((e) => e.node)).toEqual([
        { id, status: 'COMPLETED', version: finalVersion },
      ]);
      const outbox = await queryDatabase(a.db.url, 'select id from outbox_message where id = $1', [id]);
      expect(outbox).toEqual([]);
      // Postgres keeps every status transition (progress updates are not transitions).
      const transitions = await queryDatabase<{ status: string; version: number; attempts: number }>(
        a.db.url,
        'select status, version, attempts from diagnosis_transition where diagnosis_id = $1 order by version',
        [id],
      );
      expect(transitions.map((t) => t.status)).toEqual(['QUEUED', 'RUNNING', 'COMPLETED']);
      expect(transitions[0]).toEqual({ status: 'QUEUED', version: 1, attempts: 0 });
      expect(transitions.at(-1)?.version).toBe(finalVersion);
    } finally {
      await ws.dispose();
    }
  });

  it('validates the request and refuses hidden patients, storing nothing', async () => {
    const patientId = await newPatient(a, token);
    const cases = [
      { symptoms: [] },
      { symptoms: Array.from({ length: 51 }, (_, i) => `s${i}`) },
      { symptoms: ['  '] },
      { symptoms: ['ok'], notes: 'x'.repeat(10_001) },
    ];
    for (const input of cases) {
      const res = await execute(a.url, RequestDiagnosisDocument, { patientId, input }, { token });
      expect(res.codes).toEqual(['BAD_USER_INPUT']);
    }
    const other = await a.token('dr-stranger');
    const hidden = await execute(a.url, RequestDiagnosisDocument, { patientId, input: INPUT }, { token: other });
    expect(hidden.codes).toEqual(['NOT_FOUND']);
    const rows = await queryDatabase(a.db.url, 'select count(*)::int as n from diagnosis where patient_id = $1', [
      patientId,
    ]);
    expect(rows).toEqual([{ n: 0 }]);
  });

  it("refuses another clinician's subscription with NOT_FOUND", async () => {
    const patientId = await newPatient(a, token);
    const { id } = (await execute(a.url, RequestDiagnosisDocument, { patientId, input: INPUT }, { token })).expectData()
      .requestDiagnosis;
    const ws = connectWs(b.wsUrl, `Bearer ${await b.token('dr-nosy')}`);
    try {
      const byId = await ws.run(DiagnosisUpdatedDocument, { id });
      expect(byId[0]?.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
      const byPatient = await ws.run(PatientDiagnosesDocument, { patientId });
      expect(byPatient[0]?.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
      const query = await execute(b.url, DiagnosisViewDocument, { id }, { token: await b.token('dr-nosy') });
      expect(query.data).toEqual({ diagnosis: null });
      expect(query.codes).toEqual(['NOT_FOUND']);
    } finally {
      await ws.dispose();
    }
  });
});

describe('cancel', () => {
  let slowApi: TestApi;
  let slowWorker: TestWorker;
  beforeAll(async () => {
    slowApi = await startTestApi();
    // A slow rules engine: the job stays RUNNING long enough to cancel.
    slowWorker = await startTestWorker(targetOf(slowApi), { RULES_CHUNK_DELAY_MS: '300' });
  });
  afterAll(async () => {
    await slowWorker?.stop();
    await slowApi?.close();
  });

  it('shares identical subscriptions of one clinician, replays the latest state to a late one, keeps others apart', async () => {
    const t = await slowApi.token('dr-share');
    const patientId = await newPatient(slowApi, t);
    const { id } = (
      await execute(slowApi.url, RequestDiagnosisDocument, { patientId, input: INPUT }, { token: t })
    ).expectData().requestDiagnosis;
    const admin = await slowApi.token('dr-admin', { roles: ['clinician', 'admin'] });
    const ws = connectWs(slowApi.wsUrl, `Bearer ${t}`);
    const wsAdmin = connectWs(slowApi.wsUrl, `Bearer ${admin}`);
    try {
      const first = ws.stream(DiagnosisUpdatedDocument, { id });
      const second = ws.stream(DiagnosisUpdatedDocument, { id });
      const other = wsAdmin.stream(DiagnosisUpdatedDocument, { id });
      await first.until((rs) => rs.some((r) => (r.data?.diagnosisUpdated.progress ?? 0) > 0.2), 30_000);
      const late = ws.stream(DiagnosisUpdatedDocument, { id });
      await Promise.all([first.done, second.done, other.done, late.done]);
      const versions = (stream: typeof first) => stream.results.map((r) => r.data?.diagnosisUpdated.version as number);
      // Each stream starts from the state current when it subscribed (on a loaded machine even the
      // "simultaneous" ones may join after the claim) and then follows every version, no gaps.
      const followsFirst = (stream: typeof first) => {
        const own = versions(stream);
        expect(own.length).toBeGreaterThan(0);
        expect(own).toEqual(versions(first).filter((v) => v >= (own[0] as number)));
      };
      followsFirst(second);
      followsFirst(other);
      followsFirst(late);
      expect(versions(late)[0]).toBeGreaterThan(versions(first)[0] as number);
      expect(late.results.at(-1)?.data?.diagnosisUpdated.status).toBe('COMPLETED');
    } finally {
      await ws.dispose();
      await wsAdmin.dispose();
    }
  });

  it('cancels a running job: the worker stops and never completes it; cancelling again is BAD_USER_INPUT', async () => {
    const t = await slowApi.token('dr-cancel');
    const patientId = await newPatient(slowApi, t);
    const { id } = (
      await execute(slowApi.url, RequestDiagnosisDocument, { patientId, input: INPUT }, { token: t })
    ).expectData().requestDiagnosis;
    const ws = connectWs(slowApi.wsUrl, `Bearer ${t}`);
    try {
      const updates = ws.stream(DiagnosisUpdatedDocument, { id });
      await updates.until((rs) =>
        rs.some((r) => r.data?.diagnosisUpdated.status === 'RUNNING' && (r.data.diagnosisUpdated.progress ?? 0) > 0),
      );
      const cancelled = (await execute(slowApi.url, CancelDiagnosisDocument, { id }, { token: t })).expectData()
        .cancelDiagnosis;
      expect(cancelled.status).toBe('CANCELLED');
      await updates.done;
      expect(updates.results.at(-1)?.data?.diagnosisUpdated.status).toBe('CANCELLED');

      await new Promise((r) => setTimeout(r, 1_500)); // longer than the rest of the model's work
      const after = (await execute(slowApi.url, DiagnosisViewDocument, { id }, { token: t })).expectData().diagnosis;
      expect(after).toMatchObject({ status: 'CANCELLED', result: null, version: cancelled.version });
      const again = await execute(slowApi.url, CancelDiagnosisDocument, { id }, { token: t });
      expect(again.codes).toEqual(['BAD_USER_INPUT']);
    } finally {
      await ws.dispose();
    }
  });

  it('cancels a queued job before any worker takes it', async () => {
    await slowWorker.stop();
    const t = await slowApi.token('dr-cancel');
    const patientId = await newPatient(slowApi, t);
    const { id } = (
      await execute(slowApi.url, RequestDiagnosisDocument, { patientId, input: INPUT }, { token: t })
    ).expectData().requestDiagnosis;
    const cancelled = (await execute(slowApi.url, CancelDiagnosisDocument, { id }, { token: t })).expectData()
      .cancelDiagnosis;
    expect(cancelled).toMatchObject({ status: 'CANCELLED', version: 2 });
    // A worker that later receives the job acknowledges and skips it.
    slowWorker = await startTestWorker(targetOf(slowApi));
    await new Promise((r) => setTimeout(r, 1_000));
    const rows = await queryDatabase(slowApi.db.url, 'select status, attempts from diagnosis where id = $1', [id]);
    expect(rows).toEqual([{ status: 'CANCELLED', attempts: 0 }]);
  });
});

describe('a job that keeps failing', () => {
  let api: TestApi;
  let failing: TestWorker;
  let calls = 0;
  const broken: DiagnosisProvider = {
    name: 'openai',
    model: 'broken-model',
    version: 'broken-1',
    promptVersion: null,
    diagnose: async () => {
      calls += 1;
      throw new ProviderOutputError('the model gave malformed JSON');
    },
  };
  beforeAll(async () => {
    api = await startTestApi();
    failing = await startTestWorker(targetOf(api), { JOB_MAX_DELIVER: '3', JOB_RETRY_DELAY_MS: '50' }, broken);
  });
  afterAll(async () => {
    await failing?.stop();
    await api?.close();
  });

  it('ends FAILED with the error after MaxDeliver attempts, and lands in the dead-letter stream', async () => {
    const t = await api.token('dr-fail');
    const patientId = await newPatient(api, t);
    const { id } = (
      await execute(api.url, RequestDiagnosisDocument, { patientId, input: INPUT }, { token: t })
    ).expectData().requestDiagnosis;
    const ws = connectWs(api.wsUrl, `Bearer ${t}`);
    try {
      const updates = ws.stream(DiagnosisUpdatedDocument, { id });
      await updates.done;
      const views = updates.results.map((r) => r.data?.diagnosisUpdated);
      const final = views.at(-1);
      expect(final).toMatchObject({ status: 'FAILED', attempts: 3, error: 'the model gave malformed JSON' });
      // Retries went back to QUEUED in between, with the error visible.
      expect(views.filter((v) => v?.status === 'QUEUED' && v.error).length).toBeGreaterThanOrEqual(1);
      expect(calls).toBe(3);
      const counts = await failing.queue.counts();
      expect(counts.deadLetters).toBe(1);
      expect(await failing.queue.deadLetters()).toEqual([
        expect.objectContaining({ diagnosisId: id, reason: 'the model gave malformed JSON' }),
      ]);
      const rows = await queryDatabase(api.db.url, 'select status, attempts, error from diagnosis where id = $1', [id]);
      expect(rows).toEqual([{ status: 'FAILED', attempts: 3, error: 'the model gave malformed JSON' }]);
      const transitions = await queryDatabase<{ status: string }>(
        api.db.url,
        'select status from diagnosis_transition where diagnosis_id = $1 order by version',
        [id],
      );
      expect(transitions.map((t) => t.status)).toEqual([
        'QUEUED',
        'RUNNING',
        'QUEUED',
        'RUNNING',
        'QUEUED',
        'RUNNING',
        'FAILED',
      ]);
    } finally {
      await ws.dispose();
    }
  });
});
