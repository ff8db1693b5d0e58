/**
 * GraphiQL as a clinician sees it: served by the API, opened in headless Chromium (Debian's
 * `chromium`, driven by playwright-core), it runs a query over HTTP and shows a diagnosis
 * subscription update live over graphql-ws — with the token pre-filled as `npm start` does, and
 * with a token typed into the headers editor by hand. Leaves a screenshot in `test/artifacts/`.
 */
import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreatePatientDocument, RequestDiagnosisDocument } from '../../client/index.js';
import { type App, buildApp } from '../../src/app.js';
import { launchChromium, requireChromium } from '../helpers/browser.js';
import { execute } from '../helpers/graphql.js';
import { startTestApi, type TestApi } from '../helpers/server.js';
import { startTestWorker, type TestWorker, targetOf } from '../helpers/worker.js';

const ARTIFACTS = new URL('../artifacts/', import.meta.url);
/** Generous for a loaded two-core machine: GraphiQL's scripts are 9 MB. */
const UI_TIMEOUT_MS = 20_000;

let api: TestApi;
let graphiqlPod: App;
let graphiqlUrl: URL;
/** A pod serving GraphiQL with nothing pre-filled: the token is typed in by hand. */
let bareGraphiqlPod: App;
let bareGraphiqlUrl: URL;
let browser: Browser;
let page: Page;
let worker: TestWorker | undefined;
let token: string;
/** Every graphql-ws message GraphiQL sent, parsed. */
const wsSent: { type: string; payload?: Record<string, unknown> }[] = [];
/** Every URL the page asked for. */
const requested: string[] = [];

beforeAll(async () => {
  requireChromium();
  api = await startTestApi();
  token = await api.token('dr-browser', { name: 'Dr Browser' });
  // A second pod on the same dependencies, serving GraphiQL with the token pre-filled, as
  // `npm start` does; a third with nothing pre-filled.
  graphiqlPod = buildApp(api.config, api.deps, { graphiqlToken: token });
  graphiqlUrl = await graphiqlPod.listen();
  bareGraphiqlPod = buildApp(api.config, api.deps);
  bareGraphiqlUrl = await bareGraphiqlPod.listen();
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(UI_TIMEOUT_MS);
  page.on('request', (request) => requested.push(request.url()));
  page.on('websocket', (socket) =>
    socket.on('framesent', ({ payload }) => {
      if (typeof payload === 'string') wsSent.push(JSON.parse(payload));
    }),
  );
}, 60_000);

afterAll(async () => {
  // Whatever the outcome, the page as it was last (CI keeps test/artifacts/).
  if (page) {
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: new URL('graphiql.png', ARTIFACTS).pathname });
  }
  await worker?.stop();
  await browser?.close();
  await graphiqlPod?.close();
  await bareGraphiqlPod?.close();
  await api?.close();
});

/** Replaces the query editor's text, as a clinician pasting an operation would. */
async function setQuery(text: string): Promise<void> {
  await page.locator('.graphiql-query-editor .monaco-editor').click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  // One input event, so the editor's bracket auto-closing does not add to it.
  await page.keyboard.insertText(text);
  // Prettified and scrolled back to its start, so the screenshot shows the whole operation.
  await page.getByRole('button', { name: /^Prettify query/ }).click();
  await page.locator('.graphiql-query-editor .view-line').nth(1).waitFor();
  await page.locator('.graphiql-query-editor .monaco-editor').click();
  await page.keyboard.press('ControlOrMeta+Home');
}

/** The response pane's text, whitespace collapsed (Monaco renders spaces as U+00A0). */
async function responseText(): Promise<string> {
  return normalise((await page.locator('.graphiql-response .view-lines').textContent()) ?? '');
}

function normalise(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

describe('GraphiQL in a browser', () => {
  it("serves GraphiQL's files itself, cacheable for good, and only those", async () => {
    const html = await (await fetch(graphiqlUrl, { headers: { accept: 'text/html' } })).text();
    const script = /<script src="([^"]+)"/.exec(html)?.[1] as string;
    expect(script).toMatch(/^\/graphql\?graphiql-asset=graphiql\.js&v=\w+$/);
    const js = await fetch(new URL(script, graphiqlUrl));
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await js.text()).toContain('renderYogaGraphiQL');
    expect((await fetch(new URL('/graphql?graphiql-asset=secrets.json', graphiqlUrl))).status).toBe(404);
  });

  it('runs a query, then shows a diagnosis subscription updating live', { timeout: 60_000 }, async () => {
    const patient = (
      await execute(
        api.url,
        CreatePatientDocument,
        {
          input: {
            mrn: `BR-${Date.now().toString(36)}`,
            givenName: 'Grace',
            familyName: 'Hopper',
            birthDate: '1906-12-09',
            sex: 'FEMALE',
          },
        },
        { token },
      )
    ).expectData().createPatient;

    // GET /graphql as a browser asks for it (Accept: text/html) answers GraphiQL.
    await page.goto(graphiqlUrl.href);
    await page.locator('.graphiql-query-editor .monaco-editor').waitFor();
    // It opens on the README's walkthrough.
    await expect
      .poll(async () => normalise((await page.locator('.graphiql-query-editor .view-lines').textContent()) ?? ''))
      .toContain("# Clinical Copilot: the README's walkthrough.");

    await setQuery(`{ me { id name } patient(id: "${patient.id}") { givenName familyName } }`);
    await page.locator('.graphiql-execute-button').click();
    await expect
      .poll(responseText, { timeout: UI_TIMEOUT_MS })
      .toContain('"me": { "id": "dr-browser", "name": "Dr Browser" }');
    expect(await responseText()).toContain('"patient": { "givenName": "Grace", "familyName": "Hopper" }');

    // No worker runs yet, so the diagnosis waits QUEUED until the subscription is open: the
    // updates below cannot have happened before GraphiQL was listening.
    const diagnosis = (
      await execute(
        api.url,
        RequestDiagnosisDocument,
        { patientId: patient.id, input: { symptoms: ['fever', 'cough', 'breathless'], notes: 'two days' } },
        { token },
      )
    ).expectData().requestDiagnosis;
    expect(diagnosis).toMatchObject({ status: 'QUEUED', version: 1 });

    // Record every text the response pane shows, however briefly.
    await page.evaluate(() => {
      const pane = document.querySelector('.graphiql-response') as Element;
      const seen: string[] = [];
      (window as unknown as { responses: string[] }).responses = seen;
      const record = () => {
        const text = pane.querySelector('.view-lines')?.textContent ?? '';
        if (text !== seen.at(-1)) seen.push(text);
      };
      new MutationObserver(record).observe(pane, { subtree: true, childList: true, characterData: true });
    });

    await setQuery(`subscription { diagnosisUpdated(id: "${diagnosis.id}") { status progress version } }`);
    await page.locator('.graphiql-execute-button').click();
    await expect.poll(responseText, { timeout: UI_TIMEOUT_MS }).toContain('"status": "QUEUED"');

    worker = await startTestWorker(targetOf(api), { RULES_CHUNK_DELAY_MS: '150' });
    await page.waitForFunction(() =>
      (window as unknown as { responses: string[] }).responses.some((t) => /"status":\s+"COMPLETED"/.test(t)),
    );

    const states = (await page.evaluate(() => (window as unknown as { responses: string[] }).responses))
      .map(normalise)
      .map((text) => ({
        status: /"status": "(\w+)"/.exec(text)?.[1],
        version: Number(/"version": (\d+)/.exec(text)?.[1]),
      }))
      .filter((s) => s.status !== undefined && Number.isInteger(s.version));
    expect(states.length).toBeGreaterThanOrEqual(3);
    expect(states[0]).toEqual({ status: 'QUEUED', version: 1 });
    expect(states.map((s) => s.status)).toContain('RUNNING');
    expect(states.at(-1)?.status).toBe('COMPLETED');
    const versions = states.map((s) => s.version);
    for (let i = 1; i < versions.length; i++) expect(versions[i]).toBeGreaterThan(versions[i - 1] as number);

    // Everything came from the API itself (no CDN): the page works on a closed network.
    expect(requested.filter((u) => !u.startsWith(`${graphiqlUrl.origin}/`) && !/^(blob|data):/.test(u))).toEqual([]);

    // The token reached graphql-ws in `connection_init`, where the server authenticates.
    expect(wsSent.find((m) => m.type === 'connection_init')?.payload).toEqual({ authorization: `Bearer ${token}` });
  });

  it('authenticates a subscription with a token typed into the headers editor by hand', {
    timeout: 60_000,
  }, async () => {
    const typed = await api.token('dr-typed', { name: 'Dr Typed' });
    const patient = (
      await execute(
        api.url,
        CreatePatientDocument,
        {
          input: {
            mrn: `BT-${Date.now().toString(36)}`,
            givenName: 'Typed',
            familyName: 'Token',
            birthDate: '1950-01-01',
            sex: 'OTHER',
          },
        },
        { token: typed },
      )
    ).expectData().createPatient;
    const diagnosis = (
      await execute(
        api.url,
        RequestDiagnosisDocument,
        { patientId: patient.id, input: { symptoms: ['headache'] } },
        { token: typed },
      )
    ).expectData().requestDiagnosis;

    const sent: { type: string; payload?: Record<string, unknown> }[] = [];
    page.on('websocket', (socket) => {
      socket.on('framesent', ({ payload }) => {
        if (typeof payload === 'string') sent.push(JSON.parse(payload));
      });
    });
    await page.goto(bareGraphiqlUrl.href);
    await page.locator('.graphiql-query-editor .monaco-editor').waitFor();
    // The headers editor starts empty here; type the header as a clinician would.
    await page.locator('.graphiql-editor-tools button[data-name="headers"]').click();
    const headers = page.locator('.graphiql-editor-tool .graphiql-editor:visible .monaco-editor');
    await headers.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(`{ "Authorization": "Bearer ${typed}" }`);

    await setQuery(`subscription { diagnosisUpdated(id: "${diagnosis.id}") { status version } }`);
    await page.locator('.graphiql-execute-button').click();
    // The subscription ran: its first event is the diagnosis's current state.
    await expect.poll(responseText, { timeout: UI_TIMEOUT_MS }).toMatch(/"diagnosisUpdated": \{ "status": "\w+"/);
    expect(await responseText()).not.toContain('UNAUTHENTICATED');
    // The server saw the hand-typed token in `connection_init`, where it authenticates.
    const inits = sent.filter((m) => m.type === 'connection_init');
    expect(inits).toHaveLength(1);
    expect(inits[0]?.payload).toEqual({ authorization: `Bearer ${typed}` });
    expect(sent.map((m) => m.type).slice(0, 2)).toEqual(['connection_init', 'subscribe']);
  });
});
