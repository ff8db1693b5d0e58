import { randomUUID } from 'node:crypto';
import { EntitySchema } from '@mikro-orm/core';
import { Clinician } from '../clinician/clinician.entity.js';
import { Patient } from '../patient/patient.entity.js';

export const DIAGNOSIS_STATUSES = ['QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'] as const;
export type DiagnosisStatus = (typeof DIAGNOSIS_STATUSES)[number];
/** A clinician's sign-off of a COMPLETED diagnosis. */
export const REVIEW_DECISIONS = ['ACCEPTED', 'AMENDED', 'REJECTED'] as const;
export type ReviewDecision = (typeof REVIEW_DECISIONS)[number];

export const TERMINAL_STATUSES: ReadonlySet<DiagnosisStatus> = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

export interface Differential {
  condition: string;
  likelihood: number | null;
  rationale: string | null;
}

/** What a finished diagnosis job produced, and which provider and model produced it. */
export interface DiagnosisResult {
  summary: string;
  differentials: Differential[];
  provider: string;
  model: string;
  /** The provider's own version (its adapter), and the model as it reported serving it. */
  providerVersion?: string | undefined;
  modelVersion?: string | undefined;
  /** The version of the clinical prompt the model was given (worker/llm/clinical-prompt.ts). */
  promptVersion?: string | undefined;
  /** `sha256:` of the de-identified facts the provider received (the Provenance's input). */
  inputDigest?: string | undefined;
}

/**
 * The durable record of one LLM diagnosis job. `version` grows by one with every change so
 * subscribers can order updates and drop duplicates.
 */
export class Diagnosis {
  id: string = randomUUID();
  patient: Patient;
  requestedBy: Clinician;
  status: DiagnosisStatus = 'QUEUED';
  progress = 0;
  stage: string | null = null;
  partialText: string | null = null;
  result: DiagnosisResult | null = null;
  error: string | null = null;
  attempts = 0;
  version = 1;
  symptoms: string[];
  notes: string | null;
  createdAt: Date = new Date();
  updatedAt: Date = new Date();
  completedAt: Date | null = null;
  /** The sign-off, once; the model's `result` is never edited by it. */
  reviewDecision: ReviewDecision | null = null;
  reviewedBy: Clinician | null = null;
  reviewNote: string | null = null;
  /** The clinician's own summary, when AMENDED: the report's conclusion instead of the model's. */
  amendedSummary: string | null = null;
  reviewedAt: Date | null = null;

  constructor(patient: Patient, requestedBy: Clinician, symptoms: string[], notes: string | null) {
    this.patient = patient;
    this.requestedBy = requestedBy;
    this.symptoms = symptoms;
    this.notes = notes;
  }
}

export const DiagnosisSchema = new EntitySchema<Diagnosis>({
  class: Diagnosis,
  tableName: 'diagnosis',
  indexes: [{ name: 'diagnosis_patient_created_idx', properties: ['patient', 'createdAt', 'id'] }],
  properties: {
    id: { type: 'uuid', primary: true },
    patient: { kind: 'm:1', entity: () => Patient, deleteRule: 'cascade' },
    requestedBy: { kind: 'm:1', entity: () => Clinician, deleteRule: 'restrict' },
    status: { enum: true, items: () => [...DIAGNOSIS_STATUSES], columnType: 'text' },
    progress: { type: 'double', columnType: 'double precision' },
    stage: { type: 'string', columnType: 'text', nullable: true },
    partialText: { type: 'text', columnType: 'text', nullable: true },
    result: { type: 'json', columnType: 'jsonb', nullable: true },
    error: { type: 'text', columnType: 'text', nullable: true },
    attempts: { type: 'integer' },
    version: { type: 'integer' },
    symptoms: { type: 'json', columnType: 'jsonb' },
    notes: { type: 'text', columnType: 'text', nullable: true },
    createdAt: { type: 'Date', columnType: 'timestamptz' },
    updatedAt: { type: 'Date', columnType: 'timestamptz' },
    completedAt: { type: 'Date', columnType: 'timestamptz', nullable: true },
    reviewDecision: { enum: true, items: () => [...REVIEW_DECISIONS], columnType: 'text', nullable: true },
    reviewedBy: { kind: 'm:1', entity: () => Clinician, deleteRule: 'restrict', nullable: true },
    reviewNote: { type: 'text', columnType: 'text', nullable: true },
    amendedSummary: { type: 'text', columnType: 'text', nullable: true },
    reviewedAt: { type: 'Date', columnType: 'timestamptz', nullable: true },
  },
});
