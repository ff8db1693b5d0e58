import type { GraphQLSchema } from 'graphql';
import { builder } from './builder.js';
// Type modules register their types and fields with the builder when imported.
import '../modules/clinician/clinician.graphql.js';
import '../modules/patient/patient.graphql.js';
import '../modules/assessment/assessment.graphql.js';
import '../modules/diagnosis/diagnosis.graphql.js';

let schema: GraphQLSchema | undefined;

/** The executable schema (built once per process). */
export function buildSchema(): GraphQLSchema {
  schema ??= builder.toSchema({ sortSchema: false });
  return schema;
}
