/**
 * A worker of the threaded module's pool (`threads.ts`): instantiate the module on the shared
 * memory, say ready, then run one rayon thread of the pool for the life of the page (never
 * returns; it waits with Atomics.wait, allowed in a worker).
 */
// @ts-ignore TS2307 when the threaded module is not built (this worker is then never started)
import * as threadsGlue from 'autobalance/wasm-threads/autobalance_wasm.js';

import type { PoolInit, ThreadsGlue } from './threads.js';

const glue = threadsGlue as unknown as ThreadsGlue;
self.addEventListener(
  'message',
  (e: MessageEvent<PoolInit>) => {
    try {
      glue.initSync({ module: e.data.module, memory: e.data.memory });
    } catch (err) {
      self.postMessage({ error: String((err as Error)?.stack ?? err) });
      return;
    }
    self.postMessage({ ready: true });
    glue.threadPoolWorker(e.data.rx);
  },
  { once: true },
);
