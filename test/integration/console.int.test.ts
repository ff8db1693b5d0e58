/**
 * The clinician console in a real browser (Debian's Chromium driven by playwright-core), as its
 * users meet it: built by Vite, served by the API at /console, two API pods (own processes) behind
 * a round-robin TCP balancer and a diagnosis worker (own process). A clinician signs in, creates a
 * patient, records observations (an out-of-range value first), reads the assessment, requests a
 * diagnosis and watches it stream to a draft, then signs it off; a second clinician in another
 * browser context sees NOT_FOUND, sees the patient live once added to its care team, and loses it
 * when removed; the pod holding the first clinician's WebSocket is killed mid-stream and the
 * diagnosis still completes on screen, its version never going back. axe-core checks every
 * screen. Screenshots go to test/artifacts/console/ (and to docs/console/ with
 * UPDATE_SCREENSHOTS=1).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nginxBinary, startNginx } from '../../bench/lib/nginx.js';
import { CreatePatientDocument } from '../../client/index.js';
import { createModelServer, type ModelServer } from '../../ml-server/server.js';
import { signToken } from '../../src/auth/jwt.js';
import { type Backend, TcpBalancer } from '../helpers/balancer.js';
import { launchChromium, requireChromium } from '../helpers/browser.js';
import type { TestDatabase } from '../helpers/database.js';
import { type EmbeddedInstance, startEmbedded } from '../helpers/embedded.js';
import { TEST_JWT_SECRET } from '../helpers/env.js';
import { execute } from '../helpers/graphql.js';
import { deleteJobStreams, uniqueNatsNamespace } from '../helpers/nats.js';
import { type LoggedProcess, type StackTarget, startApiProcess, startWorkerProcess } from '../helpers/processes.js';
import { deleteRedisKeys, uniqueRedisPrefix } from '../helpers/redis.js';
import { migratedDatabase } from '../helpers/server.js';

const root = new URL('../..', import.meta.url).pathname;
const ARTIFACTS = `${root}test/artifacts/console/`;
const DOCS = `${root}docs/console/`;
/** The screenshots docs/console.md and the README show. */
const DOC_SHOTS = new Set([
  'sign-in',
  'patients',
  'not-found',
  'diagnosis-streaming',
  'diagnosis-draft',
  'diagnosis-signed-off',
]);
/** Generous for a loaded two-core machine; every wait is for a condition, never a fixed time. */
const UI_TIMEOUT_MS = 30_000;
/** Markup a clinician (or a model) might write: it must reach the screen as characters. */
const MARKUP = '<img src=x onerror="window.injected=1"><b>bold</b>';
/** `expect.poll` with the UI's patience (vitest's default, 1 s, is a fixed time in disguise). */
const poll = <T>(fn: () => T | Promise<T>, timeout = UI_TIMEOUT_MS) => expect.poll(fn, { timeout, interval: 100 });

let db: TestDatabase;
let model: ModelServer;
let target: StackTarget;
const pods: (LoggedProcess & { base: string })[] = [];
let worker: LoggedProcess;
let balancer: TcpBalancer;
/** The balancer's backends, by index: a replaced pod takes its predecessor's place. */
const backends: Backend[] = [];
const backendOf = (pod: { base: string }): Backend => ({ host: '127.0.0.1', port: Number(new URL(pod.base).port) });
const POD_ENV = { LOG_LEVEL: 'warn', DATABASE_POOL_SIZE: '4' };
let base: string;
let browser: Browser;
let ada: { context: BrowserContext; page: Page; token: string };
let grace: { context: BrowserContext; page: Page; token: string };
/** What the pages said about Content-Security-Policy, or any error they threw: must stay empty. */
const pageProblems: string[] = [];
let patientUrl = '';

beforeAll(async () => {
  requireChromium();
  // The console as it is now (the pods serve dist/console/).
  const built = spawnSync(
    process.execPath,
    [`${root}node_modules/vite/bin/vite.js`, 'build', '--logLevel', 'warn', '-c', 'console/vite.config.ts'],
    {
      cwd: root,
      encoding: 'utf8',
    },
  );
  if (built.status !== 0) throw new Error(`vite build failed:\n${built.stdout}${built.stderr}`);

  db = await migratedDatabase();
  model = createModelServer();
  target = {
    db,
    redisKeyPrefix: uniqueRedisPrefix(),
    natsNamespace: uniqueNatsNamespace(),
    mlUrl: (await model.listen(0, '127.0.0.1')).href,
  };
  pods.push(
    ...(await Promise.all([startApiProcess(target, POD_ENV, 'api-1'), startApiProcess(target, POD_ENV, 'api-2')])),
  );
  // Chunks slow enough that a diagnosis streams for several seconds: a pod can be killed mid-stream.
  worker = await startWorkerProcess(target, { RULES_CHUNK_DELAY_MS: '300' });
  backends.push(...pods.map(backendOf));
  balancer = new TcpBalancer(backends);
  base = `http://127.0.0.1:${await balancer.listen()}`;

  browser = await launchChromium();
  const open = async (sub: string, name: string) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, reducedMotion: 'reduce' });
    const page = await context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    page.on('console', (message) => {
      if (/Content.Security.Policy/i.test(message.text())) pageProblems.push(`${sub}: ${message.text()}`);
    });
    page.on('pageerror', (error) => pageProblems.push(`${sub}: ${error.message}`));
    return { context, page, token: await signToken(TEST_JWT_SECRET, { sub, name, roles: ['clinician'] }) };
  };
  ada = await open('dr-ada', 'Dr Ada');
  grace = await open('dr-grace', 'Dr Grace');
}, 240_000);

afterAll(async () => {
  if (ada?.page) await shot(ada.page, 'last-ada').catch(() => undefined);
  if (grace?.page) await shot(grace.page, 'last-grace').catch(() => undefined);
  await browser?.close();
  await worker?.stop();
  await Promise.all(pods.map((pod) => pod.stop()));
  await balancer?.close();
  await model?.close();
  await db?.drop();
  if (target) {
    await deleteRedisKeys(target.redisKeyPrefix);
    await deleteJobStreams(target.natsNamespace);
  }
}, 60_000);

async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = `${ARTIFACTS}${name}.png`;
  await page.screenshot({ path, fullPage: true });
  if (process.env.UPDATE_SCREENSHOTS === '1' && DOC_SHOTS.has(name)) {
    mkdirSync(DOCS, { recursive: true });
    copyFileSync(path, `${DOCS}${name}.png`);
  }
}

/** axe-core on the page as it is: no serious or critical violation (WCAG 2.1 A and AA rules). */
async function expectAccessible(page: Page, screen: string): Promise<void> {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const bad = results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  expect(bad, screen).toEqual([]);
  // The checks ran: a page with no rules passed would prove nothing.
  expect(results.passes.length, screen).toBeGreaterThan(10);
}

async function signIn(who: typeof ada): Promise<void> {
  await who.page.goto(`${base}/console/`);
  await who.page.getByLabel('Access token').fill(who.token);
  await who.page.getByRole('button', { name: 'Sign in' }).click();
  await who.page.getByText(/Signed in as/).waitFor();
  await poll(() => who.page.locator('.connection').getAttribute('data-state')).toBe('live');
}

/** The diagnosis card of `id`, and every version the page showed for it (recorded in the page). */
const card = (page: Page, id: string) => page.locator(`[data-diagnosis-id="${id}"]`);

/** One state a diagnosis card showed: status, version, how much partial text, whether a progress bar. */
interface Shown {
  id: string;
  status: string;
  version: number;
  partial: number;
  progressBar: boolean;
}

/** Starts recording, in the page, every state the card of each diagnosis shows. */
async function recordVersions(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen: Shown[] = [];
    (window as unknown as { seen: typeof seen }).seen = seen;
    const record = () => {
      for (const el of document.querySelectorAll<HTMLElement>('[data-diagnosis-id]')) {
        const entry = {
          id: el.dataset.diagnosisId as string,
          status: el.dataset.status as string,
          version: Number(el.dataset.version),
          partial: el.querySelector('.stream pre')?.textContent?.length ?? 0,
          progressBar: el.querySelector('progress') !== null,
        };
        const last = seen.filter((s) => s.id === entry.id).at(-1);
        if (!last || last.version !== entry.version || last.status !== entry.status || last.partial !== entry.partial)
          seen.push(entry);
      }
    };
    record();
    new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
}

async function versionsShown(page: Page, id: string): Promise<Shown[]> {
  const seen = await page.evaluate(() => (window as unknown as { seen: Shown[] }).seen);
  return seen.filter((s) => s.id === id);
}

function expectNeverBack(states: { version: number }[]): void {
  for (let i = 1; i < states.length; i++) {
    expect(states[i]?.version, JSON.stringify(states)).toBeGreaterThanOrEqual(states[i - 1]?.version as number);
  }
}

/**
 * Dr Ada's open patient page requests a diagnosis (after the `listed` ones already there); while
 * it streams, `stop` is applied to the pod that holds her page's WebSocket (the only one left
 * open). The header must say "reconnecting", come back live on the other pod, and the diagnosis
 * must complete on screen, its version never going back. Answers the stopped pod's index.
 */
async function streamThroughPodStop(
  listed: number,
  symptoms: string,
  stop: (pod: LoggedProcess) => void,
): Promise<number> {
  const { page } = ada;
  await poll(() => page.locator('.connection').getAttribute('data-state')).toBe('live');
  // Every state the indicator shows from now on, however briefly.
  await page.evaluate(() => {
    const state = () => (document.querySelector('.connection') as HTMLElement).dataset.state as string;
    const states: string[] = [state()];
    (window as unknown as { states: string[] }).states = states;
    new MutationObserver(() => {
      if (state() !== states.at(-1)) states.push(state());
    }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
  });
  await recordVersions(page);
  await poll(() => page.locator('[data-diagnosis-id]').count()).toBe(listed);
  await page.getByLabel(/^Symptoms/).fill(symptoms);
  await page.getByRole('button', { name: 'Request diagnosis' }).click();
  await poll(() => page.locator('[data-diagnosis-id]').count()).toBe(listed + 1);
  // Newest first.
  const id = (await page.locator('[data-diagnosis-id]').first().getAttribute('data-diagnosis-id')) as string;
  const dx = card(page, id);
  await poll(async () => (await versionsShown(page, id)).some((v) => v.status === 'RUNNING')).toBe(true);

  await poll(() => balancer.websockets('/graphql').length).toBe(1);
  const [socket] = balancer.websockets('/graphql');
  const index = socket?.backend as number;
  // Mid-stream: the job is still going when its subscriber's pod goes.
  expect(['QUEUED', 'RUNNING']).toContain(await dx.getAttribute('data-status'));
  stop(pods[index] as LoggedProcess);
  await poll(() => page.evaluate(() => (window as unknown as { states: string[] }).states)).toContain('reconnecting');
  await poll(() => page.locator('.connection').getAttribute('data-state')).toBe('live');
  await poll(() => dx.getAttribute('data-status'), 60_000).toBe('COMPLETED');
  expect(await dx.getAttribute('data-report-status')).toBe('PRELIMINARY');
  const states = await versionsShown(page, id);
  expectNeverBack(states);
  expect(states.at(-1)?.status).toBe('COMPLETED');
  // The socket came back on the other pod.
  await poll(() => balancer.websockets('/graphql').map((s) => s.backend)).toEqual([1 - index]);
  return index;
}

describe('the clinician console in a browser, against two API pods and a worker', () => {
  it('is served at /console with its content types, caching and CSP', async () => {
    const redirect = await fetch(`${base}/console`, { redirect: 'manual' });
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get('location')).toBe('/console/');

    const page = await fetch(`${base}/console/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await page.text();
    // A pod (not `npm start`) puts no token in the page.
    expect(html).not.toContain('console-config');
    const etag = page.headers.get('etag') as string;
    expect((await fetch(`${base}/console/`, { headers: { 'if-none-match': etag } })).status).toBe(304);

    const script = /<script type="module" crossorigin src="([^"]+)"/.exec(html)?.[1] as string;
    expect(script).toMatch(/^\/console\/assets\/index-[\w-]+\.js$/);
    const js = await fetch(`${base}${script}`, { headers: { 'accept-encoding': 'gzip' } });
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(js.headers.get('content-encoding')).toBe('gzip');
    const css = /<link rel="stylesheet" crossorigin href="([^"]+)"/.exec(html)?.[1] as string;
    expect((await fetch(`${base}${css}`)).headers.get('content-type')).toBe('text/css; charset=utf-8');

    expect((await fetch(`${base}/console/assets/nothing.js`)).status).toBe(404);
    expect((await fetch(`${base}/console/../package.json`)).status).not.toBe(200);
    expect((await fetch(`${base}/console/`, { method: 'POST' })).status).toBe(405);
  });

  it.skipIf(!nginxBinary())('reaches the pods through deploy/nginx.conf as well', async () => {
    const nginx = await startNginx(backends);
    try {
      const page = await fetch(`${nginx.base}/console/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
      const script = /<script type="module" crossorigin src="([^"]+)"/.exec(await page.text())?.[1] as string;
      const js = await fetch(`${nginx.base}${script}`);
      expect(js.status).toBe(200);
      expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    } finally {
      await nginx.stop();
    }
  });

  it('signs in, creates a patient, records observations with field errors, and shows the assessment', async () => {
    const { page } = ada;
    await page.goto(`${base}/console/`);
    await expectAccessible(page, 'sign-in');
    // A token that is not one: a clear error on the field, no request.
    await page.getByLabel('Access token').fill('not a token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await poll(() => page.locator('#token-error').textContent()).toContain('Paste a token');
    await signIn(ada);
    await poll(() => page.getByRole('heading', { name: 'Patients', level: 1 }).isVisible()).toBe(true);

    const mrn = `CON-${Date.now().toString(36)}`;
    await page.getByLabel('MRN', { exact: true }).fill(mrn);
    await page.getByLabel('Given name').fill('Grace');
    await page.getByLabel('Family name').fill('Hopper');
    await page.getByLabel('Birth date').fill('1956-12-09');
    await page.getByLabel('Sex').selectOption('FEMALE');
    await page.getByRole('button', { name: 'Create patient' }).click();
    await page.getByRole('heading', { name: 'Hopper, Grace', level: 1 }).waitFor();
    patientUrl = page.url();
    expect(patientUrl).toMatch(/#\/patients\/.+/);
    await poll(() => page.getByText('No observations recorded yet.').isVisible()).toBe(true);

    // Out of range: the field says so in the contract's words, and nothing is recorded.
    await page.getByLabel(/^SpO₂/).fill('40');
    await page.getByLabel(/^Respiratory rate/).fill('24');
    await page.getByRole('button', { name: 'Record' }).click();
    await poll(() => page.locator('#obs-spo2-error').textContent()).toBe('spo2 must be between 50 and 100 %');
    expect(await page.getByLabel(/^SpO₂/).getAttribute('aria-invalid')).toBe('true');
    expect(await page.getByText('No observations recorded yet.').isVisible()).toBe(true);

    // The README walkthrough's values: NEWS2 9 (RR 2, SpO₂ 2, BP 2, HR 2, temperature 1), HIGH.
    await page.getByLabel(/^SpO₂/).fill('93');
    await page.getByLabel(/^Systolic BP/).fill('98');
    await page.getByLabel(/^Heart rate/).fill('118');
    await page.getByLabel(/^Temperature/).fill('38.9');
    await page.getByLabel('Consciousness (ACVPU)').selectOption('ALERT');
    await page.getByLabel('On supplemental oxygen').selectOption('no');
    await page.getByRole('button', { name: 'Record' }).click();
    await poll(() => page.locator('.saved').textContent()).toBe('Recorded.');
    const assessment = page.locator('.assessment');
    await poll(() => assessment.getByTestId('score').textContent()).toBe('9');
    expect(await assessment.getByTestId('band').textContent()).toBe('High risk');
    expect(await assessment.getByTestId('source').textContent()).toBe('LIVE');
    const factors = await assessment.locator('table.factors tbody tr').allTextContents();
    expect(factors.some((row) => row.startsWith('respiratoryRate24') && row.endsWith('2'))).toBe(true);
    // Asked again with nothing new: the cached answer, said so.
    await page.getByRole('button', { name: 'Assess again' }).click();
    await poll(() => assessment.getByTestId('source').textContent()).toBe('CACHE');

    // A second recording: a new LIVE score, and the trend has two points.
    await page.getByLabel(/^Respiratory rate/).fill('16');
    await page.getByLabel(/^SpO₂/).fill('97');
    await page.getByRole('button', { name: 'Record' }).click();
    await poll(() => assessment.getByTestId('source').textContent()).toBe('LIVE');
    await poll(() => assessment.getByTestId('score').textContent()).toBe('5');
    await poll(() => page.locator('.trend figcaption').textContent()).toContain('2 recordings');
    expect(await page.locator('.trend circle').count()).toBe(2);

    // A third (39.2 °C scores 2: NEWS2 6; still febrile, so the diagnoses below read the same
    // picture), then a fresh page load: nothing of the patient is kept in the browser, so every
    // point of the trend now comes from the API's history, oldest first.
    await page.getByLabel(/^Temperature/).fill('39.2');
    await page.getByRole('button', { name: 'Record' }).click();
    await poll(() => assessment.getByTestId('score').textContent()).toBe('6');
    await page.reload();
    await page.getByRole('heading', { name: 'Hopper, Grace', level: 1 }).waitFor();
    await poll(() => page.locator('.trend figcaption').textContent()).toContain(
      "3 recordings: past scores from the API's history",
    );
    expect(await page.locator('.trend circle').evaluateAll((cs) => cs.map((c) => c.getAttribute('data-live')))).toEqual(
      ['false', 'false', 'false'],
    );
    const listed = await page.locator('.trend ol li').allTextContents();
    expect(listed.map((item) => /: (\d+) \(history/.exec(item)?.[1])).toEqual(['9', '5', '6']);
    await page.getByText(/^History/).click();
    await poll(() => page.locator('.history tbody tr').count()).toBe(3);
    await expectAccessible(page, 'patient with assessment');
  }, 120_000);

  it('requests a diagnosis, shows it stream to an unmistakable draft, and signs it off', async () => {
    const { page } = ada;
    await recordVersions(page);
    // Model text is text: markup in what the model echoes must never become markup.
    await page.getByLabel(/^Symptoms/).fill('fever\nproductive cough\nbreathlessness');
    await page.getByLabel('Notes (optional)').fill('<img src=x onerror="window.injected=1"> two days');
    await page.getByRole('button', { name: 'Request diagnosis' }).click();
    const first = page.locator('[data-diagnosis-id]').first();
    await first.waitFor();
    const id = (await first.getAttribute('data-diagnosis-id')) as string;
    const dx = card(page, id);

    // Streaming: RUNNING with a progress bar and the model's text so far (recorded by the page's
    // observer, so a short-lived state is seen however the test's polls fall).
    await poll(async () => (await versionsShown(page, id)).some((v) => v.status === 'RUNNING' && v.partial > 0)).toBe(
      true,
    );
    expect((await versionsShown(page, id)).some((v) => v.status === 'RUNNING' && v.progressBar)).toBe(true);
    await shot(page, 'diagnosis-streaming');

    await poll(() => dx.getAttribute('data-status'), 60_000).toBe('COMPLETED');
    expect(await dx.getAttribute('data-report-status')).toBe('PRELIMINARY');
    expect(await dx.getByTestId('report-status').textContent()).toContain('DRAFT — AI-generated, not reviewed');
    const rows = await dx.locator('table.differentials tbody tr').allTextContents();
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((row) => /\d+%/.test(row))).toBe(true);
    expect(await page.evaluate(() => (window as unknown as { injected?: number }).injected)).toBeUndefined();
    expect(await page.locator('.diagnosis img').count()).toBe(0);
    const states = await versionsShown(page, id);
    expect(states.map((s) => s.status)).toContain('RUNNING');
    expectNeverBack(states);
    await shot(page, 'diagnosis-draft');
    await expectAccessible(page, 'draft diagnosis');

    // Sign-off: amending needs the clinician's text; then the report says AMENDED, not draft.
    await dx.getByLabel('Amend with my conclusion').check();
    await dx.getByRole('button', { name: 'Sign off' }).click();
    await poll(() => dx.locator('[id$="-amended-error"]').textContent()).toBe(
      'Write your conclusion to amend the draft.',
    );
    // Free text is shown as text: markup in it stays characters on the screen.
    await dx.getByLabel('Your conclusion').fill(`Community-acquired pneumonia; chest X-ray ordered. ${MARKUP}`);
    await dx.getByLabel('Note (optional)').fill(`Reviewed at the bedside. ${MARKUP}`);
    await dx.getByRole('button', { name: 'Sign off' }).click();
    await poll(() => dx.getAttribute('data-report-status')).toBe('AMENDED');
    const banner = (await dx.getByTestId('report-status').textContent()) ?? '';
    expect(banner).toContain('AMENDED');
    expect(banner).not.toContain('DRAFT');
    expect(banner).toContain('Dr Ada');
    expect(await dx.locator('.conclusion').textContent()).toContain('Community-acquired pneumonia');
    expect(await dx.locator('.conclusion').textContent()).toContain(MARKUP);
    expect(await dx.getByText(`Reviewed at the bedside. ${MARKUP}`).count()).toBe(1);
    expect(await page.locator('.diagnosis img, .diagnosis b').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { injected?: number }).injected)).toBeUndefined();
    expect(await dx.getByRole('button', { name: 'Sign off' }).count()).toBe(0);
    expectNeverBack(await versionsShown(page, id));
    await shot(page, 'diagnosis-signed-off');
  }, 120_000);

  it('a second clinician: NOT_FOUND, then the patient live once added to the care team, gone once removed', async () => {
    await signIn(grace);
    const { page } = grace;
    await page.goto(patientUrl);
    await page.getByRole('heading', { name: 'Patient not found' }).waitFor();
    expect(await page.locator('[data-code="NOT_FOUND"]').textContent()).toContain('NOT_FOUND');
    expect(await page.getByText('Hopper').count()).toBe(0);
    await expectAccessible(page, 'not found');
    await shot(page, 'not-found');

    // Dr Ada adds Dr Grace, with the keyboard.
    const team = ada.page.getByLabel('Add a clinician (id)');
    await team.focus();
    await ada.page.keyboard.type('dr-grace');
    await ada.page.keyboard.press('Enter');
    await poll(() => ada.page.locator('.team li').count()).toBe(2);

    // Dr Grace's open page finds the patient by itself.
    await page.getByRole('heading', { name: 'Hopper, Grace', level: 1 }).waitFor();
    await recordVersions(page);
    // Live: a diagnosis Dr Ada requests now appears on Dr Grace's screen and completes there.
    await ada.page.getByLabel(/^Symptoms/).fill('headache');
    await ada.page.getByRole('button', { name: 'Request diagnosis' }).click();
    await poll(() => page.locator('[data-diagnosis-id]').count(), UI_TIMEOUT_MS).toBe(2);
    const id = (await page.locator('[data-diagnosis-id]').first().getAttribute('data-diagnosis-id')) as string;
    await poll(() => card(page, id).getAttribute('data-status'), 60_000).toBe('COMPLETED');
    expect(await card(page, id).getAttribute('data-report-status')).toBe('PRELIMINARY');
    // Dr Ada accepts it on her screen; Dr Grace's shows it FINAL by itself (patientDiagnoses).
    const adas = card(ada.page, id);
    await poll(() => adas.getAttribute('data-status'), 60_000).toBe('COMPLETED');
    await adas.getByLabel('Accept as the report').check();
    await adas.getByRole('button', { name: 'Sign off' }).click();
    await poll(() => card(page, id).getAttribute('data-report-status')).toBe('FINAL');
    expect(await card(page, id).getByTestId('report-status').textContent()).toContain('FINAL — accepted');
    expectNeverBack(await versionsShown(page, id));

    // Removed: her screen drops the patient (its subscriptions end with NOT_FOUND).
    await ada.page.getByRole('button', { name: 'Remove Dr Grace (dr-grace) from the care team' }).click();
    await page.getByRole('heading', { name: 'Patient not found' }).waitFor({ timeout: 10_000 });
    expect(await page.getByText('Hopper').count()).toBe(0);
    await poll(() => ada.page.locator('.team li').count()).toBe(1);
  }, 120_000);

  it('is usable with the keyboard alone: skip link, search, open a patient', async () => {
    const { page } = ada;
    await page.goto(`${base}/console/#/patients`);
    // A fresh document: the first Tab starts from the top of the page.
    await page.reload();
    await page.getByRole('heading', { name: 'Patients', level: 1 }).waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');
    // Into the search field, type, Enter: the list shows the match.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('patient-search');
    await page.keyboard.type('hopp');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Patients matching “hopp”' }).waitFor();
    const link = page.getByRole('link', { name: 'Hopper, Grace' });
    await link.waitFor();
    await link.focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Hopper, Grace', level: 1 }).waitFor();
    // The new screen has the focus at its start, as a page load would.
    await poll(() => page.evaluate(() => document.activeElement?.id)).toBe('main');
    await page.getByRole('heading', { name: 'Diagnoses' }).waitFor();
    // Paging: eleven more patients are two pages of ten.
    for (let i = 1; i <= 11; i++) {
      const input = { mrn: `PG-${Date.now().toString(36)}-${i}`, givenName: `Page${i}`, familyName: 'Pager' };
      (
        await execute(
          `${base}/graphql`,
          CreatePatientDocument,
          {
            input: { ...input, birthDate: '1970-01-01', sex: 'UNKNOWN' },
          },
          { token: ada.token },
        )
      ).expectData();
    }
    await page.getByRole('link', { name: '← All patients' }).click();
    const search = page.getByLabel('Search by MRN or name');
    await search.fill('pager');
    await search.press('Enter');
    const rows = page.locator('table.patients tbody tr');
    await poll(() => rows.count()).toBe(10);
    await page.getByRole('button', { name: 'Next page' }).click();
    await poll(() => rows.count()).toBe(1);
    expect(await page.getByText('Page 2').isVisible()).toBe(true);
    expect(await page.getByRole('button', { name: 'Next page' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Previous page' }).click();
    await poll(() => rows.count()).toBe(10);
    await expectAccessible(page, 'patient list');
    await shot(page, 'patients');
  }, 60_000);

  it('a token that expires ends the session on screen: the server closes the socket (4401), sign-in comes back', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      page.setDefaultTimeout(UI_TIMEOUT_MS);
      const token = await signToken(TEST_JWT_SECRET, {
        sub: 'dr-brief',
        name: 'Dr Brief',
        roles: ['clinician'],
        ttl: 6,
      });
      await signIn({ context, page, token });
      await page.getByText('The server ended your session').waitFor({ timeout: 60_000 });
      expect(await page.getByLabel('Access token').isVisible()).toBe(true);
      expect(await page.getByText(/Signed in as/).count()).toBe(0);
    } finally {
      await context.close();
    }
  }, 90_000);

  it('a pod is killed mid-stream: the console reconnects, shows it, and the diagnosis completes on screen', async () => {
    await grace.context.close();
    await ada.page.goto(patientUrl);
    await ada.page.getByRole('heading', { name: 'Hopper, Grace', level: 1 }).waitFor();
    const victim = await streamThroughPodStop(2, 'chest pain, dyspnoea', (pod) => {
      pod.child.kill('SIGKILL');
    });
    await shot(ada.page, 'after-pod-loss');
    // Its place behind the balancer goes to a new pod, for the drain below.
    const fresh = await startApiProcess(target, POD_ENV, 'api-3');
    pods[victim] = fresh;
    backends[victim] = backendOf(fresh);
  }, 180_000);

  it('a pod is drained (SIGTERM) mid-stream: the same, and the pod exits 0', async () => {
    let exited: Promise<number | null> | undefined;
    await streamThroughPodStop(3, 'wheeze, cough', (pod) => {
      exited = pod.stop();
    });
    expect(await exited).toBe(0);
    expect(pageProblems).toEqual([]);
  }, 180_000);
});

describe('npm start opens on the console, the demo token pre-filled', () => {
  let dir: string;
  let embedded: EmbeddedInstance | undefined;

  afterAll(async () => {
    await embedded?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('prints the console URL; the page carries the token, is never cached, and signs in with one press', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cc-console-embedded-'));
    embedded = await startEmbedded(dir);
    const url = /^Console: (\S+)$/m.exec(embedded.output())?.[1] as string;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/console\/$/);
    const res = await fetch(url);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.text()).toContain('id="console-config"');

    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    page.on('console', (message) => {
      if (/Content.Security.Policy/i.test(message.text())) pageProblems.push(`embedded: ${message.text()}`);
    });
    try {
      await page.goto(url);
      expect(await page.getByLabel('Access token').inputValue()).toBe(embedded.token);
      await shot(page, 'sign-in');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText(/Signed in as Demo Admin/).waitFor();
      await poll(() => page.locator('.connection').getAttribute('data-state')).toBe('live');
    } finally {
      await context.close();
    }
    expect(pageProblems).toEqual([]);
  }, 120_000);
});
