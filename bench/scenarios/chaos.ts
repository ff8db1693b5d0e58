/**
 * Scenario `chaos`: faults under load, through nginx, for `--seconds` (600 for the committed run).
 * Steady traffic — diagnoses requested at a fixed rate, each followed by subscribers on reconnecting
 * graphql-ws clients, assessments read at a fixed rate, and a few thousand long-lived
 * `patientDiagnoses` subscriptions — while faults are injected at random (seeded, so a run can be
 * repeated): SIGKILL an API pod, SIGTERM one (a drain), SIGKILL a worker, restart Redis, restart
 * NATS, hang the model server. Every kind comes once before any comes twice.
 *
 * At the end, the invariants of bench/lib/invariants.ts against the durable record (every accepted
 * request reached exactly one terminal state; none COMPLETED twice; every subscriber that stayed or
 * reconnected saw its diagnosis's terminal state; no client saw a version go back), error rate and
 * p99 per fault window, and the timeline plotted (Vega-Lite, rendered to SVG) with the faults marked.
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import {
  DiagnosisUpdatedDocument,
  PatientAssessmentDocument,
  PatientDiagnosesDocument,
  RecordObservationsDocument,
  RequestDiagnosisDocument,
} from '../../client/index.js';
import { queryDatabase } from '../../test/helpers/database.js';
import { execute } from '../../test/helpers/graphql.js';
import { createPatient, VITALS_NEWS2_7 } from '../../test/helpers/patients.js';
import { connectReconnectingWs, type ReconnectingWs } from '../../test/helpers/ws.js';
import {
  ChaosStack,
  FAULT_KINDS,
  type FaultKind,
  type FaultWindow,
  faultWindowStats,
  type Sample,
  windows,
} from '../lib/chaos.js';
import { DiagnosisLedger, type DiagnosisRow, type TransitionRow } from '../lib/invariants.js';
import { nginxBinary } from '../lib/nginx.js';

/** Patients the traffic goes to; the feeds follow ten times as many, so most feeds sit idle, as most would. */
const PATIENTS = 20;
const FEED_PATIENTS = 200;
const CLIENTS = 100;
/** Long-lived `patientDiagnoses` subscriptions per client (CLIENTS × this in all). */
const FEEDS_PER_CLIENT = 20;
const DIAGNOSES_PER_SECOND = 3;
const ASSESSMENTS_PER_SECOND = 20;
const SUBSCRIBERS_PER_DIAGNOSIS = 2;
const WARM_UP_MS = 20_000;
/**
 * Faults start every 30–60 s (uniformly), after the warm-up and before the last 30 s; a shorter
 * run packs them closer, so that every kind still comes at least once.
 */
function faultGaps(runMs: number): [number, number] {
  const most = Math.min(60_000, (runMs - WARM_UP_MS - 30_000) / FAULT_KINDS.length);
  return [most / 2, most];
}
const WINDOW_MS = 5_000;
const SEED = 20261203;

/** Mulberry32: a small seeded generator, so the fault schedule of a run can be repeated. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Fault kinds in a seeded order in which every kind comes once before any comes twice. */
function schedule(runMs: number, rand: () => number): { at: number; kind: FaultKind; target: number }[] {
  const out: { at: number; kind: FaultKind; target: number }[] = [];
  const [least, most] = faultGaps(runMs);
  let bag: FaultKind[] = [];
  for (let at = WARM_UP_MS; at < runMs - 30_000; at += least + rand() * (most - least)) {
    if (bag.length === 0) bag = [...FAULT_KINDS].sort(() => rand() - 0.5);
    out.push({ at: Math.round(at), kind: bag.pop() as FaultKind, target: Math.floor(rand() * 1_000) });
  }
  return out;
}

/** One request with a deadline: a pod that died mid-request must not stall the traffic loop. */
async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; value: T | undefined }> {
  const started = performance.now();
  const value = await Promise.race([
    run().catch(() => undefined),
    new Promise<undefined>((resolve) => setTimeout(resolve, 10_000)),
  ]);
  return { ms: performance.now() - started, value };
}

export async function runChaosScenario({ seconds }: { seconds: number }): Promise<Record<string, unknown>> {
  if (!nginxBinary()) throw new Error('nginx is not installed (scripts/services.sh installs it)');
  if (seconds < 120) throw new Error('chaos needs --seconds 120 or more (600 for the committed run)');
  const runMs = seconds * 1_000;
  const rand = random(SEED);
  const stack = await ChaosStack.start({ pods: 3, workers: 2, hangMs: 15_000, storeDownMs: 3_000 });
  const clients: ReconnectingWs[] = [];
  try {
    const { token } = await stack.base.clinician();
    const url = stack.nginx.url;
    const patients: string[] = [];
    for (let i = 0; i < PATIENTS; i++) {
      const id = await createPatient(url, token);
      (
        await execute(url, RecordObservationsDocument, { patientId: id, input: VITALS_NEWS2_7 }, { token })
      ).expectData();
      patients.push(id);
    }
    for (let i = 0; i < CLIENTS; i++) clients.push(connectReconnectingWs(stack.nginx.wsUrl, `Bearer ${token}`));

    const ledger = new DiagnosisLedger();
    // Long-lived feeds: what each saw, per diagnosis, to check no version ever went back.
    const feeds: { client: number; results: unknown[] }[] = [];
    for (let c = 0; c < CLIENTS; c++) {
      for (let f = 0; f < FEEDS_PER_CLIENT; f++) {
        const stream = (clients[c] as ReconnectingWs).stream(PatientDiagnosesDocument, {
          patientId: patients[(c * FEEDS_PER_CLIENT + f) % FEED_PATIENTS] as string,
        });
        feeds.push({ client: c, results: stream.results });
      }
    }

    const samples: Sample[] = [];
    const faults: FaultWindow[] = [];
    const streams: Promise<void>[] = [];
    const began = performance.now();
    const now = () => performance.now() - began;
    let stop = false;
    let subscriberSeq = 0;

    const diagnosisLoop = async () => {
      for (let n = 0; !stop; n++) {
        const due = (n * 1_000) / DIAGNOSES_PER_SECOND;
        const wait = due - now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        if (stop) return;
        const t = now();
        const patientId = patients[n % PATIENTS] as string;
        void timed(() =>
          execute(url, RequestDiagnosisDocument, { patientId, input: { symptoms: ['fever', 'cough'] } }, { token }),
        ).then(({ ms, value }) => {
          const id = value?.data?.requestDiagnosis.id;
          const ok = Boolean(id) && !value?.errors;
          samples.push({ t, kind: 'diagnosis', ms, ok });
          if (!ok || !id) return; // not accepted: nothing is owed for it
          ledger.accept(id);
          for (let s = 0; s < SUBSCRIBERS_PER_DIAGNOSIS; s++) {
            const c = subscriberSeq++ % CLIENTS;
            const log = ledger.subscriber(`client${c}`, id);
            const stream = (clients[c] as ReconnectingWs).stream(DiagnosisUpdatedDocument, { id });
            streams.push(
              stream.done.then(() => {
                for (const result of stream.results) {
                  if (result.errors) log.errors.push(result.errors[0]?.message ?? 'error');
                  const view = result.data?.diagnosisUpdated;
                  if (view) log.seen.push({ id: view.id, status: view.status, version: view.version });
                }
              }),
            );
          }
        });
      }
    };
    const assessmentLoop = async () => {
      for (let n = 0; !stop; n++) {
        const due = (n * 1_000) / ASSESSMENTS_PER_SECOND;
        const wait = due - now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        if (stop) return;
        const t = now();
        const patientId = patients[n % PATIENTS] as string;
        void timed(() => execute(url, PatientAssessmentDocument, { patientId }, { token })).then(({ ms, value }) => {
          samples.push({ t, kind: 'assessment', ms, ok: Boolean(value?.data?.assessment) && !value?.errors });
        });
      }
    };
    const faultLoop = async () => {
      for (const planned of schedule(runMs, rand)) {
        const wait = planned.at - now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        if (stop) return;
        const start = now();
        console.log(`chaos: ${(start / 1000).toFixed(0)} s ${planned.kind}`);
        await stack.inject(planned.kind, planned.target);
        // Repaired when every pod is ready again (a restarted store is probed within 250 ms).
        while (!(await stack.allReady())) await new Promise((resolve) => setTimeout(resolve, 200));
        faults.push({ kind: planned.kind, target: planned.target, start, end: now() });
      }
    };

    const readiness: { t: number; pod: number; status: string }[] = [];
    const probeLoop = async () => {
      while (!stop) {
        const t = now();
        for (const { pod, status } of await stack.probe()) readiness.push({ t, pod, status });
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    };

    // The load generator shares the cores: its own event-loop delay is in every latency it measures.
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    const loops = [diagnosisLoop(), assessmentLoop(), faultLoop(), probeLoop()];
    await new Promise((resolve) => setTimeout(resolve, runMs));
    stop = true;
    await Promise.all(loops);
    lag.disable();
    // Let the last requests' answers arrive (each has a 10 s deadline).
    await new Promise((resolve) => setTimeout(resolve, 10_500));

    // Every accepted diagnosis must end; then every subscription must have ended with it.
    const deadline = Date.now() + 180_000;
    let rows: DiagnosisRow[] = [];
    for (;;) {
      rows = await queryDatabase<DiagnosisRow>(stack.base.db.url, 'select id::text, status, version from diagnosis');
      if (ledger.unfinished(rows).length === 0 || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    await Promise.race([Promise.all(streams), new Promise((resolve) => setTimeout(resolve, 60_000))]);
    const transitions = await queryDatabase<TransitionRow>(
      stack.base.db.url,
      'select diagnosis_id::text, version, status, report_status from diagnosis_transition',
    );
    const report = ledger.check(rows, transitions);

    // Feeds: per client and diagnosis, versions never go back (a reconnect may miss some, never reorder).
    let feedEvents = 0;
    for (const feed of feeds) {
      const last = new Map<string, number>();
      for (const result of feed.results as { data?: { patientDiagnoses?: { id: string; version: number } } }[]) {
        const view = result.data?.patientDiagnoses;
        if (!view) continue;
        feedEvents += 1;
        const before = last.get(view.id) ?? 0;
        if (view.version < before)
          report.violations.push(
            `feed of client${feed.client}: ${view.id} version went back ${before} → ${view.version}`,
          );
        last.set(view.id, view.version);
      }
    }
    if (report.violations.length > 0)
      console.error(`chaos: violations\n${report.violations.join('\n')}\n${stack.workerLog}`);

    const series = windows(samples, WINDOW_MS);
    const svg = await plot(series, faults, readiness);
    writeFileSync(
      '/tmp/chaos-pods.log',
      stack
        .podOutput()
        .map((out, i) => `--- pod ${i}\n${out}`)
        .join('\n'),
    );
    writeFileSync(new URL('../results/chaos.svg', import.meta.url), svg);
    const byFault = faultWindowStats(samples, faults);
    return {
      phases: {},
      setup: {
        pods: 3,
        workers: 2,
        clients: CLIENTS,
        feedSubscriptions: feeds.length,
        diagnosesPerSecond: DIAGNOSES_PER_SECOND,
        assessmentsPerSecond: ASSESSMENTS_PER_SECOND,
        subscribersPerDiagnosis: SUBSCRIBERS_PER_DIAGNOSIS,
        seed: SEED,
        loadGeneratorLagMs: { p50: Math.round(lag.percentile(50) / 1e6), p99: Math.round(lag.percentile(99) / 1e6) },
        machineLoadAverage: loadavg().map((l) => Math.round(l * 10) / 10),
      },
      invariants: {
        accepted: report.accepted,
        byTerminalStatus: report.byTerminalStatus,
        diagnosisSubscribers: report.subscribers,
        statesSeen: report.statesSeen,
        feedEvents,
        reconnectingClients: clients.filter((c) => c.connects() >= 2).length,
        violations: report.violations.slice(0, 50),
        violationCount: report.violations.length,
      },
      faultWindows: byFault.faults,
      steady: byFault.steady,
      plot: 'bench/results/chaos.svg',
      targets: {
        'invariant violations': { target: 0, measured: report.violations.length, met: report.violations.length === 0 },
        'faults injected': {
          target: FAULT_KINDS.length,
          measured: faults.length,
          met: faults.length >= FAULT_KINDS.length,
        },
      },
    };
  } finally {
    await Promise.all(clients.map((c) => c.dispose()));
    await stack.close();
  }
}

/** Latency (p99, log scale) and error rate per window, each kind a line, the faults as labelled bands. */
async function plot(
  series: ReturnType<typeof windows>,
  faults: readonly FaultWindow[],
  readiness: readonly { t: number; pod: number; status: string }[],
): Promise<string> {
  const bands = faults.map((f) => ({
    start: f.start / 1000,
    end: Math.max(f.end, f.start + 1_000) / 1000,
    kind: f.kind,
  }));
  const values = series.map((w) => ({ ...w, t: w.t / 1000, p99: Math.max(w.p99, 0.1), errorPct: w.errorRate * 100 }));
  const layer = (field: string, title: string, scale: Record<string, unknown>) => ({
    width: 900,
    height: 220,
    layer: [
      {
        data: { values: bands },
        mark: { type: 'rect', opacity: 0.18 },
        encoding: {
          x: { field: 'start', type: 'quantitative' },
          x2: { field: 'end' },
          color: { field: 'kind', type: 'nominal', title: 'fault', scale: { scheme: 'set2' } },
        },
      },
      {
        data: { values: bands },
        mark: { type: 'text', angle: 270, align: 'right', baseline: 'top', dx: -4, fontSize: 9 },
        encoding: { x: { field: 'start', type: 'quantitative' }, y: { value: 0 }, text: { field: 'kind' } },
      },
      {
        data: { values },
        mark: { type: 'line', point: { size: 12 } },
        encoding: {
          x: { field: 't', type: 'quantitative', title: 'seconds since start' },
          y: { field, type: 'quantitative', title, scale },
          stroke: { field: 'kind', type: 'nominal', title: 'request', scale: { range: ['#1f77b4', '#d62728'] } },
        },
      },
    ],
    resolve: { scale: { color: 'independent' } },
  });
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Chaos run: latency and errors per 5 s window, faults marked',
    vconcat: [
      layer('p99', 'p99 latency (ms, log)', { type: 'log' }),
      layer('errorPct', 'errors (%)', { domain: [0, 100] }),
      {
        width: 900,
        height: 90,
        data: { values: readiness.map((r) => ({ ...r, t: r.t / 1000, pod: `pod ${r.pod}` })) },
        mark: { type: 'tick', thickness: 3 },
        encoding: {
          x: { field: 't', type: 'quantitative', title: 'seconds since start' },
          y: { field: 'pod', type: 'nominal', title: 'readiness' },
          color: {
            field: 'status',
            type: 'nominal',
            title: 'pod says',
            scale: {
              domain: ['ok', 'degraded', 'draining', 'unavailable', 'no answer', 'down'],
              range: ['#2ca02c', '#ffbf00', '#9467bd', '#d62728', '#7f7f7f', '#000000'],
            },
          },
        },
      },
    ],
    resolve: { scale: { color: 'independent' } },
    config: { font: 'sans-serif' },
  } as unknown as TopLevelSpec;
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}
