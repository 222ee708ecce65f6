/**
 * The Node-specific part of loading a backend: requiring the `.node` addon and reading the
 * `.wasm` bytes from the package. Everything else is platform-neutral, so that the WebAssembly
 * backend also loads in browsers (see `autobalance/portable` and {@link wasmBackend}).
 *
 * Overrides (for packagers and tests): `AUTOBALANCE_NATIVE_PATH` (path of the `.node` file) and
 * `AUTOBALANCE_WASM_DIR` (folder holding `autobalance_wasm.js` and `autobalance_wasm_bg.wasm`).
 *
 * @module
 */

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/** Load the N-API addon (synchronously, with `require`). */
export function requireNativeAddon(): unknown {
  const override = process.env['AUTOBALANCE_NATIVE_PATH'];
  const require = createRequire(import.meta.url);
  return require(override ? override : '../native/autobalance.node');
}

function wasmDir(): URL {
  const override = process.env['AUTOBALANCE_WASM_DIR'];
  return override ? pathToFileURL(override.endsWith('/') ? override : `${override}/`) : new URL('../wasm/', import.meta.url);
}

/** The wasm-bindgen glue module and the bytes of its `.wasm` file. */
export async function readWasmModule(): Promise<{ glue: unknown; bytes: Uint8Array }> {
  const dir = wasmDir();
  const glue: unknown = await import(new URL('autobalance_wasm.js', dir).href);
  const bytes = readFileSync(new URL('autobalance_wasm_bg.wasm', dir));
  return { glue, bytes };
}
