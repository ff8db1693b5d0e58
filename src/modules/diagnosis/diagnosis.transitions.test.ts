import { MemoryLiveState } from './diagnosis.live.js';
import { lifecycleCases } from './diagnosis.transitions.cases.js';

// The same cases run against Redis in test/integration/diagnosis-transitions.int.test.ts.
lifecycleCases('the in-memory live state', async () => {
  const store = new MemoryLiveState();
  return { store, close: async () => undefined };
});
