import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeWithApollo, composeWithGuild, wardsSubgraph } from '../helpers/composition.js';
import { TEST_GATEWAY_HMAC_SECRET } from '../helpers/env.js';
import { startTestApi, type TestApi } from '../helpers/server.js';

/**
 * `rover subgraph introspect` against `/subgraph`, and the signed alternative docs/federation.md
 * gives for production. Rover sends this exact operation (its introspect_query.graphql) and no
 * `extensions`, so it cannot carry the gateway's signature: with GATEWAY_HMAC_SECRET set it is
 * refused, by design. The documented snippet signs the same question with openssl — an HMAC made
 * outside our code, checked by the API — and its answer composes with a foreign subgraph.
 */
const ROVER_QUERY =
  'query SubgraphIntrospectQuery {\n    # eslint-disable-next-line\n    _service {\n        sdl\n    }\n}';
const roverBody = { query: ROVER_QUERY, variables: {}, operationName: 'SubgraphIntrospectQuery' };
const committed = readFileSync(new URL('../../schema/subgraph.graphql', import.meta.url), 'utf8');

/** The shell block after `<!-- signed-introspection -->` in docs/federation.md. */
function documentedSnippet(): string {
  const doc = readFileSync(new URL('../../docs/federation.md', import.meta.url), 'utf8');
  const block = /<!-- signed-introspection -->\s*```sh\n([\s\S]*?)```/.exec(doc)?.[1];
  if (!block) throw new Error('docs/federation.md has no signed-introspection block');
  return block;
}

/**
 * Runs the snippet in bash with only these variables, asynchronously: the API answering it runs
 * in this process. Resolves with the exit code and stderr.
 */
function runSnippet(cwd: string, env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['--norc', '--noprofile', '-euo', 'pipefail', '-c', documentedSnippet()], {
      cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 30_000,
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stderr }));
  });
}

async function post(url: URL, body: unknown, token: string) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { data?: { _service?: { sdl: string } } } };
}

describe('rover-style introspection of /subgraph', () => {
  let signedApi: TestApi;
  let devApi: TestApi;
  let work: string;
  beforeAll(async () => {
    [signedApi, devApi] = await Promise.all([
      startTestApi({ env: { NODE_ENV: 'production', GATEWAY_HMAC_SECRET: TEST_GATEWAY_HMAC_SECRET } }),
      startTestApi(),
    ]);
    work = mkdtempSync(join(tmpdir(), 'copilot-introspect-'));
  });
  afterAll(async () => {
    await Promise.all([signedApi?.close(), devApi?.close()]);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('answers rover’s own query with the committed SDL where no gateway secret is set', async () => {
    const res = await post(new URL('/subgraph', devApi.base), roverBody, await devApi.token('dr-rover'));
    expect(res.status).toBe(200);
    expect(`${res.body.data?._service?.sdl}\n`).toBe(committed);
  });

  it('refuses rover’s unsigned query with 403 where the gateway secret is set', async () => {
    const res = await post(new URL('/subgraph', signedApi.base), roverBody, await signedApi.token('dr-rover'));
    expect(res.status).toBe(403);
    expect(res.body.data ?? null).toBeNull();
  });

  it('serves the documented signed request (openssl HMAC, curl), whose SDL composes with a foreign subgraph', async () => {
    const run = await runSnippet(work, {
      SUBGRAPH_URL: new URL('/subgraph', signedApi.base).href,
      TOKEN: await signedApi.token('dr-rover'),
      GATEWAY_HMAC_SECRET: TEST_GATEWAY_HMAC_SECRET,
    });
    expect(run.code, run.stderr).toBe(0);
    const sdl = readFileSync(join(work, 'copilot.graphql'), 'utf8');
    expect(sdl).toBe(committed);
    const subgraphs = [{ name: 'copilot', url: 'http://copilot:4000/subgraph', sdl }, wardsSubgraph()];
    expect(composeWithApollo(subgraphs).errors).toEqual([]);
    expect(composeWithGuild(subgraphs).errors).toEqual([]);
  });

  it('refuses the snippet signed with another secret (the check can fail)', async () => {
    rmSync(join(work, 'copilot.graphql'), { force: true });
    const run = await runSnippet(work, {
      SUBGRAPH_URL: new URL('/subgraph', signedApi.base).href,
      TOKEN: await signedApi.token('dr-rover'),
      GATEWAY_HMAC_SECRET: 'not-the-secret',
    });
    expect(run.code).not.toBe(0);
    expect(readFileSync(join(work, 'copilot.graphql'), 'utf8')).toBe('');
  });
});
