import { printSubgraphSchema } from '@apollo/subgraph';
import { printSchema } from 'graphql';
import { buildSchema, buildSubgraphSchema } from './schema.js';

/** The SDL committed as `schema/schema.graphql`; a test fails when the file is stale. */
export function printedSchema(): string {
  return `${printSchema(buildSchema())}\n`;
}

/**
 * The subgraph SDL committed as `schema/subgraph.graphql` (with its federation directives, which
 * `printSchema` would drop): the input of supergraph composition, checked for staleness too.
 */
export function printedSubgraphSchema(): string {
  return `${printSubgraphSchema(buildSubgraphSchema())}\n`;
}
