import { SpanKind } from '@opentelemetry/api';
import type { JobMessage } from '../../src/jobs/queue.js';
import type { Tracing } from '../../src/lib/tracing.js';
import type { LiveStateWriter } from '../../src/modules/diagnosis/diagnosis.live.js';
import type { DiagnosisProvider } from '../llm/provider.js';
import type { JobOutcome } from '../metrics.js';
import type { DiagnoseDeps } from './diagnose.handler.js';

/**
 * Runs `handle` on one delivery of a job in a `diagnosis.job` span, a child of the span that
 * published it (its context came in the message headers), so the request, the job and its result
 * are one trace. Attributes: the diagnosis id, the delivery (attempt), the provider and model, and
 * the outcome `handle` resolves to. Inside, the provider call and every live-state change are spans.
 */
export async function traceJob(
  tracing: Tracing,
  handle: (message: JobMessage, deps: DiagnoseDeps) => Promise<JobOutcome>,
  message: JobMessage,
  deps: DiagnoseDeps,
): Promise<JobOutcome> {
  if (!tracing.enabled) return handle(message, deps);
  const attributes = {
    'messaging.system': 'nats',
    'diagnosis.id': message.job.diagnosisId,
    'diagnosis.attempt': message.deliveryCount,
    'diagnosis.provider': deps.provider.name,
    'diagnosis.model': deps.provider.model,
  };
  return tracing.run('diagnosis.job', { kind: SpanKind.CONSUMER, parent: message.trace, attributes }, async (span) => {
    const traced = {
      ...deps,
      live: traceLiveState(deps.live, tracing),
      provider: traceProvider(deps.provider, tracing),
    };
    const outcome = await handle(message, traced);
    span.setAttribute('diagnosis.outcome', outcome);
    return outcome;
  });
}

/** The provider call as a `diagnosis.provider` span: which provider and model, how long, whether it failed. */
export function traceProvider(provider: DiagnosisProvider, tracing: Tracing): DiagnosisProvider {
  if (!tracing.enabled) return provider;
  const attributes = { 'diagnosis.provider': provider.name, 'diagnosis.model': provider.model };
  return {
    name: provider.name,
    version: provider.version,
    model: provider.model,
    promptVersion: provider.promptVersion,
    diagnose: (prompt, events, signal) =>
      tracing.run('diagnosis.provider', { kind: SpanKind.CLIENT, attributes }, () =>
        provider.diagnose(prompt, events, signal),
      ),
  };
}

/**
 * Every live-state change as a `diagnosis.state` span (the status it moves to, or `progress`;
 * whether it applied; the version it made), and the span's `traceparent` stored in the published
 * state, so that each delivery to a subscriber, on any API pod, joins the job's trace.
 */
export function traceLiveState(live: LiveStateWriter, tracing: Tracing): LiveStateWriter {
  if (!tracing.enabled) return live;
  return {
    get: (ids) => live.get(ids),
    announce: (view) => live.announce(view),
    change: (id, precondition, patch, seed) =>
      tracing.run(
        'diagnosis.state',
        { attributes: { 'diagnosis.id': id, 'diagnosis.change': patch.status ?? 'progress' } },
        async (span) => {
          const traceparent = tracing.carrier().traceparent ?? null;
          const result = await live.change(id, precondition, { ...patch, traceparent }, seed);
          span.setAttribute('diagnosis.applied', result.applied);
          if (result.applied) span.setAttribute('diagnosis.version', result.view.version);
          return result;
        },
      ),
  };
}
