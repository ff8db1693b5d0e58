import { Migration } from '@mikro-orm/migrations';

export class Migration20261127225750 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "diagnosis_transition" ("diagnosis_id" uuid not null, "version" int not null, "status" text check ("status" in ('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')) not null, "attempts" int not null, "stage" text null, "error" text null, "at" timestamptz not null, constraint "diagnosis_transition_pkey" primary key ("diagnosis_id", "version"));`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "diagnosis_transition" cascade;`);
  }
}
