import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

const base = {
  DATABASE_URL: 'postgres://u@db:5432/cc',
  JWT_SECRET: 'a'.repeat(32),
  REDIS_URL: 'redis://cache:6379',
  NATS_URL: 'nats://queue:4222',
  ML_URL: 'http://models:8081',
};

describe('loadConfig: rate and query limits', () => {
  it("applies the contract's defaults", () => {
    const config = loadConfig(base);
    expect(config.rateLimit).toEqual({
      windowMs: 60_000,
      clinicianPoints: 1_000,
      ipPoints: 2_000,
      wsConnectPoints: 300,
      costs: { query: 1, mutation: 10, subscription: 1, fields: { requestDiagnosis: 20 }, objectsPerPoint: 100 },
    });
    expect(config.graphqlLimits).toEqual({
      maxDepth: 12,
      maxAliases: 30,
      maxTokens: 2_000,
      maxDirectives: 50,
      maxCost: 10_000,
      maxBodyBytes: 1024 * 1024,
      maxSubscriptionsPerSocket: 50,
      connectionInitTimeoutMs: 3_000,
      keepAliveMs: 12_000,
      introspection: true,
      persistedOperationsFile: undefined,
      persistedOperationsOnly: false,
    });
    expect(config.trustProxy).toBe(false);
  });

  it('turns introspection off in production unless asked for', () => {
    expect(loadConfig({ ...base, NODE_ENV: 'production', SUBGRAPH: 'false' }).graphqlLimits.introspection).toBe(false);
    expect(
      loadConfig({ ...base, NODE_ENV: 'production', SUBGRAPH: 'false', INTROSPECTION: 'true' }).graphqlLimits
        .introspection,
    ).toBe(true);
    expect(loadConfig({ ...base, INTROSPECTION: '0' }).graphqlLimits.introspection).toBe(false);
  });

  it('reads every limit from the environment', () => {
    const config = loadConfig({
      ...base,
      TRUST_PROXY: 'true',
      RATE_LIMIT_WINDOW_MS: '10000',
      RATE_LIMIT_POINTS: '50',
      RATE_LIMIT_IP_POINTS: '60',
      RATE_LIMIT_WS_CONNECT_POINTS: '70',
      RATE_LIMIT_COST_QUERY: '2',
      RATE_LIMIT_COST_MUTATION: '5',
      RATE_LIMIT_COST_DIAGNOSIS: '25',
      RATE_LIMIT_COST_SUBSCRIPTION: '0',
      RATE_LIMIT_OBJECTS_PER_POINT: '50',
      GRAPHQL_MAX_DEPTH: '8',
      GRAPHQL_MAX_ALIASES: '10',
      GRAPHQL_MAX_TOKENS: '500',
      GRAPHQL_MAX_DIRECTIVES: '5',
      GRAPHQL_MAX_COST: '900',
      MAX_BODY_BYTES: '65536',
      WS_MAX_SUBSCRIPTIONS: '20',
      WS_CONNECTION_INIT_TIMEOUT_MS: '10000',
      WS_KEEPALIVE_MS: '30000',
      PERSISTED_OPERATIONS_FILE: '/etc/cc/operations.json',
      PERSISTED_OPERATIONS_ONLY: 'true',
    });
    expect(config.trustProxy).toBe(true);
    expect(config.rateLimit).toEqual({
      windowMs: 10_000,
      clinicianPoints: 50,
      ipPoints: 60,
      wsConnectPoints: 70,
      costs: { query: 2, mutation: 5, subscription: 0, fields: { requestDiagnosis: 25 }, objectsPerPoint: 50 },
    });
    expect(config.graphqlLimits).toMatchObject({
      maxDepth: 8,
      maxAliases: 10,
      maxTokens: 500,
      maxDirectives: 5,
      maxCost: 900,
      maxBodyBytes: 65_536,
      maxSubscriptionsPerSocket: 20,
      connectionInitTimeoutMs: 10_000,
      keepAliveMs: 30_000,
      persistedOperationsFile: '/etc/cc/operations.json',
      persistedOperationsOnly: true,
    });
  });

  it('requires the gateway secret in production while /subgraph is served', () => {
    expect(() => loadConfig({ ...base, NODE_ENV: 'production' })).toThrow(
      /GATEWAY_HMAC_SECRET is required in production/,
    );
    expect(loadConfig({ ...base, NODE_ENV: 'production', SUBGRAPH: 'false' }).subgraph).toBe(false);
    const secret = 'g'.repeat(32);
    expect(loadConfig({ ...base, NODE_ENV: 'production', GATEWAY_HMAC_SECRET: secret }).gatewayHmacSecret).toBe(secret);
  });

  it('names every bad limit at once', () => {
    expect(() => loadConfig({ ...base, RATE_LIMIT_WINDOW_MS: '1500', RATE_LIMIT_POINTS: '0' })).toThrow(
      /RATE_LIMIT_WINDOW_MS must be whole seconds.*; RATE_LIMIT_POINTS /,
    );
    expect(() => loadConfig({ ...base, PERSISTED_OPERATIONS_ONLY: 'true' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, PERSISTED_OPERATIONS_ONLY: 'true' })).toThrow(
      /PERSISTED_OPERATIONS_FILE is required with PERSISTED_OPERATIONS_ONLY=true/,
    );
  });
});
