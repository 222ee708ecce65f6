/**
 * The description of a run, mirroring the core's `spec.rs` (camelCase JSON), and its encoding
 * into what the bindings take: a small JSON string plus named `Float64Array` buffers.
 *
 * The parts every run shares (schedule, method, curvature, steps) are here; each model family's
 * own types are in one file under `families/` (the model, its problem data, its initialization
 * and its run spec, which extends {@link RunCommon}), with the little `encodeSpec` needs to know
 * of it (a `FamilyEncoding`: the fields that must hold a matrix, and any buffer name that is not
 * a spec path), and {@link RunSpec} is their union. A new family adds one file there, one line to
 * the registry `families/index.ts`, one to `RunSpec` and one re-export below. Its matrices need
 * no code: every matrix input at any path of the spec becomes a buffer named by that path (see
 * {@link encodeSpec}).
 *
 * @module
 */

import { AutobalanceError, InvalidSpecError, NonFiniteError } from './errors.js';
import type { ConvFilterRunSpec } from './families/convFilter.js';
import { FAMILIES } from './families/index.js';
import type { ContinuousLinearRunSpec } from './families/continuousLinear.js';
import type { DeepSmoothRunSpec } from './families/deepSmooth.js';
import type { MatrixFactorizationRunSpec } from './families/matrixFactorization.js';
import type { NetworkRunSpec } from './families/network.js';
import type { OctopusRunSpec } from './families/octopus.js';
import type { TwoLayerReluRunSpec } from './families/twoLayerRelu.js';
import type { WeightNormCnnRunSpec } from './families/weightNormCnn.js';
import { splitMatrixInput } from './matrix.js';

export type * from './families/continuousLinear.js';
export type * from './families/matrixFactorization.js';
export type * from './families/network.js';
export type * from './families/octopus.js';
export type * from './families/weightNormCnn.js';
export type * from './families/convFilter.js';
export type * from './families/deepSmooth.js';
export type * from './families/twoLayerRelu.js';

/** eta_t = eta (eta > 0). */
export interface ConstantSchedule {
  /** The schedule kind. */
  kind: 'constant';
  /** The step size eta > 0. */
  eta: number;
}

/** eta_t = c (t+1)^-(1/2+delta), with c > 0 and 0 < delta <= 1/2. */
export interface InversePowerSchedule {
  /** The schedule kind. */
  kind: 'inversePower';
  /** The scale c > 0. */
  c: number;
  /** The exponent offset delta, 0 < delta <= 1/2. */
  delta: number;
}

/** Theorem 3.1 of Du, Hu & Lee: eta_t = sqrt(eps/r) / (100 (t+1) ||M*||_F^1.5), eps > 0. */
export interface Theorem31Schedule {
  /** The schedule kind. */
  kind: 'theorem31';
  /** The target accuracy eps > 0. */
  eps: number;
}

/** The step-size schedule of gradient descent. */
export type ScheduleSpec = ConstantSchedule | InversePowerSchedule | Theorem31Schedule;

/**
 * The update rule. First-order methods take their step size from `schedule`; the gradient-flow
 * integrators use it as their step h (Dormand-Prince as its first trial step). Default `gd`.
 */
export type MethodSpec =
  | {
      /** Gradient descent: w <- w - eta g. */
      kind: 'gd';
    }
  | {
      /** Heavy ball: v <- beta v + g; w <- w - eta v. */
      kind: 'momentum';
      /** The momentum coefficient. */
      beta: number;
    }
  | {
      /** Nesterov: v <- beta v + g(w - eta beta v); w <- w - eta v. */
      kind: 'nesterov';
      /** The momentum coefficient. */
      beta: number;
    }
  | {
      /** Bias-corrected Adam (weight decay coupled, not AdamW). */
      kind: 'adam';
      /** First-moment decay. Default 0.9. */
      beta1?: number;
      /** Second-moment decay. Default 0.999. */
      beta2?: number;
      /** Denominator offset. Default 1e-8. */
      eps?: number;
    }
  | {
      /** Mini-batch SGD (networks only). */
      kind: 'sgd';
      /** Samples per batch; batches without replacement, a last partial batch is dropped. */
      batchSize: number;
      /** Seed of the shuffle (one per epoch). */
      seed: number;
    }
  | {
      /** Explicit Euler on dw/dt = -g (the GD iterates, reported with flow time). */
      kind: 'euler';
    }
  | {
      /** Classical Runge-Kutta 4 on the gradient flow. */
      kind: 'rk4';
    }
  | {
      /** Adaptive Dormand-Prince 5(4) on the gradient flow; one step is one accepted step. */
      kind: 'dopri5';
      /** Relative error tolerance. Default 1e-6. */
      rtol?: number;
      /** Absolute error tolerance. Default 1e-9. */
      atol?: number;
    }
  | {
      /** Conserves every quadratic invariant up to `tol` (fixed-point solve, at most `maxIter` evaluations). */
      kind: 'implicitMidpoint';
      /**
       * Tolerance of the implicit solve: it ends when h max_i |grad F(mid)_i - k_i| <= tol (1 +
       * max|w|). Default 1e-14. A tolerance below the rounding level cannot be reached: the run
       * then stops with `stop: 'solverFailed'`.
       */
      tol?: number;
      /**
       * Most gradient evaluations per step (fixed-point start, then Newton), 1 to 1000. Default
       * 100. A solve that does not converge stops the run with `stop: 'solverFailed'`.
       */
      maxIter?: number;
    }
  | {
      /**
       * Perturbed gradient descent (Algorithm 2 of Du's thesis, Jin et al. 2017). With t_noise =
       * -tThres - 1 at the start, the step from iterate t (t = 0 is the initial point) first checks
       * ||grad F(x_t)|| <= gThres and t - t_noise > tThres; if both hold, it adds xi, uniform in the
       * ball of radius `radius` in the full parameter dimension n (xi = radius U^(1/n) g/||g||, g
       * standard normal, U uniform, from a stream seeded by `seed`: the same bits on both
       * backends), sets t_noise = t and re-evaluates the gradient at the perturbed point; then
       * x_{t+1} = x_t - eta_t grad F(x_t). F includes weight decay. At most one perturbation per
       * tThres + 1 steps. Columns (role `solver`): `perturbed` (1 when the step into this row's
       * iterate perturbed, else 0) and `perturbations` (the count so far). Every model family.
       */
      kind: 'perturbedGd';
      /** Gradient threshold g_thres >= 0 (a finite number). */
      gThres: number;
      /** Steps t_thres that must pass between perturbations: an integer in 0..=2^53. */
      tThres: number;
      /** Radius r >= 0 (finite) of the ball the noise is uniform in. */
      radius: number;
      /** Seed of the noise stream: an integer in 0..=2^53. */
      seed: number;
    };

/** Options shared by every run, whatever its model family; a family's run spec extends it. */
export interface RunCommon {
  /** The step size eta_t (the step h of the gradient-flow integrators). */
  schedule: ScheduleSpec;
  /** Number of steps (a non-negative integer). */
  steps: number;
  /** Record the metrics every this many steps (and at the last step). Default 1. */
  recordEvery?: number;
  /** Update rule; default plain gradient descent. */
  method?: MethodSpec;
  /** L2 weight decay lambda: the dynamics see grad L + lambda w. Default 0. */
  weightDecay?: number;
  /** Record the Hessian's extreme eigenvalues along the run (every model family). */
  curvature?: CurvatureSpec;
}

/**
 * Curvature along a run: columns `lambdaMin`, `lambdaMax`, `lambdaMinResidual`,
 * `lambdaMaxResidual` (Lanczos on exact Hessian-vector products, warm-started from the previous
 * sample) at every recorded step that is a multiple of `every` and at the last step; NaN on other
 * rows.
 */
export interface CurvatureSpec {
  /** Sample every this many steps (a multiple of `recordEvery`). */
  every: number;
  /** Relative residual tolerance of the Lanczos solves, in (0, 0.5]. Default 1e-6. */
  tol?: number;
  /** Lanczos steps per sample. Default 300. */
  maxIter?: number;
  /** Seed of the first start vector. Default 0. */
  seed?: number;
}

/** Any run: the union of the families' run specs (one file per family under `families/`). */
export type RunSpec = MatrixFactorizationRunSpec | NetworkRunSpec | OctopusRunSpec | WeightNormCnnRunSpec | ConvFilterRunSpec | ContinuousLinearRunSpec | DeepSmoothRunSpec | TwoLayerReluRunSpec;

/** A spec as the bindings take it: JSON text plus buffers named by spec path. */
export interface EncodedSpec {
  /** The spec as JSON, each matrix input replaced by its shape `{rows, cols}`. */
  json: string;
  /**
   * Row-major data of the matrix inputs, keyed by spec path in the core's notation
   * (`target.matrix`, `init.u0`, `data.x`, `model.layers[2].pattern`); a network's explicit
   * initial weights as `init.w1..`, `init.b1..`.
   */
  buffers: Record<string, Float64Array>;
}

/**
 * The spec paths of the matrix-factorization matrices that travel as buffers.
 *
 * @deprecated {@link encodeSpec} no longer works from a list of paths: every matrix input at any
 * path becomes a buffer named by that path. This constant is kept for compatibility only.
 */
export const MATRIX_PATHS = ['target.matrix', 'init.u0', 'init.v0'] as const;

/** A plain object (not null, not an array). @internal */
export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Whether `encodeSpec` takes `x` for a matrix input (the forms `splitMatrixInput` converts):
 * - an array of rows: an array with an array among its elements, unless one of those is itself
 *   an array of arrays (then `x` is a list whose elements are looked at one by one);
 * - `{rows, cols, data}` (a {@link Matrix} or its JSON form): an object with a `data` field that
 *   is an array or a typed array, or with `rows`, `cols` and `data` fields whatever `data` holds
 *   (a bad `data` is then an error naming the field, not a value passed through).
 */
function isMatrixInput(x: object): boolean {
  if (Array.isArray(x)) {
    return x.some((r) => Array.isArray(r)) && !x.some((r) => Array.isArray(r) && r.some((e: unknown) => Array.isArray(e)));
  }
  if (ArrayBuffer.isView(x) || !('data' in x)) return false;
  const data = (x as { data: unknown }).data;
  return Array.isArray(data) || ArrayBuffer.isView(data) || ('rows' in x && 'cols' in x);
}

/**
 * Deepest nesting of arrays and objects in a spec or a query: the core's bound (`MAX_DEPTH` in
 * crates/core/src/spec.rs), checked here before anything is serialized.
 */
export const MAX_DEPTH = 64;

/** A value's kind for messages. */
function kindOf(x: unknown): string {
  if (typeof x === 'bigint') return 'a BigInt';
  if (typeof x === 'function') return 'a function';
  if (typeof x === 'symbol') return 'a symbol';
  return `a value of type ${typeof x}`;
}

/**
 * What `JSON.stringify` would lose or throw on, found at `path` (the core's notation, `root` for
 * the root): a non-finite number (`NaN`, `±Infinity`, written as `null`) is a
 * {@link NonFiniteError}; a BigInt, a function or a symbol, `undefined` in an array (written as
 * `null`), a cycle, or nesting deeper than {@link MAX_DEPTH} is an {@link InvalidSpecError}.
 * Returns whether `x` is an object to walk into.
 */
function checkScalar(x: unknown, path: string, root: string, depth: number, ancestors: Set<object>): x is object {
  const at = path === '' ? root : path;
  if (typeof x === 'number') {
    if (!Number.isFinite(x)) throw new NonFiniteError(at, `expected a finite number, got ${String(x)}`);
    return false;
  }
  if (typeof x === 'bigint' || typeof x === 'function' || typeof x === 'symbol') {
    throw new InvalidSpecError(at, `expected a JSON value (number, string, boolean, array or object), got ${kindOf(x)}`);
  }
  if (typeof x !== 'object' || x === null) return false;
  if (ancestors.has(x)) throw new InvalidSpecError(at, 'the value contains itself (a cyclic reference)');
  if (depth > MAX_DEPTH) throw new InvalidSpecError(at, `nested deeper than ${MAX_DEPTH} levels`);
  return !ArrayBuffer.isView(x);
}

/**
 * Check every value of `x` that `JSON.stringify` would write (see {@link checkScalar}), without
 * recursion (a value nested 100,000 deep is an error, not a stack overflow). Paths are
 * `prefix` + the core's notation (`query.k`); the root itself is `root`.
 */
function checkJson(x: unknown, prefix: string, root: string, matrixFields?: ReadonlySet<string>): void {
  const stack: { x: unknown; path: string; depth: number; exit?: object }[] = [{ x, path: '', depth: 0 }];
  const ancestors = new Set<object>();
  while (stack.length > 0) {
    const top = stack.pop()!;
    if (top.exit) {
      ancestors.delete(top.exit);
      continue;
    }
    const name = top.path === '' ? '' : prefix + top.path;
    let v = top.x;
    if (typeof v === 'object' && v !== null && typeof (v as { toJSON?: unknown }).toJSON === 'function') {
      try {
        v = (v as { toJSON: (k: string) => unknown }).toJSON('');
      } catch (e) {
        throw new InvalidSpecError(name || root, `its toJSON() threw: ${String(e)}`, { cause: e });
      }
    }
    if (!checkScalar(v, name, root, top.depth, ancestors)) continue;
    const obj = v;
    // A matrix input's entries travel in a buffer: the core names a bad entry by row and column.
    if (matrixFields && top.path !== '' && (matrixFields.has(top.path.replace(/\[\d+\]/g, '[]')) || isMatrixInput(obj))) {
      continue;
    }
    ancestors.add(obj);
    stack.push({ x: undefined, path: top.path, depth: top.depth, exit: obj });
    if (Array.isArray(obj)) {
      for (let i = obj.length - 1; i >= 0; i--) {
        const e: unknown = obj[i];
        const p = fieldPath(top.path, i);
        if (e === undefined) throw new InvalidSpecError(prefix + p, 'expected a value, got undefined (written as null)');
        stack.push({ x: e, path: p, depth: top.depth + 1 });
      }
    } else {
      const entries = Object.entries(obj);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, e] = entries[i]!;
        if (e === undefined) continue; // an absent field
        stack.push({ x: e, path: fieldPath(top.path, k), depth: top.depth + 1 });
      }
    }
  }
}

/**
 * JSON text of a value the core parses (a curvature query, a study spec), checked first: a
 * non-finite number is a {@link NonFiniteError} naming its path (`query.tol`), a BigInt, a
 * function, a cycle or too deep a nesting an {@link InvalidSpecError}, so that nothing is silently
 * written as `null` (then taken for a default) and nothing escapes as a `TypeError` or
 * `RangeError`. `root` names the value itself (`query`), its fields are `root.field`.
 *
 * @internal
 */
export function encodeJson(value: unknown, root: string): string {
  checkJson(value, root === '' ? '' : `${root}.`, root);
  try {
    return JSON.stringify(value);
  } catch (e) {
    throw new InvalidSpecError(root, `cannot be written as JSON: ${String(e)}`, { cause: e });
  }
}

/** Path of a field in the core's notation: `a.b[2].c`. */
function fieldPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent === '' ? key : `${parent}.${key}`;
}

/**
 * `x` (at `path`) with every matrix input in it replaced by its shape, its data put in `buffers`
 * under its path. At a field of `matrixFields` (paths with `[]` for any index) the value must be
 * a matrix input. Copy on write: a value with no matrix input in it is returned as is (the same
 * object), so that its JSON is exactly what it was.
 */
function encodeValue(
  x: unknown,
  path: string,
  buffers: Record<string, Float64Array>,
  matrixFields: ReadonlySet<string>,
  ancestors: Set<object>,
): unknown {
  if (x === undefined) return x;
  const declared = matrixFields.size > 0 && matrixFields.has(path.replace(/\[\d+\]/g, '[]'));
  if (!declared && (typeof x !== 'object' || x === null)) return x;
  if (declared || (path !== '' && isMatrixInput(x as object))) {
    const { shape, data } = splitMatrixInput(x, path);
    if (Object.hasOwn(buffers, path)) {
      throw new InvalidSpecError(path, `two matrices in the spec would travel as the buffer ${path}`);
    }
    buffers[path] = data;
    return shape;
  }
  // Typed arrays, objects with their own JSON form, and cycles (JSON.stringify reports those)
  // are left to JSON.stringify.
  if (typeof x !== 'object' || x === null) return x;
  if (ArrayBuffer.isView(x) || typeof (x as { toJSON?: unknown }).toJSON === 'function' || ancestors.has(x)) return x;
  ancestors.add(x);
  try {
    if (Array.isArray(x)) {
      let changed = false;
      const out = x.map((v: unknown, i: number) => {
        const e = encodeValue(v, fieldPath(path, i), buffers, matrixFields, ancestors);
        if (e !== v) changed = true;
        return e;
      });
      return changed ? out : x;
    }
    let out: Record<string, unknown> | undefined;
    for (const [k, v] of Object.entries(x)) {
      const e = encodeValue(v, fieldPath(path, k), buffers, matrixFields, ancestors);
      if (e !== v) {
        out ??= { ...(x as Record<string, unknown>) };
        out[k] = e;
      }
    }
    return out ?? x;
  } finally {
    ancestors.delete(x);
  }
}

/**
 * Encode a spec for the bindings. Every matrix input, at any path of the spec (`target.matrix`,
 * `init.u0`, `data.x`, `model.layers[2].pattern`, or a path a new model family introduces), is
 * moved into a buffer named by its path in the core's notation (`a.b[2].c`) and replaced in the
 * JSON by its shape `{rows, cols}`. A matrix input is an array of rows (`number[][]`: a list with
 * a list among its elements), a {@link Matrix}, or `{rows, cols, data}` with `data` a `number[]`;
 * other values (numbers, number lists such as `singularValues`, `[]`, strings, objects) are
 * passed through unchanged, so that the core validates them (and both backends report the same
 * errors), except at a field the family declares as a matrix (`target.matrix`, `init.u0`,
 * `init.v0`, `data.x`, `data.y`, `model.layers[i].pattern`): there the value must be a matrix
 * (`[]` is 0 x 0), else it is an error naming the field. The one buffer name that is not a spec
 * path is a family convention: a network's explicit initial weights travel as `init.w1..` and
 * `init.b1..`.
 *
 * Accepts `unknown` so that a spec read from a JSON file can be passed as is.
 *
 * @throws {ShapeMismatchError} for a ragged `number[][]` (naming the field).
 * @throws {InvalidSpecError} for a matrix that cannot be converted (a non-number entry, a bad
 * `data`, a value that is not a matrix at a matrix field), or a spec that is not an object.
 */
export function encodeSpec(spec: unknown): EncodedSpec {
  if (!isRecord(spec)) {
    throw new InvalidSpecError('', 'expected the spec to be an object');
  }
  const buffers: Record<string, Float64Array> = {};
  const model = spec['model'];
  const kind = isRecord(model) ? model['kind'] : undefined;
  const family = typeof kind === 'string' ? FAMILIES.get(kind) : undefined;
  const own = family?.encode ? family.encode(spec, buffers) : spec;
  // Before the walk (which recurses): cycles, depth, non-finite numbers, BigInts, functions.
  // Matrix inputs are checked too: a non-finite entry is an error naming its row and column.
  checkJson(own, '', '', new Set(family?.matrixFields));
  const out = encodeValue(own, '', buffers, new Set(family?.matrixFields), new Set());
  return { json: encodeJson(out, ''), buffers };
}

/**
 * Encode a spec that holds a run spec at `key` (a study's `run`, a sweep's `base`): the run's
 * explicit matrices move into buffers named `<key>.<path>` (see {@link encodeSpec}), its errors
 * name `<key>.<field>`, and everything else is passed through (checked for what JSON would lose).
 * When `spec[key]` is not an object the spec is passed through for the core to refuse.
 *
 * @internal
 */
export function encodeWithRunAt(spec: Record<string, unknown>, key: string): { json: string; buffers: Record<string, Float64Array> } {
  const run = spec[key];
  if (!isRecord(run)) return { json: encodeJson(spec, ''), buffers: {} };
  let encoded;
  try {
    encoded = encodeSpec(run);
  } catch (e) {
    if (!(e instanceof AutobalanceError)) throw e;
    const Cls = e.constructor as new (field: string, detail: string, options?: { cause?: unknown }) => AutobalanceError;
    throw new Cls(e.field ? `${key}.${e.field}` : key, e.detail, { cause: e });
  }
  const buffers: Record<string, Float64Array> = {};
  for (const [k, v] of Object.entries(encoded.buffers)) buffers[`${key}.${k}`] = v;
  return { json: encodeJson({ ...spec, [key]: JSON.parse(encoded.json) as unknown }, ''), buffers };
}
