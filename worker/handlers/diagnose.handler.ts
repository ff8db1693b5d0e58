import type { MikroORM } from '@mikro-orm/postgresql';
import type { JobMessage, JobQueue } from '../../src/jobs/queue.js';
import { ageInYears } from '../../src/lib/dates.js';
import type { Logger } from '../../src/lib/logger.js';
import { Diagnosis } from '../../src/modules/diagnosis/diagnosis.entity.js';
import type { LiveStateWriter } from '../../src/modules/diagnosis/diagnosis.live.js';
import { InvalidResultError, partialTextTooLong } from '../../src/modules/diagnosis/diagnosis.result.js';
import { DiagnosisLifecycle, postgresRecord } from '../../src/modules/diagnosis/diagnosis.transitions.js';
import { type DiagnosisView, isTerminal, viewOf } from '../../src/modules/diagnosis/diagnosis.view.js';
import { inputDigest } from '../llm/clinical-prompt.js';
import { identifierScrubber } from '../llm/deidentify.js';
import type { DiagnosisPrompt, DiagnosisProvider } from '../llm/provider.js';
import type { JobOutcome } from '../metrics.js';

export interface DiagnoseDeps {
  orm: MikroORM;
  live: LiveStateWriter;
  queue: JobQueue;
  provider: DiagnosisProvider;
  logger: Logger;
  maxDeliver: number;
  retryDelayMs: number;
  ackWaitMs: number;
  /** Progress and text are published at most this often (the contract: every 100–250 ms). */
  publishEveryMs?: number;
  /** Aborted when the worker shuts down: the job is then released (nak), not failed. */
  shutdown: AbortSignal;
}

/** The job was cancelled, or another worker took it over, while the model was working. */
class Superseded extends Error {}

/**
 * Runs one delivery of a diagnosis job.
 *
 * Every state change is a transition of {@link DiagnosisLifecycle}: the live store's
 * compare-and-set, then Postgres (forward-only). The claim bumps `attempts`; progress and completion require the
 * attempt and version this worker holds, so a worker that was presumed dead (its job redelivered
 * to another) or whose job was cancelled cannot publish or complete anything — one COMPLETED,
 * never two. A redelivered job whose diagnosis is already terminal is acknowledged and skipped.
 * Resolves to what the delivery came to (for `diagnosis_jobs_total`).
 */
export async function handleDiagnosisJob(message: JobMessage, deps: DiagnoseDeps): Promise<JobOutcome> {
  const { job, deliveryCount } = message;
  const log = deps.logger.child({ diagnosisId: job.diagnosisId, delivery: deliveryCount });
  if (deps.shutdown.aborted) {
    // Received while stopping: leave it to another worker.
    message.nak(0);
    return 'released';
  }
  const em = deps.orm.em.fork();
  const row = await em.findOne(Diagnosis, job.diagnosisId, { populate: ['patient'] });
  if (!row) {
    log.warn('job for an unknown diagnosis: dropped');
    message.ack();
    return 'skipped';
  }
  const lifecycle = new DiagnosisLifecycle(deps.live, postgresRecord(em));
  const state = await lifecycle.current(viewOf(row));
  if (isTerminal(state)) {
    // Already finished (a duplicate delivery, or a crash after the live write): make Postgres agree.
    await lifecycle.settle(state);
    message.ack();
    return 'skipped';
  }

  // Refused: cancelled or finished meanwhile (the lifecycle has brought Postgres in line).
  const claim = await lifecycle.claim(state);
  if (!claim.applied) {
    message.ack();
    return 'skipped';
  }
  let mine = claim.view;
  log.info({ attempt: mine.attempts }, 'diagnosis started');

  const abort = new AbortController();
  const onShutdown = () => abort.abort(deps.shutdown.reason);
  deps.shutdown.addEventListener('abort', onShutdown, { once: true });
  // The shutdown may have begun while the claim was being written: the listener came too late.
  if (deps.shutdown.aborted) onShutdown();
  let text = '';
  let progress = 0;
  let stage = 'starting';
  let dirty = false;
  let publishing: Promise<void> = Promise.resolve();

  /** Publishes the latest progress if it changed; a refused write means the job is no longer ours. */
  const publish = () => {
    if (!dirty) return publishing;
    dirty = false;
    // A failed publish (Redis away for a moment) must not stop the later ones: each chains on the
    // previous one's settling, not its success, and a failed one leaves the state to publish again.
    publishing = publishing
      .catch(() => undefined)
      .then(async () => {
        const result = await lifecycle
          .progress(mine, { progress, stage, partialText: text })
          .catch((error: unknown) => {
            dirty = true;
            throw error;
          });
        if (result.applied) mine = result.view;
        else abort.abort(new Superseded('superseded'));
      });
    return publishing;
  };
  const ticker = setInterval(() => void publish().catch(() => undefined), deps.publishEveryMs ?? 150);
  // Tell JetStream the job is alive well before its ack wait runs out.
  const heartbeat = setInterval(() => message.working(), Math.max(1_000, deps.ackWaitMs / 3));

  try {
    const patient = row.patient;
    // The clinician's free text may name the patient: only de-identified text leaves.
    const scrub = identifierScrubber(patient);
    const prompt: DiagnosisPrompt = {
      ageYears: ageInYears(patient.birthDate),
      sex: patient.sex,
      observations: patient.latestObservations,
      symptoms: row.symptoms.map(scrub),
      notes: row.notes === null ? null : scrub(row.notes),
    };
    const answer = await deps.provider.diagnose(
      prompt,
      {
        text: (delta) => {
          if (abort.signal.aborted) return;
          // An endless answer is stopped at the limit, not stored: the attempt has failed.
          const tooLong = partialTextTooLong(text.length + delta.length);
          if (tooLong) return abort.abort(tooLong);
          text += delta;
          dirty = true;
        },
        progress: (fraction, label) => {
          progress = Math.max(progress, Math.min(0.99, fraction));
          stage = label;
          dirty = true;
        },
      },
      abort.signal,
    );
    clearInterval(ticker);
    // Once more if the last tick's publish failed (it left the state dirty): a moment's outage
    // that is already over is not worth an attempt.
    await publish().catch(() => publish());
    if (abort.signal.aborted) throw abort.signal.reason;
    // Validated by the lifecycle against the result schema: an invalid answer throws, and fails the attempt.
    const result = {
      ...answer,
      providerVersion: deps.provider.version,
      ...(deps.provider.promptVersion ? { promptVersion: deps.provider.promptVersion } : {}),
      inputDigest: inputDigest(prompt),
    };
    const done = await lifecycle.complete(mine, { result, partialText: text });
    if (done.applied) log.info({ attempt: done.view.attempts }, 'diagnosis completed');
    message.ack();
    // Not applied: cancelled, or taken over by another worker, just before the result.
    return done.applied ? 'completed' : done.current?.status === 'CANCELLED' ? 'cancelled' : 'skipped';
  } catch (error) {
    clearInterval(ticker);
    await publishing.catch(() => undefined);
    // Not caught: with Redis away nothing can be decided (or recorded) here, and a store outage is
    // no failed attempt — the consumer holds the job until the store is back and runs it again.
    const current = await lifecycle.liveState(mine.id);
    if (current && (isTerminal(current) || current.attempts !== mine.attempts)) {
      // Cancelled, or taken over by another worker: nothing of ours to record.
      await lifecycle.settle(current);
      log.info({ status: current.status }, 'diagnosis stopped: no longer ours');
      message.ack();
      return current.status === 'CANCELLED' ? 'cancelled' : 'skipped';
    } else if (deps.shutdown.aborted) {
      // Shutting down: hand the job back at once for another worker.
      await lifecycle.requeue(mine);
      message.nak(0);
      return 'released';
    } else {
      // A provider that gave up on the abort reports that, not why: the answer that was too long.
      const reason = abort.signal.reason instanceof InvalidResultError ? abort.signal.reason : (error as Error);
      return await fail(message, deps, lifecycle, mine, reason, log);
    }
  } finally {
    clearInterval(ticker);
    clearInterval(heartbeat);
    deps.shutdown.removeEventListener('abort', onShutdown);
  }
}

/** A failed attempt: retried with backoff, or FAILED (with a dead-letter copy) on the last one. */
async function fail(
  message: JobMessage,
  deps: DiagnoseDeps,
  lifecycle: DiagnosisLifecycle,
  mine: DiagnosisView,
  error: Error,
  log: Logger,
): Promise<'failed' | 'retried'> {
  // The provider's message, never its input; shortened for the client.
  const reason = error.message.slice(0, 300) || 'the provider failed';
  const last = message.deliveryCount >= deps.maxDeliver;
  // The dead-letter copy is written before anyone can see FAILED (it is de-duplicated by id, so a
  // crash after it and a redelivery write it once).
  if (last) await deps.queue.deadLetter(message.job, reason);
  if (last) await lifecycle.fail(mine, { error: reason });
  else await lifecycle.retry(mine, { error: reason, attempt: message.deliveryCount, maxAttempts: deps.maxDeliver });
  if (last) {
    log.warn({ attempts: message.deliveryCount }, 'diagnosis failed for good');
    message.ack();
    return 'failed';
  }
  const delay = deps.retryDelayMs * 2 ** (message.deliveryCount - 1);
  log.warn({ retryInMs: delay }, 'diagnosis attempt failed');
  message.nak(delay);
  return 'retried';
}
