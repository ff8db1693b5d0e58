import { createInbox, headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';

interface Pending {
  resolve: () => void;
  reject: (error: Error) => void;
  /** performance.now() after which the publish counts as failed. */
  deadline: number;
}

/**
 * JetStream publishes acknowledged through one reply subscription of this connection: each
 * publish is a core PUB with a reply subject of its own under that subscription, and resolves
 * when the server's PubAck arrives on it (JetStream's publish protocol, which the JetStream
 * client's `publish` also speaks). The JetStream client makes each publish a request: a timer per
 * call, and an Error built — stack trace and all — for every request it completes, even a
 * successful one (nats-core's `RequestOne.cancel`): about a quarter of the CPU of an append on the
 * audit's hot path here. This keeps one subscription, no timer per call (one sweep a quarter of
 * the timeout) and builds an Error only for a failure.
 */
export class AckedPublisher {
  private readonly prefix: string;
  private readonly subscription: Subscription;
  private readonly pending = new Map<number, Pending>();
  private readonly sweeper: NodeJS.Timeout;
  private next = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {
    this.prefix = createInbox();
    this.subscription = nc.subscribe(`${this.prefix}.*`, { callback: (_error, msg) => this.onReply(msg) });
    this.sweeper = setInterval(() => this.sweep(), Math.max(25, Math.floor(timeoutMs / 4))).unref();
  }

  /**
   * Publishes `data` on a subject a stream captures; resolves once stored, rejects if refused, if
   * no stream captures the subject, or without an acknowledgement within the timeout. `msgId` is
   * the message id the stream deduplicates on.
   */
  publish(subject: string, data: string, msgId: string): Promise<void> {
    this.next += 1;
    const id = this.next;
    const h = headers();
    h.set('Nats-Msg-Id', msgId);
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, deadline: performance.now() + this.timeoutMs });
      try {
        this.nc.publish(subject, data, { reply: `${this.prefix}.${id}`, headers: h });
      } catch (error) {
        this.pending.delete(id);
        reject(error as Error);
      }
    });
  }

  /** Fails what is still waiting, and stops listening. */
  close(): void {
    clearInterval(this.sweeper);
    this.subscription.unsubscribe();
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new Error('publisher closed'));
    }
  }

  private onReply(msg: Msg): void {
    const id = Number(msg.subject.slice(this.prefix.length + 1));
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    // An empty message with status 503: no stream listens on the subject (no responders).
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      p.reject(new Error('no stream captures the subject'));
      return;
    }
    let ack: { seq?: unknown; error?: { code?: number } };
    try {
      ack = msg.json();
    } catch {
      p.reject(new Error('unreadable acknowledgement'));
      return;
    }
    if (ack.error || typeof ack.seq !== 'number')
      p.reject(new Error(`append refused (${ack.error?.code ?? 'no seq'})`));
    else p.resolve();
  }

  private sweep(): void {
    const now = performance.now();
    for (const [id, p] of this.pending) {
      if (p.deadline > now) continue;
      this.pending.delete(id);
      p.reject(new Error('append not acknowledged in time'));
    }
  }
}
