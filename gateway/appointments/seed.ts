import pg from 'pg';
import type { AppointmentKind, AppointmentStatus } from './appointment.store.js';

/** An appointment to insert; `id` is generated when left out, `status` defaults to SCHEDULED. */
export interface AppointmentSeed {
  id?: string;
  patientId: string;
  clinicianId: string;
  startsAt: Date | string;
  kind: AppointmentKind;
  status?: AppointmentStatus;
}

/**
 * Inserts appointments (tests, demos: the subgraph has no mutation). The table must exist, which
 * it does once `startAppointmentsServer` has run against the database. Returns the ids in order.
 */
export async function seedAppointments(databaseUrl: string, rows: readonly AppointmentSeed[]): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const ids: string[] = [];
    for (const row of rows) {
      const { rows: inserted } = await client.query<{ id: string }>(
        `INSERT INTO appointment (id, patient_id, clinician_id, starts_at, kind, status)
         VALUES (COALESCE($1::uuid, gen_random_uuid()), $2, $3, $4, $5, $6) RETURNING id`,
        [row.id ?? null, row.patientId, row.clinicianId, new Date(row.startsAt), row.kind, row.status ?? 'SCHEDULED'],
      );
      ids.push((inserted[0] as { id: string }).id);
    }
    return ids;
  } finally {
    await client.end();
  }
}
