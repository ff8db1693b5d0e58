import {
  CreatePatientDocument,
  type CreatePatientInput,
  type ObservationsInput,
  RecordObservationsDocument,
} from '../../client/index.js';
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

/**
 * Vital signs that score NEWS2 7 on the RCP chart (2017): respiration 24/min → 2, SpO₂ 95 % → 1,
 * air → 0, systolic 105 mmHg → 1, pulse 115/min → 2, alert → 0, 38.5 °C → 1.
 */
export const VITALS_NEWS2_7: ObservationsInput = {
  respiratoryRate: 24,
  spo2: 95,
  onSupplementalOxygen: false,
  systolicBp: 105,
  heartRate: 115,
  consciousness: 'ALERT',
  temperatureC: 38.5,
};

/** A birth date `years` whole years (and `extraDays` days) before today, in UTC. */
export function yearsAgo(years: number, extraDays = 30): string {
  const d = new Date();
  d.setUTCFullYear(d.getUTCFullYear() - years);
  d.setUTCDate(d.getUTCDate() - extraDays);
  return d.toISOString().slice(0, 10);
}

/** {@link createPatient}, then records `observations` if given; the patient's id. */
export async function createPatientWith(
  url: string | URL,
  token: string,
  observations?: ObservationsInput,
  overrides: Partial<CreatePatientInput> = {},
): Promise<string> {
  const id = await createPatient(url, token, overrides);
  if (observations) {
    (await execute(url, RecordObservationsDocument, { patientId: id, input: observations }, { token })).expectData();
  }
  return id;
}
