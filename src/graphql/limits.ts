import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { usePersistedOperations } from '@graphql-yoga/plugin-persisted-operations';
import { type GraphQLError, NoSchemaIntrospectionCustomRule, type ValidationContext } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { GraphqlLimitsConfig } from '../config.js';
import { BadUserInputError, PersistedOperationError } from '../errors.js';

/**
 * Query-shape limits (graphql-armor): tokens while parsing, then depth, aliases and directives
 * while validating — all before anything executes. They are Envelop plugins, so graphql-ws
 * operations, which parse and validate through the same `getEnveloped`, meet them too. When
 * introspection is off, `__schema`/`__type` are refused and "Did you mean …" suggestions, which
 * would leak the schema field by field, are masked.
 */
export function useQueryLimits(limits: GraphqlLimitsConfig): Plugin[] {
  // Armor throws from inside graphql-js' validation visitor by default, which aborts validation
  // as an unexpected error (and closes a graphql-ws socket); reported instead, a rejection is an
  // ordinary validation error with the contract's code.
  const report = {
    propagateOnRejection: false,
    onReject: [
      (context: ValidationContext | null, error: GraphQLError) => context?.reportError(limitError(error.message)),
    ],
  };
  const plugins: Plugin[] = [
    EnvelopArmorPlugin({
      // Tokens are counted by the parser, before there is a validation context to report to: the
      // error is thrown, and graphql-js' parser passes a GraphQLError through as the parse error.
      maxTokens: {
        n: limits.maxTokens,
        onReject: [
          (_context, error) => {
            throw limitError(error.message);
          },
        ],
      },
      maxDepth: { n: limits.maxDepth, ...report },
      maxAliases: { n: limits.maxAliases, ...report },
      maxDirectives: { n: limits.maxDirectives, ...report },
      // The cost bound needs the operation's variables, which validation does not see (and Yoga
      // caches validation per document): it is checked as the operation starts, by the guard
      // (rate-limit.plugin.ts), with the estimate of cost.ts.
      costLimit: { enabled: false },
      blockFieldSuggestion: { enabled: !limits.introspection },
    }),
  ];
  if (!limits.introspection) {
    plugins.push({
      onValidate: ({ addValidationRule }) => addValidationRule(NoSchemaIntrospectionCustomRule),
    });
  }
  return plugins;
}

/** Armor prefixes every message with "Syntax Error:", which is not what most of them are. */
function limitError(message: string): GraphQLError {
  return new BadUserInputError(message.replace(/^Syntax Error: /, ''));
}

/**
 * The persisted operations (the clinical UI's allow-list): a JSON file mapping each query's
 * SHA-256 (hex) to its text, as in Apollo's persisted-query protocol
 * (`extensions.persistedQuery.sha256Hash`). Each hash is checked against its query at start-up,
 * so a stale or hand-edited file fails loudly instead of running something unexpected.
 */
export class PersistedOperations {
  private constructor(private readonly byHash: ReadonlyMap<string, string>) {}

  static fromFile(path: string): PersistedOperations {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (error) {
      throw new Error(`PERSISTED_OPERATIONS_FILE ${path}: ${(error as Error).message}`);
    }
    return PersistedOperations.fromRecord(parsed, path);
  }

  static fromRecord(record: unknown, source = 'persisted operations'): PersistedOperations {
    if (!record || typeof record !== 'object' || Array.isArray(record)) {
      throw new Error(`${source}: expected an object of { "<sha256>": "<query>" }`);
    }
    const byHash = new Map<string, string>();
    for (const [hash, query] of Object.entries(record)) {
      if (typeof query !== 'string') throw new Error(`${source}: the value of ${hash} is not a query string`);
      if (sha256(query) !== hash.toLowerCase()) throw new Error(`${source}: ${hash} is not the SHA-256 of its query`);
      byHash.set(hash.toLowerCase(), query);
    }
    return new PersistedOperations(byHash);
  }

  get size(): number {
    return this.byHash.size;
  }

  /** Every persisted query's text. */
  get queries(): readonly string[] {
    return [...this.byHash.values()];
  }

  get(hash: string): string | undefined {
    return this.byHash.get(hash.toLowerCase());
  }
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The refusals of persisted-operation mode; BAD_USER_INPUT, with `reason` for clients to act on. */
export const persistedOperationErrors = {
  notFound: () => new PersistedOperationError('Unknown persisted operation', 'PERSISTED_QUERY_NOT_FOUND'),
  onlyPersisted: () => new PersistedOperationError('Only persisted operations are accepted', 'PERSISTED_QUERY_ONLY'),
  missing: () => new PersistedOperationError('No query and no persisted operation hash'),
};

/** Persisted operations over HTTP (Yoga's plugin); `only` refuses every query not in the list. */
export function usePersistedOperationsList(store: PersistedOperations, only: boolean): Plugin {
  return usePersistedOperations({
    getPersistedOperation: (hash) => store.get(hash) ?? null,
    allowArbitraryOperations: !only,
    customErrors: {
      notFound: persistedOperationErrors.notFound,
      persistedQueryOnly: persistedOperationErrors.onlyPersisted,
      keyNotFound: persistedOperationErrors.missing,
    },
  });
}

/**
 * The same rules for a graphql-ws `subscribe` payload, which Yoga's HTTP plugin never sees: the
 * query to run, or the error to answer with. graphql-ws requires `query` to be a string, so a
 * client sending only a hash sends `query: ""`.
 */
export function resolvePersistedOperation(
  payload: { query: string; extensions?: Record<string, unknown> | null },
  store: PersistedOperations | undefined,
  only: boolean,
): string | GraphQLError {
  const persisted = payload.extensions?.persistedQuery as { version?: unknown; sha256Hash?: unknown } | undefined;
  const hash = persisted?.version === 1 && typeof persisted.sha256Hash === 'string' ? persisted.sha256Hash : undefined;
  if (payload.query) return only ? persistedOperationErrors.onlyPersisted() : payload.query;
  if (!hash || !store) return persistedOperationErrors.missing();
  return store.get(hash) ?? persistedOperationErrors.notFound();
}
