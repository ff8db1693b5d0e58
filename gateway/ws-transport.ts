/**
 * A graphql-ws transport for subgraph subscriptions that never reconnects behind the client's back.
 *
 * Hive's own `ws` transport lets graphql-ws retry a lost socket (5 attempts by default) and then
 * subscribe again to every operation it carried. For a feed of changes without replay, such as
 * `patientDiagnoses`, the events published while no socket was open are lost and the client is
 * never told to re-read. Here a lost socket ends its subscriptions with its CloseEvent (or
 * ErrorEvent) instead, which `upstream-close.plugin.ts` turns into a GraphQL error, and the next
 * subscription opens a new socket, which the load balancer sends to a live pod.
 *
 * A pod that vanishes without closing its sockets (node failure, network partition) sends no close
 * at all, and TCP reports the loss only after minutes. So each socket is pinged (graphql-ws
 * `keepAlive`), and one whose ping goes unanswered for the pong timeout is terminated: its
 * subscriptions end with `4499: Terminated`, which the plugin maps like any other lost socket.
 */
import { createHmac } from 'node:crypto';
import { getInterpolatedHeadersFactory } from '@graphql-mesh/string-interpolation';
import type { Executor, Transport, TransportGetSubgraphExecutorOptions } from '@graphql-mesh/transport-common';
import { makeAsyncDisposable } from '@graphql-mesh/utils';
import { buildGraphQLWSExecutor } from '@graphql-tools/executor-graphql-ws';
import { type Client, createClient, TerminatedCloseEvent } from 'graphql-ws';
import WebSocket from 'ws';
import { loadGatewayConfig, type UpstreamKeepAlive } from './config.js';

/** The transport kind that selects this transport in a transport entry (`gateway.config.ts`). */
export const WS_NO_RETRY_KIND = 'ws-no-retry';

/** How long an upstream socket stays open after its last subscription ended, for the next one. */
const LAZY_CLOSE_TIMEOUT_MS = 3_000;

/** RFC 6455 Normal Closure: also what this side sends on a lazy close or on dispose. */
const NORMAL_CLOSURE = 1000;

/** Options of a transport entry of this kind; `connectionParams` values may interpolate `{context.…}`. */
export interface WsNoRetryTransportOptions {
  connectionParams?: Record<string, string>;
  /**
   * Ping interval and pong timeout of every socket to this subgraph. Default: the gateway's
   * configuration (`GATEWAY_UPSTREAM_PING_MS`, `GATEWAY_UPSTREAM_PONG_TIMEOUT_MS`).
   */
  keepAlive?: UpstreamKeepAlive;
}

interface Upstream {
  readonly client: Client;
  readonly execute: Executor;
}

const closeCode = (event: unknown): number | undefined =>
  typeof event === 'object' && event !== null && typeof (event as { code?: unknown }).code === 'number'
    ? (event as { code: number }).code
    : undefined;

/** The message of a socket's ErrorEvent (`connect ECONNREFUSED …`, `Unexpected server response: 503`). */
const errorMessage = (event: unknown): string =>
  typeof event === 'object' && event !== null && typeof (event as { message?: unknown }).message === 'string'
    ? (event as { message: string }).message
    : String(event);

/** The subgraph's http(s) location as the ws(s) URL of the same path. */
function webSocketUrl(location: string): string {
  const url = new URL(location);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  return url.toString();
}

/** What graphql-ws constructs: `new WebSocketImpl(url, 'graphql-transport-ws')`. */
type WebSocketClass = new (address: string, protocols?: string | string[]) => WebSocket;

/** The upgrade header that proves a connect comes from this gateway (the API's src/graphql/gateway-signature.ts). */
const CONNECT_SIGNATURE_HEADER = 'x-gateway-signature';

/**
 * `t=<unix seconds>,sig=<base64 HMAC-SHA256 of "graphql-ws:<t>">`: the API's `/subgraph` accepts
 * only connects signed so (while fresh), and does not charge them to the gateway's address.
 */
function connectSignature(secret: string): string {
  const t = Math.floor(Date.now() / 1000);
  return `t=${t},sig=${createHmac('sha256', secret).update(`graphql-ws:${t}`).digest('base64')}`;
}

/**
 * `ws` sends extra headers only on the upgrade request, given as a constructor option; with a
 * secret, each socket (graphql-ws opens a new one after a lazy close) is signed when it is made.
 */
function webSocketWithHeaders(headers: Record<string, string>, secret: string | undefined): WebSocketClass {
  if (Object.keys(headers).length === 0 && !secret) return WebSocket;
  return class WebSocketWithHeaders extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols, {
        headers: { ...headers, ...(secret ? { [CONNECT_SIGNATURE_HEADER]: connectSignature(secret) } : {}) },
      });
    }
  };
}

function getSubgraphExecutor({ transportEntry, log }: TransportGetSubgraphExecutorOptions<WsNoRetryTransportOptions>) {
  if (!transportEntry.location) {
    throw new Error(`Transport "${WS_NO_RETRY_KIND}" of subgraph ${transportEntry.subgraph} needs a location`);
  }
  const url = webSocketUrl(transportEntry.location);
  // gateway.config.ts has validated the same environment before any transport is built.
  const gatewayConfig = loadGatewayConfig(process.env);
  const keepAlive = transportEntry.options?.keepAlive ?? gatewayConfig.upstreamKeepAlive;
  const connectionParamsFor = getInterpolatedHeadersFactory(transportEntry.options?.connectionParams);
  const headersFor = getInterpolatedHeadersFactory(Object.fromEntries(transportEntry.headers ?? []));
  // One socket per distinct connectionParams and headers, so per token: clinicians never share one.
  // The key holds the token; it stays in this map and is never logged.
  const upstreams = new Map<string, Upstream>();

  function open(key: string, connectionParams: Record<string, string>, headers: Record<string, string>): Upstream {
    /** The client's current socket (one at a time), to drop its TCP connection when it stops answering. */
    let socket: WebSocket | undefined;
    /** Runs out when the server has not answered the last ping: the socket is then presumed dead. */
    let pongTimer: NodeJS.Timeout | undefined;
    const stopWaitingForPong = () => {
      clearTimeout(pongTimer);
      pongTimer = undefined;
    };

    function terminateUnanswered(): void {
      log.warn(
        { url, pongTimeoutMs: keepAlive.pongTimeoutMs },
        'upstream subscription socket answered no ping in time; terminated, its subscriptions end with an error',
      );
      if (upstreams.get(key) === upstream) upstreams.delete(key);
      const unanswered = socket;
      // Ends every subscription on the socket at once with `4499: Terminated` (no retry: retryAttempts 0).
      client.terminate();
      // graphql-ws then only starts a closing handshake, which a vanished peer never completes (`ws`
      // would hold the connection 30 s for it): drop the TCP connection now.
      unanswered?.terminate();
    }

    const client: Client = createClient({
      url,
      webSocketImpl: webSocketWithHeaders(headers, gatewayConfig.hmacSecret),
      lazy: true,
      lazyCloseTimeout: LAZY_CLOSE_TIMEOUT_MS,
      // A lost socket ends its subscriptions instead of resubscribing them on a new one.
      retryAttempts: 0,
      // The next ping goes this long after the socket opened or after the last pong.
      keepAlive: keepAlive.pingMs,
      connectionParams,
      on: {
        opened: (opened) => {
          socket = opened instanceof WebSocket ? opened : undefined;
        },
        ping: (received) => {
          // `received` is a ping the server sent (answered by graphql-ws itself), not ours.
          if (received || keepAlive.pongTimeoutMs <= 0) return;
          stopWaitingForPong();
          pongTimer = setTimeout(terminateUnanswered, keepAlive.pongTimeoutMs);
          // The socket keeps the process alive while it is open; the timer must not after it closed.
          pongTimer.unref();
        },
        pong: (received) => {
          if (received) stopWaitingForPong();
        },
        // Only the URL and codes are logged: connectionParams and headers hold the client's token.
        connected: () => log.debug({ url }, 'upstream subscription socket connected'),
        error: (event) => log.warn({ url, error: errorMessage(event) }, 'upstream subscription socket failed'),
        closed(event) {
          stopWaitingForPong();
          socket = undefined;
          // The synthetic event of a terminate() (below, or on an unanswered ping): the socket's
          // own close, if any, was handled already.
          if (event instanceof TerminatedCloseEvent) return;
          const code = closeCode(event);
          // Later subscriptions with the same token get a new client, hence a new socket.
          if (upstreams.get(key) === upstream) upstreams.delete(key);
          if (code !== NORMAL_CLOSURE) {
            log.info({ url, code }, 'upstream subscription socket closed; its subscriptions end with an error');
            return;
          }
          log.debug({ url, code }, 'upstream subscription socket closed');
          // graphql-ws reconnects after a 1000 close while subscriptions are active, whatever
          // retryAttempts says. Terminating now ends them with `4499: Terminated` instead (this
          // listener runs before the client's own). With none active, as after a lazy close or
          // dispose, it changes nothing.
          client.terminate();
        },
      },
    });
    const upstream: Upstream = { client, execute: buildGraphQLWSExecutor(client) };
    return upstream;
  }

  const execute: Executor = (request) => {
    const data = {
      env: process.env as Record<string, string>,
      root: request.rootValue,
      context: request.context,
      info: request.info,
    };
    const connectionParams = connectionParamsFor(data);
    const headers = headersFor(data);
    const key = JSON.stringify([connectionParams, headers]);
    let upstream = upstreams.get(key);
    if (!upstream) {
      upstream = open(key, connectionParams, headers);
      upstreams.set(key, upstream);
    }
    return upstream.execute(request);
  };

  return makeAsyncDisposable(execute, async () => {
    const clients = [...upstreams.values()].map(({ client }) => client);
    upstreams.clear();
    await Promise.all(clients.map((client) => client.dispose()));
  });
}

/** Selected by `kind: 'ws-no-retry'`, through the gateway's `transports` option. */
const wsNoRetryTransport = { getSubgraphExecutor } satisfies Transport<WsNoRetryTransportOptions>;
export default wsNoRetryTransport;
