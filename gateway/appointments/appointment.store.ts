import type { Pool } from 'pg';

export const APPOINTMENT_KINDS = ['FOLLOW_UP', 'REVIEW', 'PROCEDURE'] as const;
export type AppointmentKind = (typeof APPOINTMENT_KINDS)[number];
export const APPOINTMENT_STATUSES = ['SCHEDULED', 'CANCELLED'] as const;
export type AppointmentStatus = (typeof APPOINTMENT_STATUSES)[number];

/** One row of `appointment`. No free text on purpose: nothing here needs a clinical note. */
export interface Appointment {
  id: string;
  patientId: string;
  clinicianId: string;
  startsAt: Date;
  kind: AppointmentKind;
  status: AppointmentStatus;
}

const quoted = (values: readonly string[]) => values.map((v) => `'${v}'`).join(', ');

/**
 * Idempotent, and safe when several pods start at once: `CREATE … IF NOT EXISTS` alone can still
 * fail with a duplicate-key error on the catalog when two sessions race, so they take turns.
 */
export async function ensureAppointmentTable(pool: Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('cc-appointments-schema'))`);
    await client.query(`
      CREATE TABLE IF NOT EXISTS appointment (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        patient_id uuid NOT NULL,
        clinician_id text NOT NULL,
        starts_at timestamptz NOT NULL,
        kind text NOT NULL CHECK (kind IN (${quoted(APPOINTMENT_KINDS)})),
        status text NOT NULL DEFAULT 'SCHEDULED' CHECK (status IN (${quoted(APPOINTMENT_STATUSES)}))
      )`);
    await client.query('CREATE INDEX IF NOT EXISTS appointment_patient_id_idx ON appointment (patient_id, starts_at)');
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The appointments of many patients in ONE query, each patient's ordered by start time.
 * `upcomingOnly`: scheduled ones that have not started yet.
 */
export async function appointmentsOfPatients(
  pool: Pool,
  patientIds: readonly string[],
  upcomingOnly: boolean,
): Promise<Map<string, Appointment[]>> {
  // The API's patient ids are UUIDs; anything else cannot match, and would fail the uuid[] cast.
  const ids = [...new Set(patientIds.filter((id) => UUID.test(id)).map((id) => id.toLowerCase()))];
  const found = new Map<string, Appointment[]>();
  if (ids.length > 0) {
    const { rows } = await pool.query<Appointment>(
      `SELECT id, patient_id AS "patientId", clinician_id AS "clinicianId", starts_at AS "startsAt", kind, status
         FROM appointment
        WHERE patient_id = ANY($1::uuid[])
          AND (NOT $2::boolean OR (status = 'SCHEDULED' AND starts_at >= now()))
        ORDER BY starts_at, id`,
      [ids, upcomingOnly],
    );
    for (const row of rows) {
      const list = found.get(row.patientId);
      if (list) list.push(row);
      else found.set(row.patientId, [row]);
    }
  }
  // Keyed by the ids as asked (pg answers uuids in lower case).
  return new Map(patientIds.map((id) => [id, found.get(id.toLowerCase()) ?? []]));
}
