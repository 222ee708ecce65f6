// A table-driven catalogue of bad inputs (issue 10, "Keep it fixed"): every category of the issue
// (memory, integers >= 2^32 and fractional, NaN / Infinity / null, wrong types, missing and
// unknown fields, JSON text, cyclic / BigInt / deep specs, API misuse, the implicit-midpoint hang,
// unbounded messages), each with the class, code and field the team's error contract gives, run
// on BOTH backends in this process (whatever AUTOBALANCE_BACKEND says), which must also agree on
// the message (for `too_large`, up to the numbers in it: the memory limit quoted differs).
//
// The contract (docs/testing.md): NaN / ±Infinity in a numeric field -> non_finite; null, a wrong
// type, a missing or unknown field -> invalid_spec (naming the full path: `schedule.eta`, a missing
// root field by its name); an integer outside its documented range, >= 2^32 or fractional ->
// out_of_range; would not fit in memory -> too_large; API misuse -> invalid_request. Messages are
// at most 1000 characters.
//
// CATALOGUE_REPORT=file appends one JSON line per entry (name, ok, problems) to `file`.
import { describe, expect, it } from 'vitest';

import { type Backend, type RunSpec, type SweepSpec, Run, fromBindingError, loadBackendByName, sweep } from 'autobalance';

import { MAX_MESSAGE_CHARS, type ThrownRecord, showThrown, thrownRecord } from './helpers.js';

type Obj = Record<string, unknown>;

/** What an entry must throw. `field` is exact, or a pattern where the contract leaves the suffix open. */
interface Expected {
  cls: string;
  code: string;
  field: string | RegExp;
}

interface Entry {
  name: string;
  /** What to do with a backend: resolves if nothing was thrown. */
  act: (b: Backend) => Promise<unknown>;
  expect: Expected;
  /**
   * The entry may instead succeed quickly (within `ms`, with a finite kept state or a stop reason):
   * for inputs where the contract allows either a refusal or a clean stop.
   */
  orCleanStopWithin?: number;
  /**
   * The input is valid after all (the contract was settled that way): it must run to its end with
   * a finite state on both backends, and `expect` is what it would have been refused with.
   */
  accepted?: true;
}

// ----------------------------------------------------------------------------------------------
// Small valid specs and mutations of them

function mf(over: Obj = {}): Obj {
  return {
    model: { kind: 'matrixFactorization', d1: 4, d2: 3, rank: 2 },
    target: { kind: 'random', singularValues: [2, 1], seed: 1 },
    init: { kind: 'gaussian', stdU: 0.3, stdV: 0.3, seed: 2 },
    schedule: { kind: 'constant', eta: 0.05 },
    steps: 5,
    ...over,
  };
}

function net(over: Obj = {}): Obj {
  return {
    model: { kind: 'network', inputDim: 3, layers: [{ width: 4, activation: 'relu', bias: true }, { width: 2 }] },
    data: { kind: 'generated', samples: 6, targets: { kind: 'teacher', widths: [3] }, seed: 3 },
    init: { kind: 'gaussian', variances: [0.4, 0.4], seed: 4 },
    schedule: { kind: 'constant', eta: 0.05 },
    steps: 5,
    ...over,
  };
}

function octo(over: Obj = {}): Obj {
  return {
    model: { kind: 'octopus', d: 3, L: 2, tau: 1 },
    init: { kind: 'uniform', low: -1, high: 1, seed: 1 },
    schedule: { kind: 'constant', eta: 0.125 },
    steps: 5,
    ...over,
  };
}

function conv(layer: Obj): Obj {
  return net({
    model: { kind: 'network', inputDim: 8, layers: [{ type: 'conv1d', inChannels: 1, outChannels: 2, kernel: 3, activation: 'relu', ...layer }, { width: 2 }] },
  });
}

/** A deep copy of `spec` with the value at `path` (`a.b[2].c`) set, or removed when `value` is `REMOVE`. */
const REMOVE = Symbol('remove');
function at(spec: Obj, path: string, value: unknown): Obj {
  const copy = structuredClone(spec);
  const parts = path.match(/[^.[\]]+/g) ?? [];
  let cur: Record<string, unknown> = copy;
  for (const p of parts.slice(0, -1)) cur = cur[p] as Record<string, unknown>;
  const last = parts[parts.length - 1]!;
  if (value === REMOVE) delete cur[last];
  else cur[last] = value;
  return copy;
}

function deep(depth: number, leaf: unknown = 1, key = 'a'): unknown {
  let x: unknown = leaf;
  for (let i = 0; i < depth; i++) x = key === '[]' ? [x] : { [key]: x };
  return x;
}

const BUDGET_MS = 5000;

/** Create a run and take every step (cancelled after BUDGET_MS); throws what the API throws. */
async function runSpec(b: Backend, spec: unknown): Promise<{ ms: number; finiteState: boolean; stopped: boolean }> {
  const t0 = performance.now();
  const run = Run.withBackend(b, spec as unknown as RunSpec);
  try {
    for await (const _ of run.chunks({ signal: AbortSignal.timeout(BUDGET_MS), chunkMillis: 20 })) {
      // drain
    }
    const r = run.result();
    const finiteState = Object.values(r.params).every((m) => m.data.every(Number.isFinite)) && (r.loss === null || Number.isFinite(r.loss));
    return { ms: performance.now() - t0, finiteState, stopped: r.finished };
  } finally {
    run.dispose();
  }
}

/** Create a run from a valid spec, take its steps, then ask `query`. */
async function runQuery(b: Backend, spec: Obj, query: unknown): Promise<unknown> {
  const run = Run.withBackend(b, spec as unknown as RunSpec);
  try {
    run.advance(Infinity);
    return await run.hessian(query as never);
  } finally {
    run.dispose();
  }
}

/** Call the binding directly with JSON text (what the CLI and a JSON file give the core). */
async function rawJson(b: Backend, text: string): Promise<unknown> {
  try {
    const s = b.createSession(text, {});
    s.free?.();
    return s;
  } catch (e) {
    throw fromBindingError(e);
  }
}

/** Run a whole sweep through `sweep()` (cancelled after BUDGET_MS); throws what the API throws. */
async function runSweep(b: Backend, spec: unknown): Promise<{ ms: number; finiteState: boolean; stopped: boolean }> {
  const t0 = performance.now();
  const handle = sweep(spec as SweepSpec, { backend: b, signal: AbortSignal.timeout(BUDGET_MS), workers: 1 });
  let finite = true;
  for await (const row of handle.rows) {
    if (!['finished', 'diverged', 'solverFailed', 'error'].includes(row.stop)) finite = false;
  }
  const table = await handle.table;
  return { ms: performance.now() - t0, finiteState: finite, stopped: table.complete };
}

/** A small valid sweep over `mf()`, with fields replaced. */
function sw(over: Obj = {}): Obj {
  return {
    kind: 'sweep',
    base: mf(),
    axes: [{ path: 'schedule.eta', values: [0.05, 0.1] }],
    seeds: { count: 2, paths: ['init.seed'] },
    keep: [{ name: 'final', column: 'loss', reduce: 'last' }],
    ...over,
  };
}

const spec = (name: string, s: unknown, expected: Expected, extra: Partial<Entry> = {}): Entry => ({ name, act: (b) => runSpec(b, s), expect: expected, ...extra });
const query = (name: string, q: unknown, expected: Expected, base: Obj = mf()): Entry => ({ name, act: (b) => runQuery(b, base, q), expect: expected });
const withRun = (name: string, f: (run: Run) => unknown, expected: Expected, base: Obj = mf()): Entry => ({
  name,
  act: async (b) => {
    const run = Run.withBackend(b, base as unknown as RunSpec);
    try {
      return await f(run);
    } finally {
      run.dispose();
    }
  },
  expect: expected,
});

const E = {
  spec: (field: string | RegExp): Expected => ({ cls: 'InvalidSpecError', code: 'invalid_spec', field }),
  range: (field: string | RegExp): Expected => ({ cls: 'OutOfRangeError', code: 'out_of_range', field }),
  nonFinite: (field: string | RegExp): Expected => ({ cls: 'NonFiniteError', code: 'non_finite', field }),
  tooLarge: (field: string | RegExp): Expected => ({ cls: 'TooLargeError', code: 'too_large', field }),
  request: (field: string | RegExp): Expected => ({ cls: 'InvalidRequestError', code: 'invalid_request', field }),
  shape: (field: string | RegExp): Expected => ({ cls: 'ShapeMismatchError', code: 'shape_mismatch', field }),
};

/** The field of a `too_large` error names the part of the spec that is too large; any path is accepted. */
const ANY_FIELD = /^[A-Za-z]/;

const HUGE_STRING = 'x'.repeat(20 * 1024 * 1024);

// ----------------------------------------------------------------------------------------------
// The catalogue

const memory: Entry[] = [
  spec('memory: 1 -> 100000 -> 1 ReLU network (valid: 3e5 parameters, no quadratic scratch any more)', net({
    model: { kind: 'network', inputDim: 1, layers: [{ width: 100_000, activation: 'relu' }, { width: 1 }] },
    data: { kind: 'generated', samples: 10, targets: { kind: 'gaussian' }, seed: 1 },
  }), E.tooLarge(ANY_FIELD), { accepted: true }),
  spec('memory: teacher of width 1e5 on 1e5 samples', net({
    model: { kind: 'network', inputDim: 3, layers: [{ width: 2 }] },
    data: { kind: 'generated', samples: 100_000, targets: { kind: 'teacher', widths: [100_000] }, seed: 1 },
    init: { kind: 'gaussian', variances: [0.4], seed: 4 },
  }), E.tooLarge(ANY_FIELD)),
  spec('memory: 500 -> 1e6 -> 1 network', net({
    model: { kind: 'network', inputDim: 500, layers: [{ width: 1_000_000, activation: 'relu' }, { width: 1 }] },
    data: { kind: 'generated', samples: 10, targets: { kind: 'gaussian' }, seed: 1 },
  }), E.tooLarge(ANY_FIELD)),
  spec('memory: 3000 layers of width 1, 1e6 recorded rows', net({
    model: { kind: 'network', inputDim: 1, layers: Array.from({ length: 3000 }, () => ({ width: 1 })) },
    data: { kind: 'generated', samples: 2, targets: { kind: 'gaussian' }, seed: 1 },
    init: { kind: 'gaussian', variances: Array.from({ length: 3000 }, () => 1), seed: 4 },
    steps: 1_000_000,
    recordEvery: 1,
  }), E.tooLarge(ANY_FIELD)),
  spec('memory: matrix factorization 1e6 x 1e6', mf({ model: { kind: 'matrixFactorization', d1: 1_000_000, d2: 1_000_000, rank: 1 }, target: { kind: 'random', singularValues: [1], seed: 1 } }), E.tooLarge(ANY_FIELD)),
];

const base = mf();
const n = net();
const integers: Entry[] = [
  spec('integers: recordEvery 5e9 (valid: counts go to 2^53 on both backends)', mf({ recordEvery: 5e9 }), E.range('recordEvery'), { accepted: true }),
  spec('integers: steps 2^32 (its recorded rows do not fit)', mf({ steps: 2 ** 32 }), E.tooLarge('steps')),
  spec('integers: steps 2^53 (its recorded rows do not fit)', mf({ steps: 2 ** 53 }), E.tooLarge('steps')),
  spec('integers: steps 2^53 + 2', mf({ steps: 2 ** 53 + 2 }), E.range('steps')),
  spec('integers: steps 1.5', mf({ steps: 1.5 }), E.range('steps')),
  spec('integers: steps -1', mf({ steps: -1 }), E.range('steps')),
  spec('integers: recordEvery 0', mf({ recordEvery: 0 }), E.range('recordEvery')),
  spec('integers: recordEvery 2.5', mf({ recordEvery: 2.5 }), E.range('recordEvery')),
  spec('integers: model.d1 2^32', at(base, 'model.d1', 2 ** 32), E.range('model.d1')),
  spec('integers: model.rank 1.5', at(base, 'model.rank', 1.5), E.range('model.rank')),
  spec('integers: layer width 2^32', at(n, 'model.layers[0].width', 2 ** 32), E.range('model.layers[0].width')),
  spec('integers: layer width 0', at(n, 'model.layers[0].width', 0), E.range('model.layers[0].width')),
  spec('integers: data.samples 2^32', at(n, 'data.samples', 2 ** 32), E.range('data.samples')),
  spec('integers: teacher width 2^32', at(n, 'data.targets.widths[0]', 2 ** 32), E.range('data.targets.widths[0]')),
  spec('integers: init.seed 2^53 + 2 (not exact)', at(base, 'init.seed', 2 ** 53 + 2), E.range('init.seed')),
  spec('integers: init.seed -1', at(base, 'init.seed', -1), E.range('init.seed')),
  spec('integers: target.seed 0.5', at(base, 'target.seed', 0.5), E.range('target.seed')),
  spec('integers: curvature.every 2^32 (valid: counts go to 2^53)', mf({ curvature: { every: 2 ** 32 } }), E.range('curvature.every'), { accepted: true }),
  spec('integers: curvature.maxIter 5e9', mf({ curvature: { every: 1, maxIter: 5e9 } }), E.range('curvature.maxIter')),
  spec('integers: sgd batchSize 2^32', net({ method: { kind: 'sgd', batchSize: 2 ** 32, seed: 1 } }), E.range('method.batchSize')),
  spec('integers: conv kernel 2^32', conv({ kernel: 2 ** 32 }), E.range('model.layers[0].kernel')),
  spec('integers: conv stride 1.5', conv({ stride: 1.5 }), E.range('model.layers[0].stride')),
  spec('integers: conv padding -1', conv({ padding: -1 }), E.range('model.layers[0].padding')),
  spec('integers: implicitMidpoint maxIter 2.5', mf({ method: { kind: 'implicitMidpoint', maxIter: 2.5 } }), E.range('method.maxIter')),
  query('integers: query.k 2^32', { what: 'eigs', k: 2 ** 32 }, E.range('query.k')),
  query('integers: query.probes 1e6 (documented at most 100000)', { what: 'trace', probes: 1e6 }, E.range('query.probes')),
  query('integers: query.maxIter 5e9', { what: 'eigs', method: 'lanczos', maxIter: 5e9 }, E.range('query.maxIter')),
  query('integers: query.seed -1', { what: 'eigs', seed: -1 }, E.range('query.seed')),
  query('integers: query.gridPoints 1', { what: 'density', gridPoints: 1 }, E.range('query.gridPoints')),
  query('integers: query.lanczosSteps 2.5', { what: 'density', lanczosSteps: 2.5 }, E.range('query.lanczosSteps')),
];

const nonFinite: Entry[] = [
  spec('non-finite: schedule.eta NaN', at(base, 'schedule.eta', NaN), E.nonFinite('schedule.eta')),
  spec('non-finite: schedule.eta Infinity', at(base, 'schedule.eta', Infinity), E.nonFinite('schedule.eta')),
  spec('non-finite: steps Infinity', mf({ steps: Infinity }), E.nonFinite('steps')),
  spec('non-finite: conv stride NaN', conv({ stride: NaN }), E.nonFinite('model.layers[0].stride')),
  spec('non-finite: conv padding Infinity', conv({ padding: Infinity }), E.nonFinite('model.layers[0].padding')),
  spec('non-finite: layer width NaN', at(n, 'model.layers[0].width', NaN), E.nonFinite('model.layers[0].width')),
  spec('non-finite: init.variances[1] NaN', at(n, 'init.variances[1]', NaN), E.nonFinite('init.variances[1]')),
  spec('non-finite: target.singularValues[0] Infinity', at(base, 'target.singularValues[0]', Infinity), E.nonFinite('target.singularValues[0]')),
  spec('non-finite: model.balanceWeight -Infinity', at(base, 'model.balanceWeight', -Infinity), E.nonFinite('model.balanceWeight')),
  spec('non-finite: weightDecay NaN', mf({ weightDecay: NaN }), E.nonFinite('weightDecay')),
  spec('non-finite: momentum beta NaN', mf({ method: { kind: 'momentum', beta: NaN } }), E.nonFinite('method.beta')),
  spec('non-finite: data.inputStd Infinity', at(n, 'data.inputStd', Infinity), E.nonFinite('data.inputStd')),
  spec('non-finite: curvature.tol NaN', mf({ curvature: { every: 1, tol: NaN } }), E.nonFinite('curvature.tol')),
  spec('non-finite: implicitMidpoint tol NaN', mf({ method: { kind: 'implicitMidpoint', tol: NaN } }), E.nonFinite('method.tol')),
  spec('non-finite: an entry of target.matrix NaN', mf({ target: { kind: 'explicit', matrix: [[1, 2, 3], [4, NaN, 6], [7, 8, 9], [1, 1, 1]] } }), E.nonFinite('target.matrix')),
  spec('non-finite: an entry of data.x Infinity', net({ data: { kind: 'explicit', x: [[1, 2, Infinity], [0, 1, 0]], y: [[1, 0], [0, 1]] } }), E.nonFinite('data.x')),
  query('non-finite: query.k NaN', { what: 'eigs', k: NaN }, E.nonFinite('query.k')),
  query('non-finite: query.tol Infinity', { what: 'eigs', method: 'lanczos', tol: Infinity }, E.nonFinite('query.tol')),
  query('non-finite: query.probes NaN', { what: 'density', probes: NaN }, E.nonFinite('query.probes')),
  query('non-finite: query.sigma -Infinity', { what: 'density', sigma: -Infinity }, E.nonFinite('query.sigma')),
  query('non-finite: query.gradTol NaN', { what: 'classify', gradTol: NaN }, E.nonFinite('query.gradTol')),
];

const nulls: Entry[] = [
  spec('null: schedule.eta', at(base, 'schedule.eta', null), E.spec('schedule.eta')),
  spec('null: steps', mf({ steps: null }), E.spec('steps')),
  spec('null: init.stdU', at(base, 'init.stdU', null), E.spec('init.stdU')),
  spec('null: conv stride', conv({ stride: null }), E.spec('model.layers[0].stride')),
  spec('null: method', mf({ method: null }), E.spec('method')),
  query('null: query.k', { what: 'eigs', k: null }, E.spec('query.k')),
  query('null: query.seed', { what: 'trace', seed: null }, E.spec('query.seed')),
];

const types: Entry[] = [
  spec('wrong type: schedule.eta "x"', at(base, 'schedule.eta', 'x'), E.spec('schedule.eta')),
  spec('wrong type: init.variances[0] "x"', at(n, 'init.variances[0]', 'x'), E.spec('init.variances[0]')),
  spec('wrong type: data.samples "10"', at(n, 'data.samples', '10'), E.spec('data.samples')),
  spec('wrong type: layer activation 5', at(n, 'model.layers[0].activation', 5), E.spec('model.layers[0].activation')),
  spec('wrong type: layer bias "yes"', at(n, 'model.layers[0].bias', 'yes'), E.spec('model.layers[0].bias')),
  spec('wrong type: method.kind "bogus"', mf({ method: { kind: 'bogus' } }), E.spec('method.kind')),
  spec('wrong type: schedule.kind 5', at(base, 'schedule.kind', 5), E.spec('schedule.kind')),
  spec('wrong type: target.singularValues "x"', at(base, 'target.singularValues', 'x'), E.spec('target.singularValues')),
  spec('wrong type: steps is a function', mf({ steps: () => 5 }), E.spec('steps')),
  spec('wrong type: the spec is a number', 5, E.spec('')),
  spec('wrong type: the spec is null', null, E.spec('')),
  query('wrong type: query.what "bogus"', { what: 'bogus' }, E.spec('query.what')),
  query('wrong type: query.which 5', { what: 'eigs', which: 5 }, E.spec('query.which')),
  query('wrong type: query.vectors "yes"', { what: 'eigs', vectors: 'yes' }, E.spec('query.vectors')),
];

const fields: Entry[] = [
  spec('missing: steps (a root field, named by itself)', at(base, 'steps', REMOVE), E.spec('steps')),
  spec('missing: schedule', at(base, 'schedule', REMOVE), E.spec('schedule')),
  spec('missing: model', at(base, 'model', REMOVE), E.spec('model')),
  spec('missing: schedule.eta', at(base, 'schedule.eta', REMOVE), E.spec('schedule.eta')),
  spec('missing: data.samples', at(n, 'data.samples', REMOVE), E.spec('data.samples')),
  spec('missing: init.seed', at(base, 'init.seed', REMOVE), E.spec('init.seed')),
  spec('missing: data.targets.kind', at(n, 'data.targets.kind', REMOVE), E.spec('data.targets.kind')),
  spec('missing: layer width', at(n, 'model.layers[0].width', REMOVE), E.spec('model.layers[0].width')),
  query('missing: query.what', { k: 1 }, E.spec('query.what')),
  spec('unknown: a root field', mf({ bogus: 1 }), E.spec('bogus')),
  spec('unknown: schedule.bogus', at(base, 'schedule.bogus', 1), E.spec('schedule.bogus')),
  spec('unknown: model.layers[0].bogus', at(n, 'model.layers[0].bogus', 1), E.spec('model.layers[0].bogus')),
  spec('unknown: data.targets.bogus', at(n, 'data.targets.bogus', 1), E.spec('data.targets.bogus')),
  query('unknown: query.bogus', { what: 'eigs', bogus: 1 }, E.spec('query.bogus')),
];

const SPEC_TEXT = JSON.stringify(mf());
const json: Entry[] = [
  // Text the core could not parse has no path: the error names `spec` and the column. (The TS
  // route, below, reads the text with JSON.parse and names the field.)
  { name: 'JSON text: schedule.eta 1e999', act: (b) => rawJson(b, SPEC_TEXT.replace('"eta":0.05', '"eta":1e999')), expect: E.nonFinite('spec') },
  { name: 'JSON text: steps -1e999', act: (b) => rawJson(b, SPEC_TEXT.replace('"steps":5', '"steps":-1e999')), expect: E.nonFinite('spec') },
  spec('JSON text: schedule.eta 1e999 read with JSON.parse', JSON.parse(SPEC_TEXT.replace('"eta":0.05', '"eta":1e999')), E.nonFinite('schedule.eta')),
];

const structure: Entry[] = [
  spec('structure: a cyclic spec', (() => {
    const s = mf();
    (s['model'] as Obj)['self'] = s['model'];
    return s;
  })(), E.spec('model.self')),
  spec('structure: a BigInt (steps: 5n)', mf({ steps: BigInt(5) }), E.spec('steps')),
  spec('structure: a BigInt in a layer (width: 4n)', at(n, 'model.layers[0].width', BigInt(4)), E.spec('model.layers[0].width')),
  spec('structure: schedule.eta nested 100,000 deep (objects)', at(base, 'schedule.eta', deep(100_000)), E.spec(/^schedule\.eta/)),
  spec('structure: steps nested 100,000 deep (arrays)', mf({ steps: deep(100_000, 1, '[]') }), E.spec(/^steps/)),
  query('structure: a BigInt in a query (k: 2n)', { what: 'eigs', k: BigInt(2) }, E.spec('query.k')),
  query('structure: query.k nested 100,000 deep', { what: 'eigs', k: deep(100_000) }, E.spec(/^query\.k/)),
  query('structure: a cyclic query', (() => {
    const q: Obj = { what: 'eigs' };
    q['self'] = q;
    return q;
  })(), E.spec('query.self')),
];

const misuse: Entry[] = [
  withRun("misuse: run.advance('5')", (r) => r.advance('5' as unknown as number), E.request('maxSteps')),
  withRun('misuse: run.advance(-1)', (r) => r.advance(-1), E.request('maxSteps')),
  withRun('misuse: run.advance(1.5)', (r) => r.advance(1.5), E.request('maxSteps')),
  withRun('misuse: run.advance(NaN)', (r) => r.advance(NaN), E.request('maxSteps')),
  withRun('misuse: run.advance(undefined)', (r) => r.advance(undefined as unknown as number), E.request('maxSteps')),
  withRun('misuse: run.advance(5n)', (r) => r.advance(BigInt(5) as unknown as number), E.request('maxSteps')),
  withRun('misuse: run.advanceAsync({})', (r) => r.advanceAsync({} as unknown as number), E.request('maxSteps')),
  withRun("misuse: run.column('loss', -1)", (r) => r.column('loss', -1), E.request('start')),
  withRun("misuse: run.column('loss', '0')", (r) => r.column('loss', '0' as unknown as number), E.request('start')),
  withRun('misuse: an advance after dispose', (r) => {
    r.dispose();
    return r.advance(1);
  }, E.request('run')),
  withRun('misuse: two advances at once', async (r) => {
    const first = r.advanceAsync(1);
    try {
      r.advance(1);
    } finally {
      await first;
    }
  }, E.request('run')),
  query('misuse: query.block unknown', { what: 'eigs', block: 'W9' }, E.request('query.block')),
  query('misuse: lemma32 on a network', { what: 'lemma32' }, E.request('query.what'), net()),
  { name: "misuse: loadBackendByName('bogus')", act: () => loadBackendByName('bogus' as never), expect: E.request('backend') },
];

const hangs: Entry[] = [
  spec('hang: implicitMidpoint tol 1e-300, maxIter 4e9', net({
    model: { kind: 'network', inputDim: 3, layers: [{ width: 4, activation: 'relu', bias: true }, { width: 2 }] },
    schedule: { kind: 'constant', eta: 1.5 },
    method: { kind: 'implicitMidpoint', tol: 1e-300, maxIter: 4e9 },
    steps: 20,
  }), E.range('method.maxIter'), { orCleanStopWithin: BUDGET_MS }),
  spec('hang: implicitMidpoint tol 0', mf({ method: { kind: 'implicitMidpoint', tol: 0 } }), E.range('method.tol')),
];

const messages: Entry[] = [
  spec('message: a 20 MB schedule.kind', at(base, 'schedule.kind', HUGE_STRING), E.spec('schedule.kind')),
  spec('message: a 20 MB layer activation', at(n, 'model.layers[0].activation', HUGE_STRING), E.spec('model.layers[0].activation')),
  spec('message: a 20 MB model.kind', at(base, 'model.kind', HUGE_STRING), E.spec('model.kind')),
  query('message: a 20 MB query.what', { what: HUGE_STRING }, E.spec('query.what')),
  query('message: a 20 MB query.block', { what: 'eigs', block: HUGE_STRING }, E.request('query.block')),
];

const sweepEntry = (name: string, s: unknown, expected: Expected, extra: Partial<Entry> = {}): Entry => ({ name, act: (b) => runSweep(b, s), expect: expected, ...extra });
const sweeps: Entry[] = [
  sweepEntry('sweep: an axis value that makes a bad run (eta -1)', sw({ axes: [{ path: 'schedule.eta', values: [0.05, -1] }] }), E.range('axes[0].values[1]')),
  sweepEntry('sweep: an axis path with a typo', sw({ axes: [{ path: 'schedule.etaa', values: [0.05] }] }), E.spec('axes[0].path')),
  sweepEntry('sweep: an axis path through a number', sw({ axes: [{ path: 'steps.x', values: [1] }] }), E.spec('axes[0].path')),
  sweepEntry('sweep: an axis path that is not a path', sw({ axes: [{ path: 'a..b', values: [1] }] }), E.spec('axes[0].path')),
  sweepEntry('sweep: no values', sw({ axes: [{ path: 'schedule.eta', values: [] }] }), E.spec('axes[0].values')),
  sweepEntry('sweep: a null value', sw({ axes: [{ path: 'schedule.eta', values: [0.1, null] }] }), E.spec('axes[0].values[1]')),
  sweepEntry('sweep: zipped axes of different lengths', sw({ axes: [{ zip: [{ path: 'init.stdU', values: [0.1, 0.2] }, { path: 'init.stdV', values: [0.1] }] }] }), E.shape('axes[0].zip[1]')),
  sweepEntry('sweep: a log range from 0', sw({ axes: [{ path: 'schedule.eta', range: { from: 0, to: 1, count: 3, scale: 'log' } }] }), E.range('axes[0].range')),
  sweepEntry('sweep: a range of 2^17 points', sw({ axes: [{ path: 'schedule.eta', range: { from: 0.01, to: 0.1, count: 2 ** 17 } }] }), E.range('axes[0].range.count')),
  sweepEntry('sweep: seeds.count 0', sw({ seeds: { count: 0 } }), E.range('seeds.count')),
  sweepEntry('sweep: seeds.count 1.5', sw({ seeds: { count: 1.5 } }), E.range('seeds.count')),
  sweepEntry('sweep: more than 2^53 runs', sw({ seeds: { count: 2 ** 53, paths: ['init.seed'] } }), E.range('axes')),
  sweepEntry('sweep: a seed path that is also an axis', sw({ axes: [{ path: 'init.seed', values: [1, 2] }] }), E.spec('seeds.paths[0]')),
  sweepEntry('sweep: a kept column that does not exist', sw({ keep: [{ name: 'final', column: 'residue', reduce: 'last' }] }), E.spec('keep[0].column')),
  sweepEntry('sweep: a kept value with two kinds', sw({ keep: [{ name: 'final', column: 'loss', reduce: 'last', firstAtOrBelow: 1 }] }), E.spec('keep[0]')),
  sweepEntry('sweep: a row predicate on a missing column', sw({ keep: [{ name: 'hit', firstStepWhere: { all: [{ of: 'loss', le: 1 }, { of: 'lost', ge: 0 }] } }] }), E.spec('keep[0].firstStepWhere.all[1].of')),
  sweepEntry('sweep: a row predicate testing the stop', sw({ keep: [{ name: 'hit', firstStepWhere: { stop: 'diverged' } }] }), E.spec('keep[0].firstStepWhere.stop')),
  sweepEntry('sweep: a class on an unknown kept value', sw({ classes: [{ name: 'ok', when: { of: 'fianl', le: 1 } }] }), E.spec('classes[0].when.of')),
  sweepEntry('sweep: a class named other', sw({ classes: [{ name: 'other', when: { stop: 'finished' } }] }), E.spec('classes[0].name')),
  sweepEntry('sweep: a bad curvature query', sw({ keep: [{ name: 'l', curvature: { query: { what: 'eigs', which: 'middle' }, pointer: '/smallest/0/value' } }] }), E.spec(/^keep\[0\]\.curvature\.query/)),
  sweepEntry('sweep: threads 10^6', sw({ threads: 1e6 }), E.range('threads')),
  sweepEntry('sweep: runs past the end (a spec field of the study, an option of sweep())', sw({ runs: { start: 0, end: 5 } }), E.request('options.runs')),
  sweepEntry('sweep: an unknown field', sw({ seed: 3 }), E.spec('seed')),
  sweepEntry('sweep: a value nested 100,000 deep', sw({ axes: [{ path: 'schedule.eta', values: [deep(100_000)] }] }), E.spec(/^axes/)),
  sweepEntry('sweep: a base error names base.', sw({ base: mf({ steps: -1 }) }), E.range('base.steps')),
  sweepEntry('sweep: values valid alone, not together (error rows, the sweep finishes)', sw({
    base: mf({ model: { kind: 'matrixFactorization', d1: 6, d2: 5, rank: 1 }, target: { kind: 'random', singularValues: [1], seed: 1 } }),
    axes: [{ path: 'model.d1', values: [6, 3] }, { zip: [{ path: 'model.rank', values: [1, 4] }, { path: 'target.singularValues', values: [[1], [1, 1, 1, 1]] }] }],
  }), E.range('model.rank'), { accepted: true }),
];

const o = octo();
const octopus: Entry[] = [
  spec('octopus: model.d 0', at(o, 'model.d', 0), E.range('model.d')),
  spec('octopus: model.d 4097 (documented at most 4096)', at(o, 'model.d', 4097), E.range('model.d')),
  spec('octopus: model.d 2^32', at(o, 'model.d', 2 ** 32), E.range('model.d')),
  spec('octopus: model.d 1.5', at(o, 'model.d', 1.5), E.range('model.d')),
  spec('octopus: model.L -1', at(o, 'model.L', -1), E.range('model.L')),
  spec('octopus: model.L 1e300 (documented at most 1e100)', at(o, 'model.L', 1e300), E.range('model.L')),
  spec('octopus: model.gamma 0', at(o, 'model.gamma', 0), E.range('model.gamma')),
  spec('octopus: model.tau NaN', at(o, 'model.tau', NaN), E.nonFinite('model.tau')),
  spec('octopus: model.L missing', at(o, 'model.L', REMOVE), E.spec('model.L')),
  spec('octopus: model.l (the field is L)', at(o, 'model.l', 2), E.spec('model.l')),
  spec('octopus: model.arithmetic "double"', at(o, 'model.arithmetic', 'double'), E.spec('model.arithmetic')),
  spec('octopus: init.kind "gaussian"', octo({ init: { kind: 'gaussian', std: 1, seed: 1 } }), E.spec('init.kind')),
  spec('octopus: init.x of the wrong length', octo({ init: { kind: 'point', x: [0.1, 0.2] } }), E.shape('init.x')),
  spec('octopus: init.x[1] Infinity', octo({ init: { kind: 'point', x: [0.1, Infinity, 0.2] } }), E.nonFinite('init.x[1]')),
  spec('octopus: init.x[2] "x"', octo({ init: { kind: 'point', x: [0.1, 0.2, 'x'] } }), E.spec(/^init\.x/)),
  spec('octopus: init.x outside D (a trailing coordinate > tau)', octo({ init: { kind: 'point', x: [0.5, 0.1, 1.5] } }), E.range('init.x[2]')),
  spec('octopus: init.x outside D (a leading coordinate > 6 tau)', octo({ init: { kind: 'point', x: [6.5, 0.1, 0.1] } }), E.range('init.x[0]')),
  spec('octopus: a uniform init that draws outside D', octo({ init: { kind: 'uniform', low: -3, high: 3, seed: 0 } }), E.range('init')),
  spec('octopus: init.high < init.low', octo({ init: { kind: 'uniform', low: 1, high: -1, seed: 0 } }), E.range('init.high')),
  spec('octopus: init.seed 0.5', at(o, 'init.seed', 0.5), E.range('init.seed')),
  spec('octopus: leaving D stops the run (diverged, the last point in D kept)', octo({ init: { kind: 'point', x: [4.5, 0.1, 0.1] }, schedule: { kind: 'constant', eta: 1.2 }, steps: 50 }), E.range('schedule.eta'), { accepted: true }),
  spec('octopus: logScale with momentum (plain GD only)', octo({ model: { kind: 'octopus', d: 3, L: 2, tau: 1, arithmetic: 'logScale' }, method: { kind: 'momentum', beta: 0.5 } }), E.range('model.arithmetic')),
  spec('octopus: logScale with weight decay', octo({ model: { kind: 'octopus', d: 3, L: 2, tau: 1, arithmetic: 'logScale' }, weightDecay: 0.01 }), E.range('model.arithmetic')),
  query('octopus: lemma32 on an octopus', { what: 'lemma32' }, E.request('query.what'), o),
  query('octopus: stationaryPoints on matrix factorization', { what: 'stationaryPoints' }, E.request('query.what')),
];

// Memory and hangs last: on a build without the fixes, a wasm trap can leave the module unusable
// and a hang never returns, so the other categories run (and report) first.
const CATALOGUE: Record<string, Entry[]> = { integers, nonFinite, nulls, types, fields, json, structure, misuse, messages, sweeps, octopus, memory, hangs };

// ----------------------------------------------------------------------------------------------

const maskNumbers = (s: string): string => s.replace(/[0-9][0-9.,e+]*/g, '#');

function fieldMatches(want: string | RegExp, got: string): boolean {
  return typeof want === 'string' ? want === got : want.test(got);
}

async function outcome(entry: Entry, b: Backend): Promise<{ thrown: ThrownRecord | null; value: unknown; ms: number }> {
  const t0 = performance.now();
  try {
    const value = await entry.act(b);
    return { thrown: null, value, ms: performance.now() - t0 };
  } catch (e) {
    return { thrown: thrownRecord(e), value: undefined, ms: performance.now() - t0 };
  }
}

describe('catalogue of bad inputs: class, code and field on both backends', () => {
  const all = Object.values(CATALOGUE).flat();
  it('has at least 60 entries covering every category', () => {
    expect(all.length).toBeGreaterThanOrEqual(60);
    for (const [category, entries] of Object.entries(CATALOGUE)) expect(entries.length, category).toBeGreaterThan(0);
  });

  for (const [category, entries] of Object.entries(CATALOGUE)) {
    describe(category, () => {
      for (const entry of entries) {
        it(entry.name, async () => {
          const native = await loadBackendByName('native');
          const wasm = await loadBackendByName('wasm');
          const got = { native: await outcome(entry, native), wasm: await outcome(entry, wasm) };
          const want = entry.expect;
          const problems: string[] = [];
          for (const [name, o] of Object.entries(got)) {
            const t = o.thrown;
            if (t === null) {
              const v = o.value as { ms?: number; finiteState?: boolean; stopped?: boolean } | undefined;
              if (entry.orCleanStopWithin !== undefined && v && v.finiteState && v.stopped && o.ms <= entry.orCleanStopWithin) continue;
              if (entry.accepted && v && v.finiteState && v.stopped) continue;
              problems.push(`${name}: no error (${o.ms.toFixed(0)} ms), expected ${want.cls} ${want.code} at ${String(want.field)}`);
              continue;
            }
            if (entry.accepted) {
              problems.push(`${name}: ${showThrown(t)}, expected this valid input to run`);
              continue;
            }
            if (t.cls !== want.cls || t.code !== want.code || !fieldMatches(want.field, t.field)) {
              problems.push(`${name}: ${showThrown(t)}, expected ${want.cls} ${want.code} at ${String(want.field)}`);
            }
            if (t.message.length > MAX_MESSAGE_CHARS) problems.push(`${name}: message of ${t.message.length} characters (at most ${MAX_MESSAGE_CHARS})`);
          }
          const a = got.native.thrown;
          const b = got.wasm.thrown;
          if (a && b) {
            // A problem too large for both backends may be refused at different parts of the spec (the
            // budget is checked as it is built, and wasm's limit is lower): class and code must agree.
            const same = a.cls === b.cls && a.code === b.code && (a.code === 'too_large' || (a.field === b.field && a.message === b.message));
            if (!same) problems.push(`backends differ: native ${showThrown(a)} | wasm ${showThrown(b)}`);
          }
          const report = process.env['CATALOGUE_REPORT'];
          if (report) {
            const { appendFileSync } = await import('node:fs');
            appendFileSync(report, `${JSON.stringify({ entry: entry.name, ok: problems.length === 0, problems })}\n`);
          }
          expect(problems).toEqual([]);
        });
      }
    });
  }
});
