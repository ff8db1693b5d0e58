import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../bench/lib/processes.js';

/**
 * A Redis or NATS server of a test's own, on a port of its own, that the test may stop and start
 * again on the same port (the shared services of the machine must never be stopped).
 */
export interface OwnServer {
  readonly url: string;
  readonly port: number;
  /** Starts the server (again) and resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it (SIGTERM) and resolves once the process has exited. */
  stop(): Promise<void>;
  /** Stops it and removes what it stored. */
  dispose(): Promise<void>;
}

/** `redis-server` without persistence. */
export async function startOwnRedis(): Promise<OwnServer> {
  const port = await freePort();
  return ownServer(`redis://127.0.0.1:${port}`, port, () =>
    spawn(binary('redis-server'), ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    }),
  );
}

/** `nats-server` with JetStream; its store survives a restart, as a real server's would. */
export async function startOwnNats(): Promise<OwnServer> {
  const port = await freePort();
  const storeDir = mkdtempSync(join(tmpdir(), 'cc-nats-'));
  return ownServer(
    `nats://127.0.0.1:${port}`,
    port,
    () =>
      spawn(binary('nats-server'), ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], {
        stdio: 'ignore',
      }),
    () => rmSync(storeDir, { recursive: true, force: true }),
  );
}

async function ownServer(
  url: string,
  port: number,
  launch: () => ChildProcess,
  cleanUp: () => void = () => undefined,
): Promise<OwnServer> {
  let child: ChildProcess | undefined;
  const server: OwnServer = {
    url,
    port,
    start: async () => {
      if (child) return;
      const started = launch();
      child = started;
      const exited = new Promise<never>((_, reject) =>
        started.once('exit', (code) => reject(new Error(`${url}: server exited with ${code}`))),
      );
      exited.catch(() => undefined);
      await Promise.race([waitForPort(port, 20_000), exited]);
    },
    stop: async () => {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
      running.kill('SIGTERM');
      await exited;
    },
    dispose: async () => {
      await server.stop();
      cleanUp();
    },
  };
  await server.start();
  return server;
}

/** Resolves once something accepts TCP connections on the port. */
async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Where Debian installs the program (`/usr/sbin` is not always on PATH), else its name for PATH. */
function binary(name: string): string {
  for (const dir of ['/usr/bin', '/usr/sbin', '/usr/local/bin']) {
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  return name;
}

/**
 * Polls `read` until `done` holds for its value, and returns that value; past the deadline, fails
 * with the last value seen. Under load any step may be slow, so tests wait for states, not times.
 */
export async function eventually<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  { timeoutMs = 20_000, intervalMs = 100, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await read();
      if (done(last)) return last;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const seen = last === undefined ? String(lastError) : String(JSON.stringify(last));
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${seen.slice(0, 2_000)}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
