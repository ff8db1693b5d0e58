import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { LRUCache } from 'lru-cache';
import type { Viewer } from '../../auth/jwt.js';
import { Clinician } from './clinician.entity.js';

/**
 * Creates or refreshes clinician rows from token claims. A pod remembers for a few minutes whom it
 * has already written, so a busy clinician costs one upsert per pod per interval, not one per
 * request. The memory is only an optimisation: losing it costs one more idempotent upsert.
 */
export class ClinicianRegistry {
  private readonly seen = new LRUCache<string, string>({ max: 10_000, ttl: 5 * 60_000 });

  constructor(private readonly orm: MikroORM) {}

  async ensure(viewer: Viewer): Promise<void> {
    const signature = `${viewer.name}\u0000${viewer.roles.join(',')}`;
    if (this.seen.get(viewer.id) === signature) return;
    await this.orm.em.getConnection().execute(
      `insert into clinician (id, name, roles, created_at, last_seen_at)
       values (?, ?, ?, now(), now())
       on conflict (id) do update set name = excluded.name, roles = excluded.roles, last_seen_at = now()`,
      [viewer.id, viewer.name, `{${viewer.roles.join(',')}}`],
    );
    this.seen.set(viewer.id, signature);
  }

  /**
   * Makes sure a clinician named by id exists before it is referenced (a care team may name a
   * colleague who has not signed in yet). Name and roles are filled in from their first token.
   */
  async ensureReferenced(em: EntityManager, id: string): Promise<Clinician> {
    await em.getConnection().execute(
      `insert into clinician (id, name, roles, created_at, last_seen_at) values (?, ?, '{clinician}', now(), now())
         on conflict (id) do nothing`,
      [id, id],
      'run',
      em.getTransactionContext(),
    );
    return em.findOneOrFail(Clinician, id);
  }
}
