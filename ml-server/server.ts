/**
 * The reference model server: Open Inference Protocol v2, JSON over HTTP, on `node:http` alone.
 * It serves the models of `./models/registry.ts`; message shapes and tensor names are documented
 * in `src/ml/oip.protocol.ts` and `src/ml/risk-model.contract.ts`. Request bodies are patient
 * data: they are never logged, and error messages name inputs and rows but never echo values.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { sendJson } from '../src/http/json.js';
import { createLogger, errorFields, type Logger } from '../src/lib/logger.js';
import {
  DATATYPES,
  type Datatype,
  type ErrorResponse,
  elementCount,
  flattenTensorData,
  type InferenceResponse,
  type ModelMetadata,
  ProtocolError,
  type ResponseOutput,
  type ServerMetadata,
  type TensorData,
  type TensorElement,
} from '../src/ml/oip.protocol.js';
import { FACTOR_PARAMETERS, RISK_NUMBER_DATATYPE, RISK_OUTPUTS } from '../src/ml/risk-model.contract.js';
import {
  type InputColumn,
  type InputSpec,
  inputMetadata,
  MODELS,
  ModelInputError,
  type OutputColumns,
  outputMetadata,
  type RegisteredModel,
} from './models/registry.js';

/** The HTTP statuses this server answers with. */
export const HttpStatus = {
  Ok: 200,
  BadRequest: 400,
  NotFound: 404,
  MethodNotAllowed: 405,
  PayloadTooLarge: 413,
  InternalServerError: 500,
  ServiceUnavailable: 503,
} as const;
type HttpStatusCode = (typeof HttpStatus)[keyof typeof HttpStatus];

/** The largest request body accepted, like the API's own limit (the contract's 1 MB). */
export const MAX_BODY_BYTES = 1024 * 1024;
/**
 * An oversized body is read to its end (and thrown away) before the 413 goes out, because a
 * client still sending when the socket closes sees a reset instead of our answer. Past this many
 * times the limit we stop being polite and drop the connection.
 */
const DRAIN_FACTOR = 8;

/** Reported by `GET /v2`. */
export const SERVER_METADATA: Readonly<ServerMetadata> = Object.freeze({
  name: 'clinical-copilot-reference-models',
  version: '1.0.0',
  extensions: [],
});

/** One call of a model, as reported to {@link ModelServerOptions.onInfer}. */
export interface InferEvent {
  model: string;
  version: string;
  /** Rows scored in this one call. */
  batchSize: number;
}

/** Options of {@link createModelServer}. */
export interface ModelServerOptions {
  /** The models to serve; the registry's by default. */
  models?: readonly RegisteredModel[];
  /** Silent by default. */
  logger?: Logger;
  /** Defaults to {@link MAX_BODY_BYTES}. */
  maxBodyBytes?: number;
  /**
   * Test hook: called once per successful model invocation, i.e. once per inference request
   * however many rows it carries. Tests count calls and sum `batchSize` to prove that a client
   * batches. Called synchronously before the response is sent.
   */
  onInfer?: (event: InferEvent) => void;
}

/** A running (or ready to run) model server. */
export interface ModelServer {
  readonly server: Server;
  /** Listens (port 0 picks a free port); resolves to the base URL, e.g. `http://localhost:8081/`. */
  listen(port: number, host?: string): Promise<URL>;
  /** Stops: readiness turns 503, no new connections, in-flight requests finish. */
  close(): Promise<void>;
}

/** An answer other than 200, with the message for `{"error": …}`. */
class HttpError extends Error {
  constructor(
    readonly status: HttpStatusCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

const badRequest = (message: string) => new HttpError(HttpStatus.BadRequest, message);
const notFound = (message: string) => new HttpError(HttpStatus.NotFound, message);

/** Client-chosen names go into error messages; keep them short and printable. */
const quote = (name: string) => JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);

const parametersSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));
const requestSchema = z.object({
  id: z.string().max(256).optional(),
  parameters: parametersSchema.optional(),
  inputs: z
    .array(
      z.object({
        name: z.string().min(1),
        shape: z.array(z.number().int().min(0)).min(1).max(8),
        datatype: z.enum(DATATYPES, { error: `datatype must be one of ${DATATYPES.join(', ')}` }),
        data: z.array(z.unknown()),
        parameters: parametersSchema.optional(),
      }),
    )
    .min(1, { error: 'at least one input is required' }),
  outputs: z.array(z.object({ name: z.string().min(1), parameters: parametersSchema.optional() })).optional(),
});
type ParsedRequest = z.infer<typeof requestSchema>;
type ParsedInput = ParsedRequest['inputs'][number];

type Route =
  | { kind: 'server-metadata' | 'live' | 'ready' }
  | { kind: 'model-metadata' | 'model-ready' | 'infer'; model: string; version: string | undefined };

/** Maps a path to a route; `undefined` for anything the protocol does not define. */
function route(path: string): Route | undefined {
  let segments: string[];
  try {
    segments = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return undefined;
  }
  const [root, section, ...rest] = segments;
  if (root !== 'v2') return undefined;
  if (section === undefined) return { kind: 'server-metadata' };
  if (section === 'health' && rest.length === 1) {
    if (rest[0] === 'live') return { kind: 'live' };
    if (rest[0] === 'ready') return { kind: 'ready' };
    return undefined;
  }
  if (section !== 'models') return undefined;
  const [model, ...tail] = rest;
  if (model === undefined) return undefined;
  let version: string | undefined;
  let action = tail;
  if (tail[0] === 'versions') {
    version = tail[1];
    if (version === undefined) return undefined;
    action = tail.slice(2);
  }
  if (action.length === 0) return { kind: 'model-metadata', model, version };
  if (action.length === 1 && action[0] === 'ready') return { kind: 'model-ready', model, version };
  if (action.length === 1 && action[0] === 'infer') return { kind: 'infer', model, version };
  return undefined;
}

/**
 * Builds the server. It does not listen until {@link ModelServer.listen}, so a caller (the
 * `start:ml` entry, a test, an in-process embedding) chooses the address and owns the lifecycle.
 */
export function createModelServer(options: ModelServerOptions = {}): ModelServer {
  const models = new Map((options.models ?? MODELS).map((m) => [m.name, m]));
  const logger = options.logger ?? createLogger({ level: 'silent' });
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  let accepting = true;

  const findModel = (name: string, version: string | undefined): RegisteredModel => {
    const model = models.get(name);
    if (!model) throw notFound(`unknown model ${quote(name)}`);
    if (version !== undefined && version !== model.version) {
      throw notFound(`model ${quote(name)} has no version ${quote(version)}`);
    }
    return model;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?', 1)[0] as string;
    const target = route(path);
    if (!target) throw notFound('not found');
    const method = target.kind === 'infer' ? 'POST' : 'GET';
    if (req.method !== method) {
      throw new HttpError(HttpStatus.MethodNotAllowed, `use ${method}`, { allow: method });
    }
    switch (target.kind) {
      case 'server-metadata':
        return sendJson(res, HttpStatus.Ok, SERVER_METADATA);
      case 'live':
        return sendJson(res, HttpStatus.Ok, { live: true });
      case 'ready':
        return sendJson(res, accepting ? HttpStatus.Ok : HttpStatus.ServiceUnavailable, { ready: accepting });
      case 'model-metadata':
        return sendJson(res, HttpStatus.Ok, modelMetadata(findModel(target.model, target.version)));
      case 'model-ready': {
        const model = findModel(target.model, target.version);
        const status = accepting ? HttpStatus.Ok : HttpStatus.ServiceUnavailable;
        return sendJson(res, status, { name: model.name, ready: accepting });
      }
      case 'infer': {
        const model = findModel(target.model, target.version);
        const body = await readJson(req, maxBodyBytes);
        return sendJson(res, HttpStatus.Ok, infer(model, body));
      }
    }
  };

  const infer = (model: RegisteredModel, body: unknown): InferenceResponse => {
    const request = parseRequest(body);
    const { columns, batchSize } = readInputs(model, request.inputs);
    const wanted = requestedOutputs(request.outputs);
    let columnsOut: OutputColumns;
    try {
      columnsOut = model.infer(columns, batchSize);
    } catch (error) {
      if (error instanceof ModelInputError) throw badRequest(error.message);
      throw error;
    }
    logger.debug({ model: model.name, version: model.version, batchSize }, 'inferred');
    options.onInfer?.({ model: model.name, version: model.version, batchSize });
    const k = model.factorNames.length;
    if (columnsOut.score.length !== batchSize || columnsOut.factors.length !== batchSize * k) {
      throw new Error(`model ${model.name} returned columns of the wrong length`);
    }
    const outputs: ResponseOutput[] = [
      { name: RISK_OUTPUTS.score, datatype: RISK_NUMBER_DATATYPE, shape: [batchSize], data: columnsOut.score },
      { name: RISK_OUTPUTS.riskLevel, datatype: 'BYTES', shape: [batchSize], data: columnsOut.riskLevel },
      {
        name: RISK_OUTPUTS.factors,
        datatype: RISK_NUMBER_DATATYPE,
        shape: [batchSize, k],
        data: columnsOut.factors,
        parameters: { [FACTOR_PARAMETERS.kind]: model.factorKind },
      },
      { name: RISK_OUTPUTS.factorNames, datatype: 'BYTES', shape: [k], data: [...model.factorNames] },
    ];
    return {
      model_name: model.name,
      model_version: model.version,
      ...(request.id !== undefined ? { id: request.id } : {}),
      outputs: wanted ? outputs.filter((o) => wanted.has(o.name)) : outputs,
    };
  };

  const server = createServer((req, res) => {
    const started = performance.now();
    handle(req, res)
      .catch((error: unknown) => {
        if (error instanceof HttpError) {
          sendJson(res, error.status, { error: error.message } satisfies ErrorResponse, error.headers);
          return;
        }
        // Only the message: a stack or a request body could carry patient data into the logs.
        logger.error(errorFields(error), 'model server request failed');
        if (!res.headersSent) {
          sendJson(res, HttpStatus.InternalServerError, { error: 'internal error' } satisfies ErrorResponse);
        }
      })
      .finally(() => {
        const path = (req.url ?? '/').split('?', 1)[0];
        logger.debug(
          { method: req.method, path, status: res.statusCode, ms: Math.round(performance.now() - started) },
          'request',
        );
      });
  });

  return {
    server,
    listen: (port, host = '127.0.0.1') =>
      new Promise<URL>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          accepting = true;
          const { port: bound } = server.address() as AddressInfo;
          const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
          resolve(new URL(`http://${shown}:${bound}/`));
        });
      }),
    close: async () => {
      accepting = false;
      if (!server.listening) return;
      const closed = new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
      // Idle keep-alive sockets would hold close() open; in-flight requests finish first.
      server.closeIdleConnections();
      await closed;
    },
  };
}

function modelMetadata(model: RegisteredModel): ModelMetadata {
  return {
    name: model.name,
    versions: [model.version],
    platform: model.platform,
    inputs: inputMetadata(model),
    outputs: outputMetadata(model),
    parameters: { description: model.description },
  };
}

function parseRequest(body: unknown): ParsedRequest {
  const parsed = requestSchema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? `${issue.path.map(String).join('.')}: ` : '';
  throw badRequest(`invalid inference request: ${where}${issue?.message ?? 'malformed'}`);
}

function requestedOutputs(outputs: ParsedRequest['outputs']): Set<string> | undefined {
  if (!outputs) return undefined;
  const known = new Set<string>(Object.values(RISK_OUTPUTS));
  for (const { name } of outputs) {
    if (!known.has(name)) throw badRequest(`unknown output ${quote(name)}`);
  }
  return new Set(outputs.map((o) => o.name));
}

/**
 * Checks every input against the model's declaration and turns it into a column: known and not
 * repeated, an accepted datatype, shape `[N]` or `[N, 1]` with as many elements as the shape
 * holds, elements of the datatype's kind, the same `N ≥ 1` everywhere, and none missing.
 */
function readInputs(
  model: RegisteredModel,
  inputs: readonly ParsedInput[],
): { columns: Map<string, InputColumn>; batchSize: number } {
  const specs = new Map(model.inputs.map((spec) => [spec.name, spec]));
  const unknown = inputs.filter((i) => !specs.has(i.name)).map((i) => quote(i.name));
  if (unknown.length > 0) throw badRequest(`unknown input(s) for model ${quote(model.name)}: ${unknown.join(', ')}`);
  const columns = new Map<string, InputColumn>();
  let batchSize: number | undefined;
  for (const input of inputs) {
    const spec = specs.get(input.name) as InputSpec;
    if (columns.has(input.name)) throw badRequest(`input ${quote(input.name)} is given twice`);
    const column = readColumn(spec, input);
    const rows = input.shape[0] ?? 0;
    if (batchSize !== undefined && rows !== batchSize) {
      throw badRequest(`inputs disagree on the batch size: ${quote(input.name)} has ${rows} rows, others ${batchSize}`);
    }
    batchSize = rows;
    columns.set(input.name, column);
  }
  const missing = model.inputs.filter((spec) => !columns.has(spec.name)).map((spec) => spec.name);
  if (missing.length > 0) throw badRequest(`missing required input(s): ${missing.join(', ')}`);
  if (!batchSize) throw badRequest('the batch must have at least one row');
  return { columns, batchSize };
}

function readColumn(spec: InputSpec, input: ParsedInput): InputColumn {
  const name = quote(input.name);
  if (!spec.accepts.includes(input.datatype)) {
    throw badRequest(`input ${name} must have datatype ${spec.accepts.join(' or ')}, not ${input.datatype}`);
  }
  const { shape } = input;
  if (!(shape.length === 1 || (shape.length === 2 && shape[1] === 1))) {
    throw badRequest(`input ${name} must have shape [N] or [N, 1], not [${shape.join(', ')}]`);
  }
  let flat: TensorElement[];
  try {
    flat = flattenTensorData(input.data as TensorData, shape.length);
  } catch (error) {
    if (error instanceof ProtocolError) throw badRequest(`input ${name}: ${error.message}`);
    throw error;
  }
  const expected = elementCount(shape);
  if (flat.length !== expected) {
    throw badRequest(`input ${name} has ${flat.length} elements but shape [${shape.join(', ')}] holds ${expected}`);
  }
  const wrong = (index: number) => badRequest(`input ${name} element ${index} is not a valid ${input.datatype} value`);
  switch (spec.kind) {
    case 'number': {
      const integer = isIntegerType(input.datatype);
      flat.forEach((v, i) => {
        if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) throw wrong(i);
      });
      return { kind: 'number', values: flat as number[] };
    }
    case 'boolean':
      flat.forEach((v, i) => {
        if (typeof v !== 'boolean') throw wrong(i);
      });
      return { kind: 'boolean', values: flat as boolean[] };
    case 'string':
      flat.forEach((v, i) => {
        if (typeof v !== 'string') throw wrong(i);
      });
      return { kind: 'string', values: flat as string[] };
  }
}

function isIntegerType(datatype: Datatype): boolean {
  return datatype.startsWith('INT') || datatype.startsWith('UINT');
}

/**
 * Reads and parses a JSON body of at most `limit` bytes. Over the limit, the rest is drained and
 * discarded before the 413 (see {@link DRAIN_FACTOR}).
 */
function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const declared = Number(req.headers['content-length']);
    let tooLarge = Number.isFinite(declared) && declared > limit;
    const tooLargeError = (close: boolean) =>
      new HttpError(
        HttpStatus.PayloadTooLarge,
        `request body exceeds ${limit} bytes`,
        close ? { connection: 'close' } : {},
      );
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      if (!tooLarge) {
        chunks.push(chunk);
        return;
      }
      chunks.length = 0;
      if (size > limit * DRAIN_FACTOR) {
        req.pause();
        reject(tooLargeError(true));
      }
    });
    req.on('end', () => {
      if (tooLarge) return reject(tooLargeError(false));
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(badRequest('request body is not valid JSON'));
      }
    });
    req.on('error', reject);
  });
}
