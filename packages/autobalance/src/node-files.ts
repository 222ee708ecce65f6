/**
 * The Node-specific part of loading a backend: requiring the `.node` addon and reading the
 * `.wasm` bytes from the package. Everything else is platform-neutral, so that the WebAssembly
 * backend also loads in browsers (see `autobalance/portable` and {@link wasmBackend}).
 *
 * Also the output files of the CLI: {@link makeDirs}, {@link checkWritable}, {@link writeText}.
 *
 * Overrides (for packagers and tests): `AUTOBALANCE_NATIVE_PATH` (path of the `.node` file) and
 * `AUTOBALANCE_WASM_DIR` (folder holding `autobalance_wasm.js` and `autobalance_wasm_bg.wasm`).
 *
 * @module
 */

import { closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
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

function codeOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null ? ((e as { code?: unknown }).code as string | undefined) : undefined;
}

/**
 * Create `dir` and its missing parents, one `mkdir` each, from the top down. Unlike
 * `mkdirSync(dir, { recursive: true })`, which in Node 20 retries forever (100% CPU) where
 * `mkdir` answers ENOENT although the parent exists (under `/proc`, `/sys`), this fails at once:
 * every `mkdir` is tried once, and any error but "it exists already (as a directory)" is thrown.
 */
export function makeDirs(dir: string): void {
  const missing: string[] = [];
  let d = resolve(dir);
  for (;;) {
    let isDir: boolean;
    try {
      isDir = statSync(d).isDirectory();
    } catch (e) {
      if (codeOf(e) !== 'ENOENT') throw e;
      missing.push(d);
      const parent = dirname(d);
      if (parent === d) break;
      d = parent;
      continue;
    }
    if (!isDir) throw new Error(`${d} exists and is not a directory`);
    break;
  }
  for (const m of missing.reverse()) {
    try {
      mkdirSync(m);
    } catch (e) {
      if (codeOf(e) === 'EEXIST' && statSync(m).isDirectory()) continue;
      throw e;
    }
  }
}

/**
 * Check before any work that `path` can be written: its directory exists or can be created
 * ({@link makeDirs}: the directories are created), and the file can be opened for writing (a file
 * created by the check is removed again; an existing one is left as it is). The open does not
 * block on a FIFO without a reader (it fails instead). Throws the system error otherwise.
 */
export function checkWritable(path: string): void {
  makeDirs(dirname(resolve(path)));
  const existed = existsSync(path);
  if (existed && statSync(path).isDirectory()) throw new Error(`${path} is a directory`);
  const nonblock = (constants as { O_NONBLOCK?: number }).O_NONBLOCK ?? 0;
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | nonblock);
  closeSync(fd);
  if (!existed) unlinkSync(path);
}

/** Write `text` to `path`, creating its directory first ({@link makeDirs}: never loops). */
export function writeText(path: string, text: string): void {
  makeDirs(dirname(resolve(path)));
  writeFileSync(path, text);
}
