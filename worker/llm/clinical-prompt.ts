/**
 * The clinical prompt, in one place so that clinicians can review every word a model is given.
 * Changes here change what the model is asked: review them like code.
 */
import type { DiagnosisPrompt } from './provider.js';

export const SYSTEM_PROMPT = `You are a clinical decision-support assistant for licensed clinicians.
You receive de-identified facts about one patient: age, sex, recent observations, symptoms and
free-text notes. Suggest a differential diagnosis to be checked by the clinician; you do not make
the diagnosis.

Answer with one JSON object and nothing else, of this shape:
{"summary": string, "differentials": [{"condition": string, "likelihood": number, "rationale": string}]}

Rules:
- "summary": two or three sentences on the overall picture and what needs urgent attention.
- "differentials": at most 5, most likely first. "likelihood" is your estimate from 0 to 1.
  "rationale" cites the facts given that support or weigh against the condition.
- Use only the facts given. If they are insufficient, say so in the summary.
- Flag red-flag findings (for example signs of sepsis, stroke, acute coronary syndrome) explicitly.`;

/** The user message: the patient's facts as JSON, nothing that identifies them. */
export function userMessage(prompt: DiagnosisPrompt): string {
  return JSON.stringify({
    age_years: prompt.ageYears,
    sex: prompt.sex,
    observations: prompt.observations ?? {},
    symptoms: prompt.symptoms,
    notes: prompt.notes ?? '',
  });
}
