/**
 * The deep smooth networks (`model.kind: "deepSmooth"`; Du 2019, thesis chapter 3): a fully
 * connected net x^(h) = sqrt(c_sigma/m) sigma(W^(h) x^(h-1)), a ResNet (plain first layer, then
 * x^(h-1) + c_res/(H sqrt m) sigma(W^(h) x^(h-1))) or a 1-D convolutional ResNet (patches of width
 * q, stride 1, zero padding, m channels); f = sum a o x^(H); every W^(h) and a trained; loss
 * 1/2 sum_i (f(x_i) - y_i)^2 (a SUM over the samples). Exact gradient and Hessian-vector product
 * (docs/deep-networks.md). The TS types of its run spec, mirroring the core's
 * `model/deep/family.rs`.
 *
 * @module
 */

import type { MatrixInput } from '../matrix.js';
import type { RunCommon } from '../spec.js';
import type { FamilyEncoding } from './family.js';

/** The deep network. */
export interface DeepSmoothModel {
  /** The model family. */
  kind: 'deepSmooth';
  /** fullyConnected, resnet (plain first layer) or convResnet (1-D). */
  architecture: 'fullyConnected' | 'resnet' | 'convResnet';
  /** H, the number of weight layers W^(1..H) (the output weights a come on top). */
  depth: number;
  /** m, the width of every hidden layer (the channels of the convolutional ResNet). */
  width: number;
  /** sigma (relu for comparison only: its Hessian misses the kinks). */
  activation: 'softplus' | 'sigmoid' | 'tanh' | 'relu';
  /** c_res of the ResNets, > 0 (the chapter asks 0 < c_res < 1). Default 0.5. Not for fullyConnected. */
  cRes?: number;
  /** The patch width q of the convolutional ResNet, odd. Default 3. convResnet only. */
  patch?: number;
  /**
   * Record `lambdaMinG`, the smallest eigenvalue of the last layer's Gram matrix
   * G^(H)_ij = <du_i/dW^(H), du_j/dW^(H)>, every `every` recorded rows (the others hold NaN).
   * It costs about n^2 m (times p^2 for the convolutional ResNet) per evaluation. Default off.
   */
  gram?: {
    /** A positive integer. */
    every: number;
  };
}

/**
 * n points uniform on the unit sphere (a normalized N(0, I) draw per point from `seed`) and
 * labels N(0, 1) (from the stream of seed XOR 2^62). fullyConnected and resnet take `d`;
 * convResnet takes `channels` (d0) and `length` (p), each point a d0 x p matrix of unit
 * Frobenius norm (drawn channel-major).
 */
export interface DeepSmoothSphereData {
  /** The data kind. */
  kind: 'sphere';
  /** The number of samples n. */
  n: number;
  /** The input dimension (fullyConnected, resnet). */
  d?: number;
  /** Input channels d0 (convResnet). */
  channels?: number;
  /** Positions p (convResnet). */
  length?: number;
  /** A non-negative integer. */
  seed: number;
}

/** The caller's data: x (n x d; convResnet: n x d0 p, channel j at position l in column j p + l) and y (n x 1). */
export interface DeepSmoothExplicitData {
  /** The data kind. */
  kind: 'explicit';
  /** The inputs, one per row. */
  x: MatrixInput;
  /** The labels, n x 1. */
  y: MatrixInput;
  /** Input channels d0 (convResnet only). */
  channels?: number;
}

/** The training data. */
export type DeepSmoothDataSpec = DeepSmoothSphereData | DeepSmoothExplicitData;

/** Every entry of every W^(h) and of a i.i.d. N(0, std^2), drawn in block order (W1 row-major, .., WH, a). */
export interface DeepSmoothGaussianInit {
  /** The initialization kind. */
  kind: 'gaussian';
  /** A non-negative integer. */
  seed: number;
  /** The standard deviation, > 0. Default 1 (the chapter's). */
  std?: number;
}

/** The parameter vector itself (1 x dim, the blocks W1..WH, a in order). */
export interface DeepSmoothExplicitInit {
  /** The initialization kind. */
  kind: 'explicit';
  /** The parameters theta. */
  theta: MatrixInput;
}

/** The initial point. */
export type DeepSmoothInitSpec = DeepSmoothGaussianInit | DeepSmoothExplicitInit;

/** A deep smooth network run: model, data, initial point, schedule, steps. */
export interface DeepSmoothRunSpec extends RunCommon {
  /** The model. */
  model: DeepSmoothModel;
  /** The training data. */
  data: DeepSmoothDataSpec;
  /** The initial point. */
  init: DeepSmoothInitSpec;
}

/**
 * The family for `encodeSpec`.
 *
 * @internal
 */
export const deepSmoothFamily = {
  kind: 'deepSmooth',
  matrixFields: ['data.x', 'data.y', 'init.theta'],
} as const satisfies FamilyEncoding;
