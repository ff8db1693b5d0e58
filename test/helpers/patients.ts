import { CreatePatientDocument, type CreatePatientInput } from '../gql/graphql.js';
import { execute } from './graphql.js';

let seq = 0;

/**
 * A new patient's details: a fictional name and an MRN no other patient in any test run has
 * (process, time and a counter), so tests may share a database. Override what a test depends on
 * (age for Framingham, sex), nothing else.
 */
export function patientInput(overrides: Partial<CreatePatientInput> = {}): CreatePatientInput {
  seq += 1;
  return {
    mrn: `T-${process.pid.toString(36)}-${Date.now().toString(36)}-${seq}`,
    givenName: 'Test',
    familyName: 'Patient',
    birthDate: '1960-05-06',
    sex: 'FEMALE',
    ...overrides,
  };
}

/** Creates a patient as `token`'s clinician (who thereby joins its care team); its id. */
export async function createPatient(
  url: string | URL,
  token: string,
  overrides: Partial<CreatePatientInput> = {},
): Promise<string> {
  const created = await execute(url, CreatePatientDocument, { input: patientInput(overrides) }, { token });
  return created.expectData().createPatient.id;
}
