import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Migrator } from '@mikro-orm/migrations';
import { defineConfig, MikroORM, type Options } from '@mikro-orm/postgresql';
import { migrationsList } from '../../migrations/index.js';
import { AuditEventSchema } from '../modules/audit/audit-event.entity.js';
import { ClinicianSchema } from '../modules/clinician/clinician.entity.js';
import { DiagnosisSchema } from '../modules/diagnosis/diagnosis.entity.js';
import { DiagnosisTransitionSchema } from '../modules/diagnosis/diagnosis-transition.entity.js';
import { OutboxMessageSchema } from '../modules/outbox/outbox.entity.js';
import { CareTeamMemberSchema } from '../modules/patient/care-team-member.entity.js';
import { ObservationSchema } from '../modules/patient/observation.entity.js';
import { PatientSchema } from '../modules/patient/patient.entity.js';

export { MikroORM };

export const ENTITIES = [
  ClinicianSchema,
  PatientSchema,
  CareTeamMemberSchema,
  ObservationSchema,
  DiagnosisSchema,
  AuditEventSchema,
  OutboxMessageSchema,
  DiagnosisTransitionSchema,
];

const here = dirname(fileURLToPath(import.meta.url));
/** Under tsx this module is `src/db/orm.ts`; built, it is `dist/src/db/orm.js`. */
const runningTs = import.meta.url.endsWith('.ts');
/** Where `migration:create` writes: the TypeScript sources (beside `src/`), not their build. */
export const MIGRATIONS_DIR = resolve(here, runningTs ? '../../migrations' : '../../../migrations');

export interface OrmSettings {
  databaseUrl: string;
  poolSize: number;
  /** Keep the migrator quiet (tests, and the API's own start-up). */
  silent?: boolean;
}

/** One MikroORM configuration for the API, the CLI, tests and the embedded mode. */
export function ormOptions({ databaseUrl, poolSize, silent = false }: OrmSettings): Options {
  return defineConfig({
    clientUrl: databaseUrl,
    entities: ENTITIES,
    discovery: { disableDynamicFileAccess: true, requireEntitiesArray: true },
    extensions: [Migrator],
    pool: { min: 0, max: poolSize, idleTimeoutMillis: 30_000 },
    forceUtcTimezone: true,
    // Queries are never logged: their parameters carry patient data.
    debug: false,
    allowGlobalContext: false,
    preferTs: runningTs,
    migrations: {
      // New migrations are written here; the ones applied come from the static list.
      path: MIGRATIONS_DIR,
      pathTs: MIGRATIONS_DIR,
      migrationsList,
      tableName: 'mikro_orm_migrations',
      transactional: true,
      silent,
      allOrNothing: true,
      snapshot: true,
      // A fixed name: the snapshot must not depend on which database generated it.
      snapshotName: '.snapshot-clinical-copilot',
      emit: 'ts',
      fileName: (timestamp, name) => `Migration${timestamp}${name ? `_${name}` : ''}`,
    },
  });
}

export async function initOrm(settings: OrmSettings): Promise<MikroORM> {
  return MikroORM.init(ormOptions(settings));
}

/** Applies every pending migration; returns the names applied. */
export async function migrateUp(orm: MikroORM): Promise<string[]> {
  const applied = await orm.getMigrator().up();
  return applied.map((m) => m.name);
}
