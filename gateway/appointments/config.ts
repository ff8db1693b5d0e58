import { z } from 'zod';
import { ConfigError, parseEnv } from '../env.js';

const nonEmpty = z.string().trim().min(1).optional();

/**
 * The JWT_* variables are the API's (src/config.ts), with the same meaning, so a deployment gives
 * both the same values and the subgraph accepts exactly the tokens the API accepts.
 */
const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    /** 0 picks a free port (tests). */
    APPOINTMENTS_PORT: z.coerce.number().int().min(0).max(65_535).default(4100),
    APPOINTMENTS_HOST: z.string().trim().min(1).default('0.0.0.0'),
    APPOINTMENTS_DATABASE_URL: z
      .url({ error: 'must be a URL (postgres://…)' })
      .refine((value) => /^postgres(ql)?:\/\//.test(value), { error: 'must start with postgres:// or postgresql://' }),
    /** The API's HS256 secret; ignored when JWT_JWKS_URL is set, as by the API. */
    JWT_SECRET: z
      .string()
      .min(32, { error: 'must be at least 32 characters (HS256 needs a 256-bit secret)' })
      .optional(),
    /** The OIDC provider's key set: RS256 and ES256 tokens, with JWT_ISSUER and JWT_AUDIENCE. */
    JWT_JWKS_URL: z
      .url({ error: 'must be a URL (http://…)' })
      .refine((value) => /^https?:\/\//.test(value), { error: 'must start with http:// or https://' })
      .optional(),
    /** The `iss` every token must carry (required with JWT_JWKS_URL, optional with JWT_SECRET). */
    JWT_ISSUER: nonEmpty,
    /** An `aud` every token must carry (required with JWT_JWKS_URL, optional with JWT_SECRET). */
    JWT_AUDIENCE: nonEmpty,
    /** Time allowed to drain on SIGTERM before the process exits anyway. */
    APPOINTMENTS_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(120_000).default(25_000),
    /** The gateway's own (gateway/config.ts): it signs every request, and only signed ones are served. */
    GATEWAY_HMAC_SECRET: z
      .string()
      .min(32, { error: 'must be at least 32 characters (the HMAC-SHA256 key the gateway signs with)' })
      .optional(),
  })
  .superRefine((env, ctx) => {
    // Without it anyone who can reach the pod with a valid token could ask `_entities` for any
    // patient: the care-team rule was applied by the API, for the gateway's requests only.
    if (env.NODE_ENV === 'production' && !env.GATEWAY_HMAC_SECRET) {
      ctx.addIssue({ code: 'custom', path: ['GATEWAY_HMAC_SECRET'], message: 'is required in production' });
    }
    if (!env.JWT_SECRET && !env.JWT_JWKS_URL) {
      ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'or JWT_JWKS_URL is required' });
    }
    for (const key of ['JWT_ISSUER', 'JWT_AUDIENCE'] as const) {
      if (env.JWT_JWKS_URL && env[key] === undefined) {
        ctx.addIssue({ code: 'custom', path: [key], message: 'is required with JWT_JWKS_URL' });
      }
    }
  });

/** Every variable this module reads: the deployment tests hold compose files and manifests to it. */
export const APPOINTMENTS_ENV_KEYS: readonly string[] = Object.freeze(Object.keys(envSchema.shape));

/** Token verification, as the API's `AuthConfig`: a shared secret or an OIDC provider's key set. */
export type AppointmentsAuth =
  | { readonly kind: 'secret'; readonly secret: string; readonly issuer?: string; readonly audience?: string }
  | { readonly kind: 'jwks'; readonly jwksUrl: string; readonly issuer: string; readonly audience: string };

/** The appointments subgraph's validated configuration. Nothing else in it reads `process.env`. */
export interface AppointmentsConfig {
  readonly port: number;
  readonly host: string;
  readonly databaseUrl: string;
  readonly auth: AppointmentsAuth;
  /**
   * The secret of the gateway's HMAC signature, which every request must then carry; unset
   * (never in production) the subgraph serves unsigned requests.
   */
  readonly gatewaySecret: string | undefined;
  readonly shutdownGraceMs: number;
}

export function loadAppointmentsConfig(env: NodeJS.ProcessEnv): AppointmentsConfig {
  const e = parseEnv(envSchema, env);
  return Object.freeze({
    port: e.APPOINTMENTS_PORT,
    host: e.APPOINTMENTS_HOST,
    databaseUrl: e.APPOINTMENTS_DATABASE_URL,
    auth: authOf(e),
    gatewaySecret: e.GATEWAY_HMAC_SECRET,
    shutdownGraceMs: e.APPOINTMENTS_SHUTDOWN_GRACE_MS,
  });
}

/** The key set wins over the secret when both are set, as in the API. */
function authOf(e: z.infer<typeof envSchema>): AppointmentsAuth {
  if (e.JWT_JWKS_URL && e.JWT_ISSUER && e.JWT_AUDIENCE) {
    return Object.freeze({ kind: 'jwks', jwksUrl: e.JWT_JWKS_URL, issuer: e.JWT_ISSUER, audience: e.JWT_AUDIENCE });
  }
  if (e.JWT_SECRET) {
    return Object.freeze({
      kind: 'secret',
      secret: e.JWT_SECRET,
      ...(e.JWT_ISSUER ? { issuer: e.JWT_ISSUER } : {}),
      ...(e.JWT_AUDIENCE ? { audience: e.JWT_AUDIENCE } : {}),
    });
  }
  // Unreachable past the schema's refinement; kept so a change there cannot start a pod without auth.
  throw new ConfigError(['JWT_SECRET or JWT_JWKS_URL is required']);
}
