import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIAGNOSIS_STATUSES, type DiagnosisStatus } from './diagnosis.entity.js';
import type { ChangeResult, LiveStateFeed, LiveStateWriter } from './diagnosis.live.js';
import { DiagnosisLifecycle, type DurableRecord, TRANSITIONS, type TransitionName } from './diagnosis.transitions.js';
import type { DiagnosisView } from './diagnosis.view.js';

/**
 * The state machine's cases, run on every live store (the in-memory one in a unit test, Redis in
 * an integration test): the same verdicts from both is what lets `npm start` stand in for the
 * deployed stack.
 */

/** The durable record as the lifecycle sees it: forward-only, like Postgres' `version <` guard. */
class RecordedStates implements DurableRecord {
  readonly rows = new Map<string, DiagnosisView>();
  readonly writes: DiagnosisView[] = [];
  async persist(view: DiagnosisView): Promise<boolean> {
    const row = this.rows.get(view.id);
    if (row && row.version >= view.version) return false;
    this.rows.set(view.id, view);
    this.writes.push(view);
    return true;
  }
}

function queued(overrides: Partial<DiagnosisView> = {}): DiagnosisView {
  const now = Date.now();
  return {
    id: randomUUID(),
    patientId: randomUUID(),
    requestedById: 'dr-lifecycle',
    status: 'QUEUED',
    progress: 0,
    stage: null,
    partialText: null,
    resultJson: null,
    error: null,
    attempts: 0,
    version: 1,
    createdAt: now,
    updatedAt: now,
    completedAt: null,
    ...overrides,
  };
}

const RESULT = {
  summary: 'Possible pneumonia.',
  differentials: [{ condition: 'Pneumonia', likelihood: 0.6, rationale: 'fever, cough' }],
  provider: 'rules',
  model: 'm',
};

const REVIEW = {
  decision: 'AMENDED' as const,
  reviewerId: 'dr-reviewer',
  note: 'checked',
  amendedSummary: 'Pneumonia likely; chest X-ray ordered.',
  reviewedAt: 1_764_000_000_000,
};

/** Runs one transition by name on `base`, with arguments that are valid for it. */
function run(lifecycle: DiagnosisLifecycle, name: TransitionName, base: DiagnosisView): Promise<ChangeResult> {
  switch (name) {
    case 'claim':
      return lifecycle.claim(base);
    case 'progress':
      return lifecycle.progress(base, { progress: 0.5, stage: 'writing', partialText: 'so far' });
    case 'complete':
      return lifecycle.complete(base, { result: RESULT, partialText: 'all' });
    case 'retry':
      return lifecycle.retry(base, { error: 'boom', attempt: 1, maxAttempts: 5 });
    case 'fail':
      return lifecycle.fail(base, { error: 'boom' });
    case 'requeue':
      return lifecycle.requeue(base);
    case 'cancel':
      return lifecycle.cancel(base);
    case 'review':
      return lifecycle.review(base, REVIEW);
  }
}

export interface LiveStoreUnderTest {
  store: LiveStateWriter & LiveStateFeed;
  close(): Promise<void>;
}

/** Registers the lifecycle's cases against the live store `open` makes (one per test). */
export function lifecycleCases(label: string, open: () => Promise<LiveStoreUnderTest>): void {
  describe(`the diagnosis lifecycle on ${label}`, () => {
    let under: LiveStoreUnderTest;
    let record: RecordedStates;
    let lifecycle: DiagnosisLifecycle;
    beforeEach(async () => {
      under = await open();
      record = new RecordedStates();
      lifecycle = new DiagnosisLifecycle(under.store, record);
    });
    afterEach(() => under.close());

    /** A diagnosis in `status`, live and durable, as its attempt 1 holds it. */
    async function inStatus(status: DiagnosisStatus): Promise<DiagnosisView> {
      const base = queued({ status, attempts: status === 'QUEUED' ? 0 : 1 });
      await under.store.announce(base);
      await record.persist(base);
      return base;
    }

    const names = Object.keys(TRANSITIONS) as TransitionName[];
    const cases = names.flatMap((name) => DIAGNOSIS_STATUSES.map((status) => [name, status] as const));
    it.each(cases)('%s from %s: applies exactly when the table allows it', async (name, status) => {
      const transition = TRANSITIONS[name];
      const base = await inStatus(status);
      const change = await run(lifecycle, name, base);
      const allowed = (transition.from as readonly DiagnosisStatus[]).includes(status);
      expect(change.applied).toBe(allowed);
      const [live] = await under.store.get([base.id]);
      if (change.applied) {
        expect(change.view).toMatchObject({ status: transition.to ?? status, version: base.version + 1 });
        expect(live).toEqual(change.view);
        // A status transition is durable; progress is live only.
        expect(record.rows.get(base.id)?.version).toBe(transition.durable ? change.view.version : base.version);
      } else {
        // Refused: nothing changed anywhere.
        expect(change.current).toEqual(base);
        expect(live).toEqual(base);
        expect(record.rows.get(base.id)).toEqual(base);
      }
    });

    it('publishes each applied change once, on the diagnosis and the patient channel, in version order', async () => {
      const base = await inStatus('QUEUED');
      const byId: number[] = [];
      const byPatient: number[] = [];
      const stopId = await under.store.listen(under.store.channelOfDiagnosis(base.id), (v) => byId.push(v.version));
      const stopPatient = await under.store.listen(under.store.channelOfPatient(base.patientId), (v) =>
        byPatient.push(v.version),
      );
      try {
        const claim = await lifecycle.claim(base);
        if (!claim.applied) throw new Error('claim refused');
        const step = await lifecycle.progress(claim.view, { progress: 0.3, stage: 's', partialText: 't' });
        if (!step.applied) throw new Error('progress refused');
        expect((await lifecycle.cancel(base)).applied).toBe(true);
        expect((await lifecycle.complete(step.view, { result: RESULT, partialText: 't' })).applied).toBe(false);
        await expect.poll(() => byPatient.length, { timeout: 5_000 }).toBe(3);
        await expect.poll(() => byId.length, { timeout: 5_000 }).toBe(3);
        expect(byId).toEqual([2, 3, 4]);
        expect(byPatient).toEqual([2, 3, 4]);
      } finally {
        await stopId();
        await stopPatient();
      }
    });

    it('claims with a new attempt and clears the last attempt’s text and error', async () => {
      const base = await inStatus('QUEUED');
      const first = await lifecycle.claim(base);
      if (!first.applied) throw new Error('claim refused');
      const failed = await lifecycle.retry(first.view, { error: 'timeout', attempt: 1, maxAttempts: 3 });
      if (!failed.applied) throw new Error('retry refused');
      expect(failed.view).toMatchObject({ status: 'QUEUED', error: 'timeout', attempts: 1 });
      expect(failed.view.stage).toBe('retrying (attempt 1 of 3 failed)');
      const second = await lifecycle.claim(failed.view);
      if (!second.applied) throw new Error('second claim refused');
      expect(second.view).toMatchObject({
        status: 'RUNNING',
        attempts: 2,
        error: null,
        partialText: null,
        progress: 0,
      });
    });

    it('lets only the attempt holding the job finish it: one COMPLETED, never two', async () => {
      const base = await inStatus('QUEUED');
      const presumedDead = await lifecycle.claim(base);
      if (!presumedDead.applied) throw new Error('claim refused');
      // Its job is redelivered to another worker, which claims the RUNNING diagnosis again.
      const takeover = await lifecycle.claim(presumedDead.view);
      if (!takeover.applied) throw new Error('takeover refused');
      expect(takeover.view.attempts).toBe(2);
      for (const late of [
        () => lifecycle.progress(presumedDead.view, { progress: 0.9, stage: 's', partialText: 'late' }),
        () => lifecycle.complete(presumedDead.view, { result: RESULT, partialText: 'late' }),
        () => lifecycle.fail(presumedDead.view, { error: 'late' }),
        () => lifecycle.retry(presumedDead.view, { error: 'late', attempt: 1, maxAttempts: 5 }),
        () => lifecycle.requeue(presumedDead.view),
      ]) {
        const refused = await late();
        expect(refused.applied).toBe(false);
      }
      const done = await lifecycle.complete(takeover.view, { result: RESULT, partialText: 'all' });
      if (!done.applied) throw new Error('complete refused');
      expect(done.view).toMatchObject({
        status: 'COMPLETED',
        attempts: 2,
        progress: 1,
        completedAt: expect.any(Number),
      });
      expect(JSON.parse(done.view.resultJson ?? 'null')).toEqual(RESULT);
      expect(record.writes.filter((w) => w.status === 'COMPLETED')).toHaveLength(1);
    });

    it('refuses progress from a stale version, so it never overwrites a newer state', async () => {
      const base = await inStatus('QUEUED');
      const claim = await lifecycle.claim(base);
      if (!claim.applied) throw new Error('claim refused');
      const one = await lifecycle.progress(claim.view, { progress: 0.2, stage: 's', partialText: 'a' });
      expect(one.applied).toBe(true);
      const stale = await lifecycle.progress(claim.view, { progress: 0.1, stage: 's', partialText: '' });
      expect(stale.applied).toBe(false);
    });

    it('lets a cancel and a completion race: exactly one wins, and Postgres ends where the live store did', async () => {
      const base = await inStatus('QUEUED');
      const claim = await lifecycle.claim(base);
      if (!claim.applied) throw new Error('claim refused');
      const [cancel, complete] = await Promise.all([
        lifecycle.cancel(base),
        lifecycle.complete(claim.view, { result: RESULT, partialText: 'all' }),
      ]);
      expect([cancel.applied, complete.applied].filter(Boolean)).toHaveLength(1);
      const [live] = await under.store.get([base.id]);
      expect(['CANCELLED', 'COMPLETED']).toContain(live?.status);
      expect(record.rows.get(base.id)).toEqual(live);
    });

    it('starts a clinician’s or a claim’s change from the durable state when the live copy is gone', async () => {
      const durable = queued();
      await record.persist(durable);
      const cancelled = await lifecycle.cancel(durable);
      if (!cancelled.applied) throw new Error('cancel refused');
      expect(cancelled.view).toMatchObject({ status: 'CANCELLED', version: 2, stage: 'cancelled' });
      expect(record.rows.get(durable.id)?.status).toBe('CANCELLED');

      const other = queued();
      const claimed = await lifecycle.claim(other);
      expect(claimed.applied).toBe(true);
    });

    it('never lets an attempt recreate a live state that vanished under it', async () => {
      const gone = queued({ status: 'RUNNING', attempts: 1, version: 2 });
      await record.persist(gone);
      const done = await lifecycle.complete(gone, { result: RESULT, partialText: 'all' });
      expect(done).toEqual({ applied: false, current: null });
      expect(await under.store.get([gone.id])).toEqual([null]);
      expect(record.rows.get(gone.id)?.status).toBe('RUNNING');
    });

    it('takes one review of a COMPLETED diagnosis, beside its untouched result, and refuses a second', async () => {
      const base = await inStatus('QUEUED');
      const claim = await lifecycle.claim(base);
      if (!claim.applied) throw new Error('claim refused');
      const done = await lifecycle.complete(claim.view, { result: RESULT, partialText: 'all' });
      if (!done.applied) throw new Error('complete refused');
      const reviewed = await lifecycle.review(base, REVIEW);
      if (!reviewed.applied) throw new Error('review refused');
      expect(reviewed.view).toMatchObject({ status: 'COMPLETED', version: done.view.version + 1, review: REVIEW });
      expect(reviewed.view.resultJson).toBe(done.view.resultJson);
      expect(record.rows.get(base.id)).toEqual(reviewed.view);
      const again = await lifecycle.review(base, { ...REVIEW, decision: 'REJECTED', reviewerId: 'dr-other' });
      expect(again.applied).toBe(false);
      if (!again.applied) expect(again.current?.review).toEqual(REVIEW);
      // Two clinicians at the same moment: one sign-off.
      const other = await inStatus('COMPLETED');
      const both = await Promise.all([
        lifecycle.review(other, REVIEW),
        lifecycle.review(other, { ...REVIEW, decision: 'ACCEPTED', amendedSummary: null }),
      ]);
      expect(both.filter((c) => c.applied)).toHaveLength(1);
    });

    it('repairs Postgres when a change is refused by a terminal state Postgres has not recorded', async () => {
      const base = await inStatus('RUNNING');
      // A pod cancelled in the live store, then died before its Postgres step.
      const crashed = await under.store.change(
        base.id,
        { statusIn: ['RUNNING'] },
        { status: 'CANCELLED', stage: 'cancelled', completedAt: Date.now() },
        null,
      );
      if (!crashed.applied) throw new Error('cancel refused');
      expect(record.rows.get(base.id)?.status).toBe('RUNNING');
      const late = await lifecycle.complete(base, { result: RESULT, partialText: 'all' });
      expect(late.applied).toBe(false);
      expect(record.rows.get(base.id)).toEqual(crashed.view);

      const seen = await lifecycle.current(base);
      expect(seen).toEqual(crashed.view);
    });
  });
}
