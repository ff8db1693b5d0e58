import { MessageType, stringifyMessage } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  AddCareTeamMemberDocument,
  CancelDiagnosisDocument,
  RemoveCareTeamMemberDocument,
  RequestDiagnosisDocument,
} from '../../client/index.js';
import { execute } from '../helpers/graphql.js';
import { createPatient } from '../helpers/patients.js';
import { startTestApi, type TestApi } from '../helpers/server.js';

/**
 * The frames on the wire, read raw: members of a shared group write their `next` frames to their
 * sockets themselves (src/graphql/shared-subscriptions.ts). What a client receives must be what
 * graphql-ws would have sent — byte for byte, in order, `complete` after the terminal state — and
 * authorisation must still end a removed clinician's subscriptions with NOT_FOUND.
 */
const FOLLOW = 'subscription F($id: ID!) { diagnosisUpdated(id: $id) { id status version } }';

let api: TestApi;
let lead: string;
let colleague: string;
const sockets: WebSocket[] = [];

beforeAll(async () => {
  // No worker: a diagnosis stays QUEUED until the test cancels it.
  api = await startTestApi();
  lead = await api.token('dr-frames-lead');
  colleague = await api.token('dr-frames-b');
});
afterAll(async () => {
  for (const socket of sockets) socket.terminate();
  await api?.close();
});

/** A raw graphql-transport-ws socket that records every frame it receives, as text. */
async function rawSocket(token: string) {
  const ws = new WebSocket(api.wsUrl, 'graphql-transport-ws');
  sockets.push(ws);
  const frames: string[] = [];
  ws.on('message', (data) => frames.push(data.toString()));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
  await until(() => frames.includes('{"type":"connection_ack"}'));
  return {
    frames,
    follow: (id: string, diagnosisId: string) =>
      ws.send(JSON.stringify({ id, type: 'subscribe', payload: { query: FOLLOW, variables: { id: diagnosisId } } })),
    /** Frames of subscription `id`, parsed. */
    of: (id: string) =>
      frames
        .map((f) => ({ raw: f, message: JSON.parse(f) as { id?: string; type: string; payload?: never } }))
        .filter((f) => f.message.id === id),
  };
}

async function until(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function queuedDiagnosis(patientId: string): Promise<string> {
  const input = { symptoms: ['fever'] };
  return (await execute(api.url, RequestDiagnosisDocument, { patientId, input }, { token: lead })).expectData()
    .requestDiagnosis.id;
}

describe('graphql-ws frames of shared subscriptions', () => {
  it('are the bytes graphql-ws sends, identical for every member, and end with complete after the terminal state', async () => {
    const patientId = await createPatient(api.url, lead);
    const diagnosisId = await queuedDiagnosis(patientId);
    const a = await rawSocket(lead);
    const b = await rawSocket(lead);
    // Ids JSON has to escape, and a plain one; the same token, so one group serves all three.
    const ids = ['q"1\\', '2'];
    a.follow(ids[0] as string, diagnosisId);
    a.follow(ids[1] as string, diagnosisId);
    b.follow(ids[0] as string, diagnosisId);
    const everyone = () => [a.of(ids[0] as string), a.of(ids[1] as string), b.of(ids[0] as string)];
    await until(() => everyone().every((f) => f.length === 1));

    const cancelled = await execute(api.url, CancelDiagnosisDocument, { id: diagnosisId }, { token: lead });
    expect(cancelled.expectData().cancelDiagnosis.status).toBe('CANCELLED');
    await until(() => everyone().every((f) => f.at(-1)?.message.type === 'complete'));
    await new Promise((r) => setTimeout(r, 300)); // nothing may follow the complete

    const transcripts = everyone();
    for (const [n, frames] of transcripts.entries()) {
      const id = n === 1 ? (ids[1] as string) : (ids[0] as string);
      expect(frames.map((f) => f.message.type)).toEqual(['next', 'next', 'complete']);
      // Each frame re-serialised by graphql-ws itself from what arrived: the same bytes.
      for (const { raw, message } of frames) expect(stringifyMessage(message as never)).toBe(raw);
      expect(frames[2]?.raw).toBe(stringifyMessage({ id, type: MessageType.Complete }));
      expect(frames.slice(0, 2).map((f) => f.message.payload)).toEqual([
        { data: { diagnosisUpdated: { id: diagnosisId, status: 'QUEUED', version: 1 } } },
        { data: { diagnosisUpdated: { id: diagnosisId, status: 'CANCELLED', version: 2 } } },
      ]);
    }
    // One serialisation for the group: every member's payload text is the same.
    const payloadText = (raw: string) => raw.slice(raw.indexOf('"payload":'));
    for (const frames of transcripts)
      expect(frames.map((f) => payloadText(f.raw))).toEqual(transcripts[0]?.map((f) => payloadText(f.raw)));
  });

  it("still end a removed clinician's subscriptions with NOT_FOUND, and deliver nothing after", async () => {
    const patientId = await createPatient(api.url, lead);
    (
      await execute(api.url, AddCareTeamMemberDocument, { patientId, clinicianId: 'dr-frames-b' }, { token: lead })
    ).expectData();
    const diagnosisId = await queuedDiagnosis(patientId);
    const b1 = await rawSocket(colleague);
    const b2 = await rawSocket(colleague);
    const watcher = await rawSocket(lead);
    b1.follow('b', diagnosisId);
    b2.follow('b', diagnosisId);
    watcher.follow('w', diagnosisId);
    await until(() => [b1.of('b'), b2.of('b'), watcher.of('w')].every((f) => f.length === 1));

    (
      await execute(api.url, RemoveCareTeamMemberDocument, { patientId, clinicianId: 'dr-frames-b' }, { token: lead })
    ).expectData();
    await until(() => [b1.of('b'), b2.of('b')].every((f) => f.at(-1)?.message.type === 'complete'));
    await execute(api.url, CancelDiagnosisDocument, { id: diagnosisId }, { token: lead });
    await until(() => watcher.of('w').at(-1)?.message.type === 'complete');
    await new Promise((r) => setTimeout(r, 300));

    for (const socket of [b1, b2]) {
      const frames = socket.of('b');
      expect(frames.map((f) => f.message.type)).toEqual(['next', 'next', 'complete']);
      const ended = frames[1]?.message.payload as unknown as { errors: { extensions: { code: string } }[] };
      expect(ended.errors.map((e) => e.extensions.code)).toEqual(['NOT_FOUND']);
      expect(frames.map((f) => f.raw).join()).not.toContain('CANCELLED');
    }
    expect(watcher.of('w').map((f) => f.message.type)).toEqual(['next', 'next', 'complete']);
    expect(watcher.of('w')[1]?.raw).toContain('"status":"CANCELLED"');
  });
});
