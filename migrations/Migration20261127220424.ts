import { Migration } from '@mikro-orm/migrations';

export class Migration20261127220424 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "outbox_message" ("id" uuid not null, "payload" jsonb not null, "created_at" timestamptz not null, "attempts" int not null default 0, "last_error" text null, constraint "outbox_message_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "outbox_message_created_idx" on "outbox_message" ("created_at");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "outbox_message" cascade;`);
  }
}
