import type { LiveStateWriter } from '../../src/modules/diagnosis/diagnosis.live.js';

/**
 * Takes a QUEUED diagnosis to RUNNING in the live store, as a worker claiming it would, and returns
 * a function that publishes one more change of it (a tiny progress step, through the same
 * compare-and-set + PUBLISH a worker runs) so the instant of each publish is known. `now` is the
 * clock the caller's receipts use.
 */
export async function claimForPublishing(
  live: LiveStateWriter,
  diagnosisId: string,
  now: () => number,
): Promise<() => Promise<{ sent: number; version: number }>> {
  const [seed] = await live.get([diagnosisId]);
  const claimed = await live.change(
    diagnosisId,
    { statusIn: ['QUEUED', 'RUNNING'] },
    { status: 'RUNNING', stage: 'bench' },
    seed ?? null,
  );
  if (!claimed.applied) throw new Error('could not claim the bench diagnosis');
  let progress = 0;
  return async () => {
    progress += 1e-6;
    const sent = now();
    const result = await live.change(diagnosisId, { statusIn: ['RUNNING'] }, { progress }, null);
    if (!result.applied) throw new Error('publish refused');
    return { sent, version: result.view.version };
  };
}
