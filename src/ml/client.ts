import { Pool } from 'undici';
import {
  type InferenceRequest,
  type InferenceResponse,
  inferPath,
  isErrorResponse,
  type ModelMetadata,
  modelPath,
  SERVER_PATHS,
} from './oip.protocol.js';

/** The model server answered with an error status. 4xx means the request was bad, not the server. */
export class ModelServerError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ModelServerError';
  }

  /** A bad request is the caller's problem and must not trip the circuit breaker. */
  get isClientError(): boolean {
    return this.status >= 400 && this.status < 500;
  }
}

/** The model server could not be reached, or did not answer in time. */
export class ModelUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelUnreachableError';
  }
}

export interface ModelClientOptions {
  /** Base URL of any Open Inference Protocol v2 server (KServe, Triton, MLServer, ours). */
  baseUrl: string;
  /** Per-call deadline; the request is aborted when it passes. */
  timeoutMs: number;
  /** Keep-alive connections to the server. */
  connections?: number;
}

/**
 * A client for the Open Inference Protocol v2 over keep-alive HTTP (undici). Every call has a
 * deadline and can be cancelled by the caller's signal; it never retries (the circuit breaker
 * and the cache decide what a failure means).
 */
export class ModelClient {
  private readonly pool: Pool;
  private readonly timeoutMs: number;

  constructor({ baseUrl, timeoutMs, connections = 32 }: ModelClientOptions) {
    const url = new URL(baseUrl);
    this.basePath = url.pathname.replace(/\/$/, '');
    this.pool = new Pool(url.origin, {
      connections,
      keepAliveTimeout: 30_000,
      connectTimeout: timeoutMs,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    this.timeoutMs = timeoutMs;
  }

  private readonly basePath: string;

  /** `GET /v2/models/{name}`: the model's versions and tensors. */
  metadata(model: string, signal?: AbortSignal): Promise<ModelMetadata> {
    return this.request<ModelMetadata>('GET', modelPath(model), undefined, signal);
  }

  /** `POST /v2/models/{name}[/versions/{v}]/infer`. */
  infer(model: string, body: InferenceRequest, version?: string, signal?: AbortSignal): Promise<InferenceResponse> {
    return this.request<InferenceResponse>('POST', inferPath(model, version), body, signal);
  }

  /** `GET /v2/health/ready`: resolves when the server is ready. */
  async ready(signal?: AbortSignal): Promise<void> {
    await this.request<unknown>('GET', SERVER_PATHS.ready, undefined, signal, false);
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private async request<T>(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    signal: AbortSignal | undefined,
    parse = true,
  ): Promise<T> {
    const deadline = AbortSignal.timeout(this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
    let status: number;
    let text: string;
    try {
      const response = await this.pool.request({
        method,
        path: `${this.basePath}${path}`,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? null : JSON.stringify(body),
        signal: combined,
      });
      status = response.statusCode;
      text = await response.body.text();
    } catch (error) {
      const reason = deadline.aborted ? `no answer within ${this.timeoutMs} ms` : (error as Error).message;
      throw new ModelUnreachableError(`model server ${method} ${path}: ${reason}`);
    }
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      if (status >= 400) throw new ModelServerError(status, `model server answered ${status}`);
      throw new ModelServerError(502, 'model server answered with malformed JSON');
    }
    if (status >= 400) {
      throw new ModelServerError(status, isErrorResponse(json) ? json.error : `model server answered ${status}`);
    }
    return (parse ? json : undefined) as T;
  }
}
