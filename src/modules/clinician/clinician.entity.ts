import { EntitySchema } from '@mikro-orm/core';

export const ROLES = ['clinician', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/**
 * A clinician, created the first time a token with its `sub` is seen. The id *is* the identity
 * provider's subject, so there is no second identifier to keep in sync.
 */
export class Clinician {
  id: string;
  name: string;
  roles: Role[];
  createdAt: Date = new Date();
  lastSeenAt: Date = new Date();

  constructor(id: string, name: string, roles: Role[]) {
    this.id = id;
    this.name = name;
    this.roles = roles;
  }
}

export const ClinicianSchema = new EntitySchema<Clinician>({
  class: Clinician,
  tableName: 'clinician',
  properties: {
    id: { type: 'string', columnType: 'text', primary: true },
    name: { type: 'string', columnType: 'text' },
    roles: { type: 'string[]', columnType: 'text[]' },
    createdAt: { type: 'Date', columnType: 'timestamptz' },
    lastSeenAt: { type: 'Date', columnType: 'timestamptz' },
  },
});
