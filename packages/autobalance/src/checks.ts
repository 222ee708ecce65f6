/**
 * Checks of a preset's results against what the paper reports: each reference row of a preset
 * (defined in the core, `crates/core/src/presets.rs`) may carry machine-readable checks on the
 * recorded columns and the curvature reports; evaluating them marks the row as agreeing,
 * disagreeing, or not comparable (with the reason). Platform-neutral.
 *
 * @module
 */

import { stepColumn } from './columns.js';
import type { HessianReport } from './curvature.js';
import type { RunResult } from './run.js';
import type { SweepSettingRow, SweepTable } from './sweep.js';

/**
 * A number (or, for curvature report fields, a string) taken from a preset's results.
 *
 * - a column of run `run`, reduced over its recorded rows (rows with step in [`from`, `to`] when
 *   given, the step being the run's column of role `step`; NaN entries skipped): `first`, `last`, `min`, `max`, `maxAbs`; `at` is the value on the
 *   last recorded row with step <= `step`; `firstStepAtMost` is the first step whose value is
 *   <= `value` (Infinity if none);
 * - a field of curvature report `hessian` (an index into the preset's `hessian` list), a dotted
 *   path such as `lambdaMin` or `verdict.kind`;
 * - a constant `value` (a theory value computed from the spec).
 *
 * `scale` multiplies a numeric result, then `offset` is added (e.g. `1 - eta lambda_min` as
 * `{hessian, field: 'lambdaMin', scale: -eta, offset: 1}`).
 */
export type Quantity =
  | {
      /** Index of the run in the preset. */
      run: number;
      /** Column name. */
      column: string;
      /**
       * How the rows are reduced to one number; `rate`: exp of the least-squares slope of
       * ln(value) against the step over the rows with a positive finite value (at least two),
       * the per-step contraction factor of a linearly converging column.
       */
      reduce: 'first' | 'last' | 'min' | 'max' | 'maxAbs' | 'rate';
      /** First step of the window (inclusive). */
      from?: number;
      /** Last step of the window (inclusive). */
      to?: number;
      /** Factor applied to the result. */
      scale?: number;
      /** Added after the scale. */
      offset?: number;
    }
  | {
      /** Index of the run in the preset. */
      run: number;
      /** Column name. */
      column: string;
      /** The value at the last recorded row with step <= `step`. */
      reduce: 'at';
      /** The step. */
      step: number;
      /** Factor applied to the result. */
      scale?: number;
      /** Added after the scale. */
      offset?: number;
    }
  | {
      /** Index of the run in the preset. */
      run: number;
      /** Column name. */
      column: string;
      /** The first recorded step whose value is <= `value`. */
      reduce: 'firstStepAtMost';
      /** The threshold. */
      value: number;
      /** Factor applied to the result. */
      scale?: number;
      /** Added after the scale. */
      offset?: number;
    }
  | {
      /** Index into the preset's `hessian` list. */
      hessian: number;
      /** Dotted path of a field of the report. */
      field: string;
      /** Factor applied to a numeric result. */
      scale?: number;
      /** Added after the scale. */
      offset?: number;
    }
  | {
      /** A constant. */
      value: number;
    }
  | SweepQuantity
  | StudyQuantity
  | RunSpecQuantity
  | PowerLawQuantity;

/**
 * A number from the spec of run `run` (a dotted path such as `model.width`): the x of a
 * {@link PowerLawQuantity} over runs that differ in one spec field. Needs the specs in the
 * {@link CheckInputs} (`presetChecks` passes the preset's).
 */
export interface RunSpecQuantity {
  /** Index of the run in the preset. */
  run: number;
  /** Dotted path of a numeric field of the run's spec. */
  spec: string;
  /** Factor applied to the result. */
  scale?: number;
  /** Added after the scale. */
  offset?: number;
}

/** One point (x, y) of a power-law fit: x a number or a quantity (e.g. a run's `model.width`), y a quantity (e.g. a reduced column of the same run). */
export interface PowerLawPoint {
  /** The abscissa (positive). */
  x: number | Quantity;
  /** The ordinate (positive). */
  y: Quantity;
}

/**
 * A least-squares power law y = e^a x^b through `points` (at least three, every x and y positive
 * and finite, not all x equal), fitted as ln y = a + b ln x (see {@link powerLawFit}); `stat`:
 * `exponent` b, `stdErr` its standard error, `lo` / `hi` its 95% interval b -+ t se (t the 0.975
 * quantile of Student's t with n - 2 degrees of freedom), `r2` the coefficient of determination of
 * the log-log fit, `prefactor` e^a, `points` n.
 */
export interface PowerLawQuantity {
  /** The fit. */
  fit: 'powerLaw';
  /** The points. */
  points: PowerLawPoint[];
  /** Which number of the fit. */
  stat: 'exponent' | 'stdErr' | 'lo' | 'hi' | 'r2' | 'prefactor' | 'points';
  /** Factor applied to the result. */
  scale?: number;
  /** Added after the scale. */
  offset?: number;
}

/**
 * A value read from study `study` of a studies preset (an index into its `studies` list): a field
 * of the study's JSON output (a dotted path such as `laws`, `gap` or `status.rows`; a boolean is
 * read as the string `true` / `false`), or one of its columns reduced over the rows (`min`, `max`,
 * `first`, `last`, `count`; NaN rows skipped; `where` keeps only some rows), or its value where
 * another column crosses a value (`at`).
 */
export type StudyQuantity =
  | {
      /** Index of the study in the preset. */
      study: number;
      /** Dotted path of a field of the study's output. */
      field: string;
      /** Factor applied to a numeric result. */
      scale?: number;
      /** Added after the scale. */
      offset?: number;
    }
  | {
      /** Index of the study in the preset. */
      study: number;
      /** Column name. */
      column: string;
      /** How the rows are reduced to one number (`count`: the rows kept with a value). */
      reduce: 'min' | 'max' | 'first' | 'last' | 'count';
      /** Which rows (default all): see {@link StudyWhere}. */
      where?: StudyWhere;
      /** Factor applied to the result. */
      scale?: number;
      /** Added after the scale. */
      offset?: number;
    }
  | {
      /** Index of the study in the preset. */
      study: number;
      /** Column name. */
      column: string;
      /**
       * The column's value where column `x` crosses `value`: walking the kept rows in order, the
       * first (or last, `occurrence`) consecutive pair whose `x` values bracket `value`, the
       * column linearly interpolated in `x` between them. A branch through a fold crosses the
       * same value twice: `first` is the near solution, `last` the far one.
       */
      reduce: 'at';
      /** The column that is crossed. */
      x: string;
      /** The value crossed. */
      value: number;
      /** Which crossing (default `first`). */
      occurrence?: 'first' | 'last';
      /** Which rows (default all): see {@link StudyWhere}. */
      where?: StudyWhere;
      /** Factor applied to the result. */
      scale?: number;
      /** Added after the scale. */
      offset?: number;
    };

/**
 * Which rows of a study a {@link StudyQuantity} reads: per column name, a value (equal up to a
 * relative 1e-9) or bounds; a NaN never matches. Rows keep their order.
 */
export type StudyWhere = Record<string, number | SweepBounds>;

/**
 * Which settings of a sweep a {@link SweepQuantity} reads: per axis path (as in the table's
 * `values`, e.g. `schedule.eta`), a value (a number: equal up to a relative 1e-9; a string:
 * equal) or bounds. Paths not named are free.
 */
export type SweepWhere = Record<string, number | string | SweepBounds | SweepFitted>;

/**
 * An axis value chosen by a fit: the value of `axis` (the entry's own path) whose class
 * probabilities fit the published `cells` best (least chi^2, see {@link SweepChi2Quantity}),
 * resolved on the table before the settings are matched. A preset marks the cells of a published
 * table "under the fitted reading" this way, without writing the fitted value down.
 */
export interface SweepFitted {
  /** The fit. */
  fitted: {
    /** The class. */
    name: string;
    /** The published cells. */
    cells: ReferenceCell[];
  };
}

/** Bounds on an axis value in a {@link SweepWhere}: every bound given must hold. */
export interface SweepBounds {
  /** value < lt */
  lt?: number;
  /** value <= le */
  le?: number;
  /** value > gt */
  gt?: number;
  /** value >= ge */
  ge?: number;
}

/**
 * A number read from a sweep preset's reduced table: the settings matching `where` (all when
 * absent), then, with no `reduce`, the one setting (more or fewer is missing), else their
 * `min`/`max`; `pool` (classes only) adds the counts and runs of the matching settings and takes
 * the probability and its Wilson interval (at the sweep's confidence) of the pooled runs.
 *
 * - `sweep: 'class'`: class `name`'s `count`, `p`, or Wilson `lo`/`hi` (or the setting's `runs`);
 * - `sweep: 'kept'`: kept value `name`'s `mean`, `median` (the 0.5 quantile), `std`, `min`, `max`,
 *   `count` (finite values) or `missing` (nulls);
 * - `sweep: 'stepGrowth'`: the growth factor of the steps of a staircase: the kept values from
 *   `name` through `through`, in the plan's `keep` order (e.g. `escape1` .. `escape5`), each
 *   reduced to `stat` (`median` or `mean`) on the one matching setting, give v_0 .. v_m; the steps
 *   D_j = v_j - v_{j-1} (j = 1..m, m >= 2, every D_j > 0) are fitted by least squares,
 *   ln D_j = a + b j, and the quantity is exp(b): the factor by which each step is longer than the
 *   one before (1 for equal steps).
 */
export type SweepQuantity =
  | SweepChi2Quantity
  | {
      /** A class statistic. */
      sweep: 'class';
      /** The class name. */
      name: string;
      /** Which statistic. */
      stat: 'p' | 'lo' | 'hi' | 'count' | 'runs';
      /** Which settings (default all). */
      where?: SweepWhere;
      /** How several settings reduce to one number (default: exactly one must match). */
      reduce?: 'min' | 'max' | 'pool';
      /** Factor applied to the result. */
      scale?: number;
    }
  | {
      /** A kept-value statistic. */
      sweep: 'kept';
      /** The kept name. */
      name: string;
      /** Which statistic. */
      stat: 'mean' | 'median' | 'std' | 'min' | 'max' | 'count' | 'missing';
      /** Which settings (default all). */
      where?: SweepWhere;
      /** How several settings reduce to one number (default: exactly one must match). */
      reduce?: 'min' | 'max';
      /** Factor applied to the result. */
      scale?: number;
    }
  | {
      /** The growth factor of the steps between successive kept values. */
      sweep: 'stepGrowth';
      /** The first kept name (the staircase's origin v_0). */
      name: string;
      /** The last kept name (the plan's `keep` order between them). */
      through: string;
      /** Which statistic of each kept value (default `median`). */
      stat?: 'median' | 'mean';
      /** Which setting (exactly one must match). */
      where?: SweepWhere;
      /** Factor applied to the result. */
      scale?: number;
    };

/**
 * One cell of a published table of probabilities: the settings matching `where` (and the fitted
 * axis's value), against the published probability `p` over `n` runs, printed to +- `rounding`.
 */
export interface ReferenceCell {
  /** Which setting (besides the fitted axis). */
  where: SweepWhere;
  /** The published probability. */
  p: number;
  /** The runs behind it. */
  n: number;
  /** Half the last printed digit (e.g. 0.005 for two decimals; default 0). */
  rounding?: number;
}

/**
 * How well a sweep's class probabilities fit a published table, as a function of one axis whose
 * value the publication does not state: for each value x of `axis`, chi^2(x) = sum over `cells`
 * of (p1 - p2)^2 / (pbar (1 - pbar) (1/n1 + 1/n2) + rounding^2/3), p1 = our probability of class
 * `name` (k1 of n1 runs) at the cell's setting and x, p2 the published one, pbar = (k1 + p2 n2) /
 * (n1 + n2) (the pooled two-sample test; a term is 0 when both are exactly 0 or exactly 1, and the
 * rounding of the printed value enters as a uniform error). `stat`: `best` the x that minimizes
 * chi^2, `min` chi^2 there, `dof` the cells less one (one fitted value), `pValue` the upper tail
 * of chi^2 with `dof` degrees of freedom at the minimum, `at` chi^2 at `value`.
 */
export interface SweepChi2Quantity {
  /** The kind. */
  sweep: 'chi2';
  /** The class. */
  name: string;
  /** The fitted axis path (as in the table's `values`). */
  axis: string;
  /** The published cells. */
  cells: ReferenceCell[];
  /** Which number. */
  stat: 'best' | 'min' | 'dof' | 'pValue' | 'at';
  /** The axis value (`at`). */
  value?: number;
  /** Factor applied to the result. */
  scale?: number;
}

/** A bound: a constant or a quantity. */
export type Bound = number | Quantity;

/** One machine-readable check (any kind may carry a {@link CheckFinding}). */
export type Check = CheckKind & CheckFinding;

/** What a failed check means when it is not a disagreement. */
export interface CheckFinding {
  /**
   * When set and this check fails (and no check without `finding` fails), the row is marked with
   * this text as a *finding* (status `finding`), not as DISAGREES: e.g. a count that exceeds what
   * the theorems explain, where no theorem says it cannot.
   */
  finding?: string;
}

/** The kinds of {@link Check}. */
export type CheckKind =
  | {
      /** `of <= bound`. */
      kind: 'atMost';
      /** The checked quantity. */
      of: Quantity;
      /** Its upper bound. */
      bound: Bound;
    }
  | {
      /** `of >= bound`. */
      kind: 'atLeast';
      /** The checked quantity. */
      of: Quantity;
      /** Its lower bound. */
      bound: Bound;
    }
  | {
      /** `|of - to| <= max(absTol, relTol |to|)`. */
      kind: 'near';
      /** The checked quantity. */
      of: Quantity;
      /** The value it should be near. */
      to: Bound;
      /** Relative tolerance (default 0). */
      relTol?: number;
      /** Absolute tolerance (default 0). */
      absTol?: number;
    }
  | {
      /** `of === value` (strings, counts). */
      kind: 'equals';
      /** The checked quantity. */
      of: Quantity;
      /** The expected value. */
      value: string | number;
    }
  | {
      /** Show a value of ours without judging it (for rows whose paper numbers cannot be compared). */
      kind: 'show';
      /** The quantity shown. */
      of: Quantity;
    }
  | {
      /**
       * A precondition of the row's claim, not a comparison with the paper: when `of` is within
       * [`atLeast`, `atMost`] it passes; otherwise the check is not evaluated (`pass: null`) and
       * the row is *incomplete*, never judged (e.g. a quick run with fewer random starts than the
       * protocol, or runs cut short before the event the claim reads).
       */
      kind: 'requires';
      /** The quantity. */
      of: Quantity;
      /** Lower bound of the precondition. */
      atLeast?: number;
      /** Upper bound of the precondition. */
      atMost?: number;
      /** What the precondition stands for, shown with the outcome. */
      why?: string;
    }
  | {
      /**
       * Our probability against a published one, within sampling error: `of` is a sweep class
       * (`{sweep: 'class', name, where}`: k1 of n1 runs), the reference is `p` over `n` runs,
       * printed to +- `rounding`. Passes when 0 is inside Newcombe's hybrid score interval for
       * p1 - p2 (his method 10) at `confidence` (default 0.95): d - sqrt((p1 - l1)^2 + (u2 - p2)^2)
       * .. d + sqrt((u1 - p1)^2 + (p2 - l2)^2), [l, u] the Wilson intervals, the reference's
       * widened by `rounding` on each side.
       */
      kind: 'binomial';
      /** Our class on one setting (exactly one must match `where`). */
      of: {
        /** A class. */
        sweep: 'class';
        /** The class name. */
        name: string;
        /** Which setting. */
        where?: SweepWhere;
      };
      /** The published probability. */
      p: number;
      /** The runs behind it. */
      n: number;
      /** Half the last printed digit (default 0). */
      rounding?: number;
      /** Confidence level (default 0.95). */
      confidence?: number;
    }
  | {
      /**
       * A fitted power law y ~ x^b through `points` (see {@link PowerLawQuantity}): passes when
       * |b - `target`| <= `absTol`; without `target` the fit is shown, not judged. The outcome's
       * text gives b, its standard error, its 95% interval (Student's t, n - 2 degrees of
       * freedom), r^2 of the log-log fit and n.
       */
      kind: 'powerLaw';
      /** The points (at least three). */
      points: PowerLawPoint[];
      /** What is fitted, in words (default: the first point's y and x, described). */
      label?: string;
      /** The exponent it should have (none: shown only). */
      target?: number;
      /** Tolerance on the exponent (default 0). */
      absTol?: number;
    }
  | {
      /** Every recorded value is <= the previous one (NaN rows skipped). */
      kind: 'nonIncreasing';
      /** Index of the run. */
      run: number;
      /** Column name. */
      column: string;
      /** Allowed increase relative to the previous value (default 0). */
      relTol?: number;
    };

/** What the paper reports, beside which the results are shown. */
export interface PresetReference {
  /** The claim of the paper. */
  claim?: string;
  /** Where and how the paper shows it, with its numbers. */
  paper?: string;
  /** How the reproduction checks it, in words. */
  check?: string;
  /** The machine-readable checks; all must pass for the row to agree. */
  checks?: Check[];
  /** Why the paper's numbers cannot be compared with ours (the checks, if any, are shown only). */
  cannotCompare?: string;
  /** The row and column values of the cell of a published table this row checks (sweep reports' grid tables). */
  cell?: [number | string, number | string];
}

/** The outcome of one check. */
export interface CheckOutcome {
  /** What was compared, with our numbers, e.g. `last loss [run 0] = 8.9e-16 <= 1e-12`. */
  text: string;
  /** Whether it holds; null when it could not be evaluated (missing run, column or report). */
  pass: boolean | null;
  /** A `show` check: a value shown, not judged (`pass` is true once it is evaluated). */
  shown?: true;
  /** The measured number in short (a `powerLaw` check: `b = -0.62 +- 0.03`), appended to a finding's text. */
  detail?: string;
}

/** The mark of a reference row. */
export type CheckStatus = 'agrees' | 'disagrees' | 'finding' | 'cannotCompare' | 'notChecked' | 'incomplete' | 'shortened';

/** A reference row with its evaluated checks. */
export interface CheckedReference extends PresetReference {
  /** `agrees` when every check holds, `disagrees` when one fails, `finding` when only checks with a `finding` fail, `cannotCompare` (see `cannotCompare`), `notChecked` (no checks), `incomplete` (a run or study was interrupted or a value is missing), `shortened` (the runs were cut below the preset's protocol: the outcomes are shown, the claim is not judged). */
  status: CheckStatus;
  /** The `finding` texts of the failed checks (status `finding`). */
  finding?: string;
  /** One per check, in order. */
  outcomes: CheckOutcome[];
}

/** The results the checks read. */
export interface CheckInputs {
  /** The runs of the preset, in order (a missing run makes its checks incomplete). */
  runs: readonly (RunResult | undefined)[];
  /** The curvature reports, in the order of the preset's `hessian` list (missing: incomplete). */
  hessian?: readonly (HessianReport | undefined)[];
  /** A sweep preset's reduced table (missing or not complete: its checks are incomplete). */
  sweep?: {
    /** The table. */
    table: SweepTable;
    /** Confidence of the pooled Wilson intervals (the plan's `confidence`; default 0.95). */
    confidence?: number;
  };
  /** A studies preset's studies, in order (missing or not finished: their checks are incomplete). */
  studies?: readonly (CheckStudy | undefined)[];
  /** The specs of the runs, in order (what {@link RunSpecQuantity} reads; `presetChecks` passes the preset's). */
  specs?: readonly unknown[];
  /**
   * Set when the runs were cut below the preset's protocol (e.g. `2000 of 10000 steps`): every row
   * that would be judged (`agrees`, `disagrees`, `finding`) is `shortened` instead.
   */
  shortened?: string;
}

/** What the checks read of a study: its JSON output, its columns, whether it finished. */
export interface CheckStudy {
  /** The study's JSON output. */
  output: unknown;
  /** Its columns by name. */
  columns: Record<string, Float64Array>;
  /** True when every unit of work was done. */
  finished: boolean;
}

class Missing extends Error {}

function fmt(x: number | string): string {
  if (typeof x === 'string') return x;
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x) && Math.abs(x) < 1e6) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? x.toExponential(2) : String(Number(x.toPrecision(4)));
}

function runOf(inputs: CheckInputs, i: number): RunResult {
  const r = inputs.runs[i];
  if (!r) throw new Missing(`run ${i} was not run`);
  return r;
}

function column(r: RunResult, name: string, run: number): Float64Array {
  const c = r.columns[name];
  if (!c) throw new Missing(`run ${run} has no column ${name}`);
  return c;
}

/** The iteration index of a run's rows: its column of role `step` (step windows, `at`, `firstStepAtMost`). */
function stepValues(r: RunResult, run: number): Float64Array {
  const name = stepColumn(r);
  if (name === undefined) throw new Missing(`run ${run} has no column of role step`);
  return column(r, name, run);
}

function reduceColumn(r: RunResult, q: Exclude<Extract<Quantity, { run: number }>, RunSpecQuantity>): number {
  const col = column(r, q.column, q.run);
  const stepOf = stepValues(r, q.run);
  if (q.reduce === 'firstStepAtMost') {
    for (let i = 0; i < col.length; i++) if ((col[i] as number) <= q.value) return stepOf[i] as number;
    return Infinity;
  }
  if (q.reduce === 'at') {
    const lastStep = stepOf.length > 0 ? (stepOf[stepOf.length - 1] as number) : -Infinity;
    if (lastStep < q.step) throw new Missing(`run ${q.run} ended at step ${lastStep}, before step ${q.step}`);
    let v = NaN;
    for (let i = 0; i < col.length && (stepOf[i] as number) <= q.step; i++) v = col[i] as number;
    if (Number.isNaN(v)) throw new Missing(`run ${q.run} has no ${q.column} at step ${q.step}`);
    return v;
  }
  const from = q.from ?? -Infinity;
  const to = q.to ?? Infinity;
  if (q.reduce === 'rate') {
    const xs: number[] = [];
    const ys: number[] = [];
    for (let i = 0; i < col.length; i++) {
      const s = stepOf[i] as number;
      const v = col[i] as number;
      if (s >= from && s <= to && v > 0 && Number.isFinite(v)) {
        xs.push(s);
        ys.push(Math.log(v));
      }
    }
    if (xs.length < 2) throw new Missing(`run ${q.run} has ${xs.length} positive ${q.column} value(s) in the window: a rate needs two`);
    return Math.exp(slope(xs, ys));
  }
  const vals: number[] = [];
  for (let i = 0; i < col.length; i++) {
    const s = stepOf[i] as number;
    const v = col[i] as number;
    if (s >= from && s <= to && !Number.isNaN(v)) vals.push(v);
  }
  if (vals.length === 0) throw new Missing(`run ${q.run} has no ${q.column} values in the window`);
  return reduceValues(vals, q.reduce);
}

/** The least-squares slope of y against x (x not all equal). */
function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += ((xs[i] as number) - mx) * ((ys[i] as number) - my);
    sxx += ((xs[i] as number) - mx) ** 2;
  }
  return sxy / sxx;
}

/** Non-empty values reduced to one number (a run's rows, a study's points). */
function reduceValues(vals: number[], how: 'first' | 'last' | 'min' | 'max' | 'maxAbs'): number {
  switch (how) {
    case 'first':
      return vals[0] as number;
    case 'last':
      return vals[vals.length - 1] as number;
    case 'min':
      return Math.min(...vals);
    case 'max':
      return Math.max(...vals);
    case 'maxAbs':
      return Math.max(...vals.map(Math.abs));
  }
}

/** The standard normal quantile (P. J. Acklam's rational approximation: relative error < 1.2e-9). */
function normalQuantile(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const [a0, a1, a2, a3, a4, a5] = a as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = b as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = c as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = d as [number, number, number, number];
  let x: number;
  if (p < 0.02425) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  } else if (p <= 1 - 0.02425) {
    const q = p - 0.5;
    const r = q * q;
    x = ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) / (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -(((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  }
  return x;
}

/**
 * The Wilson score interval of `k` successes in `n` trials at confidence `confidence` (two-sided),
 * clamped to [0, 1]; [0, 1] when n = 0.
 */
export function wilsonInterval(k: number, n: number, confidence = 0.95): [number, number] {
  if (!(n > 0)) return [0, 1];
  const z = normalQuantile(1 - (1 - confidence) / 2);
  const p = k / n;
  const z2 = z * z;
  const den = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / den;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / den;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

function whereText(w: SweepWhere | undefined): string {
  if (!w || Object.keys(w).length === 0) return 'all settings';
  return Object.entries(w)
    .map(([p, c]) => {
      if (typeof c === 'number') return `${p} = ${fmt(c)}`;
      if (typeof c === 'string') return `${p} = ${c}`;
      if ('fitted' in c) return `${p} = the best fit to ${c.fitted.cells.length} published cells`;
      const parts: string[] = [];
      if (c.gt !== undefined) parts.push(`> ${fmt(c.gt)}`);
      if (c.ge !== undefined) parts.push(`>= ${fmt(c.ge)}`);
      if (c.lt !== undefined) parts.push(`< ${fmt(c.lt)}`);
      if (c.le !== undefined) parts.push(`<= ${fmt(c.le)}`);
      return `${p} ${parts.join(' and ')}`;
    })
    .join(', ');
}

function describeSweep(q: SweepQuantity): string {
  if (q.sweep === 'chi2') {
    const what = { best: `best-fitting ${q.axis}`, min: 'least chi^2', dof: 'degrees of freedom', pValue: 'p-value of the least chi^2', at: `chi^2 at ${q.axis} = ${fmt(q.value ?? NaN)}` }[q.stat];
    return `${what} of P(${q.name}) against ${q.cells.length} published cells over ${q.axis}`;
  }
  if (q.sweep === 'stepGrowth') return `growth factor of the steps of ${q.stat ?? 'median'} ${q.name}..${q.through} at [${whereText(q.where)}]`;
  const what =
    q.sweep === 'class'
      ? q.stat === 'p'
        ? `P(${q.name})`
        : q.stat === 'lo' || q.stat === 'hi'
          ? `Wilson ${q.stat} of P(${q.name})`
          : q.stat === 'runs'
            ? 'runs'
            : `count of ${q.name}`
      : `${q.stat} ${q.name}`;
  const how = q.reduce === 'pool' ? 'pooled over' : q.reduce === 'min' ? 'min over' : q.reduce === 'max' ? 'max over' : 'at';
  return `${what} ${how} [${whereText(q.where)}]`;
}

/** Whether a setting's axis values satisfy `where` (see {@link SweepWhere}). */
export function sweepWhereMatches(values: Record<string, unknown>, where: SweepWhere | undefined): boolean {
  for (const [p, c] of Object.entries(where ?? {})) {
    const v = values[p];
    if (typeof c === 'string') {
      if (v !== c) return false;
      continue;
    }
    if (typeof v !== 'number') return false;
    if (typeof c === 'object' && 'fitted' in c) return false; // resolved by resolveWhere first
    if (typeof c === 'number') {
      if (!(Math.abs(v - c) <= 1e-9 * Math.max(Math.abs(v), Math.abs(c)))) return false;
      continue;
    }
    if ((c.lt !== undefined && !(v < c.lt)) || (c.le !== undefined && !(v <= c.le)) || (c.gt !== undefined && !(v > c.gt)) || (c.ge !== undefined && !(v >= c.ge))) return false;
  }
  return true;
}

function sweepValue(q: SweepQuantity, inputs: CheckInputs): number {
  const sw = inputs.sweep;
  if (!sw) throw new Missing('the sweep was not run');
  if (q.sweep === 'chi2') return chi2Stat(q, sw.table);
  const where = resolveWhere(q.where, sw.table);
  const rows = sw.table.settings.filter((r) => sweepWhereMatches(r.values, where));
  if (rows.length === 0) throw new Missing(`no setting of the table matches [${whereText(q.where)}]`);
  if (q.sweep === 'stepGrowth') return stepGrowth(q, sw.table, rows);
  if (q.reduce === undefined && rows.length !== 1) throw new Missing(`${rows.length} settings match [${whereText(q.where)}], expected one`);
  if (q.sweep === 'class' && q.reduce === 'pool') {
    let k = 0;
    let n = 0;
    for (const r of rows) {
      k += r.classes[q.name]?.count ?? 0;
      n += r.runs;
    }
    if (!rows.some((r) => q.name in r.classes)) throw new Missing(`the table has no class ${q.name}`);
    const [lo, hi] = wilsonInterval(k, n, sw.confidence ?? 0.95);
    return q.stat === 'p' ? (n > 0 ? k / n : NaN) : q.stat === 'lo' ? lo : q.stat === 'hi' ? hi : q.stat === 'count' ? k : n;
  }
  const vals = rows.map((r) => {
    if (q.sweep === 'class') {
      if (q.stat === 'runs') return r.runs;
      const c = r.classes[q.name];
      if (!c) throw new Missing(`setting ${r.setting} has no class ${q.name}`);
      return c[q.stat];
    }
    return keptStat(r, q.name, q.stat);
  });
  return q.reduce === 'max' ? Math.max(...vals) : q.reduce === 'min' ? Math.min(...vals) : (vals[0] as number);
}

/** A kept value's statistic on one setting row (median: the 0.5 quantile). */
function keptStat(r: SweepSettingRow, name: string, stat: 'mean' | 'median' | 'std' | 'min' | 'max' | 'count' | 'missing'): number {
  const k = r.kept[name];
  if (!k) throw new Missing(`setting ${r.setting} has no kept value ${name}`);
  const v = stat === 'median' ? (k.quantiles.find(([p]) => Math.abs(p - 0.5) < 1e-12)?.[1] ?? null) : k[stat];
  if (v === null || v === undefined) throw new Missing(`${stat} ${name} of setting ${r.setting} is null${stat === 'median' ? ' or not reduced' : ''}`);
  return v;
}

function stepGrowth(q: Extract<SweepQuantity, { sweep: 'stepGrowth' }>, table: SweepTable, rows: SweepSettingRow[]): number {
  if (rows.length !== 1) throw new Missing(`${rows.length} settings match [${whereText(q.where)}], expected one`);
  const row = rows[0] as SweepSettingRow;
  const order = table.plan.kept;
  const i0 = order.indexOf(q.name);
  const i1 = order.indexOf(q.through);
  if (i0 < 0 || i1 < 0) throw new Missing(`the sweep keeps no ${i0 < 0 ? q.name : q.through}`);
  if (i1 - i0 < 2) throw new Missing(`${q.name}..${q.through}: a growth factor needs at least two steps (three kept values)`);
  const v = order.slice(i0, i1 + 1).map((n) => keptStat(row, n, q.stat ?? 'median'));
  // ln D_j = a + b j, j = 1..m, by least squares.
  const m = v.length - 1;
  let sj = 0;
  let sy = 0;
  let sjj = 0;
  let sjy = 0;
  for (let j = 1; j <= m; j++) {
    const dj = (v[j] as number) - (v[j - 1] as number);
    if (!(dj > 0)) throw new Missing(`the step ${order[i0 + j]} - ${order[i0 + j - 1]} of setting ${row.setting} is ${fmt(dj)}, not positive`);
    const y = Math.log(dj);
    sj += j;
    sy += y;
    sjj += j * j;
    sjy += j * y;
  }
  return Math.exp((m * sjy - sj * sy) / (m * sjj - sj * sj));
}

/** `where` with every {@link SweepFitted} entry replaced by the fitted value of its axis. */
function resolveWhere(where: SweepWhere | undefined, table: SweepTable): SweepWhere | undefined {
  if (!where) return where;
  const out: SweepWhere = {};
  for (const [path, c] of Object.entries(where)) {
    if (typeof c === 'object' && 'fitted' in c) {
      out[path] = chi2Stat({ sweep: 'chi2', name: c.fitted.name, axis: path, cells: c.fitted.cells, stat: 'best' }, table);
    } else out[path] = c;
  }
  return out;
}

/** One axis value's chi^2 against the published cells (see {@link SweepChi2Quantity}). */
export interface Chi2Point {
  /** The axis value. */
  x: number;
  /** chi^2 over the cells. */
  chi2: number;
  /** Cells with a matching setting (all, unless runs are missing). */
  cells: number;
}

/**
 * chi^2 of the published cells against a sweep's class probabilities, for every value of the
 * fitted axis (ascending); a value at which some cell has no setting is left out.
 */
export function chi2Curve(q: Pick<SweepChi2Quantity, 'name' | 'axis' | 'cells'>, table: SweepTable): Chi2Point[] {
  const xs = [...new Set(table.settings.map((r) => r.values[q.axis]).filter((v): v is number => typeof v === 'number'))].sort((a, b) => a - b);
  const out: Chi2Point[] = [];
  for (const x of xs) {
    let chi2 = 0;
    let cells = 0;
    for (const c of q.cells) {
      const rows = table.settings.filter((r) => sweepWhereMatches(r.values, { ...c.where, [q.axis]: x }));
      if (rows.length !== 1) continue;
      const r = rows[0] as SweepSettingRow;
      const n1 = r.runs;
      if (!(n1 > 0)) continue;
      const k1 = r.classes[q.name]?.count ?? 0;
      const p1 = k1 / n1;
      const p2 = c.p;
      const pbar = (k1 + p2 * c.n) / (n1 + c.n);
      const den = pbar * (1 - pbar) * (1 / n1 + 1 / c.n) + (c.rounding ?? 0) ** 2 / 3;
      const d = p1 - p2;
      chi2 += den > 0 ? (d * d) / den : d === 0 ? 0 : Infinity;
      cells++;
    }
    if (cells === q.cells.length) out.push({ x, chi2, cells });
  }
  return out;
}

function chi2Stat(q: SweepChi2Quantity, table: SweepTable): number {
  if (q.stat === 'dof') return q.cells.length - 1;
  const curve = chi2Curve(q, table);
  if (curve.length === 0) throw new Missing(`no value of ${q.axis} has a setting for every published cell`);
  if (q.stat === 'at') {
    const v = q.value;
    const pt = curve.find((c) => v !== undefined && Math.abs(c.x - v) <= 1e-9 * Math.max(Math.abs(c.x), Math.abs(v)));
    if (!pt) throw new Missing(`${q.axis} = ${fmt(v ?? NaN)} is not a value of the sweep with every published cell`);
    return pt.chi2;
  }
  const best = curve.reduce((a, b) => (b.chi2 < a.chi2 ? b : a));
  if (q.stat === 'best') return best.x;
  if (q.stat === 'min') return best.chi2;
  return chi2Upper(best.chi2, q.cells.length - 1);
}

/** P(X >= x) for X ~ chi^2 with k degrees of freedom (the regularized upper incomplete gamma Q(k/2, x/2)). */
export function chi2Upper(x: number, k: number): number {
  if (!(k > 0)) return NaN;
  if (!(x > 0)) return 1;
  if (x === Infinity) return 0;
  return gammaQ(k / 2, x / 2);
}

function logGamma(z: number): number {
  // Lanczos (g = 7, n = 9): about 15 digits for z > 0.
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - logGamma(1 - z);
  const zz = z - 1;
  let a = c[0] as number;
  const t = zz + 7.5;
  for (let i = 1; i < 9; i++) a += (c[i] as number) / (zz + i);
  return 0.5 * Math.log(2 * Math.PI) + (zz + 0.5) * Math.log(t) - t + Math.log(a);
}

/** The regularized upper incomplete gamma function Q(a, x) (series below a + 1, continued fraction above). */
function gammaQ(a: number, x: number): number {
  const lg = logGamma(a);
  if (x < a + 1) {
    let sum = 1 / a;
    let term = sum;
    for (let n = 1; n < 10000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-16) break;
    }
    return 1 - sum * Math.exp(-x + a * Math.log(x) - lg);
  }
  // Lentz's continued fraction.
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return Math.exp(-x + a * Math.log(x) - lg) * h;
}

/** Newcombe's hybrid score interval (method 10) for p1 - p2: k1 of n1 against the published p2 of n2 (rounded by +- `rounding`). */
export function newcombeInterval(k1: number, n1: number, p2: number, n2: number, rounding = 0, confidence = 0.95): [number, number] {
  const p1 = k1 / n1;
  const [l1, u1] = wilsonInterval(k1, n1, confidence);
  const [w2lo, w2hi] = wilsonInterval(p2 * n2, n2, confidence);
  const l2 = Math.max(0, w2lo - rounding);
  const u2 = Math.min(1, w2hi + rounding);
  const d = p1 - p2;
  return [d - Math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + Math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)];
}

/** A least-squares power law y = e^a x^b (see {@link powerLawFit}). */
export interface PowerLawFit {
  /** b. */
  exponent: number;
  /** The standard error of b: sqrt(s^2 / Sxx), s^2 the residual variance (n - 2 degrees of freedom). */
  stdErr: number;
  /** b - t se. */
  lo: number;
  /** b + t se. */
  hi: number;
  /** The 0.975 quantile of Student's t with n - 2 degrees of freedom. */
  t: number;
  /** The coefficient of determination of ln y on ln x (1 when ln y is constant and fitted exactly). */
  r2: number;
  /** e^a. */
  prefactor: number;
  /** The points. */
  n: number;
}

/**
 * The least-squares fit ln y = a + b ln x through the points (at least three; every x and y
 * positive and finite; not all x equal): b with its standard error, its 95% interval (Student's
 * t with n - 2 degrees of freedom) and r^2.
 */
export function powerLawFit(xs: readonly number[], ys: readonly number[]): PowerLawFit {
  const n = xs.length;
  if (ys.length !== n) throw new RangeError(`powerLawFit: ${n} x values but ${ys.length} y values`);
  if (n < 3) throw new RangeError(`powerLawFit: ${n} point(s); a standard error needs three`);
  for (let i = 0; i < n; i++) {
    const [x, y] = [xs[i] as number, ys[i] as number];
    if (!(x > 0 && Number.isFinite(x) && y > 0 && Number.isFinite(y))) throw new RangeError(`powerLawFit: point ${i} is (${fmt(x)}, ${fmt(y)}); a power law needs positive finite values`);
  }
  const lx = xs.map(Math.log);
  const ly = ys.map(Math.log);
  const mx = lx.reduce((s, v) => s + v, 0) / n;
  const my = ly.reduce((s, v) => s + v, 0) / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = (lx[i] as number) - mx;
    const dy = (ly[i] as number) - my;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  if (!(sxx > 0)) throw new RangeError('powerLawFit: every x is the same');
  const b = sxy / sxx;
  const a = my - b * mx;
  let sse = 0;
  for (let i = 0; i < n; i++) sse += ((ly[i] as number) - a - b * (lx[i] as number)) ** 2;
  const se = Math.sqrt(sse / (n - 2) / sxx);
  const t = studentTQuantile(0.975, n - 2);
  return { exponent: b, stdErr: se, lo: b - t * se, hi: b + t * se, t, r2: syy > 0 ? 1 - sse / syy : 1, prefactor: Math.exp(a), n };
}

/** The regularized incomplete beta function I_x(a, b) (Lentz's continued fraction, with the symmetry for x > (a + 1)/(a + b + 2)). */
function betaInc(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  if (x > (a + 1) / (a + b + 2)) return 1 - betaInc(1 - x, b, a);
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m < 10000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return (front * h) / a;
}

/** P(T <= t) for Student's t with `dof` degrees of freedom. */
export function studentTCdf(t: number, dof: number): number {
  const tail = 0.5 * betaInc(dof / (dof + t * t), dof / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** The `p` quantile of Student's t with `dof` > 0 degrees of freedom (bisection on {@link studentTCdf} to 1e-12 relative). */
export function studentTQuantile(p: number, dof: number): number {
  if (!(p > 0 && p < 1) || !(dof > 0)) return NaN;
  if (p < 0.5) return -studentTQuantile(1 - p, dof);
  if (p === 0.5) return 0;
  let lo = 0;
  let hi = 1;
  while (studentTCdf(hi, dof) < p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = 0.5 * (lo + hi);
    if (studentTCdf(mid, dof) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

function powerLawOf(points: readonly PowerLawPoint[], inputs: CheckInputs): PowerLawFit {
  if (points.length < 3) throw new Missing(`a power-law fit needs three points, got ${points.length}`);
  const xs = points.map((p) => num(typeof p.x === 'number' ? p.x : evaluate(p.x, inputs), describe(p.x)));
  const ys = points.map((p) => num(evaluate(p.y, inputs), describe(p.y)));
  try {
    return powerLawFit(xs, ys);
  } catch (e) {
    if (e instanceof RangeError) throw new Missing(`${powerLawLabel(points)}: ${e.message}`);
    throw e;
  }
}

function powerLawStat(f: PowerLawFit, stat: PowerLawQuantity['stat']): number {
  return stat === 'exponent' ? f.exponent : stat === 'points' ? f.n : f[stat];
}

/** `Y against X over n points`, Y and X described from the first point. */
function powerLawLabel(points: readonly PowerLawPoint[]): string {
  const p = points[0];
  if (!p) return 'no points';
  const strip = (s: string): string => s.replace(/ \[run \d+\]$/, '');
  const x = typeof p.x === 'number' ? 'the given x' : strip(describe(p.x));
  return `${strip(describe(p.y))} against ${x} over ${points.length} points`;
}

function field(report: unknown, path: string, what: string): number | string {
  let v: unknown = report;
  for (const k of path.split('.')) {
    if (typeof v !== 'object' || v === null || !(k in v)) throw new Missing(`${what} has no field ${path}`);
    v = (v as Record<string, unknown>)[k];
  }
  if (typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'boolean') return String(v);
  if (v === null) throw new Missing(`${what}: ${path} is null`);
  throw new Missing(`${what}: ${path} is not a number or a string`);
}

/** A study quantity's value (see {@link StudyQuantity}). */
export function studyValue(q: StudyQuantity, studies: readonly (CheckStudy | undefined)[] | undefined): number | string {
  const s = studies?.[q.study];
  if (!s) throw new Missing(`study ${q.study} was not run`);
  if ('field' in q) return field(s.output, q.field, `study ${q.study}`);
  const col = (name: string): Float64Array => {
    const c = s.columns[name];
    if (!c) throw new Missing(`study ${q.study} has no column ${name}`);
    return c;
  };
  const c = col(q.column);
  const rows = studyRows(c.length, q.where, col);
  if (q.reduce === 'at') {
    const x = col(q.x);
    const v = q.value;
    const pairs: [number, number][] = [];
    for (let k = 0; k + 1 < rows.length; k++) {
      const i = rows[k] as number;
      const j = rows[k + 1] as number;
      const xi = x[i] as number;
      const xj = x[j] as number;
      if (Number.isFinite(xi) && Number.isFinite(xj) && ((xi <= v && v <= xj) || (xi >= v && v >= xj))) pairs.push([i, j]);
    }
    const pair = q.occurrence === 'last' ? pairs[pairs.length - 1] : pairs[0];
    if (!pair) throw new Missing(`no row pair of study ${q.study} brackets ${q.x} = ${fmt(v)}${q.where ? ` (${studyWhereText(q.where)})` : ''}`);
    const [i, j] = pair;
    const [xi, xj, ci, cj] = [x[i] as number, x[j] as number, c[i] as number, c[j] as number];
    if (!Number.isFinite(ci) || !Number.isFinite(cj)) throw new Missing(`study ${q.study}: ${q.column} is not finite where ${q.x} crosses ${fmt(v)}`);
    return xi === xj ? ci : ci + ((cj - ci) * (v - xi)) / (xj - xi);
  }
  const vals = rows.map((i) => c[i] as number).filter((x) => !Number.isNaN(x));
  if (q.reduce === 'count') return vals.length;
  if (vals.length === 0) throw new Missing(`study ${q.study} has no ${q.column} values${q.where ? ` where ${studyWhereText(q.where)}` : ''}`);
  return reduceValues(vals, q.reduce);
}

/** The indices of the rows (of `n`) that satisfy `where`, in order. */
function studyRows(n: number, where: StudyWhere | undefined, col: (name: string) => Float64Array): number[] {
  const conds = Object.entries(where ?? {}).map(([name, c]) => [col(name), c] as const);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    if (conds.every(([x, c]) => sweepWhereMatches({ v: x[i] }, { v: c }))) out.push(i);
  }
  return out;
}

function studyWhereText(w: StudyWhere): string {
  return whereText(w).replace(/^all settings$/, 'all rows');
}

/** A quantity's value and, when it is scaled, its value before the scale (for the check's text). */
interface Valued {
  v: number | string;
  raw?: number;
}

/** A quantity's number, or undefined when it cannot be evaluated (a missing run, study or field) or is not a number. */
export function quantityValue(q: Quantity, inputs: CheckInputs): number | undefined {
  try {
    const v = evaluate(q, inputs);
    return typeof v === 'number' ? v : undefined;
  } catch (e) {
    if (e instanceof Missing) return undefined;
    throw e;
  }
}

function evaluate(q: Quantity, inputs: CheckInputs): number | string {
  return evaluateValued(q, inputs).v;
}

function evaluateValued(q: Quantity, inputs: CheckInputs): Valued {
  let v: number | string;
  if ('fit' in q) {
    v = powerLawStat(powerLawOf(q.points, inputs), q.stat);
  } else if ('spec' in q) {
    const spec = inputs.specs?.[q.run];
    if (spec === undefined) throw new Missing(`the spec of run ${q.run} is not known`);
    v = field(spec, q.spec, `the spec of run ${q.run}`);
  } else if ('sweep' in q) {
    v = sweepValue(q, inputs);
  } else if ('study' in q) {
    v = studyValue(q, inputs.studies);
  } else if ('hessian' in q) {
    const rep = inputs.hessian?.[q.hessian];
    if (!rep) throw new Missing(`curvature report ${q.hessian} was not computed`);
    v = field(rep, q.field, `curvature report ${q.hessian}`);
  } else if ('run' in q) {
    v = reduceColumn(runOf(inputs, q.run), q);
  } else {
    v = q.value;
  }
  const scale = 'scale' in q && q.scale !== undefined ? q.scale : 1;
  const offset = 'offset' in q && q.offset !== undefined ? q.offset : 0;
  if (scale !== 1 || offset !== 0) {
    if (typeof v !== 'number') throw new Missing('a scale or offset applies to numbers only');
    return { v: v * scale + offset, raw: v };
  }
  return { v };
}

/**
 * One side of a comparison with its own value: `NAME = v`, or for a scaled quantity
 * `s x (NAME = raw) = v`, so that no number can be read as belonging to the wrong name.
 */
function side(q: Bound, val: Valued): string {
  if (typeof q === 'number') return fmt(q);
  if (val.raw !== undefined) {
    const scale = 'scale' in q && q.scale !== undefined && q.scale !== 1 ? q.scale : undefined;
    const offset = 'offset' in q && q.offset !== undefined && q.offset !== 0 ? q.offset : undefined;
    const inner = `${scale !== undefined ? `${fmt(scale)} x ` : ''}(${describe(q, false)} = ${fmt(val.raw)})`;
    return `${offset !== undefined ? `${fmt(offset)} + ` : ''}${inner} = ${fmt(val.v)}`;
  }
  if (!('run' in q) && !('sweep' in q) && !('study' in q) && !('hessian' in q) && !('fit' in q)) return fmt(val.v);
  return `${describe(q)} = ${fmt(val.v)}`;
}

function valued(q: Bound, inputs: CheckInputs): Valued {
  return typeof q === 'number' ? { v: q } : evaluateValued(q, inputs);
}

function describe(q: Bound, withScale = true): string {
  if (typeof q === 'number') return fmt(q);
  const scale = withScale && 'scale' in q && q.scale !== undefined && q.scale !== 1 ? `${fmt(q.scale)} x ` : '';
  if ('sweep' in q) return `${scale}${describeSweep(q)}`;
  if ('fit' in q) {
    const what = { exponent: 'exponent', stdErr: 'standard error of the exponent', lo: '95% low end of the exponent', hi: '95% high end of the exponent', r2: 'r^2', prefactor: 'prefactor', points: 'points' }[q.stat];
    return `${withScale && 'offset' in q && q.offset ? `${fmt(q.offset)} + ` : ''}${scale}${what} of the power-law fit of ${powerLawLabel(q.points)}`;
  }
  const offset = withScale && 'offset' in q && q.offset !== undefined && q.offset !== 0 ? `${fmt(q.offset)} + ` : '';
  if ('study' in q) {
    if ('field' in q) return `${offset}${scale}${q.field} [study ${q.study}]`;
    const where = q.where ? ` where ${studyWhereText(q.where)}` : '';
    if (q.reduce === 'at') return `${offset}${scale}${q.column} at ${q.x} = ${fmt(q.value)}${q.occurrence === 'last' ? ' (last crossing)' : ''}${where} [study ${q.study}]`;
    return `${offset}${scale}${q.reduce === 'count' ? 'count of' : q.reduce} ${q.column}${where} [study ${q.study}]`;
  }
  if ('hessian' in q) return `${offset}${scale}${q.field} [curvature ${q.hessian}]`;
  if ('spec' in q) return `${offset}${scale}${q.spec} [run ${q.run}]`;
  if ('run' in q) {
    const where = `[run ${q.run}]`;
    switch (q.reduce) {
      case 'at':
        return `${offset}${scale}${q.column} at step ${q.step} ${where}`;
      case 'firstStepAtMost':
        return `${offset}${scale}first step with ${q.column} <= ${fmt(q.value)} ${where}`;
      case 'maxAbs':
        return `${offset}${scale}max |${q.column}|${window(q)} ${where}`;
      case 'rate':
        return `${offset}${scale}rate of ${q.column}${window(q)} ${where}`;
      default:
        return `${offset}${scale}${q.reduce} ${q.column}${window(q)} ${where}`;
    }
  }
  return fmt(q.value);
}

function window(q: { from?: number; to?: number }): string {
  if (q.from === undefined && q.to === undefined) return '';
  if (q.to === undefined) return ` from step ${q.from}`;
  if (q.from === undefined) return ` to step ${q.to}`;
  return ` over steps ${q.from}..${q.to}`;
}

function num(v: number | string, what: string): number {
  if (typeof v !== 'number') throw new Missing(`${what} is not a number`);
  return v;
}

/** Evaluate one check. */
export function runCheck(c: Check, inputs: CheckInputs): CheckOutcome {
  try {
    switch (c.kind) {
      case 'atMost':
      case 'atLeast': {
        const va = valued(c.of, inputs);
        const vb = valued(c.bound, inputs);
        const a = num(va.v, describe(c.of));
        const b = num(vb.v, describe(c.bound));
        const pass = c.kind === 'atMost' ? a <= b : a >= b;
        const op = c.kind === 'atMost' ? (pass ? '<=' : '>') : pass ? '>=' : '<';
        return { text: `${side(c.of, va)} ${op} ${side(c.bound, vb)}`, pass };
      }
      case 'near': {
        const va = valued(c.of, inputs);
        const vb = valued(c.to, inputs);
        const a = num(va.v, describe(c.of));
        const b = num(vb.v, describe(c.to));
        const tol = Math.max(c.absTol ?? 0, (c.relTol ?? 0) * Math.abs(b));
        const pass = Math.abs(a - b) <= tol;
        const tolText = c.relTol !== undefined && (c.absTol === undefined || tol > c.absTol) ? `${fmt(c.relTol * 100)}%` : fmt(tol);
        return { text: `${side(c.of, va)} ${pass ? 'within' : 'not within'} ${tolText} of ${side(c.to, vb)}`, pass };
      }
      case 'show':
        return { text: side(c.of, valued(c.of, inputs)), pass: true, shown: true };
      case 'requires': {
        const a = num(evaluate(c.of, inputs), describe(c.of));
        const low = c.atLeast !== undefined && !(a >= c.atLeast);
        const high = c.atMost !== undefined && !(a <= c.atMost);
        const range = [c.atLeast !== undefined ? `>= ${fmt(c.atLeast)}` : '', c.atMost !== undefined ? `<= ${fmt(c.atMost)}` : ''].filter((x) => x).join(' and ');
        const why = c.why ? ` (${c.why})` : '';
        if (low || high) return { text: `not judged: requires ${describe(c.of)} ${range}, got ${fmt(a)}${why}`, pass: null };
        return { text: `requires ${describe(c.of)} = ${fmt(a)} ${range}${why}`, pass: true };
      }
      case 'equals': {
        const a = evaluate(c.of, inputs);
        const pass = a === c.value;
        return { text: `${describe(c.of)} = ${fmt(a)}${pass ? '' : `, expected ${fmt(c.value)}`}`, pass };
      }
      case 'binomial': {
        const ofP: SweepQuantity = { ...c.of, stat: 'p' };
        const k1 = num(evaluate({ ...c.of, stat: 'count' }, inputs), describe(ofP));
        const n1 = num(evaluate({ ...c.of, stat: 'runs' }, inputs), describe(ofP));
        if (!(n1 > 0)) throw new Missing(`${describe(ofP)}: no runs`);
        const conf = c.confidence ?? 0.95;
        const [lo1, hi1] = wilsonInterval(k1, n1, conf);
        const [lo, hi] = newcombeInterval(k1, n1, c.p, c.n, c.rounding ?? 0, conf);
        const pass = lo <= 0 && 0 <= hi;
        const f4 = (x: number): string => x.toFixed(4);
        return {
          text: `${describe(ofP)} = ${f4(k1 / n1)} [${f4(lo1)}, ${f4(hi1)}] (${k1} of ${n1}) vs published ${fmt(c.p)} (n ${c.n}${c.rounding ? `, +-${fmt(c.rounding)}` : ''}): difference ${f4(k1 / n1 - c.p)} in [${f4(lo)}, ${f4(hi)}]${pass ? '' : ', which excludes 0'}`,
          pass,
        };
      }
      case 'powerLaw': {
        const f = powerLawOf(c.points, inputs);
        const label = c.label ?? powerLawLabel(c.points);
        const body = `exponent of ${label}: b = ${fmt(f.exponent)} +- ${fmt(f.stdErr)} (95% interval [${fmt(f.lo)}, ${fmt(f.hi)}], t(${f.n - 2}) = ${fmt(f.t)}), r^2 = ${fmt(f.r2)}, n = ${f.n}`;
        if (c.target === undefined) return { text: body, pass: true, shown: true };
        const tol = c.absTol ?? 0;
        const pass = Math.abs(f.exponent - c.target) <= tol;
        const inside = f.lo <= c.target && c.target <= f.hi;
        return { text: `${body}; ${pass ? 'within' : 'not within'} ${fmt(tol)} of ${fmt(c.target)} (the target is ${inside ? 'inside' : 'outside'} the 95% interval)`, pass, detail: `b = ${fmt(f.exponent)} +- ${fmt(f.stdErr)}` };
      }
      case 'nonIncreasing': {
        const r = runOf(inputs, c.run);
        const col = column(r, c.column, c.run);
        const stepOf = stepValues(r, c.run);
        const tol = c.relTol ?? 0;
        let prev = NaN;
        let worst: { step: number; rise: number } | null = null;
        for (let i = 0; i < col.length; i++) {
          const v = col[i] as number;
          if (Number.isNaN(v)) continue;
          if (!Number.isNaN(prev) && v > prev + tol * Math.abs(prev)) {
            const rise = v - prev;
            if (!worst || rise > worst.rise) worst = { step: stepOf[i] as number, rise };
          }
          prev = v;
        }
        return worst
          ? { text: `${c.column} [run ${c.run}] rises by ${fmt(worst.rise)} at step ${worst.step}`, pass: false }
          : { text: `${c.column} [run ${c.run}] never increases over ${col.length} recorded rows`, pass: true };
      }
    }
  } catch (e) {
    if (e instanceof Missing) return { text: e.message, pass: null };
    throw e;
  }
}

/**
 * Evaluate the checks of every reference row. A row is `incomplete` when one of the runs it reads
 * did not finish (interrupted or diverged), it reads a sweep table that is not complete, or a
 * value it needs is missing; `cannotCompare` when
 * the row says so (its checks are still evaluated and shown); `shortened` when `inputs.shortened`
 * is set and the row would otherwise be judged; otherwise `agrees` or `disagrees`.
 */
export function checkReferences(reference: readonly PresetReference[], inputs: CheckInputs): CheckedReference[] {
  return reference.map((ref) => {
    const checks = ref.checks ?? [];
    const outcomes = checks.map((c) => runCheck(c, inputs));
    const runsRead = new Set<number>();
    const studiesRead = new Set<number>();
    const collect = (q: Bound): void => {
      if (typeof q === 'object' && 'fit' in q) {
        for (const p of q.points) {
          collect(p.x);
          collect(p.y);
        }
        return;
      }
      // A spec field is known before the run: reading it needs no finished run.
      if (typeof q === 'object' && 'run' in q && !('spec' in q)) runsRead.add(q.run);
      if (typeof q === 'object' && 'study' in q) studiesRead.add(q.study);
    };
    for (const c of checks) {
      if (c.kind === 'nonIncreasing') runsRead.add(c.run);
      else if (c.kind === 'powerLaw') collect({ fit: 'powerLaw', points: c.points, stat: 'exponent' });
      else if (c.kind !== 'binomial') {
        collect(c.of);
        if (c.kind === 'near') collect(c.to);
        else if (c.kind === 'atMost' || c.kind === 'atLeast') collect(c.bound);
      }
    }
    const readsSweep = checks.some((c) => c.kind !== 'nonIncreasing' && c.kind !== 'powerLaw' && [c.of, c.kind === 'near' ? c.to : c.kind === 'atMost' || c.kind === 'atLeast' ? c.bound : undefined].some((q) => typeof q === 'object' && q !== null && 'sweep' in q));
    const unfinished =
      [...runsRead].some((i) => {
        const r = inputs.runs[i];
        return !r || !r.finished;
      }) ||
      (readsSweep && !(inputs.sweep?.table.complete ?? false)) ||
      [...studiesRead].some((i) => !(inputs.studies?.[i]?.finished ?? false));
    let status: CheckStatus;
    const findings = checks.flatMap((c, i) => (outcomes[i]?.pass === false && c.finding !== undefined ? [outcomes[i]?.detail !== undefined ? `${c.finding} (${outcomes[i]?.detail})` : c.finding] : []));
    if (ref.cannotCompare !== undefined) status = 'cannotCompare';
    else if (checks.length === 0) status = 'notChecked';
    else if (unfinished || outcomes.some((o) => o.pass === null)) status = 'incomplete';
    else if (outcomes.every((o) => o.pass === true)) status = 'agrees';
    else status = checks.some((c, i) => outcomes[i]?.pass === false && c.finding === undefined) ? 'disagrees' : 'finding';
    // A shortened protocol never judges a claim, either way: the outcomes are still shown.
    if (inputs.shortened !== undefined && (status === 'agrees' || status === 'disagrees' || status === 'finding')) status = 'shortened';
    // Several checks may carry the same finding: say it once.
    return status === 'finding' ? { ...ref, status, outcomes, finding: [...new Set(findings)].join('; ') } : { ...ref, status, outcomes };
  });
}

/** A short mark for a status: `agrees`, `DISAGREES`, `cannot compare`, `not checked`, `incomplete`, `not checked (shortened)`. */
export function statusMark(s: CheckStatus): string {
  switch (s) {
    case 'agrees':
      return 'agrees';
    case 'disagrees':
      return 'DISAGREES';
    case 'finding':
      return 'finding';
    case 'cannotCompare':
      return 'cannot compare';
    case 'notChecked':
      return 'not checked';
    case 'incomplete':
      return 'incomplete';
    case 'shortened':
      return 'not checked (shortened)';
  }
}

/** The mark of a checked row: {@link statusMark}, or for a finding its text (`finding: <text>`). */
export function referenceMark(c: Pick<CheckedReference, 'status' | 'finding'>): string {
  return c.status === 'finding' && c.finding ? `finding: ${c.finding}` : statusMark(c.status);
}
