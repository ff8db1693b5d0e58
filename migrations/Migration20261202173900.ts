import { Migration } from '@mikro-orm/migrations';

/**
 * MRNs unique whatever their case (`mrn-1` and `MRN-1` are one record number). On a database that
 * already holds two such patients the index cannot be built and the migration fails, changing
 * nothing: merge or correct those records first (docs/security.md shows the query that finds them).
 */
export class Migration20261202173900 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create unique index "patient_mrn_lower_unique" on "patient" (lower("mrn"));`);
    this.addSql(`alter table "patient" drop constraint "patient_mrn_unique";`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "patient" add constraint "patient_mrn_unique" unique ("mrn");`);
    this.addSql(`drop index "patient_mrn_lower_unique";`);
  }
}
