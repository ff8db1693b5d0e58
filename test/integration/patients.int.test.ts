import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AddCareTeamMemberDocument,
  CreatePatientDocument,
  type CreatePatientInput,
  PatientListDocument,
  type PatientListQuery,
  PatientViewDocument,
  RecordObservationsDocument,
} from '../../client/index.js';
import { PatientObservationsDocument } from '../gql/graphql.js';
import { queryDatabase } from '../helpers/database.js';
import { execute, type GraphQLResponse } from '../helpers/graphql.js';
import { startTestApi, type TestApi } from '../helpers/server.js';

let api: TestApi;
let alice: string; // clinician
let bob: string; // another clinician
let admin: string;
let seq = 0;

function newPatient(overrides: Partial<CreatePatientInput> = {}): CreatePatientInput {
  seq += 1;
  return {
    mrn: `MRN-${Date.now().toString(36)}-${seq}`,
    givenName: 'Grace',
    familyName: 'Hopper',
    birthDate: '1956-12-09',
    sex: 'FEMALE',
    ...overrides,
  };
}

async function create(token: string, overrides: Partial<CreatePatientInput> = {}) {
  const res = await execute(api.url, CreatePatientDocument, { input: newPatient(overrides) }, { token });
  return res.expectData().createPatient;
}

beforeAll(async () => {
  api = await startTestApi();
  [alice, bob, admin] = await Promise.all([
    api.token('alice', { name: 'Dr Alice' }),
    api.token('bob', { name: 'Dr Bob' }),
    api.token('root', { name: 'Admin', roles: ['clinician', 'admin'] }),
  ]);
});
afterAll(() => api?.close());

describe('createPatient and patient', () => {
  it('round-trips a patient and puts its creator on the care team', async () => {
    const input = newPatient({ givenName: 'Ada', familyName: 'Lovelace', birthDate: '1980-12-10', sex: 'OTHER' });
    const created = (await execute(api.url, CreatePatientDocument, { input }, { token: alice })).expectData()
      .createPatient;
    expect(created).toMatchObject(input);
    expect(created.careTeam).toEqual([{ id: 'alice', name: 'Dr Alice', roles: ['clinician'] }]);
    expect(new Date(created.createdAt).getTime()).toBeGreaterThan(Date.now() - 60_000);

    const read = (await execute(api.url, PatientViewDocument, { id: created.id }, { token: alice })).expectData()
      .patient;
    expect(read).toMatchObject({ ...created, latestObservations: null });
  });

  it('rejects a second patient with the same MRN and writes nothing', async () => {
    const first = await create(alice);
    const before = await queryDatabase(api.db.url, 'select count(*)::int as n from patient');
    const res = await execute(
      api.url,
      CreatePatientDocument,
      { input: newPatient({ mrn: first.mrn }) },
      { token: bob },
    );
    expect(res.codes).toEqual(['BAD_USER_INPUT']);
    expect(res.errors?.[0]?.message).toBe('A patient with this MRN already exists');
    const after = await queryDatabase(api.db.url, 'select count(*)::int as n from patient');
    expect(after).toEqual(before);
  });

  it.each([
    [{ mrn: '' }, 'mrn'],
    [{ mrn: '-bad' }, 'mrn'],
    [{ givenName: '   ' }, 'givenName'],
    [{ familyName: 'x'.repeat(101) }, 'familyName'],
    [{ birthDate: '2999-01-01' }, 'birthDate'],
    [{ birthDate: '1899-12-31' }, 'birthDate'],
  ])('rejects invalid input %j as BAD_USER_INPUT on %s', async (overrides, field) => {
    const res = await execute(api.url, CreatePatientDocument, { input: newPatient(overrides) }, { token: alice });
    expect(res.codes).toEqual(['BAD_USER_INPUT']);
    expect(res.errors?.[0]?.extensions?.field).toBe(field);
  });

  it('rejects a date that is not a calendar date before execution', async () => {
    const res = await execute(
      api.url,
      CreatePatientDocument,
      { input: newPatient({ birthDate: '1990-02-30' }) },
      { token: alice },
    );
    expect(res.codes).toEqual(['BAD_USER_INPUT']);
  });

  it('rejects an unknown enum value as BAD_USER_INPUT', async () => {
    const res = await execute(
      api.url,
      CreatePatientDocument,
      { input: { ...newPatient(), sex: 'ALIEN' as 'FEMALE' } },
      { token: alice },
    );
    expect(res.codes).toEqual(['BAD_USER_INPUT']);
  });
});

describe('the care-team rule', () => {
  it("answers another clinician's patient exactly like a missing one", async () => {
    const patient = await create(alice);
    const hidden = await execute(api.url, PatientViewDocument, { id: patient.id }, { token: bob });
    const missing = await execute(api.url, PatientViewDocument, { id: crypto.randomUUID() }, { token: bob });
    const malformed = await execute(api.url, PatientViewDocument, { id: 'not-a-uuid' }, { token: bob });
    for (const res of [hidden, missing, malformed]) {
      expect(res.status).toBe(200);
      expect(res.data).toEqual({ patient: null });
      expect(res.errors).toEqual([
        {
          message: 'Patient not found',
          path: ['patient'],
          locations: expect.any(Array),
          extensions: { code: 'NOT_FOUND' },
        },
      ]);
    }
  });

  it("refuses writes to another clinician's patient with NOT_FOUND and writes nothing", async () => {
    const patient = await create(alice);
    const obs = await execute(
      api.url,
      RecordObservationsDocument,
      { patientId: patient.id, input: { heartRate: 80 } },
      { token: bob },
    );
    expect(obs.codes).toEqual(['NOT_FOUND']);
    const add = await execute(
      api.url,
      AddCareTeamMemberDocument,
      { patientId: patient.id, clinicianId: 'bob' },
      { token: bob },
    );
    expect(add.codes).toEqual(['NOT_FOUND']);
    const rows = await queryDatabase(api.db.url, 'select count(*)::int as n from observation where patient_id = $1', [
      patient.id,
    ]);
    expect(rows).toEqual([{ n: 0 }]);
    const team = await queryDatabase(api.db.url, 'select clinician_id from care_team_member where patient_id = $1', [
      patient.id,
    ]);
    expect(team).toEqual([{ clinician_id: 'alice' }]);
  });

  it('lets admins see every patient', async () => {
    const patient = await create(alice);
    const res = await execute(api.url, PatientViewDocument, { id: patient.id }, { token: admin });
    expect(res.expectData().patient?.id).toBe(patient.id);
  });

  it('grants access once a clinician is added to the care team, idempotently', async () => {
    const patient = await create(alice);
    const carol = await api.token('carol', { name: 'Dr Carol' });
    expect((await execute(api.url, PatientViewDocument, { id: patient.id }, { token: carol })).data).toEqual({
      patient: null,
    });

    // Carol has never signed in: she is referenced by her subject, and her name arrives with her token.
    for (let i = 0; i < 2; i++) {
      const res = await execute(
        api.url,
        AddCareTeamMemberDocument,
        { patientId: patient.id, clinicianId: 'carol' },
        { token: alice },
      );
      expect(res.expectData().addCareTeamMember.careTeam.map((c) => c.id)).toEqual(['alice', 'carol']);
    }
    const read = await execute(api.url, PatientViewDocument, { id: patient.id }, { token: carol });
    expect(read.expectData().patient?.careTeam).toEqual([
      { id: 'alice', name: 'Dr Alice', roles: ['clinician'] },
      { id: 'carol', name: 'Dr Carol', roles: ['clinician'] },
    ]);
  });

  it('lists only the patients the viewer may see', async () => {
    const dave = await api.token(`dave-${seq}`);
    const eve = await api.token(`eve-${seq}`);
    const mine = await create(dave);
    await create(eve);
    const res = await execute(api.url, PatientListDocument, { first: 100 }, { token: dave });
    expect(res.expectData().patients.edges.map((e) => e.node.id)).toEqual([mine.id]);
  });
});

describe('patients: pagination and search', () => {
  it('pages through every patient exactly once, newest first', async () => {
    const frank = await api.token('frank');
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await create(frank)).id);

    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const res: GraphQLResponse<PatientListQuery> = await execute(
        api.url,
        PatientListDocument,
        { first: 3, after },
        { token: frank },
      );
      const { edges, pageInfo } = res.expectData().patients;
      seen.push(...edges.map((e) => e.node.id));
      pages += 1;
      expect(pageInfo.hasPreviousPage).toBe(false);
      expect(pageInfo.endCursor).toBe(edges.at(-1)?.cursor ?? null);
      if (!pageInfo.hasNextPage) break;
      after = pageInfo.endCursor;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
  });

  it('rejects a forged cursor and an oversized page with BAD_USER_INPUT', async () => {
    const bad = await execute(api.url, PatientListDocument, { after: 'bm90LWEtY3Vyc29y' }, { token: alice });
    expect(bad.codes).toEqual(['BAD_USER_INPUT']);
    const big = await execute(api.url, PatientListDocument, { first: 101 }, { token: alice });
    expect(big.codes).toEqual(['BAD_USER_INPUT']);
    const negative = await execute(api.url, PatientListDocument, { first: -1 }, { token: alice });
    expect(negative.codes).toEqual(['BAD_USER_INPUT']);
  });

  it('searches by a case-insensitive prefix of MRN, given name or family name', async () => {
    const gina = await api.token('gina');
    const a = await create(gina, { mrn: 'ZX-100', givenName: 'Marie', familyName: 'Curie' });
    const b = await create(gina, { mrn: 'ZX-200', givenName: 'Pierre', familyName: 'Curie' });
    const c = await create(gina, { mrn: 'QQ-1', givenName: 'Ro_s%lind', familyName: 'Franklin' });
    const ids = async (search: string) =>
      (await execute(api.url, PatientListDocument, { search, first: 50 }, { token: gina }))
        .expectData()
        .patients.edges.map((e) => e.node.id)
        .sort();
    expect(await ids('zx-')).toEqual([a.id, b.id].sort());
    expect(await ids('CUR')).toEqual([a.id, b.id].sort());
    expect(await ids('mar')).toEqual([a.id]);
    expect(await ids('ro_s%')).toEqual([c.id]);
    expect(await ids('urie')).toEqual([]); // a prefix, not a substring
    // % and _ are characters here, not wildcards.
    expect(await ids('ro%')).toEqual([]);
    expect(await ids('r_')).toEqual([]);
  });
});

describe('recordObservations', () => {
  it('keeps every recording as a row and the latest value of each field as the snapshot', async () => {
    const patient = await create(alice);
    const first = await execute(
      api.url,
      RecordObservationsDocument,
      { patientId: patient.id, input: { heartRate: 88, spo2: 95, consciousness: 'ALERT', smoker: true } },
      { token: alice },
    );
    const firstSnapshot = first.expectData().recordObservations.latestObservations;
    expect(firstSnapshot).toMatchObject({
      heartRate: 88,
      spo2: 95,
      consciousness: 'ALERT',
      smoker: true,
      systolicBp: null,
    });

    const second = await execute(
      api.url,
      RecordObservationsDocument,
      { patientId: patient.id, input: { heartRate: 102, systolicBp: 118, diastolicBp: 76 } },
      { token: alice },
    );
    const snapshot = second.expectData().recordObservations.latestObservations;
    expect(snapshot).toMatchObject({
      heartRate: 102,
      systolicBp: 118,
      diastolicBp: 76,
      spo2: 95,
      consciousness: 'ALERT',
      smoker: true,
      temperatureC: null,
    });
    expect(new Date(snapshot?.recordedAt ?? 0).getTime()).toBeGreaterThanOrEqual(
      new Date(firstSnapshot?.recordedAt ?? 0).getTime(),
    );

    const history = await execute(api.url, PatientObservationsDocument, { id: patient.id, first: 1 }, { token: alice });
    const page = history.expectData().patient?.observations;
    expect(page?.edges.map((e) => e.node.heartRate)).toEqual([102]);
    expect(page?.edges[0]?.node.recordedById).toBe('alice');
    expect(page?.pageInfo.hasNextPage).toBe(true);
    const rest = await execute(
      api.url,
      PatientObservationsDocument,
      { id: patient.id, first: 10, after: page?.pageInfo.endCursor },
      { token: alice },
    );
    expect(rest.expectData().patient?.observations.edges.map((e) => e.node.heartRate)).toEqual([88]);
  });

  it.each([
    [{ heartRate: 19.9 }, 'heartRate'],
    [{ heartRate: 301 }, 'heartRate'],
    [{ spo2: 101 }, 'spo2'],
    [{ temperatureC: 98.6 }, 'temperatureC'],
    [{ respiratoryRate: -1 }, 'respiratoryRate'],
    [{ systolicBp: 120, diastolicBp: 130 }, 'diastolicBp'],
    [{ totalCholesterol: 5.2 }, 'totalCholesterol'],
    [{ totalCholesterol: 150, hdlCholesterol: 160 }, 'hdlCholesterol'],
    [{}, undefined],
  ])('rejects %j as BAD_USER_INPUT and writes nothing', async (input, field) => {
    const patient = await create(alice);
    const res = await execute(api.url, RecordObservationsDocument, { patientId: patient.id, input }, { token: alice });
    expect(res.codes).toEqual(['BAD_USER_INPUT']);
    expect(res.errors?.[0]?.extensions?.field).toBe(field);
    // The message names the field and never echoes the value.
    for (const value of Object.values(input)) expect(res.errors?.[0]?.message).not.toContain(String(value));
    const rows = await queryDatabase(api.db.url, 'select count(*)::int as n from observation where patient_id = $1', [
      patient.id,
    ]);
    expect(rows).toEqual([{ n: 0 }]);
  });

  it('loses no field when recordings for one patient race', async () => {
    const patient = await create(alice);
    const inputs = [
      { heartRate: 70 },
      { systolicBp: 120 },
      { diastolicBp: 80 },
      { respiratoryRate: 16 },
      { temperatureC: 37 },
      { spo2: 97 },
      { onSupplementalOxygen: false },
      { totalCholesterol: 190 },
      { hdlCholesterol: 50 },
      { diabetic: false },
    ];
    const results = await Promise.all(
      inputs.map((input) =>
        execute(api.url, RecordObservationsDocument, { patientId: patient.id, input }, { token: alice }),
      ),
    );
    for (const r of results) r.expectData();
    const read = await execute(api.url, PatientViewDocument, { id: patient.id }, { token: alice });
    expect(read.expectData().patient?.latestObservations).toMatchObject(Object.assign({}, ...inputs));
    const rows = await queryDatabase(api.db.url, 'select count(*)::int as n from observation where patient_id = $1', [
      patient.id,
    ]);
    expect(rows).toEqual([{ n: inputs.length }]);
  });

  it('lists concurrent recordings of one field in the order they were applied, the newest being the live value', async () => {
    const patient = await create(alice);
    const rates = Array.from({ length: 20 }, (_, i) => 60 + i);
    const results = await Promise.all(
      rates.map((heartRate) =>
        execute(api.url, RecordObservationsDocument, { patientId: patient.id, input: { heartRate } }, { token: alice }),
      ),
    );
    for (const r of results) r.expectData();
    const history = await queryDatabase<{ heart_rate: number; at: string }>(
      api.db.url,
      `select heart_rate, recorded_at::text as at from observation where patient_id = $1 order by recorded_at, id`,
      [patient.id],
    );
    // Strictly increasing: no two recordings share an instant, whatever the clock did.
    expect(new Set(history.map((h) => h.at)).size).toBe(rates.length);
    const live = (await execute(api.url, PatientViewDocument, { id: patient.id }, { token: alice })).expectData()
      .patient?.latestObservations;
    expect(live?.heartRate).toBe(history.at(-1)?.heart_rate);
  });
});
