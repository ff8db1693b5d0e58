import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../bench/lib/processes.js';
import { DiagnosisUpdatedDocument, RequestDiagnosisDocument } from '../../client/index.js';
import { queryDatabase } from '../helpers/database.js';
import { execute } from '../helpers/graphql.js';
import { createPatient } from '../helpers/patients.js';
import { startTestApi, type TestApi } from '../helpers/server.js';
import { spawnWorker, startTestWorker, targetOf } from '../helpers/worker.js';
import { connectWs } from '../helpers/ws.js';

const INPUT = { symptoms: ['chest pain', 'sweating', 'shortness of breath'], notes: null };

async function patientAndToken(api: TestApi) {
  const token = await api.token('dr-chaos');
  return { token, patientId: await createPatient(api.url, token, { birthDate: '1970-01-01', sex: 'MALE' }) };
}

const exited = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );

describe('worker failures', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(() => api?.close());

  it('finishes exactly once when a worker is SIGKILLed mid-job and another takes over', async () => {
    const { token, patientId } = await patientAndToken(api);
    // A slow worker with a short ack wait, so the job is redelivered soon after the kill.
    const doomed = spawnWorker(targetOf(api), { RULES_CHUNK_DELAY_MS: '250', JOB_ACK_WAIT_MS: '2000' });
    const ws = connectWs(api.wsUrl, `Bearer ${token}`);
    try {
      const { id } = (
        await execute(api.url, RequestDiagnosisDocument, { patientId, input: INPUT }, { token })
      ).expectData().requestDiagnosis;
      const updates = ws.stream(DiagnosisUpdatedDocument, { id });
      await updates.until(
        (rs) => rs.some((r) => r.data?.diagnosisUpdated.status === 'RUNNING' && r.data.diagnosisUpdated.progress > 0.1),
        30_000,
      );
      doomed.kill('SIGKILL');
      await exited(doomed);

      const rescuer = await startTestWorker(targetOf(api), { JOB_ACK_WAIT_MS: '2000' });
      try {
        await updates.done;
        const views = updates.results.map((r) => r.data?.diagnosisUpdated);
        expect(views.filter((v) => v?.status === 'COMPLETED')).toHaveLength(1);
        expect(views.at(-1)).toMatchObject({ status: 'COMPLETED', attempts: 2 });
        const versions = views.map((v) => v?.version as number);
        expect([...versions].sort((x, y) => x - y)).toEqual(versions);
        expect(new Set(versions).size).toBe(versions.length);
        const rows = await queryDatabase(api.db.url, 'select status, attempts from diagnosis where id = $1', [id]);
        expect(rows).toEqual([{ status: 'COMPLETED', attempts: 2 }]);
      } finally {
        await rescuer.stop();
      }
    } finally {
      if (doomed.exitCode === null && doomed.signalCode === null) doomed.kill('SIGKILL');
      await ws.dispose();
    }
  }, 60_000);

  it('on SIGTERM a worker releases its job, exits 0, and another worker completes it', async () => {
    const { token, patientId } = await patientAndToken(api);
    const leaving = spawnWorker(targetOf(api), { RULES_CHUNK_DELAY_MS: '250' });
    const ws = connectWs(api.wsUrl, `Bearer ${token}`);
    try {
      const { id } = (
        await execute(api.url, RequestDiagnosisDocument, { patientId, input: INPUT }, { token })
      ).expectData().requestDiagnosis;
      const updates = ws.stream(DiagnosisUpdatedDocument, { id });
      await updates.until((rs) => rs.some((r) => r.data?.diagnosisUpdated.status === 'RUNNING'), 30_000);
      const started = Date.now();
      leaving.kill('SIGTERM');
      expect((await exited(leaving)).code).toBe(0);
      expect(Date.now() - started).toBeLessThan(10_000);
      await updates.until((rs) => rs.some((r) => r.data?.diagnosisUpdated.stage === 'requeued: worker shutting down'));

      const next = await startTestWorker(targetOf(api));
      try {
        await updates.done;
        expect(updates.results.at(-1)?.data?.diagnosisUpdated).toMatchObject({ status: 'COMPLETED', attempts: 2 });
      } finally {
        await next.stop();
      }
    } finally {
      if (leaving.exitCode === null && leaving.signalCode === null) leaving.kill('SIGKILL');
      await ws.dispose();
    }
  }, 60_000);
});

describe('NATS unreachable when the request arrives', () => {
  let natsPort: number;
  let storeDir: string;
  let nats: ChildProcess | undefined;
  let api: TestApi;

  const startNats = async () => {
    nats = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', storeDir], {
      stdio: 'ignore',
    });
    for (let i = 0; i < 100; i++) {
      const up = await fetch(`http://127.0.0.1:${natsPort}`).then(
        () => true,
        (error: { cause?: { code?: string } }) => error.cause?.code !== 'ECONNREFUSED',
      );
      if (up) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('nats-server did not start');
  };
  const stopNats = async () => {
    if (!nats) return;
    const done = exited(nats);
    nats.kill('SIGTERM');
    await done;
    nats = undefined;
  };

  beforeAll(async () => {
    natsPort = await freePort();
    storeDir = mkdtempSync(join(tmpdir(), 'cc-nats-'));
    await startNats();
    api = await startTestApi({ env: { NATS_URL: `nats://127.0.0.1:${natsPort}` } });
  });
  afterAll(async () => {
    await api?.close();
    await stopNats();
    rmSync(storeDir, { recursive: true, force: true });
  });

  it('accepts the request, keeps the job in the outbox, and runs it once NATS is back', async () => {
    const { token, patientId } = await patientAndToken(api);
    await stopNats();
    const res = await execute(api.url, RequestDiagnosisDocument, { patientId, input: INPUT }, { token });
    const { id, status } = res.expectData().requestDiagnosis;
    expect(status).toBe('QUEUED');
    // The job waits in the outbox, and the relay's attempts to publish it fail and are counted.
    let waiting: { id: string; attempts: number }[] = [];
    for (const deadline = Date.now() + 15_000; Date.now() < deadline; ) {
      waiting = await queryDatabase(api.db.url, 'select id, attempts from outbox_message where id = $1', [id]);
      if ((waiting[0]?.attempts ?? 0) > 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(waiting).toHaveLength(1);
    expect(waiting[0]?.attempts).toBeGreaterThan(0);

    await startNats();
    const worker = await startTestWorker(targetOf(api, `nats://127.0.0.1:${natsPort}`));
    const ws = connectWs(api.wsUrl, `Bearer ${token}`);
    try {
      const updates = ws.stream(DiagnosisUpdatedDocument, { id });
      await updates.done;
      expect(updates.results.at(-1)?.data?.diagnosisUpdated).toMatchObject({ status: 'COMPLETED', attempts: 1 });
      expect(await queryDatabase(api.db.url, 'select id from outbox_message where id = $1', [id])).toEqual([]);
    } finally {
      await ws.dispose();
      await worker.stop();
    }
  }, 60_000);
});
