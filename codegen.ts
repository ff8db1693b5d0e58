import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed documents: `npm run generate` prints the schema, then generates
 * - `client/generated/` from `client/operations/`: the typed client integrators and the clinician
 *   console use — one correct, typed way to call every operation the README walks through;
 * - `test/gql/` from `test/operations/`: the extra operations only the tests need.
 * Every output is committed; a unit test fails when one is stale.
 */
const typedDocuments = {
  preset: 'client',
  presetConfig: { fragmentMasking: false },
  config: {
    useTypeImports: true,
    enumsAsTypes: true,
    emitLegacyCommonJSImports: false,
    scalars: { Date: 'string', DateTime: 'string', ID: 'string' },
    avoidOptionals: { field: true, inputValue: false, object: false },
  },
} as const;

const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  ignoreNoDocuments: false,
  generates: {
    'client/generated/': { ...typedDocuments, documents: ['client/operations/**/*.graphql'] },
    'test/gql/': { ...typedDocuments, documents: ['test/operations/**/*.graphql'] },
  },
};

export default config;
