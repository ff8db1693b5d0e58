/**
 * Runs `npm start`'s program as a child process, exactly as package.json's `start` script says
 * (without npm's shell, so SIGTERM reaches the program), with everything embedded: no
 * DATABASE_URL, no JWT_SECRET. Each caller gives it a data directory of its own.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The repository's root. */
export const repoRoot = new URL('../..', import.meta.url).pathname;

/** An embedded instance that printed its GraphiQL URL and token. */
export interface EmbeddedInstance {
  readonly child: ChildProcess;
  readonly url: string;
  readonly token: string;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  readonly exited: Promise<number | null>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/**
 * A minimal environment for child processes: this test's Node first on PATH (so `node` and npm's
 * scripts run on the same Node 24 as vitest), the data directory, a free port, loopback only.
 */
export function embeddedEnv(dataDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
    HOME: process.env.HOME,
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    ...extra,
  };
}

/** A package.json script's arguments after `node` (the scripts these tests run start with it). */
export function scriptArgs(name: 'start' | 'token'): string[] {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const script = pkg.scripts[name] ?? '';
  const [command, ...args] = script.split(' ');
  if (command !== 'node') throw new Error(`the ${name} script no longer runs node: ${script}`);
  return args;
}

/** Spawns `npm start`'s program; the returned child's exit is observable through `exited`. */
export function spawnEmbedded(dataDir: string): {
  child: ChildProcess;
  exited: Promise<number | null>;
  output(): string;
} {
  const child = spawn(process.execPath, scriptArgs('start'), {
    cwd: repoRoot,
    env: embeddedEnv(dataDir),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => out };
}

/** Starts `npm start`'s program and waits (up to 90 s) for its GraphiQL URL and token. */
export function startEmbedded(dataDir: string): Promise<EmbeddedInstance> {
  const { child, exited, output } = spawnEmbedded(dataDir);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`npm start printed no token in 90 s:\n${output()}`));
    }, 90_000);
    const poll = setInterval(() => {
      const url = /^GraphiQL: (\S+)$/m.exec(output())?.[1];
      const token = /^Token: (\S+)$/m.exec(output())?.[1];
      if (url && token) {
        clearInterval(poll);
        clearTimeout(timer);
        resolve({ child, url, token, output, exited, stop });
      }
    }, 50);
    void exited.then((code) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${code}:\n${output()}`));
    });
  });
}

/** Runs `npm run token -- …`'s program synchronously with `env`. */
export function runTokenScript(
  args: string[],
  env: NodeJS.ProcessEnv,
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [...scriptArgs('token'), ...args], {
    cwd: repoRoot,
    env,
    encoding: 'utf8',
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
