/**
 * Backends: the two bindings of the Rust core (N-API addon, WebAssembly module) behind one
 * interface. This module is platform-neutral; how a backend is found and loaded in Node lives in
 * `select.ts` and `node-files.ts`. In a browser (or a Web Worker), load the wasm-bindgen module
 * yourself and wrap it with {@link wasmBackend}.
 *
 * @module
 */

import { InvalidRequestError, guard } from './errors.js';
import { checkBackend, describeValue } from './args.js';
import type { ColumnRole } from './columns.js';

/** The name of a backend. */
export type BackendName = 'native' | 'wasm';

/** The names of the backends, in order of preference. */
export const BACKEND_NAMES: readonly BackendName[] = ['native', 'wasm'];

/**
 * A session object of a binding (`NativeSession` or `WasmSession`), as documented in
 * docs/ARCHITECTURE.md ("The binding surface"). Methods throw `AUTOBALANCE_ERROR:{json}` errors.
 */
export interface BindingSession {
  /** Take up to `maxSteps` steps synchronously; returns the `Status` JSON. */
  advance(maxSteps: number): string;
  /** napi only: the same, with the chunk run on the libuv thread pool. */
  advanceAsync?(maxSteps: number): Promise<string>;
  /** The `Status` JSON. */
  status(): string;
  /** Names of the recorded columns. */
  columnNames(): string[];
  /**
   * The role of each recorded column, parallel to {@link BindingSession.columnNames} (`step`,
   * `stepSize`, `time`, `loss`, `norm`, `ratio`, `invariant`, `drift`, `residual`, `gradNorm`,
   * `curvature`, `solver`, `other`; see {@link ColumnRole}).
   */
  columnRoles(): string[];
  /** Rows `start..` of a recorded column (a copy). */
  column(name: string, start: number): Float64Array;
  /** A matrix of the run, row-major (a copy). */
  matrix(name: string): Float64Array;
  /** `[rows, cols]` of a matrix of the run. */
  matrixShape(name: string): ArrayLike<number>;
  /** Names of the parameter blocks; `matrix(name + '_0')` is the initial value. */
  paramNames(): string[];
  /** A curvature query at the current point (JSON in, JSON report out). */
  hessian(queryJson: string): string;
  /** napi only: the same, on the libuv thread pool. */
  hessianAsync?(queryJson: string): Promise<string>;
  /** Validate a curvature query at the current point and keep it, to be advanced in chunks. */
  hessianStart(queryJson: string): void;
  /** Up to `maxUnits` units of the started query (Lanczos steps, probes): `QueryStatus` JSON. */
  hessianAdvance(maxUnits: number): string;
  /** napi only: the same, on the libuv thread pool. */
  hessianAdvanceAsync?(maxUnits: number): Promise<string>;
  /** The JSON report of the started query, once finished. */
  hessianReport(): string;
  /** Drop the started query. */
  hessianCancel(): void;
  /** wasm-bindgen only: release the memory of the session in the wasm heap. */
  free?(): void;
}

/** A session class of a binding: `new (spec, buffers)`. */
export type BindingSessionClass = new (spec: string, buffers: Record<string, Float64Array>) => BindingSession;

/**
 * A study object of a binding (`NativeStudy` or `WasmStudy`): a computation that is not one run,
 * advanced in units of work (docs/studies.md). Methods throw `AUTOBALANCE_ERROR:{json}` errors.
 */
export interface BindingStudy {
  /** Do up to `maxUnits` units of work synchronously; returns the `StudyStatus` JSON. */
  advance(maxUnits: number): string;
  /** napi only: the same, with the chunk run on the libuv thread pool. */
  advanceAsync?(maxUnits: number): Promise<string>;
  /** The `StudyStatus` JSON (`{done, total, rows, finished}`). */
  status(): string;
  /** The JSON result so far (its format depends on the study's kind). */
  result(): string;
  /** Names of the result columns. */
  columnNames(): string[];
  /** Rows `start..` of a result column (a copy). */
  column(name: string, start: number): Float64Array;
  /**
   * The records finished since the last call, as JSON Lines ("" when none): a sweep's rows
   * (docs/sweeps.md). The study keeps none it has handed out. Absent from older builds.
   */
  takeRecords?(): string;
  /** wasm-bindgen only: release the memory of the study in the wasm heap. */
  free?(): void;
}

/** A study class of a binding: `new (spec, buffers)`. */
export type BindingStudyClass = new (spec: string, buffers: Record<string, Float64Array>) => BindingStudy;

/** The functions both bindings export. */
export interface BindingFunctions {
  /** Version of the core crate. */
  coreVersion(): string;
  /** JSON `[{name, description}]`. */
  presetList(): string;
  /** JSON `{name, description, runs, plots, reference}`; throws for an unknown name. */
  presetSpec(name: string): string;
  /** JSON `[{kind, fields, queries, examples: [{name, spec}]}]` (absent from older builds). */
  familyList?(): string;
  /** A sweep's plan JSON; validates the whole sweep (absent from older builds). */
  sweepPlan?(spec: string, buffers: Record<string, Float64Array>): string;
  /** One run of a sweep as JSON: place, seeds, values, hash, concrete spec (absent from older builds). */
  sweepTask?(spec: string, buffers: Record<string, Float64Array>, run: number): string;
  /** One setting's rows (JSON Lines) reduced to its table row JSON (absent from older builds). */
  sweepReduce?(spec: string, rows: string): string;
}

/** The exports of the N-API addon (`native/autobalance.node`). */
export interface NativeModule extends BindingFunctions {
  /** The session class of the addon. */
  NativeSession: BindingSessionClass;
  /** The study class of the addon (absent from addons built before studies existed). */
  NativeStudy?: BindingStudyClass;
}

/** The exports of the wasm-bindgen module (`wasm/autobalance_wasm.js`), once initialized. */
export interface WasmModule extends BindingFunctions {
  /** The session class of the wasm module. */
  WasmSession: BindingSessionClass;
  /** The study class of the wasm module (absent from modules built before studies existed). */
  WasmStudy?: BindingStudyClass;
}

/** A loaded backend: one binding of the core behind a uniform interface. */
export interface Backend {
  /** Which binding this is. */
  readonly name: BackendName;
  /** Version of the Rust core compiled into the binding. */
  readonly coreVersion: string;
  /** Create a session (throws the binding's raw errors; {@link Run} converts them). */
  createSession(spec: string, buffers: Record<string, Float64Array>): BindingSession;
  /**
   * Create a study (throws the binding's raw errors; the `Study` class of `autobalance` converts
   * them). Throws {@link InvalidRequestError} when the binding was built without the study entry.
   */
  createStudy(spec: string, buffers: Record<string, Float64Array>): BindingStudy;
  /** JSON list of presets, `[{name, description}]`. */
  presetList(): string;
  /** JSON of one preset, `{name, description, runs, plots, reference}`. */
  presetSpec(name: string): string;
  /**
   * The registered model families of the core, with small example specs of each (the specs the
   * conformance suites run): `[{kind, fields, queries, examples: [{name, spec}]}]` as JSON.
   * Throws {@link InvalidRequestError} when the binding was built before the family registry.
   */
  familyList(): string;
  /**
   * Validate a sweep spec (every setting built once) and return its plan as JSON (docs/sweeps.md):
   * `{runs, settings, seedsPerSetting, axes, seedPaths, seedBase, kept, classes, quantiles,
   * confidence, hash}`. Throws the binding's raw errors.
   */
  sweepPlan(spec: string, buffers: Record<string, Float64Array>): string;
  /**
   * One run of a sweep as JSON: `{run, setting, seedIndex, values, seeds, specHash, spec}` (the
   * concrete run spec). The settings are not built. Throws the binding's raw errors.
   */
  sweepTask(spec: string, buffers: Record<string, Float64Array>, run: number): string;
  /**
   * Reduce the rows of ONE setting (JSON Lines, as `takeRecords` gives them) to that setting's
   * table row as JSON: `{setting, values, runs, stops, kept, classes}`. Only the spec's structure
   * is checked. Throws the binding's raw errors.
   */
  sweepReduce(spec: string, rows: string): string;
}

function hasFunctions(mod: unknown, names: readonly string[]): boolean {
  if ((typeof mod !== 'object' && typeof mod !== 'function') || mod === null) return false;
  const m = mod as Record<string, unknown>;
  return names.every((n) => typeof m[n] === 'function');
}

function makeBackend(name: BackendName, Session: BindingSessionClass, fns: BindingFunctions, StudyClass: unknown): Backend {
  const coreVersion = guard(() => fns.coreVersion());
  return {
    name,
    coreVersion,
    createSession: (spec, buffers) => new Session(spec, buffers),
    createStudy: (spec, buffers) => {
      if (typeof StudyClass !== 'function') {
        throw new InvalidRequestError('backend', `the ${name} backend was built without the study entry: rebuild it (pnpm build)`);
      }
      return new (StudyClass as BindingStudyClass)(spec, buffers);
    },
    presetList: () => fns.presetList(),
    presetSpec: (n) => fns.presetSpec(n),
    familyList: () => {
      if (typeof fns.familyList !== 'function') {
        throw new InvalidRequestError('backend', `the ${name} backend was built without the family registry: rebuild it (pnpm build)`);
      }
      return fns.familyList();
    },
    sweepPlan: (spec, buffers) => sweepFn(name, fns.sweepPlan)(spec, buffers),
    sweepTask: (spec, buffers, run) => sweepFn(name, fns.sweepTask)(spec, buffers, run),
    sweepReduce: (spec, rows) => sweepFn(name, fns.sweepReduce)(spec, rows),
  };
}

/** A sweep function of a binding, or an error saying the binding is too old. */
function sweepFn<F>(name: BackendName, f: F | undefined): F {
  if (typeof f !== 'function') {
    throw new InvalidRequestError('backend', `the ${name} backend was built without sweeps: rebuild it (pnpm build)`);
  }
  return f;
}

const FUNCTIONS = ['coreVersion', 'presetList', 'presetSpec'] as const;

/**
 * Wrap the exports of the N-API addon as a {@link Backend}.
 *
 * @throws {InvalidRequestError} when `mod` does not have the binding surface.
 */
export function nativeBackend(mod: unknown): Backend {
  if (!hasFunctions(mod, ['NativeSession', ...FUNCTIONS])) {
    throw new InvalidRequestError('backend', 'the native addon does not export NativeSession, coreVersion, presetList, presetSpec');
  }
  const m = mod as NativeModule;
  return makeBackend('native', m.NativeSession, m, m.NativeStudy);
}

/**
 * Wrap the exports of the wasm-bindgen module as a {@link Backend}. The module must already be
 * initialized (`initSync` or the default async `init` of the generated glue).
 *
 * @throws {InvalidRequestError} when `mod` does not have the binding surface.
 */
export function wasmBackend(mod: unknown): Backend {
  if (!hasFunctions(mod, ['WasmSession', ...FUNCTIONS])) {
    throw new InvalidRequestError('backend', 'the wasm module does not export WasmSession, coreVersion, presetList, presetSpec');
  }
  const m = mod as WasmModule;
  return makeBackend('wasm', m.WasmSession, m, m.WasmStudy);
}

/** How to pick a backend: by name, or a {@link Backend} object loaded by the caller. */
export type BackendChoice = BackendName | Backend;

/** Finds a backend by name (or the default one when `name` is undefined). */
export type BackendLoader = (name?: BackendName) => Promise<Backend>;

let loader: BackendLoader | undefined;

/**
 * Install the function that resolves backend names. The Node entry point (`autobalance`) installs
 * one that loads the addon or the wasm module from the package; the portable entry
 * (`autobalance/portable`) has none, so pass {@link Backend} objects there (or register your own).
 */
export function registerBackendLoader(f: BackendLoader): void {
  if (typeof f !== 'function') throw new InvalidRequestError('loader', `expected a function, got ${describeValue(f)}`);
  loader = f;
}

/**
 * Resolve a backend choice: a {@link Backend} object is returned as is; a name (or nothing, for
 * the default) goes to the registered loader.
 *
 * @throws {InvalidRequestError} for an unknown name, or when no loader is registered.
 * @throws {BackendLoadError} when the backend cannot be loaded.
 */
export async function resolveBackend(choice?: BackendChoice): Promise<Backend> {
  if (typeof choice === 'object' && choice !== null) {
    checkBackend(choice);
    return choice;
  }
  if (choice !== undefined && !BACKEND_NAMES.includes(choice)) {
    throw new InvalidRequestError('backend', `expected "native", "wasm" or a Backend, got ${describeValue(choice)}`);
  }
  if (!loader) {
    throw new InvalidRequestError(
      'backend',
      'no backend loader is registered: import "autobalance" (Node) or pass a Backend object (see wasmBackend)',
    );
  }
  return loader(choice);
}
