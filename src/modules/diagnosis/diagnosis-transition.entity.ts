import { EntitySchema } from '@mikro-orm/core';
import type { DiagnosisStatus } from './diagnosis.entity.js';
import { DIAGNOSIS_STATUSES } from './diagnosis.entity.js';
import type { ReportStatus } from './diagnosis.view.js';

/**
 * One status transition of a diagnosis, appended whenever the durable record moves to a new
 * state (queued, each attempt's start, retries, the end): the job's history, kept in Postgres
 * while the live copy in Redis expires. Progress updates are not transitions and are not kept.
 * A clinician's sign-off is one too: the status stays COMPLETED and `reportStatus` moves from
 * PRELIMINARY to FINAL, AMENDED or REJECTED, so the model's completion and the review are two
 * distinct rows, never two completions.
 */
export class DiagnosisTransition {
  diagnosisId: string;
  version: number;
  status: DiagnosisStatus;
  attempts: number;
  stage: string | null;
  error: string | null;
  /** The report's status in this state (see reportStatusOf): null before COMPLETED. */
  reportStatus: ReportStatus | null;
  at: Date;

  constructor(fields: DiagnosisTransition) {
    this.diagnosisId = fields.diagnosisId;
    this.version = fields.version;
    this.status = fields.status;
    this.attempts = fields.attempts;
    this.stage = fields.stage;
    this.error = fields.error;
    this.reportStatus = fields.reportStatus;
    this.at = fields.at;
  }
}

export const DiagnosisTransitionSchema = new EntitySchema<DiagnosisTransition>({
  class: DiagnosisTransition,
  tableName: 'diagnosis_transition',
  properties: {
    diagnosisId: { type: 'uuid', primary: true },
    version: { type: 'integer', primary: true },
    status: { enum: true, items: () => [...DIAGNOSIS_STATUSES], columnType: 'text' },
    attempts: { type: 'integer' },
    stage: { type: 'string', columnType: 'text', nullable: true },
    error: { type: 'text', columnType: 'text', nullable: true },
    reportStatus: { type: 'string', columnType: 'text', nullable: true },
    at: { type: 'Date', columnType: 'timestamptz' },
  },
});
