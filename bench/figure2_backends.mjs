#!/usr/bin/env node
// Figure 2's GD loop (3-layer ReLU net 1000-100-100-10, 1000 points) on the native and the wasm
// backend in one run, through the TS API: ms per step on each, the ratio, and a check that both
// reach the same loss. Usage: node bench/figure2_backends.mjs [--steps N] (default 200).
// Needs the built package (bash scripts/setup.sh or the build scripts). Writes
// bench/results/figure2_backends.json (read by bench/table.mjs).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { presetSpec, train } from '../packages/autobalance/dist/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));

const i = process.argv.indexOf('--steps');
const steps = i >= 0 ? Number(process.argv[i + 1]) : 200;
const preset = await presetSpec('figure2', { backend: 'native' });
const rows = [];
const results = [];
for (const run of preset.runs) {
  const spec = { ...run.spec, steps, recordEvery: steps };
  const out = {};
  for (const backend of ['native', 'wasm']) {
    await train({ ...spec, steps: 5, recordEvery: 5 }, { backend }); // warm-up (load, JIT)
    const t0 = performance.now();
    const r = await train(spec, { backend });
    out[backend] = { ms: (performance.now() - t0) / steps, loss: r.loss };
  }
  const rel = Math.abs(out.native.loss - out.wasm.loss) / Math.abs(out.native.loss);
  results.push({ run: run.label, steps, native: out.native, wasm: out.wasm, ratio: out.wasm.ms / out.native.ms, lossRelDiff: rel });
  rows.push([run.label.split(':')[0], out.native.ms.toFixed(2), out.wasm.ms.toFixed(2), (out.wasm.ms / out.native.ms).toFixed(2), rel.toExponential(1)]);
}
console.log(`figure2 GD, ${steps} steps (native: rayon over the row chunks; wasm: one thread)`);
console.log('run | native ms/step | wasm ms/step | wasm/native | loss rel. diff');
for (const r of rows) console.log(r.join(' | '));
fs.mkdirSync(path.join(here, 'results'), { recursive: true });
fs.writeFileSync(
  path.join(here, 'results', 'figure2_backends.json'),
  JSON.stringify({ date: new Date().toISOString(), cpu: os.cpus()[0]?.model, cores: os.cpus().length, loadavg: os.loadavg(), steps, rows: results }, null, 2) + '\n',
);
