import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AssessmentDocument,
  CreatePatientDocument,
  MeDocument,
  PatientDocument,
  RecordObservationsDocument,
} from '../gql/graphql.js';
import { execute } from '../helpers/graphql.js';

const root = new URL('../..', import.meta.url).pathname;
const dataDir = mkdtempSync(join(tmpdir(), 'cc-embedded-'));

interface Started {
  child: ChildProcess;
  url: string;
  token: string;
  exited: Promise<number | null>;
}

/** Runs exactly what `npm start` runs (without npm's shell, so SIGTERM reaches the program). */
function start(): Promise<Started> {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } };
  const [command, ...args] = pkg.scripts.start.split(' ');
  expect(command).toBe('node');
  const child = spawn(process.execPath, args, {
    cwd: root,
    // No DATABASE_URL, no JWT_SECRET: everything embedded.
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`npm start printed no token in 60 s:\n${out}`)), 60_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const url = /^GraphiQL: (\S+)$/m.exec(out)?.[1];
      const token = /^Token: (\S+)$/m.exec(out)?.[1];
      if (url && token) {
        clearTimeout(timer);
        resolve({ child, url, token, exited });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((code) => reject(new Error(`npm start exited with ${code}:\n${out}`)));
  });
}

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('npm start (embedded mode)', () => {
  it('serves GraphiQL with a demo admin token, keeps data across restarts, and exits 0 on SIGTERM', async () => {
    const first = await start();
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
        input: {
          respiratoryRate: 24,
          spo2: 95,
          onSupplementalOxygen: false,
          systolicBp: 105,
          heartRate: 115,
          consciousness: 'ALERT',
          temperatureC: 38.5,
        },
      },
      { token: first.token },
    );
    const live = await execute(first.url, AssessmentDocument, { patientId: id }, { token: first.token });
    expect(live.expectData().assessment).toMatchObject({ score: 7, source: 'LIVE' });
    const cached = await execute(first.url, AssessmentDocument, { patientId: id }, { token: first.token });
    expect(cached.expectData().assessment.source).toBe('CACHE');
    const page = await fetch(first.url, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);

    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = await start();
    try {
      // Same secret (kept under the data directory), same PGlite files.
      const read = await execute(second.url, PatientDocument, { id }, { token: first.token });
      expect(read.expectData().patient?.mrn).toBe('EMB-1');
    } finally {
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    }
  }, 120_000);
});
