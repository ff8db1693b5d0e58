import { z } from 'zod';
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
}

/** The version of this adapter (its request and parsing), named in each result's Provenance. */
export const OPENAI_PROVIDER_VERSION = 'openai-chat-completions-1';

/** Roughly how many characters a full answer has; only for the progress estimate. */
const EXPECTED_CHARS = 1_200;

/**
 * The answer's shape, read leniently (a likelihood given as "0.4" is a number). Its bounds — at
 * least one differential, likelihoods 0–1, every text's length, plain text — are the result
 * schema's (src/modules/diagnosis/diagnosis.result.ts), checked for every provider before a
 * diagnosis may complete.
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

/**
 * Any OpenAI-compatible `/chat/completions` endpoint with streaming (OpenAI, vLLM, Ollama,
 * llama.cpp server, LiteLLM). Asks for a JSON object, streams the text as it arrives, then parses
 * the answer tolerantly (code fences, prose around the object) and validates its shape.
 */
export class OpenAiProvider implements DiagnosisProvider {
  readonly name = 'openai' as const;
  readonly version = OPENAI_PROVIDER_VERSION;
  readonly model: string;
  readonly promptVersion = PROMPT_VERSION;
  private readonly url: string;

  constructor(private readonly options: OpenAiProviderOptions) {
    this.model = options.model;
    this.url = `${options.baseUrl.replace(/\/+$/, '')}/chat/completions`;
  }

  async diagnose(prompt: DiagnosisPrompt, events: ProviderEvents, signal: AbortSignal): Promise<ProviderResult> {
    const idle = new AbortController();
    const combined = AbortSignal.any([signal, idle.signal]);
    const idleMs = this.options.idleTimeoutMs ?? 30_000;
    let idleTimer = setTimeout(() => idle.abort(new Error(`no data from the model for ${idleMs} ms`)), idleMs);
    const touch = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => idle.abort(new Error(`no data from the model for ${idleMs} ms`)), idleMs);
    };
    const fence = newFence();
    try {
      const response = await fetch(this.url, {
        method: 'POST',
        signal: combined,
        headers: {
          'content-type': 'application/json',
          accept: 'text/event-stream',
          ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
        },
        body: JSON.stringify({
          model: this.model,
          stream: true,
          temperature: 0.2,
          response_format: { type: 'json_object' },
          messages: [
            { role: 'system', content: systemMessage(fence) },
            { role: 'user', content: userMessage(prompt, fence) },
          ],
        }),
      });
      if (!response.ok || !response.body) {
        // The body may echo our request; keep only the status.
        await response.body?.cancel();
        throw new Error(`LLM endpoint answered ${response.status}`);
      }
      events.progress(0.05, 'model started');
      let text = '';
      let served: string | undefined;
      for await (const delta of streamDeltas(response.body, (model) => {
        served ??= model;
      })) {
        touch();
        text += delta;
        events.text(delta);
        events.progress(Math.min(0.95, 0.05 + (0.9 * text.length) / EXPECTED_CHARS), 'model writing');
      }
      return {
        ...parseAnswer(text),
        provider: this.name,
        model: this.model,
        ...(served && served !== this.model ? { modelVersion: served } : {}),
      };
    } finally {
      clearTimeout(idleTimer);
    }
  }
}

/**
 * The `content` deltas of an OpenAI streaming response (Server-Sent Events, `data: {...}` lines);
 * `onModel` hears the `model` each event says served it.
 */
export async function* streamDeltas(
  body: ReadableStream<Uint8Array>,
  onModel?: (model: string) => void,
): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let newline = buffer.indexOf('\n');
    while (newline >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      newline = buffer.indexOf('\n');
      if (!line.startsWith('data:')) continue;
      const data = line.slice(5).trim();
      if (data === '[DONE]') return;
      let event: {
        model?: unknown;
        choices?: { delta?: { content?: string | null } }[];
        error?: { message?: string };
      };
      try {
        event = JSON.parse(data);
      } catch {
        throw new ProviderOutputError('the model stream sent a line that is not JSON');
      }
      if (event.error) throw new Error('the model stream reported an error');
      if (typeof event.model === 'string' && event.model) onModel?.(event.model.slice(0, 200));
      const content = event.choices?.[0]?.delta?.content;
      if (content) yield content;
    }
  }
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
