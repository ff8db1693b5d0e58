import { Migration } from '@mikro-orm/migrations';

export class Migration20261202172824 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `alter table "diagnosis" add column "review_decision" text check ("review_decision" in ('ACCEPTED', 'AMENDED', 'REJECTED')) null, add column "reviewed_by_id" text null, add column "review_note" text null, add column "amended_summary" text null, add column "reviewed_at" timestamptz null;`,
    );
    this.addSql(
      `alter table "diagnosis" add constraint "diagnosis_reviewed_by_id_foreign" foreign key ("reviewed_by_id") references "clinician" ("id") on update cascade on delete restrict;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "diagnosis" drop constraint "diagnosis_reviewed_by_id_foreign";`);

    this.addSql(
      `alter table "diagnosis" drop column "review_decision", drop column "reviewed_by_id", drop column "review_note", drop column "amended_summary", drop column "reviewed_at";`,
    );
  }
}
