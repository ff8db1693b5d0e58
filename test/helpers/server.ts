import { Writable } from 'node:stream';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { createModelServer, type ModelServer } from '../../ml-server/server.js';
import { type App, buildApp } from '../../src/app.js';
import { signToken, type TokenClaims } from '../../src/auth/jwt.js';
import { type Config, loadConfig } from '../../src/config.js';
import { initOrm, migrateUp } from '../../src/db/orm.js';
import { createDeps, type Deps } from '../../src/deps.js';
import { createLogger } from '../../src/lib/logger.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { TEST_JWT_SECRET, testEnv } from './env.js';
import { deleteJobStreams, uniqueNatsNamespace } from './nats.js';
import { deleteRedisKeys, uniqueRedisPrefix } from './redis.js';

/** Captures a process's JSON log lines so tests can grep them. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  }
  get text(): string {
    return this.lines.join('\n');
  }
}

export interface TestApi {
  readonly url: URL;
  readonly wsUrl: string;
  readonly base: string;
  readonly config: Config;
  readonly deps: Deps;
  readonly app: App;
  readonly db: TestDatabase;
  readonly logs: LogCapture;
  readonly redisKeyPrefix: string;
  readonly natsNamespace: string;
  /** The model server this instance started for itself, if it did. */
  readonly modelServer: ModelServer | undefined;
  /**
   * Resolves once every audit event written so far is in `audit_event` (reads' events reach it
   * through the JetStream audit stream's drainers): call it before counting audit rows.
   */
  auditSettled(timeoutMs?: number): Promise<void>;
  /** A valid token for `sub` (roles default to clinician). */
  token(sub: string, claims?: Partial<Omit<TokenClaims, 'sub'>>): Promise<string>;
  close(): Promise<void>;
}

export interface TestApiOptions {
  /** Reuse a database (two API instances on one database); default: a fresh one, dropped on close. */
  db?: TestDatabase;
  /** Share a Redis key prefix with another instance; default: a fresh one, its keys deleted on close. */
  redisKeyPrefix?: string;
  /** A model server to use; default: an in-process reference model server of its own. */
  mlUrl?: string;
  /** Share a JetStream namespace with another instance; default: a fresh one, its streams deleted on close. */
  natsNamespace?: string;
  env?: Record<string, string>;
  /** Trace this API's operations into this exporter (an in-memory one). */
  spanExporter?: SpanExporter;
}

/** Creates a fresh database and applies the migrations, as `npm run migrate` would. */
export async function migratedDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  const orm = await initOrm({ databaseUrl: db.url, poolSize: 1, silent: true });
  try {
    await migrateUp(orm);
  } finally {
    await orm.close(true);
  }
  return db;
}

/** One API pod in this process, on a random port, against its own database. */
export async function startTestApi(options: TestApiOptions = {}): Promise<TestApi> {
  const ownDb = !options.db;
  const db = options.db ?? (await migratedDatabase());
  const ownPrefix = !options.redisKeyPrefix;
  const redisKeyPrefix = options.redisKeyPrefix ?? uniqueRedisPrefix();
  const ownNamespace = !options.natsNamespace;
  const natsNamespace = options.natsNamespace ?? uniqueNatsNamespace();
  const modelServer = options.mlUrl ? undefined : createModelServer();
  const mlUrl = options.mlUrl ?? (await (modelServer as ModelServer).listen(0, '127.0.0.1')).href;
  const config = loadConfig(
    {
      NODE_ENV: 'test',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DATABASE_URL: db.url,
      DATABASE_POOL_SIZE: '5',
      JWT_SECRET: TEST_JWT_SECRET,
      REDIS_URL: testEnv.redisUrl,
      REDIS_KEY_PREFIX: redisKeyPrefix,
      ML_URL: mlUrl,
      NATS_URL: testEnv.natsUrl,
      NATS_NAMESPACE: natsNamespace,
      OUTBOX_POLL_MS: '200',
      ...options.env,
    },
    'api',
  );
  const logs = new LogCapture();
  const deps = await createDeps(config, {
    logger: createLogger({ level: config.logLevel, destination: logs }),
    ...(options.spanExporter ? { spanExporter: options.spanExporter } : {}),
  });
  const app = buildApp(config, deps);
  const url = await app.listen();
  const base = `${url.protocol}//${url.host}`;
  return {
    url,
    wsUrl: url.href.replace(/^http/, 'ws'),
    base,
    config,
    deps,
    app,
    db,
    logs,
    redisKeyPrefix,
    natsNamespace,
    modelServer,
    auditSettled: (timeoutMs) => deps.auditLog.settled(timeoutMs),
    token: (sub, claims = {}) => signToken(TEST_JWT_SECRET, { sub, roles: ['clinician'], ...claims }),
    close: async () => {
      await app.close();
      await deps.close();
      await modelServer?.close();
      if (ownDb) await db.drop();
      if (ownPrefix) await deleteRedisKeys(redisKeyPrefix);
      if (ownNamespace) await deleteJobStreams(natsNamespace);
    },
  };
}
