/**
 * Backend selection in Node: native if the addon loads, else wasm; forced by an option or by the
 * environment variable `AUTOBALANCE_BACKEND=native|wasm`. Importing this module registers the
 * loader used by {@link Run.create} and {@link train} when given a backend name.
 *
 * Experimental: `AUTOBALANCE_WASM_THREADS=N|auto` makes the `wasm` backend the threaded module
 * with a pool of N workers (`wasm-threads-node.ts`), on the main thread only; it does not change
 * which backend is chosen.
 *
 * @module
 */

import { isMainThread } from 'node:worker_threads';

import {
  type Backend,
  type BackendName,
  BACKEND_NAMES,
  nativeBackend,
  registerBackendLoader,
  wasmBackend,
} from './backend.js';
import { BackendLoadError, InvalidRequestError } from './errors.js';
import { readWasmModule, requireNativeAddon } from './node-files.js';
import { describeValue } from './args.js';
import { envWasmThreads, loadWasmThreadsBackend } from './wasm-threads-node.js';

const cache = new Map<BackendName, Promise<Backend>>();

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function loadNative(): Promise<Backend> {
  let mod: unknown;
  try {
    mod = requireNativeAddon();
  } catch (e) {
    throw new BackendLoadError('native', `the native addon could not be loaded: ${describe(e)}`, { cause: e });
  }
  try {
    return nativeBackend(mod);
  } catch (e) {
    throw new BackendLoadError('native', `the native addon is not usable: ${describe(e)}`, { cause: e });
  }
}

interface WasmGlue {
  initSync(options: { module: Uint8Array }): unknown;
}

async function loadWasm(): Promise<Backend> {
  // Sweep workers (and any other worker thread) keep the single-threaded module.
  const threads = isMainThread ? envWasmThreads() : undefined;
  if (threads !== undefined) return loadWasmThreadsBackend({ threads });
  let glue: unknown;
  try {
    const read = await readWasmModule();
    glue = read.glue;
    const init = (glue as Partial<WasmGlue>).initSync;
    if (typeof init !== 'function') throw new Error('the glue module has no initSync export');
    init({ module: read.bytes });
  } catch (e) {
    throw new BackendLoadError('wasm', `the WebAssembly module could not be loaded: ${describe(e)}`, { cause: e });
  }
  try {
    return wasmBackend(glue);
  } catch (e) {
    throw new BackendLoadError('wasm', `the WebAssembly module is not usable: ${describe(e)}`, { cause: e });
  }
}

/**
 * Load one backend by name (cached: each is loaded at most once per process; a failure is cached
 * too).
 *
 * @throws {BackendLoadError} when it cannot be loaded; `cause` holds the underlying error.
 */
export function loadBackendByName(name: BackendName): Promise<Backend> {
  if (!(BACKEND_NAMES as readonly unknown[]).includes(name)) {
    return Promise.reject(new InvalidRequestError('backend', `expected "native" or "wasm", got ${describeValue(name)}`));
  }
  let p = cache.get(name);
  if (!p) {
    p = name === 'native' ? loadNative() : loadWasm();
    cache.set(name, p);
  }
  return p;
}

/** The backend forced by `AUTOBALANCE_BACKEND`, if any. */
export function envBackend(): BackendName | undefined {
  const v = process.env['AUTOBALANCE_BACKEND'];
  if (v === undefined || v === '' || v === 'auto') return undefined;
  if ((BACKEND_NAMES as readonly string[]).includes(v)) return v as BackendName;
  throw new InvalidRequestError('AUTOBALANCE_BACKEND', `expected "native", "wasm" or "auto", got ${JSON.stringify(v)}`);
}

/**
 * The backend to use: `name` if given, else the one forced by `AUTOBALANCE_BACKEND`, else native
 * if the addon loads, else wasm.
 *
 * @throws {BackendLoadError} when the forced backend cannot be loaded, or when neither loads.
 */
export async function loadBackend(name?: BackendName): Promise<Backend> {
  if (name !== undefined) return loadBackendByName(name);
  const forced = envBackend();
  if (forced) return loadBackendByName(forced);
  try {
    return await loadBackendByName('native');
  } catch (nativeError) {
    try {
      return await loadBackendByName('wasm');
    } catch (wasmError) {
      throw new BackendLoadError(
        'wasm',
        `no backend could be loaded (native: ${describe(nativeError)}; wasm: ${describe(wasmError)})`,
        { cause: wasmError },
      );
    }
  }
}

registerBackendLoader(loadBackend);

/** Which backend a run without an explicit choice uses now. */
export async function activeBackend(): Promise<BackendName> {
  return (await loadBackend()).name;
}

/** The active backend and the version of the core compiled into it. */
export interface BackendInfo {
  /** The backend a run without an explicit choice uses. */
  backend: BackendName;
  /** Version of the Rust core compiled into it. */
  coreVersion: string;
}

/** Which backend is active (see {@link activeBackend}) and its core version. */
export async function backendInfo(): Promise<BackendInfo> {
  const b = await loadBackend();
  return { backend: b.name, coreVersion: b.coreVersion };
}

/** Whether one backend loads: its core version, or the load error. */
export type BackendProbe =
  | {
      /** The backend loads. */
      available: true;
      /** Version of the Rust core compiled into it. */
      coreVersion: string;
    }
  | {
      /** The backend does not load. */
      available: false;
      /** The load error's message. */
      error: string;
    };

/** Try to load each backend; never throws. */
export async function probeBackends(): Promise<Record<BackendName, BackendProbe>> {
  const out = {} as Record<BackendName, BackendProbe>;
  for (const name of BACKEND_NAMES) {
    try {
      const b = await loadBackendByName(name);
      out[name] = { available: true, coreVersion: b.coreVersion };
    } catch (e) {
      out[name] = { available: false, error: describe(e) };
    }
  }
  return out;
}
