/**
 * Curvature queries: what kind of point is this? Types of the query the core's `analyze` takes
 * and of the reports it returns (see docs/curvature.md for every field, default and check).
 * The numerics (exact Hessian-vector products, dense eigen, Lanczos, stochastic Lanczos
 * quadrature, Hutchinson, the Lemma 3.2 certificate) all live in the Rust core.
 *
 * Queries run in chunks of work (Lanczos steps, probes) off the event loop and can be stopped
 * by an `AbortSignal` ({@link HessianOptions}); a stopped query rejects with
 * {@link QueryCancelledError}.
 *
 * @module
 */

import { AutobalanceError, fromBindingError, guard } from './errors.js';
import { now, yieldToEventLoop } from './chunk.js';

/** What to compute at the current point of a run. */
export type CurvatureWhat = 'classify' | 'eigs' | 'density' | 'trace' | 'lemma32';

/** A curvature query. Every field but `what` is optional; the core validates all of them. */
export interface HessianQuery {
  /** `classify` (verdict), `eigs` (extreme eigenpairs), `density` (SLQ), `trace` (Hutchinson), `lemma32` (matrix factorization). */
  what: CurvatureWhat;
  /** Eigenpairs per end (eigs) or smallest Ritz pairs (classify). Default 1. */
  k?: number;
  /** Which end of the spectrum for `eigs`. Default `smallest`. */
  which?: 'smallest' | 'largest' | 'both';
  /** Solver: dense up to `denseMaxDim` parameters when `auto` (the default). */
  method?: 'auto' | 'dense' | 'lanczos';
  /** Lanczos relative residual tolerance, in (0, 0.5]. Default 1e-8. */
  tol?: number;
  /** Lanczos steps. Default 1000. */
  maxIter?: number;
  /** Seed of the Lanczos start vector and the probes. Default 0. */
  seed?: number;
  /** Restrict to one block of parameters (`U`, `V`, `W1`, ...). */
  block?: string;
  /** Probe vectors for `density` and `trace`. Default 20. */
  probes?: number;
  /** Lanczos steps per probe for `density`. Default 60. */
  lanczosSteps?: number;
  /** Grid points of the density. Default 200. */
  gridPoints?: number;
  /** Gaussian broadening of the density. Default: automatic. */
  sigma?: number;
  /** Near-zero threshold relative to the largest |eigenvalue|. Default 1e-6. */
  zeroTol?: number;
  /** Stationary when the gradient norm is at most this (classify, lemma32). Default 1e-6. */
  gradTol?: number;
  /** Largest dimension the `auto` method solves densely. Default 1500. */
  denseMaxDim?: number;
  /** Lemma 3.2 epsilon. Default: the measured imbalance. */
  eps?: number;
  /** Include eigenvectors / directions in the report. Default false. */
  vectors?: boolean;
}

/** One eigenpair with its residual ||H v - lambda v||. */
export interface EigenPair {
  /** The eigenvalue (Ritz value) lambda. */
  value: number;
  /** The true residual ||H v - lambda v|| from one Hessian-vector product. */
  residual: number;
  /** Whether the residual is within the tolerance (always true for dense). */
  converged: boolean;
  /** The unit eigenvector; only with `vectors: true`. */
  vector?: number[];
}

/** The verdict on a point. */
export type Verdict =
  | {
      /** Stationary, and positive definite or positive off the symmetry orbit's tangent space. */
      kind: 'localMinimum';
    }
  | {
      /** Stationary with a negative eigenvalue. */
      kind: 'strictSaddle';
      /** The Rayleigh quotient of `direction`: lambda_min(H) <= it < 0. */
      lambdaMin: number;
      /** A unit escape direction: the loss decreases along it at second order. */
      direction: number[];
    }
  | {
      /** Stationary, but second order does not decide (or Lanczos did not converge). */
      kind: 'degenerate';
      /** Why, with the counts. */
      reason: string;
    }
  | {
      /** The gradient norm is above `gradTol`. */
      kind: 'notStationary';
      /** The gradient norm. */
      gradNorm: number;
    };

/** Report of `what: 'classify'`. */
export interface ClassifyReport {
  /** The query kind. */
  what: 'classify';
  /** The solver used. */
  method: 'dense' | 'lanczos';
  /** Dimension of the operator (number of parameters, or of the block). */
  dim: number;
  /** The loss at the point. */
  loss: number;
  /** The gradient norm at the point. */
  gradNorm: number;
  /** The smallest eigenvalue found. */
  lambdaMin: number;
  /** Residual ||H v - lambda v|| of `lambdaMin`. */
  lambdaMinResidual: number;
  /** Whether `lambdaMin` converged (always true for dense). */
  lambdaMinConverged: boolean;
  /** The largest eigenvalue found. */
  lambdaMax: number;
  /** Residual ||H v - lambda v|| of `lambdaMax`. */
  lambdaMaxResidual: number;
  /** Number of near-zero eigenvalues (|lambda| <= zeroTol * scale); null when not determined. */
  zeroCount: number | null;
  /** Number of eigenvalues below the near-zero band; null when not determined. */
  negativeCount: number | null;
  /** How `zeroCount` was obtained (dense, or Lanczos with deflation). */
  zeroCountNote: string;
  /** Dimension of the model's continuous symmetry orbit at the point; null when unknown. */
  symmetryDim: number | null;
  /** Lanczos: lambda_min on the complement of the symmetry tangents; null otherwise. */
  deflatedLambdaMin: number | null;
  /** What kind of point this is. */
  verdict: Verdict;
  /** The thresholds the verdict used (see {@link HessianQuery}). */
  thresholds: {
    /** Stationary when the gradient norm is at most this. */
    gradTol: number;
    /** Near zero: |lambda| <= zeroTol * max(|lambda_min|, |lambda_max|). */
    zeroTol: number;
    /** Lanczos relative residual tolerance. */
    tol: number;
  };
  /** Hessian-vector products used. */
  hvps: number;
  /** Lanczos steps (0 for dense). */
  iterations: number;
  /** Dense: all eigenvalues, ascending; Lanczos: the computed smallest ones. */
  eigenvalues?: number[];
}

/** Options of a curvature query ({@link Run.hessian}). */
export interface HessianOptions {
  /**
   * Stop the query once this signal aborts: it is checked between chunks of work (Lanczos
   * steps, probes), and the promise rejects with {@link QueryCancelledError}. `classify`, `eigs`
   * with the dense solver and `lemma32` run as one chunk (they stop after it).
   */
  signal?: AbortSignal;
  /** Target wall time of one chunk, in milliseconds (default 50); chunks are sized from measured times. */
  chunkMillis?: number;
}

/** Progress of a chunked query (the binding's `QueryStatus`). */
export interface QueryStatus {
  /** Units of work done (Lanczos steps, probes; 1 for a query that runs whole). */
  units: number;
  /** Hessian-vector products so far. */
  hvps: number;
  /** True once the report is ready. */
  finished: boolean;
}

/**
 * A curvature query stopped by its `AbortSignal` (code `cancelled`). The work done is
 * discarded; `units` and `hvps` say how far it got.
 */
export class QueryCancelledError extends AutobalanceError {
  /** Units of work done before the stop. */
  readonly units: number;
  /** Hessian-vector products done before the stop. */
  readonly hvps: number;
  constructor(what: string, units: number, hvps: number, options?: { cause?: unknown }) {
    super('cancelled', 'query', `the ${what} query was cancelled after ${units} units of work (${hvps} Hessian-vector products)`, options);
    this.units = units;
    this.hvps = hvps;
  }
}

/**
 * What a chunked query needs of a binding session (`NativeSession`, `WasmSession`).
 * @internal
 */
export interface QuerySession {
  /** Validate a query at the current point and keep it. */
  hessianStart(queryJson: string): void;
  /** Up to `maxUnits` units of its work: the `QueryStatus` JSON. */
  hessianAdvance(maxUnits: number): string;
  /** napi only: the same on the libuv thread pool. */
  hessianAdvanceAsync?(maxUnits: number): Promise<string>;
  /** The report once finished. */
  hessianReport(): string;
  /** Drop the query. */
  hessianCancel(): void;
}

/** Largest chunk, in units of work. */
const MAX_QUERY_CHUNK = 1 << 20;

/**
 * Run a curvature query on a binding session in chunks: on native each chunk runs on the libuv
 * thread pool, on wasm synchronously and then the event loop runs. The signal is checked
 * between chunks. Returns the report's JSON text; the result is the same, bit for bit, whatever
 * the chunk sizes (the core keeps the solver's state between chunks).
 * @internal
 */
export async function runQuery(s: QuerySession, queryJson: string, what: string, useAsync: boolean, options: HessianOptions = {}): Promise<string> {
  const { signal } = options;
  const target = Math.max(1, options.chunkMillis ?? 50);
  let st: QueryStatus = { units: 0, hvps: 0, finished: false };
  if (signal?.aborted) throw new QueryCancelledError(what, 0, 0, { cause: signal.reason });
  guard(() => s.hessianStart(queryJson));
  try {
    let n = 1;
    const recent: number[] = [];
    for (;;) {
      if (signal?.aborted) throw new QueryCancelledError(what, st.units, st.hvps, { cause: signal.reason });
      const before = st.units;
      const t0 = now();
      let json: string;
      if (useAsync && s.hessianAdvanceAsync) {
        try {
          json = await s.hessianAdvanceAsync(n);
        } catch (e) {
          throw fromBindingError(e);
        }
      } else {
        json = guard(() => s.hessianAdvance(n));
        await yieldToEventLoop();
      }
      const dt = now() - t0;
      st = JSON.parse(json) as QueryStatus;
      if (st.finished) return guard(() => s.hessianReport());
      if (st.units - before >= n) {
        // The cost of a unit varies (a Lanczos step reorthogonalizes against more vectors as a
        // probe goes on; the machine may be shared): size from the dearest of the last three
        // chunks, and at most double.
        recent.push(dt / n);
        if (recent.length > 3) recent.shift();
        const per = Math.max(...recent);
        const ideal = per > 0 ? target / per : n * 2;
        n = Math.min(MAX_QUERY_CHUNK, Math.max(1, Math.floor(n / 4), Math.min(n * 2, Math.floor(ideal))));
      }
    }
  } finally {
    try {
      s.hessianCancel();
    } catch {
      // The session is gone or busy: nothing to free.
    }
  }
}

/** Report of `what: 'eigs'`. */
export interface EigsReport {
  /** The query kind. */
  what: 'eigs';
  /** The solver used. */
  method: 'dense' | 'lanczos';
  /** Dimension of the operator (number of parameters, or of the block). */
  dim: number;
  /** The parameter block, or null for the whole Hessian. */
  block: string | null;
  /** The smallest eigenpairs, ascending (with `which` `smallest` or `both`). */
  smallest?: EigenPair[];
  /** The largest eigenpairs, descending (with `which` `largest` or `both`). */
  largest?: EigenPair[];
  /** Whether every returned pair converged. */
  allConverged: boolean;
  /** The largest |eigenvalue| estimate, the scale of the relative tolerance. */
  scale: number;
  /** Lanczos steps (0 for dense). */
  iterations: number;
  /** Fresh start vectors after the Krylov space became invariant. */
  restarts: number;
  /** Hessian-vector products used. */
  hvps: number;
  /** The relative residual tolerance used. */
  tol: number;
  /** Dense only: the largest asymmetry of the assembled Hessian before symmetrizing. */
  asymmetry?: number;
  /**
   * Lanczos only: whether a deflated restart confirmed that no eigenvalue beyond the reported
   * ones was missed (copies of a multiple eigenvalue). `allConverged` is true only when it is.
   */
  multiplicityVerified?: boolean;
  /** Lanczos only: deflated verification solves run. */
  verificationRounds?: number;
  /** Lanczos only: further copies (missed by the first solve) found by the verification. */
  copiesFound?: number;
}

/** Report of `what: 'density'` (stochastic Lanczos quadrature). */
export interface DensityReport {
  /** The query kind. */
  what: 'density';
  /** Dimension of the operator (number of parameters, or of the block). */
  dim: number;
  /** The parameter block, or null for the whole Hessian. */
  block: string | null;
  /** Points at which the density is evaluated. */
  grid: number[];
  /** The broadened spectral density on `grid` (integrates to 1). */
  density: number[];
  /** Quadrature nodes theta_i (Ritz values of all probes). */
  nodes: number[];
  /** Quadrature weights tau_i (they sum to 1). */
  weights: number[];
  /** Width of the Gaussian broadening used. */
  sigma: number;
  /** Number of probe vectors. */
  probes: number;
  /** Lanczos steps per probe. */
  steps: number;
  /** Hutchinson estimate of the trace on the same probes, divided by `dim`. */
  traceEstimate: number;
  /** Hessian-vector products used. */
  hvps: number;
}

/** Report of `what: 'trace'` (Hutchinson). */
export interface TraceReport {
  /** The query kind. */
  what: 'trace';
  /** Dimension of the operator (number of parameters, or of the block). */
  dim: number;
  /** The parameter block, or null for the whole Hessian. */
  block: string | null;
  /** The trace estimate: mean of z^T H z over the probes. */
  estimate: number;
  /** Its standard error (sample standard deviation / sqrt(probes)). */
  stdError: number;
  /** Number of Rademacher probe vectors. */
  probes: number;
  /** Hessian-vector products used. */
  hvps: number;
}

/** Report of `what: 'lemma32'`: the Lemma 3.2 certificate of Du, Hu & Lee (2018). */
export interface Lemma32Report {
  /** The query kind. */
  what: 'lemma32';
  /** The epsilon used (given, or the measured imbalance floored at 1e-8 ||M*||_F). */
  eps: number;
  /** ||U^T U - V^T V||_F. */
  imbalance: number;
  /** ||U V^T - M*||_F. */
  residual: number;
  /** Gradient norm of the unregularized loss. */
  gradNorm: number;
  /** The Hessian quadratic form at Delta = W - W* R, thesis eq. 4.12. */
  value: number;
  /** Delta^T H Delta from the model's Hessian-vector product. */
  hvpValue: number;
  /** -||U V^T - M*||_F^2 + eps^2/2, the saddle-case bound. */
  bound: number;
  /** ||Delta||. */
  deltaNorm: number;
  /** `value` / ||Delta||^2, an upper bound on lambda_min. */
  rayleigh: number;
  /**
   * `globalMinimumWithinEps` (residual <= eps), `strictSaddle` (value <= bound), or `neither`:
   * the latter whenever a hypothesis of the lemma fails (see `hypotheses` and `reason`).
   */
  side: 'globalMinimumWithinEps' | 'strictSaddle' | 'neither';
  /** The lemma's hypotheses at this point; a side is given only when all hold. */
  hypotheses: {
    /** Gradient norm of the unregularized loss <= `gradTol`. */
    stationary: boolean;
    /** ||U^T U - V^T V||_F <= eps. */
    balanced: boolean;
    /** The numerical rank of M* is at most the factorization's rank. */
    targetRankAtMostR: boolean;
    /** The stationarity threshold used (the query's `gradTol`). */
    gradTol: number;
    /** Numerical rank of M*. */
    targetRank: number;
    /** The factorization's rank r. */
    rank: number;
  };
  /** Why the side is `neither` (null otherwise). */
  reason: string | null;
  /** The Procrustes rotation R (r x r, flattened). */
  rotation: number[];
  /** Singular values of M*, descending. */
  singularValues: number[];
  /** Delta = W - W* R; only with `vectors: true`. */
  delta?: number[];
}

/** Any curvature report; narrow on `what`. */
export type HessianReport = ClassifyReport | EigsReport | DensityReport | TraceReport | Lemma32Report;

/** The report type of a query kind. */
export type ReportFor<W extends CurvatureWhat> = Extract<
  HessianReport,
  {
    /** The query kind. */
    what: W;
  }
>;

/** A one-line human summary of a report (used by the CLI). */
export function describeReport(r: HessianReport): string {
  const g = (x: number | null | undefined): string => (x === null || x === undefined ? 'n/a' : x.toPrecision(6));
  switch (r.what) {
    case 'classify': {
      const v = r.verdict;
      const head =
        v.kind === 'localMinimum'
          ? 'local minimum'
          : v.kind === 'strictSaddle'
            ? `strict saddle (escape direction returned, curvature ${g(v.lambdaMin)})`
            : v.kind === 'degenerate'
              ? `degenerate: ${v.reason}`
              : `not stationary (gradient norm ${g(v.gradNorm)})`;
      return `${head}; lambda_min ${g(r.lambdaMin)} (residual ${g(r.lambdaMinResidual)}), lambda_max ${g(r.lambdaMax)}, near-zero ${r.zeroCount ?? 'n/a'} vs symmetry ${r.symmetryDim ?? 'n/a'}, ${r.method}`;
    }
    case 'eigs': {
      const list = (ps?: EigenPair[]): string => (ps ?? []).map((p) => `${g(p.value)}${p.converged ? '' : '?'}`).join(', ');
      return `eigs (${r.method}, ${r.hvps} HVPs): smallest [${list(r.smallest)}] largest [${list(r.largest)}]`;
    }
    case 'density':
      return `spectral density: ${r.probes} probes x ${r.steps} Lanczos steps, trace estimate ${g(r.traceEstimate)}`;
    case 'trace':
      return `trace ~ ${g(r.estimate)} +- ${g(r.stdError)} (${r.probes} probes)`;
    case 'lemma32':
      return `Lemma 3.2: ${r.side}; residual ${g(r.residual)}, imbalance ${g(r.imbalance)}, eps ${g(r.eps)}, [Hess f](Delta, Delta) = ${g(r.value)} vs bound ${g(r.bound)}`;
    default: {
      // A family's own query (e.g. `theory`): its numeric fields, one level of nesting.
      const o = r as unknown as Record<string, unknown>;
      const parts: string[] = [];
      for (const [k, v] of Object.entries(o)) {
        if (typeof v === 'number') parts.push(`${k} ${g(v)}`);
        else if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
          for (const [k2, v2] of Object.entries(v)) if (typeof v2 === 'number') parts.push(`${k}.${k2} ${g(v2)}`);
        }
      }
      return `${String(o['what'] ?? 'report')}: ${parts.join(', ')}`;
    }
  }
}
