/**
 * `Patient.assessmentHistory` on the real stack: PostgreSQL, Redis, the reference model server
 * (in process, as the other assessment tests start it, counting its inference calls) and, for the
 * breaker, a faulty proxy in front of it. The history of a patient must equal what the live
 * assessment gives each of its past snapshots on its own — checked against twins (one patient per
 * snapshot, recorded in one go) scored by a second API with a cache of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CreatePatientInput,
  type ObservationsInput,
  PatientAssessmentDocument,
  PatientAssessmentHistoryDocument,
  RecordObservationsDocument,
  type RiskModel,
} from '../../client/index.js';
import { createModelServer, type InferEvent, type ModelServer } from '../../ml-server/server.js';
import { PatientObservationsDocument, PatientsAssessmentHistoryDocument } from '../gql/graphql.js';
import { type BreakerStack, startBreakerStack } from '../helpers/breaker.js';
import { queryDatabase } from '../helpers/database.js';
import type { FaultyModelServer } from '../helpers/faulty-model-server.js';
import { execute } from '../helpers/graphql.js';
import { createPatientWith, VITALS_NEWS2_7, yearsAgo } from '../helpers/patients.js';
import { startTestApi, type TestApi } from '../helpers/server.js';

const MAN_1960: Partial<CreatePatientInput> = { birthDate: '1960-05-05', sex: 'MALE' };

/** Records each set in turn for a new patient of `token`'s clinician; the patient's id. */
async function patientRecording(
  api: TestApi,
  token: string,
  sets: ObservationsInput[],
  over: Partial<CreatePatientInput> = MAN_1960,
): Promise<string> {
  const [first, ...rest] = sets;
  const id = await createPatientWith(api.url, token, first, over);
  for (const input of rest) {
    (await execute(api.url, RecordObservationsDocument, { patientId: id, input }, { token })).expectData();
  }
  return id;
}

/** The snapshot after each recording: each set's fields replace the ones before. */
const snapshots = (sets: ObservationsInput[]) =>
  sets.map((_, i) => Object.assign({}, ...sets.slice(0, i + 1)) as ObservationsInput);

const history = (api: TestApi, token: string, patientId: string, model: RiskModel, last?: number | null) =>
  execute(api.url, PatientAssessmentHistoryDocument, { patientId, model, last }, { token });

describe('assessment history with a healthy model server', () => {
  let model: ModelServer;
  const calls: InferEvent[] = [];
  let api: TestApi;
  /** Scores the twins: same database, a Redis prefix (so an assessment cache) of its own. */
  let twins: TestApi;
  let token: string;

  beforeAll(async () => {
    model = createModelServer({ onInfer: (event) => calls.push(event) });
    const mlUrl = (await model.listen(0, '127.0.0.1')).href;
    api = await startTestApi({ mlUrl });
    twins = await startTestApi({ mlUrl, db: api.db });
    token = await api.token('dr-history');
  });
  afterAll(async () => {
    await twins?.close();
    await api?.close();
    await model?.close();
  });

  /** Each snapshot scored on its own: a twin patient recorded in one go, assessed live. */
  async function scoredAlone(sets: ObservationsInput[], model: RiskModel, over: Partial<CreatePatientInput>) {
    const twinToken = await twins.token('dr-twins');
    const scores: { score: number; riskLevel: string; modelVersion: string }[] = [];
    for (const snapshot of snapshots(sets)) {
      const id = await createPatientWith(twins.url, twinToken, snapshot, over);
      const res = await execute(twins.url, PatientAssessmentDocument, { patientId: id, model }, { token: twinToken });
      if (res.codes[0] === 'BAD_USER_INPUT') continue; // the model could not score this snapshot
      const { score, riskLevel, modelVersion, source } = res.expectData().assessment;
      expect(source).toBe('LIVE');
      scores.push({ score, riskLevel, modelVersion });
    }
    return scores;
  }

  it('NEWS2: one point per recording the model can score, oldest first, each equal to that snapshot scored alone', async () => {
    const sets: ObservationsInput[] = [
      { heartRate: 90 }, // NEWS2 cannot run yet: no point
      VITALS_NEWS2_7,
      { heartRate: 80, respiratoryRate: 16 },
      { spo2: 91, totalCholesterol: 200 },
      { consciousness: 'CONFUSION' },
    ];
    const id = await patientRecording(api, token, sets);
    const points = (await history(api, token, id, 'NEWS2')).expectData().patient?.assessmentHistory ?? [];

    // RCP chart: the README's 7; HR 80 and RR 16 score 0 → 3; SpO₂ 91 scores 3 → 5; new confusion 3 → 8.
    expect(points.map((p) => [p.score, p.riskLevel])).toEqual([
      [7, 'HIGH'],
      [3, 'LOW'],
      [5, 'MEDIUM'],
      [8, 'HIGH'],
    ]);
    expect(points.map(({ score, riskLevel, modelVersion }) => ({ score, riskLevel, modelVersion }))).toEqual(
      await scoredAlone(sets, 'NEWS2', MAN_1960),
    );
    expect(new Set(points.map((p) => p.model))).toEqual(new Set(['news2']));
    expect(new Set(points.map((p) => p.source))).toEqual(new Set(['LIVE']));

    // The points are the recordings (all but the first), in the order the observation history lists them.
    const recorded = (await execute(api.url, PatientObservationsDocument, { id }, { token })).expectData().patient
      ?.observations.edges;
    const oldestFirst = (recorded ?? []).map((e) => e.node).reverse();
    expect(points.map((p) => [p.observationId, p.observedAt])).toEqual(
      oldestFirst.slice(1).map((o) => [o.id, o.recordedAt]),
    );
    for (const p of points) expect(Date.parse(p.computedAt)).toBeGreaterThanOrEqual(Date.parse(p.observedAt));

    // The newest point is today's snapshot: the live assessment of it is the same score, from the cache.
    const live = (
      await execute(api.url, PatientAssessmentDocument, { patientId: id, model: 'NEWS2' }, { token })
    ).expectData().assessment;
    expect(live).toMatchObject({ score: 8, source: 'CACHE', computedAt: points.at(-1)?.computedAt });

    // No cholesterol-and-flags snapshot: no Framingham point at all.
    expect((await history(api, token, id, 'FRAMINGHAM_CVD_10Y')).expectData().patient?.assessmentHistory).toEqual([]);
  });

  it('Framingham: each snapshot scored alone, the published example first (10.37514 %)', async () => {
    const man53 = { birthDate: yearsAgo(53), sex: 'MALE' as const };
    const sets: ObservationsInput[] = [
      { totalCholesterol: 216.16, hdlCholesterol: 54.91, systolicBp: 133, onBpTreatment: false, smoker: false },
      { diabetic: false }, // now complete: pharmaverse/admiral's compute_framingham() example
      { smoker: true },
      { systolicBp: 150, onBpTreatment: true, heartRate: 70 },
    ];
    const id = await patientRecording(api, token, sets, man53);
    const points = (await history(api, token, id, 'FRAMINGHAM_CVD_10Y')).expectData().patient?.assessmentHistory ?? [];
    expect(points).toHaveLength(3);
    expect((points[0]?.score ?? 0) * 100).toBeCloseTo(10.37514, 3);
    expect(points.map(({ score, riskLevel, modelVersion }) => ({ score, riskLevel, modelVersion }))).toEqual(
      await scoredAlone(sets, 'FRAMINGHAM_CVD_10Y', man53),
    );
    expect(new Set(points.map((p) => p.model))).toEqual(new Set(['framingham-cvd-10y']));
    const times = points.map((p) => Date.parse(p.observedAt));
    expect([...times].sort((x, y) => x - y)).toEqual(times);
  });

  it('bounds last: the newest n points, 0 for none, more than recorded for all, BAD_USER_INPUT past 100', async () => {
    const sets = [VITALS_NEWS2_7, { heartRate: 95 }, { heartRate: 52 }, { temperatureC: 39.4 }];
    const id = await patientRecording(api, token, sets);
    const all = (await history(api, token, id, 'NEWS2')).expectData().patient?.assessmentHistory ?? [];
    expect(all).toHaveLength(4);
    expect((await history(api, token, id, 'NEWS2', 2)).expectData().patient?.assessmentHistory).toEqual(
      all.slice(2).map((p) => ({ ...p, source: 'CACHE' })),
    );
    expect((await history(api, token, id, 'NEWS2', 0)).expectData().patient?.assessmentHistory).toEqual([]);
    expect((await history(api, token, id, 'NEWS2', 100)).expectData().patient?.assessmentHistory).toHaveLength(4);
    expect((await history(api, token, id, 'NEWS2', null)).expectData().patient?.assessmentHistory).toHaveLength(4);
    for (const last of [101, -1]) {
      const refused = await history(api, token, id, 'NEWS2', last);
      expect(refused.codes).toEqual(['BAD_USER_INPUT']);
      expect(refused.errors?.[0]?.message).toBe('last must be an integer from 0 to 100');
      // The patient is still answered; only its history is refused.
      expect(refused.data?.patient).toMatchObject({ id, assessmentHistory: null });
    }
  });

  it("answers another clinician's patient with NOT_FOUND, computes nothing, and audits every read", async () => {
    const id = await patientRecording(api, token, [VITALS_NEWS2_7, { heartRate: 99 }]);
    const before = calls.length;
    const outsider = await history(api, await api.token('dr-outsider'), id, 'NEWS2');
    expect(outsider.codes).toEqual(['NOT_FOUND']);
    expect(outsider.data?.patient).toBeNull();
    expect(calls.length).toBe(before);

    (await history(api, token, id, 'NEWS2')).expectData();
    await api.auditSettled();
    const rows = await queryDatabase<{ agent_id: string; subtype: string; outcome: number; operation_name: string }>(
      api.db.url,
      `select agent_id, subtype, outcome, operation_name from audit_event
        where patient_id = $1 and action = 'R' order by agent_id, subtype`,
      [id],
    );
    expect(rows).toEqual([
      {
        agent_id: 'dr-history',
        subtype: 'patient.assessment.history.read',
        outcome: 0,
        operation_name: 'PatientAssessmentHistory',
      },
      { agent_id: 'dr-history', subtype: 'patient.read', outcome: 0, operation_name: 'PatientAssessmentHistory' },
      // The refusal leaves its trail on the patient, and no history row: nothing was read.
      { agent_id: 'dr-outsider', subtype: 'patient.read', outcome: 4, operation_name: 'PatientAssessmentHistory' },
    ]);
  });

  it('scores the points of a page of patients in one batched model call, then answers from the cache', async () => {
    const clinician = await api.token('dr-history-batch');
    // Inputs no other test uses (the cache is keyed by inputs). The third recording changes no
    // NEWS2 input: its point has the second's inputs, and is computed once for both.
    for (let i = 0; i < 3; i++) {
      const vitals = { ...VITALS_NEWS2_7, heartRate: 131 + i, temperatureC: 36.2 };
      await patientRecording(api, clinician, [vitals, { heartRate: 41 + i }, { totalCholesterol: 180 }]);
    }
    const before = calls.length;
    const page = (
      await execute(api.url, PatientsAssessmentHistoryDocument, { first: 10, model: 'NEWS2' }, { token: clinician })
    )
      .expectData()
      .patients.edges.map((e) => e.node.assessmentHistory ?? []);
    expect(page.map((points) => points.map((p) => p.source))).toEqual(Array(3).fill(['LIVE', 'LIVE', 'LIVE']));
    for (const points of page) expect(points[2]?.score).toBe(points[1]?.score);
    expect(calls.slice(before)).toEqual([{ model: 'news2', version: '1.0.0', batchSize: 6 }]);

    const again = (
      await execute(api.url, PatientsAssessmentHistoryDocument, { first: 10, model: 'NEWS2' }, { token: clinician })
    )
      .expectData()
      .patients.edges.map((e) => (e.node.assessmentHistory ?? []).map((p) => p.source));
    expect(again).toEqual(Array(3).fill(['CACHE', 'CACHE', 'CACHE']));
    expect(calls.length).toBe(before + 1);
  });

  it('reuses the live assessment: only the points not cached go to the model', async () => {
    const id = await patientRecording(api, token, [
      { ...VITALS_NEWS2_7, heartRate: 127, temperatureC: 36.3 },
      { respiratoryRate: 22 },
      { spo2: 97 },
    ]);
    const live = (await execute(api.url, PatientAssessmentDocument, { patientId: id }, { token })).expectData()
      .assessment;
    expect(live.source).toBe('LIVE');
    const before = calls.length;
    const points = (await history(api, token, id, 'NEWS2')).expectData().patient?.assessmentHistory ?? [];
    expect(points.map((p) => p.source)).toEqual(['LIVE', 'LIVE', 'CACHE']);
    expect(points.at(-1)).toMatchObject({ score: live.score, computedAt: live.computedAt });
    expect(calls.slice(before)).toEqual([{ model: 'news2', version: '1.0.0', batchSize: 2 }]);
  });
});

describe('assessment history when the model server fails', () => {
  let stack: BreakerStack;
  let api: TestApi;
  let faulty: FaultyModelServer;
  let token: string;

  beforeAll(async () => {
    stack = await startBreakerStack('dr-history-breaker');
    ({ api, faulty, token } = stack);
  });
  afterAll(() => stack?.close());

  const breakerState = () => stack.breakerState();
  const timed = async (id: string) => {
    const started = performance.now();
    const res = await history(api, token, id, 'NEWS2');
    return { res, ms: performance.now() - started };
  };

  it('serves a fully cached history as STALE_CACHE, refuses one with a point missing (ML_UNAVAILABLE), recovers', async () => {
    const vitals = { ...VITALS_NEWS2_7, systolicBp: 117, heartRate: 123 };
    const cached = await patientRecording(api, token, [vitals, { respiratoryRate: 14 }, { spo2: 98 }]);
    const partly = await patientRecording(api, token, [{ ...vitals, temperatureC: 36.4 }, { respiratoryRate: 13 }]);
    const scored = (await timed(cached)).res.expectData().patient?.assessmentHistory ?? [];
    expect(scored.map((p) => p.source)).toEqual(['LIVE', 'LIVE', 'LIVE']);
    expect((await timed(partly)).res.expectData().patient?.assessmentHistory).toHaveLength(2);
    // One more recording while the model is down: its point is in no cache.
    await faulty.setMode('down');
    (
      await execute(api.url, RecordObservationsDocument, { patientId: partly, input: { spo2: 99 } }, { token })
    ).expectData();

    for (let i = 0; i < 6; i++) {
      const stale = await timed(cached);
      expect(stale.res.expectData().patient?.assessmentHistory).toEqual(
        scored.map((p) => ({ ...p, source: 'STALE_CACHE' })),
      );
      expect(stale.ms).toBeLessThan(1_000);
      const gap = await timed(partly);
      expect(gap.res.codes).toEqual(['ML_UNAVAILABLE']);
      expect(gap.res.errors?.[0]?.message).toBe('The risk model is unavailable and no cached assessment exists');
      expect(gap.res.data?.patient).toMatchObject({ id: partly, assessmentHistory: null });
      expect(gap.ms).toBeLessThan(1_000);
    }
    expect(await breakerState()).toBe(2);
    // Open: nothing reaches the server, and the answers are the same.
    const requestsBefore = faulty.inferRequests;
    expect((await timed(partly)).res.codes).toEqual(['ML_UNAVAILABLE']);
    expect(((await timed(cached)).res.data?.patient?.assessmentHistory ?? []).map((p) => p.source)).toEqual(
      Array(3).fill('STALE_CACHE'),
    );
    expect(faulty.inferRequests).toBe(requestsBefore);

    await faulty.setMode('pass');
    await new Promise((resolve) => setTimeout(resolve, 1_600)); // past the reset timeout: half-open
    const recovered = (await timed(partly)).res.expectData().patient?.assessmentHistory ?? [];
    expect(recovered.map((p) => p.source)).toEqual(['LIVE', 'LIVE', 'LIVE']);
    expect(await breakerState()).toBe(0);
    // Nothing of the observations reaches the logs (the breaker's and the cache's lines included).
    expect(api.logs.text).not.toMatch(/systolic|respiratory|spo2|heart/i);
  }, 30_000);
});
