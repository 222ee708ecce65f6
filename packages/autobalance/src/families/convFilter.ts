/**
 * The convolutional-filter family (`model.kind: "convFilter"`; Du 2019, thesis chapter 6): one
 * filter w in R^p, f(w, Z) = (1/k) sum_i relu(w^T Z_i) over the k patches of a sample, labels
 * from a teacher w*, loss 1/2 (f(w, Z) - f(w*, Z))^2 averaged over a batch (docs/filter-learning.md).
 * The TS types of its run spec, mirroring the core's `model/convfilter/family.rs`.
 *
 * @module
 */

import type { MatrixInput } from '../matrix.js';
import type { RunCommon } from '../spec.js';
import type { FamilyEncoding } from './family.js';

/** f(w, Z) = (1/k) sum_i relu(w^T Z_i). */
export interface ConvFilterModel {
  /** The model family. */
  kind: 'convFilter';
  /** The patch (and filter) size, an integer in 2..=65536. */
  p: number;
  /** Patches per sample. Default 1 (the one-layer one-neuron model of section 6.2). */
  k?: number;
}

/** The teacher w* itself (p finite numbers, not all 0). */
export interface ConvFilterVectorTeacher {
  /** The teacher kind. */
  kind: 'vector';
  /** w*. */
  w: number[];
}

/** w* = norm u, u uniform on the unit sphere (a normalized Gaussian draw from `seed`). */
export interface ConvFilterRandomTeacher {
  /** The teacher kind. */
  kind: 'random';
  /** ||w*|| in (0, 1e100]. Default 1. */
  norm?: number;
  /** A non-negative integer. */
  seed: number;
}

/** The teacher filter w*. */
export type ConvFilterTeacherSpec = ConvFilterVectorTeacher | ConvFilterRandomTeacher;

/** Every entry of every patch i.i.d. N(0, 1). */
export interface GaussianPatches {
  /** The patch distribution. */
  kind: 'gaussian';
}

/**
 * p = 2, unit-norm patches whose angle to w* is drawn from 1/2 N(0, s^2) truncated to
 * [-pi/2, pi/2] plus 1/2 N(pi, s^2) truncated to [pi/2, 3 pi/2] (thesis Figure 6.3 (a)).
 */
export interface CircleMixturePatches {
  /** The patch distribution. */
  kind: 'circleMixture';
  /** The spread s, in (0, 1e6] (larger: smoother). */
  s: number;
}

/**
 * p = 2, unit-norm patches at angle theta_b + delta_i: theta_b drawn as in `circleMixture` with
 * spread `s`, delta_i i.i.d. N(0, s2^2) truncated to [-pi, pi] (thesis Figure 6.3 (b)).
 */
export interface AroundBasePatches {
  /** The patch distribution. */
  kind: 'aroundBase';
  /** The spread s2 of the patches around the base, in (0, 1e6] (smaller: closer patches). */
  s2: number;
  /** The base's spread s, in (0, 1e6]. Default 1. */
  s?: number;
}

/** The caller's samples: an N x (k p) matrix, patch i of a sample at columns i p .. (i + 1) p. */
export interface DataPatches {
  /** The patch distribution. */
  kind: 'data';
  /** The samples, one per row. */
  z: MatrixInput;
}

/** The distribution of a sample's patches. */
export type ConvFilterPatchesSpec = GaussianPatches | CircleMixturePatches | AroundBasePatches | DataPatches;

/**
 * A new batch at every step, drawn from (seed, step index): stochastic gradient descent on fresh
 * samples, bit-identical however the run is chunked (data patches: rows drawn uniformly with
 * replacement).
 */
export interface FreshSampling {
  /** The sampling kind. */
  kind: 'fresh';
  /** Samples per step, a positive integer. */
  batch: number;
  /** A non-negative integer. */
  seed: number;
}

/**
 * One sample, used at every step (gradient descent; SGD through the `sgd` method). Generated
 * patches need `samples` and `seed`; data patches are the sample and take neither.
 */
export interface FixedSampling {
  /** The sampling kind. */
  kind: 'fixed';
  /** The sample size (generated patches only). */
  samples?: number;
  /** A non-negative integer (generated patches only). */
  seed?: number;
}

/** How the batch of each step is chosen. */
export type ConvFilterSamplingSpec = FreshSampling | FixedSampling;

/** The initial filter itself (p finite numbers). */
export interface ConvFilterPointInit {
  /** The initialization kind. */
  kind: 'point';
  /** w_0. */
  w: number[];
}

/** Uniform in the ball of radius `radius` around 0 (Theorem 6.6 takes alpha ||w*||). */
export interface ConvFilterBallInit {
  /** The initialization kind. */
  kind: 'ball';
  /** The radius, >= 0. */
  radius: number;
  /** A non-negative integer. */
  seed: number;
}

/** Every entry N(0, std^2). */
export interface ConvFilterGaussianInit {
  /** The initialization kind. */
  kind: 'gaussian';
  /** The standard deviation, >= 0. */
  std: number;
  /** A non-negative integer. */
  seed: number;
}

/** The initial filter. */
export type ConvFilterInitSpec = ConvFilterPointInit | ConvFilterBallInit | ConvFilterGaussianInit;

/** A convolutional-filter run: model, teacher, patches, sampling, initial filter, schedule, steps. */
export interface ConvFilterRunSpec extends RunCommon {
  /** The model. */
  model: ConvFilterModel;
  /** The teacher filter w*. */
  teacher: ConvFilterTeacherSpec;
  /** The patch distribution. */
  patches: ConvFilterPatchesSpec;
  /** How each step's batch is chosen. */
  sampling: ConvFilterSamplingSpec;
  /** The initial filter. */
  init: ConvFilterInitSpec;
}

/**
 * The family for `encodeSpec`.
 *
 * @internal
 */
export const convFilterFamily = {
  kind: 'convFilter',
  matrixFields: ['patches.z'],
} as const satisfies FamilyEncoding;
