import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.js';
import type { Deps } from './deps.js';
import { AppCloseCode, createGraphqlWsServer } from './graphql/ws.js';
import { createGraphqlServer } from './graphql/yoga.js';
import { readiness } from './http/health.js';

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
  /** Pre-filled into GraphiQL's headers (embedded mode). */
  graphiqlToken?: string;
}

/** Wires HTTP, GraphQL over HTTP/SSE, graphql-ws, health and metrics. Does not listen by itself. */
export function buildApp(config: Config, deps: Deps, options: AppOptions = {}): App {
  const { logger, metrics } = deps;
  const yoga = createGraphqlServer({
    deps,
    logger,
    metrics,
    graphiql: config.graphiql,
    ...(options.graphiqlToken ? { graphiqlToken: options.graphiqlToken } : {}),
  });
  const ws = createGraphqlWsServer(yoga, deps, logger);
  let draining = false;

  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => Promise<void> | void> = {
    '/health/live': (_req, res) => sendJson(res, 200, { status: 'ok' }),
    '/health/ready': async (_req, res) => {
      const report = await readiness(deps.healthChecks, config.healthTimeoutMs, draining);
      sendJson(res, report.status === 'ok' ? 200 : 503, report);
    },
    '/metrics': async (_req, res) => {
      const body = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body);
    },
  };

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0] as string;
    const route = req.method === 'GET' ? routes[path] : undefined;
    if (route) {
      Promise.resolve(route(req, res)).catch((error: unknown) => {
        logger.error({ err: { message: (error as Error).message }, path }, 'route failed');
        if (!res.headersSent) sendJson(res, 500, { status: 'error' });
      });
      return;
    }
    if (path === '/graphql') {
      if (draining) res.setHeader('connection', 'close');
      void yoga.handle(req, res);
      return;
    }
    sendJson(res, 404, { error: 'Not found' });
  });

  server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== '/graphql' || draining) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    ws.wss.handleUpgrade(req, socket, head, (client) => ws.wss.emit('connection', client, req));
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
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await ws.close(AppCloseCode.GoingAway, 'Server shutting down');
      // Idle keep-alive sockets would hold server.close() open; in-flight requests finish first.
      server.closeIdleConnections();
      await closed;
    },
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
