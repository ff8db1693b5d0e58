import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  AddCareTeamMemberDocument,
  CreatePatientDocument,
  PatientAssessmentDocument,
  PatientViewDocument,
  RecordObservationsDocument,
  RemoveCareTeamMemberDocument,
} from '../../client/index.js';
import { execute } from '../helpers/graphql.js';
import { startTestApi, type TestApi } from '../helpers/server.js';
import { type OwnServer, startOwnRedis } from '../helpers/services.js';

/**
 * Two pods serve patient reads from their own snapshot caches (under a lease, or checked against
 * a version in Redis on every read without one). Writes on one pod must be seen by the very next read on the other:
 * a removed clinician is refused, a new observation is assessed. Redis has its own server here,
 * so the test can stop it.
 */
let redis: OwnServer;
let one: TestApi;
let two: TestApi;
let lead: string;
let colleague: string;
let seq = 0;

const VITALS = {
  respiratoryRate: 18,
  spo2: 97,
  onSupplementalOxygen: false,
  systolicBp: 125,
  heartRate: 70,
  consciousness: 'ALERT' as const,
  temperatureC: 37,
};

beforeAll(async () => {
  redis = await startOwnRedis();
  const env = { REDIS_URL: redis.url, RATE_LIMIT_POINTS: '100000' };
  one = await startTestApi({ env });
  two = await startTestApi({ env, db: one.db, redisKeyPrefix: one.redisKeyPrefix, natsNamespace: one.natsNamespace });
  lead = await one.token('dr-snap-lead');
  colleague = await one.token('dr-snap-colleague');
}, 60_000);
afterAll(async () => {
  await two?.close();
  await one?.close();
  await redis?.dispose();
});

async function patientWithColleague(): Promise<string> {
  seq += 1;
  const input = {
    mrn: `SNAP-${Date.now().toString(36)}-${seq}`,
    givenName: 'Snap',
    familyName: 'Shot',
    birthDate: '1950-02-03',
    sex: 'MALE' as const,
  };
  const id = (await execute(one.url, CreatePatientDocument, { input }, { token: lead })).expectData().createPatient.id;
  (
    await execute(
      one.url,
      AddCareTeamMemberDocument,
      { patientId: id, clinicianId: 'dr-snap-colleague' },
      { token: lead },
    )
  ).expectData();
  (await execute(one.url, RecordObservationsDocument, { patientId: id, input: VITALS }, { token: lead })).expectData();
  return id;
}

/** Records a heart rate for the patient through pod one, as the lead, and expects it accepted. */
const recordHeartRate = async (patientId: string, heartRate: number) =>
  (
    await execute(one.url, RecordObservationsDocument, { patientId, input: { heartRate } }, { token: lead })
  ).expectData();
const readOn = (api: TestApi, token: string, id: string) => execute(api.url, PatientViewDocument, { id }, { token });
const assessOn = (api: TestApi, token: string, patientId: string) =>
  execute(api.url, PatientAssessmentDocument, { patientId }, { token });

describe('patient snapshots cached per pod', () => {
  it('serve repeated reads from memory, without a PostgreSQL read', async () => {
    const id = await patientWithColleague();
    expect((await readOn(two, colleague, id)).expectData().patient?.id).toBe(id);
    const { hits, misses } = two.deps.patientSnapshots.stats;
    for (let i = 0; i < 5; i++) expect((await readOn(two, colleague, id)).expectData().patient?.id).toBe(id);
    expect(two.deps.patientSnapshots.stats.hits - hits).toBe(5);
    expect(two.deps.patientSnapshots.stats.misses - misses).toBe(0);
  });

  it('refuse a clinician removed on another pod at once: the very next read on the pod that cached the patient', async () => {
    const id = await patientWithColleague();
    // Both pods have the patient cached, with the colleague on its care team.
    for (const api of [one, two]) {
      expect((await readOn(api, colleague, id)).expectData().patient?.id).toBe(id);
      expect((await assessOn(api, colleague, id)).expectData().assessment.patientId).toBe(id);
    }
    const removed = await execute(
      one.url,
      RemoveCareTeamMemberDocument,
      { patientId: id, clinicianId: 'dr-snap-colleague' },
      { token: lead },
    );
    expect(removed.expectData().removeCareTeamMember.careTeam.map((c) => c.id)).toEqual(['dr-snap-lead']);
    for (const api of [two, one]) {
      const read = await readOn(api, colleague, id);
      expect(read.data?.patient).toBeNull();
      expect(read.codes).toEqual(['NOT_FOUND']);
      expect((await assessOn(api, colleague, id)).codes).toEqual(['NOT_FOUND']);
    }
    // And one added on another pod is let in at once.
    (
      await execute(
        one.url,
        AddCareTeamMemberDocument,
        { patientId: id, clinicianId: 'dr-snap-colleague' },
        { token: lead },
      )
    ).expectData();
    expect((await readOn(two, colleague, id)).expectData().patient?.id).toBe(id);
  });

  it('never assess an old snapshot after a new observation recorded on another pod', async () => {
    const id = await patientWithColleague();
    const before = (await assessOn(two, lead, id)).expectData().assessment;
    expect((await readOn(two, lead, id)).expectData().patient?.latestObservations?.heartRate).toBe(70);
    // A heart rate of 131 adds 3 points to NEWS2.
    await recordHeartRate(id, 131);
    expect((await readOn(two, lead, id)).expectData().patient?.latestObservations?.heartRate).toBe(131);
    const after = (await assessOn(two, lead, id)).expectData().assessment;
    expect(after.score).toBe(before.score + 3);
  });

  it('answer a cached assessment under the lease with no Redis read at all, and never by an old snapshot', async () => {
    const id = await patientWithColleague();
    const first = (await assessOn(two, lead, id)).expectData().assessment;
    const redisOfTwo = two.deps.redis as NonNullable<typeof two.deps.redis>;
    const mget = vi.spyOn(redisOfTwo, 'mget');
    const versions = vi.spyOn(redisOfTwo as unknown as { snapshotVersions: () => unknown }, 'snapshotVersions');
    try {
      const held = two.deps.patientSnapshots.stats.held;
      const again = (await assessOn(two, lead, id)).expectData().assessment;
      expect(again).toMatchObject({ source: 'CACHE', score: first.score });
      // The snapshot was held under the lease, the assessment in the pod's memory: no round trip.
      expect(two.deps.patientSnapshots.stats.held).toBe(held + 1);
      expect(versions).not.toHaveBeenCalled();
      expect(mget).not.toHaveBeenCalled();

      // A new observation on the other pod: it answers only once pod two dropped its snapshot,
      // and the old inputs' entry, still in pod two's memory, must not be answered.
      // (A heart rate of 131 or more adds 3 points; one no other test records, so its key is new.)
      await recordHeartRate(id, 150 + seq);
      const after = (await assessOn(two, lead, id)).expectData().assessment;
      expect(after).toMatchObject({ source: 'LIVE', score: first.score + 3 });
      expect((await assessOn(two, lead, id)).expectData().assessment).toMatchObject({
        source: 'CACHE',
        score: first.score + 3,
      });
    } finally {
      mget.mockRestore();
      versions.mockRestore();
    }
  });

  it('without leases, read the version and the assessment in one Redis round trip, never by an old snapshot', async () => {
    const three = await startTestApi({
      env: { REDIS_URL: redis.url, RATE_LIMIT_POINTS: '100000', SNAPSHOT_LEASE_MS: '0' },
      db: one.db,
      redisKeyPrefix: one.redisKeyPrefix,
      natsNamespace: one.natsNamespace,
    });
    try {
      const id = await patientWithColleague();
      const first = (await assessOn(three, lead, id)).expectData().assessment;
      const redisOfThree = three.deps.redis as NonNullable<typeof three.deps.redis>;
      const mget = vi.spyOn(redisOfThree, 'mget');
      const versions = vi.spyOn(redisOfThree as unknown as { snapshotVersions: () => unknown }, 'snapshotVersions');
      try {
        const again = (await assessOn(three, lead, id)).expectData().assessment;
        expect(again).toMatchObject({ source: 'CACHE', score: first.score });
        // The version check read the assessment's cache entry too: no MGET after it.
        expect(versions).toHaveBeenCalled();
        expect(versions.mock.calls[0]).toContain(`pv:${id}`);
        expect(versions.mock.calls[0]?.some((arg) => String(arg).startsWith('assessment:'))).toBe(true);
        expect(mget).not.toHaveBeenCalled();
        expect(three.deps.patientSnapshots.stats.held).toBe(0);
        await recordHeartRate(id, 150 + seq);
        expect((await assessOn(three, lead, id)).expectData().assessment).toMatchObject({
          source: 'LIVE',
          score: first.score + 3,
        });
      } finally {
        mget.mockRestore();
        versions.mockRestore();
      }
    } finally {
      await three.close();
    }
  });

  it('read through to PostgreSQL while Redis is down, writes still answer, and nothing older is served after', async () => {
    const id = await patientWithColleague();
    expect((await readOn(two, colleague, id)).expectData().patient?.latestObservations?.heartRate).toBe(70);
    await redis.stop();
    try {
      const bypassed = two.deps.patientSnapshots.stats.bypassed;
      expect((await readOn(two, colleague, id)).expectData().patient?.id).toBe(id);
      expect(two.deps.patientSnapshots.stats.bypassed).toBeGreaterThan(bypassed);
      // The write commits and answers; its version bump waits for Redis.
      await recordHeartRate(id, 101);
      expect((await readOn(two, colleague, id)).expectData().patient?.latestObservations?.heartRate).toBe(101);
    } finally {
      await redis.start();
    }
    // Back: the pod that cached heart rate 70 before the outage never answers it again, and
    // caches again once it reaches Redis.
    const deadline = Date.now() + 20_000;
    while ((await two.deps.redis?.ping().catch(() => null)) !== 'PONG') {
      if (Date.now() > deadline) throw new Error('Redis did not come back');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await readOn(two, colleague, id)).expectData().patient?.latestObservations?.heartRate).toBe(101);
    const { hits } = two.deps.patientSnapshots.stats;
    expect((await readOn(two, colleague, id)).expectData().patient?.latestObservations?.heartRate).toBe(101);
    expect(two.deps.patientSnapshots.stats.hits).toBe(hits + 1);
  });
});
