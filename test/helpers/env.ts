/**
 * The tests' own settings: where the machine's services are. The only reader of `process.env` in
 * the test tree (the app's own configuration is always built explicitly by the tests).
 */
export const testEnv = {
  /** A database on the server where test databases may be created and dropped. */
  postgresAdminUrl: process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  /** A Redis the tests may write to, each under a key prefix of its own. */
  redisUrl: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
  /** A NATS with JetStream; each test run uses streams and a consumer of its own namespace. */
  natsUrl: process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222',
} as const;

/** A random secret for one test run's HS256 tokens. */
export const TEST_JWT_SECRET = `test-secret-${crypto.randomUUID()}-${crypto.randomUUID()}`;

/** A random secret for one test run's gateway signatures (GATEWAY_HMAC_SECRET). */
export const TEST_GATEWAY_HMAC_SECRET = `test-hmac-${crypto.randomUUID()}-${crypto.randomUUID()}`;
