// Property-based fuzz test (issue 10, "Keep it fixed"): random valid specs and curvature queries of
// every model family, method and schedule, and single mutations of them (wrong types, null, NaN,
// ±Infinity, huge / negative / fractional integers, unknown and missing fields, deep nesting,
// BigInt, huge strings), run on BOTH backends in this process (whatever AUTOBALANCE_BACKEND says).
//
// Invariants, per case:
// - every rejection is a typed AutobalanceError (never TypeError / RangeError / plain Error /
//   InternalError), with a message of at most MAX_MESSAGE_CHARS characters;
// - native and wasm agree: the same outcome, and for an error the same class, code, field and
//   message (for `too_large`, the message with its numbers masked: the memory limit differs);
// - a mutation gets the error code of the team's contract (NaN/±Infinity -> non_finite; null,
//   wrong type, unknown or missing field -> invalid_spec; negative or fractional integer, integer
//   >= 2^32 -> out_of_range, or too_large for a size) naming the full path of the mutated field;
// - no hang: every case ends within CASE_BUDGET_MS per backend (sizes are small, steps capped);
// - a valid run keeps a finite state: parameters finite, the last row's loss (and gradNorm)
//   finite, or it reports why it stopped (divergedAt).
//
// Environment: FUZZ_SEED (default: 20261201 on the native pass, 20261202 on the wasm pass, so the
// two passes of the suite cover different cases), FUZZ_RUNS (default 3000), FUZZ_CASE (run only
// that case index, printing it), FUZZ_REPORT_ONLY=1 (tally and print failures without failing;
// for exploration and scripts/fuzz.sh, never in CI), FUZZ_BUDGET_MS (default 3000), FUZZ_REPORT_FILE
// (every failure as JSON there, as it happens in FILE.jsonl, the case running in FILE.current),
// FUZZ_FIRST (index of the first case, default 0).
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';

import { type Backend, type RunResultBase, Run, loadBackendByName } from 'autobalance';

import { BACKEND, MAX_MESSAGE_CHARS, type ThrownRecord, showThrown, showValue, thrownRecord } from './helpers.js';

const env = process.env;
const SEED = env['FUZZ_SEED'] !== undefined && env['FUZZ_SEED'] !== '' ? Number(env['FUZZ_SEED']) : BACKEND === 'wasm' ? 20261202 : 20261201;
const RUNS = Number(env['FUZZ_RUNS'] ?? 3000);
const ONLY_CASE = env['FUZZ_CASE'] !== undefined && env['FUZZ_CASE'] !== '' ? Number(env['FUZZ_CASE']) : undefined;
/** First case index (scripts/fuzz.sh resumes after a hang with the next index). */
const FIRST = Number(env['FUZZ_FIRST'] ?? 0);
const REPORT_ONLY = env['FUZZ_REPORT_ONLY'] === '1';
const CASE_BUDGET_MS = Number(env['FUZZ_BUDGET_MS'] ?? 3000);
const BATCH = 250;

// ----------------------------------------------------------------------------------------------
// Valid specs

type Json = unknown;
type Obj = Record<string, unknown>;

const pick = <T>(xs: readonly T[]): fc.Arbitrary<T> => fc.constantFrom(...xs);
const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined, freq: 2 });
const small = (lo: number, hi: number): fc.Arbitrary<number> => fc.integer({ min: lo, max: hi });
/** A real in [lo, hi] on a grid of 1000 steps (log-spaced when the range spans decades). */
const real = (lo: number, hi: number): fc.Arbitrary<number> =>
  fc.integer({ min: 0, max: 1000 }).map((i) => {
    const x = lo > 0 && hi / lo > 100 ? lo * (hi / lo) ** (i / 1000) : lo + ((hi - lo) * i) / 1000;
    return Number(x.toPrecision(4));
  });
const seed = small(0, 1000);

/** Drop the keys whose value is undefined (optional fields left out). */
function clean(o: Obj): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}

function matrixArb(rows: number, cols: number, scale: number): fc.Arbitrary<number[][]> {
  return fc.array(fc.array(real(-scale, scale), { minLength: cols, maxLength: cols }), { minLength: rows, maxLength: rows });
}

type FamilyTag = 'mf' | 'net' | 'octopus' | 'wncnn' | 'convFilter' | 'cont' | 'deep' | 'wide';

const scheduleArb = (family: FamilyTag): fc.Arbitrary<Obj> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('constant'), eta: fc.oneof({ weight: 9, arbitrary: real(0.001, 0.3) }, { weight: 1, arbitrary: real(1, 50) }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('inversePower'), c: real(0.001, 0.3), delta: real(0.01, 0.5) }) },
    ...(family === 'mf' ? [{ weight: 2, arbitrary: fc.record({ kind: fc.constant('theorem31'), eps: real(0.001, 1) }) }] : []),
  );

const methodArb = (family: FamilyTag, samples: number): fc.Arbitrary<Obj | undefined> =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constant(undefined) },
    fc.constant({ kind: 'gd' }),
    fc.record({ kind: fc.constant('momentum'), beta: real(0, 0.95) }),
    fc.record({ kind: fc.constant('nesterov'), beta: real(0, 0.95) }),
    fc.record({ kind: fc.constant('adam'), beta1: opt(real(0, 0.95)), beta2: opt(real(0.5, 0.999)), eps: opt(real(1e-10, 1e-6)) }).map(clean),
    ...(family === 'net' || (family === 'wncnn' && samples > 1) || family === 'convFilter' ? [fc.record({ kind: fc.constant('sgd'), batchSize: small(1, samples), seed })] : []),
    fc.constant({ kind: 'euler' }),
    fc.constant({ kind: 'rk4' }),
    fc.record({ kind: fc.constant('dopri5'), rtol: opt(real(1e-8, 1e-3)), atol: opt(real(1e-12, 1e-6)) }).map(clean),
    fc.record({ kind: fc.constant('implicitMidpoint'), tol: opt(real(1e-14, 1e-6)), maxIter: opt(small(1, 200)) }).map(clean),
    fc.record({ kind: fc.constant('perturbedGd'), gThres: real(0, 10), tThres: small(0, 20), radius: real(0, 0.5), seed }),
  );

/** The run's own fields: schedule, steps, recordEvery, method, weightDecay, curvature. */
const runFieldsArb = (family: FamilyTag, samples: number): fc.Arbitrary<Obj> =>
  fc
    .record({
      schedule: scheduleArb(family),
      steps: small(0, 30),
      recordEvery: opt(small(1, 5)),
      method: methodArb(family, samples),
      weightDecay: opt(pick([0, 0.01, 0.1])),
      curv: fc.option(fc.record({ mult: small(1, 3), tol: opt(real(1e-8, 0.1)), maxIter: opt(small(1, 40)), seed: opt(seed) }), { freq: 6, nil: undefined }),
    })
    .map(({ curv, ...r }) =>
      clean({
        ...r,
        curvature: curv ? clean({ every: curv.mult * ((r.recordEvery as number | undefined) ?? 1), tol: curv.tol, maxIter: curv.maxIter, seed: curv.seed }) : undefined,
      }),
    );

const mfArb: fc.Arbitrary<Obj> = fc.record({ d1: small(1, 6), d2: small(1, 6) }).chain(({ d1, d2 }) =>
  small(1, Math.min(d1, d2)).chain((rank) =>
    fc.record({
      model: fc.record({ kind: fc.constant('matrixFactorization'), d1: fc.constant(d1), d2: fc.constant(d2), rank: fc.constant(rank), balanceWeight: opt(pick([0, 0.125, 0.5])) }).map(clean),
      target: fc.oneof(
        { weight: 3, arbitrary: fc.record({ kind: fc.constant('random'), singularValues: fc.array(real(0.1, 3), { minLength: rank, maxLength: rank }), seed }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('explicit'), matrix: matrixArb(d1, d2, 2) }) },
      ),
      init: fc.oneof(
        { weight: 3, arbitrary: fc.record({ kind: fc.constant('gaussian'), stdU: real(0, 1), stdV: real(0, 1), seed }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('explicit'), u0: matrixArb(d1, rank, 0.5), v0: matrixArb(d2, rank, 0.5) }) },
        {
          weight: 1,
          arbitrary: fc
            .record({
              kind: fc.constant('targetSvd'),
              components: fc.uniqueArray(small(0, Math.min(d1, d2) - 1), { maxLength: rank }),
              noiseStd: opt(real(0, 0.1)),
              seed: opt(seed),
            })
            .map(clean),
        },
      ),
      run: runFieldsArb('mf', 1),
    }),
  ).map(({ run, ...rest }) => ({ ...rest, ...run })),
);

const activationArb: fc.Arbitrary<Obj> = fc.oneof(
  fc.constant({}),
  fc.constant({ activation: 'linear' }),
  fc.constant({ activation: 'relu' }),
  real(0.01, 0.9).map((slope) => ({ activation: 'leakyRelu', slope })),
);

interface LayerDraw {
  layer: Obj;
  out: number;
  /** Free parameters of the layer's weights as [rows, cols] of explicit init (dense only). */
  dense: boolean;
}

function divisors(n: number): number[] {
  const d: number[] = [];
  for (let i = 1; i <= n; i++) if (n % i === 0) d.push(i);
  return d;
}

/** One hidden layer after an input of width `prev`. */
function hiddenLayerArb(prev: number): fc.Arbitrary<LayerDraw> {
  const dense = fc.record({ width: small(1, 5), act: activationArb, bias: opt(fc.boolean()) }).map(({ width, act, bias }) => ({
    layer: clean({ type: undefined, width, ...act, bias }),
    out: width,
    dense: true,
  }));
  const conv1d = pick(divisors(prev)).chain((inChannels) => {
    const len = prev / inChannels;
    return fc
      .record({ outChannels: small(1, 3), padding: opt(small(0, 1)), stride: opt(small(1, 2)), act: activationArb, bias: opt(fc.boolean()) })
      .chain((r) => {
        const p = r.padding ?? 0;
        return small(1, len + 2 * p).map((kernel) => {
          const s = r.stride ?? 1;
          const outLen = Math.floor((len + 2 * p - kernel) / s) + 1;
          return {
            layer: clean({ type: 'conv1d', inChannels, outChannels: r.outChannels, kernel, stride: r.stride, padding: r.padding, ...r.act, bias: r.bias }),
            out: r.outChannels * outLen,
            dense: false,
          };
        });
      });
  });
  const conv2d = pick(divisors(prev)).chain((inChannels) =>
    pick(divisors(prev / inChannels)).chain((inHeight) => {
      const w = prev / inChannels / inHeight;
      return fc.record({ outChannels: small(1, 2), padding: opt(small(0, 1)), stride: opt(small(1, 2)), act: activationArb, bias: opt(fc.boolean()) }).chain((r) => {
        const p = r.padding ?? 0;
        return small(1, Math.min(inHeight, w) + 2 * p).map((kernel) => {
          const s = r.stride ?? 1;
          const oh = Math.floor((inHeight + 2 * p - kernel) / s) + 1;
          const ow = Math.floor((w + 2 * p - kernel) / s) + 1;
          return {
            layer: clean({ type: 'conv2d', inChannels, outChannels: r.outChannels, inHeight, kernel, stride: r.stride, padding: r.padding, ...r.act, bias: r.bias }),
            out: r.outChannels * oh * ow,
            dense: false,
          };
        });
      });
    }),
  );
  const shared = small(1, 4).chain((width) =>
    small(1, Math.min(4, width * prev)).chain((params) =>
      fc
        .record({
          cells: fc.array(small(0, params), { minLength: width * prev, maxLength: width * prev }),
          act: activationArb,
          bias: opt(fc.boolean()),
        })
        .map(({ cells, act, bias }) => {
          // Every free parameter appears at least once.
          for (let i = 0; i < params; i++) cells[i] = i + 1;
          const pattern = Array.from({ length: width }, (_, r) => cells.slice(r * prev, (r + 1) * prev));
          return { layer: clean({ type: 'shared', width, params, pattern, ...act, bias }), out: width, dense: false };
        }),
    ),
  );
  return fc.oneof({ weight: 4, arbitrary: dense }, { weight: 1, arbitrary: conv1d }, { weight: 1, arbitrary: conv2d }, { weight: 1, arbitrary: shared });
}

function layersArb(prev: number, hidden: number): fc.Arbitrary<LayerDraw[]> {
  if (hidden === 0) {
    return fc.record({ width: small(1, 3), bias: opt(fc.boolean()) }).map(({ width, bias }) => [{ layer: clean({ width, bias }), out: width, dense: true }]);
  }
  return hiddenLayerArb(prev).chain((l) => layersArb(l.out, hidden - 1).map((rest) => [l, ...rest]));
}

const netArb: fc.Arbitrary<Obj> = fc.record({ inputDim: small(1, 5), hidden: small(0, 3), samples: small(1, 8) }).chain(({ inputDim, hidden, samples }) =>
  layersArb(inputDim, hidden).chain((draws) => {
    const layers = draws.map((d) => d.layer);
    const outDim = draws[draws.length - 1]!.out;
    const allDense = draws.every((d) => d.dense);
    const widths = draws.map((d) => d.out);
    const generated = fc
      .record({
        kind: fc.constant('generated'),
        samples: fc.constant(samples),
        inputs: opt(pick(['gaussian', 'sphere'])),
        inputStd: opt(real(0.1, 2)),
        targets: fc.oneof(
          fc.record({ kind: fc.constant('gaussian'), std: opt(real(0, 2)) }).map(clean),
          fc
            .record({ kind: fc.constant('teacher'), widths: opt(fc.array(small(1, 4), { maxLength: 2 })), act: activationArb, scale: opt(real(-2, 2)) })
            .map(({ act, ...t }) => clean({ ...t, ...act })),
        ),
        seed,
      })
      .map(clean);
    const explicitData = fc.record({ kind: fc.constant('explicit'), x: matrixArb(samples, inputDim, 2), y: matrixArb(samples, outDim, 2) });
    const gaussInit = fc
      .record({ which: pick(['variances', 'stds']), vals: fc.array(real(0.01, 1), { minLength: layers.length, maxLength: layers.length }), seed })
      .map(({ which, vals, seed: s }) => ({ kind: 'gaussian', [which]: vals, seed: s }));
    const explicitInit = fc
      .tuple(...widths.map((w, h) => matrixArb(w, h === 0 ? inputDim : widths[h - 1]!, 0.7)))
      .map((weights) => ({
        kind: 'explicit',
        weights,
        ...(layers.some((l) => l['bias'] === true) ? { biases: layers.map((l, h) => (l['bias'] === true ? Array.from({ length: widths[h]! }, () => 0.01) : null)) } : {}),
      }));
    return fc
      .record({
        model: fc.record({ kind: fc.constant('network'), inputDim: fc.constant(inputDim), layers: fc.constant(layers), loss: opt(pick(['squared', 'crossEntropy'])) }).map(clean),
        data: fc.oneof({ weight: 3, arbitrary: generated }, { weight: 1, arbitrary: explicitData }),
        init: allDense ? fc.oneof({ weight: 3, arbitrary: gaussInit }, { weight: 1, arbitrary: explicitInit }) : gaussInit,
        run: runFieldsArb('net', samples),
      })
      .map(({ run, ...rest }) => ({ ...rest, ...run }));
  }),
);

/**
 * Octopus (thesis ch. 7): a start in the domain D, by construction: `lead` coordinates in
 * [2 tau, 6 tau], the active one below 2 tau, the trailing ones at most tau, random signs; or a
 * uniform box inside [-tau, tau] (every such point is in D).
 */
const octopusArb: fc.Arbitrary<Obj> = fc
  // d >= 3: the curvature queries' k goes up to 3 (k <= the parameter count).
  .record({ d: small(3, 6), L: real(0.2, 5), gamma: opt(real(0.2, 3)), tau: opt(real(0.3, 3)) })
  .chain(({ d, L, gamma, tau }) => {
    const t = tau ?? Math.E;
    const coord = (lo: number, hi: number): fc.Arbitrary<number> =>
      fc.tuple(fc.integer({ min: 0, max: 1000 }), fc.boolean()).map(([i, neg]) => (neg ? -1 : 1) * Number((lo + ((hi - lo) * i) / 1000).toPrecision(6)));
    const point = small(0, d).chain((lead) =>
      fc.tuple(...Array.from({ length: d }, (_, j) => (j < lead ? coord(2.01 * t, 5.99 * t) : j === lead ? coord(0, 1.99 * t) : coord(0, 0.99 * t)))),
    );
    const uniform = fc.tuple(real(0, 1), real(0, 1), seed).map(([a, b, sd]) => ({ kind: 'uniform', low: Number((-0.99 * a * t).toPrecision(6)), high: Number((0.99 * b * t).toPrecision(6)), seed: sd }));
    return fc
      .record({
        model: fc.record({ kind: fc.constant('octopus'), d: fc.constant(d), L: fc.constant(L), gamma: fc.constant(gamma), tau: fc.constant(tau), arithmetic: opt(pick(['float', 'logScale'])) }).map(clean),
        init: fc.oneof({ weight: 2, arbitrary: uniform }, { weight: 1, arbitrary: point.map((x) => ({ kind: 'point', x })) }),
        run: runFieldsArb('octopus', 1),
      })
      .map(({ run, ...rest }) => {
        // The exact mode simulates plain GD only: no other method, no weight decay.
        if ((rest.model as Obj)['arithmetic'] === 'logScale') {
          const { method, weightDecay: _w, ...plain } = run;
          return { ...rest, ...plain, ...(method === undefined ? {} : { method: { kind: 'gd' } }) };
        }
        return { ...rest, ...run };
      });
  });

/**
 * Weight-normalized CNN (thesis ch. 5): k >= 3 patches (the curvature queries' k goes up to 3),
 * a random or given teacher (nonzero vectors), Theorem 5.4's init or a point (v nonzero); the
 * empirical loss with a small sample (then SGD may be drawn, its batch within the sample).
 */
const wncnnArb: fc.Arbitrary<Obj> = fc.record({ k: small(3, 6), p: small(1, 5), samples: fc.option(small(2, 12), { freq: 3, nil: undefined }) }).chain(({ k, p, samples }) => {
  const vec = (n: number, scale: number): fc.Arbitrary<number[]> =>
    fc.array(real(-scale, scale), { minLength: n, maxLength: n }).map((x) => (x.every((y) => y === 0) ? x.map((_, i) => (i === 0 ? 1 : 0)) : x));
  return fc
    .record({
      model: fc.record({ kind: fc.constant('weightNormCnn'), k: fc.constant(k), p: fc.constant(p), loss: samples === undefined ? opt(fc.constant('population')) : fc.constant('empirical') }).map(clean),
      teacher: fc
        .record({
          wStarNorm: opt(real(0.2, 3)),
          wStar: fc.oneof(fc.record({ kind: fc.constant('random'), seed }), fc.record({ kind: fc.constant('vector'), w: vec(p, 2) })),
          aStar: fc.oneof(fc.record({ kind: fc.constant('ratio'), r: real(0, k), norm: opt(real(0.1, 3)), seed }).map(clean), fc.record({ kind: fc.constant('vector'), a: vec(k, 2) })),
        })
        .map(clean),
      init: fc.oneof(
        { weight: 3, arbitrary: fc.record({ kind: fc.constant('theorem54'), vNorm: opt(real(0.1, 3)), seed, signs: opt(fc.tuple(pick([1, -1]), pick([1, -1]))) }).map(clean) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('point'), v: vec(p, 2), a: vec(k, 2) }) },
      ),
      data: samples === undefined ? fc.constant(undefined) : fc.record({ samples: fc.constant(samples), seed }),
      run: runFieldsArb('wncnn', samples ?? 1),
    })
    .map(({ run, ...rest }) => clean({ ...rest, ...run }));
});

/**
 * Convolutional filter (thesis ch. 6): p >= 3 with Gaussian or data patches (the curvature
 * queries' k goes up to 3), p = 2 with the planar kinds (circleMixture, aroundBase; queries then
 * ask k <= 2, see caseArb); fresh or fixed sampling (data: fixed takes all rows).
 */
const convFilterArb: fc.Arbitrary<Obj> = fc
  .record({ planar: fc.boolean(), p3: small(3, 5), k: small(1, 3), rows: small(1, 6), fresh: fc.boolean(), batch: small(1, 5), data: fc.integer({ min: 0, max: 3 }) })
  .chain(({ planar, p3, k, rows, fresh, batch, data }) => {
    const p = planar ? 2 : p3;
    const useData = !planar && data === 0;
    const vec = (lo: number, hi: number): fc.Arbitrary<number[]> => fc.array(real(lo, hi), { minLength: p, maxLength: p });
    const patches: fc.Arbitrary<Obj> = planar
      ? fc.oneof(fc.record({ kind: fc.constant('circleMixture'), s: real(0.05, 5) }), fc.record({ kind: fc.constant('aroundBase'), s2: real(0.05, 3), s: opt(real(0.1, 3)) }).map(clean))
      : useData
        ? fc.record({ kind: fc.constant('data'), z: matrixArb(rows, k * p, 2) })
        : fc.constant({ kind: 'gaussian' });
    const samples = fresh ? batch : useData ? rows : Math.max(batch, 2);
    const sampling: fc.Arbitrary<Obj> = fresh
      ? fc.record({ kind: fc.constant('fresh'), batch: fc.constant(batch), seed })
      : useData
        ? fc.constant({ kind: 'fixed' })
        : fc.record({ kind: fc.constant('fixed'), samples: fc.constant(samples), seed });
    return fc
      .record({
        model: fc.constant({ kind: 'convFilter', p, k }),
        teacher: fc.oneof(
          fc.record({ kind: fc.constant('random'), norm: opt(real(0.2, 3)), seed }).map(clean),
          vec(-2, 2).map((w) => ({ kind: 'vector', w: w.map((x, j) => (j === 0 ? x + 3 : x)) })),
        ),
        patches,
        sampling,
        init: fc.oneof(
          vec(-2, 2).map((w) => ({ kind: 'point', w })),
          fc.record({ kind: fc.constant('ball'), radius: real(0, 2), seed }),
          fc.record({ kind: fc.constant('gaussian'), std: real(0, 1), seed }),
        ),
        run: runFieldsArb('convFilter', samples),
      })
      .map(({ run, ...rest }) => ({ ...rest, ...run }));
  });

/**
 * Two-layer ReLU network (thesis ch. 2): m >= 3 (the queries ask k <= 3), seeded sphere data or
 * explicit X, y; a Gaussian or explicit initial point (a of +-1); the Gram columns and the
 * envelopes sometimes.
 */
const wideArb: fc.Arbitrary<Obj> = fc.record({ n: small(1, 5), d: small(1, 4), m: small(3, 12) }).chain(({ n, d, m }) =>
  fc
    .record({
      model: fc.record({ kind: fc.constant('twoLayerRelu'), width: fc.constant(m), loss: opt(pick(['sum', 'mean'])), gram: opt(fc.record({ every: small(1, 5) })), envelopeEta: opt(real(0.01, 1)) }).map(clean),
      data: fc.oneof(
        { weight: 3, arbitrary: fc.record({ kind: fc.constant('sphere'), n: fc.constant(n), d: fc.constant(d), seed }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('explicit'), x: matrixArb(n, d, 1), y: matrixArb(n, 1, 1) }) },
      ),
      init: fc.oneof(
        { weight: 3, arbitrary: fc.record({ kind: fc.constant('gaussian'), seed, std: opt(real(0.1, 2)) }).map(clean) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('explicit'), w: matrixArb(m, d, 1), a: fc.array(pick([1, -1]), { minLength: m, maxLength: m }).map((a) => a.map((x) => [x])) }) },
      ),
      run: runFieldsArb('wide', 1),
    })
    .map(({ run, ...rest }) => ({ ...rest, ...run })),
);

/**
 * continuousLinear (Taghvaei et al. 2017): n <= 3 and K n^2 >= 3 (the queries ask k <= 3);
 * population data (Sigma0 = B B^T + 0.1 I, symmetric positive definite; dR with sigma) or seeded
 * samples; candidates for the critical columns (population only): matrices, and logarithm sheets
 * only for a 2 x 2 R = [[a, -b], [b, a]], b != 0 (complex eigenvalues: a real logarithm on every
 * sheet) without dR.
 */
const contArb: fc.Arbitrary<Obj> = small(1, 3).chain((n) =>
  fc
    .record({
      K: small(n === 1 ? 3 : 1, 5),
      T: real(0.2, 2),
      lambda: real(0, 0.5),
      discretization: opt(pick(['exponential', 'euler'])),
      rot: fc.record({ a: real(-1, 1), b: real(0.2, 2), neg: fc.boolean() }),
      R: matrixArb(n, n, 1.5),
      B: matrixArb(n, n, 1),
      sigma0: fc.boolean(),
      dR: opt(fc.record({ m: matrixArb(n, n, 1), sigma: opt(real(-1, 1)) })),
      samples: fc.option(fc.record({ samples: small(1, 12), noise: real(0, 0.5), seed }), { nil: undefined, freq: 3 }),
      init: fc.oneof(
        { weight: 3, arbitrary: fc.record({ kind: fc.constant('gaussian'), std: real(0, 0.5), seed }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('constant'), C: matrixArb(n, n, 1) }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('critical'), C: matrixArb(n, n, 1) }) },
      ),
      critical: opt(fc.record({ C: fc.array(matrixArb(n, n, 2), { minLength: 1, maxLength: 2 }), sheets: fc.array(small(-2, 2), { minLength: 1, maxLength: 3 }) })),
      run: runFieldsArb('cont', 1),
    })
    .map(({ K, T, lambda, discretization, rot, R, B, sigma0, dR, samples, init, critical, run }) => {
      const model = clean({ kind: 'continuousLinear', n, K, T, lambda, discretization });
      if (samples) return { model, data: { kind: 'samples', R, ...samples }, init, ...run };
      const sheets = n === 2 && critical !== undefined && dR === undefined;
      const r = sheets ? [[rot.a, -(rot.neg ? -rot.b : rot.b)], [rot.neg ? -rot.b : rot.b, rot.a]] : R;
      const s0 = B.map((row, i) => B.map((other, j) => Number((row.reduce((acc, x, k) => acc + x * other[k]!, 0) + (i === j ? 0.1 : 0)).toPrecision(6))));
      // Symmetric to the last bit: the core checks the symmetry of Sigma0.
      for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) s0[i]![j] = s0[j]![i]!;
      const data = clean({ kind: 'population', R: r, sigma0: sigma0 ? s0 : undefined, dR: dR?.m, sigma: dR?.sigma });
      const crit = critical === undefined ? undefined : clean({ C: critical.C, sheets: sheets ? critical.sheets : undefined });
      return clean({ model, data, init, critical: crit, ...run });
    }),
);

/**
 * deepSmooth (thesis ch. 3): every architecture and activation at small sizes; sphere or explicit
 * data, gaussian or explicit init (the parameter count computed here), the Gram column on or off.
 */
const deepArb: fc.Arbitrary<Obj> = fc
  .record({
    arch: pick(['fullyConnected', 'resnet', 'convResnet']),
    depth: small(1, 3),
    width: small(1, 5),
    activation: pick(['softplus', 'sigmoid', 'tanh', 'relu']),
    n: small(1, 6),
    d: small(1, 4),
    channels: small(1, 2),
    length: small(1, 4),
    cRes: opt(real(0.1, 0.9)),
    patch: opt(pick([1, 3])),
    gram: opt(small(1, 3)),
    explicitData: fc.integer({ min: 0, max: 3 }),
    explicitInit: fc.integer({ min: 0, max: 3 }),
    std: opt(real(0.1, 1.5)),
  })
  .chain((r) => {
    const conv = r.arch === 'convResnet';
    const q = conv ? (r.patch ?? 3) : 1;
    const p = conv ? r.length : 1;
    const d = conv ? r.channels : r.d;
    const dim = r.width * q * d + (r.depth - 1) * r.width * q * r.width + r.width * p;
    const model = clean({
      kind: 'deepSmooth',
      architecture: r.arch,
      depth: r.depth,
      width: r.width,
      activation: r.activation,
      cRes: r.arch === 'fullyConnected' ? undefined : r.cRes,
      patch: conv ? r.patch : undefined,
      gram: r.gram === undefined ? undefined : { every: r.gram },
    });
    const data: fc.Arbitrary<Obj> =
      r.explicitData === 0
        ? fc.record({ kind: fc.constant('explicit'), x: matrixArb(r.n, d * p, 1), y: matrixArb(r.n, 1, 1) }).map((o) => (conv ? { ...o, channels: d } : o))
        : seed.map((s) => clean({ kind: 'sphere', n: r.n, d: conv ? undefined : d, channels: conv ? d : undefined, length: conv ? p : undefined, seed: s }));
    const init: fc.Arbitrary<Obj> =
      r.explicitInit === 0 ? fc.record({ kind: fc.constant('explicit'), theta: matrixArb(1, dim, 1) }) : seed.map((s) => clean({ kind: 'gaussian', seed: s, std: r.std }));
    return fc.record({ data, init, run: runFieldsArb('deep', r.n) }).map(({ run, ...rest }) => ({ model, ...rest, ...run }));
  });

const queryArb = (family: FamilyTag): fc.Arbitrary<Obj> =>
  fc.oneof(
    fc.record({ what: fc.constant('classify'), k: opt(small(1, 2)), method: opt(pick(['auto', 'dense', 'lanczos'])), tol: opt(real(1e-10, 0.5)), maxIter: opt(small(1, 60)), seed: opt(seed), zeroTol: opt(real(0, 1)), gradTol: opt(real(0, 1)), denseMaxDim: opt(small(0, 100)), vectors: opt(fc.boolean()) }).map(clean),
    fc.record({ what: fc.constant('eigs'), k: opt(small(1, 3)), which: opt(pick(['smallest', 'largest', 'both'])), method: opt(pick(['auto', 'dense', 'lanczos'])), tol: opt(real(1e-10, 0.5)), maxIter: opt(small(1, 60)), seed: opt(seed), block: opt(fc.constant('$block')), denseMaxDim: opt(small(0, 100)), vectors: opt(fc.boolean()) }).map(clean),
    fc.record({ what: fc.constant('density'), probes: opt(small(1, 4)), lanczosSteps: opt(small(1, 8)), gridPoints: opt(small(2, 30)), sigma: opt(real(0.001, 1)), seed: opt(seed), block: opt(fc.constant('$block')) }).map(clean),
    fc.record({ what: fc.constant('trace'), probes: opt(small(1, 6)), seed: opt(seed), block: opt(fc.constant('$block')) }).map(clean),
    ...(family === 'mf' ? [fc.record({ what: fc.constant('lemma32'), eps: opt(real(0, 1)), vectors: opt(fc.boolean()) }).map(clean)] : []),
    ...(family === 'octopus' || family === 'wncnn' ? [fc.constant({ what: 'stationaryPoints' })] : []),
    ...(family === 'convFilter' ? [fc.constant({ what: 'populationConstants' })] : []),
    ...(family === 'wide' ? [fc.constant({ what: 'theory' })] : []),
  );

// ----------------------------------------------------------------------------------------------
// Mutations

const INT_FIELDS = new Set([
  'n', 'K', 'd', 'd1', 'd2', 'rank', 'seed', 'steps', 'recordEvery', 'every', 'maxIter', 'inputDim', 'width', 'params', 'inChannels', 'outChannels',
  'inHeight', 'kernel', 'stride', 'padding', 'samples', 'batchSize', 'widths', 'components', 'k', 'probes', 'lanczosSteps', 'gridPoints', 'denseMaxDim',
  'p', 'batch', 'depth', 'channels', 'length', 'patch',
]);
/** Integer fields whose range is [0 or 1, 2^32) by contract; sizes may answer too_large instead. */
const SIZE_FIELDS = new Set(['n', 'K', 'd', 'd1', 'd2', 'rank', 'inputDim', 'width', 'params', 'inChannels', 'outChannels', 'inHeight', 'kernel', 'samples', 'widths', 'batchSize', 'padding', 'stride', 'probes', 'lanczosSteps', 'gridPoints', 'k', 'maxIter', 'every', 'denseMaxDim', 'components', 'p', 'batch', 'depth', 'channels', 'length', 'patch']);
/** Counts: integers up to 2^53 on both backends (steps, recordEvery, curvature.every). */
const COUNT_FIELDS = new Set(['steps', 'recordEvery', 'every']);
/** Matrix inputs (travel as buffers): mutated as a whole, never inside. */
const MATRIX_FIELDS = /^(target\.matrix|init\.u0|init\.v0|data\.x|data\.y|patches\.z|model\.layers\[\d+\]\.pattern|init\.weights\[\d+\]|data\.R|data\.sigma0|data\.dR|init\.C|critical\.C\[\d+\]|init\.theta)$/;
/** twoLayerRelu's explicit init (init.w, init.a) travels as matrices too (other families' init.w / init.a are vectors). */
const WIDE_MATRIX_FIELDS = new RegExp(MATRIX_FIELDS.source.replace('init\\.u0|', 'init\\.u0|init\\.w|init\\.a|'));
/** The matrix fields of the spec being mutated (set by `mutate`). */
let matrixFields = MATRIX_FIELDS;

type MutKind = 'wrongType' | 'null' | 'nonFinite' | 'fraction' | 'negative' | 'huge' | 'unknownField' | 'missing' | 'nesting' | 'deepNesting' | 'bigint' | 'bigString' | 'matrixNonFinite';

interface Leaf {
  path: string;
  /** Name of the field (for an array element: the array's). */
  name: string;
  value: unknown;
  parent: Obj | unknown[];
  key: string | number;
}

function childPath(parent: string, key: string | number): string {
  return typeof key === 'number' ? `${parent}[${key}]` : parent === '' ? key : `${parent}.${key}`;
}

/** Every node of a JSON-like tree below the root, and every object (for unknown fields). */
function walk(root: unknown, prefix: string): { leaves: Leaf[]; objects: { path: string; obj: Obj }[]; keys: Leaf[] } {
  const leaves: Leaf[] = [];
  const objects: { path: string; obj: Obj }[] = [];
  const keys: Leaf[] = [];
  const visit = (x: unknown, path: string, name: string): void => {
    if (Array.isArray(x)) {
      x.forEach((v, i) => {
        const p = childPath(path, i);
        if (matrixFields.test(p) || (v === null || typeof v !== 'object')) leaves.push({ path: p, name, value: v, parent: x, key: i });
        if (!matrixFields.test(p)) visit(v, p, name);
      });
    } else if (x !== null && typeof x === 'object') {
      objects.push({ path, obj: x as Obj });
      for (const [k, v] of Object.entries(x as Obj)) {
        const p = childPath(path, k);
        const leaf = { path: p, name: k, value: v, parent: x as Obj, key: k };
        keys.push(leaf);
        if (matrixFields.test(p) || v === null || typeof v !== 'object') leaves.push(leaf);
        if (!matrixFields.test(p)) visit(v, p, k);
      }
    }
  };
  visit(root, prefix, '');
  return { leaves, objects, keys };
}

/** What the contract says a mutation must give. `fields`: allowed values of `field`. */
interface Expect {
  codes: readonly string[];
  fields?: readonly string[];
  okAllowed: boolean;
  /**
   * A removed field: an error saying a field is missing must name exactly that field; any other
   * typed error is fine (removing an optional field such as a layer's `type` may make another
   * field invalid).
   */
  missing?: boolean;
}

interface Mutation {
  target: 'spec' | 'query';
  kind: MutKind;
  path: string;
  value: string;
  expect: Expect;
}

/** The path and, for an array element, the array's path (accepted as the field too). */
function fieldsFor(path: string): string[] {
  const m = /^(.*)\[\d+\]$/.exec(path);
  return m ? [path, m[1]!] : [path];
}

/**
 * Where a wrong-type array may be reported: its own path, or (a known limitation, docs/testing.md)
 * an enclosing object when that object is a variant tagged by `kind` holding another array, since
 * serde loses the path inside such variants and the core cannot tell which array is the wrong one.
 */
function fieldsForArray(path: string): string[] {
  const parts = path.split('.');
  const out = fieldsFor(path);
  for (let i = parts.length - 1; i >= 1; i--) out.push(parts.slice(0, i).join('.'));
  return out;
}

function deepObject(depth: number): unknown {
  let x: unknown = 1;
  for (let i = 0; i < depth; i++) x = { a: x };
  return x;
}

/** Apply mutation `kind` (with random choices r1, r2) to a deep copy; undefined if it does not apply. */
function mutate(base: Obj, target: 'spec' | 'query', kind: MutKind, r1: number, r2: number): { value: Obj; mutation: Mutation } | undefined {
  const copy = structuredClone(base);
  matrixFields = target === 'spec' && (base['model'] as Obj | undefined)?.['kind'] === 'twoLayerRelu' ? WIDE_MATRIX_FIELDS : MATRIX_FIELDS;
  const prefix = target === 'query' ? 'query' : '';
  const { leaves, objects, keys } = walk(copy, prefix);
  const numLeaves = leaves.filter((l) => typeof l.value === 'number');
  const intLeaves = numLeaves.filter((l) => INT_FIELDS.has(l.name));
  const strLeaves = leaves.filter((l) => typeof l.value === 'string' && !/\$block/.test(l.value));
  const set = (l: Leaf, v: unknown): void => {
    (l.parent as Record<string | number, unknown>)[l.key] = v;
  };
  const choose = <T>(xs: readonly T[]): T | undefined => (xs.length === 0 ? undefined : xs[r1 % xs.length]);
  const alt = <T>(xs: readonly T[]): T => xs[r2 % xs.length]!;
  const done = (l: { path: string }, v: unknown, expect: Expect): { value: Obj; mutation: Mutation } => ({
    value: copy,
    mutation: { target, kind, path: l.path, value: showValue(v, 80), expect },
  });
  switch (kind) {
    case 'wrongType': {
      const l = choose(leaves.filter((x) => !(typeof x.parent === 'object' && Array.isArray(x.parent) && matrixFields.test(x.path.replace(/\[\d+\]$/, '')))));
      if (!l) return undefined;
      const v = typeof l.value === 'number' ? alt(['x', true, {}, [], '1']) : typeof l.value === 'string' ? alt([5, true, {}, []]) : typeof l.value === 'boolean' ? alt([1, 'true', {}]) : alt([5, 'x', true]);
      set(l, v);
      return done(l, v, { codes: ['invalid_spec'], fields: Array.isArray(v) ? fieldsForArray(l.path) : fieldsFor(l.path), okAllowed: false });
    }
    case 'null': {
      const l = choose(leaves);
      if (!l) return undefined;
      set(l, null);
      // A null bias of an explicit network init is documented: that layer's bias starts at 0.
      const documented = /^init\.biases\[\d+\]$/.test(l.path);
      return done(l, null, { codes: ['invalid_spec'], fields: fieldsFor(l.path), okAllowed: documented });
    }
    case 'nonFinite': {
      const l = choose(numLeaves);
      if (!l) return undefined;
      const v = alt([NaN, Infinity, -Infinity]);
      set(l, v);
      return done(l, v, { codes: ['non_finite'], fields: fieldsFor(l.path), okAllowed: false });
    }
    case 'fraction': {
      const l = choose(intLeaves);
      if (!l) return undefined;
      const v = alt([0.5, 2.5, 1.000001]);
      set(l, v);
      return done(l, v, { codes: ['out_of_range'], fields: fieldsFor(l.path), okAllowed: false });
    }
    case 'negative': {
      const l = choose(numLeaves);
      if (!l) return undefined;
      const v = alt([-1, -3, -(2 ** 31), -1e300]);
      set(l, v);
      const int = INT_FIELDS.has(l.name);
      return done(l, v, { codes: ['out_of_range'], fields: fieldsFor(l.path), okAllowed: !int });
    }
    case 'huge': {
      const l = choose(numLeaves);
      if (!l) return undefined;
      const int = INT_FIELDS.has(l.name);
      const v = int ? alt([2 ** 32, 5e9, 2 ** 53, 2 ** 53 + 2, 1e300]) : alt([1e300, 1.7e308]);
      set(l, v);
      // Counts (steps, recordEvery, every) go to 2^53 on both backends: a huge one is valid, or
      // out of range, or too large for its recorded rows.
      if (COUNT_FIELDS.has(l.name)) return done(l, v, { codes: ['out_of_range', 'too_large'], okAllowed: true });
      if (!int) return done(l, v, { codes: ['out_of_range', 'too_large', 'non_finite'], okAllowed: true });
      if (l.name === 'seed') return done(l, v, { codes: ['out_of_range'], fields: fieldsFor(l.path), okAllowed: true });
      if (SIZE_FIELDS.has(l.name)) return done(l, v, { codes: ['out_of_range', 'too_large'], okAllowed: false });
      return done(l, v, { codes: ['out_of_range'], fields: fieldsFor(l.path), okAllowed: false });
    }
    case 'unknownField': {
      const o = choose(objects.filter((x) => !matrixFields.test(x.path)));
      if (!o) return undefined;
      o.obj['bogusField'] = 1;
      const path = childPath(o.path, 'bogusField');
      return done({ path }, 1, { codes: ['invalid_spec'], fields: [path], okAllowed: false });
    }
    case 'missing': {
      const l = choose(keys.filter((x) => !Array.isArray(x.parent)));
      if (!l) return undefined;
      delete (l.parent as Obj)[l.key as string];
      const parent = l.path.includes('.') ? l.path.slice(0, l.path.lastIndexOf('.')) : '';
      // A missing required field names itself; "exactly one of" (variances/stds) may name the
      // other one of the pair or their object.
      return done(l, undefined, { codes: ['invalid_spec'], fields: [l.path, parent, ...(parent === '' ? [] : [`${parent}.variances`, `${parent}.stds`])], okAllowed: true, missing: true });
    }
    case 'nesting': {
      const l = choose(leaves);
      if (!l) return undefined;
      const v = deepObject(5);
      set(l, v);
      // A known limitation (as for arrays): inside a variant tagged by `kind` that also holds a
      // matrix input (sent as a {rows, cols} map), the core cannot tell which map is the wrong one
      // and names the variant.
      const parentPath = l.path.includes('.') ? l.path.slice(0, l.path.lastIndexOf('.')) : '';
      const withMatrix = !Array.isArray(l.parent) && Object.keys(l.parent as Obj).some((k) => matrixFields.test(childPath(parentPath, k)));
      return done(l, v, { codes: ['invalid_spec'], fields: withMatrix ? fieldsForArray(l.path) : fieldsFor(l.path), okAllowed: false });
    }
    case 'deepNesting': {
      const l = choose(leaves);
      if (!l) return undefined;
      const v = deepObject(alt([200, 2000]));
      set(l, v);
      return done(l, '{a:{a:...}} x200+', { codes: ['invalid_spec'], okAllowed: false });
    }
    case 'bigint': {
      const l = choose(numLeaves);
      if (!l) return undefined;
      const v = BigInt(5);
      set(l, v);
      return done(l, '5n', { codes: ['invalid_spec'], fields: fieldsFor(l.path), okAllowed: false });
    }
    case 'bigString': {
      const l = choose(strLeaves);
      if (!l) return undefined;
      const v = `x${'y'.repeat(2000 + (r2 % 3000))}`;
      set(l, v);
      return done(l, v, { codes: ['invalid_spec', 'invalid_request'], fields: fieldsFor(l.path), okAllowed: false });
    }
    case 'matrixNonFinite': {
      const l = choose(leaves.filter((x) => /^(target\.matrix|init\.u0|init\.v0|data\.x|data\.y|patches\.z|data\.R|data\.sigma0|data\.dR|init\.C|critical\.C\[\d+\]|init\.theta)$/.test(x.path) && Array.isArray(x.value) && (x.value as unknown[]).length > 0));
      if (!l) return undefined;
      const rows = l.value as number[][];
      const row = rows[r2 % rows.length]!;
      if (row.length === 0) return undefined;
      const v = alt([NaN, Infinity, -Infinity]);
      row[r2 % row.length] = v;
      return done(l, v, { codes: ['non_finite'], fields: [l.path], okAllowed: false });
    }
  }
}

const MUT_KINDS: readonly MutKind[] = ['wrongType', 'null', 'nonFinite', 'fraction', 'negative', 'huge', 'unknownField', 'missing', 'nesting', 'deepNesting', 'bigint', 'bigString', 'matrixNonFinite'];
const ADVANCE_ARGS: readonly unknown[] = ['5', -1, NaN, 1.5, null, {}, undefined, '', true, -Infinity];

// ----------------------------------------------------------------------------------------------
// Cases

interface Case {
  family: FamilyTag;
  spec: Obj;
  query?: Obj;
  mutation?: Mutation;
  /** An argument to pass to `run.advance` (API misuse). */
  advanceArg?: { value: unknown };
}

const caseArbOf = (familyArb: fc.Arbitrary<FamilyTag>): fc.Arbitrary<Case | undefined> =>
  fc
  .record({
    family: familyArb,
    mode: fc.oneof(
      { weight: 30, arbitrary: fc.constant('valid') },
      { weight: 50, arbitrary: fc.constant('mutateSpec') },
      { weight: 16, arbitrary: fc.constant('mutateQuery') },
      { weight: 4, arbitrary: fc.constant('advance') },
    ),
    withQuery: fc.boolean(),
    mutKind: pick(MUT_KINDS),
    r1: fc.nat(),
    r2: fc.nat(),
  })
  .chain((c) =>
    fc.record({ spec: c.family === 'mf' ? mfArb : c.family === 'net' ? netArb : c.family === 'octopus' ? octopusArb : c.family === 'wncnn' ? wncnnArb : c.family === 'convFilter' ? convFilterArb : c.family === 'deep' ? deepArb : c.family === 'wide' ? wideArb : contArb, query: queryArb(c.family) }).map(({ spec, query: q }): Case | undefined => {
      // A planar convFilter (p = 2) has 2 parameters: queries ask for at most 2 eigenvalues.
      const p = (spec['model'] as Obj)['p'];
      const query = c.family === 'convFilter' && p === 2 && typeof q['k'] === 'number' && q['k'] > 2 ? { ...q, k: 2 } : q;
      switch (c.mode) {
        case 'valid':
          return { family: c.family, spec, ...(c.withQuery ? { query } : {}) };
        case 'mutateSpec': {
          const m = mutate(spec, 'spec', c.mutKind, c.r1, c.r2);
          return m ? { family: c.family, spec: m.value, mutation: m.mutation } : { family: c.family, spec };
        }
        case 'mutateQuery': {
          const kind = c.mutKind === 'matrixNonFinite' ? 'nonFinite' : c.mutKind;
          const m = mutate(query, 'query', kind, c.r1, c.r2);
          return m ? { family: c.family, spec, query: m.value, mutation: m.mutation } : { family: c.family, spec, query };
        }
        default:
          return { family: c.family, spec, advanceArg: { value: ADVANCE_ARGS[c.r1 % ADVANCE_ARGS.length] } };
      }
    }),
  );

/** The cases of the families of the original stream (their cases stay those they were). */
const caseArb = caseArbOf(fc.oneof({ weight: 2, arbitrary: fc.constant<FamilyTag>('mf') }, { weight: 3, arbitrary: fc.constant<FamilyTag>('net') }, { weight: 1, arbitrary: fc.constant<FamilyTag>('octopus') }));
/**
 * Families added later take every `EXTRA_EVERY`-th case from a stream of their own (slot j: the
 * cases with index % EXTRA_EVERY === EXTRA_EVERY - 1 - j), so that adding one does not reshuffle
 * the cases of the others.
 */
const EXTRA_EVERY = 8;
const EXTRA_FAMILIES: readonly FamilyTag[] = ['wncnn', 'convFilter', 'cont', 'deep', 'wide'];
const extraArbs = EXTRA_FAMILIES.map((f) => caseArbOf(fc.constant(f)));

/** The cases of batch `b` (indices b * BATCH ..). */
function sampleBatch(seedValue: number, b: number): (Case | undefined)[] {
  const values = fc.sample(caseArb, { seed: seedValue + b * 7919, numRuns: BATCH });
  extraArbs.forEach((arb, j) => {
    const extra = fc.sample(arb, { seed: seedValue + b * 7919 + 104_729 * (j + 1), numRuns: BATCH });
    for (let i = 0; i < BATCH; i++) if ((b * BATCH + i) % EXTRA_EVERY === EXTRA_EVERY - 1 - j) values[i] = extra[i];
  });
  return values;
}

function caseAt(seedValue: number, index: number): Case {
  const values = sampleBatch(seedValue, Math.floor(index / BATCH));
  return values[index % BATCH]!;
}

// ----------------------------------------------------------------------------------------------
// Running a case on one backend

interface RunSummary {
  step: number;
  rows: number;
  finished: boolean;
  cancelled: boolean;
  divergedAt: number | null;
  stop: string | null;
  reason: string | null;
  loss: number | null;
  paramsFinite: boolean;
  lastLoss: number | null;
  lastGradNorm: number | null;
  dim: number;
}

interface Outcome {
  stage: 'create' | 'run' | 'advance' | 'query' | 'dispose' | 'ok';
  error: ThrownRecord | null;
  run?: RunSummary;
  queryWhat?: string;
  ms: number;
}

function lastOfRole(r: RunResultBase, role: string): number | null {
  const name = r.columnNames.find((n) => r.columnRoles[n] === role);
  if (name === undefined || r.rows === 0) return null;
  return (r.columns[name] as Float64Array)[r.rows - 1] ?? null;
}

function summarize(r: RunResultBase): RunSummary {
  let finite = true;
  let dim = 0;
  for (const m of Object.values(r.params)) {
    dim += m.data.length;
    for (const x of m.data) if (!Number.isFinite(x)) finite = false;
  }
  return {
    step: r.step,
    rows: r.rows,
    finished: r.finished,
    cancelled: r.cancelled,
    divergedAt: r.divergedAt,
    stop: r.stop,
    reason: r.reason,
    loss: r.loss,
    paramsFinite: finite,
    lastLoss: lastOfRole(r, 'loss'),
    lastGradNorm: lastOfRole(r, 'gradNorm'),
    dim,
  };
}

/** The query as sent: `$block` becomes the first parameter block, `k` at most the dimension. */
function resolveQuery(q: Obj, r: RunResultBase, mutated: boolean): unknown {
  const out: Obj = { ...q };
  if (out['block'] === '$block') out['block'] = Object.keys(r.params)[0];
  if (!mutated) {
    const block = typeof out['block'] === 'string' ? r.params[out['block']] : undefined;
    const dim = block ? block.data.length : Object.values(r.params).reduce((s, m) => s + m.data.length, 0);
    if (typeof out['k'] === 'number') out['k'] = Math.max(1, Math.min(out['k'] as number, dim));
  }
  return out;
}

async function runOn(backend: Backend, c: Case): Promise<Outcome> {
  const t0 = performance.now();
  const ms = (): number => performance.now() - t0;
  let run: Run | undefined;
  try {
    run = Run.withBackend(backend, c.spec as never);
  } catch (e) {
    return { stage: 'create', error: thrownRecord(e), ms: ms() };
  }
  let stage: Outcome['stage'] = 'run';
  try {
    if (c.advanceArg) {
      stage = 'advance';
      run.advance(c.advanceArg.value as number);
      stage = 'run';
    }
    const signal = AbortSignal.timeout(CASE_BUDGET_MS);
    for await (const _ of run.chunks({ signal, chunkMillis: 20 })) {
      // drain
    }
    const result = run.result();
    const summary = summarize(result);
    if (c.query) {
      stage = 'query';
      const report = (await run.hessian(resolveQuery(c.query, result, c.mutation?.target === 'query') as never)) as { what?: string };
      stage = 'dispose';
      run.dispose();
      return { stage: 'ok', error: null, run: summary, queryWhat: report.what, ms: ms() };
    }
    stage = 'dispose';
    run.dispose();
    return { stage: 'ok', error: null, run: summary, ms: ms() };
  } catch (e) {
    try {
      run.dispose();
    } catch {
      // reported through the first error
    }
    return { stage, error: thrownRecord(e), ms: ms() };
  }
}

// ----------------------------------------------------------------------------------------------
// Checking a case

type FailureKind = 'untyped' | 'internal' | 'long-message' | 'parity' | 'contract' | 'valid-rejected' | 'state' | 'slow';

interface Failure {
  kind: FailureKind;
  index: number;
  detail: string;
}

const maskNumbers = (s: string): string => s.replace(/[0-9][0-9.,e+]*/g, '#');

function sameError(a: ThrownRecord, b: ThrownRecord): boolean {
  if (a.cls !== b.cls || a.code !== b.code || a.field !== b.field) return false;
  return a.code === 'too_large' ? maskNumbers(a.message) === maskNumbers(b.message) : a.message === b.message;
}

function checkCase(index: number, c: Case, out: Record<'native' | 'wasm', Outcome>): Failure[] {
  const failures: Failure[] = [];
  const fail = (kind: FailureKind, detail: string): void => {
    failures.push({ kind, index, detail });
  };
  for (const name of ['native', 'wasm'] as const) {
    const o = out[name];
    if (o.ms > CASE_BUDGET_MS || o.run?.cancelled) {
      fail('slow', `${name}: ${o.ms.toFixed(0)} ms (budget ${CASE_BUDGET_MS} ms)${o.run?.cancelled ? `, run cancelled at step ${o.run.step}` : ''}`);
    }
    const e = o.error;
    if (e) {
      if (e.code === 'internal') fail('internal', `${name} ${o.stage}: ${showThrown(e)}`);
      else if (!e.typed) fail('untyped', `${name} ${o.stage}: ${showThrown(e)}`);
      if (e.message.length > MAX_MESSAGE_CHARS) fail('long-message', `${name}: ${e.message.length} chars`);
    }
    const r = o.run;
    if (r) {
      const problems: string[] = [];
      if (!r.paramsFinite) problems.push('non-finite parameters');
      // A run that diverged at step 0 has no finite state to keep: it keeps no row and says why it
      // stopped (docs/api.md); any later stop keeps a finite last row.
      const atStart = r.divergedAt === 0;
      if (atStart && (r.rows !== 0 || r.stop !== 'diverged' || !r.reason)) problems.push(`diverged at step 0: ${r.rows} rows, stop ${r.stop}, reason ${r.reason}`);
      if (!atStart && r.lastLoss !== null && !Number.isFinite(r.lastLoss)) problems.push(`last row loss ${r.lastLoss}`);
      if (!atStart && r.lastGradNorm !== null && !Number.isFinite(r.lastGradNorm)) problems.push(`last row gradNorm ${r.lastGradNorm}`);
      if (r.stop === null && !r.cancelled && !(r.loss !== null && Number.isFinite(r.loss))) problems.push(`final loss ${r.loss} without a stop reason`);
      if (r.divergedAt !== null && r.divergedAt > 0 && r.rows === 0) problems.push(`diverged at step ${r.divergedAt} with no row kept`);
      if (problems.length > 0) fail('state', `${name}: ${problems.join(', ')}`);
    }
  }
  const a = out.native;
  const b = out.wasm;
  if (a.error && b.error) {
    if (!sameError(a.error, b.error)) fail('parity', `native ${a.stage}: ${showThrown(a.error)} | wasm ${b.stage}: ${showThrown(b.error)}`);
  } else if (a.error || b.error) {
    fail('parity', `native ${a.stage}: ${showThrown(a.error)} | wasm ${b.stage}: ${showThrown(b.error)}`);
  } else if (a.run && b.run) {
    const x = a.run;
    const y = b.run;
    if ((x.divergedAt === null) !== (y.divergedAt === null)) fail('parity', `divergedAt native ${x.divergedAt}, wasm ${y.divergedAt}`);
    else if (x.divergedAt === null && !x.cancelled && !y.cancelled) {
      // Values are not compared: with step sizes far above the stability limit the backends'
      // last-bit differences grow (test/parity.test.ts compares trajectories where that is fair).
      if (x.step !== y.step || x.rows !== y.rows || x.finished !== y.finished) fail('parity', `status native ${showValue(x)} | wasm ${showValue(y)}`);
    }
    if (a.queryWhat !== b.queryWhat) fail('parity', `query report native ${a.queryWhat}, wasm ${b.queryWhat}`);
  }
  // The contract for mutations; for valid cases, no error at all.
  const m = c.mutation;
  for (const name of ['native', 'wasm'] as const) {
    const o = out[name];
    const e = o.error;
    if (!m && !c.advanceArg) {
      if (e) fail('valid-rejected', `${name} ${o.stage}: ${showThrown(e)}`);
      continue;
    }
    if (c.advanceArg) {
      if (!e || e.code !== 'invalid_request' || o.stage !== 'advance') fail('contract', `${name}: advance(${showValue(c.advanceArg.value)}) gave ${o.stage}: ${showThrown(e)} (expected invalid_request)`);
      continue;
    }
    if (!m) continue;
    const want = m.expect;
    const what = `${m.kind} ${m.path} = ${m.value}: expected ${want.codes.join('|')}${want.fields ? ` at ${want.fields.join('|')}` : ''}${want.okAllowed ? ' or success' : ''}`;
    if (!e) {
      if (!want.okAllowed) fail('contract', `${name}: ${what}, got no error`);
    } else if (want.missing) {
      // Removing a discriminator (`type`, `kind`) selects the default variant, whose own missing
      // field (a dense layer's `width`) is then the right answer: a sibling of the removed field.
      const parent = m.path.replace(/\.[^.]+$/, '');
      const discriminator = /\.(type|kind)$/.test(m.path) && e.field.startsWith(`${parent}.`);
      if (/missing/i.test(e.message) && !discriminator && (e.code !== 'invalid_spec' || e.field !== m.path)) fail('contract', `${name} ${o.stage}: ${what} (a missing field names itself), got ${showThrown(e)}`);
    } else if (m.path === 'model.kind' && ['invalid_spec', 'shape_mismatch', 'non_finite'].includes(e.code)) {
      // An unknown family gives no meaning to the other fields: the TS layer's generic walk of
      // matrices at any path may refuse one of them (an `init.biases` with null rows) first.
    } else if (!want.codes.includes(e.code) || (want.fields && e.code !== 'too_large' && !want.fields.includes(e.field))) {
      // A mutation the core refuses with the right code at another field, when success was
      // allowed (a valid value that makes another field invalid), is fine.
      if (!(want.okAllowed && e.typed && e.code !== 'invalid_spec' && m.kind !== 'missing')) fail('contract', `${name} ${o.stage}: ${what}, got ${showThrown(e)}`);
    }
  }
  return failures;
}

// ----------------------------------------------------------------------------------------------
// The test

let native: Backend;
let wasm: Backend;

beforeAll(async () => {
  native = await loadBackendByName('native');
  wasm = await loadBackendByName('wasm');
});

async function runCaseBoth(c: Case): Promise<Record<'native' | 'wasm', Outcome>> {
  const a = await runOn(native, c);
  const b = await runOn(wasm, c);
  return { native: a, wasm: b };
}

describe('fuzz: random valid and invalid specs and queries on both backends', () => {
  const runs = ONLY_CASE !== undefined ? 1 : RUNS;
  it(
    `${runs} cases (seed ${SEED})`,
    async () => {
      console.log(`fuzz: FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS}${ONLY_CASE !== undefined ? ` FUZZ_CASE=${ONLY_CASE}` : ''}${REPORT_ONLY ? ' FUZZ_REPORT_ONLY=1' : ''}`);
      const t0 = performance.now();
      const failures: Failure[] = [];
      const cases: Map<number, Case> = new Map();
      const counts = { valid: 0, mutateSpec: 0, mutateQuery: 0, advance: 0, rejected: 0, ran: 0 };
      const indices = ONLY_CASE !== undefined ? [ONLY_CASE] : Array.from({ length: RUNS }, (_, i) => FIRST + i);
      // With a report file: the case about to run (so that a hang, which never returns, is
      // found by scripts/fuzz.sh) and every failure as it happens, one JSON line each.
      const reportFile = env['FUZZ_REPORT_FILE'];
      const fs = reportFile ? await import('node:fs') : undefined;
      let batchValues: (Case | undefined)[] = [];
      let done = 0;
      let batchIndex = -1;
      for (const i of indices) {
        const b = Math.floor(i / BATCH);
        if (b !== batchIndex) {
          batchIndex = b;
          batchValues = sampleBatch(SEED, b);
        }
        const c = batchValues[i % BATCH] ?? caseAt(SEED, i);
        if (REPORT_ONLY && i > 0 && i % 10_000 === 0) {
          console.log(`fuzz: ${i} cases, ${failures.length} failures, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
        }
        if (ONLY_CASE !== undefined) console.log(`case ${i}: ${showValue(c, 20000)}`);
        if (fs) fs.writeFileSync(`${reportFile}.current`, `${i}\n`);
        if (c.advanceArg) counts.advance++;
        else if (c.mutation?.target === 'query') counts.mutateQuery++;
        else if (c.mutation) counts.mutateSpec++;
        else counts.valid++;
        const out = await runCaseBoth(c);
        done++;
        if (out.native.error || out.wasm.error) counts.rejected++;
        else counts.ran++;
        if (ONLY_CASE !== undefined) console.log(`native: ${showValue(out.native, 4000)}\nwasm: ${showValue(out.wasm, 4000)}`);
        const f = checkCase(i, c, out);
        if (fs && f.length > 0) {
          const mutation = c.mutation ? { target: c.mutation.target, kind: c.mutation.kind, path: c.mutation.path, value: c.mutation.value } : c.advanceArg ? { kind: 'advance', value: showValue(c.advanceArg.value) } : null;
          fs.appendFileSync(`${reportFile}.jsonl`, f.map((x) => `${JSON.stringify({ ...x, mutation })}\n`).join(''));
        }
        if (f.length > 0) {
          cases.set(i, c);
          failures.push(...f);
          if (!REPORT_ONLY && ONLY_CASE === undefined && failures.length >= 20) break;
        }
      }
      const secs = (performance.now() - t0) / 1000;
      const byKind = new Map<string, number>();
      const casesByKind = new Map<string, Set<number>>();
      for (const f of failures) {
        byKind.set(f.kind, (byKind.get(f.kind) ?? 0) + 1);
        const s = casesByKind.get(f.kind) ?? new Set<number>();
        s.add(f.index);
        casesByKind.set(f.kind, s);
      }
      const lines = [
        `fuzz summary: seed ${SEED}, ${done} cases${done < indices.length ? ` (of ${indices.length}: stopped after 20 failures)` : ''} in ${secs.toFixed(1)} s (${counts.valid} valid, ${counts.mutateSpec} spec mutations, ${counts.mutateQuery} query mutations, ${counts.advance} advance misuse; ${counts.ran} ran on both, ${counts.rejected} rejected by at least one)`,
        `failing cases: ${cases.size}; failures by kind: ${[...byKind].map(([k, n]) => `${k} ${n} (${casesByKind.get(k)!.size} cases)`).join(', ') || 'none'}`,
      ];
      // Examples: up to 5 per kind, with the case to reproduce it.
      const shown = new Map<string, number>();
      for (const f of failures) {
        const n = shown.get(f.kind) ?? 0;
        if (n >= 5) continue;
        shown.set(f.kind, n + 1);
        const c = cases.get(f.index)!;
        const mut = c.mutation ? ` [${c.mutation.target} ${c.mutation.kind} ${c.mutation.path} = ${c.mutation.value}]` : c.advanceArg ? ` [advance(${showValue(c.advanceArg.value)})]` : ' [valid]';
        lines.push(`  ${f.kind} case ${f.index}${mut}: ${f.detail}\n    reproduce: FUZZ_SEED=${SEED} FUZZ_CASE=${f.index}; spec ${showValue(c.spec, 400)}${c.query ? `; query ${showValue(c.query, 200)}` : ''}`);
      }
      console.log(lines.join('\n'));
      if (fs && reportFile) {
        const { writeFileSync } = fs;
        const rows = failures.map((f) => {
          const c = cases.get(f.index)!;
          return { ...f, mutation: c.mutation ? { target: c.mutation.target, kind: c.mutation.kind, path: c.mutation.path, value: c.mutation.value } : c.advanceArg ? { kind: 'advance', value: showValue(c.advanceArg.value) } : null };
        });
        writeFileSync(reportFile, JSON.stringify({ seed: SEED, cases: done, seconds: secs, counts, failures: rows }, null, 1));
      }
      if (!REPORT_ONLY) expect(failures.map((f) => `${f.kind} case ${f.index}: ${f.detail}`)).toEqual([]);
    },
    Math.max(120_000, RUNS * 200),
  );
});
