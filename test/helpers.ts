// Shared helpers of the test suite: the backend under test, small specs, and numeric oracles
// written independently of the core (plain loops over row-major arrays).
import type { BackendName, Matrix, MatrixFactorizationRunSpec } from 'autobalance';
import { AutobalanceError as AutobalanceErrorClass } from 'autobalance';

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

// ---------------------------------------------------------------------------------------------
// Error capture for the fuzz and catalogue tests (test/fuzz.test.ts, test/catalogue.test.ts).

/** What a call threw, reduced to what both backends must agree on. */
export interface ThrownRecord {
  /** Constructor name of what was thrown (`OutOfRangeError`, `TypeError`, ...). */
  cls: string;
  /** `code` of an `AutobalanceError`, else `''`. */
  code: string;
  /** `field` of an `AutobalanceError`, else `''`. */
  field: string;
  /** The message (for non-errors: `String(x)`). */
  message: string;
  /**
   * A typed error as the contract asks: an `AutobalanceError` that is neither `InternalError`
   * (a bug by definition) nor `BackendLoadError`.
   */
  typed: boolean;
}

/** Reduce anything thrown to a {@link ThrownRecord}. */
export function thrownRecord(e: unknown): ThrownRecord {
  const cls = e !== null && typeof e === 'object' ? ((e as { constructor?: { name?: string } }).constructor?.name ?? 'Object') : typeof e;
  let message: string;
  try {
    message = e instanceof Error ? e.message : String(e);
  } catch {
    message = '<unprintable>';
  }
  if (e instanceof AutobalanceErrorClass) {
    return { cls, code: e.code, field: e.field, message, typed: e.code !== 'internal' && e.code !== 'backend_load' };
  }
  return { cls, code: '', field: '', message, typed: false };
}

/** Run `f` (sync or async) and return what it threw, or `null` if it returned. */
export async function thrownBy(f: () => unknown): Promise<ThrownRecord | null> {
  try {
    await f();
    return null;
  } catch (e) {
    return thrownRecord(e);
  }
}

/** A short printable form of a record (messages cut to 200 characters). */
export function showThrown(r: ThrownRecord | null): string {
  if (r === null) return 'no error';
  const m = r.message.length > 200 ? `${r.message.slice(0, 200)}... (${r.message.length} chars)` : r.message;
  return `${r.cls} code=${JSON.stringify(r.code)} field=${JSON.stringify(r.field)} message=${JSON.stringify(m)}`;
}

/** Longest error message the contract allows (echoed input is truncated). */
export const MAX_MESSAGE_CHARS = 1000;

/** JSON.stringify that survives cycles, BigInt, NaN and huge strings (for failure reports). */
export function showValue(x: unknown, max = 600): string {
  const seen = new WeakSet<object>();
  let s: string;
  try {
    s =
      JSON.stringify(x, (_k, v: unknown) => {
        if (typeof v === 'bigint') return `${v}n`;
        if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
        if (typeof v === 'string' && v.length > 60) return `${v.slice(0, 20)}...(${v.length} chars)`;
        if (v instanceof Float64Array) return Array.from(v.slice(0, 20));
        if (v !== null && typeof v === 'object') {
          if (seen.has(v)) return '<cycle>';
          seen.add(v);
        }
        return v;
      }) ?? String(x);
  } catch (e) {
    s = `<unprintable: ${String(e)}>`;
  }
  return s.length > max ? `${s.slice(0, max)}...` : s;
}
