import type { Redis } from './redis.js';

/** One listener of a channel: its messages, and its re-read after a reconnection. */
export interface ChannelListener {
  onMessage: (raw: string) => void;
  onResync?: (() => void) | undefined;
}

/** SUBSCRIBE takes this many channels at once when a reconnected process subscribes everything again. */
const RESUBSCRIBE_BATCH = 1_000;

/**
 * Redis pub/sub on one dedicated connection: one SUBSCRIBE per channel per process, however many
 * listeners share it. It survives Redis outages: a listener added while Redis is away is kept and
 * subscribed when it returns; on every reconnection every channel is subscribed again and then
 * every listener is told to re-read (what was published meanwhile never arrives).
 *
 * Several may share one connection (the diagnosis live state, care-team removals): each keeps
 * to its own channels, and all of them see that connection's messages in publish order.
 */
export class ChannelSubscriber {
  private readonly channels = new Map<string, Set<ChannelListener>>();
  /** Set after the first connection: later `ready` events are reconnections. */
  private connectedOnce: boolean;

  constructor(private readonly subscriber: Redis) {
    this.connectedOnce = subscriber.status === 'ready';
    subscriber.on('message', (channel: string, raw: string) => {
      const listeners = this.channels.get(channel);
      if (!listeners) return;
      for (const listener of listeners) listener.onMessage(raw);
    });
    subscriber.on('ready', () => {
      if (!this.connectedOnce) {
        this.connectedOnce = true;
        return;
      }
      void this.resubscribe();
    });
  }

  /**
   * Calls the listener with every message on `channel`. Resolves once subscribed — or, while
   * Redis is down, once registered to be subscribed when it returns; the function it returns ends it.
   */
  async listen(channel: string, listener: ChannelListener): Promise<() => Promise<void>> {
    let listeners = this.channels.get(channel);
    const first = !listeners;
    if (!listeners) {
      listeners = new Set();
      this.channels.set(channel, listeners);
    }
    listeners.add(listener);
    if (first) {
      // Redis down: the channel stays registered and is subscribed on reconnection (then resynced).
      await this.subscriber.subscribe(channel).catch(() => undefined);
    }
    return async () => {
      const current = this.channels.get(channel);
      if (!current?.delete(listener) || current.size > 0) return;
      this.channels.delete(channel);
      await this.subscriber.unsubscribe(channel).catch(() => undefined);
    };
  }

  /** After a reconnection: every channel subscribed again, and only then every listener re-reads. */
  private async resubscribe(): Promise<void> {
    const channels = [...this.channels.keys()];
    try {
      for (let i = 0; i < channels.length; i += RESUBSCRIBE_BATCH) {
        await this.subscriber.subscribe(...channels.slice(i, i + RESUBSCRIBE_BATCH));
      }
    } catch {
      // Lost again meanwhile: the next `ready` starts over.
      return;
    }
    for (const channel of channels) {
      for (const listener of this.channels.get(channel) ?? []) listener.onResync?.();
    }
  }
}
