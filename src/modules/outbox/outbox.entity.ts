import { EntitySchema } from '@mikro-orm/core';

/**
 * A job accepted but not yet handed to the queue (transactional outbox). The row is inserted in
 * the same transaction as the diagnosis it announces and deleted once NATS has stored the job, so
 * an accepted request is never lost while NATS is down and never announced if the transaction
 * rolled back.
 */
export class OutboxMessage {
  /** The diagnosis id: also the queue's de-duplication id. */
  id: string;
  payload: Record<string, unknown>;
  createdAt: Date = new Date();
  attempts = 0;
  lastError: string | null = null;

  constructor(id: string, payload: Record<string, unknown>) {
    this.id = id;
    this.payload = payload;
  }
}

export const OutboxMessageSchema = new EntitySchema<OutboxMessage>({
  class: OutboxMessage,
  tableName: 'outbox_message',
  indexes: [{ name: 'outbox_message_created_idx', properties: ['createdAt'] }],
  properties: {
    id: { type: 'uuid', primary: true },
    payload: { type: 'json', columnType: 'jsonb' },
    createdAt: { type: 'Date', columnType: 'timestamptz' },
    attempts: { type: 'integer' },
    lastError: { type: 'text', columnType: 'text', nullable: true },
  },
});
