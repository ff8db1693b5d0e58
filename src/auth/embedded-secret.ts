/**
 * The HS256 secret of the embedded mode (`npm start` without `JWT_SECRET`): generated once, kept
 * under the data directory, so tokens survive a restart and `npm run token` can sign tokens that
 * the running `npm start` accepts without anyone copying the secret around.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where the embedded secret lives under `dataDir`. */
export function embeddedSecretFile(dataDir: string): string {
  return join(dataDir, 'jwt-secret');
}

/** The kept secret, or `undefined` when `npm start` has not run on this data directory yet. */
export function readEmbeddedSecret(dataDir: string): string | undefined {
  const file = embeddedSecretFile(dataDir);
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}

/** The kept secret, generated (48 random bytes, file mode 0600) on first use. */
export function ensureEmbeddedSecret(dataDir: string): string {
  const existing = readEmbeddedSecret(dataDir);
  if (existing) return existing;
  const secret = randomBytes(48).toString('base64url');
  writeFileSync(embeddedSecretFile(dataDir), `${secret}\n`, { mode: 0o600 });
  return secret;
}
