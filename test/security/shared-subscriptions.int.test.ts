import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PatientDiagnosesDocument, RequestDiagnosisDocument } from '../../client/index.js';
import { TEST_JWT_SECRET } from '../helpers/env.js';
import { execute } from '../helpers/graphql.js';
import { createPatient } from '../helpers/patients.js';
import { waitForSubscriber } from '../helpers/redis.js';
import { startTestApi, type TestApi } from '../helpers/server.js';
import { connectWs } from '../helpers/ws.js';

/** A token with exactly these claims: two of them may share `sub` and `exp` and differ in roles. */
function tokenWith(sub: string, roles: string[], exp: number): Promise<string> {
  return new SignJWT({ name: sub, roles })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(exp)
    .sign(new TextEncoder().encode(TEST_JWT_SECRET));
}

/**
 * The review's attack on shared subscription groups: keyed on `sub` + `exp`, a clinician token
 * with the same two claims as an admin's joined the admin's `patientDiagnoses` group and received
 * a patient it may not read.
 */
describe('shared subscription groups: a member is authorized as itself', () => {
  let api: TestApi;
  let patientId: string;
  let ownerToken: string;
  beforeAll(async () => {
    api = await startTestApi();
    ownerToken = await api.token('dr-owner');
    patientId = await createPatient(api.url, ownerToken, { birthDate: '1960-06-06' });
  });
  afterAll(() => api?.close());

  it('refuses a clinician token that has the same sub and exp as a subscribed admin token', async () => {
    const exp = Math.floor(Date.now() / 1000) + 3_600;
    const admin = await tokenWith('dr-twin', ['clinician', 'admin'], exp);
    const clinician = await tokenWith('dr-twin', ['clinician'], exp);
    const adminWs = connectWs(api.wsUrl, `Bearer ${admin}`);
    const clinicianWs = connectWs(api.wsUrl, `Bearer ${clinician}`);
    try {
      const adminStream = adminWs.stream(PatientDiagnosesDocument, { patientId });
      await waitForSubscriber(`${api.redisKeyPrefix}patient-diagnoses:${patientId}`);
      // The admin's group is running: the same document and variables from the weaker token.
      const refused = clinicianWs.stream(PatientDiagnosesDocument, { patientId });
      const requested = await execute(
        api.url,
        RequestDiagnosisDocument,
        { patientId, input: { symptoms: ['dyspnoea'] } },
        { token: ownerToken },
      );
      const diagnosisId = requested.expectData().requestDiagnosis.id;
      await adminStream.until((results) => results.some((r) => r.data?.patientDiagnoses.id === diagnosisId));
      await refused.until((results) => results.length > 0);
      expect(refused.results.map((r) => r.errors?.[0]?.extensions?.code)).toEqual(['NOT_FOUND']);
      await refused.done;
      expect(refused.results.some((r) => r.data)).toBe(false);
    } finally {
      await adminWs.dispose();
      await clinicianWs.dispose();
    }
  });

  it('still serves every socket presenting the same token (one shared group)', async () => {
    const token = await api.token('dr-owner');
    const sockets = [connectWs(api.wsUrl, `Bearer ${token}`), connectWs(api.wsUrl, `Bearer ${token}`)];
    try {
      await Promise.all(sockets.map((s) => s.connected));
      const streams = sockets.map((s) => s.stream(PatientDiagnosesDocument, { patientId }));
      await waitForSubscriber(`${api.redisKeyPrefix}patient-diagnoses:${patientId}`);
      const requested = await execute(
        api.url,
        RequestDiagnosisDocument,
        { patientId, input: { symptoms: ['cough'] } },
        { token: ownerToken },
      );
      const diagnosisId = requested.expectData().requestDiagnosis.id;
      for (const stream of streams) {
        await stream.until((results) => results.some((r) => r.data?.patientDiagnoses.id === diagnosisId));
      }
    } finally {
      await Promise.all(sockets.map((s) => s.dispose()));
    }
  });
});
