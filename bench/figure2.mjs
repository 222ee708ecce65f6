#!/usr/bin/env node
// Figure 2 (Du, Hu & Lee 2018: 3-layer ReLU net 1000-100-100-10, 1000 points, squared loss, GD)
// timed on the native backend and in PyTorch (CPU, float64) in one run, on the same data and the
// same initial weights (the preset's seeded data, passed to PyTorch through a file). Prints ms per
// GD step on each side, the ratio, and the final loss and squared layer norms of both as a check
// that the two loops compute the same thing.
//
// Usage: node bench/figure2.mjs [--steps N] [--run balanced|unbalanced|both] [--threads N]
// Needs the native addon (bash scripts/build-native.sh) and torch in bench/.venv
// (bench/.venv/bin/pip install -r bench/requirements-torch.txt).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const nativePath = process.env.BENCH_NATIVE || path.join(root, 'packages/autobalance/native/autobalance.node');
const python = process.env.BENCH_PYTHON || path.join(here, '.venv/bin/python');

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const steps = Number(opt('--steps', 1000));
const which = opt('--run', 'both');
const threads = Number(opt('--threads', os.cpus().length));

const mod = createRequire(import.meta.url)(nativePath);
const preset = JSON.parse(mod.presetSpec('figure2'));
const runs = preset.runs.filter((r, i) => which === 'both' || (which === 'balanced' ? i === 0 : i === 1));

const rows = [];
for (const run of runs) {
  const spec = { ...run.spec, steps: steps + 1, recordEvery: steps + 1 };
  const s = new mod.NativeSession(JSON.stringify(spec), {});
  // The problem file for PyTorch: the same data and initial weights.
  const mat = (n) => s.matrix(n);
  const [m, d] = s.matrixShape('X');
  const n1 = s.matrixShape('W1')[0];
  const n2 = s.matrixShape('W2')[0];
  const n3 = s.matrixShape('W3')[0];
  const eta = spec.schedule.eta;
  const parts = [new Float64Array([m, d, n1, n2, n3, steps, eta]), mat('X'), mat('Y'), mat('W1'), mat('W2'), mat('W3')];
  const file = path.join(os.tmpdir(), `figure2_${process.pid}.bin`);
  fs.writeFileSync(file, Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))));

  s.advance(1); // warm-up step, excluded like PyTorch's
  const t0 = performance.now();
  const st = JSON.parse(s.advance(steps));
  const nativeSec = (performance.now() - t0) / 1e3;
  const last = (c) => s.column(c, 0).at(-1);
  const native = {
    msPerStep: (1e3 * nativeSec) / steps,
    finalLoss: last('loss'),
    normSq: [last('normSqW1'), last('normSqW2'), last('normSqW3')],
  };
  if (st.step !== steps + 1) throw new Error(`native run stopped at ${st.step}`);

  const p = spawnSync(python, [path.join(here, 'figure2_torch.py'), file, '--threads', String(threads)], {
    encoding: 'utf8',
  });
  fs.unlinkSync(file);
  if (p.status !== 0) throw new Error(`figure2_torch.py failed: ${p.stderr}`);
  const torch = JSON.parse(p.stdout.trim().split('\n').at(-1));
  const rel = Math.max(
    Math.abs(native.finalLoss - torch.finalLoss) / Math.abs(torch.finalLoss),
    ...native.normSq.map((x, i) => Math.abs(x - torch.normSq[i]) / Math.abs(torch.normSq[i])),
  );
  rows.push({ run: run.label, steps, native, torch, ratio: torch.msPerStep / native.msPerStep, maxRelDiff: rel });
}

console.log(`figure2 GD loop, ${steps} timed steps, float64, ${threads} threads (torch ${rows[0]?.torch.torch})`);
for (const r of rows) {
  console.log(`\n${r.run}`);
  console.log(`  native  ${r.native.msPerStep.toFixed(2)} ms/step   final loss ${r.native.finalLoss.toExponential(6)}   ||W||^2 ${r.native.normSq.map((x) => x.toFixed(4)).join(', ')}`);
  console.log(`  torch   ${r.torch.msPerStep.toFixed(2)} ms/step   final loss ${r.torch.finalLoss.toExponential(6)}   ||W||^2 ${r.torch.normSq.map((x) => x.toFixed(4)).join(', ')}`);
  console.log(`  torch / native time: ${r.ratio.toFixed(2)}x   largest relative difference of the results: ${r.maxRelDiff.toExponential(2)}`);
}
fs.mkdirSync(path.join(here, 'results'), { recursive: true });
fs.writeFileSync(
  path.join(here, 'results', 'figure2.json'),
  JSON.stringify({ date: new Date().toISOString(), cpu: os.cpus()[0]?.model, cores: os.cpus().length, loadavg: os.loadavg(), threads, rows }, null, 2) + '\n',
);
