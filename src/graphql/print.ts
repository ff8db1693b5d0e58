import { printSchema } from 'graphql';
import { buildSchema } from './schema.js';

/** The SDL committed as `schema/schema.graphql`; a test fails when the file is stale. */
export function printedSchema(): string {
  return `${printSchema(buildSchema())}\n`;
}
