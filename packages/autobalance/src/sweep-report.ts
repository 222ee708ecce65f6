/**
 * Reports of sweeps: the reduced table (one line per setting) as CSV and as a self-contained HTML
 * page with a plot per pair of axes (heatmaps) and per axis (lines with confidence bands), drawn
 * with vega. Platform-neutral; no backend is needed (the table is already reduced).
 *
 * @module
 */

import { type CheckedReference, type ReferenceCell, type SweepWhere, chi2Curve, referenceMark, sweepWhereMatches } from './checks.js';
import { type Provenance, STYLE, esc, provenanceHtml, referenceTable, shortenedBanner } from './html.js';
import { type BandSeries, type HeatmapCell, type VegaLiteSpec, bandLinesVegaLite, heatmapVegaLite, panelsToVegaLite, renderVegaLiteSvg } from './vega.js';
import type { SweepPlan, SweepSettingRow, SweepSpec, SweepTable } from './sweep.js';

/** An axis of a {@link SweepPlot}: a sweep path, how to label and scale it. */
export interface SweepPlotAxis {
  /** A path of a sweep axis (for a `zip` axis, any of its paths), e.g. `schedule.eta`. */
  path: string;
  /** Axis title (default: the path). */
  title?: string;
  /** Factor applied to the values shown (e.g. 10 to show c_init = 10 x init.stdU); default 1. */
  scale?: number;
  /** Logarithmic axis on line plots (heatmap axes are discrete). */
  log?: boolean;
  /**
   * Labels of the axis's values, in axis order (legend entries of a `series` axis, e.g.
   * `["GD", "PGD"]` for an axis over methods); default `<title> = <value>`.
   */
  labels?: string[];
}

/** What a {@link SweepPlot} shows per setting. */
export type SweepPlotValue =
  | {
      /** A class name: its probability, with its Wilson interval as the band of line plots. */
      class: string;
    }
  | {
      /** A kept name. */
      kept: string;
      /**
       * `mean` (default) or `median` (the 0.5 quantile, if reduced); line plots shade the range
       * between the lowest and the highest reduced quantile.
       */
      stat?: 'mean' | 'median';
    };

/** One plot of a sweep report: over its axes ({@link SweepAxisPlot}) or over a list of kept values ({@link SweepKeptPlot}). */
export type SweepPlot = SweepAxisPlot | SweepKeptPlot | SweepChi2Plot;

/**
 * chi^2 of a published table against the sweep's class probabilities over the axis whose value
 * the publication leaves out (see `SweepChi2Quantity` in checks.ts): one line, log x.
 */
export interface SweepChi2Plot {
  /** The kind. */
  kind: 'chi2';
  /** Panel title. */
  title?: string;
  /** The class. */
  name: string;
  /** The fitted axis path. */
  axis: string;
  /** The published cells. */
  cells: ReferenceCell[];
  /** Logarithmic x axis (default true). */
  logX?: boolean;
}

/**
 * A published table of class probabilities beside ours, as a grid: rows and columns are two axis
 * paths, each cell our probability with its Wilson interval, the published value, and the mark of
 * the reference row whose `cell` is [row value, column value]; `where` fixes the other axes.
 */
export interface SweepGridTable {
  /** Title above the table. */
  title: string;
  /** The axis path of the rows. */
  row: string;
  /** The axis path of the columns. */
  col: string;
  /** The class shown. */
  class: string;
  /** The other axes' values. */
  where?: SweepWhere;
  /** The published probabilities per row and column value, in the table's row and column value order (null: not published). */
  reference?: (number | null)[][];
}

/** A curve computed from theory (not from the runs), drawn beside a plot's lines. */
export interface SweepTheoryCurve {
  /** Legend label. */
  label: string;
  /** x values. */
  x: number[];
  /** y values. */
  y: number[];
}

/** A plot over the sweep's axes. */
export interface SweepAxisPlot {
  /** `heatmap`: the value over `x` and `y`; `lines`: the value over `x`, one line per value of `series`. */
  kind: 'heatmap' | 'lines';
  /** Panel title (default: the value). */
  title?: string;
  /** The x axis. */
  x: SweepPlotAxis;
  /** The y axis (heatmap). */
  y?: SweepPlotAxis;
  /** One line per value of this axis (lines; default: a single line). */
  series?: SweepPlotAxis;
  /** What is shown. */
  value: SweepPlotValue;
  /** Logarithmic y axis (lines). */
  logY?: boolean;
  /** Theory curves drawn beside the lines (lines). */
  theory?: SweepTheoryCurve[];
}

/**
 * A plot over a list of kept values (e.g. `escape1` .. `escape5`, the iteration at which each
 * saddle is left), on the settings matching `where`, one line per value of `series`:
 *
 * - `keptProfile`: x = the position of each kept value (`positions`, default 1, 2, ...), y = its
 *   `stat` (default `median`), shaded from the lowest to the highest reduced quantile;
 * - `staircase`: the kept values as the ends of the steps of a staircase: y = `levels[k]` from
 *   the `stat` of kept value k (k = 0: x = 1) to that of kept value k + 1 (`levels` has one more
 *   entry than `kept`; the last level runs on to twice the last value); x on a log axis. It draws
 *   the given levels (e.g. the objective's value at each saddle) at the measured times: the
 *   title should say so.
 *
 * A setting whose `series` value is not on the series axis is left out; with no `series`, every
 * matching setting is its own line.
 */
export interface SweepKeptPlot {
  /** `keptProfile` or `staircase`. */
  kind: 'keptProfile' | 'staircase';
  /** Panel title. */
  title?: string;
  /** The kept names, in order. */
  kept: string[];
  /** Which settings (default all). */
  where?: SweepWhere;
  /** One line per value of this axis. */
  series?: SweepPlotAxis;
  /** The statistic of each kept value (default `median`). */
  stat?: 'mean' | 'median';
  /** `keptProfile`: the x position of each kept value (default 1, 2, ...). */
  positions?: number[];
  /** `staircase`: the level of each step (kept.length + 1 values). */
  levels?: number[];
  /** Logarithmic y axis (`keptProfile`). */
  logY?: boolean;
  /** x axis title. */
  xTitle?: string;
  /** y axis title. */
  yTitle?: string;
}

/** The input of {@link sweepReportHtml}. */
export interface SweepReportInput {
  /** The sweep spec (shown in the report). */
  spec: SweepSpec | Record<string, unknown>;
  /** Its plan (from `sweepPlan` or the sweep handle). */
  plan: SweepPlan;
  /** The reduced table. */
  table: SweepTable;
  /** Page title (default `sweep <hash>`). */
  title?: string;
  /** A paragraph under the title. */
  description?: string;
  /** The command line that produced it, shown as is. */
  command?: string;
  /** The backend that ran it, if known. */
  backend?: string;
  /** The core's version, if known. */
  coreVersion?: string;
  /** The date shown (default: now, ISO 8601). */
  date?: string;
  /** The plots (default: {@link defaultSweepPlots}). */
  plots?: readonly SweepPlot[];
  /** The paper's claims with their checks evaluated (preset reports). */
  reference?: readonly CheckedReference[];
  /** The rendered SVG of the plots, if already rendered (otherwise rendered here). */
  svg?: string;
  /** What produced it (shown in "How this was produced"; its `shortened` also as a banner). */
  provenance?: Provenance;
  /** Published tables beside ours, as grids (see {@link SweepGridTable}). */
  tables?: readonly SweepGridTable[];
}

/** A {@link SweepGridTable} as HTML: per cell our probability [Wilson interval], the published value, the mark. */
export function gridTableHtml(t: SweepGridTable, table: SweepTable, reference: readonly CheckedReference[] = []): string {
  const matching = table.settings.filter((r) => sweepWhereMatches(r.values, t.where));
  const distinct = (path: string): unknown[] => {
    const out: unknown[] = [];
    for (const r of matching) if (!out.some((v) => Object.is(v, r.values[path]))) out.push(r.values[path]);
    return out;
  };
  const rows = distinct(t.row);
  const cols = distinct(t.col);
  const head = `<tr><th>${esc(t.row)} \\ ${esc(t.col)}</th>${cols.map((c) => `<th>${esc(valueText(c))}</th>`).join('')}</tr>`;
  const body = rows
    .map((rv, i) => {
      const cells = cols.map((cv, j) => {
        const row = matching.find((r) => Object.is(r.values[t.row], rv) && Object.is(r.values[t.col], cv));
        const k = row?.classes[t.class];
        const ours = row === undefined ? '-' : k ? `${k.p.toFixed(3)} [${k.lo.toFixed(3)}, ${k.hi.toFixed(3)}]` : `0 of ${row.runs}`;
        const pub = t.reference?.[i]?.[j];
        const ref = reference.find((c) => c.cell !== undefined && Object.is(c.cell[0], rv) && Object.is(c.cell[1], cv));
        const mark = ref ? ` <span class="${ref.status}">${esc(referenceMark(ref))}</span>` : '';
        return `<td>${esc(ours)}${pub !== undefined ? `<br>published: ${pub === null ? 'not printed' : esc(String(pub))}` : ''}${mark}</td>`;
      });
      return `<tr><th>${esc(valueText(rv))}</th>${cells.join('')}</tr>`;
    })
    .join('\n');
  return `<h3>${esc(t.title)}</h3>\n<table class="sweep">${head}\n${body}\n</table>`;
}

/** The axes of a sweep as the report sees them: per axis its paths and its values, in order. */
export interface SweepAxisInfo {
  /** The paths the axis sets (one, or the members of a `zip`). */
  paths: string[];
  /** Its values, in axis order: per value, the value of each path (in `paths` order). */
  values: unknown[][];
}

function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a === b || (Number.isNaN(a) && Number.isNaN(b));
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The axes of a plan, each with its value tuples in axis order (the plan lists them per path:
 * `values[k][i]` is the i-th value of `paths[k]`).
 */
export function sweepAxes(plan: SweepPlan): SweepAxisInfo[] {
  return plan.axes.map((a) => {
    const paths = [...a.paths];
    const cols = a.values.map((c) => (Array.isArray(c) ? c : [c]));
    const n = Math.max(0, ...cols.map((c) => c.length));
    return { paths, values: Array.from({ length: n }, (_, i) => cols.map((c) => c[i])) };
  });
}

/** Per setting row: its index along each axis (-1 where its values match none of the axis's). */
function coordinates(axes: readonly SweepAxisInfo[], row: SweepSettingRow): number[] {
  return axes.map((a) => a.values.findIndex((tuple) => a.paths.every((p, j) => sameValue(row.values[p], tuple[j]))));
}

function axisOfPath(axes: readonly SweepAxisInfo[], path: string): number {
  const i = axes.findIndex((a) => a.paths.includes(path));
  if (i < 0) throw new Error(`no sweep axis sets ${JSON.stringify(path)} (axes: ${axes.map((a) => a.paths.join('+')).join(', ')})`);
  return i;
}

function fmt(x: number | null | undefined): string {
  if (x === null || x === undefined) return '-';
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  if (Number.isInteger(x) && Math.abs(x) < 1e6) return String(x);
  const a = Math.abs(x);
  return a < 1e-3 || a >= 1e5 ? x.toExponential(2) : String(Number(x.toPrecision(4)));
}

function valueText(v: unknown, scale = 1): string {
  if (typeof v === 'number') return fmt(v * scale);
  return JSON.stringify(v) ?? String(v);
}

function quantile(row: SweepSettingRow, kept: string, q: number): number | null {
  const k = row.kept[kept];
  const hit = k?.quantiles.find(([p]) => Math.abs(p - q) < 1e-12);
  return hit ? hit[1] : null;
}

/** The value, band low and band high of a plot value on one setting row (null when absent). */
function plotValue(row: SweepSettingRow, v: SweepPlotValue): { y: number | null; lo: number | null; hi: number | null } {
  if ('class' in v) {
    const c = row.classes[v.class];
    return c ? { y: c.p, lo: c.lo, hi: c.hi } : { y: null, lo: null, hi: null };
  }
  const k = row.kept[v.kept];
  if (!k) return { y: null, lo: null, hi: null };
  const qs = k.quantiles.filter(([, x]) => x !== null);
  const y = v.stat === 'median' ? quantile(row, v.kept, 0.5) : k.mean;
  return { y, lo: qs.length > 0 ? (qs[0] as [number, number])[1] : null, hi: qs.length > 0 ? (qs[qs.length - 1] as [number, number])[1] : null };
}

function valueTitle(v: SweepPlotValue): string {
  if ('class' in v) return `P(${v.class})`;
  return `${v.stat === 'median' ? 'median' : 'mean'} ${v.kept}`;
}

/**
 * The default plots of a table: the first class's probability (classes other than `other`),
 * else the first kept value's mean; a heatmap per pair of axes and, per axis, lines over it
 * (one line per value of the next axis, if any). Axes not in a plot are held at their first value.
 */
export function defaultSweepPlots(plan: SweepPlan): SweepAxisPlot[] {
  const axes = sweepAxes(plan);
  const cls = plan.classes.find((c) => c !== 'other');
  const value: SweepPlotValue | undefined = cls !== undefined ? { class: cls } : plan.kept[0] !== undefined ? { kept: plan.kept[0] } : undefined;
  if (value === undefined || axes.length === 0) return [];
  const ax = (i: number): SweepPlotAxis => ({ path: axes[i]?.paths[0] as string, log: logAxisDefault(axes[i] as SweepAxisInfo) });
  const plots: SweepAxisPlot[] = [];
  for (let i = 0; i < axes.length; i++) for (let j = i + 1; j < axes.length; j++) plots.push({ kind: 'heatmap', x: ax(i), y: ax(j), value });
  for (let i = 0; i < axes.length; i++) {
    const s = axes.length > 1 ? (i + 1) % axes.length : -1;
    plots.push({ kind: 'lines', x: ax(i), ...(s >= 0 ? { series: ax(s) } : {}), value });
  }
  return plots;
}

/** A log axis by default when every value is positive and they span more than a decade and a half. */
function logAxisDefault(a: SweepAxisInfo): boolean {
  const xs = a.values.map((t) => t[0]);
  if (!xs.every((x): x is number => typeof x === 'number' && x > 0)) return false;
  return Math.max(...xs) / Math.min(...xs) > 30;
}

/** Which of `rows` have every axis not in `free` at its first value. */
function heldRows(axes: readonly SweepAxisInfo[], rows: readonly SweepSettingRow[], free: readonly number[]): { row: SweepSettingRow; at: number[] }[] {
  return rows
    .map((row) => ({ row, at: coordinates(axes, row) }))
    .filter(({ at }) => at.every((c, k) => (free.includes(k) ? c >= 0 : c === 0)));
}

function heldNote(axes: readonly SweepAxisInfo[], free: readonly number[]): string {
  const held = axes.map((a, k) => ({ a, k })).filter(({ k }) => !free.includes(k));
  if (held.length === 0) return '';
  return ` (${held.map(({ a }) => `${a.paths.join(' = ')} = ${valueText(a.values[0]?.[0])}`).join(', ')})`;
}

/** The legend label of value `k` of a series axis. */
function seriesLabel(s: SweepPlotAxis, a: SweepAxisInfo, k: number): string {
  const given = s.labels?.[k];
  if (given !== undefined) return given;
  const j = Math.max(0, a.paths.indexOf(s.path));
  return `${s.title ?? s.path} = ${valueText(a.values[k]?.[j], s.scale ?? 1)}`;
}

/** The Vega-Lite panel of a plot over kept values (see {@link SweepKeptPlot}). */
function keptPanel(plot: SweepKeptPlot, axes: readonly SweepAxisInfo[], rows: readonly SweepSettingRow[]): Record<string, unknown> {
  const stat = plot.stat ?? 'median';
  const matching = rows.filter((r) => sweepWhereMatches(r.values, plot.where));
  const is = plot.series ? axisOfPath(axes, plot.series.path) : -1;
  const sAxis = is >= 0 ? (axes[is] as SweepAxisInfo) : undefined;
  const lines: { label: string; row: SweepSettingRow }[] = [];
  for (const row of matching) {
    if (sAxis && plot.series) {
      const k = coordinates(axes, row)[is] as number;
      if (k < 0) continue;
      lines.push({ label: seriesLabel(plot.series, sAxis, k), row });
    } else {
      lines.push({ label: `setting ${row.setting}`, row });
    }
  }
  const stats = (row: SweepSettingRow): { y: number | null; lo: number | null; hi: number | null }[] =>
    plot.kept.map((name) => plotValue(row, { kept: name, stat }));
  if (plot.kind === 'keptProfile') {
    const xs = plot.kept.map((_, i) => plot.positions?.[i] ?? i + 1);
    const series: BandSeries[] = lines.map(({ label, row }) => {
      const v = stats(row);
      return { label, x: xs, y: v.map((p) => p.y), lo: v.map((p) => p.lo), hi: v.map((p) => p.hi) };
    });
    return bandLinesVegaLite({
      title: `${plot.title ?? `${stat} of ${plot.kept.join(', ')}`}; band: lowest to highest quantile`,
      xLabel: plot.xTitle ?? 'kept value',
      yLabel: plot.yTitle ?? stat,
      ...(plot.logY ? { logY: true } : {}),
      series,
    });
  }
  const levels = plot.levels ?? [];
  if (levels.length !== plot.kept.length + 1) throw new Error(`a staircase needs ${plot.kept.length + 1} levels (one more than its kept values), got ${levels.length}`);
  // Step k starts at the end of step k - 1 (step 0 at x = 1); drawn with step-after
  // interpolation: level k from its start to the next start. The last level runs on to twice
  // the last end. A missing end (null statistic) ends the staircase there.
  const series: BandSeries[] = lines.map(({ label, row }) => {
    const ends = stats(row).map((p) => p.y);
    const x: number[] = [1];
    const y: number[] = [levels[0] as number];
    for (let k = 0; k < ends.length; k++) {
      const end = ends[k];
      if (end === null || end === undefined || !Number.isFinite(end)) break;
      x.push(Math.max(end, x[x.length - 1] as number));
      y.push(levels[k + 1] as number);
    }
    x.push(2 * (x[x.length - 1] as number));
    y.push(y[y.length - 1] as number);
    return { label, x, y, lo: x.map(() => null), hi: x.map(() => null) };
  });
  const panel = bandLinesVegaLite({
    title: plot.title ?? `staircase of ${stat} ${plot.kept.join(', ')}`,
    xLabel: plot.xTitle ?? 'step (log)',
    yLabel: plot.yTitle ?? 'level',
    logX: true,
    series,
  });
  for (const layer of (panel['layer'] as { mark?: Record<string, unknown> }[] | undefined) ?? []) {
    if (layer.mark?.['type'] === 'line') layer.mark['interpolate'] = 'step-after';
  }
  return panel;
}

function isKeptPlot(p: SweepPlot): p is SweepKeptPlot {
  return p.kind === 'keptProfile' || p.kind === 'staircase';
}

/** The Vega-Lite panel of one plot (no `$schema`). */
function plotPanel(plot: SweepPlot, axes: readonly SweepAxisInfo[], rows: readonly SweepSettingRow[], table: SweepTable): Record<string, unknown> {
  if (plot.kind === 'chi2') return chi2Panel(plot, table);
  return isKeptPlot(plot) ? keptPanel(plot, axes, rows) : axisPanel(plot, axes, rows);
}

/** The Vega-Lite panel of a {@link SweepChi2Plot}: chi^2 over the fitted axis, the minimum marked in the title. */
function chi2Panel(plot: SweepChi2Plot, table: SweepTable): Record<string, unknown> {
  const curve = chi2Curve(plot, table).filter((c) => Number.isFinite(c.chi2));
  const best = curve.length > 0 ? curve.reduce((a, b) => (b.chi2 < a.chi2 ? b : a)) : undefined;
  const title = (plot.title ?? `chi^2 of P(${plot.name}) against ${plot.cells.length} published cells`) + (best ? ` (least ${fmt(best.chi2)} at ${plot.axis} = ${fmt(best.x)})` : '');
  return bandLinesVegaLite({
    title,
    xLabel: plot.axis,
    yLabel: 'chi^2',
    logX: plot.logX !== false,
    series: [{ label: 'chi^2', x: curve.map((c) => c.x), y: curve.map((c) => c.chi2), lo: curve.map(() => null), hi: curve.map(() => null) }],
  });
}

/** The Vega-Lite panel of a plot over the sweep's axes. */
function axisPanel(plot: SweepAxisPlot, axes: readonly SweepAxisInfo[], rows: readonly SweepSettingRow[]): Record<string, unknown> {
  const ix = axisOfPath(axes, plot.x.path);
  const xScale = plot.x.scale ?? 1;
  const xTitle = plot.x.title ?? plot.x.path;
  const vTitle = valueTitle(plot.value);
  const isProb = 'class' in plot.value;
  const xAxis = axes[ix] as SweepAxisInfo;
  const xj = xAxis.paths.indexOf(plot.x.path);
  if (plot.kind === 'heatmap') {
    if (!plot.y) throw new Error('a heatmap needs a y axis');
    const iy = axisOfPath(axes, plot.y.path);
    const yAxis = axes[iy] as SweepAxisInfo;
    const yj = yAxis.paths.indexOf(plot.y.path);
    const yScale = plot.y.scale ?? 1;
    const xValues = xAxis.values.map((t) => valueText(t[xj], xScale));
    const yValues = yAxis.values.map((t) => valueText(t[yj], yScale));
    const cells: HeatmapCell[] = heldRows(axes, rows, [ix, iy]).map(({ row, at }) => {
      const { y } = plotValue(row, plot.value);
      return { x: xValues[at[ix] as number] as string, y: yValues[at[iy] as number] as string, value: y, text: y === null ? '' : isProb ? y.toFixed(2) : fmt(y) };
    });
    return heatmapVegaLite({
      title: (plot.title ?? vTitle) + heldNote(axes, [ix, iy]),
      xLabel: xTitle,
      yLabel: plot.y.title ?? plot.y.path,
      xValues,
      yValues,
      cells,
      valueLabel: vTitle,
      ...(isProb ? { domain: [0, 1] as const } : {}),
    });
  }
  const is = plot.series ? axisOfPath(axes, plot.series.path) : -1;
  const free = is >= 0 && is !== ix ? [ix, is] : [ix];
  const held = heldRows(axes, rows, free);
  const sAxis = is >= 0 ? (axes[is] as SweepAxisInfo) : undefined;
  const sj = sAxis && plot.series ? sAxis.paths.indexOf(plot.series.path) : 0;
  const groups =
    sAxis && plot.series && is !== ix
      ? sAxis.values.map((t, k) => ({ k, label: plot.series?.labels?.[k] ?? `${plot.series?.title ?? plot.series?.path} = ${valueText(t[sj], plot.series?.scale ?? 1)}` }))
      : [{ k: -1, label: vTitle }];
  const series: BandSeries[] = groups.map(({ k, label }) => {
    const pts = held
      .filter(({ at }) => k < 0 || at[is] === k)
      .map(({ row, at }) => ({ x: xAxis.values[at[ix] as number]?.[xj], v: plotValue(row, plot.value) }))
      .filter((p): p is { x: number; v: ReturnType<typeof plotValue> } => typeof p.x === 'number')
      .sort((a, b) => a.x - b.x);
    return { label, x: pts.map((p) => p.x * xScale), y: pts.map((p) => p.v.y), lo: pts.map((p) => p.v.lo), hi: pts.map((p) => p.v.hi) };
  });
  for (const t of plot.theory ?? []) series.push({ label: t.label, x: t.x.map((x) => x * xScale), y: t.y, lo: t.y.map(() => null), hi: t.y.map(() => null) });
  const band = isProb ? 'Wilson interval' : 'lowest to highest quantile';
  return bandLinesVegaLite({
    title: `${plot.title ?? vTitle}${heldNote(axes, free)}; band: ${band}`,
    xLabel: xTitle,
    yLabel: vTitle,
    ...(plot.x.log ? { logX: true } : {}),
    ...(plot.logY ? { logY: true } : {}),
    ...(isProb ? { yDomain: [0, 1] as const } : {}),
    series,
  });
}

/**
 * The plots of a sweep as one Vega-Lite spec (a panel per plot, two per row). Axes of the sweep
 * not in a plot are held at their first value (said in the panel's title): for three or more
 * axes, one heatmap per pair with the others at their first value.
 *
 * @throws Error when a plot names a path that no axis sets.
 */
export function sweepVegaLite(input: Pick<SweepReportInput, 'plan' | 'table' | 'plots' | 'title'>): VegaLiteSpec {
  const axes = sweepAxes(input.plan);
  const plots = input.plots ?? defaultSweepPlots(input.plan);
  return panelsToVegaLite(input.title, plots.map((p) => plotPanel(p, axes, input.table.settings, input.table)), 2);
}

/** Render the plots of a sweep as SVG (see {@link sweepVegaLite}). */
export async function sweepSvg(input: Pick<SweepReportInput, 'plan' | 'table' | 'plots' | 'title'>): Promise<string> {
  return renderVegaLiteSvg(sweepVegaLite(input));
}

function csvCell(x: unknown): string {
  if (x === null || x === undefined) return '';
  if (typeof x === 'number') return Number.isFinite(x) ? String(x) : String(x);
  const s = typeof x === 'string' ? x : JSON.stringify(x);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The column names of {@link sweepTableCsv}, in order. */
function csvColumns(table: SweepTable): { head: string[]; cell: (row: SweepSettingRow) => unknown[] } {
  const rows = table.settings;
  const valuePaths: string[] = [];
  const axes = sweepAxes(table.plan);
  for (const a of axes) for (const p of a.paths) if (!valuePaths.includes(p)) valuePaths.push(p);
  for (const r of rows) for (const p of Object.keys(r.values)) if (!valuePaths.includes(p)) valuePaths.push(p);
  const stops: string[] = ['finished', 'diverged', 'solverFailed', 'error'];
  for (const r of rows) for (const s of Object.keys(r.stops)) if (!stops.includes(s)) stops.push(s);
  const kept = [...table.plan.kept];
  for (const r of rows) for (const k of Object.keys(r.kept)) if (!kept.includes(k)) kept.push(k);
  const qs: Record<string, number[]> = {};
  for (const k of kept) {
    const set: number[] = [];
    for (const r of rows) for (const [q] of r.kept[k]?.quantiles ?? []) if (!set.includes(q)) set.push(q);
    qs[k] = set.sort((a, b) => a - b);
  }
  const classes = [...table.plan.classes];
  for (const r of rows) for (const c of Object.keys(r.classes)) if (!classes.includes(c)) classes.push(c);
  const head = ['setting', ...valuePaths, 'runs', ...stops.map((s) => `stops.${s}`)];
  for (const k of kept) head.push(...['count', 'missing', 'mean', 'std', 'min', 'max'].map((f) => `${k}.${f}`), ...(qs[k] ?? []).map((q) => `${k}.q${q}`));
  for (const c of classes) head.push(...['count', 'p', 'lo', 'hi'].map((f) => `${c}.${f}`));
  const cell = (r: SweepSettingRow): unknown[] => {
    const out: unknown[] = [r.setting, ...valuePaths.map((p) => r.values[p]), r.runs, ...stops.map((s) => r.stops[s] ?? 0)];
    for (const k of kept) {
      const s = r.kept[k];
      out.push(s?.count, s?.missing, s?.mean, s?.std, s?.min, s?.max, ...(qs[k] ?? []).map((q) => s?.quantiles.find(([p]) => p === q)?.[1]));
    }
    for (const c of classes) {
      const s = r.classes[c];
      out.push(s?.count ?? 0, s?.p, s?.lo, s?.hi);
    }
    return out;
  };
  return { head, cell };
}

/**
 * The reduced table as CSV: one line per setting (in setting order) with the axis values (a
 * column per path), `runs`, the count per stop (`stops.finished`, ...), per kept value `count`,
 * `missing`, `mean`, `std`, `min`, `max` and a column per quantile (`t10.q0.5`), and per class
 * `count`, `p`, `lo`, `hi` (Wilson interval). Numbers in full precision; null/absent cells empty.
 */
export function sweepTableCsv(table: SweepTable): string {
  const { head, cell } = csvColumns(table);
  const lines = [head.map(csvCell).join(',')];
  for (const r of table.settings) lines.push(cell(r).map(csvCell).join(','));
  return lines.join('\n') + '\n';
}


/** The reduced table as HTML: one line per setting. */
function settingsTable(table: SweepTable): string {
  const axes = sweepAxes(table.plan);
  const kept = table.plan.kept;
  const classes = table.plan.classes;
  const head = ['#', ...axes.map((a) => a.paths.join(' = ')), 'runs', 'stops', ...kept.map((k) => `${k}: mean; quantiles`), ...classes.map((c) => `P(${c}) [${confidenceOf(table.plan)}]`)];
  const body = table.settings.map((r) => {
    const cells = [String(r.setting), ...axes.map((a) => valueText(r.values[a.paths[0] as string])), String(r.runs)];
    cells.push(
      Object.entries(r.stops)
        .filter(([, n]) => n > 0)
        .map(([s, n]) => `${s} ${n}`)
        .join(', '),
    );
    for (const k of kept) {
      const s = r.kept[k];
      if (!s || s.count === 0) {
        cells.push(s ? `- (${s.missing} null)` : '-');
        continue;
      }
      const qs = s.quantiles.map(([q, v]) => `${fmt(q)}: ${fmt(v)}`).join(', ');
      cells.push(`${fmt(s.mean)}; ${qs}${s.missing > 0 ? ` (${s.missing} null)` : ''}`);
    }
    for (const c of classes) {
      const s = r.classes[c];
      cells.push(s ? `${s.count}: ${s.p.toFixed(3)} [${s.lo.toFixed(3)}, ${s.hi.toFixed(3)}]` : '-');
    }
    return `<tr>${cells.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`;
  });
  return `<table class="sweep"><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>\n${body.join('\n')}\n</table>`;
}

/** The Wilson interval's confidence, from the plan (the spec's, or the core's default). */
function confidenceOf(plan: SweepPlan): string {
  return `${fmt((Number.isFinite(plan.confidence) ? plan.confidence : 0.95) * 100)}% Wilson`;
}



/**
 * A self-contained HTML report of a sweep (no scripts, no external files): what produced it (the
 * command line if given, the date, the backend and core version if given, the sweep's hash and
 * size), the plots (inline SVG; see {@link sweepVegaLite}), the paper's claims beside our checks
 * (preset reports), the reduced table (one line per setting: axis values, runs, stops, per kept
 * value its mean and quantiles, per class its count, probability and Wilson interval) and the spec.
 * A table that is not complete (cancelled, or missing runs) says so.
 */
export async function sweepReportHtml(input: SweepReportInput): Promise<string> {
  const { plan, table } = input;
  const title = input.title ?? `sweep ${plan.hash}`;
  const done = table.settings.reduce((n, r) => n + r.runs, 0);
  const meta = [
    `Computed by autobalance${input.coreVersion ? ` (core ${esc(input.coreVersion)})` : ''}${input.backend ? ` on the ${esc(input.backend)} backend` : ''}, float64; report written ${esc(input.date ?? new Date().toISOString())}.`,
    `Sweep ${esc(plan.hash)}: ${plan.runs} runs = ${plan.settings} settings x ${plan.seedsPerSetting} seed(s)${plan.seedPaths.length > 0 ? ` (seeded paths: ${esc(plan.seedPaths.join(', '))}; seeds derived from base ${plan.seedBase})` : ''}; axes: ${esc(sweepAxes(plan).map((a) => `${a.paths.join(' = ')} (${a.values.length})`).join(' x '))}.`,
    table.complete ? `All ${done} runs reduced.` : `<b>Incomplete</b>${table.stopped ? ` (${esc(table.stopped)})` : ''}: ${done} of ${plan.runs} runs reduced, ${table.settings.length} of ${plan.settings} settings.`,
  ];
  const plots = input.plots ?? defaultSweepPlots(plan);
  const svg =
    input.svg ??
    (table.settings.length === 0 ? '<p>No setting finished: nothing to plot.</p>' : plots.length === 0 ? '<p>No axes: nothing to plot.</p>' : await sweepSvg({ plan, table, plots }));
  const parts = [
    `<h1>${esc(title)}</h1>`,
    input.description ? `<p>${esc(input.description)}</p>` : '',
    `<p class="meta">${meta.join('<br>')}</p>`,
    shortenedBanner(input.provenance?.shortened),
    input.command ? `<pre>${esc(input.command)}</pre>` : '',
    svg,
    input.tables && input.tables.length > 0 ? `<h2>The published table beside ours</h2>\n${input.tables.map((t) => gridTableHtml(t, table, input.reference)).join('\n')}` : '',
    input.reference && input.reference.length > 0 ? `<h2>What the paper reports, beside ours</h2>\n${referenceTable(input.reference)}` : '',
    `<h2>Reduced table (${table.settings.length} settings)</h2>`,
    settingsTable(table),
    `<h2>Sweep spec</h2>\n<pre>${esc(JSON.stringify(input.spec, null, 2))}</pre>`,
    input.provenance ? provenanceHtml({ ...(input.command !== undefined ? { command: input.command } : {}), ...(input.date !== undefined ? { date: input.date } : {}), ...input.provenance }) : '',
  ].filter((p) => p !== '');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>autobalance: ${esc(title)}</title>
<style>
${STYLE}
</style></head><body>
${parts.join('\n')}
</body></html>
`;
}
