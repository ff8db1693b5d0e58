import { errorFields, type Logger } from './lib/logger.js';

/**
 * Waits for SIGTERM or SIGINT, runs `shutdown`, and exits 0 — or 1 if shutdown fails or takes
 * longer than `graceMs` (Kubernetes would SIGKILL soon after anyway).
 */
export function runUntilSignal(logger: Logger, graceMs: number, shutdown: () => Promise<void>): Promise<never> {
  return new Promise<never>(() => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      const deadline = setTimeout(() => {
        logger.error({ graceMs }, 'shutdown took too long; exiting');
        process.exit(1);
      }, graceMs);
      deadline.unref();
      shutdown().then(
        () => {
          logger.info('stopped');
          process.exit(0);
        },
        (error: unknown) => {
          logger.error(errorFields(error), 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
