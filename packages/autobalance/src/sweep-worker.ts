/**
 * The worker side of a sweep's worker pool (wasm): a Web Worker (browser) or a `worker_threads`
 * worker (Node) that runs blocks of a sweep's runs on its own copy of the WebAssembly backend and
 * posts their rows back. Platform-neutral. In a browser, a worker script is three lines:
 *
 * ```ts
 * // sweep-worker.js, started with new Worker(url, { type: 'module' })
 * import init, * as glue from 'autobalance/wasm/autobalance_wasm.js';
 * import { serveSweepWorker, wasmBackend } from 'autobalance/portable';
 * await init();
 * serveSweepWorker(wasmBackend(glue));
 * ```
 *
 * and the page passes `worker: () => new Worker(url, { type: 'module' })` to {@link sweep}.
 *
 * The protocol (structured-clone messages, `type` first): the worker says `hello` (with its core
 * version) once it serves; the page sends `init` (the encoded spec and its buffers), then `block`s
 * of runs (`start <= run < end`); the worker answers each block with `rows` messages (JSON Lines,
 * after each chunk of about `chunkMillis`) and a `done`, or an `error`; `stop` makes it stop after
 * the current chunk and answer `stopped`.
 *
 * @module
 */

import type { Backend, BindingStudy } from './backend.js';
import { ChunkSizer, freeQuietly, now, yieldToEventLoop } from './chunk.js';
import { AutobalanceError, fromBindingError } from './errors.js';

/** The global scope of a worker as {@link serveSweepWorker} uses it (a `DedicatedWorkerGlobalScope` is one). */
export interface SweepWorkerScope {
  /** Send a message to the page. */
  postMessage(message: unknown): void;
  /** Receive the page's messages (`event.data`). */
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
}

/** A core error as it crosses the worker boundary. */
export interface SweepWireError {
  /** The error code (`invalid_spec`, `internal`, `backend_load`, ...). */
  code: string;
  /** The field, as a path. */
  field: string;
  /** The explanation (without the field). */
  message: string;
}

/**
 * The messages of the pool protocol (see the module's description).
 *
 * @internal
 */
export type SweepWorkerMessage =
  | { type: 'hello'; coreVersion: string }
  | { type: 'ready' }
  | { type: 'rows'; block: number; jsonl: string }
  | { type: 'done'; block: number; createMs: number; runMs: number; runs: number }
  | { type: 'stopped' }
  | { type: 'error'; block: number | null; error: SweepWireError };

/**
 * The messages the page sends.
 *
 * @internal
 */
export type SweepPageMessage =
  | { type: 'init'; spec: string; buffers: Record<string, Float64Array>; chunkMillis: number }
  | { type: 'block'; block: number; start: number; end: number }
  | { type: 'stop' };

/**
 * An error as a plain object for `postMessage`.
 *
 * @internal
 */
export function toWireError(e: unknown): SweepWireError {
  const err = e instanceof AutobalanceError ? e : fromBindingError(e);
  return { code: err.code, field: err.field, message: err.detail };
}

/** A binding study with the sweep's `takeRecords` (contract of issue 11). */
type RecordingStudy = BindingStudy & { takeRecords?(): string };

/**
 * Serve sweep blocks in this worker: call once, in a worker script, with the wasm backend loaded
 * there ({@link wasmBackend}). `scope` is the worker's global scope (default `globalThis`, i.e.
 * `self` in a Web Worker); in a Node `worker_threads` worker, pass an adapter of `parentPort`.
 */
export function serveSweepWorker(backend: Backend, scope: SweepWorkerScope = globalThis as unknown as SweepWorkerScope): void {
  let spec: Record<string, unknown> | undefined;
  let buffers: Record<string, Float64Array> = {};
  let chunkMillis = 75;
  let busy = false;
  let stopping = false;
  const post = (m: SweepWorkerMessage): void => scope.postMessage(m);

  async function runBlock(block: number, start: number, end: number): Promise<void> {
    busy = true;
    let study: RecordingStudy | undefined;
    try {
      if (!spec) throw new Error('sweep worker: a block arrived before init');
      const c0 = now();
      study = backend.createStudy(JSON.stringify({ ...spec, runs: { start, end } }), buffers) as RecordingStudy;
      // Creating a study parses the spec (the plan's hash spares the settings' validation): the pool sizes blocks from this.
      const createMs = now() - c0;
      let runMs = 0;
      const s = study;
      if (typeof s.takeRecords !== 'function') throw new Error('the wasm backend was built without sweeps (no takeRecords): rebuild it');
      const sizer = new ChunkSizer(chunkMillis, 1);
      let done = 0;
      for (;;) {
        if (stopping) break;
        const asked = sizer.size;
        const t0 = now();
        const status = JSON.parse(s.advance(asked)) as { done: number; finished: boolean };
        const dt = now() - t0;
        runMs += dt;
        const taken = status.done - done;
        done = status.done;
        const jsonl = s.takeRecords!();
        if (jsonl !== '') post({ type: 'rows', block, jsonl });
        if (status.finished) {
          post({ type: 'done', block, createMs, runMs, runs: end - start });
          break;
        }
        if (taken <= 0) {
          const out = JSON.parse(s.result()) as { error?: SweepWireError | null };
          if (out.error) throw new Error(`AUTOBALANCE_ERROR:${JSON.stringify(out.error)}`);
          throw new Error(`sweep worker: the study made no progress at run ${start + done}`);
        }
        sizer.record(asked, taken, dt);
        // Let a `stop` message in between chunks.
        await yieldToEventLoop();
      }
    } catch (e) {
      post({ type: 'error', block, error: toWireError(e) });
    } finally {
      if (study) freeQuietly(study);
      busy = false;
      if (stopping) post({ type: 'stopped' });
    }
  }

  scope.addEventListener('message', (event) => {
    const m = event.data as SweepPageMessage;
    if (typeof m !== 'object' || m === null) return;
    switch (m.type) {
      case 'init':
        try {
          spec = JSON.parse(m.spec) as Record<string, unknown>;
          buffers = m.buffers;
          chunkMillis = m.chunkMillis;
          post({ type: 'ready' });
        } catch (e) {
          post({ type: 'error', block: null, error: toWireError(e) });
        }
        break;
      case 'block':
        void runBlock(m.block, m.start, m.end);
        break;
      case 'stop':
        stopping = true;
        if (!busy) post({ type: 'stopped' });
        break;
    }
  });
  post({ type: 'hello', coreVersion: backend.coreVersion });
}
