import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Every connection of the API's HTTP server, and whether a response is in flight on it — so a
 * draining pod can close each one as soon as it has nothing left to answer, whatever its client
 * does. `server.close()` waits for every connection, and `closeIdleConnections()` alone misses
 * those that a client keeps busy: a probe reusing a keep-alive connection every 100 ms, a body
 * left half-sent after its 413, a stream. Sockets taken over by WebSockets are the WebSocket
 * servers' to close; they are destroyed here only at the deadline.
 */
export class Connections {
  private readonly sockets = new Set<Socket>();
  /** Responses not yet finished, per socket (HTTP/1.1 answers one at a time; pipelining may queue). */
  private readonly busy = new Map<Socket, number>();
  private readonly upgraded = new WeakSet<Socket>();
  private readonly responses = new Set<ServerResponse>();
  private draining = false;

  constructor(server: Server) {
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => {
        this.sockets.delete(socket);
        this.busy.delete(socket);
      });
    });
  }

  /** Counts a request's response as in flight until it finishes or its connection goes. */
  track(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    this.busy.set(socket, (this.busy.get(socket) ?? 0) + 1);
    this.responses.add(res);
    if (this.draining) res.setHeader('connection', 'close');
    res.once('close', () => {
      this.responses.delete(res);
      const left = (this.busy.get(socket) ?? 1) - 1;
      if (left > 0) this.busy.set(socket, left);
      else this.busy.delete(socket);
      // Draining: nothing more will be answered on this connection.
      if (this.draining && left <= 0) socket.destroy();
    });
  }

  /** A socket handed to a WebSocket server: no longer an HTTP connection to drain. */
  upgrade(socket: Socket): void {
    this.upgraded.add(socket);
  }

  /**
   * From now on every response says `Connection: close` (those whose headers are not sent yet
   * included), every connection is destroyed once its last response has finished, and idle ones
   * at once — a 413'd connection whose client never finishes the body among them.
   */
  drain(): void {
    this.draining = true;
    for (const res of this.responses) if (!res.headersSent) res.setHeader('connection', 'close');
    for (const socket of this.sockets) {
      if (!this.busy.has(socket) && !this.upgraded.has(socket)) socket.destroy();
    }
  }

  /** Past the deadline: every connection still open, whatever it is doing; returns how many. */
  destroyAll(): number {
    const open = this.sockets.size;
    for (const socket of this.sockets) socket.destroy();
    return open;
  }
}
