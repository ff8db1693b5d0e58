import { SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { parseJob } from '../jobs/diagnosis.job.js';
import { initTracing, noTracing } from './tracing.js';

const env = { DATABASE_URL: 'postgres://u@db/cc', REDIS_URL: 'redis://r:6379', NATS_URL: 'nats://n:4222' };
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('tracing', () => {
  it('is off by default and passes a carried context through untouched', async () => {
    const config = loadConfig(env, 'worker');
    expect(config.tracing).toEqual({ otlpEndpoint: undefined, serviceName: 'clinical-copilot-worker' });
    const tracing = await initTracing(config);
    expect(tracing).toBe(noTracing);
    expect(tracing.carrier()).toEqual({});
    expect(tracing.carrier({ traceparent: TRACEPARENT })).toEqual({ traceparent: TRACEPARENT });
    await expect(tracing.run('x', {}, async () => 42)).resolves.toBe(42);
  });

  it('reads the OTLP endpoint and service name', () => {
    const config = loadConfig(
      { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SERVICE_NAME: 'cc-worker-eu' },
      'worker',
    );
    expect(config.tracing).toEqual({ otlpEndpoint: 'http://collector:4318', serviceName: 'cc-worker-eu' });
    expect(() => loadConfig({ ...env, OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, 'worker')).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT/,
    );
  });

  it('nests spans, continues a carried context, and records an error by its type only', async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = await initTracing(loadConfig(env, 'worker'), { exporter });
    let inner = {};
    await tracing.run('outer', { parent: { traceparent: TRACEPARENT } }, async () => {
      await tracing
        .run('inner', {}, async () => {
          inner = tracing.carrier();
          throw new TypeError('patient Jane Doe, MRN 12345');
        })
        .catch(() => undefined);
    });
    const [innerSpan, outerSpan] = exporter.getFinishedSpans();
    expect(outerSpan?.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(outerSpan?.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(innerSpan?.parentSpanContext?.spanId).toBe(outerSpan?.spanContext().spanId);
    expect(inner).toEqual({ traceparent: `00-0af7651916cd43dd8448eb211c80319c-${innerSpan?.spanContext().spanId}-01` });
    expect(innerSpan?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'TypeError' });
    expect(JSON.stringify([innerSpan?.attributes, innerSpan?.events])).not.toContain('Jane');
    await tracing.shutdown();
  });

  it('never refuses a job for a malformed trace context', () => {
    const job = { diagnosisId: '3f0c9b3e-8d1a-4c43-9a55-2f7d0d8e6b11', requestedAt: 1 };
    expect(parseJob({ ...job, traceparent: TRACEPARENT })).toEqual({ ...job, traceparent: TRACEPARENT });
    expect(parseJob({ ...job, traceparent: 'not-a-trace', tracestate: 'x'.repeat(600) })).toEqual(job);
  });
});
