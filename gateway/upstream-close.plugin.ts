import type { GatewayPlugin } from '@graphql-hive/gateway';
import { type ExecutionResult, GraphQLError } from 'graphql';

/**
 * What a client sees when the API closes the gateway's upstream graphql-ws socket, by close code:
 * 4401 (no, bad or expired token: also how the API ends a socket whose token expires), 4403 (a
 * token without a role), 1013 (rate limited, after the transport's retries). The codes are the
 * API's error contract.
 */
const CLOSE_CODE_ERRORS: Readonly<Record<number, string>> = {
  4401: 'UNAUTHENTICATED',
  4403: 'FORBIDDEN',
  1013: 'RATE_LIMITED',
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

/**
 * The WS transport ends a subscription with the raw CloseEvent when the subgraph closes the socket,
 * and the gateway turns that into an error without a message. This turns it into one GraphQL
 * error with the subgraph's reason and a code, then ends the subscription.
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
        if (!isCloseEvent(error)) throw error;
        ended = true;
        const code = CLOSE_CODE_ERRORS[error.code] ?? 'INTERNAL';
        const message = error.reason || `The subgraph closed the subscription's connection (${error.code})`;
        return { done: false, value: { errors: [new GraphQLError(message, { extensions: { code } })] } };
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
