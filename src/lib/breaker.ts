import CircuitBreaker from 'opossum';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

export interface BreakerOptions {
  /** A call slower than this counts as failed (the call itself should also abort by then). */
  timeoutMs: number;
  /** Time the breaker stays open before one trial call may go through (half-open). */
  resetMs: number;
  /** Open when this share of calls in the rolling window failed… */
  errorThresholdPercentage?: number;
  /** …and at least this many calls were made in it, so a single failure cannot open it. */
  volumeThreshold?: number;
  /** Length of the rolling window of statistics. */
  rollingWindowMs?: number;
  /** Errors for which this returns true are the caller's fault and do not count as failures. */
  isCallerError?: (error: unknown) => boolean;
}

/** Thrown (by {@link Breaker.run}) when the breaker is open and the call was not attempted. */
export class BreakerOpenError extends Error {
  constructor(readonly breaker: string) {
    super(`circuit breaker ${breaker} is open`);
    this.name = 'BreakerOpenError';
  }
}

export type BreakerState = 'closed' | 'half-open' | 'open';
const STATE_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };
const EVENTS = ['success', 'failure', 'timeout', 'reject', 'open', 'halfOpen', 'close'] as const;

/**
 * A named circuit breaker (opossum) around any async call, with its state and events exported
 * to Prometheus. One breaker guards one dependency, whatever the call.
 */
export class Breaker {
  private readonly cb: CircuitBreaker<[() => Promise<unknown>], unknown>;

  constructor(
    readonly name: string,
    options: BreakerOptions,
    private readonly metrics: Metrics,
    logger: Logger,
  ) {
    this.cb = new CircuitBreaker((call: () => Promise<unknown>) => call(), {
      name,
      timeout: options.timeoutMs,
      resetTimeout: options.resetMs,
      errorThresholdPercentage: options.errorThresholdPercentage ?? 50,
      volumeThreshold: options.volumeThreshold ?? 5,
      rollingCountTimeout: options.rollingWindowMs ?? 10_000,
      rollingCountBuckets: 10,
      ...(options.isCallerError ? { errorFilter: options.isCallerError } : {}),
    });
    const state = metrics.breakerState.labels(name);
    state.set(STATE_VALUE.closed);
    // opossum's typings overload `on` per event; these listeners ignore the event arguments.
    const on = this.cb.on.bind(this.cb) as (event: string, listener: () => void) => void;
    for (const event of EVENTS) on(event, () => metrics.breakerEvents.inc({ breaker: name, event }));
    this.cb.on('open', () => {
      state.set(STATE_VALUE.open);
      logger.warn({ breaker: name }, 'circuit breaker opened');
    });
    this.cb.on('halfOpen', () => state.set(STATE_VALUE['half-open']));
    this.cb.on('close', () => {
      state.set(STATE_VALUE.closed);
      logger.info({ breaker: name }, 'circuit breaker closed');
    });
  }

  get state(): BreakerState {
    return this.cb.opened ? 'open' : this.cb.halfOpen ? 'half-open' : 'closed';
  }

  /** Runs `call` through the breaker; rejects with {@link BreakerOpenError} at once when open. */
  async run<T>(call: () => Promise<T>): Promise<T> {
    try {
      return (await this.cb.fire(call)) as T;
    } catch (error) {
      if ((error as { code?: string }).code === 'EOPENBREAKER') throw new BreakerOpenError(this.name);
      throw error;
    }
  }

  /**
   * Counts calls a caller did not attempt because the breaker is open (it answered from elsewhere
   * at once, as {@link run} would have refused them): `reject` events, like the refusals of `run`.
   */
  skipped(calls: number): void {
    if (calls > 0) this.metrics.breakerEvents.inc({ breaker: this.name, event: 'reject' }, calls);
  }

  shutdown(): void {
    this.cb.shutdown();
  }
}
