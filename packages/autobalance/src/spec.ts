/**
 * The description of a run, mirroring the core's `spec.rs` (camelCase JSON), and its encoding
 * into what the bindings take: a small JSON string plus named `Float64Array` buffers.
 *
 * The parts every run shares (schedule, method, curvature, steps) are here; each model family's
 * own types are in one file under `families/` (the model, its problem data, its initialization
 * and its run spec, which extends {@link RunCommon}), and {@link RunSpec} is their union. A new
 * family adds one file there, one line to `RunSpec` and one re-export below.
 *
 * @module
 */

import { InvalidSpecError } from './errors.js';
import type { MatrixFactorizationRunSpec } from './families/matrixFactorization.js';
import type { NetworkRunSpec } from './families/network.js';
import { splitMatrixInput } from './matrix.js';

export * from './families/matrixFactorization.js';
export * from './families/network.js';

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
      /** Tolerance of the fixed-point solve. Default 1e-14. */
      tol?: number;
      /** Most fixed-point iterations per step. Default 100. */
      maxIter?: number;
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
  /** Record the Hessian's extreme eigenvalues along the run (both model families). */
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
export type RunSpec = MatrixFactorizationRunSpec | NetworkRunSpec;

/** A spec as the bindings take it: JSON text plus buffers named by spec path. */
export interface EncodedSpec {
  /** The spec as JSON, each explicit matrix replaced by its shape `{rows, cols}`. */
  json: string;
  /** Row-major data of the explicit matrices, keyed `target.matrix`, `init.u0`, `init.v0`. */
  buffers: Record<string, Float64Array>;
}

/** The spec paths of the matrices that travel as buffers. */
export const MATRIX_PATHS = ['target.matrix', 'init.u0', 'init.v0'] as const;

/** A vector or matrix input as flat row-major data. */
function flat(x: unknown, field: string): Float64Array {
  if (x instanceof Float64Array) return x;
  if (Array.isArray(x) && x.every((v) => typeof v === 'number')) return Float64Array.from(x as number[]);
  return splitMatrixInput(x, field).data;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Encode a spec for the bindings. Explicit matrices (`target.matrix`, `init.u0`, `init.v0`) are
 * moved into buffers and replaced by their shape; everything else is passed through unchanged,
 * so that the core validates it (and both backends report the same errors).
 *
 * Accepts `unknown` so that a spec read from a JSON file can be passed as is.
 *
 * @throws {ShapeMismatchError} for a ragged `number[][]` (naming the field).
 * @throws {InvalidSpecError} for a matrix that cannot be converted, or a spec that is not an object.
 */
export function encodeSpec(spec: unknown): EncodedSpec {
  if (!isRecord(spec)) {
    throw new InvalidSpecError('', 'expected the spec to be an object');
  }
  const buffers: Record<string, Float64Array> = {};
  const out: Record<string, unknown> = { ...spec };
  const target = spec['target'];
  if (isRecord(target) && target['kind'] === 'explicit' && target['matrix'] !== undefined) {
    const { shape, data } = splitMatrixInput(target['matrix'], 'target.matrix');
    out['target'] = { ...target, matrix: shape };
    buffers['target.matrix'] = data;
  }
  const init = spec['init'];
  if (isRecord(init) && init['kind'] === 'explicit') {
    const copy: Record<string, unknown> = { ...init };
    for (const key of ['u0', 'v0'] as const) {
      if (init[key] !== undefined) {
        const { shape, data } = splitMatrixInput(init[key], `init.${key}`);
        copy[key] = shape;
        buffers[`init.${key}`] = data;
      }
    }
    out['init'] = copy;
  }
  const data = spec['data'];
  if (isRecord(data) && data['kind'] === 'explicit') {
    const copy: Record<string, unknown> = { ...data };
    for (const key of ['x', 'y'] as const) {
      if (data[key] !== undefined) {
        const { shape, data: d } = splitMatrixInput(data[key], `data.${key}`);
        copy[key] = shape;
        buffers[`data.${key}`] = d;
      }
    }
    out['data'] = copy;
  }
  const model = spec['model'];
  if (isRecord(model) && Array.isArray(model['layers'])) {
    out['model'] = {
      ...model,
      layers: model['layers'].map((layer: unknown, i: number) => {
        if (!isRecord(layer) || layer['pattern'] === undefined) return layer;
        const { shape, data: d } = splitMatrixInput(layer['pattern'], `model.layers[${i}].pattern`);
        buffers[`model.layers[${i}].pattern`] = d;
        return { ...layer, pattern: shape };
      }),
    };
    if (isRecord(init) && init['kind'] === 'explicit') {
      // Network weights travel as buffers init.w1.., init.b1..; the core knows their shapes.
      const { weights, biases, ...rest } = init;
      if (Array.isArray(weights)) {
        weights.forEach((w: unknown, h: number) => {
          buffers[`init.w${h + 1}`] = flat(w, `init.weights[${h}]`);
        });
      }
      if (Array.isArray(biases)) {
        biases.forEach((b: unknown, h: number) => {
          if (b !== null && b !== undefined) buffers[`init.b${h + 1}`] = flat(b, `init.biases[${h}]`);
        });
      }
      out['init'] = rest;
    }
  }
  return { json: JSON.stringify(out), buffers };
}
