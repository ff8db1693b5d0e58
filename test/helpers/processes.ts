import { type ChildProcess, spawn } from 'node:child_process';
import { freePort } from '../../bench/lib/processes.js';
import type { TestDatabase } from './database.js';
import { TEST_JWT_SECRET, testEnv } from './env.js';

const root = new URL('../..', import.meta.url).pathname;

/** A program of this repository run as a child process, everything it prints kept. */
export interface LoggedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Everything written to stdout and stderr so far, in full. */
  readonly output: () => string;
  /** What was written to stderr alone (a pod logs to stdout: anything here is a crash or a warning of Node's). */
  readonly stderr: () => string;
  /** The exit code, once it has exited (whoever stopped it). */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `node --import tsx <entry>` with exactly `env` (plus PATH and HOME) and waits until
 * `ready()` answers true; every byte of stdout and stderr is kept for the test to read.
 */
export async function startLoggedProcess(
  name: string,
  entry: string,
  env: Record<string, string>,
  ready: () => Promise<boolean>,
  timeoutMs = 120_000,
): Promise<LoggedProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const chunks: Buffer[] = [];
  const errors: Buffer[] = [];
  child.stdout?.on('data', (c: Buffer) => chunks.push(c));
  child.stderr?.on('data', (c: Buffer) => {
    chunks.push(c);
    errors.push(c);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const output = () => Buffer.concat(chunks).toString('utf8');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${output()}`);
    if (await ready().catch(() => false)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} not ready after ${timeoutMs} ms:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    name,
    child,
    output,
    stderr: () => Buffer.concat(errors).toString('utf8'),
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

export interface StackTarget {
  db: TestDatabase;
  redisKeyPrefix: string;
  natsNamespace: string;
  mlUrl: string;
  /** A test's own redis-server; the machine's shared one when absent. */
  redisUrl?: string;
}

/** The environment of an API pod of `target` listening on `port`: the same for every e2e test. */
export function apiPodEnv(target: StackTarget, port: number): Record<string, string> {
  return {
    NODE_ENV: 'test',
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: target.db.url,
    REDIS_URL: target.redisUrl ?? testEnv.redisUrl,
    REDIS_KEY_PREFIX: target.redisKeyPrefix,
    NATS_URL: testEnv.natsUrl,
    NATS_NAMESPACE: target.natsNamespace,
    ML_URL: target.mlUrl,
    JWT_SECRET: TEST_JWT_SECRET,
    OUTBOX_POLL_MS: '200',
  };
}

/**
 * One API pod (`src/main.ts`) on a free port; resolves once `/health/ready` answers 200 (under load
 * — tsx compiling, other tests running — that may take a while).
 */
export async function startApiProcess(
  target: StackTarget,
  env: Record<string, string> = {},
  name = 'api',
): Promise<LoggedProcess & { base: string }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const pod = await startLoggedProcess(
    name,
    'src/main.ts',
    { ...apiPodEnv(target, port), ...env },
    async () => (await fetch(`${base}/health/ready`)).ok,
  );
  return Object.assign(pod, { base });
}

/** One diagnosis worker (`worker/main.ts`); resolves once its `/health/ready` answers 200. */
export async function startWorkerProcess(
  target: StackTarget,
  env: Record<string, string> = {},
  name = 'worker',
): Promise<LoggedProcess> {
  const port = await freePort();
  return startLoggedProcess(
    name,
    'worker/main.ts',
    {
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      WORKER_HEALTH_PORT: String(port),
      DATABASE_URL: target.db.url,
      REDIS_URL: testEnv.redisUrl,
      REDIS_KEY_PREFIX: target.redisKeyPrefix,
      NATS_URL: testEnv.natsUrl,
      NATS_NAMESPACE: target.natsNamespace,
      RULES_CHUNK_DELAY_MS: '20',
      JOB_RETRY_DELAY_MS: '50',
      ...env,
    },
    async () => (await fetch(`http://127.0.0.1:${port}/health/ready`)).ok,
  );
}
