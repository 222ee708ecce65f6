// Deep homogeneous networks through the TS API, parameterized by backend (AUTOBALANCE_BACKEND).
// The core tests gradients and conservation in depth (crates/core/tests/networks.rs); here: the
// spec encoding (explicit data, weights, shared-layer patterns), an independent loss oracle,
// the conservation columns end to end, cross-backend parity and the errors.
import { describe, expect, it } from 'vitest';

import { InvalidRequestError, type NetworkRunSpec, OutOfRangeError, Run, loadBackendByName, train } from 'autobalance';

import { BACKEND, lcg, randomArray } from './helpers.js';

const opts = { backend: BACKEND } as const;

function netSpec(over: Partial<NetworkRunSpec> = {}): NetworkRunSpec {
  return {
    model: {
      kind: 'network',
      inputDim: 5,
      layers: [{ width: 4, activation: 'relu', bias: true }, { width: 3, activation: 'leakyRelu', slope: 0.2 }, { width: 2 }],
    },
    data: { kind: 'generated', samples: 20, targets: { kind: 'gaussian' }, seed: 1 },
    init: { kind: 'gaussian', stds: [0.5, 0.5, 0.5], seed: 2 },
    schedule: { kind: 'constant', eta: 0.05 },
    steps: 200,
    recordEvery: 20,
    ...over,
  };
}

/** 1/(2m) sum ||W3 phi2(W2 phi1(W1 x + b1)) - y||^2, computed here with plain loops. */
function oracleLoss(x: number[][], y: number[][], w: number[][][], b1: number[], slope: number): number {
  const relu = (v: number): number => Math.max(v, 0);
  const leaky = (v: number): number => (v > 0 ? v : slope * v);
  const mv = (m: number[][], v: number[]): number[] => m.map((row) => row.reduce((s, a, j) => s + a * (v[j] ?? 0), 0));
  let total = 0;
  x.forEach((xi, i) => {
    const h1 = mv(w[0] ?? [], xi).map((v, k) => relu(v + (b1[k] ?? 0)));
    const h2 = mv(w[1] ?? [], h1).map(leaky);
    const out = mv(w[2] ?? [], h2);
    out.forEach((o, k) => (total += (o - (y[i]?.[k] ?? 0)) ** 2));
  });
  return total / (2 * x.length);
}

describe(`networks on ${BACKEND}`, () => {
  it('explicit data and weights: the initial loss equals an independent forward pass', async () => {
    const next = lcg(7);
    const x = randomArray(12, 5, next);
    const y = randomArray(12, 2, next);
    const w = [randomArray(4, 5, next), randomArray(3, 4, next), randomArray(2, 3, next)];
    const b1 = [0.1, -0.2, 0.3, 0.05];
    const r = await train(
      netSpec({ data: { kind: 'explicit', x, y }, init: { kind: 'explicit', weights: w, biases: [b1, null, null] }, steps: 0 }),
      opts,
    );
    const want = oracleLoss(x, y, w, b1, 0.2);
    expect(Math.abs((r.columns['loss']?.[0] ?? NaN) - want)).toBeLessThan(1e-13 * want);
    expect(Object.keys(r.params)).toEqual(['W1', 'b1', 'W2', 'W3']);
    expect(Array.from(r.initialParams['W2']?.data ?? [])).toEqual(w[1]?.flat());
    expect(Array.from(r.params['b1']?.data ?? [])).toEqual(b1);
  });

  it('implicit midpoint conserves the layer differences; GD with the same step does not', async () => {
    const drift = (r: Awaited<ReturnType<typeof train>>): number =>
      Math.max(...['layerDiffDrift1', 'layerDiffDrift2', 'neuronDriftMax1', 'neuronDriftMax2'].flatMap((n) => Array.from(r.columns[n] ?? [NaN]).map(Math.abs)));
    const imp = await train(netSpec({ method: { kind: 'implicitMidpoint', tol: 1e-14 } }), opts);
    const gd = await train(netSpec(), opts);
    expect(imp.finished && gd.finished).toBe(true);
    expect(imp.columns['solveIters']).toBeDefined();
    const scale = Math.max(...Array.from(imp.columns['normSqW1'] ?? []));
    expect(drift(imp)).toBeLessThan(1e-11 * scale);
    expect(drift(gd)).toBeGreaterThan(1e3 * drift(imp));
    // Both trained: the loss went down.
    for (const r of [imp, gd]) expect(r.loss ?? Infinity).toBeLessThan(r.columns['loss']?.[0] ?? 0);
  });

  it('a shared layer takes its pattern as a buffer (Theorem 2.3 invariant conserved)', async () => {
    // 4 x 5 layer with 3 free parameters: a banded (convolution-like) pattern, 1-based indices.
    const pattern = [
      [1, 2, 3, 0, 0],
      [0, 1, 2, 3, 0],
      [0, 0, 1, 2, 3],
      [3, 0, 0, 1, 2],
    ];
    const spec = netSpec({
      model: {
        kind: 'network',
        inputDim: 5,
        layers: [{ type: 'shared', width: 4, params: 3, pattern, activation: 'relu' }, { width: 3, activation: 'relu' }, { width: 2 }],
      },
      init: { kind: 'gaussian', stds: [0.5, 0.5, 0.5], seed: 3 },
      method: { kind: 'implicitMidpoint', tol: 1e-14 },
    });
    const r = await train(spec, opts);
    expect(Object.keys(r.params)).toContain('v1');
    expect(r.params['v1']?.data.length).toBe(3);
    const d = Array.from(r.columns['layerDiffDrift1'] ?? [NaN]).map(Math.abs);
    expect(Math.max(...d)).toBeLessThan(1e-11);
    // The expanded W1 follows the pattern: zeros where the pattern has 0.
    const run = await Run.create({ ...spec, steps: 0 }, opts);
    run.advance(0);
    const w1 = run.matrix('W1');
    const v = run.matrix('v1');
    run.dispose();
    pattern.flat().forEach((p, k) => expect(w1.data[k]).toBe(p === 0 ? 0 : v.data[p - 1]));
  });

  it('errors name their field; curvature answers networks (lemma32 is matrix factorization only)', async () => {
    await expect(train(netSpec({ model: { kind: 'network', inputDim: 5, layers: [{ width: 0 }, { width: 2 }] } }), opts)).rejects.toMatchObject({
      constructor: OutOfRangeError,
      field: 'model.layers[0].width',
    });
    const run = await Run.create(netSpec({ steps: 1 }), opts);
    const rep = await run.hessian({ what: 'classify', method: 'dense' });
    expect(rep.dim).toBe(42); // W1 4x5, b1 4, W2 3x4, W3 2x3
    expect(rep.eigenvalues?.length).toBe(42);
    expect(rep.symmetryDim).toBe(7); // one rescaling per hidden neuron (4 + 3)
    expect(rep.verdict.kind).toBe('notStationary');
    const blk = await run.hessian({ what: 'eigs', block: 'W2', which: 'both', k: 1 });
    expect(blk.dim).toBe(12);
    await expect(run.hessian({ what: 'lemma32' })).rejects.toMatchObject({ constructor: InvalidRequestError, field: 'query.what' });
    run.dispose();
  });
});

describe(`network curvature along a run on ${BACKEND}`, () => {
  it('records lambda_min and lambda_max every k steps, equal to a dense solve at the end', async () => {
    const run = await Run.create(netSpec({ steps: 60, recordEvery: 10, curvature: { every: 20, tol: 1e-10 } }), opts);
    try {
      for await (const chunk of run.chunks()) void chunk;
      const r = run.result();
      expect(r.columnNames).toEqual(expect.arrayContaining(['lambdaMin', 'lambdaMax', 'lambdaMinResidual', 'lambdaMaxResidual']));
      const steps = Array.from(r.columns['step'] ?? []);
      const lmin = Array.from(r.columns['lambdaMin'] ?? []);
      expect(steps).toEqual([0, 10, 20, 30, 40, 50, 60]);
      expect(lmin.map((x) => Number.isNaN(x))).toEqual([false, true, false, true, false, true, false]);
      const dense = await run.hessian({ what: 'eigs', method: 'dense', which: 'both' });
      const lo = dense.smallest?.[0]?.value ?? NaN;
      const hi = dense.largest?.[0]?.value ?? NaN;
      const scale = Math.max(Math.abs(lo), Math.abs(hi));
      expect(Math.abs((lmin[6] as number) - lo)).toBeLessThanOrEqual(1e-8 * scale);
      expect(Math.abs((r.columns['lambdaMax']?.[6] as number) - hi)).toBeLessThanOrEqual(1e-8 * scale);
    } finally {
      run.dispose();
    }
  });
});

describe('network parity', () => {
  it('native and wasm follow the same trajectory', async () => {
    const results = [];
    for (const name of ['native', 'wasm'] as const) {
      results.push(await train(netSpec({ method: { kind: 'rk4' } }), { backend: await loadBackendByName(name) }));
    }
    const [a, b] = results;
    expect(a?.columnNames).toEqual(b?.columnNames);
    for (const n of ['loss', 'normSqW1', 'normSqW2', 'normSqW3']) {
      const ca = Array.from(a?.columns[n] ?? []);
      const cb = Array.from(b?.columns[n] ?? []);
      expect(ca.length).toBeGreaterThan(0);
      ca.forEach((v, i) => expect(Math.abs(v - (cb[i] ?? NaN))).toBeLessThan(1e-12 * Math.max(1, Math.abs(v))));
    }
    for (const k of ['W1', 'b1', 'W2', 'W3']) {
      expect(Array.from(a?.initialParams[k]?.data ?? [])).toEqual(Array.from(b?.initialParams[k]?.data ?? []));
    }
  });
});
