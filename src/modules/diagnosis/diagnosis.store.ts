import type { EntityManager } from '@mikro-orm/postgresql';
import type { DiagnosisView } from './diagnosis.live.js';

/**
 * Writes a live state to the durable record and appends it to the diagnosis' transition history,
 * in one statement. Only ever moves forward (`version` guard), so a late or repeated write — a
 * retry, a reconciliation after a crash — can never roll a diagnosis back or record a transition
 * twice. Shared by the API (cancel) and the worker (every transition).
 */
export async function persistView(em: EntityManager, view: DiagnosisView): Promise<boolean> {
  const result = await em.getConnection().execute(
    `with u as (
       update diagnosis set status = ?, progress = ?, stage = ?, partial_text = ?, result = ?::jsonb, error = ?,
              attempts = ?, version = ?, updated_at = ?, completed_at = ?
        where id = ? and version < ?
        returning id, version, status, attempts, stage, error, updated_at)
     insert into diagnosis_transition (diagnosis_id, version, status, attempts, stage, error, at)
     select id, version, status, attempts, stage, error, updated_at from u
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
      view.id,
      view.version,
    ],
    'run',
  );
  return (result as { affectedRows?: number }).affectedRows === 1;
}

/** The newer of two states of one diagnosis (the live copy may be ahead of Postgres, or gone). */
export function newest(a: DiagnosisView | null, b: DiagnosisView | null): DiagnosisView | null {
  if (!a) return b;
  if (!b) return a;
  return a.version >= b.version ? a : b;
}
