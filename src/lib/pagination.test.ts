import { describe, expect, it } from 'vitest';
import { BadUserInputError } from '../errors.js';
import { DEFAULT_PAGE_SIZE, decodeCursor, encodeCursor, MAX_PAGE_SIZE, pageSize, toPage } from './pagination.js';

describe('pagination', () => {
  it('round-trips a keyset cursor', () => {
    const at = new Date('2026-01-02T03:04:05.678Z');
    expect(decodeCursor(encodeCursor({ at, id: 'abc' }))).toEqual({ at, id: 'abc' });
    expect(decodeCursor(null)).toBeNull();
    expect(decodeCursor('')).toBeNull();
  });

  it('rejects cursors it did not issue', () => {
    expect(() => decodeCursor('garbage')).toThrow(BadUserInputError);
    expect(() => decodeCursor(Buffer.from('not-a-date|x').toString('base64url'))).toThrow(BadUserInputError);
  });

  it('bounds the page size', () => {
    expect(pageSize(undefined)).toBe(DEFAULT_PAGE_SIZE);
    expect(pageSize(0)).toBe(0);
    expect(pageSize(MAX_PAGE_SIZE)).toBe(MAX_PAGE_SIZE);
    expect(() => pageSize(MAX_PAGE_SIZE + 1)).toThrow(BadUserInputError);
    expect(() => pageSize(-1)).toThrow(BadUserInputError);
  });

  it('uses the look-ahead row only to tell whether a next page exists', () => {
    const rows = [1, 2, 3].map((n) => ({ id: String(n), at: new Date(n) }));
    const page = toPage(rows, 2, (r) => r);
    expect(page.nodes.map((r) => r.id)).toEqual(['1', '2']);
    expect(page.hasNextPage).toBe(true);
    expect(toPage(rows, 3, (r) => r).hasNextPage).toBe(false);
  });
});
