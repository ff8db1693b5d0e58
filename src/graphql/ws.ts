import { randomUUID } from 'node:crypto';
import type { ExecutionArgs } from 'graphql';
import { GraphQLError } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { Viewer } from '../auth/jwt.js';
import type { Logger } from '../lib/logger.js';
import { authenticate, type ContextDeps } from './context.js';
import { AppError, ErrorCode } from './errors.js';
import type { Yoga } from './yoga.js';

/** Close codes of our own, beside graphql-ws' {@link CloseCode}. */
export const AppCloseCode = {
  /** RFC 6455 "going away": the pod is draining; reconnect (to another pod). */
  GoingAway: 1001,
} as const;

/** At most this many operations may run at once on one socket (the contract's limit). */
export const MAX_SUBSCRIPTIONS_PER_SOCKET = 50;
/** The largest graphql-ws message accepted, like the HTTP body limit. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

interface SocketState {
  viewer?: Viewer;
  expiryTimer?: NodeJS.Timeout;
}

export interface GraphqlWsServer {
  readonly wss: WebSocketServer;
  /** Closes every socket with `code` and stops accepting; resolves when the sockets are gone. */
  close(code: number, reason: string): Promise<void>;
}

/**
 * graphql-ws on the API's HTTP server, path `/graphql`, executing through the same Yoga (same
 * schema, plugins, context). The token comes in `connectionParams.authorization`; a bad or missing
 * one closes the socket with 4401 (or 4403 for a token without a role) before anything runs, and
 * the socket is closed with 4401 when its token expires, which ends its subscriptions.
 */
export function createGraphqlWsServer(yoga: Yoga, deps: ContextDeps, logger: Logger): GraphqlWsServer {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });

  useServer<Record<string, unknown>, { state: SocketState }>(
    {
      onConnect: async (ctx) => {
        const state: SocketState = {};
        (ctx.extra as { state?: SocketState }).state = state;
        try {
          const viewer = await authenticate(deps, ctx.connectionParams?.authorization);
          const ttl = viewer.expiresAt - Date.now();
          state.viewer = viewer;
          state.expiryTimer = setTimeout(
            () => ctx.extra.socket.close(CloseCode.Unauthorized, 'Token expired'),
            Math.max(0, Math.min(ttl, 2 ** 31 - 1)),
          );
          state.expiryTimer.unref();
          return true;
        } catch (error) {
          const forbidden = error instanceof AppError && error.code === ErrorCode.Forbidden;
          const known = error instanceof AppError;
          if (!known) logger.error({ err: { message: (error as Error).message } }, 'websocket authentication failed');
          ctx.extra.socket.close(
            forbidden ? CloseCode.Forbidden : known ? CloseCode.Unauthorized : CloseCode.InternalServerError,
            known ? (error as Error).message : 'Internal server error',
          );
          return false;
        }
      },
      onClose: (ctx) => {
        clearTimeout(ctx.extra.state?.expiryTimer);
      },
      onSubscribe: async (ctx, _id, payload) => {
        const viewer = ctx.extra.state?.viewer;
        if (!viewer)
          return [new GraphQLError('Not authenticated', { extensions: { code: ErrorCode.Unauthenticated } })];
        if (Object.keys(ctx.subscriptions).length > MAX_SUBSCRIPTIONS_PER_SOCKET) {
          return [
            new GraphQLError(`At most ${MAX_SUBSCRIPTIONS_PER_SOCKET} operations may be open on one socket`, {
              extensions: { code: ErrorCode.BadUserInput },
            }),
          ];
        }
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          viewer,
          requestId: randomUUID(),
          params: { operationName: payload.operationName ?? null },
        });
        let document: ExecutionArgs['document'];
        try {
          document = parse(payload.query);
        } catch (error) {
          return [error instanceof GraphQLError ? error : new GraphQLError('Invalid query')];
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return [...errors];
        const args: ExecutionArgs & { rootValue: { execute: typeof execute; subscribe: typeof subscribe } } = {
          schema,
          document,
          operationName: payload.operationName ?? null,
          variableValues: payload.variables ?? null,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        return args;
      },
      execute: (args) => (args.rootValue as { execute: (a: typeof args) => unknown }).execute(args) as never,
      subscribe: (args) => (args.rootValue as { subscribe: (a: typeof args) => unknown }).subscribe(args) as never,
    },
    wss,
  );

  return {
    wss,
    close: (code, reason) =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.close(code, reason);
        wss.close(() => resolve());
      }),
  };
}
