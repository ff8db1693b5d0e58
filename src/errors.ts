import { GraphQLError } from 'graphql';

/** The contract's error codes (`extensions.code`). */
export const ErrorCode = {
  Unauthenticated: 'UNAUTHENTICATED',
  Forbidden: 'FORBIDDEN',
  NotFound: 'NOT_FOUND',
  BadUserInput: 'BAD_USER_INPUT',
  RateLimited: 'RATE_LIMITED',
  MlUnavailable: 'ML_UNAVAILABLE',
  QueueUnavailable: 'QUEUE_UNAVAILABLE',
  Internal: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * An error the client is meant to see: a fixed code and a message written for the client.
 * Anything that is not an `AppError` is masked as `INTERNAL`.
 */
export abstract class AppError extends GraphQLError {
  abstract readonly code: ErrorCode;

  protected constructor(message: string, code: ErrorCode, extensions: Record<string, unknown> = {}) {
    super(message, { extensions: { code, ...extensions } });
  }
}

export class UnauthenticatedError extends AppError {
  readonly code = ErrorCode.Unauthenticated;
  constructor(message = 'A valid bearer token is required') {
    // Yoga turns `extensions.http` into the HTTP status and strips it from the body.
    super(message, ErrorCode.Unauthenticated, { http: { status: 401 } });
  }
}

export class ForbiddenError extends AppError {
  readonly code = ErrorCode.Forbidden;
  constructor(message = 'Not permitted') {
    super(message, ErrorCode.Forbidden);
  }
}

/** Also the answer for something that exists but the viewer may not see: no existence leak. */
export class NotFoundError extends AppError {
  readonly code = ErrorCode.NotFound;
  constructor(what: string) {
    super(`${what} not found`, ErrorCode.NotFound);
  }
}

export class BadUserInputError extends AppError {
  readonly code = ErrorCode.BadUserInput;
  constructor(message: string, field?: string) {
    super(message, ErrorCode.BadUserInput, field ? { field } : {});
  }
}

/**
 * Over the cost bound (`GRAPHQL_MAX_COST`): the operation could return too many objects, with
 * the list sizes it would run with. Refused before anything runs; over HTTP a 400, like the
 * other limits checked before execution.
 */
export class CostLimitError extends AppError {
  readonly code = ErrorCode.BadUserInput;
  constructor(objects: number, maxCost: number) {
    const found = Number.isFinite(objects) ? String(objects) : 'unboundedly many';
    super(
      `Cost limit of ${maxCost} objects exceeded: this operation could return ${found} (lists sized by their first arguments, variables and defaults)`,
      ErrorCode.BadUserInput,
      { http: { status: 400 } },
    );
  }
}

/**
 * A store the change needs does not answer, so nothing was changed; retry shortly. For a job that
 * cannot be stored at all, and for a cancel or sign-off while the live diagnosis state (Redis),
 * whose compare-and-set decides races with the worker, is unreachable.
 */
export class QueueUnavailableError extends AppError {
  readonly code = ErrorCode.QueueUnavailable;
  constructor(message = 'The diagnosis store is unavailable; nothing was changed, try again shortly') {
    super(message, ErrorCode.QueueUnavailable);
  }
}

/** A persisted-operation rule refused the request (`reason` says which, for clients to act on); HTTP 400. */
export class PersistedOperationError extends AppError {
  readonly code = ErrorCode.BadUserInput;
  constructor(message: string, reason?: 'PERSISTED_QUERY_NOT_FOUND' | 'PERSISTED_QUERY_ONLY') {
    super(message, ErrorCode.BadUserInput, { ...(reason ? { reason } : {}), http: { status: 400 } });
  }
}

export class RateLimitedError extends AppError {
  readonly code = ErrorCode.RateLimited;
  /**
   * @param headers sent with the HTTP answer (`Retry-After`, `RateLimit-*`); Yoga takes them, and
   * the 429 status, from `extensions.http` and strips it from the body.
   */
  constructor(retryAfterMs: number, headers: Record<string, string> = {}) {
    super('Rate limit exceeded', ErrorCode.RateLimited, {
      retryAfterMs: Math.ceil(retryAfterMs),
      http: { status: 429, headers },
    });
  }
}

export class InternalError extends AppError {
  readonly code = ErrorCode.Internal;
  constructor() {
    super('Internal server error', ErrorCode.Internal);
  }
}

/** The model server failed or is cut off by its circuit breaker, and nothing usable is cached. */
export class MlUnavailableError extends AppError {
  readonly code = ErrorCode.MlUnavailable;
  constructor(message = 'The risk model is unavailable and no cached assessment exists') {
    super(message, ErrorCode.MlUnavailable);
  }
}
