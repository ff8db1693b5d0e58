import {
  type Attributes,
  type Context,
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  INVALID_SPAN_CONTEXT,
  type Link,
  ROOT_CONTEXT,
  type Span,
  type SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type { SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import type { Config } from '../config.js';

/**
 * W3C trace context as it travels between processes: in a job (and so its outbox row), in the
 * JetStream message headers, in a published live state. Never anything but these two fields.
 */
export interface TraceCarrier {
  traceparent?: string | undefined;
  tracestate?: string | undefined;
}

export interface SpanOptions {
  kind?: SpanKind;
  /** Names and numbers only: never variables, patient data or free text from a model or a client. */
  attributes?: Attributes;
  /**
   * Where the span belongs: a carried context (a new trace when it carries none). Default: the
   * active span of the calling code.
   */
  parent?: TraceCarrier;
  /** Related spans of other traces (e.g. the subscription a live state is delivered to). */
  links?: readonly TraceCarrier[];
}

/**
 * Spans of one process (or of one API or worker in a test). Off unless an exporter is configured;
 * off, every method is a near-free no-op and {@link Tracing.carrier} passes a context through
 * unchanged, so a process that does not trace does not break the trace of one that does.
 */
export interface Tracing {
  readonly enabled: boolean;
  /** Starts a span without making it active; the caller ends it. */
  startSpan(name: string, options?: SpanOptions): Span;
  /** Runs `fn` with `span` active, so the spans and carriers made inside are its children. */
  withSpan<T>(span: Span, fn: () => T): T;
  /**
   * Runs `fn` in a new active span, ended when `fn` settles. A rejection marks the span as an
   * error with the error's type only: messages may quote patient data.
   */
  run<T>(name: string, options: SpanOptions, fn: (span: Span) => Promise<T>): Promise<T>;
  /** The context to send onward: the active span's; `fallback` when tracing is off or no span is active. */
  carrier(fallback?: TraceCarrier): TraceCarrier;
  /**
   * Exports what is still buffered and stops. Never rejects, and gives up after a few seconds: an
   * unreachable collector must not hold up or fail a pod's shutdown.
   */
  shutdown(): Promise<void>;
}

const NOOP_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** Tracing off: what every process gets without OTEL_EXPORTER_OTLP_ENDPOINT. */
export const noTracing: Tracing = {
  enabled: false,
  startSpan: () => NOOP_SPAN,
  withSpan: (_span, fn) => fn(),
  run: (_name, _options, fn) => fn(NOOP_SPAN),
  carrier: (fallback = {}) => fallback,
  shutdown: async () => {},
};

export interface TracingOptions {
  /** Spans go here (synchronously, as each ends) instead of OTLP: tests pass an in-memory exporter. */
  exporter?: SpanExporter;
}

/**
 * The process' tracing: an OTLP/HTTP exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, the
 * given exporter in tests, else {@link noTracing} (and the SDK is not even loaded). Spans are
 * made by this provider's own tracer, not the global one, so two of them in one process (an API
 * and a worker in a test) each export to their own exporter.
 */
export async function initTracing(config: Config, options: TracingOptions = {}): Promise<Tracing> {
  const endpoint = config.tracing.otlpEndpoint;
  if (!options.exporter && !endpoint) return noTracing;

  const [{ TracerProvider, BatchSpanProcessor, SimpleSpanProcessor }, { W3CTraceContextPropagator }] =
    await Promise.all([import('@opentelemetry/sdk-trace'), import('@opentelemetry/core')]);
  const [{ resourceFromAttributes }, { ATTR_SERVICE_NAME }] = await Promise.all([
    import('@opentelemetry/resources'),
    import('@opentelemetry/semantic-conventions'),
  ]);
  let processor: SpanProcessor;
  if (options.exporter) {
    processor = new SimpleSpanProcessor({ exporter: options.exporter });
  } else {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    const base = (endpoint as string).endsWith('/') ? (endpoint as string) : `${endpoint}/`;
    processor = new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: new URL('v1/traces', base).href }) });
  }
  await registerContextManager();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.tracing.serviceName }),
    spanProcessors: [processor],
  });
  const tracer = provider.getTracer('clinical-copilot');
  const propagator = new W3CTraceContextPropagator();

  const extract = (carrier: TraceCarrier): Context =>
    carrier.traceparent ? propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter) : ROOT_CONTEXT;
  const startSpan = (name: string, options: SpanOptions = {}): Span => {
    const links: Link[] = [];
    for (const carrier of options.links ?? []) {
      const linked = trace.getSpanContext(extract(carrier));
      if (linked) links.push({ context: linked });
    }
    return tracer.startSpan(
      name,
      { kind: options.kind, attributes: options.attributes, links },
      options.parent ? extract(options.parent) : context.active(),
    );
  };
  const withSpan = <T>(span: Span, fn: () => T): T => context.with(trace.setSpan(context.active(), span), fn);

  return {
    enabled: true,
    startSpan,
    withSpan,
    run: async (name, options, fn) => {
      const span = startSpan(name, options);
      try {
        return await withSpan(span, () => fn(span));
      } catch (error) {
        markError(span, error);
        throw error;
      } finally {
        span.end();
      }
    },
    carrier: (fallback = {}) => {
      const out: TraceCarrier = {};
      propagator.inject(context.active(), out, defaultTextMapSetter);
      return out.traceparent ? out : fallback;
    },
    shutdown: async () => {
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, SHUTDOWN_FLUSH_MS);
      });
      await Promise.race([provider.shutdown().catch(() => undefined), gaveUp]);
      clearTimeout(timer);
    },
  };
}

/** The longest a shutdown waits for the last spans to reach the collector. */
const SHUTDOWN_FLUSH_MS = 2_000;

/** Marks a span failed by the error's type (`error.type`), never its message. */
export function markError(span: Span, error: unknown): void {
  const type = error instanceof Error ? error.name : typeof error;
  span.setAttribute('error.type', type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: type });
}

let contextManager: Promise<void> | undefined;

/**
 * The active span follows async calls through AsyncLocalStorage. Registered once per process and
 * never removed: it holds no spans of its own, and every {@link Tracing} of the process shares it.
 */
function registerContextManager(): Promise<void> {
  contextManager ??= import('@opentelemetry/context-async-hooks').then(({ AsyncLocalStorageContextManager }) => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  });
  return contextManager;
}
