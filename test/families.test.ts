// The TS side of the conformance suite: every model family the core registers (familyList), with
// its own example specs, runs through the public API on the active backend, and on both backends
// in one process they agree. A family added to the core's registry is tested here with no change.
import { beforeAll, describe, expect, it } from 'vitest';

import { type Backend, COLUMN_ROLES, type RunSpec, Run, loadBackendByName, train } from 'autobalance';

import { BACKEND } from './helpers.js';

interface FamilyInfo {
  kind: string;
  fields: string[];
  queries: string[];
  examples: { name: string; spec: Record<string, unknown> }[];
}

let active: Backend;
let native: Backend;
let wasm: Backend;
let families: FamilyInfo[];

beforeAll(async () => {
  active = await loadBackendByName(BACKEND);
  native = await loadBackendByName('native');
  wasm = await loadBackendByName('wasm');
  families = JSON.parse(active.familyList()) as FamilyInfo[];
});

const ROLES = new Set<string>(COLUMN_ROLES);

describe(`every registered family on ${BACKEND}`, () => {
  it('the registry lists both families with examples, the same on both backends', () => {
    expect(families.map((f) => f.kind)).toEqual(expect.arrayContaining(['matrixFactorization', 'network']));
    for (const f of families) expect(f.examples.length, f.kind).toBeGreaterThan(0);
    expect(native.familyList()).toBe(wasm.familyList());
  });

  it('each example trains: finite loss, every column with a role, time = sum of step sizes', async () => {
    for (const f of families) {
      for (const ex of f.examples) {
        const r = await train(ex.spec as unknown as RunSpec, { backend: active });
        const label = `${f.kind}/${ex.name}`;
        expect(r.finished, label).toBe(true);
        expect(r.divergedAt, label).toBeNull();
        expect(r.columnNames.slice(0, 3), label).toEqual(['step', 'eta', 'time']);
        for (const n of r.columnNames) expect(ROLES.has(r.columnRoles[n] ?? ''), `${label} ${n}`).toBe(true);
        const loss = r.columnNames.filter((n) => r.columnRoles[n] === 'loss');
        expect(loss.length, label).toBeGreaterThan(0);
        for (const n of loss) for (const x of r.columns[n] ?? []) expect(Number.isFinite(x), label).toBe(true);
        // The examples use a constant step: time at row k is step * eta.
        const step = r.columns['step'] as Float64Array;
        const eta = r.columns['eta'] as Float64Array;
        const time = r.columns['time'] as Float64Array;
        for (let k = 0; k < step.length; k++) {
          expect(Math.abs((time[k] ?? 0) - (step[k] ?? 0) * (eta[0] ?? 0)), label).toBeLessThanOrEqual(1e-12 * (1 + (time[k] ?? 0)));
        }
      }
    }
  });

  it("each example's curvature report says which Hessian-vector product answered", async () => {
    for (const f of families) {
      const ex = f.examples[0];
      if (!ex) continue;
      const run = Run.withBackend(active, ex.spec as unknown as RunSpec);
      run.advance(1_000_000);
      const rep = (await run.hessian({ what: 'trace', probes: 4 })) as unknown as Record<string, unknown>;
      expect(rep['hvp'], f.kind).toBe('exact');
      run.dispose();
    }
  });
});

describe('native and wasm agree on every example', () => {
  it('same columns, roles, and values to 1e-10 relative to each column', async () => {
    for (const f of families) {
      for (const ex of f.examples) {
        const spec = ex.spec as unknown as RunSpec;
        const a = await train(spec, { backend: native });
        const b = await train(spec, { backend: wasm });
        const label = `${f.kind}/${ex.name}`;
        expect(b.columnNames, label).toEqual(a.columnNames);
        expect(b.columnRoles, label).toEqual(a.columnRoles);
        // Quantities that go to zero (an imbalance at a balanced minimum, a gradient at
        // convergence) carry rounding of the size of what they are differences of: compare every
        // column relative to the larger of its own scale and the run's (its loss and norms).
        const maxAbs = (c: Float64Array): number => {
          let m = 0;
          for (const v of c) if (Number.isFinite(v)) m = Math.max(m, Math.abs(v));
          return m;
        };
        let runScale = 0;
        for (const n of a.columnNames) {
          const role = a.columnRoles[n];
          if (role === 'loss' || role === 'norm') runScale = Math.max(runScale, maxAbs(a.columns[n] as Float64Array));
        }
        for (const n of a.columnNames) {
          const x = a.columns[n] as Float64Array;
          const y = b.columns[n] as Float64Array;
          expect(y.length, `${label} ${n}`).toBe(x.length);
          const role = a.columnRoles[n];
          const own = maxAbs(x);
          const scale = role === 'step' || role === 'stepSize' || role === 'time' ? own : Math.max(own, runScale);
          for (let k = 0; k < x.length; k++) {
            const d = Math.abs((x[k] ?? 0) - (y[k] ?? 0));
            if (Number.isNaN(x[k]) && Number.isNaN(y[k])) continue;
            expect(d, `${label} ${n} row ${k}`).toBeLessThanOrEqual(1e-10 * Math.max(scale, 1e-300));
          }
        }
      }
    }
  });
});
