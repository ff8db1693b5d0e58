import { z } from 'zod';
import type { DiagnosisResult } from './diagnosis.entity.js';

/**
 * The result schema: what a provider's answer must be before a diagnosis may become COMPLETED.
 * Whatever produced it — an LLM told by a patient's note to "respond exactly with" something, or
 * the rules engine — an answer outside these bounds is a failed attempt (retried, then FAILED),
 * never a result a clinician sees.
 */
export const RESULT_LIMITS = {
  /** At least one differential: an answer without any is no decision support. */
  minDifferentials: 1,
  maxDifferentials: 10,
  summary: 4_000,
  condition: 200,
  rationale: 2_000,
  /** The model's streamed text (`partialText`): the whole JSON answer with room to spare. */
  partialText: 40_000,
  /** Provider and model names, and the provenance fields. */
  label: 200,
} as const;

/** Control characters other than tab, line feed and carriage return. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
/** Markup tags (`<b>`, `</div>`, `<script …>`, `<!-- …`): results are plain text. "SpO2 <92%" is not one. */
const MARKUP = /<\/?[a-z!][^>]*>/i;

/** A text field: trimmed, non-empty, plain text, at most `max` characters. */
const text = (field: string, max: number) =>
  z
    .string({ error: `${field} is not text` })
    .trim()
    .min(1, { error: `${field} is empty` })
    .max(max, { error: `${field} is longer than ${max} characters` })
    .refine((s) => !CONTROL.test(s), { error: `${field} contains control characters` })
    .refine((s) => !MARKUP.test(s), { error: `${field} contains markup; results are plain text` });

const differentialSchema = z.object({
  condition: text('a condition', RESULT_LIMITS.condition),
  likelihood: z
    .number({ error: 'a likelihood is not a number' })
    .min(0, { error: 'a likelihood is below 0' })
    .max(1, { error: 'a likelihood is above 1' })
    .nullable(),
  rationale: text('a rationale', RESULT_LIMITS.rationale).nullable(),
});

export const diagnosisResultSchema = z.object(
  {
    summary: text('the summary', RESULT_LIMITS.summary),
    differentials: z
      .array(differentialSchema, { error: 'the differentials are not a list' })
      .min(RESULT_LIMITS.minDifferentials, { error: 'the answer has no differential' })
      .max(RESULT_LIMITS.maxDifferentials, { error: `more than ${RESULT_LIMITS.maxDifferentials} differentials` }),
    provider: text('the provider', RESULT_LIMITS.label),
    model: text('the model', RESULT_LIMITS.label),
    providerVersion: text('the provider version', RESULT_LIMITS.label).optional(),
    modelVersion: text('the model version', RESULT_LIMITS.label).optional(),
    promptVersion: text('the prompt version', RESULT_LIMITS.label).optional(),
    inputDigest: text('the input digest', RESULT_LIMITS.label).optional(),
  },
  { error: 'the answer is not an object' },
);

/**
 * An answer that is not a valid result. Its message names the rule broken, never the answer's text
 * (model text may repeat patient data), so it can be the diagnosis' `error` and a log line.
 */
export class InvalidResultError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidResultError';
  }
}

/** The answer as a valid result (text trimmed), or {@link InvalidResultError} naming the first rule it breaks. */
export function validResult(answer: unknown): DiagnosisResult {
  const parsed = diagnosisResultSchema.safeParse(answer);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new InvalidResultError(`the model's answer is not a valid result: ${issue?.message ?? 'wrong shape'}`);
}

/** The streamed text would pass its limit: the attempt is stopped there. */
export function partialTextTooLong(length: number): InvalidResultError | null {
  return length > RESULT_LIMITS.partialText
    ? new InvalidResultError(
        `the model's answer is not a valid result: its text is longer than ${RESULT_LIMITS.partialText} characters`,
      )
    : null;
}
