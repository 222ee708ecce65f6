// Sweeps through the TS API (issue 11), parameterized by backend (AUTOBALANCE_BACKEND): rows in
// run order and deterministic, a row's kept values equal to a single train of its concrete spec
// (bit for bit), native/wasm parity, the documented seeds, cancellation, progress, the table's
// reductions against values computed by hand, typed errors with full paths, the wasm worker pool
// (worker_threads) and the browser protocol (Web Worker-shaped workers over a MessageChannel in
// this process: no real browser here). The scheduling machinery (block queue, run order,
// backpressure, stops) is also tested against a fake core, independent of the numerics, which
// are tested in crates/core.
import { MessageChannel } from 'node:worker_threads';

import { describe, expect, it } from 'vitest';

import {
  AutobalanceError,
  type Backend,
  InvalidRequestError,
  InvalidSpecError,
  NonFiniteError,
  type RunSpec,
  SweepCancelledError,
  type SweepProgress,
  type SweepRow,
  type SweepSettingRow,
  type SweepSpec,
  type SweepWorkerLike,
  loadBackendByName,
  reduceRows,
  serveSweepWorker,
  sweep,
  sweepPlan,
  sweepTask,
  train,
} from 'autobalance';

import { BACKEND, lcg, randomArray, smallSpec } from './helpers.js';

// ---------------------------------------------------------------------------------------------
// A fake core: runs are rows computed from their index, so that the TS machinery (pool, order,
// backpressure, cancellation) is tested without numerics.

interface FakeOptions {
  settings: number;
  seeds: number;
  /** Milliseconds of busy work per run (0: none). */
  cost?: number;
  /** Records each created study's run range. */
  log?: { start: number; end: number }[];
}

function fakeRow(run: number, seeds: number): string {
  return JSON.stringify({
    run,
    setting: Math.floor(run / seeds),
    seedIndex: run % seeds,
    values: { x: Math.floor(run / seeds) },
    seeds: {},
    specHash: run.toString(16).padStart(16, '0'),
    stop: 'finished',
    steps: 1,
    loss: run / 7,
    reason: null,
    kept: { k: run % 3 === 0 ? null : run * 0.5 },
    class: run % 2 === 0 ? 'even' : 'other',
  });
}

function busy(ms: number): void {
  const t = Date.now();
  while (Date.now() - t < ms);
}

function fakeBackend(f: FakeOptions): Backend {
  const runs = f.settings * f.seeds;
  const plan = { runs, settings: f.settings, seedsPerSetting: f.seeds, axes: [{ paths: ['x'], values: [Array.from({ length: f.settings }, (_, i) => i)] }], seedPaths: [], seedBase: 0, quantiles: [0.5], confidence: 0.95, kept: ['k'], classes: ['even', 'other'], hash: 'fakefakefakefake' };
  const b = {
    name: 'wasm' as const,
    coreVersion: 'fake',
    createSession: () => {
      throw new Error('no sessions');
    },
    createStudy: (json: string) => {
      const spec = JSON.parse(json) as { runs?: { start: number; end: number }; records?: string };
      const { start, end } = spec.runs ?? { start: 0, end: runs };
      f.log?.push({ start, end });
      let next = start;
      let pending: string[] = [];
      // `records: "settings"` (as the core): each setting's rows reduced once its last run is in.
      const bySetting = spec.records === 'settings';
      let group: string[] = [];
      const flush = (): void => {
        if (group.length > 0) pending.push(b.sweepReduce('', group.join('\n')));
        group = [];
      };
      const status = (): string => JSON.stringify({ done: next - start, total: end - start, rows: 0, finished: next >= end });
      return {
        advance: (k: number) => {
          const stop = Math.min(end, next + k);
          for (; next < stop; next++) {
            if (f.cost) busy(f.cost);
            if (!bySetting) {
              pending.push(fakeRow(next, f.seeds));
              continue;
            }
            if (group.length > 0 && next % f.seeds === 0) flush();
            group.push(fakeRow(next, f.seeds));
          }
          if (bySetting && next >= end) flush();
          return status();
        },
        takeRecords: () => {
          const t = pending.join('\n');
          pending = [];
          return t;
        },
        status,
        result: () => JSON.stringify({ kind: 'sweep', error: null, plan, runs: { start, end }, ...(group.length > 0 ? { partial: JSON.parse(b.sweepReduce('', group.join('\n'))) as unknown } : {}) }),
        columnNames: () => [],
        column: () => new Float64Array(0),
      };
    },
    presetList: () => '[]',
    presetSpec: () => '{}',
    familyList: () => '[]',
    sweepPlan: () => JSON.stringify(plan),
    sweepTask: () => '{}',
    sweepReduce: (_spec: string, jsonl: string) => {
      const rows = jsonl.split('\n').map((l) => JSON.parse(l) as { setting: number; run: number });
      return JSON.stringify({ setting: rows[0]!.setting, values: {}, runs: rows.length, stops: { finished: rows.length }, kept: {}, classes: {}, first: rows[0]!.run });
    },
  };
  return b as unknown as Backend;
}

const FAKE_SPEC = { kind: 'sweep', base: smallSpec(), axes: [] } as unknown as SweepSpec;

/** A Web Worker-shaped worker served in this process over a MessageChannel (the browser protocol). */
function channelWorker(backend: Backend, counter?: { live: number; max: number }, startMs = 0, stoppedMs = 0): SweepWorkerLike {
  const { port1, port2 } = new MessageChannel();
  const serve = (): void =>
    serveSweepWorker(backend, {
      postMessage: (m) => port2.postMessage(m),
      addEventListener: (type, listener) => port2.addEventListener(type, listener as unknown as (e: Event) => void),
    });
  // A worker loading its module late (startMs) says hello late.
  if (startMs > 0) setTimeout(serve, startMs);
  else serve();
  port2.start();
  port1.start();
  if (counter) counter.max = Math.max(counter.max, ++counter.live);
  return {
    postMessage: (m) => port1.postMessage(m),
    addEventListener: (type, listener) => {
      // A worker slow to answer a stop (stoppedMs): its 'stopped' arrives late.
      const late = (e: { data?: unknown }): void => {
        if (stoppedMs > 0 && (e.data as { type?: string } | undefined)?.type === 'stopped') setTimeout(() => listener(e), stoppedMs);
        else listener(e);
      };
      port1.addEventListener(type, late as unknown as (e: Event) => void);
    },
    terminate: () => {
      if (counter) counter.live--;
      port1.close();
      port2.close();
    },
  };
}

async function collect(rows: AsyncIterable<SweepRow>): Promise<SweepRow[]> {
  const out: SweepRow[] = [];
  for await (const r of rows) out.push(r);
  return out;
}

describe('sweep machinery (a fake core)', () => {
  it('in-process: every run once, in order; the table reduces each setting once', async () => {
    const backend = fakeBackend({ settings: 7, seeds: 5 });
    const h = sweep(FAKE_SPEC, { backend, workers: 1 });
    const rows = await collect(h.rows);
    expect(rows.map((r) => r.run)).toEqual(Array.from({ length: 35 }, (_, i) => i));
    const t = await h.table;
    expect(t.complete).toBe(true);
    expect(t.stopped).toBeNull();
    expect(t.settings.map((s) => [s.setting, s.runs])).toEqual(Array.from({ length: 7 }, (_, i) => [i, 5]));
  });

  it('a pool of Web Worker-shaped workers gives the rows in run order, blocks of the queue in any order', async () => {
    const log: { start: number; end: number }[] = [];
    const backend = fakeBackend({ settings: 40, seeds: 3, cost: 0.2, log });
    const counter = { live: 0, max: 0 };
    const h = sweep(FAKE_SPEC, { backend, workers: 3, worker: () => channelWorker(backend, counter) });
    const rows = await collect(h.rows);
    expect(rows.map((r) => r.run)).toEqual(Array.from({ length: 120 }, (_, i) => i));
    expect(counter.max).toBe(3);
    expect(counter.live).toBe(0); // terminated at the end
    // The blocks tile the runs.
    const sorted = log.slice().sort((a, b) => a.start - b.start);
    expect(sorted[0]!.start).toBe(0);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.start).toBe(sorted[i - 1]!.end);
    expect(sorted.at(-1)!.end).toBe(120);
    expect(log.length).toBeGreaterThan(3);
    const t = await h.table;
    expect(t.settings.length).toBe(40);
    expect(t.settings.every((s) => s.runs === 3)).toBe(true);
  });

  it('backpressure: a consumer that stops pulling stops the pool (at most 2 blocks per worker out)', async () => {
    const log: { start: number; end: number }[] = [];
    const backend = fakeBackend({ settings: 2000, seeds: 1, log });
    const h = sweep(FAKE_SPEC, { backend, workers: 2, worker: () => channelWorker(backend) });
    const it = h.rows[Symbol.asyncIterator]();
    await it.next();
    await new Promise((r) => setTimeout(r, 200));
    // 2000 runs, 2 workers: at most 4 blocks handed out while nobody pulls.
    expect(log.length).toBeLessThanOrEqual(4);
    await it.return?.();
    await expect(h.table).rejects.toBeInstanceOf(SweepCancelledError);
  });

  it('options.runs: a shard is the same rows as that slice of the whole', async () => {
    const backend = fakeBackend({ settings: 10, seeds: 4 });
    const whole = await collect(sweep(FAKE_SPEC, { backend, workers: 1 }).rows);
    for (const workers of [1, 3]) {
      const part = await collect(sweep(FAKE_SPEC, { backend, workers, worker: () => channelWorker(backend), runs: { start: 7, end: 29 } }).rows);
      expect(part).toEqual(whole.slice(7, 29));
    }
    const empty = sweep(FAKE_SPEC, { backend, runs: { start: 5, end: 5 } });
    expect(await collect(empty.rows)).toEqual([]);
    expect((await empty.table).complete).toBe(true);
    await expect(collect(sweep(FAKE_SPEC, { backend, workers: 2, worker: () => channelWorker(backend), runs: { start: 0, end: 41 } }).rows)).rejects.toMatchObject({ code: 'invalid_request', field: 'options.runs' });
  });

  it('cancellation in the pool keeps every finished run, in run order', async () => {
    const backend = fakeBackend({ settings: 300, seeds: 2, cost: 0.5 });
    const ac = new AbortController();
    const h = sweep(FAKE_SPEC, { backend, workers: 3, worker: () => channelWorker(backend), signal: ac.signal });
    const rows: SweepRow[] = [];
    for await (const r of h.rows) {
      rows.push(r);
      if (rows.length === 20) ac.abort();
    }
    expect(rows.length).toBeGreaterThanOrEqual(20);
    expect(rows.length).toBeLessThan(600);
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.run).toBeGreaterThan(rows[i - 1]!.run);
    const err = await h.table.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SweepCancelledError);
    const c = err as SweepCancelledError;
    expect(c.code).toBe('cancelled');
    expect(c.runs).toBe(rows.length);
    expect(c.table.complete).toBe(false);
    expect(c.table.stopped).toBe('cancelled');
    expect(c.table.settings.reduce((n, s) => n + s.runs, 0)).toBe(rows.length);
  });

  it('a stop while a worker is still starting: that worker gets no work, the stop completes', async () => {
    const backend = fakeBackend({ settings: 100, seeds: 2 });
    const ac = new AbortController();
    let k = 0;
    // The first worker serves at once and answers the stop after 150 ms; the others say hello
    // after 50 ms, during the stop.
    const h = sweep(FAKE_SPEC, { backend, workers: 3, worker: () => (k++ === 0 ? channelWorker(backend, undefined, 0, 150) : channelWorker(backend, undefined, 50)), signal: ac.signal });
    const rows: SweepRow[] = [];
    for await (const r of h.rows) {
      rows.push(r);
      ac.abort();
    }
    expect(rows.length).toBeGreaterThan(0);
    await expect(h.table).rejects.toBeInstanceOf(SweepCancelledError);
  });

  it('awaiting the table alone drives the sweep; the rows can then not be iterated', async () => {
    const backend = fakeBackend({ settings: 6, seeds: 2 });
    const h = sweep(FAKE_SPEC, { backend, workers: 1 });
    const t = await h.table;
    expect(t.settings.length).toBe(6);
    expect(() => h.rows[Symbol.asyncIterator]()).toThrow(InvalidRequestError);
    // Rows and table together (Promise.all): the rows drive, the table follows.
    const h2 = sweep(FAKE_SPEC, { backend, workers: 1 });
    const [rows, t2] = await Promise.all([collect(h2.rows), h2.table]);
    expect(rows.length).toBe(12);
    expect(t2).toEqual(t);
    expect(() => h2.rows[Symbol.asyncIterator]()).toThrow(/once/);
  });

  it('reduceRows groups rows (objects or JSON lines) by setting, and refuses rows out of order', async () => {
    const backend = fakeBackend({ settings: 4, seeds: 3 });
    const rows = await collect(sweep(FAKE_SPEC, { backend, workers: 1 }).rows);
    const out: SweepSettingRow[] = [];
    for await (const s of reduceRows(backend, FAKE_SPEC, rows)) out.push(s);
    expect(out.map((s) => s.runs)).toEqual([3, 3, 3, 3]);
    const fromLines: SweepSettingRow[] = [];
    for await (const s of reduceRows(backend, FAKE_SPEC, rows.map((r) => JSON.stringify(r)))) fromLines.push(s);
    expect(fromLines).toEqual(out);
    const bad = [rows[5]!, rows[0]!];
    await expect(async () => {
      for await (const _ of reduceRows(backend, FAKE_SPEC, bad));
    }).rejects.toThrow(InvalidRequestError);
  });

  it('bad options are refused at once', () => {
    expect(() => sweep(FAKE_SPEC, { workers: 0 })).toThrow(InvalidRequestError);
    expect(() => sweep(FAKE_SPEC, { runs: { start: 3, end: 1 } })).toThrow(/start <= end/);
    expect(() => sweep(FAKE_SPEC, { onProgress: 5 as unknown as () => void })).toThrow(/options.onProgress/);
    expect(() => sweep(FAKE_SPEC, { buffers: { x: [1] as unknown as Float64Array } })).toThrow(/options.buffers.x/);
  });
});

// ---------------------------------------------------------------------------------------------
// The real core.

const opts = { backend: BACKEND } as const;

/** A small sweep: 2 step sizes (one diverges) x 2 init scales x 3 seeds = 12 runs. */
function smallSweep(over: Partial<SweepSpec> = {}): SweepSpec {
  return {
    kind: 'sweep',
    base: smallSpec({ steps: 150, recordEvery: 5 }),
    axes: [
      { path: 'schedule.eta', values: [0.05, 1.5] },
      { path: 'init.stdU', range: { from: 0.01, to: 0.1, count: 2, scale: 'log' } },
    ],
    seeds: { count: 3, base: 5, paths: ['init.seed'] },
    keep: [
      { name: 'finalResidual', column: 'residual', reduce: 'last' },
      { name: 'minLoss', column: 'loss', reduce: 'min' },
      { name: 'hit', column: 'residual', firstAtOrBelow: 1e-2 },
      { name: 'ratioOk', allRowsWhere: { of: 'normRatio', ge: 0.01, le: 100 } },
      { name: 'hitBoth', firstStepWhere: { all: [{ of: 'residual', le: 1e-2 }, { of: 'normRatio', ge: 0.5 }] } },
    ],
    classes: [
      { name: 'diverged', when: { stop: 'diverged' } },
      { name: 'fast', when: { all: [{ of: 'hit', le: 60 }, { of: 'ratioOk', ge: 1 }] } },
    ],
    reduce: { quantiles: [0, 0.3, 0.5, 1], confidence: 0.9 },
    ...over,
  };
}

const MASK = (1n << 64n) - 1n;
/** SplitMix64 of `x` (the finalizer of x + the golden gamma), on 64-bit words. */
function splitmix64(x: bigint): bigint {
  let z = (x + 0x9e3779b97f4a7c15n) & MASK;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
  return z ^ (z >> 31n);
}
/** The documented seed of run `i` at seed path `j` (docs/sweeps.md). */
function documentedSeed(base: number, j: number, i: number): number {
  const s = splitmix64((BigInt(base) + BigInt(j + 1) * 0x9e3779b97f4a7c15n) & MASK);
  return Number(splitmix64(s ^ BigInt(i)) >> 11n);
}

/** numpy.quantile (linear) of sorted values. */
function quantile(sorted: number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/** Wilson score interval at two-sided level `conf` (z by bisection of the normal CDF). */
function wilson(k: number, n: number, conf: number): [number, number] {
  const erf = (x: number): number => {
    // Abramowitz-Stegun 7.1.26 is too coarse; integrate instead (Simpson, 2000 panels).
    const m = 2000;
    const h = x / m;
    let s = 0;
    for (let i = 0; i <= m; i++) s += (i === 0 || i === m ? 1 : i % 2 ? 4 : 2) * Math.exp(-((i * h) ** 2));
    return ((2 / Math.sqrt(Math.PI)) * s * h) / 3;
  };
  let a = 0;
  let b = 10;
  for (let i = 0; i < 100; i++) {
    const mid = (a + b) / 2;
    if (erf(mid / Math.SQRT2) < conf) a = mid;
    else b = mid;
  }
  const z = (a + b) / 2;
  const p = k / n;
  const d = 1 + (z * z) / n;
  const c = p + (z * z) / (2 * n);
  const r = z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  return [(c - r) / d, (c + r) / d];
}

function rel(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-300);
}

describe(`sweeps on ${BACKEND}`, () => {
  it('the plan: runs, settings, axes, seed paths, kept names, classes', async () => {
    const plan = await sweepPlan(smallSweep(), opts);
    expect(plan).toMatchObject({ runs: 12, settings: 4, seedsPerSetting: 3, seedPaths: ['init.seed'], kept: ['finalResidual', 'minLoss', 'hit', 'ratioOk', 'hitBoth'], classes: ['diverged', 'fast', 'other'] });
    expect(plan.axes.map((a) => a.paths)).toEqual([['schedule.eta'], ['init.stdU']]);
    expect(plan.axes[0]!.values).toEqual([[0.05, 1.5]]);
    expect(plan.axes[1]!.values[0]![0]).toBeCloseTo(0.01, 15);
    expect(plan.axes[1]!.values[0]![1]).toBeCloseTo(0.1, 15);
    expect(plan.hash).toMatch(/^[0-9a-f]{16}$/);
    // The hash is the sweep's identity: the same spec, the same hash; another spec, another.
    expect((await sweepPlan(smallSweep(), opts)).hash).toBe(plan.hash);
    expect((await sweepPlan(smallSweep({ seeds: { count: 3, base: 6, paths: ['init.seed'] } }), opts)).hash).not.toBe(plan.hash);
  });

  it('rows are in run order, deterministic, with the documented seeds; progress is reported', async () => {
    const progress: SweepProgress[] = [];
    const h = sweep(smallSweep(), { ...opts, onProgress: (p) => progress.push(p) });
    const rows = await collect(h.rows);
    expect(rows.map((r) => r.run)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    for (const r of rows) {
      expect(r.setting).toBe(Math.floor(r.run / 3));
      expect(r.seedIndex).toBe(r.run % 3);
      expect(r.seeds).toEqual({ 'init.seed': documentedSeed(5, 0, r.run) });
      expect(r.values['schedule.eta']).toBe(r.setting < 2 ? 0.05 : 1.5);
      expect(r.specHash).toMatch(/^[0-9a-f]{16}$/);
      expect(Object.keys(r.kept).sort()).toEqual(['finalResidual', 'hit', 'hitBoth', 'minLoss', 'ratioOk']);
    }
    expect(rows.filter((r) => r.setting >= 2).every((r) => r.stop === 'diverged' && r.class === 'diverged')).toBe(true);
    expect(rows.filter((r) => r.setting < 2).every((r) => r.stop === 'finished')).toBe(true);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toMatchObject({ done: 12, total: 12, etaMs: 0 });
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.done).toBeGreaterThan(progress[i - 1]!.done);
    expect((await h.table).complete).toBe(true);
    // Again: the same bits.
    expect(await collect(sweep(smallSweep(), opts).rows)).toEqual(rows);
  });

  it("a row's kept values are those of a single train of its concrete spec, bit for bit", async () => {
    const spec = smallSweep();
    const rows = await collect(sweep(spec, opts).rows);
    for (const run of [0, 4, 8, 11]) {
      const task = await sweepTask(spec, run, opts);
      const row = rows[run]!;
      expect([task.run, task.setting, task.seedIndex, task.specHash]).toEqual([row.run, row.setting, row.seedIndex, row.specHash]);
      expect(task.values).toEqual(row.values);
      expect(task.seeds).toEqual(row.seeds);
      expect((task.spec as { init: { seed: number } }).init.seed).toBe(row.seeds['init.seed']);
      const r = await train(task.spec, opts);
      expect(row.stop).toBe(r.stop);
      expect(row.steps).toBe(r.step);
      expect(Object.is(row.loss, r.loss)).toBe(true);
      const step = r.columns['step']!;
      const residual = r.columns['residual']!;
      const loss = r.columns['loss']!;
      const ratio = r.columns['normRatio']!;
      const finite = (c: Float64Array): number[] => Array.from(c).filter(Number.isFinite);
      const fr = finite(residual);
      expect(row.kept['finalResidual']).toBe(fr.length ? fr.at(-1) : null);
      expect(row.kept['minLoss']).toBe(finite(loss).length ? Math.min(...finite(loss)) : null);
      const hit = Array.from(residual).findIndex((x) => x <= 1e-2);
      expect(row.kept['hit']).toBe(hit < 0 ? null : step[hit]);
      const both = Array.from(residual).findIndex((x, i) => x <= 1e-2 && ratio[i]! >= 0.5);
      expect(row.kept['hitBoth']).toBe(both < 0 ? null : step[both]);
      expect(row.kept['ratioOk']).toBe(Array.from(ratio).every((x) => x >= 0.01 && x <= 100) ? 1 : 0);
      const hitOk = row.kept['hit'] !== null && row.kept['hit']! <= 60 && row.kept['ratioOk'] === 1;
      expect(row.class).toBe(r.stop === 'diverged' ? 'diverged' : hitOk ? 'fast' : 'other');
    }
  });

  it("the table's reductions equal values computed by hand from the rows", async () => {
    const spec = smallSweep({ seeds: { count: 5, base: 1, paths: ['init.seed'] }, axes: [{ path: 'init.stdU', values: [0.05, 0.3] }] });
    const h = sweep(spec, opts);
    const rows = await collect(h.rows);
    const table = await h.table;
    expect(table.plan.runs).toBe(10);
    expect(table.settings.map((s) => [s.setting, s.runs])).toEqual([
      [0, 5],
      [1, 5],
    ]);
    for (const s of table.settings) {
      const mine = rows.filter((r) => r.setting === s.setting);
      expect(s.values).toEqual(mine[0]!.values);
      expect(s.stops['finished'] ?? 0).toBe(mine.filter((r) => r.stop === 'finished').length);
      for (const name of ['finalResidual', 'minLoss', 'hit']) {
        const xs = mine.map((r) => r.kept[name]!).filter((x) => x !== null && Number.isFinite(x));
        const st = s.kept[name]!;
        expect(st.count).toBe(xs.length);
        expect(st.missing).toBe(5 - xs.length);
        if (xs.length === 0) continue;
        const sorted = xs.slice().sort((a, b) => a - b);
        const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
        expect(rel(st.mean!, mean)).toBeLessThan(1e-12);
        if (xs.length > 1) {
          const std = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1));
          expect(Math.abs(st.std! - std)).toBeLessThanOrEqual(1e-9 * Math.max(std, Math.abs(mean)));
        }
        expect(st.min).toBe(sorted[0]);
        expect(st.max).toBe(sorted.at(-1));
        expect(st.quantiles.map((q) => q[0])).toEqual([0, 0.3, 0.5, 1]);
        for (const [q, v] of st.quantiles) expect(rel(v!, quantile(sorted, q))).toBeLessThan(1e-12);
      }
      for (const c of ['diverged', 'fast', 'other']) {
        const k = mine.filter((r) => r.class === c).length;
        const st = s.classes[c]!;
        expect(st.count).toBe(k);
        expect(st.p).toBe(k / 5);
        const [lo, hi] = wilson(k, 5, 0.9);
        expect(Math.abs(st.lo - lo)).toBeLessThan(1e-6);
        expect(Math.abs(st.hi - hi)).toBeLessThan(1e-6);
      }
    }
    // reduceRows over the rows gives the same table rows.
    const again: SweepSettingRow[] = [];
    for await (const s of reduceRows(BACKEND, spec, rows)) again.push(s);
    expect(again).toEqual(table.settings);
  });

  it('a table awaited alone (reduced in the core, no rows) equals the table of the rows, cancelled too', async () => {
    const spec = smallSweep({ seeds: { count: 5, base: 1, paths: ['init.seed'] }, axes: [{ path: 'init.stdU', values: [0.05, 0.3] }] });
    const alone = await sweep(spec, opts).table;
    const h = sweep(spec, opts);
    const rows = await collect(h.rows);
    expect(alone).toEqual(await h.table);
    expect(rows.length).toBe(10);
    // Cancelled at the first progress: the partial table is that of the runs done. One in-process
    // study (workers: 1; the path that reduces in the core) runs in order, so the runs done are the
    // first c.runs (a wasm worker pool's are not a prefix).
    const long = smallSweep({ base: smallSpec({ steps: 3000, recordEvery: 50 }), seeds: { count: 40, paths: ['init.seed'] }, axes: [{ path: 'schedule.eta', values: [0.01, 0.02] }] });
    const ac = new AbortController();
    const err = await sweep(long, { ...opts, workers: 1, signal: ac.signal, onProgress: () => ac.abort() }).table.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SweepCancelledError);
    const c = err as SweepCancelledError;
    expect(c.runs).toBeGreaterThan(0);
    expect(c.runs).toBeLessThan(80);
    expect(c.table).toMatchObject({ complete: false, stopped: 'cancelled' });
    const done = await collect(sweep(long, { ...opts, runs: { start: 0, end: c.runs } }).rows);
    const again: SweepSettingRow[] = [];
    for await (const s of reduceRows(BACKEND, long, done)) again.push(s);
    expect(c.table.settings).toEqual(again);
  });

  it('a shard (options.runs) is the slice of the whole; explicit matrices travel as base.<path>', async () => {
    const next = lcg(3);
    const base = { ...smallSpec({ steps: 60 }), model: { kind: 'matrixFactorization' as const, d1: 5, d2: 4, rank: 2 }, target: { kind: 'explicit' as const, matrix: randomArray(5, 4, next) } };
    const spec: SweepSpec = { kind: 'sweep', base, axes: [{ path: 'schedule.eta', values: [0.02, 0.04, 0.08] }], seeds: { count: 2 }, keep: [{ name: 'last', column: 'loss', reduce: 'last' }] };
    const whole = await collect(sweep(spec, opts).rows);
    expect(whole.length).toBe(6);
    expect(await collect(sweep(spec, { ...opts, runs: { start: 1, end: 4 } }).rows)).toEqual(whole.slice(1, 4));
    await expect(collect(sweep(spec, { ...opts, runs: { start: 2, end: 7 } }).rows)).rejects.toMatchObject({ code: 'invalid_request', field: 'options.runs' });
    await expect(collect(sweep(spec, { ...opts, workers: 1, runs: { start: 2, end: 7 } }).rows)).rejects.toMatchObject({ code: 'invalid_request', field: 'options.runs' });
    const task = await sweepTask(spec, 3, opts);
    const r = await train(task.spec, opts);
    expect(Object.is(whole[3]!.kept['last'], r.loss)).toBe(true);
    // The default seed paths: every field named seed in the base, in sorted order.
    expect(Object.keys(whole[0]!.seeds)).toEqual(['init.seed']);
  });

  it('cancellation keeps every finished run; the table rejects with the partial table', async () => {
    const spec = smallSweep({ base: smallSpec({ steps: 3000, recordEvery: 50 }), seeds: { count: 40, paths: ['init.seed'] }, axes: [{ path: 'schedule.eta', values: [0.01, 0.02] }] });
    const ac = new AbortController();
    const h = sweep(spec, { ...opts, signal: ac.signal, onProgress: () => ac.abort() });
    const rows = await collect(h.rows);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThan(80);
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.run).toBeGreaterThan(rows[i - 1]!.run);
    const err = await h.table.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SweepCancelledError);
    const c = err as SweepCancelledError;
    expect(c.field).toBe('sweep');
    expect(c.runs).toBe(rows.length);
    expect(c.table).toMatchObject({ complete: false, stopped: 'cancelled' });
    expect(c.table.settings.reduce((n, s) => n + s.runs, 0)).toBe(rows.length);
    // Every row kept is the row that run gives in a sweep left alone.
    const check = await collect(sweep(spec, { ...opts, runs: { start: rows[0]!.run, end: rows[0]!.run + 1 } }).rows);
    expect(check[0]).toEqual(rows[0]);
  });

  it('a setting that cannot be built gives error rows (the others run); the table counts them', async () => {
    // Each value is valid with the others' first values; d1 = 2 with rank = 3 is not.
    const spec = smallSweep({
      axes: [
        { path: 'model.d1', values: [12, 2] },
        { zip: [{ path: 'model.rank', values: [1, 3] }, { path: 'target.singularValues', values: [[1], [3, 2, 1]] }] },
      ],
      seeds: { count: 2, paths: ['init.seed'] },
      base: smallSpec({ steps: 20, target: { kind: 'random', singularValues: [1], seed: 1 } }),
      classes: [{ name: 'broken', when: { stop: 'error' } }],
    });
    const h = sweep(spec, opts);
    const rows = await collect(h.rows);
    expect(rows.length).toBe(8);
    const bad = rows.filter((r) => r.setting === 3);
    expect(bad.length).toBe(2);
    for (const r of bad) {
      expect(r.stop).toBe('error');
      expect(r.class).toBe('broken');
      expect(r.error?.field).toMatch(/rank|d1/);
      expect(Object.values(r.kept).every((x) => x === null)).toBe(true);
    }
    expect(rows.filter((r) => r.setting !== 3).every((r) => r.stop !== 'error')).toBe(true);
    const t = await h.table;
    expect(t.settings[3]!.stops['error']).toBe(2);
    expect(t.settings[3]!.classes['broken']!.p).toBe(1);
  });

  it('bad specs give typed errors with full paths (plan, rows and table alike)', async () => {
    const rank30 = { ...smallSpec(), model: { kind: 'matrixFactorization' as const, d1: 12, d2: 10, rank: 30 } };
    const cases: [SweepSpec, string, string][] = [
      [smallSweep({ axes: [{ path: 'schedule.eta', values: [0.1, Number.NaN] }] }), 'axes[0].values[1]', 'non_finite'],
      [smallSweep({ axes: [{ path: 'schedule.eta', values: [0.1, -1] }] }), 'axes[0].values[1]', 'out_of_range'],
      [smallSweep({ axes: [{ path: 'schedule.eta', values: [0.1] }, { path: 'model.rank', values: [3, 30] }] }), 'axes[1].values[1]', 'out_of_range'],
      [smallSweep({ base: rank30 }), 'base.model.rank', 'out_of_range'],
      [smallSweep({ base: { ...smallSpec(), init: { kind: 'gaussian', stdU: Number.POSITIVE_INFINITY, stdV: 0.1, seed: 2 } } }), 'base.init.stdU', 'non_finite'],
      [smallSweep({ keep: [{ name: 'x', column: 'nope', reduce: 'last' }], classes: [] }), 'keep[0].column', 'invalid_spec'],
      [smallSweep({ axes: [{ path: 'schedule.nope.eta', values: [1] }] }), 'axes[0].path', 'invalid_spec'],
      [smallSweep({ axes: [{ zip: [{ path: 'init.stdU', values: [0.1, 0.2] }, { path: 'init.stdV', values: [0.1] }] }] }), 'axes[0].zip[1]', 'shape_mismatch'],
      [smallSweep({ axes: [{ path: 'init.stdU', range: { from: 0, to: 1, count: 3, scale: 'log' } }] }), 'axes[0].range', 'out_of_range'],
      [smallSweep({ classes: [{ name: 'a', when: { any: [{ of: 'nokept', le: 1 }] } }] }), 'classes[0].when.any[0].of', 'invalid_spec'],
    ];
    for (const [spec, field, code] of cases) {
      const h = sweep(spec, opts);
      const e = await h.plan.then(
        () => null,
        (x: unknown) => x,
      );
      expect(e, field).toMatchObject({ field });
      expect(e, field).toBeInstanceOf(AutobalanceError);
      expect((e as { code: string }).code, field).toBe(code);
      await expect(collect(h.rows)).rejects.toMatchObject({ field });
      await expect(h.table).rejects.toMatchObject({ field });
    }
    await expect(sweepPlan(smallSweep({ axes: [{ path: 'schedule.eta', values: [0.1, Number.NaN] }] }), opts)).rejects.toBeInstanceOf(NonFiniteError);
    await expect(sweepPlan({ kind: 'sweep', base: smallSpec(), axes: [], keep: [{ name: 'a', column: 'loss', reduce: 'sum' }] } as unknown as SweepSpec, opts)).rejects.toBeInstanceOf(InvalidSpecError);
  });
});

/**
 * `b` equals `a` but for numbers, which may differ by `tol` relative (native and wasm agree to the
 * families' cross-backend tolerance, not bit for bit: docs/studies.md), with an absolute floor
 * for values that are differences going to zero (a loss of 1e-18).
 */
function expectNear(a: unknown, b: unknown, tol: number, at = ''): void {
  if (typeof a === 'number' && typeof b === 'number') {
    expect(Math.abs(a - b), `${at}: ${a} vs ${b}`).toBeLessThanOrEqual(tol * Math.max(Math.abs(a), Math.abs(b)) + 1e-12);
    return;
  }
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) {
    expect(b, at).toEqual(a);
    return;
  }
  expect(Object.keys(b as object).sort(), at).toEqual(Object.keys(a as object).sort());
  for (const [k, v] of Object.entries(a as object)) expectNear(v, (b as Record<string, unknown>)[k], tol, `${at}.${k}`);
}

describe('sweeps on native and wasm in one process', () => {
  it('the same rows on both backends (to the cross-backend tolerance), the same bits from the wasm worker pools', async () => {
    const native = await loadBackendByName('native');
    const wasm = await loadBackendByName('wasm');
    const spec = smallSweep();
    const a = await collect(sweep(spec, { backend: native }).rows);
    const b = await collect(sweep(spec, { backend: wasm, workers: 1 }).rows);
    expect(b.length).toBe(12);
    for (const [i, r] of a.entries()) {
      const w = b[i]!;
      expect([w.run, w.setting, w.seedIndex, w.specHash, w.stop, w.steps, w.class, w.reason]).toEqual([r.run, r.setting, r.seedIndex, r.specHash, r.stop, r.steps, r.class, r.reason]);
      expect(w.values).toEqual(r.values);
      expect(w.seeds).toEqual(r.seeds);
      expectNear(r, w, 1e-9, `run ${i}`);
    }
    // One thread or all: the same bits (each run is sequential inside).
    expect(await collect(sweep(spec, { backend: native, threads: 1 }).rows)).toEqual(a);
    // worker_threads (Node's default pool) and Web Worker-shaped workers (the browser protocol,
    // over MessageChannels in this process): the same bits as wasm on this thread.
    expect(await collect(sweep(spec, { backend: wasm, workers: 2 }).rows)).toEqual(b);
    expect(await collect(sweep(spec, { backend: wasm, workers: 3, worker: () => channelWorker(wasm) }).rows)).toEqual(b);
    const nt = await sweep(spec, { backend: native, threads: 1 }).table;
    const wt = await sweep(spec, { backend: wasm, workers: 2 }).table;
    expectNear(nt, wt, 1e-9, 'table');
  });
});
