import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PatientAssessmentDocument, PatientDiagnosesDocument, RecordObservationsDocument } from '../../client/index.js';
import { createModelServer, type ModelServer } from '../../ml-server/server.js';
import { signToken } from '../../src/auth/jwt.js';
import type { TestDatabase } from '../helpers/database.js';
import { TEST_JWT_SECRET } from '../helpers/env.js';
import { FaultyModelServer } from '../helpers/faulty-model-server.js';
import { execute } from '../helpers/graphql.js';
import { deleteJobStreams, uniqueNatsNamespace } from '../helpers/nats.js';
import { createPatient } from '../helpers/patients.js';
import { type LoggedProcess, startApiProcess } from '../helpers/processes.js';
import { deleteRedisKeys, uniqueRedisPrefix } from '../helpers/redis.js';
import { migratedDatabase } from '../helpers/server.js';
import { connectWs } from '../helpers/ws.js';

describe('graceful shutdown of an API pod', () => {
  let db: TestDatabase;
  let upstream: ModelServer;
  let hanging: FaultyModelServer;
  let pod: LoggedProcess | undefined;
  const prefix = uniqueRedisPrefix();
  const namespace = uniqueNatsNamespace();

  beforeAll(async () => {
    db = await migratedDatabase();
    upstream = createModelServer();
    hanging = new FaultyModelServer(await upstream.listen(0, '127.0.0.1'));
    await hanging.start();
    await hanging.setMode('hang');
  });
  afterAll(async () => {
    if (pod?.child.exitCode === null) pod.child.kill('SIGKILL');
    await hanging?.close();
    await upstream?.close();
    await db?.drop();
    await deleteRedisKeys(prefix);
    await deleteJobStreams(namespace);
  });

  it('on SIGTERM: readiness 503, in-flight requests finish, WebSockets close with 1001, exit 0', async () => {
    pod = await startApiProcess(
      { db, redisKeyPrefix: prefix, natsNamespace: namespace, mlUrl: hanging.url },
      {
        LOG_LEVEL: 'warn',
        // Requests to the hanging model take this long: they are in flight when SIGTERM comes.
        ML_TIMEOUT_MS: '2500',
        DRAIN_DELAY_MS: '500',
      },
    );
    const base = (pod as LoggedProcess & { base: string }).base;
    const url = `${base}/graphql`;
    const token = await signToken(TEST_JWT_SECRET, { sub: 'dr-drain', roles: ['clinician'] });
    const patientId = await createPatient(url, token, { birthDate: '1960-01-01', sex: 'MALE' });
    await execute(
      url,
      RecordObservationsDocument,
      {
        patientId,
        input: {
          respiratoryRate: 18,
          spo2: 97,
          onSupplementalOxygen: false,
          systolicBp: 120,
          heartRate: 70,
          consciousness: 'ALERT',
          temperatureC: 37,
        },
      },
      { token },
    );

    const ws = connectWs(url.replace('http', 'ws'), `Bearer ${token}`);
    await ws.connected;
    ws.stream(PatientDiagnosesDocument, { patientId });

    const inFlight = Array.from({ length: 5 }, () =>
      execute(url, PatientAssessmentDocument, { patientId }, { token, headers: { connection: 'close' } }),
    );
    await new Promise((r) => setTimeout(r, 300));
    pod.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    const ready = await fetch(`${base}/health/ready`);
    expect(ready.status).toBe(503);
    expect((await ready.json()).status).toBe('draining');

    const answers = await Promise.all(inFlight);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.codes).toEqual(['ML_UNAVAILABLE']);
    }
    expect((await ws.closed).code).toBe(1001);
    expect(await pod.exited).toBe(0);
  }, 90_000);
});
