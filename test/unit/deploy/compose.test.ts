import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import {
  API_ENTRY,
  buildContext,
  CONFIG_KEYS,
  type ComposeFile,
  checkGatewayCommand,
  checkNodeCommand,
  composeValidator,
  configProblems,
  defined,
  durationSeconds,
  ENTRY_POINTS,
  GATEWAY_COMMANDS,
  GATEWAY_CONFIG_KEYS,
  GATEWAY_DIR,
  type GatewayRole,
  gatewayConfigProblems,
  interpolate,
  MIGRATE_ENTRY,
  ML_ENTRY,
  ROOT,
  read,
  WORKER_ENTRY,
} from './shared.js';

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
