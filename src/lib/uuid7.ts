import { randomUUID } from 'node:crypto';

/**
 * A UUID version 7 (RFC 9562 §5.7): the Unix time in milliseconds in the first 48 bits, then 74
 * random bits. For rows that are only ever appended (audit events): ids that grow with time land
 * at the right edge of the primary key's B-tree instead of on a random leaf, so an insert dirties
 * one hot page rather than one page per row — less WAL (full-page images after each checkpoint) and
 * less buffer churn. Within one millisecond the order is random (the RFC allows it); nothing
 * reads order from these ids. Built from `randomUUID()`, whose entropy Node keeps pooled: its
 * version-4 text with the time written over the first 48 bits and the version nibble set to 7.
 */
export function uuid7(now = Date.now()): string {
  if (now !== prefixAt) {
    const time = now.toString(16).padStart(12, '0');
    prefix = `${time.slice(0, 8)}-${time.slice(8, 12)}-7`;
    prefixAt = now;
  }
  return prefix + randomUUID().slice(15);
}

/** The time part of the last id, and its millisecond: ids of one millisecond share it. */
let prefix = '';
let prefixAt = -1;
