/**
 * The panels of the page: loss, layer norms, drift of the conserved quantities, and (with
 * curvature tracking on) the Hessian's extreme eigenvalues along the run. Columns are picked by
 * the role the core declares for each (`columnRoles`), never by name: a panel shows every column
 * of its roles, so a new model family's columns appear without changes here.
 */
import type { ColumnRole } from 'autobalance/portable';
import type { Figure, Panel, Series } from 'autobalance/svg';

export type Columns = Record<string, number[]>;

/** The recorded columns: names in order, and the role of each. */
export interface ColumnInfo {
  names: readonly string[];
  roles: Readonly<Record<string, ColumnRole>>;
}

/** At most this many points per line are drawn (every row is kept in the data). */
const MAX_POINTS = 1500;

/** The names of the columns with one of `roles`, in column order. */
export function withRole(info: ColumnInfo, ...roles: ColumnRole[]): string[] {
  return info.names.filter((n) => {
    const r = info.roles[n];
    return r !== undefined && roles.includes(r);
  });
}

/** The column of role `step` (the x axis of every panel). */
export function stepName(info: ColumnInfo): string | undefined {
  return withRole(info, 'step')[0];
}

/**
 * The legend label of a column. Labels only: which columns are drawn is decided by role. Columns
 * not known here are labelled by their name.
 */
function label(name: string): string {
  const fixed: Record<string, string> = {
    loss: 'loss',
    residual: '‖UVᵀ − M*‖_F',
    normU2: '‖U‖²_F',
    normV2: '‖V‖²_F',
    imbalanceDrift: '‖D_t − D_0‖_F',
    lambdaMin: 'λ_min',
    lambdaMax: 'λ_max',
    lambdaMinResidual: 'residual of λ_min',
    lambdaMaxResidual: 'residual of λ_max',
  };
  const known = fixed[name];
  if (known !== undefined) return known;
  const m = /^(normSqW|normSqB|layerDiffDrift|neuronDriftMax|matrixDrift)(\d+)$/.exec(name);
  if (!m) return name;
  const h = Number(m[2]);
  switch (m[1]) {
    case 'normSqW':
      return `‖W${h}‖²_F`;
    case 'normSqB':
      return `‖b${h}‖²`;
    case 'layerDiffDrift':
      return `|Δ(‖W${h}‖² − ‖W${h + 1}‖²)|`;
    case 'neuronDriftMax':
      return `max per-neuron drift, layer ${h}`;
    default:
      return `drift of W${h}ᵀW${h} − W${h + 1}W${h + 1}ᵀ`;
  }
}

/** A line of column `name` against `x` (absolute values with `abs`). */
function series(x: number[] | undefined, raw: number[] | undefined, name: string, abs: boolean): Series | undefined {
  if (!x || !raw) return undefined;
  const y = abs ? raw.map(Math.abs) : raw;
  const n = Math.min(x.length, y.length);
  const lbl = label(name);
  if (n <= MAX_POINTS) return { label: lbl, x: x.slice(0, n), y: y.slice(0, n) };
  const stride = Math.ceil(n / MAX_POINTS);
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < n; i += stride) {
    xs.push(x[i] as number);
    ys.push(y[i] as number);
  }
  if ((n - 1) % stride !== 0) {
    xs.push(x[n - 1] as number);
    ys.push(y[n - 1] as number);
  }
  return { label: lbl, x: xs, y: ys };
}

/** A panel of the columns `names` against the step (absolute values with `abs`). */
function panel(title: string, logY: boolean, info: ColumnInfo, cols: Columns, names: readonly string[], abs = false): Panel {
  const stepCol = stepName(info);
  const x = stepCol !== undefined ? cols[stepCol] : undefined;
  const out: Series[] = [];
  for (const name of names) {
    const s = series(x, cols[name], name, abs);
    if (s) out.push(s);
  }
  return { title, xLabel: 'step', logY, series: out };
}

/** The title of the curvature panel (main.ts finds the panel by it). */
export const CURVATURE_TITLE = 'Hessian: λ_min and λ_max along the run';

/**
 * The curvature panel: the columns of role `curvature` (lambda_min, lambda_max and the residuals
 * of their solves) against the step on a linear axis (lambda_min can be negative), only on the
 * sampled rows (the others are NaN), and the line λ = 0.
 */
function curvaturePanel(info: ColumnInfo, cols: Columns): Panel | undefined {
  const stepCol = stepName(info);
  const names = withRole(info, 'curvature');
  const x = stepCol !== undefined ? cols[stepCol] : undefined;
  const ys = names.map((n) => cols[n]);
  if (stepCol === undefined || !x || names.length === 0 || ys.some((y) => !y)) return undefined;
  const n = Math.min(x.length, ...ys.map((y) => (y as number[]).length));
  const keep: number[] = [];
  for (let i = 0; i < n; i++) if (ys.some((y) => !Number.isNaN((y as number[])[i] as number))) keep.push(i);
  const sampled: Columns = { [stepCol]: keep.map((i) => x[i] as number) };
  names.forEach((name, k) => {
    const y = ys[k] as number[];
    sampled[name] = keep.map((i) => y[i] as number);
  });
  const p = panel(CURVATURE_TITLE, false, info, sampled, names);
  const steps = sampled[stepCol] as number[];
  if (steps.length > 0) p.series.push({ label: 'λ = 0', x: [steps[0] as number, steps[steps.length - 1] as number], y: [0, 0] });
  return p;
}

/**
 * The figure for the columns recorded so far: the loss (role `loss`, with role `residual`), the
 * layer norms (role `norm`), the drift of the conserved quantities (role `drift`, absolute values)
 * on log axes, and the curvature samples (role `curvature`). `model` only words the titles.
 */
export function figure(info: ColumnInfo, cols: Columns, panelWidth: number, model: 'mf' | 'net'): Figure {
  const common = { panelWidth, panelHeight: Math.round(panelWidth * 0.72), columns: 3, legend: 'panel' as const };
  const curvature = curvaturePanel(info, cols);
  const mf = model === 'mf';
  return {
    ...common,
    panels: [
      panel(mf ? 'loss f(U, V)' : 'loss', true, info, cols, [...withRole(info, 'loss'), ...withRole(info, 'residual')]),
      panel('layer norms', true, info, cols, withRole(info, 'norm')),
      panel(mf ? 'drift of UᵀU − VᵀV (conserved by gradient flow)' : 'drift of the conserved quantities', true, info, cols, withRole(info, 'drift'), true),
      ...(curvature ? [curvature] : []),
    ],
  };
}
