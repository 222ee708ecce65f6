/**
 * The threaded wasm module in the browser (docs/ARCHITECTURE.md, "The threaded wasm module"): run
 * from the page's Web Worker (the calling thread blocks while the pool works, which a page's main
 * thread may not), with a pool of nested module workers (`pool-worker.ts`) on one shared memory.
 * Only when the page is cross-origin isolated (COOP/COEP headers: `SharedArrayBuffer`) and the
 * threaded module was built (`AUTOBALANCE_WASM_THREADS=1 bash scripts/build-wasm.sh`); otherwise
 * `startThreaded` says why and the worker keeps the single-threaded module.
 */
// The threaded glue, or a stub (`threads-missing.ts`, aliased by vite.config.ts when the module is
// not built): typed by hand, since the glue's declarations exist only once it is built.
// @ts-ignore TS2307 when the threaded module is not built
import * as threadsGlue from 'autobalance/wasm-threads/autobalance_wasm.js';
// @ts-ignore TS2307 when the threaded module is not built
import threadsWasmUrl from 'autobalance/wasm-threads/autobalance_wasm_bg.wasm?url';

import { wasmBackend, type Backend } from 'autobalance/portable';

/** What the threaded glue exports beyond the binding (crates/wasm/src/pool.rs). */
export interface ThreadsGlue {
  initSync(options: { module: WebAssembly.Module; memory?: WebAssembly.Memory }): { memory?: WebAssembly.Memory };
  threadPoolPrepare(n: number): number;
  threadPoolWorker(rx: number): void;
  threadPoolBuild(n: number): void;
  threadPoolSize(): number;
}

/** The message a pool worker gets: the compiled module, the shared memory, its pool's channel. */
export interface PoolInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  rx: number;
}

/** At most this many pool workers (the calling worker waits while they run). */
const MAX_THREADS = 8;

/** The threaded backend and its pool size, or why not (the caller then loads the single-threaded module). */
export async function startThreaded(): Promise<{ backend: Backend; threads: number } | { why: string }> {
  const g = threadsGlue as unknown as Partial<ThreadsGlue> & { missing?: string };
  if (g.missing !== undefined) return { why: g.missing };
  if (!(self as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated || typeof SharedArrayBuffer !== 'function') {
    return { why: 'the page is not cross-origin isolated (no COOP/COEP headers): no SharedArrayBuffer' };
  }
  const threads = Math.max(1, Math.min(MAX_THREADS, navigator.hardwareConcurrency || 1));
  const glue = g as ThreadsGlue;
  const module = await WebAssembly.compileStreaming(fetch(threadsWasmUrl as string));
  const memory = glue.initSync({ module }).memory;
  if (!(memory instanceof WebAssembly.Memory) || !(memory.buffer instanceof SharedArrayBuffer)) {
    return { why: 'the threaded module has no shared memory (not a threaded build)' };
  }
  const rx = glue.threadPoolPrepare(threads);
  const workers: Worker[] = [];
  try {
    await Promise.all(
      Array.from(
        { length: threads },
        () =>
          new Promise<void>((resolve, reject) => {
            const w = new Worker(new URL('./pool-worker.ts', import.meta.url), { type: 'module', name: 'autobalance-pool' });
            workers.push(w);
            w.addEventListener('message', (e: MessageEvent<{ ready?: boolean; error?: string }>) => {
              if (e.data.ready) resolve();
              else reject(new Error(e.data.error ?? 'a pool worker failed'));
            });
            w.addEventListener('error', (e) => reject(new Error(`a pool worker failed to start: ${e.message}`)));
            const init: PoolInit = { module, memory, rx };
            w.postMessage(init);
          }),
      ),
    );
    glue.threadPoolBuild(threads);
  } catch (e) {
    for (const w of workers) w.terminate();
    return { why: `the pool could not be started: ${e instanceof Error ? e.message : String(e)}` };
  }
  return { backend: wasmBackend(glue as unknown as Parameters<typeof wasmBackend>[0]), threads: glue.threadPoolSize() };
}
