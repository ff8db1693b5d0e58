import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';
import { ForbiddenError } from '../errors.js';

/**
 * The federation gateway's signatures, which `/subgraph` requires when `GATEWAY_HMAC_SECRET` is
 * set (always in production). Two kinds, both HMAC-SHA256 with the shared secret:
 *
 * - Each operation: Hive Gateway's `hmacSignature` scheme, the one the appointments subgraph
 *   checks — base64 of the HMAC of `{"query":…,"variables":…}` (keys sorted, `variables` left out
 *   when empty) in `extensions["hmac-signature"]`, over HTTP and in a graphql-ws `subscribe`. A
 *   signature is good for that exact operation with those exact variables, nothing else.
 * - Each WebSocket connect: the upgrade request's `x-gateway-signature: t=<unix seconds>,sig=<base64
 *   HMAC of "graphql-ws:<t>">`, fresh within {@link CONNECT_SIGNATURE_MAX_AGE_S}. The gateway
 *   (gateway/ws-transport.ts) sends it; a signed connect speaks for many clinicians and is not
 *   charged to its address, an unsigned one is refused.
 */
export const SIGNATURE_EXTENSION = 'hmac-signature';
export const CONNECT_SIGNATURE_HEADER = 'x-gateway-signature';
export const CONNECT_SIGNATURE_MAX_AGE_S = 300;

/** Refused: not signed by the gateway. 403 over HTTP. */
export class NotFromGatewayError extends ForbiddenError {
  constructor() {
    super('Only the federation gateway may call /subgraph: the request has no valid gateway signature');
    (this.extensions as Record<string, unknown>).http = { status: 403 };
  }
}

/** The gateway's signature of an operation: what it puts in `extensions["hmac-signature"]`. */
export function operationSignature(secret: string, params: { query: string; variables?: unknown }): string {
  const variables =
    params.variables && typeof params.variables === 'object' && Object.keys(params.variables).length > 0
      ? params.variables
      : undefined;
  return hmac(secret, stableStringify({ query: params.query, variables }));
}

/** Whether `params` carries the gateway's signature of its query and variables. */
export function isSignedOperation(
  secret: string,
  params: { query?: unknown; variables?: unknown; extensions?: Readonly<Record<string, unknown>> | null | undefined },
): boolean {
  const signature = params.extensions?.[SIGNATURE_EXTENSION];
  if (typeof signature !== 'string' || typeof params.query !== 'string') return false;
  return matches(operationSignature(secret, { query: params.query, variables: params.variables }), signature);
}

/** The `x-gateway-signature` value for a connect at `nowMs`. */
export function connectSignature(secret: string, nowMs = Date.now()): string {
  const t = Math.floor(nowMs / 1000);
  return `t=${t},sig=${hmac(secret, `graphql-ws:${t}`)}`;
}

/** Whether an upgrade's `x-gateway-signature` is the gateway's, and fresh. */
export function isSignedConnect(secret: string, header: string | string[] | undefined, nowMs = Date.now()): boolean {
  const match = typeof header === 'string' ? /^t=(\d{1,12}),sig=([A-Za-z0-9+/=]+)$/.exec(header) : null;
  if (!match) return false;
  const t = Number(match[1]);
  if (Math.abs(nowMs / 1000 - t) > CONNECT_SIGNATURE_MAX_AGE_S) return false;
  return matches(hmac(secret, `graphql-ws:${t}`), match[2] as string);
}

/**
 * `/subgraph` over HTTP: refuses every request the gateway did not sign, before the token is
 * verified or anything is parsed — `_service { sdl }` included.
 */
export function useGatewaySignature(secret: string): Plugin {
  return {
    onParams: ({ params }) => {
      if (!isSignedOperation(secret, params as Parameters<typeof isSignedOperation>[1]))
        throw new NotFromGatewayError();
    },
  };
}

function hmac(secret: string, content: string): string {
  return createHmac('sha256', secret).update(content).digest('base64');
}

function matches(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** JSON with object keys sorted at every level, as json-stable-stringify (Hive's serializer) writes it. */
export function stableStringify(value: unknown): string {
  if (Array.isArray(value))
    return `[${value.map((item) => (item === undefined ? 'null' : stableStringify(item))).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${stableStringify((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
