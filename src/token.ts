/**
 * `npm run token -- --sub ID [--name NAME] [--roles clinician,admin] [--ttl 12h]`
 * Prints a signed HS256 token alone on one line, for local use and tests. Signs with JWT_SECRET, or
 * else with the secret `npm start` keeps under DATA_DIR (`.data/jwt-secret`), so a token minted
 * beside a running `npm start` is accepted by it.
 */
import { parseArgs } from 'node:util';
import { embeddedSecretFile, readEmbeddedSecret } from './auth/embedded-secret.js';
import { signToken } from './auth/jwt.js';
import { type AuthConfig, ConfigError, loadConfig } from './config.js';
import { ROLES, type Role } from './modules/clinician/clinician.entity.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sub: { type: 'string' },
      name: { type: 'string' },
      roles: { type: 'string', default: 'clinician' },
      ttl: { type: 'string', default: '12h' },
    },
  });
  if (!values.sub) throw new Error('--sub is required');
  const roles = values.roles
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  const unknown = roles.filter((r) => !(ROLES as readonly string[]).includes(r));
  if (unknown.length > 0 || roles.length === 0)
    throw new Error(`--roles must be a comma-separated subset of ${ROLES.join(',')}`);
  // Only the token settings matter here; the database is not touched.
  const config = loadConfig(process.env, 'tool');
  const auth = config.auth ?? embeddedAuth(config.dataDir);
  if (auth.kind !== 'secret') throw new Error('JWT_SECRET is required to sign tokens (JWT_JWKS_URL is set)');
  const token = await signToken(auth.secret, {
    sub: values.sub,
    roles: roles as Role[],
    ttl: /^\d+$/.test(values.ttl) ? Number(values.ttl) : values.ttl,
    ...(values.name ? { name: values.name } : {}),
    ...(auth.issuer ? { issuer: auth.issuer } : {}),
    ...(auth.audience ? { audience: auth.audience } : {}),
  });
  process.stdout.write(`${token}\n`);
}

/** The embedded mode's kept secret; without one there is nothing `npm start` would accept. */
function embeddedAuth(dataDir: string): AuthConfig {
  const secret = readEmbeddedSecret(dataDir);
  if (!secret)
    throw new Error(
      `no JWT_SECRET, and no ${embeddedSecretFile(dataDir)} yet: run \`npm start\` once, or set JWT_SECRET`,
    );
  return { kind: 'secret', secret };
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : `token: ${(error as Error).message}`);
  process.exit(1);
});
