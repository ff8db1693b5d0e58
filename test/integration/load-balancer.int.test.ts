import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nginxBinary, type RunningNginx, startNginx } from '../../bench/lib/nginx.js';
import { freePort, httpOk, type Running, startNode } from '../../bench/lib/processes.js';
import { DiagnosisUpdatedDocument, RequestDiagnosisDocument } from '../../client/index.js';
import { createModelServer, type ModelServer } from '../../ml-server/server.js';
import { signToken } from '../../src/auth/jwt.js';
import type { TestDatabase } from '../helpers/database.js';
import { TEST_JWT_SECRET } from '../helpers/env.js';
import { execute } from '../helpers/graphql.js';
import { deleteJobStreams, uniqueNatsNamespace } from '../helpers/nats.js';
import { createPatient } from '../helpers/patients.js';
import { apiPodEnv } from '../helpers/processes.js';
import { deleteRedisKeys, uniqueRedisPrefix } from '../helpers/redis.js';
import { migratedDatabase } from '../helpers/server.js';
import { eventually } from '../helpers/services.js';
import { spawnWorker } from '../helpers/worker.js';
import { connectReconnectingWs, type ReconnectingWs, type WsStream } from '../helpers/ws.js';

/**
 * Two API pods and a worker behind Debian's nginx running deploy/nginx.conf (made runnable by
 * bench/lib/nginx.ts): WebSocket and SSE subscriptions through it, and a pod SIGKILLed under an
 * open subscription — the client reconnects through nginx to the surviving pod, subscribes again
 * and gets the current state, then the outcome.
 */

const prefix = uniqueRedisPrefix();
const namespace = uniqueNatsNamespace();
const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

type Updates = WsStream<{ diagnosisUpdated: { id: string; status: string; version: number } }>;
const viewsOf = (stream: Updates) => stream.results.flatMap((r) => (r.data ? [r.data.diagnosisUpdated] : []));

interface Pod {
  readonly port: number;
  readonly process: Running;
}

describe.skipIf(!nginxBinary())('nginx in front of two API pods', () => {
  let db: TestDatabase;
  let model: ModelServer;
  const pods: Pod[] = [];
  let nginx: RunningNginx;
  let worker: ChildProcess;
  let token: string;
  let patientId: string;
  const clients: ReconnectingWs[] = [];

  async function startPod(mlUrl: string): Promise<Pod> {
    const port = await freePort();
    const process = await startNode(
      ['--import', 'tsx', 'src/main.ts'],
      {
        ...apiPodEnv({ db, redisKeyPrefix: prefix, natsNamespace: namespace, mlUrl }, port),
        LOG_LEVEL: 'warn',
        DATABASE_POOL_SIZE: '4',
        // nginx sets X-Forwarded-For to the address it saw (deploy/nginx.conf).
        TRUST_PROXY: 'true',
      },
      () => httpOk(`http://127.0.0.1:${port}/health/ready`),
    );
    return { port, process };
  }

  const request = async (symptoms: string[]) =>
    (await execute(nginx.url, RequestDiagnosisDocument, { patientId, input: { symptoms } }, { token })).expectData()
      .requestDiagnosis;

  /** Open graphql-ws sockets of one pod, from its own /metrics (nginx does not say where it sent a socket). */
  const socketsOn = async (pod: Pod) => {
    const text = await (await fetch(`http://127.0.0.1:${pod.port}/metrics`)).text();
    return Number(/^graphql_ws_connections_active (\S+)$/m.exec(text)?.[1] ?? 0);
  };

  beforeAll(async () => {
    db = await migratedDatabase();
    model = createModelServer();
    const mlUrl = (await model.listen(0, '127.0.0.1')).href;
    pods.push(...(await Promise.all([startPod(mlUrl), startPod(mlUrl)])));
    nginx = await startNginx(pods.map((pod) => ({ host: '127.0.0.1', port: pod.port })));
    // Jobs of a few seconds, so one is certainly running when its pod is killed.
    worker = spawnWorker(
      { databaseUrl: db.url, redisKeyPrefix: prefix, natsNamespace: namespace },
      { RULES_CHUNK_DELAY_MS: '200' },
    );
    token = await signToken(TEST_JWT_SECRET, { sub: 'lb-clinician', roles: ['clinician'] });
    patientId = await createPatient(nginx.url, token, { birthDate: '1970-07-07', sex: 'MALE' });
  }, 240_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
    if (worker && worker.exitCode === null) {
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.kill('SIGTERM');
      await exited;
    }
    for (const pod of pods) await pod.process.stop();
    await nginx?.stop();
    await model?.close();
    await db?.drop();
    await deleteRedisKeys(prefix);
    await deleteJobStreams(namespace);
  });

  it('spreads requests over both pods', async () => {
    // Keep-alive upstream connections: count, per pod, the requests it served (its own metrics).
    const served = async (pod: Pod) => {
      const text = await (await fetch(`http://127.0.0.1:${pod.port}/metrics`)).text();
      return [...text.matchAll(/^graphql_operations_total\{[^}]*\} (\S+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    };
    const before = await Promise.all(pods.map(served));
    for (let i = 0; i < 20; i++) {
      const res = await fetch(nginx.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: '{ me { id } }' }),
      });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    const after = await Promise.all(pods.map(served));
    for (const [i, count] of after.entries()) expect(count).toBeGreaterThan(before[i] as number);
  });

  it('follows a diagnosis to COMPLETED over a WebSocket through nginx', async () => {
    const client = connectReconnectingWs(nginx.wsUrl, `Bearer ${token}`);
    clients.push(client);
    const diagnosis = await request(['fever', 'cough', 'shortness of breath']);
    const stream = client.stream(DiagnosisUpdatedDocument, { id: diagnosis.id }) as Updates;
    await stream.done;
    const views = viewsOf(stream);
    expect(views[0]?.status).toBe('QUEUED');
    expect(views.at(-1)?.status).toBe('COMPLETED');
    expect(views.some((v) => v.status === 'RUNNING')).toBe(true);
    await client.dispose();
  }, 60_000);

  it('streams a subscription over SSE through nginx, events arriving while the job runs', async () => {
    const diagnosis = await request(['wheeze', 'cough']);
    const res = await fetch(nginx.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'text/event-stream',
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({
        query: 'subscription($id: ID!) { diagnosisUpdated(id: $id) { status version } }',
        variables: { id: diagnosis.id },
      }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    // Each read is what nginx passed on by then. Unbuffered, the first state (QUEUED, or RUNNING if
    // the worker was quicker) arrives in a read of its own, before the job completes; a buffering proxy would hold the events back
    // until its buffer filled or the stream ended.
    let reads = 0;
    let firstAt = -1;
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      reads += 1;
      text += decoder.decode(chunk.value, { stream: true });
      if (firstAt < 0 && text.includes('"status"')) firstAt = reads;
      if (text.includes('"COMPLETED"')) break;
    }
    await reader.cancel();
    const statuses = [...text.matchAll(/"status":"([A-Z]+)"/g)].map((m) => m[1]);
    expect(['QUEUED', 'RUNNING']).toContain(statuses[0]);
    expect(statuses).toContain('RUNNING');
    expect(statuses.at(-1)).toBe('COMPLETED');
    expect(firstAt).toBeGreaterThan(0);
    expect(firstAt).toBeLessThan(reads);
  }, 60_000);

  it('a pod SIGKILLed under a subscription: the client reconnects through nginx, resubscribes, gets the current state and the outcome', async () => {
    const client = connectReconnectingWs(nginx.wsUrl, `Bearer ${token}`);
    clients.push(client);
    const diagnosis = await request(['chest pain', 'dyspnoea']);
    const stream = client.stream(DiagnosisUpdatedDocument, { id: diagnosis.id }) as Updates;
    await stream.until((rs) => rs.some((r) => r.data?.diagnosisUpdated.status === 'RUNNING'), 30_000);
    // Which pod holds this client's socket: the only one open once the earlier client's has closed.
    const counts = await eventually(
      () => Promise.all(pods.map(socketsOn)),
      (n) => n.reduce((a, b) => a + b, 0) === 1,
      { what: 'exactly one open socket' },
    );
    const victim = counts.findIndex((n) => n > 0);
    expect(victim).toBeGreaterThanOrEqual(0);
    const killed = pods[victim] as Pod;
    const seenBefore = viewsOf(stream).length;
    expect(await killed.process.stop('SIGKILL')).toBeNull();

    await stream.done;
    expect(client.connects()).toBeGreaterThanOrEqual(2);
    const views = viewsOf(stream);
    expect(views.length).toBeGreaterThan(seenBefore);
    expect(views.at(-1)?.status).toBe('COMPLETED');
    // Across the reconnection the state never goes back: the resubscription starts from the
    // current state, which is at least what was seen before.
    for (let i = 1; i < views.length; i++) {
      expect(views[i]?.version).toBeGreaterThanOrEqual(views[i - 1]?.version as number);
    }
    expect(views.filter((v) => TERMINAL.has(v.status))).toHaveLength(1);

    // New requests through nginx go to the surviving pod.
    const after = await eventually(
      () =>
        execute(
          nginx.url,
          RequestDiagnosisDocument,
          { patientId, input: { symptoms: ['wheeze', 'cough'] } },
          { token },
        ),
      (r) => !r.errors && r.data?.requestDiagnosis.status === 'QUEUED',
      { what: 'requests served after the kill' },
    );
    expect(after.status).toBe(200);
  }, 90_000);
});
