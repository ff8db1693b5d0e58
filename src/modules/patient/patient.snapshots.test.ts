import { describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/logger.js';
import type { Patient } from './patient.entity.js';
import { MemorySnapshotVersions, type PatientSnapshot, PatientSnapshots } from './patient.snapshots.js';

const ID = '00000000-0000-4000-8000-000000000001';

/** A loader whose calls are counted and whose answers wait until released. */
function gatedLoader() {
  const calls: string[][] = [];
  const gates: ((value?: unknown) => void)[] = [];
  let generation = 0;
  let failing = false;
  const loader = async (ids: readonly string[]) => {
    calls.push([...ids]);
    const mine = ++generation;
    await new Promise((release) => gates.push(release));
    if (failing) throw new Error('database unreachable');
    const snapshot: PatientSnapshot = { patient: { id: ID, generation: mine } as unknown as Patient, members: ['a'] };
    return new Map(ids.map((id) => [id, snapshot]));
  };
  return {
    loader,
    calls,
    releaseAll: () => {
      for (const release of gates.splice(0)) release();
    },
    fail: () => {
      failing = true;
    },
  };
}

const generationOf = (m: Map<string, PatientSnapshot>) =>
  (m.get(ID)?.patient as unknown as { generation: number } | undefined)?.generation;

const newSnapshots = () =>
  new PatientSnapshots({ versions: new MemorySnapshotVersions(), logger: createLogger({ level: 'silent' }) });

/** Lets the reads started so far get past their version check to the loader. */
const settle = () => new Promise((r) => setImmediate(r));

describe('PatientSnapshots single flight', () => {
  it('makes one PostgreSQL read for many concurrent misses of one patient at one version', async () => {
    const snapshots = newSnapshots();
    const { loader, calls, releaseAll } = gatedLoader();
    const reads = Array.from({ length: 50 }, () => snapshots.load([ID], loader));
    await settle();
    releaseAll();
    const answers = await Promise.all(reads);
    expect(calls).toEqual([[ID]]);
    expect(answers.map(generationOf)).toEqual(Array(50).fill(1));
    expect(snapshots.stats).toMatchObject({ misses: 1, joined: 49 });
  });

  it('never joins a load of an older version: a read after a write reads afresh', async () => {
    const snapshots = newSnapshots();
    const { loader, calls, releaseAll } = gatedLoader();
    const before = snapshots.load([ID], loader);
    await settle();
    await snapshots.changed(ID);
    const after = snapshots.load([ID], loader);
    await settle();
    releaseAll();
    expect(generationOf(await before)).toBe(1);
    expect(generationOf(await after)).toBe(2);
    expect(calls).toHaveLength(2);
    // And the newer one is what the cache keeps.
    expect(generationOf(await snapshots.load([ID], loader))).toBe(2);
    expect(calls).toHaveLength(2);
  });

  it('gives a failed load to every read that waited on it, and the next read tries again', async () => {
    const snapshots = newSnapshots();
    const gated = gatedLoader();
    gated.fail();
    const reads = Array.from({ length: 5 }, () => snapshots.load([ID], gated.loader));
    await settle();
    gated.releaseAll();
    const outcomes = await Promise.allSettled(reads);
    expect(outcomes.map((o) => o.status)).toEqual(Array(5).fill('rejected'));
    expect(gated.calls).toHaveLength(1);

    const fresh = gatedLoader();
    const again = snapshots.load([ID], fresh.loader);
    await settle();
    fresh.releaseAll();
    expect(generationOf(await again)).toBe(1);
    expect(fresh.calls).toHaveLength(1);
  });
});
