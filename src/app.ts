import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Config } from './config.js';
import type { Deps } from './deps.js';
import { ErrorCode } from './errors.js';
import { wantsApolloMultipart } from './graphql/apollo-multipart.js';
import { PersistedOperations } from './graphql/limits.js';
import { RateLimitGuard } from './graphql/rate-limit.plugin.js';
import { buildSubgraphSchema } from './graphql/schema.js';
import { AppCloseCode, createGraphqlWsServer, type GraphqlWsServer } from './graphql/ws.js';
import { createGraphqlServer, type Yoga } from './graphql/yoga.js';
import { Connections } from './http/connections.js';
import { ConsoleSite } from './http/console.js';
import { liveness, readiness, readinessHttpStatus } from './http/health.js';
import { sendJson } from './http/json.js';
import { EventLoopMonitor } from './lib/event-loop.js';
import { errorFields } from './lib/logger.js';

export interface App {
  readonly server: Server;
  /** Listens on the configured address (port 0 picks a free port); resolves to the bound URL. */
  listen(): Promise<URL>;
  /** Whether the pod is draining (readiness answers 503). */
  readonly draining: boolean;
  /**
   * Drains and stops: readiness turns 503, no new connections, WebSockets close with 1001,
   * in-flight requests finish. Does not close `deps` (the caller owns them).
   */
  close(): Promise<void>;
}

export interface AppOptions {
  /** Pre-filled into GraphiQL's headers and the console's sign-in (embedded mode). */
  graphiqlToken?: string;
  /** Where the built console is (default `dist/console/`). */
  consoleDir?: string;
}

/** Wires HTTP, GraphQL over HTTP/SSE, graphql-ws, health and metrics. Does not listen by itself. */
export function buildApp(config: Config, deps: Deps, options: AppOptions = {}): App {
  const { logger, metrics } = deps;
  const limits = config.graphqlLimits;
  // Read once at start-up: a missing or inconsistent allow-list stops the pod from starting.
  const persistedOperations = limits.persistedOperationsFile
    ? PersistedOperations.fromFile(limits.persistedOperationsFile)
    : undefined;
  const guard = new RateLimitGuard({
    limiter: deps.rateLimiter,
    costs: config.rateLimit.costs,
    maxCost: limits.maxCost,
    deps,
    trustProxy: config.trustProxy,
  });
  const shared = {
    deps,
    logger,
    metrics,
    limits,
    guard,
    persistedOperations,
    tracing: deps.tracing,
    corsOrigins: config.corsOrigins,
  };
  const wsOptions = {
    deps,
    logger,
    limiter: deps.rateLimiter,
    limits,
    trustProxy: config.trustProxy,
    guard,
    persistedOperations,
    metrics,
  };
  // Each GraphQL endpoint: one Yoga (HTTP and SSE) and one graphql-ws server on the same path.
  const endpoints = new Map<string, { yoga: Yoga; ws: GraphqlWsServer }>();
  const yoga = createGraphqlServer({
    ...shared,
    graphiql: config.graphiql,
    ...(options.graphiqlToken ? { graphiqlToken: options.graphiqlToken } : {}),
    sseSingleConnection: true,
  });
  endpoints.set('/graphql', { yoga, ws: createGraphqlWsServer({ yoga, ...wsOptions }) });
  if (config.subgraph) {
    // The federation subgraph: the same operations, guards and plugins, plus `_entities`/`_service`.
    const subgraph = createGraphqlServer({
      ...shared,
      endpoint: '/subgraph',
      schema: buildSubgraphSchema(),
      graphiql: false,
      gatewaySecret: config.gatewayHmacSecret,
    });
    endpoints.set('/subgraph', {
      yoga: subgraph,
      ws: createGraphqlWsServer({ yoga: subgraph, ...wsOptions, gatewaySecret: config.gatewayHmacSecret }),
    });
  }
  const site = new ConsoleSite(options.consoleDir, options.graphiqlToken);
  const eventLoop = new EventLoopMonitor().start();
  metrics.watchEventLoop(eventLoop);
  let draining = false;
  // Server-sent-event streams never finish by themselves: shutdown ends them (clients reconnect).
  const eventStreams = new Set<ServerResponse>();

  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => Promise<void> | void> = {
    '/health/live': (_req, res) => {
      const report = liveness(eventLoop, config.livenessMaxLagMs);
      sendJson(res, report.status === 'ok' ? 200 : 503, report);
    },
    '/health/ready': async (_req, res) => {
      const report = await readiness(deps.healthChecks, config.healthTimeoutMs, draining);
      sendJson(res, readinessHttpStatus(report), report);
    },
    '/metrics': async (_req, res) => {
      const body = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body);
    },
  };

  const server = createServer((req, res) => {
    connections.track(req, res);
    const path = (req.url ?? '/').split('?', 1)[0] as string;
    if (site.handles(path)) return site.serve(req, res, path);
    const route = req.method === 'GET' ? routes[path] : undefined;
    if (route) {
      Promise.resolve(route(req, res)).catch((error: unknown) => {
        logger.error({ ...errorFields(error), path }, 'route failed');
        if (!res.headersSent) sendJson(res, 500, { status: 'error' });
      });
      return;
    }
    const endpoint = endpoints.get(path);
    if (endpoint) {
      const accept = req.headers.accept;
      if (accept?.includes('text/event-stream') || wantsApolloMultipart(accept)) {
        eventStreams.add(res);
        res.once('close', () => eventStreams.delete(res));
      }
      withBodyLimit(req, res, limits.maxBodyBytes, () => void endpoint.yoga.handle(req, res));
      return;
    }
    sendJson(res, 404, { error: 'Not found' });
  });

  const connections = new Connections(server);

  server.on('upgrade', (req, socket, head) => {
    connections.upgrade(socket as Socket);
    const endpoint = endpoints.get((req.url ?? '/').split('?', 1)[0] as string);
    if (!endpoint || draining) {
      // Destroyed once written: a client that never closes its side must not keep it open.
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n', () => socket.destroy());
      return;
    }
    endpoint.ws.handleUpgrade(req, socket, head);
  });

  return {
    server,
    get draining() {
      return draining;
    },
    listen: () =>
      new Promise<URL>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.http.port, config.http.host, () => {
          server.off('error', reject);
          const { port } = server.address() as AddressInfo;
          const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? 'localhost' : config.http.host;
          resolve(new URL(`http://${host}:${port}/graphql`));
        });
      }),
    close: async () => {
      // The last resort: whatever clients do, connections are cut this long after shutdown began,
      // leaving the rest of the grace for the dependencies. Every path below closes on its own,
      // so needing it is a bug worth a warning.
      const cutoff = setTimeout(
        () => logger.warn({ connections: connections.destroyAll() }, 'shutdown deadline: connections cut'),
        Math.max(config.shutdownGraceMs / 2, config.shutdownGraceMs - DEPS_CLOSE_RESERVE_MS),
      );
      cutoff.unref();
      // 1. Readiness answers 503 at once; keep serving while load balancers notice.
      draining = true;
      if (config.drainDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, config.drainDelayMs));
      // 2. Stop accepting connections; every response from now on closes its connection.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      connections.drain();
      // 3. WebSockets close with 1001 "going away": clients reconnect to another pod.
      // 4. Event streams never finish by themselves: cut them (clients reconnect elsewhere).
      for (const stream of eventStreams) stream.destroy();
      await Promise.all(
        [...endpoints.values()].map(({ ws }) => ws.close(AppCloseCode.GoingAway, 'Server shutting down')),
      );
      // 5. In-flight requests finish; each connection closes after its last answer.
      await closed;
      clearTimeout(cutoff);
      eventLoop.stop();
    },
  };
}

/** What is left of the shutdown grace for `deps.close()` once HTTP connections are cut. */
const DEPS_CLOSE_RESERVE_MS = 5_000;

/**
 * Hands the request on only if its body fits `maxBytes`; else answers 413 without reading it.
 * A declared `Content-Length` is checked at once (Node holds the body to it). A chunked body is
 * read here up to the limit and handed to Yoga as a buffer (its Node adapter takes `req.body`).
 */
function withBodyLimit(req: IncomingMessage, res: ServerResponse, maxBytes: number, next: () => void): void {
  const tooLarge = () => {
    // The rest of the body is not worth reading: answer and close the connection. (A draining
    // pod destroys such a connection at once, whatever its client still sends.)
    res.setHeader('connection', 'close');
    sendJson(res, 413, {
      errors: [{ message: `Request body larger than ${maxBytes} bytes`, extensions: { code: ErrorCode.BadUserInput } }],
    });
  };
  const declared = req.headers['content-length'];
  if (declared !== undefined) {
    if (Number(declared) > maxBytes) tooLarge();
    else next();
    return;
  }
  if (req.method === 'GET' || req.method === 'HEAD' || req.headers['transfer-encoding'] === undefined) {
    next();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size > maxBytes) {
      req.off('data', onData);
      req.off('end', onEnd);
      req.resume();
      tooLarge();
      return;
    }
    chunks.push(chunk);
  };
  const onEnd = () => {
    (req as IncomingMessage & { body?: Buffer }).body = Buffer.concat(chunks);
    next();
  };
  req.on('data', onData);
  req.once('end', onEnd);
  // A client that goes away mid-body: nothing to answer (and no unhandled stream error).
  req.once('error', () => res.destroy());
}
