import type { EntityManager } from '@mikro-orm/postgresql';
import { type DiagnosisView, reportStatusOf } from './diagnosis.view.js';

/**
 * Writes a live state to the durable record and appends it to the diagnosis' transition history,
 * in one statement. Only ever moves forward (`version` guard), so a late or repeated write — a
 * retry, a reconciliation after a crash — can never roll a diagnosis back or record a transition
 * twice. The Postgres step of every transition in diagnosis.transitions.ts. The history row keeps
 * the report's status with the status, so a sign-off (COMPLETED, FINAL) is told from the model's
 * completion (COMPLETED, PRELIMINARY).
 */
export async function persistView(em: EntityManager, view: DiagnosisView): Promise<boolean> {
  const result = await em.getConnection().execute(
    `with u as (
       update diagnosis set status = ?, progress = ?, stage = ?, partial_text = ?, result = ?::jsonb, error = ?,
              attempts = ?, version = ?, updated_at = ?, completed_at = ?,
              review_decision = ?, reviewed_by_id = ?, review_note = ?, amended_summary = ?, reviewed_at = ?
        where id = ? and version < ?
        returning id, version, status, attempts, stage, error, updated_at)
     insert into diagnosis_transition (diagnosis_id, version, status, attempts, stage, error, report_status, at)
     select id, version, status, attempts, stage, error, ?, updated_at from u
     on conflict do nothing`,
    [
      view.status,
      view.progress,
      view.stage,
      view.partialText,
      view.resultJson,
      view.error,
      view.attempts,
      view.version,
      new Date(view.updatedAt),
      view.completedAt === null ? null : new Date(view.completedAt),
      view.review?.decision ?? null,
      view.review?.reviewerId ?? null,
      view.review?.note ?? null,
      view.review?.amendedSummary ?? null,
      view.review ? new Date(view.review.reviewedAt) : null,
      view.id,
      view.version,
      reportStatusOf(view),
    ],
    'run',
  );
  return (result as { affectedRows?: number }).affectedRows === 1;
}

/**
 * Writes a progress change (the status unchanged) to the durable record, with no transition row
 * (the history records transitions, not every coalesced progress tick). It keeps Postgres' version
 * up with every version published: if Redis loses its copy (a restart without persistence), the
 * next change is seeded from Postgres and numbered after everything subscribers already saw — never
 * below it, where their version filter would drop it, terminal state and all.
 */
export async function persistProgress(em: EntityManager, view: DiagnosisView): Promise<void> {
  await em
    .getConnection()
    .execute(
      'update diagnosis set progress = ?, stage = ?, partial_text = ?, version = ?, updated_at = ? where id = ? and version < ?',
      [view.progress, view.stage, view.partialText, view.version, new Date(view.updatedAt), view.id, view.version],
      'run',
    );
}
