/**
 * Checks of the plain arguments of the public API (counts, names, options, signals), done in TS
 * before anything reaches a binding, so that a misuse gives the same {@link InvalidRequestError}
 * (naming the argument) on both backends instead of a binding's own conversion error (native) or
 * a silent coercion (wasm: `advance('5')` would read 5). Spec contents are checked by the core.
 *
 * @module
 * @internal
 */

import type { Backend } from './backend.js';
import { InvalidRequestError } from './errors.js';

/** A short description of a value for an error message (bounded length). */
export function describeValue(x: unknown): string {
  switch (typeof x) {
    case 'number':
      return String(x);
    case 'string': {
      const s = x.length > 40 ? `${x.slice(0, 40)}...` : x;
      return `${JSON.stringify(s)} (a string)`;
    }
    case 'bigint':
      return `${String(x).slice(0, 40)}n (a bigint)`;
    case 'undefined':
      return 'undefined';
    case 'boolean':
      return String(x);
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    default:
      if (x === null) return 'null';
      return Array.isArray(x) ? 'an array' : 'an object';
  }
}

/**
 * A count: a non-negative integer, or `Infinity` for "no limit" when `infinite` (the rule of the
 * core's `count_arg`, with the same message).
 */
export function countArg(field: string, x: unknown, infinite = true): number {
  if (typeof x === 'number' && ((infinite && x === Infinity) || (Number.isInteger(x) && x >= 0))) return x;
  throw new InvalidRequestError(field, `expected a non-negative integer${infinite ? ' (or Infinity)' : ''}, got ${describeValue(x)}`);
}

/** A string argument (a column, matrix or preset name). */
export function stringArg(field: string, x: unknown): string {
  if (typeof x === 'string') return x;
  throw new InvalidRequestError(field, `expected a string, got ${describeValue(x)}`);
}

/** An options object: `undefined` (none) or a plain object. */
export function optionsArg(field: string, x: unknown): Record<string, unknown> {
  if (x === undefined) return {};
  if (typeof x === 'object' && x !== null && !Array.isArray(x)) return x as Record<string, unknown>;
  throw new InvalidRequestError(field, `expected an object (or nothing), got ${describeValue(x)}`);
}

/** An optional `AbortSignal` (anything with a boolean `aborted` and `addEventListener`). */
export function signalArg(field: string, x: unknown): AbortSignal | undefined {
  if (x === undefined) return undefined;
  if (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as { aborted?: unknown }).aborted === 'boolean' &&
    typeof (x as { addEventListener?: unknown }).addEventListener === 'function'
  ) {
    return x as AbortSignal;
  }
  throw new InvalidRequestError(field, `expected an AbortSignal, got ${describeValue(x)}`);
}

/** An optional positive finite number (a duration in milliseconds). */
export function positiveArg(field: string, x: unknown): number | undefined {
  if (x === undefined) return undefined;
  if (typeof x === 'number' && Number.isFinite(x) && x > 0) return x;
  throw new InvalidRequestError(field, `expected a positive finite number, got ${describeValue(x)}`);
}

/** An optional positive integer (a number of steps). */
export function positiveIntArg(field: string, x: unknown): number | undefined {
  if (x === undefined) return undefined;
  if (typeof x === 'number' && Number.isSafeInteger(x) && x > 0) return x;
  throw new InvalidRequestError(field, `expected a positive integer, got ${describeValue(x)}`);
}

/** An optional callback. */
export function functionArg<F>(field: string, x: unknown): F | undefined {
  if (x === undefined) return undefined;
  if (typeof x === 'function') return x as F;
  throw new InvalidRequestError(field, `expected a function, got ${describeValue(x)}`);
}

/** Options shared by chunked runs and studies: `signal`, `chunkMillis`, `initialChunkSteps`. */
export interface CheckedChunkOptions {
  signal: AbortSignal | undefined;
  chunkMillis: number | undefined;
  initialChunkSteps: number | undefined;
}

/** Check the chunking options (`signal`, `chunkMillis`, `initialChunkSteps`) of `options`. */
export function chunkOptionsArg(options: unknown, field = 'options'): CheckedChunkOptions {
  const o = optionsArg(field, options);
  return {
    signal: signalArg(`${field}.signal`, o['signal']),
    chunkMillis: positiveArg(`${field}.chunkMillis`, o['chunkMillis']),
    initialChunkSteps: positiveIntArg(`${field}.initialChunkSteps`, o['initialChunkSteps']),
  };
}

/** Throw unless `b` has the shape of a {@link Backend}. */
export function checkBackend(b: unknown, needs: 'createSession' | 'createStudy' = 'createSession'): asserts b is Backend {
  const o = b as Record<string, unknown> | null;
  if (
    typeof o !== 'object' ||
    o === null ||
    (o['name'] !== 'native' && o['name'] !== 'wasm') ||
    typeof o[needs] !== 'function'
  ) {
    throw new InvalidRequestError('backend', `expected a Backend (from nativeBackend, wasmBackend or loadBackend), got ${describeValue(b)}`);
  }
}
