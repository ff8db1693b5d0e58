import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../bench/lib/processes.js';
import {
  AddCareTeamMemberDocument,
  CancelDiagnosisDocument,
  DiagnosisUpdatedDocument,
  DiagnosisViewDocument,
  MeDocument,
  PatientAssessmentDocument,
  PatientDiagnosesDocument,
  PatientViewDocument,
  RecordObservationsDocument,
  RemoveCareTeamMemberDocument,
  RequestDiagnosisDocument,
} from '../../client/index.js';
import type { JetStreamQueue } from '../../src/jobs/queue.js';
import { execute } from '../helpers/graphql.js';
import { createPatient, VITALS_NEWS2_7 } from '../helpers/patients.js';
import { startTestApi, type TestApi } from '../helpers/server.js';
import { eventually, type OwnServer, startOwnNats, startOwnRedis } from '../helpers/services.js';
import { spawnWorker, targetOf } from '../helpers/worker.js';
import { connectWs, type WsConnection, type WsStream } from '../helpers/ws.js';

/**
 * Degraded operation on the real stack: this file's own Redis and NATS are stopped under a running
 * API pod and worker (the machine's shared ones never are). The pod stays ready (`degraded`) and
 * keeps serving what does not need the missing store; the worker pauses and holds its job; when
 * the store returns, jobs finish — none FAILED, none dead-lettered — and every open subscription
 * catches up, its versions only ever growing.
 *
 * The worker's retry budget is small (2 deliveries, a 3 s ack wait) and the Redis outage lasts
 * longer than that budget would survive if outages spent attempts (each redelivery after an ack
 * wait would count one).
 */

const OUTAGE_MS = 8_000;
const RATE_LIMIT_POINTS = 400;

interface Probe {
  status: number;
  body: { status: string; checks: Record<string, { ok: boolean }> };
}
const probe = async (base: string): Promise<Probe> => {
  const res = await fetch(`${base}/health/ready`);
  return { status: res.status, body: await res.json() };
};
const metricsOf = async (base: string) => (await fetch(`${base}/metrics`)).text();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Updates = WsStream<{ diagnosisUpdated: { id: string; status: string; version: number; progress: number } }>;
type PatientUpdates = WsStream<{ patientDiagnoses: { id: string; status: string; version: number } }>;

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);
const statuses = (stream: Updates) => stream.results.map((r) => r.data?.diagnosisUpdated.status);
const lastStatus = (stream: Updates) => statuses(stream).at(-1);

/** What a client saw of one diagnosis never goes back: strictly growing versions, nothing after a terminal state. */
function expectForwardOnly(stream: Updates): void {
  expect(stream.results.every((r) => !r.errors)).toBe(true);
  const views = stream.results.map((r) => r.data?.diagnosisUpdated);
  const versions = views.map((v) => v?.version ?? 0);
  for (let i = 1; i < versions.length; i++) expect(versions[i]).toBeGreaterThan(versions[i - 1] as number);
  const terminal = views.findIndex((v) => v && TERMINAL.has(v.status));
  if (terminal >= 0) expect(terminal).toBe(views.length - 1);
}

/** The same per diagnosis of a patient subscription; answers the statuses seen per diagnosis. */
function patientSeen(stream: PatientUpdates): Map<string, string[]> {
  const seen = new Map<string, { versions: number[]; statuses: string[] }>();
  for (const r of stream.results) {
    expect(r.errors).toBeUndefined();
    const view = r.data?.patientDiagnoses;
    if (!view) continue;
    const entry = seen.get(view.id) ?? { versions: [], statuses: [] };
    const last = entry.versions.at(-1);
    if (last !== undefined) expect(view.version).toBeGreaterThan(last);
    entry.versions.push(view.version);
    entry.statuses.push(view.status);
    seen.set(view.id, entry);
  }
  return new Map([...seen].map(([id, e]) => [id, e.statuses]));
}

describe('degraded operation while Redis or NATS is down', () => {
  let redis: OwnServer;
  let nats: OwnServer;
  let api: TestApi;
  let worker: ChildProcess | undefined;
  let workerBase: string;
  let workerLog = '';
  let token: string;
  let patientId: string;
  let ws: WsConnection;

  const request = async (symptoms: string[]) =>
    (await execute(api.url, RequestDiagnosisDocument, { patientId, input: { symptoms } }, { token })).expectData()
      .requestDiagnosis;
  const diagnosis = async (id: string) =>
    (await execute(api.url, DiagnosisViewDocument, { id }, { token })).expectData().diagnosis;

  beforeAll(async () => {
    [redis, nats] = await Promise.all([startOwnRedis(), startOwnNats()]);
    const probing = { HEALTH_TIMEOUT_MS: '2000', STORE_CHECK_INTERVAL_MS: '200' };
    api = await startTestApi({
      env: { REDIS_URL: redis.url, NATS_URL: nats.url, RATE_LIMIT_POINTS: String(RATE_LIMIT_POINTS), ...probing },
    });
    const port = await freePort();
    workerBase = `http://127.0.0.1:${port}`;
    worker = spawnWorker(
      targetOf(api, nats.url),
      {
        ...probing,
        REDIS_URL: redis.url,
        WORKER_HEALTH_PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        JOB_MAX_DELIVER: '2',
        JOB_ACK_WAIT_MS: '3000',
        // Long enough jobs (~4 s) that one is certainly running when Redis is stopped.
        RULES_CHUNK_DELAY_MS: '250',
      },
      { logs: true },
    );
    worker.stderr?.on('data', (chunk: Buffer) => {
      workerLog = (workerLog + chunk.toString()).slice(-50_000);
    });
    worker.stdout?.on('data', (chunk: Buffer) => {
      workerLog = (workerLog + chunk.toString()).slice(-50_000);
    });
    await eventually(
      () => probe(workerBase),
      (p) => p.status === 200,
      { timeoutMs: 60_000, what: 'the worker to be ready' },
    );
    token = await api.token('dr-degraded');
    patientId = await createPatient(api.url, token, { birthDate: '1958-03-04' });
    ws = connectWs(api.wsUrl, `Bearer ${token}`);
    await ws.connected;
  }, 120_000);

  afterAll(async () => {
    await ws?.dispose();
    if (worker && worker.exitCode === null) {
      const exited = new Promise((resolve) => worker?.once('exit', resolve));
      worker.kill('SIGTERM');
      await exited;
    }
    await api?.close();
    await Promise.all([redis?.dispose(), nats?.dispose()]);
  });

  it('Redis down: the pod stays ready and serves; the worker holds its job; all catch up when Redis returns', async () => {
    const patientStream = ws.stream(PatientDiagnosesDocument, { patientId }) as PatientUpdates;
    // The patient subscription is in place once it delivers the first diagnosis' QUEUED.
    const running = await request(['fever', 'cough', 'shortness of breath']);
    const runningStream = ws.stream(DiagnosisUpdatedDocument, { id: running.id }) as Updates;
    await runningStream.until(
      (rs) => rs.some((r) => r.data?.diagnosisUpdated.status === 'RUNNING' && r.data.diagnosisUpdated.progress > 0),
      30_000,
    );
    await patientStream.until((rs) => rs.some((r) => r.data?.patientDiagnoses.id === running.id));

    await redis.stop();
    const stoppedAt = Date.now();
    const seenBefore = Math.max(...runningStream.results.map((r) => r.data?.diagnosisUpdated.version ?? 0));

    // Readiness: 200 "degraded", naming Redis; the API's and the worker's metrics and logs say so.
    const ready = await eventually(
      () => probe(api.base),
      (p) => p.body.checks.redis?.ok === false,
      { what: 'readiness naming redis' },
    );
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('degraded');
    expect(ready.body.checks.database?.ok).toBe(true);
    expect(ready.body.checks.nats?.ok).toBe(true);
    await eventually(
      () => metricsOf(api.base),
      (text) => text.includes('store_up{store="redis"} 0'),
    );
    expect(api.logs.text).toContain('store down: redis');
    const workerReady = await eventually(
      () => probe(workerBase),
      (p) => p.body.checks.redis?.ok === false,
      { what: 'worker readiness naming redis' },
    );
    expect(workerReady.status).toBe(200);
    expect(workerReady.body.status).toBe('degraded');
    await eventually(
      () => metricsOf(workerBase),
      (text) => text.includes('store_up{store="redis"} 0'),
    );

    // Patient reads and writes, and a LIVE assessment (new observations: nothing cached to serve).
    expect((await execute(api.url, PatientViewDocument, { id: patientId }, { token })).expectData().patient?.id).toBe(
      patientId,
    );
    (
      await execute(
        api.url,
        RecordObservationsDocument,
        {
          patientId,
          input: VITALS_NEWS2_7,
        },
        { token },
      )
    ).expectData();
    const assessment = (await execute(api.url, PatientAssessmentDocument, { patientId }, { token })).expectData()
      .assessment;
    expect(assessment.source).toBe('LIVE');
    expect(assessment.score).toBe(7);

    // Without Redis a diagnosis is read from Postgres, which kept up with every version published:
    // no reader sees it go back (and once Redis returns empty, numbering goes on from there).
    expect((await diagnosis(running.id))?.version).toBeGreaterThanOrEqual(seenBefore);

    // A diagnosis is accepted (it waits in Postgres), and can be followed from its first state.
    const accepted = await request(['wheeze', 'cough']);
    expect(accepted.status).toBe('QUEUED');
    const acceptedStream = ws.stream(DiagnosisUpdatedDocument, { id: accepted.id }) as Updates;
    await acceptedStream.until((rs) => rs.length > 0);
    expect(lastStatus(acceptedStream)).toBe('QUEUED');

    // Care-team changes are patient writes: they work, a colleague added and removed again.
    const colleague = 'dr-degraded-colleague';
    await api.token(colleague);
    (await execute(api.url, AddCareTeamMemberDocument, { patientId, clinicianId: colleague }, { token })).expectData();
    (
      await execute(api.url, RemoveCareTeamMemberDocument, { patientId, clinicianId: colleague }, { token })
    ).expectData();
    // A cancel needs the live state's compare-and-set: refused clearly, and retryable, never INTERNAL.
    const cancelled = await execute(api.url, CancelDiagnosisDocument, { id: accepted.id }, { token });
    expect(cancelled.codes).toEqual(['QUEUE_UNAVAILABLE']);
    expect(api.logs.text).toContain('care-team removal not announced');

    // Rate limits hold, per pod: a flood from one clinician is refused by the in-memory budget.
    const flooder = await api.token('dr-flood');
    let refused: Record<string, unknown> | undefined;
    for (let sent = 0; sent <= RATE_LIMIT_POINTS && !refused; sent += 50) {
      const answers = await Promise.all(
        Array.from({ length: 50 }, () => execute(api.url, MeDocument, {}, { token: flooder })),
      );
      refused = answers.find((a) => a.codes.includes('RATE_LIMITED'))?.errors?.[0]?.extensions;
    }
    expect(refused?.retryAfterMs).toEqual(expect.any(Number));

    // Longer than the retry budget would last if an outage spent attempts.
    await sleep(Math.max(0, stoppedAt + OUTAGE_MS - Date.now()));
    expect(workerLog).toContain('store down: redis');
    await redis.start();

    await runningStream.until((rs) => TERMINAL.has(rs.at(-1)?.data?.diagnosisUpdated.status ?? ''), 60_000);
    await acceptedStream.until((rs) => TERMINAL.has(rs.at(-1)?.data?.diagnosisUpdated.status ?? ''), 60_000);
    expect(lastStatus(runningStream)).toBe('COMPLETED');
    expect(lastStatus(acceptedStream)).toBe('COMPLETED');
    expectForwardOnly(runningStream);
    expectForwardOnly(acceptedStream);
    // The patient subscription, open throughout, saw the diagnosis accepted during the outage and both outcomes.
    await patientStream.until((rs) => {
      const done = (id: string) =>
        rs.some((r) => r.data?.patientDiagnoses.id === id && r.data.patientDiagnoses.status === 'COMPLETED');
      return done(running.id) && done(accepted.id);
    }, 30_000);
    const seen = patientSeen(patientStream);
    expect(seen.get(accepted.id)?.at(-1)).toBe('COMPLETED');
    expect(seen.get(running.id)?.at(-1)).toBe('COMPLETED');
    patientStream.stop();

    const record = await diagnosis(running.id);
    expect(record?.status).toBe('COMPLETED');
    expect(record?.error).toBeNull();
    // The worker acks after the live store announced the outcome: the queue empties a moment later.
    await eventually(
      () => (api.deps.queue as JetStreamQueue).counts(),
      (c) => c.pending === 0 && c.deadLetters === 0,
      { what: 'an empty work queue and no dead letter' },
    );
    await eventually(
      () => probe(api.base),
      (p) => p.body.status === 'ok',
      { what: 'readiness ok again' },
    );
  }, 120_000);

  it('NATS down: diagnoses wait in the outbox, the job in hand finishes, all are published when NATS returns', async () => {
    const inHand = await request(['chest pain', 'sweating']);
    const inHandStream = ws.stream(DiagnosisUpdatedDocument, { id: inHand.id }) as Updates;
    await inHandStream.until((rs) => rs.some((r) => r.data?.diagnosisUpdated.status === 'RUNNING'), 30_000);

    await nats.stop();
    const ready = await eventually(
      () => probe(api.base),
      (p) => p.body.checks.nats?.ok === false,
      { what: 'readiness naming nats' },
    );
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('degraded');
    expect(ready.body.checks.redis?.ok).toBe(true);

    const waiting = await request(['dysuria', 'fever']);
    expect(waiting.status).toBe('QUEUED');
    const waitingStream = ws.stream(DiagnosisUpdatedDocument, { id: waiting.id }) as Updates;
    // The job in hand needs Redis and Postgres only: it finishes while NATS is away.
    await inHandStream.until((rs) => TERMINAL.has(rs.at(-1)?.data?.diagnosisUpdated.status ?? ''), 30_000);
    expect(lastStatus(inHandStream)).toBe('COMPLETED');
    const outbox = async () =>
      (
        await api.deps.orm.em
          .getConnection()
          .execute<{ n: number }[]>('select count(*)::int as n from outbox_message where id = ?', [waiting.id])
      )[0]?.n;
    // The relay tried and failed: the job is still in the outbox.
    await eventually(
      async () =>
        (
          await api.deps.orm.em
            .getConnection()
            .execute<{ attempts: number }[]>('select attempts from outbox_message where id = ?', [waiting.id])
        )[0]?.attempts ?? 0,
      (attempts) => attempts > 0,
      { what: 'a failed publish from the outbox' },
    );
    expect(await outbox()).toBe(1);
    expect(lastStatus(waitingStream)).toBe('QUEUED');

    await nats.start();
    await waitingStream.until((rs) => TERMINAL.has(rs.at(-1)?.data?.diagnosisUpdated.status ?? ''), 60_000);
    expect(lastStatus(waitingStream)).toBe('COMPLETED');
    expectForwardOnly(waitingStream);
    expectForwardOnly(inHandStream);
    expect(await outbox()).toBe(0);
    // The job finished during the outage is not run again when its (lost) acknowledgement is redelivered.
    const finished = await diagnosis(inHand.id);
    expect(finished?.status).toBe('COMPLETED');
    expect(finished?.attempts).toBe(1);
    expect(await (api.deps.queue as JetStreamQueue).counts()).toMatchObject({ deadLetters: 0 });
  }, 120_000);
});
