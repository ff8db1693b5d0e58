import { PubSub } from 'graphql-subscriptions';
import { errorFields, type Logger } from '../../lib/logger.js';
import type { Redis } from '../../lib/redis.js';
import { ChannelSubscriber } from '../../lib/redis-channels.js';

/**
 * Care-team removals, told to every pod: a pod that holds subscriptions of the removed clinician
 * on that patient ends them at once, rather than at its next periodic re-check. Only ids travel
 * (the patient's in the channel name, the clinician's in the message), never patient data.
 */
export interface CareTeamEvents {
  /**
   * Tells every pod that `clinicianId` left `patientId`'s care team; resolves once published — or,
   * Redis being unreachable, once that is logged: the removal itself is committed in PostgreSQL
   * and refused reads already, so it must not fail (patient writes go on through a Redis outage).
   * Open subscriptions then learn it at their next re-check (every 5 s), and in any case before
   * they deliver anything once Redis is back (the resync re-checks access first).
   */
  removed(patientId: string, clinicianId: string): Promise<void>;
  /**
   * Calls `onRemoved` with the id of every clinician removed from the patient's care team from
   * now on, and `onResync` when the subscription is back after a Redis outage (removals announced
   * meanwhile are lost: the caller checks again). Resolves once the subscription is in place, or
   * registered to be when Redis returns; the function it returns ends it.
   */
  listen(
    patientId: string,
    onRemoved: (clinicianId: string) => void,
    onResync?: () => void,
  ): Promise<() => Promise<void>>;
}

interface Removal {
  clinicianId: string;
}

/**
 * Removals over Redis pub/sub. Give it the SAME subscriber connection as the diagnosis live state
 * (`RedisLiveStateWriter`): Redis delivers one connection's messages in the order it executed the
 * PUBLISHes, so a removal announced before a later diagnosis change reaches every pod before that
 * change does — the removed clinician's subscription ends before it could deliver the change.
 */
export class RedisCareTeamEvents implements CareTeamEvents {
  private readonly channels: ChannelSubscriber;

  /**
   * @param redis the shared command connection (publishes)
   * @param subscriber the pod's pub/sub connection, shared with the live state (see above)
   * @param prefix the deployment's key prefix, used for channel names (prefixes do not apply to channels)
   */
  constructor(
    private readonly redis: Redis,
    subscriber: Redis,
    private readonly prefix: string,
    private readonly logger?: Logger,
  ) {
    this.channels = new ChannelSubscriber(subscriber);
  }

  /** The channel of one patient's removals. */
  channelOf(patientId: string): string {
    return `${this.prefix}care-team-removed:${patientId}`;
  }

  async removed(patientId: string, clinicianId: string): Promise<void> {
    try {
      await this.redis.publish(this.channelOf(patientId), JSON.stringify({ clinicianId } satisfies Removal));
    } catch (error) {
      // Ids only in the channel, and none in the log: which patient is not the operator's business.
      this.logger?.warn(errorFields(error), 'care-team removal not announced (redis): subscriptions re-check');
    }
  }

  listen(
    patientId: string,
    onRemoved: (clinicianId: string) => void,
    onResync?: () => void,
  ): Promise<() => Promise<void>> {
    return this.channels.listen(this.channelOf(patientId), {
      onMessage: (raw) => {
        const removal = parseRemoval(raw);
        if (removal) onRemoved(removal.clinicianId);
      },
      onResync,
    });
  }
}

function parseRemoval(raw: string): Removal | null {
  try {
    const value = JSON.parse(raw) as Partial<Removal>;
    return typeof value.clinicianId === 'string' ? { clinicianId: value.clinicianId } : null;
  } catch {
    return null;
  }
}

/** The embedded mode's removals: the same semantics in one process (delivery is synchronous). */
export class MemoryCareTeamEvents implements CareTeamEvents {
  private readonly pubsub = new PubSub<Record<string, Removal>>();

  async removed(patientId: string, clinicianId: string): Promise<void> {
    await this.pubsub.publish(patientId, { clinicianId });
  }

  async listen(patientId: string, onRemoved: (clinicianId: string) => void): Promise<() => Promise<void>> {
    const id = await this.pubsub.subscribe(patientId, (m) => onRemoved(m.clinicianId));
    return async () => this.pubsub.unsubscribe(id);
  }
}
