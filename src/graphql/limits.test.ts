import { describe, expect, it } from 'vitest';
import { PersistedOperations, resolvePersistedOperation, sha256 } from './limits.js';

const me = 'query Me { me { id } }';
const store = PersistedOperations.fromRecord({ [sha256(me)]: me });
const byHash = (hash: string) => ({ query: '', extensions: { persistedQuery: { version: 1, sha256Hash: hash } } });
const reasonOf = (result: unknown) => (result as { extensions: { reason?: string } }).extensions.reason;

describe('PersistedOperations', () => {
  it('looks queries up by their SHA-256, in either case', () => {
    expect(store.size).toBe(1);
    expect(store.get(sha256(me))).toBe(me);
    expect(store.get(sha256(me).toUpperCase())).toBe(me);
    expect(store.get('0'.repeat(64))).toBeUndefined();
  });

  it('refuses a file whose hashes do not match their queries, or that is not a map of strings', () => {
    expect(() => PersistedOperations.fromRecord({ ['0'.repeat(64)]: me })).toThrow(/not the SHA-256 of its query/);
    expect(() => PersistedOperations.fromRecord({ [sha256(me)]: 42 })).toThrow(/not a query string/);
    expect(() => PersistedOperations.fromRecord([me])).toThrow(/expected an object/);
    expect(() => PersistedOperations.fromFile('/nonexistent/operations.json')).toThrow(/PERSISTED_OPERATIONS_FILE/);
  });
});

describe('resolvePersistedOperation (graphql-ws payloads)', () => {
  it('runs listed hashes and, unless the list is exclusive, query text', () => {
    expect(resolvePersistedOperation(byHash(sha256(me)), store, true)).toBe(me);
    expect(resolvePersistedOperation({ query: '{ me { id } }' }, store, false)).toBe('{ me { id } }');
    expect(resolvePersistedOperation({ query: '{ me { id } }' }, undefined, false)).toBe('{ me { id } }');
  });

  it('refuses text in allow-list mode, unknown hashes, and payloads with neither', () => {
    expect(reasonOf(resolvePersistedOperation({ query: me }, store, true))).toBe('PERSISTED_QUERY_ONLY');
    expect(reasonOf(resolvePersistedOperation(byHash('1'.repeat(64)), store, false))).toBe('PERSISTED_QUERY_NOT_FOUND');
    expect(resolvePersistedOperation({ query: '' }, store, false)).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT' },
    });
    expect(resolvePersistedOperation(byHash(sha256(me)), undefined, false)).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT' },
    });
  });
});
