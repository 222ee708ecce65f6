// The continuation study (issue 12) against its SciPy peer in one run: Example 1's branches
// n = 1, -1, 2, -2 from lambda = 0 through their folds to |C| = 40, and a deterministic random
// 6 x 6 problem (M_ij = 0.3 sin(1.7 i + 2.3 j + 0.5), R = e^M, sheet 0), on the native and wasm
// backends and in Python with scipy.linalg.expm / expm_frechet and a hand-written pseudo-arclength
// loop (continuation_scipy.py). Best of --reps runs each. Run through bench/taghvaei/run.sh.
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

import { study } from '../../packages/autobalance/dist/index.js';

const reps = Number(process.argv[process.argv.indexOf('--reps') + 1] ?? 0) || 3;
const python = process.argv[process.argv.indexOf('--python') + 1];
const here = fileURLToPath(new URL('.', import.meta.url));

function spec(problem, start, maxPoints = 2000) {
  return { kind: 'continuation', problem, parameter: 'lambda', lambda: 0, range: [0, 1], starts: [start], maxPoints, cMax: 40, tol: 1e-10 };
}
const ex1 = { n: 2, T: 1, R: [[0, -1], [1, 0]] };
const M = Array.from({ length: 6 }, (_, i) => Array.from({ length: 6 }, (_, j) => 0.3 * Math.sin(1.7 * i + 2.3 * j + 0.5)));
// R = e^M by a scaled Taylor series (bench input only; the core computes its own logarithm).
function expm(A) {
  const n = A.length;
  let s = 0;
  let norm = Math.max(...A.map((r) => r.reduce((a, b) => a + Math.abs(b), 0)));
  while (norm > 0.5) { norm /= 2; s++; }
  const B = A.map((r) => r.map((v) => v / 2 ** s));
  const mul = (X, Y) => X.map((r, i) => Y[0].map((_, j) => r.reduce((acc, _, k) => acc + X[i][k] * Y[k][j], 0)));
  let E = A.map((r, i) => r.map((_, j) => (i === j ? 1 : 0)));
  let term = E;
  for (let k = 1; k < 30; k++) {
    term = mul(term, B).map((r) => r.map((v) => v / k));
    E = E.map((r, i) => r.map((v, j) => v + term[i][j]));
  }
  for (let k = 0; k < s; k++) E = mul(E, E);
  return E;
}
const cases = [
  ...[1, -1, 2, -2].map((n) => ({ name: `example1 n=${n}`, spec: spec(ex1, { kind: 'logarithm', sheet: n }) })),
  { name: 'random 6x6 (R = e^M, sheet 0, 100 rows max)', spec: spec({ n: 6, T: 1, R: expm(M) }, { kind: 'logarithm', sheet: 0 }, 100) },
];

console.log(`machine: ${cpus()[0]?.model.trim()} x ${cpus().length}, Node ${process.version}; best of ${reps}`);
const rows = [];
for (const backend of ['native', 'wasm']) {
  for (const c of cases) {
    let best = Infinity;
    let out;
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      out = await study(c.spec, { backend });
      best = Math.min(best, performance.now() - t0);
    }
    const folds = out.output.folds.map((f) => f.lambda);
    rows.push({ case: c.name, peer: backend, rows: out.columns.lambda.length, folds, ms: best });
    console.log(JSON.stringify(rows.at(-1)));
  }
}
if (python) {
  const text = execFileSync(python, [`${here}continuation_scipy.py`, '--reps', String(reps)], { encoding: 'utf8' });
  for (const line of text.trim().split('\n')) {
    rows.push(JSON.parse(line));
    console.log(line);
  }
}
console.log('\n| case | native ms (rows) | wasm ms (rows) | SciPy ms (rows) | SciPy / native | fold lambda: ours, SciPy |');
console.log('|---|---|---|---|---|---|');
for (const c of cases) {
  const get = (peer) => rows.find((r) => r.case === c.name && r.peer === peer);
  const [n, w, s] = [get('native'), get('wasm'), get('scipy')];
  const f = (r) => (r ? `${r.ms.toFixed(1)} (${r.rows})` : '-');
  const fold = (r) => (r && r.folds.length ? r.folds.map((x) => x.toFixed(10)).join(' ') : '-');
  console.log(`| ${c.name} | ${f(n)} | ${f(w)} | ${f(s)} | ${s && n ? (s.ms / n.ms).toFixed(0) + 'x' : '-'} | ${fold(n)}, ${fold(s)} |`);
}
