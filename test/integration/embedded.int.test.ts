import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CreatePatientDocument,
  MeDocument,
  PatientAssessmentDocument,
  PatientViewDocument,
  RecordObservationsDocument,
} from '../../client/index.js';
import { embeddedEnv, runTokenScript, spawnEmbedded, startEmbedded } from '../helpers/embedded.js';
import { execute } from '../helpers/graphql.js';
import { VITALS_NEWS2_7 } from '../helpers/patients.js';

const dirs: string[] = [];
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cc-embedded-'));
  dirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('npm start (embedded mode)', () => {
  it('serves GraphiQL with a demo admin token, keeps data across restarts, and exits 0 on SIGTERM', async () => {
    const dir = dataDir();
    const first = await startEmbedded(dir);
    expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/graphql$/);
    const me = await execute(first.url, MeDocument, {}, { token: first.token });
    expect(me.expectData().me.roles).toEqual(['clinician', 'admin']);

    const created = await execute(
      first.url,
      CreatePatientDocument,
      {
        input: { mrn: 'EMB-1', givenName: 'Embedded', familyName: 'Patient', birthDate: '1990-01-01', sex: 'UNKNOWN' },
      },
      { token: first.token },
    );
    const id = created.expectData().createPatient.id;
    // Assessments run on the in-process model server and cache.
    await execute(
      first.url,
      RecordObservationsDocument,
      {
        patientId: id,
        input: VITALS_NEWS2_7,
      },
      { token: first.token },
    );
    const live = await execute(first.url, PatientAssessmentDocument, { patientId: id }, { token: first.token });
    expect(live.expectData().assessment).toMatchObject({ score: 7, source: 'LIVE' });
    const cached = await execute(first.url, PatientAssessmentDocument, { patientId: id }, { token: first.token });
    expect(cached.expectData().assessment.source).toBe('CACHE');
    const page = await fetch(first.url, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);

    expect(await first.stop()).toBe(0);

    const second = await startEmbedded(dir);
    try {
      // Same secret (kept under the data directory), same PGlite files.
      const read = await execute(second.url, PatientViewDocument, { id }, { token: first.token });
      expect(read.expectData().patient?.mrn).toBe('EMB-1');
    } finally {
      expect(await second.stop()).toBe(0);
    }
  }, 180_000);

  it('refuses a second instance on the same data directory before opening it, with one line', async () => {
    const dir = dataDir();
    const first = await startEmbedded(dir);
    try {
      expect(readFileSync(join(dir, 'lock'), 'utf8').trim()).toBe(String(first.child.pid));
      const second = spawnEmbedded(dir);
      expect(await second.exited).not.toBe(0);
      // One clear line, naming the holder; nothing started: no migrations, no worker, no server.
      expect(second.output().trim().split('\n')).toEqual([
        `start failed: ${dir} is in use by another npm start (pid ${first.child.pid}); stop it first, or give this one its own DATA_DIR`,
      ]);
      // The first instance is unharmed and still holds the lock.
      const me = await execute(first.url, MeDocument, {}, { token: first.token });
      expect(me.expectData().me.id).toBe('demo-admin');
      expect(readFileSync(join(dir, 'lock'), 'utf8').trim()).toBe(String(first.child.pid));
    } finally {
      expect(await first.stop()).toBe(0);
    }
    // A clean stop removes the lock.
    expect(existsSync(join(dir, 'lock'))).toBe(false);
  }, 180_000);

  it('takes over a stale lock whose process is gone', async () => {
    const dir = dataDir();
    // A pid that certainly existed and is certainly gone: a child that has exited.
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(join(dir, 'lock'), `${gone.stdout}\n`);
    const instance = await startEmbedded(dir);
    try {
      expect(readFileSync(join(dir, 'lock'), 'utf8').trim()).toBe(String(instance.child.pid));
    } finally {
      expect(await instance.stop()).toBe(0);
    }
  }, 180_000);

  it('npm run token signs with the kept secret when JWT_SECRET is unset', async () => {
    const dir = dataDir();
    const before = runTokenScript(['--sub', 'dr-early'], embeddedEnv(dir));
    expect(before.status).toBe(1);
    expect(before.stderr.trim()).toBe(
      `token: no JWT_SECRET, and no ${join(dir, 'jwt-secret')} yet: run \`npm start\` once, or set JWT_SECRET`,
    );

    const instance = await startEmbedded(dir);
    try {
      const minted = runTokenScript(['--sub', 'dr-token', '--name', 'Dr Token'], embeddedEnv(dir));
      expect(minted.status).toBe(0);
      const token = minted.stdout.trim();
      expect(minted.stdout).toBe(`${token}\n`);
      const me = await execute(instance.url, MeDocument, {}, { token });
      expect(me.expectData().me).toMatchObject({ id: 'dr-token', name: 'Dr Token', roles: ['clinician'] });
    } finally {
      expect(await instance.stop()).toBe(0);
    }
  }, 180_000);
});
