import { describe, expect, it, vi } from 'vitest';
import { Breaker } from '../../lib/breaker.js';
import { MemoryCache } from '../../lib/cache.js';
import { createLogger } from '../../lib/logger.js';
import { Metrics } from '../../lib/metrics.js';
import type { ModelClient } from '../../ml/client.js';
import { ModelUnreachableError } from '../../ml/client.js';
import { AssessmentEngine } from './assessment.engine.js';

describe('AssessmentEngine.describe while the breaker is open', () => {
  it('answers with the description it holds, without attempting the refused call', async () => {
    const metrics = new Metrics();
    const logger = createLogger({ level: 'silent' });
    const breaker = new Breaker('ml', { timeoutMs: 1_000, resetMs: 60_000, volumeThreshold: 2 }, metrics, logger);
    let up = true;
    const client = {
      metadata: async (name: string) => {
        if (!up) throw new ModelUnreachableError('connection refused');
        return { name, versions: ['1'], platform: 'test', inputs: [], outputs: [] };
      },
    } as unknown as ModelClient;
    const engine = new AssessmentEngine({
      cache: new MemoryCache(),
      client,
      breaker,
      metrics,
      logger,
      freshMs: 60_000,
      retainMs: 60_000,
      metadataRefreshMs: 0, // every describe is due for a refresh
    });
    expect(await engine.describe('news2')).toMatchObject({ description: { version: '1' }, reachable: true });

    up = false;
    while (breaker.state !== 'open') {
      // Failed refreshes answer with what the pod holds, until the failures open the breaker.
      expect(await engine.describe('news2')).toMatchObject({ description: { version: '1' }, reachable: false });
    }
    const run = vi.spyOn(breaker, 'run');
    for (let i = 0; i < 5; i++) {
      expect(await engine.describe('news2')).toMatchObject({ description: { version: '1' }, reachable: false });
    }
    expect(run).not.toHaveBeenCalled();
    breaker.shutdown();
  });
});
