// The generic TS layer over the core's run specs (issue 9, item 9):
// - encodeSpec walks the whole spec: every matrix input at any path becomes a buffer named by its
//   path, and the JSON of today's specs is byte for byte what it was before the walk;
// - applyOverrides finds seeds by walking the spec, and gives today's presets the seeds it gave them;
// - the TS spec types (one file per family) agree with what the core accepts: fixtures typed as the
//   TS types, with every field of every variant set somewhere (checked by tsc, which this file runs
//   on itself), are accepted by the core on the backend of this pass, and an unknown field at any
//   object of them is refused with invalid_spec naming it.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import ts from 'typescript';
import { describe, expect, it } from 'vitest';

import {
  type Activation,
  AutobalanceError,
  type ConvFilterInitSpec,
  type ConvFilterModel,
  type ConvFilterPatchesSpec,
  type ConvFilterRunSpec,
  type ConvFilterSamplingSpec,
  type ConvFilterTeacherSpec,
  type ContinuousCriticalSpec,
  type ContinuousDataSpec,
  type ContinuousInitSpec,
  type ContinuousLinearModel,
  type ContinuousLinearRunSpec,
  type CurvatureSpec,
  type DataSpec,
  InvalidRequestError,
  InvalidSpecError,
  type LayerSpec,
  type MatrixFactorizationRunSpec,
  type MethodSpec,
  type NetInitSpec,
  type NetworkModel,
  type NetworkRunSpec,
  type OctopusInitSpec,
  type OctopusModel,
  type OctopusRunSpec,
  type DeepSmoothDataSpec,
  type DeepSmoothInitSpec,
  type DeepSmoothModel,
  type DeepSmoothRunSpec,
  type TwoLayerReluDataSpec,
  type TwoLayerReluInitSpec,
  type TwoLayerReluModel,
  type TwoLayerReluRunSpec,
  type WeightNormCnnInitSpec,
  type WeightNormCnnModel,
  type WeightNormCnnRunSpec,
  type WeightNormCnnTeacher,
  type Preset,
  Run,
  type RunSpec,
  type ScheduleSpec,
  ShapeMismatchError,
  type TargetSpec,
  applyOverrides,
  encodeSpec,
  matrix,
  presetList,
  presetSpec,
} from 'autobalance';
import type { InitSpec, MatrixFactorizationModel, MatrixInput } from 'autobalance';

import { convFilterFamily } from '../packages/autobalance/src/families/convFilter.js';
import { continuousLinearFamily } from '../packages/autobalance/src/families/continuousLinear.js';
import { deepSmoothFamily } from '../packages/autobalance/src/families/deepSmooth.js';
import { FAMILIES } from '../packages/autobalance/src/families/index.js';
import { matrixFactorizationFamily } from '../packages/autobalance/src/families/matrixFactorization.js';
import { networkFamily } from '../packages/autobalance/src/families/network.js';
import { twoLayerReluFamily } from '../packages/autobalance/src/families/twoLayerRelu.js';

import { BACKEND } from './helpers.js';

const opts = { backend: BACKEND } as const;
const here = dirname(fileURLToPath(import.meta.url));

/** Buffers as plain arrays, keyed in sorted order (the order of a Record is not part of the contract). */
function plainBuffers(b: Record<string, Float64Array>): Record<string, number[]> {
  return Object.fromEntries(
    Object.keys(b)
      .sort()
      .map((k) => [k, Array.from(b[k] ?? [])]),
  );
}

async function failure(spec: unknown): Promise<AutobalanceError> {
  let run: Run | undefined;
  try {
    run = await Run.create(spec as RunSpec, opts);
  } catch (e) {
    expect(e).toBeInstanceOf(AutobalanceError);
    return e as AutobalanceError;
  } finally {
    run?.dispose();
  }
  throw new Error('expected the core to refuse the spec');
}

// ---------------------------------------------------------------------------------------------
// (a) encodeSpec

describe('encodeSpec: today\'s specs give byte-identical JSON and the same buffers', () => {
  // Expected strings: the output of encodeSpec before it became a generic walk (commit 222ac85,
  // which named target.matrix, init.u0, init.v0, data.x, data.y, model.layers[i].pattern and the
  // network's init.weights / init.biases one by one), captured by running that build on these specs.
  const cases: { name: string; spec: unknown; json: string; buffers: Record<string, number[]> }[] = [
    {
      name: 'matrix factorization, explicit target and init in the three matrix forms, every run option',
      spec: {
        model: { kind: 'matrixFactorization', d1: 2, d2: 3, rank: 1, balanceWeight: 0.125 },
        target: { kind: 'explicit', matrix: [[1, 2, 3], [4, 5, 6]] },
        init: { kind: 'explicit', u0: matrix(2, 1, [7, 8]), v0: { rows: 3, cols: 1, data: [9, 10, 11] } },
        schedule: { kind: 'constant', eta: 0.1 },
        steps: 3,
        recordEvery: 1,
        method: { kind: 'adam', beta1: 0.8 },
        weightDecay: 0.01,
        curvature: { every: 1, tol: 1e-6, maxIter: 30, seed: 4 },
      },
      json: '{"model":{"kind":"matrixFactorization","d1":2,"d2":3,"rank":1,"balanceWeight":0.125},"target":{"kind":"explicit","matrix":{"rows":2,"cols":3}},"init":{"kind":"explicit","u0":{"rows":2,"cols":1},"v0":{"rows":3,"cols":1}},"schedule":{"kind":"constant","eta":0.1},"steps":3,"recordEvery":1,"method":{"kind":"adam","beta1":0.8},"weightDecay":0.01,"curvature":{"every":1,"tol":0.000001,"maxIter":30,"seed":4}}',
      buffers: { 'init.u0': [7, 8], 'init.v0': [9, 10, 11], 'target.matrix': [1, 2, 3, 4, 5, 6] },
    },
    {
      name: 'matrix factorization, random target and Gaussian init (the README example)',
      spec: {
        model: { kind: 'matrixFactorization', d1: 100, d2: 80, rank: 5 },
        target: { kind: 'random', singularValues: [5, 4, 3, 2, 1], seed: 1 },
        init: { kind: 'gaussian', stdU: 1e-3, stdV: 1e-3, seed: 2 },
        schedule: { kind: 'constant', eta: 0.02 },
        steps: 1000,
        recordEvery: 10,
      },
      json: '{"model":{"kind":"matrixFactorization","d1":100,"d2":80,"rank":5},"target":{"kind":"random","singularValues":[5,4,3,2,1],"seed":1},"init":{"kind":"gaussian","stdU":0.001,"stdV":0.001,"seed":2},"schedule":{"kind":"constant","eta":0.02},"steps":1000,"recordEvery":10}',
      buffers: {},
    },
    {
      name: 'network, generated data (teacher), Gaussian init, SGD',
      spec: {
        model: { kind: 'network', inputDim: 4, layers: [{ width: 5, activation: 'relu' }, { type: 'dense', width: 2 }], loss: 'squared' },
        data: { kind: 'generated', samples: 16, inputs: 'sphere', targets: { kind: 'teacher', widths: [3], activation: 'leakyRelu', slope: 0.1, scale: 2 }, seed: 1 },
        init: { kind: 'gaussian', variances: [0.25, 0.2], seed: 2 },
        schedule: { kind: 'constant', eta: 0.05 },
        steps: 20,
        method: { kind: 'sgd', batchSize: 4, seed: 3 },
      },
      json: '{"model":{"kind":"network","inputDim":4,"layers":[{"width":5,"activation":"relu"},{"type":"dense","width":2}],"loss":"squared"},"data":{"kind":"generated","samples":16,"inputs":"sphere","targets":{"kind":"teacher","widths":[3],"activation":"leakyRelu","slope":0.1,"scale":2},"seed":1},"init":{"kind":"gaussian","variances":[0.25,0.2],"seed":2},"schedule":{"kind":"constant","eta":0.05},"steps":20,"method":{"kind":"sgd","batchSize":4,"seed":3}}',
      buffers: {},
    },
    {
      name: 'network, shared layer pattern, explicit data, explicit weights and biases',
      spec: {
        model: {
          kind: 'network',
          inputDim: 3,
          layers: [
            { type: 'shared', width: 2, params: 2, pattern: [[1, 0, 2], [0, 2, 1]], activation: 'relu', bias: true },
            { type: 'dense', width: 1, bias: false },
          ],
        },
        data: { kind: 'explicit', x: [[1, 2, 3], [4, 5, 6]], y: matrix(2, 1, [1, 0]) },
        init: { kind: 'explicit', weights: [[[0.1, 0.2]], { rows: 1, cols: 2, data: [0.3, 0.4] }], biases: [[0.5, 0.6], null] },
        schedule: { kind: 'constant', eta: 0.05 },
        steps: 5,
      },
      json: '{"model":{"kind":"network","inputDim":3,"layers":[{"type":"shared","width":2,"params":2,"pattern":{"rows":2,"cols":3},"activation":"relu","bias":true},{"type":"dense","width":1,"bias":false}]},"data":{"kind":"explicit","x":{"rows":2,"cols":3},"y":{"rows":2,"cols":1}},"init":{"kind":"explicit"},"schedule":{"kind":"constant","eta":0.05},"steps":5}',
      buffers: {
        'data.x': [1, 2, 3, 4, 5, 6],
        'data.y': [1, 0],
        'init.b1': [0.5, 0.6],
        'init.w1': [0.1, 0.2],
        'init.w2': [0.3, 0.4],
        'model.layers[0].pattern': [1, 0, 2, 0, 2, 1],
      },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const before = JSON.stringify(c.spec);
      const enc = encodeSpec(c.spec);
      expect(enc.json).toBe(c.json);
      expect(plainBuffers(enc.buffers)).toEqual(c.buffers);
      // The caller's spec is not modified.
      expect(JSON.stringify(c.spec)).toBe(before);
    });
  }

  it('a Float64Array given as data travels as is (no copy)', () => {
    const d = new Float64Array([1, 2, 3, 4]);
    const enc = encodeSpec({ target: { kind: 'explicit', matrix: { rows: 2, cols: 2, data: d } } });
    expect(enc.buffers['target.matrix']).toBe(d);
  });
});

describe('encodeSpec: a matrix input at any path becomes a buffer named by that path', () => {
  it('in each accepted form, at a nested path no family has', () => {
    const enc = encodeSpec({
      model: { kind: 'toy' },
      problem: {
        deep: [
          { m: [[1, 2], [3, 4], [5, 6]] },
          { m: matrix(1, 2, [7, 8]), n: { rows: 2, cols: 1, data: [9, 10] } },
        ],
        list: [[[1]], [[2, 3]]],
      },
    });
    expect(enc.json).toBe(
      '{"model":{"kind":"toy"},"problem":{"deep":[{"m":{"rows":3,"cols":2}},{"m":{"rows":1,"cols":2},"n":{"rows":2,"cols":1}}],"list":[{"rows":1,"cols":1},{"rows":1,"cols":2}]}}',
    );
    expect(plainBuffers(enc.buffers)).toEqual({
      'problem.deep[0].m': [1, 2, 3, 4, 5, 6],
      'problem.deep[1].m': [7, 8],
      'problem.deep[1].n': [9, 10],
      'problem.list[0]': [1],
      'problem.list[1]': [2, 3],
    });
  });

  it('leaves what is not a matrix input alone: numbers, number lists, empty lists, strings, shapes', () => {
    const spec = {
      a: { values: [1, 2, 3], none: [], name: 'x', n: 3, shape: { rows: 2, cols: 2 }, flags: [true, null], objs: [{ k: 1 }] },
      data: { kind: 'generated', samples: 3 },
    };
    const enc = encodeSpec(spec);
    expect(enc.json).toBe(JSON.stringify(spec));
    expect(enc.buffers).toEqual({});
  });

  it('bad matrices at any path throw the typed errors naming the full path', () => {
    const at = (m: unknown): unknown => ({ model: { kind: 'toy' }, a: { b: [0, 1, { c: m }] } });
    const err = (m: unknown): AutobalanceError => {
      try {
        encodeSpec(at(m));
      } catch (e) {
        expect(e).toBeInstanceOf(AutobalanceError);
        return e as AutobalanceError;
      }
      throw new Error('expected encodeSpec to throw');
    };
    let e = err([[1, 2], [3]]);
    expect(e).toBeInstanceOf(ShapeMismatchError);
    expect(e.field).toBe('a.b[2].c');
    expect(e.message).toBe('a.b[2].c: ragged rows: row 0 has 2 entries but row 1 has 1');
    e = err([[1, 'x']]);
    expect(e).toBeInstanceOf(InvalidSpecError);
    expect(e.message).toBe('a.b[2].c: entry (0, 1) is not a number: "x"');
    e = err([[1, 2], 3]);
    expect(e).toBeInstanceOf(InvalidSpecError);
    expect(e.message).toBe('a.b[2].c: row 1 is not an array of numbers');
    e = err({ rows: 1, cols: 2, data: [1, 'a'] });
    expect(e).toBeInstanceOf(InvalidSpecError);
    expect(e.message).toBe('a.b[2].c.data: entry 1 is not a number: "a"');
    e = err({ rows: 1, cols: 2, data: 'zz' });
    expect(e).toBeInstanceOf(InvalidSpecError);
    expect(e.message).toBe('a.b[2].c.data: expected an array of numbers or a Float64Array');
    // The same errors at a path a family reads.
    try {
      encodeSpec({ model: { kind: 'network', layers: [{}, { type: 'shared', pattern: [[1], [2, 3]] }] } });
      expect.unreachable();
    } catch (x) {
      expect(x).toBeInstanceOf(ShapeMismatchError);
      expect((x as AutobalanceError).field).toBe('model.layers[1].pattern');
    }
  });

  it('refuses two matrices that would travel under one buffer name', () => {
    expect(() =>
      encodeSpec({ model: { kind: 'network' }, init: { kind: 'explicit', weights: [[[1]]], w1: [[2]] } }),
    ).toThrow(/init\.w1: two matrices/);
  });

  it('the core refuses a matrix at a path it does not know, naming the path', async () => {
    const spec: MatrixFactorizationRunSpec = {
      model: { kind: 'matrixFactorization', d1: 3, d2: 2, rank: 1 },
      target: { kind: 'random', singularValues: [1], seed: 1 },
      init: { kind: 'gaussian', stdU: 0.1, stdV: 0.1, seed: 2 },
      schedule: { kind: 'constant', eta: 0.1 },
      steps: 1,
    };
    const enc = encodeSpec({ ...spec, curvature: { every: 1, extra: [[1, 2]] } });
    expect(Object.keys(enc.buffers)).toEqual(['curvature.extra']);
    const e = await failure({ ...spec, curvature: { every: 1, extra: [[1, 2]] } });
    expect(e).toBeInstanceOf(InvalidSpecError);
    expect(e.code).toBe('invalid_spec');
    expect(e.field).toBe('curvature.extra');
  });

  it('a value that is not a matrix input: an error naming the field at a family\'s matrix field, else left to the core', async () => {
    const spec = (matrix: unknown): unknown => ({
      model: { kind: 'matrixFactorization', d1: 3, d2: 2, rank: 1 },
      target: { kind: 'explicit', matrix },
      init: { kind: 'gaussian', stdU: 0.1, stdV: 0.1, seed: 2 },
      schedule: { kind: 'constant', eta: 0.1 },
      steps: 1,
    });
    for (const bad of ['foo', 3, null, { rows: 3, cols: 2 }]) {
      expect(() => encodeSpec(spec(bad)), JSON.stringify(bad)).toThrow(InvalidSpecError);
      expect(() => encodeSpec(spec(bad))).toThrow(/^target\.matrix: expected a matrix: an array of rows, or \{rows, cols, data\}$/);
    }
    // `[1, 2]` is not an array of rows: row 0 is not an array.
    expect(() => encodeSpec(spec([1, 2]))).toThrow(/^target\.matrix: row 0 is not an array of numbers$/);
    // At a matrix field even [] is a matrix (0 x 0), as before; the core then checks its shape.
    expect(encodeSpec(spec([])).json).toContain('"matrix":{"rows":0,"cols":0}');
    const e = await failure(spec([]));
    expect(e.code).toBe('out_of_range');
    expect(e.field).toBe('target.matrix.rows');
    // Where no family declares a matrix, such values are plain values, for the core to judge.
    const free = { model: { kind: 'toy' }, problem: { m: 'foo', n: [1, 2], o: [] } };
    expect(encodeSpec(free).json).toBe(JSON.stringify(free));
  });

  it('the core refuses a buffer it does not read (a pattern on a dense layer), naming the path', async () => {
    const spec: NetworkRunSpec = {
      model: { kind: 'network', inputDim: 2, layers: [{ width: 2, pattern: [[1, 0], [0, 1]] }, { width: 1 }] },
      data: { kind: 'generated', samples: 4, targets: { kind: 'gaussian' }, seed: 1 },
      init: { kind: 'gaussian', stds: [0.5, 0.5], seed: 2 },
      schedule: { kind: 'constant', eta: 0.1 },
      steps: 1,
    };
    expect(Object.keys(encodeSpec(spec).buffers)).toEqual(['model.layers[0].pattern']);
    const e = await failure(spec);
    expect(e).toBeInstanceOf(InvalidRequestError);
    expect(e.field).toBe('model.layers[0].pattern');
    expect(e.detail).toMatch(/not used/);
  });
});

// ---------------------------------------------------------------------------------------------
// (b) seeds

/** The seed holders as applyOverrides found them before the walk (commit 222ac85), for comparison. */
function legacySeedHolders(spec: RunSpec): { seed: number }[] {
  const out: { seed: number }[] = [];
  const parts = 'target' in spec ? [spec.target, spec.init] : 'data' in spec ? [spec.data, spec.init, spec.method] : [spec.init, spec.method];
  for (const part of parts as unknown[]) {
    if (typeof part === 'object' && part !== null && typeof (part as { seed?: unknown }).seed === 'number') {
      out.push(part as { seed: number });
    }
  }
  return out;
}

function legacyApplySeed(preset: Preset, seed: number): Preset {
  const copy = JSON.parse(JSON.stringify(preset)) as Preset;
  const holders = copy.runs.flatMap((r) => legacySeedHolders(r.spec));
  if (holders.length > 0) {
    const shift = seed - Math.min(...holders.map((h) => h.seed));
    for (const h of holders) h.seed += shift;
  }
  return copy;
}

/** Every numeric `seed` in x with its path, depth first. */
function seedsOf(x: unknown, path = ''): [string, number][] {
  if (typeof x !== 'object' || x === null) return [];
  const entries: [string, unknown][] = Array.isArray(x) ? x.map((v, i) => [`${path}[${i}]`, v]) : Object.entries(x).map(([k, v]) => [path ? `${path}.${k}` : k, v]);
  return entries.flatMap(([p, v]) => (p.endsWith('.seed') && typeof v === 'number' ? [[p, v] as [string, number]] : seedsOf(v, p)));
}

describe('applyOverrides: seeds found by walking the spec', () => {
  it('moves every numeric seed, at every depth, by one shift; leaves other fields and absent seeds alone', () => {
    const spec = {
      model: { kind: 'toy', parts: [{ seed: 40, w: 1 }, { noise: { seed: 41, deeper: [{ seed: 42 }] } }, { seed: 'not a number' }] },
      target: { kind: 'random', singularValues: [1], seed: 10 },
      init: { kind: 'targetSvd', components: [0] },
      method: { kind: 'sgd', batchSize: 2, seed: 30 },
      curvature: { every: 1, seed: 20 },
      schedule: { kind: 'constant', eta: 0.1 },
      steps: 7,
    };
    const preset: Preset = { name: 't', description: '', runs: [{ label: 'a', spec: spec as unknown as RunSpec }], plots: [], hessian: [], reference: [] };
    const out = applyOverrides(preset, { seed: 100 });
    expect(seedsOf(out.runs[0]?.spec)).toEqual([
      ['model.parts[0].seed', 130],
      ['model.parts[1].noise.seed', 131],
      ['model.parts[1].noise.deeper[0].seed', 132],
      ['target.seed', 100],
      ['method.seed', 120],
      ['curvature.seed', 110],
    ]);
    // Everything else is unchanged (the default seed of init stays absent).
    const strip = (s: unknown): string => JSON.stringify(s, (k, v: unknown) => (k === 'seed' && typeof v === 'number' ? undefined : v));
    expect(strip(out.runs[0]?.spec)).toBe(strip(spec));
    expect('seed' in (out.runs[0]?.spec.init ?? {})).toBe(false);
    // Runs that shared a seed still share one, across runs and depths.
    const two: Preset = { ...preset, runs: [{ label: 'a', spec: spec as unknown as RunSpec }, { label: 'b', spec: { ...spec, target: { ...spec.target, seed: 41 } } as unknown as RunSpec }] };
    const o2 = applyOverrides(two, { seed: 0 });
    expect((o2.runs[1]?.spec as unknown as typeof spec).target.seed).toBe(31);
    expect((o2.runs[0]?.spec as unknown as typeof spec).model.parts[1]?.noise?.seed).toBe(31);
  });

  it('gives every preset of the core the seeds the family-specific version gave it', async () => {
    const names = (await presetList(opts)).map((p) => p.name);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      const preset = await presetSpec(name, opts);
      // A sweep preset has no runs; --seed sets its sweep's seeds (test/presets.test.ts), a
      // studies preset's its studies' (test/presets-laws.test.ts).
      if (preset.sweep || preset.studies) continue;
      // The old version knew the families of its time only (matrix factorization, networks); a
      // newer family's seeds (weightNormCnn's teacher.aStar.seed) are found by the walk alone.
      if (!preset.runs.every((r) => ['matrixFactorization', 'network'].includes((r.spec.model as { kind: string }).kind))) continue;
      // Those presets hold seeds only where the old version looked (target / data, init, method),
      // so the walk finds the same holders...
      for (const r of preset.runs) {
        const found = seedsOf(r.spec).map(([p]) => p.replace(/\.seed$/, ''));
        const legacy = new Set(legacySeedHolders(r.spec).map((h) => Object.entries(r.spec).find(([, v]) => v === h)?.[0]));
        expect(new Set(found), `${name} / ${r.label}`).toEqual(legacy);
      }
      // ...and the same seeds, for several targets of --seed.
      for (const seed of [0, 7, 123456]) {
        expect(applyOverrides(preset, { seed }), `${name} --seed ${seed}`).toEqual(legacyApplySeed(preset, seed));
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// (c) the TS types against the core

/** The union of the keys of every member of U. */
type KeysOfUnion<U> = U extends unknown ? keyof U : never;

/**
 * The fields of T that no fixture in F sets: per variant when T is a union tagged by `kind` (all of
 * a variant's fields, `kind` included, when no fixture has its kind), else over all fixtures.
 */
export type Unset<T, F> = T extends { kind: infer K } ? Exclude<keyof T, KeysOfUnion<Extract<F, { kind: K }>>> : Exclude<keyof T, KeysOfUnion<F>>;

/** `true` when the fixtures F set every field of every variant of T, else the fields they miss. */
export type AllSet<T, F> = [Unset<T, F>] extends [never] ? true : Unset<T, F>;

/** `true` when the values F cover the literal union T, else the values they miss. */
export type AllValues<T, F> = [Exclude<T, F>] extends [never] ? true : Exclude<T, F>;

/** The values of field K over the members of U that have it. */
type FieldValues<U, K extends PropertyKey> = U extends unknown ? (K extends keyof U ? U[K] : never) : never;

/** The fixtures as given (a tuple), each checked against T, with their own types (literal kinds) kept. */
function fixtures<T>() {
  return <F extends readonly T[]>(...f: F): F => f;
}

// Every method with every optional field (sgd: networks only).
const METHODS = fixtures<MethodSpec>()(
  { kind: 'gd' },
  { kind: 'momentum', beta: 0.5 },
  { kind: 'nesterov', beta: 0.5 },
  { kind: 'adam', beta1: 0.8, beta2: 0.99, eps: 1e-7 },
  { kind: 'sgd', batchSize: 4, seed: 5 },
  { kind: 'euler' },
  { kind: 'rk4' },
  { kind: 'dopri5', rtol: 1e-5, atol: 1e-8 },
  { kind: 'implicitMidpoint', tol: 1e-12, maxIter: 50 },
  { kind: 'perturbedGd', gThres: 0.1, tThres: 2, radius: 0.01, seed: 1 },
);
const methodsCovered: AllSet<MethodSpec, (typeof METHODS)[number]> = true;

const SCHEDULES = fixtures<ScheduleSpec>()(
  { kind: 'constant', eta: 0.01 },
  { kind: 'inversePower', c: 0.01, delta: 0.25 },
  { kind: 'theorem31', eps: 0.1 },
);
const schedulesCovered: AllSet<ScheduleSpec, (typeof SCHEDULES)[number]> = true;

const CURVATURE = { every: 2, tol: 1e-6, maxIter: 50, seed: 3 } as const satisfies CurvatureSpec;
const curvatureCovered: AllSet<CurvatureSpec, typeof CURVATURE> = true;

// Matrix factorization.
const MF_MODEL = { kind: 'matrixFactorization', d1: 4, d2: 3, rank: 2, balanceWeight: 0.125 } as const satisfies MatrixFactorizationModel;
const mfModelCovered: AllSet<MatrixFactorizationModel, typeof MF_MODEL> = true;
const MF_TARGETS = fixtures<TargetSpec>()(
  { kind: 'explicit', matrix: [[3, 0, 0], [0, 1, 0], [0, 0, 0.5], [0, 0, 0]] },
  { kind: 'random', singularValues: [3, 1], seed: 1 },
);
const mfTargetsCovered: AllSet<TargetSpec, (typeof MF_TARGETS)[number]> = true;
const MF_INITS = fixtures<InitSpec>()(
  { kind: 'explicit', u0: matrix(4, 2, [0.1, 0, 0, 0.1, 0.1, 0, 0, 0.1]), v0: { rows: 3, cols: 2, data: [0.1, 0, 0, 0.1, 0.1, 0.1] } },
  { kind: 'gaussian', stdU: 0.1, stdV: 0.1, seed: 2 },
  { kind: 'targetSvd', components: [0], noiseStd: 1e-3, seed: 3 },
);
const mfInitsCovered: AllSet<InitSpec, (typeof MF_INITS)[number]> = true;

/** The matrix-factorization run with every run option set; the others vary one part of it. */
const MF_RUN = fixtures<MatrixFactorizationRunSpec>()({
  model: MF_MODEL,
  target: MF_TARGETS[1],
  init: MF_INITS[1],
  schedule: SCHEDULES[0],
  steps: 4,
  recordEvery: 2,
  method: METHODS[0],
  weightDecay: 1e-3,
  curvature: CURVATURE,
});
const mfRunCovered: AllSet<MatrixFactorizationRunSpec, (typeof MF_RUN)[number]> = true;

/** Matrix-factorization specs: every target with every init, and every schedule and method once. */
function mfSpecs(): { label: string; spec: MatrixFactorizationRunSpec }[] {
  const base = MF_RUN[0];
  const out: { label: string; spec: MatrixFactorizationRunSpec }[] = [];
  for (const target of MF_TARGETS) for (const init of MF_INITS) out.push({ label: `target ${target.kind}, init ${init.kind}`, spec: { ...base, target, init } });
  for (const schedule of SCHEDULES) out.push({ label: `schedule ${schedule.kind}`, spec: { ...base, schedule } });
  for (const method of METHODS) {
    if (method.kind === 'sgd') continue; // networks only
    out.push({ label: `method ${method.kind}`, spec: { ...base, method } });
  }
  return out;
}

// Networks. Input 8 = 2 channels x 2 x 2 for the conv2d layer; then conv1d; then shared; dense.
const LAYERS = fixtures<LayerSpec>()(
  { type: 'conv2d', inChannels: 2, inHeight: 2, outChannels: 2, kernel: 2, stride: 1, padding: 1, activation: 'relu' }, // 8 -> 2 x 3 x 3 = 18
  { type: 'conv1d', inChannels: 2, outChannels: 1, kernel: 3, stride: 2, padding: 0, activation: 'leakyRelu', slope: 0.1 }, // 18 = 2 x 9 -> 4
  { type: 'shared', width: 3, params: 2, pattern: [[1, 0, 2, 0], [0, 1, 0, 2], [2, 0, 1, 0]], activation: 'linear' }, // 4 -> 3
  { type: 'dense', width: 2, bias: true }, // 3 -> 2
);
const layersCovered: AllSet<LayerSpec, (typeof LAYERS)[number]> = true;
const layerTypesCovered: AllValues<NonNullable<LayerSpec['type']>, FieldValues<(typeof LAYERS)[number], 'type'>> = true;
const activationsCovered: AllValues<Activation, FieldValues<(typeof LAYERS)[number], 'activation'>> = true;
const NET_MODELS = fixtures<NetworkModel>()(
  { kind: 'network', inputDim: 8, layers: LAYERS, loss: 'squared' },
  { kind: 'network', inputDim: 3, layers: [{ width: 2, activation: 'relu', bias: true }, { type: 'shared', width: 2, params: 1, pattern: [[1, 0], [0, 1]] }], loss: 'crossEntropy' },
);
const netModelsCovered: AllSet<NetworkModel, (typeof NET_MODELS)[number]> = true;
const lossesCovered: AllValues<NonNullable<NetworkModel['loss']>, FieldValues<(typeof NET_MODELS)[number], 'loss'>> = true;
type TargetGen = Extract<DataSpec, { kind: 'generated' }>['targets'];
const TARGET_GENS = fixtures<TargetGen>()(
  { kind: 'gaussian', std: 0.5 },
  { kind: 'teacher', widths: [3], activation: 'leakyRelu', slope: 0.2, scale: 2 },
);
const targetGensCovered: AllSet<TargetGen, (typeof TARGET_GENS)[number]> = true;
/** Data for model `m` (0: 8 inputs, 2 outputs; 1: 3 inputs, 2 outputs). */
const DATA = fixtures<DataSpec>()(
  { kind: 'generated', samples: 6, inputs: 'gaussian', inputStd: 0.5, targets: TARGET_GENS[0], seed: 1 },
  { kind: 'generated', samples: 6, inputs: 'sphere', targets: TARGET_GENS[1], seed: 1 },
  { kind: 'explicit', x: [[1, 0, 2], [0, 1, 0], [1, 1, 1]], y: [[1, 0], [0, 1], [0, 1]] },
);
const dataCovered: AllSet<DataSpec, (typeof DATA)[number]> = true;
const inputsCovered: AllValues<NonNullable<Extract<DataSpec, { kind: 'generated' }>['inputs']>, FieldValues<(typeof DATA)[number], 'inputs'>> = true;
const NET_INITS = fixtures<NetInitSpec>()(
  { kind: 'gaussian', variances: [0.25, 0.25, 0.25, 0.25], seed: 2 },
  { kind: 'gaussian', stds: [0.5, 0.5], seed: 2 },
  { kind: 'explicit', weights: [[[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]], [[0.5]]], biases: [[0.1, -0.1], null] },
);
const netInitsCovered: AllSet<NetInitSpec, (typeof NET_INITS)[number]> = true;

/** The network run with every run option set; the others vary one part of it. */
const NET_RUN = fixtures<NetworkRunSpec>()({
  model: NET_MODELS[0],
  data: DATA[0],
  init: NET_INITS[0],
  schedule: SCHEDULES[0],
  steps: 4,
  recordEvery: 2,
  method: METHODS[0],
  weightDecay: 1e-3,
  curvature: CURVATURE,
});
const netRunCovered: AllSet<NetworkRunSpec, (typeof NET_RUN)[number]> = true;

/** Network specs: both models with their data and inits, and every schedule and method once. */
function netSpecs(): { label: string; spec: NetworkRunSpec }[] {
  const base = NET_RUN[0];
  const out: { label: string; spec: NetworkRunSpec }[] = [
    { label: 'conv and shared layers, gaussian targets, gaussian init (variances)', spec: base },
    { label: 'conv and shared layers, teacher targets', spec: { ...base, data: DATA[1] } },
    { label: 'cross-entropy, explicit data, gaussian init (stds)', spec: { ...base, model: NET_MODELS[1], data: DATA[2], init: NET_INITS[1] } },
    { label: 'cross-entropy, explicit data, explicit init', spec: { ...base, model: NET_MODELS[1], data: DATA[2], init: NET_INITS[2] } },
  ];
  for (const schedule of SCHEDULES) {
    if (schedule.kind === 'theorem31') continue; // matrix factorization only
    out.push({ label: `schedule ${schedule.kind}`, spec: { ...base, schedule } });
  }
  for (const method of METHODS) out.push({ label: `method ${method.kind}`, spec: { ...base, method } });
  return out;
}

// Octopus (no matrix fields). `arithmetic: 'float'` sets the field (logScale: docs/octopus.md).
const OCTOPUS_MODEL = { kind: 'octopus', d: 3, L: 2, gamma: 1, tau: 1, arithmetic: 'float' } as const satisfies OctopusModel;
const octopusModelCovered: AllSet<OctopusModel, typeof OCTOPUS_MODEL> = true;
const OCTOPUS_INITS = fixtures<OctopusInitSpec>()(
  { kind: 'uniform', low: -1, high: 1, seed: 3 },
  { kind: 'point', x: [4.5, -1.5, 0.25] },
);
const octopusInitsCovered: AllSet<OctopusInitSpec, (typeof OCTOPUS_INITS)[number]> = true;
const OCTOPUS_RUN = fixtures<OctopusRunSpec>()({
  model: OCTOPUS_MODEL,
  init: OCTOPUS_INITS[0],
  schedule: { kind: 'constant', eta: 0.05 },
  steps: 4,
  recordEvery: 2,
  method: METHODS[0],
  weightDecay: 1e-3,
  curvature: CURVATURE,
});
const octopusRunCovered: AllSet<OctopusRunSpec, (typeof OCTOPUS_RUN)[number]> = true;

/** Octopus specs: both inits, and every schedule and method once. */
function octopusSpecs(): { label: string; spec: OctopusRunSpec }[] {
  const base = OCTOPUS_RUN[0];
  const out: { label: string; spec: OctopusRunSpec }[] = OCTOPUS_INITS.map((init) => ({ label: `init ${init.kind}`, spec: { ...base, init } }));
  for (const schedule of SCHEDULES) {
    if (schedule.kind === 'theorem31') continue; // matrix factorization only
    out.push({ label: `schedule ${schedule.kind}`, spec: { ...base, schedule } });
  }
  for (const method of METHODS) {
    if (method.kind === 'sgd') continue; // networks only
    out.push({ label: `method ${method.kind}`, spec: { ...base, method } });
  }
  return out;
}

// Weight-normalized CNN (no matrix fields): both losses, both teachers, both inits.
const WNCNN_MODELS = fixtures<WeightNormCnnModel>()(
  { kind: 'weightNormCnn', k: 4, p: 3, loss: 'population', stopWhenDecided: false },
  { kind: 'weightNormCnn', k: 4, p: 3, loss: 'empirical' },
);
const wncnnModelCovered: AllSet<WeightNormCnnModel, (typeof WNCNN_MODELS)[number]> = true;
const WNCNN_TEACHERS = fixtures<WeightNormCnnTeacher>()(
  { wStarNorm: 1.5, wStar: { kind: 'random', seed: 1 }, aStar: { kind: 'ratio', r: 2, norm: 1, seed: 2 } },
  { wStar: { kind: 'vector', w: [1, 0, 0] }, aStar: { kind: 'vector', a: [1, -0.5, 0.25, 0] } },
);
const wncnnTeacherCovered: AllSet<WeightNormCnnTeacher, (typeof WNCNN_TEACHERS)[number]> = true;
const wncnnWStarCovered: AllSet<WeightNormCnnTeacher['wStar'], (typeof WNCNN_TEACHERS)[number]['wStar']> = true;
const wncnnAStarCovered: AllSet<WeightNormCnnTeacher['aStar'], (typeof WNCNN_TEACHERS)[number]['aStar']> = true;
const WNCNN_INITS = fixtures<WeightNormCnnInitSpec>()(
  { kind: 'theorem54', vNorm: 0.5, seed: 3, signs: [1, -1] },
  { kind: 'point', v: [0.3, -0.2, 0.9], a: [0.1, 0.2, -0.1, 0.05] },
);
const wncnnInitsCovered: AllSet<WeightNormCnnInitSpec, (typeof WNCNN_INITS)[number]> = true;
const WNCNN_RUN = fixtures<WeightNormCnnRunSpec>()({
  model: WNCNN_MODELS[1],
  teacher: WNCNN_TEACHERS[0],
  init: WNCNN_INITS[0],
  data: { samples: 8, seed: 4 },
  schedule: { kind: 'constant', eta: 0.05 },
  steps: 4,
  recordEvery: 2,
  method: METHODS[0],
  weightDecay: 1e-3,
  curvature: CURVATURE,
});
const wncnnRunCovered: AllSet<WeightNormCnnRunSpec, (typeof WNCNN_RUN)[number]> = true;

/** weightNormCnn specs: both losses, teachers and inits, and every schedule and method once. */
function wncnnSpecs(): { label: string; spec: WeightNormCnnRunSpec }[] {
  const emp = WNCNN_RUN[0];
  const { data: _data, ...rest } = emp;
  const pop: WeightNormCnnRunSpec = { ...rest, model: WNCNN_MODELS[0] };
  const out: { label: string; spec: WeightNormCnnRunSpec }[] = [
    { label: 'empirical loss, random teacher, theorem54 init', spec: emp },
    ...WNCNN_INITS.map((init) => ({ label: `population loss, given teacher, init ${init.kind}`, spec: { ...pop, teacher: WNCNN_TEACHERS[1], init } })),
  ];
  for (const schedule of SCHEDULES) {
    if (schedule.kind === 'theorem31') continue; // matrix factorization only
    out.push({ label: `schedule ${schedule.kind}`, spec: { ...pop, schedule } });
  }
  // SGD needs the empirical loss (its sample).
  for (const method of METHODS) out.push({ label: `method ${method.kind}`, spec: { ...(method.kind === 'sgd' ? emp : pop), method } });
  return out;
}

// Convolutional filter (thesis ch. 6): every teacher, patch distribution, sampling and init.
const CONV_MODEL = { kind: 'convFilter', p: 2, k: 2 } as const satisfies ConvFilterModel;
const convModelCovered: AllSet<ConvFilterModel, typeof CONV_MODEL> = true;
const CONV_TEACHERS = fixtures<ConvFilterTeacherSpec>()({ kind: 'vector', w: [1, 0] }, { kind: 'random', norm: 2, seed: 4 });
const convTeachersCovered: AllSet<ConvFilterTeacherSpec, (typeof CONV_TEACHERS)[number]> = true;
const CONV_PATCHES = fixtures<ConvFilterPatchesSpec>()(
  { kind: 'gaussian' },
  { kind: 'circleMixture', s: 0.5 },
  { kind: 'aroundBase', s2: 0.3, s: 1 },
  { kind: 'data', z: [[1, 0, 0.5, 0.5], [0, 1, -1, 0.2], [0.3, 0.3, 0.1, -0.4]] },
);
const convPatchesCovered: AllSet<ConvFilterPatchesSpec, (typeof CONV_PATCHES)[number]> = true;
const CONV_SAMPLING = fixtures<ConvFilterSamplingSpec>()({ kind: 'fresh', batch: 3, seed: 2 }, { kind: 'fixed', samples: 8, seed: 1 });
const convSamplingCovered: AllSet<ConvFilterSamplingSpec, (typeof CONV_SAMPLING)[number]> = true;
const CONV_INITS = fixtures<ConvFilterInitSpec>()(
  { kind: 'point', w: [0.6, 0.6] },
  { kind: 'ball', radius: 0.8, seed: 3 },
  { kind: 'gaussian', std: 0.5, seed: 3 },
);
const convInitsCovered: AllSet<ConvFilterInitSpec, (typeof CONV_INITS)[number]> = true;
const CONV_RUN = fixtures<ConvFilterRunSpec>()({
  model: CONV_MODEL,
  teacher: CONV_TEACHERS[0],
  patches: CONV_PATCHES[1],
  sampling: CONV_SAMPLING[0],
  init: CONV_INITS[0],
  schedule: { kind: 'constant', eta: 0.05 },
  steps: 4,
  recordEvery: 2,
  method: METHODS[0],
  weightDecay: 1e-3,
  curvature: CURVATURE,
});
const convRunCovered: AllSet<ConvFilterRunSpec, (typeof CONV_RUN)[number]> = true;

/** Convolutional-filter specs: every teacher, patch kind (data: fixed, all rows), sampling, init, schedule and method once. */
function convFilterSpecs(): { label: string; spec: ConvFilterRunSpec }[] {
  const base = CONV_RUN[0];
  const out: { label: string; spec: ConvFilterRunSpec }[] = [];
  for (const teacher of CONV_TEACHERS) out.push({ label: `teacher ${teacher.kind}`, spec: { ...base, teacher } });
  for (const patches of CONV_PATCHES) {
    out.push({ label: `patches ${patches.kind}`, spec: { ...base, patches, ...(patches.kind === 'data' ? { sampling: { kind: 'fixed' } } : {}) } });
  }
  for (const sampling of CONV_SAMPLING) out.push({ label: `sampling ${sampling.kind}`, spec: { ...base, sampling } });
  for (const init of CONV_INITS) out.push({ label: `init ${init.kind}`, spec: { ...base, init } });
  for (const schedule of SCHEDULES) {
    if (schedule.kind === 'theorem31') continue; // matrix factorization only
    out.push({ label: `schedule ${schedule.kind}`, spec: { ...base, schedule } });
  }
  for (const method of METHODS) {
    // sgd: mini-batches of the step's samples (batch 3 here).
    out.push({ label: `method ${method.kind}`, spec: { ...base, method: method.kind === 'sgd' ? { ...method, batchSize: 2 } : method } });
  }
  return out;
}

// continuousLinear (Taghvaei et al. 2017): every matrix travels as a buffer named by its path.
const J2 = [[0, -1], [1, 0]];
const HALF_PI_J = [[0, -Math.PI / 2], [Math.PI / 2, 0]];
const CONT_MODEL = { kind: 'continuousLinear', n: 2, K: 4, T: 1, lambda: 0.1, discretization: 'euler' } as const satisfies ContinuousLinearModel;
const contModelCovered: AllSet<ContinuousLinearModel, typeof CONT_MODEL> = true;
const CONT_DATA = fixtures<ContinuousDataSpec>()(
  { kind: 'population', R: J2, sigma0: [[1, 0.2], [0.2, 0.8]], dR: [[0, 0], [0, 1]], sigma: 0.3 },
  { kind: 'samples', R: J2, samples: 8, noise: 0.1, seed: 4 },
);
const contDataCovered: AllSet<ContinuousDataSpec, (typeof CONT_DATA)[number]> = true;
const CONT_INITS = fixtures<ContinuousInitSpec>()(
  { kind: 'gaussian', std: 0.2, seed: 3 },
  { kind: 'constant', C: HALF_PI_J },
  { kind: 'critical', C: [[0.1, -1.5], [1.6, 0]] },
);
const contInitsCovered: AllSet<ContinuousInitSpec, (typeof CONT_INITS)[number]> = true;
const CONT_CRITICAL = { C: [HALF_PI_J], sheets: [0, 1] } as const satisfies ContinuousCriticalSpec;
const contCriticalCovered: AllSet<ContinuousCriticalSpec, typeof CONT_CRITICAL> = true;
const CONT_RUN = fixtures<ContinuousLinearRunSpec>()({
  model: CONT_MODEL,
  data: CONT_DATA[0],
  init: CONT_INITS[0],
  critical: CONT_CRITICAL,
  schedule: { kind: 'constant', eta: 0.05 },
  steps: 4,
  recordEvery: 2,
  method: METHODS[0],
  weightDecay: 1e-3,
  curvature: CURVATURE,
});
const contRunCovered: AllSet<ContinuousLinearRunSpec, (typeof CONT_RUN)[number]> = true;

/** continuousLinear specs: both data kinds, every init, and every schedule and method once. */
function continuousSpecs(): { label: string; spec: ContinuousLinearRunSpec }[] {
  const base = CONT_RUN[0];
  const { critical: _critical, ...noCritical } = base;
  const out: { label: string; spec: ContinuousLinearRunSpec }[] = [
    ...CONT_INITS.map((init) => ({ label: `init ${init.kind}`, spec: { ...base, init } })),
    { label: 'samples data', spec: { ...noCritical, data: CONT_DATA[1] } },
    { label: 'exponential', spec: { ...base, model: { ...CONT_MODEL, discretization: 'exponential' as const } } },
  ];
  for (const schedule of SCHEDULES) {
    if (schedule.kind === 'theorem31') continue; // matrix factorization only
    out.push({ label: `schedule ${schedule.kind}`, spec: { ...base, schedule } });
  }
  for (const method of METHODS) {
    out.push({ label: `method ${method.kind}`, spec: method.kind === 'sgd' ? { ...noCritical, data: CONT_DATA[1], method } : { ...base, method } });
  }
  return out;
}

// deepSmooth (thesis ch. 3): every architecture, data kind and init (no sgd: the loss is a sum over
// the samples, so the core refuses mini-batches).
const DEEP_MODEL = { kind: 'deepSmooth', architecture: 'convResnet', depth: 2, width: 3, activation: 'tanh', cRes: 0.5, patch: 3, gram: { every: 1 } } as const satisfies DeepSmoothModel;
const deepModelCovered: AllSet<DeepSmoothModel, typeof DEEP_MODEL> = true;
const DEEP_DATA = fixtures<DeepSmoothDataSpec>()(
  { kind: 'sphere', n: 4, channels: 2, length: 3, seed: 1 },
  { kind: 'sphere', n: 4, d: 3, seed: 2 },
  { kind: 'explicit', x: [[1, 0, 0.5, 0.5, 0, 0.1], [0, 1, -1, 0.2, 0.3, 0], [0.3, 0.3, 0.1, -0.4, 0.2, 0.2]], y: [[1], [0], [-1]], channels: 2 },
);
const deepDataCovered: AllSet<DeepSmoothDataSpec, (typeof DEEP_DATA)[number]> = true;
const DEEP_INITS = fixtures<DeepSmoothInitSpec>()(
  { kind: 'gaussian', seed: 3, std: 1 },
  // convResnet, d0 = 2, q = 3, m = 3, H = 2, p = 3: 3 * 6 + 3 * 9 + 3 * 3 = 54 parameters.
  { kind: 'explicit', theta: [Array.from({ length: 54 }, (_, i) => Math.sin(i + 1))] },
);
const deepInitsCovered: AllSet<DeepSmoothInitSpec, (typeof DEEP_INITS)[number]> = true;
const DEEP_RUN = fixtures<DeepSmoothRunSpec>()({
  model: DEEP_MODEL,
  data: DEEP_DATA[0],
  init: DEEP_INITS[0],
  schedule: { kind: 'constant', eta: 0.05 },
  steps: 4,
  recordEvery: 2,
  method: METHODS[0],
  weightDecay: 1e-3,
  curvature: CURVATURE,
});
const deepRunCovered: AllSet<DeepSmoothRunSpec, (typeof DEEP_RUN)[number]> = true;

/** deepSmooth specs: every architecture, data kind and init, and every schedule and method (but sgd) once. */
function deepSpecs(): { label: string; spec: DeepSmoothRunSpec }[] {
  const base = DEEP_RUN[0];
  const fc = { kind: 'deepSmooth', architecture: 'fullyConnected', depth: 3, width: 4, activation: 'softplus' } as const;
  const out: { label: string; spec: DeepSmoothRunSpec }[] = [
    { label: 'fullyConnected, sphere d', spec: { ...base, model: fc, data: DEEP_DATA[1] } },
    { label: 'resnet, sphere d', spec: { ...base, model: { ...fc, architecture: 'resnet', activation: 'sigmoid', cRes: 0.3 }, data: DEEP_DATA[1] } },
    { label: 'explicit data and init', spec: { ...base, data: DEEP_DATA[2], init: DEEP_INITS[1] } },
  ];
  for (const schedule of SCHEDULES) {
    if (schedule.kind === 'theorem31') continue; // matrix factorization only
    out.push({ label: `schedule ${schedule.kind}`, spec: { ...base, schedule } });
  }
  for (const method of METHODS) if (method.kind !== 'sgd') out.push({ label: `method ${method.kind}`, spec: { ...base, method } });
  return out;
}

// Two-layer ReLU network (thesis ch. 2): both data kinds, both inits, both losses, the Gram
// columns and the envelopes.
const WIDE_MODELS = fixtures<TwoLayerReluModel>()({ kind: 'twoLayerRelu', width: 12, loss: 'sum', gram: { every: 2 }, envelopeEta: 0.1 }, { kind: 'twoLayerRelu', width: 8, loss: 'mean' });
const wideModelCovered: AllSet<TwoLayerReluModel, (typeof WIDE_MODELS)[number]> = true;
const WIDE_DATA = fixtures<TwoLayerReluDataSpec>()(
  { kind: 'sphere', n: 4, d: 3, seed: 1 },
  { kind: 'explicit', x: [[1, 0, 0], [0, 1, 0], [0, 0.6, 0.8], [0.6, 0, -0.8]], y: [[0.5], [-1], [0.2], [1]] },
);
const wideDataCovered: AllSet<TwoLayerReluDataSpec, (typeof WIDE_DATA)[number]> = true;
const WIDE_INITS = fixtures<TwoLayerReluInitSpec>()(
  { kind: 'gaussian', seed: 2, std: 1 },
  { kind: 'explicit', w: Array.from({ length: 8 }, (_, r) => [Math.sin(r + 1), Math.cos(2 * r + 1), 0.3 - 0.1 * r]), a: Array.from({ length: 8 }, (_, r) => [r % 2 === 0 ? 1 : -1]) },
);
const wideInitsCovered: AllSet<TwoLayerReluInitSpec, (typeof WIDE_INITS)[number]> = true;
const WIDE_RUN = fixtures<TwoLayerReluRunSpec>()({
  model: WIDE_MODELS[0],
  data: WIDE_DATA[0],
  init: WIDE_INITS[0],
  schedule: { kind: 'constant', eta: 0.1 },
  steps: 4,
  recordEvery: 2,
  method: METHODS[0],
  weightDecay: 1e-3,
  curvature: CURVATURE,
});
const wideRunCovered: AllSet<TwoLayerReluRunSpec, (typeof WIDE_RUN)[number]> = true;

/** twoLayerRelu specs: both data kinds, both inits (explicit with width 8), every schedule and method (not sgd: no samples) once. */
function wideSpecs(): { label: string; spec: TwoLayerReluRunSpec }[] {
  const base = WIDE_RUN[0];
  const out: { label: string; spec: TwoLayerReluRunSpec }[] = [
    { label: 'explicit data, mean loss', spec: { ...base, model: WIDE_MODELS[1], data: WIDE_DATA[1], init: { kind: 'gaussian', seed: 3 } } },
    { label: 'explicit init', spec: { ...base, model: WIDE_MODELS[1], init: WIDE_INITS[1] } },
  ];
  for (const schedule of SCHEDULES) {
    if (schedule.kind === 'theorem31') continue; // matrix factorization only
    out.push({ label: `schedule ${schedule.kind}`, spec: { ...base, schedule } });
  }
  for (const method of METHODS) {
    if (method.kind === 'sgd') continue; // the family has no samples
    out.push({ label: `method ${method.kind}`, spec: { ...base, method } });
  }
  return out;
}

// The families' matrix fields (families/*.ts, what encodeSpec checks strictly) are exactly the
// fields their types declare as MatrixInput.
/** The paths (`[]` for any index) of the fields of T typed as a matrix input. */
type MatrixFieldPaths<T, P extends string = ''> = T extends MatrixInput
  ? P
  : T extends ArrayBufferView | string | number | boolean | null | undefined
    ? never
    : T extends readonly (infer E)[]
      ? MatrixFieldPaths<E, `${P}[]`>
      : T extends object
        ? { [K in keyof T & string]-?: MatrixFieldPaths<NonNullable<T[K]>, P extends '' ? K : `${P}.${K}`> }[keyof T & string]
        : never;
type MfMatrixFields = MatrixFieldPaths<MatrixFactorizationRunSpec>;
type NetMatrixFields = MatrixFieldPaths<NetworkRunSpec>;
type ContMatrixFields = MatrixFieldPaths<ContinuousLinearRunSpec>;
const mfMatrixFieldsListed: AllValues<MfMatrixFields, (typeof matrixFactorizationFamily.matrixFields)[number]> = true;
const mfMatrixFieldsTyped: AllValues<(typeof matrixFactorizationFamily.matrixFields)[number], MfMatrixFields> = true;
const netMatrixFieldsListed: AllValues<NetMatrixFields, (typeof networkFamily.matrixFields)[number]> = true;
const netMatrixFieldsTyped: AllValues<(typeof networkFamily.matrixFields)[number], NetMatrixFields> = true;
const contMatrixFieldsListed: AllValues<ContMatrixFields, (typeof continuousLinearFamily.matrixFields)[number]> = true;
const contMatrixFieldsTyped: AllValues<(typeof continuousLinearFamily.matrixFields)[number], ContMatrixFields> = true;
type ConvMatrixFields = MatrixFieldPaths<ConvFilterRunSpec>;
const convMatrixFieldsListed: AllValues<ConvMatrixFields, (typeof convFilterFamily.matrixFields)[number]> = true;
const convMatrixFieldsTyped: AllValues<(typeof convFilterFamily.matrixFields)[number], ConvMatrixFields> = true;
type DeepMatrixFields = MatrixFieldPaths<DeepSmoothRunSpec>;
const deepMatrixFieldsListed: AllValues<DeepMatrixFields, (typeof deepSmoothFamily.matrixFields)[number]> = true;
const deepMatrixFieldsTyped: AllValues<(typeof deepSmoothFamily.matrixFields)[number], DeepMatrixFields> = true;
type WideMatrixFields = MatrixFieldPaths<TwoLayerReluRunSpec>;
const wideMatrixFieldsListed: AllValues<WideMatrixFields, (typeof twoLayerReluFamily.matrixFields)[number]> = true;
const wideMatrixFieldsTyped: AllValues<(typeof twoLayerReluFamily.matrixFields)[number], WideMatrixFields> = true;

// The checks above are compile-time; keep them referenced so that they are not dead code.
const COMPILE_TIME_CHECKS = [
  methodsCovered, schedulesCovered, curvatureCovered, mfModelCovered, mfTargetsCovered, mfInitsCovered, mfRunCovered,
  layersCovered, layerTypesCovered, activationsCovered, netModelsCovered, lossesCovered, targetGensCovered, dataCovered,
  inputsCovered, netInitsCovered, netRunCovered, mfMatrixFieldsListed, mfMatrixFieldsTyped, netMatrixFieldsListed,
  netMatrixFieldsTyped, octopusModelCovered, octopusInitsCovered, octopusRunCovered, wncnnModelCovered,
  wncnnTeacherCovered, wncnnWStarCovered, wncnnAStarCovered, wncnnInitsCovered, wncnnRunCovered,
  convModelCovered, convTeachersCovered, convPatchesCovered, convSamplingCovered, convInitsCovered, convRunCovered,
  convMatrixFieldsListed, convMatrixFieldsTyped,
  contModelCovered, contDataCovered, contInitsCovered, contCriticalCovered, contRunCovered, contMatrixFieldsListed,
  contMatrixFieldsTyped,
  deepModelCovered, deepDataCovered, deepInitsCovered, deepRunCovered, deepMatrixFieldsListed, deepMatrixFieldsTyped,
  wideModelCovered, wideDataCovered, wideInitsCovered, wideRunCovered, wideMatrixFieldsListed, wideMatrixFieldsTyped,
];

/** The paths of the objects of a spec that are not matrix inputs (where an unknown field can go). */
function objectPaths(x: unknown, path = ''): string[] {
  if (typeof x !== 'object' || x === null || ArrayBuffer.isView(x)) return [];
  if (Array.isArray(x)) return x.some(Array.isArray) ? [] : x.flatMap((v, i) => objectPaths(v, `${path}[${i}]`));
  const data: unknown = (x as { data?: unknown }).data;
  if (Array.isArray(data) || ArrayBuffer.isView(data)) return []; // a matrix input
  const here = path === '' ? [] : [path];
  return [...here, ...Object.entries(x).flatMap(([k, v]) => objectPaths(v, path ? `${path}.${k}` : k))];
}

/** A deep copy of spec (matrices kept) with `bogus: 1` added to the object at `path` ('' = the root). */
function withBogus(spec: unknown, path: string): unknown {
  const copy = structuredClone(spec) as Record<string, unknown>;
  let o: Record<string, unknown> = copy;
  for (const part of path.match(/[^.[\]]+/g) ?? []) o = o[part] as Record<string, unknown>;
  o['bogus'] = 1;
  return copy;
}

describe(`the TS spec types agree with the core on ${BACKEND}`, () => {
  it('this file type-checks: every field of every family and method is set by a fixture', () => {
    expect(COMPILE_TIME_CHECKS.every((c) => c === true)).toBe(true);
    const file = join(here, 'spec-encode.test.ts');
    const config = ts.readConfigFile(join(here, 'tsconfig.json'), (p) => readFileSync(p, 'utf8'));
    const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, here);
    const diagnostics = (roots: string[], extra?: { name: string; text: string }): string[] => {
      const host = ts.createCompilerHost(parsed.options);
      if (extra) {
        const read = host.getSourceFile.bind(host);
        host.getSourceFile = (name, lang, onError, create) =>
          name === extra.name ? ts.createSourceFile(name, extra.text, lang) : read(name, lang, onError, create);
        const exists = host.fileExists.bind(host);
        host.fileExists = (name) => name === extra.name || exists(name);
      }
      const program = ts.createProgram({ rootNames: roots, options: parsed.options, host });
      return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    };
    expect(diagnostics([file])).toEqual([]);
    // The checks can fail: a fixture list that misses a field, or a variant, does not compile.
    const probe = join(here, '__probe__.ts');
    const errors = diagnostics([probe], {
      name: probe,
      text: [
        "import type { AllSet, AllValues } from './spec-encode.test.js';",
        "import type { MethodSpec } from 'autobalance';",
        "export const a: AllSet<MethodSpec, Exclude<MethodSpec, { kind: 'rk4' }>> = true;",
        "export const b: AllSet<{ kind: 'x'; p?: number }, { kind: 'x' }> = true;",
        "export const c: AllValues<'u' | 'v', 'u'> = true;",
      ].join('\n'),
    });
    expect(errors).toHaveLength(3);
    expect(errors[0]).toMatch(/"kind"/);
    expect(errors[1]).toMatch(/"p"/);
    expect(errors[2]).toMatch(/"v"/);
  }, 120_000);

  const specs = [
    ...mfSpecs().map((s) => ({ family: 'matrixFactorization', ...s })),
    ...netSpecs().map((s) => ({ family: 'network', ...s })),
    ...octopusSpecs().map((s) => ({ family: 'octopus', ...s })),
    ...wncnnSpecs().map((s) => ({ family: 'weightNormCnn', ...s })),
    ...convFilterSpecs().map((s) => ({ family: 'convFilter', ...s })),
    ...continuousSpecs().map((s) => ({ family: 'continuousLinear', ...s })),
    ...deepSpecs().map((s) => ({ family: 'deepSmooth', ...s })),
    ...wideSpecs().map((s) => ({ family: 'twoLayerRelu', ...s })),
  ];

  it('has fixtures for every family of RunSpec and of the registry (families/index.ts)', () => {
    const kinds: AllValues<RunSpec['model']['kind'], (typeof MF_RUN)[number]['model']['kind'] | (typeof NET_RUN)[number]['model']['kind'] | (typeof OCTOPUS_RUN)[number]['model']['kind'] | (typeof WNCNN_RUN)[number]['model']['kind'] | (typeof CONV_RUN)[number]['model']['kind'] | (typeof CONT_RUN)[number]['model']['kind'] | (typeof DEEP_RUN)[number]['model']['kind'] | (typeof WIDE_RUN)[number]['model']['kind']> = true;
    expect(kinds).toBe(true);
    expect([...new Set(specs.map((s) => s.spec.model.kind))].sort()).toEqual([...FAMILIES.keys()].sort());
  });
  for (const { family, label, spec } of specs) {
    it(`${family}: the core accepts ${label}, and refuses an unknown field at each of its objects`, async () => {
      const run = await Run.create(spec, opts);
      try {
        const st = await run.advance(spec.steps);
        expect(st.step).toBe(spec.steps);
      } finally {
        run.dispose();
      }
      const paths = ['', ...objectPaths(spec)];
      expect(paths.length).toBeGreaterThan(4);
      for (const p of paths) {
        const e = await failure(withBogus(spec, p));
        const where = `bogus field at ${p || 'the root'}`;
        expect(e.code, where).toBe('invalid_spec');
        expect(e.detail, where).toMatch(/^unknown field `bogus`/);
        // The core names the field itself in a struct; inside a variant tagged by `kind` (target,
        // init, schedule, method, data, ...) its parser (serde_path_to_error) stops at the path of
        // the outermost tagged variant: `data` for `data.targets.bogus`.
        const full = p ? `${p}.bogus` : 'bogus';
        expect(e.field === full || (e.field !== '' && `${p}.`.startsWith(`${e.field}.`)), `${where}: field ${e.field}`).toBe(true);
      }
    });
  }
});
