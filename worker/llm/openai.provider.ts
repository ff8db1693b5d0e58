import OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionCreateParamsStreaming } from 'openai/resources/chat/completions';
import { z } from 'zod';
import { LLM_STRUCTURED_OUTPUT_MODES, type LlmStructuredOutputMode } from '../../src/config.js';
import { diagnosisResultSchema } from '../../src/modules/diagnosis/diagnosis.result.js';
import { newFence, PROMPT_VERSION, systemMessage, userMessage } from './clinical-prompt.js';
import {
  type DiagnosisPrompt,
  type DiagnosisProvider,
  type ProviderEvents,
  ProviderOutputError,
  type ProviderResult,
} from './provider.js';

export interface OpenAiProviderOptions {
  /** e.g. `https://api.openai.com/v1`, `http://localhost:11434/v1` (Ollama), a vLLM or LiteLLM URL. */
  baseUrl: string;
  model: string;
  apiKey?: string | undefined;
  /** Longest silence between streamed chunks before the call counts as failed. */
  idleTimeoutMs?: number;
  /** The ways to ask for structured output, in the order to try (`LLM_STRUCTURED_OUTPUT`). */
  structuredOutput?: readonly LlmStructuredOutputMode[];
}

/** The version of this adapter (its request and parsing), named in each result's Provenance. */
export const OPENAI_PROVIDER_VERSION = 'openai-chat-completions-2';

/** The name of the answer's schema (`json_schema`) and of the function a `tool_call` forces. */
export const ANSWER_NAME = 'diagnosis_result';

/** Roughly how many characters a full answer has; only for the progress estimate. */
const EXPECTED_CHARS = 1_200;

/**
 * The answer's JSON Schema, derived from the result schema (src/modules/diagnosis/diagnosis.result.ts)
 * so the model is asked for exactly what a diagnosis may complete with. Shaped for OpenAI's strict
 * structured outputs: every object closed (`additionalProperties: false`, every property
 * required, absent values `null`) and without the string-length keywords strict mode refuses —
 * the result schema still checks every length before a diagnosis completes.
 */
export const ANSWER_JSON_SCHEMA: Record<string, unknown> = strictForOpenAi(
  z.toJSONSchema(diagnosisResultSchema.pick({ summary: true, differentials: true }), { io: 'input' }),
);

function strictForOpenAi(node: unknown): Record<string, unknown> {
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (!value || typeof value !== 'object') return value;
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) {
      if (key === '$schema' || key === 'minLength' || key === 'maxLength') continue;
      out[key] = walk(child);
    }
    if (out.type === 'object') out.additionalProperties = false;
    return out;
  };
  return walk(node) as Record<string, unknown>;
}

/**
 * The answer's shape, read leniently (a likelihood given as "0.4" is a number). Its bounds — at
 * least one differential, likelihoods 0–1, every text's length, plain text — are the result
 * schema's, checked for every provider before a diagnosis may complete.
 */
const answerSchema = z.object({
  summary: z.string(),
  differentials: z.array(
    z.object({
      condition: z.string(),
      likelihood: z.coerce.number().nullish(),
      rationale: z.string().nullish(),
    }),
  ),
});

/** The request fields that ask for the answer's shape in one {@link LlmStructuredOutputMode}. */
function structuredOutputFields(
  mode: LlmStructuredOutputMode,
): Pick<ChatCompletionCreateParamsStreaming, 'response_format' | 'tools' | 'tool_choice'> {
  switch (mode) {
    case 'json_schema':
      return {
        response_format: {
          type: 'json_schema',
          json_schema: { name: ANSWER_NAME, strict: true, schema: ANSWER_JSON_SCHEMA },
        },
      };
    case 'tool_call':
      return {
        tools: [
          {
            type: 'function',
            function: {
              name: ANSWER_NAME,
              description: 'Report the differential diagnosis.',
              parameters: ANSWER_JSON_SCHEMA,
              strict: true,
            },
          },
        ],
        tool_choice: { type: 'function', function: { name: ANSWER_NAME } },
      };
    case 'json_object':
      return { response_format: { type: 'json_object' } };
  }
}

/**
 * Whether an error of the request itself (before any answer streamed) says the server does not
 * take this way of asking for structure — the cue to try the next configured way. Other failures
 * (authentication, rate limits, the server down) fail the attempt like any other.
 */
function refusesTheRequest(error: unknown): boolean {
  return error instanceof OpenAI.APIError && (error.status === 400 || error.status === 422);
}

/**
 * Any OpenAI-compatible `/chat/completions` endpoint with streaming (OpenAI, vLLM, Ollama,
 * llama.cpp server, LiteLLM), through the official `openai` client. Asks for the answer's JSON
 * Schema as structured output — `json_schema`, else a forced `tool_call`, else `json_object` JSON
 * mode, as configured — streams the text as it arrives, then parses the answer tolerantly (code
 * fences, prose around the object) and validates its shape.
 */
export class OpenAiProvider implements DiagnosisProvider {
  readonly name = 'openai' as const;
  readonly version = OPENAI_PROVIDER_VERSION;
  readonly model: string;
  readonly promptVersion = PROMPT_VERSION;
  private readonly client: OpenAI;
  private readonly modes: readonly LlmStructuredOutputMode[];
  /** The first way this server took; later calls start there instead of being refused again. */
  private accepted: LlmStructuredOutputMode | undefined;

  constructor(private readonly options: OpenAiProviderOptions) {
    this.model = options.model;
    this.modes = options.structuredOutput?.length ? options.structuredOutput : LLM_STRUCTURED_OUTPUT_MODES;
    this.client = new OpenAI({
      baseURL: options.baseUrl,
      // Local servers take no key: the client insists on one, so it gets a placeholder and the
      // header is dropped. Every setting is passed, so the client reads none from the environment.
      apiKey: options.apiKey ?? 'none',
      organization: null,
      project: null,
      ...(options.apiKey ? {} : { defaultHeaders: { authorization: null } }),
      // The job is the unit of retry (bounded attempts, backoff); the client must not add its own.
      maxRetries: 0,
      logLevel: 'off',
    });
  }

  async diagnose(prompt: DiagnosisPrompt, events: ProviderEvents, signal: AbortSignal): Promise<ProviderResult> {
    const modes = this.accepted ? [this.accepted, ...this.modes.filter((m) => m !== this.accepted)] : this.modes;
    for (const [i, mode] of modes.entries()) {
      const last = i === modes.length - 1;
      const stream = await this.request(mode, prompt, signal).catch((error: unknown) => {
        if (!last && refusesTheRequest(error)) return undefined;
        throw endpointError(error);
      });
      if (!stream) continue;
      this.accepted = mode;
      return this.read(stream, events);
    }
    throw new Error('no structured output mode configured');
  }

  private request(mode: LlmStructuredOutputMode, prompt: DiagnosisPrompt, signal: AbortSignal) {
    const fence = newFence();
    return this.client.chat.completions.create(
      {
        model: this.model,
        stream: true,
        temperature: 0.2,
        messages: [
          { role: 'system', content: systemMessage(fence) },
          { role: 'user', content: userMessage(prompt, fence) },
        ],
        ...structuredOutputFields(mode),
      },
      { signal },
    );
  }

  /** Reads the stream: content deltas, or a tool call's argument deltas, and the serving model. */
  private async read(
    stream: AsyncIterable<ChatCompletionChunk> & { controller: AbortController },
    events: ProviderEvents,
  ) {
    const idleMs = this.options.idleTimeoutMs ?? 30_000;
    let idleTimer: NodeJS.Timeout | undefined;
    const touch = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(
        () => stream.controller.abort(new Error(`no data from the model for ${idleMs} ms`)),
        idleMs,
      );
    };
    touch();
    events.progress(0.05, 'model started');
    let content = '';
    let toolArguments = '';
    let served: string | undefined;
    try {
      for await (const chunk of stream) {
        touch();
        if (chunk.model) served ??= chunk.model.slice(0, 200);
        // A usage chunk (choices: []) carries token counts only.
        const choice = chunk.choices[0];
        if (!choice) continue;
        const delta = choice.delta ?? {};
        if (delta.refusal) throw new ProviderOutputError('the model refused to answer');
        const piece = (delta.content ?? '') + (delta.tool_calls ?? []).map((c) => c.function?.arguments ?? '').join('');
        if (delta.content) content += delta.content;
        for (const call of delta.tool_calls ?? []) toolArguments += call.function?.arguments ?? '';
        if (piece) {
          events.text(piece);
          const length = content.length + toolArguments.length;
          events.progress(Math.min(0.95, 0.05 + (0.9 * length) / EXPECTED_CHARS), 'model writing');
        }
        if (choice.finish_reason === 'length') throw new ProviderOutputError('the model ran out of output tokens');
        if (choice.finish_reason === 'content_filter') throw new ProviderOutputError('the model answer was filtered');
      }
    } catch (error) {
      if (error instanceof ProviderOutputError) throw error;
      // An error event mid-stream: its message may quote the request, so only the fact is kept.
      if (error instanceof OpenAI.APIError) throw new Error('the model stream reported an error');
      throw error;
    } finally {
      clearTimeout(idleTimer);
    }
    return {
      ...parseAnswer(toolArguments || content),
      provider: this.name,
      model: this.model,
      ...(served && served !== this.model ? { modelVersion: served } : {}),
    };
  }
}

/** A failed request as a message without the server's text (it may echo the request). */
function endpointError(error: unknown): unknown {
  if (error instanceof OpenAI.APIError && error.status !== undefined) {
    return new Error(`LLM endpoint answered ${error.status}`);
  }
  if (error instanceof OpenAI.APIConnectionError) return new Error('LLM endpoint unreachable');
  return error;
}

/** Finds the JSON object in a model's text (fences and prose tolerated) and reads its shape. */
export function parseAnswer(text: string): Pick<ProviderResult, 'summary' | 'differentials'> {
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  if (start < 0 || end <= start) throw new ProviderOutputError('the model gave no JSON object');
  let json: unknown;
  try {
    json = JSON.parse(text.slice(start, end + 1));
  } catch {
    throw new ProviderOutputError('the model gave malformed JSON');
  }
  const parsed = answerSchema.safeParse(json);
  if (!parsed.success) throw new ProviderOutputError('the model answer lacks a summary or valid differentials');
  return {
    summary: parsed.data.summary.trim(),
    differentials: parsed.data.differentials.map((d) => ({
      condition: d.condition.trim(),
      likelihood: d.likelihood ?? null,
      rationale: d.rationale?.trim() || null,
    })),
  };
}
