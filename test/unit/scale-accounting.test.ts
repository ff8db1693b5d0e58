/**
 * The `scale` bench scenario passes only if every subscriber received every event published after
 * its current state, once each and in order: its accounting must catch each way that can fail.
 * (The scenario itself holds thousands of sockets and runs from `npm run bench -- --scenario scale`.)
 */
import { describe, expect, it } from 'vitest';
import { account, isClean, percentiles, summarise } from '../../bench/lib/scale-accounting.js';

const published = new Map([
  [
    'd1',
    [
      { version: 4, sentAt: 1_000 },
      { version: 5, sentAt: 2_000 },
    ],
  ],
  ['d2', [{ version: 2, sentAt: 1_500 }]],
]);

describe('scale scenario accounting', () => {
  it('counts every published version newer than a subscriber’s current state, and their latencies', () => {
    const subscribers = [
      { diagnosis: 'd1', initial: 3 },
      // Subscribed after version 4 went out: only 5 is owed.
      { diagnosis: 'd1', initial: 4 },
      { diagnosis: 'd2', initial: 1 },
    ];
    const receipts = [
      { subscriber: 0, version: 4, at: 1_010 },
      { subscriber: 0, version: 5, at: 2_030 },
      { subscriber: 1, version: 5, at: 2_020 },
      { subscriber: 2, version: 2, at: 1_900 },
    ];
    const a = account(subscribers, receipts, published);
    expect(a).toMatchObject({ expected: 4, delivered: 4, missing: 0, duplicates: 0, unexpected: 0, outOfOrder: 0 });
    expect([...a.latenciesMs]).toEqual([10, 20, 30, 400]);
    expect(isClean(a)).toBe(true);
    // Four deliveries from the first publish (1,000) to the last receipt (2,030).
    expect(summarise(a)).toMatchObject({ p50: 20, max: 400, eventsPerSecond: Math.round(4 / 1.03) });
  });

  it('fails a run that lost, doubled, invented or reordered an event', () => {
    const subscribers = [
      { diagnosis: 'd1', initial: 3 },
      { diagnosis: 'd1', initial: 3 },
    ];
    const missing = account(subscribers, [{ subscriber: 0, version: 4, at: 1_001 }], published);
    expect(missing).toMatchObject({ expected: 4, delivered: 1, missing: 3 });
    expect(isClean(missing)).toBe(false);

    const doubled = account(
      [{ diagnosis: 'd2', initial: 1 }],
      [
        { subscriber: 0, version: 2, at: 1_600 },
        { subscriber: 0, version: 2, at: 1_700 },
      ],
      published,
    );
    expect(doubled).toMatchObject({ delivered: 1, missing: 0, duplicates: 1, outOfOrder: 1 });
    expect(isClean(doubled)).toBe(false);

    // A version that was never published, and one not newer than the state the subscriber began with.
    const invented = account(
      [{ diagnosis: 'd1', initial: 4 }],
      [
        { subscriber: 0, version: 4, at: 1_100 },
        { subscriber: 0, version: 5, at: 2_001 },
        { subscriber: 0, version: 9, at: 2_002 },
        { subscriber: 7, version: 5, at: 2_003 },
      ],
      published,
    );
    expect(invented).toMatchObject({ delivered: 1, missing: 0, unexpected: 3 });
    expect(isClean(invented)).toBe(false);

    const reordered = account(
      [{ diagnosis: 'd1', initial: 3 }],
      [
        { subscriber: 0, version: 5, at: 2_001 },
        { subscriber: 0, version: 4, at: 2_002 },
      ],
      published,
    );
    expect(reordered).toMatchObject({ delivered: 2, missing: 0, outOfOrder: 1 });
    expect(isClean(reordered)).toBe(false);
  });

  it('owes a subscription that never became live everything, and fails it', () => {
    const a = account([{ diagnosis: 'd1', initial: null }], [], published);
    expect(a).toMatchObject({ notLive: 1, expected: 2, missing: 2 });
    expect(isClean(a)).toBe(false);
  });

  it('takes nearest-rank percentiles', () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentiles(sorted)).toEqual({ p50: 50, p90: 90, p99: 99, max: 100 });
    expect(percentiles(new Float64Array()).p99).toBeNaN();
  });
});
