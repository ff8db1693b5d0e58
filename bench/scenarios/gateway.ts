/**
 * Scenario `gateway`: what Hive Gateway adds in front of one API pod (built, its own process),
 * measured against the direct path in the same run. Also running: the reference model server, the
 * appointments subgraph and the gateway, each its own process; load and subscribers in this one.
 *
 * Measures: a cached assessment query at a fixed rate, straight to the pod's `/graphql` and through
 * the gateway with the requests of both paths interleaved (so the same moments of this noisy
 * machine hit both), with `{ __typename }` and `{ me { id } }` both ways to show what the
 * gateway's own work and one subgraph fetch cost; and event delivery,
 * one subscriber straight on the pod and one through the gateway on the same diagnosis, receiving
 * the same published changes, so each event gives a direct and a gateway latency and their
 * difference. A third subscriber through the gateway also asks for `patient { appointments }`,
 * which costs two subgraph fetches per event: reported, not a target.
 */
import { parse, print } from 'graphql';
import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { startAppointmentsProcess, startGatewayProcess } from '../../gateway/processes.js';
import { connectRedis } from '../../src/lib/redis.js';
import { RedisLiveStateWriter } from '../../src/modules/diagnosis/diagnosis.live.js';
import { createTestDatabase } from '../../test/helpers/database.js';
import { fixedRateInterleaved, type LoadResult, type LoadTarget } from '../lib/load.js';
import { freePort, httpOk, startNode } from '../lib/processes.js';
import { claimForPublishing } from '../lib/publisher.js';
import { BenchStack } from '../lib/stack.js';

const PATIENTS = 50;
const QUERY_RATE = 200;
const EVENTS = 300;

const SUBSCRIPTION = print(parse('subscription S($id: ID!) { diagnosisUpdated(id: $id) { version updatedAt } }'));
const SUBSCRIPTION_WITH_APPOINTMENTS = print(
  parse(
    'subscription S($id: ID!) { diagnosisUpdated(id: $id) { version patient { id appointments { kind startsAt } } } }',
  ),
);

function percentiles(samples: number[]): { count: number; p50: number; p90: number; p99: number; max: number } {
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    count: samples.length,
    p50: round(at(0.5)),
    p90: round(at(0.9)),
    p99: round(at(0.99)),
    max: round(sorted[sorted.length - 1] ?? Number.NaN),
  };
}

export async function runGatewayScenario({ seconds }: { seconds: number }): Promise<Record<string, unknown>> {
  const stack = await BenchStack.create();
  const appointmentsDb = await createTestDatabase('cc_bench_appts');
  const clients: Client[] = [];
  const stops: (() => Promise<unknown>)[] = [];
  const redis = await connectRedis({ url: 'redis://127.0.0.1:6379', keyPrefix: stack.prefix });
  try {
    const mlPort = await freePort();
    stack.running.push(
      await startNode('dist/ml-server/main.js', { ML_PORT: String(mlPort), HOST: '127.0.0.1', LOG_LEVEL: 'warn' }, () =>
        httpOk(`http://127.0.0.1:${mlPort}/v2/health/ready`),
      ),
    );
    const pod = await stack.startPod(`http://127.0.0.1:${mlPort}`);
    // Signed as in production: the gateway signs every subgraph request, the subgraphs verify.
    const hmacSecret = stack.gatewaySecret;
    const appointments = await startAppointmentsProcess({
      databaseUrl: appointmentsDb.url,
      jwtSecret: stack.secret,
      env: { GATEWAY_HMAC_SECRET: hmacSecret },
    });
    stops.push(() => appointments.close());
    const gateway = await startGatewayProcess({
      copilotUrl: `${pod.base}/subgraph`,
      appointmentsUrl: appointments.url,
      env: { NODE_ENV: 'production', GATEWAY_GRAPHIQL: 'false', GATEWAY_HMAC_SECRET: hmacSecret },
    });
    stops.unshift(() => gateway.close());
    const gatewayUrl = new URL(gateway.url);
    const { token, headers } = await stack.clinician();
    const gql = async (query: string, variables: Record<string, unknown>) => {
      const res = await fetch(pod.url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
      const json = (await res.json()) as { data?: Record<string, { id: string }>; errors?: unknown };
      if (json.errors) throw new Error(JSON.stringify(json.errors));
      return json.data as Record<string, { id: string }>;
    };

    // Patients with distinct vitals (one cache entry each), assessed once so the cache is warm.
    const ids: string[] = [];
    for (let i = 0; i < PATIENTS; i++) {
      const id = (
        await gql('mutation C($input: CreatePatientInput!) { createPatient(input: $input) { id } }', {
          input: {
            mrn: `BENCH-GW-${i}`,
            givenName: 'Bench',
            familyName: `Gw${i}`,
            birthDate: '1960-01-01',
            sex: 'MALE',
          },
        })
      ).createPatient?.id as string;
      await gql(
        'mutation O($id: ID!, $input: ObservationsInput!) { recordObservations(patientId: $id, input: $input) { id } }',
        {
          id,
          input: {
            respiratoryRate: 16,
            spo2: 97,
            onSupplementalOxygen: false,
            systolicBp: 125,
            heartRate: 50 + i,
            consciousness: 'ALERT',
            temperatureC: 36.8,
          },
        },
      );
      await gql('query A($id: ID!) { assessment(patientId: $id) { score } }', { id });
      ids.push(id);
    }

    // 1. Query latency, each path against the direct one in the same run and the same moments:
    // request i goes to the pod when i is even and through the gateway when it is odd. A cached
    // assessment; then, for where the added time goes, a query the gateway answers alone
    // (`{ __typename }`: parse, validate, plan) and the cheapest one it must delegate to the API
    // (`{ me { id } }`: plus one subgraph fetch).
    const query = (url: URL, body: (i: number) => string, expected: string): LoadTarget => ({
      url,
      headers,
      body,
      accept: (status, text) => status === 200 && text.includes(expected),
    });
    const assessment = (i: number) =>
      JSON.stringify({
        query: 'query A($id: ID!) { assessment(patientId: $id) { score riskLevel source } }',
        variables: { id: ids[i % PATIENTS] },
      });
    const fixed = (text: string) => () => JSON.stringify({ query: text });
    const pairs = {
      assessment: ['"source":"CACHE"', assessment],
      typename: ['"Query"', fixed('{ __typename }')],
      me: ['"bench-clinician"', fixed('{ me { id } }')],
    } as const;
    const phases: Record<string, LoadResult> = {};
    for (const [name, [expected, body]] of Object.entries(pairs)) {
      const direct = query(pod.url, body, expected);
      const viaGateway = query(gatewayUrl, body, expected);
      await fixedRateInterleaved([direct, viaGateway], 2 * QUERY_RATE, 3_000); // warm-up
      const [d, g] = await fixedRateInterleaved(
        [direct, viaGateway],
        2 * QUERY_RATE,
        name === 'assessment' ? seconds * 1000 : (seconds * 1000) / 2,
      );
      phases[`${name}Direct`] = d as LoadResult;
      phases[`${name}Gateway`] = g as LoadResult;
    }
    const queryDirect = phases.assessmentDirect as LoadResult;
    const queryGateway = phases.assessmentGateway as LoadResult;

    // 2. Event delivery: the same published changes to a direct and a gateway subscriber.
    const diagnosisId = (
      await gql(
        'mutation R($p: ID!, $i: DiagnosisRequestInput!) { requestDiagnosis(patientId: $p, input: $i) { id } }',
        { p: ids[0], i: { symptoms: ['fever'] } },
      )
    ).requestDiagnosis?.id as string;
    const publish = await claimForPublishing(new RedisLiveStateWriter(redis, stack.prefix), diagnosisId, () =>
      performance.now(),
    );

    const received = { direct: new Map<number, number>(), gateway: new Map<number, number>(), joined: new Map() };
    const listen = (url: string, query: string, into: Map<number, number>) =>
      new Promise<void>((resolve, reject) => {
        const client = createClient({
          url,
          webSocketImpl: WebSocket,
          lazy: false,
          retryAttempts: 0,
          connectionParams: { authorization: `Bearer ${token}` },
        });
        clients.push(client);
        let first = true;
        client.subscribe<{ diagnosisUpdated: { version: number } }>(
          { query, variables: { id: diagnosisId } },
          {
            next: (value) => {
              const version = value.data?.diagnosisUpdated.version;
              if (version === undefined) return reject(new Error(JSON.stringify(value.errors)));
              // The first message is the current state: from then on this subscriber listens.
              if (first) {
                first = false;
                resolve();
                return;
              }
              into.set(version, performance.now());
            },
            error: (error) => reject(error instanceof Error ? error : new Error(JSON.stringify(error))),
            complete: () => undefined,
          },
        );
      });
    await Promise.all([
      listen(pod.ws, SUBSCRIPTION, received.direct),
      listen(gateway.wsUrl, SUBSCRIPTION, received.gateway),
      listen(gateway.wsUrl, SUBSCRIPTION_WITH_APPOINTMENTS, received.joined),
    ]);
    await new Promise((r) => setTimeout(r, 500));

    const sentAt = new Map<number, number>();
    for (let e = 0; e < EVENTS; e++) {
      const { sent, version } = await publish();
      sentAt.set(version, sent);
      const deadline = Date.now() + 10_000;
      while (
        !(received.direct.has(version) && received.gateway.has(version) && received.joined.has(version)) &&
        Date.now() < deadline
      )
        await new Promise((r) => setTimeout(r, 2));
      await new Promise((r) => setTimeout(r, 10));
    }
    const latencies = {
      direct: [] as number[],
      gateway: [] as number[],
      joined: [] as number[],
      added: [] as number[],
    };
    for (const [version, sent] of sentAt) {
      const d = received.direct.get(version);
      const g = received.gateway.get(version);
      const j = received.joined.get(version);
      if (d !== undefined) latencies.direct.push(d - sent);
      if (g !== undefined) latencies.gateway.push(g - sent);
      if (j !== undefined) latencies.joined.push(j - sent);
      if (d !== undefined && g !== undefined) latencies.added.push(g - d);
    }
    const events = {
      published: EVENTS,
      direct: percentiles(latencies.direct),
      gateway: percentiles(latencies.gateway),
      gatewayWithAppointments: percentiles(latencies.joined),
      addedByGateway: percentiles(latencies.added),
    };

    const round = (n: number) => Math.round(n * 100) / 100;
    const p50Ratio = round(queryGateway.p50 / queryDirect.p50);
    const p99Ratio = round(queryGateway.p99 / queryDirect.p99);
    return {
      phases,
      queryRatio: { p50: p50Ratio, p99: p99Ratio, rate: QUERY_RATE },
      events,
      targets: {
        queryP50Ratio: { target: 1.5, measured: p50Ratio, met: p50Ratio <= 1.5 },
        queryP99Ratio: { target: 1.5, measured: p99Ratio, met: p99Ratio <= 1.5 },
        eventAddedP99Ms: {
          target: 10,
          measured: events.addedByGateway.p99,
          met: events.addedByGateway.p99 <= 10,
        },
      },
    };
  } catch (error) {
    for (const r of stack.running)
      if (r.child.exitCode !== null || r.child.signalCode !== null) console.error(r.output());
    throw error;
  } finally {
    for (const c of clients.splice(0)) await c.dispose();
    for (const stop of stops) await stop();
    redis.disconnect();
    await stack.close();
    await appointmentsDb.drop();
  }
}
