/**
 * `npm run migrate`: applies pending migrations to DATABASE_URL, then exits 0.
 * `npm run migration:create`: writes a new migration from the difference between the entities and
 * the committed snapshot (for developers; needs DATABASE_URL to a database at the latest migration).
 */
import { ConfigError, loadConfig } from './config.js';
import { initOrm, migrateUp } from './db/orm.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env, 'tool');
  if (!config.databaseUrl) throw new ConfigError(['DATABASE_URL is required']);
  const orm = await initOrm({ databaseUrl: config.databaseUrl, poolSize: 2 });
  try {
    if (process.argv.includes('--create')) {
      const created = await orm.getMigrator().createMigration();
      console.log(created.diff.up.length ? `created ${created.fileName}` : 'no changes: entities match the snapshot');
    } else {
      const applied = await migrateUp(orm);
      console.log(applied.length ? `applied ${applied.join(', ')}` : 'database is up to date');
    }
  } finally {
    await orm.close(true);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : `migrate failed: ${(error as Error).message}`);
  process.exit(1);
});
