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
 * `scale` multiplies a numeric result.
 */
export type Quantity =
  | {
      /** Index of the run in the preset. */
      run: number;
      /** Column name. */
      column: string;
      /** How the rows are reduced to one number. */
      reduce: 'first' | 'last' | 'min' | 'max' | 'maxAbs';
      /** First step of the window (inclusive). */
      from?: number;
      /** Last step of the window (inclusive). */
      to?: number;
      /** Factor applied to the result. */
      scale?: number;
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
    }
  | {
      /** Index into the preset's `hessian` list. */
      hessian: number;
      /** Dotted path of a field of the report. */
      field: string;
      /** Factor applied to a numeric result. */
      scale?: number;
    }
  | {
      /** A constant. */
      value: number;
    }
  | SweepQuantity
  | StudyQuantity;

/**
 * A value read from study `study` of a studies preset (an index into its `studies` list): a field
 * of the study's JSON output (a dotted path such as `laws`, `gap` or `status.rows`; a boolean is
 * read as the string `true` / `false`), or one of its columns reduced over the rows (`min`, `max`,
 * `first`, `last`; NaN rows skipped).
 */
export type StudyQuantity =
  | {
      /** Index of the study in the preset. */
      study: number;
      /** Dotted path of a field of the study's output. */
      field: string;
      /** Factor applied to a numeric result. */
      scale?: number;
    }
  | {
      /** Index of the study in the preset. */
      study: number;
      /** Column name. */
      column: string;
      /** How the rows are reduced to one number. */
      reduce: 'min' | 'max' | 'first' | 'last';
      /** Factor applied to the result. */
      scale?: number;
    };

/**
 * Which settings of a sweep a {@link SweepQuantity} reads: per axis path (as in the table's
 * `values`, e.g. `schedule.eta`), a value (a number: equal up to a relative 1e-9; a string:
 * equal) or bounds. Paths not named are free.
 */
export type SweepWhere = Record<string, number | string | SweepBounds>;

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
}

/** The outcome of one check. */
export interface CheckOutcome {
  /** What was compared, with our numbers, e.g. `last loss [run 0] = 8.9e-16 <= 1e-12`. */
  text: string;
  /** Whether it holds; null when it could not be evaluated (missing run, column or report). */
  pass: boolean | null;
  /** A `show` check: a value shown, not judged (`pass` is true once it is evaluated). */
  shown?: true;
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

function reduceColumn(r: RunResult, q: Extract<Quantity, { run: number }>): number {
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
  const vals: number[] = [];
  for (let i = 0; i < col.length; i++) {
    const s = stepOf[i] as number;
    const v = col[i] as number;
    if (s >= from && s <= to && !Number.isNaN(v)) vals.push(v);
  }
  if (vals.length === 0) throw new Missing(`run ${q.run} has no ${q.column} values in the window`);
  return reduceValues(vals, q.reduce);
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
  const rows = sw.table.settings.filter((r) => sweepWhereMatches(r.values, q.where));
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
  const c = s.columns[q.column];
  if (!c) throw new Missing(`study ${q.study} has no column ${q.column}`);
  const vals = Array.from(c).filter((x) => !Number.isNaN(x));
  if (vals.length === 0) throw new Missing(`study ${q.study} has no ${q.column} values`);
  return reduceValues(vals, q.reduce);
}

/** A quantity's value and, when it is scaled, its value before the scale (for the check's text). */
interface Valued {
  v: number | string;
  raw?: number;
}

function evaluate(q: Quantity, inputs: CheckInputs): number | string {
  return evaluateValued(q, inputs).v;
}

function evaluateValued(q: Quantity, inputs: CheckInputs): Valued {
  let v: number | string;
  if ('sweep' in q) {
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
  if (scale !== 1) {
    if (typeof v !== 'number') throw new Missing('a scale applies to numbers only');
    return { v: v * scale, raw: v };
  }
  return { v };
}

/**
 * One side of a comparison with its own value: `NAME = v`, or for a scaled quantity
 * `s x (NAME = raw) = v`, so that no number can be read as belonging to the wrong name.
 */
function side(q: Bound, val: Valued): string {
  if (typeof q === 'number') return fmt(q);
  if (val.raw !== undefined && 'scale' in q && q.scale !== undefined) return `${fmt(q.scale)} x (${describe(q, false)} = ${fmt(val.raw)}) = ${fmt(val.v)}`;
  if (!('run' in q) && !('sweep' in q) && !('study' in q) && !('hessian' in q)) return fmt(val.v);
  return `${describe(q)} = ${fmt(val.v)}`;
}

function valued(q: Bound, inputs: CheckInputs): Valued {
  return typeof q === 'number' ? { v: q } : evaluateValued(q, inputs);
}

function describe(q: Bound, withScale = true): string {
  if (typeof q === 'number') return fmt(q);
  const scale = withScale && 'scale' in q && q.scale !== undefined && q.scale !== 1 ? `${fmt(q.scale)} x ` : '';
  if ('sweep' in q) return `${scale}${describeSweep(q)}`;
  if ('study' in q) return 'field' in q ? `${scale}${q.field} [study ${q.study}]` : `${scale}${q.reduce} ${q.column} [study ${q.study}]`;
  if ('hessian' in q) return `${scale}${q.field} [curvature ${q.hessian}]`;
  if ('run' in q) {
    const where = `[run ${q.run}]`;
    switch (q.reduce) {
      case 'at':
        return `${scale}${q.column} at step ${q.step} ${where}`;
      case 'firstStepAtMost':
        return `${scale}first step with ${q.column} <= ${fmt(q.value)} ${where}`;
      case 'maxAbs':
        return `${scale}max |${q.column}|${window(q)} ${where}`;
      default:
        return `${scale}${q.reduce} ${q.column}${window(q)} ${where}`;
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
      if (typeof q === 'object' && 'run' in q) runsRead.add(q.run);
      if (typeof q === 'object' && 'study' in q) studiesRead.add(q.study);
    };
    for (const c of checks) {
      if (c.kind === 'nonIncreasing') runsRead.add(c.run);
      else {
        collect(c.of);
        if (c.kind === 'near') collect(c.to);
        else if (c.kind === 'atMost' || c.kind === 'atLeast') collect(c.bound);
      }
    }
    const readsSweep = checks.some((c) => c.kind !== 'nonIncreasing' && [c.of, c.kind === 'near' ? c.to : c.kind === 'atMost' || c.kind === 'atLeast' ? c.bound : undefined].some((q) => typeof q === 'object' && q !== null && 'sweep' in q));
    const unfinished =
      [...runsRead].some((i) => {
        const r = inputs.runs[i];
        return !r || !r.finished;
      }) ||
      (readsSweep && !(inputs.sweep?.table.complete ?? false)) ||
      [...studiesRead].some((i) => !(inputs.studies?.[i]?.finished ?? false));
    let status: CheckStatus;
    const findings = checks.flatMap((c, i) => (outcomes[i]?.pass === false && c.finding !== undefined ? [c.finding] : []));
    if (ref.cannotCompare !== undefined) status = 'cannotCompare';
    else if (checks.length === 0) status = 'notChecked';
    else if (unfinished || outcomes.some((o) => o.pass === null)) status = 'incomplete';
    else if (outcomes.every((o) => o.pass === true)) status = 'agrees';
    else status = checks.some((c, i) => outcomes[i]?.pass === false && c.finding === undefined) ? 'disagrees' : 'finding';
    // A shortened protocol never judges a claim, either way: the outcomes are still shown.
    if (inputs.shortened !== undefined && (status === 'agrees' || status === 'disagrees' || status === 'finding')) status = 'shortened';
    return status === 'finding' ? { ...ref, status, outcomes, finding: findings.join('; ') } : { ...ref, status, outcomes };
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
