/** The appointments subgraph as a process: `npm run start:appointments` in gateway/. */
import { ConfigError } from '../env.js';
import { loadAppointmentsConfig } from './config.js';
import { startAppointmentsServer } from './server.js';

async function main(): Promise<void> {
  const config = loadAppointmentsConfig(process.env);
  const server = await startAppointmentsServer({
    port: config.port,
    host: config.host,
    databaseUrl: config.databaseUrl,
    auth: config.auth,
    gatewaySecret: config.gatewaySecret,
  });
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    console.log(JSON.stringify({ time: Date.now(), level: 'info', msg: 'shutting down', signal }));
    // Kubernetes sends SIGKILL after its own grace period; exit 1 first so the cause is logged.
    setTimeout(() => {
      console.error(JSON.stringify({ time: Date.now(), level: 'error', msg: 'shutdown took too long; exiting' }));
      process.exit(1);
    }, config.shutdownGraceMs).unref();
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(
          JSON.stringify({ time: Date.now(), level: 'error', msg: 'shutdown failed', error: String(error) }),
        );
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : `start failed: ${(error as Error).message}`);
  process.exit(1);
});
