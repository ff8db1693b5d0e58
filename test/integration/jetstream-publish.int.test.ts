import { jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { connect, type NatsConnection, nanos } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckedPublisher } from '../../src/lib/jetstream-publish.js';
import { testEnv } from '../helpers/env.js';
import { uniqueNatsNamespace } from '../helpers/nats.js';

/** The audit's JetStream publisher against the real server: stored, deduplicated, or refused. */
const namespace = uniqueNatsNamespace();
const stream = `${namespace.toUpperCase()}_ACKED`;
const subject = `${namespace}.acked`;
let nc: NatsConnection;
let publisher: AckedPublisher;

beforeAll(async () => {
  nc = await connect({ servers: testEnv.natsUrl });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({
    name: stream,
    subjects: [subject],
    retention: RetentionPolicy.Limits,
    storage: StorageType.Memory,
    duplicate_window: nanos(60_000),
  });
  publisher = new AckedPublisher(nc, 1_000);
});
afterAll(async () => {
  publisher?.close();
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(stream).catch(() => undefined);
  await nc.close();
});

describe('AckedPublisher', () => {
  it('resolves once the stream stored the message, and stores a retried id once', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => publisher.publish(subject, `{"n":${i}}`, `id-${i}`)));
    await publisher.publish(subject, '{"n":0}', 'id-0');
    const info = await (await jetstreamManager(nc)).streams.info(stream);
    expect(info.state.messages).toBe(20);
    const stored = await (await jetstreamManager(nc)).streams.getMessage(stream, { seq: 1 });
    expect(stored?.header.get('Nats-Msg-Id')).toMatch(/^id-\d+$/);
  });

  it('rejects a publish no stream captures, at once rather than at the timeout', async () => {
    const started = performance.now();
    await expect(publisher.publish(`${namespace}.nowhere`, '{}', 'x')).rejects.toThrow(
      'no stream captures the subject',
    );
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('rejects a publish whose acknowledgement never comes, after the timeout', async () => {
    // A core subscriber that answers nothing: the publish reaches it, no PubAck comes back.
    const silent = nc.subscribe(`${namespace}.silent`);
    const short = new AckedPublisher(nc, 100);
    try {
      await expect(short.publish(`${namespace}.silent`, '{}', 'y')).rejects.toThrow('not acknowledged in time');
    } finally {
      short.close();
      silent.unsubscribe();
    }
  });
});
