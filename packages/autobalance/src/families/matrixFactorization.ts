/**
 * The matrix-factorization family (`model.kind: "matrixFactorization"`): the TS types of its run
 * spec, mirroring the core's `spec.rs`, and what `encodeSpec` needs to know of it (its matrix
 * fields; every matrix input travels as a buffer named by its spec path).
 *
 * @module
 */

import type { MatrixInput } from '../matrix.js';
import type { RunCommon } from '../spec.js';
import type { FamilyEncoding } from './family.js';

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

/** A matrix-factorization run: model, target, initialization, step schedule, steps. */
export interface MatrixFactorizationRunSpec extends RunCommon {
  /** The model: sizes, rank and balancing weight. */
  model: ModelSpec;
  /** The target matrix M*. */
  target: TargetSpec;
  /** The initial factors U0, V0. */
  init: InitSpec;
}

/**
 * The family for `encodeSpec`: its matrix fields, whose buffers are named by their paths.
 *
 * @internal
 */
export const matrixFactorizationFamily = {
  kind: 'matrixFactorization',
  matrixFields: ['target.matrix', 'init.u0', 'init.v0'],
} as const satisfies FamilyEncoding;
