import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { ASSUMED_LIST_SIZE, estimateCost } from './cost.js';
import { buildSchema, buildSubgraphSchema } from './schema.js';

const schema = buildSchema();
const cost = (source: string, variables?: Record<string, unknown>, name?: string) =>
  estimateCost(schema, parse(source), name, variables);
/** `patients(first: …) { edges { node { id } } }`: the connection, its edges, their nodes. */
const page = (n: number) => 1 + 2 * n;

describe('estimateCost', () => {
  it('counts objects, not scalars', () => {
    expect(cost('{ me { id name roles } }')).toBe(1);
    expect(cost('{ __typename }')).toBe(0);
  });

  it('sizes a connection by a literal first, and an omitted or null first by the default page size (20)', () => {
    expect(cost('{ patients(first: 5) { edges { node { id } } } }')).toBe(page(5));
    expect(cost('{ patients { edges { node { id } } } }')).toBe(page(20));
    expect(cost('{ patients(first: null) { edges { node { id } } pageInfo { hasNextPage } } }')).toBe(page(20) + 1);
  });

  it("sizes lists by the variables' values, else the variables' defaults, else the default page size", () => {
    const query = 'query($n: Int) { patients(first: $n) { edges { node { id } } } }';
    expect(cost(query, { n: 100 })).toBe(page(100));
    expect(cost(query, {})).toBe(page(20));
    expect(cost('query($n: Int = 7) { patients(first: $n) { edges { node { id } } } }', {})).toBe(page(7));
    expect(cost('query($n: Int = 7) { patients(first: $n) { edges { node { id } } } }', { n: 50 })).toBe(page(50));
  });

  it("remembers a parsed document's estimate only where no variable went into it", () => {
    const sized = parse('query($n: Int) { patients(first: $n) { edges { node { id } } } }');
    expect(estimateCost(schema, sized, undefined, { n: 1 })).toBe(page(1));
    expect(estimateCost(schema, sized, undefined, { n: 100 })).toBe(page(100));
    const named = parse('query A { patients(first: 2) { edges { node { id } } } } query B { me { id } }');
    expect(estimateCost(schema, named, 'A', {})).toBe(page(2));
    expect(estimateCost(schema, named, 'B', {})).toBe(1);
    expect(estimateCost(schema, named, 'A', {})).toBe(page(2));
  });

  it('multiplies nested lists and aliases: the variable attack of thirty aliases', () => {
    const nested = (alias: string) =>
      `${alias}: patients(first: $n) { edges { node { diagnoses(first: $m) { edges { node { id } } } } } }`;
    const query = `query($n: Int, $m: Int) { ${Array.from({ length: 30 }, (_, i) => nested(`a${i}`)).join(' ')} }`;
    // Each alias: the connection, 100 edges and patients, each with a connection of 100 edges and diagnoses.
    expect(cost(query, { n: 100, m: 100 })).toBe(30 * (1 + 100 * (2 + page(100))));
    expect(cost(query, { n: 1, m: 1 })).toBe(30 * (1 + 1 * (2 + page(1))));
  });

  it('counts fragments once per spread, and nested fragments without blowing up', () => {
    const query = `{ a: patients(first: 10) { ...P } b: patients(first: 10) { ...P } }
      fragment P on PatientConnection { edges { node { ...N } } }
      fragment N on Patient { id careTeam { id } }`;
    expect(cost(query)).toBe(2 * (1 + 10 * (2 + ASSUMED_LIST_SIZE)));
    // A fragment spread 30 times at each of 4 levels prices in linear time (30⁴ would not).
    const levels = Array.from(
      { length: 4 },
      (_, i) =>
        `fragment F${i} on Query { ${Array.from({ length: 30 }, (_, j) => `x${j}: ${i === 3 ? 'me { id }' : `__typename ...F${i + 1}`}`).join(' ')} }`,
    ).join('\n');
    expect(cost(`{ ...F0 } ${levels}`)).toBe(30 ** 4);
  });

  it("sizes a list by its own last: literal, variable, the field's default (20)", () => {
    const history = (args: string) => `{ patient(id: "x") { assessmentHistory(model: NEWS2${args}) { score } } }`;
    expect(cost(history(', last: 3'))).toBe(1 + 3);
    expect(cost(history(''))).toBe(1 + 20);
    expect(cost(history(', last: null'))).toBe(1 + 20);
    const query =
      'query($n: Int) { patients(first: 50) { edges { node { assessmentHistory(model: NEWS2, last: $n) { score } } } } }';
    expect(cost(query, { n: 100 })).toBe(1 + 50 * (2 + 100));
  });

  it('gives a list without a size argument the assumed size', () => {
    expect(cost('{ patient(id: "x") { careTeam { id } } }')).toBe(1 + ASSUMED_LIST_SIZE);
  });

  it('prices the operation that runs, chosen by name', () => {
    const source = 'query Small { me { id } } query Large { patients(first: 100) { edges { node { id } } } }';
    expect(cost(source, {}, 'Small')).toBe(1);
    expect(cost(source, {}, 'Large')).toBe(page(100));
    expect(cost(source, {})).toBe(0); // Ambiguous: execution refuses it.
  });

  it('sizes _entities by its representations, literal or variable, through every alias', () => {
    const subgraph = buildSubgraphSchema();
    const representations = Array.from({ length: 500 }, (_, i) => ({ __typename: 'Patient', id: `p${i}` }));
    const aliased = Array.from(
      { length: 30 },
      (_, i) => `e${i}: _entities(representations: $r) { ... on Patient { id careTeam { id } } }`,
    ).join(' ');
    const query = `query($r: [_Any!]!) { ${aliased} }`;
    expect(estimateCost(subgraph, parse(query), undefined, { r: representations })).toBe(
      30 * 500 * (1 + ASSUMED_LIST_SIZE),
    );
    const literal =
      '{ _entities(representations: [{ __typename: "Patient", id: "a" }, { __typename: "Patient", id: "b" }]) { ... on Patient { id } } }';
    expect(estimateCost(subgraph, parse(literal), undefined, {})).toBe(2);
  });
});
