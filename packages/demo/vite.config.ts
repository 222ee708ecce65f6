// The demo page: vanilla TS, the wasm core in a module Web Worker. `base: './'` makes the build
// relocatable: dist/ works from any static server path. Two pages: index.html (one run at a time)
// and sweep.html (a sweep over a pool of Web Workers).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const page = (name: string): string => fileURLToPath(new URL(name, import.meta.url));

export default defineConfig({
  base: './',
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    // Never inline the ~1 MB wasm module: it is emitted as an asset and fetched by the worker.
    assetsInlineLimit: (file) => (file.endsWith('.wasm') ? false : undefined),
    rollupOptions: { input: { main: page('./index.html'), sweep: page('./sweep.html') } },
  },
});
