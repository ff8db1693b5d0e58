import { randomUUID } from 'node:crypto';
import { Collection, EntitySchema } from '@mikro-orm/core';
import { Clinician } from '../clinician/clinician.entity.js';
import { CareTeamMember } from './care-team-member.entity.js';
import type { ObservationValues } from './observation.entity.js';

export const SEXES = ['FEMALE', 'MALE', 'OTHER', 'UNKNOWN'] as const;
export type Sex = (typeof SEXES)[number];

/**
 * A patient. `latestObservations` is the per-field latest value over every observation row,
 * maintained in the same transaction that inserts the row (under a row lock), so reading the
 * current snapshot is one row and never a scan of the history.
 */
export class Patient {
  id: string = randomUUID();
  mrn: string;
  givenName: string;
  familyName: string;
  /** ISO `YYYY-MM-DD`. */
  birthDate: string;
  sex: Sex;
  createdBy: Clinician;
  createdAt: Date = new Date();
  latestObservations: ObservationValues | null = null;
  /** When the newest value in `latestObservations` was recorded. */
  observedAt: Date | null = null;
  careTeam = new Collection<CareTeamMember>(this);

  constructor(fields: Pick<Patient, 'mrn' | 'givenName' | 'familyName' | 'birthDate' | 'sex' | 'createdBy'>) {
    this.mrn = fields.mrn;
    this.givenName = fields.givenName;
    this.familyName = fields.familyName;
    this.birthDate = fields.birthDate;
    this.sex = fields.sex;
    this.createdBy = fields.createdBy;
  }
}

export const PatientSchema = new EntitySchema<Patient>({
  class: Patient,
  tableName: 'patient',
  indexes: [{ name: 'patient_created_at_id_idx', properties: ['createdAt', 'id'] }],
  // One MRN, one patient, whatever the case: `mrn-1` and `MRN-1` are the same record number.
  uniques: [
    {
      name: 'patient_mrn_lower_unique',
      expression: 'create unique index "patient_mrn_lower_unique" on "patient" (lower("mrn"));',
    },
  ],
  properties: {
    id: { type: 'uuid', primary: true },
    mrn: { type: 'string', columnType: 'text' },
    givenName: { type: 'string', columnType: 'text' },
    familyName: { type: 'string', columnType: 'text' },
    birthDate: { type: 'date', columnType: 'date' },
    sex: { enum: true, items: () => [...SEXES], columnType: 'text' },
    createdBy: { kind: 'm:1', entity: () => Clinician, deleteRule: 'restrict' },
    createdAt: { type: 'Date', columnType: 'timestamptz' },
    latestObservations: { type: 'json', columnType: 'jsonb', nullable: true },
    observedAt: { type: 'Date', columnType: 'timestamptz', nullable: true },
    careTeam: { kind: '1:m', entity: () => CareTeamMember, mappedBy: 'patient' },
  },
});
