/**
 * Data sets that a run spec names instead of giving its numbers: the TS layer expands them into
 * the core's own inputs before the spec is encoded (the core reads no files: it runs in wasm).
 * One today: `patches: {kind: "digits", q, stride?, scale?, file?}` of the `convFilter` family,
 * the q x q patches of scikit-learn's 8 x 8 handwritten digits (1797 images, BSD-3), which becomes
 * `patches: {kind: "data", z}` (one row per image: its k patches, each q^2 pixels row-major,
 * patches in row-major order of their top-left corners, times `scale`).
 *
 * The file (`data/digits.csv`: 1797 lines of 64 pixels 0..16 and the label 0..9, exported from
 * the scikit-learn wheel by `scripts/setup.sh`) is read by a loader that the Node entry point
 * `autobalance` registers ({@link registerDatasetReader}); `autobalance/portable` has none.
 * docs/filter-learning.md, docs/ARCHITECTURE.md ("Data sets").
 *
 * @module
 */

import { InvalidSpecError, ShapeMismatchError } from './errors.js';
import { describeValue } from './args.js';
import { type Matrix, matrix } from './matrix.js';

/** Images, rows and columns of the digits set. */
export const DIGITS_IMAGES = 1797;
/** Side of a digits image (8 x 8 pixels). */
export const DIGITS_SIDE = 8;
/** The command that creates the digits file. */
export const DIGITS_SETUP_COMMAND = 'bash scripts/setup.sh (or only the data: bash scripts/fetch-digits.sh)';

/** The `patches` spec of the digits data set (expanded by the TS layer, never seen by the core). */
export interface DigitsPatchesSpec {
  /** `digits`. */
  kind: 'digits';
  /** Patch side: patches are q x q (the family's `model.p` must be q^2), 1 <= q <= 8. */
  q: number;
  /** Distance between patch corners (default q: non-overlapping); k = ((8 - q) / stride + 1)^2 must equal `model.k`. */
  stride?: number;
  /** Factor applied to the pixels 0..16 (default 1/16: pixels in [0, 1]). */
  scale?: number;
  /** The CSV file (default: the one the reader finds, `data/digits.csv` of the repository, or `$AUTOBALANCE_DATA_DIR/digits.csv`). */
  file?: string;
}

/** The parsed digits file. */
export interface DigitsData {
  /** Number of images. */
  n: number;
  /** Pixels, row-major per image, n x 64 (values 0..16). */
  pixels: Float64Array;
  /** Labels 0..9. */
  labels: Float64Array;
  /** Where they were read from. */
  path: string;
}

/** A data set file as read. */
export interface DatasetFile {
  /** Its text. */
  text: string;
  /** Its resolved path. */
  path: string;
}

/** Reads a data set file (`file`, or the reader's default for `name`); throws a typed error when it is missing. */
export type DatasetReader = (name: 'digits', file: string | undefined) => DatasetFile;

let reader: DatasetReader | undefined;

/** Register the file reader (the Node entry point does; a browser app may register its own). */
export function registerDatasetReader(r: DatasetReader | undefined): void {
  reader = r;
}

/**
 * Parse the digits CSV: every line 64 integers 0..16 and a label 0..9.
 *
 * @throws {ShapeMismatchError} (field `patches`) naming the file and line when it is not that.
 */
export function parseDigitsCsv(text: string, path: string): DigitsData {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const n = lines.length;
  const cols = DIGITS_SIDE * DIGITS_SIDE;
  const pixels = new Float64Array(n * cols);
  const labels = new Float64Array(n);
  for (const [i, line] of lines.entries()) {
    const v = line.split(',').map(Number);
    if (v.length !== cols + 1) throw new ShapeMismatchError('patches', `${path} line ${i + 1}: expected ${cols + 1} values (64 pixels and the label), got ${v.length}`);
    for (let j = 0; j < cols; j++) {
      const x = v[j] as number;
      if (!Number.isInteger(x) || x < 0 || x > 16) throw new ShapeMismatchError('patches', `${path} line ${i + 1}: pixel ${j} is ${describeValue(x)}, expected an integer in 0..16`);
      pixels[i * cols + j] = x;
    }
    const y = v[cols] as number;
    if (!Number.isInteger(y) || y < 0 || y > 9) throw new ShapeMismatchError('patches', `${path} line ${i + 1}: label ${describeValue(y)}, expected an integer in 0..9`);
    labels[i] = y;
  }
  if (n !== DIGITS_IMAGES) throw new ShapeMismatchError('patches', `${path}: expected ${DIGITS_IMAGES} images, got ${n}: recreate it with ${DIGITS_SETUP_COMMAND}`);
  return { n, pixels, labels, path };
}

/** Read and parse the digits file through the registered reader. */
export function readDigits(file?: string): DigitsData {
  if (!reader) {
    throw new InvalidSpecError(
      'patches.kind',
      '"digits" patches are read from a file by the Node entry point `autobalance` (none is registered here: autobalance/portable, a browser); give {kind: "data", z} instead, or registerDatasetReader',
    );
  }
  const { text, path } = reader('digits', file);
  return parseDigitsCsv(text, path);
}

/**
 * The patches of every image: an n x (k q^2) row-major matrix, k = m^2 patches with m = (8 - q) /
 * stride + 1, patch (a, b) (corner at row a stride, column b stride) at columns (a m + b) q^2 ..,
 * its pixels row-major, each times `scale`.
 */
export function digitsPatchRows(d: DigitsData, q: number, stride: number, scale: number): Matrix {
  const m = Math.floor((DIGITS_SIDE - q) / stride) + 1;
  const p = q * q;
  const cols = m * m * p;
  const data = new Float64Array(d.n * cols);
  for (let r = 0; r < d.n; r++) {
    let o = r * cols;
    for (let a = 0; a < m; a++) {
      for (let b = 0; b < m; b++) {
        for (let i = 0; i < q; i++) {
          for (let j = 0; j < q; j++) {
            data[o++] = (d.pixels[r * 64 + (a * stride + i) * DIGITS_SIDE + b * stride + j] as number) * scale;
          }
        }
      }
    }
  }
  return matrix(d.n, cols, data);
}

function intIn(field: string, x: unknown, lo: number, hi: number): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < lo || x > hi) {
    throw new InvalidSpecError(field, `expected an integer in ${lo}..${hi}, got ${describeValue(x)}`);
  }
  return x;
}

/**
 * `spec` with a `patches: {kind: "digits", ..}` expanded into `{kind: "data", z}` (a shallow copy;
 * `spec` itself is not changed); any other spec is returned as it is.
 *
 * @throws {InvalidSpecError} naming `patches.q`, `patches.stride`, `patches.scale`, `patches.file`
 *   or a field that disagrees (`model.p` = q^2, `model.k` = the number of patches); the reader's
 *   error when the file is missing (naming the file and the command that creates it).
 */
export function resolveDatasets<S>(spec: S): S {
  if (typeof spec !== 'object' || spec === null) return spec;
  const o = spec as Record<string, unknown>;
  const pt = o['patches'];
  if (typeof pt !== 'object' || pt === null || (pt as { kind?: unknown }).kind !== 'digits') return spec;
  const d = pt as Record<string, unknown>;
  for (const key of Object.keys(d)) {
    if (!['kind', 'q', 'stride', 'scale', 'file'].includes(key)) throw new InvalidSpecError(`patches.${key}`, 'unknown field of digits patches (expected q, stride, scale, file)');
  }
  const q = intIn('patches.q', d['q'], 1, DIGITS_SIDE);
  const stride = d['stride'] === undefined ? q : intIn('patches.stride', d['stride'], 1, DIGITS_SIDE);
  const scale = d['scale'] === undefined ? 1 / 16 : d['scale'];
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0) throw new InvalidSpecError('patches.scale', `expected a finite number > 0, got ${describeValue(scale)}`);
  const file = d['file'];
  if (file !== undefined && typeof file !== 'string') throw new InvalidSpecError('patches.file', `expected a path, got ${describeValue(file)}`);
  const m = Math.floor((DIGITS_SIDE - q) / stride) + 1;
  const model = o['model'] as Record<string, unknown> | undefined;
  if (model?.['p'] !== q * q) throw new InvalidSpecError('model.p', `digits patches of side q = ${q} have ${q * q} pixels: expected model.p = ${q * q}, got ${describeValue(model?.['p'])}`);
  const k = model?.['k'] ?? 1;
  if (k !== m * m) throw new InvalidSpecError('model.k', `digits patches (q = ${q}, stride ${stride}) give ${m * m} patches per image: expected model.k = ${m * m}, got ${describeValue(k)}`);
  const z = digitsPatchRows(readDigits(file as string | undefined), q, stride, scale);
  return { ...o, patches: { kind: 'data', z } } as S;
}
