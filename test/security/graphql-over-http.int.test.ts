import { serverAudits } from 'graphql-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../helpers/server.js';

/**
 * The GraphQL over HTTP specification's own audits (graphql-http's `serverAudits`), on a real
 * server's `/graphql` and `/subgraph`: every MUST and SHOULD passes, each its own test. The
 * audits send operations such as `{ __typename }`; every operation needs a token here, so their
 * fetch carries one (the audits judge the protocol, not authentication).
 */
let api: TestApi;
let token: string;

beforeAll(async () => {
  api = await startTestApi();
  token = await api.token('dr-audits');
});
afterAll(() => api?.close());

const authorised: typeof fetch = (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};

for (const path of ['/graphql', '/subgraph']) {
  describe(`GraphQL over HTTP audits on ${path}`, () => {
    const audits = serverAudits({ url: () => `${api.base}${path}`, fetchFn: authorised }).filter(
      (audit) => !audit.name.startsWith('MAY'),
    );
    it('has audits to run', () => {
      expect(audits.length).toBeGreaterThan(30);
    });
    for (const audit of audits) {
      it(`${audit.id} ${audit.name}`, async () => {
        const result = await audit.fn();
        if (result.status !== 'ok') {
          const response = 'response' in result ? result.response : undefined;
          const body = response ? await response.clone().text() : '';
          expect.fail(`${result.reason} (${response?.status ?? 'no response'}: ${body.slice(0, 300)})`);
        }
      });
    }
  });
}

describe('malformed JSON', () => {
  for (const accept of [
    'application/json',
    'application/graphql-response+json',
    '*/*',
    'text/event-stream',
    undefined,
  ]) {
    it(`is HTTP 400 with BAD_USER_INPUT, accepting ${accept ?? 'nothing said'}`, async () => {
      for (const path of ['/graphql', '/subgraph']) {
        const res = await authorised(`${api.base}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(accept ? { accept } : {}) },
          body: '{"query": "{ me { id } }", "variables": {',
        });
        expect(res.status, path).toBe(400);
        const text = await res.text();
        expect(text, path).toContain('BAD_USER_INPUT');
        // The parser's message quotes the body; it stays out of the answer.
        expect(text, path).not.toContain('variables');
      }
    });
  }
});
