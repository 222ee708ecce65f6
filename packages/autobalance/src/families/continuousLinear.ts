/**
 * The continuous-time linear network family (`model.kind: "continuousLinear"`; Taghvaei, Kim &
 * Mehta 2017): dX/dt = A_t X on [0, T] with n x n weights, discretized into K layers, trained by
 * backprop with weight decay (docs/continuous-linear.md). The TS types of its run spec, mirroring
 * the core's `model/continuous/family.rs`; every matrix (R, Sigma0, dR, C) travels as a buffer
 * named by its spec path.
 *
 * @module
 */

import type { MatrixInput } from '../matrix.js';
import type { RunCommon } from '../spec.js';
import type { FamilyEncoding } from './family.js';

/**
 * The network: K layers of width h = T / K, one parameter block `theta` (K n x n, theta_k =
 * sqrt(h) A_k, row-major per layer), cost J = lambda/2 sum_k |theta_k|^2 + the data term (=
 * lambda/2 int |A_t|^2 dt + data for piecewise-constant weights). Gradient descent on theta with
 * step eta is the paper's learning rule A <- A - eta (lambda A - Y X^T).
 */
export interface ContinuousLinearModel {
  /** The model family. */
  kind: 'continuousLinear';
  /** The state dimension n, an integer in 1..=64. */
  n: number;
  /** The number of layers K, an integer in 1..=65536. */
  K: number;
  /** The horizon T > 0. */
  T: number;
  /** The weight decay lambda >= 0 (of the paper's cost, not the run's `weightDecay`). */
  lambda: number;
  /**
   * `"exponential"` (default): X_{k+1} = e^{h A_k} X_k (piecewise-constant weights, exact;
   * normal critical points stay exact). `"euler"`: X_{k+1} = (I + h A_k) X_k (a residual
   * network; critical points move by O(h)).
   */
  discretization?: 'exponential' | 'euler';
}

/**
 * Population data: the data term 1/2 tr((Phi - R(sigma))^T (Phi - R(sigma)) Sigma0) with Phi the
 * end-to-end map and R(sigma) = R + sigma dR.
 */
export interface ContinuousPopulationData {
  /** The data kind. */
  kind: 'population';
  /** R, n x n. */
  R: MatrixInput;
  /** Sigma0 = E[X0 X0^T], n x n, symmetric positive semidefinite. Default I. */
  sigma0?: MatrixInput;
  /** dR, n x n (the direction in which `sigma` moves R). */
  dR?: MatrixInput;
  /** sigma (needs `dR` unless 0). Default 0. */
  sigma?: number;
}

/**
 * N seeded samples: x0_i ~ N(0, I), z_i = R x0_i + noise N(0, I); the data term is the mean of
 * 1/2 |Phi x0_i - z_i|^2 (mini-batches for `sgd`). One stream: x0_1..x0_N, then the noise.
 */
export interface ContinuousSamplesData {
  /** The data kind. */
  kind: 'samples';
  /** R, n x n. */
  R: MatrixInput;
  /** The number of samples N (a positive integer). */
  samples: number;
  /** The noise standard deviation (>= 0). */
  noise: number;
  /** A non-negative integer. */
  seed: number;
}

/** The data of a continuousLinear run. */
export type ContinuousDataSpec = ContinuousPopulationData | ContinuousSamplesData;

/** Every entry of every A_k i.i.d. N(0, std^2), layer by layer, row-major. */
export interface ContinuousGaussianInit {
  /** The initialization kind. */
  kind: 'gaussian';
  /** The standard deviation of the entries of A_k (>= 0). */
  std: number;
  /** A non-negative integer. */
  seed: number;
}

/** Constant weights A_k = C. */
export interface ContinuousConstantInit {
  /** The initialization kind. */
  kind: 'constant';
  /** C, n x n. */
  C: MatrixInput;
}

/**
 * The critical-point form of the paper's Proposition 2: A_k = e^{2 t_k Omega} C e^{-2 t_k Omega},
 * Omega = (C - C^T)/2, t_k = (k + 1/2) h.
 */
export interface ContinuousCriticalInit {
  /** The initialization kind. */
  kind: 'critical';
  /** C, n x n. */
  C: MatrixInput;
}

/** The initial weights of a continuousLinear run. */
export type ContinuousInitSpec = ContinuousGaussianInit | ContinuousConstantInit | ContinuousCriticalInit;

/**
 * Candidate critical points (population data): each is refined by Newton's method on the
 * characteristic equation lambda C = F^T (R(sigma) - F) Sigma0 at the model's lambda and sigma
 * (a candidate that does not converge is dropped); then A*_j(t) = e^{2t Omega_j} C_j
 * e^{-2t Omega_j} gives the columns `critDist` (min_j sqrt(h sum_k |A_k - A*_j(t_k)|_F^2), NaN
 * when every candidate was dropped) and `critIndex` (that j: the index in `C`, then `sheets`).
 */
export interface ContinuousCriticalSpec {
  /** Candidates C_j (n x n each). */
  C?: MatrixInput[];
  /**
   * Sheets n of the real logarithm of R(sigma): the candidate log(R)/T on sheet n (the angle of
   * each complex eigenvalue pair moved by 2 pi n), integers with |n| <= 1e6.
   */
  sheets?: number[];
}

/**
 * A continuousLinear run. Columns: `loss`, `reg`, `data`, `gradNorm`, `spread` (the L2 distance
 * to the nearest constant weight), `nonNormality` (|A_0 A_0^T - A_0^T A_0|_F), and with
 * `critical`: `critDist`, `critIndex`. Matrices: `theta`, `theta_0`, `A` and `Phi` (at the last
 * recorded row), `R`, `Sigma0`.
 */
export interface ContinuousLinearRunSpec extends RunCommon {
  /** The network. */
  model: ContinuousLinearModel;
  /** The data. */
  data: ContinuousDataSpec;
  /** The initial weights. */
  init: ContinuousInitSpec;
  /** Candidate critical points for the distance columns. */
  critical?: ContinuousCriticalSpec;
}

/**
 * The family for `encodeSpec`.
 *
 * @internal
 */
export const continuousLinearFamily = {
  kind: 'continuousLinear',
  matrixFields: ['data.R', 'data.sigma0', 'data.dR', 'init.C', 'critical.C[]'],
} as const satisfies FamilyEncoding;
