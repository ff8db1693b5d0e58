import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How a server can be asked for structure: the three shapes the `openai` provider knows. */
export type AnswerShape = 'json_schema' | 'tool_call' | 'json_object';

/** What one fake server does. */
export interface FakeLlmBehaviour {
  /**
   * The shapes it takes. A request asking another way (a `response_format` type or `tools` it
   * lacks) is answered 400 before any data, as vLLM, llama.cpp or an older Ollama answer it.
   */
  supports: readonly AnswerShape[];
  /** The answer's text: streamed as content, or as a tool call's arguments for `tool_call`. */
  answer: string;
  /** Characters per streamed chunk. */
  chunkSize?: number;
  /** Send a usage chunk (`choices: []`, token counts) before `[DONE]`, as OpenAI and vLLM do. */
  usage?: boolean;
  /** After this many chunks, an error event (`data: {"error": …}`) instead of the rest. */
  errorAfterChunks?: number;
  /** `model` in each chunk: the snapshot it says served the request. */
  servedModel?: string;
  /** Answer every request with this HTTP error status instead (a server failing, not refusing). */
  status?: number;
}

/** One request the server received. */
export interface FakeLlmRequest {
  headers: IncomingHttpHeaders;
  body: {
    model?: string;
    stream?: boolean;
    messages?: { role: string; content: string }[];
    response_format?: { type: string; json_schema?: { name: string; strict?: boolean; schema: unknown } };
    tools?: { type: string; function: { name: string; parameters: unknown; strict?: boolean } }[];
    tool_choice?: unknown;
  };
  /** The shape this request asked for, as the server read it. */
  shape: AnswerShape | 'none';
}

/**
 * A local OpenAI-compatible `/v1/chat/completions` server that streams Server-Sent Events the way
 * the OpenAI API documents them — content deltas, or `tool_calls` deltas for a forced function
 * call, an optional usage chunk, `[DONE]` — and refuses the structured-output shapes it is told
 * it lacks. Each test file starts its own on port 0.
 */
export class FakeOpenAiServer {
  readonly requests: FakeLlmRequest[] = [];
  behaviour: FakeLlmBehaviour;
  private server: Server | null = null;
  private port = 0;

  constructor(behaviour: FakeLlmBehaviour) {
    this.behaviour = behaviour;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  async start(): Promise<void> {
    const server = createServer(async (req, res) => {
      let raw = '';
      for await (const chunk of req) raw += chunk;
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') return res.writeHead(404).end();
      const body = JSON.parse(raw) as FakeLlmRequest['body'];
      const shape = shapeOf(body);
      this.requests.push({ headers: req.headers, body, shape });
      const { behaviour } = this;
      if (behaviour.status) {
        return res
          .writeHead(behaviour.status, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: { message: 'the model server is overloaded', type: 'server_error' } }));
      }
      if (shape !== 'none' && !behaviour.supports.includes(shape)) {
        return res
          .writeHead(400, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: { message: `${shape} is not supported`, type: 'invalid_request_error' } }));
      }
      await stream(res, shape, behaviour);
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

function shapeOf(body: FakeLlmRequest['body']): AnswerShape | 'none' {
  if (body.tools?.length) return 'tool_call';
  if (body.response_format?.type === 'json_schema') return 'json_schema';
  if (body.response_format?.type === 'json_object') return 'json_object';
  return 'none';
}

async function stream(res: ServerResponse, shape: AnswerShape | 'none', behaviour: FakeLlmBehaviour): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const base = { id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1_780_000_000 };
  const model = behaviour.servedModel ?? 'fake-model';
  const send = (data: unknown) => res.write(`data: ${JSON.stringify(data)}\n\n`);
  const size = behaviour.chunkSize ?? 16;
  const pieces = behaviour.answer.match(new RegExp(`[\\s\\S]{1,${size}}`, 'g')) ?? [];
  const tool = shape === 'tool_call';
  // The first chunk names the role (and, for a tool call, the call's id and function name).
  send({
    ...base,
    model,
    choices: [
      {
        index: 0,
        delta: tool
          ? {
              role: 'assistant',
              content: null,
              tool_calls: [
                { index: 0, id: 'call_1', type: 'function', function: { name: 'diagnosis_result', arguments: '' } },
              ],
            }
          : { role: 'assistant', content: '' },
        finish_reason: null,
      },
    ],
  });
  for (const [i, piece] of pieces.entries()) {
    if (behaviour.errorAfterChunks !== undefined && i >= behaviour.errorAfterChunks) {
      send({ error: { message: 'upstream model crashed', type: 'server_error' } });
      res.end();
      return;
    }
    const delta = tool ? { tool_calls: [{ index: 0, function: { arguments: piece } }] } : { content: piece };
    send({ ...base, model, choices: [{ index: 0, delta, finish_reason: null }] });
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  send({ ...base, model, choices: [{ index: 0, delta: {}, finish_reason: tool ? 'tool_calls' : 'stop' }] });
  if (behaviour.usage) {
    send({ ...base, model, choices: [], usage: { prompt_tokens: 321, completion_tokens: 87, total_tokens: 408 } });
  }
  res.end('data: [DONE]\n\n');
}
