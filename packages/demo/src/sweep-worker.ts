/**
 * A worker of the sweep page's pool: its own copy of the wasm core, serving blocks of runs to the
 * page's `sweep()` (the protocol of `serveSweepWorker`, docs/sweeps.md).
 */
import init, * as glue from 'autobalance/wasm/autobalance_wasm.js';
import wasmUrl from 'autobalance/wasm/autobalance_wasm_bg.wasm?url';
import { serveSweepWorker, wasmBackend } from 'autobalance/portable';

await init({ module_or_path: wasmUrl });
serveSweepWorker(wasmBackend(glue));
