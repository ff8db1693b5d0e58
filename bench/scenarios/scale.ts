/**
 * Scenario `scale`: N concurrent graphql-ws connections (default 100,000), each with a live
 * `diagnosisUpdated` subscription, across built API pods on this machine, driven by forked client
 * processes (bench/lib/scale-client.ts) on real PostgreSQL, Redis and NATS.
 *
 * A process may hold at most 20,000 open files here, so sockets are spread over ≥ 6 pods and as
 * many client processes (~17k each), and each client binds its own loopback source addresses so
 * that ephemeral ports (~28k per source address) do not run out.
 *
 * Measures: the connect rate (socket opened → subscription live, i.e. its current state arrived);
 * each pod's RSS and V8 heap per idle subscribed socket (after a full GC through the pod's
 * inspector, before and after); delivery latency from the publish (the worker's compare-and-set +
 * PUBLISH, through bench/lib/publisher.ts) to receipt by every subscriber for (a) one event to all
 * N subscribers of one diagnosis and (b) N more subscriptions spread over N/10 diagnoses that all
 * advance at once. Every expected event is counted (bench/lib/scale-accounting.ts): anything
 * missing, doubled or out of order fails the scenario.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { basename, dirname, resolve } from 'node:path';
import { parse, print } from 'graphql';
import { connectRedis, type Redis } from '../../src/lib/redis.js';
import { RedisLiveStateWriter } from '../../src/modules/diagnosis/diagnosis.live.js';
import { collectGarbage, heapSnapshot, startCpuProfile } from '../lib/inspector.js';
import { freePort } from '../lib/processes.js';
import { claimForPublishing } from '../lib/publisher.js';
import { account, isClean, type Published, percentiles, type Receipt, summarise } from '../lib/scale-accounting.js';
import type { ClientCommand, ClientMessage } from '../lib/scale-client.js';
import { type BenchPod, BenchStack, processCpuMs } from '../lib/stack.js';

const SUBSCRIPTION = print(parse('subscription S($id: ID!) { diagnosisUpdated(id: $id) { version } }'));

/** Sockets per process: 20,000 open files, less the pod's own (Postgres, Redis, NATS, modules). */
const SOCKETS_PER_PROCESS = 17_000;

export interface ScaleOptions {
  connections?: number;
  pods?: number;
  clients?: number;
  diagnoses?: number;
  /** Broadcast events to all subscribers of one diagnosis, one after another. */
  events?: number;
  /** Writes a heap snapshot of the first pod, once its sockets are idle, to this file. */
  heapSnapshot?: string | undefined;
  /**
   * Writes CPU profiles of the first pod through the connects, the broadcast and the spread
   * deliveries to `<this>-{connect,broadcast,spread}.cpuprofile`, and of the first client process,
   * its whole life, to `<this>-client.cpuprofile`.
   */
  cpuProfile?: string | undefined;
  /** Sockets each client process has between opening and live at once (default 64). */
  inFlight?: number;
  /** Attempts per socket before it counts as lost (default 6: five retries with back-off). */
  attempts?: number;
}

interface ScalePod extends BenchPod {
  inspectPort: number;
}

interface PodMetrics {
  rss: number;
  heap: number;
  sockets: number;
  subscriptions: number;
}

async function metrics(base: string): Promise<PodMetrics> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  return {
    rss: read('process_resident_memory_bytes'),
    heap: read('nodejs_heap_size_used_bytes'),
    sockets: read('graphql_ws_connections_active'),
    subscriptions: read('graphql_ws_subscriptions_active'),
  };
}

/** One forked client process and a way to wait for its next message of a kind. */
class ClientProcess {
  private readonly waiters: { type: string; resolve: (m: ClientMessage) => void; reject: (e: Error) => void }[] = [];
  latest: Extract<ClientMessage, { type: 'progress' }> | undefined;
  exited: number | null | undefined;

  constructor(readonly child: ChildProcess) {
    child.on('message', (message: ClientMessage) => {
      if (message.type === 'progress') this.latest = message;
      const at = this.waiters.findIndex((w) => w.type === message.type);
      if (at >= 0) this.waiters.splice(at, 1)[0]?.resolve(message);
    });
    child.once('exit', (code) => {
      this.exited = code;
      // A client process that died answers nothing more: whoever waits on it fails now, not at its timeout.
      for (const waiter of this.waiters.splice(0)) waiter.reject(new Error(`client process exited with ${code}`));
    });
  }

  /** `profile`: a CPU profile of the whole process, written when it exits. */
  static start(profile?: string): ClientProcess {
    const profiling = profile
      ? ['--cpu-prof', `--cpu-prof-dir=${dirname(profile)}`, `--cpu-prof-name=${basename(profile)}`]
      : [];
    const child = fork(new URL('../lib/scale-client.ts', import.meta.url).pathname, [], {
      execArgv: ['--import', 'tsx', ...profiling],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new ClientProcess(child);
  }

  send(command: ClientCommand): void {
    this.child.send(command);
  }

  next<T extends ClientMessage['type']>(type: T, timeoutMs: number): Promise<Extract<ClientMessage, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`client process: no ${type} in ${timeoutMs / 1000} s`)),
        timeoutMs,
      );
      this.waiters.push({
        type,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as Extract<ClientMessage, { type: T }>);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
  }
}

/** Runs `work(i)` for i in [0, n) with at most `concurrency` at once. */
async function bounded<T>(n: number, concurrency: number, work: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  const lane = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await work(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, lane));
  return out;
}

const kib = (bytes: number) => Math.round((bytes / 1024) * 10) / 10;

export async function runScaleScenario(options: ScaleOptions = {}): Promise<Record<string, unknown>> {
  const connections = options.connections ?? 100_000;
  const podCount = options.pods ?? Math.max(2, Math.ceil(connections / SOCKETS_PER_PROCESS));
  const clientCount = options.clients ?? Math.max(2, Math.ceil(connections / SOCKETS_PER_PROCESS));
  const diagnosisCount = options.diagnoses ?? Math.max(1, Math.round(connections / 10));
  const events = options.events ?? 3;
  const inFlight = options.inFlight ?? 64;
  const attempts = options.attempts ?? 6;
  if (connections / podCount > SOCKETS_PER_PROCESS || connections / clientCount > SOCKETS_PER_PROCESS + 1_000)
    throw new Error(`${connections} sockets need more than ${podCount} pods / ${clientCount} client processes`);
  const log = (line: string) => console.log(`scale: ${line}`);

  const stack = await BenchStack.create();
  const clients: ClientProcess[] = [];
  let redis: Redis | undefined;
  try {
    const store = await connectRedis({
      url: 'redis://127.0.0.1:6379',
      keyPrefix: stack.prefix,
      commandTimeoutMs: 60_000,
    });
    redis = store;
    const mlUrl = `http://127.0.0.1:${await freePort()}`;
    const pods: ScalePod[] = [];
    for (let p = 0; p < podCount; p++) {
      const inspectPort = await freePort();
      const pod = await stack.startPod(mlUrl, {
        // Loopback only, bench pods only: the bench forces a GC before it reads a pod's memory.
        NODE_OPTIONS: `--inspect=127.0.0.1:${inspectPort}`,
        // Six pods share the one PostgreSQL (100 connections) with everything else on the machine.
        DATABASE_POOL_SIZE: '4',
      });
      pods.push({ ...pod, inspectPort });
    }
    log(`${podCount} pods up`);
    const { token, headers } = await stack.clinician();
    const gql = async (pod: BenchPod, query: string, variables: Record<string, unknown>) => {
      const res = await fetch(`${pod.base}/graphql`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ query, variables }),
      });
      const json = (await res.json()) as { data?: Record<string, { id: string }>; errors?: unknown };
      if (json.errors || !json.data) throw new Error(JSON.stringify(json.errors));
      return json.data;
    };

    // The diagnoses: one every subscriber follows (a), and N/10 that N more subscriptions spread over (b),
    // of a hundred patients each.
    const patientCount = Math.max(1, Math.ceil(diagnosisCount / 100));
    const patients = await bounded(patientCount, 8, async (i) => {
      const data = await gql(
        pods[i % podCount] as BenchPod,
        'mutation C($input: CreatePatientInput!) { createPatient(input: $input) { id } }',
        {
          input: {
            mrn: `BENCH-SCALE-${i}`,
            givenName: 'Bench',
            familyName: 'Scale',
            birthDate: '1960-01-01',
            sex: 'MALE',
          },
        },
      );
      return data.createPatient?.id as string;
    });
    const request = async (i: number) =>
      (
        await gql(
          pods[i % podCount] as BenchPod,
          'mutation R($p: ID!, $i: DiagnosisRequestInput!) { requestDiagnosis(patientId: $p, input: $i) { id } }',
          { p: patients[i % patientCount], i: { symptoms: ['fever'], notes: 'bench scale' } },
        )
      ).requestDiagnosis?.id as string;
    const ids = await bounded(diagnosisCount + 1, 48, request);
    const [broadcastId, ...spreadIds] = ids as [string, ...string[]];
    // Taken to RUNNING as a worker would, before anyone subscribes: every later publish is counted.
    const writer = new RedisLiveStateWriter(store, stack.prefix);
    const publishers = await bounded(ids.length, 64, (i) => claimForPublishing(writer, ids[i] as string, Date.now));
    log(`${ids.length} diagnoses of ${patientCount} patients, RUNNING`);

    // Memory before: every pod collected, nothing connected yet.
    await new Promise((r) => setTimeout(r, 2_000));
    const before: PodMetrics[] = [];
    for (const pod of pods) {
      await collectGarbage(pod.inspectPort);
      before.push(await metrics(pod.base));
    }

    const profile = (phase: string) =>
      options.cpuProfile
        ? startCpuProfile((pods[0] as ScalePod).inspectPort, `${options.cpuProfile}-${phase}.cpuprofile`)
        : Promise.resolve(async () => undefined);

    // CPU time (user + system) of the pods and of the client processes, from /proc, so that a
    // phase's cost per delivery is measured rather than read off a sampled profile.
    const cpuNow = () => ({
      at: Date.now(),
      pods: pods.reduce((ms, p) => ms + processCpuMs(p.process.child.pid as number), 0),
      clients: clients.reduce((ms, c) => ms + processCpuMs(c.child.pid as number), 0),
    });
    type CpuMark = ReturnType<typeof cpuNow>;
    /** Set once the sockets have idled a while: CPU per second of the pods and clients with nothing to deliver. */
    let idleCpu: { podsMsPerS: number; clientsMsPerS: number } | undefined;
    /** CPU per operation (µs) between two marks, and the same less what the idle sockets cost meanwhile. */
    const cpuPer = (from: CpuMark, to: CpuMark, operations: number) => {
      const seconds = (to.at - from.at) / 1000;
      const per = (ms: number) => Math.round((ms * 1000) / Math.max(1, operations));
      const idle = idleCpu ?? { podsMsPerS: 0, clientsMsPerS: 0 };
      return {
        seconds: Math.round(seconds * 10) / 10,
        podsUs: per(to.pods - from.pods),
        clientsUs: per(to.clients - from.clients),
        podsUsLessIdle: per(to.pods - from.pods - idle.podsMsPerS * seconds),
        clientsUsLessIdle: per(to.clients - from.clients - idle.clientsMsPerS * seconds),
      };
    };

    // Connect: every client process at once, each socket live when its current state arrives.
    const stopConnectProfile = await profile('connect');
    const perClient = Math.ceil(connections / clientCount);
    for (let c = 0; c < clientCount; c++)
      clients.push(
        ClientProcess.start(
          c === 0 && options.cpuProfile ? resolve(`${options.cpuProfile}-client.cpuprofile`) : undefined,
        ),
      );
    const connectStart = Date.now();
    const connectCpu = cpuNow();
    const opened = clients.map((client, c) => {
      const count = Math.max(0, Math.min(perClient, connections - c * perClient));
      const done = client.next('done', 30 * 60_000);
      client.send({
        type: 'open',
        urls: pods.map((p) => p.ws),
        // Four source addresses per process: ~4.3k ports each of the ~28k a source address has
        // (an explicit bind searches for a free port, and the search grows as ports fill up).
        localAddresses: [0, 1, 2, 3].map((a) => `127.0.0.${10 + 4 * c + a}`),
        first: c * perClient,
        count,
        token,
        query: SUBSCRIPTION,
        op: 'a',
        diagnosisId: broadcastId,
        concurrency: inFlight,
        attempts,
      });
      return done;
    });
    const progress = setInterval(() => {
      const live = clients.reduce((n, c) => n + (c.latest?.live.a ?? 0), 0);
      const failed = clients.reduce((n, c) => n + (c.latest?.failed ?? 0) + (c.latest?.closed ?? 0), 0);
      const retried = clients.reduce((n, c) => n + (c.latest?.retries ?? 0), 0);
      log(
        `connecting: ${live} live, ${failed} failed, ${retried} retries, ${Math.round((Date.now() - connectStart) / 1000)} s`,
      );
    }, 10_000);
    const connectDone = await Promise.all(opened).finally(() => clearInterval(progress));
    const connectedCpu = cpuNow();
    await stopConnectProfile();
    const live = connectDone.reduce((n, d) => n + d.live, 0);
    const connectFailed = connectDone.reduce((n, d) => n + d.failed, 0);
    const lastLiveAt = Math.max(...connectDone.map((d) => d.lastLiveAt));
    const connectSeconds = (lastLiveAt - connectStart) / 1000;
    const retryReasons: Record<string, number> = {};
    for (const d of connectDone)
      for (const [reason, n] of Object.entries(d.retryReasons)) retryReasons[reason] = (retryReasons[reason] ?? 0) + n;
    const connect = {
      connections,
      live,
      failed: connectFailed,
      seconds: Math.round(connectSeconds * 10) / 10,
      perSecond: Math.round(live / connectSeconds),
      inFlightPerClient: inFlight,
      // Connects tried again after a refusal, reset, timeout or 4408 before live (none is lost unless it gave up).
      retries: connectDone.reduce((n, d) => n + d.retries, 0),
      retryReasons,
      // CPU per socket connected, pods and client processes (the heartbeat of those already open included).
      cpu: cpuPer(connectCpu, connectedCpu, live),
      errors: connectDone.flatMap((d) => d.errors).slice(0, 10),
    };
    log(`connected: ${JSON.stringify(connect)}`);

    // Memory after: idle for a while (handshake garbage and buffers settle), then collected again.
    // What the idle sockets cost meanwhile (keep-alive pings and pongs) is the standing cost.
    const idleFrom = cpuNow();
    await new Promise((r) => setTimeout(r, 5_000));
    const idleTo = cpuNow();
    const idleSeconds = (idleTo.at - idleFrom.at) / 1000;
    idleCpu = {
      podsMsPerS: (idleTo.pods - idleFrom.pods) / idleSeconds,
      clientsMsPerS: (idleTo.clients - idleFrom.clients) / idleSeconds,
    };
    const idle = {
      // Milliseconds of CPU per second, all pods / all client processes: cores' worth ×1000.
      podsMsPerSecond: Math.round(idleCpu.podsMsPerS),
      clientsMsPerSecond: Math.round(idleCpu.clientsMsPerS),
    };
    log(`idle: ${JSON.stringify(idle)}`);
    const after: PodMetrics[] = [];
    for (const pod of pods) {
      await collectGarbage(pod.inspectPort);
      after.push(await metrics(pod.base));
    }
    if (options.heapSnapshot) await heapSnapshot((pods[0] as ScalePod).inspectPort, options.heapSnapshot);
    const perPod = pods.map((_, p) => {
      const b = before[p] as PodMetrics;
      const a = after[p] as PodMetrics;
      return {
        sockets: a.sockets,
        subscriptions: a.subscriptions,
        rssMiB: Math.round(a.rss / 2 ** 20),
        rssPerSocketKiB: kib((a.rss - b.rss) / (a.sockets || 1)),
        heapPerSocketKiB: kib((a.heap - b.heap) / (a.sockets || 1)),
      };
    });
    const sum = (rows: PodMetrics[], key: keyof PodMetrics) => rows.reduce((n, r) => n + r[key], 0);
    const podSockets = sum(after, 'sockets');
    const memory = {
      sockets: podSockets,
      rssPerSocketKiB: kib((sum(after, 'rss') - sum(before, 'rss')) / podSockets),
      heapPerSocketKiB: kib((sum(after, 'heap') - sum(before, 'heap')) / podSockets),
      perPod,
    };
    log(`memory: ${JSON.stringify(memory)}`);

    // One Redis SUBSCRIBE per channel per pod, however many sockets follow it.
    const numsub = async (id: string) =>
      Number(((await store.pubsub('NUMSUB', `${stack.prefix}diagnosis:${id}`)) as [string, number])[1]);
    const broadcastChannelSubscribers = await numsub(broadcastId);

    // Collects what every client received on `op` and accounts for it.
    const collect = async (op: string, published: Map<string, Published[]>, diagnosisOf: (g: number) => string) => {
      const reports = await Promise.all(
        clients.map((client) => {
          const report = client.next('report', 120_000);
          client.send({ type: 'report', op });
          return report;
        }),
      );
      const subscribers = [];
      const receipts: Receipt[] = [];
      for (const [c, report] of reports.entries()) {
        for (const [k, version] of report.initial.entries())
          subscribers[c * perClient + k] = { diagnosis: diagnosisOf(c * perClient + k), initial: version };
        for (let i = 0; i < report.receipts.length; i += 3)
          receipts.push({
            subscriber: report.receipts[i] as number,
            version: report.receipts[i + 1] as number,
            at: report.receipts[i + 2] as number,
          });
      }
      return {
        receipts,
        accounting: account(subscribers, receipts, published),
        closed: reports.reduce((n, r) => n + r.closed, 0),
        errors: reports.flatMap((r) => r.errors).slice(0, 10),
      };
    };
    const received = (op: string) => clients.reduce((n, c) => n + (c.latest?.received?.[op] ?? 0), 0);
    const waitReceived = async (op: string, target: number, timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      while (received(op) < target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      // Progress is sampled each second: one more sample so the last receipts are in.
      await new Promise((r) => setTimeout(r, 1_500));
    };

    // (a) One event to every subscriber of one diagnosis, `events` times, one after another.
    const broadcastPublished: Published[] = [];
    const publishBroadcast = publishers[0] as () => Promise<{ sent: number; version: number }>;
    const stopBroadcastProfile = await profile('broadcast');
    const broadcastCpuFrom = cpuNow();
    for (let e = 0; e < events; e++) {
      const { sent, version } = await publishBroadcast();
      broadcastPublished.push({ sentAt: sent, version });
      await waitReceived('a', live * (e + 1), 120_000);
    }
    const broadcastCpuTo = cpuNow();
    await stopBroadcastProfile();
    const broadcast = await collect('a', new Map([[broadcastId, broadcastPublished]]), () => broadcastId);
    // The events went out one after another with pauses between them: the rate is over the time
    // each took to reach its last subscriber, not over the whole phase.
    const lastReceipt = new Map<number, number>();
    for (const r of broadcast.receipts) lastReceipt.set(r.version, Math.max(lastReceipt.get(r.version) ?? 0, r.at));
    const deliveringSeconds = broadcastPublished.reduce(
      (sum, p) => sum + Math.max(0, (lastReceipt.get(p.version) ?? p.sentAt) - p.sentAt) / 1000,
      0,
    );
    log(`broadcast: ${JSON.stringify(summarise(broadcast.accounting))}`);

    // (b) N more subscriptions over N/10 diagnoses (socket g follows spreadIds[g % n]); all advance at once.
    const spreadStart = Date.now();
    const subscribed = clients.map((client) => {
      const done = client.next('done', 30 * 60_000);
      client.send({ type: 'subscribe', op: 'b', query: SUBSCRIPTION, diagnosisIds: spreadIds, concurrency: 64 });
      return done;
    });
    const spreadDone = await Promise.all(subscribed);
    const spreadLive = spreadDone.reduce((n, d) => n + d.live, 0);
    const spreadSubscribeSeconds = (Math.max(...spreadDone.map((d) => d.lastLiveAt)) - spreadStart) / 1000;
    log(`spread: ${spreadLive} subscriptions live in ${Math.round(spreadSubscribeSeconds)} s`);
    const spreadChannelSubscribers = await Promise.all(spreadIds.slice(0, 100).map(numsub));
    await new Promise((r) => setTimeout(r, 2_000));
    const stopSpreadProfile = await profile('spread');
    const spreadCpuFrom = cpuNow();
    const sent = await Promise.all(publishers.slice(1).map((publish) => publish()));
    const spreadPublished = new Map(
      spreadIds.map((id, i) => [id, [{ sentAt: sent[i]?.sent ?? 0, version: sent[i]?.version ?? 0 }]]),
    );
    await waitReceived('b', spreadLive, 120_000);
    const spreadCpuTo = cpuNow();
    await stopSpreadProfile();
    const spread = await collect('b', spreadPublished, (g) => spreadIds[g % spreadIds.length] as string);
    log(`spread: ${JSON.stringify(summarise(spread.accounting))}`);

    const clean =
      connectFailed === 0 &&
      live === connections &&
      isClean(broadcast.accounting) &&
      isClean(spread.accounting) &&
      broadcast.closed === 0 &&
      spread.closed === 0;
    if (!clean) {
      console.error('scale: events were lost, doubled or reordered, or sockets failed: the scenario fails');
      process.exitCode = 1;
    }
    const a = summarise(broadcast.accounting);
    a.eventsPerSecond = deliveringSeconds > 0 ? Math.round(broadcast.accounting.delivered / deliveringSeconds) : 0;
    const b = summarise(spread.accounting);
    const broadcastCpu = cpuPer(broadcastCpuFrom, broadcastCpuTo, broadcast.accounting.delivered);
    const spreadCpu = cpuPer(spreadCpuFrom, spreadCpuTo, spread.accounting.delivered);
    return {
      phases: {
        broadcast: {
          requests: a.delivered,
          unexpected: (a.missing ?? 0) + (a.duplicates ?? 0) + (a.unexpected ?? 0),
          rps: a.eventsPerSecond,
          ...percentiles(broadcast.accounting.latenciesMs),
          cpuMsPerOp: broadcastCpu.podsUsLessIdle / 1000,
        },
        spread: {
          requests: b.delivered,
          unexpected: (b.missing ?? 0) + (b.duplicates ?? 0) + (b.unexpected ?? 0),
          rps: b.eventsPerSecond,
          ...percentiles(spread.accounting.latenciesMs),
          cpuMsPerOp: spreadCpu.podsUsLessIdle / 1000,
        },
      },
      setup: {
        connections,
        pods: podCount,
        clientProcesses: clientCount,
        diagnoses: diagnosisCount,
        patients: patientCount,
      },
      clean,
      connect,
      idle,
      memory,
      redisSubscribers: {
        broadcastChannel: broadcastChannelSubscribers,
        spreadChannelsMax: Math.max(...spreadChannelSubscribers),
        pods: podCount,
      },
      // CPU per delivery (µs), pods and client processes, raw and less the idle sockets' standing cost.
      broadcast: { events, ...a, cpuPerDelivery: broadcastCpu, closed: broadcast.closed, errors: broadcast.errors },
      spread: {
        diagnoses: spreadIds.length,
        subscribeSeconds: Math.round(spreadSubscribeSeconds * 10) / 10,
        ...b,
        cpuPerDelivery: spreadCpu,
        closed: spread.closed,
        errors: spread.errors,
      },
      targets: {
        rssPerSocketKiB: { target: 12, measured: memory.rssPerSocketKiB, met: memory.rssPerSocketKiB <= 12 },
        broadcastP99Ms: { target: 1000, measured: a.p99 as number, met: (a.p99 as number) <= 1000 },
        missing: { target: 0, measured: (a.missing ?? 0) + (b.missing ?? 0), met: clean },
      },
    };
  } catch (error) {
    // A pod that died says why in its own output.
    for (const r of stack.running)
      if (r.child.exitCode !== null || r.child.signalCode !== null) console.error(r.output());
    throw error;
  } finally {
    await Promise.all(
      clients.map(async (client) => {
        if (client.exited !== undefined) return;
        const gone = new Promise((r) => client.child.once('exit', r));
        client.send({ type: 'close' });
        await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))]);
        client.child.kill('SIGKILL');
      }),
    );
    redis?.disconnect();
    await stack.close();
  }
}
