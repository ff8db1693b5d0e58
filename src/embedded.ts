/**
 * `npm start`: the whole of Clinical Copilot in one process with no outside services. Every
 * dependency that has no URL in the environment is replaced by an embedded one: PGlite for
 * PostgreSQL (files under `.data/`), an in-process LRU for the Redis cache, and the reference model
 * server on a loopback port (so assessments use the same Open Inference Protocol client as in
 * production), an in-process queue, live state and pub/sub for diagnoses, and a diagnosis worker.
 * Prints the console's and GraphiQL's URLs and a demo admin token.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createModelServer } from '../ml-server/server.js';
import { startConsumer } from '../worker/consumer.js';
import { buildApp } from './app.js';
import { ensureEmbeddedSecret } from './auth/embedded-secret.js';
import { signToken } from './auth/jwt.js';
import { type AuthConfig, ConfigError, loadConfig } from './config.js';
import { startEmbeddedPostgres } from './db/embedded-postgres.js';
import { migrateUp } from './db/orm.js';
import { createDeps } from './deps.js';
import { definedKeys } from './lib/objects.js';
import { acquirePidLock, LockHeldError, type PidLock } from './lib/pid-lock.js';
import { runUntilSignal } from './lifecycle.js';

export const DEMO_ADMIN = { sub: 'demo-admin', name: 'Demo Admin', roles: ['clinician', 'admin'] as const };

async function main(): Promise<void> {
  const config = loadConfig(process.env, 'embedded');
  mkdirSync(config.dataDir, { recursive: true });
  // Before anything opens the data directory: a second instance must not touch the database.
  const lock = lockDataDir(config.dataDir);

  const postgres = config.databaseUrl ? undefined : await startEmbeddedPostgres(join(config.dataDir, 'pglite'));
  const modelServer = config.mlUrl ? undefined : createModelServer();
  const mlUrl = modelServer ? (await modelServer.listen(0, '127.0.0.1')).href : undefined;
  const auth: AuthConfig = config.auth ?? { kind: 'secret', secret: ensureEmbeddedSecret(config.dataDir) };
  // PGlite runs one session at a time: one pooled connection keeps transactions apart.
  const effective = postgres ? { ...config, databasePoolSize: 1 } : config;
  const deps = await createDeps(effective, {
    auth,
    ...(postgres ? { databaseUrl: postgres.url } : {}),
    ...(mlUrl ? { mlUrl } : {}),
  });
  await migrateUp(deps.orm);
  const worker = startConsumer({
    config: effective,
    orm: deps.orm,
    live: deps.live,
    queue: deps.queue,
    logger: deps.logger,
    tracing: deps.tracing,
  });

  const token =
    auth.kind === 'secret'
      ? await signToken(auth.secret, { ...DEMO_ADMIN, ttl: '12h', ...definedKeys(auth, 'issuer', 'audience') })
      : undefined;
  const app = buildApp(effective, deps, token ? { graphiqlToken: token } : {});
  const url = await app.listen();
  console.log(`Console: ${new URL('/console/', url).href}`);
  console.log(`GraphiQL: ${url.href}`);
  if (token) console.log(`Token: ${token}`);

  await runUntilSignal(deps.logger, config.shutdownGraceMs, async () => {
    await app.close();
    await worker.stop();
    await deps.close();
    await modelServer?.close();
    await postgres?.close();
    lock.release();
  });
}

function lockDataDir(dataDir: string): PidLock {
  try {
    return acquirePidLock(join(dataDir, 'lock'));
  } catch (error) {
    if (!(error instanceof LockHeldError)) throw error;
    throw new Error(
      `${dataDir} is in use by another npm start (pid ${error.pid}); stop it first, or give this one its own DATA_DIR`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : `start failed: ${(error as Error).message}`);
  process.exit(1);
});
