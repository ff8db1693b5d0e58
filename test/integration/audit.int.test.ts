import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AddCareTeamMemberDocument,
  CreatePatientDocument,
  PatientListDocument,
  PatientViewDocument,
  RecordObservationsDocument,
  RemoveCareTeamMemberDocument,
} from '../../client/index.js';
import { queryDatabase } from '../helpers/database.js';
import { execute } from '../helpers/graphql.js';
import { startTestApi, type TestApi } from '../helpers/server.js';

interface AuditRow {
  action: string;
  outcome: number;
  agent_id: string;
  patient_id: string | null;
  subtype: string;
  operation_name: string | null;
  request_id: string | null;
}

let api: TestApi;
let token: string;
const MRN = 'AUDIT-MRN-7741';
const GIVEN = 'Zebedee';
const FAMILY = 'Quixotic';

beforeAll(async () => {
  api = await startTestApi();
  token = await api.token('auditor', { name: 'Dr Audit' });
});
afterAll(() => api?.close());

// Reads' events reach audit_event through the audit stream's drainer: wait for it, never sleep.
const auditRows = async (patientId: string) => {
  await api.auditSettled();
  return queryDatabase<AuditRow>(
    api.db.url,
    `select action, outcome, agent_id, patient_id, subtype, operation_name, request_id
         from audit_event where patient_id = $1 order by recorded_at, subtype`,
    [patientId],
  );
};

describe('audit events', () => {
  let patientId: string;

  it('records the creation, in the same transaction as the patient', async () => {
    const res = await execute(
      api.url,
      CreatePatientDocument,
      { input: { mrn: MRN, givenName: GIVEN, familyName: FAMILY, birthDate: '1941-04-01', sex: 'MALE' } },
      { token, headers: { 'x-request-id': 'req-create-1' } },
    );
    patientId = res.expectData().createPatient.id;
    expect(await auditRows(patientId)).toEqual([
      {
        action: 'C',
        outcome: 0,
        agent_id: 'auditor',
        patient_id: patientId,
        subtype: 'patient.create',
        operation_name: 'CreatePatient',
        request_id: 'req-create-1',
      },
    ]);
  });

  it('records each read once per operation, before the answer is sent', async () => {
    const res = await execute(api.url, PatientViewDocument, { id: patientId }, { token });
    res.expectData();
    // The response is only sent once the event is durable (in the audit stream); auditRows waits
    // for the drain into audit_event.
    const reads = (await auditRows(patientId)).filter((r) => r.action === 'R');
    expect(reads).toEqual([
      expect.objectContaining({ subtype: 'patient.read', outcome: 0, operation_name: 'PatientView' }),
    ]);
  });

  it('records list reads for every patient returned, in one batch', async () => {
    await execute(api.url, PatientListDocument, { first: 10 }, { token });
    const reads = (await auditRows(patientId)).filter((r) => r.subtype === 'patient.search');
    expect(reads).toHaveLength(1);
  });

  it('records writes and refused accesses with FHIR outcome codes', async () => {
    await execute(api.url, RecordObservationsDocument, { patientId, input: { heartRate: 71 } }, { token });
    await execute(api.url, RecordObservationsDocument, { patientId, input: { heartRate: 900 } }, { token });
    const stranger = await api.token('stranger');
    await execute(api.url, PatientViewDocument, { id: patientId }, { token: stranger });
    await execute(api.url, AddCareTeamMemberDocument, { patientId, clinicianId: 'x' }, { token: stranger });

    const rows = await auditRows(patientId);
    expect(rows.filter((r) => r.subtype === 'patient.observations.create').map((r) => [r.action, r.outcome])).toEqual([
      ['C', 0],
      ['C', 4],
    ]);
    expect(rows.filter((r) => r.agent_id === 'stranger').map((r) => [r.action, r.subtype, r.outcome])).toEqual([
      ['R', 'patient.read', 4],
      ['U', 'patient.careTeam.add', 4],
    ]);
  });

  it('names the clinician a care-team change was about, refused changes included', async () => {
    await execute(api.url, AddCareTeamMemberDocument, { patientId, clinicianId: 'dr-added' }, { token }).then((r) =>
      r.expectData(),
    );
    await execute(api.url, RemoveCareTeamMemberDocument, { patientId, clinicianId: 'dr-added' }, { token }).then((r) =>
      r.expectData(),
    );
    // The last member cannot go: refused, and still the clinician it was about is on record.
    const last = await execute(api.url, RemoveCareTeamMemberDocument, { patientId, clinicianId: 'auditor' }, { token });
    expect(last.codes).toEqual(['BAD_USER_INPUT']);
    await api.auditSettled();
    const rows = await queryDatabase<{
      subtype: string;
      outcome: number;
      agent_id: string;
      entity_clinician_id: string | null;
    }>(
      api.db.url,
      `select subtype, outcome, agent_id, entity_clinician_id from audit_event
        where patient_id = $1 and subtype like 'patient.careTeam.%' order by recorded_at`,
      [patientId],
    );
    expect(rows).toEqual([
      { subtype: 'patient.careTeam.add', outcome: 4, agent_id: 'stranger', entity_clinician_id: 'x' },
      { subtype: 'patient.careTeam.add', outcome: 0, agent_id: 'auditor', entity_clinician_id: 'dr-added' },
      { subtype: 'patient.careTeam.remove', outcome: 0, agent_id: 'auditor', entity_clinician_id: 'dr-added' },
      { subtype: 'patient.careTeam.remove', outcome: 4, agent_id: 'auditor', entity_clinician_id: 'auditor' },
    ]);
    // Every other access names no second clinician.
    const others = await queryDatabase<{ n: number }>(
      api.db.url,
      `select count(*)::int as n from audit_event
        where patient_id = $1 and subtype not like 'patient.careTeam.%' and entity_clinician_id is not null`,
      [patientId],
    );
    expect(others).toEqual([{ n: 0 }]);
  });

  it('audits many concurrent reads with fewer writes than reads (group commit), losing none', async () => {
    const before = (await auditRows(patientId)).length;
    const insertsBefore = api.deps.auditLog.stats.writes;
    await Promise.all(
      Array.from({ length: 40 }, () =>
        execute(api.url, PatientViewDocument, { id: patientId }, { token }).then((r) => r.expectData()),
      ),
    );
    expect((await auditRows(patientId)).length).toBe(before + 40);
    const inserts = api.deps.auditLog.stats.writes - insertsBefore;
    expect(inserts).toBeGreaterThan(0);
    expect(inserts).toBeLessThan(40);
  });

  it('never puts patient names or MRNs in the logs', async () => {
    // Provoke logging on every path we have: success, bad input, not found.
    await execute(api.url, PatientListDocument, { search: GIVEN }, { token });
    await execute(
      api.url,
      CreatePatientDocument,
      { input: { mrn: MRN, givenName: GIVEN, familyName: FAMILY, birthDate: '1941-04-01', sex: 'MALE' } },
      { token },
    );
    expect(api.logs.lines.length).toBeGreaterThan(0);
    for (const secret of [MRN, GIVEN, FAMILY]) expect(api.logs.text).not.toContain(secret);
  });
});
