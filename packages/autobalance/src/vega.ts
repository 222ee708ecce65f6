/**
 * Report plots as Vega-Lite: {@link figureToVegaLite} turns a {@link Figure} (the input of the
 * dependency-free renderer in `svg.ts`) into one plain-JSON Vega-Lite v6 spec (write it to a
 * `.vl.json` file and open it in the Vega editor), and {@link renderVegaLiteSvg} renders such a
 * spec to an SVG string with vega-lite and vega's headless view. Platform-neutral: vega and
 * vega-lite are imported dynamically on the first render, so importing this module loads neither.
 *
 * Render times, {@link figureToVegaLite} + {@link renderVegaLiteSvg}, 2 series of 1,001 points
 * per panel (Node 20, best / median of 10 after a warm-up, measured 2026-12-02 on the 2 cores under
 * a load average of 9 from other jobs, so slow; the first call in a process pays about 0.3-0.4 s
 * more for loading vega and vega-lite):
 * - figure1-like, 2 panels (one log): 242 / 612 ms, SVG about 140 kB (of which about 60 kB are the
 *   hover readouts: 120 invisible points with a `<title>` per series)
 * - figure2-like, 8 panels (one log): 1143 / 1358 ms, SVG about 570 kB (about 250 kB readouts)
 * The same figures without the hover points and per-panel legends took 359 / 507 ms and
 * 1054 / 1787 ms in the same conditions (no measurable difference).
 * Most of it is vega's dataflow run (scales, axes, legend), not the spec or the SVG string.
 *
 * @module
 */

import { DASHES, type Figure, type Panel, PALETTE, THEORY_DASH, THEORY_DASHES } from './svg.js';

/** The `$schema` of the specs made here. */
export const VEGA_LITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/**
 * A Vega-Lite spec as plain JSON (objects, arrays, strings, finite numbers, booleans, null): it
 * survives `JSON.stringify`/`JSON.parse` unchanged.
 */
export interface VegaLiteSpec {
  /** The Vega-Lite schema URL ({@link VEGA_LITE_SCHEMA} for the specs made here). */
  $schema: string;
  [key: string]: unknown;
}

/** Options of {@link figureToVegaLite}. */
export interface VegaLiteOptions {
  /** Panels per row before wrapping (default: the figure's `columns`, else 3). */
  columns?: number;
  /** Width of the plotting area of one panel in px, axes and titles excluded (default 360). */
  width?: number;
  /** Height of the plotting area of one panel in px, axes and titles excluded (default 240). */
  height?: number;
  /** Most points kept per series; longer series are evenly thinned, first and last kept (default 2000, at least 2). */
  maxPoints?: number;
}

/** One data row of a panel. */
interface Row {
  series: string;
  x: number;
  y: number;
  /** The point's index in its series (panels drawn in order, see `Panel.inOrder`). */
  i?: number;
}

/**
 * Indices of `n` points to keep, at most `max` (>= 2) of them, evenly spread, first and last
 * included, increasing.
 */
function thin(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  for (let k = 0; k < max; k++) out.push(Math.round((k * (n - 1)) / (max - 1)));
  return out;
}

function panelRows(panel: Panel, maxPoints: number): Row[] {
  const rows: Row[] = [];
  for (const s of panel.series) {
    const xs: number[] = [];
    const ys: number[] = [];
    const n = Math.min(s.x.length, s.y.length);
    for (let i = 0; i < n; i++) {
      const x = Number(s.x[i]);
      const y = Number(s.y[i]);
      if (!Number.isFinite(x) || !Number.isFinite(y) || (panel.logY && !(y > 0)) || (panel.logX && !(x > 0))) continue;
      xs.push(x + 0); // + 0: no -0 (JSON writes it as 0 anyway)
      ys.push(y + 0);
    }
    for (const i of thin(xs.length, maxPoints)) rows.push(panel.inOrder ? { series: s.label, x: xs[i] as number, y: ys[i] as number, i } : { series: s.label, x: xs[i] as number, y: ys[i] as number });
  }
  return rows;
}

/**
 * Tick values of a log axis over the data: decades (one label every 1, 2, 3, 5, .. decades, at
 * most about 8), or 1, 2, 5 x 10^k when the data span less than two decades; `undefined` (vega's
 * own ticks) without positive data.
 */
function decadeTicks(rows: readonly Row[]): number[] | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  for (const r of rows) {
    lo = Math.min(lo, r.y);
    hi = Math.max(hi, r.y);
  }
  if (!(lo > 0) || !(hi < Infinity)) return undefined;
  const a = Math.floor(Math.log10(lo));
  const b = Math.ceil(Math.log10(hi));
  if (b - a < 2) {
    // Under two decades vega's own log ticks label every 1..9 x 10^k and crowd: keep 1, 2, 5.
    const out: number[] = [];
    for (let k = a; k <= b; k++) for (const m of [1, 2, 5]) if (k < b || m === 1) out.push(Number(`${m}e${k}`));
    return out;
  }
  const every = [1, 2, 3, 5, 10, 20, 50, 100].find((e) => Math.ceil(b / e) - Math.floor(a / e) <= 8) ?? Math.ceil((b - a) / 8);
  const out: number[] = [];
  for (let k = Math.ceil(a / every) * every; k <= b; k += every) out.push(Number(`1e${k}`));
  return out;
}

function positive(v: number | undefined, fallback: number): number {
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : fallback;
}

/** Most hover points kept per series (each is an invisible point with its readout). */
const HOVER_POINTS = 120;

/**
 * A number as a hover readout shows it: integers in full, others with 6 significant digits
 * (trailing zeros dropped, `1.5e-7` style exponents).
 */
export function readoutNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v + 0);
  const a = Math.abs(v);
  if (a >= 1e-4 && a < 1e9) return String(Number(v.toPrecision(6)));
  const [m, e] = v.toExponential(5).split('e') as [string, string];
  return `${String(Number(m))}e${Number(e)}`;
}

/** An axis title as a readout names it: without the "(log scale)"-style remarks. */
function readoutName(label: string | undefined, fallback: string): string {
  const s = (label ?? '').replace(/\s*\((log scale|around its initial value)\)\s*$/, '').trim();
  return s === '' ? fallback : s;
}

/**
 * The hover layer of a panel: at most {@link HOVER_POINTS} points per series (evenly spread,
 * first and last kept), invisible, each with a readout: a `tip` text (the SVG's `<title>` after
 * {@link renderVegaLiteSvg}) and a Vega-Lite tooltip (series, x, y under the axis titles).
 */
function hoverLayer(panel: Panel, rows: readonly Row[]): Record<string, unknown> {
  const xName = readoutName(panel.xLabel, 'x');
  const yName = readoutName(panel.yLabel, 'y');
  const bySeries = new Map<string, Row[]>();
  for (const r of rows) {
    const list = bySeries.get(r.series) ?? [];
    list.push(r);
    bySeries.set(r.series, list);
  }
  const values: { series: string; x: number; y: number; tip: string }[] = [];
  for (const [series, list] of bySeries) {
    for (const i of thin(list.length, HOVER_POINTS)) {
      const r = list[i] as Row;
      values.push({ series, x: r.x, y: r.y, tip: `${series}: ${xName} ${readoutNumber(r.x)}, ${yName} ${readoutNumber(r.y)}` });
    }
  }
  return {
    data: { values },
    mark: { type: 'point', filled: true, size: 90, opacity: 0 },
    encoding: {
      description: { field: 'tip', type: 'nominal' },
      tooltip: [
        { field: 'series', type: 'nominal', title: 'line' },
        { field: 'x', type: 'quantitative', title: xName, format: panel.xLabel === 'iteration' ? 'd' : '.6~g' },
        { field: 'y', type: 'quantitative', title: yName, format: '.6~g' },
      ],
    },
  };
}

/**
 * The Vega-Lite spec of a figure: the figure title over a `concat` of the panels (wrapping after
 * `columns`), each panel a line chart with one line per series, colored (and dashed, so that
 * coinciding lines stay visible) by series label, each panel with its own legend above its plot
 * (never on the data) listing its series; a series keeps its color and dash in every panel (by
 * order of first appearance in the figure); a theory line (`theory` on the series) is dotted
 * ({@link THEORY_DASH}, a dash no data line has; a second theory line of the same data line is
 * dot-dash, {@link THEORY_DASHES}) in the color of its `theoryOf` line. Axis titles from `xLabel`/`yLabel`, a log y scale on
 * `logY` panels.
 *
 * Each panel is a layer of two: the lines (`layer[0]`), and invisible hover points (`layer[1]`,
 * at most 120 per series) with a tooltip and a `description` readout (`line: x name X, y name Y`)
 * that {@link renderVegaLiteSvg} turns into SVG `<title>` elements, so that a static report
 * shows values on hover without scripts.
 *
 * The data are inline, `data.values` rows `{series, x, y}` per panel. Points with a non-finite x
 * or y are dropped, and so are points with y <= 0 on log panels; each series is then thinned to
 * at most `maxPoints` points (first and last kept). A series with no points left keeps its legend
 * entry; a panel without data is drawn as empty axes.
 *
 * The result is plain JSON (no typed arrays, no non-finite numbers).
 */
export function figureToVegaLite(figure: Figure, options: VegaLiteOptions = {}): VegaLiteSpec {
  // Two panels a row by default: three 360 px panels make a figure about 1560 px wide, which a
  // report page (1200 px) scales down so that 10 px text shows at about 7.7 px.
  const columns = Math.floor(positive(options.columns ?? figure.columns, 2)) || 1;
  const width = positive(options.width, 360);
  const height = positive(options.height, 240);
  const maxPoints = Math.max(2, Math.floor(positive(options.maxPoints, 2000)));

  // Data lines are numbered in order of first appearance; a theory line takes the color of its
  // `theoryOf` line (else the next color) and always the theory dash.
  const labels: string[] = [];
  const theoryOf = new Map<string, string | undefined>();
  for (const p of figure.panels) for (const s of p.series) if (s.theory === true) theoryOf.set(s.label, s.theoryOf);
  for (const p of figure.panels) for (const s of p.series) if (!labels.includes(s.label) && !(theoryOf.has(s.label) && theoryOf.get(s.label) !== undefined)) labels.push(s.label);
  const colorOf = (label: string): string => {
    const of = theoryOf.get(label);
    return PALETTE[labels.indexOf(of !== undefined && labels.includes(of) ? of : label) % PALETTE.length] as string;
  };
  // The k-th theory line of one data line (in order of first appearance) takes THEORY_DASHES[k].
  const theoryRank = new Map<string, number>();
  const seenOf = new Map<string, number>();
  for (const [label, of] of theoryOf) {
    const key = of ?? `\u0000${label}`;
    const k = seenOf.get(key) ?? 0;
    theoryRank.set(label, k);
    seenOf.set(key, k + 1);
  }
  const dashOf = (label: string): number[] => {
    const theory = THEORY_DASHES[(theoryRank.get(label) ?? 0) % THEORY_DASHES.length] as string;
    const d = (theoryOf.has(label) ? theory : (DASHES[labels.indexOf(label) % DASHES.length] as string)).split(' ').filter(Boolean).map(Number);
    return d.length > 0 ? d : [1, 0];
  };

  const panels = figure.panels.map((panel) => {
    const rows = panelRows(panel, maxPoints);
    const decades = panel.logY ? decadeTicks(rows) : undefined;
    // This panel's series (in figure order), each with its figure-wide color and dash; the
    // legend sits above the plot, off the data.
    const own = [...labels, ...[...theoryOf.keys()].filter((l) => !labels.includes(l))].filter((l) => panel.series.some((s) => s.label === l));
    const bySeries = (range: unknown[], legend: boolean): Record<string, unknown> => ({
      field: 'series',
      type: 'nominal',
      title: null,
      scale: { domain: own, range },
      // Line symbols 20 px long (a dash pattern shows); more than three lines in two columns.
      legend: legend ? { orient: 'top', direction: 'vertical', columns: own.length > 3 ? 2 : 1, labelLimit: 0, symbolStrokeWidth: 2, symbolSize: 400 } : null,
    });
    return {
      title: panel.title,
      width,
      height,
      data: { values: rows },
      encoding: {
        x: {
          field: 'x',
          type: 'quantitative',
          title: panel.xLabel ?? null,
          scale: panel.logX ? { type: 'log' } : { zero: false },
          // Iterations are integers: no 0.5 ticks on a short run.
          ...(panel.xLabel === 'iteration' ? { axis: { tickMinStep: 1, format: 'd' } } : {}),
        },
        y: {
          field: 'y',
          type: 'quantitative',
          title: panel.yLabel ?? null,
          scale: panel.logY ? { type: 'log' } : panel.yDomain ? { type: 'linear', domain: [panel.yDomain[0], panel.yDomain[1]], nice: false } : { type: 'linear', zero: false },
          axis: decades ? { values: decades, format: '.0e' } : {},
        },
      },
      layer: [
        {
          mark: { type: 'line', strokeWidth: 1.5, aria: false },
          encoding: {
            color: bySeries(own.map(colorOf), true),
            strokeDash: bySeries(own.map(dashOf), true),
            ...(panel.inOrder ? { order: { field: 'i', type: 'quantitative' } } : {}),
          },
        },
        hoverLayer(panel, rows),
      ],
    };
  });

  const spec: VegaLiteSpec = { $schema: VEGA_LITE_SCHEMA };
  if (figure.title !== undefined && figure.title !== '') spec['title'] = figure.title;
  spec['columns'] = columns;
  spec['concat'] = panels;
  spec['resolve'] = {
    scale: { color: 'independent', strokeDash: 'independent' },
    legend: { color: 'independent', strokeDash: 'independent' },
  };
  spec['config'] = {
    font: 'sans-serif',
    background: 'white',
    title: { fontSize: 16 },
    axis: { titleLimit: 0, labelLimit: 0 },
    header: { titleLimit: 0 },
    legend: { labelLimit: 0, labelFontSize: 12 },
  };
  return spec;
}

/** One cell of a {@link HeatmapPanel}. */
export interface HeatmapCell {
  /** Its column: one of the panel's `xValues`. */
  x: string;
  /** Its row: one of the panel's `yValues`. */
  y: string;
  /** The colored value; null draws no cell (no data). */
  value: number | null;
  /** Text written in the cell (default: none). */
  text?: string;
}

/** A heatmap over two discrete axes (sweep settings), for {@link heatmapVegaLite}. */
export interface HeatmapPanel {
  /** Panel title. */
  title: string;
  /** Title of the x axis. */
  xLabel: string;
  /** Title of the y axis. */
  yLabel: string;
  /** The x labels, left to right. */
  xValues: readonly string[];
  /** The y labels, bottom to top. */
  yValues: readonly string[];
  /** The cells (missing ones are blank). */
  cells: readonly HeatmapCell[];
  /** Title of the color legend. */
  valueLabel: string;
  /** Color domain (default: the data's range). */
  domain?: readonly [number, number];
}

/** One line of a {@link BandPanel}, with its band (a confidence interval or a quantile range). */
export interface BandSeries {
  /** Legend label. */
  label: string;
  /** The x values. */
  x: readonly number[];
  /** The y values (null: no point). */
  y: readonly (number | null)[];
  /** Lower edge of the band at each x (null: no band there). */
  lo: readonly (number | null)[];
  /** Upper edge of the band at each x. */
  hi: readonly (number | null)[];
}

/** Lines with shaded bands over one numeric axis, for {@link bandLinesVegaLite}. */
export interface BandPanel {
  /** Panel title. */
  title: string;
  /** Title of the x axis. */
  xLabel: string;
  /** Title of the y axis. */
  yLabel: string;
  /** Logarithmic x axis (points with x <= 0 are dropped). */
  logX?: boolean;
  /** Logarithmic y axis (points and band edges <= 0 are dropped). */
  logY?: boolean;
  /** Y domain (default: the data's range). */
  yDomain?: readonly [number, number];
  /** The lines. */
  series: readonly BandSeries[];
}

function finite(v: number | null | undefined): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/**
 * The Vega-Lite unit spec (no `$schema`: a panel for {@link panelsToVegaLite}) of a heatmap: one
 * rect per cell, colored by value on the viridis scheme, the value's text written in the cell
 * (dark text on light cells), ordinal axes listing every given value in order (y from bottom to
 * top; cells without data are blank).
 */
export function heatmapVegaLite(panel: HeatmapPanel, options: { width?: number; height?: number } = {}): Record<string, unknown> {
  const values = panel.cells
    .filter((c) => finite(c.value))
    .map((c) => ({
      x: c.x,
      y: c.y,
      value: (c.value as number) + 0,
      text: c.text ?? '',
      tip: `${panel.xLabel} ${c.x}, ${panel.yLabel} ${c.y}: ${panel.valueLabel} ${readoutNumber(c.value as number)}${c.text ? ` (${c.text})` : ''}`,
    }));
  const color: Record<string, unknown> = { field: 'value', type: 'quantitative', title: panel.valueLabel, scale: { scheme: 'viridis' } };
  if (panel.domain) color['scale'] = { scheme: 'viridis', domain: [panel.domain[0], panel.domain[1]] };
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    lo = Math.min(lo, v.value);
    hi = Math.max(hi, v.value);
  }
  const d0 = panel.domain?.[0] ?? lo;
  const d1 = panel.domain?.[1] ?? hi;
  const mid = Number.isFinite(d0) && Number.isFinite(d1) ? (d0 + d1) / 2 : 0;
  // Every value of both axes is shown, in the given order, cells without data blank.
  const x = { field: 'x', type: 'ordinal', title: panel.xLabel, scale: { domain: [...panel.xValues] }, axis: { labelAngle: 0 } };
  const y = { field: 'y', type: 'ordinal', title: panel.yLabel, scale: { domain: [...panel.yValues].reverse() } };
  return {
    title: panel.title,
    width: positive(options.width, 46 * Math.max(panel.xValues.length, 1)),
    height: positive(options.height, 28 * Math.max(panel.yValues.length, 1)),
    data: { values },
    encoding: { x, y },
    layer: [
      {
        mark: { type: 'rect' },
        encoding: {
          color,
          description: { field: 'tip', type: 'nominal' },
          tooltip: [
            { field: 'x', type: 'ordinal', title: panel.xLabel },
            { field: 'y', type: 'ordinal', title: panel.yLabel },
            { field: 'value', type: 'quantitative', title: panel.valueLabel, format: '.6~g' },
          ],
        },
      },
      {
        mark: { type: 'text', fontSize: 10, aria: false },
        encoding: {
          text: { field: 'text', type: 'nominal' },
          color: { condition: { test: `datum.value > ${mid}`, value: 'black' }, value: 'white' },
        },
      },
    ],
  };
}

/**
 * The Vega-Lite unit spec (no `$schema`) of lines with bands: per series a shaded area from `lo`
 * to `hi`, the line through `y` and its points, colored by series label (one legend). Non-finite
 * values are dropped (a null `y` drops the point, null edges drop the band there).
 */
export function bandLinesVegaLite(panel: BandPanel, options: { width?: number; height?: number } = {}): Record<string, unknown> {
  const labels = panel.series.map((s) => s.label);
  const rows: { series: string; x: number; y: number | null; lo: number | null; hi: number | null; tip: string }[] = [];
  const xName = readoutName(panel.xLabel, 'x');
  const yName = readoutName(panel.yLabel, 'y');
  const okY = (v: number | null | undefined): v is number => finite(v) && (!panel.logY || v > 0);
  for (const s of panel.series) {
    for (let i = 0; i < s.x.length; i++) {
      const x = s.x[i];
      if (!finite(x) || (panel.logX && !(x > 0))) continue;
      const y = s.y[i];
      const lo = s.lo[i];
      const hi = s.hi[i];
      const band = okY(lo) && okY(hi);
      if (!okY(y) && !band) continue;
      const tip = `${s.label}: ${xName} ${readoutNumber(x)}, ${yName} ${okY(y) ? readoutNumber(y) : 'none'}${band ? ` (${readoutNumber(lo)} to ${readoutNumber(hi)})` : ''}`;
      rows.push({ series: s.label, x: x + 0, y: okY(y) ? y + 0 : null, lo: band ? lo + 0 : null, hi: band ? hi + 0 : null, tip });
    }
  }
  const colors = labels.map((_, k) => PALETTE[k % PALETTE.length] as string);
  const color = { field: 'series', type: 'nominal', title: null, scale: { domain: labels, range: colors }, legend: { orient: 'right', labelLimit: 0 } };
  const xEnc = { field: 'x', type: 'quantitative', title: panel.xLabel, scale: panel.logX ? { type: 'log', nice: false } : { zero: false } };
  const yScale: Record<string, unknown> = panel.logY ? { type: 'log' } : { zero: false };
  if (panel.yDomain) yScale['domain'] = [panel.yDomain[0], panel.yDomain[1]];
  return {
    title: panel.title,
    width: positive(options.width, 360),
    height: positive(options.height, 240),
    data: { values: rows },
    layer: [
      {
        transform: [{ filter: 'isValid(datum.lo) && isValid(datum.hi)' }],
        mark: { type: 'area', opacity: 0.18 },
        encoding: { x: xEnc, y: { field: 'lo', type: 'quantitative', title: panel.yLabel, scale: yScale }, y2: { field: 'hi' }, color },
      },
      {
        transform: [{ filter: 'isValid(datum.y)' }],
        mark: { type: 'line', strokeWidth: 1.5, point: { aria: false }, aria: false },
        encoding: { x: xEnc, y: { field: 'y', type: 'quantitative', title: panel.yLabel, scale: yScale }, color },
      },
      {
        // Hover readouts (the point's value and its band), invisible: `<title>`s in the SVG.
        transform: [{ filter: 'isValid(datum.y)' }],
        mark: { type: 'point', filled: true, size: 90, opacity: 0 },
        encoding: {
          x: xEnc,
          y: { field: 'y', type: 'quantitative', title: panel.yLabel, scale: yScale },
          description: { field: 'tip', type: 'nominal' },
          tooltip: [
            { field: 'series', type: 'nominal', title: 'line' },
            { field: 'x', type: 'quantitative', title: xName, format: '.6~g' },
            { field: 'y', type: 'quantitative', title: yName, format: '.6~g' },
            { field: 'lo', type: 'quantitative', title: 'band from', format: '.6~g' },
            { field: 'hi', type: 'quantitative', title: 'band to', format: '.6~g' },
          ],
        },
      },
    ],
  };
}

/**
 * One Vega-Lite spec of several panels (from {@link heatmapVegaLite}, {@link bandLinesVegaLite})
 * side by side, wrapping after `columns` (default 2), each with its own scales and legends.
 */
export function panelsToVegaLite(title: string | undefined, panels: readonly Record<string, unknown>[], columns = 2): VegaLiteSpec {
  const spec: VegaLiteSpec = { $schema: VEGA_LITE_SCHEMA };
  if (title !== undefined && title !== '') spec['title'] = title;
  spec['columns'] = Math.max(1, Math.floor(columns));
  spec['concat'] = panels;
  spec['resolve'] = { scale: { color: 'independent', x: 'independent', y: 'independent' }, legend: { color: 'independent' } };
  spec['config'] = {
    font: 'sans-serif',
    background: 'white',
    title: { fontSize: 16 },
    axis: { titleLimit: 0, labelLimit: 0 },
    legend: { labelLimit: 0, labelFontSize: 12 },
    concat: { spacing: 40 },
  };
  return spec;
}

/**
 * Render a Vega-Lite spec (e.g. from {@link figureToVegaLite}) to an SVG document string: compile
 * with vega-lite, then run vega's headless view (`renderer: 'none'`) and `toSVG()`. Loads vega and
 * vega-lite on the first call. Text uses the generic `sans-serif` family unless the spec's own
 * config says otherwise. Warnings of vega and vega-lite are not printed. The same spec gives the
 * same text.
 *
 * @throws whatever vega-lite or vega throw for an invalid spec.
 */
export async function renderVegaLiteSvg(spec: VegaLiteSpec): Promise<string> {
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
  const quiet = vega.logger(vega.Error);
  const { spec: compiled } = vl.compile(spec as unknown as Parameters<typeof vl.compile>[0], {
    logger: quiet,
    config: { font: 'sans-serif' },
  });
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Error });
  try {
    return svgReadouts(await view.toSVG());
  } finally {
    view.finalize();
  }
}

/**
 * Hover readouts in a static SVG: every point or rect that vega labelled (`aria-label`, from the
 * Vega-Lite `description`) gets that text as its `<title>`, which browsers show on hover without
 * scripts; invisible hover points become small circles (same position, a 5 px radius).
 */
function svgReadouts(svg: string): string {
  return svg.replace(
    /<path aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="(point|rect mark)"([^>]*?)\/>/g,
    (_, label: string, _role: string, rest: string) => {
      const move = /transform="translate\(([-\d.e]+),([-\d.e]+)\)"/.exec(rest);
      if (/ opacity="0"/.test(rest) && move) {
        const at = `${Number(Number(move[1]).toFixed(1))},${Number(Number(move[2]).toFixed(1))}`;
        return `<circle transform="translate(${at})" r="5" fill="#000" opacity="0"><title>${label}</title></circle>`;
      }
      return `<path${rest}><title>${label}</title></path>`;
    },
  );
}
