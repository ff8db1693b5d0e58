/**
 * The contract of our two reference risk models (NEWS2, Framingham) over the Open Inference
 * Protocol (`oip.protocol.ts`): model names, input tensors, outputs, and how to read an answer.
 * The reference server implements it and the API's client relies on it.
 *
 * ## How a risk model answers
 *
 * Both models take one row per patient. Every input tensor has shape `[N]` or `[N, 1]`, where `N`
 * is the batch size, the same for every input; `data` is flat row-major or nested to the shape.
 * Every response carries these outputs ({@link RISK_OUTPUTS}):
 *
 * | output         | datatype | shape    | meaning                                                    |
 * | -------------- | -------- | -------- | ---------------------------------------------------------- |
 * | `score`        | `FP64`   | `[N]`    | NEWS2: the aggregate score; Framingham: 10-year risk 0–1    |
 * | `risk_level`   | `BYTES`  | `[N]`    | `LOW`, `LOW_MEDIUM`, `MEDIUM` or `HIGH`                      |
 * | `factors`      | `FP64`   | `[N, K]` | per-factor points or contributions, row-major               |
 * | `factor_names` | `BYTES`  | `[K]`    | the name of each of the `K` columns of `factors`            |
 *
 * The numeric outputs are `FP64`: they are JavaScript doubles, and declaring `FP32` would tell a
 * client to expect a precision the values do not have. A client reads any numeric datatype alike,
 * so a server that answers `FP32` (Triton, MLServer exporting a float32 model) still works.
 *
 * A factor's name is the name of the input it comes from (`respiratory_rate`, `age`, …). The
 * `factors` output carries `parameters.factor_kind`: `points` (NEWS2: integer points 0–3) or
 * `contribution` (Framingham: the β·x term of the Cox model). The model metadata announces the
 * same names before any request, in `parameters.factor_names` (comma-separated, since protocol
 * parameters are scalars) and `parameters.factor_kind` of its `factors` output.
 */

import {
  type Datatype,
  findOutput,
  type InferenceResponse,
  matrixOutput,
  numberOutput,
  ProtocolError,
  type RequestInput,
  stringOutput,
  type TensorElement,
} from './oip.protocol.js';

/** A risk level as the API's contract spells it (`RiskLevel` in the GraphQL schema). */
export const RISK_LEVELS = ['LOW', 'LOW_MEDIUM', 'MEDIUM', 'HIGH'] as const;
/** One of {@link RISK_LEVELS}. */
export type RiskLevel = (typeof RISK_LEVELS)[number];

/** Whether `value` is one of {@link RISK_LEVELS}. */
export function isRiskLevel(value: unknown): value is RiskLevel {
  return typeof value === 'string' && (RISK_LEVELS as readonly string[]).includes(value);
}

/** ACVPU levels, spelled like the API's `Consciousness` enum. */
export const CONSCIOUSNESS_LEVELS = ['ALERT', 'CONFUSION', 'VOICE', 'PAIN', 'UNRESPONSIVE'] as const;
/** One of {@link CONSCIOUSNESS_LEVELS}. */
export type Consciousness = (typeof CONSCIOUSNESS_LEVELS)[number];

/** The sexes the Framingham equations were fitted for; the API's `OTHER`/`UNKNOWN` have none. */
export const FRAMINGHAM_SEXES = ['FEMALE', 'MALE'] as const;
/** One of {@link FRAMINGHAM_SEXES}. */
export type FraminghamSex = (typeof FRAMINGHAM_SEXES)[number];

/** How a client should name and type one input of a model. */
export interface InputContract {
  readonly name: string;
  /** The datatype the metadata declares; numeric inputs also accept `FP32`, `INT32` and `INT64`. */
  readonly datatype: Datatype;
}

/** Name under which the server serves NEWS2. */
export const NEWS2_MODEL = 'news2';

/**
 * NEWS2 inputs, all required. Keys match the API's observation fields. Numbers are read as
 * doubles whatever their declared type.
 */
export const NEWS2_INPUTS = {
  respiratoryRate: { name: 'respiratory_rate', datatype: 'FP64' },
  spo2: { name: 'spo2', datatype: 'FP64' },
  onSupplementalOxygen: { name: 'on_supplemental_oxygen', datatype: 'BOOL' },
  systolicBp: { name: 'systolic_bp', datatype: 'FP64' },
  heartRate: { name: 'heart_rate', datatype: 'FP64' },
  consciousness: { name: 'consciousness', datatype: 'BYTES' },
  temperatureC: { name: 'temperature_c', datatype: 'FP64' },
} as const satisfies Record<string, InputContract>;

/** Name under which the server serves the Framingham general CVD 10-year risk. */
export const FRAMINGHAM_MODEL = 'framingham-cvd-10y';

/** Framingham inputs, all required. `sex` is `FEMALE` or `MALE`; cholesterol in mg/dL. */
export const FRAMINGHAM_INPUTS = {
  age: { name: 'age', datatype: 'FP64' },
  sex: { name: 'sex', datatype: 'BYTES' },
  totalCholesterol: { name: 'total_cholesterol', datatype: 'FP64' },
  hdlCholesterol: { name: 'hdl_cholesterol', datatype: 'FP64' },
  systolicBp: { name: 'systolic_bp', datatype: 'FP64' },
  onBpTreatment: { name: 'on_bp_treatment', datatype: 'BOOL' },
  smoker: { name: 'smoker', datatype: 'BOOL' },
  diabetic: { name: 'diabetic', datatype: 'BOOL' },
} as const satisfies Record<string, InputContract>;

/** Output names every risk model returns; see the table at the top of this file. */
export const RISK_OUTPUTS = {
  score: 'score',
  riskLevel: 'risk_level',
  factors: 'factors',
  factorNames: 'factor_names',
} as const;

/** The datatype of the numeric outputs (`score`, `factors`). */
export const RISK_NUMBER_DATATYPE = 'FP64' satisfies Datatype;

/** Parameter keys on the `factors` output (metadata and response). */
export const FACTOR_PARAMETERS = {
  /** Comma-separated factor names, in column order (metadata only). */
  names: 'factor_names',
  /** {@link FactorKind}. */
  kind: 'factor_kind',
} as const;

/** Whether factor values are points of a points score or contributions to a regression. */
export type FactorKind = 'points' | 'contribution';

/** A column of one input as a request tensor of shape `[N]`. */
export function columnInput(input: InputContract, values: readonly TensorElement[]): RequestInput {
  return { name: input.name, datatype: input.datatype, shape: [values.length], data: [...values] };
}

/** One named factor of one row. */
export interface FactorValue {
  name: string;
  value: number;
}

/** One patient's answer from a risk model. */
export interface RiskRow {
  score: number;
  riskLevel: RiskLevel;
  factors: FactorValue[];
}

/** A risk model's whole answer, one row per request row, in request order. */
export interface RiskBatch {
  factorKind: FactorKind;
  rows: RiskRow[];
}

/**
 * Reads the outputs every risk model returns (see the top of this file) into one object per row,
 * checking that their sizes agree. Throws {@link ProtocolError} on any deviation, so a client can
 * treat a malformed answer like an unavailable model.
 */
export function readRiskBatch(response: InferenceResponse): RiskBatch {
  const scores = numberOutput(response, RISK_OUTPUTS.score);
  const levels = stringOutput(response, RISK_OUTPUTS.riskLevel);
  const factors = matrixOutput(response, RISK_OUTPUTS.factors);
  const names = stringOutput(response, RISK_OUTPUTS.factorNames);
  const kind = findOutput(response, RISK_OUTPUTS.factors).parameters?.[FACTOR_PARAMETERS.kind];
  if (kind !== 'points' && kind !== 'contribution') throw new ProtocolError('factors output has no factor_kind');
  if (levels.length !== scores.length || factors.length !== scores.length) {
    throw new ProtocolError('score, risk_level and factors disagree on the batch size');
  }
  if (factors.some((values) => values.length !== names.length)) {
    throw new ProtocolError('factors and factor_names disagree on the number of factors');
  }
  const rows = scores.map((score, row): RiskRow => {
    const riskLevel = levels[row];
    if (!isRiskLevel(riskLevel)) throw new ProtocolError(`row ${row} has an unknown risk level`);
    const values = factors[row] as number[];
    return { score, riskLevel, factors: names.map((name, k) => ({ name, value: values[k] as number })) };
  });
  return { factorKind: kind, rows };
}
