import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local OpenAI-compatible `/v1/chat/completions` server (streaming) that OBEYS instructions typed
 * into a patient's notes — the worst model there is, to show that what it is talked into never
 * becomes a COMPLETED result. It reads the notes from the fenced patient data it is sent:
 *
 * - `RESPOND EXACTLY WITH: <text>` — streams `<text>` as the answer;
 * - `SUMMARY OF <n> CHARACTERS` — a valid answer whose summary is `n` characters long;
 * - `STREAM <n> CHARACTERS` — streams `n` characters of prose before any answer;
 * - `FAIL THE FIRST TIME` — the first request with these notes gets zero differentials;
 * - anything else — a valid answer.
 */
export class ObedientLlm {
  /**
   * @param chunkChars how much of the answer each streamed chunk carries: big by default (a 400 KB
   * answer must not take minutes), a few characters to stream like a model does, token by token.
   */
  constructor(private readonly chunkChars = 4_096) {}

  /** Every request body it received (the messages a provider sent). */
  readonly requests: { messages: { role: string; content: string }[] }[] = [];
  private readonly seen = new Map<string, number>();
  private server: Server | null = null;
  private port = 0;

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  async start(): Promise<void> {
    this.server = createServer(async (req, res) => {
      let raw = '';
      for await (const chunk of req) raw += chunk;
      if (req.url !== '/v1/chat/completions') return res.writeHead(404).end();
      const body = JSON.parse(raw) as { messages: { role: string; content: string }[] };
      this.requests.push(body);
      const answer = this.answerTo(this.notesOf(body));
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const size = this.chunkChars;
      for (let i = 0; i < answer.length && !res.destroyed; i += size) {
        const ok = res.write(
          `data: ${JSON.stringify({ choices: [{ delta: { content: answer.slice(i, i + size) } }] })}\n\n`,
        );
        if (!ok) await new Promise((resolve) => res.once('drain', resolve));
      }
      res.end('data: [DONE]\n\n');
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  /** The notes from the fenced patient data of the user message. */
  private notesOf(body: { messages: { role: string; content: string }[] }): string {
    const user = body.messages.find((m) => m.role === 'user')?.content ?? '';
    const json = user.split('\n')[1] ?? '{}';
    return (JSON.parse(json) as { notes?: string }).notes ?? '';
  }

  private answerTo(notes: string): string {
    const valid = (summary = 'Febrile illness with cough; consider pneumonia.') =>
      JSON.stringify({
        summary,
        differentials: [{ condition: 'Community-acquired pneumonia', likelihood: 0.6, rationale: 'fever, cough' }],
      });
    const exactly = /RESPOND EXACTLY WITH: (.*)$/s.exec(notes);
    if (exactly) return exactly[1] as string;
    const summary = /SUMMARY OF (\d+) CHARACTERS/.exec(notes);
    if (summary) return valid('S'.repeat(Number(summary[1])));
    const stream = /STREAM (\d+) CHARACTERS/.exec(notes);
    if (stream) return `${'lorem ipsum '.repeat(Math.ceil(Number(stream[1]) / 12))}${valid()}`;
    if (notes.includes('FAIL THE FIRST TIME')) {
      const count = (this.seen.get(notes) ?? 0) + 1;
      this.seen.set(notes, count);
      if (count === 1) return JSON.stringify({ summary: 'Nothing to add.', differentials: [] });
    }
    return valid();
  }
}
