import type { CombinedError } from '@urql/core';

/** The API's error codes (the contract's `extensions.code`). */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'BAD_USER_INPUT'
  | 'RATE_LIMITED'
  | 'ML_UNAVAILABLE'
  | 'QUEUE_UNAVAILABLE'
  | 'INTERNAL';

export function errorCodes(error: CombinedError | undefined): string[] {
  return (error?.graphQLErrors ?? []).map((e) => String(e.extensions?.code ?? 'INTERNAL'));
}

export function hasCode(error: CombinedError | undefined, code: ErrorCode): boolean {
  return errorCodes(error).includes(code);
}

/** BAD_USER_INPUT errors that name their field (`extensions.field`), by field. */
export function fieldErrors(error: CombinedError | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of error?.graphQLErrors ?? []) {
    const field = e.extensions?.field;
    if (e.extensions?.code === 'BAD_USER_INPUT' && typeof field === 'string') out[field] = e.message;
  }
  return out;
}

/** One sentence for a clinician: what went wrong and what to do. Messages are the API's own (no patient data). */
export function describeError(error: CombinedError | undefined): string | undefined {
  if (!error) return undefined;
  if (error.networkError && error.graphQLErrors.length === 0) {
    return 'The API could not be reached. Check the connection and try again.';
  }
  const first = error.graphQLErrors[0];
  const code = String(first?.extensions?.code ?? '');
  switch (code) {
    case 'UNAUTHENTICATED':
      return 'Your session is not valid any more: sign in again.';
    case 'NOT_FOUND':
      return 'Not found — it does not exist, or you are not on the patient’s care team.';
    case 'RATE_LIMITED': {
      const ms = Number(first?.extensions?.retryAfterMs ?? 0);
      return `Too many requests: try again in ${Math.max(1, Math.ceil(ms / 1000))} s.`;
    }
    case 'ML_UNAVAILABLE':
      return 'The risk model is unavailable and nothing is cached for these observations.';
    case 'QUEUE_UNAVAILABLE':
      return 'Diagnoses cannot be queued right now: nothing was stored. Try again shortly.';
    default:
      return first?.message ?? error.message;
  }
}
