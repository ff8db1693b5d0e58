import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  CONNECT_SIGNATURE_HEADER,
  connectSignature,
  operationSignature,
  SIGNATURE_EXTENSION,
} from '../../src/graphql/gateway-signature.js';
import { TEST_GATEWAY_HMAC_SECRET } from '../helpers/env.js';
import { executeRaw } from '../helpers/graphql.js';
import { startTestApi, type TestApi } from '../helpers/server.js';

/**
 * The review found `/subgraph` on the client port answering anyone: `_service { sdl }` in
 * production with introspection off, and 350 of 350 WebSocket connects from one address. In
 * production it serves only what the gateway signed: each operation (Hive's HMAC, as the
 * appointments subgraph checks it) and each WebSocket connect.
 */
const signed = (query: string, variables?: Record<string, unknown>) => ({
  query,
  ...(variables ? { variables } : {}),
  extensions: { [SIGNATURE_EXTENSION]: operationSignature(TEST_GATEWAY_HMAC_SECRET, { query, variables }) },
});

/** A graphql-ws socket on /subgraph; resolves with it once acknowledged, or with how it failed. */
function openSocket(
  url: string,
  token: string,
  headers: Record<string, string> = {},
): Promise<{ socket?: WebSocket; status?: number; code?: number }> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, 'graphql-transport-ws', { headers });
    socket.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode }));
    socket.once('error', () => undefined);
    socket.once('open', () =>
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })),
    );
    socket.on('message', (data) => {
      if (JSON.parse(String(data)).type === 'connection_ack') resolve({ socket });
    });
    socket.once('close', (code) => resolve({ code }));
  });
}

/** Runs one operation on a socket; resolves with its `next` payloads, or its `error` payload. */
function run(socket: WebSocket, id: string, payload: Record<string, unknown>): Promise<Record<string, unknown>[]> {
  return new Promise((resolve) => {
    const results: Record<string, unknown>[] = [];
    const onMessage = (data: WebSocket.RawData) => {
      const message = JSON.parse(String(data));
      if (message.id !== id) return;
      if (message.type === 'next') results.push(message.payload);
      if (message.type === 'error') results.push({ errors: message.payload });
      if (message.type === 'complete' || message.type === 'error') {
        socket.off('message', onMessage);
        resolve(results);
      }
    };
    socket.on('message', onMessage);
    socket.send(JSON.stringify({ id, type: 'subscribe', payload }));
  });
}

describe('/subgraph in production serves only the gateway', () => {
  let api: TestApi;
  let token: string;
  let subgraph: URL;
  let wsUrl: string;
  beforeAll(async () => {
    api = await startTestApi({
      env: { NODE_ENV: 'production', GATEWAY_HMAC_SECRET: TEST_GATEWAY_HMAC_SECRET, RATE_LIMIT_WS_CONNECT_POINTS: '3' },
    });
    token = await api.token('dr-fed', { roles: ['clinician', 'admin'] });
    subgraph = new URL('/subgraph', api.base);
    wsUrl = api.wsUrl.replace(/\/graphql$/, '/subgraph');
  });
  afterAll(() => api?.close());

  it('refuses unsigned requests over HTTP (_service { sdl } included) with 403, and serves signed ones', async () => {
    expect(api.config.graphqlLimits.introspection).toBe(false);
    for (const body of [{ query: '{ _service { sdl } }' }, { query: '{ me { id } }' }]) {
      const res = await executeRaw(subgraph, body, { token });
      expect(res.status).toBe(403);
      expect(res.codes).toEqual(['FORBIDDEN']);
      expect(res.data ?? null).toBeNull();
    }
    const sdl = await executeRaw<{ _service: { sdl: string } }>(subgraph, signed('{ _service { sdl } }'), { token });
    expect(sdl.expectData()._service.sdl).toContain('type Patient');
    // A signature covers its query and variables: reused with other variables it is refused.
    const query = 'query($n: Int) { patients(first: $n) { edges { node { id } } } }';
    const tampered = { ...signed(query, { n: 1 }), variables: { n: 100 } };
    expect((await executeRaw(subgraph, tampered, { token })).codes).toEqual(['FORBIDDEN']);
    expect((await executeRaw(subgraph, signed(query, { n: 1 }), { token })).errors).toBeUndefined();
    // /graphql is unaffected.
    expect((await executeRaw(api.url, { query: '{ me { id } }' }, { token })).errors).toBeUndefined();
  });

  it('refuses unsigned WebSocket connects, charging the address; signed ones are not charged', async () => {
    const unsigned = [];
    for (let i = 0; i < 5; i++) unsigned.push(await openSocket(wsUrl, token));
    // Three attempts fit the address budget and are refused (403); past it, 1013 "try again later".
    expect(unsigned.slice(0, 3)).toEqual(Array(3).fill({ status: 403 }));
    expect(unsigned.slice(3)).toEqual(Array(2).fill({ code: 1013 }));
    const sockets: WebSocket[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const opened = await openSocket(wsUrl, token, {
          [CONNECT_SIGNATURE_HEADER]: connectSignature(TEST_GATEWAY_HMAC_SECRET),
        });
        expect(opened.socket).toBeDefined();
        sockets.push(opened.socket as WebSocket);
      }
      const socket = sockets[0] as WebSocket;
      // On a signed socket each operation must be signed too.
      const [refused] = await run(socket, 'a', { query: '{ _service { sdl } }' });
      expect(refused).toMatchObject({ errors: [{ extensions: { code: 'FORBIDDEN' } }] });
      const [served] = await run(socket, 'b', signed('{ me { id } }'));
      expect(served).toEqual({ data: { me: { id: 'dr-fed' } } });
      // A stale or forged connect signature is refused like none.
      const stale = await openSocket(wsUrl, token, {
        [CONNECT_SIGNATURE_HEADER]: connectSignature(TEST_GATEWAY_HMAC_SECRET, Date.now() - 3_600_000),
      });
      expect(stale.socket).toBeUndefined();
    } finally {
      for (const socket of sockets) socket.terminate();
    }
  });
});
