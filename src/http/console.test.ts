import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CSP, ConsoleSite } from './console.js';

/** A build as Vite lays it out: the page with its placeholder, hashed assets. */
function fakeBuild(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cc-console-site-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(
    join(dir, 'index.html'),
    '<!doctype html><html><head><!--console-config--><script type="module" src="/console/assets/index-abc.js"></script></head></html>',
  );
  writeFileSync(join(dir, 'assets', 'index-abc.js'), `console.log(${JSON.stringify('x'.repeat(2000))});`);
  writeFileSync(join(dir, 'assets', 'index-abc.css'), 'body{margin:0}');
  return dir;
}

async function serve(site: ConsoleSite): Promise<{ server: Server; base: string }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0] as string;
    if (site.handles(path)) site.serve(req, res, path);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** A GET with the path exactly as written (fetch would normalise `..` away before sending). */
function rawGet(base: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/`, { path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the console site', () => {
  const dirs: string[] = [];
  const servers: Server[] = [];
  let base: string;
  let demo: string;
  const token = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZW1vIn0.</script><script>alert(1)</script>';

  beforeAll(async () => {
    const dir = fakeBuild();
    dirs.push(dir);
    const plain = await serve(new ConsoleSite(dir));
    const withToken = await serve(new ConsoleSite(dir, token));
    servers.push(plain.server, withToken.server);
    base = plain.base;
    demo = withToken.base;
  });

  afterAll(async () => {
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('redirects /console to /console/, keeping the query', async () => {
    const res = await fetch(`${base}/console?x=1`, { redirect: 'manual' });
    expect(res.status).toBe(308);
    expect(res.headers.get('location')).toBe('/console/?x=1');
  });

  it('answers the page revalidated on every visit, with its security headers, and 304 when unchanged', async () => {
    const res = await fetch(`${base}/console/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const html = await res.text();
    expect(html).not.toContain('console-config');
    const again = await fetch(`${base}/console/index.html`, {
      headers: { 'if-none-match': res.headers.get('etag') as string },
    });
    expect(again.status).toBe(304);
  });

  it('serves hashed assets for good, gzipped when asked, and HEAD without a body', async () => {
    const res = await fetch(`${base}/console/assets/index-abc.js`, { headers: { 'accept-encoding': 'gzip' } });
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(res.headers.get('content-encoding')).toBe('gzip');
    expect(await res.text()).toContain('console.log');
    const raw = await new Promise<Buffer>((resolve) => {
      request(`${base}/console/assets/index-abc.js`, { headers: { 'accept-encoding': 'gzip' } }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => resolve(Buffer.concat(chunks)));
      }).end();
    });
    expect(raw.length).toBeLessThan(2000);
    expect(gunzipSync(raw).toString('utf8')).toContain('console.log');
    const css = await fetch(`${base}/console/assets/index-abc.css`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    const head = await fetch(`${base}/console/assets/index-abc.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await fetch(`${base}/console/`, { method: 'POST' })).status).toBe(405);
  });

  it('answers only the files of the build: no way out of its folder', async () => {
    for (const path of [
      '/console/../package.json',
      '/console/assets/../../package.json',
      '/console/%2e%2e/package.json',
      '/console/assets/%2e%2e%2f%2e%2e%2fpackage.json',
      '/console/assets/missing.js',
    ]) {
      const res = await rawGet(base, path);
      expect(res.status, path).toBe(404);
      expect(res.body, path).not.toContain('"name"');
    }
  });

  it("puts npm start's token in the page as JSON data that cannot close its script block, never cached", async () => {
    const res = await fetch(`${demo}/console/`);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const html = await res.text();
    const block = /<script type="application\/json" id="console-config">(.*?)<\/script>/.exec(html)?.[1] as string;
    expect(JSON.parse(block)).toEqual({ demoToken: token });
    expect(html).not.toContain('<script>alert(1)');
  });

  it('says the console is not built when its folder has no page', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'cc-console-empty-'));
    dirs.push(empty);
    const { server, base: url } = await serve(new ConsoleSite(empty));
    servers.push(server);
    const res = await fetch(`${url}/console/`);
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('npm run build');
  });
});
