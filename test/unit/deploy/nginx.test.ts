/**
 * deploy/nginx.conf, the load balancer in front of the API pods: WebSockets, SSE and drain timings.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { nginxBinary } from '../../../bench/lib/nginx.js';

import { API_ENTRY, type ComposeFile, check, defined, read } from './shared.js';

// --- deploy/nginx.conf -------------------------------------------------------------------------------------

interface Directive {
  name: string;
  args: string[];
  block?: Directive[];
}

/** A small parser of nginx's configuration syntax: directives, arguments, nested blocks. */
function parseNginx(text: string): Directive[] {
  const tokens: string[] = [];
  for (const match of text.matchAll(/#[^\n]*|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([{};])|([^\s{};#"']+)/g)) {
    if (match[0].startsWith('#')) continue;
    tokens.push(match[1] ?? match[2] ?? match[3] ?? match[4] ?? '');
  }
  let position = 0;
  const block = (): Directive[] => {
    const directives: Directive[] = [];
    while (position < tokens.length && tokens[position] !== '}') {
      const words: string[] = [];
      while (position < tokens.length && tokens[position] !== ';' && tokens[position] !== '{') {
        words.push(tokens[position++] as string);
      }
      const [name = '', ...args] = words;
      if (tokens[position++] === '{') {
        directives.push({ name, args, block: block() });
        check(tokens[position++] === '}', 'nginx.conf: unbalanced braces');
      } else {
        directives.push({ name, args });
      }
    }
    return directives;
  };
  const directives = block();
  check(position >= tokens.length, 'nginx.conf: unbalanced braces');
  return directives;
}

/** nginx time: "3600s", "60m", "1h" or plain seconds. */
function nginxSeconds(value: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(value);
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400 }[(match?.[2] ?? 's') as 's'];
  return Number(defined(match, `nginx time ${value}`)[1]) * unit;
}

describe('deploy/nginx.conf (the load balancer)', () => {
  const config = parseNginx(read('deploy/nginx.conf'));
  const compose = parse(read('docker-compose.yml'), { merge: true }) as ComposeFile;
  const child = (directives: Directive[] | undefined, name: string, ...args: string[]) =>
    (directives ?? []).filter((d) => d.name === name && args.every((a, i) => d.args[i] === a));
  const http = defined(child(config, 'http')[0]?.block, 'http block');
  const servers = child(http, 'server');
  const graphql = servers.flatMap((s) => child(s.block, 'location', '/graphql'))[0]?.block;

  it('balances over the API service on its port', () => {
    const [apiName] = Object.entries(compose.services)
      .filter(([, s]) => s.build !== undefined && (s.command as string[] | undefined)?.[1] === API_ENTRY)
      .map(([name]) => name);
    const apiPort = String(compose.services[defined(apiName, 'api service')]?.environment?.PORT ?? 4000);
    const target = defined(child(graphql, 'proxy_pass')[0]?.args[0], 'proxy_pass in location /graphql');
    const upstreamName = defined(/^http:\/\/([^/:]+)/.exec(target)?.[1], 'upstream in proxy_pass');
    const upstream = defined(child(http, 'upstream', upstreamName)[0]?.block, `upstream ${upstreamName}`);
    expect(child(upstream, 'server').map((s) => s.args[0])).toEqual([`${apiName}:${apiPort}`]);
  });

  it('passes WebSocket upgrades on /graphql and keeps subscriptions open for an hour', () => {
    expect(child(graphql, 'proxy_http_version')[0]?.args).toEqual(['1.1']);
    const headers = new Map(child(graphql, 'proxy_set_header').map((d) => [d.args[0]?.toLowerCase(), d.args[1]]));
    expect(headers.get('upgrade')).toBe('$http_upgrade');
    const connection = defined(headers.get('connection'), 'Connection header');
    const map = child(http, 'map', '$http_upgrade', connection)[0]?.block;
    expect(child(map, 'default')[0]?.args, `${connection} is "upgrade" when the client asks`).toEqual(['upgrade']);
    for (const timeout of ['proxy_read_timeout', 'proxy_send_timeout']) {
      expect(nginxSeconds(child(graphql, timeout)[0]?.args[0] ?? '60s'), timeout).toBeGreaterThanOrEqual(3600);
    }
    // SSE subscriptions: events must not wait in a proxy buffer.
    expect(child(graphql, 'proxy_buffering')[0]?.args).toEqual(['off']);
  });

  it('gives the API the client address nginx saw, which a client cannot forge', () => {
    // Behind nginx every connection comes from nginx: per-address limits need X-Forwarded-For…
    const api = Object.values(compose.services).filter((s) => (s.command as string[] | undefined)?.[1] === API_ENTRY);
    for (const service of api) expect(String(service.environment?.TRUST_PROXY)).toBe('true');
    // …and the API takes its first hop, so nginx must replace the header, not append to the client's.
    const proxied = servers
      .flatMap((s) => child(s.block, 'location'))
      .filter((l) => child(l.block, 'proxy_pass').length);
    expect(proxied.length).toBeGreaterThan(0);
    for (const location of proxied) {
      const forwarded = child(location.block, 'proxy_set_header').find(
        (d) => d.args[0]?.toLowerCase() === 'x-forwarded-for',
      );
      expect(forwarded?.args[1], `location ${location.args.join(' ')}`).toBe('$remote_addr');
    }
  });

  it('passes nothing under /subgraph on: that is for the gateway, which reaches the replicas directly', () => {
    const proxied = servers
      .flatMap((s) => child(s.block, 'location'))
      .filter((l) => child(l.block, 'proxy_pass').length);
    for (const { args } of proxied) {
      const [modifier, path] = args.length > 1 ? args : ['', args[0] ?? ''];
      expect(['', '=', '^~'], `location ${args.join(' ')}: a prefix or exact match`).toContain(modifier);
      const reaches = modifier === '=' ? path === '/subgraph' : '/subgraph'.startsWith(defined(path, 'path'));
      expect(reaches, `location ${args.join(' ')} covers /subgraph`).toBe(false);
    }
  });

  // Debian's nginx (scripts/services.sh installs it); /usr/sbin is not on every PATH.
  const nginx = nginxBinary();
  it.skipIf(!nginx)('is accepted by `nginx -t`', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cc-nginx-'));
    try {
      // nginx resolves upstream hosts when it loads; the compose service name only resolves inside compose.
      // Its compiled-in temp paths (/var/lib/nginx) are root's: the test's own, so it runs unprivileged.
      const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
        .map((kind) => `${kind}_temp_path ${join(dir, kind)};`)
        .join(' ');
      const text = read('deploy/nginx.conf')
        .replace(/(\bserver\s+)[A-Za-z0-9_.-]+(:\d+)/g, '$1127.0.0.1$2')
        .replace(/^http\s*\{/m, `http { ${temp}`);
      writeFileSync(join(dir, 'nginx.conf'), text);
      // Files, not pipes, for stdout and stderr: node's pipes are sockets, and nginx cannot open
      // /dev/stdout or /dev/stderr on a socket.
      const log = join(dir, 'stderr.log');
      const stderr = openSync(log, 'w');
      const result = spawnSync(
        nginx as string,
        ['-t', '-q', '-e', 'stderr', '-p', dir, '-c', join(dir, 'nginx.conf')],
        {
          stdio: ['ignore', 'ignore', stderr],
        },
      );
      closeSync(stderr);
      expect(readFileSync(log, 'utf8')).toBe('');
      expect(result.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
