import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryDatabase } from '../helpers/database.js';
import { executeRaw } from '../helpers/graphql.js';
import { startTestApi, type TestApi } from '../helpers/server.js';
import { eventually } from '../helpers/services.js';
import { connectWs } from '../helpers/ws.js';

/**
 * The review's audit gaps: every access to a patient's data — granted or refused, query,
 * mutation or subscription event — leaves a row naming the patient when it exists, with the
 * operation's name.
 */
interface AuditRow {
  agent_id: string;
  patient_id: string | null;
  subtype: string;
  outcome: number;
  operation_name: string | null;
}

let api: TestApi;
let owner: string;
let stranger: string;
let patientId: string;
let diagnosisId: string;

const gql = (token: string, query: string, variables: Record<string, unknown> = {}, path = '/graphql') =>
  executeRaw<Record<string, unknown>>(`${api.base}${path}`, { query, variables }, { token });

// Reads' events reach audit_event through the audit stream's drainer: wait for it, never sleep.
const rows = async (agent: string, subtype?: string) => {
  await api.auditSettled();
  return queryDatabase<AuditRow>(
    api.db.url,
    `select agent_id, patient_id, subtype, outcome, operation_name from audit_event
        where agent_id = $1 and ($2::text is null or subtype = $2) order by recorded_at`,
    [agent, subtype ?? null],
  );
};

const doc = (query: string) => parse(query) as never;

beforeAll(async () => {
  api = await startTestApi();
  owner = await api.token('audit-owner');
  stranger = await api.token('audit-stranger');
  const created = await gql(
    owner,
    `mutation { createPatient(input: { mrn: "GAP-1", givenName: "Ada", familyName: "Gap", birthDate: "1950-01-01", sex: FEMALE }) { id } }`,
  );
  patientId = (created.expectData().createPatient as { id: string }).id;
  (
    await gql(
      owner,
      `mutation R($id: ID!) { recordObservations(patientId: $id, input: { respiratoryRate: 18, spo2: 97, onSupplementalOxygen: false, systolicBp: 120, heartRate: 70, consciousness: ALERT, temperatureC: 37 }) { id } }`,
      { id: patientId },
    )
  ).expectData();
  const requested = await gql(
    owner,
    `mutation D($id: ID!) { requestDiagnosis(patientId: $id, input: { symptoms: ["cough"] }) { id } }`,
    { id: patientId },
  );
  diagnosisId = (requested.expectData().requestDiagnosis as { id: string }).id;
});
afterAll(() => api?.close());

describe('refused accesses name the patient', () => {
  it('diagnosis(id) of another clinician’s patient', async () => {
    const res = await gql(stranger, `query Peek($id: ID!) { diagnosis(id: $id) { id } }`, { id: diagnosisId });
    expect(res.codes).toEqual(['NOT_FOUND']);
    expect(await rows('audit-stranger', 'diagnosis.read')).toEqual([
      {
        agent_id: 'audit-stranger',
        patient_id: patientId,
        subtype: 'diagnosis.read',
        outcome: 4,
        operation_name: 'Peek',
      },
    ]);
  });

  it('_entities for another clinician’s diagnosis', async () => {
    const res = await gql(
      stranger,
      `query Entities($r: [_Any!]!) { _entities(representations: $r) { ... on Diagnosis { id } } }`,
      { r: [{ __typename: 'Diagnosis', id: diagnosisId }] },
      '/subgraph',
    );
    expect(res.codes).toEqual(['NOT_FOUND']);
    const refused = (await rows('audit-stranger', 'diagnosis.read')).filter((r) => r.operation_name === 'Entities');
    expect(refused).toEqual([expect.objectContaining({ patient_id: patientId, outcome: 4 })]);
  });

  it('cancelDiagnosis of another clinician’s diagnosis', async () => {
    const res = await gql(stranger, `mutation Stop($id: ID!) { cancelDiagnosis(id: $id) { id } }`, { id: diagnosisId });
    expect(res.codes).toEqual(['NOT_FOUND']);
    expect(await rows('audit-stranger', 'diagnosis.cancel')).toEqual([
      expect.objectContaining({ patient_id: patientId, outcome: 4, operation_name: 'Stop' }),
    ]);
  });

  it('subscriptions over WebSocket, with their operation name', async () => {
    const ws = connectWs(api.wsUrl, `Bearer ${stranger}`);
    await ws.connected;
    const byPatient = await ws.run(doc(`subscription Spy($id: ID!) { patientDiagnoses(patientId: $id) { id } }`), {
      id: patientId,
    });
    expect(byPatient.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
    const byDiagnosis = await ws.run(doc(`subscription Follow($id: ID!) { diagnosisUpdated(id: $id) { id } }`), {
      id: diagnosisId,
    });
    expect(byDiagnosis.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
    await ws.dispose();
    expect(await rows('audit-stranger', 'diagnosis.subscribe')).toEqual([
      expect.objectContaining({ patient_id: patientId, outcome: 4, operation_name: 'Spy' }),
      expect.objectContaining({ patient_id: patientId, outcome: 4, operation_name: 'Follow' }),
    ]);
  });

  it('subscriptions over SSE', async () => {
    const res = await fetch(`${api.base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${stranger}` },
      body: JSON.stringify({
        query: `subscription SseSpy($id: ID!) { patientDiagnoses(patientId: $id) { id } }`,
        variables: { id: patientId },
      }),
    });
    expect(await res.text()).toContain('NOT_FOUND');
    const refused = (await rows('audit-stranger', 'diagnosis.subscribe')).filter((r) => r.operation_name === 'SseSpy');
    expect(refused).toEqual([expect.objectContaining({ patient_id: patientId, outcome: 4 })]);
  });
});

describe('granted accesses', () => {
  it('audits Patient.diagnoses as a read of diagnoses', async () => {
    (
      await gql(owner, `query List($id: ID!) { patient(id: $id) { diagnoses { edges { node { id } } } } }`, {
        id: patientId,
      })
    ).expectData();
    const list = (await rows('audit-owner')).filter((r) => r.operation_name === 'List');
    expect(list.map((r) => [r.subtype, r.patient_id, r.outcome])).toEqual(
      expect.arrayContaining([
        ['patient.read', patientId, 0],
        ['diagnosis.list', patientId, 0],
      ]),
    );
  });

  it('flushes the reads made inside every subscription event, under the operation name', async () => {
    const ws = connectWs(api.wsUrl, `Bearer ${owner}`);
    await ws.connected;
    const events = ws.stream(
      doc(`subscription Ward($id: ID!) {
        patientDiagnoses(patientId: $id) { id status patient { id mrn assessment { score } } }
      }`),
      { id: patientId },
    );
    // Two changes: a new diagnosis, then its cancellation.
    await eventually(
      async () => (await rows('audit-owner', 'diagnosis.subscribe')).length,
      (count) => count === 1,
      { what: 'the subscription audited' },
    );
    const requested = await gql(
      owner,
      `mutation D($id: ID!) { requestDiagnosis(patientId: $id, input: { symptoms: ["fever"] }) { id } }`,
      { id: patientId },
    );
    const id = (requested.expectData().requestDiagnosis as { id: string }).id;
    await gql(owner, `mutation C($id: ID!) { cancelDiagnosis(id: $id) { id } }`, { id });
    await events.until((results) => results.length >= 2, 20_000);
    events.stop();
    await ws.dispose();
    const ward = (await rows('audit-owner')).filter((r) => r.operation_name === 'Ward');
    const count = (subtype: string) => ward.filter((r) => r.subtype === subtype && r.patient_id === patientId).length;
    expect(count('diagnosis.subscribe')).toBe(1);
    // One row per event for each access the event made.
    expect(count('patient.read')).toBe(events.results.length);
    expect(count('patient.assessment.read')).toBe(events.results.length);
  });
});
