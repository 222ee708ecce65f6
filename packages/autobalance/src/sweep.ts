/**
 * Sweeps: a base run crossed with axes of values, each setting run with several seeds, every run
 * reduced by the core to one deterministic row, the rows of each setting to one row of a table
 * (docs/sweeps.md). The numerics (runs, kept values, classes, quantiles, Wilson intervals) are
 * the core's; this module schedules the runs and moves rows.
 *
 * Where the runs go: on the native backend, one study of the core spreads them over a rayon pool
 * (each run sequential inside, bit-identical to running it alone); on wasm, over a pool of
 * workers (`worker_threads` in Node, Web Workers in a browser: see {@link serveSweepWorker}),
 * each running blocks of runs on its own copy of the WebAssembly module; with `workers: 1` (or
 * no workers), in chunks on the calling thread. The rows are the same bits in every case.
 *
 * ```ts
 * const h = sweep(spec, { signal, onProgress: (p) => console.log(p.done, '/', p.total, p.etaMs) });
 * for await (const row of h.rows) console.log(row.run, row.class, row.kept);
 * const table = await h.table;
 * ```
 *
 * @module
 */

import { type Backend, type BackendChoice, type BindingStudy, resolveBackend } from './backend.js';
import { ChunkSizer, advanceOffLoop, freeQuietly, now, yieldToTimers } from './chunk.js';
import type { HessianQuery } from './curvature.js';
import { AutobalanceError, InternalError, InvalidRequestError, InvalidSpecError, fromBindingError, guard } from './errors.js';
import { type RunSpec, encodeWithRunAt, isRecord } from './spec.js';
import { countArg, describeValue, functionArg, optionsArg, positiveArg, positiveIntArg, signalArg } from './args.js';
import { type RowSource, type SweepWorkerLike, WorkerPoolSource } from './sweep-pool.js';

export type { SweepWorkerLike } from './sweep-pool.js';
export { type SweepWireError, type SweepWorkerScope, serveSweepWorker } from './sweep-worker.js';
/** One axis: the listed values at one spec path. */
export interface SweepListAxis {
  /**
   * A path into the base run spec: names and `[i]` indices (`schedule.eta`, `init.stdU`,
   * `model.layers[0].width`). Every container on the way must exist; the last field may be
   * absent (an optional field).
   */
  path: string;
  /** The values, in order (any JSON: numbers, strings, objects such as a `method`). At least one. */
  values: unknown[];
}

/** `count` points from `from` to `to`, both included. */
export interface SweepRange {
  /** The first point. */
  from: number;
  /** The last point (equal to `from` when `count` is 1). */
  to: number;
  /** How many points, at least 1. */
  count: number;
  /** `linear` (evenly spaced, the default) or `log` (evenly spaced logarithms; `from`, `to` > 0). */
  scale?: 'linear' | 'log';
}

/** One axis: a range of numbers at one spec path. */
export interface SweepRangeAxis {
  /** A path into the base run spec, as for {@link SweepListAxis.path}. */
  path: string;
  /** The points. */
  range: SweepRange;
}

/**
 * One axis made of several paths that move together: the i-th setting of the axis sets the i-th
 * value of every member (all members have the same number of values).
 */
export interface SweepZipAxis {
  /** The members, each a list or a range over its own path. At least one. */
  zip: (SweepListAxis | SweepRangeAxis)[];
}

/** An axis of a sweep: a list, a range, or zipped lists and ranges. */
export type SweepAxis = SweepListAxis | SweepRangeAxis | SweepZipAxis;

/** How many runs each setting gets and how their seeds are derived (docs/sweeps.md). */
export interface SweepSeeds {
  /** Runs per setting, at least 1. Default 1. */
  count?: number;
  /**
   * The base seed (a non-negative integer). Default 0. Run `i`'s seed at the `j`-th path is
   * `splitmix64(splitmix64(base + (j+1) * 0x9E3779B97F4A7C15) ^ i) >> 11`, `i` the run index.
   */
  base?: number;
  /** The seed fields to set. Default: every field named `seed` in the base spec, in sorted path order. */
  paths?: string[];
}

/**
 * A comparison of one named number: every operator given must hold. A null or NaN value
 * satisfies no comparison.
 */
export interface SweepComparison {
  /**
   * What is compared: a recorded column (`residual`, `normRatio`) in a row predicate; a kept
   * name, `steps` or `loss` in a class predicate.
   */
  of: string;
  /** The value must be less than this. */
  lt?: number;
  /** The value must be at most this. */
  le?: number;
  /** The value must be greater than this. */
  gt?: number;
  /** The value must be at least this. */
  ge?: number;
}

/** Every one of the predicates holds. */
export interface SweepAll<P> {
  /** The predicates (an empty list always holds). */
  all: P[];
}

/** At least one of the predicates holds. */
export interface SweepAny<P> {
  /** The predicates (an empty list never holds). */
  any: P[];
}

/** The predicate does not hold. */
export interface SweepNot<P> {
  /** The predicate negated. */
  not: P;
}

/** How a run stopped. `error`: it could not be built (its row then has an `error`). */
export type SweepStop = 'finished' | 'diverged' | 'solverFailed' | 'error';

/** The run stopped this way. */
export interface SweepStopIs {
  /** How the run must have stopped. */
  stop: SweepStop;
}

/** A predicate over the columns of one recorded row of a run. */
export type SweepRowPredicate = SweepComparison | SweepAll<SweepRowPredicate> | SweepAny<SweepRowPredicate> | SweepNot<SweepRowPredicate>;

/** A predicate over a finished run: its kept values, `steps`, `loss`, and how it stopped. */
export type SweepClassPredicate =
  | SweepComparison
  | SweepStopIs
  | SweepAll<SweepClassPredicate>
  | SweepAny<SweepClassPredicate>
  | SweepNot<SweepClassPredicate>;

/** A reduction of a recorded column over the run: null when the column has no finite value. */
export interface SweepKeepColumn {
  /** The kept value's name (unique among `keep`). */
  name: string;
  /** A recorded column of the run (`loss`, `residual`, `normRatio`, ...). */
  column: string;
  /** Which value: the last, first, smallest, largest or mean of its finite values. */
  reduce: 'last' | 'first' | 'min' | 'max' | 'mean';
}

/** The step of the first recorded row whose column is at most `firstAtOrBelow`; null when never. */
export interface SweepKeepFirstAtOrBelow {
  /** The kept value's name (unique among `keep`). */
  name: string;
  /** A recorded column of the run. */
  column: string;
  /** The threshold. */
  firstAtOrBelow: number;
}

/** The step of the first recorded row whose column is at least `firstAtOrAbove`; null when never. */
export interface SweepKeepFirstAtOrAbove {
  /** The kept value's name (unique among `keep`). */
  name: string;
  /** A recorded column of the run. */
  column: string;
  /** The threshold. */
  firstAtOrAbove: number;
}

/** The step of the first recorded row that satisfies a predicate; null when none does. */
export interface SweepKeepFirstStepWhere {
  /** The kept value's name (unique among `keep`). */
  name: string;
  /** The predicate over the row's columns. */
  firstStepWhere: SweepRowPredicate;
}

/** 1 when every recorded row of the run satisfies a predicate, else 0. */
export interface SweepKeepAllRowsWhere {
  /** The kept value's name (unique among `keep`). */
  name: string;
  /** The predicate over the row's columns. */
  allRowsWhere: SweepRowPredicate;
}

/** A number of a curvature report at the run's end point; null when absent or not a number. */
export interface SweepKeepCurvature {
  /** The kept value's name (unique among `keep`). */
  name: string;
  /** The query and where its number is. */
  curvature: {
    /** The curvature query asked at the end point (docs/curvature.md). */
    query: HessianQuery;
    /** An RFC 6901 JSON pointer into the report, e.g. `/smallest/0/value`. */
    pointer: string;
  };
}

/** A number kept per run (a reduction of its recorded columns, or of a curvature report). */
export type SweepKeep =
  | SweepKeepColumn
  | SweepKeepFirstAtOrBelow
  | SweepKeepFirstAtOrAbove
  | SweepKeepFirstStepWhere
  | SweepKeepAllRowsWhere
  | SweepKeepCurvature;

/** A class of runs: the first class whose `when` holds names the run's class, else `other`. */
export interface SweepClass {
  /** The class name (unique, not `other`). */
  name: string;
  /** When a run belongs to it. */
  when: SweepClassPredicate;
}

/** How the runs of each setting are summarized. */
export interface SweepReduceSpec {
  /** Quantiles of each kept value, each in [0, 1] (linear interpolation). Default `[0.1, 0.25, 0.5, 0.75, 0.9]`. */
  quantiles?: number[];
  /** Confidence level of the Wilson interval of each class's probability, in (0, 1). Default 0.95. */
  confidence?: number;
}

/**
 * A sweep: a base run crossed with axes of values, each setting run with several seeds, each run
 * reduced to a row of kept numbers and a class, the rows of each setting reduced to a table row.
 * The core validates the whole spec; errors name full paths (`axes[1].values[3]`,
 * `base.init.stdU`, `keep[2].column`).
 *
 * ```ts
 * const spec: SweepSpec = {
 *   kind: 'sweep',
 *   base: runSpec,
 *   axes: [{ path: 'schedule.eta', values: [0.05, 0.1] }, { path: 'init.stdU', range: { from: 1e-3, to: 1e-1, count: 5, scale: 'log' } }],
 *   seeds: { count: 100 },
 *   keep: [{ name: 'hit', column: 'residual', firstAtOrBelow: 1e-6 }],
 *   classes: [{ name: 'converged', when: { of: 'hit', le: 1000 } }],
 * };
 * ```
 */
export interface SweepSpec {
  /** The spec kind. */
  kind: 'sweep';
  /**
   * The run every setting starts from (any model family). Its explicit matrices travel as
   * buffers named `base.<path>` (`base.target.matrix`).
   */
  base: RunSpec;
  /**
   * The axes, crossed in order: the first varies slowest. Setting `s` is the mixed-radix number
   * of the axes' value indices, the first axis most significant. An empty list is one setting.
   */
  axes: SweepAxis[];
  /** Runs per setting and their seeds. Default: one run per setting with the base's own seeds. */
  seeds?: SweepSeeds;
  /** The numbers kept per run, in its row's `kept`. Default none. */
  keep?: SweepKeep[];
  /** Classes of runs, tried in order (a run no class holds for is `other`). Default none. */
  classes?: SweepClass[];
  /** How each setting's runs are summarized. Default: the defaults of {@link SweepReduceSpec}. */
  reduce?: SweepReduceSpec;
}

/** A core error carried by a run that could not be built. */
export interface SweepRowError {
  /** The error code (`invalid_spec`, `out_of_range`, ...). */
  code: string;
  /** The field, as a path in the run spec. */
  field: string;
  /** The explanation. */
  message: string;
}

/** One run of a sweep: what it was, how it stopped, what was kept. Deterministic (no timing). */
export interface SweepRow {
  /** The run index: `setting * seedsPerSetting + seedIndex`. */
  run: number;
  /** The setting index (mixed radix over the axes, the first axis most significant). */
  setting: number;
  /** Index of the run within its setting. */
  seedIndex: number;
  /** The value at each axis path for this setting. */
  values: Record<string, unknown>;
  /** The seed set at each seed path (53-bit integers). Empty without `seeds`. */
  seeds: Record<string, number>;
  /** FNV-1a 64 of the concrete run spec's canonical JSON and buffers (16 hex digits). */
  specHash: string;
  /** How the run stopped. */
  stop: SweepStop;
  /** Steps taken. */
  steps: number;
  /** The last loss, or null. */
  loss: number | null;
  /** Why the run stopped early (the core's `reason`), or null. */
  reason: string | null;
  /** The kept numbers by name (null where there is none). */
  kept: Record<string, number | null>;
  /** The run's class (a class name, or `other`). */
  class: string;
  /** Present when `stop` is `error`: why the run could not be built. */
  error?: SweepRowError;
}

/** One axis of a plan: its paths (one, or the members of a zip) and its values, one list per path. */
export interface SweepPlanAxis {
  /** The paths the axis sets. */
  paths: string[];
  /** The values, `values[k][i]` the i-th value of `paths[k]`. */
  values: unknown[][];
}

/** The task list of a sweep, computed by the core without running anything. */
export interface SweepPlan {
  /** Runs in all: `settings * seedsPerSetting`. */
  runs: number;
  /** Settings (points of the crossed axes). */
  settings: number;
  /** Runs per setting. */
  seedsPerSetting: number;
  /** The axes, in order. */
  axes: SweepPlanAxis[];
  /** The seed paths set in each run. */
  seedPaths: string[];
  /** The base seed the seeds derive from (`seeds.base`, default 0). */
  seedBase: number;
  /** The names of the kept numbers. */
  kept: string[];
  /** The class names, `other` included. */
  classes: string[];
  /** The quantiles of the table (`reduce.quantiles` or the default). */
  quantiles: number[];
  /** The confidence level of the Wilson intervals (`reduce.confidence` or the default). */
  confidence: number;
  /** The sweep's identity (16 hex digits): its spec without `runs`/`threads`, and its buffers. */
  hash: string;
}

/** Statistics of one kept number over the runs of a setting. */
export interface SweepKeptStats {
  /** Runs with a finite value. */
  count: number;
  /** Runs with a null value. */
  missing: number;
  /** Mean of the finite values (null without any). */
  mean: number | null;
  /** Sample standard deviation (n - 1; null with fewer than two values). */
  std: number | null;
  /** Smallest finite value, or null. */
  min: number | null;
  /** Largest finite value, or null. */
  max: number | null;
  /** `[q, value]` for each quantile of the spec (value null without any finite value). */
  quantiles: [number, number | null][];
}

/** The frequency of one class among the runs of a setting. */
export interface SweepClassStats {
  /** Runs of this class. */
  count: number;
  /** `count / runs`. */
  p: number;
  /** Lower end of the Wilson interval of `p`. */
  lo: number;
  /** Upper end of the Wilson interval of `p`. */
  hi: number;
}

/** One setting reduced (the core's `sweepReduce`). */
export interface SweepSettingRow {
  /** The setting index. */
  setting: number;
  /** The value at each axis path. */
  values: Record<string, unknown>;
  /** Runs reduced. */
  runs: number;
  /** Runs by how they stopped (`finished`, `diverged`, ...). */
  stops: Record<string, number>;
  /** Statistics of each kept number. */
  kept: Record<string, SweepKeptStats>;
  /** Frequency of each class (every class of the plan, `other` included). */
  classes: Record<string, SweepClassStats>;
}

/** The reduced table of a sweep. */
export interface SweepTable {
  /** The plan. */
  plan: SweepPlan;
  /** One row per setting that has runs, in setting order. */
  settings: SweepSettingRow[];
  /** True when every run asked for (all, or `options.runs`) is in the table. */
  complete: boolean;
  /** Why the sweep stopped before its end: `cancelled` (signal, or the rows were abandoned), or null. */
  stopped: null | 'cancelled';
}

/** Progress of a sweep, reported after each chunk of runs. */
export interface SweepProgress {
  /** Runs done (their rows taken from the core). */
  done: number;
  /** Runs to do in all (every run, or those of `options.runs`). */
  total: number;
  /** Milliseconds since the first run started. */
  elapsedMs: number;
  /** Estimated milliseconds left at the current rate, or null before any run is done. */
  etaMs: number | null;
  /** Runs per second so far. */
  rate: number;
}

/** Options of {@link sweep}. */
export interface SweepOptions {
  /** `native`, `wasm`, or a loaded {@link Backend}; default as for runs. */
  backend?: BackendChoice;
  /**
   * Stop between chunks once this signal aborts: every finished run's row is still yielded (in
   * run order), and `table` rejects with {@link SweepCancelledError} carrying the partial table.
   */
  signal?: AbortSignal;
  /** Called after each chunk of runs. */
  onProgress?: (progress: SweepProgress) => void;
  /** Only the runs `start <= run < end` (a shard). Default: all. */
  runs?: {
    /** First run index. */
    start: number;
    /** One past the last run index (at most the plan's `runs`). */
    end: number;
  };
  /** Native: threads of the study's rayon pool (0 or absent: every core). Ignored on wasm. */
  threads?: number;
  /**
   * Wasm: workers of the pool. Default: `os.availableParallelism()` in Node,
   * `navigator.hardwareConcurrency` with a `worker` factory. 1 runs in chunks on the calling
   * thread. Ignored on native.
   */
  workers?: number;
  /**
   * Wasm in a browser: creates one worker, a script that calls {@link serveSweepWorker} (a Web
   * `Worker` has the needed shape). In Node, `worker_threads` workers are used without it.
   */
  worker?: () => SweepWorkerLike;
  /**
   * Buffers by sweep spec path (`base.target.matrix`) for matrices the spec gives by shape only
   * (`{rows, cols}`), e.g. a spec read back from a file. A matrix given in the spec travels
   * without this.
   */
  buffers?: Record<string, Float64Array>;
  /** Target wall time of one chunk of runs, in milliseconds. Default 75. */
  chunkMillis?: number;
}

/** A running sweep: its plan, its rows (pulled) and its table. */
export interface SweepHandle {
  /**
   * The task list (resolves once the core has validated the spec; rejects with the spec's error,
   * which names its full path, e.g. `axes[0].values[1]`).
   */
  plan: Promise<SweepPlan>;
  /**
   * The rows, in run order. Pulled: the sweep advances as rows are consumed (a slow consumer
   * slows it, nothing piles up). Iterable once. Leaving the loop early (`break`) stops the sweep
   * like a cancellation.
   */
  rows: AsyncIterable<SweepRow>;
  /**
   * The reduced table, once every run is done. When nobody iterates `rows`, awaiting the table
   * drives the sweep (then `rows` can no longer be iterated). Rejects with
   * {@link SweepCancelledError} (carrying the partial table) when the sweep is cancelled, with the
   * error otherwise.
   */
  table: Promise<SweepTable>;
}

/** The sweep was stopped (its signal aborted, or its rows abandoned) before every run was done. */
export class SweepCancelledError extends AutobalanceError {
  /** The table of the runs done before the stop (`complete: false`, `stopped: 'cancelled'`). */
  readonly table: SweepTable;
  /** Runs done before the stop. */
  readonly runs: number;
  constructor(table: SweepTable, runs: number, detail: string, options?: { cause?: unknown }) {
    super('cancelled', 'sweep', detail, options);
    this.table = table;
    this.runs = runs;
  }
}

/** A sweep spec as the bindings take it: JSON text plus buffers named by sweep spec path. */
export interface EncodedSweepSpec {
  /** The sweep spec as JSON, the base's explicit matrices replaced by their shape. */
  json: string;
  /** Row-major data of the base's explicit matrices, keyed `base.<path>` (`base.target.matrix`). */
  buffers: Record<string, Float64Array>;
}

/**
 * Encode a sweep spec for the bindings: the explicit matrices of its `base` move into buffers
 * named `base.<path>` (see `encodeSpec`); everything else is checked for what JSON would
 * lose (NaN, cycles: errors naming the path, e.g. `axes[0].values[1]`) and passed through for the
 * core to validate. `extra` buffers (by sweep spec path) are added.
 *
 * @throws {InvalidSpecError} when the spec is not an object, or a buffer is given twice.
 * @throws {ShapeMismatchError} for a ragged matrix of the base (naming `base.<path>`).
 * @throws {NonFiniteError} for NaN or an infinity anywhere in the spec (naming its path).
 */
export function encodeSweepSpec(spec: unknown, extra: Record<string, Float64Array> = {}): EncodedSweepSpec {
  if (!isRecord(spec)) throw new InvalidSpecError('spec', 'expected the sweep spec to be an object');
  const { json, buffers } = encodeWithRunAt(spec, 'base');
  for (const [k, v] of Object.entries(extra)) {
    if (Object.hasOwn(buffers, k)) throw new InvalidSpecError(k, 'this matrix is given in the spec and in options.buffers');
    buffers[k] = v;
  }
  return { json, buffers };
}

function parseJson<T>(json: string, what: string): T {
  try {
    return JSON.parse(json) as T;
  } catch (e) {
    throw new InternalError('', `the backend returned ${what} that is not JSON: ${json.slice(0, 200)}`, { cause: e });
  }
}

/** Options of {@link sweepPlan} and {@link sweepTask}. */
export interface SweepPlanOptions {
  /** `native`, `wasm`, or a loaded {@link Backend}; default as for runs. */
  backend?: BackendChoice;
  /** Buffers for matrices the spec gives by shape only (see {@link SweepOptions.buffers}). */
  buffers?: Record<string, Float64Array>;
}

function buffersArg(field: string, x: unknown): Record<string, Float64Array> {
  if (x === undefined) return {};
  if (!isRecord(x)) throw new InvalidRequestError(field, `expected an object of Float64Array, got ${describeValue(x)}`);
  for (const [k, v] of Object.entries(x)) {
    if (!(v instanceof Float64Array)) throw new InvalidRequestError(`${field}.${k}`, `expected a Float64Array, got ${describeValue(v)}`);
  }
  return x as Record<string, Float64Array>;
}

/**
 * Validate a sweep spec (in the core) and compute its task list without running anything.
 *
 * @throws {AutobalanceError} a subclass naming the offending field by its full path
 *   (`axes[1].values[3]`, `base.init.stdU`, `keep[2].column`).
 */
export async function sweepPlan(spec: SweepSpec, options: SweepPlanOptions = {}): Promise<SweepPlan> {
  const o = optionsArg('options', options);
  const extra = buffersArg('options.buffers', o['buffers']);
  const backend = await resolveBackend(o['backend'] as BackendChoice | undefined);
  const { json, buffers } = encodeSweepSpec(spec, extra);
  return parseJson<SweepPlan>(guard(() => backend.sweepPlan(json, buffers)), 'a sweep plan');
}

/** One run of a sweep as a run of its own (see {@link sweepTask}). */
export interface SweepTask {
  /** The run index. */
  run: number;
  /** Its setting. */
  setting: number;
  /** Its index within the setting. */
  seedIndex: number;
  /** The axis values of its setting. */
  values: Record<string, unknown>;
  /** The seeds set in it. */
  seeds: Record<string, number>;
  /** The hash of its concrete spec (as in its row). */
  specHash: string;
  /**
   * The concrete run spec: training it alone (`train(task.spec)`) gives the bits the sweep's run
   * gives. The base's explicit matrices are put back in as `{rows, cols, data}`.
   */
  spec: RunSpec;
}

/** Parse a path of the core's notation (`a.b[2].c`) into keys. */
function pathKeys(path: string): (string | number)[] {
  const keys: (string | number)[] = [];
  for (const part of path.split('.')) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) return [];
    if (m[1]) keys.push(m[1]);
    for (const idx of m[2]!.matchAll(/\[(\d+)\]/g)) keys.push(Number(idx[1]));
  }
  return keys;
}

/** Put each `base.<path>` buffer back into `spec` at `<path>` where a `{rows, cols}` shape stands. */
function withMatrices(spec: unknown, buffers: Record<string, Float64Array>): unknown {
  for (const [name, data] of Object.entries(buffers)) {
    if (!name.startsWith('base.')) continue;
    const keys = pathKeys(name.slice(5));
    if (keys.length === 0) continue;
    let parent: unknown = spec;
    for (const k of keys.slice(0, -1)) parent = (parent as Record<string | number, unknown> | undefined)?.[k];
    const last = keys[keys.length - 1]!;
    const holder = parent as Record<string | number, unknown> | undefined;
    const shape = holder?.[last];
    if (isRecord(shape) && typeof shape['rows'] === 'number' && typeof shape['cols'] === 'number' && !('data' in shape)) {
      holder![last] = { rows: shape['rows'], cols: shape['cols'], data: data.slice() };
    }
  }
  return spec;
}

/**
 * The concrete spec of one run of a sweep, with its setting, seeds and hash: what the sweep's
 * run `run` trains (bit for bit) when trained alone.
 *
 * @throws {AutobalanceError} for an invalid spec (full paths), or a run index out of range.
 */
export async function sweepTask(spec: SweepSpec, run: number, options: SweepPlanOptions = {}): Promise<SweepTask> {
  const o = optionsArg('options', options);
  const extra = buffersArg('options.buffers', o['buffers']);
  const index = countArg('run', run, false);
  const backend = await resolveBackend(o['backend'] as BackendChoice | undefined);
  const { json, buffers } = encodeSweepSpec(spec, extra);
  const task = parseJson<SweepTask>(guard(() => backend.sweepTask(json, buffers, index)), 'a sweep task');
  task.spec = withMatrices(task.spec, buffers) as RunSpec;
  return task;
}

/** Groups rows (in run order) by setting and reduces each group with the core's `sweepReduce`. */
class SettingGroup {
  #setting = -1;
  #lines: string[] = [];
  readonly #reduce: (jsonl: string) => SweepSettingRow;

  constructor(reduce: (jsonl: string) => SweepSettingRow) {
    this.#reduce = reduce;
  }

  /** Add a row; returns the previous setting's reduction when this row starts a new setting. */
  push(setting: number, line: string): SweepSettingRow | undefined {
    let out: SweepSettingRow | undefined;
    if (this.#lines.length > 0 && setting !== this.#setting) {
      if (setting < this.#setting) {
        throw new InvalidRequestError('rows', `the rows are not in run order: setting ${setting} after setting ${this.#setting}`);
      }
      out = this.flush();
    }
    this.#setting = setting;
    this.#lines.push(line);
    return out;
  }

  /** The reduction of the rows held, if any. */
  flush(): SweepSettingRow | undefined {
    if (this.#lines.length === 0) return undefined;
    const jsonl = this.#lines.join('\n');
    this.#lines = [];
    return this.#reduce(jsonl);
  }
}

function reducer(backend: Backend, specJson: string): (jsonl: string) => SweepSettingRow {
  return (jsonl) => parseJson<SweepSettingRow>(guard(() => backend.sweepReduce(specJson, jsonl)), 'a sweep reduction');
}

function settingOf(row: unknown, where: string): number {
  const s = isRecord(row) ? row['setting'] : undefined;
  if (typeof s !== 'number' || !Number.isInteger(s) || s < 0) {
    throw new InvalidRequestError(where, `expected a sweep row with a setting index, got ${describeValue(row)}`);
  }
  return s;
}

/**
 * Reduce rows (in run order: a setting's rows are contiguous) setting by setting, as they come:
 * one {@link SweepSettingRow} per setting, computed by the core's `sweepReduce`. Rows may be
 * {@link SweepRow} objects or their JSON text (a line of a `.jsonl` file). Memory holds one
 * setting's rows at a time.
 *
 * @throws {InvalidRequestError} when the rows are not in run order, or a row is not a sweep row.
 * @throws {AutobalanceError} when the spec's structure is invalid.
 */
export async function* reduceRows(
  backend: BackendChoice | undefined,
  spec: SweepSpec,
  rows: AsyncIterable<SweepRow | string> | Iterable<SweepRow | string>,
): AsyncGenerator<SweepSettingRow, void, undefined> {
  const b = await resolveBackend(backend);
  const { json } = encodeSweepSpec(spec);
  const group = new SettingGroup(reducer(b, json));
  let i = 0;
  for await (const r of rows) {
    const where = `rows[${i++}]`;
    let row: unknown = r;
    if (typeof r === 'string') {
      try {
        row = JSON.parse(r);
      } catch (e) {
        throw new InvalidRequestError(where, `not JSON: ${r.slice(0, 80)}`, { cause: e });
      }
    }
    const out = group.push(settingOf(row, where), typeof r === 'string' ? r : JSON.stringify(r));
    if (out) yield out;
  }
  const last = group.flush();
  if (last) yield last;
}

/** Where the pool's workers come from when no `worker` option is given (Node registers one). */
export interface SweepWorkerProvider {
  /** Start one worker (it serves {@link serveSweepWorker} with the wasm backend). */
  create(): SweepWorkerLike;
  /** The default number of workers (e.g. `os.availableParallelism()`). */
  defaultCount(): number;
}

let workerProvider: SweepWorkerProvider | undefined;

/**
 * Install where wasm sweeps get their workers when no `worker` option is given. The Node entry
 * point (`autobalance`) installs `worker_threads` workers; the portable entry installs none (pass
 * `options.worker` there). `undefined` removes it (sweeps on wasm then run on the calling thread).
 */
export function registerSweepWorkers(provider: SweepWorkerProvider | undefined): void {
  if (provider !== undefined && (typeof provider !== 'object' || provider === null || typeof provider.create !== 'function' || typeof provider.defaultCount !== 'function')) {
    throw new InvalidRequestError('provider', `expected {create, defaultCount} functions, got ${describeValue(provider)}`);
  }
  workerProvider = provider;
}

/** A binding study with the sweep's `takeRecords` (issue 11). */
type RecordingStudy = BindingStudy & { takeRecords?(): string };

function splitLines(jsonl: string): string[] {
  if (jsonl === '') return [];
  const out = jsonl.split('\n');
  if (out[out.length - 1] === '') out.pop();
  return out;
}

/**
 * Rows from one study of the core advanced in chunks on this thread (native: on the libuv pool).
 * With `settings` (the study's `records: "settings"`) its records are the reductions of the
 * settings (as `sweepReduce` gives them), made by the core as the runs finish: for a sweep whose
 * only consumer is the table (issue 14).
 */
class InProcessSource implements RowSource {
  #study: RecordingStudy | undefined;
  readonly settings: boolean;
  readonly #sizer: ChunkSizer;
  readonly #async: boolean;
  #done = 0;
  #finished = false;
  #first = true;

  constructor(backend: Backend, json: string, buffers: Record<string, Float64Array>, chunkMillis: number, firstChunk: number, settings = false) {
    this.settings = settings;
    const s = guard(() => backend.createStudy(json, buffers)) as RecordingStudy;
    if (typeof s.takeRecords !== 'function') {
      freeQuietly(s);
      throw new InvalidRequestError('backend', `the ${backend.name} backend was built without sweeps: rebuild it (pnpm build)`);
    }
    this.#study = s;
    this.#async = typeof s.advanceAsync === 'function';
    this.#sizer = new ChunkSizer(chunkMillis, firstChunk);
  }

  async next(): Promise<string[] | null> {
    const s = this.#study;
    if (!s || this.#finished) return null;
    // The study was just created on this thread: let timers run before the first chunk.
    if (this.#first && !this.#async) await yieldToTimers();
    this.#first = false;
    const asked = this.#sizer.size;
    const t0 = now();
    const json = await advanceOffLoop(s, asked, this.#async);
    const dt = now() - t0;
    const status = parseJson<{ done: number; finished: boolean }>(json, 'a study status');
    const taken = status.done - this.#done;
    this.#done = status.done;
    const lines = splitLines(guard(() => s.takeRecords!()));
    if (status.finished) {
      this.#finished = true;
    } else if (taken <= 0) {
      const out = parseJson<{ error?: { code: string; field: string; message: string } | null }>(guard(() => s.result()), 'a study result');
      if (out.error) throw fromBindingError(new Error(`AUTOBALANCE_ERROR:${JSON.stringify(out.error)}`));
      throw new InternalError('', `the sweep study made no progress after ${status.done} runs`);
    } else {
      this.#sizer.record(asked, taken, dt);
    }
    if (lines.length === 0 && this.#finished) return null;
    return lines;
  }

  /** Runs done by the study. */
  get runsDone(): number {
    return this.#done;
  }

  /** The study's output: the plan and the range of runs. */
  output(): { plan: SweepPlan; runs: { start: number; end: number } } {
    const s = this.#study;
    if (!s) throw new InvalidRequestError('sweep', 'the sweep study has been released');
    return parseJson(guard(() => s.result()), 'a sweep study result');
  }

  async stop(): Promise<string[]> {
    // Settings: the reduction of the setting whose runs were not all done, as its record.
    const s = this.#study;
    let partial: string[] = [];
    if (s && this.settings) {
      const out = parseJson<{ partial?: unknown }>(guard(() => s.result()), 'a study result');
      if (out.partial !== undefined) partial = [JSON.stringify(out.partial)];
    }
    this.close();
    return partial;
  }

  close(): void {
    const s = this.#study;
    this.#study = undefined;
    if (s) freeQuietly(s);
  }
}

/**
 * A promise that calls `onThen` the first time someone waits on it (`then`, `await`, `catch`):
 * the table starts driving the sweep only when it is awaited.
 */
class LazyPromise<T> extends Promise<T> {
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }

  #onThen: (() => void) | undefined;

  constructor(executor: (resolve: (v: T) => void, reject: (e: unknown) => void) => void, onThen: () => void) {
    super(executor);
    this.#onThen = onThen;
  }

  override then<A = T, B = never>(
    onfulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    const f = this.#onThen;
    this.#onThen = undefined;
    f?.();
    return super.then(onfulfilled, onrejected);
  }
}

/** Mark a promise as handled without waiting on it (a rejection nobody asks for is no crash). */
function quiet(p: Promise<unknown>): void {
  Promise.prototype.then.call(p, undefined, () => undefined);
}

interface Setup {
  backend: Backend;
  json: string;
  buffers: Record<string, Float64Array>;
  plan: SweepPlan;
  /** The in-process study's spec (its options included). */
  studySpec: Record<string, unknown> | undefined;
  start: number;
  end: number;
  /** The in-process source, created with the plan (one validation of the settings, not two). */
  source: InProcessSource | undefined;
  /** The pool's workers (when the runs go to a pool). */
  pool: { create: () => SweepWorkerLike; workers: number } | undefined;
}

interface Checked {
  backend: BackendChoice | undefined;
  signal: AbortSignal | undefined;
  onProgress: ((p: SweepProgress) => void) | undefined;
  runs: { start: number; end: number } | undefined;
  threads: number | undefined;
  workers: number | undefined;
  worker: (() => SweepWorkerLike) | undefined;
  buffers: Record<string, Float64Array>;
  chunkMillis: number;
}

function checkOptions(options: unknown): Checked {
  const o = optionsArg('options', options);
  let runs: { start: number; end: number } | undefined;
  if (o['runs'] !== undefined) {
    const r = optionsArg('options.runs', o['runs']);
    const start = countArg('options.runs.start', r['start'], false);
    const end = countArg('options.runs.end', r['end'], false);
    if (end < start) throw new InvalidRequestError('options.runs', `expected start <= end, got ${start} > ${end}`);
    runs = { start, end };
  }
  const threads = o['threads'] === undefined ? undefined : countArg('options.threads', o['threads'], false);
  return {
    backend: o['backend'] as BackendChoice | undefined,
    signal: signalArg('options.signal', o['signal']),
    onProgress: functionArg('options.onProgress', o['onProgress']),
    runs,
    threads,
    workers: positiveIntArg('options.workers', o['workers']),
    worker: functionArg('options.worker', o['worker']),
    buffers: buffersArg('options.buffers', o['buffers']),
    chunkMillis: positiveArg('options.chunkMillis', o['chunkMillis']) ?? 75,
  };
}

function hardwareConcurrency(): number {
  const n = (globalThis as { navigator?: { hardwareConcurrency?: unknown } }).navigator?.hardwareConcurrency;
  return typeof n === 'number' && n >= 1 ? Math.floor(n) : 1;
}

/** The workers of a pool for this backend and these options, or undefined (in-process). */
function poolOf(backend: Backend, o: Checked): Setup['pool'] {
  if (backend.name !== 'wasm') return undefined;
  const create = o.worker ?? workerProvider?.create;
  const workers = o.workers ?? (o.worker ? hardwareConcurrency() : (workerProvider?.defaultCount() ?? 1));
  return create && workers > 1 ? { create, workers } : undefined;
}

/** The state of one sweep: its source of rows, the table being reduced, who drives it. */
class SweepDriver {
  readonly setup: Promise<Setup>;
  readonly table: LazyPromise<SweepTable>;
  readonly #o: Checked;
  #source: RowSource | undefined;
  #state: 'running' | 'complete' | 'cancelled' | 'failed' = 'running';
  #consumer: 'none' | 'rows' | 'table' = 'none';
  #group: SettingGroup | undefined;
  readonly #settings: SweepSettingRow[] = [];
  #done = 0;
  #t0 = 0;
  #resolve!: (t: SweepTable) => void;
  #reject!: (e: unknown) => void;

  constructor(spec: SweepSpec, o: Checked) {
    this.#o = o;
    this.setup = (async () => {
      const backend = await resolveBackend(o.backend);
      const { json, buffers } = encodeSweepSpec(spec, o.buffers);
      const pool = poolOf(backend, o);
      if (pool) {
        const plan = parseJson<SweepPlan>(guard(() => backend.sweepPlan(json, buffers)), 'a sweep plan');
        const start = o.runs?.start ?? 0;
        const end = o.runs?.end ?? plan.runs;
        if (end > plan.runs) {
          throw new InvalidRequestError('options.runs', `expected 0 <= start <= end <= ${plan.runs} (the sweep's runs), got start = ${start}, end = ${end}`);
        }
        return { backend, json, buffers, plan, start, end, studySpec: undefined, source: undefined, pool };
      }
      // One study does it all: its result carries the plan (the settings are validated once).
      const studySpec = {
        ...(JSON.parse(json) as Record<string, unknown>),
        ...(o.runs ? { runs: o.runs } : {}),
        ...(o.threads !== undefined && backend.name === 'native' ? { threads: o.threads } : {}),
      };
      let source: InProcessSource;
      try {
        source = new InProcessSource(backend, JSON.stringify(studySpec), buffers, o.chunkMillis, 1);
      } catch (e) {
        if (e instanceof AutobalanceError && (e.field === 'runs' || e.field.startsWith('runs.'))) {
          throw new InvalidRequestError(`options.${e.field}`, e.detail, { cause: e });
        }
        throw e;
      }
      const out = source.output();
      return { backend, json, buffers, plan: out.plan, start: out.runs.start, end: out.runs.end, studySpec, source, pool: undefined };
    })();
    quiet(this.setup);
    this.table = new LazyPromise<SweepTable>(
      (resolve, reject) => {
        this.#resolve = resolve;
        this.#reject = reject;
      },
      () => this.#tableAwaited(),
    );
    quiet(this.table);
  }

  #tableAwaited(): void {
    if (this.#consumer !== 'none') return;
    // Give a `for await` over the rows started right after (Promise.all) the chance to claim them.
    setTimeout(() => {
      if (this.#consumer !== 'none') return;
      this.#consumer = 'table';
      void (async () => {
        try {
          while ((await this.pull()) !== null);
        } catch {
          // the table promise carries the error
        }
      })();
    }, 0);
  }

  /** The rows, for `handle.rows`: iterable once, and not once the table drives the sweep. */
  iterate(): AsyncGenerator<SweepRow, void, undefined> {
    if (this.#consumer === 'rows') throw new InvalidRequestError('rows', 'the rows of a sweep can be iterated once');
    if (this.#consumer === 'table') {
      throw new InvalidRequestError('rows', 'the table is driving this sweep (it was awaited before the rows were iterated): iterate the rows first');
    }
    this.#consumer = 'rows';
    return this.#rows();
  }

  async *#rows(): AsyncGenerator<SweepRow, void, undefined> {
    let ended = false;
    try {
      for (;;) {
        const batch = await this.pull();
        if (batch === null) {
          ended = true;
          return;
        }
        for (const row of batch) yield row;
      }
    } finally {
      if (!ended) this.#abandon();
    }
  }

  #makeSource(s: Setup): RowSource {
    if (s.source && this.#consumer === 'table' && s.studySpec) {
      // Only the table wants the runs: the core reduces them (no row goes through JSON here).
      // The plan validated the settings; the new study skips it (the core checks the hash).
      s.source.close();
      const spec = { ...s.studySpec, validated: s.plan.hash, records: 'settings' };
      s.source = new InProcessSource(s.backend, JSON.stringify(spec), s.buffers, this.#o.chunkMillis, 1, true);
      return s.source;
    }
    if (s.source) return s.source;
    const o = this.#o;
    return new WorkerPoolSource({
      create: s.pool!.create,
      workers: s.pool!.workers,
      // The plan validated the settings; the blocks' studies skip it (the core checks the hash).
      spec: JSON.stringify({ ...(JSON.parse(s.json) as Record<string, unknown>), validated: s.plan.hash }),
      buffers: s.buffers,
      start: s.start,
      end: s.end,
      maxBlock: Math.max(256, Math.floor(32768 / s.pool!.workers)),
      coreVersion: s.backend.coreVersion,
      chunkMillis: o.chunkMillis,
    });
  }

  /** The next rows (in run order), or null once the sweep is over. */
  async pull(): Promise<SweepRow[] | null> {
    if (this.#state !== 'running') return null;
    const signal = this.#o.signal;
    try {
      const s = await this.setup;
      if (!this.#source) {
        this.#group = new SettingGroup(reducer(s.backend, s.json));
        this.#t0 = now();
        if (signal?.aborted) {
          this.#finish(s, 'cancelled');
          return null;
        }
        this.#source = this.#makeSource(s);
      }
      const source = this.#source;
      for (;;) {
        if (this.#state !== 'running') return null;
        if (signal?.aborted) {
          if (source instanceof InProcessSource && source.settings) {
            const done = source.runsDone;
            this.#tapSettings(s, await source.stop(), done);
            this.#finish(s, 'cancelled');
            return null;
          }
          const rows = this.#tap(s, await source.stop());
          this.#finish(s, 'cancelled');
          return rows.length > 0 ? rows : null;
        }
        const lines = await source.next(signal);
        if (lines === null) {
          this.#finish(s, this.#done >= s.end - s.start ? 'complete' : 'cancelled');
          return null;
        }
        if (source instanceof InProcessSource && source.settings) {
          this.#tapSettings(s, lines, source.runsDone);
          return [];
        }
        if (lines.length > 0) return this.#tap(s, lines);
      }
    } catch (e) {
      const err = e instanceof AutobalanceError ? e : fromBindingError(e);
      this.#fail(err);
      throw err;
    }
  }

  #tap(s: Setup, lines: string[]): SweepRow[] {
    const rows: SweepRow[] = [];
    for (const line of lines) {
      const row = parseJson<SweepRow>(line, 'a sweep row');
      const out = this.#group!.push(row.setting, line);
      if (out) this.#settings.push(out);
      rows.push(row);
    }
    this.#done += rows.length;
    const onProgress = this.#o.onProgress;
    if (onProgress && rows.length > 0) {
      const total = s.end - s.start;
      const elapsedMs = now() - this.#t0;
      const rate = elapsedMs > 0 ? (this.#done * 1000) / elapsedMs : 0;
      const etaMs = rate > 0 ? ((total - this.#done) * 1000) / rate : null;
      onProgress({ done: this.#done, total, elapsedMs, etaMs, rate });
    }
    return rows;
  }

  /** Reductions of settings from the core (`records: "settings"`), `runs` runs done in all. */
  #tapSettings(s: Setup, lines: string[], runs: number): void {
    for (const line of lines) this.#settings.push(parseJson<SweepSettingRow>(line, 'a sweep reduction'));
    const before = this.#done;
    this.#done = runs;
    const onProgress = this.#o.onProgress;
    if (onProgress && runs > before) {
      const total = s.end - s.start;
      const elapsedMs = now() - this.#t0;
      const rate = elapsedMs > 0 ? (this.#done * 1000) / elapsedMs : 0;
      const etaMs = rate > 0 ? ((total - this.#done) * 1000) / rate : null;
      onProgress({ done: this.#done, total, elapsedMs, etaMs, rate });
    }
  }

  #finish(s: Setup, how: 'complete' | 'cancelled'): void {
    if (this.#state !== 'running') return;
    this.#source?.close();
    s.source?.close();
    const last = this.#group?.flush();
    if (last) this.#settings.push(last);
    this.#state = how;
    const table: SweepTable = { plan: s.plan, settings: this.#settings, complete: how === 'complete', stopped: how === 'complete' ? null : 'cancelled' };
    if (how === 'complete') this.#resolve(table);
    else {
      const total = s.end - s.start;
      this.#reject(new SweepCancelledError(table, this.#done, `the sweep was cancelled after ${this.#done} of ${total} runs`));
    }
  }

  #fail(e: AutobalanceError): void {
    if (this.#state !== 'running') return;
    this.#state = 'failed';
    this.#source?.close();
    this.#reject(e);
  }

  /** The rows were left before their end: stop like a cancellation. */
  #abandon(): void {
    if (this.#state !== 'running') return;
    void this.setup.then(
      (s) => this.#finish(s, 'cancelled'),
      () => undefined,
    );
  }
}

/**
 * Run a sweep: returns at once a handle with its plan, its rows (pulled, in run order) and its
 * reduced table. Nothing runs until the rows are iterated or the table is awaited. Memory stays
 * flat in the number of runs: rows are handed out as they come (keep them if you need them), the
 * table holds one row per setting.
 *
 * Native: one study of the core runs the runs on a rayon pool (`threads`), in chunks of about
 * `chunkMillis` on the libuv thread pool. Wasm: a pool of `workers` workers takes blocks of runs
 * (Node: `worker_threads`; browser: `worker`), or with one worker the chunks run on this thread.
 * Rows are identical bits on every backend and with any number of threads or workers.
 *
 * ```ts
 * const { rows, table } = sweep(spec, { onProgress: (p) => console.log(`${p.done}/${p.total}`) });
 * for await (const row of rows) if (row.stop === 'error') console.log(row.error);
 * console.log((await table).settings);
 * ```
 *
 * @throws {InvalidRequestError} for bad options (synchronously). Spec errors arrive through
 *   `plan`, `rows` and `table` (a subclass of {@link AutobalanceError} naming the full path).
 */
export function sweep(spec: SweepSpec, options: SweepOptions = {}): SweepHandle {
  const o = checkOptions(options);
  const d = new SweepDriver(spec, o);
  const plan = d.setup.then((s) => s.plan);
  quiet(plan);
  return {
    plan,
    rows: { [Symbol.asyncIterator]: () => d.iterate() },
    table: d.table,
  };
}
