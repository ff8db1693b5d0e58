import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { errorFields, type Logger } from '../../lib/logger.js';
import type { Redis } from '../../lib/redis.js';
import type { Patient } from './patient.entity.js';
import { InvalidationFeed, type SnapshotLeases } from './snapshot-leases.js';

/**
 * What the read path needs of a patient: the patient (frozen: it is shared by every operation
 * that reads it from the cache) and the ids of its care team, from which any viewer's access
 * decision follows.
 */
export interface PatientSnapshot {
  readonly patient: Patient;
  readonly members: readonly string[];
}

/** Loads snapshots from the source of truth; ids that do not exist are absent from the map. */
export type SnapshotLoader = (ids: readonly string[]) => Promise<Map<string, PatientSnapshot>>;

/**
 * The version of each patient's snapshot, shared by every pod. A version is an opaque token,
 * never reused (pod id + counter), so a version store that lost its keys (Redis restarted,
 * a key expired) cannot make an old token current again.
 */
export interface SnapshotVersions {
  /**
   * The current token of each id, creating one where there is none; and, in the same round trip,
   * the values of `alongside` (other keys of the same store, e.g. the assessment cache's) — or no
   * `alongside` at all where the store cannot read them. Rejects when unreachable.
   */
  current(
    ids: readonly string[],
    alongside?: readonly string[],
  ): Promise<{ versions: string[]; alongside?: (string | null)[] }>;
  /** Gives the patient a new token: every cached snapshot of it is stale from now on, on every pod. */
  bump(id: string): Promise<void>;
  /** Calls `listener` when the store may have lost or missed changes (a reconnection). */
  onReset(listener: () => void): void;
  /**
   * While this pod holds a lease (see {@link SnapshotLeases}): its epoch, which changes whenever
   * the pod may have missed an invalidation. A snapshot confirmed current during the epoch is
   * served without reading its version until the epoch changes or the lease runs out. Null while
   * no lease is held: every read then reads the versions.
   */
  held(): number | null;
  /** A mark for {@link invalidatedSince}. */
  mark(): number;
  /** Whether any pod's write may have invalidated `id` since `mark` (a read that raced it is not trusted). */
  invalidatedSince(id: string, mark: number): boolean;
  /** Calls `listener` with every patient any pod's write invalidates. */
  onInvalidate(listener: (id: string) => void): void;
}

/** How long a version key lives after it was last set: an idle patient costs Redis nothing for long. */
const VERSION_TTL_S = 24 * 3600;

/**
 * GET each version key; where there is none, SET it to the caller's fresh token (with the TTL)
 * and answer that. ARGV: TTL in seconds, then one fresh token per version key: the version keys
 * are the first #ARGV - 1 of KEYS, and any after them are only read (a missing one answers nil).
 */
const CURRENT_OR_CREATE_LUA = `local out = {}
local versions = #ARGV - 1
for i, key in ipairs(KEYS) do
  local v = redis.call('get', key)
  if i <= versions and not v then
    v = ARGV[i + 1]
    redis.call('set', key, v, 'EX', ARGV[1])
  end
  out[i] = v
end
return out`;

/** Fresh tokens: this process's random id and a counter, unique across pods and restarts. */
class Tokens {
  private readonly pod = randomBytes(6).toString('base64url');
  private n = 0;
  next(): string {
    this.n += 1;
    return `${this.pod}.${this.n.toString(36)}`;
  }
}

type RedisWithVersions = Redis & {
  snapshotVersions(numKeys: number, ...args: (string | number)[]): Promise<(string | null)[]>;
};

/** Versions in Redis under `pv:<patientId>` (the connection's key prefix applies). */
export class RedisSnapshotVersions implements SnapshotVersions {
  private readonly tokens = new Tokens();
  private readonly redis: RedisWithVersions;

  /** With `leases`, bumps are acknowledged by every pod and held snapshots are served without a round trip. */
  constructor(
    redis: Redis,
    private readonly leases?: SnapshotLeases,
  ) {
    if (!('snapshotVersions' in redis)) redis.defineCommand('snapshotVersions', { lua: CURRENT_OR_CREATE_LUA });
    this.redis = redis as RedisWithVersions;
  }

  async current(
    ids: readonly string[],
    alongside: readonly string[] = [],
  ): Promise<{ versions: string[]; alongside: (string | null)[] }> {
    const keys = ids.map((id) => `pv:${id}`);
    const values = await this.redis.snapshotVersions(
      keys.length + alongside.length,
      ...keys,
      ...alongside,
      VERSION_TTL_S,
      ...ids.map(() => this.tokens.next()),
    );
    return { versions: values.slice(0, ids.length) as string[], alongside: values.slice(ids.length) };
  }

  async bump(id: string): Promise<void> {
    if (this.leases) await this.leases.bump(`pv:${id}`, this.tokens.next(), VERSION_TTL_S, id);
    else await this.redis.set(`pv:${id}`, this.tokens.next(), 'EX', VERSION_TTL_S);
  }

  onReset(listener: () => void): void {
    // A pod that was cut off may have missed bumps it did not make: while disconnected it reads
    // through to PostgreSQL (every `current` fails), and once back it starts from an empty cache.
    this.redis.on('close', listener);
    this.redis.on('ready', listener);
  }

  held(): number | null {
    return this.leases?.held() ?? null;
  }

  mark(): number {
    return this.leases?.mark() ?? 0;
  }

  invalidatedSince(id: string, mark: number): boolean {
    return this.leases?.invalidatedSince(id, mark) ?? true;
  }

  onInvalidate(listener: (id: string) => void): void {
    this.leases?.onInvalidate(listener);
  }
}

/**
 * The embedded mode's versions (one process): the same rule, in memory. The one pod always holds
 * its lease: every write's bump reaches its cache synchronously.
 */
export class MemorySnapshotVersions extends InvalidationFeed implements SnapshotVersions {
  private readonly tokens = new Tokens();
  private readonly versions = new Map<string, string>();

  async current(ids: readonly string[]): Promise<{ versions: string[] }> {
    const versions = ids.map((id) => {
      let v = this.versions.get(id);
      if (!v) {
        v = this.tokens.next();
        this.versions.set(id, v);
      }
      return v;
    });
    return { versions };
  }

  async bump(id: string): Promise<void> {
    this.versions.set(id, this.tokens.next());
    this.invalidate(id);
  }

  onReset(): void {}

  held(): number {
    return 0;
  }
}

interface Cached {
  version: string;
  snapshot: PatientSnapshot;
  /** The lease epoch in which this was confirmed current (served without a round trip while it lasts). */
  trusted: number | null;
}

/**
 * Keys of the version store to read in the same round trip as a load's version check, and where
 * their values go (left empty when the store could not read them: the caller reads them itself).
 */
export interface ReadAlong {
  readonly keys: readonly string[];
  readonly values: Map<string, string | null>;
}

export interface PatientSnapshotsOptions {
  versions: SnapshotVersions;
  logger: Logger;
  /** Snapshots kept per pod (least recently used go first). */
  maxEntries?: number;
  /**
   * The longest a pod serves one cached snapshot, however current its version looks: the bound on
   * staleness in the one case versions cannot cover — a write whose bump failed while other pods
   * could still read the store (see {@link PatientSnapshots.changed}).
   */
  maxAgeMs?: number;
}

/**
 * The patient snapshots and care teams of the read path, per pod, checked against a version
 * shared by every pod on each read: one Redis round trip (auto-pipelined with the other requests
 * of the same tick) instead of a PostgreSQL query.
 *
 * Why it is never stale: a reader reads the version BEFORE it reads PostgreSQL, and tags what it
 * read with that version; every write that changes a snapshot or a care team gives the patient a
 * new version AFTER its commit and BEFORE it answers ({@link changed}). So a snapshot read before
 * a commit carries a version the write has replaced, and the first read after the write's answer,
 * on any pod, sees the new version and goes to PostgreSQL. While the version store is unreachable
 * every read goes to PostgreSQL; after a reconnection the pod starts from an empty cache.
 */
export class PatientSnapshots {
  private readonly cache: LRUCache<string, Cached>;
  private readonly versions: SnapshotVersions;
  private readonly logger: Logger;
  /** Bumps that failed, retried until they land (see {@link changed}). */
  private readonly unbumped = new Set<string>();
  private retrying: NodeJS.Timeout | undefined;
  /**
   * Loads under way, by patient and the version they will be tagged with: a read that misses while
   * one is under way for the same version waits for it instead of querying PostgreSQL again.
   */
  private readonly loading = new Map<string, Promise<PatientSnapshot | undefined>>();
  /**
   * Reads served from this pod's memory (of which `held`: without reading the version, under the
   * lease), reads that went to PostgreSQL, reads that bypassed the cache, and reads that joined one under way.
   */
  readonly stats = { hits: 0, held: 0, misses: 0, bypassed: 0, joined: 0 };

  constructor(options: PatientSnapshotsOptions) {
    this.versions = options.versions;
    this.logger = options.logger;
    this.cache = new LRUCache<string, Cached>({ max: options.maxEntries ?? 20_000, ttl: options.maxAgeMs ?? 10_000 });
    this.versions.onReset(() => this.cache.clear());
    this.versions.onInvalidate((id) => this.cache.delete(id));
  }

  /**
   * What this pod holds of a patient, NOT checked against its version: only to guess which keys an
   * operation will read (see {@link ReadAlong}), never to answer from.
   */
  peek(id: string): PatientSnapshot | undefined {
    return this.cache.get(id)?.snapshot;
  }

  /**
   * The snapshots of `ids` that exist (absent: no such patient), current as of this call; with
   * `along`, its keys are read in the same round trip as the versions.
   */
  async load(ids: readonly string[], loader: SnapshotLoader, along?: ReadAlong): Promise<Map<string, PatientSnapshot>> {
    const epoch = this.versions.held();
    if (epoch !== null) {
      const held = this.heldNow(ids, epoch);
      if (held) return held;
    }
    // Taken before the versions are read: a write whose invalidation arrives after this mark may
    // have committed after the read, so what the read finds is not trusted without a round trip.
    const mark = this.versions.mark();
    const trust = (id: string): number | null =>
      epoch !== null && this.versions.held() === epoch && !this.versions.invalidatedSince(id, mark) ? epoch : null;
    let versions: string[];
    try {
      const current = await this.versions.current(ids, along?.keys);
      versions = current.versions;
      const read = current.alongside;
      if (along && read)
        for (let i = 0; i < along.keys.length; i++) along.values.set(along.keys[i] as string, read[i] ?? null);
    } catch {
      // The store is down: PostgreSQL answers, and nothing is cached without a version.
      this.stats.bypassed += ids.length;
      return loader(ids);
    }
    const found = new Map<string, PatientSnapshot>();
    const missing: string[] = [];
    const missingVersions: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as string;
      const cached = this.cache.get(id);
      if (cached && cached.version === versions[i]) {
        found.set(id, cached.snapshot);
        cached.trusted = trust(id) ?? cached.trusted;
      } else {
        missing.push(id);
        missingVersions.push(versions[i] as string);
      }
    }
    this.stats.hits += found.size;
    if (missing.length === 0) return found;
    // Single flight per pod: when a hot patient's entry expires or its version moves, every read
    // of it in flight (thousands of subscription groups re-checking at once) would otherwise
    // query PostgreSQL for the same row. A read joins a load tagged with the version it read
    // itself, so it gets nothing older than a load of its own would have.
    const waits: Promise<void>[] = [];
    const toLoad: string[] = [];
    const toLoadVersions: string[] = [];
    for (let i = 0; i < missing.length; i++) {
      const id = missing[i] as string;
      const under = this.loading.get(`${id}|${missingVersions[i]}`);
      if (under) {
        this.stats.joined += 1;
        waits.push(
          under.then((snapshot) => {
            if (snapshot) found.set(id, snapshot);
          }),
        );
      } else {
        toLoad.push(id);
        toLoadVersions.push(missingVersions[i] as string);
      }
    }
    if (toLoad.length > 0) {
      this.stats.misses += toLoad.length;
      const batch = loader(toLoad);
      for (let i = 0; i < toLoad.length; i++) {
        const id = toLoad[i] as string;
        const version = toLoadVersions[i] as string;
        const key = `${id}|${version}`;
        const one = batch.then((loaded) => {
          const snapshot = loaded.get(id);
          // No such patient: absence is not cached (ids are never reused).
          if (snapshot) this.cache.set(id, { version, snapshot, trusted: trust(id) });
          return snapshot;
        });
        this.loading.set(key, one);
        // Whatever the outcome, later reads load afresh; a failure reaches every read that waited.
        const done = () => {
          if (this.loading.get(key) === one) this.loading.delete(key);
        };
        one.then(done, done);
        waits.push(
          one.then((snapshot) => {
            if (snapshot) found.set(id, snapshot);
          }),
        );
      }
    }
    await Promise.all(waits);
    return found;
  }

  /**
   * Every snapshot of `ids`, from this pod's memory, if each was confirmed current in this lease
   * epoch (no other pod's write has invalidated it since: each would have been dropped on its
   * invalidation, before that write answered); else null.
   */
  private heldNow(ids: readonly string[], epoch: number): Map<string, PatientSnapshot> | null {
    const found = new Map<string, PatientSnapshot>();
    for (const id of ids) {
      const cached = this.cache.get(id);
      if (!cached || cached.trusted !== epoch) return null;
      found.set(id, cached.snapshot);
    }
    this.stats.hits += ids.length;
    this.stats.held += ids.length;
    return found;
  }

  /**
   * Called by every write that changes a patient's snapshot or care team, after its commit and
   * before it answers: no pod serves what it had cached of the patient from then on. If the store
   * is unreachable the write still answers (an outage degrades, it does not fail writes): pods that
   * cannot reach it read PostgreSQL anyway and start from an empty cache once back; the bump is
   * retried every second until it lands, and a pod that could still reach the store serves its
   * older copy for at most `maxAgeMs`.
   */
  async changed(patientId: string): Promise<void> {
    this.cache.delete(patientId);
    try {
      await this.versions.bump(patientId);
    } catch (error) {
      this.logger.warn({ ...errorFields(error) }, 'patient version bump failed; retrying');
      this.unbumped.add(patientId);
      this.retrying ??= setInterval(() => void this.retry(), 1_000).unref();
    }
  }

  private async retry(): Promise<void> {
    for (const id of [...this.unbumped]) {
      try {
        await this.versions.bump(id);
        this.unbumped.delete(id);
      } catch {
        return; // Still down: the next tick tries again.
      }
    }
    clearInterval(this.retrying);
    this.retrying = undefined;
  }

  /** Stops retrying (shutdown). */
  close(): void {
    if (this.retrying) clearInterval(this.retrying);
  }
}
