import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261127213021 } from './Migration20261127213021.js';
import { Migration20261127220424 } from './Migration20261127220424.js';
import { Migration20261127225750 } from './Migration20261127225750.js';
import { Migration20261202172824 } from './Migration20261202172824.js';
import { Migration20261202173900 } from './Migration20261202173900.js';
import { Migration20261203132521 } from './Migration20261203132521.js';
import { Migration20261203134154 } from './Migration20261203134154.js';

/**
 * Every migration, in order. Listed statically (not globbed) so the same code runs under tsx,
 * vitest and compiled JavaScript. `npm run migration:create` writes a file; add it here — a test
 * fails when a migration file is missing from this list.
 */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261127213021', class: Migration20261127213021 },
  { name: 'Migration20261127220424', class: Migration20261127220424 },
  { name: 'Migration20261127225750', class: Migration20261127225750 },
  { name: 'Migration20261202172824', class: Migration20261202172824 },
  { name: 'Migration20261202173900', class: Migration20261202173900 },
  { name: 'Migration20261203132521', class: Migration20261203132521 },
  { name: 'Migration20261203134154', class: Migration20261203134154 },
];
