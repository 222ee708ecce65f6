// Perturbed gradient descent (`method: { kind: 'perturbedGd', ... }`, issue 15), per backend and
// across backends: it escapes the saddle at the origin of matrix factorization where GD stays
// forever; each step perturbs exactly when the gradient norm is <= gThres and the last
// perturbation is more than tThres steps back (the `perturbed`/`perturbations` columns checked
// against the `gradNorm` column); reproducible from the seed; the noise lies in the ball with the
// radius law of a uniform point; native and wasm draw the same noise bit for bit.
import { beforeAll, describe, expect, it } from 'vitest';

import {
  type Backend,
  InvalidSpecError,
  type MatrixFactorizationResult,
  type MatrixFactorizationRunSpec,
  NonFiniteError,
  OutOfRangeError,
  Run,
  type RunSpec,
  loadBackendByName,
  train,
} from 'autobalance';

import { BACKEND, smallSpec } from './helpers.js';

const opts = { backend: BACKEND } as const;

function pgd(gThres: number, tThres: number, radius: number, seed: number): NonNullable<RunSpec['method']> {
  return { kind: 'perturbedGd', gThres, tThres, radius, seed };
}

/** Matrix factorization started exactly at the origin, a strict saddle (gradient 0). */
function atOrigin(method: RunSpec['method'], steps = 400): MatrixFactorizationRunSpec {
  return smallSpec({ init: { kind: 'targetSvd', components: [] }, method, steps });
}

function col(r: { columns: Record<string, Float64Array | undefined> }, name: string): Float64Array {
  const c = r.columns[name];
  if (c === undefined) throw new Error(`no column ${name}`);
  return c;
}

function bytes(a: Float64Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Every recorded column and the final factors, as bytes. */
function allBytes(r: MatrixFactorizationResult): Buffer {
  return Buffer.concat([...r.columnNames.map((n) => bytes(col(r, n))), bytes(r.U.data), bytes(r.V.data)]);
}

/**
 * perturbed[t] = 1 exactly when gradNorm[t - 1] <= gThres and no row t - tThres .. t - 1 is
 * perturbed; perturbations is the running count. Returns the rows with a large gradient, the
 * rows blocked by tThres, and the count.
 */
function checkRule(r: MatrixFactorizationResult, gThres: number, tThres: number): { large: number; blocked: number; count: number } {
  const gn = col(r, 'gradNorm');
  const p = col(r, 'perturbed');
  const c = col(r, 'perturbations');
  expect(r.columnRoles['perturbed']).toBe('solver');
  expect(r.columnRoles['perturbations']).toBe('solver');
  expect([p[0], c[0]]).toEqual([0, 0]);
  let large = 0;
  let blocked = 0;
  let count = 0;
  for (let t = 1; t < p.length; t++) {
    let recent = false;
    for (let k = Math.max(1, t - tThres); k < t; k++) recent ||= p[k] === 1;
    const small = (gn[t - 1] as number) <= gThres;
    const want = small && !recent;
    expect(p[t], `row ${t}`).toBe(want ? 1 : 0);
    if (want) count++;
    expect(c[t], `row ${t}`).toBe(count);
    if (!small) large++;
    if (small && recent) blocked++;
  }
  return { large, blocked, count };
}

describe(`perturbedGd on ${BACKEND}`, () => {
  it('GD stays on the saddle at the origin; PGD escapes it', async () => {
    const gd = await train(atOrigin({ kind: 'gd' }), opts);
    expect(gd.U.data.every((x) => x === 0) && gd.V.data.every((x) => x === 0)).toBe(true);
    const l0 = col(gd, 'loss')[0] as number;
    expect(col(gd, 'loss').every((l) => l === l0)).toBe(true);
    // Loss at the origin: ||M*||^2 / 2 = (9 + 4 + 1) / 2; the minimum is 0.
    expect(l0).toBeCloseTo(7, 12);

    const r = await train(atOrigin(pgd(1e-3, 20, 1e-2, 3)), opts);
    expect(col(r, 'perturbed')[1]).toBe(1);
    // The saddles hold loss 7 (origin), 2.5, 0.5 (the top 1 and 2 components learned): PGD reaches
    // the minimum 0; near it the gradient is small again, and a perturbation of radius 1e-2
    // lifts the loss to at most ~1e-3 before GD brings it back down to where the gradient is
    // below gThres (loss ~ gThres^2 / (2 x curvature), a few 1e-7).
    expect(Math.min(...col(r, 'loss'))).toBeLessThan(1e-5);
    expect(r.loss).toBeLessThan(1e-2);
    const { count } = checkRule(r, 1e-3, 20);
    expect(count).toBeGreaterThanOrEqual(1);
  });

  it('perturbs exactly when the gradient is small and the last perturbation is old enough', async () => {
    for (const [tThres, weightDecay] of [
      [0, 0],
      [3, 0],
      [10, 0.01],
    ] as const) {
      // From a generic start (large gradients) to the minimum, where the gradient drops below
      // gThres and perturbations of radius 1e-2 keep it near: one every tThres + 1 steps or so.
      const r = await train(smallSpec({ method: pgd(0.05, tThres, 1e-2, 7), weightDecay, steps: 300 }), opts);
      const { large, blocked, count } = checkRule(r, 0.05, tThres);
      expect(large).toBeGreaterThan(0);
      expect(count).toBeGreaterThan(3);
      if (tThres > 0) expect(blocked).toBeGreaterThan(0);
    }
  });

  it('is reproducible from the seed and differs across seeds; chunking changes nothing', async () => {
    const spec = (seed: number): MatrixFactorizationRunSpec => atOrigin(pgd(1e-3, 5, 1e-2, seed), 150);
    const a = await train(spec(11), opts);
    const b = await train(spec(11), opts);
    const c = await train(spec(12), opts);
    expect(allBytes(b).equals(allBytes(a))).toBe(true);
    expect(bytes(c.U.data).equals(bytes(a.U.data))).toBe(false);
    const run = await Run.create(spec(11), opts);
    try {
      while (!run.advance(7).finished);
      expect(allBytes(run.result() as MatrixFactorizationResult).equals(allBytes(a))).toBe(true);
    } finally {
      run.dispose();
    }
  });

  it('draws its noise uniformly in the ball (radius law over 600 draws in dimension 66)', async () => {
    // gThres far above every gradient and tThres 0: every step perturbs; eta 1e-300 makes the GD
    // part vanish below rounding, so the iterates are the running sums of the draws.
    const r = 0.01;
    const spec = smallSpec({ method: pgd(1e300, 0, r, 21), schedule: { kind: 'constant', eta: 1e-300 }, steps: 600 });
    const run = await Run.create(spec, opts);
    try {
      const state = (): Float64Array => Float64Array.from([...run.matrix('U').data, ...run.matrix('V').data]);
      let prev = state();
      const n = prev.length;
      expect(n).toBe(66);
      let sumS = 0;
      let sumS2 = 0;
      for (let k = 0; k < 600; k++) {
        run.advance(1);
        const cur = state();
        let sq = 0;
        for (let i = 0; i < n; i++) sq += ((cur[i] as number) - (prev[i] as number)) ** 2;
        const s = Math.sqrt(sq) / r;
        expect(s).toBeLessThanOrEqual(1 + 1e-9);
        // P(||xi|| <= s r) = s^n: s^n is uniform on (0, 1).
        sumS += s ** n;
        sumS2 += s ** (2 * n);
        prev = cur;
      }
      expect(run.column('perturbations', 0).at(-1)).toBe(600);
      // Mean 1/2 and second moment 1/3 of a uniform; standard errors 0.0118 and 0.0122 over 600.
      expect(Math.abs(sumS / 600 - 0.5)).toBeLessThan(5 * 0.0118);
      expect(Math.abs(sumS2 / 600 - 1 / 3)).toBeLessThan(5 * 0.0122);
    } finally {
      run.dispose();
    }
  });

  it('names the field of an invalid parameter', async () => {
    const bad = async (method: Record<string, unknown>, cls: unknown, field: string): Promise<void> => {
      const m = { kind: 'perturbedGd', gThres: 0.1, tThres: 2, radius: 0.01, seed: 0, ...method };
      await expect(train(smallSpec({ method: m as NonNullable<RunSpec['method']>, steps: 1 }), opts)).rejects.toSatisfy(
        (e: unknown) => e instanceof (cls as typeof Error) && (e as unknown as { field: string }).field === field,
      );
    };
    await bad({ gThres: -1 }, OutOfRangeError, 'method.gThres');
    await bad({ tThres: 1.5 }, OutOfRangeError, 'method.tThres');
    await bad({ tThres: -3 }, OutOfRangeError, 'method.tThres');
    await bad({ radius: -0.5 }, OutOfRangeError, 'method.radius');
    await bad({ radius: NaN }, NonFiniteError, 'method.radius');
    await bad({ gThres: Infinity }, NonFiniteError, 'method.gThres');
    await bad({ seed: 2 ** 60 }, OutOfRangeError, 'method.seed');
    await bad({ radius: 'big' }, InvalidSpecError, 'method.radius');
    await bad({ extra: 1 }, InvalidSpecError, 'method.extra');
  });

  it('runs on a network too', async () => {
    const r = await train(
      {
        model: { kind: 'network', inputDim: 3, loss: 'squared', layers: [{ width: 4, activation: 'relu', bias: true }, { width: 2 }] },
        data: { kind: 'generated', samples: 10, inputs: 'gaussian', targets: { kind: 'gaussian', std: 1 }, seed: 1 },
        init: { kind: 'gaussian', stds: [0.5, 0.5], seed: 2 },
        schedule: { kind: 'constant', eta: 0.05 },
        method: pgd(1e300, 4, 1e-3, 5),
        steps: 20,
      },
      opts,
    );
    expect(r.stop).toBe('finished');
    // Perturbations at steps 0, 5, 10, 15.
    expect(Array.from(col(r, 'perturbations'))).toEqual([0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4]);
  });
});

describe('perturbedGd: native and wasm', () => {
  let native: Backend;
  let wasm: Backend;
  beforeAll(async () => {
    native = await loadBackendByName('native');
    wasm = await loadBackendByName('wasm');
  });

  it('draw the same noise, bit for bit (the iterates are the sums of the draws)', async () => {
    const spec = smallSpec({ method: pgd(1e300, 0, 0.01, 8), schedule: { kind: 'constant', eta: 1e-300 }, steps: 50 });
    const a = await train(spec, { backend: native });
    const b = await train(spec, { backend: wasm });
    expect(a.U.data.some((x) => x !== 0)).toBe(true);
    expect(bytes(b.U.data).equals(bytes(a.U.data))).toBe(true);
    expect(bytes(b.V.data).equals(bytes(a.V.data))).toBe(true);
    expect(bytes(col(b, 'perturbations')).equals(bytes(col(a, 'perturbations')))).toBe(true);
  });

  it('escape the saddle along the same path on a 1 x 1 problem (the same perturbations)', async () => {
    // Not bit for bit: the native MF kernel fuses u v - m into one rounding (FMA), wasm rounds
    // the product and the difference (docs/ARCHITECTURE.md); the perturbations, drawn from the
    // same noise at the same steps, are the same bits, and the paths agree to 1e-10.
    const spec: MatrixFactorizationRunSpec = {
      model: { kind: 'matrixFactorization', d1: 1, d2: 1, rank: 1 },
      target: { kind: 'explicit', matrix: [[2]] },
      init: { kind: 'targetSvd', components: [] },
      schedule: { kind: 'constant', eta: 0.05 },
      method: pgd(1e-3, 10, 1e-2, 4),
      steps: 300,
    };
    const a = await train(spec, { backend: native });
    const b = await train(spec, { backend: wasm });
    expect(col(a, 'perturbations').at(-1)).toBeGreaterThan(1);
    expect(Math.min(...col(a, 'loss'))).toBeLessThan(1e-8);
    for (const c of ['perturbations', 'perturbed', 'step']) expect(bytes(col(b, c)).equals(bytes(col(a, c)))).toBe(true);
    const rel = (x: ArrayLike<number>, y: ArrayLike<number>): number => {
      let d = 0;
      let m = 0;
      for (let i = 0; i < x.length; i++) {
        d = Math.max(d, Math.abs((x[i] as number) - (y[i] as number)));
        m = Math.max(m, Math.abs(y[i] as number));
      }
      return d / m;
    };
    expect(rel(b.U.data, a.U.data)).toBeLessThan(1e-10);
    expect(rel(b.V.data, a.V.data)).toBeLessThan(1e-10);
    expect(rel(col(b, 'loss'), col(a, 'loss'))).toBeLessThan(1e-10);
  });

  it('take the same perturbations on a larger problem', async () => {
    const spec = atOrigin(pgd(1e-3, 20, 1e-2, 3));
    const a = await train(spec, { backend: native });
    const b = await train(spec, { backend: wasm });
    expect(bytes(col(b, 'perturbed')).equals(bytes(col(a, 'perturbed')))).toBe(true);
    let d = 0;
    for (let i = 0; i < a.U.data.length; i++) d = Math.max(d, Math.abs((a.U.data[i] as number) - (b.U.data[i] as number)));
    expect(d).toBeLessThan(1e-10);
  });
});
