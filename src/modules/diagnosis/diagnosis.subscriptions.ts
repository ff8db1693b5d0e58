/**
 * What a diagnosis subscription does between the schema and the live store: authorise each
 * delivery (token expiry, care-team removal pushed by pub/sub, a periodic re-check), feed states
 * in version order without duplicates, catch up after a Redis outage, audit the subscription,
 * trace each delivery in the trace of the change, and close at once when the client leaves.
 * The fields themselves are declared in diagnosis.graphql.ts.
 */
import { SpanKind } from '@opentelemetry/api';
import { NotFoundError, UnauthenticatedError } from '../../errors.js';
import type { Context } from '../../graphql/context.js';
import { openFeed } from '../../lib/feed.js';
import { AuditOutcome } from '../audit/audit-event.entity.js';
import { isUuid } from '../patient/patient.validation.js';
import { DiagnosisAudit } from './diagnosis.service.js';
import { type DiagnosisView, isTerminal } from './diagnosis.view.js';

/** Clocks of pods and workers may differ by this much; a resync looks back that far too. */
const RESYNC_SKEW_MS = 5_000;

/** How often a long-lived subscription asks the database again whether its patient is still visible. */
const RECHECK_MS = 5_000;

/**
 * Authorisation on every delivery: the token must still be valid, and the care-team decision is
 * re-read from the database at most every {@link RECHECK_MS} — or at once after `revoked()`,
 * which a care-team removal of the viewer calls (pushed by every pod's pub/sub, see
 * {@link accessFeed}).
 */
function deliveryGuard(ctx: Context, patientId: string): { check(): Promise<void>; revoked(): void } {
  let checkedAt = Date.now();
  let revoked = false;
  return {
    revoked: () => {
      revoked = true;
    },
    check: async () => {
      if (ctx.viewer.expiresAt <= Date.now()) throw new UnauthenticatedError('Token expired');
      if (!revoked && Date.now() - checkedAt < RECHECK_MS) return;
      if (!(await ctx.patients.stillVisible(patientId))) throw new NotFoundError('Diagnosis');
      revoked = false;
      checkedAt = Date.now();
    },
  };
}

/** Put into a subscription's feed when the viewer was removed from the patient's care team. */
const ACCESS_REVOKED = Symbol('access revoked');

/**
 * One feed of a channel's diagnosis states and of the viewer's removals from the patient's care
 * team, in the order the pub/sub delivered them (both come over one Redis connection, in publish
 * order). A removal marks the guard before anything after it is read, so a change published after
 * the removal is never delivered; the marker wakes an idle subscription so that it ends at once.
 * After a Redis outage, removals announced meanwhile were lost like any message: access is
 * checked again before the states `onResync` re-reads are delivered.
 */
function accessFeed(
  ctx: Context,
  channel: string,
  patientId: string,
  guard: { revoked(): void },
  { onResync }: { onResync: (push: (view: DiagnosisView) => void) => void },
) {
  const live = ctx.diagnoses.feed;
  return openFeed<DiagnosisView | typeof ACCESS_REVOKED>(async (push) => {
    const revoked = () => {
      guard.revoked();
      push(ACCESS_REVOKED);
    };
    const stopAccess = await ctx.patients.watchAccess(patientId, revoked);
    // After an outage: access is checked again before the re-read is delivered (the flag, at
    // once; `watchAccess`'s own resync wakes an idle subscription to check).
    const stopViews = await live
      .listen(channel, push, () => {
        guard.revoked();
        onResync(push);
      })
      .catch(async (error: unknown) => {
        await stopAccess();
        throw error;
      });
    return async () => {
      await Promise.all([stopViews(), stopAccess()]);
    };
  });
}

export type OnClose = (close: () => Promise<void>) => void;

/** Starts the span of one state's delivery; the caller ends it when the subscriber has it. */
export type Deliver = (view: DiagnosisView) => { end(): void };
const NOT_TRACED = { end: () => undefined };

/**
 * Each state a subscription yields is a small `diagnosis.deliver` span in the trace of the change
 * that produced it (the worker's, or the request's: its `traceparent`), linked to the
 * subscription's own operation span — so one trace shows request → job → result on any pod.
 * Called while the subscription's operation span is active.
 */
export function deliveries(ctx: Context, field: string): Deliver {
  const tracing = ctx.diagnoses.tracing;
  if (!tracing.enabled) return () => NOT_TRACED;
  const subscription = tracing.carrier();
  return (view) =>
    tracing.startSpan('diagnosis.deliver', {
      kind: SpanKind.CONSUMER,
      parent: view.traceparent ? { traceparent: view.traceparent } : subscription,
      links: view.traceparent ? [subscription] : [],
      attributes: {
        'graphql.field.name': field,
        'diagnosis.id': view.id,
        'diagnosis.status': view.status,
        'diagnosis.version': view.version,
      },
    });
}

/**
 * An async generator whose `return()` takes effect at once. A generator suspended on an `await`
 * (here: waiting for the next published event) only handles `return()` when it next yields — so a
 * client leaving a quiet subscription would leave its Redis subscription behind. The wrapper
 * first closes the feed the generator is waiting on, which ends its loop and runs its `finally`.
 */
export function closable<T>(make: (onClose: OnClose) => AsyncGenerator<T>): AsyncIterableIterator<T> {
  const closers: (() => Promise<void>)[] = [];
  const generator = make((close) => closers.push(close));
  const closeAll = () => Promise.all(closers.map((close) => close()));
  const iterator: AsyncIterableIterator<T> = {
    next: () => generator.next(),
    return: async (value?: unknown) => {
      await closeAll();
      return generator.return(value as T);
    },
    throw: async (error?: unknown) => {
      await closeAll();
      return generator.throw(error);
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

/**
 * The current state first, then every newer state in version order, ending after a terminal one.
 * Subscribes before reading the current state, so nothing published in between is missed;
 * anything not newer than what was already sent is dropped, so the client sees no duplicates.
 */
export async function* diagnosisUpdates(
  ctx: Context,
  id: string,
  onClose: OnClose,
  deliver: Deliver,
): AsyncGenerator<DiagnosisView> {
  const first = await ctx.diagnoses.current(id);
  if (!first) {
    // A refused subscription is audited too, against the diagnosis' patient when it exists.
    await refuseSubscription(ctx, await ctx.diagnoses.patientOf(id));
    throw new NotFoundError('Diagnosis');
  }
  ctx.audit.record({ action: 'R', patientId: first.patientId, subtype: DiagnosisAudit.subscribe });
  await ctx.audit.flush();
  const guard = deliveryGuard(ctx, first.patientId);
  // After a Redis outage, the current state is read again and goes through the same feed: the
  // loop below delivers it only if it is newer than what the client has.
  const feed = await accessFeed(ctx, ctx.diagnoses.feed.channelOfDiagnosis(first.id), first.patientId, guard, {
    onResync: (push) => {
      void ctx.diagnoses.reread(first.id).then(
        (view) => view && push(view),
        () => undefined,
      );
    },
  });
  onClose(feed.close);
  try {
    // Asked again now that removals are heard: one that landed before could not be announced to us.
    if (!(await ctx.patients.stillVisible(first.patientId))) throw new NotFoundError('Diagnosis');
    let sent = (await ctx.diagnoses.current(id)) ?? first;
    const delivery = deliver(sent);
    try {
      yield sent;
    } finally {
      delivery.end();
    }
    if (isTerminal(sent)) return;
    for await (const view of feed) {
      if (view === ACCESS_REVOKED) {
        await guard.check();
        continue;
      }
      if (view.version <= sent.version) continue;
      await guard.check();
      sent = view;
      const delivery = deliver(view);
      try {
        yield view;
      } finally {
        delivery.end();
      }
      if (isTerminal(view)) return;
    }
  } finally {
    await feed.close();
  }
}

/**
 * Writes the audit row of a refused subscription before the refusal is thrown: a subscription has
 * no end of operation at which reads are flushed, and this one never delivers an event.
 */
async function refuseSubscription(ctx: Context, patientId: string | null): Promise<void> {
  ctx.audit.record({ action: 'R', patientId, subtype: DiagnosisAudit.subscribe, outcome: AuditOutcome.MinorFailure });
  await ctx.audit.flush();
}

/** Every change of every diagnosis of one patient; stays open. */
export async function* patientDiagnosisUpdates(
  ctx: Context,
  patientId: string,
  onClose: OnClose,
  deliver: Deliver,
): AsyncGenerator<DiagnosisView> {
  const patient = await ctx.patients.visibleOrNull(patientId);
  if (!patient) {
    await refuseSubscription(ctx, isUuid(patientId) ? patientId.toLowerCase() : null);
    throw new NotFoundError('Patient');
  }
  ctx.audit.record({ action: 'R', patientId: patient.id, subtype: DiagnosisAudit.subscribe });
  await ctx.audit.flush();
  const guard = deliveryGuard(ctx, patient.id);
  // After a Redis outage: every diagnosis of the patient that changed since the subscription began
  // (a margin for clock skew between pods), through the same feed and its version filter.
  const since = Date.now() - RESYNC_SKEW_MS;
  const feed = await accessFeed(ctx, ctx.diagnoses.feed.channelOfPatient(patient.id), patient.id, guard, {
    onResync: (push) => {
      void ctx.diagnoses.changedSince(patient.id, since).then(
        (views) => {
          for (const view of views) push(view);
        },
        () => undefined,
      );
    },
  });
  onClose(feed.close);
  const latest = new Map<string, number>();
  try {
    // Asked again now that removals are heard: one that landed before could not be announced to us.
    if (!(await ctx.patients.stillVisible(patient.id))) throw new NotFoundError('Patient');
    for await (const view of feed) {
      if (view === ACCESS_REVOKED) {
        await guard.check();
        continue;
      }
      if ((latest.get(view.id) ?? 0) >= view.version) continue;
      await guard.check();
      latest.set(view.id, view.version);
      const delivery = deliver(view);
      try {
        yield view;
      } finally {
        delivery.end();
      }
    }
  } finally {
    await feed.close();
  }
}
