#!/usr/bin/env node
// Issue 4 (Performance): lambda_min of the matrix-factorization Hessian at d1 = d2 = 500, r = 5
// (5,000 parameters) to 1e-8 relative residual, timed in one run on
//   - our Lanczos (crates/core curvature::lanczos, release build, one thread),
//   - our dense path (assembly from 5,000 HVPs + nalgebra SymmetricEigen),
//   - SciPy's eigsh (ARPACK) on a NumPy HVP LinearOperator (bench/hessian.py),
// on the same problem (the Rust example writes it; SciPy reads it). Prints the table and the
// ratios, writes bench/results/hessian.json.
//
// Usage: node bench/hessian.mjs [--d 500] [--r 5] [--tol 1e-8] [--reps 3] [--rounds 5] [--no-dense]
//
// Set-up: bench/.venv (created by bench/run.sh, or here if missing) gets SciPy from
// bench/requirements-hessian.txt when it is not importable. Until the bindings expose
// `analyze`, our timings come from the Rust example binary (crates/core/examples/hessian.rs).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const venv = path.join(here, '.venv');
const python = process.env.BENCH_PYTHON || path.join(venv, 'bin/python');
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const d = opt('--d', '500');
const r = opt('--r', '5');
const tol = opt('--tol', '1e-8');
const reps = opt('--reps', '3');
const dense = !argv.includes('--no-dense');
const rounds = Number(opt('--rounds', '5'));

function run(cmd, args, what) {
  const p = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (p.status !== 0) {
    console.error(`${what} failed (${cmd} ${args.join(' ')}):\n${p.stderr}`);
    process.exit(1);
  }
  return p.stdout;
}

// Python venv with SciPy.
if (!fs.existsSync(python)) {
  console.error('bench: creating Python venv at bench/.venv');
  run('python3', ['-m', 'venv', venv], 'venv');
}
if (spawnSync(python, ['-c', 'import scipy'], { encoding: 'utf8' }).status !== 0) {
  console.error('bench: installing bench/requirements-hessian.txt into bench/.venv (PyPI)');
  run(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r',
    path.join(here, 'requirements-hessian.txt')], 'pip install');
}

console.error('bench: building crates/core/examples/hessian.rs (release)');
run('cargo', ['build', '--release', '-q', '-p', 'autobalance-core', '--example', 'hessian'], 'cargo build');
const exe = path.join(root, 'target/release/examples/hessian');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ab-hessian-'));
const problem = path.join(tmp, 'problem.bin');

// Interleaved rounds (ours, SciPy default threads, SciPy one BLAS thread), each a median of
// `reps` solves in one process; the table shows the best round of each (the machine may be
// shared), all rounds are in the JSON. The dense solve (minutes) runs once, last.
// SciPy runs twice because on a loaded 2-core machine OpenBLAS threads spin against other
// processes and the default threading can be far slower; the ratio uses the faster of the two.
function runEnv(cmd, args, env, what) {
  const p = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26, env: { ...process.env, ...env } });
  if (p.status !== 0) {
    console.error(`${what} failed:\n${p.stderr}`);
    process.exit(1);
  }
  return p.stdout;
}
const one = { OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
const pyArgs = [path.join(here, 'hessian.py'), problem, '--tol', tol, '--reps', reps];
const oursArgs = ['--d1', d, '--d2', d, '--r', r, '--tol', tol, '--reps', reps, '--write', problem, '--no-dense'];
const roundsOurs = [];
const roundsMt = [];
const rounds1 = [];
for (let i = 0; i < rounds; i++) {
  console.error(`bench: round ${i + 1}/${rounds}: ours, SciPy (default threads), SciPy (1 BLAS thread)`);
  roundsOurs.push(JSON.parse(run(exe, oursArgs, 'rust example')));
  roundsMt.push(JSON.parse(runEnv(python, pyArgs, {}, 'hessian.py')));
  rounds1.push(JSON.parse(runEnv(python, pyArgs, one, 'hessian.py')));
}
const best = (xs, key) => xs.reduce((a, b) => (key(b) < key(a) ? b : a));
const ours = { ...best(roundsOurs, (o) => o.lanczos.ms) };
ours.lanczosStrict = best(roundsOurs, (o) => o.lanczosStrict.ms).lanczosStrict;
const scipyMt = best(roundsMt, (o) => o.ms);
const scipy1 = best(rounds1, (o) => o.ms);
const scipy = scipyMt.ms <= scipy1.ms ? scipyMt : scipy1;
ours.dense = null;
if (dense) {
  console.error('bench: ours dense (assembly from HVPs + SymmetricEigen; takes minutes)');
  const dj = JSON.parse(run(exe, ['--d1', d, '--d2', d, '--r', r, '--tol', tol, '--reps', '1'], 'rust example (dense)'));
  ours.dense = dj.dense;
}
fs.rmSync(tmp, { recursive: true, force: true });

const f = (x, p = 1) => (x == null ? '-' : x.toFixed(p));
const e = (x) => (x == null ? '-' : x.toExponential(2));
const rows = [
  ['ours Lanczos', ours.lanczos.ms, ours.lanczos.hvps, ours.lanczos.lambdaMin, ours.lanczos.relResidual],
  [`ours Lanczos tol ${ours.lanczosStrict.tol.toExponential(0)}`, ours.lanczosStrict.ms, ours.lanczosStrict.hvps, ours.lanczosStrict.lambdaMin, ours.lanczosStrict.relResidual],
  ['SciPy eigsh, default', scipyMt.ms, scipyMt.hvps, scipyMt.lambdaMin, scipyMt.relResidual],
  ['SciPy eigsh, 1 thread', scipy1.ms, scipy1.hvps, scipy1.lambdaMin, scipy1.relResidual],
];
if (ours.dense) rows.push(['ours dense', ours.dense.ms, ours.dim, ours.dense.lambdaMin, ours.dense.relResidual]);
console.log(`\nlambda_min of the MF Hessian, d1 = d2 = ${d}, r = ${r} (dim ${ours.dim}), tol ${tol}`);
console.log(`(relative residual = ||Hx - lambda x|| / max|lambda|; SciPy ${scipy.scipy}, NumPy ${scipy.numpy})\n`);
console.log('method                    ms        HVPs   lambda_min            rel. residual');
for (const [name, ms, hvps, lam, rr] of rows) {
  console.log(`${name.padEnd(22)} ${f(ms, 2).padStart(10)} ${String(hvps).padStart(8)}   ${lam.toPrecision(15).padEnd(20)}  ${e(rr)}`);
}
console.log(`\none HVP: ours ${f(ours.hvpMs, 3)} ms, NumPy ${f(scipyMt.hvpMs, 3)} ms (default), ${f(scipy1.hvpMs, 3)} ms (1 thread)`);
const ratios = {
  scipyOverLanczos: scipy.ms / ours.lanczos.ms,
  scipyOverLanczosStrict: scipy.ms / ours.lanczosStrict.ms,
  denseOverLanczos: ours.dense ? ours.dense.ms / ours.lanczos.ms : null,
};
console.log(`SciPy (faster run) / ours Lanczos: ${f(ratios.scipyOverLanczos, 2)}x at tol ${tol}, ${f(ratios.scipyOverLanczosStrict, 2)}x at tol/100   (goal > 1)`);
if (ours.dense) console.log(`dense / ours Lanczos: ${f(ratios.denseOverLanczos, 0)}x   (goal >= 10)`);
const agree = Math.abs(ours.lanczos.lambdaMin - scipy.lambdaMin) / ours.lanczos.scale;
console.log(`|lambda_min ours - SciPy| / scale = ${e(agree)}`);

fs.mkdirSync(path.join(here, 'results'), { recursive: true });
const out = {
  date: new Date().toISOString(),
  cpu: os.cpus()[0]?.model,
  cores: os.cpus().length,
  ours,
  scipy: { defaultThreads: scipyMt, oneThread: scipy1 },
  rounds: { ours: roundsOurs, scipyDefault: roundsMt, scipyOneThread: rounds1 },
  ratios,
  agreement: agree,
};
fs.writeFileSync(path.join(here, 'results/hessian.json'), JSON.stringify(out, null, 2) + '\n');
console.log('\nwrote bench/results/hessian.json');
