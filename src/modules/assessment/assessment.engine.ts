import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { type AppError, BadUserInputError, MlUnavailableError } from '../../errors.js';
import type { Breaker } from '../../lib/breaker.js';
import type { KeyValueCache } from '../../lib/cache.js';
import { errorFields, type Logger } from '../../lib/logger.js';
import type { Metrics } from '../../lib/metrics.js';
import { type ModelClient, ModelServerError } from '../../ml/client.js';
import type { ModelMetadata, TensorMetadata } from '../../ml/oip.protocol.js';
import {
  columnInput,
  type FactorKind,
  type InputContract,
  type RiskLevel,
  readRiskBatch,
} from '../../ml/risk-model.contract.js';
import { type InputRow, type RiskModelName, rowDigest } from './assessment.inputs.js';

/** Where an answer came from (the contract's `AssessmentSource`). */
export type AssessmentSource = 'LIVE' | 'CACHE' | 'STALE_CACHE';

/** What is cached per (model, version, inputs): everything but the patient, which the inputs do not name. */
export interface CachedAssessment {
  model: string;
  modelVersion: string;
  score: number;
  riskLevel: RiskLevel;
  factorKind: FactorKind;
  /** Factor (model input) name → points or contribution. */
  factors: [string, number][];
  /** Epoch milliseconds. */
  computedAt: number;
}

export interface Assessment extends CachedAssessment {
  source: AssessmentSource;
}

/** What the engine knows of a model: its version and the domain of its inputs. */
export interface ModelDescription {
  name: string;
  version: string;
  inputs: TensorMetadata[];
}

export interface EngineOptions {
  cache: KeyValueCache;
  client: ModelClient;
  breaker: Breaker;
  metrics: Metrics;
  logger: Logger;
  /** Served as CACHE for this long after it was computed. */
  freshMs: number;
  /** Kept (to serve as STALE_CACHE while the model fails) for this long. */
  retainMs: number;
  /** How often a pod re-reads a model's metadata (to notice a new version). */
  metadataRefreshMs?: number;
  /** Entries a pod keeps of what it read or computed (see {@link AssessmentEngine.readCache}). */
  localEntries?: number;
  /**
   * How long a pod's claim to compute a key lasts, and so the longest another pod waits for its
   * answer before computing the key itself: longer than a model call may take.
   */
  claimMs?: number;
}

/** One patient's request: the model and its input row. */
export interface AssessmentRequest {
  model: RiskModelName;
  row: InputRow;
}

const KEY_VERSION = 'v1';
/** How long a pod remembers a result it just computed, to cover the MGET-before-SET race. */
const RECENT_MS = 1_000;
/** How often a pod waiting for another pod's answer looks for it. */
const PEER_POLL_MS = 5;
/**
 * While the breaker is open, a stale entry this pod read from the shared cache this recently is
 * answered without reading it again (another pod may have refreshed it meanwhile).
 */
const STALE_RECHECK_MS = 1_000;
/** Model metadata is kept this long in the shared cache, so a pod started during an outage can key. */
const METADATA_RETAIN_MS = 30 * 24 * 60 * 60_000;

/**
 * Computes risk assessments through the model server, guarded by a circuit breaker, cached in a
 * shared store. The cache key is model + model version + a digest of the input row, so new
 * observations or a new model version miss by construction, and identical inputs hit from any pod.
 *
 * Concurrent misses for the same key share one model call (single flight), within a pod (one
 * promise per key) and across pods: the pod that first claims a key in the shared cache (SET NX
 * with an expiry) calls the model, the others poll for its answer. A miss is already a model
 * call, so the claim's round trip is small beside it; a hit never claims. While the breaker is
 * not closed the call fails at once and the answer is the stale entry, so nothing is claimed then;
 * when the claim holder fails (or dies, and its claim expires) a waiter computes the key itself.
 */
export class AssessmentEngine {
  private readonly inFlight = new Map<string, Promise<CachedAssessment>>();
  private readonly recent = new Map<string, CachedAssessment>();
  /** What this pod read from the shared cache or computed, by key, and when it read it. */
  private readonly local: LRUCache<string, { entry: CachedAssessment; readAt: number }>;
  /** The hit counter's series, bound once (labels are hashed on every unbound increment). */
  private readonly hits: { inc: () => void };
  private readonly descriptions = new Map<string, { description: ModelDescription; fetchedAt: number }>();
  private readonly describing = new Map<string, Promise<{ description: ModelDescription; reachable: boolean }>>();
  private readonly metadataRefreshMs: number;

  constructor(private readonly o: EngineOptions) {
    this.metadataRefreshMs = o.metadataRefreshMs ?? 60_000;
    this.local = new LRUCache({ max: o.localEntries ?? 10_000 });
    this.hits = o.metrics.cacheLookups.labels({ cache: 'assessment', result: 'hit' });
  }

  /**
   * The model's version and input domain: from this pod's memory while recent, else from the model
   * server (through the breaker), else — the server failing — from the shared cache, in which case
   * `reachable` is false and callers should not try the server again for this request.
   */
  describe(model: RiskModelName): Promise<{ description: ModelDescription; reachable: boolean }> {
    const known = this.descriptions.get(model);
    if (known && Date.now() - known.fetchedAt < this.metadataRefreshMs) {
      return Promise.resolve({ description: known.description, reachable: true });
    }
    // Due for a refresh while the breaker is open: the call would be refused at once — an Error
    // and a rejected chain per request, for as long as the outage lasts — so answer with what this
    // pod holds, as the failed call would have (the spared call counts as a `reject`).
    if (known && this.o.breaker.state === 'open') {
      this.o.breaker.skipped(1);
      return Promise.resolve({ description: known.description, reachable: false });
    }
    // Concurrent requests share one metadata call.
    let running = this.describing.get(model);
    if (!running) {
      running = this.fetchDescription(model, known?.description).finally(() => this.describing.delete(model));
      this.describing.set(model, running);
    }
    return running;
  }

  private async fetchDescription(
    model: RiskModelName,
    known: ModelDescription | undefined,
  ): Promise<{ description: ModelDescription; reachable: boolean }> {
    try {
      const metadata = await this.o.breaker.run(() => this.o.client.metadata(model));
      const description = toDescription(model, metadata);
      this.descriptions.set(model, { description, fetchedAt: Date.now() });
      await this.o.cache
        .setMany([{ key: metadataKey(model), value: JSON.stringify(description), ttlMs: METADATA_RETAIN_MS }])
        .catch(() => undefined);
      return { description, reachable: true };
    } catch (error) {
      if (error instanceof ModelServerError && error.isClientError) {
        throw new MlUnavailableError(`Model ${model} is not served`);
      }
      if (known) return { description: known, reachable: false };
      const [shared] = await this.o.cache.mget([metadataKey(model)]).catch(() => [null]);
      if (shared) return { description: JSON.parse(shared) as ModelDescription, reachable: false };
      throw new MlUnavailableError();
    }
  }

  /** The description of `model` this pod holds, however old; undefined before the first. */
  known(model: RiskModelName): ModelDescription | undefined {
    return this.descriptions.get(model)?.description;
  }

  /**
   * The entry for `key` if this pod holds it fresh, as a `CACHE` answer; else null (the caller
   * goes through {@link assess}). No round trip, no batch: the cached read's whole engine part.
   */
  freshHeld(key: string): Assessment | null {
    const held = this.local.get(key);
    if (!held || Date.now() - held.entry.computedAt >= this.o.freshMs) return null;
    this.hits.inc();
    return { ...held.entry, source: 'CACHE' };
  }

  /** The cache key of a request under the model version this pod knows; null before it knows one. */
  knownKey(model: RiskModelName, row: InputRow): string | null {
    const description = this.known(model);
    return description ? assessmentKey(model, description.version, row) : null;
  }

  /**
   * Assesses a batch (one per patient, in order): one cache MGET for all, then at most one model
   * call per model for the misses. Each result is an assessment or the error for that patient.
   * Keys in `alreadyRead` (values just read from the shared cache) are not read again.
   */
  async assess(
    requests: readonly AssessmentRequest[],
    alreadyRead?: ReadonlyMap<string, string | null>,
  ): Promise<(Assessment | AppError)[]> {
    const results: (Assessment | AppError | undefined)[] = new Array(requests.length);
    const models = [...new Set(requests.map((r) => r.model))];
    const described = await Promise.all(models.map((m) => this.describe(m).catch((error: AppError) => error)));
    const descriptions = new Map(models.map((m, i) => [m, described[i]]));

    const keys = requests.map((r) => {
      const d = descriptions.get(r.model);
      return d && !(d instanceof Error) ? assessmentKey(r.model, d.description.version, r.row) : null;
    });
    const cached = await this.readCache(keys, alreadyRead);
    const now = Date.now();
    const pending: { index: number; key: string; stale: CachedAssessment | null }[] = [];
    requests.forEach((request, index) => {
      const description = descriptions.get(request.model);
      const key = keys[index];
      if (description instanceof Error || !key) {
        results[index] = description instanceof Error ? description : new MlUnavailableError();
        return;
      }
      const entry = cached[index] ?? this.recent.get(key) ?? null;
      if (entry && now - entry.computedAt < this.o.freshMs) {
        this.hits.inc();
        results[index] = { ...entry, source: 'CACHE' };
        return;
      }
      this.o.metrics.cacheLookups.inc({ cache: 'assessment', result: entry ? 'stale' : 'miss' });
      pending.push({ index, key, stale: entry });
    });

    // While the breaker is open every call would be refused at once: answer now from what the
    // cache read found, without the refused attempt's Error, promise chain and in-flight entry per
    // request (the breaker-open path had cost 40 % more pod CPU than a cached hit). Half-open lets
    // its trial call through below, as before.
    if (pending.length > 0 && this.o.breaker.state === 'open') {
      for (const { index, stale } of pending) {
        results[index] = stale ? { ...stale, source: 'STALE_CACHE' } : new MlUnavailableError();
      }
      this.o.breaker.skipped(pending.length);
      return results as (Assessment | AppError)[];
    }

    // A model whose metadata could not be read from the server is failing: do not call it again now.
    const computable = pending.filter(({ index }) => {
      const d = descriptions.get((requests[index] as AssessmentRequest).model);
      return d && !(d instanceof Error) && d.reachable;
    });
    const computed = this.compute(
      computable.map(({ index, key }) => {
        const request = requests[index] as AssessmentRequest;
        const d = descriptions.get(request.model) as { description: ModelDescription };
        return { key, request, description: d.description };
      }),
    );
    await Promise.all(
      pending.map(async ({ index, key, stale }) => {
        try {
          const running = computed.get(key);
          if (!running) throw new MlUnavailableError();
          results[index] = { ...(await running), source: 'LIVE' };
        } catch (error) {
          if (error instanceof BadUserInputError) results[index] = error;
          else if (stale) results[index] = { ...stale, source: 'STALE_CACHE' };
          else results[index] = new MlUnavailableError();
        }
      }),
    );
    return results as (Assessment | AppError)[];
  }

  /**
   * The shared cache's entry for each key. An entry this pod already holds answers without a
   * round trip while it is fresh: keys are content-addressed (model, model version, digest of the
   * inputs), so an entry is right for its key whichever pod read it, and when. A stale one is read
   * again (another pod may have recomputed it) — unless the breaker is open and it was read within
   * {@link STALE_RECHECK_MS}: it would be answered stale either way.
   */
  private async readCache(
    keys: readonly (string | null)[],
    alreadyRead: ReadonlyMap<string, string | null> | undefined,
  ): Promise<(CachedAssessment | null)[]> {
    const now = Date.now();
    const open = this.o.breaker.state === 'open';
    const out: (CachedAssessment | null)[] = keys.map(() => null);
    const toRead: string[] = [];
    const readIndex: number[] = [];
    keys.forEach((key, i) => {
      if (key === null) return;
      if (alreadyRead?.has(key)) {
        out[i] = this.keep(key, alreadyRead.get(key) ?? null, now);
        return;
      }
      const held = this.local.get(key);
      if (held && (now - held.entry.computedAt < this.o.freshMs || (open && now - held.readAt < STALE_RECHECK_MS))) {
        out[i] = held.entry;
        return;
      }
      toRead.push(key);
      readIndex.push(i);
    });
    if (toRead.length === 0) return out;
    try {
      const values = await this.o.cache.mget(toRead);
      const at = Date.now();
      toRead.forEach((key, j) => {
        out[readIndex[j] as number] = this.keep(key, values[j] ?? null, at);
      });
    } catch (error) {
      // A cache outage degrades to computing; it must not fail the request.
      this.o.metrics.cacheLookups.inc({ cache: 'assessment', result: 'error' }, toRead.length);
      this.o.logger.warn(errorFields(error), 'assessment cache read failed');
    }
    return out;
  }

  /** Parses an entry read from the shared cache and keeps it in this pod's memory. */
  private keep(key: string, raw: string | null, readAt: number): CachedAssessment | null {
    if (!raw) return null;
    const entry = JSON.parse(raw) as CachedAssessment;
    this.local.set(key, { entry, readAt });
    return entry;
  }

  /**
   * Starts (or joins) the model calls for the given keys: one batched call per model for the keys
   * no call of this pod is already computing. Returns a promise per key.
   */
  private compute(
    items: readonly { key: string; request: AssessmentRequest; description: ModelDescription }[],
  ): Map<string, Promise<CachedAssessment>> {
    const promises = new Map<string, Promise<CachedAssessment>>();
    const fresh = new Map<RiskModelName, { description: ModelDescription; batch: { key: string; row: InputRow }[] }>();
    for (const { key, request, description } of items) {
      const running = this.inFlight.get(key);
      if (running) {
        promises.set(key, running);
        continue;
      }
      const group = fresh.get(request.model) ?? { description, batch: [] };
      if (!group.batch.some((i) => i.key === key)) group.batch.push({ key, row: request.row });
      fresh.set(request.model, group);
    }
    for (const [model, { description, batch }] of fresh) {
      const call = this.computeShared(model, description, batch);
      batch.forEach(({ key }, i) => {
        const one = call.then((rows) => {
          const row = rows[i];
          if (row instanceof Error) throw row;
          return row as CachedAssessment;
        });
        this.inFlight.set(key, one);
        one.then(
          (entry) => {
            this.local.set(key, { entry, readAt: Date.now() });
            // A request whose MGET was answered just before this result's SET finds it here.
            this.recent.set(key, entry);
            setTimeout(() => this.recent.get(key) === entry && this.recent.delete(key), RECENT_MS).unref();
          },
          () => undefined,
        );
        void one.finally(() => this.inFlight.get(key) === one && this.inFlight.delete(key)).catch(() => undefined);
        promises.set(key, one);
      });
    }
    return promises;
  }

  /**
   * The keys this pod claims, in one batched call; those another pod holds, from that pod's answer
   * in the shared cache. Each row is the result or the error for its key.
   */
  private async computeShared(
    model: RiskModelName,
    description: ModelDescription,
    batch: readonly { key: string; row: InputRow }[],
  ): Promise<(CachedAssessment | Error)[]> {
    if (this.o.breaker.state !== 'closed') return this.inferBatch(model, description, batch);
    const token = randomUUID();
    const claims = batch.map(({ key }) => `${key}:computing`);
    const claimMs = this.o.claimMs ?? 5_000;
    // The shared cache unreachable: each pod computes for itself, as before there was a claim.
    const claimed = await this.o.cache.claim(claims, token, claimMs).catch(() => batch.map(() => true));
    const out: (CachedAssessment | Error)[] = new Array(batch.length);
    const mine = batch.map((_, i) => i).filter((i) => claimed[i]);
    const theirs = batch.map((_, i) => i).filter((i) => !claimed[i]);
    const ours = async () => {
      if (mine.length === 0) return;
      try {
        const rows = await this.inferBatch(
          model,
          description,
          mine.map((i) => batch[i] as { key: string; row: InputRow }),
        );
        mine.forEach((i, j) => {
          out[i] = rows[j] as CachedAssessment | Error;
        });
      } catch (error) {
        for (const i of mine) out[i] = error as Error;
      } finally {
        // After the answer is in the cache (inferRows wrote it), so waiters find it, not the claim's end.
        await this.o.cache
          .release(
            mine.map((i) => claims[i] as string),
            token,
          )
          .catch(() => undefined);
      }
    };
    await Promise.all([
      ours(),
      ...theirs.map(async (i) => {
        const item = batch[i] as { key: string; row: InputRow };
        out[i] = await this.awaitPeer(model, description, item, claims[i] as string, claimMs).catch(
          (error: Error) => error,
        );
      }),
    ]);
    return out;
  }

  /** Another pod's answer for `item`; computed here if that pod gives up, dies or takes too long. */
  private async awaitPeer(
    model: RiskModelName,
    description: ModelDescription,
    item: { key: string; row: InputRow },
    claim: string,
    claimMs: number,
  ): Promise<CachedAssessment | Error> {
    const deadline = Date.now() + claimMs;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, PEER_POLL_MS));
      const [raw, holder] = await this.o.cache.mget([item.key, claim]).catch(() => [null, null]);
      if (raw) {
        const entry = JSON.parse(raw) as CachedAssessment;
        if (Date.now() - entry.computedAt < this.o.freshMs) return entry;
      }
      if (!holder) break;
    }
    const [row] = await this.inferBatch(model, description, [item]);
    return row as CachedAssessment | Error;
  }

  /** One batched inference; a 4xx for a batch is retried row by row so one bad row fails alone. */
  private async inferBatch(
    model: RiskModelName,
    description: ModelDescription,
    batch: readonly { key: string; row: InputRow }[],
  ): Promise<(CachedAssessment | Error)[]> {
    try {
      return await this.inferRows(model, description, batch);
    } catch (error) {
      if (!(error instanceof ModelServerError && error.isClientError)) throw error;
      if (batch.length === 1)
        return [new BadUserInputError(`The ${model} model refused this patient's values: ${error.message}`)];
      return Promise.all(
        batch.map((item) =>
          this.inferRows(model, description, [item]).then(
            ([row]) => row as CachedAssessment,
            (e: unknown) =>
              e instanceof ModelServerError && e.isClientError
                ? new BadUserInputError(`The ${model} model refused this patient's values: ${e.message}`)
                : (e as Error),
          ),
        ),
      );
    }
  }

  private async inferRows(
    model: RiskModelName,
    description: ModelDescription,
    batch: readonly { key: string; row: InputRow }[],
  ): Promise<CachedAssessment[]> {
    const inputs = description.inputs.map((meta) =>
      columnInput(
        meta as InputContract,
        batch.map(({ row }) => row[meta.name] as number | boolean | string),
      ),
    );
    const started = performance.now();
    let outcome = 'error';
    try {
      const response = await this.o.breaker.run(() => this.o.client.infer(model, { inputs }));
      const answer = readRiskBatch(response);
      outcome = 'ok';
      const version = response.model_version ?? description.version;
      if (version !== description.version) this.descriptions.delete(model);
      const computedAt = Date.now();
      const entries = answer.rows.map(
        (row): CachedAssessment => ({
          model,
          modelVersion: version,
          score: row.score,
          riskLevel: row.riskLevel,
          factorKind: answer.factorKind,
          factors: row.factors.map((f) => [f.name, f.value]),
          computedAt,
        }),
      );
      // The key uses the version that actually answered, so an upgrade mid-flight is not mislabelled.
      await this.o.cache
        .setMany(
          entries.map((entry, i) => ({
            key: assessmentKey(model, version, (batch[i] as { row: InputRow }).row),
            value: JSON.stringify(entry),
            ttlMs: this.o.retainMs,
          })),
        )
        .catch((error: Error) => this.o.logger.warn(errorFields(error), 'assessment cache write failed'));
      return entries;
    } finally {
      this.o.metrics.modelCalls.observe({ model, outcome }, (performance.now() - started) / 1000);
    }
  }
}

function toDescription(model: string, metadata: ModelMetadata): ModelDescription {
  const version = metadata.versions?.at(-1);
  if (!version) throw new MlUnavailableError(`Model ${model} reports no version`);
  return { name: model, version, inputs: metadata.inputs };
}

export function assessmentKey(model: string, version: string, row: InputRow): string {
  return `assessment:${KEY_VERSION}:${model}:${version}:${rowDigest(row)}`;
}

const metadataKey = (model: string) => `model-metadata:${KEY_VERSION}:${model}`;
