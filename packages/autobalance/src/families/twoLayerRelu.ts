/**
 * The over-parameterized two-layer ReLU network (`model.kind: "twoLayerRelu"`; Du 2019, thesis
 * chapter 2): f(W, x) = m^{-1/2} sum_r a_r relu(w_r^T x), the second layer a_r in {-1, +1} fixed,
 * only W (m x d) trained, loss sum_i 1/2 (f(x_i) - y_i)^2 (or its mean) (docs/wide-networks.md).
 * The TS types of its run spec, mirroring the core's `model/wide/family.rs`.
 *
 * @module
 */

import type { MatrixInput } from '../matrix.js';
import type { RunCommon } from '../spec.js';
import type { FamilyEncoding } from './family.js';

/** The Gram columns `lambdaMinH` and `gramDistInf` (n^2 m + 2 n^3 work each time; NaN between). */
export interface TwoLayerReluGram {
  /** Every this many steps (a positive integer). */
  every: number;
}

/**
 * The network. `loss: "sum"` (default, the chapter's) is sum_i 1/2 (f(x_i) - y_i)^2; `"mean"` is
 * n times smaller (the same trajectory needs an n times larger step).
 */
export interface TwoLayerReluModel {
  /** The model family. */
  kind: 'twoLayerRelu';
  /** The width m (hidden neurons), an integer in 1..=2^32 - 1. */
  width: number;
  /** The loss convention. Default `"sum"`. */
  loss?: 'sum' | 'mean';
  /** The finite-width Gram matrix columns (off when absent). */
  gram?: TwoLayerReluGram;
  /**
   * The step size the envelope columns `envelopeFlow` = L0 exp(-lambda0 eta k) and `envelopeGd` =
   * L0 (1 - eta lambda0 / 2)^k assume (set it to the run's constant eta; for the mean loss eta/n
   * is used in its place). Computes H_inf and lambda0 at build (n^2 d + n^3).
   */
  envelopeEta?: number;
}

/** n points uniform on the unit sphere of R^d (normalized Gaussian rows), labels y ~ N(0, 1). */
export interface TwoLayerReluSphereData {
  /** The data kind. */
  kind: 'sphere';
  /** Number of points n, an integer in 1..=2^32 - 1. */
  n: number;
  /** Dimension d, an integer in 1..=2^32 - 1. */
  d: number;
  /** A non-negative integer (X from this seed; y from a second stream). */
  seed: number;
}

/** The data as matrices. */
export interface TwoLayerReluExplicitData {
  /** The data kind. */
  kind: 'explicit';
  /** X, n x d, one point per row (the theory assumes unit rows). */
  x: MatrixInput;
  /** y, n x 1. */
  y: MatrixInput;
}

/** The data of a twoLayerRelu run. */
export type TwoLayerReluDataSpec = TwoLayerReluSphereData | TwoLayerReluExplicitData;

/** w_r ~ N(0, std^2 I), a_r uniform in {-1, +1}. */
export interface TwoLayerReluGaussianInit {
  /** The initialization kind. */
  kind: 'gaussian';
  /** A non-negative integer (W from this seed; a from a second stream). */
  seed: number;
  /** The entries' standard deviation, in (0, 1e100]. Default 1 (the chapter's). */
  std?: number;
}

/** The initial point as matrices. */
export interface TwoLayerReluExplicitInit {
  /** The initialization kind. */
  kind: 'explicit';
  /** W(0), m x d. */
  w: MatrixInput;
  /** a, m x 1, entries +1 or -1 (fixed during training). */
  a: MatrixInput;
}

/** The initial point of a twoLayerRelu run. */
export type TwoLayerReluInitSpec = TwoLayerReluGaussianInit | TwoLayerReluExplicitInit;

/**
 * A twoLayerRelu run. Columns: `loss`, `gradNorm`, `patternChange` (the fraction of the n m
 * activation patterns changed since the initial point), `maxDist` (max_r ||w_r - w_r(0)||); with
 * `model.gram`: `lambdaMinH`, `gramDistInf`; with `model.envelopeEta`: `envelopeFlow`,
 * `envelopeGd`. Matrices: `W`, `W_0`, `a`, `X`, `y` (and `Hinf` when computed). Family query:
 * `{"what": "theory"}` (H_inf, lambda0, the widths the theorems require, the step bound).
 */
export interface TwoLayerReluRunSpec extends RunCommon {
  /** The network. */
  model: TwoLayerReluModel;
  /** The data. */
  data: TwoLayerReluDataSpec;
  /** The initial point. */
  init: TwoLayerReluInitSpec;
}

/**
 * The family for `encodeSpec`.
 *
 * @internal
 */
export const twoLayerReluFamily = {
  kind: 'twoLayerRelu',
  matrixFields: ['data.x', 'data.y', 'init.w', 'init.a'],
} as const satisfies FamilyEncoding;
