// The continuation study (Taghvaei, Kim & Mehta 2017) through the TS API on each backend
// (AUTOBALANCE_BACKEND): an Example 1 branch through its fold (checked against the a I + b J
// reduction), typed errors naming the field path, and native/wasm parity in one process. The
// numerics are tested in crates/core/tests/continuation.rs.
import { describe, expect, it } from 'vitest';

import { type ContinuationStudySpec, InvalidSpecError, OutOfRangeError, ShapeMismatchError, loadBackendByName, study } from 'autobalance';

import { BACKEND, thrownBy } from './helpers.js';

const opts = { backend: BACKEND } as const;

function example1(sheet: number, extra: Partial<ContinuationStudySpec> = {}): ContinuationStudySpec {
  return {
    kind: 'continuation',
    problem: { n: 2, T: 1, R: [[0, -1], [1, 0]] },
    parameter: 'lambda',
    lambda: 0,
    range: [0, 1],
    starts: [{ kind: 'logarithm', sheet }],
    maxPoints: 60,
    cMax: 40,
    verdicts: { K: [1, 4], every: 10 },
    ...extra,
  };
}

describe(`continuation on ${BACKEND}`, () => {
  it('Example 1, sheet 1: through its fold, on a I + b J, the fold where (lambda + e^{2a})^2 = lambda^2 (a^2 + b^2)', async () => {
    const res = await study(example1(1), opts);
    expect(res.finished).toBe(true);
    const out = res.output;
    expect(out.kind).toBe('continuation');
    expect(out.branches[0]?.startSolved).toBe(true);
    expect(out.folds.length).toBe(1);
    const col = (name: string): number[] => Array.from(res.columns[name] ?? []);
    const [lam, a, b, c12, c22, resid, fold] = ['lambda', 'c11', 'c21', 'c12', 'c22', 'residual', 'fold'].map(col) as number[][];
    expect(lam!.length).toBeGreaterThan(20);
    for (let i = 0; i < lam!.length; i++) {
      expect(resid![i]).toBeLessThan(1e-9);
      expect(Math.abs(a![i]! - c22![i]!)).toBeLessThan(1e-9);
      expect(Math.abs(b![i]! + c12![i]!)).toBeLessThan(1e-9);
      const e = Math.exp(a![i]!);
      expect(Math.abs(lam![i]! * b![i]! - e * Math.cos(b![i]!))).toBeLessThan(1e-9);
    }
    const row = out.folds[0]!.row;
    expect(fold![row]).toBe(1);
    const [l, x, y] = [lam![row]!, a![row]!, b![row]!];
    const g = (l + Math.exp(2 * x)) ** 2 - l * l * (x * x + y * y);
    expect(Math.abs(g)).toBeLessThan(1e-9);
    expect(l).toBeGreaterThan(0.07);
    expect(l).toBeLessThan(0.08);
    expect(out.verdicts?.points.length).toBeGreaterThan(2);
  });

  it('invalid studies throw typed errors naming the field', async () => {
    const cases: [unknown, new (...a: never[]) => Error, string][] = [
      [example1(1, { range: [1, 0] }), OutOfRangeError, 'range[1]'],
      [example1(1, { problem: { n: 2, T: 1, R: [[0, -1], [1]] } }), ShapeMismatchError, 'problem.R[1]'],
      [example1(1, { problem: { n: 2, T: 0, R: [[0, -1], [1, 0]] } }), OutOfRangeError, 'problem.T'],
      [example1(1, { starts: [{ kind: 'logarithm', sheet: 0.5 }] }), OutOfRangeError, 'starts[0].sheet'],
      [example1(1, { starts: [{ kind: 'point', C: [[1, 2, 3], [1, 2, 3]] }] }), ShapeMismatchError, 'starts[0].C[0]'],
      [example1(1, { parameter: 'sigma' }), InvalidSpecError, 'problem.dR'],
      [example1(1, { verdicts: { K: [0] } }), OutOfRangeError, 'verdicts.K[0]'],
      [{ ...example1(1), extra: 1 }, InvalidSpecError, 'extra'],
    ];
    for (const [spec, cls, field] of cases) {
      const t = await thrownBy(() => study(spec as ContinuationStudySpec, opts));
      expect(t?.cls, JSON.stringify(spec)).toBe(cls.name);
      expect(t?.field, JSON.stringify(spec)).toBe(field);
    }
  });

  it('native and wasm give the same branch', async () => {
    const spec = example1(-1, { verdicts: { K: [1, 4], every: 5 } });
    const [x, y] = [await study(spec, { backend: await loadBackendByName('native') }), await study(spec, { backend: await loadBackendByName('wasm') })];
    expect(y.columnNames).toEqual(x.columnNames);
    for (const name of x.columnNames) {
      const [p, q] = [Array.from(x.columns[name] ?? []), Array.from(y.columns[name] ?? [])];
      expect(q.length, name).toBe(p.length);
      for (let i = 0; i < p.length; i++) {
        const d = Math.abs(p[i]! - q[i]!);
        expect(Number.isNaN(p[i]) ? Number.isNaN(q[i]) : d <= 1e-9 * (1 + Math.abs(p[i]!)), `${name}[${i}]`).toBe(true);
      }
    }
    expect(y.output.folds.length).toBe(1);
    expect(Math.abs(y.output.folds[0]!.lambda - x.output.folds[0]!.lambda)).toBeLessThan(1e-12);
  });
});
