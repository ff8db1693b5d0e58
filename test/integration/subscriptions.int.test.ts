import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PatientDiagnosesDocument, RequestDiagnosisDocument } from '../../client/index.js';
import { testEnv } from '../helpers/env.js';
import { execute } from '../helpers/graphql.js';
import { createPatient } from '../helpers/patients.js';
import { waitForSubscriber } from '../helpers/redis.js';
import { startTestApi, type TestApi } from '../helpers/server.js';
import { connectWs } from '../helpers/ws.js';

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

let api: TestApi;
let token: string;
let patientId: string;
let redis: Redis;

beforeAll(async () => {
  // Churns thousands of subscriptions and diagnoses in seconds, far past one clinician's rate
  // limit; the limits have tests of their own (rate-limit.int.test.ts).
  api = await startTestApi({ env: { RATE_LIMIT_POINTS: '1000000' } });
  token = await api.token('dr-subs');
  patientId = await createPatient(api.url, token, { birthDate: '1990-01-01', sex: 'OTHER' });
  redis = new Redis(testEnv.redisUrl);
});
afterAll(async () => {
  redis?.disconnect();
  await api?.close();
});

// Channels opened for subscriptions. The pod's own lease channels (`pv:events`, `pv:ack:<pod>`,
// snapshot-leases.ts) live as long as the pod, whatever its clients do, so they are left out.
const ourChannels = async () =>
  ((await redis.pubsub('CHANNELS', `${api.redisKeyPrefix}*`)) as string[]).filter(
    (c) => !c.startsWith(`${api.redisKeyPrefix}pv:`),
  );
const heapMb = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

describe('subscriptions', () => {
  it('caps open operations per socket at 50', async () => {
    const ws = connectWs(api.wsUrl, `Bearer ${token}`);
    try {
      await ws.connected;
      const streams = Array.from({ length: 51 }, () => ws.stream(PatientDiagnosesDocument, { patientId }));
      await streams[50]?.until((rs) => rs.length > 0);
      expect(streams[50]?.results[0]?.errors?.[0]?.message).toContain('At most 50');
      for (const s of streams) s.stop();
    } finally {
      await ws.dispose();
    }
  });

  it('leaves no Redis subscription and no heap behind after 2,000 subscriptions come and go', async () => {
    const ws = connectWs(api.wsUrl, `Bearer ${token}`);
    const round = async (n: number) => {
      const streams = Array.from({ length: n }, () => ws.stream(PatientDiagnosesDocument, { patientId }));
      // Publish changes until every stream has received one: then all of them were live.
      const deadline = Date.now() + 20_000;
      while (streams.some((s) => s.results.length === 0)) {
        if (Date.now() > deadline) throw new Error('streams did not all receive an event');
        await execute(api.url, RequestDiagnosisDocument, { patientId, input: { symptoms: ['cough'] } }, { token });
        await new Promise((r) => setTimeout(r, 50));
      }
      for (const s of streams) s.stop();
    };
    try {
      await ws.connected;
      await round(50); // warm-up: JIT, pools
      await new Promise((r) => setTimeout(r, 300));
      expect(await ourChannels()).toEqual([]);
      const before = heapMb();
      for (let i = 0; i < 40; i++) await round(50);
      await new Promise((r) => setTimeout(r, 500));
      expect(await ourChannels()).toEqual([]);
      const grown = heapMb() - before;
      expect(grown).toBeLessThan(8);
    } finally {
      await ws.dispose();
    }
  }, 120_000);

  it('refuses SSE subscriptions without a token and serves them with one', async () => {
    const query = 'subscription($p: ID!) { patientDiagnoses(patientId: $p) { id status } }';
    const url = `${api.url.href}?query=${encodeURIComponent(query)}&variables=${encodeURIComponent(JSON.stringify({ p: patientId }))}`;
    const anonymous = await fetch(url, { headers: { accept: 'text/event-stream' } });
    const text = await anonymous.text();
    expect(anonymous.status === 401 || text.includes('UNAUTHENTICATED')).toBe(true);
    expect(text).not.toContain('"data"');

    const abort = new AbortController();
    const res = await fetch(url, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` },
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body?.getReader();
    await waitForSubscriber(`${api.redisKeyPrefix}patient-diagnoses:${patientId}`);
    await execute(api.url, RequestDiagnosisDocument, { patientId, input: { symptoms: ['fever'] } }, { token });
    let received = '';
    while (!received.includes('"patientDiagnoses"')) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) break;
      received += new TextDecoder().decode(chunk.value);
    }
    expect(received).toContain('"status":"QUEUED"');
    abort.abort();
  });
});
