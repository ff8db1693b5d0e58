import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

const SECRET = 'a'.repeat(32);
const base = {
  DATABASE_URL: 'postgres://u@db:5432/cc',
  JWT_SECRET: SECRET,
  REDIS_URL: 'redis://cache:6379',
  NATS_URL: 'nats://queue:4222',
  ML_URL: 'http://models:8081',
};

function problems(env: Record<string, string>, mode: 'api' | 'embedded' = 'api'): string {
  try {
    loadConfig(env, mode);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the contract defaults', () => {
    const config = loadConfig(base);
    expect(config.http).toEqual({ port: 4000, host: '0.0.0.0' });
    expect(config.llm.provider).toBe('rules');
    expect(config.databasePoolSize).toBe(10);
    expect(config.auth).toEqual({ kind: 'secret', secret: SECRET });
    expect(config.graphiql).toBe(true);
    expect(config.mlPort).toBe(8081);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('lets the API refuse to start without a database, token verification, Redis or model server', () => {
    const message = problems({});
    expect(message).toContain('DATABASE_URL is required');
    expect(message).toContain('JWT_SECRET or JWT_JWKS_URL is required');
    expect(message).toContain('REDIS_URL is required');
    expect(message).toContain('ML_URL is required');
    expect(message).toContain('NATS_URL is required');
  });

  it('lets a worker start without token verification or a model server', () => {
    const { JWT_SECRET: _s, ML_URL: _m, ...workerEnv } = base;
    expect(loadConfig(workerEnv, 'worker').jobs).toEqual({
      namespace: 'cc',
      maxDeliver: 5,
      retryDelayMs: 1_000,
      ackWaitMs: 30_000,
      outboxPollMs: 500,
    });
  });

  it('lets the embedded mode start with nothing set', () => {
    const config = loadConfig({}, 'embedded');
    expect(config.databaseUrl).toBeUndefined();
    expect(config.auth).toBeUndefined();
  });

  it('lets a one-shot tool (migrate, token) start with nothing set, and still refuses bad values', () => {
    const config = loadConfig({}, 'tool');
    expect(config.mode).toBe('tool');
    expect(config.databaseUrl).toBeUndefined();
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' }, 'tool')).toThrow(/DATABASE_URL/);
  });

  it('reports every bad variable at once, each by name', () => {
    const message = problems({
      ...base,
      PORT: 'eighty',
      DATABASE_URL: 'mysql://x',
      REDIS_URL: 'not a url',
      LLM_PROVIDER: 'gpt',
      JWT_SECRET: 'short',
    });
    for (const name of ['PORT', 'DATABASE_URL', 'REDIS_URL', 'LLM_PROVIDER', 'JWT_SECRET'])
      expect(message).toContain(name);
  });

  it('requires the OpenAI-compatible settings only for that provider', () => {
    const message = problems({ ...base, LLM_PROVIDER: 'openai' });
    expect(message).toContain('LLM_BASE_URL is required when LLM_PROVIDER=openai');
    expect(message).toContain('LLM_MODEL is required when LLM_PROVIDER=openai');
    const ok = loadConfig({ ...base, LLM_PROVIDER: 'openai', LLM_BASE_URL: 'http://llm:8000/v1', LLM_MODEL: 'm' });
    expect(ok.llm).toEqual({
      provider: 'openai',
      baseUrl: 'http://llm:8000/v1',
      model: 'm',
      apiKey: undefined,
      structuredOutput: ['json_schema', 'tool_call', 'json_object'],
    });
  });

  it('reads LLM_STRUCTURED_OUTPUT as an ordered list of known modes', () => {
    const openai = { ...base, LLM_PROVIDER: 'openai', LLM_BASE_URL: 'http://llm:8000/v1', LLM_MODEL: 'm' };
    const pinned = loadConfig({ ...openai, LLM_STRUCTURED_OUTPUT: 'tool_call, json_object' }).llm;
    expect(pinned.provider === 'openai' && pinned.structuredOutput).toEqual(['tool_call', 'json_object']);
    expect(problems({ ...openai, LLM_STRUCTURED_OUTPUT: 'json_schema,grammar' })).toContain('LLM_STRUCTURED_OUTPUT');
    expect(problems({ ...openai, LLM_STRUCTURED_OUTPUT: 'tool_call,tool_call' })).toContain('lists a mode twice');
  });

  it('configures OIDC verification with issuer and audience, and requires both', () => {
    const { JWT_SECRET: _unused, ...withoutSecret } = base;
    expect(problems({ ...withoutSecret, JWT_JWKS_URL: 'https://idp/jwks' })).toMatch(
      /JWT_ISSUER is required with JWT_JWKS_URL.*JWT_AUDIENCE is required with JWT_JWKS_URL/,
    );
    const config = loadConfig({
      ...withoutSecret,
      JWT_JWKS_URL: 'https://idp/jwks',
      JWT_ISSUER: 'https://idp',
      JWT_AUDIENCE: 'copilot',
    });
    expect(config.auth).toEqual({
      kind: 'jwks',
      jwksUrl: 'https://idp/jwks',
      issuer: 'https://idp',
      audience: 'copilot',
    });
  });

  it('treats empty strings as unset and turns GraphiQL off in production', () => {
    const config = loadConfig({ ...base, PORT: '', NODE_ENV: 'production', SUBGRAPH: 'false' });
    expect(config.http.port).toBe(4000);
    expect(config.graphiql).toBe(false);
    expect(loadConfig({ ...base, NODE_ENV: 'production', SUBGRAPH: 'false', GRAPHIQL: 'true' }).graphiql).toBe(true);
  });

  it('bounds the pool size', () => {
    expect(problems({ ...base, DATABASE_POOL_SIZE: '0' })).toContain('DATABASE_POOL_SIZE');
    expect(loadConfig({ ...base, DATABASE_POOL_SIZE: '25' }).databasePoolSize).toBe(25);
  });
});

describe('token lifetime and CORS settings', () => {
  it('defaults JWT_MAX_TTL to 24 h and reads units', () => {
    expect(loadConfig(base).jwtMaxTtlSeconds).toBe(86_400);
    expect(loadConfig({ ...base, JWT_MAX_TTL: '90m' }).jwtMaxTtlSeconds).toBe(5_400);
    expect(loadConfig({ ...base, JWT_MAX_TTL: '3600' }).jwtMaxTtlSeconds).toBe(3_600);
    expect(problems({ ...base, JWT_MAX_TTL: 'forever' })).toContain('JWT_MAX_TTL');
    expect(problems({ ...base, JWT_MAX_TTL: '5s' })).toContain('JWT_MAX_TTL must be at least 60 s');
  });

  it('allows no browser origin by default in production, any elsewhere, and exactly the list when set', () => {
    expect(loadConfig({ ...base, NODE_ENV: 'production', SUBGRAPH: 'false' }).corsOrigins).toEqual([]);
    expect(loadConfig(base).corsOrigins).toEqual(['*']);
    expect(
      loadConfig({
        ...base,
        NODE_ENV: 'production',
        SUBGRAPH: 'false',
        CORS_ORIGINS: 'https://a.example, https://b.example:8443',
      }).corsOrigins,
    ).toEqual(['https://a.example', 'https://b.example:8443']);
    expect(problems({ ...base, CORS_ORIGINS: 'https://a.example/path' })).toContain('CORS_ORIGINS');
  });
});
