import { Migration } from '@mikro-orm/migrations';

export class Migration20261127213021 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "audit_event" ("id" uuid not null, "recorded_at" timestamptz not null, "action" text check ("action" in ('C', 'R', 'U', 'D', 'E')) not null, "outcome" smallint not null, "agent_id" text not null, "patient_id" uuid null, "subtype" text not null, "operation_name" text null, "request_id" text null, "source" text not null, constraint "audit_event_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "audit_event_patient_idx" on "audit_event" ("patient_id", "recorded_at");`);
    this.addSql(`create index "audit_event_agent_idx" on "audit_event" ("agent_id", "recorded_at");`);

    this.addSql(
      `create table "clinician" ("id" text not null, "name" text not null, "roles" text[] not null, "created_at" timestamptz not null, "last_seen_at" timestamptz not null, constraint "clinician_pkey" primary key ("id"));`,
    );

    this.addSql(
      `create table "patient" ("id" uuid not null, "mrn" text not null, "given_name" text not null, "family_name" text not null, "birth_date" date not null, "sex" text check ("sex" in ('FEMALE', 'MALE', 'OTHER', 'UNKNOWN')) not null, "created_by_id" text not null, "created_at" timestamptz not null, "latest_observations" jsonb null, "observed_at" timestamptz null, constraint "patient_pkey" primary key ("id"));`,
    );
    this.addSql(`alter table "patient" add constraint "patient_mrn_unique" unique ("mrn");`);
    this.addSql(`create index "patient_created_at_id_idx" on "patient" ("created_at", "id");`);

    this.addSql(
      `create table "observation" ("id" uuid not null, "patient_id" uuid not null, "recorded_by" text not null, "recorded_at" timestamptz not null, "heart_rate" double precision null, "systolic_bp" double precision null, "diastolic_bp" double precision null, "respiratory_rate" double precision null, "temperature_c" double precision null, "spo2" double precision null, "on_supplemental_oxygen" boolean null, "consciousness" text check ("consciousness" in ('ALERT', 'CONFUSION', 'VOICE', 'PAIN', 'UNRESPONSIVE')) null, "total_cholesterol" double precision null, "hdl_cholesterol" double precision null, "smoker" boolean null, "diabetic" boolean null, "on_bp_treatment" boolean null, constraint "observation_pkey" primary key ("id"));`,
    );
    this.addSql(
      `create index "observation_patient_recorded_idx" on "observation" ("patient_id", "recorded_at", "id");`,
    );

    this.addSql(
      `create table "diagnosis" ("id" uuid not null, "patient_id" uuid not null, "requested_by_id" text not null, "status" text check ("status" in ('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')) not null default 'QUEUED', "progress" double precision not null default 0, "stage" text null, "partial_text" text null, "result" jsonb null, "error" text null, "attempts" int not null default 0, "version" int not null default 1, "symptoms" jsonb not null, "notes" text null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "completed_at" timestamptz null, constraint "diagnosis_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "diagnosis_patient_created_idx" on "diagnosis" ("patient_id", "created_at", "id");`);

    this.addSql(
      `create table "care_team_member" ("patient_id" uuid not null, "clinician_id" text not null, "added_by" text not null, "added_at" timestamptz not null, constraint "care_team_member_pkey" primary key ("patient_id", "clinician_id"));`,
    );
    this.addSql(`create index "care_team_member_clinician_idx" on "care_team_member" ("clinician_id");`);

    this.addSql(
      `alter table "patient" add constraint "patient_created_by_id_foreign" foreign key ("created_by_id") references "clinician" ("id") on update cascade on delete restrict;`,
    );

    this.addSql(
      `alter table "observation" add constraint "observation_patient_id_foreign" foreign key ("patient_id") references "patient" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "diagnosis" add constraint "diagnosis_patient_id_foreign" foreign key ("patient_id") references "patient" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "diagnosis" add constraint "diagnosis_requested_by_id_foreign" foreign key ("requested_by_id") references "clinician" ("id") on update cascade on delete restrict;`,
    );

    this.addSql(
      `alter table "care_team_member" add constraint "care_team_member_patient_id_foreign" foreign key ("patient_id") references "patient" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "care_team_member" add constraint "care_team_member_clinician_id_foreign" foreign key ("clinician_id") references "clinician" ("id") on update cascade on delete cascade;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "patient" drop constraint "patient_created_by_id_foreign";`);

    this.addSql(`alter table "diagnosis" drop constraint "diagnosis_requested_by_id_foreign";`);

    this.addSql(`alter table "care_team_member" drop constraint "care_team_member_clinician_id_foreign";`);

    this.addSql(`alter table "observation" drop constraint "observation_patient_id_foreign";`);

    this.addSql(`alter table "diagnosis" drop constraint "diagnosis_patient_id_foreign";`);

    this.addSql(`alter table "care_team_member" drop constraint "care_team_member_patient_id_foreign";`);

    this.addSql(`drop table if exists "audit_event" cascade;`);

    this.addSql(`drop table if exists "clinician" cascade;`);

    this.addSql(`drop table if exists "patient" cascade;`);

    this.addSql(`drop table if exists "observation" cascade;`);

    this.addSql(`drop table if exists "diagnosis" cascade;`);

    this.addSql(`drop table if exists "care_team_member" cascade;`);
  }
}
