import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ExecutionArgs, ExecutionResult } from 'graphql';
import { GraphQLError, getOperationAST } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { type WebSocket, WebSocketServer } from 'ws';
import type { Viewer } from '../auth/jwt.js';
import type { GraphqlLimitsConfig } from '../config.js';
import { AppError, BadUserInputError, ErrorCode, InternalError, UnauthenticatedError } from '../errors.js';
import { errorFields, type Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import { clientIp, type RateLimitDecision, type RateLimiter } from '../lib/rate-limit.js';
import { authenticate, type ContextDeps } from './context.js';
import {
  CONNECT_SIGNATURE_HEADER,
  isSignedConnect,
  isSignedOperation,
  NotFromGatewayError,
} from './gateway-signature.js';
import { Heartbeat } from './heartbeat.js';
import { type PersistedOperations, resolvePersistedOperation } from './limits.js';
import type { RateLimitGuard } from './rate-limit.plugin.js';
import { credentialDigest, isReplayable, SharedSubscriptions, subscriptionGroupKey } from './shared-subscriptions.js';
import type { Yoga } from './yoga.js';

/** Close codes of our own, beside graphql-ws' {@link CloseCode}. */
export const AppCloseCode = {
  /** RFC 6455 "going away": the pod is draining; reconnect (to another pod). */
  GoingAway: 1001,
  /**
   * RFC 6455 "try again later": over a rate limit — too many connection attempts, or too many
   * failed authentications, from this address. The reason says `retryAfterMs=…`. graphql-ws
   * clients retry 1013 with their back-off; its own 4429 means a repeated `connection_init`, and
   * clients give up on it.
   */
  TryAgainLater: 1013,
} as const;

export interface GraphqlWsOptions {
  yoga: Yoga;
  deps: ContextDeps;
  logger: Logger;
  limiter: RateLimiter;
  limits: GraphqlLimitsConfig;
  trustProxy: boolean;
  /** Prices and charges operations, refused ones included (the same guard as over HTTP). */
  guard: RateLimitGuard;
  persistedOperations?: PersistedOperations | undefined;
  /** Open sockets and running subscriptions are gauges here. */
  metrics: Metrics;
  /**
   * The federation subgraph's: serve only connects and operations the gateway signed with it
   * (see gateway-signature.ts). A signed connect is not charged to its address — the gateway's
   * one address speaks for every clinician, and an address budget would refuse them together —
   * while every other connect attempt costs its address a point of `ws_connect`, as on `/graphql`,
   * and is refused. Each subscription still costs its clinician.
   */
  gatewaySecret?: string | undefined;
}

interface SocketState {
  viewer?: Viewer;
  /** A digest of the credential the socket authenticated with: the key of its shared groups. */
  credential?: string;
  expiryTimer?: NodeJS.Timeout;
  /** Subscription ids counted in `graphql_ws_subscriptions_active`, each uncounted once. */
  subscriptions: Set<string>;
}

export interface GraphqlWsServer {
  readonly wss: WebSocketServer;
  /** Identical subscriptions of one viewer share one execution (see {@link SharedSubscriptions}). */
  readonly shared: SharedSubscriptions;
  /**
   * Takes over an HTTP upgrade to `/graphql`. Every attempt costs its client address a point of
   * the connection budget; over it, the socket is accepted and closed at once with
   * {@link AppCloseCode.TryAgainLater} (a browser could not read an HTTP 429 on a failed upgrade).
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes every socket with `code` and stops accepting; resolves when the sockets are gone. */
  close(code: number, reason: string): Promise<void>;
}

/**
 * graphql-ws on the API's HTTP server, on the path of the Yoga it executes through (`/graphql`,
 * or `/subgraph`: same schema, plugins, context). The token comes in `connectionParams` (or, for
 * server-side clients such as federation routers, the upgrade request's `Authorization`); a bad
 * or missing one closes the socket with 4401 (or 4403 for a token without a role) before anything runs, and
 * the socket is closed with 4401 when its token expires, which ends its subscriptions.
 */
export function createGraphqlWsServer(options: GraphqlWsOptions): GraphqlWsServer {
  const { yoga, deps, logger, limiter, limits, trustProxy, persistedOperations, guard, metrics } = options;
  const { gatewaySecret } = options;
  const shared = new SharedSubscriptions();
  // The largest graphql-ws message, like the HTTP body limit.
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxBodyBytes });
  // Instead of graphql-ws' keep-alive (a timer and closures per socket): one per pod.
  const heartbeat = new Heartbeat(limits.keepAliveMs);
  // One listener for every socket, not a closure each (see docs/benchmarks.md, scale).
  const uncountSocket = () => metrics.wsConnections.dec();
  wss.on('connection', (socket) => {
    metrics.wsConnections.inc();
    socket.once('close', uncountSocket);
    heartbeat.add(socket);
  });
  const count = (state: SocketState | undefined, socket: WebSocket, id: string) => {
    // A socket that closed while the subscription was being set up has already been uncounted.
    if (!state || state.subscriptions.has(id) || socket.readyState !== socket.OPEN) return;
    state.subscriptions.add(id);
    metrics.wsSubscriptions.inc();
  };
  const uncount = (state: SocketState | undefined, id: string) => {
    if (state?.subscriptions.delete(id)) metrics.wsSubscriptions.dec();
  };

  // Errors of ours are logged as their class and codes only, and answered INTERNAL.
  const unexpected = async <T>(work: () => Promise<T>): Promise<T | GraphQLError[]> => {
    try {
      return await work();
    } catch (error) {
      logger.error(errorFields(error), 'websocket operation failed');
      return [new InternalError()];
    }
  };
  const unexpectedResult = (work: () => unknown): Promise<unknown> =>
    unexpected(async () => work()).then((result) => (Array.isArray(result) ? { errors: result } : result));

  useServer<Record<string, unknown>, { state: SocketState }>(
    {
      // Never an error's message in a close reason (graphql-ws puts it there outside production).
      isProd: true,
      connectionInitWaitTimeout: limits.connectionInitTimeoutMs,
      onConnect: async (ctx) => {
        const state: SocketState = { subscriptions: new Set() };
        (ctx.extra as { state?: SocketState }).state = state;
        try {
          // connectionParams first (browsers cannot set upgrade headers): `authorization`, or
          // `token`, where Apollo Router puts a propagated Authorization header; else the upgrade
          // request's own header, which routers that propagate headers onto subgraph sockets
          // (Hive Router, Cosmo) send. The value is `Bearer <jwt>` in each case.
          const presented =
            ctx.connectionParams?.authorization ??
            ctx.connectionParams?.token ??
            ctx.extra.request.headers.authorization;
          const viewer = await authenticate(deps, presented);
          const ttl = viewer.expiresAt - Date.now();
          state.viewer = viewer;
          state.credential = credentialDigest(String(presented));
          state.expiryTimer = setTimeout(
            () => ctx.extra.socket.close(CloseCode.Unauthorized, 'Token expired'),
            Math.max(0, Math.min(ttl, 2 ** 31 - 1)),
          );
          state.expiryTimer.unref();
          // graphql-ws keeps its context as long as the socket is open, and only this hook reads
          // the upgrade request (its headers, raw headers and stream state) and the connection
          // params (the bearer token): let them go rather than hold them for hours per socket.
          (ctx.extra as { request?: IncomingMessage }).request = undefined;
          (ctx as { connectionParams?: unknown }).connectionParams = undefined;
          return true;
        } catch (error) {
          const forbidden = error instanceof AppError && error.code === ErrorCode.Forbidden;
          const known = error instanceof AppError;
          if (!known) logger.error(errorFields(error), 'websocket authentication failed');
          // A failed authentication costs the address, as over HTTP.
          const decision = known ? await limiter.consume('ip', clientIp(ctx.extra.request, trustProxy), 1) : undefined;
          if (decision && !decision.allowed) {
            ctx.extra.socket.close(AppCloseCode.TryAgainLater, tooManyReason(decision));
            return false;
          }
          ctx.extra.socket.close(
            forbidden ? CloseCode.Forbidden : known ? CloseCode.Unauthorized : CloseCode.InternalServerError,
            known ? (error as Error).message : 'Internal server error',
          );
          return false;
        }
      },
      onClose: (ctx) => {
        clearTimeout(ctx.extra.state?.expiryTimer);
        // A subscription whose execution failed never reaches onComplete: the socket's end uncounts it.
        for (const id of ctx.extra.state?.subscriptions ?? []) uncount(ctx.extra.state, id);
      },
      onComplete: (ctx, id) => uncount(ctx.extra.state, id),
      // A throw would reach graphql-ws, which prints the whole error (a driver's has the SQL) to stderr.
      onSubscribe: (ctx, id, payload) =>
        unexpected(async () => {
          const viewer = ctx.extra.state?.viewer;
          const credential = ctx.extra.state?.credential;
          if (!viewer || !credential) return withoutHttp([new UnauthenticatedError('Not authenticated')]);
          const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
            viewer,
            requestId: randomUUID(),
            params: { operationName: payload.operationName ?? null },
          });
          const operationName = payload.operationName ?? null;
          const variables = payload.variables ?? null;
          // A refusal costs its points too: thousands of invalid operations on one socket are not
          // free. Past the budget the answer is RATE_LIMITED instead.
          const refuse = async (errors: readonly GraphQLError[], document?: ExecutionArgs['document']) => {
            const limited = await guard.chargeRefusal(
              viewer.id,
              document && { schema, document, operationName, variables },
            );
            return limited ? [limited] : [...errors];
          };
          if (gatewaySecret && !isSignedOperation(gatewaySecret, payload)) return refuse([new NotFromGatewayError()]);
          if (Object.keys(ctx.subscriptions).length > limits.maxSubscriptionsPerSocket) {
            return refuse([
              new BadUserInputError(`At most ${limits.maxSubscriptionsPerSocket} operations may be open on one socket`),
            ]);
          }
          // Yoga's persisted-operations plugin sees HTTP parameters only; the same rules here.
          const query = resolvePersistedOperation(payload, persistedOperations, limits.persistedOperationsOnly);
          if (query instanceof GraphQLError) return refuse([query]);
          let document: ExecutionArgs['document'];
          try {
            // Through Envelop: the token limit applies here, as over HTTP.
            document = parse(query);
          } catch (error) {
            const message = error instanceof GraphQLError ? error.message : 'Invalid query';
            return refuse([new BadUserInputError(message)]);
          }
          const errors = validate(schema, document);
          if (errors.length > 0) return refuse(errors, document);
          const operation = getOperationAST(document, operationName ?? undefined);
          if (operation?.operation === 'subscription') {
            // Same document, variables and token: the same answer, computed once.
            const key = subscriptionGroupKey({ query, operationName, variables, credential });
            const replay = isReplayable(schema, operation);
            const groupArgs: ExecutionArgs & { rootValue: { execute: typeof execute; subscribe: unknown } } = {
              schema,
              document,
              operationName: payload.operationName ?? null,
              variableValues: payload.variables ?? null,
              contextValue: null,
              rootValue: {
                execute,
                // The member writes its events to this socket itself (see SharedSubscriptions):
                // those frames are graphql-ws' bytes only while this server sets no
                // jsonMessageReplacer and `onNext` leaves results without errors alone.
                subscribe: async (args: ExecutionArgs) =>
                  shared.join(
                    key,
                    async () => subscribe({ ...args, contextValue: await contextFactory(), rootValue: undefined }),
                    replay,
                    { socket: ctx.extra.socket, id },
                  ),
              },
            };
            // A member joining a running group skips the subscribe step, where the budget is charged.
            if (shared.has(key)) {
              const refused = await guard.admit(viewer.id, { schema, document, operationName, variables });
              if (refused) return [refused];
            }
            count(ctx.extra.state, ctx.extra.socket, id);
            return groupArgs;
          }
          const args: ExecutionArgs & { rootValue: { execute: typeof execute; subscribe: typeof subscribe } } = {
            schema,
            document,
            operationName: payload.operationName ?? null,
            variableValues: payload.variables ?? null,
            contextValue: await contextFactory(),
            rootValue: { execute, subscribe },
          };
          return args;
        }),
      // `extensions.http` (a 429's status and headers) is for HTTP answers; Yoga strips it there.
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors ? { ...result, errors: withoutHttp(result.errors) } : undefined,
      onError: (_ctx, _id, _payload, errors) => withoutHttp(errors),
      execute: (args) =>
        unexpectedResult(() => (args.rootValue as { execute: (a: typeof args) => unknown }).execute(args)) as never,
      subscribe: (args) =>
        unexpectedResult(async () => {
          const source = await (args.rootValue as { subscribe: (a: typeof args) => unknown }).subscribe(args);
          // graphql-ws keeps these arguments while the subscription runs (for onNext, which reads
          // only the result); the root holds this operation's Envelop context and closures, which
          // a member of a shared group never needs again.
          args.rootValue = undefined;
          return source;
        }) as never,
    },
    wss,
    // Keep-alive is the pod-wide heartbeat above.
    0,
  );

  return {
    wss,
    shared,
    handleUpgrade: (req, socket, head) => {
      const signed =
        gatewaySecret !== undefined && isSignedConnect(gatewaySecret, req.headers[CONNECT_SIGNATURE_HEADER]);
      const admitted = signed
        ? Promise.resolve<RateLimitDecision>(UNMETERED)
        : limiter.consume('ws_connect', clientIp(req, trustProxy), 1);
      admitted
        .then((decision) => {
          if (socket.destroyed) return;
          if (gatewaySecret && !signed && decision.allowed) {
            socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n', () => socket.destroy());
            return;
          }
          wss.handleUpgrade(req, socket, head, (client) => {
            if (decision.allowed) wss.emit('connection', client, req);
            else client.close(AppCloseCode.TryAgainLater, tooManyReason(decision));
          });
        })
        .catch((error: unknown) => {
          logger.error(errorFields(error), 'websocket upgrade failed');
          socket.destroy();
        });
    },
    close: (code, reason) =>
      new Promise<void>((resolve) => {
        heartbeat.stop();
        for (const client of wss.clients) client.close(code, reason);
        // A client that never answers the close handshake would hold its socket for ws' own
        // timeout (30 s, past the pod's grace): cut it after a moment.
        const cutoff = setTimeout(() => {
          for (const client of wss.clients) client.terminate();
        }, CLOSE_HANDSHAKE_MS);
        cutoff.unref();
        wss.close(() => {
          clearTimeout(cutoff);
          resolve();
        });
      }),
  };
}

/** How long a client has to answer the server's close frame before its socket is cut. */
const CLOSE_HANDSHAKE_MS = 2_000;

/** The decision for a connection attempt no budget applies to. */
const UNMETERED: RateLimitDecision = {
  allowed: true,
  limit: Number.POSITIVE_INFINITY,
  remaining: Number.POSITIVE_INFINITY,
  resetMs: 0,
  retryAfterMs: 0,
};

/** A close reason (at most 123 bytes) a person can read and a client can parse. */
function tooManyReason(decision: RateLimitDecision): string {
  return `Rate limit exceeded; retryAfterMs=${Math.ceil(decision.retryAfterMs)}`;
}

function withoutHttp(errors: readonly GraphQLError[]): ExecutionResult['errors'] & object {
  return errors.map((error) => {
    const json = error.toJSON();
    if (!json.extensions || !('http' in json.extensions)) return error;
    const { http: _http, ...extensions } = json.extensions;
    return new GraphQLError(error.message, {
      nodes: error.nodes,
      path: error.path,
      originalError: error.originalError,
      extensions,
    });
  });
}
