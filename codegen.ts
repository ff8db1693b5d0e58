import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed documents for the tests (and any TypeScript client): `npm run generate` prints the schema
 * and regenerates `test/gql/`. Both outputs are committed; tests fail when either is stale.
 */
const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  documents: ['test/operations/**/*.graphql'],
  ignoreNoDocuments: false,
  generates: {
    'test/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        emitLegacyCommonJSImports: false,
        scalars: { Date: 'string', DateTime: 'string', ID: 'string' },
        avoidOptionals: { field: true, inputValue: false, object: false },
      },
    },
  },
};

export default config;
