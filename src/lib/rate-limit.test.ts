import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { RateLimitConfig } from '../config.js';
import { createLogger } from './logger.js';
import { Metrics } from './metrics.js';
import { clientIp, normaliseIp, RateLimiter } from './rate-limit.js';

const config: RateLimitConfig = {
  windowMs: 60_000,
  clinicianPoints: 30,
  ipPoints: 5,
  wsConnectPoints: 2,
  costs: { query: 1, mutation: 10, subscription: 1, fields: { requestDiagnosis: 20 }, objectsPerPoint: 100 },
};
const inMemory = (metrics = new Metrics()) =>
  new RateLimiter({ config, redis: undefined, metrics, logger: createLogger({ level: 'silent' }) });

describe('RateLimiter (in-process, as under npm start without Redis)', () => {
  it('takes points until the budget is spent, then refuses with the time until the window ends', async () => {
    const limiter = inMemory();
    const first = await limiter.consume('clinician', 'dr-a', 10);
    expect(first).toMatchObject({ allowed: true, limit: 30, remaining: 20, retryAfterMs: 0 });
    expect(first.resetMs).toBeGreaterThan(59_000);
    await limiter.consume('clinician', 'dr-a', 20);
    const refused = await limiter.consume('clinician', 'dr-a', 1);
    expect(refused).toMatchObject({ allowed: false, limit: 30, remaining: 0 });
    expect(refused.retryAfterMs).toBeGreaterThan(59_000);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  it('charges a refused request nothing: a cheaper one that fits still passes', async () => {
    const limiter = inMemory();
    await limiter.consume('clinician', 'dr-b', 15);
    expect((await limiter.consume('clinician', 'dr-b', 20)).allowed).toBe(false);
    expect((await limiter.consume('clinician', 'dr-b', 20)).remaining).toBe(15);
    expect(await limiter.consume('clinician', 'dr-b', 15)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('keeps scopes and keys apart, and counts refusals by scope', async () => {
    const metrics = new Metrics();
    const limiter = inMemory(metrics);
    for (let i = 0; i < 5; i++) expect((await limiter.consume('ip', '10.0.0.1', 1)).allowed).toBe(true);
    expect((await limiter.consume('ip', '10.0.0.1', 1)).allowed).toBe(false);
    expect((await limiter.consume('ip', '10.0.0.2', 1)).allowed).toBe(true);
    expect((await limiter.consume('ws_connect', '10.0.0.1', 1)).allowed).toBe(true);
    expect((await limiter.consume('clinician', '10.0.0.1', 1)).remaining).toBe(29);
    const { values } = await metrics.rateLimitRejections.get();
    expect(values).toEqual([{ labels: { scope: 'ip' }, value: 1 }]);
  });

  it('lets free operations through without touching the budget', async () => {
    const limiter = inMemory();
    expect(await limiter.consume('clinician', 'dr-c', 0)).toMatchObject({ allowed: true, remaining: 30 });
    expect((await limiter.consume('clinician', 'dr-c', 1)).remaining).toBe(29);
  });
});

describe('clientIp', () => {
  const req = (remoteAddress: string, forwarded?: string | string[]) =>
    ({ socket: { remoteAddress }, headers: forwarded ? { 'x-forwarded-for': forwarded } : {} }) as IncomingMessage;

  it('uses the socket address unless a trusted proxy sets X-Forwarded-For, then its first hop', () => {
    expect(clientIp(req('10.1.1.1', '203.0.113.9'), false)).toBe('10.1.1.1');
    expect(clientIp(req('10.1.1.1', '203.0.113.9, 10.0.0.2'), true)).toBe('203.0.113.9');
    expect(clientIp(req('10.1.1.1', [' 203.0.113.10 ', '10.0.0.3']), true)).toBe('203.0.113.10');
    expect(clientIp(req('10.1.1.1'), true)).toBe('10.1.1.1');
    expect(clientIp(undefined, false)).toBe('unknown');
  });

  it('unwraps IPv4-mapped addresses and groups IPv6 by /64', () => {
    expect(normaliseIp('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(normaliseIp('2001:db8:0:1:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:0:1::/64');
    expect(normaliseIp('2001:DB8:0:1::7')).toBe('2001:db8:0:1::/64');
    expect(normaliseIp('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(normaliseIp('::1')).toBe('0:0:0:0::/64');
    expect(normaliseIp('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });
});
