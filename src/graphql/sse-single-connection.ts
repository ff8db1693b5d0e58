import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { useGraphQLSSE } from '@graphql-yoga/plugin-graphql-sse';
import { type ExecutionResult, GraphQLError, parse } from 'graphql';
import type { Response as SseResponse } from 'graphql-sse';
import type { Plugin } from 'graphql-yoga';
import type { Viewer } from '../auth/jwt.js';
import { AppError, ErrorCode } from '../errors.js';
import type { RateLimitGuard } from './rate-limit.plugin.js';

/**
 * The GraphQL over Server-Sent Events protocol's "single connection mode" (graphql-sse), through
 * `@graphql-yoga/plugin-graphql-sse`, on the same path as everything else: a client reserves a
 * stream (`PUT`), opens it (`GET` or `POST` with `Accept: text/event-stream` and the stream token),
 * then sends operations (`POST` with the token) whose results arrive on that one stream, and stops
 * one with `DELETE ?operationId=`. Yoga keeps answering every other request itself, the
 * "distinct connections" mode (`Accept: text/event-stream`, one stream per operation) included.
 *
 * Authorization is the same as everywhere: every one of these requests carries the clinician's
 * bearer token and is authenticated (a failure costs the address, as over HTTP); operations run
 * through the same Envelop (limits, rate limits, audit, the care-team rule on every event). A
 * reservation belongs to the clinician who made it: another clinician's token — even with the
 * stream token — answers like a stream that does not exist.
 *
 * A stream lives in the memory of the pod that made the reservation (graphql-sse keeps it there),
 * like a WebSocket: its requests must reach that pod (sticky sessions), or clients use the
 * distinct connections mode or graphql-ws, which any pod serves.
 */
export const STREAM_TOKEN_HEADER = 'x-graphql-event-stream-token';
const STREAM_TOKEN_PARAM = 'token';
/** Reservations (opened or not) one clinician may hold on one pod. */
export const MAX_STREAMS_PER_CLINICIAN = 8;
/** A reservation not opened within this time is given up. */
export const RESERVATION_TTL_MS = 30_000;

function streamTokenOf(request: Request): string | null {
  return request.headers.get(STREAM_TOKEN_HEADER) ?? new URL(request.url).searchParams.get(STREAM_TOKEN_PARAM);
}

/**
 * Whether a request is single connection mode's: a reservation (`PUT`), a stop (`DELETE`), or
 * anything carrying a stream token. The rest is Yoga's.
 */
export function isSingleConnectionRequest(request: Request): boolean {
  return request.method === 'PUT' || request.method === 'DELETE' || streamTokenOf(request) !== null;
}

interface Reservation {
  owner: string;
  /** Gives the reservation up if it is not opened in time; cleared when the stream opens. */
  expiry: NodeJS.Timeout | undefined;
}

export interface SseSingleConnectionOptions {
  /** The GraphQL path (`/graphql`). */
  endpoint: string;
  guard: RateLimitGuard;
  /** Yoga's error masking, for errors a subscription throws while it streams. */
  maskError: (error: unknown) => Error;
}

/** See the top of this file. */
export function useSseSingleConnection({ endpoint, guard, maskError }: SseSingleConnectionOptions): Plugin {
  const viewers = new WeakMap<Request, Viewer>();
  /** The validation errors of a refused operation, which graphql-sse would answer with a bare 400. */
  const refusals = new WeakMap<Request, readonly Error[]>();
  const reservations = new Map<string, Reservation>();
  const heldBy = (owner: string) => {
    let count = 0;
    for (const reservation of reservations.values()) if (reservation.owner === owner) count++;
    return count;
  };
  const release = (token: string) => {
    clearTimeout(reservations.get(token)?.expiry);
    reservations.delete(token);
  };

  const sse = useGraphQLSSE({
    endpoint,
    authenticate: (req) => {
      const request = req.raw as Request;
      const viewer = viewers.get(request);
      if (!viewer) return refusal(ErrorCode.Unauthenticated, 'A valid bearer token is required', 401);
      if (request.method === 'PUT') {
        if (heldBy(viewer.id) >= MAX_STREAMS_PER_CLINICIAN) {
          return refusal(ErrorCode.BadUserInput, `At most ${MAX_STREAMS_PER_CLINICIAN} event streams at once`, 409);
        }
        const token = randomUUID();
        const expiry = setTimeout(() => release(token), RESERVATION_TTL_MS);
        expiry.unref();
        reservations.set(token, { owner: viewer.id, expiry });
        return token;
      }
      const token = streamTokenOf(request);
      const reservation = token ? reservations.get(token) : undefined;
      // Someone else's stream is answered exactly like a missing one: no existence leak.
      if (!token || !reservation || reservation.owner !== viewer.id) {
        return refusal(ErrorCode.NotFound, 'Stream not found', 404);
      }
      if (request.headers.get('accept') === 'text/event-stream') {
        // Opening the stream: it now lives as long as the client holds it.
        clearTimeout(reservation.expiry);
        reservation.expiry = undefined;
        request.signal.addEventListener('abort', () => release(token), { once: true });
      }
      return token;
    },
  });

  return {
    onYogaInit: (payload) => sse.onYogaInit?.(payload),
    // An invalid operation still costs its points, as over HTTP and graphql-ws: Yoga's own charge
    // for it runs on a response this mode never makes. (Unparsable ones: see onRequest.)
    onValidate: ({ context, params }) => {
      const request = (context as { request?: Request }).request;
      const viewer = request && viewers.get(request);
      if (!viewer) return;
      return ({ valid, result }) => {
        if (valid) return;
        refusals.set(request, result);
        const operation = { schema: params.schema, document: params.documentAST };
        void guard.chargeRefusal(viewer.id, operation, request).catch(() => undefined);
      };
    },
    // A subscription that fails while it streams (its patient hidden from the viewer) throws from
    // its iterator. Yoga and graphql-ws answer that with an error; graphql-sse's handler does not
    // catch it, which would leave the stream hanging and the rejection unhandled. On this mode's
    // operations it becomes a last result with the (masked) error, and the operation completes.
    onSubscribe: ({ args }) => {
      const request = (args.contextValue as { request?: Request }).request;
      if (!request || !viewers.has(request)) return;
      return {
        onSubscribeResult: ({ result, setResult }) => {
          if (isAsyncIterable(result)) setResult(endingOnError(result, maskError));
        },
      };
    },
    onRequest: async (payload) => {
      const { request, endResponse, serverContext } = payload;
      if (!new URL(request.url).pathname.endsWith(endpoint) || !isSingleConnectionRequest(request)) return;
      let viewer: Viewer;
      try {
        // Yoga's Node adapter hands the IncomingMessage over in the server context.
        const req = (serverContext as { req?: IncomingMessage } | undefined)?.req;
        viewer = await guard.authenticateRequest(request, req);
        viewers.set(request, viewer);
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        const http = (error.extensions.http ?? {}) as { status?: number; headers?: Record<string, string> };
        endResponse(errorResponse(error.code, error.message, http.status ?? 401, http.headers));
        return;
      }
      // The plugin parses an operation where nothing catches a syntax error: graphql-sse would
      // answer 500 with the error's stack. Parsed here first, it is the client's mistake — 400,
      // masked as Yoga masks it, and charged like any refusal.
      const syntaxError = await syntaxErrorOf(request);
      if (syntaxError) {
        await guard.chargeRefusal(viewer.id, undefined, request);
        const masked = maskError(syntaxError) as GraphQLError;
        endResponse(errorResponse(ErrorCode.BadUserInput, masked.message, 400));
        return;
      }
      return sse.onRequest?.({
        ...payload,
        // Nothing of an unexpected failure leaves the pod: graphql-sse would send its stack.
        endResponse: (response) => {
          const refused = refusals.get(request);
          if (response.status === 400 && refused) {
            // graphql-sse does not pass an invalid operation's errors on ("Unable to detect
            // operation AST"): the client gets them, masked as Yoga masks them.
            const errors = refused.map((error) => {
              const masked = maskError(error) as GraphQLError;
              const { http: _http, ...extensions } = masked.extensions as Record<string, unknown>;
              return { ...masked.toJSON(), extensions };
            });
            endResponse(jsonResponse({ errors }, 400));
            return;
          }
          endResponse(
            response.status >= 500
              ? errorResponse(ErrorCode.Internal, 'Internal server error', response.status)
              : response,
          );
        },
      });
    },
  };
}

/** The syntax error of an operation `POST`ed into a stream, if its query does not parse. */
async function syntaxErrorOf(request: Request): Promise<GraphQLError | undefined> {
  if (request.method !== 'POST' || request.headers.get('accept') === 'text/event-stream') return undefined;
  const body = (await request
    .clone()
    .json()
    .catch(() => undefined)) as { query?: unknown } | undefined;
  if (typeof body?.query !== 'string') return undefined;
  try {
    parse(body.query);
    return undefined;
  } catch (error) {
    return error instanceof GraphQLError ? error : undefined;
  }
}

function isAsyncIterable(value: unknown): value is AsyncIterable<ExecutionResult> {
  return typeof (value as AsyncIterable<unknown> | null)?.[Symbol.asyncIterator] === 'function';
}

async function* endingOnError(
  source: AsyncIterable<ExecutionResult>,
  maskError: (error: unknown) => Error,
): AsyncGenerator<ExecutionResult> {
  try {
    yield* source;
  } catch (error) {
    const masked = maskError(error);
    yield { errors: [masked instanceof GraphQLError ? masked : new GraphQLError(masked.message)] };
  }
}

/** A refusal as graphql-sse's handler returns one: `[body, init]`. */
function refusal(code: ErrorCode, message: string, status: number): SseResponse {
  return [
    JSON.stringify({ errors: [{ message, extensions: { code } }] }),
    { status, statusText: '', headers: { 'content-type': 'application/json; charset=utf-8' } },
  ];
}

function errorResponse(code: ErrorCode, message: string, status: number, headers: Record<string, string> = {}) {
  return jsonResponse({ errors: [{ message, extensions: { code } }] }, status, headers);
}

function jsonResponse(body: unknown, status: number, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
}
