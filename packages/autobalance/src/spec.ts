/**
 * The description of a run, mirroring the core's `spec.rs` (camelCase JSON), and its encoding
 * into what the bindings take: a small JSON string plus named `Float64Array` buffers.
 *
 * @module
 */

import { InvalidSpecError } from './errors.js';
import { type MatrixInput, splitMatrixInput } from './matrix.js';

/**
 * Asymmetric matrix factorization (Du, Hu & Lee 2018, section 3):
 * f(U, V) = 1/2 ||U V^T - M*||_F^2 + balanceWeight ||U^T U - V^T V||_F^2,
 * with U of shape d1 x rank and V of shape d2 x rank.
 */
export interface MatrixFactorizationModel {
  /** The model family. */
  kind: 'matrixFactorization';
  /** Rows of M* and of U. A positive integer. */
  d1: number;
  /** Columns of M* and rows of V. A positive integer. */
  d2: number;
  /** Columns of U and V; at most min(d1, d2). */
  rank: number;
  /** Weight w >= 0 of the balancing regularizer (1/8 is the paper's objective (3)). Default 0. */
  balanceWeight?: number;
}

/** The model of a run (one family so far). */
export type ModelSpec = MatrixFactorizationModel;

/** A target given by the caller: a d1 x d2 matrix. */
export interface ExplicitTarget {
  /** The target kind. */
  kind: 'explicit';
  /** M*, d1 x d2. */
  matrix: MatrixInput;
}

/**
 * A seeded random rank-r target M* = P diag(singularValues) Q^T, with P, Q random orthonormal.
 */
export interface RandomTarget {
  /** The target kind. */
  kind: 'random';
  /** One value >= 0 per rank. */
  singularValues: number[];
  /** A non-negative integer. */
  seed: number;
}

/** The target matrix M*. */
export type TargetSpec = ExplicitTarget | RandomTarget;

/** Initial factors given by the caller: U0 (d1 x rank) and V0 (d2 x rank). */
export interface ExplicitInit {
  /** The initialization kind. */
  kind: 'explicit';
  /** U0, d1 x rank. */
  u0: MatrixInput;
  /** V0, d2 x rank. */
  v0: MatrixInput;
}

/**
 * Entries i.i.d. N(0, stdU^2) for U0 and N(0, stdV^2) for V0, U first then V, from one seeded
 * stream. The same seed gives bit-identical factors on both backends.
 */
export interface GaussianInit {
  /** The initialization kind. */
  kind: 'gaussian';
  /** Standard deviation of the entries of U0 (>= 0). */
  stdU: number;
  /** Standard deviation of the entries of V0 (>= 0). */
  stdV: number;
  /** A non-negative integer. */
  seed: number;
}

/**
 * Balanced factors of singular components of M*: column c of U0 is sqrt(sigma_i) phi_i and of V0
 * is sqrt(sigma_i) psi_i for i = `components[c]` (0-based, singular values in descending order);
 * the other columns are zero; then i.i.d. N(0, noiseStd^2) entries are added. `[0, ..., k-1]`
 * with k < rank is the saddle that has learned the top k components (lambda_min = -sigma_{k+1});
 * all of `0..rank-1` is a global minimum; `[]` is the origin.
 */
export interface TargetSvdInit {
  /** Selects this init. */
  kind: 'targetSvd';
  /** Indices of the singular components (at most `rank` of them, distinct, < min(d1, d2)). */
  components: number[];
  /** Standard deviation of the added noise (default 0). */
  noiseStd?: number;
  /** Seed of the noise (default 0). */
  seed?: number;
}

/** The initial factors. */
export type InitSpec = ExplicitInit | GaussianInit | TargetSvdInit;

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

/** Options shared by every run. */
interface RunCommon {
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

/** A matrix-factorization run: model, target, initialization, step schedule, steps. */
export interface MatrixFactorizationRunSpec extends RunCommon {
  /** The model: sizes, rank and balancing weight. */
  model: ModelSpec;
  /** The target matrix M*. */
  target: TargetSpec;
  /** The initial factors U0, V0. */
  init: InitSpec;
}

/** Activation after a layer (the last layer's is usually `linear`). */
export type Activation = 'linear' | 'relu' | 'leakyRelu';

/** One layer of a network (see docs/networks.md). */
export interface LayerSpec {
  /** `dense` (default), `shared` (free parameters + pattern, Theorem 2.3), `conv1d`, `conv2d`. */
  type?: 'dense' | 'shared' | 'conv1d' | 'conv2d';
  /** Output width n_h (dense, shared). */
  width?: number;
  /** Activation applied to the layer's output. Default `linear`; the last layer must be linear. */
  activation?: Activation;
  /** Leaky ReLU slope, 0 < slope < 1. */
  slope?: number;
  /** Whether the layer has a bias. Default false. */
  bias?: boolean;
  /** Number of free parameters d_h (shared). */
  params?: number;
  /** Shared: n_h x n_{h-1} matrix of 0 (no weight) or a 1-based parameter index. */
  pattern?: MatrixInput;
  /** Input channels (conv1d, conv2d). */
  inChannels?: number;
  /** Output channels (conv1d, conv2d). */
  outChannels?: number;
  /** conv2d: input height (the width follows from n_{h-1}). */
  inHeight?: number;
  /** Kernel size (conv1d, conv2d; square for conv2d). */
  kernel?: number;
  /** Stride (conv1d, conv2d). Default 1. */
  stride?: number;
  /** Zero padding on each side (conv1d, conv2d). Default 0. */
  padding?: number;
}

/** x -> W_N phi(W_{N-1} ... phi(W_1 x)) (Du, Hu & Lee 2018, section 2). */
export interface NetworkModel {
  /** The model family. */
  kind: 'network';
  /** Input dimension n_0 (a positive integer). */
  inputDim: number;
  /** The layers, input to output. */
  layers: LayerSpec[];
  /** `squared`: 1/(2m) sum ||f(x_i) - y_i||^2 (default); `crossEntropy`: softmax cross-entropy. */
  loss?: 'squared' | 'crossEntropy';
}

/** Training data: given (one sample per row) or generated from a seed. */
export type DataSpec =
  | {
      /** Data given by the caller. */
      kind: 'explicit';
      /** Inputs, m x inputDim (one sample per row). */
      x: MatrixInput;
      /** Targets, m x output width (one sample per row). */
      y: MatrixInput;
    }
  | {
      /** Data generated from `seed` (one stream: inputs, then the teacher's weights, then targets). */
      kind: 'generated';
      /** Number of samples m. */
      samples: number;
      /** `gaussian` (entries N(0, inputStd^2), the default) or `sphere` (uniform on the unit sphere). */
      inputs?: 'gaussian' | 'sphere';
      /** Standard deviation of Gaussian inputs. Default 1. */
      inputStd?: number;
      /** How the targets are made (one-hot labels of the largest entry with the cross-entropy loss). */
      targets:
        | {
            /** Entries N(0, std^2). */
            kind: 'gaussian';
            /** Standard deviation of the entries. Default 1. */
            std?: number;
          }
        | {
            /** y = scale * teacher(x): a random network, weights N(0, 1/fan_in), no biases. */
            kind: 'teacher';
            /** Hidden widths of the teacher. Default none. */
            widths?: number[];
            /** Activation of the teacher's hidden layers. Default `relu`. */
            activation?: Activation;
            /** Leaky ReLU slope of the teacher. */
            slope?: number;
            /** Factor on the teacher's output. Default 1. */
            scale?: number;
          };
      /** A non-negative integer. */
      seed: number;
    };

/** Initial weights: per-layer Gaussian (variances or standard deviations), or given. */
export type NetInitSpec =
  | {
      /** Entries of W_h i.i.d. Gaussian per layer; biases start at 0. */
      kind: 'gaussian';
      /** Variance per layer (exactly one of `variances` and `stds`). */
      variances?: number[];
      /** Standard deviation per layer (exactly one of `variances` and `stds`). */
      stds?: number[];
      /** A non-negative integer: one stream, layer by layer. */
      seed: number;
    }
  | {
      /** Weights given by the caller. */
      kind: 'explicit';
      /** W_h (n_h x n_{h-1}) per layer; for a shared layer its d_h free parameters as one row. */
      weights: MatrixInput[];
      /** b_h per layer with `bias: true` (others: null). Default zeros. */
      biases?: (readonly number[] | Float64Array | null)[];
    };

/** A network run (issue 3). */
export interface NetworkRunSpec extends RunCommon {
  /** The network. */
  model: NetworkModel;
  /** The training data. */
  data: DataSpec;
  /** The initial weights. */
  init: NetInitSpec;
}

/** Any run. */
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
