/** Writes `schema/schema.graphql` from the code-first schema (`npm run generate`). */
import { writeFileSync } from 'node:fs';
import { printedSchema } from '../src/graphql/print.js';

writeFileSync(new URL('../schema/schema.graphql', import.meta.url), printedSchema());
console.log('wrote schema/schema.graphql');
