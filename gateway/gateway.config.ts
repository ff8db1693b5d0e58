/**
 * Hive Gateway CLI configuration: `npm start` in gateway/ runs `hive-gateway supergraph`, which
 * loads this file. Endpoints: GraphQL over HTTP and graphql-ws on /graphql, /healthcheck (live),
 * /readiness (ready once the supergraph is loaded).
 */
import { join } from 'node:path';
import { defineConfig } from '@graphql-hive/gateway';
import { loadGatewayConfig } from './config.js';
import { ConfigError } from './env.js';
import { useUpstreamCloseErrors } from './upstream-close.plugin.js';
import wsNoRetryTransport, { WS_NO_RETRY_KIND } from './ws-transport.js';

const config = (() => {
  try {
    return loadGatewayConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
})();

if (!config.hmacSecret) {
  console.warn(
    'GATEWAY_HMAC_SECRET is not set: subgraph requests are unsigned (an appointments subgraph with a secret refuses them)',
  );
}

/**
 * The client's token, which every subgraph checks itself. Over HTTP it is the `authorization`
 * header; over graphql-ws the gateway's context merges the socket's `connectionParams` into
 * `context.headers`, so a client's `connectionParams.authorization` lands at the same place.
 */
const CLIENT_AUTHORIZATION = '{context.headers.authorization}';

export const gatewayConfig = defineConfig({
  supergraph: join(import.meta.dirname, 'supergraph.graphql'),
  port: config.port,
  host: config.host,
  graphiql: config.graphiql,
  landingPage: config.graphiql,
  gracefulShutdownTimeout: config.shutdownGraceMs,
  transportEntries: {
    copilot: {
      location: config.copilotUrl,
      options: {
        // The API serves graphql-ws on the subgraph's own path (http→ws, https→wss). The upstream
        // socket authenticates once, with connectionParams, as the API's /graphql socket does; the
        // WS transport keeps one socket per distinct connectionParams, so one per token: two
        // clinicians never share a socket, and the API authorizes every event for its own.
        // Our own WS transport (ws-transport.ts), not Hive's `ws`: when the pod holding a socket
        // goes away, its subscriptions end with an error instead of being silently resubscribed
        // on another pod, which would hide the events published in between.
        subscriptions: {
          kind: WS_NO_RETRY_KIND,
          location: config.copilotUrl,
          options: { connectionParams: { authorization: CLIENT_AUTHORIZATION } },
        },
      },
    },
    appointments: { location: config.appointmentsUrl },
  },
  // Every other kind (`http` here) loads Hive's module for it, as the gateway does by default.
  transports: (kind) => (kind === WS_NO_RETRY_KIND ? wsNoRetryTransport : import(`@graphql-mesh/transport-${kind}`)),
  propagateHeaders: {
    // Every HTTP request to a subgraph: queries, mutations, and the entity fetches that complete
    // each subscription event (whose context is the client's socket: `context.headers` holds its
    // connectionParams). For HTTP clients the request-id plugin (on by default) already sends the
    // client's `x-request-id`, or a new one, upstream and back in the response; this adds the one
    // a graphql-ws client may put in its connectionParams.
    fromClientToSubgraphs: ({ context }) => ({
      authorization: context.headers?.authorization,
      'x-request-id': context.headers?.['x-request-id'],
    }),
  },
  // Prometheus text on /metrics: HTTP and GraphQL durations, errors, and time and errors per
  // subgraph fetch. No header labels (the forwarded headers carry tokens) and no operation-name
  // label (clients choose names: unbounded series).
  prometheus: {
    endpoint: '/metrics',
    metrics: {
      graphql_yoga_http_duration: true,
      graphql_envelop_request_duration: true,
      graphql_envelop_error_result: true,
      graphql_gateway_subgraph_execute_duration: true,
      graphql_gateway_subgraph_execute_errors: true,
      graphql_gateway_fetch_duration: true,
    },
    labels: {
      operationName: false,
      subgraphName: true,
      fetchRequestHeaders: false,
      fetchResponseHeaders: false,
    },
  },
  // Every subgraph request carries an HMAC of its query and variables in
  // `extensions["hmac-signature"]`. The appointments subgraph serves only signed requests: it
  // applies no care-team rule, so it must answer the gateway, which asks only for patients the
  // API returned, and nobody else. The API ignores the extension (it authorizes every entity).
  ...(config.hmacSecret ? { hmacSignature: { secret: config.hmacSecret } } : {}),
  plugins: () => [useUpstreamCloseErrors('copilot')],
});
