/** Writes `schema/schema.graphql` and `schema/subgraph.graphql` from the code-first schema (`npm run generate`). */
import { writeFileSync } from 'node:fs';
import { printedSchema, printedSubgraphSchema } from '../src/graphql/print.js';

writeFileSync(new URL('../schema/schema.graphql', import.meta.url), printedSchema());
writeFileSync(new URL('../schema/subgraph.graphql', import.meta.url), printedSubgraphSchema());
console.log('wrote schema/schema.graphql and schema/subgraph.graphql');
