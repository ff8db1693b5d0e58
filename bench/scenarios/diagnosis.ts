/**
 * Scenario `diagnosis`: two API pods (built, their own processes) on real PostgreSQL, Redis and
 * NATS JetStream; load and subscribers in this process.
 *
 * Measures: `requestDiagnosis` acknowledgement latency at a fixed 200 req/s; fan-out latency from
 * a worker's publish (the same Lua compare-and-set + PUBLISH a worker runs, done here so the
 * publish instant is known) to receipt by graphql-ws subscribers spread over both pods, for 1 and
 * for 10,000 concurrent subscribers; the memory one idle subscription socket costs a pod; and the
 * jobs per second one worker process completes, with the `rules` provider and a streaming LLM.
 */
import { parse, print } from 'graphql';
import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { connectRedis } from '../../src/lib/redis.js';
import { RedisLiveStateWriter } from '../../src/modules/diagnosis/diagnosis.live.js';
import { queryDatabase } from '../../test/helpers/database.js';
import { ObedientLlm } from '../../test/helpers/obedient-llm.js';
import { fixedRate, type LoadResult, saturate } from '../lib/load.js';
import { freePort } from '../lib/processes.js';
import { claimForPublishing } from '../lib/publisher.js';
import { BenchStack } from '../lib/stack.js';

const SUBSCRIPTION = print(parse('subscription S($id: ID!) { diagnosisUpdated(id: $id) { version updatedAt } }'));

function percentiles(samples: number[]): Pick<LoadResult, 'p50' | 'p90' | 'p99' | 'max'> & { count: number } {
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return {
    count: samples.length,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

async function metric(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
}

export async function runDiagnosisScenario({ seconds }: { seconds: number }): Promise<Record<string, unknown>> {
  const stack = await BenchStack.create();
  const { prefix } = stack;
  const clients: Client[] = [];
  const redis = await connectRedis({ url: 'redis://127.0.0.1:6379', keyPrefix: prefix });
  try {
    // Assessments are not measured here; the pods only need a model-server URL.
    const mlUrl = `http://127.0.0.1:${await freePort()}`;
    // As deployed (docker-compose.yml, k8s): the pods do not drain the audit stream; the worker
    // started for the throughput phase does.
    const podEnv = { AUDIT_DRAINER: 'false' };
    const podA = await stack.startPod(mlUrl, podEnv);
    const podB = await stack.startPod(mlUrl, podEnv);
    const { token, headers } = await stack.clinician();
    const gql = async (query: string, variables: Record<string, unknown>) => {
      const res = await fetch(`${podA.base}/graphql`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ query, variables }),
      });
      const json = (await res.json()) as { data?: Record<string, { id: string }>; errors?: unknown };
      if (json.errors) throw new Error(JSON.stringify(json.errors));
      return json.data as Record<string, { id: string }>;
    };
    const patientId = (
      await gql('mutation C($input: CreatePatientInput!) { createPatient(input: $input) { id } }', {
        input: { mrn: 'BENCH-DX', givenName: 'Bench', familyName: 'Dx', birthDate: '1960-01-01', sex: 'MALE' },
      })
    ).createPatient?.id as string;

    // 1. Acknowledgement latency of requestDiagnosis (no worker: only the API's work is measured).
    const request = JSON.stringify({
      query:
        'mutation R($p: ID!, $i: DiagnosisRequestInput!) { requestDiagnosis(patientId: $p, input: $i) { id status } }',
      // Three findings of the pneumonia rule: the `rules` provider completes it (two would match nothing, and fail).
      variables: { p: patientId, i: { symptoms: ['fever', 'cough', 'shortness of breath'], notes: 'bench' } },
    });
    const ackTarget = {
      url: new URL(`${podA.base}/graphql`),
      headers,
      body: () => request,
      accept: (status: number, body: string) => status === 200 && body.includes('"QUEUED"'),
    };
    await fixedRate(ackTarget, 100, 2_000); // warm-up
    const requestAck = await fixedRate(ackTarget, 200, seconds * 1000);

    // A RUNNING diagnosis to publish changes of, as a worker would.
    const diagnosisId = (
      await gql(
        'mutation R($p: ID!, $i: DiagnosisRequestInput!) { requestDiagnosis(patientId: $p, input: $i) { id } }',
        {
          p: patientId,
          i: { symptoms: ['fever'] },
        },
      )
    ).requestDiagnosis?.id as string;
    const publish = await claimForPublishing(new RedisLiveStateWriter(redis, prefix), diagnosisId, Date.now);

    /** Opens `count` subscriptions (50 per socket, sockets alternating between the pods). */
    const subscribe = async (count: number, onEvent: (version: number, receivedAt: number) => void) => {
      const sockets = Math.ceil(count / 50);
      let ready = 0;
      for (let s = 0; s < sockets; s++) {
        const pod = s % 2 === 0 ? podA : podB;
        const client = createClient({
          url: pod.ws,
          webSocketImpl: WebSocket,
          lazy: false,
          retryAttempts: 0,
          connectionParams: { authorization: `Bearer ${token}` },
        });
        clients.push(client);
        for (let k = 0; k < Math.min(50, count - s * 50); k++) {
          let first = true;
          client.subscribe<{ diagnosisUpdated: { version: number } }>(
            { query: SUBSCRIPTION, variables: { id: diagnosisId } },
            {
              next: (value) => {
                const version = value.data?.diagnosisUpdated.version;
                if (version === undefined) return;
                // The first message is the current state: from then on this subscriber listens.
                if (first) {
                  first = false;
                  ready += 1;
                  return;
                }
                onEvent(version, Date.now());
              },
              error: () => undefined,
              complete: () => undefined,
            },
          );
        }
      }
      // Every subscription has received its first (current) state: all are listening.
      const deadline = Date.now() + 120_000;
      while (ready < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 500));
    };
    const closeAll = async () => {
      for (const c of clients.splice(0)) await c.dispose();
    };

    const fanOut = async (count: number, events: number) => {
      const latencies: number[] = [];
      const sentAt = new Map<number, number>();
      const received = new Map<number, number>();
      await subscribe(count, (version, at) => {
        const sent = sentAt.get(version);
        if (sent === undefined) return;
        latencies.push(at - sent);
        received.set(version, (received.get(version) ?? 0) + 1);
      });
      for (let e = 0; e < events; e++) {
        const deadline = Date.now() + 30_000;
        const { version, sent } = await publish();
        sentAt.set(version, sent);
        while ((received.get(version) ?? 0) < count && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 5));
        await new Promise((r) => setTimeout(r, count > 1 ? 200 : 20));
      }
      await closeAll();
      return { subscribers: count, events, delivered: latencies.length, ...percentiles(latencies) };
    };

    const fanOut1 = await fanOut(1, 200);
    const fanOut10k = await fanOut(10_000, 5);

    // Memory of idle subscription sockets on one pod: one subscription per socket.
    await new Promise((r) => setTimeout(r, 2_000));
    const rssBefore = await metric(podA.base, 'process_resident_memory_bytes');
    const heapBefore = await metric(podA.base, 'nodejs_heap_size_used_bytes');
    const idle = 1_000;
    let opened = 0;
    for (let s = 0; s < idle; s++) {
      const client = createClient({
        url: podA.ws,
        webSocketImpl: WebSocket,
        lazy: false,
        retryAttempts: 0,
        connectionParams: { authorization: `Bearer ${token}` },
      });
      clients.push(client);
      client.subscribe(
        { query: SUBSCRIPTION, variables: { id: diagnosisId } },
        {
          next: () => {
            opened += 1;
          },
          error: () => undefined,
          complete: () => undefined,
        },
      );
    }
    const until = Date.now() + 60_000;
    while (opened < idle && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 3_000));
    const rssAfter = await metric(podA.base, 'process_resident_memory_bytes');
    const heapAfter = await metric(podA.base, 'nodejs_heap_size_used_bytes');
    await closeAll();
    const idleSockets = {
      sockets: idle,
      opened,
      rssPerSocketKiB: Math.round((rssAfter - rssBefore) / idle / 102.4) / 10,
      heapPerSocketKiB: Math.round((heapAfter - heapBefore) / idle / 102.4) / 10,
    };

    // 4. Worker throughput: one worker process on the backlog the phases above left (every job they
    // accepted is still QUEUED), completions counted in Postgres over a window; first the `rules`
    // provider with no pacing, then an OpenAI-compatible fake streaming its answer in 16-character
    // chunks (the model's own time is not the worker's cost, so the fake answers at once).
    const windowMs = Math.max(5_000, (seconds * 1000) / 2);
    const count = async (status: string) =>
      Number(
        (
          await queryDatabase<{ n: string }>(
            stack.db.url,
            'select count(*)::text as n from diagnosis where status = $1',
            [status],
          )
        )[0]?.n,
      );
    // A worker faster than the backlog would empty it inside the window and report a lower bound
    // (or, for the next provider, nothing): each window starts with enough QUEUED jobs for 1,000
    // jobs/s, requested through the pod beforehand.
    const backlogFor = Math.ceil(((windowMs + 1_000) / 1000) * 1_000);
    const topUp = async () => {
      while ((await count('QUEUED')) < backlogFor) await saturate(ackTarget, 16, 1_000);
    };
    const throughput = async (env: Record<string, string>) => {
      await topUp();
      const worker = await stack.startWorker({ WORKER_CONCURRENCY: '8', ...env });
      try {
        // Past the start-up: the rate of a running worker.
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        const [before, started] = [await count('COMPLETED'), performance.now()];
        await new Promise((resolve) => setTimeout(resolve, windowMs));
        const [after, elapsed] = [await count('COMPLETED'), performance.now() - started];
        const backlogLeft = await count('QUEUED');
        if (after === before) console.error(`worker completed nothing:\n${worker.output().slice(-3_000)}`);
        return {
          completed: after - before,
          seconds: Math.round(elapsed / 100) / 10,
          jobsPerSecond: Math.round(((after - before) / elapsed) * 10_000) / 10,
          // 0 means the backlog ran out inside the window: the rate is then a lower bound.
          backlogLeft,
        };
      } finally {
        await worker.stop();
      }
    };
    const workerRules = await throughput({ LLM_PROVIDER: 'rules', RULES_CHUNK_DELAY_MS: '0' });
    const llm = new ObedientLlm(16);
    await llm.start();
    const workerStreamingLlm = await throughput({
      LLM_PROVIDER: 'openai',
      LLM_BASE_URL: llm.baseUrl,
      LLM_MODEL: 'bench-fake',
    }).finally(() => llm.stop());

    return {
      phases: { requestAck },
      workerThroughput: { workerConcurrency: 8, rules: workerRules, streamingLlm: workerStreamingLlm },
      fanOut: { oneSubscriber: fanOut1, tenThousandSubscribers: fanOut10k },
      idleSockets,
      targets: {
        requestAckP99Ms: { target: 15, measured: requestAck.p99, met: requestAck.p99 <= 15 },
        fanOut1P99Ms: { target: 20, measured: fanOut1.p99, met: fanOut1.p99 <= 20 },
        fanOut10kP99Ms: { target: 250, measured: fanOut10k.p99, met: fanOut10k.p99 <= 250 },
      },
    };
  } catch (error) {
    // A pod that died says why in its own output.
    for (const r of stack.running)
      if (r.child.exitCode !== null || r.child.signalCode !== null) console.error(r.output());
    throw error;
  } finally {
    await closeAllClients(clients);
    redis.disconnect();
    await stack.close();
  }
}

async function closeAllClients(clients: Client[]): Promise<void> {
  for (const c of clients.splice(0)) await c.dispose();
}
