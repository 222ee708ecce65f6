/**
 * The octopus family (`model.kind: "octopus"`; Du 2019, thesis chapter 7): a chain of d strict
 * saddles that gradient descent escapes in exponential time (docs/octopus.md). The TS types of
 * its run spec, mirroring the core's `model/octopus/family.rs`; it has no matrix inputs.
 *
 * @module
 */

import type { RunCommon } from '../spec.js';
import type { FamilyEncoding } from './family.js';

/**
 * f(x) = f0(|x_1|, ..., |x_d|), defined piecewise by the saddle region of |x| (quadratics joined
 * by a quartic g1 and a quintic g2, C^2), on the domain D (leading coordinates <= 6 tau,
 * trailing ones <= tau); outside D the loss is undefined and a run stops `diverged` with the
 * coordinate that left D as its reason.
 */
export interface OctopusModel {
  /** The model family. */
  kind: 'octopus';
  /** The dimension (the number of saddles), an integer in 1..=4096. */
  d: number;
  /** The curvature L of the quadratic pieces, in [1e-100, 1e100]. */
  L: number;
  /** The escape curvature gamma (the saddles' negative eigenvalue is -2 gamma). Default 1. */
  gamma?: number;
  /** The region scale tau. Default e. */
  tau?: number;
  /**
   * `"float"` (default): plain float64 iterates. `"logScale"`: the exact mode (gradient descent
   * only, no weight decay): coordinates in the purely multiplicative phases are carried as
   * log|x_j|, those phases are jumped in closed form, escapes are exact long after float64 would
   * have underflowed.
   */
  arithmetic?: 'float' | 'logScale';
}

/**
 * x_j = low + (high - low) u_j, u_j uniform in (0, 1) drawn in order j = 1..d from one seeded
 * stream (bit-identical on both backends). The drawn point must be in the domain D.
 */
export interface OctopusUniformInit {
  /** The initialization kind. */
  kind: 'uniform';
  /** Lower end (finite). */
  low: number;
  /** Upper end (finite, >= low). */
  high: number;
  /** A non-negative integer. */
  seed: number;
}

/** The initial point itself (d finite numbers, in the domain D). */
export interface OctopusPointInit {
  /** The initialization kind. */
  kind: 'point';
  /** The d coordinates. */
  x: number[];
}

/** The initial point of an octopus run. */
export type OctopusInitSpec = OctopusUniformInit | OctopusPointInit;

/** An octopus run: model, initial point, step schedule, steps. */
export interface OctopusRunSpec extends RunCommon {
  /** The function. */
  model: OctopusModel;
  /** The initial point. */
  init: OctopusInitSpec;
}

/**
 * The family for `encodeSpec` (no matrix fields).
 *
 * @internal
 */
export const octopusFamily = {
  kind: 'octopus',
  matrixFields: [],
} as const satisfies FamilyEncoding;
