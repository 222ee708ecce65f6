#!/usr/bin/env node
// One GD step of matrix factorization, f(U,V) = 1/2 ||U V^T - M*||_F^2 (loss included), timed on
// the native addon, the wasm module (in this Node process) and NumPy, in one run. Prints a table
// of ms/step and the ratios the requirement sets (issue 2, Performance), writes
// bench/results/mf_step.json, and checks in the same run that 10 steps on each backend match
// NumPy's from the same explicit data.
//
// Usage: node bench/mf_step.mjs [--quick] [--min-seconds S] [--reps N] [--shapes 1000x1000x5,...]
//                               [--no-single-thread] [--no-numpy] [--no-wasm] [--wasm-threads T]
// --wasm-threads T: also the threaded wasm module with T workers (experimental; built by
// AUTOBALANCE_WASM_THREADS=1 bash scripts/build-wasm.sh), timed as `wasmThreads`.
// bench/run.sh sets up the Python venv and calls this; see bench/README.md.

import { spawn, spawnSync } from 'node:child_process';
import readline from 'node:readline';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
// The build outputs (docs/ARCHITECTURE.md); BENCH_NATIVE / BENCH_WASM_DIR point elsewhere.
const nativePath = process.env.BENCH_NATIVE || path.join(root, 'packages/autobalance/native/autobalance.node');
const wasmDir = process.env.BENCH_WASM_DIR || path.join(root, 'packages/autobalance/wasm');
const wasmJsPath = path.join(wasmDir, 'autobalance_wasm.js');
const wasmBinPath = path.join(wasmDir, 'autobalance_wasm_bg.wasm');
const python = process.env.BENCH_PYTHON || path.join(here, '.venv/bin/python');
const resultsDir = path.join(here, 'results');

// ---------------------------------------------------------------- options
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const flag = (name) => argv.includes(name);
const quick = flag('--quick');
const minSeconds = Number(opt('--min-seconds', quick ? 0.3 : 1.0));
const reps = Number(opt('--reps', quick ? 3 : 5));
const shapes = opt('--shapes', '500x500x5,1000x1000x5,2000x1000x50')
  .split(',')
  .map((s) => s.split('x').map(Number));
const serveMode = opt('--serve', null); // internal: child process serving native timings
const waitIdle = Number(opt('--wait-idle', 0)); // wait up to S seconds for a quiet machine

// ---------------------------------------------------------------- helpers
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const linspace = (a, b, n) => Array.from({ length: n }, (_, i) => (n === 1 ? a : a + ((b - a) * i) / (n - 1)));

/** Busy and total CPU jiffies of the whole machine (all cores), from /proc/stat. */
function machineCpu() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] || 0);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** Run fn() and return wall ms, the cores this process kept busy, and the cores busy machine-wide. */
function measure(fn) {
  const m0 = machineCpu();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = fn();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const m1 = machineCpu();
  const own = (c.user + c.system) / 1e3 / ms;
  let machine = null;
  if (m0 && m1 && m1.total > m0.total) machine = ((m1.busy - m0.busy) / (m1.total - m0.total)) * os.cpus().length;
  return { ms, own, machine, out };
}

function loadSpec(d1, d2, r, steps) {
  return JSON.stringify({
    model: { kind: 'matrixFactorization', d1, d2, rank: r },
    target: { kind: 'random', singularValues: linspace(1, r, r), seed: 1 },
    init: { kind: 'gaussian', stdU: 0.01, stdV: 0.01, seed: 2 },
    schedule: { kind: 'constant', eta: 1e-4 },
    steps,
    recordEvery: steps, // records at step 0 and at the end only: metric cost negligible
  });
}

// ---------------------------------------------------------------- backends
function loadNative() {
  if (!fs.existsSync(nativePath)) return { error: `missing ${path.relative(root, nativePath)}` };
  try {
    const mod = createRequire(import.meta.url)(nativePath);
    return { mod, Session: mod.NativeSession, version: mod.coreVersion?.() };
  } catch (e) {
    return { error: String(e.message || e) };
  }
}

async function loadWasm() {
  if (!fs.existsSync(wasmJsPath) || !fs.existsSync(wasmBinPath)) {
    return { error: `missing ${path.relative(root, wasmJsPath)} / _bg.wasm` };
  }
  try {
    const mod = await import(pathToFileURL(wasmJsPath).href);
    const bytes = fs.readFileSync(wasmBinPath);
    try {
      mod.initSync({ module: bytes });
    } catch (e) {
      // older wasm-bindgen: initSync(bytes)
      mod.initSync(bytes);
    }
    return { mod, Session: mod.WasmSession, version: mod.coreVersion?.() };
  } catch (e) {
    return { error: String(e.message || e) };
  }
}

/** The threaded wasm module with `n` workers, through the package's loader (dist/). */
async function loadWasmThreads(n) {
  try {
    const { loadWasmThreadsBackend } = await import(pathToFileURL(path.join(root, 'packages/autobalance/dist/wasm-threads-node.js')).href);
    const b = await loadWasmThreadsBackend({ threads: n });
    // `new Session(spec, buffers)` as LocalTimer calls it: a constructor returning the binding's session.
    return { Session: function Session(spec, buffers) { return b.createSession(spec, buffers); }, version: b.coreVersion };
  } catch (e) {
    return { error: String(e.message || e) };
  }
}

/** Size and time of the build outputs, to tell which build was measured. */
function artifacts() {
  return Object.fromEntries(
    [nativePath, wasmBinPath]
      .filter((p) => fs.existsSync(p))
      .map((p) => [path.relative(root, p), { bytes: fs.statSync(p).size, mtime: fs.statSync(p).mtime.toISOString() }]),
  );
}

function freeSession(s) {
  if (s && typeof s.free === 'function') s.free(); // wasm-bindgen: release the Rust object now
}

/** One backend at one shape, in this process: prepare() warms up and picks N so that one run of
 * advance(N) takes >= minSeconds; run() times advance(N). */
class LocalTimer {
  constructor(backend, shape) {
    this.backend = backend;
    this.shape = shape;
  }
  async prepare() {
    const [d1, d2, r] = this.shape;
    const s = (this.s = new this.backend.Session(loadSpec(d1, d2, r, 1e9), {})); // 1e9 steps: never reached
    s.advance(2); // warm-up (also evaluates and caches the gradient at the current iterate)
    let n = 1;
    let ms;
    for (;;) {
      ms = measure(() => s.advance(n)).ms;
      if (ms >= 100 || n >= 1 << 20) break;
      n *= 2;
    }
    this.n = Math.max(1, Math.ceil((minSeconds * 1e3) / (ms / n)));
    return { n: this.n };
  }
  async run() {
    const m = measure(() => this.s.advance(this.n));
    const st = JSON.parse(m.out);
    if (st.divergedAt != null || st.loss == null || !Number.isFinite(st.loss)) throw new Error(`run diverged: ${m.out}`);
    return { msPerStep: m.ms / this.n, own: m.own, machine: m.machine };
  }
  async close() {
    const st = JSON.parse(this.s.status());
    freeSession(this.s);
    this.s = null;
    return { finalStep: st.step, finalLoss: st.loss };
  }
}

/** The same protocol with a child process (NumPy, or native with RAYON_NUM_THREADS=1): one JSON
 * request line, one JSON answer line (mf_step.py serve / this file --serve native). */
class Remote {
  constructor(cmd, args, env) {
    this.p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
    this.waiting = [];
    this.p.on('exit', (code) => this.waiting.splice(0).forEach(({ reject }) => reject(new Error(`${cmd} exited (${code})`))));
    readline.createInterface({ input: this.p.stdout }).on('line', (line) => {
      const w = this.waiting.shift();
      if (!w) return;
      const x = JSON.parse(line);
      if (x.error) w.reject(new Error(x.error));
      else w.resolve(x);
    });
  }
  call(req) {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.p.stdin.write(JSON.stringify(req) + '\n');
    });
  }
  end() {
    this.p.stdin.end();
  }
}

class RemoteTimer {
  constructor(remote, shape) {
    this.remote = remote;
    this.shape = shape;
  }
  async prepare() {
    const x = await this.remote.call({ cmd: 'prepare', shape: this.shape, minSeconds });
    this.n = x.n;
    return x;
  }
  run() {
    return this.remote.call({ cmd: 'run' });
  }
  close() {
    return this.remote.call({ cmd: 'close' });
  }
}

/** Child-process side of Remote for the native backend. */
async function serveNative() {
  const nat = loadNative();
  let timer = null;
  for await (const line of readline.createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    const req = JSON.parse(line);
    let out;
    try {
      if (nat.error) throw new Error(nat.error);
      if (req.cmd === 'prepare') {
        timer = new LocalTimer(nat, req.shape);
        out = await timer.prepare();
      } else if (req.cmd === 'run') out = await timer.run();
      else if (req.cmd === 'close') out = await timer.close();
      else if (req.cmd === 'info') out = { version: nat.version, threads: process.env.RAYON_NUM_THREADS };
      else throw new Error(`unknown cmd ${req.cmd}`);
    } catch (e) {
      out = { error: String(e.message || e) };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  }
}

const OTHERS_MAX = 0.2;

/** Time every backend at one shape, interleaving their runs (round-robin, rotating the order):
 * a load from elsewhere that comes and goes then hits all backends alike. */
async function timeShape(timers, shape) {
  const names = Object.keys(timers);
  const prep = {};
  for (const k of names) prep[k] = await timers[k].prepare();
  const runs = Object.fromEntries(names.map((k) => [k, []]));
  for (let i = 0; i < reps; i++) {
    for (let j = 0; j < names.length; j++) {
      const k = names[(i + j) % names.length];
      runs[k].push(await timers[k].run());
    }
  }
  const out = {};
  for (const k of names) {
    const fin = await timers[k].close();
    const all = runs[k];
    // A run is clean when other processes kept at most OTHERS_MAX cores busy during it (machine-wide
    // busy cores minus this backend's own); the median is over the clean runs when there are
    // at least half of them, else over all runs (and flagged).
    const others = (x) => (x.machine == null ? 0 : Math.max(0, x.machine - x.own));
    const clean = all.filter((x) => others(x) <= OTHERS_MAX);
    const rs = clean.length * 2 >= all.length ? clean : all;
    out[k] = {
      shape,
      stepsPerRun: prep[k].n,
      msPerStep: median(rs.map((x) => x.msPerStep)),
      msPerStepMin: Math.min(...all.map((x) => x.msPerStep)),
      msPerStepAll: all.map((x) => x.msPerStep),
      othersCoresBusyAll: all.map(others),
      cleanRuns: clean.length,
      coresBusy: median(rs.map((x) => x.own)),
      machineCoresBusy: median(rs.map((x) => x.machine ?? NaN)),
      ...fin,
    };
  }
  return out;
}

// ---------------------------------------------------------------- correctness
const CHECK_TOL = 1e-10; // max relative difference to NumPy after 10 steps (expected ~1e-14)
/** Seeded uniform/normal generator (mulberry32 + Box-Muller): the same data for every backend. */
function rng(seed) {
  let a = seed >>> 0;
  const u = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

function checkCorrectness(backends) {
  const [d1, d2, r, steps, eta] = [50, 40, 3, 10, 0.02];
  const g = rng(12345);
  const u0 = Float64Array.from({ length: d1 * r }, () => 0.3 * g());
  const v0 = Float64Array.from({ length: d2 * r }, () => 0.3 * g());
  const m = Float64Array.from({ length: d1 * d2 }, () => g());
  const spec = JSON.stringify({
    model: { kind: 'matrixFactorization', d1, d2, rank: r },
    target: { kind: 'explicit', matrix: { rows: d1, cols: d2 } },
    init: { kind: 'explicit', u0: { rows: d1, cols: r }, v0: { rows: d2, cols: r } },
    schedule: { kind: 'constant', eta },
    steps,
    recordEvery: 1,
  });
  const py = spawnSync(python, [path.join(here, 'mf_step.py'), 'check'], {
    input: JSON.stringify({ d1, d2, r, eta, steps, u0: [...u0], v0: [...v0], m: [...m] }),
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  if (py.status !== 0) throw new Error(`numpy check failed: ${py.stderr}`);
  const ref = JSON.parse(py.stdout);
  const maxAbs = (a) => a.reduce((x, y) => Math.max(x, Math.abs(y)), 0);
  const relDiff = (a, b) => {
    // normwise: max |a - b| / max |b|; and entrywise: max |a - b| / |b|
    let d = 0;
    let e = 0;
    for (let i = 0; i < b.length; i++) {
      const x = Math.abs(a[i] - b[i]);
      d = Math.max(d, x);
      if (b[i] !== 0) e = Math.max(e, x / Math.abs(b[i]));
    }
    return { normwise: d / maxAbs(b), entrywise: e };
  };
  const out = { shape: [d1, d2, r], steps, eta, numpyLoss: [ref.loss[0], ref.loss[steps]] };
  const finals = {};
  for (const [name, b] of Object.entries(backends)) {
    if (!b.Session) continue;
    // Buffers are consumed by value: pass copies so each backend sees the same data.
    const s = new b.Session(spec, { 'init.u0': u0.slice(), 'init.v0': v0.slice(), 'target.matrix': m.slice() });
    try {
      const st = JSON.parse(s.advance(steps));
      const U = s.matrix('U');
      const V = s.matrix('V');
      const loss = s.column('loss', 0);
      finals[name] = { U, V };
      const lossRel = Math.max(...ref.loss.map((l, i) => Math.abs(loss[i] - l) / Math.abs(l)));
      out[name] = {
        step: st.step,
        U: relDiff(U, ref.u),
        V: relDiff(V, ref.v),
        lossColumnMaxRel: lossRel,
        lossRows: loss.length,
      };
    } finally {
      freeSession(s);
    }
  }
  if (finals.native && finals.wasm) {
    let same = 0;
    for (let i = 0; i < finals.native.U.length; i++) same += finals.native.U[i] === finals.wasm.U[i] ? 1 : 0;
    out.nativeVsWasm = { U: relDiff(finals.wasm.U, finals.native.U), identicalEntriesU: `${same}/${finals.native.U.length}` };
  }
  return out;
}

// ---------------------------------------------------------------- machine and versions
function machine() {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  let flags = '';
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    cpu = info.match(/^model name\s*:\s*(.*)$/m)?.[1] ?? cpu;
    flags = info.match(/^flags\s*:\s*(.*)$/m)?.[1] ?? '';
  } catch {}
  const field = (name) => {
    try {
      return fs.readFileSync('/proc/cpuinfo', 'utf8').match(new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm'))?.[1];
    } catch {
      return undefined;
    }
  };
  const family = field('cpu family');
  const model = field('model');
  const hypervisor = flags.split(' ').includes('hypervisor');
  const simd = ['avx2', 'fma', 'avx512f', 'avx512dq', 'avx512vl'].filter((f) => flags.split(' ').includes(f));
  const rustc = spawnSync('rustc', ['--version'], { encoding: 'utf8' }).stdout?.trim();
  let load = null;
  try {
    load = fs.readFileSync('/proc/loadavg', 'utf8').trim();
  } catch {}
  return {
    cpu,
    cpuFamilyModel: family && model ? `family ${family} model ${model}` : undefined,
    virtualized: hypervisor,
    cores: os.cpus().length,
    simd,
    memGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    rustc,
    loadavg: load,
    rayonThreads: process.env.RAYON_NUM_THREADS ?? `default (${os.cpus().length})`,
  };
}

/** Cores kept busy machine-wide over `ms` milliseconds (this process sleeps meanwhile). */
async function machineBusy(ms = 1000) {
  const a = machineCpu();
  await new Promise((res) => setTimeout(res, ms));
  const b = machineCpu();
  if (!a || !b || b.total === a.total) return 0;
  return ((b.busy - a.busy) / (b.total - a.total)) * os.cpus().length;
}

/** With --wait-idle S: wait up to S seconds until other processes keep < 0.15 cores busy. */
async function waitForQuiet() {
  if (!(waitIdle > 0)) return;
  const end = Date.now() + waitIdle * 1e3;
  let b;
  while ((b = await machineBusy(2000)) > 0.15 && Date.now() < end) {
    process.stderr.write(`waiting for a quiet machine (others keep ${b.toFixed(2)} cores busy) ...\n`);
    await new Promise((res) => setTimeout(res, 10000));
  }
}

// ---------------------------------------------------------------- table
const f = (x, d = 2) => (x == null || !Number.isFinite(x) ? '-' : x.toFixed(d));
function table(rows, headers) {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => '| ' + cells.map((c, i) => String(c).padEnd(w[i])).join(' | ') + ' |';
  return [line(headers), '|' + w.map((n) => '-'.repeat(n + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------- main
async function main() {
  if (serveMode === 'native') return serveNative(); // child process (the parent sets RAYON_NUM_THREADS)

  const mach = machine();
  await waitForQuiet();
  const busyBefore = await machineBusy();
  console.log(
    `machine: ${mach.cpu} (${mach.cpuFamilyModel ?? '?'}${mach.virtualized ? ', virtual machine' : ''}), ` +
      `${mach.cores} cores [${mach.simd.join(' ')}], ${mach.memGiB} GiB, ${mach.os}`,
  );
  console.log(`node ${mach.node}, ${mach.rustc ?? 'rustc ?'}, load average ${mach.loadavg}`);
  if (busyBefore > 0.2) {
    console.log(`WARNING: other processes keep ~${busyBefore.toFixed(2)} cores busy: timings will be skewed`);
  }

  const artifactsAtStart = artifacts();
  const nat = loadNative();
  const wasm = flag('--no-wasm') ? { error: 'skipped (--no-wasm)' } : await loadWasm();
  const wasmThreadsN = Number(opt('--wasm-threads', 0));
  const wasmThreads = wasmThreadsN > 0 ? await loadWasmThreads(wasmThreadsN) : null;
  if (wasmThreads) console.log(`wasmThreads: ${wasmThreads.error ? 'NOT AVAILABLE: ' + wasmThreads.error : `core ${wasmThreads.version}, ${wasmThreadsN} workers`}`);
  console.log(`native: ${nat.error ? 'NOT AVAILABLE: ' + nat.error : 'core ' + nat.version}`);
  console.log(`wasm:   ${wasm.error ? 'NOT AVAILABLE: ' + wasm.error : 'core ' + wasm.version}`);
  const haveNumpy = !flag('--no-numpy') && fs.existsSync(python);
  if (!haveNumpy && !flag('--no-numpy')) console.log(`numpy: NOT AVAILABLE (${python} missing: run bench/run.sh)`);

  // correctness first: a wrong kernel's speed means nothing
  let check = null;
  if (haveNumpy && (nat.Session || wasm.Session)) {
    check = checkCorrectness({ native: nat, wasm });
    console.log(`\ncorrectness: ${check.steps} GD steps at (${check.shape}) from explicit U0, V0, M* (eta ${check.eta}), vs NumPy`);
    for (const name of ['native', 'wasm']) {
      const c = check[name];
      if (!c) continue;
      console.log(
        `  ${name.padEnd(6)} final U max rel diff ${c.U.normwise.toExponential(2)} (entrywise ${c.U.entrywise.toExponential(2)}), ` +
          `V ${c.V.normwise.toExponential(2)}, loss column (${c.lossRows} rows) ${c.lossColumnMaxRel.toExponential(2)}`,
      );
    }
    const worst = Math.max(...['native', 'wasm'].filter((k) => check[k]).flatMap((k) => [check[k].U.normwise, check[k].V.normwise, check[k].lossColumnMaxRel]));
    check.pass = worst <= CHECK_TOL;
    console.log(`  ${check.pass ? 'PASS' : 'FAIL'}: worst ${worst.toExponential(2)} (tolerance ${CHECK_TOL})`);
    if (check.nativeVsWasm) {
      console.log(`  native vs wasm: U max rel diff ${check.nativeVsWasm.U.normwise.toExponential(2)}, identical entries ${check.nativeVsWasm.identicalEntriesU}`);
    }
  }

  // ---- timings: every backend at one shape, runs interleaved
  const single = nat.Session && !flag('--no-single-thread');
  const native1 = single
    ? new Remote(process.execPath, [fileURLToPath(import.meta.url), '--serve', 'native'], { RAYON_NUM_THREADS: '1' })
    : null;
  const py = haveNumpy ? new Remote(python, [path.join(here, 'mf_step.py'), 'serve'], {}) : null;
  const np = py ? await py.call({ cmd: 'info' }) : null;
  const results = [];
  const progress = (s) => process.stderr.write(s);
  for (const shape of shapes) {
    const timers = {};
    if (nat.Session) timers.native = new LocalTimer(nat, shape);
    if (wasm.Session) timers.wasm = new LocalTimer(wasm, shape);
    if (wasmThreads?.Session) timers.wasmThreads = new LocalTimer(wasmThreads, shape);
    if (native1) timers.native1 = new RemoteTimer(native1, shape);
    if (py) timers.numpy = new RemoteTimer(py, shape);
    // With --wait-idle, a shape whose runs were mostly disturbed by other processes is timed
    // again (up to 3 attempts) after waiting for a quiet machine.
    let res;
    for (let attempt = 1; ; attempt++) {
      await waitForQuiet();
      progress(`timing (${shape}) on ${Object.keys(timers).join(', ')} ... `);
      res = { shape, attempt, ...(await timeShape(timers, shape)) };
      const disturbed = Object.keys(timers).filter((k) => res[k].cleanRuns * 2 < res[k].msPerStepAll.length);
      if (!disturbed.length || !(waitIdle > 0) || attempt >= 3) break;
      progress(`disturbed by other processes (${disturbed.join(', ')}): again\n`);
    }
    progress(Object.keys(timers).map((k) => `${k} ${f(res[k].msPerStep, 3)}`).join(', ') + ' ms/step\n');
    results.push(res);
    globalThis.gc?.();
  }
  native1?.end();
  if (py) {
    progress('machine references with NumPy (read bandwidth, GEMM) ...\n');
    np.references = await py.call({ cmd: 'references' });
    py.end();
  }
  const busyAfter = await machineBusy();

  // ---- the table
  const rows = results.map((res) => {
    const [d1, d2, r] = res.shape;
    const flops = 6 * d1 * d2 * r;
    const n = res.native?.msPerStep;
    const w = res.wasm?.msPerStep;
    const p = res.numpy?.msPerStep;
    res.numpyOverNative = p / n;
    res.wasmOverNative = w / n;
    res.nativeGflops = flops / (n * 1e6);
    res.goalNumpyOverNative = r <= 5 ? 1.5 : 1.0;
    return [
      `(${d1},${d2},${r})`,
      f(n, 3),
      f(w, 3),
      f(p, 3),
      `${f(p / n)} (>= ${res.goalNumpyOverNative})`,
      `${f(w / n)} (<= 2.5)`,
      f(res.nativeGflops, 1),
    ];
  });
  console.log(`\nms per GD step (median of ${reps} runs, each >= ${minSeconds} s; loss computed every step):\n`);
  console.log(table(rows, ['shape (d1,d2,r)', 'native ms/step', 'wasm ms/step', 'numpy ms/step', 'numpy/native', 'wasm/native', 'native GFLOP/s']));

  if (wasmThreads?.Session) {
    const rowsT = results.map((res) => [`(${res.shape})`, f(res.wasm?.msPerStep, 3), f(res.wasmThreads?.msPerStep, 3), f(res.wasm?.msPerStep / res.wasmThreads?.msPerStep), f(res.wasmThreads?.coresBusy, 2)]);
    console.log(`\nthreaded wasm module, ${wasmThreadsN} workers (median ms per step):\n`);
    console.log(table(rowsT, ['shape (d1,d2,r)', 'wasm ms/step', 'wasmThreads ms/step', 'wasm/wasmThreads', 'wasmThreads cores busy (process)']));
  }

  const best = results.map((res) => {
    const [n, w, p] = ['native', 'wasm', 'numpy'].map((k) => res[k]?.msPerStepMin);
    return [`(${res.shape})`, f(n, 3), f(w, 3), f(p, 3), f(p / n), f(w / n)];
  });
  console.log(`\nthe same, best of the ${reps} runs of each (least disturbed by other processes):\n`);
  console.log(table(best, ['shape (d1,d2,r)', 'native ms/step', 'wasm ms/step', 'numpy ms/step', 'numpy/native', 'wasm/native']));

  // ---- where the time goes
  const ref = np?.references;
  const rows2 = results.map((res) => {
    const [d1, d2, r] = res.shape;
    const bytes = 8 * d1 * d2;
    const flops = 6 * d1 * d2 * r;
    const n = res.native?.msPerStep;
    const bound = ref ? Math.max(bytes / (ref.readGBps * 1e6), flops / (ref.gemmGflops * 1e6)) : NaN;
    res.boundMs = bound;
    return [
      `(${d1},${d2},${r})`,
      f(res.native1?.msPerStep, 3),
      f(res.native1?.msPerStep / n),
      f(res.native?.coresBusy, 2),
      f(res.wasm?.msPerStep / res.native1?.msPerStep),
      f(bytes / (n * 1e6), 1),
      f(bound, 3),
      f((bound / n) * 100, 0) + '%',
      f(res.numpy?.coresBusy, 2),
    ];
  });
  console.log(
    `\nwhere the time goes (limits measured in this run with NumPy: read ${f(ref?.readGBps, 1)} GB/s, ` +
      `f64 GEMM ${f(ref?.gemmGflops, 1)} GFLOP/s; bound = max(8 d1 d2 / bandwidth, 6 d1 d2 r / GEMM rate)):\n`,
  );
  console.log(
    table(rows2, ['shape', 'native 1-thread ms', 'native speed-up 1->' + mach.cores, 'native cores busy', 'wasm/native-1-thread', 'native GB/s of M*', 'bound ms', 'native % of bound', 'numpy cores busy']),
  );
  console.log(
    `\nnumpy ${np?.numpy ?? '-'} (${np?.blas?.configuration ?? np?.blas?.name ?? '?'}; runtime core ${np?.blas?.coreName ?? '?'}, ` +
      `${np?.blas?.threads ?? '?'} threads), python ${np?.python ?? '-'}; native threads: ${mach.rayonThreads}`,
  );
  if (busyAfter > 0.2 || busyBefore > 0.2) {
    console.log(`WARNING: other processes kept ~${Math.max(busyBefore, busyAfter).toFixed(2)} cores busy around this run`);
  }
  const clean = results.flatMap((res) =>
    ['native', 'wasm', 'wasmThreads', 'native1', 'numpy'].filter((k) => res[k]).map((k) => `${k} ${res[k].cleanRuns}/${res[k].msPerStepAll.length}`),
  );
  console.log(`runs with other processes below ${OTHERS_MAX} cores (medians use these when >= half): ${clean.join(', ')}`);
  const noisy = results.flatMap((res) =>
    ['native', 'wasm', 'native1', 'numpy'].filter((k) => res[k] && res[k].cleanRuns * 2 < res[k].msPerStepAll.length).map((k) => `${k} (${res.shape})`),
  );
  if (noisy.length) console.log(`WARNING: other processes were busy during most runs of: ${noisy.join('; ')}`);

  if (JSON.stringify(artifacts()) !== JSON.stringify(artifactsAtStart)) {
    console.log('WARNING: the native or wasm build output changed during this run: run it again');
  }

  fs.mkdirSync(resultsDir, { recursive: true });
  const out = {
    date: new Date().toISOString(),
    machine: mach,
    machineBusyCores: { before: busyBefore, after: busyAfter },
    versions: { core: nat.version ?? wasm.version, node: process.version, numpy: np?.numpy, python: np?.python, blas: np?.blas },
    artifacts: artifactsAtStart,
    settings: { minSeconds, reps, eta: 1e-4, init: 'gaussian 0.01', target: 'random, singular values linspace(1, r)' },
    references: ref,
    correctness: check,
    results,
  };
  const file = path.join(resultsDir, 'mf_step.json');
  fs.writeFileSync(file, JSON.stringify(out, null, 2));
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
  if (check && !check.pass) process.exitCode = 2;
}

main().catch((e) => {
  console.error(e?.stack || e);
  process.exit(1);
});
