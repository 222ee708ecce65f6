/**
 * The panels of the page, for one run or two overlaid: the loss, the layer norms, the conserved
 * quantities themselves (role `invariant`, on a linear axis whose range is at least 5% of their
 * initial size around it, so a tiny drift does not look like a ramp), their drift (role `drift`,
 * log axis), the gradient norm when there are no layer norms, and (with curvature tracking on)
 * lambda_max and lambda_min in two panels of their own. Columns are picked by the role the core
 * declares, never by name (names only choose the legend labels), except for the CNN (model `cnn`),
 * whose angle and distances have role `other`: its panels pick `phi`, `distGlobal` and
 * `distSpurious` by name. `studyPanels` draws the continuation study (the branch diagram).
 */
import type { ColumnRole } from 'autobalance/portable';

import type { ChartPanel, Line, Marker } from './chart.js';

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
    phi: 'φ = angle(v, w*)',
    vNormSq: '‖v‖²',
    distGlobal: 'to the global minimum',
    distSpurious: 'to the spurious minimum',
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
  angle: 'angle',
  distance: 'distance',
  branches: 'branches',
  verdicts: 'verdicts',
  cost: 'cost',
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
  if (model === 'cnn') {
    // The CNN's own quantities (role `other`, so picked by name for this model): the angle
    // between v and w*, and the distance to each of the two minima.
    out.push({ id: PANEL.angle, title: 'angle φ between v and w* (0: the global minimum, π: the spurious one)', log: false, band: [0, Math.PI], lines: lines(runs, ['other'], false, (n) => n === 'phi') });
    out.push({ id: PANEL.distance, title: 'distance to each minimum', log: true, lines: lines(runs, ['other'], false, (n) => n === 'distGlobal' || n === 'distSpurious') });
    out.push({ id: PANEL.norms, title: '‖v‖² (never decreases under GD)', log: false, lines: lines(runs, ['norm']) });
    return out;
  }
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

/** The continuation study's output as the page uses it (the fields it reads). */
export interface BranchOutput {
  branches: { start: { kind: string; sheet?: number } }[];
  folds: { row: number; lambda: number }[];
}

/** Indices of a branch's rows, in order along the branch (by arclength). */
function branchRows(cols: Columns, branch: number): number[] {
  const b = cols['branch'] ?? [];
  const arc = cols['arc'] ?? [];
  const rows: number[] = [];
  for (let i = 0; i < b.length; i++) if (b[i] === branch) rows.push(i);
  return rows.sort((i, j) => (arc[i] as number) - (arc[j] as number));
}

/** A branch's name: `n = 1` for the logarithm on sheet 1. */
export function branchName(out: BranchOutput, branch: number): string {
  const s = out.branches[branch]?.start;
  return s?.kind === 'logarithm' ? `n = ${s.sheet ?? 0}` : (s?.kind ?? `branch ${branch}`);
}

const fmt4 = (v: number): string => String(Number(v.toPrecision(6)));

/**
 * The panels of a continuation study of Example 1 (C = aI + bJ): the branch diagram (b = c21
 * against lambda, one curve per start, the folds marked), the two verdicts along the branch of
 * sheet `verdictSheet` against its arclength (the smallest Hessian eigenvalue among constant and
 * among time-varying weights, 0 marked; the fold on the axis), and the cost J against lambda.
 */
export function studyPanels(cols: Columns, out: BranchOutput, verdictSheet = 1, largestK = 16): ChartPanel[] {
  const n = out.branches.length;
  const lam = cols['lambda'] ?? [];
  const pick = (name: string, rows: number[]): number[] => rows.map((i) => (cols[name] ?? [])[i] as number);
  const curves: Line[] = [];
  const costs: Line[] = [];
  for (let b = 0; b < n; b++) {
    const rows = branchRows(cols, b);
    curves.push({ label: branchName(out, b), run: 0, color: b, x: pick('lambda', rows), y: pick('c21', rows) });
    costs.push({ label: branchName(out, b), run: 0, color: b, x: pick('lambda', rows), y: pick('J', rows) });
  }
  const foldMarkers = (y: string): Marker[] =>
    out.folds.map((f) => ({
      x: lam[f.row] as number,
      y: (cols[y] ?? [])[f.row] as number,
      kind: 'fold' as const,
      title: `fold of ${branchName(out, (cols['branch'] ?? [])[f.row] as number)}: λ = ${fmt4(f.lambda)}`,
    }));
  const vb = out.branches.findIndex((b) => b.start.kind === 'logarithm' && (b.start.sheet ?? 0) === verdictSheet);
  const arcOf = (i: number): number => (cols['arc'] ?? [])[i] as number;
  // Near the fold: up to three times its arclength from the start (the far branch then creeps
  // towards lambda = 0 for a long way, its eigenvalues towards 0).
  const vfold = out.folds.find((f) => (cols['branch'] ?? [])[f.row] === vb);
  const arcMax = vfold ? 3 * Math.abs(arcOf(vfold.row)) : Infinity;
  const vrows = vb >= 0 ? branchRows(cols, vb).filter((i) => !Number.isNaN((cols['minEigConst'] ?? [])[i] as number) && Math.abs(arcOf(i)) <= arcMax) : [];
  const verdictLines: Line[] = [
    { label: 'among constant weights (the paper’s sense)', run: 0, color: 0, x: vrows.map(arcOf), y: pick('minEigConst', vrows) },
    { label: `among time-varying weights (K = ${largestK} layers)`, run: 0, color: 1, x: vrows.map(arcOf), y: pick('minEigTime', vrows) },
  ];
  const verdictMarkers: Marker[] = [];
  for (const i of vrows) {
    for (const [k, col, name] of [[0, 'verdictConst', 'constant'], [1, 'verdictTime', 'time-varying']] as const) {
      const v = (cols[col] ?? [])[i] as number;
      const e = (cols[k === 0 ? 'minEigConst' : 'minEigTime'] ?? [])[i] as number;
      verdictMarkers.push({
        x: arcOf(i),
        y: e,
        kind: v > 0 ? 'min' : v < 0 ? 'saddle' : 'undecided',
        color: k,
        title: `λ = ${fmt4(lam[i] as number)}, ${name} weights: ${v > 0 ? 'local minimum' : v < 0 ? 'saddle' : 'undecided'} (smallest eigenvalue ${fmt4(e)})`,
      });
    }
  }
  for (const f of out.folds) {
    if ((cols['branch'] ?? [])[f.row] === vb) verdictMarkers.push({ x: arcOf(f.row), y: 0, kind: 'fold', title: `the fold: λ = ${fmt4(f.lambda)}` });
  }
  return [
    { id: PANEL.branches, title: 'critical points: b (C = aI + bJ) against λ; folds in black', log: false, xLabel: 'λ (regularization)', curves: true, lines: curves, markers: foldMarkers('c21') },
    {
      id: PANEL.verdicts,
      title: `branch ${vb >= 0 ? branchName(out, vb) : ''}: smallest Hessian eigenvalue (filled: minimum, open: saddle)`,
      log: false,
      zero: true,
      xLabel: 'arclength along the branch from λ = 0 (the fold in black)',
      curves: true,
      lines: verdictLines,
      markers: verdictMarkers,
    },
    { id: PANEL.cost, title: 'cost J at the critical points against λ', log: false, xLabel: 'λ (regularization)', curves: true, lines: costs, markers: foldMarkers('J') },
  ];
}
