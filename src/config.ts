import { z } from 'zod';

/**
 * How the process runs. `embedded` is `npm start`: every outside service may be replaced by an
 * in-process one. `api` is one stateless pod (`npm run start:api`): outside services are required.
 * `worker` is a diagnosis worker (`npm run start:worker`): database, Redis and NATS required.
 * `ml` is the reference model server (`npm run start:ml`), which needs none of them. `tool` is a
 * one-shot command (`npm run migrate`, `npm run token`): it requires nothing itself and checks
 * what it uses (the database, the signing secret) where it uses it.
 */
export type RunMode = 'embedded' | 'api' | 'worker' | 'ml' | 'tool';

/**
 * Ways to ask an OpenAI-compatible server for an answer in the result's shape:
 * `json_schema` (`response_format: { type: "json_schema" }`, structured outputs), `tool_call` (a
 * forced call of one function whose parameters are that schema), `json_object` (JSON mode: any JSON
 * object, the shape told in the prompt).
 */
export const LLM_STRUCTURED_OUTPUT_MODES = ['json_schema', 'tool_call', 'json_object'] as const;
/** One of {@link LLM_STRUCTURED_OUTPUT_MODES}. */
export type LlmStructuredOutputMode = (typeof LLM_STRUCTURED_OUTPUT_MODES)[number];

const port = z.coerce.number().int().min(0).max(65_535);
const optionalUrl = (protocols: readonly string[]) =>
  z
    .url({ error: `must be a URL (${protocols.join(', ')})` })
    .refine((value) => protocols.some((p) => value.startsWith(`${p}://`)), {
      error: `must start with ${protocols.map((p) => `${p}://`).join(' or ')}`,
    })
    .optional();
const nonEmpty = z.string().trim().min(1).optional();
const boolFlag = z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1');

const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    PORT: port.default(4000),
    HOST: z.string().trim().min(1).default('0.0.0.0'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

    DATABASE_URL: optionalUrl(['postgres', 'postgresql']),
    DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
    /** Where `npm start` keeps its PGlite files and generated secret. */
    DATA_DIR: z.string().trim().min(1).default('.data'),

    REDIS_URL: optionalUrl(['redis', 'rediss']),
    /** Prefix of every Redis key this deployment writes (several deployments may share a Redis). */
    REDIS_KEY_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9:_.-]{1,64}$/)
      .default('cc:'),
    NATS_URL: optionalUrl(['nats', 'tls']),
    /** Names this deployment's JetStream stream, subjects and consumer (tests use their own). */
    NATS_NAMESPACE: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,40}$/)
      .default('cc'),
    /** Attempts per diagnosis job before it is FAILED and copied to the dead-letter stream. */
    JOB_MAX_DELIVER: z.coerce.number().int().min(1).max(20).default(5),
    /** Delay before the second attempt of a failed job; doubled for each further attempt. */
    JOB_RETRY_DELAY_MS: z.coerce.number().int().min(0).max(60_000).default(1_000),
    /** How long a worker may hold a job without a sign of life before JetStream redelivers it. */
    JOB_ACK_WAIT_MS: z.coerce.number().int().min(1_000).max(600_000).default(30_000),
    /** Jobs one worker process runs at once. */
    WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
    /** Port of the worker's /health/live and /health/ready. */
    WORKER_HEALTH_PORT: port.default(8082),
    /**
     * Whether this process (an API pod or a worker) runs a drainer of the audit stream. Every
     * drainer shares one durable consumer, so any mix is correct; production runs them in the
     * workers (on other nodes) and turns them off in API pods, whose CPU then serves requests.
     */
    AUDIT_DRAINER: boolFlag.default(true),
    /** How often every pod's outbox relay looks for jobs not yet handed to NATS. */
    OUTBOX_POLL_MS: z.coerce.number().int().min(50).max(60_000).default(500),
    /** Pause between streamed chunks of the offline rules provider (to show progress like a model). */
    RULES_CHUNK_DELAY_MS: z.coerce.number().int().min(0).max(5_000).default(40),
    ML_URL: optionalUrl(['http', 'https']),
    /** Port of the reference model server (`npm run start:ml`). */
    ML_PORT: port.default(8081),
    /** Longest wait for one model-server call before it counts as failed. */
    ML_TIMEOUT_MS: z.coerce.number().int().min(50).max(30_000).default(750),
    /** How long a cached assessment is served as CACHE without asking the model again. */
    ASSESSMENT_FRESH_MS: z.coerce
      .number()
      .int()
      .min(0)
      .default(10 * 60_000),
    /** How long a cached assessment is kept to serve as STALE_CACHE while the model server fails. */
    ASSESSMENT_RETAIN_MS: z.coerce
      .number()
      .int()
      .min(1_000)
      .default(24 * 60 * 60_000),
    /**
     * How long one heartbeat lets a pod serve the patient snapshots it holds without reading their
     * versions (each write waits until every pod dropped its copy, or its lease ran out); 0 reads
     * the version in Redis on every read.
     */
    SNAPSHOT_LEASE_MS: z.coerce.number().int().min(0).max(30_000).default(1_000),
    /** How long the ML circuit breaker stays open before letting one trial call through. */
    ML_BREAKER_RESET_MS: z.coerce.number().int().min(100).max(600_000).default(5_000),

    LLM_PROVIDER: z.enum(['openai', 'rules']).default('rules'),
    LLM_BASE_URL: optionalUrl(['http', 'https']),
    LLM_API_KEY: nonEmpty,
    LLM_MODEL: nonEmpty,
    /**
     * How the `openai` provider asks for structured output, in the order to try: a server that
     * refuses a way (400/422 before any answer) is asked the next way. See docs/configuration.md.
     */
    LLM_STRUCTURED_OUTPUT: z
      .string()
      .default(LLM_STRUCTURED_OUTPUT_MODES.join(','))
      .transform((value) => value.split(',').map((mode) => mode.trim()))
      .pipe(
        z
          .array(z.enum(LLM_STRUCTURED_OUTPUT_MODES, { error: `must list ${LLM_STRUCTURED_OUTPUT_MODES.join(', ')}` }))
          .min(1)
          .refine((modes) => new Set(modes).size === modes.length, { error: 'lists a mode twice' }),
      ),

    JWT_SECRET: z
      .string()
      .min(32, { error: 'must be at least 32 characters (HS256 needs a 256-bit secret)' })
      .optional(),
    JWT_JWKS_URL: optionalUrl(['http', 'https']),
    JWT_ISSUER: nonEmpty,
    JWT_AUDIENCE: nonEmpty,
    /**
     * Longest token lifetime accepted (`exp` − `iat`, and `exp` − now): `24h`, `90m`, `3600s` or
     * seconds. A token valid for a century cannot be revoked for a century.
     */
    JWT_MAX_TTL: z
      .string()
      .regex(/^\d+[smhd]?$/, { error: 'must be seconds, or a number with s, m, h or d (e.g. 24h)' })
      .transform(durationSeconds)
      .refine((seconds) => seconds >= 60, { error: 'must be at least 60 s' })
      .default(24 * 60 * 60),
    /**
     * Origins a browser may call the API from (CORS), comma-separated (`https://console.example.org`),
     * or `*` for any. Unset: none in production (no cross-origin reads), any elsewhere.
     */
    CORS_ORIGINS: z
      .string()
      .transform((value) =>
        value
          .split(',')
          .map((origin) => origin.trim())
          .filter(Boolean),
      )
      .refine((origins) => origins.every((o) => o === '*' || isOrigin(o)), {
        error: 'must be `*` or origins such as https://console.example.org (scheme, host and port only)',
      })
      .optional(),

    /** GraphiQL in the browser; on by default except in production. */
    GRAPHIQL: boolFlag.optional(),
    /** Introspection (`__schema`, `__type`); on by default except in production. */
    INTROSPECTION: boolFlag.optional(),
    /** The Apollo Federation v2 subgraph endpoint `/subgraph` (HTTP and graphql-ws), for a gateway. */
    SUBGRAPH: boolFlag.default(true),
    /**
     * The federation gateway's HMAC secret (the gateway's own GATEWAY_HMAC_SECRET): when set,
     * `/subgraph` serves only operations and WebSocket connects the gateway signed. Required in
     * production while SUBGRAPH is on.
     */
    GATEWAY_HMAC_SECRET: z
      .string()
      .min(32, { error: 'must be at least 32 characters (the HMAC-SHA256 key the gateway signs with)' })
      .optional(),
    /** Take the client address from the first `X-Forwarded-For` hop (only behind a proxy that sets it). */
    TRUST_PROXY: boolFlag.default(false),

    /** Rate limits: one fixed window, shared by every pod through Redis. */
    RATE_LIMIT_WINDOW_MS: z.coerce
      .number()
      .int()
      .min(1_000)
      .max(24 * 60 * 60_000)
      .multipleOf(1_000, { error: 'must be whole seconds (a multiple of 1000)' })
      .default(60_000),
    /** Points per clinician per window (queries, mutations and subscriptions, over HTTP and WebSocket). */
    RATE_LIMIT_POINTS: z.coerce.number().int().min(1).default(1_000),
    /** Points per client address per window for unauthenticated requests and failed authentications. */
    RATE_LIMIT_IP_POINTS: z.coerce.number().int().min(1).default(2_000),
    /** WebSocket connection attempts per client address per window. */
    RATE_LIMIT_WS_CONNECT_POINTS: z.coerce.number().int().min(1).default(300),
    RATE_LIMIT_COST_QUERY: z.coerce.number().int().min(0).default(1),
    RATE_LIMIT_COST_MUTATION: z.coerce.number().int().min(0).default(10),
    RATE_LIMIT_COST_DIAGNOSIS: z.coerce.number().int().min(0).default(20),
    RATE_LIMIT_COST_SUBSCRIPTION: z.coerce.number().int().min(0).default(1),
    /** One more point per this many objects an operation could return (its cost estimate). */
    RATE_LIMIT_OBJECTS_PER_POINT: z.coerce.number().int().min(1).default(100),

    /** Query shape limits, enforced before execution (HTTP and WebSocket alike). */
    GRAPHQL_MAX_DEPTH: z.coerce.number().int().min(1).max(100).default(12),
    GRAPHQL_MAX_ALIASES: z.coerce.number().int().min(0).max(1_000).default(30),
    GRAPHQL_MAX_TOKENS: z.coerce.number().int().min(10).max(100_000).default(2_000),
    GRAPHQL_MAX_DIRECTIVES: z.coerce.number().int().min(0).max(1_000).default(50),
    /**
     * The cost bound: an operation that could return this many objects or more is refused (list
     * sizes from its literals, variables and defaults; see src/graphql/cost.ts).
     */
    GRAPHQL_MAX_COST: z.coerce.number().int().min(1).default(10_000),
    /** Largest HTTP request body (and graphql-ws message). */
    MAX_BODY_BYTES: z.coerce
      .number()
      .int()
      .min(1_024)
      .max(64 * 1024 * 1024)
      .default(1024 * 1024),
    /** Operations open at once on one WebSocket. */
    WS_MAX_SUBSCRIPTIONS: z.coerce.number().int().min(1).max(10_000).default(50),
    /** How long a WebSocket may take to send `connection_init` before it is closed with 4408 (graphql-ws' default). */
    WS_CONNECTION_INIT_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(3_000),
    /** Every WebSocket is pinged this often, and cut if it did not answer the previous ping (graphql-ws' default). */
    WS_KEEPALIVE_MS: z.coerce.number().int().min(1_000).max(600_000).default(12_000),
    /** A JSON file `{ "<sha256 of the query>": "<query>" }`: the persisted operations (allow-list). */
    PERSISTED_OPERATIONS_FILE: nonEmpty,
    /** Accept only the operations in PERSISTED_OPERATIONS_FILE (the clinical UI's allow-list mode). */
    PERSISTED_OPERATIONS_ONLY: boolFlag.default(false),

    /** How long `/health/ready` waits for one dependency before calling it down. */
    HEALTH_TIMEOUT_MS: z.coerce.number().int().min(50).max(10_000).default(1_000),
    /** How often a pod or worker probes PostgreSQL, Redis and NATS in the background (`store_up`, logs, the worker's pause). */
    STORE_CHECK_INTERVAL_MS: z.coerce.number().int().min(50).max(60_000).default(1_000),
    /** `/health/live` answers 503 while the event loop's p99 delay over the last 5 s exceeds this. */
    LIVENESS_MAX_LAG_MS: z.coerce.number().int().min(10).max(60_000).default(1_000),
    /** Time allowed to drain on SIGTERM before the process exits anyway. */
    SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(120_000).default(25_000),
    /** On SIGTERM, how long readiness is 503 before the pod stops accepting (load balancers notice). */
    DRAIN_DELAY_MS: z.coerce.number().int().min(0).max(60_000).default(0),

    /** OTLP/HTTP collector to send traces to (`/v1/traces` is appended); tracing is off without it. */
    OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl(['http', 'https']),
    /** `service.name` of this process' spans; default `clinical-copilot-<mode>` (api, worker, embedded). */
    OTEL_SERVICE_NAME: nonEmpty,
  })
  .superRefine((env, ctx) => {
    if (env.LLM_PROVIDER === 'openai') {
      for (const key of ['LLM_BASE_URL', 'LLM_MODEL'] as const) {
        if (!env[key]) ctx.addIssue({ code: 'custom', path: [key], message: 'is required when LLM_PROVIDER=openai' });
      }
    }
    if (env.ASSESSMENT_RETAIN_MS < env.ASSESSMENT_FRESH_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['ASSESSMENT_RETAIN_MS'],
        message: 'must not be shorter than ASSESSMENT_FRESH_MS',
      });
    }
    if (env.JWT_ISSUER === undefined && env.JWT_JWKS_URL) {
      ctx.addIssue({ code: 'custom', path: ['JWT_ISSUER'], message: 'is required with JWT_JWKS_URL' });
    }
    if (env.JWT_AUDIENCE === undefined && env.JWT_JWKS_URL) {
      ctx.addIssue({ code: 'custom', path: ['JWT_AUDIENCE'], message: 'is required with JWT_JWKS_URL' });
    }
    if (env.PERSISTED_OPERATIONS_ONLY && !env.PERSISTED_OPERATIONS_FILE) {
      ctx.addIssue({
        code: 'custom',
        path: ['PERSISTED_OPERATIONS_FILE'],
        message: 'is required with PERSISTED_OPERATIONS_ONLY=true',
      });
    }
  });

type Env = z.infer<typeof envSchema>;

function durationSeconds(value: string): number {
  const unit = { s: 1, m: 60, h: 3_600, d: 86_400 }[value.slice(-1)] ?? 1;
  return Number.parseInt(value, 10) * unit;
}

function isOrigin(value: string): boolean {
  try {
    return new URL(value).origin === value;
  } catch {
    return false;
  }
}

/** Token verification: a shared secret (development, tests) or an OIDC provider's key set. */
export type AuthConfig =
  | { kind: 'secret'; secret: string; issuer?: string; audience?: string }
  | { kind: 'jwks'; jwksUrl: string; issuer: string; audience: string };

/** What one operation costs against its clinician's rate-limit budget. */
export interface OperationCosts {
  /** A query operation, whatever its root fields. */
  readonly query: number;
  /** Each root field of a mutation (aliases included), except those priced in `fields`. */
  readonly mutation: number;
  /** A subscription operation. */
  readonly subscription: number;
  /** Root fields priced on their own (`requestDiagnosis`). */
  readonly fields: Readonly<Record<string, number>>;
  /** On top of the above, one point per this many objects the operation could return. */
  readonly objectsPerPoint: number;
}

/** Rate limits (fixed windows, shared through Redis). */
export interface RateLimitConfig {
  readonly windowMs: number;
  readonly clinicianPoints: number;
  readonly ipPoints: number;
  readonly wsConnectPoints: number;
  readonly costs: OperationCosts;
}

/** Limits on what one GraphQL request may ask for, checked before it executes. */
export interface GraphqlLimitsConfig {
  readonly maxDepth: number;
  readonly maxAliases: number;
  readonly maxTokens: number;
  readonly maxDirectives: number;
  /** Operations that could return this many objects or more are refused before they run. */
  readonly maxCost: number;
  readonly maxBodyBytes: number;
  readonly maxSubscriptionsPerSocket: number;
  /** graphql-ws' `connectionInitWaitTimeout`: a socket silent this long after opening is closed with 4408. */
  readonly connectionInitTimeoutMs: number;
  /** Keep-alive: each socket pinged this often, cut when the previous ping went unanswered. */
  readonly keepAliveMs: number;
  readonly introspection: boolean;
  readonly persistedOperationsFile: string | undefined;
  readonly persistedOperationsOnly: boolean;
}

/** The diagnosis model: the `rules` baseline, or an OpenAI-compatible server (both settings required then). */
export type LlmConfig =
  | { readonly provider: 'rules' }
  | {
      readonly provider: 'openai';
      readonly baseUrl: string;
      readonly model: string;
      readonly apiKey: string | undefined;
      /** The ways to ask for structured output, in order (`LLM_STRUCTURED_OUTPUT`). */
      readonly structuredOutput: readonly LlmStructuredOutputMode[];
    };

/** The validated, frozen configuration of one process. Nothing else reads `process.env`. */
export interface Config {
  readonly mode: RunMode;
  readonly env: Env['NODE_ENV'];
  readonly http: { readonly port: number; readonly host: string };
  readonly logLevel: Env['LOG_LEVEL'];
  /** `undefined` only in embedded mode, where PGlite stands in. */
  readonly databaseUrl: string | undefined;
  readonly databasePoolSize: number;
  readonly dataDir: string;
  readonly redisUrl: string | undefined;
  readonly redisKeyPrefix: string;
  readonly natsUrl: string | undefined;
  readonly jobs: {
    readonly namespace: string;
    readonly maxDeliver: number;
    readonly retryDelayMs: number;
    readonly ackWaitMs: number;
    readonly outboxPollMs: number;
  };
  /** Whether this process drains the audit stream into `audit_event` (`AUDIT_DRAINER`). */
  readonly auditDrainer: boolean;
  readonly worker: { readonly concurrency: number; readonly healthPort: number; readonly rulesChunkDelayMs: number };
  readonly mlUrl: string | undefined;
  readonly mlPort: number;
  readonly ml: {
    readonly timeoutMs: number;
    readonly breakerResetMs: number;
  };
  readonly assessment: { readonly freshMs: number; readonly retainMs: number };
  /** `SNAPSHOT_LEASE_MS`: 0 without leases. */
  readonly snapshotLeaseMs: number;
  readonly llm: LlmConfig;
  /** `undefined` only in embedded mode, which generates and keeps a secret under `dataDir`. */
  readonly auth: AuthConfig | undefined;
  /** Longest token lifetime accepted, in seconds (`JWT_MAX_TTL`). */
  readonly jwtMaxTtlSeconds: number;
  /** Origins allowed to call the API from a browser (CORS); `*` any; empty none. */
  readonly corsOrigins: readonly string[];
  readonly graphiql: boolean;
  /** Whether `/subgraph` serves the federation subgraph (same operations, plus `_entities`, `_service`). */
  readonly subgraph: boolean;
  /** When set, `/subgraph` serves only what the gateway signed with it (HTTP operations, WebSocket connects and operations). */
  readonly gatewayHmacSecret: string | undefined;
  /** Whether the client address comes from `X-Forwarded-For` (set by a trusted proxy). */
  readonly trustProxy: boolean;
  readonly rateLimit: RateLimitConfig;
  readonly graphqlLimits: GraphqlLimitsConfig;
  readonly healthTimeoutMs: number;
  /** Between two background probes of the stores (see src/lib/store-health.ts). */
  readonly storeCheckIntervalMs: number;
  /** Event-loop lag (p99 over the last 5 s) past which `/health/live` answers 503. */
  readonly livenessMaxLagMs: number;
  readonly shutdownGraceMs: number;
  readonly drainDelayMs: number;
  /** OpenTelemetry tracing: off unless `otlpEndpoint` is set. */
  readonly tracing: { readonly otlpEndpoint: string | undefined; readonly serviceName: string };
}

/** The API's and the worker's shared stores: required in those modes, so always present in their configs. */
interface RequiredStores {
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly natsUrl: string;
}

/** An API pod's configuration (`loadConfig(env, 'api')`): its stores, model server and token check are set. */
export type ApiConfig = Config &
  RequiredStores & { readonly mode: 'api'; readonly mlUrl: string; readonly auth: AuthConfig };

/** A worker's configuration (`loadConfig(env, 'worker')`). */
export type WorkerConfig = Config & RequiredStores & { readonly mode: 'worker' };

/** Every environment variable {@link loadConfig} reads: what deployment files may set (checked by test/unit). */
export const CONFIG_ENV_KEYS: readonly string[] = Object.freeze(Object.keys(envSchema.shape));

/** Thrown by {@link loadConfig}; its message is one line naming every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses and validates the environment once, reporting every problem together.
 * Empty strings count as unset, so `FOO=` in a compose file behaves like leaving it out.
 */
export function loadConfig(env: NodeJS.ProcessEnv, mode?: 'api'): ApiConfig;
export function loadConfig(env: NodeJS.ProcessEnv, mode: 'worker'): WorkerConfig;
export function loadConfig(env: NodeJS.ProcessEnv, mode: RunMode): Config;
export function loadConfig(env: NodeJS.ProcessEnv, mode: RunMode = 'api'): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = envSchema.safeParse(cleaned);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${issue.path.join('.') || 'environment'} ${issue.message}`);

  if (parsed.success && (mode === 'api' || mode === 'worker')) {
    const e = parsed.data;
    if (!e.DATABASE_URL) problems.push('DATABASE_URL is required (only `npm start` embeds a database)');
    if (!e.REDIS_URL) problems.push('REDIS_URL is required (only `npm start` runs without Redis)');
    if (!e.NATS_URL) problems.push('NATS_URL is required (only `npm start` runs without NATS)');
    if (mode === 'api') {
      if (!e.JWT_SECRET && !e.JWT_JWKS_URL) problems.push('JWT_SECRET or JWT_JWKS_URL is required');
      if (!e.ML_URL) problems.push('ML_URL is required (only `npm start` embeds the model server)');
      if (e.NODE_ENV === 'production' && e.SUBGRAPH && !e.GATEWAY_HMAC_SECRET) {
        problems.push(
          'GATEWAY_HMAC_SECRET is required in production while SUBGRAPH is on (/subgraph serves only the gateway), or set SUBGRAPH=false',
        );
      }
    }
  }
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);

  const e = parsed.data;
  return Object.freeze({
    mode,
    env: e.NODE_ENV,
    http: Object.freeze({ port: e.PORT, host: e.HOST }),
    logLevel: e.LOG_LEVEL,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    dataDir: e.DATA_DIR,
    redisUrl: e.REDIS_URL,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    natsUrl: e.NATS_URL,
    jobs: Object.freeze({
      namespace: e.NATS_NAMESPACE,
      maxDeliver: e.JOB_MAX_DELIVER,
      retryDelayMs: e.JOB_RETRY_DELAY_MS,
      ackWaitMs: e.JOB_ACK_WAIT_MS,
      outboxPollMs: e.OUTBOX_POLL_MS,
    }),
    auditDrainer: e.AUDIT_DRAINER,
    worker: Object.freeze({
      concurrency: e.WORKER_CONCURRENCY,
      healthPort: e.WORKER_HEALTH_PORT,
      rulesChunkDelayMs: e.RULES_CHUNK_DELAY_MS,
    }),
    mlUrl: e.ML_URL,
    mlPort: e.ML_PORT,
    ml: Object.freeze({ timeoutMs: e.ML_TIMEOUT_MS, breakerResetMs: e.ML_BREAKER_RESET_MS }),
    assessment: Object.freeze({ freshMs: e.ASSESSMENT_FRESH_MS, retainMs: e.ASSESSMENT_RETAIN_MS }),
    snapshotLeaseMs: e.SNAPSHOT_LEASE_MS,
    llm: Object.freeze(llmConfig(e)),
    auth: authConfig(e),
    jwtMaxTtlSeconds: e.JWT_MAX_TTL,
    corsOrigins: Object.freeze(e.CORS_ORIGINS ?? (e.NODE_ENV === 'production' ? [] : ['*'])),
    graphiql: e.GRAPHIQL ?? e.NODE_ENV !== 'production',
    subgraph: e.SUBGRAPH,
    gatewayHmacSecret: e.GATEWAY_HMAC_SECRET,
    trustProxy: e.TRUST_PROXY,
    rateLimit: Object.freeze({
      windowMs: e.RATE_LIMIT_WINDOW_MS,
      clinicianPoints: e.RATE_LIMIT_POINTS,
      ipPoints: e.RATE_LIMIT_IP_POINTS,
      wsConnectPoints: e.RATE_LIMIT_WS_CONNECT_POINTS,
      costs: Object.freeze({
        query: e.RATE_LIMIT_COST_QUERY,
        mutation: e.RATE_LIMIT_COST_MUTATION,
        subscription: e.RATE_LIMIT_COST_SUBSCRIPTION,
        fields: Object.freeze({ requestDiagnosis: e.RATE_LIMIT_COST_DIAGNOSIS }),
        objectsPerPoint: e.RATE_LIMIT_OBJECTS_PER_POINT,
      }),
    }),
    graphqlLimits: Object.freeze({
      maxDepth: e.GRAPHQL_MAX_DEPTH,
      maxAliases: e.GRAPHQL_MAX_ALIASES,
      maxTokens: e.GRAPHQL_MAX_TOKENS,
      maxDirectives: e.GRAPHQL_MAX_DIRECTIVES,
      maxCost: e.GRAPHQL_MAX_COST,
      maxBodyBytes: e.MAX_BODY_BYTES,
      maxSubscriptionsPerSocket: e.WS_MAX_SUBSCRIPTIONS,
      connectionInitTimeoutMs: e.WS_CONNECTION_INIT_TIMEOUT_MS,
      keepAliveMs: e.WS_KEEPALIVE_MS,
      introspection: e.INTROSPECTION ?? e.NODE_ENV !== 'production',
      persistedOperationsFile: e.PERSISTED_OPERATIONS_FILE,
      persistedOperationsOnly: e.PERSISTED_OPERATIONS_ONLY,
    }),
    healthTimeoutMs: e.HEALTH_TIMEOUT_MS,
    storeCheckIntervalMs: e.STORE_CHECK_INTERVAL_MS,
    livenessMaxLagMs: e.LIVENESS_MAX_LAG_MS,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    drainDelayMs: e.DRAIN_DELAY_MS,
    tracing: Object.freeze({
      otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT,
      serviceName: e.OTEL_SERVICE_NAME ?? `clinical-copilot-${mode}`,
    }),
  });
}

function llmConfig(e: Env): LlmConfig {
  if (e.LLM_PROVIDER === 'rules') return { provider: 'rules' };
  // The schema's refinement refuses `openai` without both; this only tells the compiler.
  if (!e.LLM_BASE_URL || !e.LLM_MODEL)
    throw new ConfigError(['LLM_BASE_URL and LLM_MODEL are required when LLM_PROVIDER=openai']);
  return {
    provider: 'openai',
    baseUrl: e.LLM_BASE_URL,
    model: e.LLM_MODEL,
    apiKey: e.LLM_API_KEY,
    structuredOutput: Object.freeze([...e.LLM_STRUCTURED_OUTPUT]),
  };
}

function authConfig(e: Env): AuthConfig | undefined {
  if (e.JWT_JWKS_URL && e.JWT_ISSUER && e.JWT_AUDIENCE) {
    return { kind: 'jwks', jwksUrl: e.JWT_JWKS_URL, issuer: e.JWT_ISSUER, audience: e.JWT_AUDIENCE };
  }
  if (e.JWT_SECRET) {
    return {
      kind: 'secret',
      secret: e.JWT_SECRET,
      ...(e.JWT_ISSUER ? { issuer: e.JWT_ISSUER } : {}),
      ...(e.JWT_AUDIENCE ? { audience: e.JWT_AUDIENCE } : {}),
    };
  }
  return undefined;
}
