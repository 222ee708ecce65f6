/**
 * Curvature queries: what kind of point is this? Types of the query the core's `analyze` takes
 * and of the reports it returns (see docs/curvature.md for every field, default and check).
 * The numerics (exact Hessian-vector products, dense eigen, Lanczos, stochastic Lanczos
 * quadrature, Hutchinson, the Lemma 3.2 certificate) all live in the Rust core.
 *
 * @module
 */

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
  /** Stationary when the gradient norm is at most this. Default 1e-6. */
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
  value: number;
  residual: number;
  converged: boolean;
  vector?: number[];
}

/** The verdict on a point. */
export type Verdict =
  | { kind: 'localMinimum' }
  | { kind: 'strictSaddle'; lambdaMin: number; direction: number[] }
  | { kind: 'degenerate'; reason: string }
  | { kind: 'notStationary'; gradNorm: number };

/** Report of `what: 'classify'`. */
export interface ClassifyReport {
  what: 'classify';
  method: 'dense' | 'lanczos';
  dim: number;
  loss: number;
  gradNorm: number;
  lambdaMin: number;
  lambdaMinResidual: number;
  lambdaMinConverged: boolean;
  lambdaMax: number;
  lambdaMaxResidual: number;
  zeroCount: number | null;
  negativeCount: number | null;
  zeroCountNote: string;
  symmetryDim: number | null;
  deflatedLambdaMin: number | null;
  verdict: Verdict;
  thresholds: { gradTol: number; zeroTol: number; tol: number };
  hvps: number;
  iterations: number;
  eigenvalues?: number[];
}

/** Report of `what: 'eigs'`. */
export interface EigsReport {
  what: 'eigs';
  method: 'dense' | 'lanczos';
  dim: number;
  block: string | null;
  smallest?: EigenPair[];
  largest?: EigenPair[];
  allConverged: boolean;
  scale: number;
  iterations: number;
  restarts: number;
  hvps: number;
  tol: number;
  asymmetry?: number;
}

/** Report of `what: 'density'` (stochastic Lanczos quadrature). */
export interface DensityReport {
  what: 'density';
  dim: number;
  block: string | null;
  grid: number[];
  density: number[];
  nodes: number[];
  weights: number[];
  sigma: number;
  probes: number;
  steps: number;
  traceEstimate: number;
  hvps: number;
}

/** Report of `what: 'trace'` (Hutchinson). */
export interface TraceReport {
  what: 'trace';
  dim: number;
  block: string | null;
  estimate: number;
  stdError: number;
  probes: number;
  hvps: number;
}

/** Report of `what: 'lemma32'`: the Lemma 3.2 certificate of Du, Hu & Lee (2018). */
export interface Lemma32Report {
  what: 'lemma32';
  eps: number;
  imbalance: number;
  residual: number;
  gradNorm: number;
  /** The Hessian quadratic form at Delta = W - W* R, thesis eq. 4.12. */
  value: number;
  /** Delta^T H Delta from the model's Hessian-vector product. */
  hvpValue: number;
  /** -||U V^T - M*||_F^2 + eps^2/2, the saddle-case bound. */
  bound: number;
  deltaNorm: number;
  rayleigh: number;
  side: 'globalMinimumWithinEps' | 'strictSaddle' | 'neither';
  rotation: number[];
  singularValues: number[];
  delta?: number[];
}

/** Any curvature report; narrow on `what`. */
export type HessianReport = ClassifyReport | EigsReport | DensityReport | TraceReport | Lemma32Report;

/** The report type of a query kind. */
export type ReportFor<W extends CurvatureWhat> = Extract<HessianReport, { what: W }>;

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
  }
}
