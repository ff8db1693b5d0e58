import { z } from 'zod';
import { CONSCIOUSNESS_LEVELS } from './observation.entity.js';
import { SEXES } from './patient.entity.js';

/** Letters, digits and the separators hospitals use in record numbers. */
const MRN_PATTERN = /^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,63}$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
const EARLIEST_BIRTH_DATE = '1900-01-01';

const personName = (field: string) =>
  z
    .string()
    .trim()
    .min(1, { error: `${field} must not be empty` })
    .max(100, { error: `${field} must be at most 100 characters` })
    .refine((v) => !CONTROL_CHARS.test(v), { error: `${field} must not contain control characters` });

/** A real calendar date written `YYYY-MM-DD`. */
export function isIsoDate(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === value;
}

export const createPatientSchema = z.object({
  mrn: z.string().trim().regex(MRN_PATTERN, {
    error: 'mrn must be 1–64 letters, digits, spaces or . _ / - and start with a letter or digit',
  }),
  givenName: personName('givenName'),
  familyName: personName('familyName'),
  birthDate: z
    .string()
    .refine(isIsoDate, { error: 'birthDate must be a calendar date YYYY-MM-DD' })
    .refine((v) => v >= EARLIEST_BIRTH_DATE, { error: `birthDate must not be before ${EARLIEST_BIRTH_DATE}` })
    .refine((v) => v <= new Date().toISOString().slice(0, 10), { error: 'birthDate must not be in the future' }),
  sex: z.enum(SEXES, { error: `sex must be one of ${SEXES.join(', ')}` }),
});
export type CreatePatientInput = z.input<typeof createPatientSchema>;

/**
 * Physiologically possible ranges. They reject unit mistakes (°F for °C, mmol/L for mg/dL) and
 * typos, not abnormal values: an abnormal value is exactly what a clinician must be able to record.
 */
export const OBSERVATION_RANGES = {
  heartRate: [20, 300, 'beats/min'],
  systolicBp: [40, 300, 'mmHg'],
  diastolicBp: [20, 200, 'mmHg'],
  respiratoryRate: [0, 80, 'breaths/min'],
  temperatureC: [25, 45, '°C'],
  spo2: [50, 100, '%'],
  totalCholesterol: [50, 1000, 'mg/dL'],
  hdlCholesterol: [5, 300, 'mg/dL'],
} as const;

const measurement = (field: keyof typeof OBSERVATION_RANGES) => {
  const [min, max, unit] = OBSERVATION_RANGES[field];
  const error = `${field} must be between ${min} and ${max} ${unit}`;
  return z.number({ error }).finite({ error }).min(min, { error }).max(max, { error }).nullish();
};

export const observationsSchema = z
  .object({
    heartRate: measurement('heartRate'),
    systolicBp: measurement('systolicBp'),
    diastolicBp: measurement('diastolicBp'),
    respiratoryRate: measurement('respiratoryRate'),
    temperatureC: measurement('temperatureC'),
    spo2: measurement('spo2'),
    onSupplementalOxygen: z.boolean().nullish(),
    consciousness: z.enum(CONSCIOUSNESS_LEVELS).nullish(),
    totalCholesterol: measurement('totalCholesterol'),
    hdlCholesterol: measurement('hdlCholesterol'),
    smoker: z.boolean().nullish(),
    diabetic: z.boolean().nullish(),
    onBpTreatment: z.boolean().nullish(),
  })
  .refine((o) => Object.values(o).some((v) => v !== null && v !== undefined), {
    error: 'at least one observation value is required',
  })
  .refine((o) => o.systolicBp == null || o.diastolicBp == null || o.diastolicBp < o.systolicBp, {
    error: 'diastolicBp must be lower than systolicBp',
    path: ['diastolicBp'],
  })
  .refine((o) => o.totalCholesterol == null || o.hdlCholesterol == null || o.hdlCholesterol < o.totalCholesterol, {
    error: 'hdlCholesterol must be lower than totalCholesterol',
    path: ['hdlCholesterol'],
  });
export type ObservationsInput = z.input<typeof observationsSchema>;

export const clinicianIdSchema = z
  .string()
  .trim()
  .min(1, { error: 'clinicianId must not be empty' })
  .max(200, { error: 'clinicianId must be at most 200 characters' });

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Ids this API issues are UUIDs; anything else cannot name a row and is treated as not found. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
