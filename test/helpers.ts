// Shared helpers of the test suite: the backend under test, small specs, and numeric oracles
// written independently of the core (plain loops over row-major arrays).
import type { BackendName, Matrix, MatrixFactorizationRunSpec } from 'autobalance';

/** The backend this pass of the suite runs on (`AUTOBALANCE_BACKEND`, default native). */
export const BACKEND: BackendName = process.env['AUTOBALANCE_BACKEND'] === 'wasm' ? 'wasm' : 'native';

/** A small well-conditioned problem with a random target and a Gaussian init. */
export function smallSpec(over: Partial<MatrixFactorizationRunSpec> = {}): MatrixFactorizationRunSpec {
  return {
    model: { kind: 'matrixFactorization', d1: 12, d2: 10, rank: 3 },
    target: { kind: 'random', singularValues: [3, 2, 1], seed: 1 },
    init: { kind: 'gaussian', stdU: 0.1, stdV: 0.1, seed: 2 },
    schedule: { kind: 'constant', eta: 0.05 },
    steps: 400,
    ...over,
  };
}

/**
 * Steps of {@link longSpec} that take a few seconds (about 5 s native, 5 s wasm on the 2-core
 * reference machine): long enough to be cancelled or to measure the event loop, short enough that
 * a run that ignores its signal or blocks the loop ends and fails its test quickly.
 */
export const LONG_STEPS = BACKEND === 'native' ? 40_000 : 8_000;

/** A spec that takes long enough to be cancelled or to measure the event loop. */
export function longSpec(steps = LONG_STEPS): MatrixFactorizationRunSpec {
  return {
    model: { kind: 'matrixFactorization', d1: 300, d2: 200, rank: 10 },
    target: { kind: 'random', singularValues: [10, 9, 8, 7, 6, 5, 4, 3, 2, 1], seed: 3 },
    init: { kind: 'gaussian', stdU: 0.01, stdV: 0.01, seed: 4 },
    schedule: { kind: 'constant', eta: 0.01 },
    steps,
    recordEvery: 100,
  };
}

/** Deterministic pseudo-random numbers in [-1, 1) (an LCG: independent of the core's RNG). */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

/** A rows x cols array of numbers from `next`. */
export function randomArray(rows: number, cols: number, next: () => number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length: cols }, next));
}

/** C = A B^T for row-major A (n x k), B (m x k). */
export function mulABt(a: Matrix, b: Matrix): Matrix {
  const n = a.rows;
  const m = b.rows;
  const k = a.cols;
  const data = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let l = 0; l < k; l++) s += (a.data[i * k + l] as number) * (b.data[j * k + l] as number);
      data[i * m + j] = s;
    }
  }
  return { rows: n, cols: m, data };
}

/** C = A^T B for row-major A (n x p), B (n x q): p x q. */
export function mulAtB(a: Matrix, b: Matrix): Matrix {
  const p = a.cols;
  const q = b.cols;
  const data = new Float64Array(p * q);
  for (let i = 0; i < a.rows; i++) {
    for (let x = 0; x < p; x++) {
      const ax = a.data[i * p + x] as number;
      for (let y = 0; y < q; y++) data[x * q + y] = (data[x * q + y] as number) + ax * (b.data[i * q + y] as number);
    }
  }
  return { rows: p, cols: q, data };
}

/** C = A B for row-major A (n x k), B (k x m). */
export function mul(a: Matrix, b: Matrix): Matrix {
  const n = a.rows;
  const k = a.cols;
  const m = b.cols;
  const data = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let l = 0; l < k; l++) {
      const ail = a.data[i * k + l] as number;
      for (let j = 0; j < m; j++) data[i * m + j] = (data[i * m + j] as number) + ail * (b.data[l * m + j] as number);
    }
  }
  return { rows: n, cols: m, data };
}

export function sub(a: Matrix, b: Matrix): Matrix {
  return { rows: a.rows, cols: a.cols, data: a.data.map((x, i) => x - (b.data[i] as number)) };
}

export function scaleAdd(a: Matrix, s: number, b: Matrix): Matrix {
  return { rows: a.rows, cols: a.cols, data: a.data.map((x, i) => x + s * (b.data[i] as number)) };
}

export function transpose(a: Matrix): Matrix {
  const data = new Float64Array(a.rows * a.cols);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) data[j * a.rows + i] = a.data[i * a.cols + j] as number;
  return { rows: a.cols, cols: a.rows, data };
}

export function norm2(a: Matrix | Float64Array): number {
  const d = a instanceof Float64Array ? a : a.data;
  let s = 0;
  for (const x of d) s += x * x;
  return s;
}

/** Largest |a_i - b_i| / max(|a_i|, |b_i|, floor). */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>, floor = 0): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (x === y) continue;
    const d = Math.abs(x - y) / Math.max(Math.abs(x), Math.abs(y), floor);
    if (!(d <= m)) m = d;
  }
  return m;
}

/** ||a - b|| / max(||a||, ||b||) (Frobenius). */
export function normRelDiff(a: Float64Array, b: Float64Array): number {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  for (let i = 0; i < a.length; i++) d += ((a[i] as number) - (b[i] as number)) ** 2;
  const s = Math.max(norm2(a), norm2(b));
  return s === 0 ? Math.sqrt(d) : Math.sqrt(d / s);
}

/** Resolve after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
