// The main suite, parameterized by backend: AUTOBALANCE_BACKEND=native|wasm selects the backend
// every test here runs on (the root script test:ts runs the file once per backend).
import { describe, expect, it } from 'vitest';

import {
  AutobalanceError,
  InvalidRequestError,
  InvalidSpecError,
  NonFiniteError,
  OutOfRangeError,
  Run,
  type MatrixFactorizationRunSpec,
  type RunSpec,
  ShapeMismatchError,
  TooLargeError,
  activeBackend,
  backendInfo,
  fromArray,
  matrix,
  toArray,
  train,
} from 'autobalance';

import {
  BACKEND,
  lcg,
  longSpec,
  maxRelDiff,
  mul,
  mulABt,
  mulAtB,
  norm2,
  randomArray,
  scaleAdd,
  sleep,
  smallSpec,
  sub,
  transpose,
} from './helpers.js';

const opts = { backend: BACKEND } as const;

// `time` (flow time, the sum of the step sizes) is recorded on every run since the Model-trait
// refactoring of the core (issue 9); before, only networks had it.
const COLUMNS = ['step', 'eta', 'time', 'loss', 'normU2', 'normV2', 'normRatio', 'imbalance', 'imbalanceDrift', 'residual', 'gradNorm'];

describe(`backend ${BACKEND}`, () => {
  it('is the active backend (AUTOBALANCE_BACKEND) and reports a core version', async () => {
    expect(await activeBackend()).toBe(BACKEND);
    const info = await backendInfo();
    expect(info.backend).toBe(BACKEND);
    expect(info.coreVersion).toMatch(/^\d+\.\d+\.\d+/);
  });

  describe('a run end to end', () => {
    it('decreases the loss and records consistent columns', async () => {
      const spec = smallSpec();
      const r = await train(spec, opts);
      expect(r.backend).toBe(BACKEND);
      expect(r.finished).toBe(true);
      expect(r.cancelled).toBe(false);
      expect(r.divergedAt).toBeNull();
      expect(r.step).toBe(400);
      expect(r.steps).toBe(400);
      expect(r.columnNames).toEqual(COLUMNS);
      expect(r.rows).toBe(401);
      for (const name of COLUMNS) {
        expect(r.columns[name]).toBeInstanceOf(Float64Array);
        expect(r.columns[name]?.length).toBe(401);
      }
      const c = (n: string): Float64Array => r.columns[n] as Float64Array;
      expect(Array.from(c('step').subarray(0, 4))).toEqual([0, 1, 2, 3]);
      expect(c('eta').every((x) => x === 0.05)).toBe(true);
      const loss = c('loss');
      expect(loss[400]).toBeLessThan((loss[0] as number) * 1e-3);
      expect(r.loss).toBe(loss[400]);
      // normRatio = normU2 / normV2 and, with balanceWeight = 0, residual^2 / 2 = loss.
      for (let i = 0; i < r.rows; i++) {
        expect(c('normRatio')[i]).toBeCloseTo((c('normU2')[i] as number) / (c('normV2')[i] as number), 14);
        const half = (c('residual')[i] as number) ** 2 / 2;
        expect(Math.abs(half - (loss[i] as number))).toBeLessThanOrEqual(1e-12 * (loss[i] as number) + 1e-300);
      }
      // Drift from step 0 is 0 at step 0.
      expect(c('imbalanceDrift')[0]).toBe(0);
      expect(r.U.rows).toBe(12);
      expect(r.U.cols).toBe(3);
      expect(r.V.rows).toBe(10);
      expect(r.U0.data.length).toBe(36);
      expect(r.V0.data.length).toBe(30);
    });

    it('matches an independent computation of the loss, norms and gradient at the final state', async () => {
      const run = await Run.create(smallSpec({ steps: 57 }), opts);
      for await (const chunk of run.chunks()) void chunk;
      const U = run.matrix('U');
      const V = run.matrix('V');
      const M = run.matrix('target');
      expect([M.rows, M.cols]).toEqual([12, 10]);
      const R = sub(mulABt(U, V), M);
      const loss = norm2(R) / 2;
      const gU = mul(R, V);
      const gV = mul(transpose(R), U);
      const last = (n: string): number => {
        const col = run.column(n);
        return col[col.length - 1] as number;
      };
      expect(last('step')).toBe(57);
      expect(Math.abs(last('loss') - loss) / loss).toBeLessThan(1e-12);
      expect(Math.abs(last('normU2') - norm2(U)) / norm2(U)).toBeLessThan(1e-13);
      expect(Math.abs(last('normV2') - norm2(V)) / norm2(V)).toBeLessThan(1e-13);
      const g = Math.sqrt(norm2(gU) + norm2(gV));
      expect(Math.abs(last('gradNorm') - g) / g).toBeLessThan(1e-11);
      const D = sub(mulAtB(U, U), mulAtB(V, V));
      expect(Math.abs(last('imbalance') - Math.sqrt(norm2(D))) / Math.sqrt(norm2(D))).toBeLessThan(1e-10);
      run.dispose();
    });

    it('takes exactly one gradient step U1 = U0 - eta R V0, V1 = V0 - eta R^T U0', async () => {
      const next = lcg(7);
      const M = randomArray(5, 4, next);
      const u0 = randomArray(5, 2, next);
      const v0 = randomArray(4, 2, next);
      const eta = 0.1;
      const spec: MatrixFactorizationRunSpec = {
        model: { kind: 'matrixFactorization', d1: 5, d2: 4, rank: 2 },
        target: { kind: 'explicit', matrix: M },
        init: { kind: 'explicit', u0, v0 },
        schedule: { kind: 'constant', eta },
        steps: 1,
      };
      const r = await train(spec, opts);
      const U0 = fromArray(u0);
      const V0 = fromArray(v0);
      const R = sub(mulABt(U0, V0), fromArray(M));
      const U1 = scaleAdd(U0, -eta, mul(R, V0));
      const V1 = scaleAdd(V0, -eta, mul(transpose(R), U0));
      expect(maxRelDiff(r.U.data, U1.data, 1e-3)).toBeLessThan(1e-14);
      expect(maxRelDiff(r.V.data, V1.data, 1e-3)).toBeLessThan(1e-14);
      expect(Array.from(r.U0.data)).toEqual(u0.flat());
      expect(r.columns['loss']?.[0]).toBeCloseTo(norm2(R) / 2, 13);
    });

    it('records every recordEvery steps and at the last step', async () => {
      const r = await train(smallSpec({ steps: 10, recordEvery: 3 }), opts);
      expect(Array.from(r.columns['step'] ?? [])).toEqual([0, 3, 6, 9, 10]);
      expect(r.rows).toBe(5);
    });

    it('adds the balancing regularizer to the loss with balanceWeight', async () => {
      const spec = smallSpec({ steps: 30 });
      const w = 0.125;
      const reg = await train({ ...spec, model: { ...spec.model, balanceWeight: w } }, opts);
      const c = (n: string): Float64Array => reg.columns[n] as Float64Array;
      for (let i = 0; i < reg.rows; i++) {
        const expected = (c('residual')[i] as number) ** 2 / 2 + w * (c('imbalance')[i] as number) ** 2;
        expect(Math.abs((c('loss')[i] as number) - expected) / expected).toBeLessThan(1e-12);
      }
      const plain = await train(spec, opts);
      expect(Array.from(reg.U.data)).not.toEqual(Array.from(plain.U.data));
    });

    it('supports the inverse-power and Theorem 3.1 schedules', async () => {
      const ip = await train(smallSpec({ steps: 20, schedule: { kind: 'inversePower', c: 0.05, delta: 0.25 } }), opts);
      expect(ip.columns['eta']?.[15]).toBeCloseTo(0.05 * 16 ** -0.75, 15);
      const th = await train(smallSpec({ steps: 20, schedule: { kind: 'theorem31', eps: 0.01 } }), opts);
      const eta0 = th.columns['eta']?.[0] as number;
      expect(eta0).toBeGreaterThan(0);
      expect(th.columns['eta']?.[9]).toBeCloseTo(eta0 / 10, 18);
    });
  });

  describe('explicit target and init', () => {
    const next = lcg(11);
    const M = randomArray(6, 5, next);
    const u0 = randomArray(6, 2, next).map((row) => row.map((x) => 0.3 * x));
    const v0 = randomArray(5, 2, next).map((row) => row.map((x) => 0.3 * x));
    const base = (target: MatrixFactorizationRunSpec['target'], init: MatrixFactorizationRunSpec['init']): MatrixFactorizationRunSpec => ({
      model: { kind: 'matrixFactorization', d1: 6, d2: 5, rank: 2 },
      target,
      init,
      schedule: { kind: 'constant', eta: 0.05 },
      steps: 50,
    });

    it('gives the same run from number[][], Matrix and {rows, cols, data: number[]}', async () => {
      const fromArrays = await train(base({ kind: 'explicit', matrix: M }, { kind: 'explicit', u0, v0 }), opts);
      const fromMatrices = await train(
        base({ kind: 'explicit', matrix: fromArray(M) }, { kind: 'explicit', u0: fromArray(u0), v0: matrix(5, 2, v0.flat()) }),
        opts,
      );
      const fromPlain = await train(
        base(
          { kind: 'explicit', matrix: { rows: 6, cols: 5, data: M.flat() } },
          { kind: 'explicit', u0: { rows: 6, cols: 2, data: u0.flat() }, v0: { rows: 5, cols: 2, data: v0.flat() } },
        ),
        opts,
      );
      expect(toArray(fromArrays.U0)).toEqual(u0);
      expect(toArray(fromArrays.V0)).toEqual(v0);
      expect(fromArrays.loss).toBeLessThan(fromArrays.columns['loss']?.[0] as number);
      for (const other of [fromMatrices, fromPlain]) {
        expect(Array.from(other.U.data)).toEqual(Array.from(fromArrays.U.data));
        expect(Array.from(other.V.data)).toEqual(Array.from(fromArrays.V.data));
        expect(Array.from(other.columns['loss'] ?? [])).toEqual(Array.from(fromArrays.columns['loss'] ?? []));
      }
    });

    it('exposes the explicit target unchanged', async () => {
      const run = await Run.create(base({ kind: 'explicit', matrix: M }, { kind: 'explicit', u0, v0 }), opts);
      expect(toArray(run.matrix('target'))).toEqual(M);
      run.dispose();
    });

    it('mixes an explicit target with a Gaussian init', async () => {
      const r = await train(base({ kind: 'explicit', matrix: M }, { kind: 'gaussian', stdU: 0.1, stdV: 0.1, seed: 9 }), opts);
      expect(r.finished).toBe(true);
      expect(r.loss).toBeLessThan(r.columns['loss']?.[0] as number);
    });
  });

  describe('Gaussian initialization', () => {
    it('is reproducible from its seed and has the asked standard deviations', async () => {
      const spec = (seed: number): MatrixFactorizationRunSpec =>
        smallSpec({
          model: { kind: 'matrixFactorization', d1: 200, d2: 100, rank: 4 },
          target: { kind: 'random', singularValues: [4, 3, 2, 1], seed: 1 },
          init: { kind: 'gaussian', stdU: 0.5, stdV: 2, seed },
          steps: 0,
        });
      const a = await train(spec(5), opts);
      const b = await train(spec(5), opts);
      const c = await train(spec(6), opts);
      expect(Buffer.from(a.U0.data.buffer).equals(Buffer.from(b.U0.data.buffer))).toBe(true);
      expect(Buffer.from(a.V0.data.buffer).equals(Buffer.from(b.V0.data.buffer))).toBe(true);
      expect(Buffer.from(a.U0.data.buffer).equals(Buffer.from(c.U0.data.buffer))).toBe(false);
      const std = (d: Float64Array): number => Math.sqrt(norm2(d) / d.length);
      expect(std(a.U0.data)).toBeGreaterThan(0.45);
      expect(std(a.U0.data)).toBeLessThan(0.55);
      expect(std(a.V0.data)).toBeGreaterThan(1.8);
      expect(std(a.V0.data)).toBeLessThan(2.2);
      // steps = 0: the initial state is the final one.
      expect(a.step).toBe(0);
      expect(a.rows).toBe(1);
      expect(Array.from(a.U.data)).toEqual(Array.from(a.U0.data));
    });
  });

  describe('errors (each names its field; nothing is computed)', () => {
    const mf = (d1: number, d2: number, rank: number): MatrixFactorizationRunSpec['model'] => ({ kind: 'matrixFactorization', d1, d2, rank });
    const explicit = (d1: number, d2: number, r: number): MatrixFactorizationRunSpec => {
      const next = lcg(3);
      return {
        model: mf(d1, d2, r),
        target: { kind: 'explicit', matrix: randomArray(d1, d2, next) },
        init: { kind: 'explicit', u0: randomArray(d1, r, next), v0: randomArray(d2, r, next) },
        schedule: { kind: 'constant', eta: 0.1 },
        steps: 5,
      };
    };

    async function failure(spec: unknown): Promise<AutobalanceError> {
      try {
        await train(spec as RunSpec, opts);
      } catch (e) {
        expect(e).toBeInstanceOf(AutobalanceError);
        return e as AutobalanceError;
      }
      throw new Error('expected the run to fail');
    }

    it('shape mismatch of init.u0', async () => {
      const spec = explicit(4, 3, 2);
      const e = await failure({ ...spec, init: { kind: 'explicit', u0: randomArray(3, 2, lcg(1)), v0: randomArray(3, 2, lcg(2)) } });
      expect(e).toBeInstanceOf(ShapeMismatchError);
      expect(e.code).toBe('shape_mismatch');
      expect(e.field).toBe('init.u0');
      expect(e.detail).toMatch(/4 x 2/);
      expect(e.message).toBe(`init.u0: ${e.detail}`);
    });

    it('a {rows, cols, data} whose data has the wrong length', async () => {
      const spec = explicit(4, 3, 2);
      const e = await failure({ ...spec, init: { kind: 'explicit', u0: { rows: 4, cols: 2, data: [1, 2, 3] }, v0: randomArray(3, 2, lcg(2)) } });
      expect(e).toBeInstanceOf(ShapeMismatchError);
      expect(e.field).toBe('init.u0');
    });

    it('a ragged number[][] (converted in TS, naming the field)', async () => {
      const spec = explicit(3, 3, 1);
      const e = await failure({ ...spec, target: { kind: 'explicit', matrix: [[1, 2, 3], [4, 5], [6, 7, 8]] } });
      expect(e).toBeInstanceOf(ShapeMismatchError);
      expect(e.field).toBe('target.matrix');
      expect(e.detail).toMatch(/row 1/);
    });

    it('rank > min(d1, d2)', async () => {
      const e = await failure(smallSpec({ model: mf(5, 3, 4), target: { kind: 'random', singularValues: [1, 1, 1, 1], seed: 1 } }));
      expect(e).toBeInstanceOf(OutOfRangeError);
      expect(e.code).toBe('out_of_range');
      expect(e.field).toBe('model.rank');
    });

    it('NaN in a target entry', async () => {
      const spec = explicit(3, 3, 1);
      const m = randomArray(3, 3, lcg(5));
      (m[1] as number[])[2] = NaN;
      const e = await failure({ ...spec, target: { kind: 'explicit', matrix: m } });
      expect(e).toBeInstanceOf(NonFiniteError);
      expect(e.code).toBe('non_finite');
      expect(e.field).toBe('target.matrix');
      expect(e.detail).toMatch(/\(1, 2\)/);
    });

    it('Infinity in init.v0 given as a Matrix', async () => {
      const spec = explicit(3, 3, 1);
      const v0 = matrix(3, 1, [0.1, Infinity, 0.2]);
      const e = await failure({ ...spec, init: { kind: 'explicit', u0: randomArray(3, 1, lcg(5)), v0 } });
      expect(e).toBeInstanceOf(NonFiniteError);
      expect(e.field).toBe('init.v0');
    });

    it('eta <= 0', async () => {
      for (const eta of [0, -0.5]) {
        const e = await failure(smallSpec({ schedule: { kind: 'constant', eta } }));
        expect(e).toBeInstanceOf(OutOfRangeError);
        expect(e.field).toBe('schedule.eta');
      }
    });

    it('delta outside (0, 1/2] of the inverse-power schedule', async () => {
      const e = await failure(smallSpec({ schedule: { kind: 'inversePower', c: 1, delta: 0.75 } }));
      expect(e).toBeInstanceOf(OutOfRangeError);
      expect(e.field).toBe('schedule.delta');
    });

    it('negative or fractional steps', async () => {
      for (const steps of [-1, 2.5]) {
        const e = await failure(smallSpec({ steps }));
        expect(e).toBeInstanceOf(OutOfRangeError);
        expect(e.field).toBe('steps');
      }
    });

    it('sizes that would not fit in memory', async () => {
      const e = await failure(smallSpec({ model: mf(10_000_000, 10_000_000, 1), target: { kind: 'random', singularValues: [1], seed: 1 } }));
      expect(e).toBeInstanceOf(TooLargeError);
      expect(e.code).toBe('too_large');
      expect(e.field).toBe('model');
    });

    it('an unknown kind', async () => {
      const e = await failure({ ...smallSpec(), schedule: { kind: 'nesterov', eta: 0.1 } });
      expect(e).toBeInstanceOf(InvalidSpecError);
      expect(e.code).toBe('invalid_spec');
      expect(e.field).toMatch(/^schedule/);
      expect(e.detail).toMatch(/nesterov/);
    });

    it('an unknown field and a missing field', async () => {
      const unknown = await failure({ ...smallSpec(), stpes: 3 });
      expect(unknown).toBeInstanceOf(InvalidSpecError);
      expect(unknown.detail).toMatch(/stpes/);
      const { steps: _s, ...noSteps } = smallSpec();
      const missing = await failure(noSteps);
      expect(missing).toBeInstanceOf(InvalidSpecError);
      expect(missing.detail).toMatch(/steps/);
    });

    it('an explicit matrix that is not a matrix', async () => {
      const e = await failure({ ...smallSpec(), target: { kind: 'explicit', matrix: 'abc' } });
      expect(e).toBeInstanceOf(InvalidSpecError);
      expect(e.field).toBe('target.matrix');
    });

    it('a spec that is not an object', async () => {
      const e = await failure(42);
      expect(e).toBeInstanceOf(InvalidSpecError);
    });

    it('an unknown column or matrix name', async () => {
      const run = await Run.create(smallSpec(), opts);
      expect(() => run.column('nope')).toThrow(InvalidRequestError);
      expect(() => run.matrix('W' as 'U')).toThrow(InvalidRequestError);
      run.dispose();
      expect(() => run.status).toThrow(InvalidRequestError);
    });
  });

  describe('divergence', () => {
    it('stops with divergedAt set and the last finite state', async () => {
      const spec = smallSpec({
        init: { kind: 'gaussian', stdU: 1, stdV: 1, seed: 2 },
        schedule: { kind: 'constant', eta: 5 },
        steps: 10_000,
      });
      const r = await train(spec, opts);
      expect(r.divergedAt).not.toBeNull();
      const t = r.divergedAt as number;
      expect(t).toBeGreaterThan(1);
      expect(t).toBeLessThan(10_000);
      expect(r.finished).toBe(true);
      expect(r.cancelled).toBe(false);
      expect(r.step).toBe(t - 1);
      expect(Number.isFinite(r.loss)).toBe(true);
      expect(r.U.data.every(Number.isFinite)).toBe(true);
      expect(r.V.data.every(Number.isFinite)).toBe(true);
      const loss = r.columns['loss'] as Float64Array;
      expect(loss.every(Number.isFinite)).toBe(true);
      expect(r.columns['step']?.[r.rows - 1]).toBe(t - 1);
      expect(loss[r.rows - 1]).toBe(r.loss);
      // It did blow up before stopping.
      expect(loss[r.rows - 1]).toBeGreaterThan((loss[0] as number) * 1e10);
    });
  });

  describe('long runs', () => {
    it('stop after the current chunk when the signal aborts, with the state reached', async () => {
      const controller = new AbortController();
      const started = Date.now();
      setTimeout(() => controller.abort(), 300);
      const r = await train(longSpec(), { ...opts, signal: controller.signal, chunkMillis: 20 });
      const elapsed = Date.now() - started;
      expect(r.cancelled).toBe(true);
      expect(r.finished).toBe(false);
      expect(r.step).toBeGreaterThan(0);
      expect(r.step).toBeLessThan(r.steps);
      expect(elapsed).toBeLessThan(2_000);
      // The rows recorded are the ones up to the state reached.
      expect(r.rows).toBe(Math.floor(r.step / 100) + 1);
      const steps = r.columns['step'] as Float64Array;
      expect(steps[r.rows - 1]).toBe(Math.floor(r.step / 100) * 100);
      expect(r.U.data.every(Number.isFinite)).toBe(true);
      expect(Array.from(r.U.data)).not.toEqual(Array.from(r.U0.data));
    });

    it('an already aborted signal returns the initial state', async () => {
      const controller = new AbortController();
      controller.abort();
      const r = await train(smallSpec(), { ...opts, signal: controller.signal });
      expect(r.cancelled).toBe(true);
      expect(r.step).toBe(0);
      expect(r.rows).toBe(1);
      expect(r.loss).toBe(r.columns['loss']?.[0]);
      expect(Array.from(r.U.data)).toEqual(Array.from(r.U0.data));
    });

    it('keep the event loop running (a setInterval keeps ticking)', async () => {
      let ticks = 0;
      let last = Date.now();
      let maxGap = 0;
      const timer = setInterval(() => {
        const now = Date.now();
        maxGap = Math.max(maxGap, now - last);
        last = now;
        ticks++;
      }, 5);
      const controller = new AbortController();
      // This timer is the only way the run stops early: if the run blocked the event loop, it
      // would run all its steps (about 5 s) and end with cancelled = false.
      setTimeout(() => controller.abort(), 600);
      try {
        const r = await train(longSpec(), { ...opts, signal: controller.signal, chunkMillis: 20 });
        expect(r.cancelled).toBe(true);
        expect(r.step).toBeGreaterThan(10);
      } finally {
        clearInterval(timer);
      }
      expect(ticks).toBeGreaterThanOrEqual(8);
      expect(maxGap).toBeLessThan(300);
    });

    it.runIf(BACKEND === 'native')('native: one chunk runs off the JS thread (timers fire during it)', async () => {
      const run = await Run.create(longSpec(), opts);
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      const t0 = Date.now();
      // One chunk of about 0.6 s (native is about 120 us per step on this problem).
      const s = await run.advanceAsync(5_000);
      const dt = Date.now() - t0;
      clearInterval(timer);
      expect(s.step).toBe(5_000);
      expect(dt).toBeGreaterThan(100);
      expect(ticks).toBeGreaterThanOrEqual(Math.floor(dt / 5 / 4));
      run.dispose();
    });

    it('report progress after each chunk', async () => {
      const seen: { step: number; steps: number; loss: number | null; rows: number }[] = [];
      const r = await train(smallSpec({ steps: 3000 }), { ...opts, onProgress: (p) => seen.push(p), chunkMillis: 1 });
      expect(seen.length).toBeGreaterThan(2);
      for (let i = 1; i < seen.length; i++) {
        expect((seen[i] as { step: number }).step).toBeGreaterThanOrEqual((seen[i - 1] as { step: number }).step);
      }
      const lastSeen = seen[seen.length - 1];
      expect(lastSeen).toEqual({ step: 3000, steps: 3000, loss: r.loss, rows: 3001 });
      expect(seen.every((p) => p.steps === 3000 && p.rows === p.step + 1)).toBe(true);
    });
  });

  describe('the streaming Run', () => {
    it('streams chunks whose rows add up to the recorded columns', async () => {
      const run = await Run.create(smallSpec({ steps: 1000, recordEvery: 7 }), opts);
      expect(run.backend).toBe(BACKEND);
      expect(run.columnNames).toEqual(COLUMNS);
      const parts: Float64Array[] = [];
      let expectedStart = 0;
      for await (const { start, rows, status } of run.chunks({ chunkMillis: 1 })) {
        expect(start).toBe(expectedStart);
        const loss = rows['loss'] as Float64Array;
        expectedStart += loss.length;
        expect(status.rows).toBe(expectedStart);
        parts.push(loss);
      }
      const all = run.column('loss');
      expect(parts.length).toBeGreaterThan(1);
      expect(Float64Array.from(parts.flatMap((p) => Array.from(p)))).toEqual(all);
      expect(run.status.finished).toBe(true);
      run.dispose();
      run.dispose();
    });

    it('advances synchronously and asynchronously in steps asked for', async () => {
      const run = await Run.create(smallSpec({ steps: 100 }), opts);
      expect(run.status).toMatchObject({ step: 0, steps: 100, rows: 0, finished: false, divergedAt: null });
      expect(run.advance(10).step).toBe(10);
      expect(run.newRows().rows['step']).toEqual(Float64Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
      const s = await run.advanceAsync(25);
      expect(s.step).toBe(35);
      const { start, rows } = run.newRows();
      expect(start).toBe(11);
      expect(rows['step']?.[0]).toBe(11);
      expect(rows['step']?.length).toBe(25);
      expect(run.advance(1000)).toMatchObject({ step: 100, finished: true });
      const r = run.result();
      expect(r.rows).toBe(101);
      run.dispose();
      expect(() => run.advance(1)).toThrow(/disposed/);
    });

    it('refuses a second advance while one is in flight', async () => {
      const run = await Run.create(longSpec(1000), opts);
      const pending = run.advanceAsync(5);
      expect(() => run.advance(1)).toThrow(InvalidRequestError);
      await pending;
      expect(run.advance(1).step).toBe(6);
      run.dispose();
    });
  });

  it('can run several runs concurrently', async () => {
    const [a, b] = await Promise.all([train(smallSpec({ steps: 300 }), opts), train(smallSpec({ steps: 300 }), { ...opts, chunkMillis: 1 })]);
    expect(Array.from(a.U.data)).toEqual(Array.from(b.U.data));
    await sleep(0);
  });
});
