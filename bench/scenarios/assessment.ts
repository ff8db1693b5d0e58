/**
 * Scenario `assessment`: one API pod (built, its own process) with real PostgreSQL and Redis and
 * the reference model server (its own process); the load comes from this process.
 *
 * Measures, in one run: the `{ __typename }` ceiling at saturation; cached assessment throughput
 * at saturation (as a ratio to that ceiling); the pod's own CPU time per request in each phase;
 * cached latency at a fixed 1,000 req/s; a freshly started pod's sequential latency; uncached
 * (LIVE) latency; and latency while the circuit breaker is open (model server stopped).
 * The worker that drains the audit stream into PostgreSQL is paused (SIGSTOP) while the pods are
 * measured — in production it runs on other nodes, as for the `requestDiagnosis` acknowledgement —
 * and its own cost is measured apart: the machine CPU (worker, NATS, PostgreSQL) per audit event
 * while it catches up, and the cached/ceiling throughput once more with it draining beside the pod.
 * `BENCH_CPU_PROF_DIR=<dir>` starts the main pod and the second (uncached, breaker-open) pod under
 * `node --cpu-prof` (a profile per pod written there when it exits). Writes the tables into
 * docs/benchmarks.md and README.md between markers.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { auditNames } from '../../src/modules/audit/audit.stream.js';
import { fixedRate, type LoadResult, type LoadTarget, saturate, saturateInTurns, sequential } from '../lib/load.js';
import { freePort, httpOk, type Running, startNode } from '../lib/processes.js';
import { type BenchPod, BenchStack, commandCpuMs, processCpuMs } from '../lib/stack.js';

export interface ScenarioOptions {
  /** Seconds per measured phase (the suite's default keeps a whole run near two minutes). */
  seconds: number;
}

const PATIENTS = 200;
const CACHED_ROTATION = 50;

const patientQuery = (id: string) =>
  JSON.stringify({
    query: 'query A($id: ID!) { assessment(patientId: $id) { score riskLevel source } }',
    variables: { id },
  });

async function gql(url: URL, token: string, query: string, variables: Record<string, unknown>) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const json = (await res.json()) as { data?: Record<string, { id: string }>; errors?: unknown[] };
  if (json.errors) throw new Error(`seed failed: ${JSON.stringify(json.errors)}`);
  return json.data as Record<string, { id: string }>;
}

export async function runAssessmentScenario({ seconds }: ScenarioOptions): Promise<Record<string, unknown>> {
  const stack = await BenchStack.create();
  let drainer: Running | undefined;
  try {
    const mlPort = await freePort();
    const ml = await startNode(
      'dist/ml-server/main.js',
      { ML_PORT: String(mlPort), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
      () => httpOk(`http://127.0.0.1:${mlPort}/v2/health/ready`),
    );
    stack.running.push(ml);
    const mlUrl = `http://127.0.0.1:${mlPort}`;
    const profileDir = process.env.BENCH_CPU_PROF_DIR;
    // As deployed (docker-compose.yml, k8s): the pods do not drain the audit stream; a worker does.
    const podEnv = { ML_BREAKER_RESET_MS: '60000', AUDIT_DRAINER: 'false' };
    const pod = await stack.startPod(
      mlUrl,
      podEnv,
      profileDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] } : {},
    );
    const { url } = pod;
    // A second pod whose cache is never fresh: every answer is LIVE while the model is up, and
    // STALE_CACHE once it is down — the uncached and breaker-open phases.
    const livePod = await stack.startPod(
      mlUrl,
      { ...podEnv, ASSESSMENT_FRESH_MS: '0' },
      profileDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] } : {},
    );
    drainer = await stack.startWorker();
    const { token, headers } = await stack.clinician();

    // Patients with distinct vitals, so each has its own cache key.
    const ids: string[] = [];
    for (let i = 0; i < PATIENTS; i++) {
      const created = await gql(
        url,
        token,
        'mutation C($input: CreatePatientInput!) { createPatient(input: $input) { id } }',
        {
          input: {
            mrn: `BENCH-${i}`,
            givenName: 'Bench',
            familyName: `Patient${i}`,
            birthDate: '1960-01-01',
            sex: 'FEMALE',
          },
        },
      );
      const id = created.createPatient?.id as string;
      await gql(
        url,
        token,
        'mutation O($id: ID!, $input: ObservationsInput!) { recordObservations(patientId: $id, input: $input) { id } }',
        {
          id,
          input: {
            respiratoryRate: 18,
            spo2: 96,
            onSupplementalOxygen: false,
            systolicBp: 120,
            heartRate: 40 + i,
            consciousness: 'ALERT',
            temperatureC: 37,
          },
        },
      );
      ids.push(id);
    }
    for (const id of ids) await gql(url, token, 'query A($id: ID!) { assessment(patientId: $id) { score } }', { id });

    const has = (source: string) => (status: number, body: string) =>
      status === 200 && body.includes(`"source":"${source}"`);
    const cachedOn = (on: URL): LoadTarget => ({
      url: on,
      headers,
      body: (i) => patientQuery(ids[i % CACHED_ROTATION] as string),
      accept: has('CACHE'),
    });
    const cached = cachedOn(url);
    const ceilingTarget: LoadTarget = {
      url,
      headers,
      body: () => '{"query":"{ __typename }"}',
      accept: (status, body) => status === 200 && body.includes('"Query"'),
    };
    const ms = seconds * 1000;

    // Where the time goes: the same pod at saturation with one more piece of work per step —
    // authentication and context (`me`), a patient read (access check + snapshot + audit), and
    // the cached assessment (+ one Redis MGET).
    const meTarget: LoadTarget = { url, headers, body: () => '{"query":"{ me { id } }"}', accept: (s) => s === 200 };
    const patientTarget: LoadTarget = {
      url,
      headers,
      body: (i) =>
        JSON.stringify({
          query: 'query P($id: ID!) { patient(id: $id) { id } }',
          variables: { id: ids[i % CACHED_ROTATION] },
        }),
      accept: (status, body) => status === 200 && body.includes('"patient":{'),
    };
    // Each phase with the CPU time the pod serving it used meanwhile, per request.
    const onPod = async (served: BenchPod, run: () => Promise<LoadResult>): Promise<Phase> => {
      const pid = served.process.child.pid as number;
      const before = processCpuMs(pid);
      const result = await run();
      return meteredPhase({ ...result, metered: processCpuMs(pid) - before });
    };

    // Warm every path (JIT, pools, keep-alive) before measuring.
    for (const target of [ceilingTarget, meTarget, patientTarget, cached]) await saturate(target, 16, 3_000);
    // From here the pods are measured alone: the audit drainer waits (its events wait in the stream).
    drainer.child.kill('SIGSTOP');
    // The four saturation phases in turns (one-second slices, target after target), so the ratios
    // to the ceiling compare the same stretch of this shared machine.
    const podPid = pod.process.child.pid as number;
    const [ceiling, meSaturated, patientSaturated, cachedSaturated] = (
      await saturateInTurns([ceilingTarget, meTarget, patientTarget, cached], 16, ms, seconds, () =>
        processCpuMs(podPid),
      )
    ).map(meteredPhase) as [Phase, Phase, Phase, Phase];
    const cachedAt1000 = await onPod(pod, () => fixedRate(cached, 1_000, ms));
    // The same at half that rate: latency with more headroom on this machine.
    const cachedAt500 = await onPod(pod, () => fixedRate(cached, 500, ms));

    // A pod started now, as after a deploy: 10 warm-up requests, then one client asking in turn.
    const fresh = await stack.startPod(mlUrl, podEnv);
    const freshCached = cachedOn(fresh.url);
    for (let i = 0; i < 10; i++) await sequential(freshCached, 1);
    const freshSequential = await onPod(fresh, () => sequential(freshCached, 300));
    await fresh.process.stop();

    const live = await onPod(livePod, () =>
      fixedRate(
        { url: livePod.url, headers, body: (i) => patientQuery(ids[i % PATIENTS] as string), accept: has('LIVE') },
        100,
        ms,
      ),
    );

    // The drainer's side: what writing the events measured so far costs, then the saturated pair
    // again with it draining beside the pod on these two cores.
    drainer.child.kill('SIGCONT');
    const catchUp = await drainCost(stack, drainer.child.pid as number);
    const [ceilingDraining, cachedDraining] = (
      await saturateInTurns([ceilingTarget, cached], 16, ms, seconds, () => processCpuMs(podPid))
    ).map(meteredPhase) as [Phase, Phase];
    drainer.child.kill('SIGSTOP');

    await ml.stop();
    const openTarget: LoadTarget = {
      url: livePod.url,
      headers,
      body: (i) => patientQuery(ids[i % CACHED_ROTATION] as string),
      accept: has('STALE_CACHE'),
    };
    // Trip the breaker (its volume threshold) before measuring the open state.
    await saturate(openTarget, 4, 1_500);
    const breakerOpen = await onPod(livePod, () => fixedRate(openTarget, 1_000, ms));
    const breakerOpenAt500 = await onPod(livePod, () => fixedRate(openTarget, 500, ms));
    drainer.child.kill('SIGCONT');

    const round = (n: number) => Math.round(n * 1000) / 1000;
    const ratio = cachedSaturated.rps / ceiling.rps;
    const cpuRatio = cachedSaturated.cpuMsPerOp / ceiling.cpuMsPerOp;
    const target = (goal: number, measured: number, atMost: boolean) => ({
      target: goal,
      measured: round(measured),
      met: atMost ? measured <= goal : measured >= goal,
    });
    const targets = {
      cachedCpuPerOpRatio: target(1.3, cpuRatio, true),
      cachedThroughputRatio: target(0.8, ratio, false),
      freshSequentialP50Ms: target(2, freshSequential.p50, true),
      freshSequentialP99Ms: target(5, freshSequential.p99, true),
      cachedAt1000P50Ms: target(2, cachedAt1000.p50, true),
      cachedAt1000P99Ms: target(10, cachedAt1000.p99, true),
      breakerOpenAt1000P50Ms: target(2, breakerOpen.p50, true),
      breakerOpenAt1000P99Ms: target(10, breakerOpen.p99, true),
    };
    const phases = {
      ceiling,
      meSaturated,
      patientSaturated,
      cachedSaturated,
      cachedAt1000,
      cachedAt500,
      freshSequential,
      live,
      breakerOpen,
      breakerOpenAt500,
      ceilingDraining,
      cachedDraining,
    };
    const drain = { ...catchUp, cachedThroughputRatioDraining: round(cachedDraining.rps / ceilingDraining.rps) };
    publishTables(phases, targets, drain, seconds);
    return { phases, targets, drain, note: SHARED_MACHINE };
  } finally {
    drainer?.child.kill('SIGCONT'); // A stopped process would not hear the SIGTERM of close().
    await stack.close();
  }
}

/** What the audit drainer did while it caught up with the events of the measured phases. */
interface DrainCost {
  events: number;
  seconds: number;
  eventsPerSecond: number;
  /** Machine CPU per event written, in microseconds: the worker, NATS and PostgreSQL. */
  workerUsPerEvent: number;
  natsUsPerEvent: number;
  postgresUsPerEvent: number;
}

/**
 * Waits until the audit stream is empty (every event written to `audit_event` and acknowledged),
 * metering the worker's, NATS's and PostgreSQL's CPU meanwhile, and divides by the rows written.
 */
async function drainCost(stack: BenchStack, workerPid: number): Promise<DrainCost> {
  const db = new pg.Client({ connectionString: stack.db.url });
  await db.connect();
  const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
  try {
    const jsm = await jetstreamManager(nc);
    const { stream } = auditNames(stack.namespace);
    const rows = async () => Number((await db.query('select count(*) as n from audit_event')).rows[0].n);
    const before = {
      rows: await rows(),
      worker: processCpuMs(workerPid),
      nats: commandCpuMs(['nats-server']),
      postgres: commandCpuMs(['postgres']),
    };
    const started = performance.now();
    const deadline = Date.now() + 300_000;
    while ((await jsm.streams.info(stream)).state.messages > 0) {
      if (Date.now() > deadline) throw new Error('the audit drainer did not catch up in 5 minutes');
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = (performance.now() - started) / 1000;
    const events = (await rows()) - before.rows;
    const per = (ms: number) => Math.round((ms * 1000) / Math.max(1, events));
    return {
      events,
      seconds: Math.round(seconds * 10) / 10,
      eventsPerSecond: Math.round(events / seconds),
      workerUsPerEvent: per(processCpuMs(workerPid) - before.worker),
      natsUsPerEvent: per(commandCpuMs(['nats-server']) - before.nats),
      postgresUsPerEvent: per(commandCpuMs(['postgres']) - before.postgres),
    };
  } finally {
    await nc.close();
    await db.end();
  }
}

/** A load result with the pod CPU metered over it (milliseconds), as CPU per request. */
function meteredPhase({ metered, ...result }: LoadResult & { metered: number }): Phase {
  return { ...result, cpuMsPerOp: Math.round((metered / Math.max(1, result.requests)) * 1000) / 1000 };
}

/** A phase's load result and the CPU time the serving pod spent per request meanwhile. */
export type Phase = LoadResult & { cpuMsPerOp: number };
type Target = { target: number; measured: number; met: boolean };

const SHARED_MACHINE =
  "One machine of 2 cores shared by the load generator, the pods, PostgreSQL, Redis, NATS and, at the time, other people's builds and tests: wall-clock figures are noisy; CPU per operation is the pod's own.";

const PHASE_LABELS: Record<string, string> = {
  ceiling: '`{ __typename }` ceiling (saturated, in turns with the next three)',
  meSaturated: '`me` (auth + context + rate limit), saturated',
  patientSaturated: '`patient(id)` (+ access check, snapshot, audit), saturated',
  cachedSaturated: 'cached `assessment`, saturated',
  cachedAt1000: 'cached `assessment` at a fixed 1,000 req/s',
  cachedAt500: 'cached `assessment` at a fixed 500 req/s',
  freshSequential: 'fresh pod, 10 warm-ups, 300 sequential cached',
  live: 'uncached (`LIVE`) at 100 req/s',
  breakerOpen: 'breaker open (`STALE_CACHE`) at 1,000 req/s',
  breakerOpenAt500: 'breaker open (`STALE_CACHE`) at 500 req/s',
  ceilingDraining: '`{ __typename }` ceiling, the audit drainer running beside the pod (in turns with the next)',
  cachedDraining: 'cached `assessment`, saturated, the audit drainer running beside the pod',
};

const TARGET_LABELS: Record<string, string> = {
  cachedCpuPerOpRatio: 'API CPU per cached assessment ÷ per `{ __typename }`',
  cachedThroughputRatio: 'cached saturated throughput ÷ ceiling',
  freshSequentialP50Ms: 'fresh pod, sequential, p50 ms',
  freshSequentialP99Ms: 'fresh pod, sequential, p99 ms',
  cachedAt1000P50Ms: 'cached at 1,000 req/s, p50 ms',
  cachedAt1000P99Ms: 'cached at 1,000 req/s, p99 ms',
  breakerOpenAt1000P50Ms: 'breaker open at 1,000 req/s, p50 ms',
  breakerOpenAt1000P99Ms: 'breaker open at 1,000 req/s, p99 ms',
};

const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en-GB') : String(Math.round(n * 100) / 100));

/**
 * Rewrites the tables between `<!-- bench:assessment -->` and `<!-- /bench:assessment -->` in
 * docs/benchmarks.md (every phase and target) and README.md (the targets), so the figures the
 * docs quote are always those of the last run.
 */
function publishTables(
  phases: Record<string, Phase>,
  targets: Record<string, Target>,
  drain: DrainCost & { cachedThroughputRatioDraining: number },
  seconds: number,
): void {
  const when = `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  const command = `npm run bench -- --scenario assessment --seconds ${seconds}`;
  const targetRows = [
    '| target | goal | measured | met |',
    '| --- | ---: | ---: | :---: |',
    ...Object.entries(targets).map(
      ([name, t]) =>
        `| ${TARGET_LABELS[name] ?? name} | ${name.endsWith('Ms') || name.includes('Cpu') ? '≤' : '≥'} ${t.target} | ${fmt(t.measured)} | ${t.met ? 'yes' : 'no'} |`,
    ),
  ];
  const drainLine = `The audit drainer (a worker; paused while the pods above were measured, as deployed it runs on other nodes) then wrote the ${drain.events.toLocaleString('en-GB')} events of those phases in ${drain.seconds} s (${drain.eventsPerSecond.toLocaleString('en-GB')}/s), at ${drain.workerUsPerEvent} µs of worker CPU, ${drain.natsUsPerEvent} µs of NATS and ${drain.postgresUsPerEvent} µs of PostgreSQL per event. Draining beside the pod on the same 2 cores, cached throughput ÷ ceiling was ${drain.cachedThroughputRatioDraining}.`;
  const full = [
    `\`${command}\`, ${when}; ${SHARED_MACHINE}`,
    '',
    '| phase | req/s | p50 ms | p99 ms | API CPU ms/op |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...Object.entries(phases).map(
      ([name, p]) =>
        `| ${PHASE_LABELS[name] ?? name} | ${fmt(p.rps)} | ${fmt(p.p50)} | ${fmt(p.p99)} | ${p.cpuMsPerOp} |`,
    ),
    '',
    ...targetRows,
    '',
    drainLine,
  ];
  const short = [
    `\`${command}\`, ${when} (shared 2-core machine; all phases in [docs/benchmarks.md](docs/benchmarks.md)):`,
    '',
    ...targetRows,
    '',
    drainLine,
  ];
  const root = new URL('../..', import.meta.url).pathname;
  replaceBetweenMarkers(`${root}docs/benchmarks.md`, full.join('\n'));
  replaceBetweenMarkers(`${root}README.md`, short.join('\n'));
}

function replaceBetweenMarkers(path: string, body: string): void {
  const open = '<!-- bench:assessment -->';
  const close = '<!-- /bench:assessment -->';
  const text = readFileSync(path, 'utf8');
  const from = text.indexOf(open);
  const to = text.indexOf(close);
  if (from < 0 || to < from) throw new Error(`${path} has no ${open} … ${close} markers`);
  writeFileSync(path, `${text.slice(0, from + open.length)}\n${body}\n${text.slice(to)}`);
}
