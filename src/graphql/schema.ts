import type { GraphQLFieldResolver, GraphQLSchema, GraphQLUnionType } from 'graphql';
import { BadUserInputError } from '../errors.js';
import { builder } from './builder.js';
// Type modules register their types and fields with the builder when imported.
import '../modules/clinician/clinician.graphql.js';
import '../modules/patient/patient.graphql.js';
import '../modules/assessment/assessment.graphql.js';
import '../modules/diagnosis/diagnosis.graphql.js';

let schema: GraphQLSchema | undefined;
let subgraph: GraphQLSchema | undefined;

/** The executable schema (built once per process), served at `/graphql`. */
export function buildSchema(): GraphQLSchema {
  schema ??= builder.toSchema({ sortSchema: false });
  return schema;
}

/**
 * The same types and resolvers as an Apollo Federation v2 subgraph, served at `/subgraph`: the
 * entities `Patient`, `Diagnosis` and `Clinician` (`@key(fields: "id")`) plus `_service` and
 * `_entities`, whose reference resolvers apply the same care-team rule as the plain fields.
 */
export function buildSubgraphSchema(): GraphQLSchema {
  subgraph ??= limitRepresentations(builder.toSubGraphSchema({ sortSchema: false }));
  return subgraph;
}

/**
 * At most this many representations per `_entities` call. A gateway asks for the entities one
 * operation touched (a page is at most 100 patients); without a cap one request could ask for
 * any number of records, past the alias and cost limits that bound the plain API.
 */
export const MAX_ENTITY_REPRESENTATIONS = 500;

function limitRepresentations(schema: GraphQLSchema): GraphQLSchema {
  const field = schema.getQueryType()?.getFields()._entities;
  const resolve = field?.resolve as GraphQLFieldResolver<unknown, unknown, { representations: unknown[] }> | undefined;
  if (field && resolve) {
    const entityTypes = new Set(
      (schema.getType('_Entity') as GraphQLUnionType | undefined)?.getTypes().map((type) => type.name) ?? [],
    );
    field.resolve = (source, args, context, info) => {
      if (args.representations.length > MAX_ENTITY_REPRESENTATIONS) {
        throw new BadUserInputError(
          `_entities takes at most ${MAX_ENTITY_REPRESENTATIONS} representations`,
          'representations',
        );
      }
      // A representation of a type this subgraph does not own is the caller's mistake: refused
      // here, it is BAD_USER_INPUT, where the federation library's own failure was INTERNAL.
      for (const [i, representation] of args.representations.entries()) {
        const typename = (representation as { __typename?: unknown } | null)?.__typename;
        if (typeof typename !== 'string' || !entityTypes.has(typename)) {
          throw new BadUserInputError(
            `representations[${i}] must have a __typename of ${[...entityTypes].join(', ')}`,
            `representations.${i}.__typename`,
          );
        }
      }
      return resolve(source, args, context, info);
    };
  }
  return schema;
}
