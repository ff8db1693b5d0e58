import { EntitySchema } from '@mikro-orm/core';
import { uuid7 } from '../../lib/uuid7.js';

/** FHIR R4 AuditEvent.action: Create, Read/view, Update, Delete, Execute. */
export const AUDIT_ACTIONS = ['C', 'R', 'U', 'D', 'E'] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/**
 * FHIR R4 AuditEvent.outcome: 0 success, 4 minor failure (the request was refused: not found,
 * not permitted, bad input), 8 serious failure (the request failed), 12 major failure.
 */
export const AuditOutcome = { Success: 0, MinorFailure: 4, SeriousFailure: 8, MajorFailure: 12 } as const;
export type AuditOutcome = (typeof AuditOutcome)[keyof typeof AuditOutcome];

/** The fields a caller supplies; the rest are filled in when the event is written. */
export interface AuditRecord {
  action: AuditAction;
  outcome: AuditOutcome;
  /** Who: the clinician id (token `sub`). */
  agentId: string;
  /** The patient whose data was touched, when the id was well-formed. */
  patientId: string | null;
  /** What: the GraphQL field, e.g. `Query.patient` or `Mutation.recordObservations`. */
  subtype: string;
  /** The client's GraphQL operation name, when it gave one. */
  operationName: string | null;
  requestId: string | null;
  /**
   * The clinician the access was about, beside the patient (a second FHIR AuditEvent.entity, a
   * Practitioner): the care-team member added or removed. Null for every other access.
   */
  entityClinicianId: string | null;
}

/**
 * One access to patient data, modelled on FHIR R4 AuditEvent: who (agent), what (action,
 * subtype), which patient (entity), how it ended (outcome), when (recorded), where (source).
 * It never holds patient names, MRNs or clinical values; only ids.
 */
export class AuditEvent implements AuditRecord {
  /** Time-ordered (see uuid7.ts): audit rows are only ever appended. */
  id: string = uuid7();
  recordedAt: Date = new Date();
  action: AuditAction;
  outcome: AuditOutcome;
  agentId: string;
  patientId: string | null;
  subtype: string;
  operationName: string | null;
  requestId: string | null;
  entityClinicianId: string | null;
  /** The pod that observed the access (FHIR AuditEvent.source.observer). */
  source: string;

  constructor(record: AuditRecord, source: string, recordedAt = new Date()) {
    this.action = record.action;
    this.outcome = record.outcome;
    this.agentId = record.agentId;
    this.patientId = record.patientId;
    this.subtype = record.subtype;
    this.operationName = record.operationName;
    this.requestId = record.requestId;
    this.entityClinicianId = record.entityClinicianId;
    this.source = source;
    this.recordedAt = recordedAt;
  }
}

export const AuditEventSchema = new EntitySchema<AuditEvent>({
  class: AuditEvent,
  tableName: 'audit_event',
  indexes: [
    { name: 'audit_event_patient_idx', properties: ['patientId', 'recordedAt'] },
    { name: 'audit_event_agent_idx', properties: ['agentId', 'recordedAt'] },
  ],
  properties: {
    id: { type: 'uuid', primary: true },
    recordedAt: { type: 'Date', columnType: 'timestamptz' },
    action: { enum: true, items: () => [...AUDIT_ACTIONS], columnType: 'text' },
    outcome: { type: 'smallint', columnType: 'smallint' },
    agentId: { type: 'string', columnType: 'text' },
    patientId: { type: 'uuid', nullable: true },
    subtype: { type: 'string', columnType: 'text' },
    operationName: { type: 'string', columnType: 'text', nullable: true },
    requestId: { type: 'string', columnType: 'text', nullable: true },
    source: { type: 'string', columnType: 'text' },
    entityClinicianId: { type: 'string', columnType: 'text', nullable: true },
  },
});
