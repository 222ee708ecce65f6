// The conservationLaws study through the TS API on each backend (AUTOBALANCE_BACKEND): the known
// answers of Marcotte, Gribonval & Peyre (2023) (two-layer linear nets and U V^T: r (r + 1) / 2
// laws; two-layer ReLU nets: one per hidden neuron), the theorems' laws identified inside the
// complement, typed errors with the field path, and native/wasm parity in one process. The
// numerics are tested in crates/core/tests/conservation.rs.
import { describe, expect, it } from 'vitest';

import {
  type ConservationLawsStudySpec,
  InvalidSpecError,
  type NetworkRunSpec,
  OutOfRangeError,
  type RunSpec,
  loadBackendByName,
  study,
} from 'autobalance';

import { BACKEND, thrownBy } from './helpers.js';

const opts = { backend: BACKEND } as const;

function net(inputDim: number, layers: NetworkRunSpec['model']['layers'], seed = 1): NetworkRunSpec {
  return {
    model: { kind: 'network', inputDim, layers },
    data: { kind: 'generated', samples: 4, targets: { kind: 'teacher', widths: [2] }, seed: 3 },
    init: { kind: 'gaussian', variances: layers.map(() => 0.5), seed },
    schedule: { kind: 'constant', eta: 0.01 },
    steps: 1,
  };
}

function mf(d1: number, d2: number, rank: number): RunSpec {
  return {
    model: { kind: 'matrixFactorization', d1, d2, rank },
    target: { kind: 'random', singularValues: Array(Math.min(rank, d1, d2)).fill(1), seed: 3 },
    init: { kind: 'gaussian', stdU: 0.7, stdV: 0.7, seed: 5 },
    schedule: { kind: 'constant', eta: 0.01 },
    steps: 1,
  };
}

function count(run: RunSpec, extra: Partial<ConservationLawsStudySpec> = {}): ConservationLawsStudySpec {
  return { kind: 'conservationLaws', run, points: 2, seed: 7, ...extra };
}

describe(`conservationLaws on ${BACKEND}`, () => {
  it('two-layer linear nets (n, m, r): r (r + 1) / 2 laws, all of Theorem 2.2', async () => {
    for (const [n, m, r] of [[3, 3, 2], [4, 3, 2], [5, 4, 3], [2, 3, 4]] as const) {
      const res = await study(count(net(n, [{ width: r }, { width: m }])), opts);
      const out = res.output;
      expect(res.finished).toBe(true);
      expect(out.dim).toBe(r * (n + m));
      expect(out.laws).toBe((r * (r + 1)) / 2);
      expect(out.consistent).toBe(true);
      for (const p of out.points) {
        expect(p.converged).toBe(true);
        expect(p.known.rank).toBe((r * (r + 1)) / 2);
        expect(p.known.explained).toBe((r * (r + 1)) / 2);
        expect(p.known.inSpan ?? 1).toBeLessThan(1e-9);
        expect(p.gap ?? Infinity).toBeGreaterThan(1e4);
        expect(p.complement?.length).toBe(p.laws);
      }
      expect(Array.from(res.columns['laws'] ?? [])).toEqual([(r * (r + 1)) / 2, (r * (r + 1)) / 2]);
    }
  });

  it('matrix factorization U V^T: r (r + 1) / 2 laws', async () => {
    for (const [d1, d2, r] of [[3, 3, 2], [4, 3, 2], [5, 4, 3]] as const) {
      const out = (await study(count(mf(d1, d2, r)), opts)).output;
      expect(out.family).toBe('matrixFactorization');
      expect(out.laws).toBe((r * (r + 1)) / 2);
      expect(out.points.every((p) => p.known.explained === (r * (r + 1)) / 2)).toBe(true);
    }
  });

  it('two-layer ReLU nets: one law per hidden neuron and no other', async () => {
    for (const [n, m, r] of [[3, 2, 2], [4, 3, 3], [2, 2, 5]] as const) {
      const out = (await study(count(net(n, [{ width: r, activation: 'relu' }, { width: m }], 2)), opts)).output;
      expect(out.laws).toBe(r);
      expect(out.consistent).toBe(true);
      expect(out.points.every((p) => p.known.explained === r && p.inactiveNeurons === 0)).toBe(true);
    }
  });

  it('invalid studies throw typed errors naming the field', async () => {
    const run = net(3, [{ width: 2 }, { width: 3 }]);
    const cases: [unknown, new (...a: never[]) => Error, string][] = [
      [count(run, { points: 0 }), OutOfRangeError, 'points'],
      [count(run, { maxDepth: 17 }), OutOfRangeError, 'maxDepth'],
      [count(run, { tolerance: 0.5 }), OutOfRangeError, 'tolerance'],
      [{ ...count(run), extra: 1 }, InvalidSpecError, 'extra'],
      [count(net(3, [{ width: 0 }, { width: 3 }])), OutOfRangeError, 'run.model.layers[0].width'],
    ];
    for (const [spec, cls, field] of cases) {
      const t = await thrownBy(() => study(spec as ConservationLawsStudySpec, opts));
      expect(t?.cls, JSON.stringify(spec)).toBe(cls.name);
      expect(t?.field).toBe(field);
    }
  });

  it('native and wasm give the same counts (and the same complement to rounding)', async () => {
    const spec = count(net(3, [{ width: 3, activation: 'relu', bias: true }, { width: 2, bias: true }]), { points: 3 });
    const [a, b] = [await study(spec, { backend: await loadBackendByName('native') }), await study(spec, { backend: await loadBackendByName('wasm') })];
    expect(a.output.laws).toBe(3);
    for (const name of ['rank', 'laws', 'depth', 'knownLaws', 'knownExplained', 'generators']) {
      expect(Array.from(b.columns[name] ?? []), name).toEqual(Array.from(a.columns[name] ?? []));
    }
    for (const [i, p] of a.output.points.entries()) {
      const q = b.output.points[i];
      expect(q?.dims).toEqual(p.dims);
      // The complements span the same space: |P_a - P_b| small, P = C^T C.
      const ca = p.complement ?? [];
      const cb = q?.complement ?? [];
      const d = a.output.dim;
      let worst = 0;
      for (let r = 0; r < d; r++) {
        for (let c = 0; c < d; c++) {
          let pa = 0;
          let pb = 0;
          for (const v of ca) pa += (v[r] ?? 0) * (v[c] ?? 0);
          for (const v of cb) pb += (v[r] ?? 0) * (v[c] ?? 0);
          worst = Math.max(worst, Math.abs(pa - pb));
        }
      }
      expect(worst).toBeLessThan(1e-9);
    }
  });
});
