import { builder } from '../../graphql/builder.js';
import { FRAMINGHAM_MODEL, NEWS2_MODEL, RISK_LEVELS } from '../../ml/risk-model.contract.js';
import { PatientRef } from '../patient/patient.graphql.js';
import { toFhirRiskAssessment } from './assessment.fhir.js';
import { fieldOfInput, type RiskModelName } from './assessment.inputs.js';
import {
  DEFAULT_HISTORY_LENGTH,
  type HistoryPoint,
  MAX_HISTORY_LENGTH,
  type PatientAssessment,
} from './assessment.service.js';

const RiskLevelEnum = builder.enumType('RiskLevel', {
  description: "A model's risk band. NEWS2: LOW (0–4), LOW_MEDIUM (3 in one parameter), MEDIUM (5–6), HIGH (7+).",
  values: RISK_LEVELS,
});

const SourceEnum = builder.enumType('AssessmentSource', {
  description: 'Where an assessment came from.',
  values: {
    LIVE: { description: 'Computed by the model server for this request.' },
    CACHE: { description: 'A fresh cached answer for the same inputs and model version.' },
    STALE_CACHE: { description: 'An older answer for the same inputs, served because the model server is failing.' },
  } as const,
});

const RiskModelEnum = builder.enumType('RiskModel', {
  description: 'The risk models the API can run.',
  values: {
    NEWS2: { value: NEWS2_MODEL, description: 'National Early Warning Score 2 (RCP 2017): acute deterioration.' },
    FRAMINGHAM_CVD_10Y: {
      value: FRAMINGHAM_MODEL,
      description: "Framingham general CVD 10-year risk (D'Agostino 2008). Ages 30–74, sex FEMALE or MALE.",
    },
  } as const,
});

interface FactorView {
  name: string;
  value: string | null;
  kind: 'points' | 'contribution';
  amount: number;
}

const RiskFactorRef = builder.objectRef<FactorView>('RiskFactor').implement({
  description: "One input's part in a score.",
  fields: (t) => ({
    name: t.exposeString('name', { description: 'The observation field (e.g. `respiratoryRate`), or `age` / `sex`.' }),
    value: t.exposeString('value', { nullable: true, description: 'The value the model was given, as text.' }),
    points: t.int({
      nullable: true,
      description: 'Points this factor adds (points scores such as NEWS2).',
      resolve: (f) => (f.kind === 'points' ? Math.round(f.amount) : null),
    }),
    contribution: t.float({
      nullable: true,
      description: 'Its term in the model (regression models such as Framingham: β·x on the log-hazard scale).',
      resolve: (f) => (f.kind === 'contribution' ? f.amount : null),
    }),
  }),
});

export const RiskAssessmentRef = builder.objectRef<PatientAssessment>('RiskAssessment').implement({
  description: 'A risk score for a patient from a clinical model, computed on their latest observations.',
  fields: (t) => ({
    patientId: t.exposeID('patientId', { description: 'The patient assessed.' }),
    model: t.exposeString('model', {
      description: 'The model, as the model server names it (`news2`, `framingham-cvd-10y`).',
    }),
    modelVersion: t.exposeString('modelVersion', { description: 'The version of the model that computed it.' }),
    score: t.exposeFloat('score', {
      description: 'NEWS2: the aggregate score (0–20). Framingham: the 10-year risk (0–1).',
    }),
    riskLevel: t.field({ type: RiskLevelEnum, description: 'The risk band.', resolve: (a) => a.riskLevel }),
    source: t.field({ type: SourceEnum, description: 'Computed now, or from the cache.', resolve: (a) => a.source }),
    computedAt: t.field({
      type: 'DateTime',
      description: 'When the model computed it.',
      resolve: (a) => new Date(a.computedAt),
    }),
    factors: t.field({
      type: [RiskFactorRef],
      description: 'How each input contributed.',
      resolve: (a) =>
        a.factors.map(([name, amount]) => ({
          name: fieldOfInput(a.model as RiskModelName, name),
          value: a.row[name] === undefined ? null : String(a.row[name]),
          kind: a.factorKind,
          amount,
        })),
    }),
    fhir: t.field({
      type: 'JSON',
      description: 'The same assessment as a FHIR R4 RiskAssessment resource.',
      resolve: async (a, _args, ctx) =>
        toFhirRiskAssessment(a.patientId, a, a.row, await ctx.patients.observedTimes({ id: a.patientId })),
    }),
  }),
});

builder.queryField('assessment', (t) =>
  t.field({
    type: RiskAssessmentRef,
    description:
      "A patient's risk assessment: from the cache when the observations and model version are unchanged, else computed. " +
      'Without `model`, the first model the observations allow (NEWS2, then Framingham).',
    args: {
      patientId: t.arg.id({ required: true }),
      model: t.arg({
        type: RiskModelEnum,
        required: false,
        description: 'Which model; default: the first that applies.',
      }),
    },
    resolve: (_root, args, ctx) =>
      ctx.assessments.forPatientId(ctx.patients, String(args.patientId), {
        model: args.model,
        required: true,
      }) as Promise<PatientAssessment>,
  }),
);

builder.objectField(PatientRef, 'assessment', (t) =>
  t.field({
    type: RiskAssessmentRef,
    nullable: true,
    description:
      'The risk assessment (as `Query.assessment`); null when no model can assess the observations recorded.',
    args: { model: t.arg({ type: RiskModelEnum, required: false }) },
    resolve: (patient, args, ctx) => ctx.assessments.forPatient(patient, { model: args.model, required: false }),
  }),
);

const AssessmentHistoryPointRef = builder.objectRef<HistoryPoint>('AssessmentHistoryPoint').implement({
  description:
    "One point of a patient's score history: the model's score of the observation snapshot one recording made " +
    '(every field as of that recording), scored by the model version serving now.',
  fields: (t) => ({
    observationId: t.exposeID('observationId', {
      description: 'The recording (`Patient.observations`) whose snapshot was scored.',
    }),
    observedAt: t.field({
      type: 'DateTime',
      description: 'When that recording took effect: the snapshot holds from then until the next one.',
      resolve: (p) => p.observedAt,
    }),
    model: t.exposeString('model', { description: 'The model (`news2`, `framingham-cvd-10y`).' }),
    modelVersion: t.exposeString('modelVersion', { description: 'The version of the model that computed this score.' }),
    score: t.exposeFloat('score', { description: 'As `RiskAssessment.score`.' }),
    riskLevel: t.field({ type: RiskLevelEnum, description: 'The risk band.', resolve: (p) => p.riskLevel }),
    source: t.field({
      type: SourceEnum,
      description:
        'How this score was obtained now: computed for this request, or from the cache (as `RiskAssessment.source`).',
      resolve: (p) => p.source,
    }),
    computedAt: t.field({
      type: 'DateTime',
      description:
        'When the model computed this score (at or after `observedAt`: a past snapshot may be scored later).',
      resolve: (p) => new Date(p.computedAt),
    }),
  }),
});

builder.objectField(PatientRef, 'assessmentHistory', (t) =>
  t.field({
    type: [AssessmentHistoryPointRef],
    nullable: true,
    description:
      "The model's score after each of the patient's `last` most recent recordings, oldest first: each recording's " +
      'snapshot (every field as of then, built as `latestObservations` is; age as of that day) scored as `assessment` ' +
      'is — from the cache for inputs already scored, the rest in one batched model call. A recording the model could ' +
      'not score (an input not yet recorded, outside its domain) has no point. Null with an error when a point can ' +
      'neither be computed nor found in the cache (ML_UNAVAILABLE): never a history with holes.',
    args: {
      model: t.arg({ type: RiskModelEnum, required: true, description: 'Which model.' }),
      last: t.arg.int({
        required: false,
        defaultValue: DEFAULT_HISTORY_LENGTH,
        description: `How many of the most recent recordings (default ${DEFAULT_HISTORY_LENGTH}, at most ${MAX_HISTORY_LENGTH}).`,
      }),
    },
    resolve: (patient, args, ctx) => ctx.assessments.history(patient, { model: args.model, last: args.last }),
  }),
);
