import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The clinician console: built by the root `npm run build` into `dist/console/`, which the API
 * serves at `/console/` (src/http/console.ts). Preact's JSX goes through Vite's own transform, so
 * the build needs no Babel plugin. `npm run dev:console` serves it with hot reload against an API
 * on localhost:4000.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // Small enough to read: the source maps ship too, for a clinician's bug report.
    sourcemap: true,
    reportCompressedSize: false,
  },
  server: {
    proxy: { '/graphql': { target: 'http://localhost:4000', ws: true } },
  },
});
