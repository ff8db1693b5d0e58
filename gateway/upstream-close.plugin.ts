import type { GatewayPlugin } from '@graphql-hive/gateway';
import { type ExecutionResult, GraphQLError } from 'graphql';
import { CloseCode } from 'graphql-ws';

/** The API's own close code beside graphql-ws' {@link CloseCode} (RFC 6455 Try Again Later). */
const TRY_AGAIN_LATER = 1013;

/**
 * What a client sees when the API closes the gateway's upstream graphql-ws socket on purpose, by
 * close code: 4401 (no, bad or expired token: also how the API ends a socket whose token expires),
 * 4403 (a token without a role), 1013 (rate limited). The codes are the API's error contract; the
 * message is the API's close reason.
 */
const CLOSE_CODE_ERRORS: Readonly<Record<number, string>> = {
  [CloseCode.Unauthorized]: 'UNAUTHENTICATED',
  [CloseCode.Forbidden]: 'FORBIDDEN',
  [TRY_AGAIN_LATER]: 'RATE_LIMITED',
};

interface CloseEventLike {
  code: number;
  reason: string;
}

const isCloseEvent = (value: unknown): value is CloseEventLike =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as CloseEventLike).code === 'number' &&
  typeof (value as CloseEventLike).reason === 'string';

/** The socket's `error` event: it could not open (refused, or an HTTP answer such as 404 or 503) or broke. */
const isSocketErrorEvent = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'error';

/**
 * Any other close (1006 the pod died, 1001 it is shutting down, 1011, 4499 …) or a socket error
 * lost the subscription, and with it the events published until a new one starts: the feeds do not
 * replay, so the client must subscribe again and re-read. Neither the close reason nor the socket
 * error is passed on: they are not written for clients, and the latter names internal addresses.
 */
const lostConnectionError = () =>
  new GraphQLError('Lost the connection to the service running this subscription; subscribe again', {
    extensions: { code: 'INTERNAL', resubscribe: true },
  });

function closeError(event: CloseEventLike): GraphQLError {
  const code = CLOSE_CODE_ERRORS[event.code];
  if (!code) return lostConnectionError();
  const message = event.reason || `The subgraph closed the subscription's connection (${event.code})`;
  return new GraphQLError(message, { extensions: { code } });
}

/**
 * The WS transport (`ws-transport.ts`) ends a subscription with the raw CloseEvent or ErrorEvent
 * when its socket closes or fails, and the gateway would turn that into an error without a message
 * (or with the socket's, which names internal addresses). This turns it into one GraphQL error with
 * a code, then ends the subscription.
 */
export function useUpstreamCloseErrors(subgraphName: string): GatewayPlugin {
  return {
    onSubgraphExecute(payload) {
      if (payload.subgraphName !== subgraphName) return;
      return ({ result, setResult }) => {
        if (Symbol.asyncIterator in result) setResult(mapCloseEvents(result));
      };
    },
  };
}

function mapCloseEvents(results: AsyncIterable<ExecutionResult>): AsyncIterableIterator<ExecutionResult> {
  const upstream = results[Symbol.asyncIterator]();
  let ended = false;
  // A plain iterator, not an async generator: `return()` must reach the upstream at once, even
  // while a `next()` waits for an event (a generator would queue it behind that `next()`).
  return {
    async next() {
      if (ended) return { done: true, value: undefined };
      try {
        return await upstream.next();
      } catch (error) {
        let mapped: GraphQLError;
        if (isCloseEvent(error)) mapped = closeError(error);
        else if (isSocketErrorEvent(error)) mapped = lostConnectionError();
        // Anything else (say, the subgraph's GraphQL errors for the subscribe) is the gateway's to report.
        else throw error;
        ended = true;
        return { done: false, value: { errors: [mapped] } };
      }
    },
    async return() {
      ended = true;
      return (await upstream.return?.()) ?? { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
