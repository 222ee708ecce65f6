// The demo page: vanilla TS, the wasm core in a module Web Worker. `base: './'` makes the build
// relocatable: dist/ works from any static server path. Two pages: index.html (one run at a time)
// and sweep.html (a sweep over a pool of Web Workers).
//
// Threads: the page's worker runs the threaded wasm module on a pool of nested workers when the
// page is cross-origin isolated (src/threads.ts). The dev and preview servers send the two headers
// that make it so (a static host must send them too: `Cross-Origin-Opener-Policy: same-origin`,
// `Cross-Origin-Embedder-Policy: require-corp`); without them the page runs the single-threaded
// module. When the threaded module is not built, its imports resolve to src/threads-missing.ts.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const page = (name: string): string => fileURLToPath(new URL(name, import.meta.url));
const threadsBuilt = existsSync(page('../autobalance/wasm-threads/autobalance_wasm_bg.wasm'));
const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  base: './',
  worker: { format: 'es' },
  resolve: {
    alias: threadsBuilt
      ? []
      : [
          { find: /^autobalance\/wasm-threads\/autobalance_wasm\.js$/, replacement: page('./src/threads-missing.ts') },
          { find: /^autobalance\/wasm-threads\/autobalance_wasm_bg\.wasm\?url$/, replacement: page('./src/threads-missing.ts') },
        ],
  },
  server: { headers: isolation },
  preview: { headers: isolation },
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    // Never inline the ~1 MB wasm module: it is emitted as an asset and fetched by the worker.
    assetsInlineLimit: (file) => (file.endsWith('.wasm') ? false : undefined),
    rollupOptions: { input: { main: page('./index.html'), sweep: page('./sweep.html') } },
  },
});
