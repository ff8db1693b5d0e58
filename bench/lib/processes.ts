import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';

const root = new URL('../..', import.meta.url).pathname;

/** A free loopback port (the kernel picks; a tiny race with other programs is acceptable here). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export interface Running {
  readonly child: ChildProcess;
  readonly output: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `node <script>` (from the built `dist/`, as a container would; or any node arguments,
 * e.g. `['--import', 'tsx', 'src/main.ts']`) and waits until `ready()` answers.
 */
export async function startNode(
  script: string | readonly string[],
  env: Record<string, string>,
  ready: () => Promise<boolean>,
  cwd = root,
  /**
   * Compiling TypeScript sources (tsx) on a busy machine can take a while: a full `npm test` beside
   * other work has seen a pod need more than 30 s.
   */
  readyTimeoutMs = 90_000,
): Promise<Running> {
  const child = spawn(process.execPath, typeof script === 'string' ? [script] : [...script], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => {
    out = (out + c.toString()).slice(-20_000);
  });
  child.stderr?.on('data', (c: Buffer) => {
    out = (out + c.toString()).slice(-20_000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${script} exited with ${child.exitCode}:\n${out}`);
    if (await ready().catch(() => false)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${script} not ready in ${readyTimeoutMs / 1000} s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    output: () => out,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

export async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url);
  await res.arrayBuffer();
  return res.ok;
}
