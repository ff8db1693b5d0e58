import { Migration } from '@mikro-orm/migrations';

/**
 * Care-team changes name the clinician they were about: `entity_clinician_id`, a second FHIR
 * AuditEvent.entity beside the patient. Until now a removal's row said only who removed someone
 * from which patient's team, not whom. Null for every other event, and for rows written before.
 */
export class Migration20261203132521 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "audit_event" add column "entity_clinician_id" text null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "audit_event" drop column "entity_clinician_id";`);
  }
}
