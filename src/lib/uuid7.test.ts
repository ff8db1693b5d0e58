import { describe, expect, it } from 'vitest';
import { uuid7 } from './uuid7.js';

describe('uuid7', () => {
  it('is an RFC 9562 version-7 UUID carrying the time in its first 48 bits', () => {
    const at = Date.UTC(2026, 11, 4, 12, 0, 0, 123);
    const id = uuid7(at);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(at);
  });

  it('orders by time across milliseconds and differs within one', () => {
    const ids = [uuid7(1_000), uuid7(1_001), uuid7(70_000_000_000_000)];
    expect([...ids].sort()).toEqual(ids);
    const same = Array.from({ length: 1000 }, () => uuid7(5));
    expect(new Set(same).size).toBe(1000);
    // The time part is remembered per millisecond: a later one must not keep the earlier's.
    expect(same.every((id) => id.startsWith('00000000-0005-7'))).toBe(true);
    expect(uuid7(6).startsWith('00000000-0006-7')).toBe(true);
  });
});
