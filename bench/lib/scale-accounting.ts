/**
 * The bookkeeping of the `scale` scenario, apart from the sockets so it can be tested on its own:
 * which events each subscriber had to receive, which it did, and how late.
 *
 * A subscriber is one live subscription (one per socket per phase). Its first message is the
 * diagnosis' current state (`initial`, its version); from then on it must receive every version
 * published for its diagnosis that is newer than `initial` — exactly once each, in increasing
 * order. Anything else is counted, and the scenario fails unless `missing` is 0 and the other
 * error counts are too.
 */

/** One published change of a diagnosis: its version, and when the publisher sent it (epoch ms). */
export interface Published {
  version: number;
  sentAt: number;
}

/** A subscription: the diagnosis it follows and the version of the state it started from. */
export interface Subscriber {
  diagnosis: string;
  /** `null`: the subscription never received its current state (never became live). */
  initial: number | null;
}

/** One event a subscriber received after its current state. */
export interface Receipt {
  subscriber: number;
  version: number;
  /** When it was received (epoch ms, same clock as {@link Published.sentAt}). */
  at: number;
}

export interface Accounting {
  subscribers: number;
  /** Subscribers that never received their current state. */
  notLive: number;
  /** Events that had to arrive: every published version newer than each subscriber's `initial`. */
  expected: number;
  /** Expected events that arrived (the first time). */
  delivered: number;
  /** Expected events that never arrived. */
  missing: number;
  /** Receipts of a version the subscriber had already received. */
  duplicates: number;
  /** Receipts of a version nobody published after the subscriber's `initial` (or of an unknown subscriber). */
  unexpected: number;
  /** Receipts whose version was not above the one the same subscriber received before. */
  outOfOrder: number;
  /** Publish-to-receipt latency (ms) of every delivered event. */
  latenciesMs: Float64Array;
  /** The first publish and the last delivery (epoch ms) of the events counted. */
  firstSentAt: number;
  lastDeliveredAt: number;
}

export function account(
  subscribers: readonly Subscriber[],
  receipts: readonly Receipt[],
  published: ReadonlyMap<string, readonly Published[]>,
): Accounting {
  const sentAt = new Map<string, Map<number, number>>();
  for (const [diagnosis, list] of published) sentAt.set(diagnosis, new Map(list.map((p) => [p.version, p.sentAt])));

  let expected = 0;
  let notLive = 0;
  let firstSentAt = Number.POSITIVE_INFINITY;
  for (const s of subscribers) {
    const list = published.get(s.diagnosis) ?? [];
    if (s.initial === null) notLive += 1;
    for (const p of list) {
      if (s.initial !== null && p.version <= s.initial) continue;
      expected += 1;
      firstSentAt = Math.min(firstSentAt, p.sentAt);
    }
  }

  const seen = subscribers.map(() => new Set<number>());
  const last = new Float64Array(subscribers.length).fill(Number.NEGATIVE_INFINITY);
  const latencies: number[] = [];
  let duplicates = 0;
  let unexpected = 0;
  let outOfOrder = 0;
  let lastDeliveredAt = Number.NEGATIVE_INFINITY;
  for (const r of receipts) {
    const s = subscribers[r.subscriber];
    const mine = seen[r.subscriber];
    if (!s || !mine) {
      unexpected += 1;
      continue;
    }
    if (r.version <= (last[r.subscriber] ?? 0)) outOfOrder += 1;
    last[r.subscriber] = Math.max(last[r.subscriber] ?? 0, r.version);
    const sent = sentAt.get(s.diagnosis)?.get(r.version);
    if (sent === undefined || (s.initial !== null && r.version <= s.initial)) {
      unexpected += 1;
      continue;
    }
    if (mine.has(r.version)) {
      duplicates += 1;
      continue;
    }
    mine.add(r.version);
    latencies.push(r.at - sent);
    lastDeliveredAt = Math.max(lastDeliveredAt, r.at);
  }
  const delivered = latencies.length;
  return {
    subscribers: subscribers.length,
    notLive,
    expected,
    delivered,
    missing: expected - delivered,
    duplicates,
    unexpected,
    outOfOrder,
    latenciesMs: Float64Array.from(latencies).sort(),
    firstSentAt,
    lastDeliveredAt,
  };
}

/** Whether nothing was lost, doubled, invented or reordered, and every subscriber was live. */
export function isClean(a: Accounting): boolean {
  return a.notLive === 0 && a.missing === 0 && a.duplicates === 0 && a.unexpected === 0 && a.outOfOrder === 0;
}

/** Nearest-rank percentiles (ms, one decimal) of sorted samples. */
export function percentiles(sorted: Float64Array): { p50: number; p90: number; p99: number; max: number } {
  const at = (q: number) => {
    if (sorted.length === 0) return Number.NaN;
    const value = sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
    return Math.round(value * 10) / 10;
  };
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) };
}

/** The figures a report carries (no sample arrays): counts, percentiles and the delivery rate. */
export function summarise(a: Accounting): Record<string, number> {
  const span = (a.lastDeliveredAt - a.firstSentAt) / 1000;
  return {
    subscribers: a.subscribers,
    notLive: a.notLive,
    expected: a.expected,
    delivered: a.delivered,
    missing: a.missing,
    duplicates: a.duplicates,
    unexpected: a.unexpected,
    outOfOrder: a.outOfOrder,
    ...percentiles(a.latenciesMs),
    // From the first publish to the last delivery: what the whole fan-out sustained.
    eventsPerSecond: a.delivered > 0 && span > 0 ? Math.round(a.delivered / span) : 0,
  };
}
