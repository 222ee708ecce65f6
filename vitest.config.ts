// One vitest suite run once per backend: `AUTOBALANCE_BACKEND=native vitest run` then
// `AUTOBALANCE_BACKEND=wasm vitest run` (the root script `test:ts`). The parity tests load both
// backends in one process whatever the variable says. Tests import `autobalance` from the
// TypeScript sources; the CLI tests run the built `dist/` (built once by test/global-setup.ts).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

import SummaryReporter from './test/summary-reporter.js';

const src = (f: string): string => fileURLToPath(new URL(`./packages/autobalance/src/${f}`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^autobalance$/, replacement: src('index.ts') },
      { find: /^autobalance\/portable$/, replacement: src('portable.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    reporters: ['default', new SummaryReporter()],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Timing tests (event loop, cancellation) measure wall time: keep test files from competing
    // for the machine's cores.
    fileParallelism: false,
  },
});
