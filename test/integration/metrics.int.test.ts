import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../bench/lib/processes.js';
import { CreatePatientDocument, PatientDiagnosesDocument, RequestDiagnosisDocument } from '../../client/index.js';
import { execute } from '../helpers/graphql.js';
import { createPatient } from '../helpers/patients.js';
import { startTestApi, type TestApi } from '../helpers/server.js';
import { eventually, type OwnServer, startOwnNats } from '../helpers/services.js';
import { spawnWorker, targetOf } from '../helpers/worker.js';
import { connectWs } from '../helpers/ws.js';

const INPUT = { symptoms: ['fever', 'cough', 'shortness of breath'], notes: null };

/** One scrape of `/metrics`, with a reader for a series' value (`undefined` when it is absent). */
async function scrape(base: string): Promise<(series: string) => number | undefined> {
  const res = await fetch(`${base}/metrics`);
  expect(res.status).toBe(200);
  const lines = (await res.text()).split('\n');
  return (series) => {
    const line = lines.find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };
}

async function newPatient(api: TestApi, token: string): Promise<string> {
  return await createPatient(api.url, token, { birthDate: '1960-06-06', sex: 'MALE' });
}

describe('WebSocket gauges', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(() => api?.close());

  it('count open sockets and running subscriptions, up on subscribe and down on complete and close', async () => {
    const token = await api.token('dr-gauges');
    const patientId = await newPatient(api, token);
    const gauges = async () => {
      const read = await scrape(api.base);
      return [read('graphql_ws_connections_active'), read('graphql_ws_subscriptions_active')];
    };
    expect(await gauges()).toEqual([0, 0]);

    const first = connectWs(api.wsUrl, `Bearer ${token}`);
    const second = connectWs(api.wsUrl, `Bearer ${token}`);
    try {
      await Promise.all([first.connected, second.connected]);
      // Two identical subscriptions (one shared execution) and one on the other socket: three.
      const a = first.stream(PatientDiagnosesDocument, { patientId });
      first.stream(PatientDiagnosesDocument, { patientId });
      second.stream(PatientDiagnosesDocument, { patientId });
      await eventually(gauges, ([sockets, subs]) => sockets === 2 && subs === 3, {
        what: '2 sockets, 3 subscriptions',
      });

      // A query over the socket is not a subscription.
      const created = await second.run(CreatePatientDocument, {
        input: {
          mrn: `MQ-${Date.now().toString(36)}`,
          givenName: 'A',
          familyName: 'B',
          birthDate: '1970-01-01',
          sex: 'FEMALE',
        },
      });
      expect(created[0]?.data?.createPatient.id).toEqual(expect.any(String));
      expect(await gauges()).toEqual([2, 3]);

      a.stop();
      await eventually(gauges, ([sockets, subs]) => sockets === 2 && subs === 2, {
        what: 'one subscription completed',
      });
      await first.dispose();
      await eventually(gauges, ([sockets, subs]) => sockets === 1 && subs === 1, { what: 'the first socket closed' });
    } finally {
      await first.dispose();
      await second.dispose();
    }
    await eventually(gauges, ([sockets, subs]) => sockets === 0 && subs === 0, { what: 'every socket closed' });
  }, 60_000);
});

describe('queue, outbox and job metrics', () => {
  let nats: OwnServer;
  let api: TestApi;
  let token: string;
  let patientId: string;
  const workers: ChildProcess[] = [];

  /** A worker process with its `/metrics` on a port of its own; resolves once it is ready. */
  const startWorker = async (env: Record<string, string> = {}) => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const child = spawnWorker(targetOf(api, nats.url), { WORKER_HEALTH_PORT: String(port), HOST: '127.0.0.1', ...env });
    workers.push(child);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-10_000);
    });
    await eventually(
      async () => (await fetch(`${base}/health/ready`)).status,
      (status) => status === 200,
      { timeoutMs: 60_000, what: 'the worker to be ready' },
    ).catch((error: Error) => {
      throw new Error(`${error.message}\nworker stderr: ${stderr}`);
    });
    return {
      base,
      stop: async () => {
        const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        child.kill('SIGTERM');
        return exited;
      },
    };
  };

  beforeAll(async () => {
    nats = await startOwnNats();
    api = await startTestApi({ env: { NATS_URL: nats.url } });
    token = await api.token('dr-queue');
    patientId = await newPatient(api, token);
  });
  afterAll(async () => {
    for (const child of workers) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await api?.close();
    await nats?.dispose();
  });

  it('show an empty queue and outbox to begin with', async () => {
    const read = await scrape(api.base);
    expect(read('diagnosis_queue_pending_jobs')).toBe(0);
    expect(read('diagnosis_queue_ack_pending_jobs')).toBe(0);
    expect(read('diagnosis_queue_redelivered_jobs')).toBe(0);
    expect(read('diagnosis_dead_letter_jobs')).toBe(0);
    expect(read('outbox_pending_messages')).toBe(0);
    expect(read('outbox_oldest_message_age_seconds')).toBe(0);
  });

  it('count a job waiting in the outbox while NATS is down, and in the queue once it is back', async () => {
    await nats.stop();
    const res = await execute(api.url, RequestDiagnosisDocument, { patientId, input: INPUT }, { token });
    expect(res.expectData().requestDiagnosis.status).toBe('QUEUED');

    const waiting = await eventually(
      () => scrape(api.base),
      (read) => read('outbox_pending_messages') === 1 && (read('outbox_oldest_message_age_seconds') ?? 0) > 0,
      { what: 'one job in the outbox' },
    );
    // With NATS down there is no reading of the queue: no series, rather than a stale number.
    expect(waiting('diagnosis_queue_pending_jobs')).toBeUndefined();

    await nats.start();
    await eventually(
      () => scrape(api.base),
      (read) => read('outbox_pending_messages') === 0 && read('diagnosis_queue_pending_jobs') === 1,
      { timeoutMs: 30_000, what: 'the job moved from the outbox to the queue (no worker yet)' },
    );
  }, 60_000);

  it('count jobs by outcome in the worker, and the queue drains', async () => {
    const worker = await startWorker();
    const read = await eventually(
      () => scrape(worker.base),
      (r) => r('diagnosis_jobs_total{outcome="completed"}') === 1,
      { timeoutMs: 30_000, what: 'one completed job' },
    );
    expect(read('diagnosis_job_duration_seconds_count{outcome="completed"}')).toBe(1);
    expect(read('diagnosis_job_duration_seconds_sum{outcome="completed"}')).toBeGreaterThan(0);
    expect(read('liveness_event_loop_lag_seconds')).toEqual(expect.any(Number));
    expect(read('process_cpu_user_seconds_total')).toEqual(expect.any(Number));
    await eventually(
      () => scrape(api.base),
      (r) => r('diagnosis_queue_pending_jobs') === 0 && r('diagnosis_queue_ack_pending_jobs') === 0,
      { what: 'an empty queue' },
    );
    expect(await worker.stop()).toBe(0);
  }, 90_000);

  it('count a retried and then failed job, and its dead letter', async () => {
    // A provider that cannot be reached, and two attempts: one retry, then FAILED.
    const unreachable = `http://127.0.0.1:${await freePort()}/v1`;
    const worker = await startWorker({
      LLM_PROVIDER: 'openai',
      LLM_BASE_URL: unreachable,
      LLM_MODEL: 'none',
      JOB_MAX_DELIVER: '2',
    });
    const res = await execute(api.url, RequestDiagnosisDocument, { patientId, input: INPUT }, { token });
    expect(res.expectData().requestDiagnosis.status).toBe('QUEUED');
    const read = await eventually(
      () => scrape(worker.base),
      (r) => r('diagnosis_jobs_total{outcome="failed"}') === 1,
      { timeoutMs: 30_000, what: 'one failed job' },
    );
    expect(read('diagnosis_jobs_total{outcome="retried"}')).toBe(1);
    expect(read('diagnosis_jobs_total{outcome="completed"}')).toBeUndefined();
    await eventually(
      () => scrape(api.base),
      (r) => r('diagnosis_dead_letter_jobs') === 1 && r('diagnosis_queue_pending_jobs') === 0,
      { what: 'one dead letter' },
    );
    expect(await worker.stop()).toBe(0);
  }, 90_000);
});
