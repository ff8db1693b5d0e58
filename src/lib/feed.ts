/**
 * A push source (a pub/sub subscription) as an async iterator, set up before the first `next()`
 * so that a caller can subscribe first and read the current state second without missing anything
 * in between. Buffers at most `limit` items, dropping the oldest: every item is a full state, so a
 * slow consumer loses intermediate states, never the latest.
 */
export interface Feed<T> extends AsyncIterableIterator<T> {
  close(): Promise<void>;
}

export async function openFeed<T>(
  listen: (push: (item: T) => void) => Promise<() => Promise<void>>,
  limit = 256,
): Promise<Feed<T>> {
  const buffer: T[] = [];
  let waiting: ((result: IteratorResult<T>) => void) | null = null;
  let closed = false;
  const unlisten = await listen((item) => {
    if (closed) return;
    if (waiting) {
      const resolve = waiting;
      waiting = null;
      resolve({ value: item, done: false });
      return;
    }
    buffer.push(item);
    if (buffer.length > limit) buffer.shift();
  });
  const close = async () => {
    if (closed) return;
    closed = true;
    buffer.length = 0;
    waiting?.({ value: undefined, done: true });
    waiting = null;
    await unlisten();
  };
  const feed: Feed<T> = {
    next: () => {
      const item = buffer.shift();
      if (item !== undefined) return Promise.resolve({ value: item, done: false });
      if (closed) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
    return: async () => {
      await close();
      return { value: undefined, done: true };
    },
    throw: async (error: unknown) => {
      await close();
      throw error;
    },
    close,
    [Symbol.asyncIterator]() {
      return feed;
    },
  };
  return feed;
}
