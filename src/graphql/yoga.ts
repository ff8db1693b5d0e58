import { GraphQLError, type GraphQLSchema, getOperationAST, type OperationTypeNode } from 'graphql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { GraphqlLimitsConfig } from '../config.js';
import { AppError, ErrorCode, InternalError } from '../errors.js';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import type { Tracing } from '../lib/tracing.js';
import { type Context, type ContextDeps, createContext, type InitialContext } from './context.js';
import { GraphiqlAssets, graphiqlAuth } from './graphiql.js';
import { type PersistedOperations, usePersistedOperationsList, useQueryLimits } from './limits.js';
import type { RateLimitGuard } from './rate-limit.plugin.js';
import { buildSchema } from './schema.js';
import { useOperationTracing } from './tracing.plugin.js';

export interface YogaOptions {
  /** Where it is served (default `/graphql`); the federation subgraph is `/subgraph`. */
  endpoint?: string;
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
}

export type Yoga = YogaServerInstance<InitialContext, Context>;

/** The GraphQL-over-HTTP server (queries, mutations, SSE subscriptions); graphql-ws reuses it. */
export function createGraphqlServer(options: YogaOptions): Yoga {
  const { deps, logger, metrics, graphiql, graphiqlToken, limits, guard, persistedOperations, tracing } = options;
  const endpoint = options.endpoint ?? '/graphql';
  const graphiqlAssets = graphiql ? new GraphiqlAssets(endpoint) : undefined;
  return createYoga<InitialContext, Context>({
    schema: options.schema ?? buildSchema(),
    graphqlEndpoint: endpoint,
    landingPage: false,
    healthCheckEndpoint: '/__yoga_health',
    // Over HTTP the guard has authenticated the request already; graphql-ws passes its viewer.
    context: (initial) =>
      createContext(deps, { ...initial, viewer: initial.viewer ?? guard.viewerOf(initial.request) }),
    graphiql: graphiql
      ? {
          title: 'Clinical Copilot',
          subscriptionsProtocol: 'WS',
          ...(graphiqlToken ? graphiqlAuth(`Bearer ${graphiqlToken}`) : {}),
        }
      : false,
    renderGraphiQL: graphiqlAssets?.render,
    logging: {
      debug: (...args) => logger.debug(yogaLogLine(args)),
      info: (...args) => logger.info(yogaLogLine(args)),
      warn: (...args) => logger.warn(yogaLogLine(args)),
      error: (...args) => logger.error(yogaLogLine(args)),
    },
    maskedErrors: { maskError: (error) => maskError(error, logger) },
    // Order matters: nobody unauthenticated reaches the allow-list or the parser; shape limits
    // reject before the operation is charged; a refused operation stops before audit and metrics.
    plugins: [
      ...(graphiqlAssets ? [graphiqlAssets.plugin()] : []), // GraphiQL's files: public, answered first
      ...(tracing?.enabled ? [useOperationTracing(tracing)] : []),
      guard.authentication(),
      ...(persistedOperations ? [usePersistedOperationsList(persistedOperations, limits.persistedOperationsOnly)] : []),
      ...useQueryLimits(limits),
      useErrorCodes(),
      guard.operations(),
      useAuditFlush(logger),
      useOperationMetrics(metrics, logger),
    ],
  });
}

/** Yoga logs free text and error objects; keep only strings and error messages (no variables). */
function yogaLogLine(args: unknown[]): string {
  return args.map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : '')).join(' ');
}

const CONTRACT_CODES = new Set<ErrorCode>(Object.values(ErrorCode));

/**
 * Client-facing errors keep their code; anything else becomes `INTERNAL` and is logged here
 * with its message only (no variables, no patient data).
 */
export function maskError(error: unknown, logger: Logger): Error {
  const original = error instanceof GraphQLError ? error.originalError : error;
  if (error instanceof GraphQLError && (!original || original instanceof GraphQLError)) {
    const code = error.extensions.code;
    if (original instanceof AppError || CONTRACT_CODES.has(code as ErrorCode)) return error;
    if (code) {
      // Yoga's own request errors (`BAD_REQUEST` for malformed JSON, `GRAPHQL_PARSE_FAILED`) are
      // the client's mistake too. Changed in place, which keeps their HTTP status and keeps Yoga
      // from logging them as masked; `originalError` goes, as it quotes the body it could not parse.
      const extensions = error.extensions as Record<string, unknown>;
      extensions.code = ErrorCode.BadUserInput;
      delete extensions.originalError;
      return error;
    }
    // graphql-js' own errors (variable coercion and the like) are the client's mistake.
    return new GraphQLError(error.message, {
      nodes: error.nodes,
      path: error.path,
      extensions: { ...error.extensions, code: ErrorCode.BadUserInput },
    });
  }
  logger.error({ err: { name: (original as Error)?.name, message: (original as Error)?.message } }, 'unexpected error');
  const path = error instanceof GraphQLError ? error.path : undefined;
  return new GraphQLError(new InternalError().message, { path, extensions: { code: ErrorCode.Internal } });
}

/** Parse and validation errors are the client's mistake: give them the contract's code. */
function useErrorCodes(): Plugin {
  const withCode = (errors: readonly Error[]) =>
    errors.map((e) =>
      e instanceof GraphQLError && e.extensions.code
        ? e
        : new GraphQLError(e.message, {
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
 * commit. If the audit cannot be written the answer is withheld (fail closed).
 */
function useAuditFlush(logger: Logger): Plugin<Context> {
  return {
    onExecute: ({ args }) => {
      // Clients need not send `operationName`; the audit names the operation the document ran.
      args.contextValue.audit.setOperationName(
        getOperationAST(args.document, args.operationName)?.name?.value ?? args.operationName ?? null,
      );
      return {
        onExecuteDone: async ({ setResult }) => {
          try {
            await args.contextValue.audit.flush();
          } catch {
            logger.error({ requestId: args.contextValue.requestId }, 'answer withheld: audit write failed');
            setResult({ errors: [new InternalError()] });
          }
        },
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
