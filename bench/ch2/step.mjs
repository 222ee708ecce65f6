// The Figure 2.1 GD step (Du 2019 thesis, ch. 2; issue 13) in one run: the twoLayerRelu family at
// n = d = 1000, m = 10,000 natively (4 n m d = 4e10 flops per step), the same GD in PyTorch float64
// on the CPU (step_torch.py, same data and initial point, same eta: the final losses compared),
// the fraction of this machine's GEMM peak (torch's 2000^3 float64 matmul in the same run), and the
// wasm backend (at a smaller width by default: one thread, 2-lane SIMD). See bench/ch2/README.md.
// Not part of scripts/test.sh.
//
//   node bench/ch2/step.mjs [--m 10000] [--n 1000] [--d 1000] [--steps 5] [--wasm-m 2000]
//        [--wasm-steps 3] [--threads 2] [--no-wasm] [--no-torch] [--json FILE]
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { cpuProbe, fmt, here as sweepHere, loadavg, machine, root } from '../sweep/common.mjs';

const here = join(sweepHere, '..', 'ch2');
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const flag = (name) => args.includes(`--${name}`);
const N = Number(opt('n', 1000));
const D = Number(opt('d', 1000));
const M = Number(opt('m', 10000));
const STEPS = Number(opt('steps', 5));
const WASM_M = Number(opt('wasm-m', 2000));
const WASM_STEPS = Number(opt('wasm-steps', 3));
const THREADS = Number(opt('threads', 2));
const ETA = 0.5;
const PY = process.env.BENCH_PYTHON ?? join(here, '.venv', 'bin', 'python');

const ab = await import(join(root, 'packages/autobalance/dist/index.js'));
const spec = (m, steps) => ({
  model: { kind: 'twoLayerRelu', width: m, loss: 'sum' },
  data: { kind: 'sphere', n: N, d: D, seed: 1 },
  init: { kind: 'gaussian', seed: 2 },
  schedule: { kind: 'constant', eta: ETA },
  steps: steps + 1,
  recordEvery: steps + 1,
});

const mach = machine();
console.log(`machine: ${mach.cpu}, ${mach.cores} cores (${mach.simd}), ${mach.memGiB} GiB, Linux ${mach.kernel}, Node ${mach.node}`);
console.log(`load average at start: ${loadavg().join(' ')}`);
const flops = (m) => 4 * N * m * D;

/** Time `steps` GD steps after one warm-up step; returns ms per step and the run. */
async function timeSteps(backend, m, steps) {
  const run = await ab.Run.create(spec(m, steps), { backend });
  run.advance(1);
  const probe = cpuProbe();
  const t0 = performance.now();
  for (let k = 0; k < steps; k++) run.advance(1);
  const ms = (performance.now() - t0) / steps;
  return { run, ms, probe: probe() };
}

const out = { machine: mach, loadStart: loadavg(), n: N, d: D, m: M, steps: STEPS, eta: ETA };

// Native.
const nat = await timeSteps('native', M, STEPS);
const natGflops = flops(M) / (nat.ms * 1e6);
out.native = { msPerStep: nat.ms, gflops: natGflops, ownCores: nat.probe.ownCores, otherCores: nat.probe.otherCores };
console.log(`native: m = ${M}: ${fmt(nat.ms, 1)} ms per step (${fmt(natGflops, 1)} GFLOP/s; this process kept ${fmt(nat.probe.ownCores, 2)} cores busy, others ${fmt(nat.probe.otherCores, 2)})`);

// The native loss after 1 + STEPS steps (for the torch comparison): the run's last row.
const natStatus = nat.run.advance(1);
const natLoss = natStatus.loss;

// PyTorch: the same data and initial point.
if (!flag('no-torch')) {
  const mat = (name) => nat.run.matrix(name).data;
  const X = mat('X');
  const y = mat('y');
  const W0 = mat('W_0');
  const a = mat('a');
  const head = new Float64Array([N, D, M, STEPS + 1, ETA]);
  const buf = new Float64Array(head.length + X.length + y.length + W0.length + a.length);
  let o = 0;
  for (const part of [head, X, y, W0, a]) {
    buf.set(part, o);
    o += part.length;
  }
  mkdirSync(join(here, 'out'), { recursive: true });
  const file = join(here, 'out', 'problem.f64');
  writeFileSync(file, Buffer.from(buf.buffer));
  const probe = cpuProbe();
  const r = spawnSync(PY, [join(here, 'step_torch.py'), file, '--threads', String(THREADS)], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) {
    console.log(`torch: failed (${r.stderr.trim().split('\n').slice(-3).join(' | ')})`);
  } else {
    const t = JSON.parse(r.stdout);
    const p = probe();
    out.torch = { ...t, gflops: flops(M) / (t.msPerStep * 1e6), otherCores: p.otherCores };
    out.ratio = t.msPerStep / nat.ms;
    out.peakFraction = natGflops / t.gemm2000Gflops;
    console.log(`torch ${t.torch} (${t.threads} threads, ${t.blas}): ${fmt(t.msPerStep, 1)} ms per step (${fmt(out.torch.gflops, 1)} GFLOP/s)`);
    console.log(`ratio torch / native: ${fmt(out.ratio, 2)} (> 1: native faster)`);
    console.log(`GEMM peak (torch 2000^3 f64, same run): ${fmt(t.gemm2000Gflops, 1)} GFLOP/s; native step at ${fmt(100 * out.peakFraction, 0)}% of it`);
    const rel = Math.abs(t.lossFinal - natLoss) / Math.abs(natLoss);
    out.lossAgreement = { native: natLoss, torch: t.lossFinal, rel };
    console.log(`loss after ${STEPS + 1} steps: native ${natLoss}, torch ${t.lossFinal} (relative difference ${rel.toExponential(2)})`);
  }
}

// wasm (one thread).
if (!flag('no-wasm')) {
  const w = await timeSteps('wasm', WASM_M, WASM_STEPS);
  const natSmall = await timeSteps('native', WASM_M, WASM_STEPS);
  const g = flops(WASM_M) / (w.ms * 1e6);
  out.wasm = { m: WASM_M, msPerStep: w.ms, gflops: g, nativeMsPerStep: natSmall.ms, ratio: w.ms / natSmall.ms };
  console.log(`wasm: m = ${WASM_M}: ${fmt(w.ms, 1)} ms per step (${fmt(g, 1)} GFLOP/s); native at the same m ${fmt(natSmall.ms, 1)} ms: wasm / native = ${fmt(out.wasm.ratio, 2)}`);
}
out.loadEnd = loadavg();
console.log(`load average at end: ${out.loadEnd.join(' ')}`);
const jsonFile = opt('json', null);
if (jsonFile) writeFileSync(jsonFile, JSON.stringify(out, null, 2));
