import { createServer, request, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** How the stand-in behaves: pass through, fail with a status, hang, or refuse connections. */
export type FaultMode = 'pass' | 'error500' | 'error400' | 'hang' | 'down';

/**
 * A model server that can be made to fail: an HTTP proxy in front of a real (reference) model
 * server, whose behaviour a test switches at will. `down` closes the listening socket, so
 * connections are refused, and the same port is reopened when the mode changes back.
 */
export class FaultyModelServer {
  mode: FaultMode = 'pass';
  /** Inference requests that reached this proxy (whatever it then did with them). */
  inferRequests = 0;
  private server: Server;
  private port = 0;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly upstream: URL) {
    this.server = this.create();
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async setMode(mode: FaultMode): Promise<void> {
    const wasDown = this.mode === 'down';
    this.mode = mode;
    if (mode === 'down' && !wasDown) await this.stopListening();
    if (mode !== 'down' && wasDown) {
      this.server = this.create();
      await this.start();
    }
  }

  async close(): Promise<void> {
    if (this.mode !== 'down') await this.stopListening();
  }

  private async stopListening(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private create(): Server {
    const server = createServer((req, res) => {
      const isInfer = req.url?.endsWith('/infer') ?? false;
      if (isInfer) this.inferRequests += 1;
      if (isInfer && this.mode === 'error500') {
        req.resume();
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"internal"}');
        return;
      }
      if (isInfer && this.mode === 'error400') {
        req.resume();
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"bad input"}');
        return;
      }
      if (this.mode === 'hang') return; // accept, read nothing, never answer
      const upstream = request(
        new URL(req.url ?? '/', this.upstream),
        { method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.writeHead(502).end());
      req.pipe(upstream);
    });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    return server;
  }
}
