import { type Span, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { type ExecutionArgs, type GraphQLError, getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { markError, type TraceCarrier, type Tracing } from '../lib/tracing.js';
import type { Context } from './context.js';

/**
 * A `graphql.operation` span per operation, over HTTP and graphql-ws alike, active while the
 * operation executes (or, for a subscription, while it subscribes): what the operation starts — a
 * diagnosis job and everything after it — belongs to its trace. Attributes: the operation's type
 * and name, and the error codes of a failed one; never the document or the variables, which may
 * hold patient data. A caller's W3C `traceparent` header (a gateway, a traced client) is the parent.
 *
 * First among the plugins, so an operation refused by a later one (a rate limit) is traced too.
 */
export function useOperationTracing(tracing: Tracing): Plugin<Context> {
  return {
    onExecute: ({ args, executeFn, setExecuteFn }) => {
      const span = startOperation(tracing, args);
      setExecuteFn((a) => tracing.withSpan(span, () => executeFn(a)));
      return { onExecuteDone: ({ result }) => endOperation(span, result) };
    },
    onSubscribe: ({ args, subscribeFn, setSubscribeFn }) => {
      const span = startOperation(tracing, args);
      setSubscribeFn((a) => tracing.withSpan(span, () => subscribeFn(a)));
      return {
        onSubscribeResult: ({ result }) => endOperation(span, result),
        onSubscribeError: ({ error }) => {
          markError(span, error);
          span.end();
        },
      };
    },
  };
}

function startOperation(tracing: Tracing, args: ExecutionArgs): Span {
  const operation = getOperationAST(args.document, args.operationName);
  const name = operation?.name?.value ?? args.operationName;
  // Over HTTP Yoga's context keeps the Fetch request; graphql-ws has none.
  const request = (args.contextValue as { request?: Request } | undefined)?.request;
  const traceparent = request?.headers.get('traceparent');
  const parent: TraceCarrier | undefined = traceparent
    ? { traceparent, tracestate: request?.headers.get('tracestate') ?? undefined }
    : undefined;
  return tracing.startSpan('graphql.operation', {
    kind: SpanKind.SERVER,
    parent,
    attributes: {
      'graphql.operation.type': operation?.operation ?? 'unknown',
      ...(name ? { 'graphql.operation.name': name } : {}),
    },
  });
}

/** Ends the span; a result with errors records their codes (never their messages). */
function endOperation(span: Span, result: unknown): void {
  const errors = (result as { errors?: readonly GraphQLError[] } | undefined)?.errors;
  if (Array.isArray(errors) && errors.length > 0) {
    const codes = errors.map((e: GraphQLError) => String(e.extensions?.code ?? 'UNKNOWN'));
    span.setAttribute('graphql.error.codes', codes);
    span.setStatus({ code: SpanStatusCode.ERROR, message: codes.join(',') });
  }
  span.end();
}
