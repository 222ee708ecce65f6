/**
 * Stands in for the threaded module's glue and `.wasm` URL when it is not built (vite.config.ts
 * aliases them here): the page then runs the single-threaded module.
 */
export const missing = 'the threaded module is not built (AUTOBALANCE_WASM_THREADS=1 bash scripts/build-wasm.sh)';
export default '';
