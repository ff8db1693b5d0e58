import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { migrationsList } from '../../migrations/index.js';
import { initOrm, MIGRATIONS_DIR, migrateUp } from '../../src/db/orm.js';
import { createTestDatabase } from '../helpers/database.js';

describe('migrations', () => {
  it('produce exactly the schema the entities describe (no drift), and re-running is a no-op', async () => {
    const db = await createTestDatabase();
    const orm = await initOrm({ databaseUrl: db.url, poolSize: 1, silent: true });
    try {
      const applied = await migrateUp(orm);
      expect(applied).toEqual(migrationsList.map((m) => m.name));
      // What the schema generator would still change if the entities were the truth.
      const drift = await orm.getSchemaGenerator().getUpdateSchemaSQL({ wrap: false, safe: false });
      expect(drift.trim()).toBe('');
      expect(await migrateUp(orm)).toEqual([]);
    } finally {
      await orm.close(true);
      await db.drop();
    }
  });

  it('lists every migration file in migrations/index.ts', () => {
    const files = readdirSync(MIGRATIONS_DIR)
      .filter((f) => /^Migration\d+.*\.ts$/.test(f))
      .map((f) => f.replace(/\.ts$/, ''));
    expect(files.sort()).toEqual(migrationsList.map((m) => m.name).sort());
  });
});
