#!/usr/bin/env node
// Figure 2's GD loop (3-layer ReLU net 1000-100-100-10, 1000 points) on the native and the wasm
// backend in one run, through the TS API: ms per step on each, the ratio, and a check that both
// reach the same loss. Usage: node bench/figure2_backends.mjs [--steps N] (default 200)
// [--wasm-threads T] (also the threaded wasm module with T workers, experimental: built by
// AUTOBALANCE_WASM_THREADS=1 bash scripts/build-wasm.sh; its column is `wasmThreads`).
// Needs the built package (bash scripts/setup.sh or the build scripts). Writes
// bench/results/figure2_backends.json (read by bench/table.mjs).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { presetSpec, train } from '../packages/autobalance/dist/index.js';
import { loadWasmThreadsBackend } from '../packages/autobalance/dist/wasm-threads-node.js';

const here = path.dirname(fileURLToPath(import.meta.url));

const i = process.argv.indexOf('--steps');
const steps = i >= 0 ? Number(process.argv[i + 1]) : 200;
const t = process.argv.indexOf('--wasm-threads');
const wasmThreads = t >= 0 ? Number(process.argv[t + 1]) : 0;
const backends = [['native', 'native'], ['wasm', 'wasm']];
if (wasmThreads > 0) backends.push(['wasmThreads', await loadWasmThreadsBackend({ threads: wasmThreads })]);
const preset = await presetSpec('figure2', { backend: 'native' });
const rows = [];
const results = [];
for (const run of preset.runs) {
  const spec = { ...run.spec, steps, recordEvery: steps };
  const out = {};
  for (const [key, backend] of backends) {
    await train({ ...spec, steps: 5, recordEvery: 5 }, { backend }); // warm-up (load, JIT)
    const t0 = performance.now();
    const r = await train(spec, { backend });
    out[key] = { ms: (performance.now() - t0) / steps, loss: r.loss };
  }
  const rel = Math.abs(out.native.loss - out.wasm.loss) / Math.abs(out.native.loss);
  results.push({ run: run.label, steps, native: out.native, wasm: out.wasm, ...(out.wasmThreads ? { wasmThreads: { ...out.wasmThreads, threads: wasmThreads, sameLossAsWasm: out.wasmThreads.loss === out.wasm.loss } } : {}), ratio: out.wasm.ms / out.native.ms, lossRelDiff: rel });
  const th = out.wasmThreads ? [out.wasmThreads.ms.toFixed(2), (out.wasm.ms / out.wasmThreads.ms).toFixed(2), String(out.wasmThreads.loss === out.wasm.loss)] : [];
  rows.push([run.label.split(':')[0], out.native.ms.toFixed(2), out.wasm.ms.toFixed(2), (out.wasm.ms / out.native.ms).toFixed(2), rel.toExponential(1), ...th]);
}
console.log(`figure2 GD, ${steps} steps (native: rayon over the row chunks; wasm: one thread${wasmThreads > 0 ? `; wasmThreads: ${wasmThreads} workers` : ''})`);
console.log('run | native ms/step | wasm ms/step | wasm/native | loss rel. diff' + (wasmThreads > 0 ? ' | wasmThreads ms/step | wasm/wasmThreads | same loss bits' : ''));
for (const r of rows) console.log(r.join(' | '));
fs.mkdirSync(path.join(here, 'results'), { recursive: true });
fs.writeFileSync(
  path.join(here, 'results', 'figure2_backends.json'),
  JSON.stringify({ date: new Date().toISOString(), cpu: os.cpus()[0]?.model, cores: os.cpus().length, loadavg: os.loadavg(), steps, rows: results }, null, 2) + '\n',
);
