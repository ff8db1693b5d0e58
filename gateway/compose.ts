/**
 * Offline composition: `npm run compose` writes appointments/schema.graphql (printed from the
 * code) and supergraph.graphql (the copilot and appointments subgraphs composed with
 * @theguild/federation-composition). `npm run compose -- --check` writes nothing and exits 1 when
 * either committed file differs from what would be written.
 *
 * The URLs in the supergraph are the compose-network defaults; the gateway replaces them at run
 * time from COPILOT_SUBGRAPH_URL / APPOINTMENTS_SUBGRAPH_URL (gateway.config.ts).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { printSubgraphSchema } from '@apollo/subgraph';
import { composeServices, compositionHasErrors } from '@theguild/federation-composition';
import { parse } from 'graphql';
import { buildAppointmentsSchema } from './appointments/schema.js';

const here = import.meta.dirname;
const files = {
  copilot: join(here, '..', 'schema', 'subgraph.graphql'),
  appointments: join(here, 'appointments', 'schema.graphql'),
  supergraph: join(here, 'supergraph.graphql'),
};
/** Where each subgraph lives in docker-compose; only a default, see above. */
export const DEFAULT_SUBGRAPH_URLS = {
  copilot: 'http://api:4000/subgraph',
  appointments: 'http://appointments:4100/graphql',
} as const;

const check = process.argv.includes('--check');

const appointmentsSdl = printSubgraphSchema(buildAppointmentsSchema());
const result = composeServices([
  { name: 'copilot', url: DEFAULT_SUBGRAPH_URLS.copilot, typeDefs: parse(readFileSync(files.copilot, 'utf8')) },
  { name: 'appointments', url: DEFAULT_SUBGRAPH_URLS.appointments, typeDefs: parse(appointmentsSdl) },
]);
if (compositionHasErrors(result)) {
  console.error(`Composition failed with ${result.errors.length} error(s):`);
  for (const error of result.errors) {
    console.error(`- ${error.message}${error.extensions.code ? ` [${String(error.extensions.code)}]` : ''}`);
  }
  process.exit(1);
}

const outputs: [path: string, text: string][] = [
  [files.appointments, appointmentsSdl],
  [files.supergraph, result.supergraphSdl],
].map(([path, text]) => [path as string, `${(text as string).trimEnd()}\n`]);

if (check) {
  const stale = outputs.filter(([path, text]) => readOrEmpty(path) !== text).map(([path]) => relative(here, path));
  if (stale.length > 0) {
    console.error(`Stale: ${stale.join(', ')}. Run \`npm run compose\` in gateway/ and commit the result.`);
    process.exit(1);
  }
  console.log('appointments/schema.graphql and supergraph.graphql are up to date.');
} else {
  for (const [path, text] of outputs) writeFileSync(path, text);
  console.log(`Wrote ${outputs.map(([path]) => relative(here, path)).join(' and ')}.`);
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
