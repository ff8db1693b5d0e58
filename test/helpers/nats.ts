import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { jobNames } from '../../src/jobs/diagnosis.job.js';
import { auditNames } from '../../src/modules/audit/audit.stream.js';
import { testEnv } from './env.js';

/** A JetStream namespace (streams, subjects, consumer) no other test run uses. */
export function uniqueNatsNamespace(): string {
  return `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

/** Deletes the streams of `namespace` (jobs, dead letters, audit; with them their consumers); leaves everything else alone. */
export async function deleteJobStreams(namespace: string): Promise<void> {
  const nc = await connect({ servers: testEnv.natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    const names = jobNames(namespace);
    for (const stream of [names.stream, names.deadLetterStream, auditNames(namespace).stream])
      await jsm.streams.delete(stream).catch(() => undefined);
  } finally {
    await nc.close();
  }
}
