import { z } from 'zod';
import { parseEnv } from '../env.js';

const envSchema = z.object({
  /** 0 picks a free port (tests). */
  APPOINTMENTS_PORT: z.coerce.number().int().min(0).max(65_535).default(4100),
  APPOINTMENTS_HOST: z.string().trim().min(1).default('0.0.0.0'),
  APPOINTMENTS_DATABASE_URL: z
    .url({ error: 'must be a URL (postgres://…)' })
    .refine((value) => /^postgres(ql)?:\/\//.test(value), { error: 'must start with postgres:// or postgresql://' }),
  /** The API's HS256 secret: the subgraph accepts the same tokens. */
  JWT_SECRET: z.string().min(32, { error: 'must be at least 32 characters (HS256 needs a 256-bit secret)' }),
  /** Time allowed to drain on SIGTERM before the process exits anyway. */
  APPOINTMENTS_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(120_000).default(25_000),
});

/** The appointments subgraph's validated configuration. Nothing else in it reads `process.env`. */
export interface AppointmentsConfig {
  readonly port: number;
  readonly host: string;
  readonly databaseUrl: string;
  readonly jwtSecret: string;
  readonly shutdownGraceMs: number;
}

export function loadAppointmentsConfig(env: NodeJS.ProcessEnv): AppointmentsConfig {
  const e = parseEnv(envSchema, env);
  return Object.freeze({
    port: e.APPOINTMENTS_PORT,
    host: e.APPOINTMENTS_HOST,
    databaseUrl: e.APPOINTMENTS_DATABASE_URL,
    jwtSecret: e.JWT_SECRET,
    shutdownGraceMs: e.APPOINTMENTS_SHUTDOWN_GRACE_MS,
  });
}
