/**
 * The Open Inference Protocol v2 (KServe / Triton / MLServer "V2 inference protocol"), JSON over
 * HTTP, as this project speaks it: the message types, the names of our two reference models and
 * their tensors, and small helpers shared by the reference server and any client.
 *
 * Specification: https://github.com/kserve/open-inference-protocol (REST API). This file has no
 * runtime dependencies so a client can import it without pulling in the server.
 *
 * ## How a risk model answers
 *
 * Both models take one row per patient. Every input tensor has shape `[N]` or `[N, 1]`, where `N`
 * is the batch size, the same for every input; `data` is flat row-major or nested to the shape.
 * Every response carries these outputs ({@link RISK_OUTPUTS}):
 *
 * | output         | datatype | shape    | meaning                                                    |
 * | -------------- | -------- | -------- | ---------------------------------------------------------- |
 * | `score`        | `FP32`   | `[N]`    | NEWS2: the aggregate score; Framingham: 10-year risk 0–1    |
 * | `risk_level`   | `BYTES`  | `[N]`    | `LOW`, `LOW_MEDIUM`, `MEDIUM` or `HIGH`                      |
 * | `factors`      | `FP32`   | `[N, K]` | per-factor points or contributions, row-major               |
 * | `factor_names` | `BYTES`  | `[K]`    | the name of each of the `K` columns of `factors`            |
 *
 * A factor's name is the name of the input it comes from (`respiratory_rate`, `age`, …). The
 * `factors` output carries `parameters.factor_kind`: `points` (NEWS2: integer points 0–3) or
 * `contribution` (Framingham: the β·x term of the Cox model). The model metadata announces the
 * same names before any request, in `parameters.factor_names` (comma-separated, since protocol
 * parameters are scalars) and `parameters.factor_kind` of its `factors` output.
 */

/** Tensor element types defined by the protocol. */
export const DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as const;

/** One tensor element type, e.g. `FP32`; case-sensitive like every protocol string. */
export type Datatype = (typeof DATATYPES)[number];

/** Whether `value` names a protocol datatype. */
export function isDatatype(value: unknown): value is Datatype {
  return typeof value === 'string' && (DATATYPES as readonly string[]).includes(value);
}

/** Free-form request, response and metadata parameters; values are scalars by specification. */
export type Parameters = Record<string, string | number | boolean>;

/** One element of tensor data: a number, a boolean (`BOOL`) or a string (`BYTES`). */
export type TensorElement = number | boolean | string;

/** Tensor contents in row-major order, either flat or nested to match the tensor's shape. */
export type TensorData = ReadonlyArray<TensorElement | TensorData>;

/** `GET /v2`: who the server is. */
export interface ServerMetadata {
  name: string;
  version: string;
  /** Protocol extensions the server supports; none here. */
  extensions: string[];
}

/** A tensor's declaration in model metadata. `-1` in `shape` is a variable dimension. */
export interface TensorMetadata {
  name: string;
  datatype: Datatype;
  shape: number[];
  /** An addition MLServer also makes: units, ranges and factor names for a client to discover. */
  parameters?: Parameters;
}

/** `GET /v2/models/{name}[/versions/{version}]`: what a model takes and returns. */
export interface ModelMetadata {
  name: string;
  versions?: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
  parameters?: Parameters;
}

/** One input tensor of an inference request. */
export interface RequestInput {
  name: string;
  shape: number[];
  datatype: Datatype;
  data: TensorData;
  parameters?: Parameters;
}

/** An output the client asks for; without `outputs` in the request, every output is returned. */
export interface RequestOutput {
  name: string;
  parameters?: Parameters;
}

/** `POST /v2/models/{name}[/versions/{version}]/infer` body. */
export interface InferenceRequest {
  /** Echoed in the response, to match answers with requests. */
  id?: string;
  parameters?: Parameters;
  inputs: RequestInput[];
  outputs?: RequestOutput[];
}

/** One output tensor of an inference response; `data` is always flat, row-major. */
export interface ResponseOutput {
  name: string;
  shape: number[];
  datatype: Datatype;
  data: TensorElement[];
  parameters?: Parameters;
}

/** The answer to an {@link InferenceRequest}. */
export interface InferenceResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Parameters;
  outputs: ResponseOutput[];
}

/** Every non-2xx answer of the server: 400 bad request, 404 unknown model, 413 body too large. */
export interface ErrorResponse {
  error: string;
}

/** Whether a parsed body is an {@link ErrorResponse}. */
export function isErrorResponse(body: unknown): body is ErrorResponse {
  return typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string';
}

/** Path of a model's metadata, optionally of one version. Names and versions are URL-encoded. */
export function modelPath(model: string, version?: string): string {
  const base = `/v2/models/${encodeURIComponent(model)}`;
  return version === undefined ? base : `${base}/versions/${encodeURIComponent(version)}`;
}

/** Path to `POST` an {@link InferenceRequest} to. */
export function inferPath(model: string, version?: string): string {
  return `${modelPath(model, version)}/infer`;
}

/** Path answering 200 when the model is ready for inference. */
export function modelReadyPath(model: string, version?: string): string {
  return `${modelPath(model, version)}/ready`;
}

/** The protocol's server health and metadata paths. */
export const SERVER_PATHS = {
  metadata: '/v2',
  live: '/v2/health/live',
  ready: '/v2/health/ready',
} as const;

// ---------------------------------------------------------------------------------------------
// Our reference models
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Reading tensors
// ---------------------------------------------------------------------------------------------

/** A message that does not follow the protocol or this file's contract. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** Number of elements a tensor of `shape` holds. */
export function elementCount(shape: readonly number[]): number {
  return shape.reduce((count, dim) => count * dim, 1);
}

/**
 * Flattens nested tensor data into row-major order. Nesting deeper than `maxDepth` levels is a
 * {@link ProtocolError}: data may be nested to its shape's rank, not beyond.
 */
export function flattenTensorData(data: TensorData, maxDepth: number): TensorElement[] {
  const flat: TensorElement[] = [];
  const walk = (items: TensorData, depth: number) => {
    for (const item of items) {
      if (Array.isArray(item)) {
        if (depth >= maxDepth) throw new ProtocolError('tensor data is nested deeper than its shape');
        walk(item, depth + 1);
      } else {
        flat.push(item as TensorElement);
      }
    }
  };
  walk(data, 1);
  return flat;
}

/** The named output of a response; a {@link ProtocolError} when it is missing. */
export function findOutput(response: InferenceResponse, name: string): ResponseOutput {
  const output = response.outputs.find((o) => o.name === name);
  if (!output) throw new ProtocolError(`response has no output "${name}"`);
  if (output.data.length !== elementCount(output.shape)) {
    throw new ProtocolError(`output "${name}" has ${output.data.length} elements for shape [${output.shape}]`);
  }
  return output;
}

/** The named output's elements as numbers (any numeric datatype). */
export function numberOutput(response: InferenceResponse, name: string): number[] {
  const output = findOutput(response, name);
  if (output.datatype === 'BOOL' || output.datatype === 'BYTES') {
    throw new ProtocolError(`output "${name}" is ${output.datatype}, not numeric`);
  }
  return output.data.map((value) => {
    if (typeof value !== 'number') throw new ProtocolError(`output "${name}" holds a non-number`);
    return value;
  });
}

/** The named `BYTES` output's elements as strings. */
export function stringOutput(response: InferenceResponse, name: string): string[] {
  const output = findOutput(response, name);
  if (output.datatype !== 'BYTES') throw new ProtocolError(`output "${name}" is ${output.datatype}, not BYTES`);
  return output.data.map((value) => {
    if (typeof value !== 'string') throw new ProtocolError(`output "${name}" holds a non-string`);
    return value;
  });
}

/** The named numeric output of shape `[N, K]` as `N` rows of `K` numbers. */
export function matrixOutput(response: InferenceResponse, name: string): number[][] {
  const values = numberOutput(response, name);
  const shape = findOutput(response, name).shape;
  const [rows, columns] = shape;
  if (shape.length !== 2 || rows === undefined || columns === undefined) {
    throw new ProtocolError(`output "${name}" has shape [${shape}], not [N, K]`);
  }
  return Array.from({ length: rows }, (_, row) => values.slice(row * columns, (row + 1) * columns));
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
