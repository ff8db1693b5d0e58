import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { PatientDiagnosesDocument } from '../../client/index.js';
import { createModelServer, type ModelServer } from '../../ml-server/server.js';
import { signToken } from '../../src/auth/jwt.js';
import type { TestDatabase } from '../helpers/database.js';
import { TEST_JWT_SECRET } from '../helpers/env.js';
import { deleteJobStreams, uniqueNatsNamespace } from '../helpers/nats.js';
import { createPatient } from '../helpers/patients.js';
import { type LoggedProcess, startApiProcess } from '../helpers/processes.js';
import { deleteRedisKeys, uniqueRedisPrefix, waitForSubscriber } from '../helpers/redis.js';
import { migratedDatabase } from '../helpers/server.js';
import { eventually } from '../helpers/services.js';
import { connectWs } from '../helpers/ws.js';

/** The grace the pod is given: exiting 0 means it finished draining before this ran out. */
const GRACE_MS = 20_000;

/**
 * The review's failing shutdown: SIGTERM while clients hold everything a pod can be held open by
 * — a keep-alive connection polling readiness every 100 ms, an SSE stream, graphql-ws
 * subscriptions (one from a client that never answers the close handshake), oversized bodies
 * left half-sent (declared and chunked) and half a request line. Whatever they do, the pod must
 * exit 0 within its grace (it exits 1 when the grace runs out) without needing its last resort,
 * cutting every connection at a deadline (which it logs).
 */
describe('shutdown is not held open by any client', () => {
  let db: TestDatabase;
  let model: ModelServer;
  let pod: (LoggedProcess & { base: string }) | undefined;
  const prefix = uniqueRedisPrefix();
  const namespace = uniqueNatsNamespace();

  beforeAll(async () => {
    db = await migratedDatabase();
    model = createModelServer();
  });
  afterAll(async () => {
    if (pod?.child.exitCode === null) pod.child.kill('SIGKILL');
    await model?.close();
    await db?.drop();
    await deleteRedisKeys(prefix);
    await deleteJobStreams(namespace);
  });

  it('exits 0 on SIGTERM with a readiness poller, SSE, WebSockets and half-sent bodies open', async () => {
    const mlUrl = await model.listen(0, '127.0.0.1');
    pod = await startApiProcess(
      { db, redisKeyPrefix: prefix, natsNamespace: namespace, mlUrl: mlUrl.href },
      {
        LOG_LEVEL: 'warn',
        SHUTDOWN_GRACE_MS: String(GRACE_MS),
        // Readiness is 503 for this long before the pod stops accepting: the probe sees the drain.
        DRAIN_DELAY_MS: '500',
      },
    );
    const { base, child } = pod;
    const port = Number(new URL(base).port);
    const url = `${base}/graphql`;
    const token = await signToken(TEST_JWT_SECRET, { sub: 'dr-held', roles: ['clinician'] });
    const patientId = await createPatient(url, token, { birthDate: '1960-01-01', sex: 'MALE' });
    const channel = `${prefix}patient-diagnoses:${patientId}`;

    // 1. A probe polling readiness every 100 ms over one keep-alive connection, throughout.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const probeSockets = new Set<Socket>();
    let probing = true;
    const statuses: number[] = [];
    const probe = (async () => {
      while (probing) {
        statuses.push(await getStatus(`${base}/health/ready`, agent, probeSockets));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await eventually(
      async () => statuses.filter((s) => s === 200).length,
      (n) => n >= 3,
      { what: 'the probe to poll' },
    );

    // 2. An SSE subscription.
    const query = 'subscription($p: ID!) { patientDiagnoses(patientId: $p) { id status } }';
    const sse = await fetch(
      `${url}?query=${encodeURIComponent(query)}&variables=${encodeURIComponent(JSON.stringify({ p: patientId }))}`,
      { headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` } },
    );
    expect(sse.status).toBe(200);
    const sseEnded = drain(sse.body as ReadableStream<Uint8Array>);
    await waitForSubscriber(channel);

    // 3. A graphql-ws subscription, and one from a client that stops reading its socket (it will
    // never answer the close handshake).
    const ws = connectWs(url.replace('http', 'ws'), `Bearer ${token}`);
    await ws.connected;
    ws.stream(PatientDiagnosesDocument, { patientId });
    const stalled = await stalledSubscriber(url.replace('http', 'ws'), token, patientId);

    // 4. Oversized bodies left half-sent: 5 MB declared with 64 KB sent, and a chunked one past
    // the limit (1 MB) that keeps trickling after its 413.
    const declared = await halfSentBody(port, token, { 'content-length': String(5 * 1024 * 1024) }, 64 * 1024);
    const chunked = await halfSentBody(port, token, { 'transfer-encoding': 'chunked' }, 1100 * 1024);
    // 5. A connection that sent half a request line and nothing more.
    const silent = connect(port, '127.0.0.1');
    silent.on('error', () => undefined);
    await new Promise<void>((resolve) => silent.once('connect', () => resolve()));
    silent.write('GET /health/re');
    const trickle = setInterval(() => {
      if (!chunked.destroyed) chunked.write(`${(1024).toString(16)}\r\n${'x'.repeat(1024)}\r\n`);
    }, 50);

    // Every poll so far went over one reused keep-alive connection.
    expect(probeSockets.size).toBe(1);
    try {
      child.kill('SIGTERM');
      const code = await pod.exited;
      expect({ code, stderr: pod.stderr() }).toEqual({ code: 0, stderr: '' });
      // Every path closed by itself: the last-resort cut at the deadline was not needed.
      expect(pod.output()).not.toContain('shutdown deadline');
    } finally {
      probing = false;
      clearInterval(trickle);
      await probe;
      agent.destroy();
      stalled.terminate();
      declared.destroy();
      silent.destroy();
      chunked.destroy();
      await ws.dispose();
    }
    // The probe saw the drain (503) before the pod went away.
    expect(statuses).toContain(503);
    expect(await ws.closed).toMatchObject({ code: 1001 });
    await sseEnded;
  }, 90_000);
});

/** A GET's status, or 0 when the connection failed (the pod is gone). */
function getStatus(url: string, agent: Agent, sockets: Set<Socket>): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { agent }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', () => resolve(0));
    });
    req.once('socket', (socket) => sockets.add(socket));
    req.once('error', () => resolve(0));
    req.end();
  });
}

/** Reads a stream to its end (or its failure), whichever comes. */
async function drain(body: ReadableStream<Uint8Array>): Promise<void> {
  const reader = body.getReader();
  try {
    for (;;) if ((await reader.read()).done) return;
  } catch {
    // The pod cut it: ended too.
  }
}

/** A graphql-ws client that subscribes, then stops reading: it never sees the server's close frame. */
async function stalledSubscriber(url: string, token: string, patientId: string): Promise<WebSocket> {
  const socket = new WebSocket(url, 'graphql-transport-ws');
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () =>
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })),
    );
    socket.on('message', (data) => {
      if (JSON.parse(String(data)).type === 'connection_ack') resolve();
    });
    socket.once('close', () => reject(new Error('closed before ack')));
  });
  socket.send(
    JSON.stringify({
      id: '1',
      type: 'subscribe',
      payload: {
        query: 'subscription($p: ID!) { patientDiagnoses(patientId: $p) { id } }',
        variables: { p: patientId },
      },
    }),
  );
  await new Promise((r) => setTimeout(r, 200));
  (socket as unknown as { _socket: Socket })._socket.pause();
  return socket;
}

/** Opens a POST /graphql with these body headers, sends `bytes` of its body, and leaves it there. */
async function halfSentBody(
  port: number,
  token: string,
  headers: Record<string, string>,
  bytes: number,
): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const head = Object.entries({
    host: `127.0.0.1:${port}`,
    'content-type': 'application/json',
    authorization: `Bearer ${token}`,
    ...headers,
  })
    .map(([name, value]) => `${name}: ${value}`)
    .join('\r\n');
  const chunk = `{"query":"{ me { id } }","variables":{"pad":"${'x'.repeat(bytes)}`;
  const body = headers['transfer-encoding'] ? `${chunk.length.toString(16)}\r\n${chunk}\r\n` : chunk;
  socket.write(`POST /graphql HTTP/1.1\r\n${head}\r\n\r\n${body}`);
  socket.resume();
  return socket;
}
