/**
 * Dense row-major matrices of `f64`, the shape in which matrices cross the binding.
 *
 * @module
 */

import { InvalidRequestError, InvalidSpecError, ShapeMismatchError } from './errors.js';
import { describeValue } from './args.js';

/** A dense matrix: `data[i * cols + j]` is entry (i, j) (row-major). */
export interface Matrix {
  /** Number of rows. */
  readonly rows: number;
  /** Number of columns. */
  readonly cols: number;
  /** The `rows * cols` entries, row-major. */
  readonly data: Float64Array;
}

/**
 * A matrix as a spec may give it: a {@link Matrix}, an array of rows (`number[][]`), or
 * `{ rows, cols, data }` with `data` a plain array (the JSON form).
 */
export type MatrixInput =
  | Matrix
  | readonly (readonly number[])[]
  | {
      /** Number of rows. */
      readonly rows: number;
      /** Number of columns. */
      readonly cols: number;
      /** The `rows * cols` entries, row-major. */
      readonly data: readonly number[] | Float64Array;
    };

/**
 * Build a {@link Matrix}. `data` is row-major with `rows * cols` entries; when omitted the matrix
 * is zero. A `Float64Array` is used as is (not copied).
 *
 * @throws {InvalidRequestError} when a size is not a non-negative integer, or `data` is not an
 *   array of numbers or a `Float64Array` (naming `rows`, `cols` or `data`).
 * @throws {ShapeMismatchError} when `data` does not have `rows * cols` entries.
 */
export function matrix(rows: number, cols: number, data?: Float64Array | readonly number[]): Matrix {
  for (const [field, x] of [['rows', rows], ['cols', cols]] as const) {
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) {
      throw new InvalidRequestError(field, `expected a non-negative integer, got ${describeValue(x)}`);
    }
  }
  let d: Float64Array;
  if (data === undefined) {
    d = new Float64Array(rows * cols);
  } else if (data instanceof Float64Array) {
    d = data;
  } else if (Array.isArray(data)) {
    d = new Float64Array(data.length);
    for (let k = 0; k < data.length; k++) {
      const x: unknown = data[k];
      if (typeof x !== 'number') throw new InvalidRequestError('data', `entry ${k} is not a number: ${describeValue(x)}`);
      d[k] = x;
    }
  } else {
    throw new InvalidRequestError('data', `expected a Float64Array or an array of numbers, got ${describeValue(data)}`);
  }
  if (d.length !== rows * cols) {
    throw new ShapeMismatchError('', `expected ${rows * cols} numbers (${rows} x ${cols}, row-major), got ${d.length}`);
  }
  return { rows, cols, data: d };
}

/**
 * Build a {@link Matrix} from an array of rows. `field` names the input in errors.
 *
 * @throws {ShapeMismatchError} when the rows do not all have the same length.
 * @throws {InvalidSpecError} when an entry is not a number.
 */
export function fromArray(rows: readonly (readonly number[])[], field = ''): Matrix {
  if (!Array.isArray(rows)) throw new InvalidSpecError(field, `expected an array of rows, got ${describeValue(rows)}`);
  const r = rows.length;
  const first = rows[0];
  const c = first === undefined ? 0 : arrayLength(first, field, 0);
  const data = new Float64Array(r * c);
  for (let i = 0; i < r; i++) {
    const row = rows[i] as readonly number[];
    const n = arrayLength(row, field, i);
    if (n !== c) {
      throw new ShapeMismatchError(field, `ragged rows: row 0 has ${c} entries but row ${i} has ${n}`);
    }
    for (let j = 0; j < c; j++) {
      const x: unknown = row[j];
      if (typeof x !== 'number') {
        throw new InvalidSpecError(field, `entry (${i}, ${j}) is not a number: ${JSON.stringify(x) ?? String(x)}`);
      }
      data[i * c + j] = x;
    }
  }
  return { rows: r, cols: c, data };
}

function arrayLength(row: unknown, field: string, i: number): number {
  if (!Array.isArray(row)) {
    throw new InvalidSpecError(field, `row ${i} is not an array of numbers`);
  }
  return row.length;
}

/** The rows of a matrix as plain arrays. */
export function toArray(m: Matrix): number[][] {
  if (!isMatrix(m)) throw new InvalidRequestError('matrix', `expected a Matrix {rows, cols, data: Float64Array}, got ${describeValue(m)}`);
  const out: number[][] = [];
  for (let i = 0; i < m.rows; i++) {
    out.push(Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols)));
  }
  return out;
}

/** True for a {@link Matrix} (a `Float64Array` in `data`). */
export function isMatrix(x: unknown): x is Matrix {
  return (
    typeof x === 'object' &&
    x !== null &&
    'data' in x &&
    (x as { data: unknown }).data instanceof Float64Array &&
    typeof (x as unknown as { rows: unknown }).rows === 'number' &&
    typeof (x as unknown as { cols: unknown }).cols === 'number'
  );
}

/**
 * Split a matrix input into the shape reference the core reads in the spec (`{rows, cols}`) and
 * the row-major buffer. Sizes are not checked against the model here: the core does that. Only
 * what conversion needs is checked (rectangular rows, numeric entries, an array `data`).
 *
 * @param field the spec path of the matrix (`target.matrix`, `init.u0`, `init.v0`).
 */
export function splitMatrixInput(
  input: unknown,
  field: string,
): {
  /** The shape as given (checked by the core, not here). */
  shape: {
    /** Number of rows. */
    rows: unknown;
    /** Number of columns. */
    cols: unknown;
  };
  /** The entries, row-major. */
  data: Float64Array;
} {
  if (Array.isArray(input)) {
    const m = fromArray(input as readonly (readonly number[])[], field);
    return { shape: { rows: m.rows, cols: m.cols }, data: m.data };
  }
  if (typeof input === 'object' && input !== null && 'data' in input) {
    const o = input as { rows?: unknown; cols?: unknown; data: unknown };
    let data: Float64Array;
    if (o.data instanceof Float64Array) {
      data = o.data;
    } else if (Array.isArray(o.data)) {
      data = new Float64Array(o.data.length);
      for (let k = 0; k < o.data.length; k++) {
        const x: unknown = o.data[k];
        if (typeof x !== 'number') {
          throw new InvalidSpecError(`${field}.data`, `entry ${k} is not a number: ${JSON.stringify(x) ?? String(x)}`);
        }
        data[k] = x;
      }
    } else {
      throw new InvalidSpecError(`${field}.data`, 'expected an array of numbers or a Float64Array');
    }
    return { shape: { rows: o.rows, cols: o.cols }, data };
  }
  throw new InvalidSpecError(field, 'expected a matrix: an array of rows, or {rows, cols, data}');
}
