// The demo page: vanilla TS, the wasm core in a module Web Worker. `base: './'` makes the build
// relocatable: dist/ works from any static server path.
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    // Never inline the ~1 MB wasm module: it is emitted as an asset and fetched by the worker.
    assetsInlineLimit: (file) => (file.endsWith('.wasm') ? false : undefined),
  },
});
