import { buildSubgraphSchema } from '@apollo/subgraph';
import DataLoader from 'dataloader';
import { type GraphQLFieldResolver, GraphQLScalarType, type GraphQLSchema, parse } from 'graphql';
import type { Pool } from 'pg';
import { type Appointment, appointmentsOfPatients } from './appointment.store.js';

/**
 * The appointments subgraph. It adds `Patient.appointments` to the API's `Patient` entity.
 *
 * It has no root fields and no mutations, and applies no care-team rule of its own: it cannot, the
 * care team lives in the API. A `Patient` reaches it only as an entity representation the gateway
 * built from an answer of the API (the `copilot` subgraph), which has already applied the
 * care-team rule to that patient (and answered NOT_FOUND, so no representation, for anyone else).
 * That holds only while clients reach this subgraph through the gateway alone: it must not be
 * exposed (network policy), since anyone with a valid token could ask `_entities` for any id.
 */
const typeDefs = parse(/* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key"])

  """
  An instant, ISO 8601 in UTC with milliseconds, e.g. \`2026-01-31T08:15:00.000Z\`.
  """
  scalar DateTime

  type Patient @key(fields: "id") {
    id: ID!

    """
    Care-team appointments, by start time. With \`upcomingOnly\`, only SCHEDULED ones that have not started.
    """
    appointments(upcomingOnly: Boolean = false): [Appointment!]!
  }

  """An appointment of a patient with a member of the care team."""
  type Appointment {
    """Appointment id (UUID)."""
    id: ID!

    """When it starts."""
    startsAt: DateTime!

    """What it is for."""
    kind: AppointmentKind!

    """Whether it still takes place."""
    status: AppointmentStatus!

    """The clinician the patient sees."""
    clinician: Clinician!
  }

  """What an appointment is for."""
  enum AppointmentKind {
    FOLLOW_UP
    REVIEW
    PROCEDURE
  }

  """Whether an appointment still takes place."""
  enum AppointmentStatus {
    SCHEDULED
    CANCELLED
  }

  type Clinician @key(fields: "id", resolvable: false) {
    id: ID!
  }
`);

/** Per request: the clinician (token `sub`) and the batching loaders. */
export interface AppointmentsContext {
  readonly clinicianId: string;
  /** One loader per value of `upcomingOnly`: every `Patient` of a request in one SQL query each. */
  readonly appointmentsOf: (upcomingOnly: boolean) => DataLoader<string, Appointment[]>;
}

/** The loaders of one request (DataLoader caches per instance: never share one across requests). */
export function createLoaders(pool: Pool): AppointmentsContext['appointmentsOf'] {
  const loaders = new Map<boolean, DataLoader<string, Appointment[]>>();
  return (upcomingOnly) => {
    let loader = loaders.get(upcomingOnly);
    if (!loader) {
      loader = new DataLoader(async (ids) => {
        const byPatient = await appointmentsOfPatients(pool, ids, upcomingOnly);
        return ids.map((id) => byPatient.get(id) ?? []);
      });
      loaders.set(upcomingOnly, loader);
    }
    return loader;
  };
}

const DateTime = new GraphQLScalarType({
  name: 'DateTime',
  serialize: (value) => (value instanceof Date ? value : new Date(String(value))).toISOString(),
});

const appointments: GraphQLFieldResolver<{ id: string }, AppointmentsContext, { upcomingOnly?: boolean | null }> = (
  patient,
  { upcomingOnly },
  context,
) => context.appointmentsOf(upcomingOnly ?? false).load(patient.id);

const clinician: GraphQLFieldResolver<Appointment, AppointmentsContext> = (appointment) => ({
  id: appointment.clinicianId,
});

/** Needs no database: the pool comes with each request's context (and `compose` prints it). */
export function buildAppointmentsSchema(): GraphQLSchema {
  return buildSubgraphSchema([
    { typeDefs, resolvers: { DateTime, Patient: { appointments }, Appointment: { clinician } } },
  ]);
}
