import type { WebSocket } from 'ws';

/**
 * WebSocket keep-alive for a whole pod: every socket is pinged once per `intervalMs`, and one that
 * has not answered the previous ping by then is cut (a peer that vanished without a FIN — a
 * laptop closed, a NAT entry dropped — would otherwise hold its socket and its subscriptions).
 *
 * graphql-ws' own keep-alive does the same with a timer, a closure and a `pong` listener per
 * socket; at tens of thousands of idle sockets per pod that was a measurable part of each one's
 * memory. Here sockets sit in `slices` sets, and one timer visits one set per tick, so the pings
 * are spread over the interval rather than sent to every socket at once.
 */
export class Heartbeat {
  private readonly slices: Set<WebSocket>[];
  private next = 0;
  private tick = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs: number, slices = 12) {
    this.slices = Array.from({ length: slices }, () => new Set());
    this.timer = setInterval(() => this.visit(), intervalMs / slices);
    this.timer.unref();
  }

  /** Keeps `socket` alive from now on, until it closes. */
  add(socket: WebSocket): void {
    const slice = this.slices[this.next++ % this.slices.length] as Set<WebSocket>;
    slice.add(socket);
    sliceOf.set(socket, slice);
    // Listeners shared by every socket (`this` is the socket): no closure per socket.
    socket.on('pong', onPong);
    socket.once('close', onClose);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private visit(): void {
    const slice = this.slices[this.tick++ % this.slices.length] as Set<WebSocket>;
    for (const socket of slice) {
      if (socket.readyState !== socket.OPEN) continue;
      if (unanswered.has(socket)) {
        slice.delete(socket);
        socket.terminate();
        continue;
      }
      unanswered.add(socket);
      socket.ping();
    }
  }
}

/** Sockets pinged and not yet answered. */
const unanswered = new WeakSet<WebSocket>();
/** The slice each socket is visited in (a socket belongs to one heartbeat). */
const sliceOf = new WeakMap<WebSocket, Set<WebSocket>>();

function onPong(this: WebSocket): void {
  unanswered.delete(this);
}

function onClose(this: WebSocket): void {
  sliceOf.get(this)?.delete(this);
}
