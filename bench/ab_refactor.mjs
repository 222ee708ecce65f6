#!/usr/bin/env node
// Old vs new build of the core in ONE Node process, interleaved: the benchmarks of
// bench/mf_step.mjs, bench/figure2.mjs and bench/hessian_net.mjs (ours only, no NumPy/PyTorch)
// on two native addons, and the MF step on two wasm modules. Written for issue 9 (the core
// restructured into one contract per model family): "no slowdown beyond noise (~3%)".
//
// Usage:
//   node bench/ab_refactor.mjs OLD.node NEW.node [--old-wasm DIR] [--new-wasm DIR]
//        [--rounds 41] [--eigs-rounds 7] [--only mf,net,hvp,wasm,control] [--min-seconds 0.15]
//        [--net-steps 20] [--wait-idle S] [--same-session] [--json FILE]
// (run node with --expose-gc: the MF items then free the native sessions they drop right away)
// OLD.node / NEW.node: two release builds of the addon (scripts/build-native.sh), e.g. from a
// worktree of the old commit:
//   git worktree add /tmp/old REV && (cd /tmp/old && bash scripts/build-native.sh && bash scripts/build-wasm.sh)
//   node bench/ab_refactor.mjs /tmp/old/packages/autobalance/native/autobalance.node \
//        packages/autobalance/native/autobalance.node \
//        --old-wasm /tmp/old/packages/autobalance/wasm --new-wasm packages/autobalance/wasm
// Every build is first copied to a private temp directory (distinct file names: Node caches
// addons by path), so a rebuild during the run cannot swap it. Without --old-wasm/--new-wasm the
// wasm part is skipped.
//
// What is timed (each item: `--rounds` rounds; a round times old and new once each, the order
// alternating old-first / new-first; the same amount of work on both, calibrated on the old build):
//   mf    native MF GD step, mf_step.mjs's spec, at (100,100,5), (500,500,5), (1000,1000,5),
//         (2000,1000,50): ms/step of advance(N), N set so one run takes >= --min-seconds, each
//         run on a new session (created and warmed up by 2 steps, untimed) unless --same-session:
//         two sessions of the SAME build differed by up to 10% at (1000,1000,5), session for
//         session (memory placement), so one session per side would measure placement.
//   net   native Figure 2 GD step (preset figure2, balanced and unbalanced runs): ms/step of
//         advance(--net-steps).
//   hvp   native network HVP and lambda_min/lambda_max at hessian_net.mjs's points (small
//         100-64-64-10 / 500 points, large 1000-100-100-10 / 1000 points = Figure 2's network,
//         variance 1/fan_in, 300 GD steps): ms/HVP of a trace query with 40 probes, and ms of
//         {what:'eigs', which:'both', method:'lanczos', tol:1e-8}; the seed is the round index,
//         the same for old and new.
//   control  A/A: the old build against itself (two sessions), native MF (1000,1000,5), Figure 2
//         balanced and wasm MF (1000,1000,5): the noise floor of the ratio at the time of the run.
//   wasm  the MF step on the two wasm modules (WasmSession, initSync from the bytes), N set so one
//         run takes >= min-seconds/2.
// The large network's eigs query (~7 s) gets --eigs-rounds rounds. Short runs and many rounds:
// on this shared VM the speed of a run varies by 10-40% from one second to the next (host
// contention that /proc/stat does not show), so adjacent old/new pairs share their disturbance.
// Reported per item: median ms of old and new, the per-round ratio new/old (adjacent runs, so a
// slow drift of the machine cancels): median, interquartile range and min..max, and the ratio of
// the fastest runs (best new / best old: the least disturbed run of each side). CPU use of
// other processes is sampled around every timed run (/proc/stat); a round is clean when others
// kept < 0.25 cores busy during both of its runs; the statistics use the clean rounds when at
// least half are clean (else all, with a warning). With --wait-idle S, each round first waits (up
// to S s) for a quiet machine, and a disturbed round is timed again (at most `rounds` times per
// item); the seeds of a redone round stay the same.
//
// Correctness in the same run, before the timings: old and new must give bit-identical results
// (every common recorded column and the final parameters) for an MF run (300,200,5) of 100 steps
// and a Figure 2 run of 30 steps, recorded every step; on the timed sessions at the end (same
// steps on both) the final parameters and loss; the hvp queries' trace estimates, eigenvalues and
// HVP counts. Differences are printed, not fatal.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const valueArgs = new Set(['--eigs-rounds', '--wait-idle', '--old-wasm', '--new-wasm', '--rounds', '--only', '--min-seconds', '--net-steps', '--json']);
const positional = argv.filter((a, i) => !a.startsWith('--') && !valueArgs.has(argv[i - 1]));
if (positional.length < 2) {
  console.error('usage: node bench/ab_refactor.mjs OLD.node NEW.node [--old-wasm DIR] [--new-wasm DIR] [--rounds 41] [--eigs-rounds 7] [--only mf,net,hvp,wasm,control] [--min-seconds 0.15] [--net-steps 20] [--wait-idle S] [--same-session] [--json FILE]');
  process.exit(2);
}
const defaultRounds = Number(opt('--rounds', 41));
const eigsRounds = Number(opt('--eigs-rounds', 7)); // the large network's eigs query takes ~7 s
const only = new Set(opt('--only', 'control,mf,net,hvp,wasm').split(','));
const minSeconds = Number(opt('--min-seconds', 0.15));
const netSteps = Number(opt('--net-steps', 20));
const jsonOut = opt('--json', null);
const oldWasmDir = opt('--old-wasm', null);
const newWasmDir = opt('--new-wasm', null);
const waitIdleS = Number(opt('--wait-idle', 0));
const freshSessions = !argv.includes('--same-session'); // MF items: a new session per timed run
const OTHERS_MAX = 0.25;

// ---------------------------------------------------------------- loading (private copies)
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ab_refactor_'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const require = createRequire(import.meta.url);
const describe = (p) => {
  const st = fs.statSync(p);
  return { path: path.resolve(p), bytes: st.size, mtime: st.mtime.toISOString() };
};
function loadNative(src, name) {
  const dst = path.join(tmp, `${name}.node`);
  fs.copyFileSync(src, dst);
  const mod = require(dst);
  return { name, mod, Session: mod.NativeSession, version: mod.coreVersion(), file: describe(src) };
}
async function loadWasm(dir, name) {
  const d = path.join(tmp, `wasm_${name}`);
  fs.mkdirSync(d);
  for (const f of ['autobalance_wasm.js', 'autobalance_wasm_bg.wasm']) fs.copyFileSync(path.join(dir, f), path.join(d, f));
  const mod = await import(pathToFileURL(path.join(d, 'autobalance_wasm.js')).href);
  mod.initSync({ module: fs.readFileSync(path.join(d, 'autobalance_wasm_bg.wasm')) });
  return { name, mod, Session: mod.WasmSession, version: mod.coreVersion(), file: describe(path.join(dir, 'autobalance_wasm_bg.wasm')) };
}
const natOld = loadNative(positional[0], 'old');
const natNew = loadNative(positional[1], 'new');
let wasmOld = null;
let wasmNew = null;
if (only.has('wasm') && oldWasmDir && newWasmDir) {
  wasmOld = await loadWasm(oldWasmDir, 'old');
  wasmNew = await loadWasm(newWasmDir, 'new');
}

// ---------------------------------------------------------------- helpers
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  const p = (s.length - 1) * q;
  const lo = Math.floor(p);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (p - lo);
};
const median = (xs) => quantile(xs, 0.5);
const linspace = (a, b, n) => Array.from({ length: n }, (_, i) => (n === 1 ? a : a + ((b - a) * i) / (n - 1)));
const free = (s) => s && typeof s.free === 'function' && s.free();

function machineCpu() {
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = f[3] + (f[4] || 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}
/** Wall ms of fn(), and the cores other processes kept busy meanwhile. */
function measure(fn) {
  const m0 = machineCpu();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = fn();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const m1 = machineCpu();
  const own = (c.user + c.system) / 1e3 / ms;
  const machine = m1.total > m0.total ? ((m1.busy - m0.busy) / (m1.total - m0.total)) * os.cpus().length : 0;
  return { ms, others: Math.max(0, machine - own), out };
}

/** Cores other processes keep busy, sampled over `ms` while this process sleeps. */
function othersNow(ms) {
  const m0 = machineCpu();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  const m1 = machineCpu();
  return m1.total > m0.total ? ((m1.busy - m0.busy) / (m1.total - m0.total)) * os.cpus().length : 0;
}
/** With --wait-idle S: wait (up to S seconds in all per call) until others keep < OTHERS_MAX
 * cores busy. Returns the seconds waited. */
function waitIdle(quickMs = 100) {
  if (!(waitIdleS > 0)) return 0;
  const t0 = performance.now();
  if (othersNow(quickMs) < OTHERS_MAX) return 0;
  while ((performance.now() - t0) / 1e3 < waitIdleS) {
    if (othersNow(2000) < OTHERS_MAX) break;
  }
  return (performance.now() - t0) / 1e3;
}

/** Bitwise comparison of two Float64Arrays: number of differing entries and max relative diff. */
function cmp(a, b) {
  if (a.length !== b.length) return { same: false, n: Math.max(a.length, b.length), differing: -1, maxRel: NaN };
  let differing = 0;
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) differing++;
    maxAbs = Math.max(maxAbs, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { same: differing === 0, n: a.length, differing, maxRel: scale > 0 ? maxAbs / scale : maxAbs };
}
const checks = [];
function check(what, a, b) {
  const c = cmp(a, b);
  checks.push({ what, ...c });
  console.log(`  ${c.same ? 'bit-identical' : 'DIFFERENT'}  ${what} (${c.n} values${c.same ? '' : `, ${c.differing} differ, max rel diff ${c.maxRel.toExponential(2)}`})`);
}
/** Compare every common column (all rows) and the parameters of two sessions. */
function compareSessions(label, a, b) {
  const ca = a.columnNames();
  const cb = b.columnNames();
  const common = ca.filter((c) => cb.includes(c));
  const onlyA = ca.filter((c) => !cb.includes(c));
  const onlyB = cb.filter((c) => !ca.includes(c));
  if (onlyA.length || onlyB.length) console.log(`  ${label}: columns only in old: [${onlyA}], only in new: [${onlyB}]`);
  const colsA = Float64Array.from(common.flatMap((c) => [...a.column(c, 0)]));
  const colsB = Float64Array.from(common.flatMap((c) => [...b.column(c, 0)]));
  check(`${label}: ${common.length} recorded columns, all rows`, colsB, colsA);
  comparePoint(label, a, b);
}
function comparePoint(label, a, b) {
  const names = a.paramNames();
  check(`${label}: final ${names.join(', ')}`, Float64Array.from(names.flatMap((n) => [...b.matrix(n)])), Float64Array.from(names.flatMap((n) => [...a.matrix(n)])));
}

function mfSpec(d1, d2, r, steps, recordEvery = steps) {
  return JSON.stringify({
    model: { kind: 'matrixFactorization', d1, d2, rank: r },
    target: { kind: 'random', singularValues: linspace(1, r, r), seed: 1 },
    init: { kind: 'gaussian', stdU: 0.01, stdV: 0.01, seed: 2 },
    schedule: { kind: 'constant', eta: 1e-4 },
    steps,
    recordEvery,
  });
}
const fig2 = JSON.parse(natOld.mod.presetSpec('figure2')).runs;
if (JSON.stringify(fig2) !== JSON.stringify(JSON.parse(natNew.mod.presetSpec('figure2')).runs)) {
  console.log('NOTE: the figure2 preset runs differ between old and new; the old spec is used for both');
}
const netSpec = (run, steps, recordEvery = steps) => JSON.stringify({ ...run.spec, steps, recordEvery });
const HSIZES = {
  small: { inputDim: 100, widths: [64, 64, 10], samples: 500, variances: [1 / 100, 1 / 64, 1 / 64], eta: 0.05 },
  large: { inputDim: 1000, widths: [100, 100, 10], samples: 1000, variances: [1 / 1000, 1 / 100, 1 / 100], eta: 0.02 },
};
const hSpec = (s, steps) => JSON.stringify({
  model: { kind: 'network', inputDim: s.inputDim, loss: 'squared', layers: s.widths.map((w, i) => (i < s.widths.length - 1 ? { width: w, activation: 'relu' } : { width: w })) },
  data: { kind: 'generated', samples: s.samples, inputs: 'gaussian', targets: { kind: 'gaussian', std: 1 }, seed: 1 },
  init: { kind: 'gaussian', variances: s.variances, seed: 2 },
  schedule: { kind: 'constant', eta: s.eta },
  steps,
  recordEvery: steps,
});

// ---------------------------------------------------------------- the A/B loop
const items = [];
/** Time run(side, round) for side in old/new, `rounds` times, alternating the order. run returns
 * {ms, unit-normalized value, optional extra}. */
function ab(label, unit, run, rounds = defaultRounds) {
  const res = { label, unit, old: [], new: [], othersOld: [], othersNew: [], redone: 0, waitedS: 0 };
  for (let i = 0; i < rounds; i++) {
    res.waitedS += waitIdle();
    const order = i % 2 === 0 ? ['old', 'new'] : ['new', 'old'];
    const got = {};
    for (const side of order) got[side] = run(side, i);
    // --wait-idle: a round disturbed by other processes is timed again (at most `rounds` extra).
    if (waitIdleS > 0 && Math.max(got.old.others, got.new.others) >= OTHERS_MAX && res.redone < rounds) {
      res.redone++;
      i--;
      continue;
    }
    for (const side of order) {
      res[side].push(got[side].value);
      res[side === 'old' ? 'othersOld' : 'othersNew'].push(got[side].others);
    }
  }
  const ratios = res.new.map((x, i) => x / res.old[i]);
  const clean = ratios.map((_, i) => res.othersOld[i] < OTHERS_MAX && res.othersNew[i] < OTHERS_MAX);
  const nClean = clean.filter(Boolean).length;
  const use = nClean * 2 >= rounds ? (xs) => xs.filter((_, i) => clean[i]) : (xs) => xs;
  const r = use(ratios);
  Object.assign(res, {
    ratios,
    clean: nClean,
    usedClean: nClean * 2 >= rounds,
    medOld: median(use(res.old)),
    medNew: median(use(res.new)),
    ratio: median(r),
    q1: quantile(r, 0.25),
    q3: quantile(r, 0.75),
    min: Math.min(...r),
    max: Math.max(...r),
    rounds,
    bestOld: Math.min(...res.old),
    bestNew: Math.min(...res.new),
  });
  res.bestRatio = res.bestNew / res.bestOld;
  items.push(res);
  const f = (x) => (x >= 100 ? x.toFixed(1) : x >= 1 ? x.toFixed(3) : x.toFixed(4));
  console.log(`  ${label.padEnd(34)} old ${f(res.medOld).padStart(8)}  new ${f(res.medNew).padStart(8)} ${unit}   new/old ${res.ratio.toFixed(3)} ` +
    `(IQR ${res.q1.toFixed(3)}-${res.q3.toFixed(3)}, range ${res.min.toFixed(3)}-${res.max.toFixed(3)}; best ${f(res.bestOld)} / ${f(res.bestNew)} = ${res.bestRatio.toFixed(3)}; clean rounds ${nClean}/${rounds}${res.usedClean ? '' : ', ALL used'}${res.redone ? `, ${res.redone} redone` : ''}${res.waitedS > 1 ? `, waited ${res.waitedS.toFixed(0)} s` : ''})`);
  return res;
}

const pair = (a, b) => ({ old: a, new: b });
const t0All = performance.now();
console.log(`ab_refactor: ${defaultRounds} rounds per item (${eigsRounds} for the large eigs), node ${process.version}, ${os.cpus().length} cores (${os.cpus()[0]?.model}), load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
for (const b of [natOld, natNew, wasmOld, wasmNew].filter(Boolean)) console.log(`  ${b.name} ${b.Session.name}: core ${b.version}, ${b.file.path} (${b.file.bytes} bytes, ${b.file.mtime})`);

// ---------------------------------------------------------------- correctness
console.log('\ncorrectness: old vs new, same spec');
{
  const mk = (lib, spec) => new lib.Session(spec, {});
  const [a, b] = [natOld, natNew].map((lib) => mk(lib, mfSpec(300, 200, 5, 100, 1)));
  a.advance(100); b.advance(100);
  compareSessions('native MF (300,200,5), 100 GD steps', a, b);
  const [c, d] = [natOld, natNew].map((lib) => mk(lib, netSpec(fig2[0], 30, 1)));
  c.advance(30); d.advance(30);
  compareSessions('native Figure 2 balanced, 30 GD steps', c, d);
  if (wasmOld) {
    const [e, g] = [wasmOld, wasmNew].map((lib) => mk(lib, mfSpec(300, 200, 5, 100, 1)));
    e.advance(100); g.advance(100);
    compareSessions('wasm MF (300,200,5), 100 GD steps', e, g);
    const na = b.matrix('U');
    check('native new vs wasm new: MF (300,200,5) final U (lanes differ: not expected bitwise)', g.matrix('U'), na);
    free(e); free(g);
  }
}

// ---------------------------------------------------------------- timings
const SHAPES = [[100, 100, 5], [500, 500, 5], [1000, 1000, 5], [2000, 1000, 50]];
function mfItems(libs, kind, seconds, shapes = SHAPES) {
  for (const [d1, d2, r] of shapes) {
    const s = { old: new libs.old.Session(mfSpec(d1, d2, r, 1e9), {}), new: new libs.new.Session(mfSpec(d1, d2, r, 1e9), {}) };
    s.old.advance(2); s.new.advance(2);
    let n = 1;
    let ms;
    for (;;) {
      ms = measure(() => s.old.advance(n)).ms;
      s.new.advance(n); // keep both at the same step
      if (ms >= 100 || n >= 1 << 20) break;
      n *= 2;
    }
    const N = Math.max(1, Math.ceil((seconds * 1e3) / (ms / n)));
    const spec = mfSpec(d1, d2, r, 1e9);
    ab(`${kind} MF (${d1},${d2},${r}), ${N} steps/run`, 'ms/step', (side) => {
      if (freshSessions) {
        // A new session per timed run (warm-up 2 steps, untimed): where the buffers land in
        // memory moves the speed of one session by up to ~10% (seen old vs old); a fresh
        // placement per round averages that out.
        free(s[side]);
        s[side] = null;
        globalThis.gc?.();
        s[side] = new libs[side].Session(spec, {});
        s[side].advance(2);
      }
      const m = measure(() => s[side].advance(N));
      return { value: m.ms / N, others: m.others };
    });
    const [so, sn] = [JSON.parse(s.old.status()), JSON.parse(s.new.status())];
    check(`${kind} MF (${d1},${d2},${r}) timed sessions at step ${so.step}/${sn.step}: loss`, new Float64Array([sn.loss]), new Float64Array([so.loss]));
    comparePoint(`${kind} MF (${d1},${d2},${r}) timed sessions`, s.old, s.new);
    free(s.old); free(s.new);
  }
}

if (only.has('control')) {
  // A/A: two sessions of the OLD build against each other, same protocol: the noise floor of the
  // ratio on this machine at the moment of the run.
  console.log('\n(0) A/A control: old vs old (two sessions of the old build), same protocol');
  mfItems(pair(natOld, natOld), 'A/A native', minSeconds, [[1000, 1000, 5]]);
  netItem(pair(natOld, natOld), fig2[0], 'A/A Figure 2');
  if (wasmOld) mfItems(pair(wasmOld, wasmOld), 'A/A wasm', minSeconds / 2, [[1000, 1000, 5]]);
}

if (only.has('mf')) {
  console.log(`\n(1) native MF GD step (mf_step.mjs's spec), >= ${minSeconds} s per timed run`);
  mfItems(pair(natOld, natNew), 'native', minSeconds);
}

if (only.has('net')) {
  console.log(`\n(2) native Figure 2 GD step (preset figure2), ${netSteps} steps per timed run`);
  for (const run of fig2) netItem(pair(natOld, natNew), run, 'Figure 2');
}

function netItem(libs, run, kind) {
  const tag = `${kind} ${run.label.split(':')[0]}`;
  const s = { old: new libs.old.Session(netSpec(run, 1e6), {}), new: new libs.new.Session(netSpec(run, 1e6), {}) };
  s.old.advance(2); s.new.advance(2);
  ab(tag, 'ms/step', (side) => {
    const m = measure(() => s[side].advance(netSteps));
    return { value: m.ms / netSteps, others: m.others };
  });
  const [so, sn] = [JSON.parse(s.old.status()), JSON.parse(s.new.status())];
  check(`${tag} timed sessions at step ${so.step}/${sn.step}: loss`, new Float64Array([sn.loss]), new Float64Array([so.loss]));
  comparePoint(`${tag} timed sessions`, s.old, s.new);
}

if (only.has('hvp')) {
  console.log('\n(3) native network HVP and lambda_min/lambda_max (hessian_net.mjs\'s points, 300 GD steps)');
  for (const [name, hs] of Object.entries(HSIZES)) {
    const s = { old: new natOld.Session(hSpec(hs, 300), {}), new: new natNew.Session(hSpec(hs, 300), {}) };
    s.old.advance(300); s.new.advance(300);
    comparePoint(`hvp ${name}: the trained point`, s.old, s.new);
    const q = (side, query) => JSON.parse(s[side].hessian(JSON.stringify(query)));
    q('old', { what: 'trace', probes: 2 }); q('new', { what: 'trace', probes: 2 }); // warm-up
    const reports = { old: [], new: [] };
    const dims = [hs.inputDim, ...hs.widths].join('-');
    ab(`HVP ${name} (${dims}), trace 40 probes`, 'ms/HVP', (side, i) => {
      const m = measure(() => q(side, { what: 'trace', probes: 40, seed: i }));
      reports[side].push(m.out.estimate, m.out.hvps);
      return { value: m.ms / m.out.hvps, others: m.others };
    });
    check(`hvp ${name}: trace estimates and HVP counts of every round`, Float64Array.from(reports.new), Float64Array.from(reports.old));
    const eig = { old: [], new: [] };
    ab(`eigs ${name} both ends, tol 1e-8`, 'ms', (side, i) => {
      const m = measure(() => q(side, { what: 'eigs', which: 'both', method: 'lanczos', tol: 1e-8, seed: i }));
      eig[side].push(m.out.smallest[0].value, m.out.largest[0].value, m.out.hvps);
      return { value: m.ms, others: m.others };
    }, name === 'large' ? eigsRounds : defaultRounds);
    check(`eigs ${name}: lambda_min, lambda_max, HVP count of every round`, Float64Array.from(eig.new), Float64Array.from(eig.old));
    console.log(`    lambda_min ${eig.old[0].toExponential(10)}, lambda_max ${eig.old[1].toExponential(10)}, ${eig.old[2]} HVPs (round 0)`);
  }
}

if (only.has('wasm')) {
  if (wasmOld) {
    console.log(`\n(4) wasm MF GD step (mf_step.mjs's spec), >= ${minSeconds / 2} s per timed run`);
    mfItems(pair(wasmOld, wasmNew), 'wasm', minSeconds / 2);
  } else console.log('\n(4) wasm: skipped (pass --old-wasm DIR --new-wasm DIR)');
}

// ---------------------------------------------------------------- summary
const mins = (performance.now() - t0All) / 60e3;
console.log(`\nsummary (${mins.toFixed(1)} min; medians over clean rounds; ratio = median of the per-round new/old)`);
console.log('| item | old | new | unit | new/old (median of rounds) | IQR | range | best old / best new | best new/old | clean rounds |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
const f = (x) => (x >= 100 ? x.toFixed(1) : x >= 1 ? x.toFixed(3) : x.toFixed(4));
for (const r of items) {
  console.log(`| ${r.label} | ${f(r.medOld)} | ${f(r.medNew)} | ${r.unit} | ${r.ratio.toFixed(3)} | ${r.q1.toFixed(3)}-${r.q3.toFixed(3)} | ${r.min.toFixed(3)}-${r.max.toFixed(3)} | ${f(r.bestOld)} / ${f(r.bestNew)} | ${r.bestRatio.toFixed(3)} | ${r.clean}/${r.rounds} |`);
}
const diffs = checks.filter((c) => !c.same && !c.what.includes('not expected bitwise'));
console.log(diffs.length ? `\nNOT bit-identical: ${diffs.map((c) => c.what).join('; ')}` : `\nold and new bit-identical on all ${checks.filter((c) => !c.what.includes('not expected bitwise')).length} checks`);
const slower = items.filter((r) => r.ratio > 1.03 && !r.label.startsWith('A/A'));
console.log(slower.length ? `new slower than old by > 3% (median ratio): ${slower.map((r) => `${r.label} ${r.ratio.toFixed(3)}`).join('; ')}` : 'no item with a median new/old ratio above 1.03');
if (jsonOut) {
  fs.writeFileSync(jsonOut, JSON.stringify({
    date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, rounds: defaultRounds, eigsRounds,
    builds: Object.fromEntries([natOld, natNew, wasmOld, wasmNew].filter(Boolean).map((b) => [`${b.Session.name}:${b.name}`, { ...b.file, core: b.version }])),
    items, checks,
  }, null, 1));
  console.log(`wrote ${jsonOut}`);
}
