import { randomUUID } from 'node:crypto';
import { EntitySchema } from '@mikro-orm/core';
import { Patient } from './patient.entity.js';

export const CONSCIOUSNESS_LEVELS = ['ALERT', 'CONFUSION', 'VOICE', 'PAIN', 'UNRESPONSIVE'] as const;
export type Consciousness = (typeof CONSCIOUSNESS_LEVELS)[number];

/** The measurable fields of an observation, every one optional. */
export interface ObservationValues {
  heartRate?: number | null;
  systolicBp?: number | null;
  diastolicBp?: number | null;
  respiratoryRate?: number | null;
  temperatureC?: number | null;
  spo2?: number | null;
  onSupplementalOxygen?: boolean | null;
  consciousness?: Consciousness | null;
  totalCholesterol?: number | null;
  hdlCholesterol?: number | null;
  smoker?: boolean | null;
  diabetic?: boolean | null;
  onBpTreatment?: boolean | null;
}

export const OBSERVATION_FIELDS = [
  'heartRate',
  'systolicBp',
  'diastolicBp',
  'respiratoryRate',
  'temperatureC',
  'spo2',
  'onSupplementalOxygen',
  'consciousness',
  'totalCholesterol',
  'hdlCholesterol',
  'smoker',
  'diabetic',
  'onBpTreatment',
] as const satisfies readonly (keyof ObservationValues)[];

/** One observation field's name. */
export type ObservationField = (typeof OBSERVATION_FIELDS)[number];

/**
 * When a recording takes effect: now, or 1 ms after the patient's previous recording if the clock
 * says otherwise. Taken under the patient's row lock, it makes `recordedAt` strictly increasing per
 * patient in the order recordings were applied — two in one millisecond, or on pods whose clocks
 * differ, would otherwise be listed (and folded into a score history) in another order than the
 * one the live snapshot was built in. The shift is bounded by the pods' clock skew.
 */
export function recordingTime(previous: Date | null, now = new Date()): Date {
  return previous && previous.getTime() >= now.getTime() ? new Date(previous.getTime() + 1) : now;
}

/** One `recordObservations` call: an append-only row of whichever fields were measured. */
export class Observation implements ObservationValues {
  id: string = randomUUID();
  patient: Patient;
  recordedBy: string;
  recordedAt: Date = new Date();
  heartRate: number | null = null;
  systolicBp: number | null = null;
  diastolicBp: number | null = null;
  respiratoryRate: number | null = null;
  temperatureC: number | null = null;
  spo2: number | null = null;
  onSupplementalOxygen: boolean | null = null;
  consciousness: Consciousness | null = null;
  totalCholesterol: number | null = null;
  hdlCholesterol: number | null = null;
  smoker: boolean | null = null;
  diabetic: boolean | null = null;
  onBpTreatment: boolean | null = null;

  constructor(patient: Patient, recordedBy: string, values: ObservationValues, recordedAt = new Date()) {
    this.patient = patient;
    this.recordedBy = recordedBy;
    this.recordedAt = recordedAt;
    Object.assign(this, pickObservationValues(values));
  }
}

/**
 * The snapshot after one recording: each field it measured replaces the field's value, the others
 * keep theirs. The one rule by which a patient's snapshot is built, live (`recordObservations`)
 * and as of any past recording (a score history).
 */
export function foldObservation(snapshot: ObservationValues | null, values: ObservationValues): ObservationValues {
  return { ...snapshot, ...pickObservationValues(values) };
}

/** The defined observation fields of `values`, and nothing else. */
export function pickObservationValues(values: ObservationValues): ObservationValues {
  const picked: Record<string, unknown> = {};
  for (const field of OBSERVATION_FIELDS) {
    const value = values[field];
    if (value !== undefined && value !== null) picked[field] = value;
  }
  return picked as ObservationValues;
}

const measurement = { type: 'double', columnType: 'double precision', nullable: true } as const;
const flag = { type: 'boolean', nullable: true } as const;

export const ObservationSchema = new EntitySchema<Observation>({
  class: Observation,
  tableName: 'observation',
  indexes: [{ name: 'observation_patient_recorded_idx', properties: ['patient', 'recordedAt', 'id'] }],
  properties: {
    id: { type: 'uuid', primary: true },
    patient: { kind: 'm:1', entity: () => Patient, deleteRule: 'cascade' },
    recordedBy: { type: 'string', columnType: 'text' },
    recordedAt: { type: 'Date', columnType: 'timestamptz' },
    heartRate: measurement,
    systolicBp: measurement,
    diastolicBp: measurement,
    respiratoryRate: measurement,
    temperatureC: measurement,
    spo2: measurement,
    onSupplementalOxygen: flag,
    consciousness: { enum: true, items: () => [...CONSCIOUSNESS_LEVELS], columnType: 'text', nullable: true },
    totalCholesterol: measurement,
    hdlCholesterol: measurement,
    smoker: flag,
    diabetic: flag,
    onBpTreatment: flag,
  },
});
