/**
 * The V8 inspector of a bench pod (started with `NODE_OPTIONS=--inspect=127.0.0.1:<port>`), so the
 * bench can force a full GC before reading a pod's memory, or take a heap snapshot, without the
 * API exposing anything new: the inspector listens on loopback in bench pods only.
 */
import { createWriteStream, writeFileSync } from 'node:fs';
import WebSocket from 'ws';

async function session<T>(port: number, work: (call: Call, ws: WebSocket) => Promise<T>): Promise<T> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
    webSocketDebuggerUrl: string;
  }[];
  const url = targets[0]?.webSocketDebuggerUrl;
  if (!url) throw new Error(`no inspector target on port ${port}`);
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 2 ** 30 });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let next = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  ws.on('message', (raw) => {
    const message = JSON.parse(raw.toString()) as { id?: number; error?: { message: string }; result?: unknown };
    if (message.id === undefined) return;
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.error) waiter?.reject(new Error(message.error.message));
    else waiter?.resolve(message.result);
  });
  const call: Call = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = ++next;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  try {
    return await work(call, ws);
  } finally {
    ws.close();
  }
}

type Call = (method: string, params?: Record<string, unknown>) => Promise<unknown>;

/** A full, blocking garbage collection in the pod behind `port`. */
export function collectGarbage(port: number): Promise<void> {
  return session(port, async (call) => {
    await call('HeapProfiler.collectGarbage');
  });
}

/** Writes a heap snapshot of the pod behind `port` to `file` (load it in Chrome DevTools' Memory tab). */
export function heapSnapshot(port: number, file: string): Promise<void> {
  return session(port, async (call, ws) => {
    const out = createWriteStream(file);
    ws.on('message', (raw) => {
      const message = JSON.parse(raw.toString()) as { method?: string; params?: { chunk: string } };
      if (message.method === 'HeapProfiler.addHeapSnapshotChunk' && message.params) out.write(message.params.chunk);
    });
    await call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    await new Promise<void>((resolve, reject) =>
      out.end((error?: Error | null) => (error ? reject(error) : resolve())),
    );
  });
}

/**
 * Starts V8's CPU profiler in the pod behind `port`; the function returned stops it and writes
 * the profile to `file` (a `.cpuprofile`: Chrome DevTools' Performance tab, or speedscope).
 */
export async function startCpuProfile(port: number, file: string): Promise<() => Promise<void>> {
  let stop: (() => void) | undefined;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  let started: () => void = () => undefined;
  const running = new Promise<void>((resolve) => {
    started = resolve;
  });
  const done = session(port, async (call) => {
    await call('Profiler.enable');
    await call('Profiler.setSamplingInterval', { interval: 500 });
    await call('Profiler.start');
    started();
    await stopped;
    const { profile } = (await call('Profiler.stop')) as { profile: unknown };
    writeFileSync(file, JSON.stringify(profile));
  });
  await Promise.race([running, done]);
  return async () => {
    stop?.();
    await done;
  };
}
