/**
 * Node's workers for wasm sweeps: `worker_threads` workers running `sweep-worker-node.js`, each
 * loading the package's WebAssembly backend. Importing this module registers them (the Node
 * entry point `autobalance` does), with `os.availableParallelism()` workers by default.
 *
 * @module
 * @internal
 */

import { existsSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import { InvalidRequestError } from './errors.js';
import { registerSweepWorkers } from './sweep.js';
import type { SweepWorkerLike } from './sweep-pool.js';

/**
 * The worker script. From the compiled package it sits beside this module; from the TypeScript
 * sources (the test suite), the compiled copy in `dist/` is used (workers cannot load `.ts`).
 */
function workerUrl(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts') ? new URL('../dist/sweep-worker-node.js', here) : new URL('./sweep-worker-node.js', here);
}

/** One `worker_threads` worker serving sweep blocks, with the shape of a Web Worker. */
export function nodeSweepWorker(): SweepWorkerLike {
  const url = workerUrl();
  if (!existsSync(fileURLToPath(url))) {
    throw new InvalidRequestError('options.workers', `the sweep worker script ${fileURLToPath(url)} is missing (build the package: pnpm build), or pass workers: 1`);
  }
  const w = new Worker(url);
  return {
    postMessage: (m) => w.postMessage(m),
    addEventListener: (type, listener) => {
      if (type === 'message') w.on('message', (data: unknown) => listener({ data }));
      else {
        w.on('error', (error: unknown) => listener({ error, message: error instanceof Error ? error.message : String(error) }));
        w.on('exit', (code: number) => {
          if (code !== 0) listener({ message: `the worker exited with code ${code}` });
        });
      }
    },
    terminate: () => {
      w.removeAllListeners('exit');
      return w.terminate();
    },
    ref: (keep) => (keep ? w.ref() : w.unref()),
  };
}

function defaultCount(): number {
  try {
    return availableParallelism();
  } catch {
    return cpus().length || 1;
  }
}

registerSweepWorkers({ create: nodeSweepWorker, defaultCount });
