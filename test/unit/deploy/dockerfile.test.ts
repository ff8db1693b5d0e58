import { existsSync, readdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';

import {
  API_ENTRY,
  BUILD_INCLUDE,
  check,
  checkGatewayCommand,
  checkNodeCommand,
  defined,
  dockerignoreExcludes,
  dockerStages,
  GATEWAY_COMMANDS,
  GATEWAY_DIR,
  ROOT,
  read,
  runs,
  type Stage,
} from './shared.js';

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
