import { hostname } from 'node:os';
import type { MikroORM } from '@mikro-orm/postgresql';
import { createTokenVerifier, type TokenVerifier } from './auth/jwt.js';
import type { AuthConfig, Config } from './config.js';
import { initOrm } from './db/orm.js';
import type { HealthCheck } from './http/health.js';
import { createLogger, type Logger } from './lib/logger.js';
import { Metrics } from './lib/metrics.js';
import { AuditLog } from './modules/audit/audit.service.js';
import { ClinicianRegistry } from './modules/clinician/clinician.service.js';

/** Everything long-lived a pod talks to. Created once; closed in the reverse order. */
export interface Deps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly orm: MikroORM;
  readonly auditLog: AuditLog;
  readonly clinicians: ClinicianRegistry;
  readonly verifier: TokenVerifier;
  readonly healthChecks: readonly HealthCheck[];
  close(): Promise<void>;
}

export interface DepsOverrides {
  logger?: Logger;
  /** The embedded mode supplies the PGlite URL and generated secret here. */
  databaseUrl?: string;
  auth?: AuthConfig;
}

export async function createDeps(config: Config, overrides: DepsOverrides = {}): Promise<Deps> {
  const logger = overrides.logger ?? createLogger({ level: config.logLevel });
  const databaseUrl = overrides.databaseUrl ?? config.databaseUrl;
  const auth = overrides.auth ?? config.auth;
  if (!databaseUrl) throw new Error('DATABASE_URL is required');
  if (!auth) throw new Error('JWT_SECRET or JWT_JWKS_URL is required');

  const orm = await initOrm({ databaseUrl, poolSize: config.databasePoolSize });
  // Fail at start-up, with one clear line, rather than on the first request.
  await orm.em.getConnection().execute('select 1');
  const auditLog = new AuditLog(orm, hostname(), logger);

  return {
    logger,
    metrics: new Metrics(),
    orm,
    auditLog,
    clinicians: new ClinicianRegistry(orm),
    verifier: createTokenVerifier(auth),
    healthChecks: [{ name: 'database', check: () => orm.em.getConnection().execute('select 1') }],
    close: async () => {
      await auditLog.drain();
      await orm.close(true);
    },
  };
}
