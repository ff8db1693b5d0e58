import { describe, expect, it } from 'vitest';
import { recordingTime } from './observation.entity.js';

describe('recordingTime', () => {
  const now = new Date('2026-12-03T10:00:00.000Z');

  it('is now for a first recording, or one after an earlier recording', () => {
    expect(recordingTime(null, now)).toEqual(now);
    expect(recordingTime(new Date('2026-12-03T09:59:59.999Z'), now)).toEqual(now);
  });

  it('is 1 ms after the previous recording when the clock does not say later (same millisecond, or a pod behind)', () => {
    expect(recordingTime(now, now)).toEqual(new Date('2026-12-03T10:00:00.001Z'));
    // The previous recording was made on a pod whose clock is 50 ms ahead.
    expect(recordingTime(new Date('2026-12-03T10:00:00.050Z'), now)).toEqual(new Date('2026-12-03T10:00:00.051Z'));
  });
});
