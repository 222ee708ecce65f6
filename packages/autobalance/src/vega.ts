/**
 * Report plots as Vega-Lite: {@link figureToVegaLite} turns a {@link Figure} (the input of the
 * dependency-free renderer in `svg.ts`) into one plain-JSON Vega-Lite v6 spec (write it to a
 * `.vl.json` file and open it in the Vega editor), and {@link renderVegaLiteSvg} renders such a
 * spec to an SVG string with vega-lite and vega's headless view. Platform-neutral: vega and
 * vega-lite are imported dynamically on the first render, so importing this module loads neither.
 *
 * Render times, {@link figureToVegaLite} + {@link renderVegaLiteSvg}, 2 series of 1,001 points
 * per panel (Node 20, 2 cores under other load, best / median of 10 after a warm-up; the first call
 * in a process pays about 0.3-0.4 s more for loading vega and vega-lite):
 * - figure1-like, 2 panels (one log): 51 / 134 ms, SVG about 80 kB
 * - figure2-like, 8 panels (one log): 170 / 343 ms, SVG about 310 kB
 * Most of it is vega's dataflow run (scales, axes, legend), not the spec or the SVG string.
 *
 * @module
 */

import { DASHES, type Figure, type Panel, PALETTE } from './svg.js';

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
      if (!Number.isFinite(x) || !Number.isFinite(y) || (panel.logY && !(y > 0))) continue;
      xs.push(x + 0); // + 0: no -0 (JSON writes it as 0 anyway)
      ys.push(y + 0);
    }
    for (const i of thin(xs.length, maxPoints)) rows.push({ series: s.label, x: xs[i] as number, y: ys[i] as number });
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

/**
 * The Vega-Lite spec of a figure: the figure title over a `concat` of the panels (wrapping after
 * `columns`), each panel a line chart with one line per series, colored (and dashed, so that
 * coinciding lines stay visible) by series label, with one legend shared by all panels listing
 * the labels in order of first appearance; axis titles from `xLabel`/`yLabel`, a log y scale on
 * `logY` panels.
 *
 * The data are inline, `data.values` rows `{series, x, y}` per panel. Points with a non-finite x
 * or y are dropped, and so are points with y <= 0 on log panels; each series is then thinned to
 * at most `maxPoints` points (first and last kept). A series with no points left keeps its legend
 * entry; a panel without data is drawn as empty axes.
 *
 * The result is plain JSON (no typed arrays, no non-finite numbers).
 */
export function figureToVegaLite(figure: Figure, options: VegaLiteOptions = {}): VegaLiteSpec {
  const columns = Math.floor(positive(options.columns ?? figure.columns, 3)) || 1;
  const width = positive(options.width, 360);
  const height = positive(options.height, 240);
  const maxPoints = Math.max(2, Math.floor(positive(options.maxPoints, 2000)));

  const labels: string[] = [];
  for (const p of figure.panels) for (const s of p.series) if (!labels.includes(s.label)) labels.push(s.label);
  const colors = labels.map((_, k) => PALETTE[k % PALETTE.length] as string);
  const dashes = labels.map((_, k) => {
    const d = (DASHES[k % DASHES.length] as string).split(' ').filter(Boolean).map(Number);
    return d.length > 0 ? d : [1, 0];
  });

  // One channel keyed by the series label (colour, dash), sharing the legend at the bottom.
  const bySeries = (range: unknown[]): Record<string, unknown> => ({
    field: 'series',
    type: 'nominal',
    title: null,
    scale: { domain: labels, range },
    legend: { orient: 'bottom', direction: 'vertical', labelLimit: 0 },
  });

  const panels = figure.panels.map((panel) => {
    const rows = panelRows(panel, maxPoints);
    const decades = panel.logY ? decadeTicks(rows) : undefined;
    return {
      title: panel.title,
      width,
      height,
      data: { values: rows },
      mark: { type: 'line', strokeWidth: 1.5 },
      encoding: {
        x: {
          field: 'x',
          type: 'quantitative',
          title: panel.xLabel ?? null,
          scale: { zero: false },
        },
        y: {
          field: 'y',
          type: 'quantitative',
          title: panel.yLabel ?? null,
          scale: panel.logY ? { type: 'log' } : { type: 'linear', zero: false },
          axis: decades ? { values: decades, format: '.0e' } : {},
        },
        color: bySeries(colors),
        strokeDash: bySeries(dashes),
      },
    };
  });

  const spec: VegaLiteSpec = { $schema: VEGA_LITE_SCHEMA };
  if (figure.title !== undefined && figure.title !== '') spec['title'] = figure.title;
  spec['columns'] = columns;
  spec['concat'] = panels;
  spec['resolve'] = {
    scale: { color: 'shared', strokeDash: 'shared' },
    legend: { color: 'shared', strokeDash: 'shared' },
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
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
