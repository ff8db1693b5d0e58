/**
 * The chaos stack: what the long chaos bench (`npm run bench -- --scenario chaos`) drives and
 * breaks. Every part is a real process or server of its own — API pods (`dist/src/main.js`) behind
 * Debian's nginx configured like deploy/nginx.conf, diagnosis workers (`dist/worker/main.js`), a
 * redis-server and a nats-server of the run's own (so they may be restarted), PostgreSQL (the
 * machine's, in a database of the run's own) — plus the reference model server behind a proxy that
 * can be made to hang. Each fault is a method that returns once the system is whole again, so its
 * window (start to recovery) can be marked on the timeline.
 */
import type { ChildProcess } from 'node:child_process';
import { createModelServer, type ModelServer } from '../../ml-server/server.js';
import { FaultyModelServer } from '../../test/helpers/faulty-model-server.js';
import { type OwnServer, startOwnNats, startOwnRedis } from '../../test/helpers/services.js';
import { type RunningNginx, startNginx } from './nginx.js';
import { freePort, httpOk, type Running, startNode } from './processes.js';
import { BenchStack } from './stack.js';

export type FaultKind = 'kill-pod' | 'term-pod' | 'kill-worker' | 'restart-redis' | 'restart-nats' | 'hang-model';

export const FAULT_KINDS: readonly FaultKind[] = [
  'kill-pod',
  'term-pod',
  'kill-worker',
  'restart-redis',
  'restart-nats',
  'hang-model',
];

/** What the chaos stack is made of; sizes are for this 2-core machine. */
export interface ChaosStackOptions {
  pods: number;
  workers: number;
  /** How long the model server hangs in a `hang-model` fault. */
  hangMs: number;
  /** How long Redis or NATS stays down in a restart. */
  storeDownMs: number;
}

export class ChaosStack {
  readonly ports: number[] = [];
  private readonly pods: (Running | undefined)[] = [];
  private readonly workers: ChildProcess[] = [];
  private workerOutput = '';
  nginx!: RunningNginx;
  private model!: ModelServer;
  private faulty!: FaultyModelServer;

  private constructor(
    readonly base: BenchStack,
    readonly redis: OwnServer,
    readonly nats: OwnServer,
    private readonly options: ChaosStackOptions,
  ) {}

  static async start(options: ChaosStackOptions): Promise<ChaosStack> {
    const [base, redis, nats] = await Promise.all([BenchStack.create(), startOwnRedis(), startOwnNats()]);
    const stack = new ChaosStack(base, redis, nats, options);
    stack.model = createModelServer();
    stack.faulty = new FaultyModelServer(await stack.model.listen(0, '127.0.0.1'));
    await stack.faulty.start();
    for (let i = 0; i < options.pods; i++) stack.ports.push(await freePort());
    await Promise.all(stack.ports.map((_, i) => stack.startPod(i)));
    stack.nginx = await startNginx(stack.ports.map((port) => ({ host: '127.0.0.1', port })));
    await Promise.all(Array.from({ length: options.workers }, () => stack.startWorker()));
    return stack;
  }

  /** Worker log lines kept for the report when a run breaks an invariant. */
  get workerLog(): string {
    return this.workerOutput;
  }

  /** The pods' environment: the stack's own Redis and NATS; quick store probes; no rate limits in the way. */
  private podEnv(port: number): Record<string, string> {
    return {
      HOST: '127.0.0.1',
      PORT: String(port),
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      DATABASE_URL: this.base.db.url,
      DATABASE_POOL_SIZE: '6',
      REDIS_URL: this.redis.url,
      REDIS_KEY_PREFIX: this.base.prefix,
      NATS_URL: this.nats.url,
      NATS_NAMESPACE: this.base.namespace,
      ML_URL: this.faulty.url,
      ML_TIMEOUT_MS: '1000',
      JWT_SECRET: this.base.secret,
      GATEWAY_HMAC_SECRET: this.base.gatewaySecret,
      TRUST_PROXY: 'true',
      RATE_LIMIT_POINTS: '1000000000',
      RATE_LIMIT_IP_POINTS: '1000000000',
      RATE_LIMIT_WS_CONNECT_POINTS: '1000000000',
      STORE_CHECK_INTERVAL_MS: '250',
      OUTBOX_POLL_MS: '250',
      // Kubernetes' preStop pause is the drain delay; a bench pod drains quickly.
      DRAIN_DELAY_MS: '1000',
      SHUTDOWN_GRACE_MS: '5000',
    };
  }

  /**
   * Starts pod `i` on its port, as Kubernetes would restart it: again until it runs (a pod starting
   * while Redis or NATS is down exits — a store unreachable at start-up — and is started again).
   */
  private async startPod(i: number): Promise<void> {
    const port = this.ports[i] as number;
    for (let attempt = 1; ; attempt++) {
      try {
        this.pods[i] = await startNode('dist/src/main.js', this.podEnv(port), () =>
          httpOk(`http://127.0.0.1:${port}/health/ready`),
        );
        return;
      } catch (error) {
        if (attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  }

  private async startWorker(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const worker = await this.base.startWorker({
          DATABASE_POOL_SIZE: '4',
          REDIS_URL: this.redis.url,
          NATS_URL: this.nats.url,
          RULES_CHUNK_DELAY_MS: '100',
          JOB_RETRY_DELAY_MS: '200',
          // A killed worker's jobs come back after this.
          JOB_ACK_WAIT_MS: '5000',
          STORE_CHECK_INTERVAL_MS: '250',
        });
        worker.child.stderr?.on('data', (chunk: Buffer) => {
          this.workerOutput = (this.workerOutput + chunk.toString()).slice(-10_000);
        });
        this.workers.push(worker.child);
        return;
      } catch (error) {
        if (attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  }

  /**
   * Each pod's readiness as a prober outside it sees it: the status it reports (`ok`, `degraded`,
   * `draining`, `unavailable`), `down` when nothing listens, `no answer` after 2 s.
   */
  async probe(): Promise<{ pod: number; status: string; ms: number }[]> {
    return Promise.all(
      this.ports.map(async (port, pod) => {
        const started = performance.now();
        try {
          const res = await fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(2_000) });
          const body = (await res.json()) as { status?: string };
          return { pod, status: body.status ?? String(res.status), ms: performance.now() - started };
        } catch (error) {
          const status = (error as Error).name === 'TimeoutError' ? 'no answer' : 'down';
          return { pod, status, ms: performance.now() - started };
        }
      }),
    );
  }

  /** The last lines each pod wrote (warnings and errors: no patient data is ever logged). */
  podOutput(): string[] {
    return this.pods.map((pod) => pod?.output() ?? '');
  }

  /** Whether `/health/ready` of every pod answers 200 (`ok` or `degraded`). */
  async allReady(): Promise<boolean> {
    const answers = await Promise.all(
      this.ports.map((port) => httpOk(`http://127.0.0.1:${port}/health/ready`).catch(() => false)),
    );
    return answers.every(Boolean);
  }

  /** Injects one fault on `target` (a pod or worker index) and resolves once it is repaired. */
  async inject(kind: FaultKind, target: number): Promise<void> {
    switch (kind) {
      case 'kill-pod': {
        const i = target % this.ports.length;
        await this.pods[i]?.stop('SIGKILL');
        await this.startPod(i);
        return;
      }
      case 'term-pod': {
        // A rollout or node drain: readiness 503, in-flight work finishes, sockets close 1001.
        const i = target % this.ports.length;
        await this.pods[i]?.stop('SIGTERM');
        await this.startPod(i);
        return;
      }
      case 'kill-worker': {
        const alive = this.workers.filter((w) => w.exitCode === null && w.signalCode === null);
        const victim = alive[target % alive.length];
        if (victim) {
          const exited = new Promise((resolve) => victim.once('exit', resolve));
          victim.kill('SIGKILL');
          await exited;
        }
        await this.startWorker();
        return;
      }
      case 'restart-redis':
        // Restarts empty (no persistence): live states, pub/sub and rate limits start over.
        await this.redis.stop();
        await new Promise((resolve) => setTimeout(resolve, this.options.storeDownMs));
        await this.redis.start();
        return;
      case 'restart-nats':
        // JetStream's store survives, as a real server's would; jobs accepted meanwhile wait in the outbox.
        await this.nats.stop();
        await new Promise((resolve) => setTimeout(resolve, this.options.storeDownMs));
        await this.nats.start();
        return;
      case 'hang-model':
        // Accepts connections and never answers: the client's deadline and the breaker must hold.
        await this.faulty.setMode('hang');
        await new Promise((resolve) => setTimeout(resolve, this.options.hangMs));
        await this.faulty.setMode('pass');
        return;
    }
  }

  async close(): Promise<void> {
    await Promise.all(
      this.workers
        .filter((w) => w.exitCode === null && w.signalCode === null)
        .map((w) => {
          const exited = new Promise((resolve) => w.once('exit', resolve));
          w.kill('SIGTERM');
          return exited;
        }),
    );
    for (const pod of this.pods) await pod?.stop();
    await this.nginx?.stop();
    await this.faulty?.close();
    await this.model?.close();
    await this.base.close();
    await this.redis.dispose();
    await this.nats.dispose();
  }
}

/** One client request on the timeline. */
export interface Sample {
  /** Milliseconds since the run began, when the request was sent. */
  t: number;
  kind: 'assessment' | 'diagnosis';
  ms: number;
  ok: boolean;
}

/** One fault on the timeline: from injection to repair. */
export interface FaultWindow {
  kind: FaultKind;
  target: number;
  start: number;
  end: number;
}

/** Per window of `windowMs`: requests, error rate and latency percentiles of each kind. */
export interface WindowStats {
  t: number;
  kind: Sample['kind'];
  requests: number;
  errors: number;
  errorRate: number;
  p50: number;
  p99: number;
}

const percentile = (sorted: readonly number[], p: number) =>
  sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number);

export function windows(samples: readonly Sample[], windowMs: number): WindowStats[] {
  const buckets = new Map<string, Sample[]>();
  for (const s of samples) {
    const key = `${s.kind}:${Math.floor(s.t / windowMs)}`;
    const bucket = buckets.get(key);
    if (bucket) bucket.push(s);
    else buckets.set(key, [s]);
  }
  return [...buckets.entries()]
    .map(([key, list]) => {
      const [kind, index] = key.split(':') as [Sample['kind'], string];
      const sorted = list.map((s) => s.ms).sort((a, b) => a - b);
      const errors = list.filter((s) => !s.ok).length;
      return {
        t: Number(index) * windowMs,
        kind,
        requests: list.length,
        errors,
        errorRate: errors / list.length,
        p50: Math.round(percentile(sorted, 50) * 10) / 10,
        p99: Math.round(percentile(sorted, 99) * 10) / 10,
      };
    })
    .sort((a, b) => a.t - b.t || a.kind.localeCompare(b.kind));
}

/** Error rate and p99 of each kind inside each fault's window, and outside every window. */
export function faultWindowStats(samples: readonly Sample[], faults: readonly FaultWindow[]) {
  const stats = (list: readonly Sample[]) => {
    const sorted = list.map((s) => s.ms).sort((a, b) => a - b);
    const errors = list.filter((s) => !s.ok).length;
    return {
      requests: list.length,
      errors,
      errorRate: list.length ? Math.round((errors / list.length) * 10_000) / 10_000 : 0,
      p99: Math.round(percentile(sorted, 99)),
    };
  };
  const inAny = (s: Sample) => faults.some((f) => s.t >= f.start && s.t <= f.end);
  const kinds: Sample['kind'][] = ['assessment', 'diagnosis'];
  return {
    faults: faults.map((f) => ({
      ...f,
      seconds: Math.round((f.end - f.start) / 100) / 10,
      ...Object.fromEntries(
        kinds.map((k) => [k, stats(samples.filter((s) => s.kind === k && s.t >= f.start && s.t <= f.end))]),
      ),
    })),
    steady: Object.fromEntries(kinds.map((k) => [k, stats(samples.filter((s) => s.kind === k && !inAny(s)))])),
  };
}
