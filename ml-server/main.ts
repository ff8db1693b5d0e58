/** The reference model server: `npm run start:ml` (or `node dist/ml-server/main.js` in a container). */
import { ConfigError, loadConfig } from '../src/config.js';
import { createLogger } from '../src/lib/logger.js';
import { runUntilSignal } from '../src/lifecycle.js';
import { MODELS } from './models/registry.js';
import { createModelServer } from './server.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env, 'ml');
  const logger = createLogger({ level: config.logLevel, name: 'clinical-copilot-ml' });
  const ml = createModelServer({ logger });
  const url = await ml.listen(config.mlPort, config.http.host);
  logger.info({ url: url.href, models: MODELS.map((m) => `${m.name}@${m.version}`) }, 'model server listening');
  await runUntilSignal(logger, config.shutdownGraceMs, () => ml.close());
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : `start failed: ${(error as Error).message}`);
  process.exit(1);
});
