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
  const plan = { runs, settings: f.settings, seedsPerSetting: f.seeds, axes: [{ paths: ['x'], values: [Array.from({ length: f.settings }, (_, i) => i)] }], seedPaths: [], kept: ['k'], classes: ['even', 'other'], hash: 'fakefakefakefake' };
  const b = {
    name: 'wasm' as const,
    coreVersion: 'fake',
    createSession: () => {
      throw new Error('no sessions');
    },
    createStudy: (json: string) => {
      const spec = JSON.parse(json) as { runs?: { start: number; end: number } };
      const { start, end } = spec.runs ?? { start: 0, end: runs };
      f.log?.push({ start, end });
      let next = start;
      let pending: string[] = [];
      const status = (): string => JSON.stringify({ done: next - start, total: end - start, rows: 0, finished: next >= end });
      return {
        advance: (k: number) => {
          const stop = Math.min(end, next + k);
          for (; next < stop; next++) {
            if (f.cost) busy(f.cost);
            pending.push(fakeRow(next, f.seeds));
          }
          return status();
        },
        takeRecords: () => {
          const t = pending.join('\n');
          pending = [];
          return t;
        },
        status,
        result: () => '{"kind":"sweep","error":null}',
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
function channelWorker(backend: Backend, counter?: { live: number; max: number }): SweepWorkerLike {
  const { port1, port2 } = new MessageChannel();
  serveSweepWorker(backend, {
    postMessage: (m) => port2.postMessage(m),
    addEventListener: (type, listener) => port2.addEventListener(type, listener as unknown as (e: Event) => void),
  });
  port2.start();
  port1.start();
  if (counter) counter.max = Math.max(counter.max, ++counter.live);
  return {
    postMessage: (m) => port1.postMessage(m),
    addEventListener: (type, listener) => port1.addEventListener(type, listener as unknown as (e: Event) => void),
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
    // 2000 runs, 2 workers: blocks of 250; at most 4 blocks handed out while nobody pulls.
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
    await expect(collect(sweep(FAKE_SPEC, { backend, runs: { start: 0, end: 41 } }).rows)).rejects.toMatchObject({ code: 'invalid_request', field: 'options.runs.end' });
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
