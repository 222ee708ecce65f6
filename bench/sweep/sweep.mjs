// bench/sweep: the sweep measurements of issue 11, in one run (see bench/sweep/README.md).
//
//   node --expose-gc bench/sweep/sweep.mjs [--only scaling,overhead,peer,memory] [--runs 10000]
//        [--rounds 2] [--alone-runs 1000] [--peer-runs N] [--no-ray] [--mem-runs 1e5,1e6] [--quick]
//
// 1. scaling: the 10,000-run sweep (common.mjs smallSweep) through the binding Study
//    (createStudy + advanceAsync + takeRecords) with threads 1 and 2, interleaved rounds; and the
//    TS sweep() API when the package has it.
// 2. overhead: the same runs alone (a Session per concrete spec from sweepTask, advanced to the
//    end, kept values read) from Node, and from Rust (crates/core/examples/sweep_overhead.rs,
//    with the split of a run's row into its parts).
// 3. peer: the same sweep in NumPy with joblib (loky) on 1 and 2 workers, and Ray if its venv is
//    there; the same runs' kept values checked against ours from the same initial factors.
// 4. memory: peak RSS of 10^5- and 10^6-run sweeps (tiny runs) streamed to a file.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpuProbe, fmt, here, loadavg, machine, nativeBackend, root, smallSweep, waitIdle } from './common.mjs';

const args = process.argv.slice(2);
const has = (f) => args.includes(f);
const opt = (name, d) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : d;
};
const quick = has('--quick');
const only = new Set(String(opt('--only', 'scaling,overhead,peer,memory')).split(','));
const RUNS = Number(opt('--runs', quick ? 2000 : 10000));
const ROUNDS = Number(opt('--rounds', quick ? 1 : 2));
const ALONE = Number(opt('--alone-runs', quick ? 300 : 1000));
const PEER_RUNS = Number(opt('--peer-runs', quick ? 400 : 2000));
const MEM_RUNS = String(opt('--mem-runs', quick ? '1e4,1e5' : '1e5,1e6')).split(',').map(Number);
const CHUNK = Number(opt('--chunk', 256));
const WAIT = Number(opt('--wait-idle', 0));
async function quiet(what) {
  if (WAIT <= 0) return;
  const busy = await waitIdle(WAIT);
  console.log(`(before ${what}: other processes ${fmt(busy, 2)} cores busy${busy < 0.3 ? '' : `, still busy after waiting ${WAIT} s`})`);
}
const results = join(here, 'results');
mkdirSync(results, { recursive: true });
const python = process.env.BENCH_SWEEP_PYTHON || join(here, '.venv/bin/python');
const rayPython = process.env.BENCH_SWEEP_RAY_PYTHON || join(here, '.venv-ray/bin/python');

const SEEDS = RUNS / 20;
if (!Number.isInteger(SEEDS)) throw new Error('--runs must be a multiple of 20 (20 settings)');
const spec = smallSweep({ seeds: SEEDS });
writeFileSync(join(results, 'spec.json'), JSON.stringify(spec));
const specText = JSON.stringify(spec);
const out = { machine: machine(), date: new Date().toISOString(), spec, load: { start: loadavg() } };

const m = out.machine;
console.log(`bench/sweep, ${out.date}`);
console.log(`machine: ${m.cpu}, ${m.cores} cores, ${m.simd}, ${m.memGiB} GiB, Linux ${m.kernel}, Node ${m.node}`);
console.log(`load average at start: ${out.load.start.join(' ')}`);
const b = await nativeBackend();
let git = '';
try {
  git = spawnSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
} catch {}
const base = spec.base;
console.log(
  `commit ${git}; sweep: MF ${base.model.d1}x${base.model.d2} rank ${base.model.rank}, GD ${base.steps} steps, recordEvery ${base.recordEvery}; ` +
    `4 etas x 5 init scales x ${SEEDS} seeds = ${RUNS} runs; keep ${spec.keep.map((k) => k.name).join(', ')}; classes ${spec.classes.map((c) => c.name).join(', ')}`,
);

/** Run the sweep (or runs [start, end)) through the binding Study; rows hashed, some kept. */
async function bindingSweep(threads, { start = 0, end = RUNS, keepRuns = null, sweep = spec } = {}) {
  const s = { ...sweep, threads, runs: { start, end } };
  const probe = cpuProbe();
  const t0 = performance.now();
  const st = b.createStudy(JSON.stringify(s), {});
  const h = createHash('sha256');
  let rows = 0;
  let bytes = 0;
  const kept = new Map();
  for (;;) {
    const status = JSON.parse(await st.advanceAsync(CHUNK));
    const text = st.takeRecords();
    if (text) {
      h.update(text);
      bytes += text.length;
      const lines = text.split('\n').filter((x) => x);
      rows += lines.length;
      if (keepRuns) for (const l of lines) {
        const row = JSON.parse(l);
        if (keepRuns.has(row.run)) kept.set(row.run, row);
      }
    }
    if (status.finished) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  return { threads, seconds, rows, bytes, digest: h.digest('hex').slice(0, 16), kept, ...probe() };
}

/** Through the TS API sweep(), when the package exports it. */
async function apiSweep(threads, { start = 0, end = RUNS } = {}) {
  const mod = await import(join(root, 'packages/autobalance/dist/index.js'));
  if (typeof mod.sweep !== 'function') return null;
  const probe = cpuProbe();
  const t0 = performance.now();
  const hnd = mod.sweep(spec, { backend: 'native', threads, runs: { start, end } });
  const h = createHash('sha256');
  let rows = 0;
  for await (const row of hnd.rows) {
    rows++;
    h.update(JSON.stringify(row.kept));
  }
  const table = await hnd.table;
  const seconds = (performance.now() - t0) / 1000;
  return { threads, seconds, rows, settings: table.settings.length, digest: h.digest('hex').slice(0, 16), ...probe() };
}

const median = (xs) => {
  const v = [...xs].sort((a, c) => a - c);
  const n = v.length;
  return n % 2 ? v[(n - 1) / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
};
const cleanNote = (xs) => {
  const worst = Math.max(...xs.map((x) => x.otherCores));
  return worst < 0.2 ? 'clean' : `DISTURBED: other processes kept up to ${fmt(worst, 2)} cores busy`;
};

// ---------------------------------------------------------------------------------------------
// 1. Scaling
let scale = null;
if (only.has('scaling')) {
  await quiet('scaling');
  await bindingSweep(2, { end: Math.min(RUNS, 400) }); // warm-up
  const t = { 1: [], 2: [] };
  for (let k = 0; k < ROUNDS; k++) {
    for (const th of k % 2 ? [2, 1] : [1, 2]) t[th].push(await bindingSweep(th));
  }
  const s1 = median(t[1].map((x) => x.seconds));
  const s2 = median(t[2].map((x) => x.seconds));
  const same = new Set([...t[1], ...t[2]].map((x) => x.digest)).size === 1;
  scale = { t1: s1, t2: s2, speedup: s1 / s2, rows: t[1][0].rows, bytes: t[1][0].bytes, identical: same, runs: [...t[1], ...t[2]].map(({ kept, ...x }) => x) };
  out.scaling = scale;
  console.log(`\n## 1. Scaling: ${RUNS} runs through the binding Study (createStudy + advanceAsync(${CHUNK}) + takeRecords), median of ${ROUNDS} rounds`);
  console.log(`| threads | seconds | ms/run | runs/s | cores busy (ours) | CPU ms/run | speed-up |`);
  console.log(`|---|---|---|---|---|---|---|`);
  for (const th of [1, 2]) {
    const s = th === 1 ? s1 : s2;
    const busy = median(t[th].map((x) => x.ownCores));
    const cpu = median(t[th].map((x) => (1000 * x.ownCores * x.wall) / RUNS));
    console.log(`| ${th} | ${fmt(s)} | ${fmt((1000 * s) / RUNS, 4)} | ${Math.round(RUNS / s)} | ${fmt(busy, 2)} | ${fmt(cpu, 4)} | ${th === 1 ? '1' : `**${fmt(s1 / s2, 2)}x** (goal >= 1.8x)`} |`);
  }
  console.log(`rows: ${scale.rows} (${(scale.bytes / scale.rows).toFixed(0)} bytes each); 1- and 2-thread rows byte-identical: ${same ? 'yes' : 'NO'}; ${cleanNote([...t[1], ...t[2]])}`);

  const api1 = await apiSweep(1);
  if (api1) {
    const ta = { 1: [api1], 2: [await apiSweep(2)] };
    for (let k = 1; k < ROUNDS; k++) for (const th of k % 2 ? [2, 1] : [1, 2]) ta[th].push(await apiSweep(th));
    const a1 = median(ta[1].map((x) => x.seconds));
    const a2 = median(ta[2].map((x) => x.seconds));
    out.scalingApi = { t1: a1, t2: a2, speedup: a1 / a2, runs: [...ta[1], ...ta[2]] };
    console.log(`\nThrough the TS API sweep() (rows iterated, table awaited), median of ${ROUNDS}:`);
    console.log(`| threads | seconds | ms/run | speed-up | API / binding |`);
    console.log(`|---|---|---|---|---|`);
    console.log(`| 1 | ${fmt(a1)} | ${fmt((1000 * a1) / RUNS, 4)} | 1 | ${fmt(a1 / s1, 3)} |`);
    console.log(`| 2 | ${fmt(a2)} | ${fmt((1000 * a2) / RUNS, 4)} | **${fmt(a1 / a2, 2)}x** | ${fmt(a2 / s2, 3)} |`);
    console.log(`${cleanNote([...ta[1], ...ta[2]])}`);
  } else {
    console.log('(the TS sweep() API is not in this build: not measured)');
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Overhead
if (only.has('overhead')) {
  await quiet('overhead');
  console.log(`\n## 2. Overhead of the sweep machinery per run`);
  // Node: the first ALONE runs alone, against the same runs through the sweep on 1 thread.
  const tasks = [];
  for (let i = 0; i < ALONE; i++) tasks.push(JSON.stringify(JSON.parse(b.sweepTask(specText, {}, i)).spec));
  const keepJs = (s) => {
    const res = s.column('residual', 0);
    const ratio = s.column('normRatio', 0);
    const step = s.column('step', 0);
    let final = null;
    for (let j = res.length - 1; j >= 0; j--) if (Number.isFinite(res[j])) { final = res[j]; break; }
    let hit = null;
    for (let j = 0; j < res.length; j++) if (res[j] <= 1e-6) { hit = step[j]; break; }
    let maxRatio = -Infinity;
    let inBounds = 1;
    for (const x of ratio) {
      if (x > maxRatio) maxRatio = x;
      if (!(x >= 0.5 && x <= 2)) inBounds = 0;
    }
    return { final, hit, maxRatio, inBounds };
  };
  const alone = () => {
    const probe = cpuProbe();
    const t0 = performance.now();
    for (const text of tasks) {
      const s = b.createSession(text, {});
      s.advance(base.steps + 1);
      keepJs(s);
    }
    return { seconds: (performance.now() - t0) / 1000, ...probe() };
  };
  const sw = [];
  const al = [];
  for (let k = 0; k < Math.max(ROUNDS, 2); k++) {
    if (k % 2) {
      al.push(alone());
      sw.push(await bindingSweep(1, { end: ALONE }));
    } else {
      sw.push(await bindingSweep(1, { end: ALONE }));
      al.push(alone());
    }
  }
  const sN = median(sw.map((x) => x.seconds));
  const aN = median(al.map((x) => x.seconds));
  out.overheadNode = { runs: ALONE, sweep: sN, alone: aN };
  console.log(`Node (native binding), the first ${ALONE} runs, median of ${sw.length} interleaved rounds:`);
  const cpuOf = (xs) => median(xs.map((x) => (1000 * x.ownCores * x.wall) / ALONE));
  out.overheadNode.sweepCpuMsPerRun = cpuOf(sw);
  out.overheadNode.aloneCpuMsPerRun = cpuOf(al);
  console.log(`| path | ms/run | CPU ms/run |`);
  console.log(`|---|---|---|`);
  console.log(`| sweep, 1 thread (Study, advanceAsync + takeRecords) | ${fmt((1000 * sN) / ALONE, 4)} | ${fmt(cpuOf(sw), 4)} |`);
  console.log(`| alone: createSession(sweepTask spec) + advance + 3 columns read (default parallelism) | ${fmt((1000 * aN) / ALONE, 4)} | ${fmt(cpuOf(al), 4)} |`);
  console.log(`sweep / alone = ${fmt(sN / aN, 3)} (${cleanNote([...sw, ...al])})`);

  // Rust: the example (cargo build --release --features parallel -p autobalance-core --example sweep_overhead).
  const exe = process.env.BENCH_SWEEP_RUST || join(root, 'target/release/examples/sweep_overhead');
  if (existsSync(exe)) {
    const probe = cpuProbe();
    const r = spawnSync(exe, [join(results, 'spec.json'), '--runs', String(RUNS), '--rounds', String(Math.max(3, ROUNDS + 1))], { encoding: 'utf8' });
    const p = probe();
    if (r.status !== 0) {
      console.log(`rust example failed: ${r.stderr}`);
    } else {
      const j = JSON.parse(r.stdout.trim().split('\n').pop());
      out.overheadRust = { ...j, otherCores: p.otherCores };
      const sp = j.split;
      console.log(`\nRust (crates/core/examples/sweep_overhead.rs), ${j.runs} runs, median of ${j.rounds} interleaved rounds:`);
      console.log(`| path | us/run |`);
      console.log(`|---|---|`);
      console.log(`| sweep, 1 thread (Study advance(256) + take_records) | ${fmt(j.sweepUsPerRun, 1)} |`);
      console.log(`| alone: Session::new(concrete spec text) + sequential + advance + kept values | ${fmt(j.aloneUsPerRun, 1)} |`);
      console.log(`| **overhead** | **${fmt(j.overheadUsPerRun, 2)} us/run = ${fmt(100 * j.overheadFraction, 2)}% of a run** (goal < 5%) |`);
      console.log(`CPU time (process, /proc/self/stat; robust to neighbours): sweep ${fmt(j.sweepCpuUsPerRun, 1)} us/run, alone ${fmt(j.aloneCpuUsPerRun, 1)} us/run, ` +
        `overhead ${fmt(j.overheadCpuUsPerRun, 2)} us/run = ${fmt(100 * j.overheadCpuFraction, 2)}%`);
      console.log(`Split of one run (us/run, sequential, the same runs): run_spec ${fmt(sp.runSpecUs, 2)}, spec hash ${fmt(sp.specHashUs, 2)}, ` +
        `values+seeds ${fmt(sp.valuesSeedsUs, 2)}, Session::from_value ${fmt(sp.sessionFromValueUs, 2)} (Session::new from text ${fmt(sp.sessionFromTextUs, 2)}), ` +
        `advance ${fmt(sp.advanceUs, 2)}, kept ${fmt(sp.keptUs, 2)}, row JSON ${fmt(sp.rowJsonUs, 2)}; run_row whole ${fmt(sp.runRowWholeUs, 2)}`);
      console.log(`(other processes: ${fmt(p.otherCores, 2)} cores busy during it)`);
    }
  } else {
    console.log(`(rust example not built: ${exe}; run.sh builds it)`);
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Peer
if (only.has('peer')) {
  await quiet('the peer');
  console.log(`\n## 3. The peer: the same sweep in NumPy, joblib (loky)${existsSync(rayPython) && !has('--no-ray') ? ' and Ray' : ''}`);
  if (!existsSync(python)) {
    console.log(`(no Python at ${python}: run bench/sweep/run.sh, which creates the venv)`);
  } else {
    // The same sweep with fewer seeds per setting (all 20 settings): PEER_RUNS runs.
    if (PEER_RUNS % 20) throw new Error('--peer-runs must be a multiple of 20');
    const pspec = smallSweep({ seeds: PEER_RUNS / 20 });
    const ptext = JSON.stringify(pspec);
    const plan = JSON.parse(b.sweepPlan(ptext, {}));
    const sess = b.createSession(JSON.stringify(base), {});
    const target = Array.from(sess.matrix('target'));
    const etas = plan.axes[0].values[0];
    const [sus, svs] = plan.axes[1].values;
    const settings = [];
    for (const e of etas) for (let j = 0; j < sus.length; j++) settings.push([e, sus[j], svs[j]]);
    const job = {
      d1: base.model.d1, d2: base.model.d2, rank: base.model.rank, steps: base.steps, every: base.recordEvery,
      target, settings, seedsPerSetting: plan.seedsPerSetting, seedBase: plan.seedBase, keep: pspec.keep,
      runStart: 0, runEnd: PEER_RUNS,
    };
    const jobFile = join(results, 'peer-job.json');
    writeFileSync(jobFile, JSON.stringify(job));
    // Correctness: 40 runs spread over the sweep, from the core's initial factors.
    const checkRuns = Array.from({ length: 40 }, (_, i) => Math.floor((i * PEER_RUNS) / 40) + (i % 3));
    const inits = checkRuns.map((run) => {
      const s = b.createSession(JSON.stringify(JSON.parse(b.sweepTask(ptext, {}, run)).spec), {});
      return { run, u0: Array.from(s.matrix('U0')), v0: Array.from(s.matrix('V0')) };
    });
    writeFileSync(join(results, 'peer-check.json'), JSON.stringify(inits));
    const env = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
    const chk = spawnSync(python, [join(here, 'sweep_numpy.py'), jobFile, '--check', join(results, 'peer-check.json')], { encoding: 'utf8', env });
    if (chk.status !== 0) throw new Error(`sweep_numpy.py --check failed: ${chk.stderr}`);
    const pyRows = JSON.parse(chk.stdout);
    const ours = await bindingSweep(2, { end: PEER_RUNS, keepRuns: new Set(checkRuns), sweep: pspec });
    let worstRel = 0; // |ours - numpy| / |numpy| where |numpy| >= 1e-8
    let worstAbs = 0; // |ours - numpy| where |numpy| < 1e-8 (residuals at rounding level)
    let mism = 0;
    for (const pr of pyRows) {
      const r = ours.kept.get(pr.run);
      for (const k of ['final', 'maxRatio']) {
        const a = r.kept[k];
        const c = pr.kept[k];
        if (a == null || c == null) { if (a !== c) mism++; continue; }
        if (Math.abs(c) >= 1e-8) worstRel = Math.max(worstRel, Math.abs(a - c) / Math.abs(c));
        else worstAbs = Math.max(worstAbs, Math.abs(a - c));
      }
      for (const k of ['hit', 'inBounds']) if (r.kept[k] !== pr.kept[k]) mism++;
      if (r.class !== pr.class || r.stop !== pr.stop || r.steps !== pr.steps) mism++;
    }
    const classes = {};
    for (const r of ours.kept.values()) classes[r.class] = (classes[r.class] || 0) + 1;
    const pass = worstRel < 1e-6 && worstAbs < 1e-12 && mism === 0;
    console.log(`Correctness, same run: ${pyRows.length} runs from the core's U0, V0 in NumPy: kept final/maxRatio max rel diff ${worstRel.toExponential(2)} ` +
      `(values >= 1e-8; below: max abs diff ${worstAbs.toExponential(2)}), ${mism} mismatches of hit/inBounds/class/stop/steps ` +
      `(classes of these runs: ${JSON.stringify(classes)}) ${pass ? 'PASS' : 'CHECK'}`);
    out.peerCheck = { runs: pyRows.length, worstRel, worstAbs, mismatches: mism, pass };

    const py = (engine, workers, exe = python) => {
      const probe = cpuProbe();
      const r = spawnSync(exe, [join(here, 'sweep_numpy.py'), jobFile, '--workers', String(workers), '--engine', engine], { encoding: 'utf8', env });
      const p = probe();
      if (r.status !== 0) return { engine, workers, error: r.stderr.slice(-2000) };
      return { ...JSON.parse(r.stdout.trim().split('\n').pop()), wall: p.wall, otherCores: Math.max(0, p.otherCores - 0) };
    };
    // Ours on the same runs (scaling already has the full sweep).
    // Ours on the same sweep, next to the peer's measurements (ours, joblib 1, joblib 2, ours again).
    const o1 = [(await bindingSweep(1, { end: PEER_RUNS, sweep: pspec })).seconds];
    const o2 = [(await bindingSweep(2, { end: PEER_RUNS, sweep: pspec })).seconds];
    const jl = { 1: py('joblib', 1), 2: py('joblib', 2) };
    o2.push((await bindingSweep(2, { end: PEER_RUNS, sweep: pspec })).seconds);
    o1.push((await bindingSweep(1, { end: PEER_RUNS, sweep: pspec })).seconds);
    const ours1 = median(o1);
    const ours2 = median(o2);
    const rows = [
      ['autobalance native (binding Study)', ours1, ours2, null],
      ['NumPy + joblib (loky)', jl[1].seconds, jl[2].seconds, null],
    ];
    out.peer = { runs: PEER_RUNS, ours1, ours2, joblib: jl };
    if (existsSync(rayPython) && !has('--no-ray')) {
      const ry = { 1: py('ray', 1, rayPython), 2: py('ray', 2, rayPython) };
      out.peer.ray = ry;
      rows.push(['NumPy + Ray (tasks of 50 runs; ray.init included)', ry[1].seconds, ry[2].seconds, `ray.init ${fmt(ry[1].startupSeconds, 1)} / ${fmt(ry[2].startupSeconds, 1)} s`]);
      if (ry[1].error || ry[2].error) console.log(`ray failed: ${(ry[1].error || ry[2].error).slice(-500)}`);
    }
    console.log(`The same sweep with ${PEER_RUNS / 20} seeds per setting (${PEER_RUNS} runs), the peer in separate processes (OPENBLAS_NUM_THREADS=1; joblib n_jobs=1 runs in-process), tasks of 50 runs, rows returned to the parent:`);
    console.log(`| engine | 1 worker s | 2 workers s | ms/run (2) | ours / peer, 1 | ours / peer, 2 | note |`);
    console.log(`|---|---|---|---|---|---|---|`);
    for (const [name, a, c, note] of rows) {
      console.log(`| ${name} | ${fmt(a, 2)} | ${fmt(c, 2)} | ${fmt((1000 * c) / PEER_RUNS, 3)} | ${fmt(ours1 / a, 4)} | ${fmt(ours2 / c, 4)} | ${note ?? ''} |`);
    }
    console.log(`(speed: joblib 2 workers / ours 2 threads = ${fmt(jl[2].seconds / ours2, 1)}x; peer classes ${JSON.stringify(jl[2].classes)}; ` +
      `other processes during joblib: ${fmt(Math.max(jl[1].otherCores, jl[2].otherCores), 2)} cores)`);
  }
}

// ---------------------------------------------------------------------------------------------
// 4. Memory
if (only.has('memory')) {
  await quiet('memory');
  console.log(`\n## 4. Memory: tiny runs (MF 4x4 rank 1, 20 steps, recordEvery 5; 100 settings), rows streamed through takeRecords to a file`);
  const time = existsSync('/usr/bin/time');
  out.memory = [];
  const vias = ['binding'];
  const mod = await import(join(root, 'packages/autobalance/dist/index.js'));
  if (typeof mod.sweep === 'function') vias.push('api');
  console.log(`| path | runs | seconds | runs/s | file MB | peak RSS (VmHWM) MB | max RSS (time -v) MB |`);
  console.log(`|---|---|---|---|---|---|---|`);
  for (const via of vias) {
    for (const n of MEM_RUNS) {
      const file = join(results, `mem-${via}-${n}.jsonl`);
      const cmd = [process.execPath, join(here, 'mem.mjs'), '--runs', String(n), '--out', file, '--via', via];
      const r = time
        ? spawnSync('/usr/bin/time', ['-v', ...cmd], { encoding: 'utf8' })
        : spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8' });
      if (r.status !== 0) {
        console.log(`| ${via} | ${n} | failed: ${r.stderr.slice(-300)} |`);
        continue;
      }
      const j = JSON.parse(r.stdout.trim().split('\n').pop());
      const maxrss = time ? Number((r.stderr.match(/Maximum resident set size \(kbytes\): (\d+)/) || [])[1]) : NaN;
      j.maxRSSkB = maxrss;
      out.memory.push(j);
      console.log(`| ${via} | ${n.toExponential(0)} | ${fmt(j.seconds, 1)} | ${Math.round(n / j.seconds)} | ${fmt(j.bytes / 1e6, 1)} | ${fmt(j.vmHWMkB / 1024, 1)} | ${fmt(maxrss / 1024, 1)} |`);
      spawnSync('rm', ['-f', file]);
    }
  }
  const cliBin = join(root, 'packages/autobalance/dist/cli.js');
  const cli = existsSync(cliBin) && readFileSync(cliBin, 'utf8').includes('sweep run');
  if (cli) {
    const rss = (r) => Number((r.stderr.match(/Maximum resident set size \(kbytes\): (\d+)/) || [])[1]);
    const { tinySweep } = await import('./common.mjs');
    for (const n of MEM_RUNS) {
      const dir = join(results, `cli-${n}`);
      spawnSync('rm', ['-rf', dir]);
      const sp = join(results, `cli-spec-${n}.json`);
      writeFileSync(sp, JSON.stringify(tinySweep({ seeds: n / 100 })));
      const timed = (argv) => {
        const t0 = performance.now();
        const r = spawnSync('/usr/bin/time', ['-v', process.execPath, cliBin, ...argv], { encoding: 'utf8', maxBuffer: 1 << 28 });
        return { r, secs: (performance.now() - t0) / 1000, kB: rss(r) };
      };
      const run = timed(['sweep', 'run', '--spec', sp, '--out', dir, '--backend', 'native', '--no-merge']);
      const merge = timed(['sweep', 'merge', '--out', dir]);
      let size = 0;
      try {
        size = statSync(join(dir, 'runs.jsonl')).size;
      } catch {}
      out.memory.push({ via: 'cli', runs: n, runSeconds: run.secs, runMaxRSSkB: run.kB, mergeSeconds: merge.secs, mergeMaxRSSkB: merge.kB, runsJsonlBytes: size, status: [run.r.status, merge.r.status] });
      const ok = (x) => (x.r.status === 0 ? fmt(x.kB / 1024, 1) : `failed (${x.r.status}): ${x.r.stderr.slice(-200)}`);
      console.log(`| cli \`sweep run --no-merge\` (local blocks) | ${n.toExponential(0)} | ${fmt(run.secs, 1)} | ${Math.round(n / run.secs)} | - | - | ${ok(run)} |`);
      console.log(`| cli \`sweep merge\` (runs.jsonl, table, report) | ${n.toExponential(0)} | ${fmt(merge.secs, 1)} | - | ${fmt(size / 1e6, 1)} | - | ${ok(merge)} |`);
      spawnSync('rm', ['-rf', dir, sp]);
    }
  }
  const by = (via) => out.memory.filter((x) => x.via === via && x.vmHWMkB);
  for (const via of vias) {
    const xs = by(via);
    if (xs.length >= 2) console.log(`${via}: peak RSS ${fmt(xs[xs.length - 1].vmHWMkB / 1024, 1)} MB at ${xs[xs.length - 1].runs} runs vs ${fmt(xs[0].vmHWMkB / 1024, 1)} MB at ${xs[0].runs}: ratio ${fmt(xs[xs.length - 1].vmHWMkB / xs[0].vmHWMkB, 3)}`);
  }
}

out.load.end = loadavg();
console.log(`\nload average at end: ${out.load.end.join(' ')}`);
writeFileSync(join(results, 'sweep.json'), JSON.stringify(out, (k, v) => (v instanceof Map ? undefined : v), 2));
console.log(`(all numbers: bench/sweep/results/sweep.json)`);
