import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import type { OperationCosts } from '../config.js';
import { operationCost, rateLimitHeaders } from './rate-limit.plugin.js';

const costs: OperationCosts = { query: 1, mutation: 10, subscription: 1, fields: { requestDiagnosis: 20 } };
const cost = (source: string, name?: string) => operationCost(parse(source), name, costs);

describe('operationCost', () => {
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
