#!/usr/bin/env node
// Network Hessian kernels against PyTorch, in one run: a ReLU network (squared loss, no biases)
// built through the TS API on the native backend, trained some GD steps, then at that point
//   (a) one Hessian-vector product: ours = wall time of run.hessian({what:'trace', probes})
//       divided by its `hvps` (the API has no bare-HVP call; a Hutchinson probe is one HVP plus a
//       Rademacher draw and a dot product, negligible next to the HVP), against
//       torch double-backward HVPs (bench/hessian_net_torch.py, float64, CPU);
//   (b) lambda_min and lambda_max to relative residual 1e-8: ours =
//       run.hessian({what:'eigs', which:'both', method:'lanczos', tol}) (one Krylov space for both
//       ends), against scipy.sparse.linalg.eigsh on a LinearOperator wrapping the torch HVP.
// Same data and weights on both sides (written from the session to a file). Correctness in the
// same run: the extreme eigenvalues of both sides, our eigenpairs' residuals measured with the
// torch HVP, one HVP along a random vector of the span of our eigenvectors (see below), and the
// full spectrum of the last layer's Hessian block (our dense block solver vs torch, 640 / 1000
// eigenvalues). Prints the table and the ratios, writes bench/results/hessian_net.json.
//
// Usage: node bench/hessian_net.mjs [--sizes small,large] [--train 300] [--probes 40] [--tol 1e-8]
//        [--reps 3] [--threads 2]
// Needs the native addon and the TS build (bash scripts/build-native.sh && pnpm --filter
// autobalance build), torch and SciPy in bench/.venv (bench/requirements-torch.txt,
// bench/requirements-hessian.txt). `--threads` is torch.set_num_threads; ours uses rayon's
// default (one thread per core: 2 here), or RAYON_NUM_THREADS if set.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const python = process.env.BENCH_PYTHON || path.join(here, '.venv/bin/python');
const { Run } = await import(path.join(root, 'packages/autobalance/dist/index.js'));

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const sizes = opt('--sizes', 'small,large').split(',');
const trainSteps = Number(opt('--train', 300));
const probes = Number(opt('--probes', 40));
const tol = Number(opt('--tol', 1e-8));
const reps = Number(opt('--reps', 3));
const threads = Number(opt('--threads', os.cpus().length));
// NumPy/SciPy's OpenBLAS threads (used by ARPACK's small dense steps) spin and fight torch's
// OpenMP threads on 2 cores; one BLAS thread unless --scipy-blas-default (see bench/README.md).
const blasEnv = argv.includes('--scipy-blas-default') ? {} : { OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: String(threads) };

for (const mod of ['torch', 'scipy']) {
  if (spawnSync(python, ['-c', `import ${mod}`], { encoding: 'utf8' }).status !== 0) {
    console.error(`bench: ${mod} is not importable from ${python}; install it:\n` +
      '  bench/.venv/bin/pip install -r bench/requirements-torch.txt -r bench/requirements-hessian.txt');
    process.exit(1);
  }
}

// Two networks: a small one and Figure 2's (Du, Hu & Lee 2018: 1000-100-100-10, 1000 points).
// Both start at variance 1/fan_in (not Figure 2's tiny init, whose point after a few hundred steps is still next to 0); both are
// trained `trainSteps` GD steps so the point is not the init.
const SIZES = {
  small: { inputDim: 100, widths: [64, 64, 10], samples: 500, variances: [1 / 100, 1 / 64, 1 / 64], eta: 0.05 },
  large: { inputDim: 1000, widths: [100, 100, 10], samples: 1000, variances: [1 / 1000, 1 / 100, 1 / 100], eta: 0.02 },
};

function spec(s) {
  return {
    model: {
      kind: 'network',
      inputDim: s.inputDim,
      layers: s.widths.map((w, i) => (i < s.widths.length - 1 ? { width: w, activation: 'relu' } : { width: w })),
      loss: 'squared',
    },
    data: { kind: 'generated', samples: s.samples, inputs: 'gaussian', targets: { kind: 'gaussian', std: 1 }, seed: 1 },
    init: { kind: 'gaussian', variances: s.variances, seed: 2 },
    schedule: { kind: 'constant', eta: s.eta },
    steps: trainSteps,
    recordEvery: trainSteps,
  };
}

// Seeded uniform(-1, 1) (mulberry32), for the check vector's coefficients.
function rand(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return 2 * (((t ^ (t >>> 14)) >>> 0) / 4294967296) - 1;
  };
}

const rows = [];
for (const name of sizes) {
  const s = SIZES[name];
  const run = await Run.create(spec(s), { backend: 'native' });
  const loss0 = run.advance(0) && run.column('loss').at(-1);
  run.advance(trainSteps);
  const loss = run.column('loss').at(-1);
  const Ws = s.widths.map((_, h) => run.matrix(`W${h + 1}`));
  const X = run.matrix('X');
  const Y = run.matrix('Y');
  const dim = Ws.reduce((a, w) => a + w.data.length, 0);
  console.error(`bench: ${name}: ${[s.inputDim, ...s.widths].join('-')}, ${s.samples} points, dim ${dim}; ` +
    `loss ${loss0.toExponential(4)} -> ${loss.toExponential(4)} after ${trainSteps} GD steps`);

  // (a) HVP: trace queries with `probes` probes, best of `reps` (the machine may be shared: the
  // fastest repetition is the least disturbed one; PyTorch's side is taken the same way).
  await run.hessian({ what: 'trace', probes: 2 });
  const hvpMs = [];
  let trace;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    trace = await run.hessian({ what: 'trace', probes, seed: i });
    hvpMs.push((performance.now() - t0) / trace.hvps);
  }
  // (b) lambda_min and lambda_max, best of `reps` (start vectors seeded 0..reps-1).
  const timeEigs = async (t) => {
    const ms = [];
    let rep;
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      rep = await run.hessian({ what: 'eigs', which: 'both', method: 'lanczos', tol: t, seed: i });
      ms.push(performance.now() - t0);
    }
    return { ms, rep };
  };
  const { ms: eigMs, rep: eigs } = await timeEigs(tol);
  // Our tol is relative to the spectral scale; ARPACK's to each eigenvalue. Also time ours at the
  // tolerance that asks lambda_min for what ARPACK asks: tol |lambda_min| / scale.
  const tolMatched = Math.min(tol, (tol * Math.abs(eigs.smallest[0].value)) / eigs.scale);
  const { ms: eigMsM, rep: eigsM } = await timeEigs(tolMatched);
  const ours = {
    hvpMs: Math.min(...hvpMs),
    hvpMsAll: hvpMs,
    traceEstimate: trace.estimate,
    eigsMs: Math.min(...eigMs),
    eigsMsAll: eigMs,
    lambdaMin: eigs.smallest[0].value,
    lambdaMax: eigs.largest[0].value,
    residualMin: eigs.smallest[0].residual,
    residualMax: eigs.largest[0].residual,
    converged: eigs.allConverged,
    hvps: eigs.hvps,
    scale: eigs.scale,
    matched: {
      tol: tolMatched,
      ms: Math.min(...eigMsM),
      msAll: eigMsM,
      hvps: eigsM.hvps,
      lambdaMin: eigsM.smallest[0].value,
      lambdaMax: eigsM.largest[0].value,
      residualMin: eigsM.smallest[0].residual,
      residualMax: eigsM.largest[0].residual,
      converged: eigsM.allConverged,
    },
  };

  // Peak RSS of this Node process so far (KiB): training, the network and its data, the timed
  // queries; the PyTorch child's is reported by the child itself (/usr/bin/time on this script
  // gives the larger of the two, not ours).
  ours.maxRssKiB = process.resourceUsage().maxRSS;

  // Checks (untimed). The API has no bare HVP, so the HVP check uses what it reports exactly:
  // eigenpairs to tol 1e-13 (4 per end), v = a random combination sum c_i x_i, and
  // H v = sum c_i lambda_i x_i + sum c_i r_i with ||r_i|| our reported residuals; torch computes
  // H v itself. Then the last layer's block: all its eigenvalues by our dense solver.
  const chk = await run.hessian({ what: 'eigs', which: 'both', k: 4, method: 'lanczos', tol: 1e-13, vectors: true, maxIter: 1000 });
  const pairs = [...chk.smallest, ...chk.largest];
  const r = rand(12345);
  const c = pairs.map(() => r());
  const v = new Float64Array(dim);
  const hv = new Float64Array(dim);
  pairs.forEach((p, i) => {
    for (let j = 0; j < dim; j++) {
      v[j] += c[i] * p.vector[j];
      hv[j] += c[i] * p.value * p.vector[j];
    }
  });
  const hvBound = pairs.reduce((a, p, i) => a + Math.abs(c[i]) * p.residual, 0);
  const last = `W${s.widths.length}`;
  const block = await run.hessian({ what: 'eigs', block: last, method: 'dense', which: 'smallest', k: Ws.at(-1).data.length });
  const blockEigs = Float64Array.from(block.smallest.map((p) => p.value));
  run.dispose();

  const file = path.join(os.tmpdir(), `hessian_net_${process.pid}.bin`);
  const parts = [
    new Float64Array([s.samples, s.inputDim, ...s.widths, pairs.length]),
    X.data, Y.data, ...Ws.map((w) => w.data),
    v, hv, Float64Array.from(pairs.map((p) => p.value)), ...pairs.map((p) => Float64Array.from(p.vector)), blockEigs,
  ];
  fs.writeFileSync(file, Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))));
  // PyTorch configurations: 2 threads (= ours) with passive OpenMP waiting, and 1 thread; with
  // --torch-active also torch's default (spinning) OpenMP waiting, which on this shared 2-core VM
  // made HVPs up to 40x slower (see bench/README.md). The ratios use the fastest configuration.
  const configs = [
    { label: `${threads} threads, OMP_WAIT_POLICY=PASSIVE`, threads, env: { OMP_WAIT_POLICY: 'PASSIVE' } },
    { label: '1 thread', threads: 1, env: {} },
  ];
  if (argv.includes('--torch-active')) configs.push({ label: `${threads} threads, default OpenMP wait`, threads, env: {} });
  const torchRuns = configs.map((cfg, i) => {
    console.error(`bench: ${name}: PyTorch/SciPy, ${cfg.label}`);
    const p = spawnSync(python, [path.join(here, 'hessian_net_torch.py'), file, '--threads', String(cfg.threads),
      '--probes', String(probes), '--tol', String(tol), '--reps', String(reps), ...(i === 0 ? [] : ['--no-check'])],
    { encoding: 'utf8', maxBuffer: 1 << 26, env: { ...process.env, ...blasEnv, ...cfg.env } });
    if (p.status !== 0) throw new Error(`hessian_net_torch.py failed: ${p.stderr}`);
    return { ...JSON.parse(p.stdout.trim().split('\n').at(-1)), label: cfg.label };
  });
  fs.unlinkSync(file);
  const check = torchRuns[0].check;
  const bestHvp = (t) => Math.min(...Object.values(t.hvpMsByKind));
  const torch = torchRuns.reduce((a, b) => (bestHvp(b) < bestHvp(a) ? b : a));
  const torchE = torchRuns.reduce((a, b) => (b.eigsh.best.ms < a.eigsh.best.ms ? b : a));
  const peer = torchE.eigsh.best;
  rows.push({
    name,
    arch: [s.inputDim, ...s.widths].join('-'),
    samples: s.samples,
    dim,
    loss0,
    loss,
    ours,
    torchRuns,
    torchHvpConfig: torch.label,
    torchEigsConfig: torchE.label,
    torchHvpMs: bestHvp(torch),
    eigshMs: peer.ms,
    eigshName: torchE.eigsh.bestName,
    ratios: {
      hvp: bestHvp(torch) / ours.hvpMs,
      eigs: peer.ms / ours.eigsMs,
      eigsMatched: peer.ms / ours.matched.ms,
    },
    checks: {
      lambdaMinRel: Math.abs(ours.lambdaMin - peer.lambdaMin) / Math.abs(peer.lambdaMin),
      lambdaMaxRel: Math.abs(ours.lambdaMax - peer.lambdaMax) / Math.abs(peer.lambdaMax),
      lambdaMinOverScale: Math.abs(ours.lambdaMin - peer.lambdaMin) / ours.scale,
      hvpRel: check.hvpRel,
      hvpBoundRel: hvBound / check.hvpNorm,
      pairResidualsTorch: check.pairResiduals,
      pairResidualsOurs: pairs.map((q) => q.residual),
      blockMaxDiffOverScale: check.blockMaxDiff / check.blockScale,
      blockDim: blockEigs.length,
    },
  });
}

const f = (x, d = 2) => x.toFixed(d);
const e = (x) => x.toExponential(2);
const t0 = rows[0]?.torchRuns[0];
console.log(`\nNetwork Hessian: ours (native, rayon threads = ${process.env.RAYON_NUM_THREADS || os.cpus().length}) vs PyTorch ${t0?.torch} ` +
  `(float64, CPU) + SciPy ${t0?.scipy} eigsh; tol ${tol}; best of ${reps}`);
for (const r of rows) {
  const o = r.ours;
  console.log(`\n${r.name}: ${r.arch} ReLU, ${r.samples} points, dim ${r.dim}, loss ${e(r.loss0)} -> ${e(r.loss)} after ${trainSteps} GD steps`);
  console.log(`  ours HVP ${f(o.hvpMs, 3)} ms (trace, ${probes} probes; all reps ${o.hvpMsAll.map((x) => f(x, 3)).join(', ')})`);
  for (const t of r.torchRuns) {
    const k = t.hvpMsByKind;
    console.log(`  torch [${t.label}] HVP: func jvp(grad) ${f(k.func, 3)} ms, grad twice ${f(k.twice, 3)} ms, ` +
      `graph reused ${f(k.reuse, 3)} ms (+ ${f(t.gradGraphMs, 1)} ms once); variants agree to ${e(t.torchSelfAgreement)}; eigsh uses '${t.eigshHvp}'`);
    for (const [k2, q] of Object.entries(t.eigsh.runs)) {
      console.log(`    eigsh ${k2.padEnd(6)} ${f(q.ms, 1).padStart(9)} ms  ${String(q.hvps).padStart(5)} HVPs  min ${q.lambdaMin.toPrecision(12)} max ${q.lambdaMax.toPrecision(12)}  ` +
        `res/|lam| ${e(q.relResMin)}, ${e(q.relResMax)}`);
    }
  }
  for (const [label, q] of [[`tol ${e(tol)}`, { ...o, ms: o.eigsMs, tol }], [`tol ${e(o.matched.tol)}`, o.matched]]) {
    console.log(`  ours eigs ${label}: ${f(q.ms, 1)} ms  ${q.hvps} HVPs  min ${q.lambdaMin.toPrecision(12)} max ${q.lambdaMax.toPrecision(12)}  ` +
      `res/|lam| ${e(q.residualMin / Math.abs(q.lambdaMin))}, ${e(q.residualMax / Math.abs(q.lambdaMax))}  converged ${q.converged}`);
  }
  const c = r.checks;
  console.log(`  check: lambda_min rel diff ${e(c.lambdaMinRel)} (${e(c.lambdaMinOverScale)} of scale), lambda_max ${e(c.lambdaMaxRel)}; ` +
    `H v vs torch ${e(c.hvpRel)} (bound from our residuals ${e(c.hvpBoundRel)}); our ${c.pairResidualsOurs.length} eigenpairs' residuals by torch HVP max ` +
    `${e(Math.max(...c.pairResidualsTorch))} (ours ${e(Math.max(...c.pairResidualsOurs))}); last-layer block spectrum (${c.blockDim} eigenvalues) max diff / scale ${e(c.blockMaxDiffOverScale)}`);
}
console.log('\n| size | dim | HVP ours ms | HVP PyTorch ms | PyTorch/ours | lambda_min+max ours ms (tol 1e-8 / matched) | eigsh + PyTorch ms | eigsh/ours |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.arch}, ${r.samples} pts | ${r.dim} | ${f(r.ours.hvpMs, 3)} | ${f(r.torchHvpMs, 3)} | ${f(r.ratios.hvp)} | ` +
    `${f(r.ours.eigsMs, 1)} / ${f(r.ours.matched.ms, 1)} | ${f(r.eigshMs, 1)} (${r.eigshName}, ${r.torchEigsConfig}) | ${f(r.ratios.eigs)} / ${f(r.ratios.eigsMatched)} |`);
}
fs.mkdirSync(path.join(here, 'results'), { recursive: true });
fs.writeFileSync(path.join(here, 'results', 'hessian_net.json'),
  JSON.stringify({ date: new Date().toISOString(), cpu: os.cpus()[0]?.model, cores: os.cpus().length, threads, probes, tol, reps, trainSteps, rows }, null, 2) + '\n');
console.log('\nwrote bench/results/hessian_net.json');
