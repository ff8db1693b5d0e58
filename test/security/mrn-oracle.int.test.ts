import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres.js';
import { initOrm, migrateUp } from '../../src/db/orm.js';
import { queryDatabase } from '../helpers/database.js';
import { executeRaw } from '../helpers/graphql.js';
import { startTestApi, type TestApi } from '../helpers/server.js';

/**
 * The review's MRN oracle: a clinician with no access learnt that an MRN exists from
 * createPatient's duplicate answer, unaudited, and `mrn-1` / `MRN-1` could be two patients. The
 * answer stays BAD_USER_INPUT (the contract's; docs/security.md says why), but every such attempt
 * is audited against the patient who holds the MRN, and the MRN is unique in any case.
 */
let api: TestApi;
let alice: string;
let bob: string;
let patientId: string;

const create = (token: string, mrn: string) =>
  executeRaw<{ createPatient: { id: string } }>(
    api.url,
    {
      query: `mutation Probe($input: CreatePatientInput!) { createPatient(input: $input) { id } }`,
      variables: { input: { mrn, givenName: 'Ora', familyName: 'Cle', birthDate: '1970-05-06', sex: 'OTHER' } },
    },
    { token },
  );

beforeAll(async () => {
  api = await startTestApi();
  alice = await api.token('mrn-alice');
  bob = await api.token('mrn-bob');
  patientId = (await create(alice, 'ORACLE-7')).expectData().createPatient.id;
});
afterAll(() => api?.close());

describe('createPatient with an MRN already in use', () => {
  it('audits the refused attempt of a clinician without access against the existing patient', async () => {
    const res = await create(bob, 'ORACLE-7');
    expect(res.codes).toEqual(['BAD_USER_INPUT']);
    await api.auditSettled();
    const rows = await queryDatabase<{ patient_id: string | null; subtype: string; outcome: number; action: string }>(
      api.db.url,
      `select patient_id, subtype, outcome, action from audit_event where agent_id = 'mrn-bob'`,
    );
    expect(rows).toEqual([{ patient_id: patientId, subtype: 'patient.create', outcome: 4, action: 'C' }]);
  });

  it('treats MRNs that differ only in case as the same MRN', async () => {
    for (const mrn of ['oracle-7', 'Oracle-7']) {
      const res = await create(bob, mrn);
      expect(res.codes, mrn).toEqual(['BAD_USER_INPUT']);
    }
    const holders = await queryDatabase(api.db.url, `select id from patient where lower(mrn) = 'oracle-7'`);
    expect(holders).toHaveLength(1);
    await api.auditSettled();
    const audited = await queryDatabase<{ patient_id: string }>(
      api.db.url,
      `select patient_id from audit_event where agent_id = 'mrn-bob' and outcome = 4`,
    );
    expect(audited.map((r) => r.patient_id)).toEqual([patientId, patientId, patientId]);
  });

  it('answers concurrent creations of one MRN in different cases with exactly one patient', async () => {
    const answers = await Promise.all(['RACE-1', 'race-1', 'Race-1', 'rACE-1'].map((mrn) => create(alice, mrn)));
    expect(answers.filter((a) => a.codes.length === 0)).toHaveLength(1);
    expect(answers.filter((a) => a.codes[0] === 'BAD_USER_INPUT')).toHaveLength(3);
  });

  it('the migration runs on PGlite (the embedded mode) as on PostgreSQL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cc-pglite-'));
    const pglite = await startEmbeddedPostgres(dir);
    const orm = await initOrm({ databaseUrl: pglite.url, poolSize: 1, silent: true });
    try {
      await migrateUp(orm);
      const connection = orm.em.getConnection();
      await connection.execute(
        `insert into clinician (id, name, roles, created_at, last_seen_at) values ('x', 'x', '{clinician}', now(), now())`,
      );
      const insert = (mrn: string) =>
        connection.execute(
          `insert into patient (id, mrn, given_name, family_name, birth_date, sex, created_by_id, created_at)
           values (gen_random_uuid(), ?, 'a', 'b', '1970-01-01', 'OTHER', 'x', now())`,
          [mrn],
        );
      await insert('pg-1');
      await expect(insert('PG-1')).rejects.toThrow();
    } finally {
      await orm.close(true);
      await pglite.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
