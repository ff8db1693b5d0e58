/** One stateless API pod: `npm run start:api` (or `node dist/src/main.js` in a container). */
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { createDeps } from './deps.js';
import { runUntilSignal } from './lifecycle.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env, 'api');
  const deps = await createDeps(config);
  const app = buildApp(config, deps);
  const url = await app.listen();
  deps.logger.info({ url: url.href }, 'api listening');
  await runUntilSignal(deps.logger, config.shutdownGraceMs, async () => {
    await app.close();
    await deps.close();
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : `start failed: ${(error as Error).message}`);
  process.exit(1);
});
