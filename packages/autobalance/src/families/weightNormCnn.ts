/**
 * The weight-normalized CNN family (`model.kind: "weightNormCnn"`; Du 2019, thesis chapter 5):
 * f(Z, v, a) = sum_i a_i relu(w^T Z_i), w = v / ||v||, k non-overlapping Gaussian patches of size
 * p, learned from a teacher (w*, a*) by gradient descent on (v, a) (docs/weight-norm-cnn.md). The
 * TS types of its run spec, mirroring the core's `model/wncnn/family.rs`; it has no matrix inputs.
 *
 * @module
 */

import type { RunCommon } from '../spec.js';
import type { FamilyEncoding } from './family.js';

/**
 * The network: k patches of size p. `loss: "population"` (default) is the closed-form population
 * loss over Gaussian patches (Theorem 5.1) with exact gradient and Hessian-vector product;
 * `"empirical"` is the mean of 1/2 (f - f*)^2 over a fixed sample (`data`), for SGD.
 */
export interface WeightNormCnnModel {
  /** The model family. */
  kind: 'weightNormCnn';
  /** The number of patches k (the second layer's width), an integer in 1..=2^32 - 1. */
  k: number;
  /** The patch size p, an integer in 1..=2^32 - 1. */
  p: number;
  /** The loss. Default `"population"`. */
  loss?: 'population' | 'empirical';
  /**
   * End the run at the iterate where its `outcome` is decided (stop `finished` before `steps`,
   * that iterate's row the last; the bits up to it are the full run's). Default false.
   */
  stopWhenDecided?: boolean;
}

/** w* uniform on the sphere (a normalized Gaussian vector from `seed`). */
export interface WStarRandom {
  /** The kind. */
  kind: 'random';
  /** A non-negative integer. */
  seed: number;
}

/** w* along the given vector (p finite numbers, not all zero). */
export interface WStarVector {
  /** The kind. */
  kind: 'vector';
  /** The vector (its norm is ||w*|| unless `wStarNorm` is given). */
  w: number[];
}

/**
 * a* with (1^T a*)^2 / ||a*||^2 = r exactly and ||a*|| = norm:
 * a* = norm (sqrt(r / k) e + sqrt(1 - r / k) u), e = 1 / sqrt(k), u a seeded random unit vector
 * orthogonal to 1 (the thesis does not say how it built a*).
 */
export interface AStarRatio {
  /** The kind. */
  kind: 'ratio';
  /** r in [0, k] (1 when k = 1). */
  r: number;
  /** ||a*|| > 0 (at most 1e100). Default 1. */
  norm?: number;
  /** A non-negative integer (the direction u). */
  seed: number;
}

/** a* itself (k finite numbers, not all zero). */
export interface AStarVector {
  /** The kind. */
  kind: 'vector';
  /** The vector. */
  a: number[];
}

/** The teacher (w*, a*). */
export interface WeightNormCnnTeacher {
  /** ||w*|| > 0. Default 1 for a random w*, the vector's norm for a given one. */
  wStarNorm?: number;
  /** The direction of w*. */
  wStar: WStarRandom | WStarVector;
  /** The second layer a*. */
  aStar: AStarRatio | AStarVector;
}

/**
 * Theorem 5.4's initialization: v uniform on the sphere of radius `vNorm`, a uniform in the ball
 * B(0, |1^T a*| ||w*|| / sqrt(k)) (radius ||a*|| ||w*|| / sqrt(k) when 1^T a* = 0); `signs`
 * multiply (v, a) (the four-signs variant).
 */
export interface WeightNormCnnTheorem54Init {
  /** The initialization kind. */
  kind: 'theorem54';
  /** ||v0|| > 0. Default 1. */
  vNorm?: number;
  /** A non-negative integer. */
  seed: number;
  /**
   * The signs of (v, a), each 1 or -1 (default [1, 1]), or `"theorem54"`: after drawing, v is
   * flipped when v^T w* < 0 and a when a^T a* < 0 (the one of the four sign pairs that starts in
   * the global minimum's region).
   */
  signs?: [number, number] | 'theorem54';
}

/** The initial point itself. */
export interface WeightNormCnnPointInit {
  /** The initialization kind. */
  kind: 'point';
  /** v (p finite numbers, not all zero). */
  v: number[];
  /** a (k finite numbers). */
  a: number[];
}

/** The initial point of a weightNormCnn run. */
export type WeightNormCnnInitSpec = WeightNormCnnTheorem54Init | WeightNormCnnPointInit;

/** The fixed sample of the empirical loss: N samples of k x p i.i.d. N(0, 1) patches. */
export interface WeightNormCnnData {
  /** N, an integer in 1..=2^32 - 1. */
  samples: number;
  /** A non-negative integer. */
  seed: number;
}

/** A weightNormCnn run: model, teacher, initial point, (data), step schedule, steps. */
export interface WeightNormCnnRunSpec extends RunCommon {
  /** The network. */
  model: WeightNormCnnModel;
  /** The teacher. */
  teacher: WeightNormCnnTeacher;
  /** The initial point. */
  init: WeightNormCnnInitSpec;
  /** The sample (only with `model.loss: "empirical"`, and then required). */
  data?: WeightNormCnnData;
}

/**
 * The family for `encodeSpec` (no matrix fields).
 *
 * @internal
 */
export const weightNormCnnFamily = {
  kind: 'weightNormCnn',
  matrixFields: [],
} as const satisfies FamilyEncoding;
