/**
 * A small dependency-free SVG renderer for line plots: one panel per plotted quantity, linear or
 * logarithmic y axis, ticks with labels, a legend. Platform-neutral (returns a string).
 *
 * @module
 */

/** One line of a panel. */
export interface Series {
  /** Legend label. */
  label: string;
  /** The x values. */
  x: ArrayLike<number>;
  /** The y values, one per x value. */
  y: ArrayLike<number>;
  /**
   * A theory line (an envelope, a bound): drawn with the dash {@link THEORY_DASH} (never one of
   * the data lines' dashes), in the color of the series labelled `theoryOf` when given.
   */
  theory?: boolean;
  /** The label of the data series whose color a theory line takes. */
  theoryOf?: string;
}

/** One panel (a set of axes). */
export interface Panel {
  /** Title above the panel. */
  title: string;
  /** Label of the x axis. */
  xLabel?: string;
  /** Label of the y axis. */
  yLabel?: string;
  /** Logarithmic y axis (values <= 0 are left out). */
  logY?: boolean;
  /** The y axis's range (default: the data's; the Vega-Lite rendering only). */
  yDomain?: readonly [number, number];
  /** Logarithmic x axis (values <= 0 are left out; the Vega-Lite rendering only). */
  logX?: boolean;
  /**
   * Connect each series' points in their given order, not sorted by x (a curve that turns back in
   * x, such as a continuation branch through a fold; the Vega-Lite rendering only).
   */
  inOrder?: boolean;
  /** The lines drawn in the panel. */
  series: Series[];
}

/** A figure: panels laid out side by side (wrapping after `columns`). */
export interface Figure {
  /** Title above the panels. */
  title?: string;
  /** The panels, in reading order. */
  panels: Panel[];
  /** Width of one panel in px (default 480). */
  panelWidth?: number;
  /** Height of one panel in px (default 340). */
  panelHeight?: number;
  /** Panels per row (default: all in one row, at most 3). */
  columns?: number;
  /**
   * Where the legend goes: `shared` (default) puts one legend below the panels when every panel
   * has the same line labels, else one per panel; `panel` always puts one in each panel.
   */
  legend?: 'shared' | 'panel';
}

/** Line colors, in order (colorblind-friendly). */
export const PALETTE = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#f0e442', '#000000'];

/** Dash patterns, in order: lines that coincide stay visible. */
export const DASHES = ['', '7 4', '2 3', '9 3 2 3'];

/** The dash of theory lines ({@link Series} `theory`): dots, unlike every entry of {@link DASHES}. */
export const THEORY_DASH = '1 3';

/**
 * The dashes of the theory lines of one data line, in order: the first is {@link THEORY_DASH};
 * a second theory line in the same color (two envelopes of one run) is dot-dash, so the two stay
 * apart. Neither is an entry of {@link DASHES}.
 */
export const THEORY_DASHES = [THEORY_DASH, '6 2 1 2'];

function strokeStyle(k: number, width: number, theory = false): string {
  const color = PALETTE[k % PALETTE.length] as string;
  const dash = theory ? THEORY_DASH : (DASHES[k % DASHES.length] as string);
  return `stroke="${color}" stroke-width="${width}"${dash ? ` stroke-dasharray="${dash}"` : ''}`;
}

/** Escape text for SVG content and attributes. */
export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * Tick positions for a linear axis from `lo` to `hi`, about `count` of them, at 1/2/5 x 10^k
 * (with `integer`, at least 1 apart: iteration axes). Each is the multiple of the step rounded to
 * 12 significant digits (0.3, not 0.30000000000000004). The demo page's charts use it too.
 */
export function linearTicks(lo: number, hi: number, count = 5, integer = false): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const norm = raw / mag;
  let step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  if (integer) step = Math.max(1, Math.round(step));
  const out: number[] = [];
  const first = Math.ceil(lo / step - 1e-9);
  for (let k = first; k * step <= hi + step * 1e-9; k++) out.push(Number((k * step).toPrecision(12)) + 0); // + 0: no -0
  return out;
}

/** A tick label for a linear axis with tick spacing `step`. */
export function linearLabel(v: number, step: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) return v.toExponential(Math.max(0, Math.min(6, Math.round(-Math.log10(step / a))))).replace('e+', 'e');
  const decimals = Math.max(0, Math.min(10, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

interface Scale {
  map(v: number): number;
  ticks: { v: number; label: string; super?: string }[];
}

function linearScale(lo: number, hi: number, p0: number, p1: number): Scale {
  if (!(hi > lo)) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const ticks = linearTicks(lo, hi);
  const lo2 = Math.min(lo, ticks[0] ?? lo);
  const hi2 = Math.max(hi, ticks[ticks.length - 1] ?? hi);
  const step = ticks.length > 1 ? (ticks[1] as number) - (ticks[0] as number) : Math.abs(hi - lo) || 1;
  return {
    map: (v) => p0 + ((v - lo2) / (hi2 - lo2)) * (p1 - p0),
    ticks: ticks.map((v) => ({ v, label: linearLabel(v, step) })),
  };
}

function logScale(lo: number, hi: number, p0: number, p1: number): Scale {
  let a = Math.floor(Math.log10(lo));
  let b = Math.ceil(Math.log10(hi));
  if (b <= a) {
    a -= 1;
    b += 1;
  }
  // Label every `every` decades, at multiples of `every`; the axis ends on labelled decades.
  const every = [1, 2, 3, 5, 10, 20, 50, 100].find((e) => Math.ceil(b / e) - Math.floor(a / e) <= 8) ?? Math.ceil((b - a) / 8);
  a = Math.floor(a / every) * every;
  b = Math.ceil(b / every) * every;
  const ticks: Scale['ticks'] = [];
  for (let k = a; k <= b; k += every) ticks.push({ v: Math.pow(10, k), label: '10', super: String(k) });
  return {
    map: (v) => p0 + ((Math.log10(v) - a) / (b - a)) * (p1 - p0),
    ticks,
  };
}

/** Indices to draw: all of them, or an evenly strided subset (keeping the last) past `max`. */
function sampleIndices(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const stride = n / max;
  const out: number[] = [];
  for (let k = 0; k < max; k++) out.push(Math.floor(k * stride));
  if (out[out.length - 1] !== n - 1) out.push(n - 1);
  return out;
}

function renderPanel(panel: Panel, x0: number, y0: number, w: number, h: number, clipId: string, legend: boolean): string {
  const left = 70;
  const right = 16;
  const top = 30;
  const bottom = 46;
  const px0 = x0 + left;
  const px1 = x0 + w - right;
  const py0 = y0 + h - bottom;
  const py1 = y0 + top;
  const usable = (v: number): boolean => Number.isFinite(v) && (!panel.logY || v > 0);

  let xlo = Infinity;
  let xhi = -Infinity;
  let ylo = Infinity;
  let yhi = -Infinity;
  for (const s of panel.series) {
    const n = Math.min(s.x.length, s.y.length);
    for (let i = 0; i < n; i++) {
      const xv = s.x[i] as number;
      const yv = s.y[i] as number;
      if (!Number.isFinite(xv) || !usable(yv)) continue;
      xlo = Math.min(xlo, xv);
      xhi = Math.max(xhi, xv);
      ylo = Math.min(ylo, yv);
      yhi = Math.max(yhi, yv);
    }
  }
  const parts: string[] = [];
  parts.push(
    `<text x="${x0 + w / 2}" y="${y0 + 18}" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(panel.title)}</text>`,
  );
  parts.push(`<rect x="${px0}" y="${py1}" width="${px1 - px0}" height="${py0 - py1}" fill="none" stroke="#444"/>`);
  if (xlo > xhi) {
    parts.push(
      `<text x="${(px0 + px1) / 2}" y="${(py0 + py1) / 2}" text-anchor="middle" font-size="12" fill="#888">no data</text>`,
    );
    return parts.join('\n');
  }
  const xs = linearScale(xlo, xhi, px0, px1);
  const ys = panel.logY ? logScale(ylo, yhi, py0, py1) : linearScale(ylo, yhi, py0, py1);

  // Grid and ticks.
  for (const t of xs.ticks) {
    const X = xs.map(t.v);
    if (X < px0 - 0.5 || X > px1 + 0.5) continue;
    parts.push(`<line x1="${X.toFixed(1)}" y1="${py1}" x2="${X.toFixed(1)}" y2="${py0}" stroke="#e5e5e5"/>`);
    parts.push(`<line x1="${X.toFixed(1)}" y1="${py0}" x2="${X.toFixed(1)}" y2="${py0 + 5}" stroke="#444"/>`);
    parts.push(`<text x="${X.toFixed(1)}" y="${py0 + 18}" text-anchor="middle" font-size="11">${escapeXml(t.label)}</text>`);
  }
  for (const t of ys.ticks) {
    const Y = ys.map(t.v);
    if (Y > py0 + 0.5 || Y < py1 - 0.5) continue;
    parts.push(`<line x1="${px0}" y1="${Y.toFixed(1)}" x2="${px1}" y2="${Y.toFixed(1)}" stroke="#e5e5e5"/>`);
    parts.push(`<line x1="${px0 - 5}" y1="${Y.toFixed(1)}" x2="${px0}" y2="${Y.toFixed(1)}" stroke="#444"/>`);
    const label = t.super !== undefined
      ? `${escapeXml(t.label)}<tspan dy="-6" font-size="9">${escapeXml(t.super)}</tspan>`
      : escapeXml(t.label);
    parts.push(`<text x="${px0 - 8}" y="${(Y + 4).toFixed(1)}" text-anchor="end" font-size="11">${label}</text>`);
  }
  if (panel.xLabel) {
    parts.push(`<text x="${(px0 + px1) / 2}" y="${py0 + 36}" text-anchor="middle" font-size="12">${escapeXml(panel.xLabel)}</text>`);
  }
  if (panel.yLabel) {
    const cx = x0 + 14;
    const cy = (py0 + py1) / 2;
    parts.push(
      `<text x="${cx}" y="${cy}" text-anchor="middle" font-size="12" transform="rotate(-90 ${cx} ${cy})">${escapeXml(panel.yLabel)}</text>`,
    );
  }

  // Lines, clipped to the plot area; non-finite (or non-positive on log axes) values break a line.
  parts.push(`<clipPath id="${clipId}"><rect x="${px0}" y="${py1}" width="${px1 - px0}" height="${py0 - py1}"/></clipPath>`);
  panel.series.forEach((s, k) => {
    const n = Math.min(s.x.length, s.y.length);
    let d = '';
    let pen = false;
    for (const i of sampleIndices(n, 2000)) {
      const xv = s.x[i] as number;
      const yv = s.y[i] as number;
      if (!Number.isFinite(xv) || !usable(yv)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${xs.map(xv).toFixed(2)} ${ys.map(yv).toFixed(2)}`;
      pen = true;
    }
    if (d) {
      parts.push(
        `<path d="${d}" fill="none" ${strokeStyle(k, 1.8, s.theory === true)} stroke-linejoin="round" clip-path="url(#${clipId})"><title>${escapeXml(s.label)}</title></path>`,
      );
    }
  });

  if (legend) parts.push(renderLegend(panel.series.map((s) => s.label), px1 - 6, py1 + 6, px1 - px0 - 8, panel.series.map((s) => s.theory === true)));
  return parts.join('\n');
}

/** A legend box whose top right corner is at (right, top). */
function renderLegend(labels: readonly string[], right: number, top: number, maxWidth: number, theory: readonly boolean[] = []): string {
  const parts: string[] = [];
  const rowH = 16;
  const longest = labels.reduce((m, l) => Math.max(m, l.length), 0);
  const lw = Math.min(maxWidth, 40 + longest * 6.2);
  const lx = right - lw;
  const ly = top;
  if (labels.length > 0) {
    parts.push(
      `<rect x="${lx.toFixed(1)}" y="${ly}" width="${lw.toFixed(1)}" height="${labels.length * rowH + 6}" fill="#ffffff" fill-opacity="0.85" stroke="#bbb"/>`,
    );
  }
  labels.forEach((label, k) => {
    const yy = ly + 4 + rowH * k + rowH / 2;
    parts.push(`<line x1="${(lx + 6).toFixed(1)}" y1="${yy}" x2="${(lx + 32).toFixed(1)}" y2="${yy}" ${strokeStyle(k, 2.5, theory[k] === true)}/>`);
    parts.push(`<text x="${(lx + 38).toFixed(1)}" y="${yy + 4}" font-size="11">${escapeXml(label)}</text>`);
  });
  return parts.join('\n');
}

/** Render a figure as a standalone SVG document. */
export function renderSvg(figure: Figure): string {
  const w = figure.panelWidth ?? 480;
  const h = figure.panelHeight ?? 340;
  const n = Math.max(1, figure.panels.length);
  const cols = Math.max(1, Math.min(n, figure.columns ?? Math.min(n, 3)));
  const rows = Math.ceil(n / cols);
  const head = figure.title ? 30 : 0;
  // One legend below the panels when every panel has the same lines; else one per panel.
  const labels = (p: Panel): string => JSON.stringify(p.series.map((s) => s.label));
  const first = figure.panels[0];
  const shared = figure.legend !== 'panel' && first !== undefined && figure.panels.every((p) => labels(p) === labels(first));
  const foot = shared && first ? first.series.length * 16 + 16 : 0;
  const W = cols * w;
  const H = rows * h + head + foot;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
  ];
  if (figure.title) {
    parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="15">${escapeXml(figure.title)}</text>`);
  }
  figure.panels.forEach((p, i) => {
    const cx = (i % cols) * w;
    const cy = head + Math.floor(i / cols) * h;
    parts.push(`<g class="panel">`);
    parts.push(renderPanel(p, cx, cy, w, h, `clip${i}`, !shared));
    parts.push('</g>');
  });
  if (shared && first) {
    const names = first.series.map((s) => s.label);
    const width = Math.min(W - 20, 40 + names.reduce((m, l) => Math.max(m, l.length), 0) * 6.2);
    parts.push(`<g class="legend">${renderLegend(names, (W + width) / 2, head + rows * h + 4, width)}</g>`);
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
