import { describe, expect, it } from 'vitest';
import { type HealthCheck, readiness, readinessHttpStatus } from './health.js';

const up = (name: string, critical = false): HealthCheck => ({ name, critical, check: async () => undefined });
const down = (name: string, critical = false): HealthCheck => ({
  name,
  critical,
  check: async () => {
    throw new Error(`${name} refused`);
  },
});

describe('readiness', () => {
  it('is ok (200) when every check answers', async () => {
    const report = await readiness([up('database', true), up('redis'), up('nats')], 100, false);
    expect(report.status).toBe('ok');
    expect(readinessHttpStatus(report)).toBe(200);
  });

  it('is degraded (200) when a shared store that is not critical is down, naming it', async () => {
    const report = await readiness([up('database', true), down('redis'), up('nats')], 100, false);
    expect(report.status).toBe('degraded');
    expect(readinessHttpStatus(report)).toBe(200);
    expect(report.checks.redis).toEqual({ ok: false, latencyMs: expect.any(Number), error: 'redis refused' });
    expect(report.checks.nats?.ok).toBe(true);
  });

  it('is unavailable (503) when a critical check fails, whatever else does', async () => {
    const report = await readiness([down('database', true), down('redis'), up('nats')], 100, false);
    expect(report.status).toBe('unavailable');
    expect(readinessHttpStatus(report)).toBe(503);
  });

  it('counts a hung check as failing', async () => {
    const hung: HealthCheck = { name: 'database', critical: true, check: () => new Promise(() => undefined) };
    const report = await readiness([hung], 20, false);
    expect(report.status).toBe('unavailable');
    expect(report.checks.database?.error).toContain('timed out');
  });

  it('is draining (503) once shutdown began, even with every store up', async () => {
    const report = await readiness([up('database', true)], 100, true);
    expect(report.status).toBe('draining');
    expect(readinessHttpStatus(report)).toBe(503);
  });
});
