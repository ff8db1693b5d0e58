import SchemaBuilder from '@pothos/core';
import DirectivePlugin from '@pothos/plugin-directives';
import FederationPlugin from '@pothos/plugin-federation';
import RelayPlugin from '@pothos/plugin-relay';
import { GraphQLScalarType, Kind } from 'graphql';
import { BadUserInputError } from '../errors.js';
import { isIsoDate } from '../modules/patient/patient.validation.js';
import type { Context } from './context.js';

/** The schema builder: plugins, scalars and the context type. It defines no object types. */
export const builder = new SchemaBuilder<{
  Context: Context;
  Scalars: {
    Date: { Input: string; Output: string };
    DateTime: { Input: Date; Output: Date | string };
    JSON: { Input: unknown; Output: unknown };
  };
  DefaultFieldNullability: false;
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
}>({
  // Federation after the plugins that wrap resolvers; it only annotates types and adds entities.
  plugins: [RelayPlugin, DirectivePlugin, FederationPlugin],
  defaultFieldNullability: false,
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    // Ids are plain UUIDs and clinician subjects, not global ids: no `node` / `nodes` fields.
    nodeQueryOptions: false,
    nodesQueryOptions: false,
    edgesFieldOptions: { nullable: false },
    nodeFieldOptions: { nullable: false },
    // Relay's page info, connections and edges are value types every Relay subgraph defines:
    // `@shareable` (subgraph SDL only) lets them merge with another subgraph's copies, where
    // composition otherwise fails with INVALID_FIELD_SHARING (test/unit/federation-composition).
    pageInfoTypeOptions: { shareable: true },
    defaultConnectionTypeOptions: { shareable: true },
    defaultEdgeTypeOptions: { shareable: true },
  },
});

/** The builder's resolved type parameters, for helpers that take a field builder. */
export type BuilderTypes = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

builder.addScalarType(
  'Date',
  new GraphQLScalarType<string, string>({
    name: 'Date',
    description: 'A calendar date, ISO 8601 `YYYY-MM-DD`.',
    serialize: (value) => String(value),
    parseValue: (value) => parseDate(value),
    parseLiteral: (ast) => parseDate(ast.kind === Kind.STRING ? ast.value : undefined),
  }),
);

builder.addScalarType(
  'DateTime',
  new GraphQLScalarType<Date, string>({
    name: 'DateTime',
    description: 'An instant, ISO 8601 in UTC with milliseconds, e.g. `2026-01-31T08:15:00.000Z`.',
    serialize: (value) => (value instanceof Date ? value : new Date(String(value))).toISOString(),
    parseValue: (value) => parseDateTime(value),
    parseLiteral: (ast) => parseDateTime(ast.kind === Kind.STRING ? ast.value : undefined),
  }),
);

builder.addScalarType(
  'JSON',
  new GraphQLScalarType<unknown, unknown>({
    name: 'JSON',
    description: 'A JSON value (used for standard documents such as FHIR resources).',
    serialize: (value) => value,
    parseValue: (value) => value,
  }),
);

function parseDate(value: unknown): string {
  if (typeof value !== 'string' || !isIsoDate(value)) throw new BadUserInputError('Date must be YYYY-MM-DD');
  return value;
}

function parseDateTime(value: unknown): Date {
  const date = typeof value === 'string' ? new Date(value) : null;
  if (!date || Number.isNaN(date.getTime())) throw new BadUserInputError('DateTime must be ISO 8601');
  return date;
}

builder.queryType({ description: 'Reads. Every operation needs a bearer token.' });
builder.mutationType({ description: 'Writes. Every operation needs a bearer token.' });
builder.subscriptionType({ description: 'Live updates. Over graphql-ws on /graphql, or SSE.' });
