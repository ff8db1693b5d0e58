/**
 * One client process of the `scale` scenario (forked by it, commands over IPC): holds thousands of
 * graphql-ws sockets, each with live `diagnosisUpdated` subscriptions, and records what arrives.
 *
 * A process may hold at most 20,000 open files here, so the scenario runs several of these. Each
 * binds its sockets to loopback source addresses of its own (127.0.0.x): the ephemeral ports
 * (~28k per source address) would otherwise run out across processes. The protocol is spoken over
 * plain `ws` (graphql-transport-ws: connection_init → connection_ack → subscribe → next…) rather
 * than graphql-ws' client, whose retry and lazy-connection machinery per socket is not what is
 * measured and would cost this process memory and CPU the pods share.
 */
import WebSocket from 'ws';

export type ClientCommand =
  | {
      type: 'open';
      /** Socket `g` (global index) goes to `urls[g % urls.length]`. */
      urls: string[];
      localAddresses: string[];
      /** Global index of this process' first socket, and how many it holds. */
      first: number;
      count: number;
      token: string;
      query: string;
      /** The first subscription of every socket: operation id and diagnosis. */
      op: string;
      diagnosisId: string;
      /** Sockets being opened at once (the pods' accept queues are 511 deep). */
      concurrency: number;
    }
  /** Every socket adds a subscription `op` to `diagnosisIds[g % diagnosisIds.length]`. */
  | { type: 'subscribe'; op: string; query: string; diagnosisIds: string[]; concurrency: number }
  /** Sends what `op` received: initial versions, then receipts flattened as [socket, version, at]. */
  | { type: 'report'; op: string }
  | { type: 'close' };

export type ClientMessage =
  | {
      type: 'progress';
      opened: number;
      live: Record<string, number>;
      /** Events received per operation, after the current states. */
      received: Record<string, number>;
      failed: number;
      closed: number;
    }
  | { type: 'done'; step: 'open' | 'subscribe'; live: number; failed: number; lastLiveAt: number; errors: string[] }
  | { type: 'report'; op: string; initial: (number | null)[]; receipts: number[]; closed: number; errors: string[] }
  | { type: 'closed' };

interface Sock {
  ws: WebSocket;
  acked: boolean;
  onAck?: () => void;
}

const send = (message: ClientMessage) => process.send?.(message);

const sockets: Sock[] = [];
/** Per operation: each socket's initial version, and its receipts after that. */
const initial = new Map<string, (number | null)[]>();
const receipts = new Map<string, number[]>();
const live = new Map<string, number>();
const lastLiveAt = new Map<string, number>();
const errors: string[] = [];
/** `${op}:${socket}` → called when that subscription is live (its current state arrived). */
const liveWaiters = new Map<string, () => void>();
let failed = 0;
let closed = 0;
let closing = false;
let first = 0;

function note(error: string): void {
  failed += 1;
  if (errors.length < 20) errors.push(error);
}

function onMessage(k: number, raw: WebSocket.RawData): void {
  const message = JSON.parse(raw.toString()) as {
    type: string;
    id?: string;
    payload?: { data?: { diagnosisUpdated?: { version: number } }; errors?: unknown };
  };
  const sock = sockets[k];
  if (!sock) return;
  if (message.type === 'connection_ack') {
    sock.acked = true;
    sock.onAck?.();
    return;
  }
  if (message.type === 'ping') {
    sock.ws.send('{"type":"pong"}');
    return;
  }
  const op = message.id ?? '';
  if (message.type === 'next') {
    const version = message.payload?.data?.diagnosisUpdated?.version;
    if (version === undefined) {
      note(`next without a version on ${op}: ${JSON.stringify(message.payload?.errors).slice(0, 200)}`);
      return;
    }
    const at = Date.now();
    const versions = initial.get(op);
    if (!versions) return;
    if (versions[k] === null) {
      versions[k] = version;
      live.set(op, (live.get(op) ?? 0) + 1);
      lastLiveAt.set(op, at);
      const waiter = `${op}:${k}`;
      liveWaiters.get(waiter)?.();
      liveWaiters.delete(waiter);
      return;
    }
    receipts.get(op)?.push(first + k, version, at);
    return;
  }
  if (message.type === 'error') note(`error on ${op}: ${JSON.stringify(message.payload).slice(0, 200)}`);
  else if (message.type === 'complete') note(`complete on ${op}`);
  else return;
  // A subscription refused or ended: whoever waits for it to become live waits no longer.
  liveWaiters.get(`${op}:${k}`)?.();
  liveWaiters.delete(`${op}:${k}`);
}

function subscribe(sock: Sock, op: string, query: string, diagnosisId: string): void {
  sock.ws.send(JSON.stringify({ id: op, type: 'subscribe', payload: { query, variables: { id: diagnosisId } } }));
}

/** Runs `start(i)` for i in [0, n) with at most `concurrency` unfinished at once. */
async function bounded(n: number, concurrency: number, start: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) await start(next++);
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, lane));
}

/** Resolves when `op` has `target` live subscriptions, or failures make that impossible. */
function waitLive(op: string, target: number): Promise<void> {
  return new Promise((resolve) => {
    const tick = setInterval(() => {
      if ((live.get(op) ?? 0) + failed + closed >= target) {
        clearInterval(tick);
        resolve();
      }
    }, 20);
  });
}

async function open(c: Extract<ClientCommand, { type: 'open' }>): Promise<void> {
  first = c.first;
  initial.set(c.op, new Array(c.count).fill(null));
  receipts.set(c.op, []);
  await bounded(c.count, c.concurrency, (k) => {
    const g = c.first + k;
    return new Promise<void>((resolve) => {
      const ws = new WebSocket(c.urls[g % c.urls.length] as string, 'graphql-transport-ws', {
        localAddress: c.localAddresses[k % c.localAddresses.length],
        perMessageDeflate: false,
        handshakeTimeout: 60_000,
      });
      const sock: Sock = { ws, acked: false };
      sockets[k] = sock;
      // A lane is free again once this socket is live (its current state arrived) or has failed.
      let settled = false;
      const settle = () => {
        if (settled) return;
        settled = true;
        resolve();
      };
      liveWaiters.set(`${c.op}:${k}`, settle);
      sock.onAck = () => subscribe(sock, c.op, c.query, c.diagnosisId);
      ws.on('open', () =>
        ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${c.token}` } })),
      );
      ws.on('message', (raw) => onMessage(k, raw));
      ws.on('error', (error) => {
        if (!settled) note(`socket ${g}: ${error.message}`);
        settle();
      });
      ws.on('close', (code, reason) => {
        if (!closing) {
          closed += 1;
          if (errors.length < 20) errors.push(`socket ${g} closed ${code} ${reason.toString()}`);
        }
        settle();
      });
    });
  });
  send({
    type: 'done',
    step: 'open',
    live: live.get(c.op) ?? 0,
    failed,
    lastLiveAt: lastLiveAt.get(c.op) ?? 0,
    errors,
  });
}

async function addSubscription(c: Extract<ClientCommand, { type: 'subscribe' }>): Promise<void> {
  initial.set(c.op, new Array(sockets.length).fill(null));
  receipts.set(c.op, []);
  // Paced like the connects: a burst of 17k subscribes per process would queue on every pod at once.
  await bounded(sockets.length, c.concurrency, async (k) => {
    const sock = sockets[k];
    if (!sock || sock.ws.readyState !== WebSocket.OPEN) return;
    await new Promise<void>((resolve) => {
      liveWaiters.set(`${c.op}:${k}`, resolve);
      sock.ws.once('close', () => resolve());
      subscribe(sock, c.op, c.query, c.diagnosisIds[(first + k) % c.diagnosisIds.length] as string);
    });
  });
  await waitLive(c.op, sockets.length);
  send({
    type: 'done',
    step: 'subscribe',
    live: live.get(c.op) ?? 0,
    failed,
    lastLiveAt: lastLiveAt.get(c.op) ?? 0,
    errors,
  });
}

const progress = setInterval(() => {
  const received = Object.fromEntries([...receipts].map(([op, list]) => [op, list.length / 3]));
  send({ type: 'progress', opened: sockets.length, live: Object.fromEntries(live), received, failed, closed });
}, 1_000);
progress.unref();

process.on('message', (command: ClientCommand) => {
  if (command.type === 'open') void open(command);
  else if (command.type === 'subscribe') void addSubscription(command);
  else if (command.type === 'report')
    send({
      type: 'report',
      op: command.op,
      initial: initial.get(command.op) ?? [],
      receipts: receipts.get(command.op) ?? [],
      closed,
      errors,
    });
  else if (command.type === 'close') {
    closing = true;
    for (const sock of sockets) sock.ws.terminate();
    send({ type: 'closed' });
    setTimeout(() => process.exit(0), 100);
  }
});
