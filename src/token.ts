/**
 * `npm run token -- --sub ID [--name NAME] [--roles clinician,admin] [--ttl 12h]`
 * Prints a signed HS256 token alone on one line (needs JWT_SECRET). For local use and tests.
 */
import { parseArgs } from 'node:util';
import { signToken } from './auth/jwt.js';
import { ConfigError, loadConfig } from './config.js';
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
  const config = loadConfig(process.env, 'embedded');
  if (config.auth?.kind !== 'secret') throw new Error('JWT_SECRET is required to sign tokens');
  const token = await signToken(config.auth.secret, {
    sub: values.sub,
    roles: roles as Role[],
    ttl: /^\d+$/.test(values.ttl) ? Number(values.ttl) : values.ttl,
    ...(values.name ? { name: values.name } : {}),
    ...(config.auth.issuer ? { issuer: config.auth.issuer } : {}),
    ...(config.auth.audience ? { audience: config.auth.audience } : {}),
  });
  process.stdout.write(`${token}\n`);
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : `token: ${(error as Error).message}`);
  process.exit(1);
});
