/**
 * The Open Inference Protocol v2 (KServe / Triton / MLServer "V2 inference protocol"), JSON over
 * HTTP: the message types, the paths, and helpers to read tensors — nothing about our models
 * (those are in `risk-model.contract.ts`). Shared by the reference server and the API's client.
 *
 * Specification: https://github.com/kserve/open-inference-protocol (REST API). This file has no
 * runtime dependencies so a client can import it without pulling in the server.
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

/** A message that does not follow the protocol (or a model's contract, see `risk-model.contract.ts`). */
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
