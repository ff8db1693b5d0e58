import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/** Where the console's pages live on the API's origin. */
export const CONSOLE_PATH = '/console';

/**
 * `dist/console/`, where `npm run build` (Vite, console/vite.config.ts) writes the console. This
 * file runs as `src/http/console.ts` under tsx (`npm start`, the tests) and as
 * `dist/src/http/console.js` once built (pods, images): the same folder from both.
 */
export const DEFAULT_CONSOLE_DIR = fileURLToPath(
  new URL(import.meta.url.endsWith('.ts') ? '../../dist/console/' : '../../console/', import.meta.url),
);

/**
 * What the page may do, and nothing more: its own scripts, styles and connections (`'self'`
 * covers the same origin's WebSocket), no inline script or style, no plugins, frames, forms
 * posting elsewhere or base-URL tricks. Model text that tried to be markup could not run.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};
/** Worth compressing (text); images are compressed already. */
const TEXT = new Set(['.html', '.js', '.css', '.map', '.json', '.svg', '.txt']);
/** Where the page's configuration goes (console/index.html). */
const CONFIG_PLACEHOLDER = '<!--console-config-->';

interface File {
  readonly body: Buffer;
  readonly gzip: Buffer | undefined;
  readonly type: string;
  readonly etag: string;
}

/**
 * The clinician console served by the API on its own origin (so no CORS, and the page's
 * WebSocket goes to the same pods): `GET /console/` answers the page, `GET /console/assets/…` its
 * files. Vite names every asset by a hash of its content, so assets are cached for good and the
 * page itself is revalidated on every visit (`no-cache` with an ETag) — a new build is picked up
 * at once. Files are read once, at the first request, and kept with their gzip.
 *
 * With `demoToken` (`npm start`), the page carries that token for the sign-in form to pre-fill; such a
 * page is never stored by any cache.
 */
export class ConsoleSite {
  private files: Map<string, File> | undefined;

  constructor(
    private readonly dir = DEFAULT_CONSOLE_DIR,
    private readonly demoToken?: string,
  ) {}

  handles(path: string): boolean {
    return path === CONSOLE_PATH || path.startsWith(`${CONSOLE_PATH}/`);
  }

  serve(req: IncomingMessage, res: ServerResponse, path: string): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('Method not allowed');
      return;
    }
    if (path === CONSOLE_PATH) {
      // Relative URLs in the page resolve against /console/, not /.
      const query = (req.url ?? '').slice(path.length);
      res.writeHead(308, { location: `${CONSOLE_PATH}/${query}` }).end();
      return;
    }
    let files: Map<string, File> | undefined;
    try {
      files = this.load();
    } catch {
      // An unreadable build (permissions, a half-written folder): the API itself keeps serving.
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end('The console could not be read');
      return;
    }
    if (!files) {
      notFound(res, 'The console is not built: run `npm run build`.');
      return;
    }
    const name = path.slice(CONSOLE_PATH.length + 1) || 'index.html';
    const file = files.get(name);
    if (!file) {
      notFound(res, 'Not found');
      return;
    }
    const page = name === 'index.html';
    const headers: Record<string, string> = {
      ...SECURITY_HEADERS,
      'content-type': file.type,
      etag: file.etag,
      vary: 'accept-encoding',
      'cache-control': page
        ? this.demoToken
          ? 'no-store'
          : 'no-cache'
        : name.startsWith('assets/')
          ? 'public, max-age=31536000, immutable'
          : 'no-cache',
    };
    if (!(page && this.demoToken) && req.headers['if-none-match'] === file.etag) {
      res.writeHead(304, headers).end();
      return;
    }
    const gzip = file.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? (file.gzip as Buffer) : file.body;
    if (gzip) headers['content-encoding'] = 'gzip';
    headers['content-length'] = String(body.length);
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private load(): Map<string, File> | undefined {
    if (this.files) return this.files;
    if (!existsSync(join(this.dir, 'index.html'))) return undefined;
    const files = new Map<string, File>();
    for (const entry of readdirSync(this.dir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const full = join(entry.parentPath, entry.name);
      const name = relative(this.dir, full).split(sep).join('/');
      const ext = extname(name);
      let body = readFileSync(full);
      if (name === 'index.html') body = Buffer.from(this.configure(body.toString('utf8')));
      files.set(name, {
        body,
        gzip: TEXT.has(ext) ? gzipSync(body) : undefined,
        type: TYPES[ext] ?? 'application/octet-stream',
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
      });
    }
    this.files = files;
    return files;
  }

  /** The page with its configuration: data in a JSON script block, which no CSP lets run or needs to. */
  private configure(html: string): string {
    const config = this.demoToken
      ? `<script type="application/json" id="console-config">${JSON.stringify({ demoToken: this.demoToken }).replace(/</g, '\\u003c')}</script>`
      : '';
    return html.replace(CONFIG_PLACEHOLDER, config);
  }
}

function notFound(res: ServerResponse, message: string): void {
  res.writeHead(404, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(message);
}
