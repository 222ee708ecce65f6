/**
 * The script of a Node `worker_threads` worker of a wasm sweep: loads the package's WebAssembly
 * backend and serves sweep blocks ({@link serveSweepWorker}) on `parentPort`.
 *
 * @module
 * @internal
 */

import { parentPort } from 'node:worker_threads';

import { loadBackendByName } from './select.js';
import { serveSweepWorker, toWireError } from './sweep-worker.js';

const port = parentPort;
if (port) {
  const scope = {
    postMessage: (m: unknown) => port.postMessage(m),
    addEventListener: (_type: 'message', listener: (event: { data: unknown }) => void) => {
      port.on('message', (data: unknown) => listener({ data }));
    },
  };
  try {
    serveSweepWorker(await loadBackendByName('wasm'), scope);
  } catch (e) {
    const err = toWireError(e);
    scope.postMessage({ type: 'error', block: null, error: err.code === 'backend_load' ? err : { ...err, code: 'backend_load' } });
  }
}
