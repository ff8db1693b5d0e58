import { readFileSync } from 'node:fs';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CreatePatientDocument, DiagnosisUpdatedDocument, RequestDiagnosisDocument } from '../../client/index.js';
import { queryDatabase } from '../helpers/database.js';
import { execute, executeRaw } from '../helpers/graphql.js';
import { startTestApi, type TestApi } from '../helpers/server.js';
import { connectWs } from '../helpers/ws.js';

/**
 * The federation subgraph at `/subgraph`: the same operations as `/graphql` plus `_service` and
 * `_entities`, whose reference resolvers apply the care-team rule. A gateway would send these.
 */
let api: TestApi;
let subgraph: URL;
let alice: string; // on the patient's care team
let bob: string; // a colleague of nobody
let admin: string;
let patientId: string;
let diagnosisId: string;

const ENTITIES = /* GraphQL */ `
  query Entities($representations: [_Any!]!) {
    _entities(representations: $representations) {
      __typename
      ... on Patient { id mrn careTeam { id } }
      ... on Diagnosis { id status patient { id } }
      ... on Clinician { id name }
    }
  }
`;

async function entities(token: string | undefined, representations: { __typename: string; id: string }[]) {
  return executeRaw<{ _entities: (Record<string, unknown> | null)[] }>(
    subgraph,
    { query: ENTITIES, variables: { representations } },
    { token },
  );
}

beforeAll(async () => {
  api = await startTestApi();
  subgraph = new URL('/subgraph', api.base);
  [alice, bob, admin] = await Promise.all([
    api.token('fed-alice', { name: 'Dr Alice' }),
    api.token('fed-bob', { name: 'Dr Bob' }),
    api.token('fed-root', { name: 'Admin', roles: ['clinician', 'admin'] }),
  ]);
  const input = {
    mrn: `FED-${Date.now()}`,
    givenName: 'Ada',
    familyName: 'Byron',
    birthDate: '1970-01-01',
    sex: 'FEMALE' as const,
  };
  patientId = (await execute(api.url, CreatePatientDocument, { input }, { token: alice })).expectData().createPatient
    .id;
  diagnosisId = (
    await execute(api.url, RequestDiagnosisDocument, { patientId, input: { symptoms: ['fever'] } }, { token: alice })
  ).expectData().requestDiagnosis.id;
  // Bob signs in once, so he exists as a clinician row.
  await executeRaw(api.url, { query: '{ me { id } }' }, { token: bob });
});
afterAll(() => api?.close());

describe('the federation subgraph', () => {
  it('answers _service { sdl } with the committed subgraph SDL', async () => {
    const res = await executeRaw<{ _service: { sdl: string } }>(
      subgraph,
      { query: '{ _service { sdl } }' },
      { token: alice },
    );
    const committed = readFileSync(new URL('../../schema/subgraph.graphql', import.meta.url), 'utf8');
    expect(`${res.expectData()._service.sdl}\n`).toBe(committed);
  });

  it('resolves Patient, Diagnosis and Clinician references for a care-team member', async () => {
    const res = await entities(alice, [
      { __typename: 'Patient', id: patientId },
      { __typename: 'Diagnosis', id: diagnosisId },
      { __typename: 'Clinician', id: 'fed-alice' },
    ]);
    expect(res.expectData()._entities).toEqual([
      { __typename: 'Patient', id: patientId, mrn: expect.stringMatching(/^FED-/), careTeam: [{ id: 'fed-alice' }] },
      { __typename: 'Diagnosis', id: diagnosisId, status: 'QUEUED', patient: { id: patientId } },
      { __typename: 'Clinician', id: 'fed-alice', name: 'Dr Alice' },
    ]);
  });

  it('applies the care-team rule: another clinician gets NOT_FOUND for each, like a missing id', async () => {
    const res = await entities(bob, [
      { __typename: 'Patient', id: patientId },
      { __typename: 'Diagnosis', id: diagnosisId },
      { __typename: 'Clinician', id: 'fed-alice' },
      { __typename: 'Patient', id: '00000000-0000-4000-8000-000000000000' },
      { __typename: 'Clinician', id: 'fed-bob' },
    ]);
    expect(res.data?._entities).toEqual([
      null,
      null,
      null,
      null,
      { __typename: 'Clinician', id: 'fed-bob', name: 'Dr Bob' },
    ]);
    // Errors come in the order the references settled; compare them by position.
    const errors = [...(res.errors ?? [])].sort((x, y) => Number(x.path?.[1]) - Number(y.path?.[1]));
    expect(errors.map((e) => [e.path, e.extensions?.code, e.message])).toEqual([
      [['_entities', 0], 'NOT_FOUND', 'Patient not found'],
      [['_entities', 1], 'NOT_FOUND', 'Diagnosis not found'],
      [['_entities', 2], 'NOT_FOUND', 'Clinician not found'],
      [['_entities', 3], 'NOT_FOUND', 'Patient not found'],
    ]);
    // No patient data in the refusal.
    expect(JSON.stringify(res.errors)).not.toMatch(/Ada|Byron|FED-/);
  });

  it('lets an admin resolve everything', async () => {
    const res = await entities(admin, [
      { __typename: 'Patient', id: patientId },
      { __typename: 'Clinician', id: 'fed-bob' },
    ]);
    expect(res.expectData()._entities.map((e) => e?.id)).toEqual([patientId, 'fed-bob']);
  });

  it('audits entity reads of patients like patient(id)', async () => {
    await entities(alice, [{ __typename: 'Patient', id: patientId }]);
    await api.auditSettled();
    const rows = await queryDatabase<{ n: string }>(
      api.db.url,
      `select count(*) as n from audit_event where patient_id = $1 and subtype = 'patient.read' and agent_id = 'fed-alice'`,
      [patientId],
    );
    expect(Number(rows[0]?.n)).toBeGreaterThanOrEqual(1);
  });

  it('refuses an unauthenticated _entities call, and more representations than the cap', async () => {
    const anonymous = await entities(undefined, [{ __typename: 'Patient', id: patientId }]);
    expect(anonymous.status).toBe(401);
    expect(anonymous.codes).toEqual(['UNAUTHENTICATED']);

    const many = Array.from({ length: 501 }, () => ({ __typename: 'Clinician', id: 'fed-alice' }));
    const capped = await entities(alice, many);
    expect(capped.codes).toEqual(['BAD_USER_INPUT']);
    expect(capped.errors?.[0]?.message).toMatch(/at most 500 representations/);
  });

  it('serves subscriptions over graphql-ws on /subgraph, authorised per clinician', async () => {
    const wsUrl = api.wsUrl.replace(/\/graphql$/, '/subgraph');
    const own = connectWs(wsUrl, `Bearer ${alice}`);
    const other = connectWs(wsUrl, `Bearer ${bob}`);
    try {
      const stream = own.stream(DiagnosisUpdatedDocument, { id: diagnosisId });
      await stream.until((results) => results.length >= 1);
      expect(stream.results[0]?.data?.diagnosisUpdated).toMatchObject({ id: diagnosisId, status: 'QUEUED' });
      stream.stop();

      const refused = await other.run(DiagnosisUpdatedDocument, { id: diagnosisId });
      expect(refused.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
    } finally {
      await Promise.all([own.dispose(), other.dispose()]);
    }
    const anonymous = connectWs(wsUrl);
    expect((await anonymous.closed).code).toBe(4401);
  });

  it("takes the token from connectionParams.token or the upgrade's Authorization, as routers send it", async () => {
    const wsUrl = api.wsUrl.replace(/\/graphql$/, '/subgraph');
    const withHeader = (authorization: string) =>
      class extends WebSocket {
        constructor(url: string, protocols?: string | string[]) {
          super(url, protocols, { headers: { authorization } });
        }
      };
    const client = createClient({ url: wsUrl, webSocketImpl: withHeader(`Bearer ${alice}`), retryAttempts: 0 });
    try {
      const first = await new Promise<unknown>((resolve, reject) => {
        const stop = client.subscribe(
          {
            query: 'subscription S($id: ID!) { diagnosisUpdated(id: $id) { id status } }',
            variables: { id: diagnosisId },
          },
          {
            next: (value) => {
              stop();
              resolve(value);
            },
            error: reject,
            complete: () => undefined,
          },
        );
      });
      expect(first).toEqual({ data: { diagnosisUpdated: { id: diagnosisId, status: 'QUEUED' } } });
    } finally {
      await client.dispose();
    }
    // Apollo Router's form: the propagated header's value as `connectionParams.token`.
    const routerStyle = createClient({
      url: wsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { token: `Bearer ${alice}` },
    });
    try {
      const result = await new Promise<unknown>((resolve, reject) => {
        routerStyle.subscribe({ query: '{ me { id } }' }, { next: resolve, error: reject, complete: () => undefined });
      });
      expect(result).toEqual({ data: { me: { id: 'fed-alice' } } });
    } finally {
      await routerStyle.dispose();
    }
  });

  it('leaves the plain API as it was: no federation fields on /graphql', async () => {
    const res = await executeRaw(api.url, { query: '{ _service { sdl } }' }, { token: alice });
    expect(res.codes).toEqual(['BAD_USER_INPUT']);
  });
});

describe('address budgets on /subgraph', () => {
  it('charges WebSocket connection attempts to their address, as on /graphql (no gateway secret)', async () => {
    const limited = await startTestApi({ env: { RATE_LIMIT_WS_CONNECT_POINTS: '2' } });
    const sockets = [];
    try {
      const token = await limited.token('fed-many');
      const subgraphWs = limited.wsUrl.replace(/\/graphql$/, '/subgraph');
      const attempts = [0, 1, 2].map(() => connectWs(subgraphWs, `Bearer ${token}`));
      sockets.push(...attempts);
      const outcomes = await Promise.all(
        attempts.map((s) => Promise.race([s.connected.then(() => 'connected'), s.closed.then(({ code }) => code)])),
      );
      expect(outcomes.sort()).toEqual([1013, 'connected', 'connected']);
    } finally {
      await Promise.all(sockets.map((s) => s.dispose()));
      await limited.close();
    }
  });
});

describe('SUBGRAPH=false', () => {
  it('does not serve /subgraph', async () => {
    const off = await startTestApi({ env: { SUBGRAPH: 'false' } });
    try {
      const response = await fetch(new URL('/subgraph', off.base), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
      expect(response.status).toBe(404);
    } finally {
      await off.close();
    }
  });
});
