// The kernel recursion of Du (2019 thesis) ch. 3 in one run: the ResNet K^(H) (softplus, c_res =
// 0.5, corrected recursion) for n points on the sphere at depth H by the `kernelRecursion` study
// natively (all cores), on wasm (one thread) and by the NumPy peer kernel_numpy.py (same
// algorithm, vectorized over the pairs); lambda_min and lambda_max of K^(H) compared (~1e-12) and
// the times printed. See bench/ch3/README.md. Not part of scripts/test.sh.
//
//   node bench/ch3/kernel.mjs [--n 1000] [--d 10] [--depth 30] [--nodes 20] [--no-wasm] [--no-numpy]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { fmt, here as sweepHere, loadavg, machine, root } from '../sweep/common.mjs';

const here = join(sweepHere, '..', 'ch3');
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const flag = (name) => args.includes(`--${name}`);
const N = Number(opt('n', 1000));
const D = Number(opt('d', 10));
const H = Number(opt('depth', 30));
const NODES = Number(opt('nodes', 20));
const PY = process.env.BENCH_PYTHON ?? join(here, '.venv', 'bin', 'python');

const ab = await import(join(root, 'packages/autobalance/dist/index.js'));
const m = machine();
console.log(`machine: ${m.cpu}, ${m.cores} cores (${m.simd}), ${m.memGiB} GiB, Linux ${m.kernel}, Node ${m.node}`);
console.log(`load average at start: ${loadavg().join(' ')}`);
console.log(`ResNet softplus, c_res = 0.5, n = ${N} points in R^${D}, depth H = ${H}, ${NODES} Gauss-Hermite nodes`);

// Points: Gaussian rows from a seeded xorshift + Box-Muller, normalized (the same bits for every side).
let s = 0x9e3779b97f4a7c15n;
const u01 = () => {
  s ^= s << 13n; s &= 0xffffffffffffffffn; s ^= s >> 7n; s ^= s << 17n; s &= 0xffffffffffffffffn;
  return (Number(s >> 11n) + 0.5) / 2 ** 53;
};
const x = new Float64Array(N * D);
for (let i = 0; i < x.length; i++) x[i] = Math.sqrt(-2 * Math.log(u01())) * Math.cos(2 * Math.PI * u01());
for (let i = 0; i < N; i++) {
  let nn = 0;
  for (let k = 0; k < D; k++) nn += x[i * D + k] ** 2;
  for (let k = 0; k < D; k++) x[i * D + k] /= Math.sqrt(nn);
}
const spec = {
  kind: 'kernelRecursion', architecture: 'resnet', activation: 'softplus', cRes: 0.5, depths: [H],
  quadrature: { nodes: NODES }, data: { kind: 'explicit', n: N, d: D, x: Array.from(x) },
};
const sides = [];
for (const backend of ['native', ...(flag('no-wasm') ? [] : ['wasm'])]) {
  try {
    const t0 = performance.now();
    const r = await ab.study(spec, { backend });
    const secs = (performance.now() - t0) / 1000;
    const o = r.output;
    sides.push({ name: backend, lmin: o.lambdaMin[0], lmax: o.lambdaMax[0], secs });
  } catch (e) {
    console.log(`${backend}: skipped (${e.message})`);
  }
}
if (!flag('no-numpy')) {
  const dir = mkdtempSync(join(tmpdir(), 'ch3-'));
  const file = join(dir, 'x.bin');
  writeFileSync(file, Buffer.from(x.buffer));
  const p = spawnSync(PY, [join(here, 'kernel_numpy.py'), file, String(N), String(D), String(H), '0.5', String(NODES)], { encoding: 'utf8' });
  if (p.status === 0) {
    const o = JSON.parse(p.stdout);
    sides.push({ name: `numpy ${o.numpy}`, lmin: o.lambdaMin, lmax: o.lambdaMax, secs: o.seconds });
  } else console.log(`numpy: failed (${p.stderr.slice(0, 300)})`);
}
const ref = sides[0];
for (const sd of sides) {
  const dmin = ref ? Math.abs(sd.lmin - ref.lmin) / ref.lmax : NaN;
  const dmax = ref ? Math.abs(sd.lmax - ref.lmax) / ref.lmax : NaN;
  console.log(`${sd.name.padEnd(14)} ${fmt(sd.secs, 2).padStart(8)} s  lambda_min ${sd.lmin.toExponential(15)}  lambda_max ${sd.lmax.toExponential(15)}  |diff|/lambda_max vs native: ${dmin.toExponential(1)}, ${dmax.toExponential(1)}  time / native: ${fmt(sd.secs / ref.secs, 2)}`);
}
console.log(`load average at end: ${loadavg().join(' ')}`);
