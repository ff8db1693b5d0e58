import { Client, cacheExchange, fetchExchange, subscriptionExchange } from '@urql/core';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';

/**
 * The live connection as the clinician should see it: `connecting` before the first
 * acknowledgement, `live` while the socket is up, `reconnecting` after it dropped (a pod drained
 * or died) until another pod acknowledges; `signed-out` when the server refused the token.
 */
export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'signed-out';

export interface Connection {
  readonly state: ConnectionState;
  /** Grows by one each time the socket comes back after a drop: screens refetch what they may have missed. */
  readonly reconnects: number;
}

export interface Api {
  readonly client: Client;
  readonly ws: WsClient;
  connection(): Connection;
  onConnection(listener: (connection: Connection) => void): () => void;
  dispose(): void;
}

/** Close codes after which retrying with the same token cannot help. */
const AUTH_CLOSE_CODES = new Set([4401, 4403]);
/** No pong this long after a ping: the socket is dead though no close event came (a lost pod, a cut cable). */
const PONG_TIMEOUT_MS = 4_000;
const PING_EVERY_MS = 8_000;

/**
 * One urql client for HTTP (queries, mutations) and graphql-ws (subscriptions), both on this
 * origin's `/graphql` with the clinician's token. The socket is opened at once and kept open,
 * retried for ever with a short capped back-off: graphql-ws then subscribes every open
 * subscription again on the new socket, and `diagnosisUpdated` answers a new subscription with the
 * current state first, so nothing is missed while the screen says "reconnecting".
 */
export function createApi(token: string): Api {
  const authorization = `Bearer ${token}`;
  let connection: Connection = { state: 'connecting', reconnects: 0 };
  let wasLive = false;
  const listeners = new Set<(connection: Connection) => void>();
  const set = (next: Connection) => {
    connection = next;
    for (const listener of listeners) listener(next);
  };
  let socket: WebSocket | undefined;
  let pongTimer: ReturnType<typeof setTimeout> | undefined;

  const wsUrl = new URL('/graphql', window.location.href);
  wsUrl.protocol = wsUrl.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = createWsClient({
    url: wsUrl.href,
    connectionParams: { authorization },
    lazy: false,
    retryAttempts: Number.POSITIVE_INFINITY,
    // Every close but a refused token is worth retrying: 1001 (a draining pod), 1006 (a dead one),
    // 1013 (rate limited, the server's reason says for how long; the back-off covers it).
    shouldRetry: (event) => !(isCloseEvent(event) && AUTH_CLOSE_CODES.has(event.code)),
    retryWait: (retries) =>
      new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** retries, 4_000) + Math.random() * 250)),
    onNonLazyError: () => undefined,
    keepAlive: PING_EVERY_MS,
    on: {
      connected: (opened) => {
        socket = opened as WebSocket;
        set({ state: 'live', reconnects: connection.reconnects + (wasLive ? 1 : 0) });
        wasLive = true;
      },
      closed: (event) => {
        clearTimeout(pongTimer);
        socket = undefined;
        if (isCloseEvent(event) && AUTH_CLOSE_CODES.has(event.code)) set({ ...connection, state: 'signed-out' });
        else if (connection.state !== 'signed-out')
          set({ ...connection, state: wasLive ? 'reconnecting' : 'connecting' });
      },
      ping: (received) => {
        if (received) return;
        clearTimeout(pongTimer);
        pongTimer = setTimeout(() => {
          if (socket?.readyState === WebSocket.OPEN) socket.close(4408, 'Pong timeout');
        }, PONG_TIMEOUT_MS);
      },
      pong: (received) => {
        if (received) clearTimeout(pongTimer);
      },
    },
  });

  const client = new Client({
    url: '/graphql',
    preferGetMethod: false,
    fetchOptions: () => ({ headers: { authorization } }),
    exchanges: [
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription: (request) => {
          const input = { ...request, query: request.query ?? '' };
          return {
            subscribe: (sink) => ({ unsubscribe: ws.subscribe(input, sink) }),
          };
        },
      }),
    ],
  });

  return {
    client,
    ws,
    connection: () => connection,
    onConnection: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    dispose: () => {
      clearTimeout(pongTimer);
      listeners.clear();
      void ws.dispose();
    },
  };
}

function isCloseEvent(value: unknown): value is CloseEvent {
  return typeof value === 'object' && value !== null && 'code' in value && typeof value.code === 'number';
}
