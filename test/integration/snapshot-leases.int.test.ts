import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/lib/logger.js';
import { connectRedis, type Redis } from '../../src/lib/redis.js';
import type { Patient } from '../../src/modules/patient/patient.entity.js';
import {
  type PatientSnapshot,
  PatientSnapshots,
  RedisSnapshotVersions,
} from '../../src/modules/patient/patient.snapshots.js';
import { SnapshotLeases } from '../../src/modules/patient/snapshot-leases.js';
import { testEnv } from '../helpers/env.js';
import { deleteRedisKeys, uniqueRedisPrefix } from '../helpers/redis.js';

/**
 * The lease protocol between pods, each with its own Redis connections (as separate processes
 * have), on the shared Redis under a prefix of this test's own: a write answers only after every
 * pod dropped its copy; a pod that cannot hear is waited out for one lease and trusts nothing by
 * then; a read that raced a write is not trusted.
 */
const LEASE_MS = 400;
const ID = '00000000-0000-4000-8000-00000000aa01';
const prefix = uniqueRedisPrefix();
const logger = createLogger({ level: 'silent' });
const opened: { close: () => Promise<void> }[] = [];

interface Pod {
  snapshots: PatientSnapshots;
  leases: SnapshotLeases;
  subscriber: Redis;
  loads: number;
  /** Loads from "PostgreSQL": each answers a new generation of the patient. */
  loader: (ids: readonly string[]) => Promise<Map<string, PatientSnapshot>>;
}

async function startPod(): Promise<Pod> {
  const redis = await connectRedis({ url: testEnv.redisUrl, keyPrefix: prefix });
  const subscriber = await connectRedis({ url: testEnv.redisUrl, keyPrefix: prefix });
  const leases = new SnapshotLeases({ redis, subscriber, prefix, leaseMs: LEASE_MS, logger });
  await leases.start();
  const snapshots = new PatientSnapshots({ versions: new RedisSnapshotVersions(redis, leases), logger });
  const pod: Pod = {
    snapshots,
    leases,
    subscriber,
    loads: 0,
    loader: async (ids) => {
      pod.loads += 1;
      const generation = pod.loads;
      return new Map(ids.map((id) => [id, { patient: { id, generation } as unknown as Patient, members: ['a'] }]));
    },
  };
  opened.push({
    close: async () => {
      snapshots.close();
      await leases.close();
      subscriber.disconnect();
      redis.disconnect();
    },
  });
  return pod;
}

/** Until the pod holds its lease (its first heartbeat heard back). */
async function leased(pod: Pod): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (pod.leases.held() === null) {
    if (Date.now() > deadline) throw new Error('no lease');
    await new Promise((r) => setTimeout(r, 10));
  }
}

afterEach(async () => {
  for (const pod of opened.splice(0)) await pod.close();
});
afterAll(() => deleteRedisKeys(prefix));

describe('snapshot leases across pods', () => {
  it('serve a held snapshot without a round trip, and a write answers only once every pod dropped it', async () => {
    const [a, b] = [await startPod(), await startPod()];
    await Promise.all([leased(a), leased(b)]);
    await a.snapshots.load([ID], a.loader);
    await a.snapshots.load([ID], a.loader);
    expect(a.snapshots.stats.held).toBe(1);
    expect(a.loads).toBe(1);

    const started = performance.now();
    await b.snapshots.changed(ID);
    // Acknowledged by both pods (each dropped its copy): well within one lease.
    expect(performance.now() - started).toBeLessThan(LEASE_MS / 2);
    await a.snapshots.load([ID], a.loader);
    expect(a.loads).toBe(2);
    expect(a.snapshots.stats.held).toBe(1);
  });

  it('wait out a pod that cannot hear for one lease, by when it trusts nothing it holds', async () => {
    const [a, b] = [await startPod(), await startPod()];
    await Promise.all([leased(a), leased(b)]);
    await a.snapshots.load([ID], a.loader);
    await a.snapshots.load([ID], a.loader);
    expect(a.snapshots.stats.held).toBe(1);

    // Pod a's subscription stalls (its socket is not read): no close, no message, no heartbeat.
    a.subscriber.stream.pause();
    try {
      const started = performance.now();
      await b.snapshots.changed(ID);
      const waited = performance.now() - started;
      expect(waited).toBeGreaterThanOrEqual(LEASE_MS * 0.5);
      expect(waited).toBeLessThan(LEASE_MS * 3);
      // By the time the write answered, a's lease had run out: it reads the version, sees the
      // write and loads afresh instead of answering what it held.
      expect(a.leases.held()).toBeNull();
      await a.snapshots.load([ID], a.loader);
      expect(a.loads).toBe(2);
      expect(a.snapshots.stats.held).toBe(1);
    } finally {
      a.subscriber.stream.resume();
    }
    // Heard again: the invalidation it missed arrives late (and drops what it holds, at most one
    // more load), the lease comes back in a new epoch, and a snapshot is trusted again only after
    // a round trip confirmed it in that epoch.
    await leased(a);
    await a.snapshots.load([ID], a.loader);
    expect(a.snapshots.stats.held).toBe(1);
    await a.snapshots.load([ID], a.loader);
    expect(a.snapshots.stats.held).toBe(2);
    expect(a.loads).toBeLessThanOrEqual(3);
  });

  it('stop waiting for a pod that left the registry', async () => {
    const [a, b] = [await startPod(), await startPod()];
    await Promise.all([leased(a), leased(b)]);
    a.subscriber.stream.pause();
    await a.leases.close();
    const started = performance.now();
    await b.snapshots.changed(ID);
    expect(performance.now() - started).toBeLessThan(LEASE_MS / 2);
    a.subscriber.stream.resume();
  });

  it('never trust a read that raced another pod’s write', async () => {
    const [a, b] = [await startPod(), await startPod()];
    await Promise.all([leased(a), leased(b)]);
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    // a reads the version, then "PostgreSQL" answers only after b's write has answered.
    const racing = a.snapshots.load([ID], async (ids) => {
      await gate;
      return a.loader(ids);
    });
    await new Promise((r) => setTimeout(r, 50));
    await b.snapshots.changed(ID);
    release();
    await racing;
    // Not trusted: the next read checks the version (which moved) and loads again.
    await a.snapshots.load([ID], a.loader);
    expect(a.snapshots.stats.held).toBe(0);
    expect(a.loads).toBe(2);
    // That one was read after the write: trusted from now on.
    await a.snapshots.load([ID], a.loader);
    expect(a.snapshots.stats.held).toBe(1);
    expect(a.loads).toBe(2);
  });
});
