/**
 * The panels of the page, for one run or two overlaid: the loss, the layer norms, the conserved
 * quantities themselves (role `invariant`, on a linear axis whose range is at least 5% of their
 * initial size around it, so a tiny drift does not look like a ramp), their drift (role `drift`,
 * log axis), the gradient norm when there are no layer norms, and (with curvature tracking on)
 * lambda_max and lambda_min in two panels of their own. Columns are picked by the role the core
 * declares, never by name; names only choose the legend labels.
 */
import type { ColumnRole } from 'autobalance/portable';

import type { ChartPanel, Line } from './chart.js';

export type Columns = Record<string, number[]>;

/** The recorded columns: names in order, and the role of each. */
export interface ColumnInfo {
  names: readonly string[];
  roles: Readonly<Record<string, ColumnRole>>;
}

/** A run as the plots see it. */
export interface PlotRun {
  info: ColumnInfo;
  cols: Columns;
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

/** The legend label of a column (labels only: which columns are drawn is decided by role). */
export function label(name: string): string {
  const fixed: Record<string, string> = {
    loss: 'loss',
    residual: '‖UVᵀ − M*‖_F',
    gradNorm: '‖∇f‖',
    normU2: '‖U‖²_F',
    normV2: '‖V‖²_F',
    imbalance: '‖UᵀU − VᵀV‖_F',
    imbalanceDrift: '‖D_t − D_0‖_F',
    lambdaMin: 'λ_min',
    lambdaMax: 'λ_max',
    lambdaMinResidual: 'residual of λ_min',
    lambdaMaxResidual: 'residual of λ_max',
  };
  const known = fixed[name];
  if (known !== undefined) return known;
  const m = /^(normSqW|normSqB|layerDiff|layerDiffDrift|neuronDriftMax|matrixDrift)(\d+)$/.exec(name);
  if (!m) return name;
  const h = Number(m[2]);
  switch (m[1]) {
    case 'normSqW':
      return `‖W${h}‖²_F`;
    case 'normSqB':
      return `‖b${h}‖²`;
    case 'layerDiff':
      return `‖W${h}‖² − ‖W${h + 1}‖²`;
    case 'layerDiffDrift':
      return `|Δ(‖W${h}‖² − ‖W${h + 1}‖²)|`;
    case 'neuronDriftMax':
      return `max per-neuron drift, layer ${h}`;
    default:
      return `drift of W${h}ᵀW${h} − W${h + 1}W${h + 1}ᵀ`;
  }
}

function thin(x: number[], y: number[]): { x: number[]; y: number[] } {
  const n = Math.min(x.length, y.length);
  if (n <= MAX_POINTS) return { x: x.slice(0, n), y: y.slice(0, n) };
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
  return { x: xs, y: ys };
}

/** The lines of the columns of `roles` in every run (absolute values with `abs`). */
function lines(runs: readonly PlotRun[], roles: ColumnRole[], abs = false, only?: (name: string) => boolean): Line[] {
  const out: Line[] = [];
  runs.forEach((r, run) => {
    const step = stepName(r.info);
    const x = step !== undefined ? r.cols[step] : undefined;
    if (!x) return;
    withRole(r.info, ...roles)
      .filter((n) => !only || only(n))
      .forEach((name, color) => {
        const raw = r.cols[name];
        if (!raw) return;
        const { x: xs, y } = thin(x, abs ? raw.map(Math.abs) : raw);
        out.push({ label: label(name), run, color, x: xs, y });
      });
  });
  return out;
}

/** Only the rows where a curvature sample was taken (the others are NaN): kept as points. */
function sampledLines(runs: readonly PlotRun[], name: string, color: number): Line[] {
  const out: Line[] = [];
  runs.forEach((r, run) => {
    const step = stepName(r.info);
    const x = step !== undefined ? r.cols[step] : undefined;
    const y = r.cols[name];
    if (!x || !y) return;
    const xs: number[] = [];
    const ys: number[] = [];
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      if (!Number.isNaN(y[i] as number)) {
        xs.push(x[i] as number);
        ys.push(y[i] as number);
      }
    }
    out.push({ label: label(name), run, color, x: xs, y: ys });
  });
  return out;
}

const allPositive = (ls: Line[]): boolean => ls.every((l) => l.y.every((v) => !Number.isFinite(v) || v > 0));

/** Ids of the panels (tests and the page find panels by them). */
export const PANEL = {
  loss: 'loss',
  gradNorm: 'gradNorm',
  norms: 'norms',
  conserved: 'conserved',
  drift: 'drift',
  lambdaMax: 'lambdaMax',
  lambdaMin: 'lambdaMin',
} as const;

/** The panels for the runs (the first run decides which panels there are). */
export function panels(runs: readonly PlotRun[], model: string): ChartPanel[] {
  const first = runs[0];
  if (!first) return [];
  const mf = model === 'mf';
  const out: ChartPanel[] = [];
  const loss = lines(runs, ['loss', 'residual']);
  out.push({ id: PANEL.loss, title: mf ? 'loss f(U, V) and the residual' : 'loss', log: allPositive(loss), lines: loss, zero: !allPositive(loss) });
  const hasNorms = withRole(first.info, 'norm').length > 0;
  if (!hasNorms) {
    out.push({ id: PANEL.gradNorm, title: 'gradient norm ‖∇f‖ (dips at each saddle)', log: true, lines: lines(runs, ['gradNorm']) });
  } else {
    out.push({ id: PANEL.norms, title: mf ? 'squared norms of the factors' : 'squared norms of the layers', log: true, lines: lines(runs, ['norm']) });
  }
  const inv = lines(runs, ['invariant']);
  if (inv.length > 0) {
    // A linear range of at least 5% of each conserved quantity's initial size around it.
    let lo = Infinity;
    let hi = -Infinity;
    for (const l of inv) {
      const v0 = l.y[0];
      if (v0 === undefined || !Number.isFinite(v0)) continue;
      const d = Math.abs(v0) * 0.05;
      lo = Math.min(lo, v0 - d);
      hi = Math.max(hi, v0 + d);
    }
    out.push({
      id: PANEL.conserved,
      title: 'conserved by gradient flow: the quantities themselves',
      log: false,
      lines: inv,
      ...(Number.isFinite(lo) ? { band: [lo, hi] as [number, number] } : {}),
    });
    out.push({ id: PANEL.drift, title: 'their drift since step 0 (GD: small, not zero)', log: true, lines: lines(runs, ['drift'], true) });
  }
  const curv = withRole(first.info, 'curvature');
  if (curv.includes('lambdaMax')) {
    out.push({ id: PANEL.lambdaMax, title: 'Hessian: λ_max (largest curvature)', log: false, lines: sampledLines(runs, 'lambdaMax', 1) });
  }
  if (curv.includes('lambdaMin')) {
    out.push({ id: PANEL.lambdaMin, title: 'Hessian: λ_min (below 0: a saddle)', log: false, zero: true, lines: sampledLines(runs, 'lambdaMin', 0) });
  }
  return out;
}
