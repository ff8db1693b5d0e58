/**
 * Our subgraph in someone else's supergraph. A hospital's supergraph already has subgraphs with
 * their own Relay connections (and so their own `PageInfo`) and their own `Sex`-like enum with
 * fewer values (test/unit/composition-wards.graphql). The committed subgraph SDL must compose with
 * such a subgraph in both composers; they do the judging (test/helpers/composition.ts).
 */
import {
  buildSchema,
  type GraphQLEnumType,
  type GraphQLInputObjectType,
  type GraphQLNamedType,
  type GraphQLObjectType,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { printedSchema } from '../../src/graphql/print.js';
import {
  composeWithApollo,
  composeWithGuild,
  copilotSubgraph,
  type Verdict,
  wardsSubgraph,
} from '../helpers/composition.js';

/** The client-facing API of a composed supergraph: what a client of the router can query. */
const apiSchemaOf = (supergraphSdl: string) => buildSchema(supergraphSdl, { assumeValidSDL: true });
const named = (type: unknown) => String(type).replace(/[[\]!]/g, '');
const values = (type: GraphQLNamedType | undefined | null) => (type as GraphQLEnumType).getValues().map((v) => v.name);

/** What both composers must agree on about the composed API. */
function expectOurApiIntact(verdict: Verdict) {
  expect(verdict.errors).toEqual([]);
  const api = apiSchemaOf(verdict.supergraphSdl as string);
  // An output enum merges as the union of the subgraphs' values: ours all reach the client.
  expect(values(api.getType('Sex'))).toEqual(expect.arrayContaining(['FEMALE', 'MALE', 'OTHER', 'UNKNOWN']));
  expect(String((api.getType('Patient') as GraphQLObjectType).getFields().sex?.type)).toBe('Sex!');
  // Every value a clinician may record is still accepted through the router.
  const input = (api.getType('CreatePatientInput') as GraphQLInputObjectType).getFields();
  expect(values(api.getType(named(input.sex?.type)))).toEqual(['FEMALE', 'MALE', 'OTHER', 'UNKNOWN']);
  // Both subgraphs' connections are there, and Patient is joined across them.
  const patient = (api.getType('Patient') as GraphQLObjectType).getFields();
  expect(Object.keys(patient)).toEqual(expect.arrayContaining(['ward', 'diagnoses', 'observations']));
  expect(Object.keys((api.getType('Ward') as GraphQLObjectType).getFields())).toContain('patients');
  expect(Object.keys((api.getType('PageInfo') as GraphQLObjectType).getFields())).toEqual([
    'hasNextPage',
    'hasPreviousPage',
    'startCursor',
    'endCursor',
  ]);
}

describe('the copilot subgraph beside a foreign Relay subgraph with its own Sex enum', () => {
  const subgraphs = [copilotSubgraph(), wardsSubgraph()];

  it('composes with @apollo/composition', () => {
    expectOurApiIntact(composeWithApollo(subgraphs));
  });

  it('composes with @theguild/federation-composition', () => {
    expectOurApiIntact(composeWithGuild(subgraphs));
  });

  it('fails in both composers when the foreign Sex is an input too (the check can fail)', () => {
    // An enum used in both positions must be identical in every subgraph: nothing on our side
    // can make that compose, and both composers must say so with the code the split is about.
    const wards = wardsSubgraph();
    const both = {
      ...wards,
      sdl: wards.sdl.replace('wards(first: Int, after: String)', 'wards(first: Int, after: String, nurseSex: Sex)'),
    };
    expect(both.sdl).not.toBe(wards.sdl);
    expect(composeWithApollo([copilotSubgraph(), both]).codes).toContain('ENUM_VALUE_MISMATCH');
    expect(composeWithGuild([copilotSubgraph(), both]).codes).toContain('ENUM_VALUE_MISMATCH');
  });

  it('fails in both composers without @shareable on PageInfo (the check can fail)', () => {
    const ours = copilotSubgraph();
    const unshared = { ...ours, sdl: ours.sdl.replace(/type PageInfo\s+@shareable\s*\{/, 'type PageInfo {') };
    expect(unshared.sdl).not.toBe(ours.sdl);
    expect(composeWithApollo([unshared, wardsSubgraph()]).codes).toContain('INVALID_FIELD_SHARING');
    expect(composeWithGuild([unshared, wardsSubgraph()]).codes).toContain('INVALID_FIELD_SHARING');
  });
});

describe('/graphql keeps the contract', () => {
  it('types CreatePatientInput.sex and Patient.sex as Sex: the input copies are the subgraph’s alone', () => {
    const schema = buildSchema(printedSchema());
    expect(String((schema.getType('CreatePatientInput') as GraphQLInputObjectType).getFields().sex?.type)).toBe('Sex!');
    expect(String((schema.getType('Patient') as GraphQLObjectType).getFields().sex?.type)).toBe('Sex!');
    expect(schema.getType('SexInput')).toBeUndefined();
  });
});
