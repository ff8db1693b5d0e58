import { randomBytes, randomUUID } from 'node:crypto';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CreatePatientDocument, DiagnosisUpdatedDocument, RequestDiagnosisDocument } from '../../client/index.js';
import { queryDatabase } from '../helpers/database.js';
import { execute } from '../helpers/graphql.js';
import { startTestApi, type TestApi } from '../helpers/server.js';
import { startTestWorker, type TestWorker, targetOf } from '../helpers/worker.js';
import { connectWs } from '../helpers/ws.js';

// What the clinician typed: none of it may reach a span.
const PATIENT = {
  mrn: `TRC-${randomBytes(4).toString('hex')}`,
  givenName: 'Ottoline',
  familyName: 'Spanwright',
  birthDate: '1961-07-08',
  sex: 'FEMALE' as const,
};
const INPUT = {
  symptoms: ['fever', 'productive cough', 'pleuritic chest pain', 'breathless'],
  notes: 'Tracer notes: since Tuesday',
};

const apiSpans = new InMemorySpanExporter();
const workerSpans = new InMemorySpanExporter();
let api: TestApi;
let worker: TestWorker;

beforeAll(async () => {
  api = await startTestApi({ spanExporter: apiSpans });
  worker = await startTestWorker(targetOf(api), {}, undefined, workerSpans);
});
afterAll(async () => {
  await worker?.stop();
  await api?.close();
});

const finished = (): ReadableSpan[] => [...apiSpans.getFinishedSpans(), ...workerSpans.getFinishedSpans()];
const idOf = (span: ReadableSpan) => span.spanContext().spanId;
const traceOf = (span: ReadableSpan) => span.spanContext().traceId;

/** The span ids above `span`, nearest first. */
function ancestors(span: ReadableSpan, spans: readonly ReadableSpan[]): string[] {
  const byId = new Map(spans.map((s) => [idOf(s), s]));
  const out: string[] = [];
  let parent = span.parentSpanContext?.spanId;
  while (parent) {
    out.push(parent);
    parent = byId.get(parent)?.parentSpanContext?.spanId;
  }
  return out;
}

function one(spans: readonly ReadableSpan[], predicate: (s: ReadableSpan) => boolean): ReadableSpan {
  const found = spans.filter(predicate);
  expect(found, `spans: ${spans.map((s) => s.name).join(', ')}`).toHaveLength(1);
  return found[0] as ReadableSpan;
}

describe('tracing', () => {
  it('shows request → job → result as one trace, across the NATS headers and back through Redis', async () => {
    const token = await api.token('dr-trace');
    const patientId = (await execute(api.url, CreatePatientDocument, { input: PATIENT }, { token })).expectData()
      .createPatient.id;
    const { id } = (
      await execute(api.url, RequestDiagnosisDocument, { patientId, input: INPUT }, { token })
    ).expectData().requestDiagnosis;
    const ws = connectWs(api.wsUrl, `Bearer ${token}`);
    try {
      const updates = ws.stream(DiagnosisUpdatedDocument, { id });
      await updates.done;
      expect(updates.results.at(-1)?.data?.diagnosisUpdated.status).toBe('COMPLETED');
    } finally {
      await ws.dispose();
    }

    // The worker's job span ends just after it published COMPLETED.
    const spans = await vi.waitFor(
      () => {
        const all = finished();
        expect(all.some((s) => s.name === 'diagnosis.job' && s.attributes['diagnosis.id'] === id)).toBe(true);
        return all;
      },
      { timeout: 10_000, interval: 50 },
    );

    const request = one(
      spans,
      (s) => s.name === 'graphql.operation' && s.attributes['graphql.operation.name'] === 'RequestDiagnosis',
    );
    expect(request.attributes['graphql.operation.type']).toBe('mutation');
    const trace = traceOf(request);
    const inTrace = spans.filter((s) => traceOf(s) === trace);

    // request → enqueue (its context in the JetStream headers) → job.
    const enqueue = one(inTrace, (s) => s.name === 'diagnosis.enqueue');
    expect(enqueue.parentSpanContext?.spanId).toBe(idOf(request));
    const job = one(inTrace, (s) => s.name === 'diagnosis.job');
    expect(job.parentSpanContext?.spanId).toBe(idOf(enqueue));
    expect(ancestors(job, spans)).toContain(idOf(request));
    expect(job.attributes).toMatchObject({
      'diagnosis.id': id,
      'diagnosis.attempt': 1,
      'diagnosis.provider': 'rules',
      'diagnosis.outcome': 'completed',
    });
    expect(job.attributes['diagnosis.model']).toEqual(expect.any(String));

    // Inside the job: the provider call and every live-state change.
    const provider = one(inTrace, (s) => s.name === 'diagnosis.provider');
    expect(provider.parentSpanContext?.spanId).toBe(idOf(job));
    const changes = inTrace.filter((s) => s.name === 'diagnosis.state');
    expect(changes.every((s) => s.parentSpanContext?.spanId === idOf(job))).toBe(true);
    expect(changes.map((s) => s.attributes['diagnosis.change'])).toEqual(
      expect.arrayContaining(['RUNNING', 'progress', 'COMPLETED']),
    );
    const completedChange = one(changes, (s) => s.attributes['diagnosis.change'] === 'COMPLETED');

    // …and back: the subscription's delivery of COMPLETED (on the API) is a child of that change,
    // linked to the subscription's own operation span.
    const delivered = one(
      inTrace,
      (s) => s.name === 'diagnosis.deliver' && s.attributes['diagnosis.status'] === 'COMPLETED',
    );
    expect(delivered.parentSpanContext?.spanId).toBe(idOf(completedChange));
    expect(ancestors(delivered, spans)).toEqual(expect.arrayContaining([idOf(job), idOf(request)]));
    const subscription = one(
      spans,
      (s) => s.name === 'graphql.operation' && s.attributes['graphql.operation.type'] === 'subscription',
    );
    expect(delivered.links.map((l) => l.context.spanId)).toEqual([idOf(subscription)]);

    // Nothing the clinician typed, and nothing identifying the patient, is in any span.
    const exported = JSON.stringify(
      spans.map((s) => ({ name: s.name, attributes: s.attributes, events: s.events, status: s.status })),
    );
    for (const secret of [PATIENT.mrn, PATIENT.givenName, PATIENT.familyName, PATIENT.birthDate, INPUT.notes]) {
      expect(exported).not.toContain(secret);
    }
    for (const symptom of INPUT.symptoms) expect(exported).not.toContain(symptom);
  });

  it("continues the request's trace when the outbox relay publishes the job later", async () => {
    // A row the fast path left behind (NATS was down, the pod died): published by the poll.
    const traceId = randomBytes(16).toString('hex');
    const spanId = randomBytes(8).toString('hex');
    const diagnosisId = randomUUID();
    const payload = { diagnosisId, requestedAt: Date.now() - 5_000, traceparent: `00-${traceId}-${spanId}-01` };
    await queryDatabase(
      api.db.url,
      `insert into outbox_message (id, payload, created_at, attempts) values ($1, $2, now() - interval '5 seconds', 0)`,
      [diagnosisId, JSON.stringify(payload)],
    );
    const job = await vi.waitFor(
      () => {
        const found = workerSpans
          .getFinishedSpans()
          .find((s) => s.name === 'diagnosis.job' && s.attributes['diagnosis.id'] === diagnosisId);
        expect(found).toBeDefined();
        return found as ReadableSpan;
      },
      { timeout: 10_000, interval: 50 },
    );
    expect(traceOf(job)).toBe(traceId);
    expect(job.attributes['diagnosis.outcome']).toBe('skipped'); // no such diagnosis: acknowledged and dropped
    const enqueue = one(apiSpans.getFinishedSpans(), (s) => idOf(s) === job.parentSpanContext?.spanId);
    expect(enqueue.name).toBe('diagnosis.enqueue');
    expect(enqueue.parentSpanContext?.spanId).toBe(spanId);
  });
});
