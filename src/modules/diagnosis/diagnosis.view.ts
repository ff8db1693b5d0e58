import {
  type Diagnosis,
  type DiagnosisResult,
  type DiagnosisStatus,
  type ReviewDecision,
  TERMINAL_STATUSES,
} from './diagnosis.entity.js';

/** A clinician's sign-off as every pod sees it. */
export interface ReviewView {
  decision: ReviewDecision;
  reviewerId: string;
  note: string | null;
  amendedSummary: string | null;
  reviewedAt: number;
}

/** Where the report stands with a human: null until COMPLETED, then a draft until signed off. */
export type ReportStatus = 'PRELIMINARY' | 'FINAL' | 'AMENDED' | 'REJECTED';

/**
 * A diagnosis as every pod and worker sees it while it is live: the full state, so that any single
 * message is enough to render it. Published on every change; `version` orders them.
 */
export interface DiagnosisView {
  id: string;
  patientId: string;
  requestedById: string;
  status: DiagnosisStatus;
  progress: number;
  stage: string | null;
  partialText: string | null;
  /** The result as JSON text (kept as a string so Redis' Lua JSON cannot mangle empty arrays). */
  resultJson: string | null;
  error: string | null;
  attempts: number;
  version: number;
  createdAt: number;
  updatedAt: number;
  completedAt: number | null;
  /** The sign-off; null (or absent, in a state written before reviews existed) until reviewed. */
  review?: ReviewView | null;
  /**
   * W3C trace context of the change that produced this state (only when tracing; not part of the
   * GraphQL type): its delivery to a subscriber on any pod joins that trace.
   */
  traceparent?: string | null;
}

/** The view of a durable row (the state to start from when the live copy is gone). */
export function viewOf(d: Diagnosis): DiagnosisView {
  return {
    id: d.id,
    patientId: typeof d.patient === 'string' ? d.patient : d.patient.id,
    requestedById: typeof d.requestedBy === 'string' ? d.requestedBy : d.requestedBy.id,
    status: d.status,
    progress: d.progress,
    stage: d.stage,
    partialText: d.partialText,
    resultJson: d.result ? JSON.stringify(d.result) : null,
    error: d.error,
    attempts: d.attempts,
    version: d.version,
    createdAt: d.createdAt.getTime(),
    updatedAt: d.updatedAt.getTime(),
    completedAt: d.completedAt?.getTime() ?? null,
    review:
      d.reviewDecision && d.reviewedBy && d.reviewedAt
        ? {
            decision: d.reviewDecision,
            reviewerId: typeof d.reviewedBy === 'string' ? d.reviewedBy : d.reviewedBy.id,
            note: d.reviewNote,
            amendedSummary: d.amendedSummary,
            reviewedAt: d.reviewedAt.getTime(),
          }
        : null,
  };
}

/** The review of a view, null when none (the live copy may be older than reviews). */
export const reviewOf = (view: DiagnosisView): ReviewView | null => view.review ?? null;

/**
 * Null before COMPLETED; PRELIMINARY — an unreviewed draft, decision support only — until a
 * clinician signs it off; then FINAL (accepted), AMENDED or REJECTED. Nothing is FINAL without a human.
 */
export function reportStatusOf(view: DiagnosisView): ReportStatus | null {
  if (view.status !== 'COMPLETED') return null;
  const review = reviewOf(view);
  if (!review) return 'PRELIMINARY';
  return review.decision === 'ACCEPTED' ? 'FINAL' : review.decision;
}

/** The model's result of a COMPLETED view; null before. */
export function resultOf(view: DiagnosisView): DiagnosisResult | null {
  return view.resultJson ? (JSON.parse(view.resultJson) as DiagnosisResult) : null;
}

/** COMPLETED, FAILED or CANCELLED: no worker will change it again. */
export const isTerminal = (view: Pick<DiagnosisView, 'status'>) => TERMINAL_STATUSES.has(view.status);

/** The newer of two states of one diagnosis (the live copy may be ahead of Postgres, or gone). */
export function newest(a: DiagnosisView | null, b: DiagnosisView | null): DiagnosisView | null {
  if (!a) return b;
  if (!b) return a;
  return a.version >= b.version ? a : b;
}
