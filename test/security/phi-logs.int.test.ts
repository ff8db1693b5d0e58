import { randomBytes } from 'node:crypto';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelServer, type ModelServer } from '../../ml-server/server.js';
import { signToken } from '../../src/auth/jwt.js';
import { queryDatabase, type TestDatabase } from '../helpers/database.js';
import { TEST_JWT_SECRET } from '../helpers/env.js';
import { executeRaw, type GraphQLResponse } from '../helpers/graphql.js';
import { deleteJobStreams, uniqueNatsNamespace } from '../helpers/nats.js';
import { type LoggedProcess, type StackTarget, startApiProcess, startWorkerProcess } from '../helpers/processes.js';
import { deleteRedisKeys, uniqueRedisPrefix } from '../helpers/redis.js';
import { migratedDatabase } from '../helpers/server.js';
import { eventually } from '../helpers/services.js';
import { connectWs } from '../helpers/ws.js';

/**
 * The review's PHI-in-logs attack, on real processes: an API pod and a worker run as child
 * processes at `debug` level with every byte they print kept. Every mutation, search, query and
 * subscription is driven with marker values — valid ones, and invalid ones (U+0000 and other
 * control characters, out-of-range numbers, a duplicate MRN, malformed bodies) — and no marker
 * may appear in any process's output.
 */
const TAG = `Q${randomBytes(5).toString('hex').toUpperCase()}`;
let n = 0;
/** A fresh marker: letters and digits only, so it is also a valid GraphQL name and MRN. */
const mark = () => `${TAG}Z${++n}`;
/** Numbers a log line would print as they are; found by their digits. */
const TEMPERATURE = 36.4321987;
const BAD_SPO2 = 12.3456789;
const NUMBER_MARKERS = ['36.4321987', '12.3456789'];

let db: TestDatabase;
let model: ModelServer;
let api: LoggedProcess & { base: string };
let worker: LoggedProcess;
const prefix = uniqueRedisPrefix();
const namespace = uniqueNatsNamespace();
let token: string;
let stranger: string;
let graphql: string;
let subgraph: string;

const gql = (query: string, variables: Record<string, unknown> = {}, as = token, url = graphql) =>
  executeRaw<Record<string, unknown>>(url, { query, variables }, { token: as });

const codes = (res: GraphQLResponse<unknown>) => res.codes;

beforeAll(async () => {
  db = await migratedDatabase();
  model = createModelServer();
  const mlUrl = (await model.listen(0, '127.0.0.1')).href;
  const target: StackTarget = { db, redisKeyPrefix: prefix, natsNamespace: namespace, mlUrl };
  [api, worker] = await Promise.all([
    startApiProcess(target, { LOG_LEVEL: 'debug' }),
    startWorkerProcess(target, { LOG_LEVEL: 'debug' }),
  ]);
  graphql = `${api.base}/graphql`;
  subgraph = `${api.base}/subgraph`;
  token = await signToken(TEST_JWT_SECRET, { sub: 'dr-phi', roles: ['clinician'] });
  stranger = await signToken(TEST_JWT_SECRET, { sub: 'dr-stranger', roles: ['clinician'] });
}, 240_000);

afterAll(async () => {
  await Promise.all([api?.stop(), worker?.stop()]);
  await model?.close();
  await db?.drop();
  await deleteRedisKeys(prefix);
  await deleteJobStreams(namespace);
});

const CREATE = /* GraphQL */ `
  mutation CreatePatient($input: CreatePatientInput!) {
    createPatient(input: $input) { id mrn givenName familyName }
  }
`;
const patientInput = (overrides: Record<string, unknown> = {}) => ({
  mrn: mark(),
  givenName: mark(),
  familyName: mark(),
  birthDate: '1950-02-03',
  sex: 'FEMALE',
  ...overrides,
});

describe('patient data never reaches a log', () => {
  let patientId: string;
  let mrn: string;
  let diagnosisId: string;

  it('drives every mutation with valid marker values', async () => {
    const input = patientInput();
    mrn = input.mrn;
    const created = await gql(CREATE, { input });
    patientId = (created.expectData().createPatient as { id: string }).id;

    const observed = await gql(
      `mutation RecordObservations($id: ID!, $input: ObservationsInput!) {
         recordObservations(patientId: $id, input: $input) { id latestObservations { temperatureC } }
       }`,
      {
        id: patientId,
        input: {
          temperatureC: TEMPERATURE,
          heartRate: 88,
          respiratoryRate: 18,
          spo2: 97,
          systolicBp: 120,
          onSupplementalOxygen: false,
          consciousness: 'ALERT',
        },
      },
    );
    observed.expectData();
    const added = await gql(
      `mutation AddCareTeamMember($id: ID!, $who: ID!) { addCareTeamMember(patientId: $id, clinicianId: $who) { id } }`,
      { id: patientId, who: 'dr-colleague' },
    );
    added.expectData();

    const requested = await gql(
      `mutation RequestDiagnosis($id: ID!, $input: DiagnosisRequestInput!) {
         requestDiagnosis(patientId: $id, input: $input) { id status }
       }`,
      // Free text keeps its tab and line breaks.
      {
        id: patientId,
        input: {
          // Enough for a rule of the offline provider to match (three findings of pneumonia).
          symptoms: [`fever ${mark()}`, `cough ${mark()}`, `shortness of breath ${mark()}`],
          notes: `${mark()}\n\t${mark()}\r\n`,
        },
      },
    );
    diagnosisId = (requested.expectData().requestDiagnosis as { id: string }).id;

    // Watch it finish on the worker, reading the patient's assessment in every event.
    const ws = connectWs(graphql.replace('http', 'ws'), `Bearer ${token}`);
    await ws.connected;
    const updates = ws.stream(
      parseDoc(`subscription DiagnosisUpdated($id: ID!) {
        diagnosisUpdated(id: $id) { id status partialText patient { id mrn givenName assessment { score } } }
      }`),
      { id: diagnosisId },
    );
    await updates.done;
    await ws.dispose();
    const last = updates.results.at(-1) as { data?: { diagnosisUpdated?: { status: string } } };
    expect(last.data?.diagnosisUpdated?.status).toBe('COMPLETED');
  }, 60_000);

  it('drives reviewDiagnosis with marker free text, and refuses U+0000 in it', async () => {
    const review = `mutation Review($id: ID!, $input: DiagnosisReviewInput!) {
      reviewDiagnosis(id: $id, input: $input) { id reportStatus review { note amendedSummary } }
    }`;
    const refused = await gql(review, {
      id: diagnosisId,
      input: { decision: 'AMENDED', note: mark(), amendedSummary: `${mark()}\u0000` },
    });
    expect(codes(refused)).toEqual(['BAD_USER_INPUT']);
    const amended = await gql(review, {
      id: diagnosisId,
      input: { decision: 'AMENDED', note: `${mark()}\n${mark()}`, amendedSummary: `${mark()}\r\n\t${mark()}` },
    });
    expect((amended.expectData().reviewDiagnosis as { reportStatus: string }).reportStatus).toBe('AMENDED');
    // Reviewed once: a second review is refused, its text logged nowhere either.
    expect(codes(await gql(review, { id: diagnosisId, input: { decision: 'REJECTED', note: mark() } }))).toEqual([
      'BAD_USER_INPUT',
    ]);
  });

  it('drives every query and search with marker values', async () => {
    const searches = [mrn, mark(), `${mark()}${'x'.repeat(200)}`];
    for (const search of searches) {
      const res = await gql(`query Patients($search: String) { patients(search: $search) { edges { node { id } } } }`, {
        search,
      });
      expect(res.status).toBeLessThan(500);
    }
    // Literals too, and an operation named with a marker (it would become a log field and a label).
    const named = mark();
    const literal = await gql(`query ${named} { patients(search: "${mark()}") { edges { node { id mrn } } } }`);
    literal.expectData();
    for (const query of [
      `query Patient($id: ID!) { patient(id: $id) { id givenName diagnoses { edges { node { id } } } } }`,
      `query Assessment($id: ID!) { assessment(patientId: $id) { score factors { name value } } }`,
      `query Patient($id: ID!) { patient(id: $id) { assessmentHistory(model: NEWS2) { score observedAt } } }`,
    ]) {
      (await gql(query, { id: patientId })).expectData();
    }
    expect(
      codes(
        await gql(
          `query Patient($id: ID!) { patient(id: $id) { assessmentHistory(model: NEWS2, last: 1000) { score } } }`,
          {
            id: patientId,
          },
        ),
      ),
    ).toEqual(['BAD_USER_INPUT']);
    (
      await gql(`query Diagnosis($id: ID!) { diagnosis(id: $id) { id status result { summary } } }`, {
        id: diagnosisId,
      })
    ).expectData();
    // Refused reads: another clinician's patient, a marker for an id.
    expect(
      codes(await gql(`query Patient($id: ID!) { patient(id: $id) { id } }`, { id: patientId }, stranger)),
    ).toEqual(['NOT_FOUND']);
    expect(codes(await gql(`query Patient($id: ID!) { patient(id: $id) { id } }`, { id: mark() }))).toEqual([
      'NOT_FOUND',
    ]);
    // The subgraph's entity resolution with marker representations.
    const entities = await gql(
      `query Entities($r: [_Any!]!) { _entities(representations: $r) { ... on Patient { id mrn } } }`,
      {
        r: [
          { __typename: 'Patient', id: patientId },
          { __typename: 'Patient', id: mark() },
        ],
      },
      token,
      subgraph,
    );
    expect(entities.status).toBe(200);
  });

  it('refuses control characters in every kind of string input with BAD_USER_INPUT', async () => {
    const refusals: [string, Record<string, unknown>, string?][] = [
      [CREATE, { input: patientInput({ givenName: `${mark()}\u0000` }) }],
      [CREATE, { input: patientInput({ familyName: `\u0000${mark()}` }) }],
      [CREATE, { input: patientInput({ mrn: `${mark()}\u0000` }) }],
      [CREATE, { input: patientInput({ givenName: `${mark()}\n` }) }],
      [
        `mutation RequestDiagnosis($id: ID!, $input: DiagnosisRequestInput!) { requestDiagnosis(patientId: $id, input: $input) { id } }`,
        { id: patientId, input: { symptoms: [`${mark()}\u0000`], notes: mark() } },
      ],
      [
        `mutation RequestDiagnosis($id: ID!, $input: DiagnosisRequestInput!) { requestDiagnosis(patientId: $id, input: $input) { id } }`,
        { id: patientId, input: { symptoms: [mark()], notes: `${mark()}\u0000${mark()}` } },
      ],
      [
        `mutation RequestDiagnosis($id: ID!, $input: DiagnosisRequestInput!) { requestDiagnosis(patientId: $id, input: $input) { id } }`,
        { id: patientId, input: { symptoms: [mark()], notes: `${mark()}\u007f` } },
      ],
      [`query Patients($s: String) { patients(search: $s) { edges { node { id } } } }`, { s: `${mark()}\u0000` }],
      [`query Patients($s: String) { patients(search: $s) { edges { node { id } } } }`, { s: `\u001b${mark()}` }],
      [`query Patients($a: String) { patients(after: $a) { edges { node { id } } } }`, { a: `${mark()}\u0000` }],
      [
        `mutation AddCareTeamMember($id: ID!, $who: ID!) { addCareTeamMember(patientId: $id, clinicianId: $who) { id } }`,
        { id: patientId, who: `${mark()}\u0000` },
      ],
      [`query Patient($id: ID!) { patient(id: $id) { id } }`, { id: `${mark()}\u0000` }],
      [`query Diagnosis($id: ID!) { diagnosis(id: $id) { id } }`, { id: `${mark()}\u0000` }],
      [`mutation Cancel($id: ID!) { cancelDiagnosis(id: $id) { id } }`, { id: `${mark()}\u0000` }],
      [
        `query Entities($r: [_Any!]!) { _entities(representations: $r) { ... on Patient { id } } }`,
        { r: [{ __typename: 'Patient', id: `${mark()}\u0000` }] },
        subgraph,
      ],
    ];
    for (const [query, variables, url] of refusals) {
      const res = await gql(query, variables, token, url ?? graphql);
      expect(codes(res), query).toEqual(['BAD_USER_INPUT']);
      expect(JSON.stringify(res.errors)).not.toContain(TAG);
    }
    // A literal with an escaped U+0000, as a hand-written query would send it.
    const literal = await gql(`query { patients(search: "${mark()}\\u0000") { edges { node { id } } } }`);
    expect(codes(literal)).toEqual(['BAD_USER_INPUT']);
    // Nothing was half-written: the refused patients do not exist.
    const all = await gql(`query { patients(first: 100) { edges { node { id } } } }`);
    expect((all.expectData().patients as { edges: unknown[] }).edges).toHaveLength(1);
  });

  it('answers other invalid input with BAD_USER_INPUT, and logs none of it', async () => {
    const dup = await gql(CREATE, { input: patientInput({ mrn }) });
    expect(codes(dup)).toEqual(['BAD_USER_INPUT']);
    // Refused values are not quoted back either (graphql-js would: "got invalid value …").
    const badDate = await gql(CREATE, { input: patientInput({ birthDate: mark() }) });
    expect(codes(badDate)).toEqual(['BAD_USER_INPUT']);
    expect(badDate.errors?.[0]?.message).toBe(
      'Variable "$input" got an invalid value at "input.birthDate"; Date must be YYYY-MM-DD',
    );
    const badType = await gql(
      `mutation RecordObservations($id: ID!, $input: ObservationsInput!) { recordObservations(patientId: $id, input: $input) { id } }`,
      { id: patientId, input: { heartRate: mark(), consciousness: mark() } },
    );
    expect(codes(badType)).toEqual(['BAD_USER_INPUT', 'BAD_USER_INPUT']);
    const badSex = await gql(CREATE, { input: patientInput({ sex: mark() }) });
    expect(codes(badSex)).toEqual(['BAD_USER_INPUT']);
    for (const res of [badDate, badType, badSex]) expect(JSON.stringify(res.errors)).not.toContain(TAG);
    // The same values written into the document as literals: refused by validation, never quoted
    // (graphql-js would say `Expected value of type "Date!", found "…"`, `… non-integer value: "…"`,
    // `Value "…" does not exist in "Sex" enum`).
    const literals = [
      `mutation { createPatient(input: { mrn: "M1", givenName: "A", familyName: "B", birthDate: "${mark()}", sex: MALE }) { id } }`,
      `mutation { createPatient(input: { mrn: "M1", givenName: "A", familyName: "B", birthDate: "1950-01-01", sex: ${mark()} }) { id } }`,
      `mutation { recordObservations(patientId: "${patientId}", input: { heartRate: "${mark()}", spo2: ${mark()} }) { id } }`,
      `mutation { createPatient(input: { mrn: ${mark()}, givenName: 7, familyName: ["${mark()}"], birthDate: "1950-01-01", sex: "${mark()}" }) { id } }`,
      `query { patient(id: { id: "${mark()}" }) { id } }`,
    ];
    for (const query of literals) {
      const res = await gql(query);
      expect(res.errors?.length, query).toBeGreaterThan(0);
      expect(new Set(codes(res)), query).toEqual(new Set(['BAD_USER_INPUT']));
      expect(JSON.stringify(res.errors), query).not.toContain(TAG);
      // Why stays: the type expected.
      for (const error of res.errors ?? []) {
        expect(error.message, query).toMatch(/type|enum|represent|Date must be/);
      }
    }
    const outOfRange = await gql(
      `mutation RecordObservations($id: ID!, $input: ObservationsInput!) { recordObservations(patientId: $id, input: $input) { id } }`,
      { id: patientId, input: { spo2: BAD_SPO2 } },
    );
    expect(codes(outOfRange)).toEqual(['BAD_USER_INPUT']);
    const tooMany = await gql(
      `mutation RequestDiagnosis($id: ID!, $input: DiagnosisRequestInput!) { requestDiagnosis(patientId: $id, input: $input) { id } }`,
      { id: patientId, input: { symptoms: Array.from({ length: 51 }, mark), notes: mark().repeat(2_000) } },
    );
    expect(codes(tooMany)).toEqual(['BAD_USER_INPUT']);
    // Malformed bodies quoting markers, whatever the client accepts.
    for (const accept of ['application/json', 'application/graphql-response+json']) {
      const res = await fetch(graphql, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept, authorization: `Bearer ${token}` },
        body: `{"query": "query { patients(search: \\"${mark()}\\") { edges { node { id } } } }", "variables": {"a": "${mark()}`,
      });
      expect(res.status).toBe(400);
      expect(await res.text()).not.toContain(TAG);
    }
    const syntax = await gql(`query { patients(search: "${mark()}) { edges { node { id } } } }`);
    expect(codes(syntax)).toEqual(['BAD_USER_INPUT']);
  });

  it('logs an unexpected database error by class and SQLSTATE only, over HTTP and WebSocket', async () => {
    // A constraint the API does not know about: its refusal is an unexpected driver error whose
    // message quotes the INSERT with its bound values — the names below.
    const given = mark();
    await queryDatabase(db.url, `alter table patient add constraint phi_probe check (given_name <> '${given}')`);
    const res = await gql(CREATE, { input: patientInput({ givenName: given }) });
    expect(codes(res)).toEqual(['INTERNAL']);
    expect(JSON.stringify(res.errors)).not.toContain(TAG);
    const ws = connectWs(graphql.replace('http', 'ws'), `Bearer ${token}`);
    await ws.connected;
    const overWs = await ws.run(parseDoc(CREATE), { input: patientInput({ givenName: given }) });
    expect(overWs.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.code)).toEqual(['INTERNAL']);
    await ws.dispose();
    // One line per failure (Yoga reports a masked error twice; it is logged once). The child's
    // output arrives through a pipe: wait for both failures' lines, then check there are no more.
    const sqlStateLines = () =>
      api
        .output()
        .split('\n')
        .filter((l) => l.includes('"sqlState":"23514"'));
    await eventually(
      async () => sqlStateLines(),
      (found) => found.length >= 2,
      { what: 'both unexpected errors logged with their SQLSTATE' },
    );
    const lines = sqlStateLines();
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      level: 'error',
      msg: 'unexpected error',
      requestId: expect.any(String),
    });
  });

  it('drives subscriptions over WebSocket and SSE, with valid and invalid marker arguments', async () => {
    const ws = connectWs(graphql.replace('http', 'ws'), `Bearer ${token}`);
    await ws.connected;
    const refused = await ws.run(parseDoc(`subscription P($id: ID!) { patientDiagnoses(patientId: $id) { id } }`), {
      id: `${mark()}\u0000`,
    });
    expect(refused.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
    const missing = await ws.run(parseDoc(`subscription D($id: ID!) { diagnosisUpdated(id: $id) { id } }`), {
      id: mark(),
    });
    expect(missing.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
    const live = ws.stream(parseDoc(`subscription P($id: ID!) { patientDiagnoses(patientId: $id) { id status } }`), {
      id: patientId,
    });

    const sse = new AbortController();
    const stream = await fetch(graphql, {
      method: 'POST',
      signal: sse.signal,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: `subscription P($id: ID!) { patientDiagnoses(patientId: $id) { id status patient { mrn } } }`,
        variables: { id: patientId },
      }),
    });
    expect(stream.status).toBe(200);
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        text += new TextDecoder().decode(value);
      }
    })();
    const sseRefused = await fetch(graphql, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: `subscription P($id: ID!) { patientDiagnoses(patientId: $id) { id } }`,
        variables: { id: `${mark()}\u0000` },
      }),
    });
    expect(await sseRefused.text()).toContain('BAD_USER_INPUT');

    // Changes for both streams: new diagnoses with marker text, cancelled. Each stream listens
    // only once its subscription is set up, which a loaded machine takes a while to do: a change
    // a second until both have delivered one.
    const ids: string[] = [];
    await eventually(
      async () => {
        const requested = await gql(
          `mutation RequestDiagnosis($id: ID!, $input: DiagnosisRequestInput!) { requestDiagnosis(patientId: $id, input: $input) { id } }`,
          { id: patientId, input: { symptoms: [mark()], notes: mark() } },
        );
        const id = (requested.expectData().requestDiagnosis as { id: string }).id;
        ids.push(id);
        await gql(`mutation Cancel($id: ID!) { cancelDiagnosis(id: $id) { id status } }`, { id });
        return live.results.length > 0 && ids.some((i) => text.includes(i));
      },
      (delivered) => delivered,
      { what: 'an event on each stream', timeoutMs: 60_000, intervalMs: 1_000 },
    );
    sse.abort();
    await reading;
    live.stop();
    await ws.dispose();
  }, 120_000);

  it('no process printed a marker', async () => {
    // The pod's debug output is flushed as it goes; give the worker's a moment after its last job.
    await new Promise((r) => setTimeout(r, 500));
    for (const process of [api, worker]) {
      const output = process.output();
      expect(output.length, process.name).toBeGreaterThan(0);
      const leaks = output
        .split('\n')
        .filter((line) => line.toUpperCase().includes(TAG) || NUMBER_MARKERS.some((m) => line.includes(m)));
      expect(leaks, `${process.name} logged patient data`).toEqual([]);
    }
    // Nor did its metrics: an operation named with a marker is counted as `other`.
    const metrics = await (await fetch(`${api.base}/metrics`)).text();
    expect(metrics.toUpperCase()).not.toContain(TAG);
    expect(metrics).toMatch(/graphql_operations_total\{operation="other",type="query",outcome="ok"\} 1/);
    // The pod did log the operations it refused, by code only.
    expect(api.output()).toContain('BAD_USER_INPUT');
  });
});

function parseDoc(query: string) {
  return parse(query) as never;
}
