import { Gauge, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { StoreMonitor } from './store-health.js';

describe('StoreMonitor', () => {
  it('says which store is down, counts outages, and wakes waiters when every store is back', async () => {
    let redisUp = true;
    const registry = new Registry();
    const gauge = new Gauge({ name: 'store_up', help: 'h', labelNames: ['store'], registers: [registry] });
    const monitor = new StoreMonitor(
      [
        { name: 'database', check: async () => undefined },
        {
          name: 'redis',
          check: async () => {
            if (!redisUp) throw new Error('connection refused');
          },
        },
      ],
      { intervalMs: 10, timeoutMs: 50, logger: createLogger({ level: 'silent' }), gauge },
    ).start();
    try {
      expect(await monitor.checkNow()).toBe(true);
      expect(monitor.outages).toBe(0);

      redisUp = false;
      expect(await monitor.checkNow()).toBe(false);
      expect(monitor.down()).toEqual(['redis']);
      expect(monitor.outages).toBe(1);
      expect(await registry.metrics()).toContain('store_up{store="redis"} 0');

      let woken = false;
      const waiting = monitor.waitUntilUp().then(() => {
        woken = true;
      });
      await monitor.checkNow();
      expect(woken).toBe(false);

      redisUp = true;
      await waiting;
      expect(monitor.allUp).toBe(true);
      // The outage is over, but a caller that read the count before it can still tell it happened.
      expect(monitor.outages).toBe(1);
      expect(await registry.metrics()).toContain('store_up{store="redis"} 1');
    } finally {
      monitor.stop();
    }
  });

  it('lets a waiter go when its signal aborts (a worker stopping during an outage)', async () => {
    const monitor = new StoreMonitor(
      [
        {
          name: 'nats',
          check: async () => {
            throw new Error('down');
          },
        },
      ],
      { intervalMs: 10, timeoutMs: 50, logger: createLogger({ level: 'silent' }) },
    ).start();
    try {
      await monitor.checkNow();
      const stopping = new AbortController();
      const waiting = monitor.waitUntilUp(stopping.signal);
      stopping.abort();
      await waiting;
      expect(monitor.allUp).toBe(false);
    } finally {
      monitor.stop();
    }
  });
});
