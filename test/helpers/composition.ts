/**
 * Federation composition by the two composers routers use, with their verdicts side by side:
 * Apollo's (`@apollo/composition`, what `rover supergraph compose` runs) and The Guild's
 * (`@theguild/federation-composition`, what Hive and our gateway run). The composers judge; the
 * tests only read what they say.
 */
import { readFileSync } from 'node:fs';
import { composeServices as apolloCompose } from '@apollo/composition';
import { compositionHasErrors, composeServices as guildCompose } from '@theguild/federation-composition';
import { parse } from 'graphql';

/** One subgraph to compose: its name, routing URL and SDL. */
export interface SubgraphSdl {
  name: string;
  url: string;
  sdl: string;
}

/** A composer's verdict: the error codes and messages, or the supergraph SDL. */
export type Verdict = { errors: string[]; codes: string[]; supergraphSdl?: string };

export function composeWithApollo(subgraphs: readonly SubgraphSdl[]): Verdict {
  const result = apolloCompose(subgraphs.map(({ name, url, sdl }) => ({ name, url, typeDefs: parse(sdl) })));
  const errors = result.errors ?? [];
  return {
    errors: errors.map((e) => `${String(e.extensions.code)}: ${e.message}`),
    codes: errors.map((e) => String(e.extensions.code)),
    ...(result.supergraphSdl ? { supergraphSdl: result.supergraphSdl } : {}),
  };
}

export function composeWithGuild(subgraphs: readonly SubgraphSdl[]): Verdict {
  const result = guildCompose(subgraphs.map(({ name, url, sdl }) => ({ name, url, typeDefs: parse(sdl) })));
  if (compositionHasErrors(result)) {
    return {
      errors: result.errors.map((e) => `${String(e.extensions.code)}: ${e.message}`),
      codes: result.errors.map((e) => String(e.extensions.code)),
    };
  }
  return { errors: [], codes: [], supergraphSdl: result.supergraphSdl };
}

/** Our committed subgraph SDL (`npm run generate` prints it). */
export const copilotSubgraph = (): SubgraphSdl => ({
  name: 'copilot',
  url: 'http://copilot:4000/subgraph',
  sdl: readFileSync(new URL('../../schema/subgraph.graphql', import.meta.url), 'utf8'),
});

/** The foreign Relay subgraph of test/unit/composition-wards.graphql (see the comment there). */
export const wardsSubgraph = (): SubgraphSdl => ({
  name: 'wards',
  url: 'http://wards:4000/graphql',
  sdl: readFileSync(new URL('../unit/composition-wards.graphql', import.meta.url), 'utf8'),
});
