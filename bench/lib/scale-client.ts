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
 *
 * Connects are paced (at most `concurrency` sockets of this process between "opening" and "live")
 * and a connect that fails before its subscription is live — refused, reset, timed out, or closed
 * by the pod (e.g. 4408 when the pod's event loop was too busy to read `connection_init` in time)
 * — is tried again after a back-off, as a real client would; every retry is counted and reported.
 * A socket that was live and then closed is never retried: it fails the run.
 *
 * The pods and these processes share two cores, so reading a message is kept cheap: an event
 * frame in the shape the pods send is matched by one regular expression instead of parsed whole.
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
      /** Attempts per socket before it counts as failed (1: no retry). */
      attempts: number;
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
      retries: number;
    }
  | {
      type: 'done';
      step: 'open' | 'subscribe';
      live: number;
      failed: number;
      lastLiveAt: number;
      errors: string[];
      /** Connects tried again, in all, and by what made the attempt fail. */
      retries: number;
      retryReasons: Record<string, number>;
    }
  | { type: 'report'; op: string; initial: (number | null)[]; receipts: number[]; closed: number; errors: string[] }
  | { type: 'closed' };

interface Sock {
  ws: WebSocket;
  acked: boolean;
  onAck?: () => void;
}

/** What a subscription's waiter is told: live (its current state arrived), or refused/ended. */
type Outcome = boolean;

const send = (message: ClientMessage) => process.send?.(message);

const sockets: Sock[] = [];
/** Per operation: each socket's initial version, and its receipts after that. */
const initial = new Map<string, (number | null)[]>();
const receipts = new Map<string, number[]>();
const live = new Map<string, number>();
const lastLiveAt = new Map<string, number>();
const errors: string[] = [];
/** `${op}:${socket}` → called when that subscription is live (true) or refused or ended (false). */
const liveWaiters = new Map<string, (live: Outcome) => void>();
let failed = 0;
let closed = 0;
let retries = 0;
const retryReasons: Record<string, number> = {};
let closing = false;
let first = 0;

function note(error: string): void {
  failed += 1;
  if (errors.length < 20) errors.push(error);
}

/** An event in the exact shape the pods send it (graphql-ws' `next` of `diagnosisUpdated { version }`). */
const NEXT = /^\{"id":"([^"\\]*)","type":"next","payload":\{"data":\{"diagnosisUpdated":\{"version":(\d+)\}\}\}\}$/;

function onMessage(sock: Sock, k: number, raw: WebSocket.RawData): void {
  if (sockets[k] !== sock) return; // a late message of an attempt given up on
  const text = raw.toString();
  const event = NEXT.exec(text);
  if (event) {
    onNext(k, event[1] as string, Number(event[2]));
    return;
  }
  const message = JSON.parse(text) as {
    type: string;
    id?: string;
    payload?: { data?: { diagnosisUpdated?: { version: number } }; errors?: unknown };
  };
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
    onNext(k, op, version);
    return;
  }
  if (message.type === 'error') note(`error on ${op}: ${JSON.stringify(message.payload).slice(0, 200)}`);
  else if (message.type === 'complete') note(`complete on ${op}`);
  else return;
  // A subscription refused or ended: whoever waits for it to become live waits no longer.
  liveWaiters.get(`${op}:${k}`)?.(false);
  liveWaiters.delete(`${op}:${k}`);
}

function onNext(k: number, op: string, version: number): void {
  const at = Date.now();
  const versions = initial.get(op);
  if (!versions) return;
  if (versions[k] === null) {
    versions[k] = version;
    live.set(op, (live.get(op) ?? 0) + 1);
    lastLiveAt.set(op, at);
    const waiter = `${op}:${k}`;
    liveWaiters.get(waiter)?.(true);
    liveWaiters.delete(waiter);
    return;
  }
  receipts.get(op)?.push(first + k, version, at);
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

/** Close codes of graphql-ws that mean "this client is wrong", not "try again": never retried. */
const isClientError = (code: number) => code >= 4400 && code < 4500 && code !== 4408;

/** Back-off before attempt `n + 1`: 250 ms doubling to 8 s, with jitter so retries do not come in waves. */
const backoff = (n: number) => Math.min(8_000, 250 * 2 ** n) * (0.5 + Math.random() / 2);

async function open(c: Extract<ClientCommand, { type: 'open' }>): Promise<void> {
  first = c.first;
  initial.set(c.op, new Array(c.count).fill(null));
  receipts.set(c.op, []);
  await bounded(c.count, c.concurrency, async (k) => {
    for (let attempt = 1; ; attempt++) {
      const outcome = await connect(c, k);
      if (outcome === 'live' || outcome === 'failed') return;
      if (attempt >= c.attempts) {
        note(`socket ${c.first + k}: gave up after ${attempt} attempts (${outcome})`);
        return;
      }
      retries += 1;
      retryReasons[outcome] = (retryReasons[outcome] ?? 0) + 1;
      // The lane stays taken while it waits: the in-flight bound holds for retries too.
      await new Promise((r) => setTimeout(r, backoff(attempt - 1)));
    }
  });
  send({
    type: 'done',
    step: 'open',
    live: live.get(c.op) ?? 0,
    failed,
    lastLiveAt: lastLiveAt.get(c.op) ?? 0,
    errors,
    retries,
    retryReasons,
  });
}

/**
 * One attempt at socket `k`: resolves `'live'` once its first subscription's current state
 * arrived, `'failed'` if it was refused in a way no retry mends (already noted), or the reason to
 * try again (a close code before live, or the connect error).
 */
function connect(c: Extract<ClientCommand, { type: 'open' }>, k: number): Promise<string> {
  const g = c.first + k;
  return new Promise<string>((resolve) => {
    const ws = new WebSocket(c.urls[g % c.urls.length] as string, 'graphql-transport-ws', {
      localAddress: c.localAddresses[k % c.localAddresses.length],
      perMessageDeflate: false,
      handshakeTimeout: 60_000,
      // The pods send valid UTF-8 (JSON.stringify); validating it again is this process' CPU.
      skipUTF8Validation: true,
      // A zero mask, which ws then skips applying: the frames this process sends (init, subscribe,
      // pongs) need no unpredictable mask on loopback, and drawing one per frame is CPU.
      generateMask: (mask) => mask.fill(0),
    });
    const sock: Sock = { ws, acked: false };
    sockets[k] = sock;
    let wasLive = false;
    let settled = false;
    const settle = (outcome: string) => {
      if (settled) return;
      settled = true;
      liveWaiters.delete(`${c.op}:${k}`);
      resolve(outcome);
    };
    liveWaiters.set(`${c.op}:${k}`, (isLive) => {
      wasLive = isLive;
      settle(isLive ? 'live' : 'failed');
    });
    sock.onAck = () => subscribe(sock, c.op, c.query, c.diagnosisId);
    ws.on('open', () =>
      ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${c.token}` } })),
    );
    ws.on('message', (raw) => onMessage(sock, k, raw));
    ws.on('error', (error) => {
      // Before live: try again (a `close` follows, and is then ignored). After: the close counts.
      if (!settled) settle(error.message.replace(/\d+/g, 'N').slice(0, 60));
    });
    ws.on('close', (code, reason) => {
      if (!settled) {
        if (isClientError(code)) {
          note(`socket ${g} closed ${code} ${reason.toString()}`);
          settle('failed');
        } else settle(`close ${code}`);
        return;
      }
      if (wasLive && !closing && sockets[k] === sock) {
        closed += 1;
        if (errors.length < 20) errors.push(`socket ${g} closed ${code} ${reason.toString()}`);
      }
    });
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
      liveWaiters.set(`${c.op}:${k}`, () => resolve());
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
    retries,
    retryReasons,
  });
}

const progress = setInterval(() => {
  const received = Object.fromEntries([...receipts].map(([op, list]) => [op, list.length / 3]));
  send({ type: 'progress', opened: sockets.length, live: Object.fromEntries(live), received, failed, closed, retries });
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
