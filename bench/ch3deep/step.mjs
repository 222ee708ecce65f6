#!/usr/bin/env node
// The deepSmooth GD step (thesis ch. 3) on the native and the wasm backend in one run, through
// the TS API: ms per step on each, the ratio, and a check that both reach the same loss. Cases:
// a fully connected net and a ResNet (H = 10, m = 256, n = 64, d = 16, softplus) and a
// convolutional ResNet (H = 5, m = 64, n = 32, d0 = 4, p = 16, q = 3). Usage:
// node bench/ch3deep/step.mjs [--steps N] (default 20). Needs the built package.
import os from 'node:os';
import { train } from '../../packages/autobalance/dist/index.js';

const i = process.argv.indexOf('--steps');
const steps = i >= 0 ? Number(process.argv[i + 1]) : 20;
const base = { init: { kind: 'gaussian', seed: 2 }, schedule: { kind: 'constant', eta: 1e-3 } };
const cases = [
  { label: 'FC H=10 m=256 n=64 d=16', spec: { ...base, model: { kind: 'deepSmooth', architecture: 'fullyConnected', depth: 10, width: 256, activation: 'softplus' }, data: { kind: 'sphere', n: 64, d: 16, seed: 1 } } },
  { label: 'ResNet H=10 m=256 n=64 d=16', spec: { ...base, model: { kind: 'deepSmooth', architecture: 'resnet', depth: 10, width: 256, activation: 'softplus' }, data: { kind: 'sphere', n: 64, d: 16, seed: 1 } } },
  { label: 'convResNet H=5 m=64 n=32 d0=4 p=16', spec: { ...base, model: { kind: 'deepSmooth', architecture: 'convResnet', depth: 5, width: 64, activation: 'softplus' }, data: { kind: 'sphere', n: 32, channels: 4, length: 16, seed: 1 } } },
];
const flops = (c) => {
  const m = c.spec.model;
  const d = c.spec.data;
  const q = m.architecture === 'convResnet' ? 3 : 1;
  const rows = d.n * (d.length ?? 1);
  const c0 = d.d ?? d.channels;
  // forward Z = P W^T, backward dW = dZ^T P and dP = dZ W: 6 rows (q c) m per layer (no dP at layer 1).
  return 2 * rows * q * c0 * m.width * 2 + (m.depth - 1) * 6 * rows * q * m.width * m.width;
};
const rows = [];
for (const c of cases) {
  const spec = { ...c.spec, steps, recordEvery: steps };
  const out = {};
  for (const backend of ['native', 'wasm']) {
    await train({ ...spec, steps: 2, recordEvery: 2 }, { backend }); // warm-up (load, JIT)
    const t0 = performance.now();
    const r = await train(spec, { backend });
    out[backend] = { ms: (performance.now() - t0) / steps, loss: r.loss };
  }
  const rel = Math.abs(out.native.loss - out.wasm.loss) / Math.abs(out.native.loss);
  const gf = (ms) => (flops(c) / (ms * 1e6)).toFixed(1);
  rows.push([c.label, out.native.ms.toFixed(2), out.wasm.ms.toFixed(2), (out.wasm.ms / out.native.ms).toFixed(2), `${gf(out.native.ms)} / ${gf(out.wasm.ms)}`, rel.toExponential(1)]);
}
console.log(`deepSmooth GD, ${steps} steps (native: rayon over the sample chunks; wasm: one thread); ${os.cpus().length} CPUs ${os.cpus()[0]?.model}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log('case | native ms/step | wasm ms/step | wasm/native | GFLOP/s native / wasm | loss rel. diff');
for (const r of rows) console.log(r.join(' | '));
