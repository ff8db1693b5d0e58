import { z } from 'zod';
import { REVIEW_DECISIONS } from './diagnosis.entity.js';

export const MAX_SYMPTOMS = 50;
export const MAX_NOTES = 10_000;

export const diagnosisRequestSchema = z.object({
  symptoms: z
    .array(
      z
        .string()
        .trim()
        .min(1, { error: 'symptoms must not contain empty entries' })
        .max(200, { error: 'each symptom must be at most 200 characters' }),
    )
    .min(1, { error: 'at least one symptom is required' })
    .max(MAX_SYMPTOMS, { error: `at most ${MAX_SYMPTOMS} symptoms` }),
  notes: z
    .string()
    .max(MAX_NOTES, { error: `notes must be at most ${MAX_NOTES} characters` })
    .nullish()
    .transform((v) => (v?.trim() ? v : null)),
});
export type DiagnosisRequestInput = z.input<typeof diagnosisRequestSchema>;

export const MAX_REVIEW_NOTE = 2_000;
export const MAX_AMENDED_SUMMARY = 10_000;

/** A sign-off: an amendment carries the clinician's own summary; the other decisions carry none. */
export const diagnosisReviewSchema = z
  .object({
    decision: z.enum(REVIEW_DECISIONS, { error: 'decision must be ACCEPTED, AMENDED or REJECTED' }),
    note: z
      .string()
      .max(MAX_REVIEW_NOTE, { error: `note must be at most ${MAX_REVIEW_NOTE} characters` })
      .nullish()
      .transform((v) => (v?.trim() ? v.trim() : null)),
    amendedSummary: z
      .string()
      .max(MAX_AMENDED_SUMMARY, { error: `amendedSummary must be at most ${MAX_AMENDED_SUMMARY} characters` })
      .nullish()
      .transform((v) => (v?.trim() ? v.trim() : null)),
  })
  .superRefine((review, ctx) => {
    if (review.decision === 'AMENDED' && !review.amendedSummary) {
      ctx.addIssue({ code: 'custom', path: ['amendedSummary'], message: 'amendedSummary is required to amend' });
    }
    if (review.decision !== 'AMENDED' && review.amendedSummary) {
      ctx.addIssue({ code: 'custom', path: ['amendedSummary'], message: 'amendedSummary is only for AMENDED' });
    }
  });
export type DiagnosisReviewInput = z.input<typeof diagnosisReviewSchema>;
