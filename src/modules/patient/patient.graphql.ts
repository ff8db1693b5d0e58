import { type BuilderTypes, builder } from '../../graphql/builder.js';
import { toConnection } from '../../graphql/connection.js';
import { ClinicianRef } from '../clinician/clinician.graphql.js';
import { CONSCIOUSNESS_LEVELS, Observation, type ObservationValues } from './observation.entity.js';
import { Patient, SEXES } from './patient.entity.js';
import { OBSERVATION_RANGES } from './patient.validation.js';

export const SexEnum = builder.enumType('Sex', {
  description: 'Administrative sex, as recorded.',
  values: SEXES,
});

export const ConsciousnessEnum = builder.enumType('Consciousness', {
  description: 'Level of consciousness on the ACVPU scale (NEWS2): Alert, new Confusion, Voice, Pain, Unresponsive.',
  values: CONSCIOUSNESS_LEVELS,
});

const describeRange = (field: keyof typeof OBSERVATION_RANGES, what: string) => {
  const [min, max, unit] = OBSERVATION_RANGES[field];
  return `${what}, ${unit} (${min}–${max}).`;
};

/** The thirteen observation fields, shared by a recorded observation and the current snapshot. */
function observationFields<T>(
  t: PothosSchemaTypes.ObjectFieldBuilder<BuilderTypes, T>,
  values: (parent: T) => ObservationValues,
) {
  const num = (field: keyof typeof OBSERVATION_RANGES, what: string) =>
    t.float({ nullable: true, description: describeRange(field, what), resolve: (p) => values(p)[field] ?? null });
  const bool = (field: 'onSupplementalOxygen' | 'smoker' | 'diabetic' | 'onBpTreatment', description: string) =>
    t.boolean({ nullable: true, description, resolve: (p) => values(p)[field] ?? null });
  return {
    heartRate: num('heartRate', 'Heart rate'),
    systolicBp: num('systolicBp', 'Systolic blood pressure'),
    diastolicBp: num('diastolicBp', 'Diastolic blood pressure'),
    respiratoryRate: num('respiratoryRate', 'Respiratory rate'),
    temperatureC: num('temperatureC', 'Body temperature'),
    spo2: num('spo2', 'Peripheral oxygen saturation'),
    onSupplementalOxygen: bool('onSupplementalOxygen', 'Whether the patient is on supplemental oxygen.'),
    consciousness: t.field({
      type: ConsciousnessEnum,
      nullable: true,
      description: 'Level of consciousness (ACVPU).',
      resolve: (p) => values(p).consciousness ?? null,
    }),
    totalCholesterol: num('totalCholesterol', 'Total cholesterol'),
    hdlCholesterol: num('hdlCholesterol', 'HDL cholesterol'),
    smoker: bool('smoker', 'Current smoker.'),
    diabetic: bool('diabetic', 'Has diabetes.'),
    onBpTreatment: bool('onBpTreatment', 'Treated for high blood pressure.'),
  };
}

interface Snapshot {
  values: ObservationValues;
  recordedAt: Date;
}

const ObservationSnapshotRef = builder.objectRef<Snapshot>('ObservationSnapshot').implement({
  description: "A patient's current observations: the latest recorded value of each field.",
  fields: (t) => ({
    ...observationFields(t, (s) => s.values),
    recordedAt: t.field({
      type: 'DateTime',
      description: 'When the newest of these values was recorded.',
      resolve: (s) => s.recordedAt,
    }),
  }),
});

const ObservationRef = builder.objectType(Observation, {
  name: 'Observation',
  description: 'One recording of observations (`recordObservations`); fields not measured are null.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Observation id.' }),
    recordedAt: t.field({ type: 'DateTime', description: 'When it was recorded.', resolve: (o) => o.recordedAt }),
    recordedById: t.exposeID('recordedBy', { description: 'The clinician who recorded it.' }),
    ...observationFields(t, (o) => o),
  }),
});

const ObservationConnection = builder.connectionObject({
  type: ObservationRef,
  name: 'ObservationConnection',
  description: 'Observation history, newest first.',
});

export const PatientRef = builder.objectType(Patient, {
  name: 'Patient',
  description: 'A patient. Visible only to the clinicians on its care team and to admins.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Patient id (UUID).' }),
    mrn: t.exposeString('mrn', { description: 'Medical record number, unique whatever its case.' }),
    givenName: t.exposeString('givenName', { description: 'Given name.' }),
    familyName: t.exposeString('familyName', { description: 'Family name.' }),
    birthDate: t.field({ type: 'Date', description: 'Date of birth.', resolve: (p) => p.birthDate }),
    sex: t.field({ type: SexEnum, description: 'Administrative sex.', resolve: (p) => p.sex }),
    careTeam: t.field({
      type: [ClinicianRef],
      description: 'Clinicians who may see this patient (its creator joins automatically).',
      resolve: (p, _args, ctx) => ctx.patients.careTeam(p),
    }),
    latestObservations: t.field({
      type: ObservationSnapshotRef,
      nullable: true,
      description: 'The latest value of every observation field; null before the first observation.',
      resolve: (p) =>
        p.latestObservations && p.observedAt ? { values: p.latestObservations, recordedAt: p.observedAt } : null,
    }),
    observations: t.field({
      type: ObservationConnection,
      description: 'Every recorded observation, newest first.',
      args: {
        first: t.arg.int({ required: false, description: 'Page size (default 20, at most 100).' }),
        after: t.arg.string({ required: false, description: 'Cursor of the last edge already seen.' }),
      },
      resolve: async (p, args, ctx) => toConnection(await ctx.patients.observations(p, args)),
    }),
    createdAt: t.field({ type: 'DateTime', description: 'When the patient was created.', resolve: (p) => p.createdAt }),
  }),
});

// A federation entity: other subgraphs extend Patient by id. The reference is resolved like
// `patient(id)`: the care-team rule, the audited read, and NOT_FOUND for hidden or missing.
builder.asEntity(PatientRef, {
  key: builder.selection<{ id: string }>('id'),
  resolveReference: (ref, ctx) => ctx.patients.get(String(ref.id)),
});

const PatientConnection = builder.connectionObject({
  type: PatientRef,
  name: 'PatientConnection',
  description: 'A page of patients, newest first.',
});

const CreatePatientInput = builder.inputType('CreatePatientInput', {
  description: 'A new patient.',
  fields: (t) => ({
    mrn: t.string({ required: true, description: 'Medical record number; must be unused.' }),
    givenName: t.string({ required: true, description: 'Given name.' }),
    familyName: t.string({ required: true, description: 'Family name.' }),
    birthDate: t.field({ type: 'Date', required: true, description: 'Date of birth, YYYY-MM-DD.' }),
    sex: t.field({ type: SexEnum, required: true, description: 'Administrative sex.' }),
  }),
});

const ObservationsInput = builder.inputType('ObservationsInput', {
  description: 'Observations measured together. All optional; at least one required; each range-checked.',
  fields: (t) => {
    const num = (field: keyof typeof OBSERVATION_RANGES, what: string) =>
      t.float({ required: false, description: describeRange(field, what) });
    return {
      heartRate: num('heartRate', 'Heart rate'),
      systolicBp: num('systolicBp', 'Systolic blood pressure'),
      diastolicBp: num('diastolicBp', 'Diastolic blood pressure'),
      respiratoryRate: num('respiratoryRate', 'Respiratory rate'),
      temperatureC: num('temperatureC', 'Body temperature'),
      spo2: num('spo2', 'Peripheral oxygen saturation'),
      onSupplementalOxygen: t.boolean({ required: false, description: 'On supplemental oxygen.' }),
      consciousness: t.field({
        type: ConsciousnessEnum,
        required: false,
        description: 'Level of consciousness (ACVPU).',
      }),
      totalCholesterol: num('totalCholesterol', 'Total cholesterol'),
      hdlCholesterol: num('hdlCholesterol', 'HDL cholesterol'),
      smoker: t.boolean({ required: false, description: 'Current smoker.' }),
      diabetic: t.boolean({ required: false, description: 'Has diabetes.' }),
      onBpTreatment: t.boolean({ required: false, description: 'Treated for high blood pressure.' }),
    };
  },
});

builder.queryFields((t) => ({
  patient: t.field({
    type: PatientRef,
    nullable: true,
    description: 'A patient by id; null with a NOT_FOUND error when it does not exist or is not visible to you.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.patients.get(String(args.id)),
  }),
  patients: t.field({
    type: PatientConnection,
    description: 'The patients you may see (admins: all), newest first.',
    args: {
      first: t.arg.int({ required: false, description: 'Page size (default 20, at most 100).' }),
      after: t.arg.string({ required: false, description: 'Cursor of the last edge already seen.' }),
      search: t.arg.string({
        required: false,
        description: 'Case-insensitive prefix of the MRN, the given name or the family name.',
      }),
    },
    resolve: async (_root, args, ctx) => toConnection(await ctx.patients.list(args)),
  }),
}));

builder.mutationFields((t) => ({
  createPatient: t.field({
    type: PatientRef,
    description: 'Creates a patient; you join its care team. A used MRN is BAD_USER_INPUT.',
    args: { input: t.arg({ type: CreatePatientInput, required: true }) },
    resolve: (_root, { input }, ctx) => ctx.patients.create(input),
  }),
  recordObservations: t.field({
    type: PatientRef,
    description: 'Records observations for a patient; they become its latest snapshot field by field.',
    args: { patientId: t.arg.id({ required: true }), input: t.arg({ type: ObservationsInput, required: true }) },
    resolve: (_root, args, ctx) => ctx.patients.recordObservations(String(args.patientId), args.input),
  }),
  addCareTeamMember: t.field({
    type: PatientRef,
    description: "Adds a clinician (by their token's `sub`) to a patient's care team.",
    args: { patientId: t.arg.id({ required: true }), clinicianId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.patients.addCareTeamMember(String(args.patientId), String(args.clinicianId)),
  }),
  removeCareTeamMember: t.field({
    type: PatientRef,
    description:
      "Removes a clinician (by their token's `sub`) from a patient's care team, by a member or an admin. " +
      'Immediate on every pod: their next read of the patient is NOT_FOUND and their open subscriptions on it end ' +
      'with NOT_FOUND. Removing the last member is BAD_USER_INPUT; removing a non-member answers the patient unchanged.',
    args: { patientId: t.arg.id({ required: true }), clinicianId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.patients.removeCareTeamMember(String(args.patientId), String(args.clinicianId)),
  }),
}));
