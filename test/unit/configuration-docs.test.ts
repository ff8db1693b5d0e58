/**
 * docs/configuration.md documents every setting the configuration reads, and tells the contract's
 * settings from this project's extensions. The contract (shared/spec/CONTRACT.md, outside this
 * repository and read-only to it) is transcribed below: a variable it names must be marked
 * "contract", every other one "extension".
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_ENV_KEYS, LLM_STRUCTURED_OUTPUT_MODES } from '../../src/config.js';

/** The contract's Environment table, and the two ports its list of processes names. */
const CONTRACT_VARIABLES = [
  'PORT',
  'HOST',
  'DATABASE_URL',
  'REDIS_URL',
  'NATS_URL',
  'ML_URL',
  'LLM_PROVIDER',
  'LLM_BASE_URL',
  'LLM_API_KEY',
  'LLM_MODEL',
  'JWT_SECRET',
  'JWT_JWKS_URL',
  'JWT_ISSUER',
  'JWT_AUDIENCE',
  'ML_PORT',
  'WORKER_HEALTH_PORT',
];

/** Read by the tests and the benchmarks only, never by a deployed process. */
const TEST_ONLY = /^TEST_/;

interface Row {
  variables: string[];
  default: string;
  origin: string;
}

function rows(): Row[] {
  const markdown = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  const header = '| variable | meaning | default | contract or extension |';
  const start = markdown.indexOf(header);
  expect(start, 'the configuration table').toBeGreaterThan(0);
  const lines = markdown.slice(start).split('\n').slice(2);
  const table = lines.slice(
    0,
    lines.findIndex((line) => !line.startsWith('|')),
  );
  return table.map((line) => {
    const cells = line.split(' | ');
    return {
      variables: [...(cells[0] ?? '').matchAll(/`([A-Z0-9_]+)`/g)].map((m) => m[1] as string),
      default: cells[2] ?? '',
      origin: (cells[3] ?? '').replace(/\s*\|\s*$/, ''),
    };
  });
}

describe('docs/configuration.md', () => {
  const table = rows();
  const documented = table.flatMap((row) => row.variables);

  it('documents every variable the configuration reads (CONFIG_ENV_KEYS)', () => {
    expect(CONFIG_ENV_KEYS.length).toBeGreaterThan(50);
    for (const key of CONFIG_ENV_KEYS) expect(documented, key).toContain(key);
  });

  it('documents no variable the configuration does not read, but the tests’ own', () => {
    for (const variable of documented)
      if (!TEST_ONLY.test(variable)) expect(CONFIG_ENV_KEYS, variable).toContain(variable);
  });

  it('marks exactly the contract’s variables "contract", every other one "extension"', () => {
    for (const row of table) expect(['contract', 'extension'], row.variables.join()).toContain(row.origin);
    const marked = table.filter((row) => row.origin === 'contract').flatMap((row) => row.variables);
    expect(marked.sort()).toEqual([...CONTRACT_VARIABLES].sort());
  });

  it('documents LLM_STRUCTURED_OUTPUT as an extension, with the default the configuration uses', () => {
    const row = table.find((r) => r.variables.includes('LLM_STRUCTURED_OUTPUT'));
    expect(row?.origin).toBe('extension');
    expect(row?.default).toBe(`\`${LLM_STRUCTURED_OUTPUT_MODES.join(',')}\``);
    expect(CONFIG_ENV_KEYS).toContain('LLM_STRUCTURED_OUTPUT');
  });
});
