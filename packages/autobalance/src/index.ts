/**
 * autobalance: gradient descent on homogeneous models (matrix factorization first), computed by
 * a Rust core that runs natively (N-API addon) or as WebAssembly, chosen at runtime.
 *
 * ```ts
 * import { train, fromArray } from 'autobalance';
 * const result = await train({
 *   model: { kind: 'matrixFactorization', d1: 20, d2: 15, rank: 3 },
 *   target: { kind: 'random', singularValues: [3, 2, 1], seed: 1 },
 *   init: { kind: 'gaussian', stdU: 1e-3, stdV: 1e-3, seed: 2 },
 *   schedule: { kind: 'constant', eta: 0.05 },
 *   steps: 2000,
 * });
 * console.log(result.loss, result.columns.normRatio);
 * ```
 *
 * This entry point is for Node: importing it registers the loader that finds the backends in the
 * package (see {@link loadBackend}). `autobalance/portable` has the same API without it.
 *
 * @module
 */

export * from './portable.js';
export * from './study.js';
export * from './sweep.js';
export {
  type BackendInfo,
  type BackendProbe,
  activeBackend,
  backendInfo,
  envBackend,
  loadBackend,
  loadBackendByName,
  probeBackends,
} from './select.js';

// Wasm sweeps in Node run on worker_threads workers (registers them with registerSweepWorkers).
import './sweep-pool-node.js';
// Data set files (digits patches) are read from disk in Node.
import './datasets-node.js';
