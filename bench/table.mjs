#!/usr/bin/env node
// The machine table of issue 17: every hot path against its peer, measured in the same run, two
// runs each, and the goal beside it. Regenerates the table in bench/README.md and README.md (between
// `<!-- bench-table:begin -->` and `<!-- bench-table:end -->`) from the benchmarks' own JSON output:
// nothing in it is typed by hand.
//
//   node bench/table.mjs --run      # runs the benchmarks twice each (~15-20 min), then writes
//   node bench/table.mjs            # only rewrites the table from bench/results/table/*.json
//   node bench/table.mjs --run --only mf,figure2    # some of them (mf, figure2, backends, hessian)
//   node bench/table.mjs --run --only hessian --runs 1   # only run 1 of each (run 2's JSON is kept)
//   node bench/table.mjs --run --only hessian --from 2   # only run 2 of each (run 1's JSON is kept)
//
// The benchmarks (each prints its own details; read bench/README.md):
//   mf       bench/mf_step.mjs --shapes 100x100x5,1000x1000x5,1000x1000x50,1000x1000x100 (native,
//            wasm, native on 1 thread, NumPy; the machine's read bandwidth and GEMM rate)
//   figure2  bench/figure2.mjs (the Figure 2 network's GD step, native vs PyTorch float64)
//   backends bench/figure2_backends.mjs (the same step, native vs wasm)
//   hessian  bench/hessian_net.mjs --sizes large (lambda_min and lambda_max of the 111,000-parameter
//            network's Hessian vs SciPy eigsh + PyTorch HVPs), under /usr/bin/time -v for the
//            tree's peak RSS (the larger of our Node process and the PyTorch child; the table
//            shows each process's own peak, which hessian_net.mjs records)
// Needs the release addon, the wasm module, the TS build and bench/.venv with NumPy, torch and
// SciPy (bench/requirements*.txt). Run it on a quiet machine: the table says the load.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const dir = path.join(here, 'results', 'table');
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const RUNS = 2;
// The threaded wasm module (2 workers) is timed beside the others when it is built
// (AUTOBALANCE_WASM_THREADS=1 bash scripts/build-wasm.sh; scripts/test.sh builds it).
const WASM_THREADS = 2;
const threadsBuilt = fs.existsSync(path.join(root, 'packages/autobalance/wasm-threads/autobalance_wasm_bg.wasm'));
const threadsArgs = threadsBuilt ? ['--wasm-threads', String(WASM_THREADS)] : [];
const BENCHES = {
  mf: {
    cmd: ['node', '--expose-gc', 'bench/mf_step.mjs', '--shapes', '100x100x5,1000x1000x5,1000x1000x50,1000x1000x100', ...threadsArgs],
    out: 'mf_step.json',
  },
  figure2: { cmd: ['node', 'bench/figure2.mjs', '--steps', '300'], out: 'figure2.json' },
  backends: { cmd: ['node', 'bench/figure2_backends.mjs', '--steps', '100', ...threadsArgs], out: 'figure2_backends.json' },
  hessian: { cmd: ['node', 'bench/hessian_net.mjs', '--sizes', 'large'], out: 'hessian_net.json', rss: true },
};

if (argv.includes('--run')) {
  const only = opt('--only', Object.keys(BENCHES).join(',')).split(',');
  fs.mkdirSync(dir, { recursive: true });
  const runs = Math.min(RUNS, Number(opt('--runs', RUNS)));
  for (let run = Math.max(1, Number(opt('--from', 1))); run <= runs; run++) {
    for (const name of only) {
      const b = BENCHES[name];
      if (!b) throw new Error(`unknown benchmark ${name} (expected ${Object.keys(BENCHES).join(', ')})`);
      const timeFile = path.join(dir, `${name}-${run}.time`);
      const haveTime = b.rss && fs.existsSync('/usr/bin/time');
      const [cmd, ...args] = haveTime ? ['/usr/bin/time', '-v', '-o', timeFile, ...b.cmd] : b.cmd;
      const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
      console.log(`\n== ${name}, run ${run} (load average ${load}): ${b.cmd.join(' ')}`);
      const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
      if (r.status !== 0) {
        console.log(`!! ${name} run ${run} failed (status ${r.status}): its rows say so`);
        continue;
      }
      const res = JSON.parse(fs.readFileSync(path.join(here, 'results', b.out), 'utf8'));
      res.tableRun = { run, startLoad: load, endLoad: os.loadavg().map((x) => x.toFixed(2)).join(' '), date: new Date().toISOString() };
      if (haveTime) {
        const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(fs.readFileSync(timeFile, 'utf8'));
        if (m) res.tableRun.maxRssKiB = Number(m[1]);
        fs.unlinkSync(timeFile);
      }
      fs.writeFileSync(path.join(dir, `${name}-${run}.json`), JSON.stringify(res, null, 2) + '\n');
    }
  }
}

/** The runs of a benchmark found in bench/results/table (null where missing). */
const runsOf = (name) =>
  Array.from({ length: RUNS }, (_, i) => {
    const f = path.join(dir, `${name}-${i + 1}.json`);
    return fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, 'utf8')) : null;
  });
const fmt = (x, d = 2) => (x == null || !Number.isFinite(x) ? 'n/a' : x < 0.1 && d < 4 ? x.toPrecision(2) : x.toFixed(d));
const both = (xs, d) => xs.map((x) => fmt(x, d)).join(' / ');
/** The goal's mark over the runs: NOT met when a measured run misses it. */
const met = (oks) => {
  const measured = oks.filter((o) => o != null);
  if (measured.length === 0) return 'not measured';
  if (!measured.every(Boolean)) return 'NOT met';
  return measured.length < oks.length ? `met (${measured.length} of ${oks.length} runs measured)` : 'met';
};

const mf = runsOf('mf');
const f2 = runsOf('figure2');
const be = runsOf('backends');
const hs = runsOf('hessian');
const shape = (r, d1, d2, k) => r?.results?.filter((x) => x.shape.join() === [d1, d2, k].join()).at(-1);
const ms = (side) => side?.msPerStep ?? null;
const rows = [];

// MF (1000, 1000, 5): share of the bound, and NumPy / native.
{
  const per = mf.map((r) => {
    const s = shape(r, 1000, 1000, 5);
    if (!s || !r.references) return {};
    const bound = Math.max((8 * 1e6) / (r.references.readGBps * 1e9), (6 * 1e6 * 5) / (r.references.gemmGflops * 1e9)) * 1e3;
    return { native: ms(s.native), numpy: ms(s.numpy), share: bound / ms(s.native), bound };
  });
  rows.push([
    'MF GD step (1000,1000,5)',
    `${both(per.map((p) => p.native), 3)} ms = ${both(per.map((p) => p.share && 100 * p.share), 0)}% of the bound (${both(per.map((p) => p.bound), 3)} ms)`,
    `NumPy ${both(per.map((p) => p.numpy), 3)} ms: NumPy / native ${both(per.map((p) => p.numpy / p.native))}`,
    '>= 50% of the bound, >= 6x NumPy',
    met(per.map((p) => (p.native ? p.share >= 0.5 && p.numpy / p.native >= 6 : null))),
  ]);
}
// MF at ranks 50 and 100: share of the GEMM rate, NumPy / native.
for (const k of [50, 100]) {
  const per = mf.map((r) => {
    const s = shape(r, 1000, 1000, k);
    if (!s || !r.references) return {};
    const gf = (6 * 1e6 * k) / (ms(s.native) * 1e6);
    return { native: ms(s.native), numpy: ms(s.numpy), gf, peak: r.references.gemmGflops };
  });
  rows.push([
    `MF GD step (1000,1000,${k})`,
    `${both(per.map((p) => p.native), 2)} ms = ${both(per.map((p) => p.gf), 1)} GFLOP/s, ${both(per.map((p) => p.gf && (100 * p.gf) / p.peak), 0)}% of GEMM (${both(per.map((p) => p.peak), 1)})`,
    `NumPy ${both(per.map((p) => p.numpy), 2)} ms: NumPy / native ${both(per.map((p) => p.numpy / p.native))}`,
    '>= 70% of GEMM peak, >= 1.5x NumPy',
    met(per.map((p) => (p.native ? p.gf / p.peak >= 0.7 && p.numpy / p.native >= 1.5 : null))),
  ]);
}
// MF (100, 100, 5): native never slower than wasm or NumPy.
{
  const per = mf.map((r) => {
    const s = shape(r, 100, 100, 5);
    return s ? { native: ms(s.native), wasm: ms(s.wasm), numpy: ms(s.numpy), n1: ms(s.native1) } : {};
  });
  rows.push([
    'MF GD step (100,100,5)',
    `${both(per.map((p) => p.native), 4)} ms (1 thread ${both(per.map((p) => p.n1), 4)})`,
    `wasm ${both(per.map((p) => p.wasm), 4)}, NumPy ${both(per.map((p) => p.numpy), 4)} ms`,
    'native <= wasm and NumPy',
    met(per.map((p) => (p.native ? p.native <= p.wasm && p.native <= p.numpy : null))),
  ]);
}
// Figure 2 step vs PyTorch (both runs of the preset: balanced and unbalanced init).
{
  const per = f2.map((r) => (r ? { native: r.rows.map((x) => x.native.msPerStep), torch: r.rows.map((x) => x.torch.msPerStep) } : {}));
  const ratio = (p) => p.native && Math.min(...p.torch.map((t, i) => t / p.native[i]));
  rows.push([
    'Figure 2 network GD step',
    `${per.map((p) => (p.native ? p.native.map((x) => fmt(x)).join(', ') : 'n/a')).join(' / ')} ms`,
    `PyTorch f64 ${per.map((p) => (p.torch ? p.torch.map((x) => fmt(x)).join(', ') : 'n/a')).join(' / ')} ms: PyTorch / native (worst) ${both(per.map(ratio))}`,
    '>= 1.2x faster than PyTorch',
    met(per.map((p) => (p.native ? ratio(p) >= 1.2 : null))),
  ]);
}
// lambda_min and lambda_max of the large network's Hessian.
{
  const per = hs.map((r) => {
    const x = r?.rows?.find((y) => y.dim > 100000) ?? r?.rows?.at(-1);
    // Our Node process's own peak (hessian_net.mjs records it before the PyTorch child runs);
    // /usr/bin/time's figure is the largest process of the tree, i.e. PyTorch's when it is larger.
    const peerRss = Math.max(...(x?.torchRuns ?? []).map((t) => t.maxRssKiB ?? 0));
    return x
      ? { ours: x.ours.matched.ms / 1e3, tol: x.ours.eigsMs / 1e3, peer: x.eigshMs / 1e3, ratio: x.ratios.eigsMatched,
          rss: x.ours.maxRssKiB, peerRss: peerRss > 0 ? peerRss : undefined }
      : {};
  });
  rows.push([
    'lambda_min, lambda_max of the Figure 2 network Hessian (111k parameters)',
    `${both(per.map((p) => p.ours))} s at matched accuracy (${both(per.map((p) => p.tol))} s at tol 1e-8); peak RSS of our process ${both(per.map((p) => p.rss && p.rss / 1048576))} GB`,
    `eigsh + PyTorch ${both(per.map((p) => p.peer))} s: eigsh / ours ${both(per.map((p) => p.ratio))}; peak RSS of the PyTorch process ${both(per.map((p) => p.peerRss && p.peerRss / 1048576))} GB`,
    '>= 2x faster than eigsh + PyTorch, memory < 0.3 GB',
    met(per.map((p) => (p.ours ? p.ratio >= 2 && p.rss != null && p.rss / 1048576 < 0.3 : null))),
  ]);
}
// wasm / native, MF step, every shape measured: the single-threaded module (browsers, and Node by
// default), then the threaded module in Node (2 workers) where the runs timed it.
for (const key of ['wasm', 'wasmThreads']) {
  const label = key === 'wasm' ? 'wasm / native, MF step (single-threaded module)' : `wasm with threads (${WASM_THREADS} workers, Node) / native, MF step`;
  const per = mf.map((r) => (r?.results ? r.results.filter((s) => s[key]?.msPerStep && s.native?.msPerStep).map((s) => [s.shape.join(','), s[key].msPerStep / s.native.msPerStep]) : null));
  if (key === 'wasmThreads' && !per.some((p) => p?.length)) continue;
  rows.push([
    label,
    per.map((p) => (p?.length ? p.map(([s, x]) => `(${s}) ${fmt(x)}`).join(', ') : 'n/a')).join(' / '),
    '-',
    '<= 2.0 at every shape',
    met(per.map((p) => (p?.length ? p.every(([, x]) => x <= 2) : null))),
  ]);
}
// wasm / native, Figure 2 step (both modules, as above).
for (const key of ['wasm', 'wasmThreads']) {
  const label = key === 'wasm' ? 'wasm / native, Figure 2 step (single-threaded module)' : `wasm with threads (${WASM_THREADS} workers, Node) / native, Figure 2 step`;
  const per = be.map((r) => (r ? r.rows.filter((x) => x[key]?.ms).map((x) => x[key].ms / x.native.ms) : null));
  if (key === 'wasmThreads' && !per.some((p) => p?.length)) continue;
  rows.push([
    label,
    per.map((p) => (p?.length ? p.map((x) => fmt(x)).join(', ') : 'n/a')).join(' / '),
    '-',
    '<= 3.0',
    met(per.map((p) => (p?.length ? p.every((x) => x <= 3) : null))),
  ]);
}

const all = [...mf, ...f2, ...be, ...hs].filter(Boolean);
const m0 = mf.find(Boolean)?.machine;
const dates = all.map((r) => r.tableRun?.date ?? r.date).filter(Boolean).sort();
const loads = all.map((r) => r.tableRun?.startLoad?.split(' ')[0]).filter(Boolean).map(Number);
const machine = m0
  ? `${m0.cpu} (${m0.cpuFamilyModel}${m0.virtualized ? ', virtual machine' : ''}), ${m0.cores} cores [${m0.simd.join(' ')}], ${m0.memGiB} GiB, ${m0.os}, Node ${m0.node}, ${m0.rustc}`
  : `${os.cpus()[0]?.model}, ${os.cpus().length} cores`;
const lines = [
  `Generated by \`node bench/table.mjs\` from \`bench/results/table/*.json\` (two runs of each benchmark: "run 1 / run 2").`,
  `Machine: ${machine}. Runs ${dates[0]?.slice(0, 16).replace('T', ' ') ?? '?'} to ${dates.at(-1)?.slice(0, 16).replace('T', ' ') ?? '?'} UTC, 1-minute load average at the start of each benchmark ${loads.length ? `${Math.min(...loads).toFixed(2)}-${Math.max(...loads).toFixed(2)}` : 'n/a'}.`,
  '',
  '| workload | ours (run 1 / run 2) | peer in the same run | goal (issue 17) | goal |',
  '|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.join(' | ')} |`),
];
const block = lines.join('\n');
console.log('\n' + block);
if (!argv.includes('--print')) {
  for (const f of ['bench/README.md', 'README.md']) {
    const file = path.join(root, f);
    const text = fs.readFileSync(file, 'utf8');
    const re = /<!-- bench-table:begin -->[\s\S]*?<!-- bench-table:end -->/;
    if (!re.test(text)) {
      console.log(`(${f} has no bench-table markers: not written)`);
      continue;
    }
    fs.writeFileSync(file, text.replace(re, `<!-- bench-table:begin -->\n${block}\n<!-- bench-table:end -->`));
    console.log(`wrote ${f}`);
  }
}
