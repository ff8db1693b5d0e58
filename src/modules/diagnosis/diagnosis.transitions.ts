import type { EntityManager } from '@mikro-orm/postgresql';
import type { DiagnosisStatus } from './diagnosis.entity.js';
import type { ChangeResult, LiveStateWriter, Patch, Precondition } from './diagnosis.live.js';
import { type InvalidResultError, partialTextTooLong, validResult } from './diagnosis.result.js';
import { persistProgress, persistView } from './diagnosis.store.js';
import { type DiagnosisView, isTerminal, newest, type ReviewView } from './diagnosis.view.js';

/**
 * The diagnosis lifecycle: every way a diagnosis may change, used by the API (cancel) and the
 * worker (claim, progress, complete, retry, fail, requeue) alike.
 *
 * Each transition is
 * 1. a precondition — the statuses it may start from, and for a worker's own changes the attempt
 *    (and version) it holds;
 * 2. a Redis step — one compare-and-set in the live store that checks the precondition, applies the
 *    patch, bumps `version` and stores the new state;
 * 3. its event — published by that same atomic step on the diagnosis' and the patient's channels,
 *    so publication order is version order and two writers (a worker's progress, a clinician's
 *    cancel) cannot both win;
 * 4. a Postgres step — the new state written to the durable record (forward-only, see
 *    {@link persistView}), for every status transition; for progress only its version and fields,
 *    best effort and with no history row ({@link persistProgress}), so that a live copy lost with
 *    a Redis restart is seeded again above every version subscribers already saw.
 *
 * The live store decides every race; Postgres follows it. A refused change that found the diagnosis
 * already terminal writes that terminal state to Postgres too: if whoever made it crashed between
 * its two steps, the next one to look repairs the record.
 */

/** The shape of one transition (see {@link TRANSITIONS}). */
export interface Transition {
  /** The statuses it may start from. */
  readonly from: readonly DiagnosisStatus[];
  /** The status it ends in; null keeps the status (progress). */
  readonly to: DiagnosisStatus | null;
  /**
   * Whose change it is. `attempt`: only the worker attempt that holds the job (same `attempts`),
   * so a worker presumed dead — its job redelivered to another — cannot finish it. `attempt+version`:
   * besides, nothing else may have changed it since that worker's last write (progress must not
   * overwrite a newer state). `anyone`: a clinician, or a worker claiming the job.
   */
  readonly owner: 'anyone' | 'attempt' | 'attempt+version';
  /** Written to Postgres (a status transition, kept in the history) or only live (progress). */
  readonly durable: boolean;
  /** Only before a clinician's sign-off (which happens once). */
  readonly unreviewed?: true;
}

/**
 * Every transition of a diagnosis. `anyone`'s transitions start from the durable state when the
 * live copy is gone (expired after a day, or never written); an attempt's own changes never
 * recreate a live state that vanished under it.
 */
export const TRANSITIONS = {
  /** A worker starts an attempt: from QUEUED, or from RUNNING when the previous worker died. */
  claim: { from: ['QUEUED', 'RUNNING'], to: 'RUNNING', owner: 'anyone', durable: true },
  /** The model's text and progress so far. */
  progress: { from: ['RUNNING'], to: null, owner: 'attempt+version', durable: false },
  /** The model's valid answer. */
  complete: { from: ['RUNNING'], to: 'COMPLETED', owner: 'attempt', durable: true },
  /** A failed attempt with attempts left: back in the queue, the error visible. */
  retry: { from: ['RUNNING'], to: 'QUEUED', owner: 'attempt', durable: true },
  /** The last attempt failed. */
  fail: { from: ['RUNNING'], to: 'FAILED', owner: 'attempt', durable: true },
  /** The worker is shutting down: the job goes back for another, no attempt spent on a failure. */
  requeue: { from: ['RUNNING'], to: 'QUEUED', owner: 'attempt', durable: true },
  /** A clinician cancels: the worker stops the model call and never completes it later. */
  cancel: { from: ['QUEUED', 'RUNNING'], to: 'CANCELLED', owner: 'anyone', durable: true },
  /**
   * A clinician signs off a COMPLETED diagnosis, once: ACCEPTED, AMENDED or REJECTED. The status
   * stays COMPLETED and the model's result is untouched; the review is added beside it.
   */
  review: { from: ['COMPLETED'], to: null, owner: 'anyone', durable: true, unreviewed: true },
} as const satisfies Record<string, Transition>;

export type TransitionName = keyof typeof TRANSITIONS;

/** The Postgres step: writes a state to the durable record, forward-only. */
export interface DurableRecord {
  /** True when the record moved to this state; false when it already was there or beyond. */
  persist(view: DiagnosisView): Promise<boolean>;
  /** Keeps the record's version up with a live-only change (progress); no history row. */
  keepUp?(view: DiagnosisView): Promise<void>;
}

/** The durable record in Postgres, through one operation's EntityManager. */
export function postgresRecord(em: EntityManager): DurableRecord {
  return { persist: (view) => persistView(em, view), keepUp: (view) => persistProgress(em, view) };
}

/** Fields of a change that only tie it to a trace (see {@link DiagnosisView.traceparent}). */
export type Traced = Pick<DiagnosisView, 'traceparent'>;

/**
 * The lifecycle over one live store and one durable record. Every method answers the live store's
 * verdict: `applied` with the new state, or refused with the state that refused it (null when the
 * live store has none and the transition may not start from the durable one).
 */
export class DiagnosisLifecycle {
  constructor(
    private readonly live: LiveStateWriter,
    private readonly record: DurableRecord,
  ) {}

  /** The newest state of a diagnosis: its live copy, or the durable one when that is newer or the copy is gone. */
  async current(durable: DiagnosisView): Promise<DiagnosisView> {
    const [live] = await this.live.get([durable.id]);
    return newest(live ?? null, durable) as DiagnosisView;
  }

  /** The live copy alone (null when gone): what a worker checks to learn whether the job is still its own. */
  async liveState(id: string): Promise<DiagnosisView | null> {
    const [live] = await this.live.get([id]);
    return live ?? null;
  }

  /**
   * Makes Postgres agree with a terminal state seen in the live store (a duplicate delivery, or a
   * crash between the two steps of whoever ended it). Nothing to do for a state that is not terminal.
   */
  async settle(view: DiagnosisView): Promise<void> {
    if (isTerminal(view)) await this.record.persist(view);
  }

  /** A worker starts an attempt of `state` (the newest known): `attempts` + 1, text and error cleared. */
  claim(state: DiagnosisView, traced: Traced = {}): Promise<ChangeResult> {
    return this.apply('claim', state, {
      attempts: state.attempts + 1,
      stage: 'starting',
      progress: 0,
      partialText: null,
      error: null,
      ...traced,
    });
  }

  /** The attempt `mine` reports its progress, stage and text so far. */
  progress(
    mine: DiagnosisView,
    fields: { progress: number; stage: string; partialText: string },
  ): Promise<ChangeResult> {
    return this.apply('progress', mine, fields);
  }

  /**
   * The attempt `mine` completes with its answer — if the answer is a valid result. Otherwise it
   * throws {@link InvalidResultError} before anything changes: the caller fails the attempt, since
   * nothing the result schema refuses may ever be COMPLETED.
   */
  async complete(mine: DiagnosisView, fields: { result: unknown; partialText: string }): Promise<ChangeResult> {
    const result = validResult(fields.result);
    const tooLong = partialTextTooLong(fields.partialText.length);
    if (tooLong) throw tooLong;
    return this.apply('complete', mine, {
      progress: 1,
      stage: 'completed',
      partialText: fields.partialText,
      resultJson: JSON.stringify(result),
      completedAt: Date.now(),
    });
  }

  /** The attempt `mine` failed and the job will be delivered again (`attempt` of `maxAttempts` failed). */
  retry(mine: DiagnosisView, fields: { error: string; attempt: number; maxAttempts: number }): Promise<ChangeResult> {
    return this.apply('retry', mine, {
      stage: `retrying (attempt ${fields.attempt} of ${fields.maxAttempts} failed)`,
      error: fields.error,
    });
  }

  /** The attempt `mine` failed and was the last one. */
  fail(mine: DiagnosisView, fields: { error: string }): Promise<ChangeResult> {
    return this.apply('fail', mine, { stage: 'failed', error: fields.error, completedAt: Date.now() });
  }

  /** The attempt `mine` hands the job back because its worker is shutting down. */
  requeue(mine: DiagnosisView): Promise<ChangeResult> {
    return this.apply('requeue', mine, { stage: 'requeued: worker shutting down' });
  }

  /** A clinician cancels `durable` (the durable state; the live one decides if newer). */
  cancel(durable: DiagnosisView, traced: Traced = {}): Promise<ChangeResult> {
    return this.apply('cancel', durable, { stage: 'cancelled', completedAt: Date.now(), ...traced });
  }

  /** A clinician signs off `durable` (the durable state; the live one decides if newer). */
  review(durable: DiagnosisView, review: ReviewView, traced: Traced = {}): Promise<ChangeResult> {
    return this.apply('review', durable, { review, ...traced });
  }

  private async apply(name: TransitionName, base: DiagnosisView, patch: Patch): Promise<ChangeResult> {
    const transition: Transition = TRANSITIONS[name];
    const precondition: Precondition = {
      statusIn: [...transition.from],
      ...(transition.owner === 'anyone' ? {} : { attempts: base.attempts }),
      ...(transition.owner === 'attempt+version' ? { version: base.version } : {}),
      ...(transition.unreviewed ? { unreviewed: true as const } : {}),
    };
    const change = await this.live.change(
      base.id,
      precondition,
      transition.to ? { ...patch, status: transition.to } : patch,
      transition.owner === 'anyone' ? base : null,
    );
    if (change.applied) {
      if (transition.durable) await this.record.persist(change.view);
      // Best effort: a missed write only widens the window it closes (a Redis restart right then).
      else await this.record.keepUp?.(change.view).catch(() => undefined);
    } else if (change.current) {
      await this.settle(change.current);
    }
    return change;
  }
}
