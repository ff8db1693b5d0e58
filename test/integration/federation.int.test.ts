import type { ChildProcess } from 'node:child_process';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, httpOk, type Running, startNode } from '../../bench/lib/processes.js';
import {
  type ChildService,
  type GatewayService,
  startAppointmentsProcess,
  startGatewayProcess,
} from '../../gateway/processes.js';
import { createModelServer, type ModelServer } from '../../ml-server/server.js';
import { signToken } from '../../src/auth/jwt.js';
import { TcpBalancer } from '../helpers/balancer.js';
import { createTestDatabase, queryDatabase, type TestDatabase } from '../helpers/database.js';
import { TEST_GATEWAY_HMAC_SECRET, TEST_JWT_SECRET } from '../helpers/env.js';
import { executeRaw } from '../helpers/graphql.js';
import { deleteJobStreams, uniqueNatsNamespace } from '../helpers/nats.js';
import { apiPodEnv } from '../helpers/processes.js';
import { deleteRedisKeys, uniqueRedisPrefix, waitForSubscriber } from '../helpers/redis.js';
import { migratedDatabase } from '../helpers/server.js';
import { spawnWorker } from '../helpers/worker.js';
import { connectWs, type WsConnection, type WsStream } from '../helpers/ws.js';

/**
 * Federation end to end, every part its own process as in production: two API pods behind a
 * round-robin TCP balancer (a Kubernetes Service), a diagnosis worker, the appointments subgraph
 * and Hive Gateway over the committed supergraph. Clients speak only to the gateway, which signs
 * every subgraph request with the secret the appointments subgraph requires, as in production.
 */

interface DiagnosisEvent {
  id: string;
  status: string;
  version: number;
  patient?: { id: string; appointments: { kind: string; startsAt: string; clinician: { id: string; name: string } }[] };
}

const FOLLOW = document<{ diagnosisUpdated: DiagnosisEvent }>(/* GraphQL */ `
  subscription Follow($id: ID!) {
    diagnosisUpdated(id: $id) {
      id
      status
      version
      patient { id appointments { kind startsAt clinician { id name } } }
    }
  }
`);
const FEED = document<{ patientDiagnoses: DiagnosisEvent }>(/* GraphQL */ `
  subscription Feed($patientId: ID!) { patientDiagnoses(patientId: $patientId) { id status version } }
`);

function document<TData>(source: string): TypedDocumentNode<TData, Record<string, unknown>> {
  return parse(source) as TypedDocumentNode<TData, Record<string, unknown>>;
}

const prefix = uniqueRedisPrefix();
const namespace = uniqueNatsNamespace();
let db: TestDatabase;
let appointmentsDb: TestDatabase;
let model: ModelServer;
const pods: Pod[] = [];
let balancer: TcpBalancer;
let worker: ChildProcess;
let appointments: ChildService;
let gateway: GatewayService;
const sockets: WsConnection[] = [];
const token: Record<'alice' | 'bob' | 'carol', string> = { alice: '', bob: '', carol: '' };
let patientId: string;
let startsAt: string;

/** GraphQL over HTTP through the gateway. */
function viaGateway<T>(who: keyof typeof token, query: string, variables: Record<string, unknown> = {}) {
  return executeRaw<T>(gateway.url, { query, variables }, { token: token[who] });
}

function gatewaySocket(who: keyof typeof token): WsConnection {
  const socket = connectWs(gateway.wsUrl, `Bearer ${token[who]}`);
  sockets.push(socket);
  return socket;
}

interface Pod {
  readonly port: number;
  readonly process: Running;
}

/** An API pod from the TypeScript sources (`src/main.ts`), as its own process. */
async function startPod(mlUrl: string): Promise<Pod> {
  const port = await freePort();
  const process = await startNode(
    ['--import', 'tsx', 'src/main.ts'],
    {
      ...apiPodEnv({ db, redisKeyPrefix: prefix, natsNamespace: namespace, mlUrl }, port),
      LOG_LEVEL: 'warn',
      DATABASE_POOL_SIZE: '4',
      // /subgraph serves only what the gateway signed, over HTTP and graphql-ws.
      GATEWAY_HMAC_SECRET: TEST_GATEWAY_HMAC_SECRET,
      DRAIN_DELAY_MS: '0',
    },
    () => httpOk(`http://127.0.0.1:${port}/health/ready`),
  );
  return { port, process };
}

/** Waits for `done`, failing with `what` after `ms` (a hung subscription must fail the test, not stall it). */
async function within<T>(ms: number, what: string, done: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([done, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The gateway's upstream sockets to the API's `/subgraph` that were opened after `known`. */
async function newUpstreamSocket(known: Set<number>): Promise<{ id: number; backend: number }> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const fresh = balancer.websockets('/subgraph').find((link) => !known.has(link.id));
    if (fresh) return fresh;
    if (Date.now() > deadline) throw new Error('the gateway opened no upstream socket');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const versionsOf = (events: DiagnosisEvent[]) => events.map((e) => e.version);
const contiguous = (versions: number[]) => versions.every((v, i) => i === 0 || v === (versions[i - 1] as number) + 1);
const eventsOf = <K extends string>(stream: WsStream<Record<K, DiagnosisEvent>>, field: K) =>
  stream.results.flatMap((r) => (r.data?.[field] ? [r.data[field]] : []));

beforeAll(async () => {
  [db, appointmentsDb] = await Promise.all([migratedDatabase(), createTestDatabase('cc_appts')]);
  model = createModelServer();
  const mlUrl = (await model.listen(0, '127.0.0.1')).href;
  pods.push(...(await Promise.all([startPod(mlUrl), startPod(mlUrl)])));
  balancer = new TcpBalancer(pods.map((pod) => ({ host: '127.0.0.1', port: pod.port })));
  const service = `http://127.0.0.1:${await balancer.listen()}`;
  worker = spawnWorker(
    { databaseUrl: db.url, redisKeyPrefix: prefix, natsNamespace: namespace },
    { RULES_CHUNK_DELAY_MS: '40' },
  );
  appointments = await startAppointmentsProcess({
    databaseUrl: appointmentsDb.url,
    jwtSecret: TEST_JWT_SECRET,
    env: { GATEWAY_HMAC_SECRET: TEST_GATEWAY_HMAC_SECRET },
  });
  gateway = await startGatewayProcess({
    copilotUrl: `${service}/subgraph`,
    appointmentsUrl: appointments.url,
    env: {
      GATEWAY_HMAC_SECRET: TEST_GATEWAY_HMAC_SECRET,
      // Short keep-alive so the partition test below is quick (defaults: 10 s and 5 s).
      GATEWAY_UPSTREAM_PING_MS: '1000',
      GATEWAY_UPSTREAM_PONG_TIMEOUT_MS: '1000',
    },
  });

  token.alice = await signToken(TEST_JWT_SECRET, { sub: 'gw-alice', name: 'Dr Alice', roles: ['clinician'] });
  token.bob = await signToken(TEST_JWT_SECRET, { sub: 'gw-bob', name: 'Dr Bob', roles: ['clinician'] });
  token.carol = await signToken(TEST_JWT_SECRET, { sub: 'gw-carol', name: 'Dr Carol', roles: ['clinician'] });
  const created = await viaGateway<{ createPatient: { id: string } }>(
    'alice',
    `mutation C($input: CreatePatientInput!) { createPatient(input: $input) { id } }`,
    {
      input: { mrn: `GW-${Date.now()}`, givenName: 'Ada', familyName: 'Gate', birthDate: '1961-02-03', sex: 'FEMALE' },
    },
  );
  patientId = created.expectData().createPatient.id;
  // The appointments subgraph owns its data: seeded in its own database.
  startsAt = new Date(Date.now() + 86_400_000).toISOString();
  await queryDatabase(
    appointmentsDb.url,
    `insert into appointment (patient_id, clinician_id, starts_at, kind) values ($1, 'gw-alice', $2, 'FOLLOW_UP')`,
    [patientId, startsAt],
  );
}, 120_000);

afterAll(async () => {
  await Promise.all(sockets.map((s) => s.dispose()));
  await gateway?.close();
  await appointments?.close();
  worker?.kill('SIGTERM');
  for (const pod of pods) await pod.process.stop();
  await balancer?.close();
  await model?.close();
  await db?.drop();
  await appointmentsDb?.drop();
  await deleteRedisKeys(prefix);
  await deleteJobStreams(namespace);
}, 60_000);

describe('a clinician connected to the gateway', () => {
  let diagnosisId: string;
  let finalVersion: number;

  it('requests a diagnosis and follows every event to COMPLETED, with appointments from the other subgraph', async () => {
    const socket = gatewaySocket('alice');
    // The patient's feed is open before the request: it must see the job from QUEUED on.
    const feed = socket.stream(FEED, { patientId });
    await waitForSubscriber(`${prefix}patient-diagnoses:${patientId}`);

    const requested = await viaGateway<{ requestDiagnosis: { id: string; status: string } }>(
      'alice',
      `mutation R($p: ID!) { requestDiagnosis(patientId: $p, input: { symptoms: ["fever", "cough", "breathless"] }) { id status } }`,
      { p: patientId },
    );
    diagnosisId = requested.expectData().requestDiagnosis.id;
    expect(requested.data?.requestDiagnosis.status).toBe('QUEUED');

    const follow = socket.stream(FOLLOW, { id: diagnosisId });
    await within(60_000, 'diagnosisUpdated through the gateway', follow.done);
    expect(follow.results.flatMap((r) => r.errors ?? [])).toEqual([]);
    const followed = eventsOf(follow, 'diagnosisUpdated');
    expect(followed.at(-1)?.status).toBe('COMPLETED');
    expect(contiguous(versionsOf(followed))).toBe(true);
    // The cross-subgraph field is resolved in every event: appointments (appointments subgraph)
    // whose clinician's name comes back from the API (copilot subgraph).
    for (const event of followed) {
      expect(event.patient).toEqual({
        id: patientId,
        appointments: [{ kind: 'FOLLOW_UP', startsAt, clinician: { id: 'gw-alice', name: 'Dr Alice' } }],
      });
    }

    await feed.until((results) => results.some((r) => r.data?.patientDiagnoses.status === 'COMPLETED'), 30_000);
    const fed = eventsOf(feed, 'patientDiagnoses').filter((e) => e.id === diagnosisId);
    expect(fed[0]).toMatchObject({ status: 'QUEUED', version: 1 });
    expect(contiguous(versionsOf(fed))).toBe(true);
    expect(fed.at(-1)).toMatchObject({ status: 'COMPLETED', version: followed.at(-1)?.version });
    expect(fed.map((e) => e.status)).toContain('RUNNING');
    finalVersion = fed.at(-1)?.version as number;
    feed.stop();

    // The durable record agrees with the last event.
    const read = await viaGateway<{ diagnosis: { status: string; version: number } }>(
      'alice',
      `query D($id: ID!) { diagnosis(id: $id) { status version } }`,
      { id: diagnosisId },
    );
    expect(read.expectData().diagnosis).toEqual({ status: 'COMPLETED', version: finalVersion });
  }, 90_000);

  it("counts subgraph fetches in the gateway's Prometheus metrics, with no token or operation name in them", async () => {
    const metrics = await (await fetch(gateway.url.replace(/\/graphql$/, '/metrics'))).text();
    expect(metrics).toMatch(
      /graphql_gateway_subgraph_execute_duration_count\{[^}]*subgraphName="copilot"[^}]*\} [1-9]/,
    );
    expect(metrics).toMatch(
      /graphql_gateway_subgraph_execute_duration_count\{[^}]*subgraphName="appointments"[^}]*\} [1-9]/,
    );
    expect(metrics).not.toMatch(/Bearer|authorization|operationName=/i);
  });

  it("serves the gateway's signed requests to the appointments subgraph, and not the same read sent directly", async () => {
    // The gateway's fetches succeeded above (appointments in every event); the same read sent
    // straight to the subgraph, with a valid token but no signature, is refused.
    const direct = await executeRaw(
      appointments.url,
      {
        query: `query Q($r: [_Any!]!) { _entities(representations: $r) { ... on Patient { appointments { kind } } } }`,
        variables: { r: [{ __typename: 'Patient', id: patientId }] },
      },
      { token: token.alice },
    );
    expect(direct.codes).toEqual(['FORBIDDEN']);
    expect(direct.data ?? null).toBeNull();
  });

  it("refuses another clinician's subscription, and their query, through the gateway", async () => {
    const refused = await gatewaySocket('bob').run(FOLLOW, { id: diagnosisId });
    expect(refused.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
    expect(refused.some((r) => r.data?.diagnosisUpdated)).toBe(false);

    const read = await viaGateway<{ patient: unknown }>(
      'bob',
      `query P($id: ID!) { patient(id: $id) { id appointments { kind } } }`,
      { id: patientId },
    );
    expect(read.data?.patient ?? null).toBeNull();
    expect(read.codes).toEqual(['NOT_FOUND']);
  });

  it('never hands one clinician the answer to another: identical queries in flight at once', async () => {
    // The gateway deduplicates identical in-flight subgraph requests; the forwarded token must be
    // part of what makes two requests identical.
    const who = Array.from({ length: 40 }, (_, i): keyof typeof token => (i % 2 === 0 ? 'alice' : 'bob'));
    const answers = await Promise.all(who.map((name) => viaGateway<{ me: { id: string } }>(name, '{ me { id } }')));
    expect(answers.map((a) => a.expectData().me.id)).toEqual(who.map((name) => `gw-${name}`));
  });

  it('ends the subscription when its API pod is killed, and a re-subscribe gets the current state', async () => {
    // Carol joins the care team: her own token, so the gateway opens her own upstream socket.
    const added = await viaGateway<{ addCareTeamMember: { id: string } }>(
      'alice',
      `mutation A($p: ID!) { addCareTeamMember(patientId: $p, clinicianId: "gw-carol") { id } }`,
      { p: patientId },
    );
    added.expectData();
    const known = new Set(balancer.websockets('/subgraph').map((link) => link.id));
    const socket = gatewaySocket('carol');
    const feed = socket.stream(FEED, { patientId });
    const upstream = await newUpstreamSocket(known);
    const serving = pods[upstream.backend] as Pod;

    const killedAt = Date.now();
    serving.process.child.kill('SIGKILL');
    await within(15_000, 'the subscription after its pod was killed', feed.done);
    const endedAfterMs = Date.now() - killedAt;
    // It ended with one error that says what to do (no silent resume that would hide a gap in the
    // feed), and the client's own socket to the gateway is still up.
    const errors = feed.results.flatMap((r) => r.errors ?? []);
    expect(errors).toEqual([
      expect.objectContaining({
        message: expect.stringMatching(/subscribe again/),
        extensions: expect.objectContaining({ code: 'INTERNAL', resubscribe: true }),
      }),
    ]);
    expect(endedAfterMs).toBeLessThan(15_000);

    const again = socket.stream(FOLLOW, { id: diagnosisId });
    await within(15_000, 're-subscribing through the gateway', again.done);
    expect(again.results.flatMap((r) => r.errors ?? [])).toEqual([]);
    expect(eventsOf(again, 'diagnosisUpdated')).toEqual([
      expect.objectContaining({ id: diagnosisId, status: 'COMPLETED', version: finalVersion }),
    ]);
  }, 60_000);

  it('ends the subscription when its pod stops answering without closing anything (a partition)', async () => {
    // The pod that survived the previous test serves everything now.
    const frozen = pods.find((pod) => pod.process.child.exitCode === null && !pod.process.child.signalCode) as Pod;
    const feed = gatewaySocket('carol').stream(FEED, { patientId });
    await waitForSubscriber(`${prefix}patient-diagnoses:${patientId}`);
    // SIGSTOP: the process keeps its sockets open but answers nothing, not even pings.
    frozen.process.child.kill('SIGSTOP');
    try {
      const stoppedAt = Date.now();
      await within(10_000, 'the subscription on a frozen pod', feed.done);
      // Found by the gateway's pings (every 1 s here, 1 s to answer), not by TCP giving up.
      expect(Date.now() - stoppedAt).toBeLessThan(5_000);
      expect(feed.results.flatMap((r) => r.errors ?? [])).toEqual([
        expect.objectContaining({ extensions: expect.objectContaining({ code: 'INTERNAL', resubscribe: true }) }),
      ]);
    } finally {
      frozen.process.child.kill('SIGKILL');
    }
  }, 30_000);
});
