/**
 * The threaded WebAssembly module in Node (experimental, opt-in; docs/ARCHITECTURE.md, "The
 * threaded wasm module"): the same binding surface as the single-threaded module, with the core's
 * rayon chunks on a pool of `worker_threads` that share one `WebAssembly.Memory`.
 *
 * Used only when asked: {@link loadWasmThreadsBackend}, or `AUTOBALANCE_WASM_THREADS=N|auto` (read
 * by the `wasm` loader of `select.ts`, on the main thread only: sweep workers keep the
 * single-threaded module). The default backend choice does not change.
 *
 * How it starts (the binding's side is crates/wasm/src/pool.rs): the calling thread instantiates
 * the module (`initSync({ module })`; the glue creates the shared memory with the module's own
 * limits), asks for a pool (`threadPoolPrepare(n)` gives the address of the pool's channel), starts
 * `n` workers that each `initSync({ module, memory })` on that same memory and enter
 * `threadPoolWorker(rx)` (blocking: rayon's loop), and once every worker said it is ready builds
 * rayon's global pool on them (`threadPoolBuild(n)`). Then the workers are `unref()`ed so that the
 * process exits when the main thread is done (unref before they are ready left a top-level await
 * unsettled in the probe: exit code 13). The calling thread blocks (Atomics.wait) while the pool
 * runs a step: fine in Node's main thread, forbidden in a browser's (there the calling instance
 * must live in a Worker; not done here).
 *
 * @module
 * @internal
 */

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

import { type Backend, wasmBackend } from './backend.js';
import { BackendLoadError, InvalidRequestError } from './errors.js';

/** Options of {@link loadWasmThreadsBackend}. */
export interface WasmThreadsOptions {
  /** Worker threads of the pool (default: `os.availableParallelism()`); at least 1. */
  threads?: number;
}

/** What the threaded glue must export beyond the binding surface. */
interface ThreadsGlue {
  initSync(options: { module: WebAssembly.Module; memory?: WebAssembly.Memory }): { memory?: WebAssembly.Memory };
  threadPoolPrepare(n: number): number;
  threadPoolWorker(rx: number): void;
  threadPoolBuild(n: number): void;
  threadPoolSize(): number;
}

/**
 * The worker's script (CommonJS, `eval`: no file to find, from the sources or from dist/):
 * instantiate the module on the shared memory, say ready, run rayon's loop until the process ends.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.glue).then((glue) => {
  glue.initSync({ module: workerData.module, memory: workerData.memory });
  parentPort.postMessage({ ready: true });
  glue.threadPoolWorker(workerData.rx);
}).catch((e) => parentPort.postMessage({ error: String((e && e.stack) || e) }));
`;

/** The folder of the threaded module: `AUTOBALANCE_WASM_THREADS_DIR`, else the package's `wasm-threads/`. */
function threadsDir(): URL {
  const override = process.env['AUTOBALANCE_WASM_THREADS_DIR'];
  return override ? pathToFileURL(override.endsWith('/') ? override : `${override}/`) : new URL('../wasm-threads/', import.meta.url);
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

let loaded: { threads: number; backend: Promise<Backend> } | undefined;
let started: ThreadsGlue | undefined;

/**
 * The threads of the pool the loaded threaded module's core uses (rayon's global pool; 1 before it
 * is built), or undefined when the threaded module is not loaded (for tests and benchmarks).
 */
export function wasmThreadsPoolSize(): number | undefined {
  return started?.threadPoolSize();
}

/**
 * Load the threaded wasm module with a pool of `threads` workers (once per process: rayon's global
 * pool is built once; a later call with another thread count is an error). The backend's `name`
 * is `wasm`: it is the same binding, and gives the same bits as the single-threaded module.
 *
 * @throws {InvalidRequestError} for a bad thread count, or another count than the loaded pool's.
 * @throws {BackendLoadError} when the module is missing (build it with
 *   `AUTOBALANCE_WASM_THREADS=1 bash scripts/build-wasm.sh`), is not a threaded build, or the
 *   pool cannot be started.
 */
export function loadWasmThreadsBackend(options: WasmThreadsOptions = {}): Promise<Backend> {
  const threads = options.threads ?? availableParallelism();
  if (!Number.isSafeInteger(threads) || threads < 1 || threads > 256) {
    return Promise.reject(new InvalidRequestError('threads', `expected an integer in 1..256, got ${String(threads)}`));
  }
  if (loaded) {
    if (loaded.threads !== threads) {
      return Promise.reject(
        new InvalidRequestError('threads', `the threaded wasm module is loaded with ${loaded.threads} threads already (asked: ${threads})`),
      );
    }
    return loaded.backend;
  }
  loaded = { threads, backend: start(threads) };
  return loaded.backend;
}

async function start(threads: number): Promise<Backend> {
  if (typeof SharedArrayBuffer !== 'function') {
    throw new BackendLoadError('wasm', 'the threaded wasm module needs SharedArrayBuffer');
  }
  const dir = threadsDir();
  const glueUrl = new URL('autobalance_wasm.js', dir).href;
  let glue: ThreadsGlue;
  let module: WebAssembly.Module;
  let memory: WebAssembly.Memory;
  try {
    const g = (await import(glueUrl)) as Partial<ThreadsGlue>;
    for (const f of ['initSync', 'threadPoolPrepare', 'threadPoolWorker', 'threadPoolBuild', 'threadPoolSize'] as const) {
      if (typeof g[f] !== 'function') throw new Error(`the glue has no ${f} export: not a threaded build`);
    }
    glue = g as ThreadsGlue;
    module = await WebAssembly.compile(readFileSync(new URL('autobalance_wasm_bg.wasm', dir)));
    const exports = glue.initSync({ module });
    if (!(exports.memory instanceof WebAssembly.Memory) || !(exports.memory.buffer instanceof SharedArrayBuffer)) {
      throw new Error('the module does not use a shared memory: not a threaded build');
    }
    memory = exports.memory;
  } catch (e) {
    throw new BackendLoadError('wasm', `the threaded WebAssembly module could not be loaded from ${dir.pathname}: ${describe(e)}`, { cause: e });
  }

  const workers: Worker[] = [];
  try {
    const rx = glue.threadPoolPrepare(threads);
    await Promise.all(
      Array.from(
        { length: threads },
        () =>
          new Promise<void>((resolve, reject) => {
            const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { glue: glueUrl, module, memory, rx } });
            workers.push(w);
            let ready = false;
            w.on('message', (m: { ready?: boolean; error?: string }) => {
              if (m.ready) {
                ready = true;
                resolve();
              } else if (m.error !== undefined) reject(new Error(`a pool worker failed to start: ${m.error}`));
            });
            w.on('error', (e) => {
              if (!ready) reject(e);
              // After start a worker only dies by a trap (panic = abort) inside a parallel job;
              // the calling thread may then wait forever for that job (docs: open risks).
              else process.emitWarning(`autobalance: a wasm pool worker died: ${describe(e)}`);
            });
            w.on('exit', (code) => {
              if (!ready) reject(new Error(`a pool worker exited with code ${code} before it was ready`));
            });
          }),
      ),
    );
    glue.threadPoolBuild(threads);
    for (const w of workers) w.unref();
    started = glue;
  } catch (e) {
    for (const w of workers) void w.terminate();
    throw new BackendLoadError('wasm', `the threaded WebAssembly module's pool of ${threads} workers could not be started: ${describe(e)}`, {
      cause: e,
    });
  }
  try {
    return wasmBackend(glue);
  } catch (e) {
    throw new BackendLoadError('wasm', `the threaded WebAssembly module is not usable: ${describe(e)}`, { cause: e });
  }
}

/**
 * The thread count asked for by `AUTOBALANCE_WASM_THREADS` (`auto`: every core), or undefined for
 * the single-threaded module (unset, empty or `0`).
 *
 * @throws {InvalidRequestError} for any other value.
 */
export function envWasmThreads(): number | undefined {
  const v = process.env['AUTOBALANCE_WASM_THREADS'];
  if (v === undefined || v === '' || v === '0') return undefined;
  if (v === 'auto') return availableParallelism();
  const n = Number(v);
  if (/^[0-9]+$/.test(v) && Number.isSafeInteger(n) && n >= 1 && n <= 256) return n;
  throw new InvalidRequestError('AUTOBALANCE_WASM_THREADS', `expected "auto", 0 or an integer in 1..256, got ${JSON.stringify(v)}`);
}
