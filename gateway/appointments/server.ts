import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createYoga } from 'graphql-yoga';
import pg from 'pg';
import { ensureAppointmentTable } from './appointment.store.js';
import { createTokenVerifier } from './auth.js';
import type { AppointmentsAuth } from './config.js';
import { useGatewaySignature } from './gateway-signature.plugin.js';
import { type AppointmentsContext, buildAppointmentsSchema, createLoaders } from './schema.js';

export interface AppointmentsServerOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  databaseUrl: string;
  /** How tokens are verified: the API's settings (JWT_SECRET, or JWT_JWKS_URL with issuer and audience). */
  auth: AppointmentsAuth;
  /**
   * The gateway's HMAC secret (GATEWAY_HMAC_SECRET): requests without its valid signature get
   * FORBIDDEN (HTTP 403). Unset, every request is served, and a warning says so at start.
   */
  gatewaySecret?: string | undefined;
  /** How long `/health/ready` waits for the database. */
  readyTimeoutMs?: number;
  /** One JSON object per event (start, request, error). Default: a line on stdout. */
  log?: (entry: Record<string, unknown>) => void;
}

export interface AppointmentsServer {
  /** The GraphQL endpoint, e.g. `http://127.0.0.1:4100/graphql`. */
  readonly url: string;
  /** Stops accepting, lets in-flight requests finish, then closes the pool. */
  close(): Promise<void>;
}

/**
 * Starts the appointments subgraph: GraphQL over HTTP on `/graphql`, `/health/live` and
 * `/health/ready`. Creates its table if missing. Logs ids of requests, never patient data.
 */
export async function startAppointmentsServer(options: AppointmentsServerOptions): Promise<AppointmentsServer> {
  const log = options.log ?? ((entry) => process.stdout.write(`${JSON.stringify({ time: Date.now(), ...entry })}\n`));
  const pool = new pg.Pool({
    connectionString: options.databaseUrl,
    max: 10,
    connectionTimeoutMillis: 5_000,
    statement_timeout: 5_000,
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', (error) => log({ level: 'warn', msg: 'idle database client failed', error: error.message }));
  try {
    await ensureAppointmentTable(pool);
  } catch (error) {
    await pool.end();
    throw error;
  }

  const tokens = createTokenVerifier(options.auth);
  const yoga = createYoga<Record<string, unknown>, AppointmentsContext>({
    schema: buildAppointmentsSchema(),
    graphqlEndpoint: '/graphql',
    graphiql: false,
    landingPage: false,
    // Never `debug`, even with DEBUG=1: the signature plugin logs the signed query and variables
    // (patient ids) there.
    logging: 'info',
    plugins: options.gatewaySecret ? [useGatewaySignature(options.gatewaySecret)] : [],
    // Throws UNAUTHENTICATED (HTTP 401) before anything runs.
    context: async ({ request }) => ({
      clinicianId: await tokens.verify(request.headers.get('authorization')),
      appointmentsOf: createLoaders(pool),
    }),
  });

  let draining = false;
  const readyTimeoutMs = options.readyTimeoutMs ?? 1_000;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path === '/health/live') return sendJson(res, 200, { status: 'ok' });
    if (path === '/health/ready') {
      if (draining) return sendJson(res, 503, { status: 'draining' });
      withTimeout(pool.query('SELECT 1'), readyTimeoutMs).then(
        () => sendJson(res, 200, { status: 'ok' }),
        // Only the message: never a connection string.
        (error: Error) => sendJson(res, 503, { status: 'unavailable', error: error.message.slice(0, 200) }),
      );
      return;
    }
    // One line per GraphQL request (probes are not logged): no query, variables or data.
    const started = performance.now();
    res.once('finish', () =>
      log({
        level: 'info',
        msg: 'request',
        method: req.method,
        status: res.statusCode,
        ms: Math.round(performance.now() - started),
        requestId: String(req.headers['x-request-id'] ?? '').slice(0, 200) || undefined,
      }),
    );
    if (draining) res.setHeader('connection', 'close');
    void yoga.handle(req, res);
  });
  server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  try {
    await once(server, 'listening');
  } catch (error) {
    await pool.end();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  const wildcard = !options.host || options.host === '0.0.0.0' || options.host === '::';
  const host = wildcard ? '127.0.0.1' : options.host;
  const url = `http://${host?.includes(':') ? `[${host}]` : host}:${port}/graphql`;
  log({ level: 'info', msg: 'appointments subgraph listening', url });
  if (!options.gatewaySecret) {
    log({
      level: 'warn',
      msg: 'requests are unsigned: GATEWAY_HMAC_SECRET is not set, so any caller with a valid token is served, not only the gateway',
    });
  }

  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= (async () => {
        draining = true;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // Keep-alive sockets with no request in flight would hold `close` open.
        server.closeIdleConnections();
        await closed;
        await pool.end();
      })();
      return closing;
    },
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
