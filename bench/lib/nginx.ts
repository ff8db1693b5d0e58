import { type ChildProcess, spawn } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './processes.js';

const root = new URL('../..', import.meta.url).pathname;

/** One API pod behind the balancer. */
export interface Upstream {
  host: string;
  port: number;
}

/** Where Debian installs nginx (`/usr/sbin` is not always on an unprivileged PATH); undefined when absent. */
export function nginxBinary(): string | undefined {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin']) {
    if (existsSync(join(dir, 'nginx'))) return join(dir, 'nginx');
  }
  return undefined;
}

export interface NginxConfigOptions {
  /** The prefix directory (`nginx -p`): pid, logs and temp files go below it. */
  prefix: string;
  listenPort: number;
  upstreams: readonly Upstream[];
}

/** Replaces what `pattern` matches, failing loudly when deploy/nginx.conf no longer has it. */
function rewrite(text: string, pattern: RegExp, by: (match: string, ...groups: string[]) => string): string {
  if (!pattern.test(text)) throw new Error(`deploy/nginx.conf no longer matches ${pattern}`);
  return text.replace(pattern, by);
}

/**
 * The deployed balancer's configuration (deploy/nginx.conf, the file docker-compose.yml mounts) made
 * runnable by an unprivileged child process: its upstream `server` line becomes one line per given
 * pod (same parameters), it listens on a loopback port, runs in the foreground with one worker
 * process (`daemon off`), logs errors to a file, and keeps its pid and temp files under `prefix`.
 * The proxying itself — WebSocket upgrade, unbuffered SSE, timeouts, `X-Forwarded-For`, which
 * failures move on to the next pod — is the deployed file's, unchanged.
 */
export function nginxConfig({ prefix, listenPort, upstreams }: NginxConfigOptions): string {
  if (upstreams.length === 0) throw new Error('nginx needs at least one upstream');
  let text = readFileSync(join(root, 'deploy/nginx.conf'), 'utf8');
  text = rewrite(text, /^(\s*)server\s+[A-Za-z0-9_.-]+:\d+([^;\n]*);/m, (_m, indent = '', params = '') =>
    upstreams.map((u) => `${indent}server ${u.host}:${u.port}${params};`).join('\n'),
  );
  text = rewrite(text, /^(\s*)listen\s+\d+;/m, (_m, indent = '') => `${indent}listen 127.0.0.1:${listenPort};`);
  text = rewrite(text, /^worker_processes\s+[^;]+;/m, () => 'worker_processes 1;\ndaemon off;');
  text = rewrite(text, /^pid\s+[^;]+;/m, () => `pid ${join(prefix, 'nginx.pid')};`);
  // /dev/stdout and /dev/stderr cannot be opened when they are sockets (node's pipes): files instead.
  text = rewrite(text, /^(\s*)access_log\s+[^;]+;/m, (_m, indent = '') => `${indent}access_log off;`);
  text = rewrite(
    text,
    /^(\s*)error_log\s+\S+\s+(\w+);/m,
    (_m, indent = '', level = 'warn') => `${indent}error_log ${join(prefix, 'error.log')} ${level};`,
  );
  // The compiled-in temp paths (/var/lib/nginx/…) belong to root.
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `  ${kind}_temp_path ${join(prefix, 'temp', kind)};`)
    .join('\n');
  text = rewrite(text, /^http\s*\{/m, () => `http {\n${temp}`);
  return text;
}

export interface RunningNginx {
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly base: string;
  /** `…/graphql` over HTTP, and over WebSocket. */
  readonly url: URL;
  readonly wsUrl: string;
  /** What nginx wrote to its error log so far. */
  errors(): string;
  /** Stops nginx (SIGQUIT: graceful; SIGTERM: at once) and removes its prefix directory. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts Debian's nginx as a child process — no root, no daemon, its own prefix in a temp folder —
 * with {@link nginxConfig} in front of `upstreams`, and resolves once it answers `/lb-health`.
 * For tests and the bench alike: whatever goes through it goes through the deployed configuration.
 */
export async function startNginx(upstreams: readonly Upstream[]): Promise<RunningNginx> {
  const binary = nginxBinary();
  if (!binary) throw new Error('nginx is not installed (scripts/services.sh installs it)');
  const prefix = mkdtempSync(join(tmpdir(), 'cc-nginx-'));
  for (const kind of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
    // Run as root, nginx's workers switch to `nobody`: they must reach and write their temp files.
    mkdirSync(join(prefix, 'temp', kind), { recursive: true, mode: 0o777 });
    chmodSync(join(prefix, 'temp', kind), 0o777);
  }
  chmodSync(prefix, 0o755);
  chmodSync(join(prefix, 'temp'), 0o755);
  const port = await freePort();
  const configFile = join(prefix, 'nginx.conf');
  writeFileSync(configFile, nginxConfig({ prefix, listenPort: port, upstreams }));
  const errorLog = join(prefix, 'error.log');
  const errors = () => (existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '');
  // Before the configuration is read, nginx logs to its compiled-in error log unless told (-e).
  const early = openSync(join(prefix, 'startup.log'), 'w');
  const child: ChildProcess = spawn(binary, ['-p', prefix, '-c', configFile, '-e', errorLog], {
    stdio: ['ignore', 'ignore', early],
  });
  closeSync(early);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) {
      rmSync(prefix, { recursive: true, force: true });
      throw new Error(`nginx exited with ${child.exitCode}: ${errors()}`);
    }
    const ok = await fetch(`${base}/lb-health`).then(
      (res) => res.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      rmSync(prefix, { recursive: true, force: true });
      throw new Error(`nginx did not answer in 20 s: ${errors()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    base,
    url: new URL(`${base}/graphql`),
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    errors,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        await exited;
      }
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}
