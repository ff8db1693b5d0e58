/**
 * The pod-wide keep-alive that replaced graphql-ws' per-socket one: a peer that answers pings
 * stays, one that stopped answering is cut within two intervals — over real sockets.
 */
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { Heartbeat } from './heartbeat.js';

const INTERVAL_MS = 200;

describe('Heartbeat', () => {
  let wss: WebSocketServer | undefined;
  let heartbeat: Heartbeat | undefined;
  afterEach(async () => {
    heartbeat?.stop();
    for (const client of wss?.clients ?? []) client.terminate();
    await new Promise((resolve) => wss?.close(resolve));
  });

  async function serve(): Promise<string> {
    heartbeat = new Heartbeat(INTERVAL_MS, 4);
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    wss = server;
    server.on('connection', (socket) => heartbeat?.add(socket));
    await new Promise((resolve) => server.once('listening', resolve));
    return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  const opened = (ws: WebSocket) => new Promise((resolve) => ws.once('open', resolve));

  it('keeps a peer that answers pings and cuts one that stopped answering', async () => {
    const url = await serve();
    const answering = new WebSocket(url);
    // A peer gone silent (a closed laptop): it never answers a ping.
    const silent = new WebSocket(url, { autoPong: false });
    await Promise.all([opened(answering), opened(silent)]);
    let pings = 0;
    answering.on('ping', () => {
      pings += 1;
    });
    const cut = new Promise<number>((resolve) => silent.once('close', (code) => resolve(code)));

    const started = Date.now();
    // ws' terminate() sends no close frame: the peer sees an abnormal closure.
    await expect(cut).resolves.toBe(1006);
    expect(Date.now() - started).toBeLessThan(3 * INTERVAL_MS + 500);
    await new Promise((r) => setTimeout(r, 2 * INTERVAL_MS));
    expect(answering.readyState).toBe(WebSocket.OPEN);
    expect(pings).toBeGreaterThanOrEqual(2);
    answering.close();
  });

  it('forgets a socket once it closes', async () => {
    const url = await serve();
    const peer = new WebSocket(url);
    await opened(peer);
    peer.close();
    await new Promise((resolve) => peer.once('close', resolve));
    const slices = (heartbeat as unknown as { slices: Set<WebSocket>[] }).slices;
    await expect.poll(() => slices.reduce((n, s) => n + s.size, 0)).toBe(0);
  });
});
