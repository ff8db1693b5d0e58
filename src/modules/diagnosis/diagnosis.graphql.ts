import { builder } from '../../graphql/builder.js';
import { toConnection } from '../../graphql/connection.js';
import { REPLAYABLE } from '../../graphql/shared-subscriptions.js';
import { freeText } from '../../graphql/text-input.js';
import { ClinicianRef } from '../clinician/clinician.graphql.js';
import { PatientRef } from '../patient/patient.graphql.js';
import { DIAGNOSIS_STATUSES } from './diagnosis.entity.js';
import { toFhirDiagnosticReport } from './diagnosis.fhir.js';
import { closable, deliveries, diagnosisUpdates, patientDiagnosisUpdates } from './diagnosis.subscriptions.js';
import { MAX_AMENDED_SUMMARY, MAX_NOTES, MAX_REVIEW_NOTE, MAX_SYMPTOMS } from './diagnosis.validation.js';
import { type DiagnosisView, type ReviewView, reportStatusOf, resultOf, reviewOf } from './diagnosis.view.js';

const StatusEnum = builder.enumType('DiagnosisStatus', {
  description: 'Where a diagnosis job is. COMPLETED, FAILED and CANCELLED are terminal.',
  values: DIAGNOSIS_STATUSES,
});

const ReportStatusEnum = builder.enumType('ReportStatus', {
  description:
    'Where the report stands with a clinician. PRELIMINARY is an unreviewed draft — decision support, not a diagnosis; nothing is FINAL without a human.',
  values: {
    PRELIMINARY: { description: 'COMPLETED, not yet reviewed: an unreviewed draft.' },
    FINAL: { description: 'A clinician accepted it.' },
    AMENDED: { description: "A clinician amended it: `review.amendedSummary` is the report's conclusion." },
    REJECTED: { description: 'A clinician rejected it: do not act on it.' },
  } as const,
});

const ReviewDecisionEnum = builder.enumType('ReviewDecision', {
  description: "A clinician's sign-off decision.",
  values: {
    ACCEPTED: { description: 'The result stands as the report (FINAL).' },
    AMENDED: { description: "The clinician's `amendedSummary` replaces the model's summary as the conclusion." },
    REJECTED: { description: 'The result is withdrawn (the FHIR report is entered-in-error).' },
  } as const,
});

const GeneratorEnum = builder.enumType('ResultGenerator', {
  description: 'What produced a result.',
  values: {
    LANGUAGE_MODEL: { description: 'A large language model (`provider: openai`).' },
    RULES_ENGINE: {
      description: 'The offline rules engine (`provider: rules`): a fixed, cited table — not a language model.',
    },
  } as const,
});

const ReviewRef = builder.objectRef<ReviewView>('DiagnosisReview').implement({
  description: "A clinician's sign-off of a COMPLETED diagnosis. Given once; the model's result is never edited.",
  fields: (t) => ({
    decision: t.field({ type: ReviewDecisionEnum, description: 'The decision.', resolve: (r) => r.decision }),
    reviewer: t.field({
      type: ClinicianRef,
      description: 'Who signed it off.',
      resolve: (r, _args, ctx) => ctx.diagnoses.clinician(r.reviewerId),
    }),
    note: t.exposeString('note', { nullable: true, description: "The reviewer's note." }),
    amendedSummary: t.exposeString('amendedSummary', {
      nullable: true,
      description: "The reviewer's summary, when AMENDED: the report's conclusion.",
    }),
    reviewedAt: t.field({
      type: 'DateTime',
      description: 'When it was signed off.',
      resolve: (r) => new Date(r.reviewedAt),
    }),
  }),
});

interface DifferentialShape {
  condition: string;
  likelihood: number | null;
  rationale: string | null;
}

const DifferentialRef = builder.objectRef<DifferentialShape>('Differential').implement({
  description: 'One condition to consider.',
  fields: (t) => ({
    condition: t.exposeString('condition', { description: 'The condition.' }),
    likelihood: t.exposeFloat('likelihood', {
      nullable: true,
      description:
        "The provider's estimate 0–1 (for the rules engine: the share of the rule's findings present, not a probability).",
    }),
    rationale: t.exposeString('rationale', { nullable: true, description: 'Why, citing the facts given.' }),
  }),
});

interface ResultShape {
  summary: string;
  differentials: DifferentialShape[];
  provider: string;
  model: string;
  promptVersion?: string | undefined;
}

const ResultRef = builder.objectRef<ResultShape>('DiagnosisResult').implement({
  description:
    "The model's answer, kept exactly as it was given: decision support for the clinician, not a diagnosis in itself, and an unreviewed draft while the diagnosis' `reportStatus` is PRELIMINARY. Plain text: render it as text.",
  fields: (t) => ({
    generator: t.field({
      type: GeneratorEnum,
      description: 'A language model, or the rules engine (not a language model).',
      resolve: (r) => (r.provider === 'rules' ? 'RULES_ENGINE' : 'LANGUAGE_MODEL'),
    }),
    promptVersion: t.string({
      nullable: true,
      description: 'The version of the instructions a language model was given (null for the rules engine).',
      resolve: (r) => r.promptVersion ?? null,
    }),
    summary: t.exposeString('summary', { description: 'The overall picture.' }),
    differentials: t.field({
      type: [DifferentialRef],
      description: 'Most likely first.',
      resolve: (r) => r.differentials,
    }),
    provider: t.exposeString('provider', {
      description: '`openai` (an LLM) or `rules` (the offline rules engine, not an LLM).',
    }),
    model: t.exposeString('model', { description: 'The model or rules table that produced it.' }),
  }),
});

export const DiagnosisRef = builder.objectRef<DiagnosisView>('Diagnosis').implement({
  description: 'An LLM diagnosis job for a patient, from QUEUED to a terminal state.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Diagnosis id (UUID).' }),
    patient: t.field({
      type: PatientRef,
      description: 'The patient.',
      // Audited as a read of the patient, like `patient(id)`: its fields are patient data.
      resolve: (d, _args, ctx) => ctx.patients.get(d.patientId),
    }),
    status: t.field({ type: StatusEnum, description: 'Where the job is.', resolve: (d) => d.status }),
    progress: t.exposeFloat('progress', { description: 'Progress 0–1.' }),
    stage: t.exposeString('stage', { nullable: true, description: 'What the worker is doing.' }),
    partialText: t.exposeString('partialText', { nullable: true, description: "The model's text so far." }),
    result: t.field({
      type: ResultRef,
      nullable: true,
      description: "The model's result, once COMPLETED — a draft until `reportStatus` says a clinician signed it off.",
      resolve: (d) => resultOf(d),
    }),
    reportStatus: t.field({
      type: ReportStatusEnum,
      nullable: true,
      description:
        'Null until COMPLETED; then PRELIMINARY (an unreviewed draft) until a clinician reviews it: FINAL, AMENDED or REJECTED.',
      resolve: (d) => reportStatusOf(d),
    }),
    review: t.field({
      type: ReviewRef,
      nullable: true,
      description: "The clinician's sign-off; null until reviewed.",
      resolve: (d) => reviewOf(d),
    }),
    fhir: t.field({
      type: 'JSON',
      description:
        'The diagnosis as a FHIR R4 DiagnosticReport — status registered / partial before COMPLETED, preliminary until reviewed, then final, amended or entered-in-error (rejected); cancelled when FAILED or CANCELLED — with a contained Provenance naming the model, its provider, the prompt version, a digest of the de-identified inputs, and the requesting and reviewing clinicians.',
      resolve: async (d, _args, ctx) => {
        const review = reviewOf(d);
        const [requester, reviewer] = await Promise.all([
          ctx.diagnoses.clinician(d.requestedById),
          review ? ctx.diagnoses.clinician(review.reviewerId) : null,
        ]);
        return toFhirDiagnosticReport(d, { requester, reviewer });
      },
    }),
    error: t.exposeString('error', {
      nullable: true,
      description: 'Why the last attempt failed (FAILED, or retrying).',
    }),
    attempts: t.exposeInt('attempts', { description: 'How many times a worker has started this job.' }),
    version: t.exposeInt('version', { description: 'Grows by one with every change.' }),
    requestedBy: t.field({
      type: ClinicianRef,
      description: 'Who requested it.',
      resolve: (d, _args, ctx) => ctx.diagnoses.clinician(d.requestedById),
    }),
    createdAt: t.field({
      type: 'DateTime',
      description: 'When it was requested.',
      resolve: (d) => new Date(d.createdAt),
    }),
    updatedAt: t.field({
      type: 'DateTime',
      description: 'When it last changed.',
      resolve: (d) => new Date(d.updatedAt),
    }),
    completedAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When it reached a terminal state.',
      resolve: (d) => (d.completedAt === null ? null : new Date(d.completedAt)),
    }),
  }),
});

const DiagnosisConnection = builder.connectionObject({
  type: DiagnosisRef,
  name: 'DiagnosisConnection',
  description: 'Diagnoses, newest first.',
});

const RequestInput = builder.inputType('DiagnosisRequestInput', {
  description: 'What the clinician sees. Patient identifiers are never sent to the model.',
  fields: (t) => ({
    symptoms: t.stringList({ required: true, description: `1–${MAX_SYMPTOMS} symptoms, each at most 200 characters.` }),
    notes: t.string({
      ...freeText,
      required: false,
      description: `Free-text notes, at most ${MAX_NOTES} characters (tab and line breaks allowed).`,
    }),
  }),
});

const ReviewInput = builder.inputType('DiagnosisReviewInput', {
  description: "A clinician's sign-off of a COMPLETED diagnosis.",
  fields: (t) => ({
    decision: t.field({ type: ReviewDecisionEnum, required: true, description: 'ACCEPTED, AMENDED or REJECTED.' }),
    note: t.string({
      ...freeText,
      required: false,
      description: `A note, at most ${MAX_REVIEW_NOTE} characters (tab and line breaks allowed).`,
    }),
    amendedSummary: t.string({
      ...freeText,
      required: false,
      description: `Required for AMENDED (and only then): the clinician's summary, at most ${MAX_AMENDED_SUMMARY} characters (tab and line breaks allowed).`,
    }),
  }),
});

builder.objectField(PatientRef, 'diagnoses', (t) =>
  t.field({
    type: DiagnosisConnection,
    description: "The patient's diagnoses, newest first.",
    args: {
      first: t.arg.int({ required: false, description: 'Page size (default 20, at most 100).' }),
      after: t.arg.string({ required: false, description: 'Cursor of the last edge already seen.' }),
    },
    resolve: async (patient, args, ctx) => toConnection(await ctx.diagnoses.forPatient(patient, args)),
  }),
);

// A federation entity, resolved like `diagnosis(id)` (its patient's care-team rule, audited).
builder.asEntity(DiagnosisRef, {
  key: builder.selection<{ id: string }>('id'),
  resolveReference: (ref, ctx) => ctx.diagnoses.get(String(ref.id)),
});

builder.queryField('diagnosis', (t) =>
  t.field({
    type: DiagnosisRef,
    nullable: true,
    description: 'A diagnosis by id; null with NOT_FOUND when it does not exist or its patient is not visible to you.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.diagnoses.get(String(args.id)),
  }),
);

builder.mutationFields((t) => ({
  requestDiagnosis: t.field({
    type: DiagnosisRef,
    description:
      'Stores a diagnosis job QUEUED and answers at once; a worker runs it. Follow it with `diagnosisUpdated`.',
    args: { patientId: t.arg.id({ required: true }), input: t.arg({ type: RequestInput, required: true }) },
    resolve: (_root, args, ctx) => ctx.diagnoses.request(String(args.patientId), args.input),
  }),
  cancelDiagnosis: t.field({
    type: DiagnosisRef,
    description:
      'Cancels a QUEUED or RUNNING diagnosis (the worker stops the model call). A terminal one is BAD_USER_INPUT.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.diagnoses.cancel(String(args.id)),
  }),
  reviewDiagnosis: t.field({
    type: DiagnosisRef,
    description:
      "Signs off a COMPLETED diagnosis, once: its reportStatus becomes FINAL, AMENDED or REJECTED, `version` grows by one and `patientDiagnoses` subscribers get it. The model's result is not changed. Any other status, or a second review, is BAD_USER_INPUT; a diagnosis you may not see is NOT_FOUND.",
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: ReviewInput, required: true }) },
    resolve: (_root, args, ctx) => ctx.diagnoses.review(String(args.id), args.input),
  }),
}));

builder.subscriptionFields((t) => ({
  diagnosisUpdated: t.field({
    type: DiagnosisRef,
    description: 'The current state at once, then every change in version order; completes after a terminal state.',
    // Every event is the diagnosis's full state: a subscriber joining a shared group late may
    // start from the group's latest event, which is what its own first event would have been.
    extensions: { [REPLAYABLE]: true },
    args: { id: t.arg.id({ required: true }) },
    subscribe: (_root, args, ctx) => {
      const deliver = deliveries(ctx, 'diagnosisUpdated');
      return closable((onClose) => diagnosisUpdates(ctx, String(args.id), onClose, deliver));
    },
    resolve: (view) => view,
  }),
  patientDiagnoses: t.field({
    type: DiagnosisRef,
    description: 'Every change of every diagnosis of one patient; stays open.',
    args: { patientId: t.arg.id({ required: true }) },
    subscribe: (_root, args, ctx) => {
      const deliver = deliveries(ctx, 'patientDiagnoses');
      return closable((onClose) => patientDiagnosisUpdates(ctx, String(args.patientId), onClose, deliver));
    },
    resolve: (view) => view,
  }),
}));
