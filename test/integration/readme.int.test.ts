/**
 * The README's walkthrough, run as it is written: its shell blocks are extracted from README.md
 * (so the README cannot drift from the code), only the API's address is pointed at a fresh
 * `npm start` on a free port, and the answers are checked step by step.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'graphql-ws';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { WALKTHROUGH_DOCUMENT } from '../../src/graphql/graphiql.js';
import { embeddedEnv, repoRoot, runTokenScript, startEmbedded } from '../helpers/embedded.js';
import { executeRaw } from '../helpers/graphql.js';

const README_API = 'API=http://localhost:4000/graphql';
const dataDir = mkdtempSync(join(tmpdir(), 'cc-readme-'));
const graphiqlDataDir = mkdtempSync(join(tmpdir(), 'cc-graphiql-'));
afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(graphiqlDataDir, { recursive: true, force: true });
});

/** The ```sh blocks of one `## ` section of the README, in order. */
function shellBlocks(markdown: string, heading: string): string[] {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README has no "## ${heading}" section`);
  const end = markdown.indexOf('\n## ', start + 1);
  const section = markdown.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '');
}

function bash(script: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', script], { cwd: repoRoot, env });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.once('exit', (code) => resolve({ code, out }));
  });
}

describe('README walkthrough', () => {
  it('works when pasted, against npm start', async () => {
    const blocks = shellBlocks(readFileSync(join(repoRoot, 'README.md'), 'utf8'), 'Walkthrough');
    expect(blocks.length).toBeGreaterThanOrEqual(7);
    const [setup, ...steps] = blocks;
    expect(setup?.split('\n')).toContain(README_API);

    const instance = await startEmbedded(dataDir);
    try {
      const script = [setup?.replace(README_API, `API=${instance.url}`), ...steps].join('\n');
      const { code, out } = await bash(script, embeddedEnv(dataDir));
      expect(code, out).toBe(0);
      const lines = out.split('\n');

      // Setup: a clinician's token minted by `npm run token`, accepted by the running instance.
      expect(lines[0]).toBe('{"data":{"me":{"id":"dr-ada","name":"Dr Ada","roles":["clinician"]}}}');
      // 1. The patient's id, 4. the diagnosis's id: both printed alone on a line.
      const ids = lines.filter((l) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(l));
      expect(ids).toHaveLength(2);
      // 2. Observations recorded; 3. a NEWS2 assessment computed now.
      expect(out).toMatch(/\{"data":\{"recordObservations":\{"latestObservations":\{"recordedAt":"[^"]+"\}\}\}\}/);
      expect(out).toContain('{"data":{"assessment":{"model":"news2","score":');
      expect(out).toContain('"riskLevel":"HIGH","source":"LIVE"');
      // 5. SSE: events, the terminal state, and the stream's end; then the WebSocket's last event.
      expect(out).toMatch(/^event: next\ndata: \{"data":\{"diagnosisUpdated":\{"status":"COMPLETED"/m);
      expect(out).toContain('event: complete');
      expect(out).toMatch(
        /^\{"data":\{"diagnosisUpdated":\{"status":"COMPLETED","version":\d+,"result":\{"summary":"Rules engine, not a language model/m,
      );
      // 6. Hidden from a second clinician, exactly like a missing patient; visible once added.
      expect(out).toContain('"extensions":{"code":"NOT_FOUND"}}],"data":{"patient":null}}');
      expect(out).toContain('{"data":{"addCareTeamMember":{"careTeam":[{"id":"dr-ada"},{"id":"dr-grace"}]}}}');
      expect(lines).toContain('{"data":{"patient":{"givenName":"Grace"}}}');
    } finally {
      expect(await instance.stop()).toBe(0);
    }
  }, 240_000);

  it("GraphiQL's first document is the same walkthrough, and runs operation by operation", async () => {
    const instance = await startEmbedded(graphiqlDataDir);
    const mint = (sub: string) => {
      const minted = runTokenScript(['--sub', sub], embeddedEnv(graphiqlDataDir));
      expect(minted.status, minted.stderr).toBe(0);
      return minted.stdout.trim();
    };
    const [ada, grace] = [mint('dr-ada'), mint('dr-grace')];
    const run = async (operationName: string, token: string, variables: Record<string, string> = {}) =>
      executeRaw<Record<string, unknown>>(
        instance.url,
        { query: WALKTHROUGH_DOCUMENT, operationName, variables },
        { token },
      );
    const client = createClient({
      url: instance.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${ada}` },
    });
    try {
      const created = (await run('CreatePatient', ada)).expectData() as { createPatient: { id: string } };
      const patientId = created.createPatient.id;
      (await run('RecordObservations', ada, { patientId })).expectData();
      expect((await run('Assessment', ada, { patientId })).expectData()).toMatchObject({
        assessment: { model: 'news2', riskLevel: 'HIGH', source: 'LIVE' },
      });
      const requested = (await run('RequestDiagnosis', ada, { patientId })).expectData() as {
        requestDiagnosis: { id: string; status: string };
      };
      expect(requested.requestDiagnosis.status).toBe('QUEUED');

      const statuses: string[] = [];
      const events = client.iterate<{ diagnosisUpdated: { status: string } }>({
        query: WALKTHROUGH_DOCUMENT,
        operationName: 'DiagnosisUpdated',
        variables: { diagnosisId: requested.requestDiagnosis.id },
      });
      for await (const event of events) statuses.push(event.data?.diagnosisUpdated.status ?? 'error');
      expect(statuses.at(-1)).toBe('COMPLETED');

      // The care-team rule: hidden from dr-grace like a missing patient, until dr-ada adds her.
      const hidden = await run('Patient', grace, { patientId });
      expect(hidden.data).toEqual({ patient: null });
      expect(hidden.codes).toEqual(['NOT_FOUND']);
      (await run('AddCareTeamMember', ada, { patientId })).expectData();
      expect((await run('Patient', grace, { patientId })).expectData()).toEqual({
        patient: { givenName: 'Grace', familyName: 'Hopper' },
      });
    } finally {
      await client.dispose();
      expect(await instance.stop()).toBe(0);
    }
  }, 240_000);
});
