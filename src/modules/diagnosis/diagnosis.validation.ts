import { z } from 'zod';

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
