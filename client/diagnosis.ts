import type { DiagnosisStatus } from './generated/graphql.js';

/** Statuses after which `diagnosisUpdated` completes: nothing about the job changes any more (but a review). */
export const TERMINAL_STATUSES: readonly DiagnosisStatus[] = ['COMPLETED', 'FAILED', 'CANCELLED'];

export function isTerminal(status: DiagnosisStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/**
 * The state to show after `incoming` arrives while `current` is shown: the one with the higher
 * `version`. A client that reconnects and subscribes again first gets the current state, which may
 * be a state it has shown already — or, through a lagging replica, an older one: keeping the
 * higher version means a screen never goes back.
 */
export function newerDiagnosis<T extends { version: number }>(current: T | undefined, incoming: T): T {
  return current && current.version > incoming.version ? current : incoming;
}
