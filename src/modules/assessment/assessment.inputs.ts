import { createHash } from 'node:crypto';
import { ageInYears } from '../../lib/dates.js';
import type { TensorMetadata } from '../../ml/oip.protocol.js';
import {
  FRAMINGHAM_INPUTS,
  FRAMINGHAM_MODEL,
  type InputContract,
  NEWS2_INPUTS,
  NEWS2_MODEL,
} from '../../ml/risk-model.contract.js';
import type { ObservationValues } from '../patient/observation.entity.js';
import type { Sex } from '../patient/patient.entity.js';

/** The risk models the API knows how to feed, by their model-server names. */
export const RISK_MODELS = [NEWS2_MODEL, FRAMINGHAM_MODEL] as const;
export type RiskModelName = (typeof RISK_MODELS)[number];

/** One patient's input row for a model, keyed by the model's input (tensor) names. */
export type InputRow = Record<string, number | boolean | string>;

/** What the API knows about a patient that a model may use. */
export interface PatientFacts {
  readonly snapshot: ObservationValues | null;
  readonly birthDate: string;
  readonly sex: Sex;
}

/** API field name → model input, per model. `age` and `sex` come from the patient, not observations. */
const INPUTS: Record<RiskModelName, Record<string, InputContract>> = {
  [NEWS2_MODEL]: NEWS2_INPUTS,
  [FRAMINGHAM_MODEL]: FRAMINGHAM_INPUTS,
};

/** The API field (e.g. `respiratoryRate`) behind a model input or factor name (`respiratory_rate`). */
export function fieldOfInput(model: RiskModelName, inputName: string): string {
  for (const [field, input] of Object.entries(INPUTS[model])) if (input.name === inputName) return field;
  return inputName;
}

export type InputsResult = { ok: true; row: InputRow } | { ok: false; missing: string[] };

/**
 * The model's input row from the patient's current snapshot, or the API fields it still lacks.
 * Nothing is guessed: a model runs only on values that were actually recorded.
 */
export function inputsFor(model: RiskModelName, facts: PatientFacts, today: string): InputsResult {
  const values: Record<string, unknown> = {
    ...facts.snapshot,
    age: ageInYears(facts.birthDate, today),
    sex: facts.sex,
  };
  const row: InputRow = {};
  const missing: string[] = [];
  for (const [field, input] of Object.entries(INPUTS[model])) {
    const value = values[field];
    if (value === undefined || value === null) missing.push(field);
    else row[input.name] = value as number | boolean | string;
  }
  return missing.length > 0 ? { ok: false, missing } : { ok: true, row };
}

/**
 * API fields whose values fall outside what the model declares it accepts (the `min`/`max` and
 * `allowed` parameters of its input metadata) — e.g. Framingham outside ages 30–74, or sex
 * `OTHER`. Such a patient is not scored by that model rather than sent to fail the whole batch.
 */
export function outsideDomain(model: RiskModelName, row: InputRow, inputs: readonly TensorMetadata[]): string[] {
  const offending: string[] = [];
  for (const meta of inputs) {
    const value = row[meta.name];
    const p = meta.parameters ?? {};
    if (value === undefined) continue;
    const tooLow = typeof p.min === 'number' && typeof value === 'number' && value < p.min;
    const tooHigh = typeof p.max === 'number' && typeof value === 'number' && value > p.max;
    const notAllowed = typeof p.allowed === 'string' && !p.allowed.split(',').includes(String(value));
    if (tooLow || tooHigh || notAllowed) offending.push(fieldOfInput(model, meta.name));
  }
  return offending;
}

/** Digests already taken, per row object: a cached assessment keys the same row twice. */
const digests = new WeakMap<InputRow, string>();

/**
 * A stable digest of a row: same values, same digest, whatever the key order. Rows are never
 * changed once built (inputsFor makes a new one per call), so a row's digest is remembered.
 */
export function rowDigest(row: InputRow): string {
  let digest = digests.get(row);
  if (digest === undefined) {
    const canonical = JSON.stringify(
      Object.keys(row)
        .sort()
        .map((k) => [k, row[k]]),
    );
    digest = createHash('sha256').update(canonical).digest('base64url').slice(0, 32);
    digests.set(row, digest);
  }
  return digest;
}
