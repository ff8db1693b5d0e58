import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AddCareTeamMemberDocument,
  CancelDiagnosisDocument,
  DiagnosisUpdatedDocument,
  DiagnosisViewDocument,
  PatientDiagnosesDocument,
  PatientViewDocument,
  RemoveCareTeamMemberDocument,
  RequestDiagnosisDocument,
} from '../../client/index.js';
import type { DiagnosisProvider } from '../../worker/llm/provider.js';
import { queryDatabase } from '../helpers/database.js';
import { execute } from '../helpers/graphql.js';
import { createPatient } from '../helpers/patients.js';
import { startTestApi, type TestApi } from '../helpers/server.js';
import { startTestWorker, type TestWorker, targetOf } from '../helpers/worker.js';
import { connectWs, type WsConnection, type WsStream } from '../helpers/ws.js';

/**
 * A model that holds every real job until `release()`: such a diagnosis stays RUNNING, so
 * nothing is published unless the test publishes it (a cancel), and "no event after the removal"
 * means exactly what it says. (The worker notices a cancel only at its next progress write, which
 * a silent model never makes: `release()` frees its slots.) Probes answer at once.
 */
const held = new Set<(error: Error) => void>();
const release = () => {
  for (const reject of held) reject(new Error('released'));
  held.clear();
};
const holding: DiagnosisProvider = {
  name: 'rules',
  model: 'holds-until-released',
  version: 'held-1',
  promptVersion: null,
  diagnose: (prompt) =>
    prompt.symptoms.includes(PROBE)
      ? Promise.resolve({
          summary: 'A probe.',
          differentials: [{ condition: 'None', likelihood: 0.1, rationale: 'A probe.' }],
          provider: 'rules',
          model: 'holds-until-released',
        })
      : new Promise((_resolve, reject) => held.add(reject)),
};
const PROBE = 'probe';

// Pod 1 (`one`) takes the mutations; pod 2 (`two`) holds the subscriptions; a worker runs the jobs.
let one: TestApi;
let two: TestApi;
let worker: TestWorker;
let lead: string;
let colleague: string;
const open: WsConnection[] = [];

beforeAll(async () => {
  // Probes and cancels add up past one clinician's rate limit, which has tests of its own.
  const env = { RATE_LIMIT_POINTS: '100000' };
  one = await startTestApi({ env });
  two = await startTestApi({ env, db: one.db, redisKeyPrefix: one.redisKeyPrefix, natsNamespace: one.natsNamespace });
  worker = await startTestWorker(targetOf(one), {}, holding);
  lead = await one.token('dr-lead', { name: 'Dr Lead' });
  colleague = await one.token('dr-b', { name: 'Dr B' });
});
afterAll(async () => {
  release();
  await Promise.all(open.map((ws) => ws.dispose()));
  await worker?.stop();
  await two?.close();
  await one?.close();
});

/** A patient of dr-lead's with `members` added to its care team. */
async function patientWith(...members: string[]): Promise<string> {
  const id = await createPatient(one.url, lead);
  for (const clinicianId of members) {
    (await execute(one.url, AddCareTeamMemberDocument, { patientId: id, clinicianId }, { token: lead })).expectData();
  }
  return id;
}

/** A diagnosis the worker has claimed (RUNNING) and that stays so until cancelled. */
async function runningDiagnosis(patientId: string): Promise<string> {
  const input = { symptoms: ['chest pain'] };
  const { id } = (await execute(one.url, RequestDiagnosisDocument, { patientId, input }, { token: lead })).expectData()
    .requestDiagnosis;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const res = await execute(one.url, DiagnosisViewDocument, { id }, { token: lead });
    if (res.expectData().diagnosis?.status === 'RUNNING') return id;
    if (Date.now() > deadline) throw new Error('the worker did not claim the diagnosis');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Waits until every stream on the patient is live: a subscription is set up asynchronously (more
 * slowly on a busy machine), so probe diagnoses run to COMPLETED until every stream saw one whole.
 */
async function untilLive(patientId: string, streams: WsStream<unknown>[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const input = { symptoms: [PROBE] };
    const { id } = (
      await execute(one.url, RequestDiagnosisDocument, { patientId, input }, { token: lead })
    ).expectData().requestDiagnosis;
    const whole = (s: WsStream<unknown>) => statusesOf(s.results).includes(`${id}:COMPLETED`);
    const waitUntil = Date.now() + 3_000;
    while (!streams.every(whole) && Date.now() < waitUntil) await new Promise((r) => setTimeout(r, 50));
    if (streams.every(whole)) return;
    if (Date.now() > deadline) throw new Error('the subscriptions never went live');
  }
}

function socket(token: string): WsConnection {
  const ws = connectWs(two.wsUrl, `Bearer ${token}`);
  open.push(ws);
  return ws;
}

type Results = WsStream<unknown>['results'];
const statusesOf = (results: Results) =>
  results.flatMap((r) => {
    const data = r.data as Record<string, { id: string; status: string }> | null | undefined;
    return data ? Object.values(data).map((d) => `${d.id}:${d.status}`) : [];
  });
/** Waits (generously: the machine is shared) for a stream to end; one still open fails the test. */
const ended = (stream: WsStream<unknown>) =>
  Promise.race([
    stream.done,
    new Promise((_, reject) => setTimeout(() => reject(new Error('a subscription of dr-b stayed open')), 15_000)),
  ]);
const errorCodes = (results: Results) => results.flatMap((r) => r.errors?.map((e) => e.extensions?.code) ?? []);

describe('removeCareTeamMember', () => {
  afterEach(release);

  it("ends the removed clinician's subscriptions on another pod before anything published after the removal", async () => {
    const patientId = await patientWith('dr-b');
    const otherPatient = await patientWith('dr-b'); // dr-b stays on this one
    const b1 = socket(colleague);
    const b2 = socket(colleague); // same token: its identical subscriptions join b1's shared groups
    const a = socket(lead);
    await Promise.all([b1.connected, b2.connected, a.connected]);
    const bFeeds = [
      b1.stream(PatientDiagnosesDocument, { patientId }),
      b1.stream(PatientDiagnosesDocument, { patientId }),
      b2.stream(PatientDiagnosesDocument, { patientId }),
    ];
    const aFeed = a.stream(PatientDiagnosesDocument, { patientId }); // same document, another viewer
    const bOther = b1.stream(PatientDiagnosesDocument, { patientId: otherPatient });

    await untilLive(patientId, [...bFeeds, aFeed]);
    await untilLive(otherPatient, [bOther]);
    const diagnosisId = await runningDiagnosis(patientId);
    const otherDiagnosis = await runningDiagnosis(otherPatient);
    const claimed = (id: string) => (rs: Results) => statusesOf(rs).includes(`${id}:RUNNING`);
    await Promise.all([...bFeeds, aFeed].map((s) => s.until(claimed(diagnosisId), 20_000)));
    await bOther.until(claimed(otherDiagnosis), 20_000);
    const bUpdates = [
      b1.stream(DiagnosisUpdatedDocument, { id: diagnosisId }),
      b2.stream(DiagnosisUpdatedDocument, { id: diagnosisId }),
    ];
    const aUpdates = a.stream(DiagnosisUpdatedDocument, { id: diagnosisId });
    await Promise.all([...bUpdates, aUpdates].map((s) => s.until(claimed(diagnosisId))));

    const removed = await execute(
      one.url,
      RemoveCareTeamMemberDocument,
      { patientId, clinicianId: 'dr-b' },
      { token: lead },
    );
    expect(removed.expectData().removeCareTeamMember.careTeam.map((c) => c.id)).toEqual(['dr-lead']);
    // Published after the removal answered: dr-b must never see these on this patient.
    const cancelled = await execute(one.url, CancelDiagnosisDocument, { id: diagnosisId }, { token: lead });
    expect(cancelled.expectData().cancelDiagnosis.status).toBe('CANCELLED');
    await execute(one.url, CancelDiagnosisDocument, { id: otherDiagnosis }, { token: lead });

    for (const stream of [...bFeeds, ...bUpdates]) {
      await ended(stream);
      expect(errorCodes(stream.results)).toEqual(['NOT_FOUND']);
      expect(stream.results.at(-1)?.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
      expect(statusesOf(stream.results)).not.toContain(`${diagnosisId}:CANCELLED`);
    }
    // The other viewer's identical subscriptions, on the same pod, carry on and see the cancel.
    await aFeed.until((rs) => statusesOf(rs).includes(`${diagnosisId}:CANCELLED`));
    await aUpdates.done;
    expect(statusesOf(aUpdates.results).at(-1)).toBe(`${diagnosisId}:CANCELLED`);
    expect(errorCodes([...aFeed.results, ...aUpdates.results])).toEqual([]);
    // So does dr-b's subscription on the patient they are still caring for.
    await bOther.until((rs) => statusesOf(rs).includes(`${otherDiagnosis}:CANCELLED`));
    expect(errorCodes(bOther.results)).toEqual([]);
    aFeed.stop();
    bOther.stop();

    // And every read and new subscription of dr-b's is NOT_FOUND, on either pod.
    for (const api of [one, two]) {
      const patient = await execute(api.url, PatientViewDocument, { id: patientId }, { token: colleague });
      expect(patient.codes).toEqual(['NOT_FOUND']);
      expect(patient.data?.patient ?? null).toBeNull();
      const diagnosis = await execute(api.url, DiagnosisViewDocument, { id: diagnosisId }, { token: colleague });
      expect(diagnosis.codes).toEqual(['NOT_FOUND']);
    }
    const again = await b1.run(PatientDiagnosesDocument, { patientId });
    expect(errorCodes(again)).toEqual(['NOT_FOUND']);
  }, 90_000);

  it('ends an idle subscription at once, with nothing else published (not at a later re-check)', async () => {
    const patientId = await patientWith('dr-b');
    const b = socket(colleague);
    await b.connected;
    const feed = b.stream(PatientDiagnosesDocument, { patientId });
    await untilLive(patientId, [feed]);
    const diagnosisId = await runningDiagnosis(patientId);
    await feed.until((rs) => statusesOf(rs).includes(`${diagnosisId}:RUNNING`), 20_000);
    const updates = b.stream(DiagnosisUpdatedDocument, { id: diagnosisId });
    await updates.until((rs) => rs.length > 0);
    const seen = [feed.results.length, updates.results.length];

    (
      await execute(one.url, RemoveCareTeamMemberDocument, { patientId, clinicianId: 'dr-b' }, { token: lead })
    ).expectData();
    // The periodic re-check runs only when an event is to be delivered; here none is published.
    await Promise.all([ended(feed), ended(updates)]);
    expect(feed.results.slice(seen[0])).toEqual([expect.objectContaining({ errors: [expect.anything()] })]);
    expect(errorCodes(feed.results)).toEqual(['NOT_FOUND']);
    expect(errorCodes(updates.results.slice(seen[1]))).toEqual(['NOT_FOUND']);
    await execute(one.url, CancelDiagnosisDocument, { id: diagnosisId }, { token: lead });
  }, 60_000);

  it("keeps an admin's subscriptions: an admin still sees the patient without the care team", async () => {
    const admin = await one.token('dr-admin', { roles: ['clinician', 'admin'] });
    const patientId = await patientWith('dr-admin');
    const ws = socket(admin);
    await ws.connected;
    const feed = ws.stream(PatientDiagnosesDocument, { patientId });
    await untilLive(patientId, [feed]);
    const first = await runningDiagnosis(patientId);
    await feed.until((rs) => statusesOf(rs).includes(`${first}:RUNNING`), 20_000);
    (
      await execute(one.url, RemoveCareTeamMemberDocument, { patientId, clinicianId: 'dr-admin' }, { token: lead })
    ).expectData();
    await execute(one.url, CancelDiagnosisDocument, { id: first }, { token: lead });
    await feed.until((rs) => statusesOf(rs).includes(`${first}:CANCELLED`));
    expect(errorCodes(feed.results)).toEqual([]);
    feed.stop();
  }, 60_000);

  it('refuses to remove the last member, answers a non-member unchanged, and lets only those who see the patient remove', async () => {
    const patientId = await patientWith();
    const last = await execute(
      one.url,
      RemoveCareTeamMemberDocument,
      { patientId, clinicianId: 'dr-lead' },
      { token: lead },
    );
    expect(last.codes).toEqual(['BAD_USER_INPUT']);
    const stranger = await execute(
      one.url,
      RemoveCareTeamMemberDocument,
      { patientId, clinicianId: 'dr-nobody' },
      { token: lead },
    );
    expect(stranger.expectData().removeCareTeamMember.careTeam.map((c) => c.id)).toEqual(['dr-lead']);
    // Someone outside the care team cannot tell the patient exists, let alone change its team.
    const outsider = await execute(
      one.url,
      RemoveCareTeamMemberDocument,
      { patientId, clinicianId: 'dr-lead' },
      { token: colleague },
    );
    expect(outsider.codes).toEqual(['NOT_FOUND']);
    const malformed = await execute(
      one.url,
      RemoveCareTeamMemberDocument,
      { patientId: 'not-a-uuid', clinicianId: 'dr-lead' },
      { token: lead },
    );
    expect(malformed.codes).toEqual(['NOT_FOUND']);
    const read = await execute(one.url, PatientViewDocument, { id: patientId }, { token: lead });
    expect(read.expectData().patient?.careTeam.map((c) => c.id)).toEqual(['dr-lead']);

    // A member may leave by themself; the team then goes on without them.
    (
      await execute(one.url, AddCareTeamMemberDocument, { patientId, clinicianId: 'dr-b' }, { token: lead })
    ).expectData();
    const left = await execute(
      one.url,
      RemoveCareTeamMemberDocument,
      { patientId, clinicianId: 'dr-b' },
      { token: colleague },
    );
    expect(left.expectData().removeCareTeamMember.careTeam.map((c) => c.id)).toEqual(['dr-lead']);
    expect((await execute(one.url, PatientViewDocument, { id: patientId }, { token: colleague })).codes).toEqual([
      'NOT_FOUND',
    ]);
  });

  it('audits removals and refused removals, with the contract outcome', async () => {
    const patientId = await patientWith('dr-b');
    await execute(one.url, RemoveCareTeamMemberDocument, { patientId, clinicianId: 'dr-b' }, { token: lead });
    await execute(one.url, RemoveCareTeamMemberDocument, { patientId, clinicianId: 'dr-lead' }, { token: lead });
    await one.auditSettled();
    const rows = await queryDatabase<{ action: string; outcome: number; agent_id: string; operation_name: string }>(
      one.db.url,
      `select action, outcome, agent_id, operation_name from audit_event
        where patient_id = $1 and subtype = 'patient.careTeam.remove' order by recorded_at`,
      [patientId],
    );
    expect(rows).toEqual([
      { action: 'U', outcome: 0, agent_id: 'dr-lead', operation_name: 'RemoveCareTeamMember' },
      { action: 'U', outcome: 4, agent_id: 'dr-lead', operation_name: 'RemoveCareTeamMember' },
    ]);
  });
});
