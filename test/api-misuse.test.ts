// Misuse of the public API (wrong argument types, negative or fractional counts, a signal that is
// not one, a backend object that is not one, ...): an InvalidRequestError naming the argument,
// the same on both backends, never a binding's own conversion error (native: InternalError) or a
// silent coercion (wasm: advance('5') read as 5). And a backend failure (a WebAssembly trap,
// simulated here by a session that throws the way a trapped wasm session does) never hides behind
// the error of the disposal.
import { afterAll, describe, expect, it } from 'vitest';

import {
  type Backend,
  type BindingSession,
  AutobalanceError,
  InternalError,
  InvalidRequestError,
  Run,
  Study,
  applyOverrides,
  fromArray,
  loadBackend,
  loadBackendByName,
  matrix,
  partialResult,
  presetSpec,
  registerBackendLoader,
  resolveBackend,
  runPreset,
  study,
  toArray,
  train,
} from 'autobalance';

import { BACKEND, smallSpec } from './helpers.js';

const opts = { backend: BACKEND } as const;
const bad = (x: unknown): never => x as never;

/** The error `f` throws (or rejects with). */
async function caught(f: () => unknown): Promise<unknown> {
  try {
    await f();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

/** `f` fails with an InvalidRequestError naming `field`. */
async function expectRequest(f: () => unknown, field: string): Promise<AutobalanceError> {
  const e = await caught(f);
  expect(e, String(e)).toBeInstanceOf(InvalidRequestError);
  const err = e as InvalidRequestError;
  expect(err.code).toBe('invalid_request');
  expect(err.field).toBe(field);
  expect(err.message.length).toBeLessThan(300);
  return err;
}

const studySpec = () => ({
  kind: 'hessianGrid' as const,
  run: smallSpec({ steps: 20 }),
  query: { what: 'eigs' as const, which: 'both' as const, k: 1 },
  at: { every: 10 },
});

const runs: Run[] = [];
afterAll(() => {
  for (const r of runs) r.dispose();
});
async function newRun(): Promise<Run> {
  const r = await Run.create(smallSpec({ steps: 50 }), opts);
  runs.push(r);
  return r;
}

describe(`API misuse on ${BACKEND}`, () => {
  describe('Run', () => {
    it.each([
      ['a numeric string', '5'],
      ['a negative count', -1],
      ['a fractional count', 1.5],
      ['NaN', NaN],
      ['-Infinity', -Infinity],
      ['null', null],
      ['nothing', undefined],
      ['a bigint', 5n],
      ['an object', { n: 5 }],
    ])('advance(%s) is an InvalidRequestError naming maxSteps, and nothing moved', async (_what, x) => {
      const run = await newRun();
      await expectRequest(() => run.advance(bad(x)), 'maxSteps');
      await expectRequest(() => run.advanceAsync(bad(x)), 'maxSteps');
      expect(run.status.step).toBe(0);
      // The run is still usable.
      expect(run.advance(3).step).toBe(3);
      expect((await run.advanceAsync(Infinity)).finished).toBe(true);
    });

    it('column, columns, matrix check their arguments', async () => {
      const run = await newRun();
      run.advance(5);
      await expectRequest(() => run.column(bad(5)), 'column');
      await expectRequest(() => run.column(bad(undefined)), 'column');
      await expectRequest(() => run.column('loss', bad('1')), 'start');
      await expectRequest(() => run.column('loss', -1), 'start');
      await expectRequest(() => run.column('loss', 0.5), 'start');
      await expectRequest(() => run.columns(bad('2')), 'start');
      await expectRequest(() => run.matrix(bad(0)), 'matrix');
      await expectRequest(() => run.matrix(bad({ name: 'U' })), 'matrix');
      // Still the core's own errors for names that do not exist.
      await expectRequest(() => run.column('nope'), 'column');
      await expectRequest(() => run.matrix('nope'), 'matrix');
      expect(run.column('loss', 2).length).toBe(4);
    });

    it('chunks checks its options before doing anything', async () => {
      const run = await newRun();
      const first = async (o: unknown) => {
        for await (const _ of run.chunks(bad(o))) break;
      };
      await expectRequest(() => first('fast'), 'options');
      await expectRequest(() => first({ signal: true }), 'options.signal');
      await expectRequest(() => first({ signal: {} }), 'options.signal');
      await expectRequest(() => first({ signal: 'abort' }), 'options.signal');
      await expectRequest(() => first({ chunkMillis: NaN }), 'options.chunkMillis');
      await expectRequest(() => first({ chunkMillis: -5 }), 'options.chunkMillis');
      await expectRequest(() => first({ chunkMillis: '50' }), 'options.chunkMillis');
      await expectRequest(() => first({ initialChunkSteps: 0 }), 'options.initialChunkSteps');
      await expectRequest(() => first({ initialChunkSteps: 2.5 }), 'options.initialChunkSteps');
      expect(run.status.rows).toBe(0);
    });

    it('create, withBackend and train check their options and backend', async () => {
      await expectRequest(() => Run.create(smallSpec(), bad('native')), 'options');
      await expectRequest(() => Run.create(smallSpec(), bad({ backend: 'gpu' })), 'backend');
      await expectRequest(() => Run.create(smallSpec(), bad({ backend: 7 })), 'backend');
      await expectRequest(() => Run.create(smallSpec(), bad({ backend: {} })), 'backend');
      await expectRequest(() => Run.withBackend(bad({ name: 'native' }), smallSpec()), 'backend');
      await expectRequest(() => Run.withBackend(bad(undefined), smallSpec()), 'backend');
      await expectRequest(() => train(smallSpec(), bad(5)), 'options');
      await expectRequest(() => train(smallSpec(), bad({ ...opts, onProgress: 'log' })), 'options.onProgress');
      await expectRequest(() => train(smallSpec(), bad({ ...opts, signal: { aborted: false } })), 'options.signal');
      await expectRequest(() => train(smallSpec(), bad({ ...opts, chunkMillis: Infinity })), 'options.chunkMillis');
    });

    it('a disposed run says so, whatever the call', async () => {
      const run = await Run.create(smallSpec(), opts);
      run.dispose();
      await expectRequest(() => run.advance(1), 'run');
      await expectRequest(() => run.advanceAsync(1), 'run');
      await expectRequest(() => run.column('loss'), 'run');
      await expectRequest(() => run.result(), 'run');
      run.dispose();
    });
  });

  describe('Study', () => {
    it('advance, column, chunks and study check their arguments', async () => {
      const s = await Study.create(studySpec(), opts);
      try {
        await expectRequest(() => s.advance(bad('5')), 'maxUnits');
        await expectRequest(() => s.advance(-2), 'maxUnits');
        await expectRequest(() => s.advanceAsync(bad(null)), 'maxUnits');
        await expectRequest(() => s.column(bad(1)), 'column');
        await expectRequest(() => s.column('step', bad('0')), 'start');
        const first = async (o: unknown) => {
          for await (const _ of s.chunks(bad(o))) break;
        };
        await expectRequest(() => first({ signal: 1 }), 'options.signal');
        await expectRequest(() => first({ chunkMillis: 0 }), 'options.chunkMillis');
        expect(s.status.done).toBe(0);
      } finally {
        s.dispose();
      }
      await expectRequest(() => Study.create(studySpec(), bad('wasm')), 'options');
      await expectRequest(() => Study.withBackend(bad({}), studySpec()), 'backend');
      await expectRequest(() => study(studySpec(), bad({ ...opts, onProgress: 1 })), 'options.onProgress');
      await expectRequest(() => study(studySpec(), bad({ ...opts, signal: 'x' })), 'options.signal');
    });
  });

  describe('helpers', () => {
    it('backends by name', async () => {
      await expectRequest(() => loadBackendByName(bad('gpu')), 'backend');
      await expectRequest(() => loadBackend(bad('')), 'backend');
      await expectRequest(() => resolveBackend(bad({ name: 'cuda' })), 'backend');
      await expectRequest(() => registerBackendLoader(bad(null)), 'loader');
    });

    it('presets', async () => {
      await expectRequest(() => presetSpec(bad(1), opts), 'preset');
      await expectRequest(() => presetSpec('figure1', bad('native')), 'options');
      const p = await presetSpec('figure1', opts);
      await expectRequest(() => applyOverrides(p, bad({ steps: '10' })), 'overrides.steps');
      await expectRequest(() => applyOverrides(p, { steps: -1 }), 'overrides.steps');
      await expectRequest(() => applyOverrides(p, { seed: 1.5 }), 'overrides.seed');
      await expectRequest(() => applyOverrides(bad({}), {}), 'preset');
      await expectRequest(() => runPreset(bad({ name: 'x' }), opts), 'preset');
      await expectRequest(() => runPreset(p, bad({ ...opts, onRunEnd: 3 })), 'options.onRunEnd');
      await expectRequest(() => runPreset(p, bad({ ...opts, signal: {} })), 'options.signal');
    });

    it('matrices', async () => {
      await expectRequest(() => matrix(bad('2'), 2), 'rows');
      await expectRequest(() => matrix(2, -1), 'cols');
      await expectRequest(() => matrix(1, 2, bad('ab')), 'data');
      await expectRequest(() => matrix(1, 2, bad([1, '2'])), 'data');
      await expectRequest(() => toArray(bad([[1]])), 'matrix');
      const e = await caught(() => fromArray(bad(5), 'target.matrix'));
      expect(e).toBeInstanceOf(AutobalanceError);
      expect((e as AutobalanceError).field).toBe('target.matrix');
    });
  });

  describe('a backend that fails mid-run (a WebAssembly trap)', () => {
    /**
     * The backend under test, with sessions that behave like a wasm session whose heap filled up
     * during `advance`: that call throws a RuntimeError (`unreachable`), every later call throws
     * wasm-bindgen's aliasing error, and `free` throws too.
     */
    async function trappingBackend(trapAtCall: number): Promise<Backend> {
      const real = await loadBackend(BACKEND);
      return {
        ...real,
        createSession(spec, buffers) {
          const s = real.createSession(spec, buffers);
          let calls = 0;
          let trapped = false;
          const wrap =
            <A extends unknown[], R>(f: (...a: A) => R) =>
            (...a: A): R => {
              if (trapped) throw new Error('recursive use of an object detected which would lead to unsafe aliasing in rust');
              return f(...a);
            };
          const advance = (n: number): string => {
            if (trapped) throw new Error('recursive use of an object detected which would lead to unsafe aliasing in rust');
            if (++calls >= trapAtCall) {
              trapped = true;
              throw new WebAssembly.RuntimeError('unreachable');
            }
            return s.advance(n);
          };
          const session: BindingSession = {
            advance,
            status: wrap(() => s.status()),
            columnNames: wrap(() => s.columnNames()),
            columnRoles: wrap(() => s.columnRoles()),
            column: wrap((name: string, start: number) => s.column(name, start)),
            matrix: wrap((name: string) => s.matrix(name)),
            matrixShape: wrap((name: string) => s.matrixShape(name)),
            paramNames: wrap(() => s.paramNames()),
            hessian: wrap((q: string) => s.hessian(q)),
            hessianStart: wrap((q: string) => s.hessianStart(q)),
            hessianAdvance: wrap((n: number) => s.hessianAdvance(n)),
            hessianReport: wrap(() => s.hessianReport()),
            hessianCancel: wrap(() => s.hessianCancel()),
            free: () => {
              if (trapped) throw new Error('attempted to take ownership of Rust value while it was borrowed');
              s.free?.();
            },
          };
          return session;
        },
      };
    }

    it('train rejects with the real error, typed, with the rows streamed before it', async () => {
      const backend = await trappingBackend(4);
      const e = await caught(() => train(smallSpec({ steps: 10_000 }), { backend, chunkMillis: 1 }));
      expect(e).toBeInstanceOf(InternalError);
      expect((e as InternalError).detail).toBe('unreachable');
      const partial = partialResult(e);
      expect(partial).toBeDefined();
      const p = partial as NonNullable<typeof partial>;
      expect(p.readable).toBe(false);
      expect(p.finished).toBe(false);
      expect(p.step).toBeGreaterThan(0);
      expect(p.rows).toBe(p.step + 1);
      expect(p.columns['step']?.[p.rows - 1]).toBe(p.step);
      expect(p.columns['loss']?.length).toBe(p.rows);
      expect(p.loss).toBe(p.columns['loss']?.[p.rows - 1]);
    });

    it('a trap at step 0 still rejects with the real error', async () => {
      const backend = await trappingBackend(1);
      const e = await caught(() => train(smallSpec(), { backend }));
      expect(e).toBeInstanceOf(InternalError);
      expect((e as InternalError).detail).toBe('unreachable');
      expect(partialResult(e)).toBeUndefined();
    });

    it('the failed run says so afterwards, and disposing it does not throw', async () => {
      const backend = await trappingBackend(2);
      const run = Run.withBackend(backend, smallSpec());
      run.advance(1);
      const e = await caught(() => run.advanceAsync(5));
      expect(e).toBeInstanceOf(InternalError);
      const later = await expectRequest(() => run.status, 'run');
      expect(later.detail).toMatch(/can no longer be used.*unreachable/);
      expect(() => run.dispose()).not.toThrow();
    });

    it('a core error mid-run keeps the run usable (only traps and internal errors mark it failed)', async () => {
      const run = await Run.create(smallSpec(), opts);
      await expectRequest(() => run.column('nope'), 'column');
      expect(run.advance(2).step).toBe(2);
      run.dispose();
    });
  });
});
