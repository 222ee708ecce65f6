// Golden tests through the public TS API, per backend: the outputs recorded bit for bit from the
// code before the refactoring of the core (commit 222ac85), compared after each step of it.
// Fixtures: test/golden/native.json and test/golden/wasm.json (the backends may differ in the
// last bits; each is compared with its own). See test/golden/README.md.
//
//   AUTOBALANCE_BACKEND=native pnpm exec vitest run test/golden.test.ts      compare
//   GOLDEN_WRITE=1 AUTOBALANCE_BACKEND=native pnpm exec vitest run test/golden.test.ts   rewrite
//
// Rewrite only when a change of the numbers is intended, and say so in the commit.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import {
  type HessianQuery,
  type Matrix,
  type NetworkRunSpec,
  type RunResult,
  type RunSpec,
  Run,
  applyOverrides,
  presetList,
  presetSpec,
  runPreset,
  train,
} from 'autobalance';

import { BACKEND } from './helpers.js';

/**
 * Columns that a run may have in addition to those of its fixture; every other column must be
 * there, bit for bit, in the same relative order.
 * - `time`: the refactoring gives flow-method runs on matrix factorization (euler, rk4, dopri5,
 *   implicitMidpoint) the flow-time column that network runs already have; the fixtures were
 *   recorded before, without it.
 */
const ALLOWED_NEW_COLUMNS = ['time'];
/**
 * Top-level fields a curvature report may have that its fixture has not (as in
 * crates/core/tests/golden.rs): `hvp` says which Hessian-vector product answered (`exact`, or the
 * central-difference default of a family without one), added with the one `Model` trait.
 */
// Issue 10: the multiplicity verification of Lanczos eigs, the hypotheses of Lemma 3.2.
const ALLOWED_NEW_REPORT_FIELDS = ['hvp', 'multiplicityVerified', 'verificationRounds', 'copiesFound', 'hypotheses', 'reason'];

const WRITE = process.env['GOLDEN_WRITE'] === '1';
const FIXTURE = fileURLToPath(new URL(`./golden/${BACKEND}.json`, import.meta.url));
const opts = { backend: BACKEND } as const;

/** Steps of each preset's runs here (multiples of recordEvery and of curvature.every). */
const PRESET_STEPS: Record<string, number> = { figure1: 100, figure2: 30, theorem31: 100, theorem32: 100, curvature: 100 };

// ---------------------------------------------------------------------------------------------
// What a case records.

interface ParamRecord {
  rows: number;
  cols: number;
  /** Two 32-bit hashes of the f64 bit patterns, as 16 hex digits. */
  hash: string;
  /** Bits of the first entries, for reading. */
  head: string[];
}

interface RunRecord {
  spec: string;
  status: { step: number; steps: number; rows: number; finished: boolean; divergedAt: number | null; loss: string | null };
  /** Every column at every row: 16 hex digits per f64 (`first` / `last` for reading only). */
  columns: { name: string; first: number | null; last: number | null; bits: string[] }[];
  params: Record<string, ParamRecord>;
  initialParams: Record<string, ParamRecord>;
  /** Curvature reports (JSON text). */
  hessian: { at: string; query: string; report: string }[];
}

interface Fixture {
  backend: string;
  recordedFrom: string;
  cases: Record<string, RunRecord>;
}

function hexBits(a: Float64Array): string[] {
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length * 2);
  const out: string[] = new Array<string>(a.length);
  for (let i = 0; i < a.length; i++) {
    out[i] = (u[2 * i + 1] as number).toString(16).padStart(8, '0') + (u[2 * i] as number).toString(16).padStart(8, '0');
  }
  return out;
}

function bits(x: number): string {
  return hexBits(Float64Array.of(x))[0] as string;
}

function fromBits(h: string): number {
  const u = new Uint32Array(2);
  u[1] = parseInt(h.slice(0, 8), 16);
  u[0] = parseInt(h.slice(8), 16);
  return new Float64Array(u.buffer)[0] as number;
}

function paramRecord(m: Matrix): ParamRecord {
  const data = Float64Array.from(m.data);
  const u = new Uint32Array(data.buffer);
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < u.length; i++) {
    const w = u[i] as number;
    h1 = Math.imul(h1 ^ w, 0x01000193) >>> 0;
    h2 = (Math.imul(h2, 31) + (w ^ (i * 0x9e3779b9))) >>> 0;
  }
  const hash = h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0');
  return { rows: m.rows, cols: m.cols, hash, head: hexBits(data.subarray(0, 3)) };
}

function record(spec: RunSpec, r: RunResult, hessian: RunRecord['hessian']): RunRecord {
  const params = (p: Record<string, Matrix>): Record<string, ParamRecord> =>
    Object.fromEntries(Object.entries(p).map(([k, m]) => [k, paramRecord(m)]));
  const finite = (x: number | undefined): number | null => (x !== undefined && Number.isFinite(x) ? x : null);
  return {
    spec: JSON.stringify(spec),
    status: {
      step: r.step,
      steps: r.steps,
      rows: r.rows,
      finished: r.finished,
      divergedAt: r.divergedAt,
      loss: r.loss === null ? null : bits(r.loss),
    },
    columns: r.columnNames.map((name) => {
      const c = r.columns[name] ?? new Float64Array(0);
      return { name, first: finite(c[0]), last: finite(c[c.length - 1]), bits: hexBits(c) };
    }),
    params: params(r.params),
    initialParams: params(r.initialParams),
    hessian,
  };
}

// ---------------------------------------------------------------------------------------------
// Comparison: a list of readable differences (empty when equal).

/** First difference between two JSON values (objects key by key in any order, numbers bit for bit). */
function diffJson(path: string, a: unknown, b: unknown): string | null {
  if (typeof a === 'number' && typeof b === 'number') {
    return Object.is(a, b) ? null : `${path}: expected ${a} (${bits(a)}) got ${b} (${bits(b)})`;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const d = diffJson(`${path}[${i}]`, a[i], b[i]);
      if (d) return d;
    }
    return a.length === b.length ? null : `${path}: length ${a.length} expected, got ${b.length}`;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const x = a as Record<string, unknown>;
    const y = b as Record<string, unknown>;
    for (const k of Object.keys(x)) {
      if (!(k in y)) return `${path}.${k}: missing (expected ${JSON.stringify(x[k]).slice(0, 100)})`;
      const d = diffJson(`${path}.${k}`, x[k], y[k]);
      if (d) return d;
    }
    const extra = Object.keys(y).find((k) => !(k in x) && !(path === 'report' && ALLOWED_NEW_REPORT_FIELDS.includes(k)));
    return extra === undefined ? null : `${path}.${extra}: unexpected new field (${JSON.stringify(y[extra]).slice(0, 100)})`;
  }
  return a === b ? null : `${path}: expected ${JSON.stringify(a)} got ${JSON.stringify(b)}`;
}

function compare(want: RunRecord, got: RunRecord): string[] {
  const out: string[] = [];
  if (want.spec !== got.spec) return [`the spec differs from the fixture's (case list or preset changed?)\n  now     ${got.spec}\n  fixture ${want.spec}`];
  const wantNames = want.columns.map((c) => c.name);
  const haveNames = got.columns.map((c) => c.name);
  for (const n of haveNames) {
    if (!wantNames.includes(n) && !ALLOWED_NEW_COLUMNS.includes(n)) {
      out.push(`new column ${n} not in the fixture (columns now ${haveNames.join(',')}; fixture ${wantNames.join(',')})`);
    }
  }
  const order = haveNames.filter((n) => wantNames.includes(n));
  const wantOrder = wantNames.filter((n) => haveNames.includes(n));
  if (order.join() !== wantOrder.join()) out.push(`column order changed: now ${order.join(',')}; fixture ${wantOrder.join(',')}`);
  const step = got.columns.find((c) => c.name === 'step');
  for (const w of want.columns) {
    const g = got.columns.find((c) => c.name === w.name);
    if (!g) {
      out.push(`column ${w.name} is missing (columns now ${haveNames.join(',')})`);
      continue;
    }
    if (g.bits.length !== w.bits.length) out.push(`column ${w.name}: ${g.bits.length} rows, fixture has ${w.bits.length}`);
    let first = -1;
    let count = 0;
    for (let i = 0; i < Math.min(g.bits.length, w.bits.length); i++) {
      if (g.bits[i] !== w.bits[i]) {
        count++;
        if (first < 0) first = i;
      }
    }
    if (first >= 0) {
      const e = fromBits(w.bits[first] as string);
      const a = fromBits(g.bits[first] as string);
      const s = step ? ` (step ${fromBits(step.bits[first] as string)})` : '';
      out.push(
        `column ${w.name}: ${count} of ${w.bits.length} rows differ; first at row ${first}${s}: expected ${e} (${w.bits[first]}) ` +
          `got ${a} (${g.bits[first]}), relative difference ${Math.abs((a - e) / Math.max(Math.abs(e), Number.MIN_VALUE)).toExponential(3)}`,
      );
    }
  }
  for (const k of ['step', 'steps', 'rows', 'finished', 'divergedAt', 'loss'] as const) {
    const e = want.status[k];
    const a = got.status[k];
    if (e !== a) {
      const show = (v: unknown): string => (k === 'loss' && typeof v === 'string' ? `${fromBits(v)} (${v})` : String(v));
      out.push(`status.${k}: expected ${show(e)} got ${show(a)}`);
    }
  }
  for (const which of ['params', 'initialParams'] as const) {
    const d = diffJson(which, want[which], got[which]);
    if (d) out.push(d);
  }
  if (want.hessian.length !== got.hessian.length) out.push(`${got.hessian.length} curvature reports, fixture has ${want.hessian.length}`);
  want.hessian.forEach((w, i) => {
    const g = got.hessian[i];
    if (!g) return;
    if (w.query !== g.query || w.at !== g.at) {
      out.push(`query ${g.query} at ${g.at}: fixture has ${w.query} at ${w.at}`);
      return;
    }
    if (w.report === g.report) return;
    const d = diffJson('report', JSON.parse(w.report), JSON.parse(g.report));
    if (d) out.push(`query ${g.query} at ${g.at}: ${d}`);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// The cases.

/** Deterministic numbers in [-scale, scale) (an LCG written here, independent of the core). */
function lcgArray(n: number, seed: number, scale: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return scale * (s / 2 ** 31 - 1);
  });
}

function rowsOf(flat: number[], rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, (_, i) => flat.slice(i * cols, (i + 1) * cols));
}

function mf(method: RunSpec['method'], over: Partial<RunSpec> = {}): RunSpec {
  return {
    model: { kind: 'matrixFactorization', d1: 20, d2: 15, rank: 4 },
    target: { kind: 'random', singularValues: [4, 3, 2, 1], seed: 1 },
    init: { kind: 'gaussian', stdU: 0.1, stdV: 0.1, seed: 2 },
    schedule: { kind: 'constant', eta: 0.05 },
    method,
    steps: 200,
    recordEvery: 4,
    ...over,
  } as RunSpec;
}

function net(layers: NetworkRunSpec['model']['layers'], method: RunSpec['method'], over: Partial<NetworkRunSpec> = {}): NetworkRunSpec {
  return {
    model: { kind: 'network', inputDim: 4, layers, loss: 'squared' },
    data: { kind: 'generated', samples: 150, inputs: 'gaussian', targets: { kind: 'teacher', widths: [7] }, seed: 3 },
    init: { kind: 'gaussian', variances: layers.map(() => 0.3), seed: 4 },
    schedule: { kind: 'constant', eta: 0.05 },
    method,
    steps: 120,
    recordEvery: 2,
    ...over,
  };
}

const relu3: NetworkRunSpec['model']['layers'] = [{ width: 6, activation: 'relu' }, { width: 5, activation: 'relu' }, { width: 3 }];
const leaky: NetworkRunSpec['model']['layers'] = [
  { width: 6, activation: 'leakyRelu', slope: 0.2, bias: true },
  { width: 3, bias: true },
];

interface TrainCase {
  name: string;
  spec: RunSpec;
  /** Curvature queries at the end, through `Run.hessian` (the run is advanced with `Run.chunks`). */
  hessian?: HessianQuery[];
}

const trainCases: TrainCase[] = [
  // Matrix factorization: 3 methods (+ explicit buffers, weight decay, the balance regularizer).
  { name: 'mf-gd', spec: mf({ kind: 'gd' }), hessian: [{ what: 'lemma32' }, { what: 'eigs', which: 'both', k: 2, method: 'lanczos' }] },
  {
    name: 'mf-nesterov-classify',
    spec: mf({ kind: 'nesterov', beta: 0.8 }),
    hessian: [
      { what: 'classify', method: 'dense' },
      { what: 'classify', method: 'lanczos' },
    ],
  },
  { name: 'mf-adam-wd', spec: mf({ kind: 'adam' }, { schedule: { kind: 'constant', eta: 0.01 }, weightDecay: 0.01 }) },
  { name: 'mf-rk4-curvature', spec: mf({ kind: 'rk4' }, { curvature: { every: 40, tol: 1e-8 } }) },
  { name: 'mf-dopri5', spec: mf({ kind: 'dopri5', rtol: 1e-7, atol: 1e-10 }, { schedule: { kind: 'constant', eta: 0.2 } }) },
  {
    name: 'mf-explicit-balance-momentum',
    spec: {
      model: { kind: 'matrixFactorization', d1: 9, d2: 7, rank: 3, balanceWeight: 0.125 },
      target: { kind: 'explicit', matrix: rowsOf(lcgArray(63, 11, 1), 9, 7) },
      init: { kind: 'explicit', u0: rowsOf(lcgArray(27, 12, 0.3), 9, 3), v0: rowsOf(lcgArray(21, 13, 0.3), 7, 3) },
      schedule: { kind: 'inversePower', c: 0.05, delta: 0.25 },
      method: { kind: 'momentum', beta: 0.5 },
      steps: 150,
      recordEvery: 1,
    },
  },
  // Networks: 3 methods and more (sgd, implicit midpoint, conv, shared, cross-entropy, divergence).
  { name: 'net-relu-nesterov', spec: net(relu3, { kind: 'nesterov', beta: 0.9 }) },
  {
    name: 'net-relu-gd-hessian',
    spec: net(relu3, { kind: 'gd' }),
    hessian: [
      { what: 'classify', method: 'dense' },
      { what: 'eigs', which: 'both', k: 1, method: 'lanczos' },
    ],
  },
  { name: 'net-leaky-ce-implicitMidpoint-wd', spec: net(leaky, { kind: 'implicitMidpoint' }, { model: { kind: 'network', inputDim: 4, layers: leaky, loss: 'crossEntropy' }, weightDecay: 0.005 }) },
  {
    name: 'net-conv1d-ce-sgd',
    spec: net(
      [
        { type: 'conv1d', inChannels: 2, outChannels: 3, kernel: 3, stride: 1, padding: 1, activation: 'relu', bias: true },
        { type: 'conv1d', inChannels: 3, outChannels: 2, kernel: 2, stride: 2, activation: 'leakyRelu', slope: 0.1 },
        { width: 3 },
      ],
      { kind: 'sgd', batchSize: 40, seed: 6 },
      { recordEvery: 4 },
    ),
  },
  {
    name: 'net-shared-explicit-data-rk4',
    spec: {
      model: {
        kind: 'network',
        inputDim: 4,
        loss: 'squared',
        layers: [
          {
            type: 'shared',
            width: 6,
            params: 5,
            pattern: [
              [1, 2, 0, 3],
              [0, 1, 4, 0],
              [5, 0, 2, 1],
              [3, 3, 0, 0],
              [0, 0, 5, 4],
              [2, 4, 1, 5],
            ],
            activation: 'relu',
            bias: true,
          },
          { width: 3 },
        ],
      },
      data: { kind: 'explicit', x: rowsOf(lcgArray(160, 31, 1), 40, 4), y: rowsOf(lcgArray(120, 32, 1), 40, 3) },
      init: { kind: 'explicit', weights: [[[0.5, -0.3, 0.8, 0.2, -0.6]], rowsOf(lcgArray(18, 21, 0.6), 3, 6)], biases: [[0.1, -0.1, 0.05, 0, 0.2, -0.05], null] },
      schedule: { kind: 'constant', eta: 0.05 },
      method: { kind: 'rk4' },
      steps: 150,
      recordEvery: 3,
    },
  },
  {
    name: 'net-leaky-sgd-diverge',
    spec: net(leaky, { kind: 'sgd', batchSize: 10, seed: 2 }, { schedule: { kind: 'constant', eta: 1e6 }, steps: 500, recordEvery: 100 }),
  },
];

async function runTrainCase(c: TrainCase): Promise<RunRecord> {
  if (!c.hessian) return record(c.spec, await train(c.spec, opts), []);
  const run = await Run.create(c.spec, opts);
  try {
    for await (const _ of run.chunks()) {
      // advance to the end
    }
    const reports: RunRecord['hessian'] = [];
    for (const q of c.hessian) reports.push({ at: 'final', query: JSON.stringify(q), report: JSON.stringify(await run.hessian(q)) });
    return record(c.spec, run.result(), reports);
  } finally {
    run.dispose();
  }
}

// ---------------------------------------------------------------------------------------------

const fixture: Fixture | null = existsSync(FIXTURE) ? (JSON.parse(readFileSync(FIXTURE, 'utf8')) as Fixture) : null;
const recorded: Record<string, RunRecord> = {};

function check(name: string, got: RunRecord): void {
  if (WRITE) {
    recorded[name] = got;
    return;
  }
  const want = fixture?.cases[name];
  if (!want) throw new Error(`no fixture for case ${name} in ${FIXTURE} (GOLDEN_WRITE=1 records it, from the code as it is)`);
  const problems = compare(want, got);
  expect(problems, `golden case ${name} on ${BACKEND}`).toEqual([]);
}

describe(`golden outputs on ${BACKEND}`, () => {
  afterAll(() => {
    if (!WRITE) return;
    const out: Fixture = { backend: BACKEND, recordedFrom: '222ac85', cases: recorded };
    writeFileSync(FIXTURE, `${JSON.stringify(out, null, 1)}\n`);
  });

  it('every preset (steps cut), with its curvature reports', async () => {
    // The presets recorded before the refactoring (PRESET_STEPS), each still there with its runs.
    // Sweep presets (theorem32sweep) and studies presets (conservationLaws) have no runs to
    // record, and the presets added after the fixture (taghvaei*, figure52, ...) have their own
    // tests (test/presets*.test.ts).
    const list = [];
    for (const p of await presetList(opts)) {
      const spec = await presetSpec(p.name, opts);
      if (!spec.sweep && !spec.studies && p.name in PRESET_STEPS) list.push(p);
    }
    expect(list.map((p) => p.name).sort()).toEqual(Object.keys(PRESET_STEPS).sort());
    const names: string[] = [];
    for (const { name } of list) {
      const preset = applyOverrides(await presetSpec(name, opts), { steps: PRESET_STEPS[name] as number });
      const outcome = await runPreset(preset, opts);
      outcome.runs.forEach((r, i) => {
        const hessian = preset.hessian
          .map((h, j) => ({ h, rep: outcome.hessian[j] }))
          .filter(({ h }) => h.run === i)
          .map(({ h, rep }) => ({ at: h.at, query: JSON.stringify(h.query), report: JSON.stringify(rep?.report ?? null) }));
        names.push(`preset-${name}-run${i}`);
        check(`preset-${name}-run${i}`, record(r.spec, r.result, hessian));
      });
    }
    if (!WRITE && fixture) {
      // A preset run of the fixture that no longer runs is a difference too.
      const gone = Object.keys(fixture.cases).filter((n) => n.startsWith('preset-') && !names.includes(n));
      expect(gone, 'preset runs in the fixture that did not run').toEqual([]);
    }
  });

  for (const c of trainCases) {
    it(c.name, async () => {
      check(c.name, await runTrainCase(c));
    });
  }

  it('every fixture case has a test', () => {
    if (WRITE || !fixture) return;
    const names = new Set(trainCases.map((c) => c.name));
    expect(Object.keys(fixture.cases).filter((n) => !n.startsWith('preset-') && !names.has(n))).toEqual([]);
  });
});
