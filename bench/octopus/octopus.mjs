// bench/octopus: gradient descent on the octopus function (issue 15, docs/octopus.md), native
// and wasm through the TS package (packages/autobalance/dist: loadBackend), against a NumPy peer,
// in one process run. See bench/octopus/README.md.
//
//   node bench/octopus/octopus.mjs [--quick] [--reps N] [--min-seconds S] [--wait-idle S]
//        [--seeds N] [--no-wasm] [--no-peer] [--json FILE] [--only plain,exact,where]
//
// 1. plain float GD steps/s (d = 5 and 10, L = 3, eta = 1/(4L)): every timed unit is the same
//    N-step trajectory from the same start on every side (ours: a session advanced N steps, rows
//    at 0 and N only; the peer: bench/octopus/octopus_numpy.py, NumPy vectorized and plain Python);
//    the first 1000 iterates checked against the peer's entrywise (1e-12 relative).
// 2. exact (logScale) GD, d = 10 at the presets' largest L (3): wall time of runs through all 10
//    saddles, and the speed-up over plain stepping (plain ns/step x effective steps); at d = 5,
//    L = 2 (the largest preset L at which plain float GD escapes every saddle before it
//    underflows) plain and exact runs of the same steps timed both ways.
// 3. where this sits: ns/step and cycles/step against the arithmetic of one step, and the cost
//    of one advance(1) call (the JS -> core boundary).
// Load: every timed run is probed with bench/sweep/common.mjs (cpuProbe: cores kept busy by other
// processes); medians are over the clean runs (other processes < 0.2 cores) when at least half
// are clean, else over all runs with a DISTURBED mark.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuProbe, fmt, loadavg, machine, root, waitIdle } from '../sweep/common.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const has = (f) => args.includes(f);
const opt = (name, d) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : d;
};
const quick = has('--quick');
const only = new Set(String(opt('--only', 'plain,exact,where')).split(','));
const REPS = Number(opt('--reps', quick ? 3 : 7));
const MIN = Number(opt('--min-seconds', quick ? 0.15 : 0.5));
const WAIT = Number(opt('--wait-idle', 0));
const SEEDS = Number(opt('--seeds', quick ? 4 : 20));
const N_TRAJ = Number(opt('--traj-steps', 1000));
const CHECK = N_TRAJ; // the whole timed trajectory is checked
const SKIP_B = 3000; // regime B starts from the iterate at this step
const L_PLAIN = 3;
const L_BOTH = 2;
const GAMMA = 1;
const TAU = Math.E;
const CLEAN = 0.2;
const python = process.env.BENCH_PYTHON || join(here, '.venv/bin/python');
const peerScript = join(here, 'octopus_numpy.py');

const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  const n = v.length;
  return n === 0 ? NaN : n % 2 ? v[(n - 1) / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
};
/** Median over the clean runs when at least half are clean; the note says which. */
function robust(runs, key = 'seconds') {
  const clean = runs.filter((r) => r.otherCores < CLEAN);
  const use = clean.length * 2 >= runs.length ? clean : runs;
  return {
    value: median(use.map((r) => r[key])),
    min: Math.min(...runs.map((r) => r[key])),
    clean: clean.length,
    of: runs.length,
    worstOther: Math.max(...runs.map((r) => r.otherCores)),
    disturbed: use !== clean,
  };
}
const cleanMark = (r) => (r.disturbed ? `DISTURBED (${r.clean}/${r.of} clean, others up to ${fmt(r.worstOther, 2)} cores)` : `${r.clean}/${r.of} clean`);
async function quiet(what) {
  if (WAIT <= 0) return;
  const busy = await waitIdle(WAIT);
  console.log(`(before ${what}: other processes ${fmt(busy, 2)} cores busy${busy < 0.3 ? '' : `, still busy after waiting ${WAIT} s`})`);
}

// ------------------------------------------------------------------------------------- setup
const dist = join(root, 'packages/autobalance/dist/index.js');
if (!existsSync(dist)) {
  console.error('bench/octopus: no packages/autobalance/dist: run (cd packages/autobalance && npx tsc -p tsconfig.json)');
  process.exit(1);
}
const api = await import(dist);
const backends = [];
for (const name of has('--no-wasm') ? ['native'] : ['native', 'wasm']) {
  try {
    backends.push(await api.loadBackend(name));
  } catch (e) {
    console.log(`(${name}: not loaded: ${String(e.message || e).split('\n')[0]}; skipped)`);
  }
}
if (!backends.length) throw new Error('no backend loaded');
const peerOk = !has('--no-peer') && existsSync(python);
if (!has('--no-peer') && !peerOk) console.log(`(no Python at ${python}: run bench/octopus/run.sh; peer skipped)`);

const out = { machine: machine(), date: new Date().toISOString(), load: { start: loadavg() }, options: { REPS, MIN, SEEDS, N_TRAJ, quick } };
let git = '';
try {
  git = spawnSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
} catch {}
out.commit = git;
const m = out.machine;
const mhz = (readFileSync('/proc/cpuinfo', 'utf8').match(/^cpu MHz\s*:\s*([\d.]+)/m) || [])[1];
const artifacts = ['packages/autobalance/native/autobalance.node', 'packages/autobalance/wasm/autobalance_wasm_bg.wasm']
  .filter((p) => existsSync(join(root, p)))
  .map((p) => `${p.split('/').pop()} ${statSync(join(root, p)).mtime.toISOString().slice(0, 16)}`);
console.log(`bench/octopus, ${out.date}, commit ${git}`);
console.log(`machine: ${m.cpu}, ${m.cores} cores, ${m.simd}, ${m.memGiB} GiB, ${mhz} MHz, Linux ${m.kernel}, Node ${m.node}`);
console.log(`builds: ${artifacts.join(', ')}; backends: ${backends.map((b) => `${b.name} (core ${b.coreVersion})`).join(', ')}`);
console.log(`load average at start: ${out.load.start.join(' ')}; options: reps ${REPS}, min ${MIN} s per timed run, ${SEEDS} seeds, trajectories of ${N_TRAJ} steps`);

const eta = (L) => 1 / (4 * L);
const spec = ({ d, L, seed, steps, every = steps, arithmetic = 'float', x = null }) => ({
  model: { kind: 'octopus', d, L, gamma: GAMMA, tau: TAU, arithmetic },
  init: x ? { kind: 'point', x } : { kind: 'uniform', low: -1, high: 1, seed },
  schedule: { kind: 'constant', eta: eta(L) },
  steps,
  recordEvery: every,
});
const create = (b, s) => b.createSession(JSON.stringify(s), {});
const free = (s) => s && typeof s.free === 'function' && s.free();
const last = (s, col) => {
  const c = s.column(col, 0);
  return c[c.length - 1];
};

function peer(job) {
  const r = spawnSync(python, [peerScript], { input: JSON.stringify(job), encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`peer failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

// ------------------------------------------------------------------- 1. plain float GD steps
const D_LIST = [5, 10];
const PEERS = peerOk ? ['numpy', 'python'] : [];
const plain = {};
if (only.has('plain')) {
  console.log(`\n## 1. Plain float GD on the octopus, L = ${L_PLAIN}, eta = 1/(4L), gamma = 1, tau = e, init uniform [-1,1]^d seed 1`);
console.log(`Each timed unit: the same ${N_TRAJ}-step trajectory from x0 (ours: a fresh session per unit, rows at 0 and N only, created outside the timing).`);
}
// Regime A: from the uniform start (seed 1), steps 1..N: the first escapes, every number normal.
// Regime B: from the iterate at step SKIP_B (given as init.point): GD stuck at a saddle with the
// trailing coordinates at +-2^-1074 (a subnormal times 1 - 2 eta L = 1/2 rounds back to itself:
// plain float GD's fate), so every step computes with subnormals.
for (const [regime, d] of only.has('plain') ? D_LIST.flatMap((d) => [['A', d], ['B', d]]) : []) {
  let base = { d, L: L_PLAIN, seed: 1 };
  if (regime === 'B') {
    const s = create(backends[0], spec({ ...base, steps: SKIP_B }));
    s.advance(SKIP_B);
    base = { ...base, x: [...s.matrix('x')] };
    free(s);
  }
  // Correctness: the whole N-step trajectory on every side.
  const x0 = [...create(backends[0], spec({ ...base, steps: 1 })).matrix('x0')];
  const ours = {};
  for (const b of backends) {
    const s = create(b, spec({ ...base, steps: CHECK }));
    const it = new Float64Array(CHECK * d);
    for (let t = 0; t < CHECK; t++) {
      s.advance(1);
      it.set(s.matrix('x'), t * d);
    }
    ours[b.name] = { it, saddle: last(s, 'saddle') };
    free(s);
  }
  const cmp = (a, b) => {
    let worst = 0;
    let same = 0;
    for (let k = 0; k < a.length; k++) {
      if (Object.is(a[k], b[k]) || a[k] === b[k]) same++;
      const den = Math.abs(b[k]);
      const e = a[k] === b[k] ? 0 : den > 0 ? Math.abs(a[k] - b[k]) / den : Infinity;
      if (e > worst) worst = e;
    }
    return { worst, same, n: a.length, pass: worst <= 1e-12 };
  };
  const checks = [];
  const ref = ours[backends[0].name].it;
  for (const b of backends.slice(1)) checks.push([`${b.name} vs ${backends[0].name}`, cmp(ours[b.name].it, ref)]);
  for (const impl of PEERS) {
    const p = peer({ impl, d, L: L_PLAIN, gamma: GAMMA, tau: TAU, eta: eta(L_PLAIN), x0, steps: CHECK, what: 'check' });
    for (const b of backends) checks.push([`${b.name} vs ${impl}`, cmp(ours[b.name].it, Float64Array.from(p.iterates))]);
  }
  console.log(`\n${regime}, d = ${d}: x0 = [${x0.map((v) => (Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(2) : v.toFixed(4))).join(', ')}]; ${CHECK} iterates (entrywise |a - b| / |b|): ` +
    checks.map(([w, c]) => `${w} ${c.pass ? 'PASS' : 'FAIL'} worst ${c.worst.toExponential(1)}, ${c.same}/${c.n} bit-identical`).join('; '));

  // Timing, interleaved rounds with rotating order.
  await quiet(`plain ${regime} d = ${d}`);
  const sides = [...backends.map((b) => b.name), ...PEERS];
  const units = {};
  const runs = Object.fromEntries(sides.map((s) => [s, []]));
  const trajSpec = spec({ ...base, steps: N_TRAJ });
  // Calibrate the units per timed run for our backends (doubling until >= 0.1 s).
  for (const b of backends) {
    const w = create(b, trajSpec);
    w.advance(N_TRAJ);
    free(w);
    let k = 1;
    for (;;) {
      const ss = Array.from({ length: k }, () => create(b, trajSpec));
      const t0 = performance.now();
      for (const s of ss) s.advance(N_TRAJ);
      const el = (performance.now() - t0) / 1000;
      ss.forEach(free);
      if (el >= 0.1 || k >= 1 << 16) {
        units[b.name] = Math.max(1, Math.ceil((k * MIN) / el));
        break;
      }
      k *= 2;
    }
  }
  let final = {};
  for (let r = 0; r < REPS; r++) {
    const order = sides.map((_, i) => sides[(i + r) % sides.length]);
    for (const side of order) {
      const b = backends.find((x) => x.name === side);
      if (b) {
        const ss = Array.from({ length: units[side] }, () => create(b, trajSpec));
        const probe = cpuProbe();
        const t0 = performance.now();
        for (const s of ss) s.advance(N_TRAJ);
        const el = (performance.now() - t0) / 1000;
        const p = probe();
        final[side] = [...ss[0].matrix('x')];
        ss.forEach(free);
        runs[side].push({ seconds: el / units[side], otherCores: p.otherCores });
      } else {
        const probe = cpuProbe();
        const res = peer({ impl: side, d, L: L_PLAIN, gamma: GAMMA, tau: TAU, eta: eta(L_PLAIN), x0, steps: N_TRAJ, what: 'time', minSeconds: MIN });
        const p = probe();
        final[side] = res.x;
        out.peerVersions = { numpy: res.numpy, python: res.python };
        runs[side].push({ seconds: res.seconds, otherCores: p.otherCores });
      }
    }
  }
  const row = {};
  for (const side of sides) row[side] = robust(runs[side]);
  const ns = (side) => (row[side].value / N_TRAJ) * 1e9;
  const finalSame = sides.every((s) => final[s].every((v, j) => v === final[sides[0]][j]));
  plain[`${regime}${d}`] = { row, runs, ns: Object.fromEntries(sides.map((s) => [s, ns(s)])), finalSame, checks };
  console.log(`| ${regime}, d = ${d} | ns/step (median) | steps/s | fastest ns/step | vs native | clean runs |`);
  console.log('|---|---|---|---|---|---|');
  for (const side of sides) {
    const label = side === 'numpy' ? 'NumPy (vectorized)' : side === 'python' ? 'Python floats' : side;
    console.log(`| ${label} | ${fmt(ns(side), 1)} | ${(1e9 / ns(side)).toExponential(3)} | ${fmt((row[side].min / N_TRAJ) * 1e9, 1)} | ${side === 'native' ? '1' : `${fmt(ns(side) / ns('native'), 2)}x`} | ${cleanMark(row[side])} |`);
  }
  console.log(`final points after ${N_TRAJ} steps identical on every side: ${finalSame ? 'yes' : 'NO'}`);
}
out.plain = plain;

// ----------------------------------------------------------------- 2. exact (logScale) runs
console.log(`\n## 2. Exact (logScale) GD`);
let exactOk = only.has('exact');
try {
  const s = create(backends[0], spec({ d: 10, L: L_PLAIN, seed: 0, steps: 10, arithmetic: 'logScale' }));
  free(s);
} catch (e) {
  exactOk = false;
  console.log(`(logScale refused by this build: ${String(e.message || e).split('\n')[0]}; section skipped)`);
}
const BIG = 1e12;
if (exactOk) {
  // 2a. d = 10, L = 3: runs through all 10 saddles (steps = the last escape, from a first run).
  const d = 10;
  const targets = [];
  for (let seed = 0; seed < SEEDS; seed++) {
    const per = {};
    for (const b of backends) {
      const s = create(b, spec({ d, L: L_PLAIN, seed, steps: BIG, arithmetic: 'logScale' }));
      s.advance(BIG);
      per[b.name] = Array.from({ length: d }, (_, k) => last(s, `escape${k + 1}`));
      per[b.name].underflowAt = last(s, 'underflowAt');
      free(s);
    }
    const e = per[backends[0].name];
    const agree = backends.every((b) => per[b.name].every((v, k) => v === e[k]));
    targets.push({ seed, escapes: [...e], underflowAt: e.underflowAt, agree });
  }
  const effs = targets.map((t) => t.escapes[d - 1]);
  console.log(`d = ${d}, L = ${L_PLAIN}, seeds 0..${SEEDS - 1}: last escape (effective steps) min ${Math.min(...effs).toExponential(3)}, median ${median(effs).toExponential(3)}, max ${Math.max(...effs).toExponential(3)}; ` +
    `plain float GD's underflow at iterations ${Math.min(...targets.map((t) => t.underflowAt))}..${Math.max(...targets.map((t) => t.underflowAt))}; escapes identical on every backend: ${targets.every((t) => t.agree) ? 'yes' : 'NO'}`);
  await quiet('exact d = 10');
  const ex = Object.fromEntries(backends.map((b) => [b.name, []]));
  // Units per timed round: the seed set repeated k times, k found by doubling until >= 0.05 s
  // (a round must be long against /proc/stat's 10 ms ticks), then scaled to MIN / 2.
  const makeAll = (b, k) => {
    const ss = [];
    for (let i = 0; i < k; i++) for (const t of targets) ss.push(create(b, spec({ d, L: L_PLAIN, seed: t.seed, steps: t.escapes[d - 1], arithmetic: 'logScale' })));
    return ss;
  };
  const kx = {};
  for (const b of backends) {
    for (let k = 1; ; k *= 2) {
      const ss = makeAll(b, k);
      const t0 = performance.now();
      for (const s of ss) s.advance(BIG);
      const el = (performance.now() - t0) / 1000;
      ss.forEach(free);
      if (el >= 0.05 || k >= 1 << 12) {
        kx[b.name] = Math.max(1, Math.ceil((k * MIN) / 2 / el));
        break;
      }
    }
  }
  for (let r = 0; r < REPS; r++) {
    const order = backends.map((_, i) => backends[(i + r) % backends.length]);
    for (const b of order) {
      const ss = makeAll(b, kx[b.name]);
      const probe = cpuProbe();
      const t0 = performance.now();
      for (const s of ss) s.advance(BIG);
      const el = (performance.now() - t0) / 1000;
      const p = probe();
      ss.forEach((s, i) => {
        if (last(s, `escape${d}`) !== targets[i % targets.length].escapes[d - 1]) throw new Error('escape changed between runs');
      });
      ss.forEach(free);
      ex[b.name].push({ seconds: el / ss.length, otherCores: p.otherCores });
    }
  }
  const meanEff = effs.reduce((a, c) => a + c, 0) / effs.length;
  out.exact10 = { targets, runs: ex, meanEff };
  console.log(`| backend | ms per exact run (advance only; median over rounds of the mean over ${SEEDS} seeds) | effective steps per run (mean) | plain ns/step (part 1, A, d = 10) | plain stepping would take | speed-up | clean rounds |`);
  console.log('|---|---|---|---|---|---|---|');
  for (const b of backends) {
    const r = robust(ex[b.name]);
    const nsStep = plain.A10?.ns[b.name] ?? NaN;
    const plainS = (nsStep * meanEff) / 1e9;
    console.log(`| ${b.name} | ${fmt(r.value * 1e3, 3)} | ${meanEff.toExponential(3)} | ${fmt(nsStep, 1)} | ${fmt(plainS, 1)} s | ${(plainS / r.value).toExponential(2)} | ${cleanMark(r)} |`);
    out.exact10[b.name] = { ms: r.value * 1e3, plainSeconds: plainS, speedup: plainS / r.value, ...r };
  }
  const worst = targets.reduce((a, t) => (t.escapes[d - 1] > a.escapes[d - 1] ? t : a));
  console.log(`largest: seed ${worst.seed}, ${worst.escapes[d - 1].toExponential(3)} effective steps; escapes ${worst.escapes.join(', ')}`);

  // 2b. d = 5, L = 2: both ways on runs that plain GD finishes (every saddle escaped before underflow).
  const d5 = 5;
  const both = [];
  for (let seed = 0; both.length < SEEDS && seed < 20 * SEEDS; seed++) {
    const s = create(backends[0], spec({ d: d5, L: L_BOTH, seed, steps: 20000, every: 1 }));
    s.advance(20000);
    const k = s.column('saddle', 0).findIndex((v) => v === d5 + 1);
    const fe = Array.from({ length: d5 }, (_, j) => last(s, `escape${j + 1}`));
    free(s);
    if (k < 0) continue;
    const e = create(backends[0], spec({ d: d5, L: L_BOTH, seed, steps: k, arithmetic: 'logScale' }));
    e.advance(BIG);
    const ee = Array.from({ length: d5 }, (_, j) => last(e, `escape${j + 1}`));
    free(e);
    both.push({ seed, steps: k, floatEscapes: fe, exactEscapes: ee, agree: ee[d5 - 1] === k && ee.every((v, j) => v === fe[j]) });
  }
  console.log(`\nd = ${d5}, L = ${L_BOTH}: ${both.length} starts on which plain float GD reaches the minimum (steps ${Math.min(...both.map((x) => x.steps))}..${Math.max(...both.map((x) => x.steps))}); ` +
    `all ${d5} escape iterations of the exact engine = plain float GD's (escape columns; the last = the first row at saddle ${d5 + 1}) on every one: ${both.every((x) => x.agree) ? 'yes' : 'NO'}`);
  await quiet('both ways d = 5');
  const bw = {};
  for (const b of backends) for (const a of ['float', 'logScale']) bw[`${b.name} ${a}`] = [];
  const keys = Object.keys(bw);
  const reps5 = {};
  for (const key of keys) {
    const [bn, a] = key.split(' ');
    const b = backends.find((x) => x.name === bn);
    let k = 1;
    for (;;) {
      const ss = [];
      for (let i = 0; i < k; i++) for (const x of both) ss.push(create(b, spec({ d: d5, L: L_BOTH, seed: x.seed, steps: x.steps, arithmetic: a })));
      const t0 = performance.now();
      for (const s of ss) s.advance(BIG);
      const el = (performance.now() - t0) / 1000;
      ss.forEach(free);
      if (el >= 0.05 || k >= 1 << 14) {
        reps5[key] = Math.max(1, Math.ceil((k * MIN) / 2 / el));
        break;
      }
      k *= 2;
    }
  }
  for (let r = 0; r < REPS; r++) {
    const order = keys.map((_, i) => keys[(i + r) % keys.length]);
    for (const key of order) {
      const [bn, a] = key.split(' ');
      const b = backends.find((x) => x.name === bn);
      const ss = [];
      for (let i = 0; i < reps5[key]; i++) for (const x of both) ss.push(create(b, spec({ d: d5, L: L_BOTH, seed: x.seed, steps: x.steps, arithmetic: a })));
      const probe = cpuProbe();
      const t0 = performance.now();
      for (const s of ss) s.advance(BIG);
      const el = (performance.now() - t0) / 1000;
      const p = probe();
      ss.forEach(free);
      bw[key].push({ seconds: el / ss.length, otherCores: p.otherCores });
    }
  }
  const meanSteps = both.reduce((a, x) => a + x.steps, 0) / both.length;
  console.log(`| backend | plain float us/run | exact us/run | exact speed-up (direct) | plain ns/step here | clean rounds (float / exact) |`);
  console.log('|---|---|---|---|---|---|');
  out.both5 = { both, runs: bw };
  for (const b of backends) {
    const f = robust(bw[`${b.name} float`]);
    const e = robust(bw[`${b.name} logScale`]);
    console.log(`| ${b.name} | ${fmt(f.value * 1e6, 1)} | ${fmt(e.value * 1e6, 1)} | ${fmt(f.value / e.value, 2)}x | ${fmt((f.value / meanSteps) * 1e9, 1)} | ${cleanMark(f)} / ${cleanMark(e)} |`);
    out.both5[b.name] = { floatUs: f.value * 1e6, exactUs: e.value * 1e6, speedup: f.value / e.value };
  }
  console.log(`(mean ${fmt(meanSteps, 0)} steps per run; a run here is one session advanced to its last escape, rows at 0 and the end)`);
}

// ------------------------------------------------------------------- 3. where this sits
if (only.has('where') && plain.A10) {
console.log(`\n## 3. Where the plain step sits`);
await quiet('call overhead');
const calls = {};
for (const b of backends) {
  // advance(1) N times on fresh sessions (regime A, d = 10) against advance(N) once: the
  // difference is the cost of a call across the JS -> core boundary (Status JSON included).
  const runsC = [];
  const sp = spec({ d: 10, L: L_PLAIN, seed: 1, steps: N_TRAJ });
  const K = quick ? 20 : 100;
  for (let r = 0; r < REPS; r++) {
    const ss = Array.from({ length: K }, () => create(b, sp));
    const probe = cpuProbe();
    const t0 = performance.now();
    for (const s of ss) for (let i = 0; i < N_TRAJ; i++) s.advance(1);
    const el = (performance.now() - t0) / 1000;
    const p = probe();
    ss.forEach(free);
    runsC.push({ seconds: el / (K * N_TRAJ), otherCores: p.otherCores });
  }
  calls[b.name] = robust(runsC);
}
out.calls = calls;
const ghz = Number(mhz) / 1000;
// Arithmetic of one plain step at dimension d (what any implementation must do): per coordinate
// |x|, the region compare, the gradient (2-3 flops), the loss term (2 flops), the update
// (2 flops) and the tracking compares: ~10 floating-point operations per coordinate, on 3 arrays
// of d doubles that stay in L1.
for (const key of Object.keys(plain)) {
  const d = Number(key.slice(1));
  const flops = 10 * d;
  const peak = ghz * 16; // Zen 4: 2 x 256-bit FMA pipes = 16 f64 flops per cycle per core
  const bound = flops / peak; // ns
  const scalar = flops / ghz; // ns at one flop per cycle (no SIMD)
  const n = plain[key].ns;
  console.log(`${key[0]}, d = ${d}: ~${flops} flops and ${3 * 8 * d} bytes (L1-resident) per step: ${fmt(bound, 2)} ns at this core's f64 peak (${fmt(peak, 0)} GFLOP/s), ${fmt(scalar, 1)} ns at one flop per cycle; ` +
    backends.map((b) => `${b.name} ${fmt(n[b.name], 1)} ns/step = ${fmt(n[b.name] * ghz, 0)} cycles, ${fmt(n[b.name] / bound, 0)}x the peak bound`).join('; '));
}
console.log(`one advance(1) call (A, d = 10; a step plus the call): ` + backends.map((b) => `${b.name} ${fmt(calls[b.name].value * 1e9, 0)} ns, ${fmt(calls[b.name].value * 1e9 - plain.A10.ns[b.name], 0)} ns more than a step inside advance(N) (${cleanMark(calls[b.name])})`).join('; '));
}
out.load.end = loadavg();
console.log(`\nload average at end: ${out.load.end.join(' ')}`);
const jsonPath = opt('--json', join(here, 'results', 'octopus.json'));
mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(jsonPath, JSON.stringify(out, (k, v) => (v instanceof Float64Array ? undefined : v), 1));
console.log(`results: ${jsonPath}`);
