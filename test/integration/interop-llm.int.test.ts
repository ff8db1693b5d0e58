import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiagnosisUpdatedDocument, RequestDiagnosisDocument } from '../../client/index.js';
import type { LlmStructuredOutputMode } from '../../src/config.js';
import { queryDatabase } from '../helpers/database.js';
import { execute } from '../helpers/graphql.js';
import { type FakeLlmBehaviour, FakeOpenAiServer } from '../helpers/openai-compatible.js';
import { createPatient } from '../helpers/patients.js';
import { startTestApi, type TestApi } from '../helpers/server.js';
import { startTestWorker, targetOf } from '../helpers/worker.js';
import { connectWs } from '../helpers/ws.js';

/**
 * A pod and a worker whose `openai` provider talks to OpenAI-compatible servers of each kind —
 * one with structured outputs, one that only takes a forced tool call, one with plain JSON mode
 * only (and usage chunks), one that breaks mid-stream — through the official `openai` client.
 * Valid answers follow the diagnosis to COMPLETED with the server's text; an invalid one, in any
 * shape, never completes (the contract): it fails its attempts and ends FAILED.
 */
const answer = {
  summary: 'Febrile illness with cough; consider pneumonia.',
  differentials: [{ condition: 'Community-acquired pneumonia', likelihood: 0.6, rationale: 'fever, cough' }],
};

let api: TestApi;
let token: string;
let patientId: string;
beforeAll(async () => {
  api = await startTestApi();
  token = await api.token('dr-interop-llm');
  patientId = await createPatient(api.url, token);
});
afterAll(() => api?.close());

/** Starts a server and a worker for it, requests a diagnosis and follows it to its end. */
async function diagnoseAgainst(behaviour: FakeLlmBehaviour, modes?: readonly LlmStructuredOutputMode[]) {
  const llm = new FakeOpenAiServer(behaviour);
  await llm.start();
  const worker = await startTestWorker(targetOf(api), {
    LLM_PROVIDER: 'openai',
    LLM_BASE_URL: llm.baseUrl,
    LLM_MODEL: 'fake-model',
    JOB_MAX_DELIVER: '2',
    ...(modes ? { LLM_STRUCTURED_OUTPUT: modes.join(',') } : {}),
  });
  const ws = connectWs(api.wsUrl, `Bearer ${token}`);
  try {
    const input = { symptoms: ['fever', 'cough'] };
    const { id } = (await execute(api.url, RequestDiagnosisDocument, { patientId, input }, { token })).expectData()
      .requestDiagnosis;
    const updates = ws.stream(DiagnosisUpdatedDocument, { id });
    await updates.done;
    expect(updates.results.flatMap((r) => r.errors ?? [])).toEqual([]);
    const final = updates.results.at(-1)?.data?.diagnosisUpdated;
    const statuses = async () =>
      (
        await queryDatabase<{ status: string }>(
          api.db.url,
          'select status from diagnosis_transition where diagnosis_id = $1 order by version',
          [id],
        )
      ).map((r) => r.status);
    await expect.poll(async () => (await statuses()).at(-1), { timeout: 10_000 }).toBe(final?.status);
    const [stored] = await queryDatabase<{ result: { differentials?: unknown[] } | null }>(
      api.db.url,
      'select result from diagnosis where id = $1',
      [id],
    );
    return { final, stored: stored?.result ?? null, statuses: await statuses(), requests: llm.requests };
  } finally {
    await ws.dispose();
    await worker.stop();
    await llm.stop();
  }
}

describe('the openai provider against OpenAI-compatible servers, to COMPLETED', () => {
  it('a server with structured outputs (json_schema)', async () => {
    const { final, stored, requests } = await diagnoseAgainst({
      supports: ['json_schema'],
      answer: JSON.stringify(answer),
    });
    expect(final?.status).toBe('COMPLETED');
    expect(final?.result).toMatchObject({ summary: answer.summary, provider: 'openai', generator: 'LANGUAGE_MODEL' });
    expect(stored?.differentials).toEqual([expect.objectContaining(answer.differentials[0])]);
    expect(requests.map((r) => r.shape)).toEqual(['json_schema']);
  }, 60_000);

  it('a server that only takes a forced tool call', async () => {
    const { final, requests } = await diagnoseAgainst({ supports: ['tool_call'], answer: JSON.stringify(answer) });
    expect(final?.status).toBe('COMPLETED');
    expect(final?.result?.summary).toBe(answer.summary);
    expect(requests.map((r) => r.shape)).toEqual(['json_schema', 'tool_call']);
  }, 60_000);

  it('a server with plain JSON mode only, sending usage chunks', async () => {
    const fenced = `\`\`\`json\n${JSON.stringify(answer)}\n\`\`\``;
    const { final, requests } = await diagnoseAgainst({ supports: ['json_object'], answer: fenced, usage: true });
    expect(final?.status).toBe('COMPLETED');
    expect(final?.result?.summary).toBe(answer.summary);
    expect(requests.map((r) => r.shape)).toEqual(['json_schema', 'tool_call', 'json_object']);
  }, 60_000);
});

describe('never COMPLETED without a valid result', () => {
  it.each([
    ['a tool call with no differential', ['tool_call'], { summary: 'Nothing to add.', differentials: [] }],
    ['structured output with markup', ['json_schema'], { ...answer, summary: '<b>All clear</b>' }],
  ] as const)(
    '%s ends FAILED after its attempts',
    async (_name, supports, invalid) => {
      const { final, statuses } = await diagnoseAgainst({ supports, answer: JSON.stringify(invalid) }, supports);
      expect(final?.status).toBe('FAILED');
      expect(final?.result ?? null).toBeNull();
      expect(statuses).not.toContain('COMPLETED');
      expect(final?.error).toMatch(/not a valid result/);
    },
    60_000,
  );

  it('an error event mid-stream fails each attempt and ends FAILED', async () => {
    const { final, statuses, requests } = await diagnoseAgainst(
      { supports: ['json_schema'], answer: JSON.stringify(answer), errorAfterChunks: 3 },
      ['json_schema'],
    );
    expect(final?.status).toBe('FAILED');
    expect(statuses).not.toContain('COMPLETED');
    expect(requests.length).toBe(2);
    expect(final?.error ?? '').not.toContain('upstream model crashed');
  }, 60_000);
});
