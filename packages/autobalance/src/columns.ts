/**
 * Column roles: the core declares, for every recorded column, what it measures (`Role` in
 * crates/core/src/model/mod.rs), and the bindings give it as `columnRoles()`, parallel to
 * `columnNames()`. Reports, checks and plots pick columns by role, never by name, so a new model
 * family's columns are summarized and plotted without the TS layer knowing their names.
 * Platform-neutral.
 *
 * @module
 */

/**
 * What a recorded column measures, as the core declares it:
 *
 * - `step`: the iteration index (the column `step`);
 * - `stepSize`: the step size used from this row on (`eta`);
 * - `time`: flow time, the sum of the step sizes so far (`time`; every run has it);
 * - `loss`: the objective;
 * - `norm`: a squared norm of (part of) the parameters (`normU2`; `normSqW1`, `normSqB1`, ...);
 * - `ratio`: a ratio of norms of consecutive layers (`normRatio`, `normRatio1`, ...);
 * - `invariant`: a quantity conserved by gradient flow, its value (`imbalance`; `layerDiff1`, ...);
 * - `drift`: the change of a conserved quantity since the start (`imbalanceDrift`;
 *   `layerDiffDrift1`, `neuronDriftMax1`, `matrixDrift1`, ...);
 * - `residual`: a residual or data-fit norm (`residual`);
 * - `gradNorm`: the gradient norm;
 * - `curvature`: a curvature sample, an eigenvalue or its residual (`lambdaMin`, ...);
 * - `solver`: statistics of the method (`solveIters`, `rejected`, ...);
 * - `other`: anything else (also any role this version of the TS layer does not know).
 */
export type ColumnRole =
  | 'step'
  | 'stepSize'
  | 'time'
  | 'loss'
  | 'norm'
  | 'ratio'
  | 'invariant'
  | 'drift'
  | 'residual'
  | 'gradNorm'
  | 'curvature'
  | 'solver'
  | 'other';

/** Every {@link ColumnRole}, in the order of the core's `Role`. */
export const COLUMN_ROLES: readonly ColumnRole[] = Object.freeze([
  'step',
  'stepSize',
  'time',
  'loss',
  'norm',
  'ratio',
  'invariant',
  'drift',
  'residual',
  'gradNorm',
  'curvature',
  'solver',
  'other',
] as const);

/** Is `s` the name of a {@link ColumnRole}? */
export function isColumnRole(s: unknown): s is ColumnRole {
  return typeof s === 'string' && (COLUMN_ROLES as readonly string[]).includes(s);
}

/** What role lookups need of a run or a result: its column names, in order, and their roles. */
export interface RoledColumns {
  /** Names of the recorded columns, in order. */
  readonly columnNames: readonly string[];
  /** The role of each column, by name. */
  readonly columnRoles: Readonly<Record<string, ColumnRole>>;
}

/** The role of column `name`: `other` when the column has no declared role. */
export function columnRole(r: RoledColumns, name: string): ColumnRole {
  return Object.prototype.hasOwnProperty.call(r.columnRoles, name) ? (r.columnRoles[name] as ColumnRole) : 'other';
}

/** The names of the columns with one of `roles`, in the order of the columns. */
export function columnsWithRole(r: RoledColumns, ...roles: ColumnRole[]): string[] {
  return r.columnNames.filter((n) => roles.includes(columnRole(r, n)));
}

/** The name of the first column with role `step` (the iteration index), or undefined. */
export function stepColumn(r: RoledColumns): string | undefined {
  return r.columnNames.find((n) => columnRole(r, n) === 'step');
}
