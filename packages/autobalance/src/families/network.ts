/**
 * The network family (`model.kind: "network"`): the TS types of its run spec, mirroring the core's
 * `spec.rs`, and what `encodeSpec` needs to know of it: its matrix fields, and the one buffer
 * convention of the family that is not a spec path (explicit initial weights travel as
 * `init.w1..`, `init.b1..`). Its other matrices (`data.x`, `data.y`, `model.layers[i].pattern`)
 * travel, as every matrix input does, as buffers named by their spec paths.
 *
 * @module
 */

import { InvalidSpecError, NonFiniteError } from '../errors.js';
import { type MatrixInput, splitMatrixInput } from '../matrix.js';
import type { RunCommon } from '../spec.js';
import type { FamilyEncoding } from './family.js';

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

/** A vector or matrix input as flat row-major data. */
function flat(x: unknown, field: string): Float64Array {
  let out: Float64Array;
  if (x instanceof Float64Array) out = x;
  else if (Array.isArray(x) && x.every((v) => typeof v === 'number')) out = Float64Array.from(x as number[]);
  else return splitMatrixInput(x, field).data;
  // Named by the spec path, not by the buffer (`init.b1`) the core would name.
  const i = out.findIndex((v) => !Number.isFinite(v));
  if (i >= 0) throw new NonFiniteError(`${field}[${i}]`, `expected a finite number, got ${String(out[i])}`);
  return out;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * The network's explicit initial weights: the core reads W_h and b_h from the buffers `init.w<h>`
 * and `init.b<h>` (1-based; it knows their shapes from the layers), not from spec paths. Moves
 * `init.weights[h]` and the non-null `init.biases[h]` into those buffers and drops both fields
 * from the spec; any other spec is returned as is. Runs before the generic walk of `encodeSpec`.
 */
function encodeNetworkInit(spec: Record<string, unknown>, buffers: Record<string, Float64Array>): Record<string, unknown> {
  const init = spec['init'];
  if (!isRecord(init)) return spec;
  const kind = init['kind'];
  if (kind !== 'explicit' && kind !== 'gaussian' && ('weights' in init || 'biases' in init)) {
    // Which fields are matrices depends on the kind: say what is wrong before reading them.
    if (typeof kind === 'string') throw new InvalidSpecError('init.kind', `unknown variant \`${kind}\`, expected \`gaussian\` or \`explicit\``);
    const got = Array.isArray(kind) ? 'sequence' : kind === null ? 'null' : typeof kind === 'object' ? 'map' : typeof kind;
    throw new InvalidSpecError('init.kind', `invalid type: ${got}, expected the name of the init (gaussian or explicit)`);
  }
  if (init['kind'] !== 'explicit') return spec;
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
  return { ...spec, init: rest };
}

/**
 * The family for `encodeSpec`: its matrix fields (`init.weights[]` is moved to `init.w<h>` by
 * `encode`, before the walk) and its explicit initial weights.
 *
 * @internal
 */
export const networkFamily = {
  kind: 'network',
  matrixFields: ['data.x', 'data.y', 'model.layers[].pattern', 'init.weights[]'],
  encode: encodeNetworkInit,
} as const satisfies FamilyEncoding;
