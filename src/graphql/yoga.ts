import {
  type ExecutionArgs,
  type ExecutionResult,
  GraphQLError,
  type GraphQLSchema,
  getOperationAST,
  Kind,
  type OperationTypeNode,
  parse,
} from 'graphql';
import { type CORSOptions, createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { GraphqlLimitsConfig } from '../config.js';
import { AppError, ErrorCode, InternalError } from '../errors.js';
import { errorFields, type Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import type { Tracing } from '../lib/tracing.js';
import { useApolloMultipartSubscriptions } from './apollo-multipart.js';
import { type Context, type ContextDeps, createContext, type InitialContext } from './context.js';
import { useGatewaySignature } from './gateway-signature.js';
import { GraphiqlAssets, graphiqlOptions } from './graphiql.js';
import { type PersistedOperations, usePersistedOperationsList, useQueryLimits } from './limits.js';
import type { RateLimitGuard } from './rate-limit.plugin.js';
import { buildSchema } from './schema.js';
import { useSseSingleConnection } from './sse-single-connection.js';
import { useTextInputRule } from './text-input.js';
import { useOperationTracing } from './tracing.plugin.js';

export interface YogaOptions {
  /** Where it is served (default `/graphql`); the federation subgraph is `/subgraph`. */
  endpoint?: string;
  /** Browser origins allowed (CORS): `*` any, none when empty (see `CORS_ORIGINS`). */
  corsOrigins?: readonly string[];
  /** Default: the plain schema. */
  schema?: GraphQLSchema;
  deps: ContextDeps;
  logger: Logger;
  metrics: Metrics;
  graphiql: boolean;
  /** Pre-filled into GraphiQL's headers editor (the embedded mode's demo token). */
  graphiqlToken?: string;
  limits: GraphqlLimitsConfig;
  /** Authentication before parsing and the rate limits (see {@link RateLimitGuard}). */
  guard: RateLimitGuard;
  /** The allow-list, when PERSISTED_OPERATIONS_FILE names one. */
  persistedOperations?: PersistedOperations | undefined;
  /** A span per operation when tracing is on. */
  tracing?: Tracing;
  /** Serve only operations the federation gateway signed with this secret (`/subgraph`). */
  gatewaySecret?: string | undefined;
  /**
   * Serve graphql-sse's single connection mode too (`/graphql`). Never with an allow-list or a
   * gateway secret: those are checked on Yoga's parameters, which that mode's requests bypass.
   */
  sseSingleConnection?: boolean;
}

export type Yoga = YogaServerInstance<InitialContext, Context>;

/** The GraphQL-over-HTTP server (queries, mutations, SSE subscriptions); graphql-ws reuses it. */
export function createGraphqlServer(options: YogaOptions): Yoga {
  const { deps, logger, metrics, graphiql, graphiqlToken, limits, guard, persistedOperations, tracing } = options;
  const endpoint = options.endpoint ?? '/graphql';
  const graphiqlAssets = graphiql ? new GraphiqlAssets(endpoint) : undefined;
  const schema = options.schema ?? buildSchema();
  metrics.allowOperationLabels(knownOperationNames(schema, persistedOperations));
  return createYoga<InitialContext, Context>({
    schema,
    graphqlEndpoint: endpoint,
    landingPage: false,
    cors: corsPolicy(options.corsOrigins ?? []),
    healthCheckEndpoint: '/__yoga_health',
    // app.ts refuses bodies over the limit before Yoga sees them (declared or chunked). Yoga's own
    // check pipes every body through a TransformStream, whose teardown allocates a DOMException
    // per request: about 2 % of a pod's CPU under load, for a check already made.
    maxRequestBodySize: false,
    // Over HTTP the guard has authenticated the request already; graphql-ws passes its viewer.
    context: (initial) =>
      createContext(deps, { ...initial, viewer: initial.viewer ?? guard.viewerOf(initial.request) }),
    graphiql: graphiql
      ? {
          title: 'Clinical Copilot',
          subscriptionsProtocol: 'WS',
          ...graphiqlOptions(graphiqlToken ? `Bearer ${graphiqlToken}` : undefined),
        }
      : false,
    renderGraphiQL: graphiqlAssets?.render,
    logging: {
      debug: (...args) => log(logger.debug.bind(logger), args),
      info: (...args) => log(logger.info.bind(logger), args),
      warn: (...args) => log(logger.warn.bind(logger), args),
      error: (...args) => log(logger.error.bind(logger), args),
    },
    maskedErrors: { maskError: (error) => maskError(error) },
    // Order matters: nobody unauthenticated reaches the allow-list or the parser; shape limits
    // reject before the operation is charged; a refused operation stops before audit and metrics.
    plugins: [
      ...(graphiqlAssets ? [graphiqlAssets.plugin()] : []), // GraphiQL's files: public, answered first
      ...(tracing?.enabled ? [useOperationTracing(tracing)] : []),
      // Early, so it sees the errors of every execution, however a later plugin ends it.
      useErrorLog(logger),
      // `/subgraph`: nothing the gateway did not sign reaches the token check or the parser.
      ...(options.gatewaySecret ? [useGatewaySignature(options.gatewaySecret)] : []),
      // Apollo Client's HTTP subscriptions: only the framing of a subscription's answer.
      useApolloMultipartSubscriptions(),
      ...(options.sseSingleConnection && !persistedOperations && !options.gatewaySecret
        ? [useSseSingleConnection({ endpoint, guard, maskError })]
        : []),
      guard.authentication(),
      ...(persistedOperations ? [usePersistedOperationsList(persistedOperations, limits.persistedOperationsOnly)] : []),
      ...useQueryLimits(limits),
      useErrorCodes(),
      guard.operations(),
      useAuditFlush(logger),
      useOperationMetrics(metrics, logger),
      // Last: a refusal of control characters is still charged, logged and counted above.
      useTextInputRule(),
    ],
  });
}

/**
 * CORS from the allow-list: a listed origin gets the CORS headers, any other none, so a browser
 * page elsewhere can neither read answers nor pass a preflight. `*` allows every origin, without
 * credentials (the API's credential is the Authorization header, which CORS lets through).
 */
export function corsPolicy(origins: readonly string[]): (request: Request) => CORSOptions {
  const any = origins.includes('*');
  const listed = new Set(origins);
  return (request) => {
    const origin = request.headers.get('origin');
    if (!origin || !(any || listed.has(origin))) return false;
    return { origin: [origin], credentials: !any, methods: ['GET', 'POST'], maxAge: 600 };
  };
}

/**
 * The operation names `/metrics` may use as labels: the schema's root fields (`patients`, and
 * `Patients` as clients name operations after them) and the persisted operations' names.
 */
export function knownOperationNames(schema: GraphQLSchema, persisted?: PersistedOperations): string[] {
  const names: string[] = [];
  for (const root of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]) {
    for (const field of Object.keys(root?.getFields() ?? {})) {
      if (field.startsWith('_')) continue;
      names.push(field, field.charAt(0).toUpperCase() + field.slice(1));
    }
  }
  for (const query of persisted?.queries ?? []) {
    try {
      for (const definition of parse(query).definitions) {
        if (definition.kind === Kind.OPERATION_DEFINITION && definition.name) names.push(definition.name.value);
      }
    } catch {
      // A persisted query that does not parse is refused when run; it names no label.
    }
  }
  return names;
}

function log(write: (fields: object, message: string) => void, args: unknown[]): void {
  const line = yogaLogLine(args);
  if (line) write(...line);
}

/**
 * Yoga logs free text and error objects — for an error it masked, the original one, whose message
 * may quote a statement's bound values. Strings pass; an error is logged as its class and codes
 * only ({@link errorFields}); anything else (variables, requests) is dropped.
 */
function yogaLogLine(args: unknown[]): [object, string] | null {
  const error = args.find((a) => a instanceof Error);
  if (error) {
    if (logged.has(error)) return null;
    logged.add(error);
  }
  const text = args.filter((a) => typeof a === 'string').join(' ') || (error ? 'unexpected error' : '');
  return [error ? errorFields(error) : {}, text];
}

const CONTRACT_CODES = new Set<ErrorCode>(Object.values(ErrorCode));

/**
 * Errors already logged once: Yoga reports a masked error to its logger from two places (its
 * masking and its request error handler), and {@link useErrorLog} has logged those of an
 * execution with the request id before Yoga sees them.
 */
const logged = new WeakSet<object>();

/** Whether an error is a failure of ours (a bug, a store) rather than one meant for the client. */
function isUnexpected(error: unknown): boolean {
  if (!(error instanceof GraphQLError)) return true;
  const original = error.originalError;
  return original !== undefined && original !== null && !(original instanceof GraphQLError);
}

/**
 * Client-facing errors keep their code; anything else becomes `INTERNAL`, its message (a driver's
 * message quotes the statement's bound values) replaced. Logging is {@link useErrorLog}'s.
 */
export function maskError(error: unknown): Error {
  if (!isUnexpected(error)) {
    const known = error as GraphQLError;
    const redacted = withoutInputValue(known);
    if (redacted !== null) {
      return new GraphQLError(redacted, {
        nodes: known.nodes,
        path: known.path,
        extensions: { ...known.extensions, code: ErrorCode.BadUserInput },
      });
    }
    const code = known.extensions.code;
    if (known.originalError instanceof AppError || CONTRACT_CODES.has(code as ErrorCode)) return known;
    if (code) {
      // Yoga's own request errors (`BAD_REQUEST` for malformed JSON, `GRAPHQL_PARSE_FAILED`) are
      // the client's mistake too. Changed in place, which keeps their HTTP status and keeps Yoga
      // from logging them as masked; `originalError` goes, as it quotes the body it could not parse.
      const extensions = known.extensions as Record<string, unknown>;
      extensions.code = ErrorCode.BadUserInput;
      delete extensions.originalError;
      // A request that is not GraphQL at all (malformed JSON, no query: Yoga's BAD_REQUEST) is 400
      // whatever the client accepts. Yoga marks these `spec` and, for `Accept: application/json`,
      // answers 200 unless an `originalError` is there — which went just above. A document that
      // does not parse stays 200 for `application/json`, as the GraphQL over HTTP spec asks.
      const http = extensions.http as { spec?: boolean } | undefined;
      if (code === 'BAD_REQUEST' && http?.spec) extensions.http = { ...http, spec: false };
      return known;
    }
    // graphql-js' own errors (variable coercion and the like) are the client's mistake.
    return new GraphQLError(known.message, {
      nodes: known.nodes,
      path: known.path,
      extensions: { ...known.extensions, code: ErrorCode.BadUserInput },
    });
  }
  const path = error instanceof GraphQLError ? error.path : undefined;
  return new GraphQLError(new InternalError().message, { path, extensions: { code: ErrorCode.Internal } });
}

const INVALID_VARIABLE = /^Variable "\$([_A-Za-z][_0-9A-Za-z]*)" got invalid value /;

/**
 * graphql-js quotes a variable it cannot coerce (`Variable "$input" got invalid value
 * "1950-13-45" at "input.birthDate"; Date must be YYYY-MM-DD`), and its scalars quote the value
 * they refuse: patient data in an error message. The message without the value, keeping where
 * it was and why; null for any other error.
 */
export function withoutInputValue(error: GraphQLError): string | null {
  const head = INVALID_VARIABLE.exec(error.message);
  if (!head) return null;
  const variable = head[1] as string;
  const inner = error.originalError?.message;
  if (!inner || !error.message.endsWith(`; ${inner}`)) return `Variable "$${variable}" got an invalid value`;
  const before = error.message.slice(0, -(inner.length + 2));
  const at = new RegExp(` at "${variable}[^"]*"$`).exec(before)?.[0] ?? '';
  return `Variable "$${variable}" got an invalid value${at}; ${withoutScalarValue(inner)}`;
}

/**
 * graphql-js' validation messages quote a literal the document holds — `Expected value of type
 * "Date!", found "…"`, `Int cannot represent non-integer value: "…"`, `Value "…" does not exist in
 * "Sex" enum.` — and a hand-written document may hold patient data. The message without the value,
 * keeping the type and why (the error's location points at the literal); any other message as it is.
 */
export function withoutLiteralValue(message: string): string {
  const expected = /^Expected value of type ("[^"]+"), found /s.exec(message);
  if (expected) return `Expected value of type ${expected[1]}`;
  return withoutScalarValue(message);
}

/** `Int cannot represent non-integer value: "x"` → `Int cannot represent non-integer value`. */
function withoutScalarValue(message: string): string {
  const refused = /^(.+ cannot represent [^:]*): /s.exec(message);
  if (refused) return refused[1] as string;
  const enumValue = /^Value .+ does not exist in ("[_A-Za-z][_0-9A-Za-z]*" enum\.)/s.exec(message);
  if (enumValue) return `Value does not exist in ${enumValue[1]}`;
  return message;
}

/**
 * One log line per unexpected error of an operation — over HTTP, SSE and graphql-ws, including
 * each subscription event's — with the request id, the error's class and SQLSTATE, and never its
 * message ({@link errorFields}). Runs before Yoga masks the result, which drops the original.
 */
function useErrorLog(logger: Logger): Plugin<Context> {
  const report = (context: Context, errors: readonly unknown[] | undefined) => {
    for (const error of errors ?? []) {
      if (!isUnexpected(error) || logged.has(error as object)) continue;
      const original = error instanceof GraphQLError ? error.originalError : error;
      logged.add(error as object);
      if (original) logged.add(original);
      logger.error({ requestId: context.requestId, ...errorFields(original) }, 'unexpected error');
    }
  };
  const errorsOf = (result: unknown) => (result as { errors?: readonly unknown[] } | undefined)?.errors;
  return {
    onExecute: ({ args }) => ({
      onExecuteDone: ({ result }) => {
        if (!isAsyncIterable(result)) report(args.contextValue, errorsOf(result));
      },
    }),
    onSubscribe: ({ args }) => ({
      onSubscribeResult: ({ result }) => {
        if (!isAsyncIterable(result)) {
          report(args.contextValue, errorsOf(result));
          return undefined;
        }
        return { onNext: ({ result: event }) => report(args.contextValue, errorsOf(event)) };
      },
      onSubscribeError: ({ error }) => report(args.contextValue, [error]),
    }),
  };
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/**
 * Parse and validation errors are the client's mistake: give them the contract's code, and quote
 * no literal of the document back ({@link withoutLiteralValue}).
 */
function useErrorCodes(): Plugin {
  const withCode = (errors: readonly Error[]) =>
    errors.map((e) =>
      e instanceof GraphQLError && e.extensions.code
        ? e
        : new GraphQLError(withoutLiteralValue(e.message), {
            nodes: e instanceof GraphQLError ? e.nodes : undefined,
            extensions: { ...(e instanceof GraphQLError ? e.extensions : {}), code: ErrorCode.BadUserInput },
          }),
    );
  return {
    onValidate:
      () =>
      ({ result, setResult }) => {
        if (result.length > 0) setResult(withCode(result));
      },
  };
}

/**
 * The operation's reads are audited before its answer leaves: the response waits for the group
 * commit. If the audit cannot be written the answer is withheld (fail closed). A subscription
 * flushes after it starts and after each event, whose fields (`patient { assessment }`) read
 * patient data of their own; its rows carry its operation name like any other.
 */
function useAuditFlush(logger: Logger): Plugin<Context> {
  const name = (args: ExecutionArgs) =>
    // Clients need not send `operationName`; the audit names the operation the document ran.
    getOperationAST(args.document, args.operationName)?.name?.value ?? args.operationName ?? null;
  const flush = async (context: Context, withhold: (result: ExecutionResult) => void) => {
    try {
      await context.audit.flush();
    } catch {
      logger.error({ requestId: context.requestId }, 'answer withheld: audit write failed');
      withhold({ errors: [new InternalError()] });
    }
  };
  return {
    onExecute: ({ args }) => {
      args.contextValue.audit.setOperationName(name(args));
      return { onExecuteDone: ({ setResult }) => flush(args.contextValue, setResult) };
    },
    onSubscribe: ({ args }) => {
      args.contextValue.audit.setOperationName(name(args));
      return {
        // A result that is not a stream was refused before any resolver ran: nothing was read.
        onSubscribeResult: ({ result }) =>
          isAsyncIterable(result) ? { onNext: ({ setResult }) => flush(args.contextValue, setResult) } : undefined,
      };
    },
  };
}

/**
 * Per-operation request count and duration (Prometheus), and one log line per operation with
 * its request id, name, outcome and error codes — never its variables.
 */
function useOperationMetrics(metrics: Metrics, logger: Logger): Plugin<Context> {
  return {
    onExecute: ({ args }) => {
      const started = process.hrtime.bigint();
      const operation = getOperationAST(args.document, args.operationName);
      const labels = {
        operation: metrics.operationLabel(operation?.name?.value ?? args.operationName),
        type: (operation?.operation ?? 'unknown') as OperationTypeNode | 'unknown',
      };
      return {
        onExecuteDone: ({ result }) => {
          const errors = 'errors' in result && Array.isArray(result.errors) ? (result.errors as GraphQLError[]) : [];
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          metrics.operations.inc({ ...labels, outcome: errors.length > 0 ? 'error' : 'ok' });
          metrics.operationDuration.observe(labels, seconds);
          // Built only when it will be written (LOG_LEVEL=warn in production-like runs).
          if (!logger.isLevelEnabled('info')) return;
          logger.info(
            {
              requestId: args.contextValue.requestId,
              clinician: args.contextValue.viewer.id,
              operation: labels.operation,
              type: labels.type,
              ms: Math.round(seconds * 10_000) / 10,
              ...(errors.length > 0 ? { errorCodes: errors.map((e) => e.extensions?.code ?? 'UNKNOWN') } : {}),
            },
            'graphql operation',
          );
        },
      };
    },
  };
}
