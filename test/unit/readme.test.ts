/**
 * The README's promises about a fresh clone are what CI runs: its "Two commands" are .ci/run's
 * commands, in order, and no link in the README or docs/ points outside the repository.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;
const read = (file: string) => readFileSync(join(root, file), 'utf8');

function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  expect(start, `a "## ${heading}" section`).toBeGreaterThan(0);
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, end < 0 ? undefined : end);
}

describe('README', () => {
  it('its two commands are what CI runs on a fresh clone, in that order', () => {
    const first = /```sh\n([\s\S]*?)```/.exec(section(read('README.md'), 'Two commands'))?.[1] ?? '';
    const commands = first.trim().split('\n');
    expect(commands).toEqual(['npm install', 'npm test']);
    const ci = read('.ci/run').split('\n');
    const at = commands.map((command) => ci.findIndex((line) => line === command || line.startsWith(`${command} --`)));
    expect(
      at.every((i) => i >= 0),
      `.ci/run runs ${commands.join(', ')}`,
    ).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    // The install is the locked one: CI fails if `npm install` changed a lock.
    expect(ci).toContain('git diff --exit-code package-lock.json gateway/package-lock.json');
  });

  it('links only to files inside the repository, all of which exist', () => {
    const files = ['README.md', ...readdirSync(join(root, 'docs')).map((f) => `docs/${f}`)];
    for (const file of files.filter((f) => f.endsWith('.md'))) {
      for (const [, target = ''] of read(file).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^https?:\/\//.test(target) || target.startsWith('#')) continue;
        const path = resolve(dirname(join(root, file)), target.split('#')[0] ?? '');
        expect(path.startsWith(root), `${file} links outside the repository: ${target}`).toBe(true);
        expect(existsSync(path), `${file} links to a missing ${target}`).toBe(true);
      }
    }
  });
});
