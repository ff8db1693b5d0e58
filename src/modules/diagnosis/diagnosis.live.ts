import { PubSub } from 'graphql-subscriptions';
import type { Redis } from '../../lib/redis.js';
import { ChannelSubscriber } from '../../lib/redis-channels.js';
import type { DiagnosisStatus } from './diagnosis.entity.js';
import type { DiagnosisView } from './diagnosis.view.js';

/** A change is applied only if the current state meets these; otherwise nothing changes. */
export interface Precondition {
  statusIn?: DiagnosisStatus[];
  version?: number;
  attempts?: number;
  /** Not yet signed off by a clinician (a review happens once). */
  unreviewed?: true;
}

/** The fields a change may set; `version` and `updatedAt` are always set by the store. */
export type Patch = Partial<
  Omit<DiagnosisView, 'id' | 'patientId' | 'requestedById' | 'version' | 'createdAt' | 'updatedAt'>
>;

export type ChangeResult = { applied: true; view: DiagnosisView } | { applied: false; current: DiagnosisView | null };

/**
 * Where live diagnosis state is kept and from where every change is published — what the worker
 * and the API's write paths need. Each change is a compare-and-set that bumps `version` by one
 * and publishes the new state on the diagnosis channel and the patient channel in the same atomic
 * step, so publication order is version order and two writers (a worker's progress, a clinician's
 * cancel) cannot both win.
 */
export interface LiveStateWriter {
  get(ids: readonly string[]): Promise<(DiagnosisView | null)[]>;
  /**
   * Applies `patch` if `precondition` holds. `seed` is the durable state to start from when the
   * store has none (expired, or never written): Postgres is the record, this store the live copy.
   */
  change(id: string, precondition: Precondition, patch: Patch, seed: DiagnosisView | null): Promise<ChangeResult>;
  /** Publishes a state as it is (e.g. a new QUEUED diagnosis) and stores it if newer. */
  announce(view: DiagnosisView): Promise<void>;
}

/** The published states, as subscriptions follow them — what only the API's pods need. */
export interface LiveStateFeed {
  /**
   * Calls `onView` with every state published on `channel` (one diagnosis, or every diagnosis of
   * one patient). Resolves once the subscription is in place — or, while the store is down, once
   * it is registered to be put in place when the store returns; the function it returns ends it.
   *
   * Whatever was published while the store was unreachable is lost to pub/sub, so `onResync` is
   * called each time the subscription is back in place after an interruption: the caller re-reads
   * the current state then, and delivers it if it is newer than what it sent.
   */
  listen(channel: string, onView: (view: DiagnosisView) => void, onResync?: () => void): Promise<() => Promise<void>>;
  channelOfDiagnosis(id: string): string;
  channelOfPatient(patientId: string): string;
}

/** Channel names: the deployment's key prefix, since Redis' key prefix does not apply to channels. */
function channels(prefix: string) {
  return {
    ofDiagnosis: (id: string) => `${prefix}diagnosis:${id}`,
    ofPatient: (patientId: string) => `${prefix}patient-diagnoses:${patientId}`,
  };
}

/** Live state is kept a day after the last change; Postgres keeps it for ever. */
const STATE_TTL_MS = 24 * 60 * 60_000;

const CHANGE_SCRIPT = `
local raw = redis.call('GET', KEYS[1])
local cur
if raw then cur = cjson.decode(raw) elseif ARGV[7] ~= '' then cur = cjson.decode(ARGV[7]) else return {0, ''} end
local pre = cjson.decode(ARGV[2])
if pre.statusIn then
  local ok = false
  for _, s in ipairs(pre.statusIn) do if s == cur.status then ok = true end end
  if not ok then return {0, cjson.encode(cur)} end
end
if pre.version and pre.version ~= cur.version then return {0, cjson.encode(cur)} end
if pre.attempts and pre.attempts ~= cur.attempts then return {0, cjson.encode(cur)} end
if pre.unreviewed and cur.review ~= nil and cur.review ~= cjson.null then return {0, cjson.encode(cur)} end
for k, v in pairs(cjson.decode(ARGV[1])) do cur[k] = v end
cur.version = cur.version + 1
cur.updatedAt = tonumber(ARGV[6])
local out = cjson.encode(cur)
redis.call('SET', KEYS[1], out, 'PX', ARGV[3])
redis.call('PUBLISH', ARGV[4], out)
redis.call('PUBLISH', ARGV[5], out)
return {1, out}
`;

const ANNOUNCE_SCRIPT = `
local raw = redis.call('GET', KEYS[1])
if raw then
  local cur = cjson.decode(raw)
  if cur.version >= tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[1])
redis.call('PUBLISH', ARGV[5], ARGV[1])
return 1
`;

/** Lua's JSON turns big integers into floats like 1.7e+12; read every number back exactly. */
function parseView(raw: string): DiagnosisView {
  return JSON.parse(raw) as DiagnosisView;
}

/** Live state in Redis, each change published with Redis pub/sub in the same script. */
export class RedisLiveStateWriter implements LiveStateWriter {
  private readonly channels: ReturnType<typeof channels>;

  /**
   * @param redis the shared command connection (its key prefix applies to the state keys)
   * @param prefix the deployment's key prefix, also used for channel names
   */
  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.channels = channels(prefix);
  }

  private key(id: string): string {
    return `diagnosis:${id}`;
  }

  async get(ids: readonly string[]): Promise<(DiagnosisView | null)[]> {
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(...ids.map((id) => this.key(id)));
    return raws.map((raw) => (raw ? parseView(raw) : null));
  }

  async change(
    id: string,
    precondition: Precondition,
    patch: Patch,
    seed: DiagnosisView | null,
  ): Promise<ChangeResult> {
    const patientId = seed?.patientId ?? (await this.get([id]))[0]?.patientId;
    if (!patientId) return { applied: false, current: null };
    const [applied, raw] = (await this.redis.eval(
      CHANGE_SCRIPT,
      1,
      this.key(id),
      JSON.stringify(patch),
      JSON.stringify(precondition),
      STATE_TTL_MS,
      this.channels.ofDiagnosis(id),
      this.channels.ofPatient(patientId),
      Date.now(),
      seed ? JSON.stringify(seed) : '',
    )) as [number, string];
    if (applied === 1) return { applied: true, view: parseView(raw) };
    return { applied: false, current: raw ? parseView(raw) : null };
  }

  async announce(view: DiagnosisView): Promise<void> {
    await this.redis.eval(
      ANNOUNCE_SCRIPT,
      1,
      this.key(view.id),
      JSON.stringify(view),
      view.version,
      STATE_TTL_MS,
      this.channels.ofDiagnosis(view.id),
      this.channels.ofPatient(view.patientId),
    );
  }
}

/** The states {@link RedisLiveStateWriter} publishes, heard on a connection of its own. */
export class RedisLiveFeed implements LiveStateFeed {
  private readonly pubsub: ChannelSubscriber;
  private readonly channels: ReturnType<typeof channels>;

  /**
   * @param subscriber a dedicated connection for SUBSCRIBE (a subscribed connection can do nothing
   * else); the caller owns and closes it
   * @param prefix the deployment's key prefix, as given to the writer
   */
  constructor(subscriber: Redis, prefix: string) {
    this.pubsub = new ChannelSubscriber(subscriber);
    this.channels = channels(prefix);
  }

  channelOfDiagnosis(id: string): string {
    return this.channels.ofDiagnosis(id);
  }

  channelOfPatient(patientId: string): string {
    return this.channels.ofPatient(patientId);
  }

  listen(channel: string, onView: (view: DiagnosisView) => void, onResync?: () => void): Promise<() => Promise<void>> {
    return this.pubsub.listen(channel, {
      onMessage: (raw) => {
        let view: DiagnosisView;
        try {
          view = parseView(raw);
        } catch {
          return;
        }
        onView(view);
      },
      onResync,
    });
  }
}

/** The embedded mode's live state: the same semantics in one process. */
export class MemoryLiveState implements LiveStateWriter, LiveStateFeed {
  private readonly states = new Map<string, DiagnosisView>();
  private readonly pubsub = new PubSub<Record<string, DiagnosisView>>();

  private readonly channels = channels('');

  channelOfDiagnosis(id: string): string {
    return this.channels.ofDiagnosis(id);
  }

  channelOfPatient(patientId: string): string {
    return this.channels.ofPatient(patientId);
  }

  async get(ids: readonly string[]): Promise<(DiagnosisView | null)[]> {
    return ids.map((id) => this.states.get(id) ?? null);
  }

  async change(
    id: string,
    precondition: Precondition,
    patch: Patch,
    seed: DiagnosisView | null,
  ): Promise<ChangeResult> {
    const current = this.states.get(id) ?? seed;
    if (!current) return { applied: false, current: null };
    const ok =
      (!precondition.statusIn || precondition.statusIn.includes(current.status)) &&
      (precondition.version === undefined || precondition.version === current.version) &&
      (precondition.attempts === undefined || precondition.attempts === current.attempts) &&
      (!precondition.unreviewed || !current.review);
    if (!ok) return { applied: false, current };
    const view: DiagnosisView = { ...current, ...patch, version: current.version + 1, updatedAt: Date.now() };
    this.states.set(id, view);
    await this.publish(view);
    return { applied: true, view };
  }

  async announce(view: DiagnosisView): Promise<void> {
    const current = this.states.get(view.id);
    if (current && current.version >= view.version) return;
    this.states.set(view.id, view);
    await this.publish(view);
  }

  private async publish(view: DiagnosisView): Promise<void> {
    await this.pubsub.publish(this.channelOfDiagnosis(view.id), view);
    await this.pubsub.publish(this.channelOfPatient(view.patientId), view);
  }

  async listen(channel: string, onView: (view: DiagnosisView) => void): Promise<() => Promise<void>> {
    const id = await this.pubsub.subscribe(channel, onView);
    return async () => this.pubsub.unsubscribe(id);
  }
}
