import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // One copy of graphql-js for the schema, Yoga and the tests ("another module or realm").
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: [
      'src/**/*.test.ts',
      'worker/**/*.test.ts',
      'ml-server/**/*.test.ts',
      'test/**/*.test.ts',
      'client/**/*.test.ts',
    ],
    pool: 'forks',
    // Two cores: more workers only contend for them and for the shared Postgres.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
