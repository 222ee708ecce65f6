/** The three panels of the page: loss, layer norms, drift of the conserved quantities. */
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
    ],
  };
}
