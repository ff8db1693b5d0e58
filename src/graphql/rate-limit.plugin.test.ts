import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import type { OperationCosts } from '../config.js';
import type { RateLimiter } from '../lib/rate-limit.js';
import { basePoints, RateLimitGuard, rateLimitHeaders } from './rate-limit.plugin.js';
import { buildSchema } from './schema.js';

const costs: OperationCosts = {
  query: 1,
  mutation: 10,
  subscription: 1,
  fields: { requestDiagnosis: 20 },
  objectsPerPoint: 100,
};
const cost = (source: string, name?: string) => basePoints(parse(source), name, costs);

describe('basePoints', () => {
  it('prices a query at 1 whatever it selects, and a subscription at 1', () => {
    expect(cost('{ me { id } }')).toBe(1);
    expect(cost('{ me { id } a: patients { edges { cursor } } b: patients { edges { cursor } } }')).toBe(1);
    expect(cost('subscription { diagnosisUpdated(id: "1") { id } }')).toBe(1);
  });

  it('prices a mutation per root field: 10 each, requestDiagnosis 20, aliases and fragments included', () => {
    expect(cost('mutation { createPatient(input: {}) { id } }')).toBe(10);
    expect(cost('mutation { requestDiagnosis(patientId: "p", input: {}) { id } }')).toBe(20);
    expect(cost('mutation { a: requestDiagnosis { id } b: requestDiagnosis { id } c: cancelDiagnosis { id } }')).toBe(
      50,
    );
    expect(
      cost(`mutation { ...Writes ... on Mutation { cancelDiagnosis { id } } __typename }
            fragment Writes on Mutation { requestDiagnosis { id } ...Writes }`),
    ).toBe(30);
    expect(cost('mutation { __typename }')).toBe(1);
  });

  it('prices the operation that runs, chosen by name', () => {
    const source = 'query Q { me { id } } mutation M { createPatient { id } }';
    expect(cost(source, 'Q')).toBe(1);
    expect(cost(source, 'M')).toBe(10);
    // Ambiguous without a name: execution refuses it, so nothing is charged.
    expect(cost(source)).toBe(0);
  });
});

describe('RateLimitGuard.priceOf', () => {
  const guard = new RateLimitGuard({
    costs,
    maxCost: 10_000,
    limiter: undefined as unknown as RateLimiter, // pricing never consumes
    deps: undefined as never,
    trustProxy: false,
  });
  const schema = buildSchema();
  const price = (source: string, variables?: Record<string, unknown>) =>
    guard.priceOf({ schema, document: parse(source), variables });
  const patients = 'query($n: Int) { patients(first: $n) { edges { node { id } } } }';

  it('adds a point per 100 objects the operation could return to its base points', () => {
    expect(price('{ me { id } }')).toEqual({ objects: 1, overLimit: false, points: 1 });
    expect(price(patients, { n: 100 })).toEqual({ objects: 201, overLimit: false, points: 3 });
    expect(price('mutation { createPatient(input: {}) { id careTeam { id } } }').points).toBe(10);
  });

  it('refuses from 10,000 objects on, charging what the largest allowed operation costs', () => {
    const nested =
      'query($n: Int, $m: Int) { patients(first: $n) { edges { node { diagnoses(first: $m) { edges { node { id } } } } } } }';
    // 1 + 49 × (2 + 1 + 2 × 100) = 9,948: allowed; 50 → 10,151: refused, priced at the bound.
    expect(price(nested, { n: 49, m: 100 })).toEqual({ objects: 9_948, overLimit: false, points: 100 });
    expect(price(nested, { n: 50, m: 100 })).toEqual({ objects: 10_151, overLimit: true, points: 101 });
    expect(price(nested, { n: 1e9, m: 1e9 })).toMatchObject({ overLimit: true, points: 101 });
  });

  it('prices what did not parse as a query, and an ambiguous document no less', () => {
    expect(guard.priceOf(undefined)).toEqual({ objects: 0, overLimit: false, points: 1 });
    expect(price('query A { me { id } } query B { me { id } }').points).toBe(1);
  });
});

describe('rateLimitHeaders', () => {
  it('gives the budget in points and the reset in whole seconds, and Retry-After only on a refusal', () => {
    expect(rateLimitHeaders({ allowed: true, limit: 1000, remaining: 990, resetMs: 59_001, retryAfterMs: 0 })).toEqual({
      'RateLimit-Limit': '1000',
      'RateLimit-Remaining': '990',
      'RateLimit-Reset': '60',
    });
    expect(
      rateLimitHeaders({ allowed: false, limit: 1000, remaining: 5, resetMs: 1_200, retryAfterMs: 1_200 }),
    ).toEqual({
      'RateLimit-Limit': '1000',
      'RateLimit-Remaining': '5',
      'RateLimit-Reset': '2',
      'Retry-After': '2',
    });
  });
});
