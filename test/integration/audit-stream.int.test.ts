import { randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { CreatePatientDocument, PatientViewDocument } from '../../client/index.js';
import { createLogger } from '../../src/lib/logger.js';
import { type AuditRow, AuditStream, auditNames } from '../../src/modules/audit/audit.stream.js';
import type { TestDatabase } from '../helpers/database.js';
import { queryDatabase } from '../helpers/database.js';
import { testEnv } from '../helpers/env.js';
import { execute } from '../helpers/graphql.js';
import { deleteJobStreams, uniqueNatsNamespace } from '../helpers/nats.js';
import { startApiProcess, startWorkerProcess } from '../helpers/processes.js';
import { uniqueRedisPrefix } from '../helpers/redis.js';
import { migratedDatabase, startTestApi, type TestApi } from '../helpers/server.js';
import { startOwnNats } from '../helpers/services.js';

const MESSAGES = 60;
const ROWS_PER_MESSAGE = 500;
/**
 * The message whose rows the test blocks: the last of the drainer's first write (at most 20,000
 * rows: messages 1–40), whose earlier 2,000-row chunks commit before it.
 */
const BLOCKED_MESSAGE = 40;

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const clean of cleanups.reverse()) await clean().catch(() => undefined);
});

const rowsOf = (message: number): AuditRow[] =>
  Array.from({ length: ROWS_PER_MESSAGE }, (_, i) => [
    randomUUID(),
    new Date(Date.now() + message * ROWS_PER_MESSAGE + i).toISOString(),
    'R',
    0,
    'kill-test',
    null,
    'patient.read',
    'KillTest',
    `m${message}-r${i}`,
    'test',
    null,
  ]);

async function ackFloor(namespace: string): Promise<number> {
  const nc = await connect({ servers: testEnv.natsUrl });
  try {
    const names = auditNames(namespace);
    return (await (await jetstreamManager(nc)).consumers.info(names.stream, names.consumer)).ack_floor.stream_seq;
  } finally {
    await nc.close();
  }
}

describe('the audit stream drainer', () => {
  it('loses nothing and duplicates nothing when SIGKILLed in the middle of a batch', async () => {
    const db: TestDatabase = await migratedDatabase();
    cleanups.push(() => db.drop());
    const namespace = uniqueNatsNamespace();
    cleanups.push(() => deleteJobStreams(namespace));
    const redisKeyPrefix = uniqueRedisPrefix();

    // The events, appended as an API pod would, while no drainer runs.
    const producer = await AuditStream.connect({
      url: testEnv.natsUrl,
      names: auditNames(namespace),
      connectionName: 'audit-kill-test',
      logger: createLogger({ level: 'silent' }),
    });
    const messages = Array.from({ length: MESSAGES }, (_, m) => rowsOf(m + 1));
    // Every other message as a pod of the previous release appends it (ten columns, before
    // entity_clinician_id): a rolling update must not strand those.
    for (const [m, rows] of messages.entries()) {
      const appendedRows = m % 2 ? rows.map((r) => r.slice(0, 10) as unknown as AuditRow) : rows;
      await producer.append((rows[0] as AuditRow)[0], appendedRows);
    }
    await producer.close();
    const appended = new Set(messages.flat().map((r) => r[0]));

    // One row of message 40, inserted and not committed: the drainer's INSERT of that chunk
    // waits on it, after the chunks before it in the same batch have committed.
    const blocker = new pg.Client({ connectionString: db.url });
    await blocker.connect();
    cleanups.push(() => blocker.end());
    const blocked = (messages[BLOCKED_MESSAGE - 1] as AuditRow[])[0] as AuditRow;
    await blocker.query('begin');
    await blocker.query(
      `insert into audit_event (id, recorded_at, action, outcome, agent_id, patient_id, subtype, operation_name, request_id, source)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      blocked.slice(0, 10),
    );

    const pod = await startApiProcess({ db, redisKeyPrefix, natsNamespace: namespace, mlUrl: 'http://127.0.0.1:9' });
    cleanups.push(() => pod.stop());
    const waiting = async () =>
      (
        await queryDatabase<{ n: number }>(
          db.url,
          `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
        )
      )[0]?.n ?? 0;
    const deadline = Date.now() + 60_000;
    while ((await waiting()) === 0) {
      if (Date.now() > deadline) throw new Error(`the drainer never reached the blocked chunk:\n${pod.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    pod.child.kill('SIGKILL');
    await pod.stop();

    // Killed mid-batch: rows of messages it had not acknowledged are already in the table.
    const acked = await ackFloor(namespace);
    const written = async () =>
      (
        await queryDatabase<{ n: number }>(
          db.url,
          `select count(*)::int as n from audit_event where agent_id = 'kill-test'`,
        )
      )[0]?.n ?? 0;
    expect(acked).toBeLessThan(MESSAGES);
    expect(await written()).toBeGreaterThan(acked * ROWS_PER_MESSAGE);
    await blocker.query('rollback');

    // Another pod's drainer gets the unacknowledged messages again (after the ack wait).
    const api: TestApi = await startTestApi({ db, natsNamespace: namespace, redisKeyPrefix });
    cleanups.push(() => api.close());
    await api.auditSettled(60_000);
    const ids = await queryDatabase<{ id: string }>(db.url, `select id from audit_event where agent_id = 'kill-test'`);
    expect(ids).toHaveLength(MESSAGES * ROWS_PER_MESSAGE);
    expect(new Set(ids.map((r) => r.id))).toEqual(appended);
  }, 120_000);

  it('with AUDIT_DRAINER=false in the pod, keeps every read event in the stream until a worker drains it, once', async () => {
    const api = await startTestApi({ env: { AUDIT_DRAINER: 'false' } });
    cleanups.push(() => api.close());
    const token = await api.token('dr-drainer-elsewhere');
    const input = {
      mrn: `DW-${Date.now()}`,
      givenName: 'Dr',
      familyName: 'Ain',
      birthDate: '1970-01-01',
      sex: 'FEMALE' as const,
    };
    const id = (await execute(api.url, CreatePatientDocument, { input }, { token })).expectData().createPatient.id;
    const READS = 25;
    for (let i = 0; i < READS; i++) {
      expect((await execute(api.url, PatientViewDocument, { id }, { token })).expectData().patient?.id).toBe(id);
    }
    const reads = () =>
      queryDatabase<{ n: number; distinct: number }>(
        api.db.url,
        `select count(*)::int as n, count(distinct request_id)::int as distinct from audit_event
          where patient_id = $1 and subtype = 'patient.read'`,
        [id],
      ).then((r) => r[0] ?? { n: 0, distinct: 0 });

    // Every answer's event was acknowledged by the stream, and no drainer runs in the pod.
    expect(api.deps.auditLog.stats.streamed).toBeGreaterThanOrEqual(READS);
    await new Promise((r) => setTimeout(r, 500));
    expect((await reads()).n).toBe(0);

    const worker = await startWorkerProcess({
      db: api.db,
      redisKeyPrefix: api.redisKeyPrefix,
      natsNamespace: api.natsNamespace,
      mlUrl: 'http://127.0.0.1:9',
    });
    cleanups.push(() => worker.stop());
    await api.auditSettled(60_000);
    expect(await reads()).toEqual({ n: READS, distinct: READS });
    expect(await worker.stop()).toBe(0);
  }, 120_000);

  it('degrades to direct PostgreSQL writes while NATS is down, and back to the stream after', async () => {
    const nats = await startOwnNats();
    cleanups.push(() => nats.dispose());
    const api = await startTestApi({ env: { NATS_URL: nats.url } });
    cleanups.push(() => api.close());
    const token = await api.token('dr-nats-down');
    const input = {
      mrn: `AS-${Date.now()}`,
      givenName: 'Au',
      familyName: 'Dit',
      birthDate: '1960-01-01',
      sex: 'MALE' as const,
    };
    const id = (await execute(api.url, CreatePatientDocument, { input }, { token })).expectData().createPatient.id;
    const reads = () =>
      queryDatabase<{ n: number }>(
        api.db.url,
        `select count(*)::int as n from audit_event where patient_id = $1 and subtype = 'patient.read'`,
        [id],
      ).then((r) => r[0]?.n ?? 0);

    const streamed = api.deps.auditLog.stats.streamed;
    expect((await execute(api.url, PatientViewDocument, { id }, { token })).expectData().patient?.id).toBe(id);
    expect(api.deps.auditLog.stats.streamed).toBe(streamed + 1);
    await api.auditSettled();
    expect(await reads()).toBe(1);

    await nats.stop();
    // Down: the read is answered, and its event is already committed when the answer arrives.
    const started = performance.now();
    expect((await execute(api.url, PatientViewDocument, { id }, { token })).expectData().patient?.id).toBe(id);
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(await reads()).toBe(2);
    expect(api.deps.auditLog.stats.streamed).toBe(streamed + 1);

    await nats.start();
    let answered = 2;
    const deadline = Date.now() + 30_000;
    for (;;) {
      expect((await execute(api.url, PatientViewDocument, { id }, { token })).expectData().patient?.id).toBe(id);
      answered += 1;
      if (api.deps.auditLog.stats.streamed > streamed + 1) break;
      if (Date.now() > deadline) throw new Error('audit appends never went back to the stream');
      await new Promise((r) => setTimeout(r, 200));
    }
    // Every read answered is audited exactly once, whichever way its event went.
    await api.auditSettled();
    expect(await reads()).toBe(answered);
  }, 120_000);
});

describe('the audit stream drainer, under a trickle of appends', () => {
  it('gathers the messages of a linger into one write instead of writing each as it comes', async () => {
    const namespace = uniqueNatsNamespace();
    cleanups.push(() => deleteJobStreams(namespace));
    const options = { url: testEnv.natsUrl, names: auditNames(namespace), logger: createLogger({ level: 'silent' }) };
    const producer = await AuditStream.connect({ ...options, connectionName: 'audit-trickle-producer' });
    const drainer = await AuditStream.connect({ ...options, connectionName: 'audit-trickle-drainer' });
    cleanups.push(
      () => producer.close(),
      () => drainer.close(),
    );
    const writes: number[] = [];
    const written = new Set<string>();
    drainer.startDrainer(async (rows) => {
      writes.push(rows.length);
      for (const row of rows) written.add(row[0]);
    });
    // 30 messages of 3 rows, one every 10 ms: about as many as a linger holds three times over.
    const appended: string[] = [];
    for (let m = 0; m < 30; m++) {
      const rows = rowsOf(m).slice(0, 3);
      await producer.append((rows[0] as AuditRow)[0], rows);
      appended.push(...rows.map((r) => r[0]));
      await new Promise((r) => setTimeout(r, 10));
    }
    await drainer.settled();
    expect([...written].sort()).toEqual([...appended].sort());
    // Each message written as it came would be 30 writes; a 100 ms linger makes a handful.
    expect(writes.length).toBeGreaterThan(0);
    expect(writes.length).toBeLessThanOrEqual(8);
  });
});
