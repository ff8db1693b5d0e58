import { EntitySchema, PrimaryKeyProp } from '@mikro-orm/core';
import { Clinician } from '../clinician/clinician.entity.js';
import { Patient } from './patient.entity.js';

/** Membership of a clinician in a patient's care team: the basis of every access decision. */
export class CareTeamMember {
  [PrimaryKeyProp]?: ['patient', 'clinician'];
  patient: Patient;
  clinician: Clinician;
  /** Clinician id of whoever added the member (the creator adds themself). */
  addedBy: string;
  addedAt: Date = new Date();

  constructor(patient: Patient, clinician: Clinician, addedBy: string) {
    this.patient = patient;
    this.clinician = clinician;
    this.addedBy = addedBy;
  }
}

export const CareTeamMemberSchema = new EntitySchema<CareTeamMember>({
  class: CareTeamMember,
  tableName: 'care_team_member',
  indexes: [{ name: 'care_team_member_clinician_idx', properties: ['clinician'] }],
  properties: {
    patient: { kind: 'm:1', entity: () => Patient, primary: true, deleteRule: 'cascade' },
    clinician: { kind: 'm:1', entity: () => Clinician, primary: true, deleteRule: 'cascade' },
    addedBy: { type: 'string', columnType: 'text' },
    addedAt: { type: 'Date', columnType: 'timestamptz' },
  },
});
