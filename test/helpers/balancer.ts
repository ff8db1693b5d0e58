import { connect, createServer, type Server, type Socket } from 'node:net';

export interface Backend {
  host: string;
  port: number;
}

interface Link {
  /** Connections are numbered in the order they were accepted. */
  readonly id: number;
  readonly backend: number;
  /** The first request line, e.g. `GET /subgraph HTTP/1.1`, and whether it asked for a WebSocket. */
  requestLine: string;
  websocket: boolean;
}

/**
 * A connection-level round-robin TCP balancer, like a Kubernetes Service in front of the API
 * pods: each new client connection goes to the next backend; one that refuses the connection is
 * skipped. It remembers which backend each open connection went to, so a test can find (and kill)
 * the pod that holds a WebSocket.
 */
export class TcpBalancer {
  private readonly server: Server;
  private readonly links = new Map<Socket, Link>();
  private next = 0;
  private accepted = 0;

  constructor(private readonly backends: readonly Backend[]) {
    this.server = createServer((client) => this.accept(client));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as { port: number }).port;
  }

  /** Open connections that asked for a WebSocket on `path`: their number and backend. */
  websockets(path: string): { id: number; backend: number }[] {
    return [...this.links.values()]
      .filter((link) => link.websocket && link.requestLine.split(' ')[1]?.startsWith(path))
      .map(({ id, backend }) => ({ id, backend }));
  }

  async close(): Promise<void> {
    for (const client of this.links.keys()) client.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, tried = 0): void {
    const index = this.next % this.backends.length;
    this.next += 1;
    const backend = this.backends[index] as Backend;
    const upstream = connect(backend.port, backend.host);
    client.pause();
    const refused = () => {
      upstream.destroy();
      // Refused (that pod is gone): the next one, as kube-proxy would after the endpoint is removed.
      if (tried + 1 < this.backends.length && !client.destroyed) this.accept(client, tried + 1);
      else client.destroy();
    };
    upstream.once('error', refused);
    upstream.once('connect', () => {
      upstream.off('error', refused);
      this.accepted += 1;
      const link: Link = { id: this.accepted, backend: index, requestLine: '', websocket: false };
      this.links.set(client, link);
      client.once('data', (chunk: Buffer) => {
        const head = chunk.toString('latin1', 0, Math.min(chunk.length, 4096));
        link.requestLine = head.split('\r\n', 1)[0] ?? '';
        link.websocket = /\r\nupgrade:\s*websocket/i.test(head);
      });
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
      const end = () => {
        this.links.delete(client);
        client.destroy();
        upstream.destroy();
      };
      client.once('close', end);
      upstream.once('close', end);
      client.on('error', end);
      upstream.on('error', end);
    });
  }
}
