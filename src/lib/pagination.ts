import { BadUserInputError } from '../errors.js';

/** Forward pagination arguments as the contract's connections take them. */
export interface PageArgs {
  first?: number | null;
  after?: string | null;
}

/** A keyset position: the sort timestamp and the id that breaks ties. */
export interface KeysetCursor {
  at: Date;
  id: string;
}

export interface Page<T> {
  nodes: T[];
  hasNextPage: boolean;
  cursorOf: (node: T) => string;
}

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/** Validates `first`; one more row than this is fetched to know whether a next page exists. */
export function pageSize(first: number | null | undefined): number {
  return boundedCount('first', first, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
}

/** A count argument (`first`, `last`): `fallback` when absent, else an integer from 0 to `max` (BAD_USER_INPUT otherwise). */
export function boundedCount(name: string, value: number | null | undefined, fallback: number, max: number): number {
  if (value === null || value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new BadUserInputError(`${name} must be an integer from 0 to ${max}`, name);
  }
  return value;
}

/** Cursors are opaque to clients: base64url of the keyset position. */
export function encodeCursor({ at, id }: KeysetCursor): string {
  return Buffer.from(`${at.toISOString()}|${id}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | null | undefined): KeysetCursor | null {
  if (cursor === null || cursor === undefined || cursor === '') return null;
  const [iso, id, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const at = new Date(iso ?? '');
  if (rest.length > 0 || !id || Number.isNaN(at.getTime())) {
    throw new BadUserInputError('after is not a cursor this API issued', 'after');
  }
  return { at, id };
}

/** Trims the extra look-ahead row and reports whether there was one. */
export function toPage<T>(rows: T[], size: number, key: (node: T) => KeysetCursor): Page<T> {
  return {
    nodes: rows.slice(0, size),
    hasNextPage: rows.length > size,
    cursorOf: (node) => encodeCursor(key(node)),
  };
}

/**
 * The keyset condition "after this cursor" for a newest-first order on (`field`, id): an older
 * timestamp, or the same timestamp and a smaller id. Nothing when there is no cursor.
 */
export function olderThan<F extends string>(
  field: F,
  after: KeysetCursor | null,
): { $or: (Record<F, { $lt: Date }> | (Record<F, Date> & { id: { $lt: string } }))[] } | Record<string, never> {
  if (!after) return {};
  return {
    $or: [
      { [field]: { $lt: after.at } } as Record<F, { $lt: Date }>,
      { [field]: after.at, id: { $lt: after.id } } as Record<F, Date> & { id: { $lt: string } },
    ],
  };
}
