/**
 * The gateway and the appointments subgraph as child processes, the way they run in production,
 * for end-to-end tests and benchmarks in the root package. Only Node built-ins are imported here:
 * the children load their dependencies from gateway/node_modules, so tests that alias `graphql`
 * to the root copy (vitest.config.ts) never mix two copies of graphql-js in one process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';

const here = import.meta.dirname;
const HIVE_GATEWAY_BIN = join(here, 'node_modules', '@graphql-hive', 'gateway', 'dist', 'bin.js');

export interface ChildService {
  /** The GraphQL endpoint over HTTP. */
  readonly url: string;
  /** SIGTERM, then the exit code (0 after a graceful shutdown); SIGKILL after `graceMs`. */
  close(graceMs?: number): Promise<number | null>;
}

export interface GatewayService extends ChildService {
  /** The same endpoint for graphql-ws clients. */
  readonly wsUrl: string;
}

export interface GatewayProcessOptions {
  /** The API's `/subgraph` endpoint, e.g. `http://127.0.0.1:4000/subgraph`. */
  copilotUrl: string;
  appointmentsUrl: string;
  /** Default: a free port (the Hive CLI does not report the port it got for 0). */
  port?: number;
  /** More environment for the gateway (GATEWAY_SHUTDOWN_GRACE_MS, …). */
  env?: NodeJS.ProcessEnv;
  /** How long to wait for `/readiness`. */
  startTimeoutMs?: number;
}

/** `hive-gateway supergraph` with gateway.config.ts, on 127.0.0.1; resolves once it is ready. */
export async function startGatewayProcess(options: GatewayProcessOptions): Promise<GatewayService> {
  const port = options.port ?? (await freePort());
  const child = spawnChild([HIVE_GATEWAY_BIN, 'supergraph'], {
    ...options.env,
    GATEWAY_PORT: String(port),
    GATEWAY_HOST: '127.0.0.1',
    COPILOT_SUBGRAPH_URL: options.copilotUrl,
    APPOINTMENTS_SUBGRAPH_URL: options.appointmentsUrl,
  });
  const base = `http://127.0.0.1:${port}`;
  await untilReady(child, `${base}/readiness`, options.startTimeoutMs ?? 30_000);
  return { url: `${base}/graphql`, wsUrl: `ws://127.0.0.1:${port}/graphql`, close: (graceMs) => stop(child, graceMs) };
}

export interface AppointmentsProcessOptions {
  databaseUrl: string;
  jwtSecret: string;
  /** Default 0: a free port, read back from the process' start-up line. */
  port?: number;
  env?: NodeJS.ProcessEnv;
  startTimeoutMs?: number;
}

/** appointments/main.ts on 127.0.0.1; resolves once it listens (its table exists by then). */
export async function startAppointmentsProcess(options: AppointmentsProcessOptions): Promise<ChildService> {
  const child = spawnChild(['--import', 'tsx', join(here, 'appointments', 'main.ts')], {
    ...options.env,
    APPOINTMENTS_PORT: String(options.port ?? 0),
    APPOINTMENTS_HOST: '127.0.0.1',
    APPOINTMENTS_DATABASE_URL: options.databaseUrl,
    JWT_SECRET: options.jwtSecret,
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error('appointments subgraph did not start in time')),
      options.startTimeoutMs ?? 30_000,
    );
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${error.message}\n${output(child)}`));
    };
    child.stdout?.on('data', () => {
      const listening = /"msg":"appointments subgraph listening","url":"([^"]+)"/.exec(output(child));
      if (listening?.[1]) {
        clearTimeout(timer);
        resolve(listening[1]);
      }
    });
    child.once('exit', (code) => fail(new Error(`appointments subgraph exited with ${code}`)));
  });
  return { url, close: (graceMs) => stop(child, graceMs) };
}

const outputs = new WeakMap<ChildProcess, string[]>();
/** The child's recent output, to explain a failed start. */
const output = (child: ChildProcess) => (outputs.get(child) ?? []).join('');

function spawnChild(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  // The Hive CLI would prefer PORT and HOST over GATEWAY_PORT/GATEWAY_HOST.
  const { PORT: _port, HOST: _host, ...inherited } = process.env;
  const child = spawn(process.execPath, args, { cwd: here, env: { ...inherited, ...env }, stdio: 'pipe' });
  const recent: string[] = [];
  outputs.set(child, recent);
  // Keep reading (a full pipe would stall the child) but keep only the tail.
  const keep = (chunk: Buffer) => {
    recent.push(chunk.toString());
    if (recent.length > 100) recent.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return child;
}

async function untilReady(child: ChildProcess, readinessUrl: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}\n${output(child)}`);
    const ready = await fetch(readinessUrl).then(
      (res) => res.ok,
      () => false,
    );
    if (ready) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`gateway not ready after ${timeoutMs} ms\n${output(child)}`);
}

async function stop(child: ChildProcess, graceMs = 15_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = once(child, 'exit') as Promise<[number | null]>;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const [code] = await exited;
  clearTimeout(timer);
  return code;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
