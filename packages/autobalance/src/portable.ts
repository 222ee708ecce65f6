/**
 * The platform-neutral part of autobalance: everything but loading backends from files. Use it
 * in browsers and Web Workers, with a backend you load yourself:
 *
 * ```ts
 * import init, * as glue from 'autobalance/wasm/autobalance_wasm.js';
 * import { Run, wasmBackend } from 'autobalance/portable';
 * await init();
 * const run = Run.withBackend(wasmBackend(glue), spec);
 * ```
 *
 * @module
 */

export * from './errors.js';
export * from './matrix.js';
export * from './spec.js';
export * from './datasets.js';
export * from './backend.js';
export * from './columns.js';
export * from './run.js';
export * from './study.js';
export * from './sweep.js';
export * from './curvature.js';
export * from './presets.js';
export * from './report.js';
export { type Provenance } from './html.js';
export * from './svg.js';
export * from './checks.js';
export * from './vega.js';
