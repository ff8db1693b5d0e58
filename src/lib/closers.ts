/**
 * What a process opened, closed in the reverse order — at shutdown, and also when start-up fails
 * halfway, so a pod that cannot reach NATS does not leave its database pool and Redis connections
 * open behind the error. Each closer runs even if an earlier one failed.
 */
export class Closers {
  private readonly stack: (() => unknown)[] = [];

  /** Registers how to close what was just opened (closed before anything opened earlier). */
  defer(close: () => unknown): void {
    this.stack.push(close);
  }

  /** Closes everything registered, last first; the first failure is thrown after all have run. */
  async close(): Promise<void> {
    let failure: unknown;
    for (let close = this.stack.pop(); close; close = this.stack.pop()) {
      try {
        await close();
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
  }

  /**
   * Runs the next step of a start-up: if it throws, everything opened so far is closed and the
   * error is thrown again with `what` in front (one clear line, e.g. `cannot reach NATS: …`).
   */
  async open<T>(what: string, step: () => Promise<T>): Promise<T> {
    return this.guard(step, (error) => new Error(`${what}: ${(error as Error).message}`));
  }

  /** Runs `step`; if it throws, everything opened so far is closed and the error thrown again. */
  async guard<T>(step: () => Promise<T>, rethrow: (error: unknown) => unknown = (error) => error): Promise<T> {
    try {
      return await step();
    } catch (error) {
      await this.close().catch(() => undefined);
      throw rethrow(error);
    }
  }
}
