import { Migration } from '@mikro-orm/migrations';

/**
 * The transition history keeps the report's status beside the diagnosis' status, so a clinician's
 * sign-off (COMPLETED, then FINAL / AMENDED / REJECTED) is a row of its own and no longer reads as a
 * second completion. Existing rows are filled in: every COMPLETED row is PRELIMINARY, except a
 * reviewed diagnosis' later COMPLETED row, which was its review.
 */
export class Migration20261203134154 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "diagnosis_transition" add column "report_status" text null;`);
    this.addSql(`update "diagnosis_transition" set "report_status" = 'PRELIMINARY' where "status" = 'COMPLETED';`);
    this.addSql(
      `update "diagnosis_transition" t
          set "report_status" = case d."review_decision" when 'ACCEPTED' then 'FINAL' else d."review_decision" end
         from "diagnosis" d
        where d."id" = t."diagnosis_id" and d."review_decision" is not null and t."status" = 'COMPLETED'
          and t."version" > (select min(x."version") from "diagnosis_transition" x
                              where x."diagnosis_id" = t."diagnosis_id" and x."status" = 'COMPLETED');`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "diagnosis_transition" drop column "report_status";`);
  }
}
