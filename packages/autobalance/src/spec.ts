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
  kind: 'explicit';
  matrix: MatrixInput;
}

/**
 * A seeded random rank-r target M* = P diag(singularValues) Q^T, with P, Q random orthonormal.
 */
export interface RandomTarget {
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
  kind: 'explicit';
  u0: MatrixInput;
  v0: MatrixInput;
}

/**
 * Entries i.i.d. N(0, stdU^2) for U0 and N(0, stdV^2) for V0, U first then V, from one seeded
 * stream. The same seed gives bit-identical factors on both backends.
 */
export interface GaussianInit {
  kind: 'gaussian';
  stdU: number;
  stdV: number;
  /** A non-negative integer. */
  seed: number;
}

/** The initial factors. */
export type InitSpec = ExplicitInit | GaussianInit;

/** eta_t = eta (eta > 0). */
export interface ConstantSchedule {
  kind: 'constant';
  eta: number;
}

/** eta_t = c (t+1)^-(1/2+delta), with c > 0 and 0 < delta <= 1/2. */
export interface InversePowerSchedule {
  kind: 'inversePower';
  c: number;
  delta: number;
}

/** Theorem 3.1 of Du, Hu & Lee: eta_t = sqrt(eps/r) / (100 (t+1) ||M*||_F^1.5), eps > 0. */
export interface Theorem31Schedule {
  kind: 'theorem31';
  eps: number;
}

/** The step-size schedule of gradient descent. */
export type ScheduleSpec = ConstantSchedule | InversePowerSchedule | Theorem31Schedule;

/** A run: model, target, initialization, step schedule, number of steps, recording period. */
export interface RunSpec {
  model: ModelSpec;
  target: TargetSpec;
  init: InitSpec;
  schedule: ScheduleSpec;
  /** Number of gradient steps (a non-negative integer). */
  steps: number;
  /** Record the metrics every this many steps (and at the last step). Default 1. */
  recordEvery?: number;
}

/** A spec as the bindings take it: JSON text plus buffers named by spec path. */
export interface EncodedSpec {
  /** The spec as JSON, each explicit matrix replaced by its shape `{rows, cols}`. */
  json: string;
  /** Row-major data of the explicit matrices, keyed `target.matrix`, `init.u0`, `init.v0`. */
  buffers: Record<string, Float64Array>;
}

/** The spec paths of the matrices that travel as buffers. */
export const MATRIX_PATHS = ['target.matrix', 'init.u0', 'init.v0'] as const;

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
  return { json: JSON.stringify(out), buffers };
}
