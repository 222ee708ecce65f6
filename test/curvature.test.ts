// Curvature queries through the TS API, parameterized by backend (AUTOBALANCE_BACKEND). The
// numerics are tested in depth in crates/core/tests/curvature.rs; here: the wiring, the known
// answers that must survive it, parity across backends, and the errors.
import { describe, expect, it } from 'vitest';

import { InvalidRequestError, InvalidSpecError, type MatrixFactorizationRunSpec, OutOfRangeError, Run, loadBackendByName } from 'autobalance';

import { BACKEND, smallSpec } from './helpers.js';

const opts = { backend: BACKEND } as const;

/** U = 0, V = 0: the Hessian is [[0, -M*], [-M*^T, 0]] blocks, eigenvalues +-sigma_i (x r) and 0. */
function zeroInit(d1: number, d2: number, r: number, sv: number[]): MatrixFactorizationRunSpec {
  return {
    model: { kind: 'matrixFactorization', d1, d2, rank: r },
    target: { kind: 'random', singularValues: sv, seed: 5 },
    init: { kind: 'gaussian', stdU: 0, stdV: 0, seed: 0 },
    schedule: { kind: 'constant', eta: 0.01 },
    steps: 0,
  };
}

describe(`curvature on ${BACKEND}`, () => {
  it('at U = V = 0 the eigenvalues are +-sigma_i(M*), each r times, plus zeros', async () => {
    const sv = [3, 2, 0.5];
    const [d1, d2, r] = [9, 7, 3];
    const run = await Run.create(zeroInit(d1, d2, r, sv), opts);
    const rep = await run.hessian({ what: 'classify', method: 'dense' });
    run.dispose();
    expect(rep.method).toBe('dense');
    const ev = [...(rep.eigenvalues ?? [])].sort((a, b) => a - b);
    expect(ev.length).toBe((d1 + d2) * r);
    // Every +-sigma_i appears exactly r times; the rest is zero.
    for (const s of sv) {
      for (const sign of [-1, 1]) {
        expect(ev.filter((x) => Math.abs(x - sign * s) < 1e-10).length).toBe(r);
      }
    }
    expect(ev.filter((x) => Math.abs(x) < 1e-10).length).toBe((d1 + d2) * r - 2 * r * sv.length);
    // U = V = 0 is stationary with negative curvature: a strict saddle.
    expect(rep.verdict.kind).toBe('strictSaddle');
    expect(rep.lambdaMin).toBeCloseTo(-3, 10);
  });

  it('after GD converges: a local minimum with r^2 zero eigenvalues (the GL(r) symmetry)', async () => {
    const run = await Run.create(smallSpec({ steps: 3000 }), opts);
    for await (const _ of run.chunks()) {
      // run to the end
    }
    const rep = await run.hessian({ what: 'classify' });
    expect(rep.verdict.kind).toBe('localMinimum');
    expect(rep.symmetryDim).toBe(9);
    expect(rep.zeroCount).toBe(9);
    expect(rep.gradNorm).toBeLessThan(1e-6);
    const cert = await run.hessian({ what: 'lemma32' });
    expect(cert.side).toBe('globalMinimumWithinEps');
    expect(Math.abs(cert.value - cert.hvpValue)).toBeLessThan(1e-9 * Math.max(1, Math.abs(cert.value)));
    // Lanczos agrees with the dense answer on the extreme eigenvalues.
    const dense = await run.hessian({ what: 'eigs', which: 'both', k: 2, method: 'dense' });
    const lz = await run.hessian({ what: 'eigs', which: 'both', k: 2, method: 'lanczos', tol: 1e-10 });
    expect(lz.method).toBe('lanczos');
    expect(lz.allConverged).toBe(true);
    for (const end of ['smallest', 'largest'] as const) {
      const a = dense[end] ?? [];
      const b = lz[end] ?? [];
      expect(b.length).toBe(2);
      for (let i = 0; i < 2; i++) expect(Math.abs((a[i]?.value ?? NaN) - (b[i]?.value ?? NaN))).toBeLessThan(1e-8 * dense.scale);
    }
    run.dispose();
  });

  it('a strict saddle gives an escape direction that lowers the loss', async () => {
    const run = await Run.create(zeroInit(6, 5, 2, [2, 1]), opts);
    const rep = await run.hessian({ what: 'classify', vectors: true });
    run.dispose();
    expect(rep.verdict.kind).toBe('strictSaddle');
    if (rep.verdict.kind !== 'strictSaddle') return;
    const d = rep.verdict.direction;
    expect(d.length).toBe((6 + 5) * 2);
    expect(Math.abs(Math.hypot(...d) - 1)).toBeLessThan(1e-12);
    // Start a run from a small step along d: the loss is lower than at the saddle.
    const t = 1e-2;
    const u0 = { rows: 6, cols: 2, data: d.slice(0, 12).map((x) => t * x) };
    const v0 = { rows: 5, cols: 2, data: d.slice(12).map((x) => t * x) };
    const moved = await Run.create({ ...zeroInit(6, 5, 2, [2, 1]), init: { kind: 'explicit', u0, v0 } }, opts);
    const st = moved.advance(0);
    moved.dispose();
    expect(st.loss).not.toBeNull();
    expect(st.loss ?? Infinity).toBeLessThan(rep.loss - 0.4 * t * t * Math.abs(rep.lambdaMin));
  });

  it('density and trace report consistent numbers', async () => {
    const run = await Run.create(smallSpec({ steps: 50 }), opts);
    for await (const _ of run.chunks()) {
      // run to the end
    }
    const exact = await run.hessian({ what: 'classify', method: 'dense' });
    const trace = (exact.eigenvalues ?? []).reduce((a, b) => a + b, 0);
    const h = await run.hessian({ what: 'trace', probes: 200, seed: 3 });
    expect(Math.abs(h.estimate - trace)).toBeLessThan(4 * h.stdError + 1e-9);
    const dens = await run.hessian({ what: 'density', probes: 10, seed: 1 });
    expect(dens.grid.length).toBe(dens.density.length);
    run.dispose();
  });

  it('records lambda_min and lambda_max along a run (warm-started Lanczos)', async () => {
    const run = await Run.create(smallSpec({ steps: 300, recordEvery: 10, curvature: { every: 50, tol: 1e-10 } }), opts);
    for await (const _ of run.chunks()) {
      // run to the end
    }
    const steps = Array.from(run.column('step'));
    const lmin = Array.from(run.column('lambdaMin'));
    steps.forEach((t, i) => expect(Number.isFinite(lmin[i])).toBe(t % 50 === 0));
    const dense = await run.hessian({ what: 'classify', method: 'dense' });
    const last = lmin[lmin.length - 1] ?? NaN;
    expect(Math.abs(last - dense.lambdaMin)).toBeLessThan(1e-8 * Math.abs(dense.lambdaMax));
    const lmax = Array.from(run.column('lambdaMax'));
    expect(Math.abs((lmax[lmax.length - 1] ?? NaN) - dense.lambdaMax)).toBeLessThan(1e-8 * Math.abs(dense.lambdaMax));
    run.dispose();
  });

  it('bad queries are refused naming the field', async () => {
    const run = await Run.create(smallSpec({ steps: 1 }), opts);
    await expect(run.hessian({ what: 'nope' as 'eigs' })).rejects.toMatchObject({ constructor: InvalidSpecError, field: 'query.what' });
    await expect(run.hessian({ what: 'eigs', k: 10_000 })).rejects.toMatchObject({ constructor: OutOfRangeError, field: 'query.k' });
    await expect(run.hessian({ what: 'eigs', block: 'W7' })).rejects.toBeInstanceOf(InvalidRequestError);
    // The run is still usable after an error.
    expect((await run.hessian({ what: 'trace', probes: 2 })).probes).toBe(2);
    run.dispose();
  });
});

describe('curvature parity', () => {
  it('native and wasm give the same report to rounding', async () => {
    const [nat, wasm] = await Promise.all([loadBackendByName('native'), loadBackendByName('wasm')]);
    const reps = [];
    for (const backend of [nat, wasm]) {
      const run = await Run.create(smallSpec({ steps: 200 }), { backend });
      for await (const _ of run.chunks()) {
        // run to the end
      }
      reps.push(await run.hessian({ what: 'classify', method: 'dense' }));
      run.dispose();
    }
    const [a, b] = reps;
    const ea = a?.eigenvalues ?? [];
    const eb = b?.eigenvalues ?? [];
    expect(ea.length).toBeGreaterThan(0);
    expect(ea.length).toBe(eb.length);
    const scale = Math.max(...ea.map(Math.abs));
    for (let i = 0; i < ea.length; i++) expect(Math.abs((ea[i] ?? 0) - (eb[i] ?? 0))).toBeLessThan(1e-10 * scale);
    expect(a?.verdict.kind).toBe(b?.verdict.kind);
  });
});
