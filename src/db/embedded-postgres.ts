import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedPostgres {
  /** A `postgres://` URL for MikroORM's ordinary pg driver. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Real PostgreSQL compiled to WASM (PGlite), with its files in `dir`, served on a loopback port
 * through pglite-socket so the production driver and migrations run unchanged.
 *
 * PGlite is a single-session database: the socket server multiplexes connections at the query
 * level, so two clients' transactions would interleave. The caller must therefore use a pool of
 * one connection (the embedded mode does), which serialises transactions correctly.
 */
export async function startEmbeddedPostgres(dir: string): Promise<EmbeddedPostgres> {
  mkdirSync(dir, { recursive: true });
  const db = await PGlite.create(dir);
  const port = await freePort();
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port, maxConnections: 4 });
  await server.start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    close: async () => {
      await server.stop();
      await db.close();
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
