import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { signToken } from '../../src/auth/jwt.js';
import { initOrm, migrateUp } from '../../src/db/orm.js';
import { createTestDatabase, type TestDatabase } from '../../test/helpers/database.js';
import { deleteJobStreams, uniqueNatsNamespace } from '../../test/helpers/nats.js';
import { deleteRedisKeys, uniqueRedisPrefix } from '../../test/helpers/redis.js';
import { freePort, httpOk, type Running, startNode } from './processes.js';

/** One built API pod started by {@link BenchStack.startPod}. */
export interface BenchPod {
  base: string;
  url: URL;
  ws: string;
  /** The pod's own process: its CPU time is what the `cpuMsPerOp` figures divide. */
  process: Running;
}

/** Options of {@link BenchStack.startPod} beyond its environment. */
export interface PodOptions {
  /** Node flags before the script (e.g. `--cpu-prof --cpu-prof-dir=…` for a profile). */
  nodeArgs?: readonly string[];
}

/**
 * CPU time (user + system, in milliseconds) the process has used so far, from /proc/<pid>/stat:
 * the pod's own figure, unaffected by how busy the rest of the machine is (unlike wall time).
 * Linux only; the clock tick is 10 ms, so a phase must run for seconds to make it meaningful.
 */
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces: count the fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

/**
 * CPU milliseconds used so far by every live process whose command name (/proc/<pid>/comm) is one
 * of `names`: the shared servers a phase also makes work (`nats-server`, `postgres`), whose cost
 * per request is not the pod's but is still this machine's. A process that exits takes its time
 * with it, so compare readings over a stretch in which the servers' processes stay up.
 */
export function commandCpuMs(names: readonly string[]): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (names.includes(readFileSync(`/proc/${entry}/comm`, 'utf8').trim())) total += processCpuMs(Number(entry));
    } catch {
      // Gone between the listing and the read.
    }
  }
  return total;
}

/** `getconf CLK_TCK`: 100 on every Linux this runs on (x86-64 and arm64 kernels fix it there). */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * What every bench scenario stands on: a fresh, migrated database, a Redis key prefix and a
 * JetStream namespace of its own, the processes it started, and one clean-up for all of them.
 */
export class BenchStack {
  readonly running: Running[] = [];
  readonly prefix = uniqueRedisPrefix().replace('cc-test', 'cc-bench');
  readonly namespace = uniqueNatsNamespace();
  /** The pods' HS256 secret (other services that check the same tokens need it). */
  readonly secret = randomBytes(32).toString('hex');
  /** The gateway's signing secret, which production pods require while they serve /subgraph. */
  readonly gatewaySecret = randomBytes(32).toString('hex');

  private constructor(readonly db: TestDatabase) {}

  static async create(): Promise<BenchStack> {
    const db = await createTestDatabase('cc_bench');
    const orm = await initOrm({ databaseUrl: db.url, poolSize: 1, silent: true });
    await migrateUp(orm);
    await orm.close(true);
    return new BenchStack(db);
  }

  /** Starts `node dist/src/main.js` (as a container would) and waits until it is ready. */
  async startPod(mlUrl: string, env: Record<string, string> = {}, options: PodOptions = {}): Promise<BenchPod> {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const process = await startNode(
      [...(options.nodeArgs ?? []), 'dist/src/main.js'],
      {
        HOST: '127.0.0.1',
        PORT: String(port),
        NODE_ENV: 'production',
        // Per-operation info lines would make the bench measure the pipe to this process.
        LOG_LEVEL: 'warn',
        DATABASE_URL: this.db.url,
        DATABASE_POOL_SIZE: '10',
        REDIS_URL: 'redis://127.0.0.1:6379',
        REDIS_KEY_PREFIX: this.prefix,
        NATS_URL: 'nats://127.0.0.1:4222',
        NATS_NAMESPACE: this.namespace,
        ML_URL: mlUrl,
        JWT_SECRET: this.secret,
        GATEWAY_HMAC_SECRET: this.gatewaySecret,
        // One bench clinician drives the pod at full speed: the rate limits are not what is measured.
        RATE_LIMIT_POINTS: '1000000000',
        RATE_LIMIT_IP_POINTS: '1000000000',
        RATE_LIMIT_WS_CONNECT_POINTS: '1000000000',
        ...env,
      },
      () => httpOk(`${base}/health/ready`),
    );
    this.running.push(process);
    return { base, url: new URL(`${base}/graphql`), ws: `ws://127.0.0.1:${port}/graphql`, process };
  }

  /** Starts `node dist/worker/main.js` on the stack's stores and waits until it is ready. */
  async startWorker(env: Record<string, string> = {}): Promise<Running> {
    const healthPort = await freePort();
    const worker = await startNode(
      'dist/worker/main.js',
      {
        NODE_ENV: 'production',
        LOG_LEVEL: 'warn',
        HOST: '127.0.0.1',
        WORKER_HEALTH_PORT: String(healthPort),
        DATABASE_URL: this.db.url,
        REDIS_URL: 'redis://127.0.0.1:6379',
        REDIS_KEY_PREFIX: this.prefix,
        NATS_URL: 'nats://127.0.0.1:4222',
        NATS_NAMESPACE: this.namespace,
        ...env,
      },
      () => httpOk(`http://127.0.0.1:${healthPort}/health/ready`),
    );
    this.running.push(worker);
    return worker;
  }

  /** A token of the bench clinician, and the JSON headers that carry it. */
  async clinician(): Promise<{ token: string; headers: Record<string, string> }> {
    const token = await signToken(this.secret, { sub: 'bench-clinician', roles: ['clinician'], ttl: '2h' });
    return { token, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } };
  }

  /** Stops every process (last started first) and removes the database, keys and streams. */
  async close(): Promise<void> {
    for (const r of this.running.reverse()) await r.stop();
    await this.db.drop();
    await deleteRedisKeys(this.prefix);
    await deleteJobStreams(this.namespace);
  }
}
