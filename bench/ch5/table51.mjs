// Table 5.1 (Du 2019 thesis, ch. 5) in one run: the full sweep of the `table51` preset (36 cells x
// 5000 Theorem 5.4 initializations = 180,000 GD runs) natively on the machine's cores, the same on
// the wasm backend (worker_threads), and the same computation vectorized in NumPy
// (table51_numpy.py); then the NumPy implementation as an oracle of single runs (the core's
// initial points, outcome and deciding step per run), and the cells of the three sides compared.
// See bench/ch5/README.md. Not part of scripts/test.sh.
//
//   node bench/ch5/table51.mjs [--seeds N] [--threads T] [--workers W] [--no-wasm] [--no-numpy]
//        [--wasm-seeds N] [--oracle-runs N] [--json FILE] [--wait-idle S]
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { cpuProbe, fmt, here as sweepHere, loadavg, machine, root, waitIdle } from '../sweep/common.mjs';

const here = join(sweepHere, '..', 'ch5');
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const flag = (name) => args.includes(`--${name}`);
const SEEDS = Number(opt('seeds', 5000));
const WASM_SEEDS = Number(opt('wasm-seeds', SEEDS));
const THREADS = Number(opt('threads', 2));
const WORKERS = Number(opt('workers', 2));
const ORACLE_RUNS = Number(opt('oracle-runs', 100));
const PY = process.env.BENCH_PYTHON ?? join(here, '.venv', 'bin', 'python');

const ab = await import(join(root, 'packages/autobalance/dist/index.js'));
const preset = await ab.presetSpec('table51', { backend: 'native' });
const base = preset.sweep.spec;
const specWith = (seeds) => ({ ...base, seeds: { ...base.seeds, count: seeds } });

const m = machine();
console.log(`machine: ${m.cpu}, ${m.cores} cores (${m.simd}), ${m.memGiB} GiB, Linux ${m.kernel}, Node ${m.node}`);
console.log(`load average at start: ${loadavg().join(' ')}`);
const b = base.base;
console.log(
  `table51: k ${JSON.stringify(base.axes[0].values)} x r ${JSON.stringify(base.axes[1].values)} x ${SEEDS} seeds, p = ${b.model.p}, eta = ${b.schedule.eta}, steps = ${b.steps}, ||a*|| = ${b.teacher.aStar.norm}`,
);
const waitS = Number(opt('wait-idle', 0));
const result = { machine: m, seeds: SEEDS, spec: specWith(SEEDS), sides: {} };

/** The cells of a table: {k, r, global, spurious, other, runs}. */
function cellsOf(table) {
  return table.settings.map((s) => ({
    k: s.values['model.k'],
    r: s.values['teacher.aStar.r'],
    runs: s.runs,
    global: s.classes.global?.count ?? 0,
    spurious: s.classes.spurious?.count ?? 0,
    other: s.classes.other?.count ?? 0,
    decidedMax: s.kept.decidedAt?.max ?? null,
  }));
}

async function runSweep(backend, seeds, options) {
  if (waitS > 0) await waitIdle(waitS);
  const probe = cpuProbe();
  const h = ab.sweep(specWith(seeds), { backend, ...options });
  const table = await h.table;
  const p = probe();
  return { seconds: p.wall, ownCores: p.ownCores, otherCores: p.otherCores, runs: table.plan.runs, complete: table.complete, cells: cellsOf(table) };
}

// 1. Native, every core.
console.log(`\n[native] ${THREADS} threads ...`);
const native = await runSweep('native', SEEDS, { threads: THREADS });
result.sides.native = native;
console.log(`[native] ${native.runs} runs in ${fmt(native.seconds, 2)} s (${fmt(native.runs / native.seconds, 0)} runs/s), this process kept ${fmt(native.ownCores, 2)} cores busy, others ${fmt(native.otherCores, 2)}`);

// 2. wasm (worker_threads).
if (!flag('no-wasm')) {
  console.log(`\n[wasm] ${WORKERS} workers, ${WASM_SEEDS} seeds per cell ...`);
  try {
    const wasm = await runSweep('wasm', WASM_SEEDS, { workers: WORKERS });
    result.sides.wasm = wasm;
    console.log(`[wasm] ${wasm.runs} runs in ${fmt(wasm.seconds, 2)} s (${fmt(wasm.runs / wasm.seconds, 0)} runs/s), cores ${fmt(wasm.ownCores, 2)}, others ${fmt(wasm.otherCores, 2)}`);
    const perRun = (s) => s.seconds / s.runs;
    console.log(`[wasm] time per run wasm / native = ${fmt(perRun(wasm) / perRun(native), 2)}`);
    if (WASM_SEEDS === SEEDS) {
      const same = wasm.cells.every((c, i) => c.global === native.cells[i].global && c.spurious === native.cells[i].spurious);
      console.log(`[wasm] every cell's counts equal native's: ${same ? 'yes' : 'NO'}`);
      result.sides.wasm.sameCountsAsNative = same;
    }
  } catch (e) {
    console.log(`[wasm] not measured: ${e.message}`);
  }
}

// 3. NumPy, one process, the same computation (a run ends at its deciding iterate when the
// preset's runs do, model.stopWhenDecided; the outcome is the union of the two rules, as the core's).
const pyReq = (extra) => ({
  mode: 'table',
  K: base.axes[0].values,
  R: base.axes[1].values,
  seeds: SEEDS,
  p: b.model.p,
  eta: b.schedule.eta,
  steps: b.steps,
  aNorm: b.teacher.aStar.norm,
  vNorm: b.init.vNorm ?? 1,
  earlyStop: b.model.stopWhenDecided === true,
  alt: false,
  seed: 12345,
  ...extra,
});
function python(req) {
  const probe = cpuProbe();
  const r = spawnSync(PY, [join(here, 'table51_numpy.py')], { input: JSON.stringify(req), maxBuffer: 1 << 28, env: { ...process.env } });
  const p = probe();
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return { out: JSON.parse(r.stdout.toString()), wall: p.wall, childCores: p.childCores, otherCores: p.otherCores };
}
if (!flag('no-numpy')) {
  if (waitS > 0) await waitIdle(waitS);
  console.log(`\n[numpy] ${PY} ...`);
  try {
    const { out, wall, childCores, otherCores } = python(pyReq({}));
    const cells = out.cells.map((c) => ({ k: c.k, r: c.r, runs: SEEDS, global: c.global, spurious: c.spurious, other: c.undecided, decidedMax: c.decidedMax }));
    result.sides.numpy = { seconds: out.seconds, wall, childCores, otherCores, runs: cells.length * SEEDS, cells };
    console.log(`[numpy] ${cells.length * SEEDS} runs in ${fmt(out.seconds, 2)} s (process ${fmt(wall, 2)} s, ${fmt(childCores, 2)} cores, others ${fmt(otherCores, 2)}); numpy / native = ${fmt(out.seconds / native.seconds, 2)}`);
  } catch (e) {
    console.log(`[numpy] not measured: ${e.message}`);
  }
}

// 4. The cells side by side: ours (native), NumPy (other random draws: agreement within sampling
//    error, a two-sample z statistic per cell), the thesis.
const THESIS = {
  25: [0.5, 0.55, 0.73, 1, 1, null],
  36: [0.5, 0.53, 0.66, 0.89, 1, 1],
  49: [0.5, 0.53, 0.61, 0.78, 1, 1],
  64: [0.5, 0.51, 0.59, 0.71, 0.89, 1],
  81: [0.5, 0.53, 0.57, 0.66, 0.81, 0.97],
  100: [0.5, 0.5, 0.57, 0.63, 0.75, 0.9],
};
const R = base.axes[1].values;
console.log('\n| k | r | native P(global) | undecided | NumPy P(global) | undecided | z (native - NumPy) | thesis |');
console.log('|---|---|---|---|---|---|---|---|');
let chiNp = 0;
let nNp = 0;
for (let i = 0; i < native.cells.length; i++) {
  const c = native.cells[i];
  const np = result.sides.numpy?.cells[i];
  const p1 = c.global / c.runs;
  let z = null;
  if (np) {
    const p2 = np.global / np.runs;
    const pb = (c.global + np.global) / (c.runs + np.runs);
    const se = Math.sqrt(pb * (1 - pb) * (1 / c.runs + 1 / np.runs));
    z = se > 0 ? (p1 - p2) / se : 0;
    chiNp += z * z;
    nNp += se > 0 ? 1 : 0;
  }
  const th = THESIS[c.k]?.[R.indexOf(c.r)];
  console.log(`| ${c.k} | ${c.r} | ${fmt(p1, 4)} | ${c.other} | ${np ? fmt(np.global / np.runs, 4) : '-'} | ${np ? np.other : '-'} | ${fmt(z, 2)} | ${th ?? '-'} |`);
}
if (nNp > 0) {
  console.log(`native vs NumPy: sum of z^2 = ${fmt(chiNp, 1)} over ${nNp} cells with variance (chi^2_${nNp}: mean ${nNp}, 99th percentile ~${fmt(nNp + 2.326 * Math.sqrt(2 * nNp), 0)})`);
  result.nativeVsNumpy = { chi2: chiNp, cells: nNp };
}

// 5. Oracle: the core's own initial points (sweepTask: the concrete run spec; a session's v_0, a_0,
//    wStarDirection, aStar), run by the NumPy implementation: same outcome and deciding step per run.
if (!flag('no-numpy') && ORACLE_RUNS > 0) {
  const be = await ab.loadBackend('native');
  const pick = [
    [25, 4],
    [81, 25],
    [100, 16],
    [49, 0],
  ];
  const settingOf = (k, r) => base.axes[0].values.indexOf(k) * R.length + R.indexOf(r);
  const runs = [];
  const ids = [];
  for (const [k, r] of pick) {
    for (let j = 0; j < Math.min(ORACLE_RUNS, SEEDS); j++) {
      const run = settingOf(k, r) * SEEDS + j;
      const task = await ab.sweepTask(specWith(SEEDS), run, { backend: 'native' });
      const s = be.createSession(JSON.stringify(task.spec), {});
      const v0 = [...s.matrix('v_0')];
      const a0 = [...s.matrix('a_0')];
      const ws = [...s.matrix('wStarDirection')].map((x) => x * (task.spec.teacher.wStarNorm ?? 1));
      const as = [...s.matrix('aStar')];
      s.advance(1e9);
      const outcome = s.column('outcome', 0);
      const decided = s.column('decidedAt', 0);
      runs.push({ wStar: ws, aStar: as, v0, a0 });
      ids.push({ k, r, run, outcome: outcome[outcome.length - 1], decidedAt: decided[decided.length - 1] });
    }
  }
  const { out } = python({ mode: 'points', runs, eta: b.schedule.eta, steps: b.steps });
  let same = 0;
  let sameStep = 0;
  let altSame = 0;
  let altBoth = 0;
  const diffs = [];
  out.runs.forEach((o, i) => {
    const c = ids[i];
    const dec = Number.isFinite(c.decidedAt) ? c.decidedAt : null;
    if (o.outcome === c.outcome) same++;
    else diffs.push({ ...c, numpy: o });
    if (o.decidedAt === dec) sameStep++;
    if (o.alt !== 0 && c.outcome !== 0) {
      altBoth++;
      if (o.alt === c.outcome) altSame++;
    }
  });
  console.log(`\n[oracle] ${ids.length} runs (${Math.min(ORACLE_RUNS, SEEDS)} of each of ${pick.map(([k, r]) => `(${k}, ${r})`).join(' ')}), the core's initial points run by NumPy:`);
  console.log(`[oracle] same outcome: ${same}/${ids.length}; same deciding step: ${sameStep}/${ids.length}; the independent (alpha, beta) regions agree on ${altSame}/${altBoth} runs both decide`);
  for (const d of diffs.slice(0, 5)) console.log(`[oracle] differs: ${JSON.stringify(d)}`);
  result.oracle = { runs: ids.length, sameOutcome: same, sameStep, altSame, altBoth };
}

mkdirSync(join(here, 'results'), { recursive: true });
const file = opt('json', join(here, 'results', 'table51.json'));
writeFileSync(file, JSON.stringify(result, null, 1));
console.log(`\nload average at end: ${loadavg().join(' ')}; written ${file}`);
