/**
 * The registry of model families of the TS layer: one line per family (the core has its own).
 *
 * @module
 */

import { continuousLinearFamily } from './continuousLinear.js';
import { convFilterFamily } from './convFilter.js';
import { deepSmoothFamily } from './deepSmooth.js';
import type { FamilyEncoding } from './family.js';
import { matrixFactorizationFamily } from './matrixFactorization.js';
import { networkFamily } from './network.js';
import { octopusFamily } from './octopus.js';
import { twoLayerReluFamily } from './twoLayerRelu.js';
import { weightNormCnnFamily } from './weightNormCnn.js';

/** Every family, by its `model.kind`. */
export const FAMILIES: ReadonlyMap<string, FamilyEncoding> = new Map(
  [matrixFactorizationFamily, networkFamily, octopusFamily, weightNormCnnFamily, convFilterFamily, continuousLinearFamily, deepSmoothFamily, twoLayerReluFamily].map((f) => [f.kind, f]),
);
