import { createModelServer, type ModelServer } from '../../ml-server/server.js';
import { FaultyModelServer } from './faulty-model-server.js';
import { startTestApi, type TestApi } from './server.js';

/** An API pod whose model server sits behind a proxy a test can make fail, hang or refuse. */
export interface BreakerStack {
  readonly api: TestApi;
  readonly faulty: FaultyModelServer;
  readonly token: string;
  /** The `ml` breaker's state from /metrics: 0 closed, 1 half-open, 2 open. */
  breakerState(): Promise<number>;
  /** Calls the open breaker refused so far, from /metrics. */
  breakerRejects(): Promise<number>;
  close(): Promise<void>;
}

/**
 * The stack of the breaker tests: the reference model server, a faulty proxy in front of it, and
 * an API pod tuned so that everything cached is already "old" (a healthy model recomputes, a
 * failing one serves STALE_CACHE), a model call gives up after 300 ms, and the open breaker waits
 * 1.5 s before a trial call — long enough for the checks made while it is open to finish first on
 * a loaded machine, where each request has taken 100 ms.
 */
export async function startBreakerStack(clinician: string): Promise<BreakerStack> {
  const upstream: ModelServer = createModelServer();
  const faulty = new FaultyModelServer(await upstream.listen(0, '127.0.0.1'));
  await faulty.start();
  const api = await startTestApi({
    mlUrl: faulty.url,
    env: { ASSESSMENT_FRESH_MS: '0', ML_TIMEOUT_MS: '300', ML_BREAKER_RESET_MS: '1500' },
  });
  const metric = async (pattern: RegExp, absent: number) =>
    Number(pattern.exec(await (await fetch(`${api.base}/metrics`)).text())?.[1] ?? absent);
  return {
    api,
    faulty,
    token: await api.token(clinician),
    breakerState: () => metric(/circuit_breaker_state\{breaker="ml"\} (\d)/, Number.NaN),
    breakerRejects: () => metric(/circuit_breaker_events_total\{breaker="ml",event="reject"\} (\d+)/, 0),
    close: async () => {
      await api.close();
      await faulty.close();
      await upstream.close();
    },
  };
}
