/**
 * Runs: a session of the core advanced in chunks, streamed, reported and cancellable.
 * Platform-neutral (the backend is resolved by name through the registered loader, or given as an
 * object).
 *
 * @module
 */

import { type Backend, type BackendChoice, type BackendName, type BindingSession, resolveBackend } from './backend.js';
import { type ColumnRole, isColumnRole } from './columns.js';
import { AutobalanceError, InternalError, InvalidRequestError, fromBindingError, guard } from './errors.js';
import { type CurvatureWhat, type HessianOptions, type HessianQuery, type ReportFor, runQuery } from './curvature.js';
import type { Matrix } from './matrix.js';
import { resolveDatasets } from './datasets.js';
import { type MatrixFactorizationRunSpec, type RunSpec, encodeJson, encodeSpec } from './spec.js';
import { ChunkSizer, advanceOffLoop, freeQuietly, now, yieldToTimers } from './chunk.js';
import { checkBackend, chunkOptionsArg, countArg, functionArg, optionsArg, stringArg } from './args.js';

/** Where a run is (the core's `Status`). */
export interface Status {
  /** Index of the current iterate (number of steps taken). */
  step: number;
  /** Steps asked for. */
  steps: number;
  /** Rows recorded so far. */
  rows: number;
  /** True once the run has stopped: all steps taken, diverged, or a step failed. */
  finished: boolean;
  /** Why the run stopped, or null while it runs (see {@link StopReason}). */
  stop: StopReason | null;
  /** Step at which the loss became non-finite (the state kept is the iterate before it), else null. */
  divergedAt: number | null;
  /**
   * When the run stopped early (`diverged` or `solverFailed`): the step whose iterate was
   * non-finite or could not be computed; the state kept (whose row is the last recorded) is the
   * iterate before it. Null otherwise.
   */
  stoppedAt: number | null;
  /** Why the run stopped early, in words (the failed solve, its defect and tolerance), else null. */
  reason: string | null;
  /** Loss at the current iterate, if known. */
  loss: number | null;
}

/**
 * Why a run stopped: `finished` (all steps taken), `diverged` (the loss or its gradient became
 * non-finite; the last finite iterate is kept), `solverFailed` (a step could not be taken: the
 * implicit midpoint solve did not reach its tolerance, or Dormand-Prince rejected every trial
 * step; the iterate before it is kept). Cancellation is not a stop of the run itself: see
 * {@link RunResultBase.cancelled}.
 */
export type StopReason = 'finished' | 'diverged' | 'solverFailed';

const STOP_REASONS: readonly string[] = ['finished', 'diverged', 'solverFailed'];

/** The names of the matrices a run exposes. */
export type MatrixName =
  | 'U'
  | 'V'
  | 'U0'
  | 'V0'
  | 'target'
  | `${'W' | 'b' | 'v'}${number}`
  | `${'W' | 'b' | 'v'}${number}_0`
  | `neuron${number}`
  | 'X'
  | 'Y'
  | (string & {});

/** Recorded rows, one `Float64Array` per column, all of the same length. */
export type Columns = Record<string, Float64Array>;

/** New rows and the status after one chunk of a run. */
export interface RunChunk {
  /** Status after the chunk. */
  status: Status;
  /** Index of the first of the new rows. */
  start: number;
  /** The rows recorded during the chunk, per column. */
  rows: Columns;
}

/** Progress of a run, reported after each chunk. */
export interface Progress {
  /** Steps taken so far. */
  step: number;
  /** Steps asked for. */
  steps: number;
  /** Loss at the current iterate, if known. */
  loss: number | null;
  /** Rows recorded so far. */
  rows: number;
}

/** Options of {@link Run.chunks}. */
export interface ChunkOptions {
  /** Stop after the current chunk once this signal aborts. */
  signal?: AbortSignal;
  /** Target wall time of one chunk, in milliseconds (default 50). */
  chunkMillis?: number;
  /** Steps of the first chunk (default 1); later chunks are sized from measured times. */
  initialChunkSteps?: number;
}

/** Options of {@link Run.create}. */
export interface RunOptions {
  /** `native`, `wasm`, or a loaded {@link Backend}; default: `AUTOBALANCE_BACKEND`, else native if it loads, else wasm. */
  backend?: BackendChoice;
}

/** Options of {@link train}. */
export interface TrainOptions extends RunOptions, ChunkOptions {
  /** Called after each chunk. */
  onProgress?: (progress: Progress) => void;
}

/** The outcome of a run, for any model. */
export interface RunResultBase {
  /** Backend that computed it. */
  backend: BackendName;
  /** Names of the recorded columns, in order. */
  columnNames: string[];
  /**
   * The role of each recorded column, by name, as the core declares it (`step`, `loss`, `norm`,
   * `ratio`, `drift`, ...; see {@link ColumnRole}). Reports and checks pick columns by role.
   */
  columnRoles: Record<string, ColumnRole>;
  /** The recorded columns (each of length `rows`). */
  columns: Columns;
  /** Rows recorded. */
  rows: number;
  /** Steps taken. */
  step: number;
  /** Steps asked for. */
  steps: number;
  /** True when the run stopped by itself (all steps taken, diverged, or a step failed). */
  finished: boolean;
  /** True when the run was stopped by an `AbortSignal` before it finished. */
  cancelled: boolean;
  /** Why the run stopped by itself, or null (cancelled, or not run to the end). */
  stop: StopReason | null;
  /** Step at which the loss became non-finite, or null. The state kept is the last finite one. */
  divergedAt: number | null;
  /** Step whose iterate was non-finite or could not be computed (`diverged`, `solverFailed`), or null. */
  stoppedAt: number | null;
  /** Why the run stopped early, in words, or null. */
  reason: string | null;
  /** Loss at the final state, if known (null when the very first iterate diverged). */
  loss: number | null;
  /** Final parameters by block name (`U`, `V`; `W1`, `b1`, `v2`, ...). */
  params: Record<string, Matrix>;
  /** Initial parameters by block name. */
  initialParams: Record<string, Matrix>;
}

/** The outcome of a matrix-factorization run: also the factors by name. */
export interface MatrixFactorizationResult extends RunResultBase {
  /** Final U (d1 x rank). */
  U: Matrix;
  /** Final V (d2 x rank). */
  V: Matrix;
  /** Initial U. */
  U0: Matrix;
  /** Initial V. */
  V0: Matrix;
}

/** The outcome of a run of spec type `S` (matrix factorization gets `U`, `V`, `U0`, `V0`). */
export type RunResult<S extends RunSpec = RunSpec> = S extends MatrixFactorizationRunSpec ? MatrixFactorizationResult : RunResultBase;

function parseStatus(json: string): Status {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (e) {
    throw new InternalError('', `the backend returned a status that is not JSON: ${json}`, { cause: e });
  }
  const o = v as Record<string, unknown>;
  const num = (k: string): number => {
    const x = o[k];
    if (typeof x !== 'number') throw new InternalError('', `the backend status lacks ${k}: ${json}`);
    return x;
  };
  return {
    step: num('step'),
    steps: num('steps'),
    rows: num('rows'),
    finished: o['finished'] === true,
    stop: typeof o['stop'] === 'string' && STOP_REASONS.includes(o['stop']) ? (o['stop'] as StopReason) : null,
    divergedAt: typeof o['divergedAt'] === 'number' ? o['divergedAt'] : null,
    stoppedAt: typeof o['stoppedAt'] === 'number' ? o['stoppedAt'] : null,
    reason: typeof o['reason'] === 'string' ? o['reason'] : null,
    loss: typeof o['loss'] === 'number' ? o['loss'] : null,
  };
}


/**
 * The roles of a session's columns, by name. A role this version does not know becomes `other`;
 * a binding without `columnRoles` (built before column roles) is an error.
 */
function readRoles(session: BindingSession, names: readonly string[]): Record<string, ColumnRole> {
  if (typeof session.columnRoles !== 'function') {
    throw new InternalError('', 'the backend does not give column roles (columnRoles): rebuild the native addon or the wasm module');
  }
  const roles = guard(() => session.columnRoles());
  if (!Array.isArray(roles) || roles.length !== names.length) {
    throw new InternalError('', `the backend gave ${Array.isArray(roles) ? roles.length : 'no'} column roles for ${names.length} columns`);
  }
  const out: Record<string, ColumnRole> = {};
  names.forEach((n, i) => {
    const r = roles[i];
    out[n] = isColumnRole(r) ? r : 'other';
  });
  return out;
}

/**
 * A run of the core: a validated spec and its state, advanced on demand. This is the low-level,
 * streaming API ({@link train} is built on it):
 *
 * ```ts
 * const run = await Run.create(spec);
 * for await (const { status, rows } of run.chunks({ signal })) draw(rows);
 * const result = run.result();
 * run.dispose();
 * ```
 */
export class Run<S extends RunSpec = RunSpec> {
  /** Backend computing this run. */
  readonly backend: BackendName;
  /** Names of the recorded columns, in order. */
  readonly columnNames: readonly string[];
  /** The role of each recorded column, by name (see {@link ColumnRole}). */
  readonly columnRoles: Readonly<Record<string, ColumnRole>>;
  #session: BindingSession | undefined;
  #async: boolean;
  #busy = false;
  #cursor = 0;
  #cancelled = false;
  #disposeRequested = false;
  #failed: InternalError | undefined;

  private constructor(backend: Backend, session: BindingSession) {
    this.backend = backend.name;
    this.#session = session;
    this.#async = typeof session.advanceAsync === 'function';
    try {
      this.columnNames = Object.freeze(guard(() => session.columnNames()).slice());
      this.columnRoles = Object.freeze(readRoles(session, this.columnNames));
    } catch (e) {
      freeQuietly(session);
      throw e;
    }
  }

  /**
   * Validate `spec` (in the core) and set up a run on a backend. Nothing is computed yet.
   *
   * @throws {AutobalanceError} a subclass naming the offending field when the spec is invalid.
   * @throws {BackendLoadError} when the chosen backend cannot be loaded.
   */
  static async create<S extends RunSpec>(spec: S, options: RunOptions = {}): Promise<Run<S>> {
    const o = optionsArg('options', options);
    const backend = await resolveBackend(o['backend'] as BackendChoice | undefined);
    return Run.withBackend(backend, spec);
  }

  /** Like {@link Run.create}, synchronously, on a backend already loaded. */
  static withBackend<S extends RunSpec>(backend: Backend, spec: S): Run<S> {
    checkBackend(backend);
    const { json, buffers } = encodeSpec(resolveDatasets(spec));
    const session = guard(() => backend.createSession(json, buffers));
    return new Run<S>(backend, session);
  }

  #live(): BindingSession {
    if (!this.#session) throw new InvalidRequestError('run', 'this run has been disposed');
    if (this.#failed) {
      throw new InvalidRequestError('run', `this run can no longer be used: its backend failed (${this.#failed.detail})`, { cause: this.#failed });
    }
    if (this.#busy) throw new InvalidRequestError('run', 'an advance of this run is in progress; await it first');
    return this.#session;
  }

  /**
   * Call the binding: its errors become typed errors, and an error that is not a core error (a
   * WebAssembly trap such as running out of memory, a panic) marks the session as failed, so
   * that later calls say so instead of reporting the binding's aliasing errors.
   */
  #call<T>(f: (s: BindingSession) => T): T {
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

  /** Where the run is. */
  get status(): Status {
    return parseStatus(this.#call((s) => s.status()));
  }

  /** True once {@link chunks} stopped because its signal aborted before the run finished. */
  get cancelled(): boolean {
    return this.#cancelled;
  }

  /**
   * Take up to `maxSteps` steps synchronously (on the calling thread). `advance(0)` evaluates and
   * records the current iterate without stepping.
   *
   * @throws {InvalidRequestError} (field `maxSteps`) unless `maxSteps` is a non-negative integer
   *   or `Infinity` (no limit), the same on both backends.
   */
  advance(maxSteps: number): Status {
    const n = countArg('maxSteps', maxSteps);
    return parseStatus(this.#call((s) => s.advance(n)));
  }

  /**
   * Take up to `maxSteps` steps without blocking the event loop for the whole chunk: on the
   * native backend the chunk runs on the libuv thread pool; on wasm it runs synchronously, then
   * yields to the event loop once.
   */
  async advanceAsync(maxSteps: number): Promise<Status> {
    const n = countArg('maxSteps', maxSteps);
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

  /**
   * Curvature at the current point: a verdict (`classify`), extreme eigenpairs (`eigs`), the
   * spectral density, the Hessian trace, or the Lemma 3.2 certificate. See {@link HessianQuery}.
   * The query runs in chunks of work (Lanczos steps, probes) off the event loop (native: on the
   * libuv thread pool; wasm: each chunk about `chunkMillis` long, the event loop runs between
   * them). When `options.signal` aborts, the query stops after the current chunk and the promise
   * rejects with {@link QueryCancelledError} (code `cancelled`); the run is unchanged.
   */
  async hessian<W extends CurvatureWhat>(query: HessianQuery & { what: W }, options: HessianOptions = {}): Promise<ReportFor<W>> {
    const s = this.#live();
    const q = encodeJson(query, 'query');
    this.#busy = true;
    try {
      let json: string;
      try {
        json = await runQuery(s, q, String(query.what), this.#async, options);
      } catch (e) {
        throw this.#failure(e);
      }
      return JSON.parse(json) as ReportFor<W>;
    } finally {
      this.#busy = false;
      if (this.#disposeRequested) this.dispose();
    }
  }

  /**
   * Validate a curvature query at the current point without running it (the same checks and
   * errors as {@link Run.hessian}, e.g. before a long training, so that a bad query fails first).
   */
  checkQuery(query: HessianQuery): void {
    const q = encodeJson(query, 'query');
    this.#call((s) => {
      s.hessianStart(q);
      s.hessianCancel();
    });
  }

  /** Rows `start..` of a recorded column. */
  column(name: string, start = 0): Float64Array {
    const n = stringArg('column', name);
    const k = countArg('start', start);
    return this.#call((s) => s.column(n, k));
  }

  /** Rows `start..` of every recorded column. */
  columns(start = 0): Columns {
    countArg('start', start);
    const out: Columns = {};
    for (const name of this.columnNames) out[name] = this.column(name, start);
    return out;
  }

  /**
   * The rows recorded since the previous call (or since the start), per column, and the index of
   * the first of them.
   */
  newRows(): {
    /** Index of the first of the new rows. */
    start: number;
    /** The new rows, per column. */
    rows: Columns;
  } {
    const start = this.#cursor;
    const rows = this.columns(start);
    const first = this.columnNames[0];
    this.#cursor = start + (first !== undefined ? (rows[first]?.length ?? 0) : 0);
    return { start, rows };
  }

  /** A matrix of the run: `U`, `V` (current), `U0`, `V0` (initial), `target` (M*). */
  matrix(name: MatrixName): Matrix {
    const n = stringArg('matrix', name);
    const shape = this.#call((s) => s.matrixShape(n));
    const data = this.#call((s) => s.matrix(n));
    return { rows: Number(shape[0]), cols: Number(shape[1]), data };
  }

  /**
   * Advance the run to its end in chunks, yielding the new rows after each. Chunks are sized so
   * that each takes about `chunkMillis` of wall time. When `signal` aborts, the run stops after
   * the current chunk (and {@link cancelled} becomes true); the state reached stays available.
   */
  async *chunks(options: ChunkOptions = {}): AsyncGenerator<RunChunk, void, undefined> {
    const o = chunkOptionsArg(options);
    const { signal } = o;
    const sizer = new ChunkSizer(o.chunkMillis ?? 50, o.initialChunkSteps ?? 1);
    let status = this.status;
    if (status.rows === 0) {
      // Record the initial iterate, so that a run cancelled at once still has a state to show.
      // Off the event loop like any chunk: with curvature tracking, step 0 is a Lanczos solve.
      // The session may just have been created on the JS thread: let timers run before step 0.
      if (!this.#async) await yieldToTimers();
      const t0 = now();
      status = await this.advanceAsync(0);
      sizer.observe(1, now() - t0);
    }
    const first = this.newRows();
    if ((first.rows[this.columnNames[0] ?? '']?.length ?? 0) > 0) {
      yield { status, start: first.start, rows: first.rows };
    }
    while (!status.finished) {
      if (signal?.aborted) {
        this.#cancelled = true;
        return;
      }
      const before = status.step;
      const n = sizer.size;
      const t0 = now();
      status = await this.advanceAsync(n);
      const dt = now() - t0;
      const taken = status.step - before;
      const { start, rows } = this.newRows();
      yield { status, start, rows };
      sizer.record(n, taken, dt);
    }
    if (signal?.aborted && !status.finished) this.#cancelled = true;
  }

  /** The outcome so far: status, all recorded columns, and the factors. */
  result(): RunResult<S> {
    const status = this.status;
    const names = this.#call((s) => s.paramNames());
    const params: Record<string, Matrix> = {};
    const initialParams: Record<string, Matrix> = {};
    for (const n of names) {
      params[n] = this.matrix(n);
      initialParams[n] = this.matrix(`${n}_0`);
    }
    const base: RunResultBase = {
      backend: this.backend,
      columnNames: this.columnNames.slice(),
      columnRoles: { ...this.columnRoles },
      columns: this.columns(0),
      rows: status.rows,
      step: status.step,
      steps: status.steps,
      finished: status.finished,
      cancelled: this.#cancelled && !status.finished,
      stop: status.stop,
      divergedAt: status.divergedAt,
      stoppedAt: status.stoppedAt,
      reason: status.reason,
      loss: status.loss,
      params,
      initialParams,
    };
    const { U, V } = params;
    const { U: U0, V: V0 } = initialParams;
    const out = U && V && U0 && V0 ? { ...base, U, V, U0, V0 } : base;
    return out as RunResult<S>;
  }

  /**
   * Release the session (frees its memory in the wasm heap; on native, drops the reference).
   * The run cannot be used afterwards. Safe to call twice; during an {@link advanceAsync}, the
   * session is released when that call settles.
   */
  dispose(): void {
    const s = this.#session;
    if (!s) return;
    if (this.#busy) {
      this.#disposeRequested = true;
      return;
    }
    this.#session = undefined;
    freeQuietly(s);
  }
}


/**
 * Run a spec to its end (or until `signal` aborts) and return the result. The event loop keeps
 * running during the run: on native, chunks run on the libuv thread pool; on wasm, each chunk
 * (about `chunkMillis` long) runs synchronously and the loop runs between chunks.
 *
 * Cancelling through `signal` resolves with the state reached and `cancelled: true`; it does not
 * reject.
 *
 * @throws {AutobalanceError} (a subclass) when the spec is invalid: nothing is computed then.
 * @throws {BackendLoadError} when the chosen backend cannot be loaded.
 */
export async function train<S extends RunSpec>(spec: S, options: TrainOptions = {}): Promise<RunResult<S>> {
  const o = optionsArg('options', options);
  const onProgress = functionArg<(p: Progress) => void>('options.onProgress', o['onProgress']);
  chunkOptionsArg(options);
  const run = await Run.create(spec, options);
  let last: Status | undefined;
  const streamed: Columns[] = [];
  try {
    for await (const chunk of run.chunks(options)) {
      const s = chunk.status;
      last = s;
      streamed.push(chunk.rows);
      onProgress?.({ step: s.step, steps: s.steps, loss: s.loss, rows: s.rows });
    }
    streamed.length = 0;
    return run.result();
  } catch (e) {
    if (e instanceof AutobalanceError) {
      const partial = partialOf(run, last, streamed);
      if (partial) Object.defineProperty(e, 'partial', { value: partial, enumerable: false, configurable: true, writable: true });
    }
    throw e;
  } finally {
    // Never throws: the error above, if any, is the one reported.
    run.dispose();
  }
}

/**
 * The state a run reached before it failed, attached to the error {@link train} throws (read it
 * with {@link partialResult}).
 */
export interface PartialRunResult extends RunResultBase {
  /**
   * True when the run could still be read after the failure: the columns, parameters and status
   * are the run's own. False when its backend was left unusable (a WebAssembly trap, e.g. the
   * 4 GiB heap filled up): the columns are then the rows streamed before the failure, the status
   * fields are those of the last chunk, and `params`, `initialParams` are empty.
   */
  readable: boolean;
}

/**
 * The state reached by the run whose failure `e` reports, when {@link train} could keep one (the
 * run had started: at least its initial row was recorded); else undefined.
 */
export function partialResult(e: unknown): PartialRunResult | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const p = (e as { partial?: unknown }).partial;
  return typeof p === 'object' && p !== null ? (p as PartialRunResult) : undefined;
}

function partialOf(run: Run, last: Status | undefined, streamed: readonly Columns[]): PartialRunResult | undefined {
  try {
    return { ...run.result(), readable: true };
  } catch {
    // the run cannot be read any more: fall back on what was streamed
  }
  if (!last) return undefined;
  const columns: Columns = {};
  let rows = 0;
  for (const name of run.columnNames) {
    const parts = streamed.map((c) => c[name] ?? new Float64Array(0));
    const all = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    columns[name] = all;
    rows = all.length;
  }
  return {
    backend: run.backend,
    columnNames: run.columnNames.slice(),
    columnRoles: { ...run.columnRoles },
    columns,
    rows,
    step: last.step,
    steps: last.steps,
    finished: false,
    cancelled: false,
    divergedAt: last.divergedAt,
    stop: last.stop,
    stoppedAt: last.stoppedAt,
    reason: last.reason,
    loss: last.loss,
    params: {},
    initialParams: {},
    readable: false,
  };
}
