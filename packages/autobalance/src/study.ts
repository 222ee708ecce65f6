/**
 * Studies: computations that are not one run (the Hessian along a grid of points today; sweeps,
 * continuation and kernel recursions later), computed by the core's study entry and advanced in
 * chunks like a run: off the event loop, with progress, cancellable. A study returns named
 * columns (one row per point) and a JSON output whose format depends on its kind
 * (docs/studies.md). Platform-neutral, like {@link Run}.
 *
 * ```ts
 * const r = await study({
 *   kind: 'hessianGrid',
 *   run: spec,
 *   query: { what: 'eigs', which: 'both' },
 *   at: { every: 100 },
 *   axis: { path: 'model.balanceWeight', values: [0, 0.125, 0.25] },
 * });
 * console.log(r.columns.value, r.columns.step, r.columns.lambdaMin);
 * ```
 *
 * @module
 */

import { type Backend, type BackendChoice, type BackendName, type BindingStudy, resolveBackend } from './backend.js';
import { AutobalanceError, InternalError, InvalidRequestError, InvalidSpecError, fromBindingError, guard } from './errors.js';
import type { HessianQuery, HessianReport } from './curvature.js';
import type { Columns, Status } from './run.js';
import { type RunSpec, encodeWithRunAt, isRecord } from './spec.js';
import { ChunkSizer, advanceOffLoop, freeQuietly, now, yieldToTimers } from './chunk.js';
import { checkBackend, chunkOptionsArg, countArg, functionArg, optionsArg, stringArg } from './args.js';

/** Where to sample each run of a `hessianGrid` study: these steps, or every N steps. */
export type StudyAt =
  | {
      /** Steps at which to query, strictly increasing, each at most the run's `steps`. */
      steps: number[];
    }
  | {
      /** Query at steps 0, every, 2 every, ... and at the run's last step. */
      every: number;
    };

/** One run per value: the base run with the value set at a spec path. */
export interface StudyAxis {
  /**
   * A path into the run spec: names and indices, e.g. `model.balanceWeight`, `init.stdU`,
   * `init.seed`, `schedule.eta`, `model.layers[0].width`. Every container on the way must exist;
   * the last field may be absent (an optional field).
   */
  path: string;
  /** The values (any JSON: numbers, strings, objects such as a `method`). At least one. */
  values: unknown[];
}

/** An extra column: a number of each point's curvature report, by JSON pointer. */
export interface StudyColumn {
  /** The column's name (not one of the built-in columns). */
  name: string;
  /** An RFC 6901 JSON pointer into the report, e.g. `/smallest/1/value`. */
  pointer: string;
}

/**
 * The Hessian along a grid of points: one run (any model family), or one run per value of an
 * axis, each queried at a list of steps with one curvature query ({@link HessianQuery}). Columns:
 * `run`, `value` (with an axis; NaN for values that are not numbers), `step`, `loss`, then the
 * query's numbers (`eigs` and `classify`: `lambdaMin`, `lambdaMax` and their residuals; see
 * docs/studies.md), then `columns`.
 */
export interface HessianGridStudySpec {
  /** The study kind. */
  kind: 'hessianGrid';
  /** The run (its explicit matrices travel as buffers named `run.<path>`). */
  run: RunSpec;
  /** The curvature query asked at every point (docs/curvature.md). */
  query: HessianQuery;
  /** Where to sample each run. Default: its last step only. */
  at?: StudyAt;
  /** One run per value of a spec path. Default: the run alone. */
  axis?: StudyAxis;
  /** Extra columns taken from the reports. */
  columns?: StudyColumn[];
  /** Keep every point's full report in the output. Default true. */
  keepReports?: boolean;
}

/** Any study (one kind so far). */
export type StudySpec = HessianGridStudySpec;

/** Where a study is (the core's `StudyStatus`). */
export interface StudyStatus {
  /** Units of work done (`hessianGrid`: training steps plus one per query). */
  done: number;
  /** Units of work in all. */
  total: number;
  /** Rows of the columns so far (points). */
  rows: number;
  /** True once every unit is done. */
  finished: boolean;
}

/** A core error as it appears in a study's output. */
export interface StudyErrorJson {
  /** The error code (`invalid_spec`, `out_of_range`, ...). */
  code: string;
  /** The field, as a dotted path. */
  field: string;
  /** The explanation. */
  message: string;
}

/** What every study's output has. */
export interface StudyOutputBase {
  /** The study kind. */
  kind: string;
  /** Where the study is. */
  status: StudyStatus;
  /** The error that stopped the study, or null. */
  error: StudyErrorJson | null;
}

/** One point of a `hessianGrid` study. */
export interface HessianGridPoint {
  /** Index of the run (of the axis value). */
  run: number;
  /** The axis value of the run (with an axis). */
  value?: unknown;
  /** The step of the point. */
  step: number;
  /** False when the run stopped (diverged) before this step: no report then. */
  reached: boolean;
  /** The run's loss at the point, or null. */
  loss: number | null;
  /** The curvature report (unless `keepReports: false`, or the query failed at the point). */
  report?: HessianReport;
  /** Why the query failed at this point (e.g. a non-finite Hessian), if it did. */
  error?: StudyErrorJson;
}

/** One run of a `hessianGrid` study. */
export interface HessianGridRun {
  /** Index of the run. */
  run: number;
  /** Its axis value (with an axis). */
  value?: unknown;
  /** The steps at which it is queried. */
  samples: number[];
  /** Its status where it stopped (it is trained to its last sample), or null before it starts. */
  status: Status | null;
}

/** The output of a `hessianGrid` study. */
export interface HessianGridOutput extends StudyOutputBase {
  /** The study kind. */
  kind: 'hessianGrid';
  /** The query asked at every point. */
  query: HessianQuery;
  /** The axis, or null. */
  axis: {
    /** The spec path. */
    path: string;
    /** The values, one run each. */
    values: unknown[];
  } | null;
  /** The runs, in order. */
  runs: HessianGridRun[];
  /** The points computed so far, in row order. */
  points: HessianGridPoint[];
}

/** The output type of a study spec type. */
export type StudyOutput<S extends StudySpec = StudySpec> = S extends HessianGridStudySpec ? HessianGridOutput : StudyOutputBase;

/** The outcome of a study. */
export interface StudyResult<S extends StudySpec = StudySpec> {
  /** Backend that computed it. */
  backend: BackendName;
  /** The study kind. */
  kind: S['kind'];
  /** Names of the columns, in order. */
  columnNames: string[];
  /** The columns (each of length `rows`). */
  columns: Columns;
  /** Rows computed. */
  rows: number;
  /** Units of work done. */
  done: number;
  /** Units of work in all. */
  total: number;
  /** True when every unit is done. */
  finished: boolean;
  /** True when an `AbortSignal` stopped the study before it finished. */
  cancelled: boolean;
  /** The kind's JSON output (for `hessianGrid`: runs, points and their reports). */
  output: StudyOutput<S>;
}

/** Options of {@link Study.create}. */
export interface StudyCreateOptions {
  /** `native`, `wasm`, or a loaded {@link Backend}; default as for runs. */
  backend?: BackendChoice;
}

/** Options of {@link Study.chunks}. */
export interface StudyChunkOptions {
  /** Stop after the current chunk once this signal aborts. */
  signal?: AbortSignal;
  /** Target wall time of one chunk, in milliseconds (default 50). */
  chunkMillis?: number;
}

/** Options of {@link study}. */
export interface StudyOptions extends StudyCreateOptions, StudyChunkOptions {
  /** Called after each chunk. */
  onProgress?: (status: StudyStatus) => void;
}

/** A spec as the study binding takes it: JSON text plus buffers named by spec path. */
export interface EncodedStudySpec {
  /** The study spec as JSON, the run's explicit matrices replaced by their shape. */
  json: string;
  /** Row-major data of the run's explicit matrices, keyed `run.<path>` (`run.target.matrix`). */
  buffers: Record<string, Float64Array>;
}

/**
 * Encode a study spec for the bindings: the explicit matrices of its `run` move into buffers named
 * `run.<path>` (see `encodeSpec`); everything else is passed through for the core to validate.
 *
 * @throws {InvalidSpecError} when the spec is not an object.
 * @throws {ShapeMismatchError} for a ragged matrix of the run (naming `run.<path>`).
 * @throws {NonFiniteError} for NaN or an infinity anywhere in the spec (naming its path).
 */
export function encodeStudySpec(spec: unknown): EncodedStudySpec {
  if (!isRecord(spec)) throw new InvalidSpecError('spec', 'expected the study spec to be an object');
  return encodeWithRunAt(spec, 'run');
}

function parseJson(json: string, what: string): unknown {
  try {
    return JSON.parse(json);
  } catch (e) {
    throw new InternalError('', `the backend returned ${what} that is not JSON: ${json.slice(0, 200)}`, { cause: e });
  }
}

function parseStatus(json: string): StudyStatus {
  const o = parseJson(json, 'a study status') as Record<string, unknown>;
  const num = (k: string): number => {
    const x = o[k];
    if (typeof x !== 'number') throw new InternalError('', `the backend study status lacks ${k}: ${json}`);
    return x;
  };
  return { done: num('done'), total: num('total'), rows: num('rows'), finished: o['finished'] === true };
}



/**
 * A study of the core, advanced on demand (the low-level API; {@link study} is built on it):
 *
 * ```ts
 * const s = await Study.create(spec);
 * for await (const status of s.chunks({ signal })) console.log(status.done, '/', status.total);
 * const result = s.result();
 * s.dispose();
 * ```
 */
export class Study<S extends StudySpec = StudySpec> {
  /** Backend computing this study. */
  readonly backend: BackendName;
  /** The study kind. */
  readonly kind: S['kind'];
  /** Names of the columns, in order. */
  readonly columnNames: readonly string[];
  #study: BindingStudy | undefined;
  #async: boolean;
  #busy = false;
  #cancelled = false;
  #disposeRequested = false;
  #failed: InternalError | undefined;

  private constructor(backend: Backend, study: BindingStudy, kind: S['kind']) {
    this.backend = backend.name;
    this.kind = kind;
    this.#study = study;
    this.#async = typeof study.advanceAsync === 'function';
    try {
      this.columnNames = Object.freeze(guard(() => study.columnNames()).slice());
    } catch (e) {
      freeQuietly(study);
      throw e;
    }
  }

  /**
   * Validate `spec` (in the core) and set the study up on a backend. Nothing is computed yet.
   *
   * @throws {AutobalanceError} a subclass naming the offending field by its full path in the study
   *   spec (`run.model.rank`, `at.steps[2]`, `axis.values[1]`).
   * @throws {BackendLoadError} when the chosen backend cannot be loaded.
   */
  static async create<S extends StudySpec>(spec: S, options: StudyCreateOptions = {}): Promise<Study<S>> {
    const o = optionsArg('options', options);
    const backend = await resolveBackend(o['backend'] as BackendChoice | undefined);
    return Study.withBackend(backend, spec);
  }

  /** Like {@link Study.create}, synchronously, on a backend already loaded. */
  static withBackend<S extends StudySpec>(backend: Backend, spec: S): Study<S> {
    checkBackend(backend, 'createStudy');
    const { json, buffers } = encodeStudySpec(spec);
    const s = guard(() => backend.createStudy(json, buffers));
    return new Study<S>(backend, s, (spec as { kind: S['kind'] }).kind);
  }

  #live(): BindingStudy {
    if (!this.#study) throw new InvalidRequestError('study', 'this study has been disposed');
    if (this.#failed) {
      throw new InvalidRequestError('study', `this study can no longer be used: its backend failed (${this.#failed.detail})`, { cause: this.#failed });
    }
    if (this.#busy) throw new InvalidRequestError('study', 'an advance of this study is in progress; await it first');
    return this.#study;
  }

  /** Call the binding; an error that is not a core error (a trap, a panic) marks the study as failed. */
  #call<T>(f: (s: BindingStudy) => T): T {
    const s = this.#live();
    try {
      return f(s);
    } catch (e) {
      throw this.#failure(e);
    }
  }

  #failure(e: unknown): AutobalanceError {
    const err = fromBindingError(e);
    if (err instanceof InternalError) this.#failed ??= err;
    return err;
  }

  /** Where the study is. */
  get status(): StudyStatus {
    return parseStatus(this.#call((s) => s.status()));
  }

  /** True once {@link chunks} stopped because its signal aborted before the study finished. */
  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** Do up to `maxUnits` units of work synchronously (on the calling thread). */
  advance(maxUnits: number): StudyStatus {
    const n = countArg('maxUnits', maxUnits);
    return parseStatus(this.#call((s) => s.advance(n)));
  }

  /**
   * Do up to `maxUnits` units of work without blocking the event loop for the whole chunk: on the
   * native backend the chunk runs on the libuv thread pool; on wasm it runs synchronously, then
   * yields to the event loop once.
   */
  async advanceAsync(maxUnits: number): Promise<StudyStatus> {
    const n = countArg('maxUnits', maxUnits);
    const s = this.#live();
    this.#busy = true;
    try {
      let json: string;
      try {
        json = await advanceOffLoop(s, n, this.#async);
      } catch (e) {
        throw this.#failure(e);
      }
      return parseStatus(json);
    } finally {
      this.#busy = false;
      if (this.#disposeRequested) this.dispose();
    }
  }

  /** Rows `start..` of a column. */
  column(name: string, start = 0): Float64Array {
    const n = stringArg('column', name);
    const k = countArg('start', start);
    return this.#call((s) => s.column(n, k));
  }

  /** Rows `start..` of every column. */
  columns(start = 0): Columns {
    countArg('start', start);
    const out: Columns = {};
    for (const name of this.columnNames) out[name] = this.column(name, start);
    return out;
  }

  /** The kind's JSON output so far. */
  output(): StudyOutput<S> {
    return parseJson(this.#call((s) => s.result()), 'a study result') as StudyOutput<S>;
  }

  /**
   * Advance the study to its end in chunks of about `chunkMillis` of wall time, yielding the
   * status after each. When `signal` aborts, the study stops after the current chunk (and
   * {@link cancelled} becomes true); what was computed stays available.
   */
  async *chunks(options: StudyChunkOptions = {}): AsyncGenerator<StudyStatus, void, undefined> {
    const o = chunkOptionsArg(options);
    const { signal } = o;
    const sizer = new ChunkSizer(o.chunkMillis ?? 50);
    let status = this.status;
    // The study may just have been created on the JS thread: let timers run before the first chunk.
    if (!this.#async && !status.finished) await yieldToTimers();
    while (!status.finished) {
      if (signal?.aborted) {
        this.#cancelled = true;
        return;
      }
      const before = status.done;
      const n = sizer.size;
      const t0 = now();
      status = await this.advanceAsync(n);
      const dt = now() - t0;
      const taken = status.done - before;
      yield status;
      // Units differ in cost (a query is worth many steps): the sizer takes the larger of the
      // last chunk's cost per unit and the recent average.
      sizer.record(n, taken, dt);
    }
  }

  /** The outcome so far: the columns and the kind's output. */
  result(): StudyResult<S> {
    const output = this.output();
    const status = output.status;
    return {
      backend: this.backend,
      kind: this.kind,
      columnNames: this.columnNames.slice(),
      columns: this.columns(0),
      rows: status.rows,
      done: status.done,
      total: status.total,
      finished: status.finished,
      cancelled: this.#cancelled && !status.finished,
      output,
    };
  }

  /**
   * Release the study (frees its memory in the wasm heap; on native, drops the reference). Safe
   * to call twice; during an {@link advanceAsync}, it is released when that call settles.
   */
  dispose(): void {
    const s = this.#study;
    if (!s) return;
    if (this.#busy) {
      this.#disposeRequested = true;
      return;
    }
    this.#study = undefined;
    freeQuietly(s);
  }
}

/**
 * Run a study to its end (or until `signal` aborts) and return its columns and output. The event
 * loop keeps running: on native, chunks run on the libuv thread pool; on wasm, each chunk (about
 * `chunkMillis` long) runs synchronously and the loop runs between chunks. A single curvature
 * query is one unit and is not interrupted.
 *
 * Cancelling through `signal` resolves with what was computed and `cancelled: true`; it does not
 * reject.
 *
 * @throws {AutobalanceError} (a subclass) when the spec is invalid (nothing is computed then), or
 *   when the study stops on an error (a curvature query the core refuses: `query.<field>`).
 * @throws {BackendLoadError} when the chosen backend cannot be loaded.
 */
export async function study<S extends StudySpec>(spec: S, options: StudyOptions = {}): Promise<StudyResult<S>> {
  const o = optionsArg('options', options);
  const onProgress = functionArg<(status: StudyStatus) => void>('options.onProgress', o['onProgress']);
  chunkOptionsArg(options);
  const s = await Study.create(spec, options);
  try {
    for await (const status of s.chunks(options)) onProgress?.(status);
    return s.result();
  } finally {
    s.dispose();
  }
}

/** A study result as JSON-ready data (the format of `autobalance study --out`). */
export type StudyResultJson = StudyOutputBase &
  Record<string, unknown> & {
    /** Backend that computed it. */
    backend: BackendName;
    /** True when it was interrupted. */
    cancelled: boolean;
    /** Names of the columns, in order. */
    columnNames: string[];
    /** The columns by name (NaN is written as null). */
    columns: Record<string, (number | null)[]>;
  };

/** A study result as JSON-ready data: the kind's output plus the backend and the columns. */
export function studyResultToJson(r: StudyResult): StudyResultJson {
  const columns: Record<string, (number | null)[]> = {};
  for (const name of r.columnNames) columns[name] = Array.from(r.columns[name] ?? [], (x) => (Number.isFinite(x) ? x : null));
  return { ...r.output, backend: r.backend, cancelled: r.cancelled, columnNames: r.columnNames.slice(), columns };
}

/** The columns of a study as CSV: a header line, then one line per row (full precision; NaN as `NaN`). */
export function studyToCsv(r: Pick<StudyResult, 'columnNames' | 'columns' | 'rows'>): string {
  const field = (s: string): string => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const lines = [r.columnNames.map(field).join(',')];
  for (let i = 0; i < r.rows; i++) lines.push(r.columnNames.map((n) => String(r.columns[n]?.[i] ?? '')).join(','));
  return lines.join('\n') + '\n';
}
