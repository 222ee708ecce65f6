/**
 * The panels of the page: loss, layer norms, drift of the conserved quantities, and (with
 * curvature tracking on) the Hessian's extreme eigenvalues along the run.
 */
import type { Figure, Panel, Series } from 'autobalance/svg';

export type Columns = Record<string, number[]>;

/** At most this many points per line are drawn (every row is kept in the data). */
const MAX_POINTS = 1500;

/** A line of column `name` against the step; `|name|` plots the absolute value. */
function series(cols: Columns, label: string, name: string): Series | undefined {
  const abs = name.startsWith('|');
  const x = cols['step'];
  const raw = cols[abs ? name.slice(1, -1) : name];
  if (!x || !raw) return undefined;
  const y = abs ? raw.map(Math.abs) : raw;
  const n = Math.min(x.length, y.length);
  if (n <= MAX_POINTS) return { label, x: x.slice(0, n), y: y.slice(0, n) };
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
  return { label, x: xs, y: ys };
}

function panel(title: string, logY: boolean, cols: Columns, lines: [label: string, column: string][]): Panel {
  const out: Series[] = [];
  for (const [label, name] of lines) {
    const s = series(cols, label, name);
    if (s) out.push(s);
  }
  return { title, xLabel: 'step', logY, series: out };
}

/** The title of the curvature panel (main.ts finds the panel by it). */
export const CURVATURE_TITLE = 'Hessian: λ_min and λ_max along the run';

/**
 * The curvature panel: lambda_min and lambda_max against the step on a linear axis (lambda_min can
 * be negative), only on the sampled rows (the others are NaN), and the line λ = 0.
 */
function curvaturePanel(cols: Columns): Panel | undefined {
  const x = cols['step'];
  const lo = cols['lambdaMin'];
  const hi = cols['lambdaMax'];
  if (!x || !lo || !hi) return undefined;
  const keep: number[] = [];
  const n = Math.min(x.length, lo.length, hi.length);
  for (let i = 0; i < n; i++) if (!Number.isNaN(lo[i] as number) || !Number.isNaN(hi[i] as number)) keep.push(i);
  const sampled: Columns = {
    step: keep.map((i) => x[i] as number),
    lambdaMin: keep.map((i) => lo[i] as number),
    lambdaMax: keep.map((i) => hi[i] as number),
  };
  const p = panel(CURVATURE_TITLE, false, sampled, [
    ['λ_max', 'lambdaMax'],
    ['λ_min', 'lambdaMin'],
  ]);
  const steps = sampled['step'] as number[];
  if (steps.length > 0) p.series.push({ label: 'λ = 0', x: [steps[0] as number, steps[steps.length - 1] as number], y: [0, 0] });
  return p;
}

/** Indices h with a column `${prefix}${h}`, in order. */
function indices(names: readonly string[], prefix: string): number[] {
  const re = new RegExp(`^${prefix}(\\d+)$`);
  return names
    .map((n) => re.exec(n)?.[1])
    .filter((h): h is string => h !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/** The figure for the columns recorded so far. */
export function figure(names: readonly string[], cols: Columns, panelWidth: number): Figure {
  const common = { panelWidth, panelHeight: Math.round(panelWidth * 0.72), columns: 3, legend: 'panel' as const };
  const curvature = curvaturePanel(cols);
  const extra = curvature ? [curvature] : [];
  if (names.includes('normU2')) {
    return {
      ...common,
      panels: [
        panel('loss f(U, V)', true, cols, [['loss', 'loss']]),
        panel('layer norms', true, cols, [
          ['‖U‖²_F', 'normU2'],
          ['‖V‖²_F', 'normV2'],
        ]),
        panel('drift of UᵀU − VᵀV (conserved by gradient flow)', true, cols, [['‖D_t − D_0‖_F', 'imbalanceDrift']]),
        ...extra,
      ],
    };
  }
  const layers = indices(names, 'normSqW');
  const pairs = indices(names, 'layerDiffDrift');
  return {
    ...common,
    panels: [
      panel('loss', true, cols, [['loss', 'loss']]),
      panel(
        'layer norms',
        true,
        cols,
        layers.map((h) => [`‖W${h}‖²_F`, `normSqW${h}`]),
      ),
      panel('drift of the conserved quantities', true, cols, [
        ...pairs.map((h): [string, string] => [`|Δ(‖W${h}‖² − ‖W${h + 1}‖²)|`, `|layerDiffDrift${h}|`]),
        ...indices(names, 'neuronDriftMax').map((h): [string, string] => [`max per-neuron drift, layer ${h}`, `neuronDriftMax${h}`]),
      ]),
      ...extra,
    ],
  };
}
