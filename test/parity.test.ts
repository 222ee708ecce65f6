// Cross-backend parity, with both backends loaded in one process (whatever AUTOBALANCE_BACKEND
// says): identical initialization bits, trajectories equal to 1e-12 relative, identical errors.
import { beforeAll, describe, expect, it } from 'vitest';

import { AutobalanceError, type Backend, type KernelRecursionStudySpec, type MatrixFactorizationResult, type MatrixFactorizationRunSpec, Run, type RunResult, type RunSpec, loadBackendByName, study, train } from 'autobalance';

import { lcg, longSpec, maxRelDiff, normRelDiff, randomArray, smallSpec } from './helpers.js';

let native: Backend;
let wasm: Backend;

beforeAll(async () => {
  native = await loadBackendByName('native');
  wasm = await loadBackendByName('wasm');
});

function bytes(a: Float64Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

async function both(spec: MatrixFactorizationRunSpec): Promise<[MatrixFactorizationResult, MatrixFactorizationResult]> {
  return [await train(spec, { backend: native }), await train(spec, { backend: wasm })];
}

/**
 * Columns equal to `tol` relative, row by row. The state (U, V) and the quantities that are sums
 * of squares of it (normU2, normV2, their ratio) are compared entry by entry. Quantities that are
 * differences which go to zero (the loss, the residual and the gradient at convergence, the
 * imbalance and its drift) carry a rounding error of the size of what they are differences of,
 * not of their own size: they are compared relative to the largest value of their column (for the
 * imbalance, to the largest normU2 + normV2). Without that floor, a loss of 1e-13 that differs in
 * its fourth digit between backends (an absolute difference of 1e-23 on a problem of scale 10)
 * would count as a disagreement.
 */
function expectSameTrajectory(a: MatrixFactorizationResult, b: MatrixFactorizationResult, tol: number): void {
  expect(b.rows).toBe(a.rows);
  expect(b.step).toBe(a.step);
  expect(b.divergedAt).toBe(a.divergedAt);
  expect(b.columnNames).toEqual(a.columnNames);
  const max = (name: string): number => Math.max(...(a.columns[name] as Float64Array).map(Math.abs));
  const floors: Record<string, number> = {
    loss: max('loss'),
    residual: max('residual'),
    gradNorm: max('gradNorm'),
    imbalance: max('normU2') + max('normV2'),
    imbalanceDrift: max('normU2') + max('normV2'),
  };
  for (const name of a.columnNames) {
    const d = maxRelDiff(a.columns[name] as Float64Array, b.columns[name] as Float64Array, floors[name] ?? 0);
    expect(d, `column ${name}`).toBeLessThanOrEqual(tol);
  }
  expect(normRelDiff(a.U.data, b.U.data)).toBeLessThanOrEqual(tol);
  expect(normRelDiff(a.V.data, b.V.data)).toBeLessThanOrEqual(tol);
  expect(maxRelDiff(a.U.data, b.U.data, Math.sqrt(max('normU2') / a.U.data.length))).toBeLessThanOrEqual(tol);
  expect(maxRelDiff(a.V.data, b.V.data, Math.sqrt(max('normV2') / a.V.data.length))).toBeLessThanOrEqual(tol);
}

describe('native and wasm in one process', () => {
  it('run the same core version', () => {
    expect(native.name).toBe('native');
    expect(wasm.name).toBe('wasm');
    expect(wasm.coreVersion).toBe(native.coreVersion);
  });

  it('give bit-identical Gaussian initializations', async () => {
    const spec: MatrixFactorizationRunSpec = {
      ...longSpec(0),
      init: { kind: 'gaussian', stdU: 0.7, stdV: 1.3, seed: 12345 },
    };
    const [a, b] = await both(spec);
    expect(a.U0.data.length).toBe(300 * 10);
    expect(bytes(b.U0.data).equals(bytes(a.U0.data))).toBe(true);
    expect(bytes(b.V0.data).equals(bytes(a.V0.data))).toBe(true);
    // Sanity: the bytes compared are not trivially equal (zero) arrays.
    expect(a.U0.data.some((x) => x !== 0)).toBe(true);
  });

  it('give the same random target', () => {
    const ra = Run.withBackend(native, longSpec(0));
    const rb = Run.withBackend(wasm, longSpec(0));
    const ta = ra.matrix('target').data;
    const tb = rb.matrix('target').data;
    expect(ta.length).toBe(300 * 200);
    expect(bytes(tb).equals(bytes(ta))).toBe(true);
    ra.dispose();
    rb.dispose();
  });

  it('follow the same trajectory (constant step, small problem)', async () => {
    const [a, b] = await both(smallSpec({ steps: 300 }));
    expectSameTrajectory(a, b, 1e-12);
  });

  it('follow the same trajectory (balance-regularized, inverse-power step, larger problem)', async () => {
    const spec: MatrixFactorizationRunSpec = {
      ...longSpec(400),
      model: { kind: 'matrixFactorization', d1: 300, d2: 200, rank: 10, balanceWeight: 0.125 },
      schedule: { kind: 'inversePower', c: 0.02, delta: 0.25 },
      recordEvery: 10,
    };
    const [a, b] = await both(spec);
    expectSameTrajectory(a, b, 1e-12);
  });

  it('follow the same trajectory from explicit data (Theorem 3.1 step)', async () => {
    const next = lcg(99);
    const spec: MatrixFactorizationRunSpec = {
      model: { kind: 'matrixFactorization', d1: 9, d2: 7, rank: 3 },
      target: { kind: 'explicit', matrix: randomArray(9, 7, next) },
      init: { kind: 'explicit', u0: randomArray(9, 3, () => 1e-2 * next()), v0: randomArray(7, 3, () => 1e-2 * next()) },
      schedule: { kind: 'theorem31', eps: 0.1 },
      steps: 500,
    };
    const [a, b] = await both(spec);
    expectSameTrajectory(a, b, 1e-12);
  });

  it('pass through the same states, chunk by chunk', async () => {
    const spec = smallSpec({ steps: 600 });
    const ra = Run.withBackend(native, spec);
    const rb = Run.withBackend(wasm, spec);
    let checked = 0;
    while (!ra.status.finished) {
      const sa = await ra.advanceAsync(37);
      const sb = await rb.advanceAsync(37);
      expect(sb).toEqual({ ...sa, loss: sb.loss });
      for (const m of ['U', 'V'] as const) {
        const x = ra.matrix(m).data;
        const y = rb.matrix(m).data;
        expect(normRelDiff(x, y), `${m} at step ${sa.step}`).toBeLessThanOrEqual(1e-12);
      }
      checked++;
    }
    expect(checked).toBeGreaterThan(10);
    ra.dispose();
    rb.dispose();
  });

  it('diverge at the same step', async () => {
    const [a, b] = await both(smallSpec({ init: { kind: 'gaussian', stdU: 1, stdV: 1, seed: 2 }, schedule: { kind: 'constant', eta: 5 }, steps: 10_000 }));
    expect(a.divergedAt).not.toBeNull();
    expect(b.divergedAt).toBe(a.divergedAt);
  });

  const bad: [string, unknown][] = [
    ['shape of init.u0', { ...smallSpec(), init: { kind: 'explicit', u0: [[1, 2]], v0: randomArray(10, 3, lcg(1)) } }],
    ['rank', smallSpec({ model: { kind: 'matrixFactorization', d1: 3, d2: 8, rank: 4 }, target: { kind: 'random', singularValues: [1, 1, 1, 1], seed: 1 } })],
    [
      'NaN target',
      {
        ...smallSpec(),
        model: { kind: 'matrixFactorization', d1: 2, d2: 2, rank: 1 },
        target: { kind: 'explicit', matrix: [[1, NaN], [0, 1]] },
        init: { kind: 'gaussian', stdU: 1, stdV: 1, seed: 1 },
      },
    ],
    ['eta = 0', smallSpec({ schedule: { kind: 'constant', eta: 0 } })],
    ['eta < 0', smallSpec({ schedule: { kind: 'constant', eta: -1 } })],
    ['negative steps', smallSpec({ steps: -3 })],
    ['too large', smallSpec({ model: { kind: 'matrixFactorization', d1: 1e8, d2: 1e8, rank: 1 }, target: { kind: 'random', singularValues: [1], seed: 1 } })],
    ['unknown kind', { ...smallSpec(), init: { kind: 'uniform', seed: 1 } }],
    ['unknown field', { ...smallSpec(), extra: true }],
    ['wrong type', { ...smallSpec(), steps: 'many' }],
    ['not JSON-able value', { ...smallSpec(), recordEvery: 0 }],
    ['singular values count', smallSpec({ target: { kind: 'random', singularValues: [1, 2], seed: 1 } })],
    ['negative std', smallSpec({ init: { kind: 'gaussian', stdU: -1, stdV: 1, seed: 1 } })],
    ['explicit without buffer data', { ...smallSpec(), target: { kind: 'explicit' } }],
  ];

  for (const [name, spec] of bad) {
    it(`report the same error: ${name}`, async () => {
      const errs: AutobalanceError[] = [];
      for (const backend of [native, wasm]) {
        try {
          await train(spec as RunSpec, { backend });
          throw new Error(`expected ${name} to fail on ${backend.name}`);
        } catch (e) {
          expect(e).toBeInstanceOf(AutobalanceError);
          errs.push(e as AutobalanceError);
        }
      }
      const [n, w] = errs as [AutobalanceError, AutobalanceError];
      expect(w.constructor).toBe(n.constructor);
      expect({ code: w.code, field: w.field }).toEqual({ code: n.code, field: n.field });
      // The memory limits differ (the machine's on native, 2 GiB in wasm), but the message does
      // not quote them: the same text on both (issue 10).
      expect(w.message).toBe(n.message);
      expect(n.code).not.toBe('internal');
    });
  }

  // The kernel study's quadrature evaluates exp/log1p/expm1 in the core's own IEEE arithmetic
  // (vecmath.rs, batched: AVX2 natively where the CPU has it, simd128 on wasm): the same bits.
  it('compute the same kernel recursion bits (softplus, sigmoid, tanh)', async () => {
    const data = { kind: 'sphere', n: 10, d: 4, seed: 2 } as const;
    const cases: KernelRecursionStudySpec[] = [
      { kind: 'kernelRecursion', architecture: 'resnet', activation: 'softplus', cRes: 0.5, quadrature: { nodes: 20 }, depths: [1, 3, 6], data },
      { kind: 'kernelRecursion', architecture: 'fullyConnected', activation: 'sigmoid', depths: [1, 3, 6], data },
      { kind: 'kernelRecursion', architecture: 'resnet', activation: 'tanh', cRes: 0.5, quadrature: { nodes: 150 }, depths: [1, 3, 6], data },
    ];
    for (const spec of cases) {
      const a = await study(spec, { backend: native });
      const b = await study(spec, { backend: wasm });
      expect(b.columnNames).toEqual(a.columnNames);
      for (const name of a.columnNames) {
        expect(bytes(b.columns[name] as Float64Array).equals(bytes(a.columns[name] as Float64Array)), `${spec.activation} ${name}`).toBe(true);
      }
      // Everything else too, bit for bit (the depth exponent's logarithms and exp are libm's).
      const oa = a.output as unknown as Record<string, unknown>;
      const ob = b.output as unknown as Record<string, unknown>;
      for (const k of Object.keys(oa)) expect(JSON.stringify(ob[k]), `${spec.activation} ${k}`).toBe(JSON.stringify(oa[k]));
    }
  });

  it('list the same presets', () => {
    expect(wasm.presetList()).toBe(native.presetList());
    expect(wasm.presetSpec('figure1')).toBe(native.presetSpec('figure1'));
  });
});
