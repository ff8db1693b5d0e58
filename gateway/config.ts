import { z } from 'zod';
import { ConfigError, parseEnv } from './env.js';

const port = z.coerce.number().int().min(0).max(65_535);
const httpUrl = z
  .url({ error: 'must be a URL (http://…)' })
  .refine((value) => /^https?:\/\//.test(value), { error: 'must start with http:// or https://' })
  .optional();
const boolFlag = z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1');

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  /** Not 4000, which is the API's default port. */
  GATEWAY_PORT: port.default(4080),
  GATEWAY_HOST: z.string().trim().min(1).default('0.0.0.0'),
  /** The API's subgraph endpoint; subscriptions go over graphql-ws to the same path. */
  COPILOT_SUBGRAPH_URL: httpUrl,
  APPOINTMENTS_SUBGRAPH_URL: httpUrl,
  /** Hive's GraphiQL (Laboratory) and landing page; on by default except in production. */
  GATEWAY_GRAPHIQL: boolFlag.optional(),
  /** On SIGTERM, how long in-flight requests may finish before connections are cut. */
  GATEWAY_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(120_000).default(20_000),
  /** A graphql-ws ping on each upstream subscription socket this long after its last pong; 0: none. */
  GATEWAY_UPSTREAM_PING_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
  /** A socket whose ping goes this long without a pong is terminated; 0: wait for TCP instead. */
  GATEWAY_UPSTREAM_PONG_TIMEOUT_MS: z.coerce.number().int().min(0).max(600_000).default(5_000),
  /**
   * Signs every subgraph request (HMAC-SHA256 of its query and variables, in
   * `extensions["hmac-signature"]`); the appointments subgraph serves only signed requests.
   */
  GATEWAY_HMAC_SECRET: z.string().min(32, { error: 'must be at least 32 characters (an HMAC-SHA256 key)' }).optional(),
  // Read only to catch a clash: the Hive CLI takes PORT and HOST over its config file.
  PORT: port.optional(),
  HOST: z.string().optional(),
});

/** Every variable this module reads: the deployment tests hold compose files and manifests to it. */
export const GATEWAY_ENV_KEYS: readonly string[] = Object.freeze(Object.keys(envSchema.shape));

/** Local development: the API of `npm start` and the appointments subgraph's default port. */
const LOCAL_URLS = {
  copilot: 'http://127.0.0.1:4000/subgraph',
  appointments: 'http://127.0.0.1:4100/graphql',
} as const;

/**
 * How the gateway notices an upstream subscription socket whose pod vanished without closing it
 * (node failure, network partition), which TCP alone reports only after minutes.
 */
export interface UpstreamKeepAlive {
  /** Time from a socket's opening, or from its last pong, to its next ping; 0 sends none. */
  readonly pingMs: number;
  /** Time a ping may wait for its pong before the socket is terminated; 0 waits forever. */
  readonly pongTimeoutMs: number;
}

export interface GatewayConfig {
  readonly port: number;
  readonly host: string;
  readonly copilotUrl: string;
  readonly appointmentsUrl: string;
  readonly graphiql: boolean;
  readonly shutdownGraceMs: number;
  readonly upstreamKeepAlive: UpstreamKeepAlive;
  /** The secret the gateway signs its subgraph requests with; unset (never in production), it does not sign. */
  readonly hmacSecret: string | undefined;
}

/** The gateway's validated configuration; gateway.config.ts hands it `process.env`. */
export function loadGatewayConfig(env: NodeJS.ProcessEnv): GatewayConfig {
  const e = parseEnv(envSchema, env);
  const production = e.NODE_ENV === 'production';
  const problems: string[] = [];
  if (production && !e.COPILOT_SUBGRAPH_URL) problems.push('COPILOT_SUBGRAPH_URL is required in production');
  if (production && !e.APPOINTMENTS_SUBGRAPH_URL) problems.push('APPOINTMENTS_SUBGRAPH_URL is required in production');
  // The appointments subgraph refuses unsigned requests in production: fail here, not on every fetch.
  if (production && !e.GATEWAY_HMAC_SECRET) problems.push('GATEWAY_HMAC_SECRET is required in production');
  if (e.PORT !== undefined && e.PORT !== e.GATEWAY_PORT) {
    problems.push(`PORT=${e.PORT} would override GATEWAY_PORT=${e.GATEWAY_PORT} (the Hive CLI reads PORT): unset PORT`);
  }
  if (e.HOST !== undefined && e.HOST !== e.GATEWAY_HOST) {
    problems.push(`HOST=${e.HOST} would override GATEWAY_HOST=${e.GATEWAY_HOST} (the Hive CLI reads HOST): unset HOST`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    port: e.GATEWAY_PORT,
    host: e.GATEWAY_HOST,
    copilotUrl: e.COPILOT_SUBGRAPH_URL ?? LOCAL_URLS.copilot,
    appointmentsUrl: e.APPOINTMENTS_SUBGRAPH_URL ?? LOCAL_URLS.appointments,
    graphiql: e.GATEWAY_GRAPHIQL ?? !production,
    shutdownGraceMs: e.GATEWAY_SHUTDOWN_GRACE_MS,
    upstreamKeepAlive: Object.freeze({
      pingMs: e.GATEWAY_UPSTREAM_PING_MS,
      pongTimeoutMs: e.GATEWAY_UPSTREAM_PONG_TIMEOUT_MS,
    }),
    hmacSecret: e.GATEWAY_HMAC_SECRET,
  });
}
