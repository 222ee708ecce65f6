/**
 * A small SVG line chart for the page: one panel per figure, lines of up to two runs (run 0 solid,
 * run 1 dashed, the same color per quantity), non-finite values drawn as gaps, a log or linear y
 * axis, the legend outside the plot (HTML, above it), and a hover readout (a vertical rule and
 * the values of every line at the step under the pointer). Presentation only: it draws the
 * numbers it is given.
 */

import { linearTicks } from 'autobalance/svg';

export const PALETTE = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#000000', '#f0e442'];
export const RUN_DASH = ['', '6 4'];

export interface Line {
  label: string;
  /** 0: the first run (solid); 1: the second (dashed). */
  run: number;
  /** The color index (the same quantity has the same color in both runs). */
  color: number;
  x: number[];
  y: number[];
}

export interface ChartPanel {
  /** A stable name (tests and CSS find the panel by it). */
  id: string;
  title: string;
  log: boolean;
  lines: Line[];
  /** Draw the line y = 0 (linear axes). */
  zero?: boolean;
  /** The y range covers at least this band (e.g. around a conserved quantity's initial value). */
  band?: [number, number];
  /** A short note under the title. */
  note?: string;
  /** The x axis's title (default `step`, with integer ticks). */
  xLabel?: string;
  /** Points drawn over the lines (folds, verdicts), each with its hover text. */
  markers?: Marker[];
  /**
   * Lines are curves in the plane (x not increasing, e.g. a branch through a fold): no vertical
   * hover rule; the markers carry the readouts.
   */
  curves?: boolean;
}

/** A point drawn over a panel's lines. */
export interface Marker {
  x: number;
  y: number;
  /** Hover text (an SVG `<title>`). */
  title: string;
  /** `fold` (a black dot), `min` (a filled circle), `saddle` (an open circle), `undecided` (grey). */
  kind: 'fold' | 'min' | 'saddle' | 'undecided';
  /** The color index (with `min`, `saddle`). */
  color?: number;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A short number for ticks and readouts. */
export function short(x: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? '–' : x > 0 ? '∞' : '−∞';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(2).replace('e+', 'e');
  return String(Number(x.toPrecision(4)));
}

export interface Geometry {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  xmin: number;
  xmax: number;
}

/** The SVG of a panel (viewBox `width` x `height`) and the geometry the hover readout needs. */
export function renderPanel(p: ChartPanel, width: number, height: number): { svg: string; geometry: Geometry } {
  const ml = 58;
  const mr = 18;
  const mt = 8;
  const mb = 30;
  const g: Geometry = { x0: ml, x1: width - mr, y0: mt, y1: height - mb, xmin: 0, xmax: 1 };
  const usable = (v: number): boolean => Number.isFinite(v) && (!p.log || v > 0);
  let xmin = Infinity;
  let xmax = -Infinity;
  let ymin = Infinity;
  let ymax = -Infinity;
  for (const l of p.lines) {
    for (let i = 0; i < l.x.length; i++) {
      const xv = l.x[i] as number;
      const yv = l.y[i] as number;
      if (!Number.isFinite(xv) || !usable(yv)) continue;
      xmin = Math.min(xmin, xv);
      xmax = Math.max(xmax, xv);
      ymin = Math.min(ymin, yv);
      ymax = Math.max(ymax, yv);
    }
  }
  const parts: string[] = [];
  if (!Number.isFinite(xmin)) {
    parts.push(`<text x="${width / 2}" y="${height / 2}" text-anchor="middle" class="empty">no data yet</text>`);
    return { svg: `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(p.title)}">${parts.join('')}</svg>`, geometry: g };
  }
  if (p.band && !p.log) {
    ymin = Math.min(ymin, p.band[0]);
    ymax = Math.max(ymax, p.band[1]);
  }
  if (p.zero && !p.log) {
    ymin = Math.min(ymin, 0);
    ymax = Math.max(ymax, 0);
  }
  if (xmax === xmin) xmax = xmin + 1;
  g.xmin = xmin;
  g.xmax = xmax;
  let ty: (v: number) => number;
  let yticks: number[];
  if (p.log) {
    let lo = Math.floor(Math.log10(ymin));
    let hi = Math.ceil(Math.log10(ymax));
    if (hi === lo) {
      lo -= 1;
      hi += 1;
    }
    const every = Math.max(1, Math.ceil((hi - lo) / 6));
    yticks = [];
    // Few decades: ticks at 1, 2 and 5 of each, so the axis has values to read.
    const mantissas = hi - lo <= 2 ? [1, 2, 5] : [1];
    for (let e = lo; e <= hi; e += every) for (const m of mantissas) if (e + Math.log10(m) <= hi) yticks.push(m * 10 ** e);
    ty = (v) => g.y1 - ((Math.log10(v) - lo) / (hi - lo)) * (g.y1 - g.y0);
  } else {
    if (ymax === ymin) {
      const d = Math.abs(ymax) * 0.05 || 1;
      ymin -= d;
      ymax += d;
    }
    const pad = (ymax - ymin) * 0.04;
    const lo = ymin - pad;
    const hi = ymax + pad;
    yticks = linearTicks(lo, hi, 5);
    ty = (v) => g.y1 - ((v - lo) / (hi - lo)) * (g.y1 - g.y0);
  }
  const tx = (v: number): number => g.x0 + ((v - xmin) / (xmax - xmin)) * (g.x1 - g.x0);
  parts.push(`<rect x="${g.x0}" y="${g.y0}" width="${g.x1 - g.x0}" height="${g.y1 - g.y0}" class="frame"/>`);
  for (const v of yticks) {
    const y = ty(v).toFixed(1);
    const e = Math.floor(Math.log10(v) + 1e-9);
    const m = Math.round(v / 10 ** e);
    const label = p.log ? `${m === 1 ? '' : `${m}×`}1e${e}` : short(v);
    parts.push(`<line x1="${g.x0}" x2="${g.x1}" y1="${y}" y2="${y}" class="grid"/><text x="${g.x0 - 4}" y="${y}" dy="0.32em" text-anchor="end" class="tick">${label}</text>`);
  }
  for (const v of linearTicks(xmin, xmax, 5, p.xLabel === undefined)) {
    const x = tx(v).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${g.y0}" y2="${g.y1}" class="grid"/><text x="${x}" y="${g.y1 + 14}" text-anchor="middle" class="tick">${short(v)}</text>`);
  }
  parts.push(`<text x="${(g.x0 + g.x1) / 2}" y="${height - 3}" text-anchor="middle" class="axis">${esc(p.xLabel ?? 'step')}</text>`);
  if (p.zero && !p.log) {
    const y = ty(0).toFixed(1);
    parts.push(`<line x1="${g.x0}" x2="${g.x1}" y1="${y}" y2="${y}" class="zero"/>`);
  }
  for (const l of p.lines) {
    let d = '';
    let pen = false;
    const dots: string[] = [];
    for (let i = 0; i < l.x.length; i++) {
      const xv = l.x[i] as number;
      const yv = l.y[i] as number;
      if (!Number.isFinite(xv) || !usable(yv)) {
        pen = false; // a gap
        continue;
      }
      const X = tx(xv).toFixed(1);
      const Y = ty(yv).toFixed(1);
      d += `${pen ? 'L' : 'M'}${X} ${Y}`;
      // A point with no neighbour would draw nothing: mark it.
      const prevOk = i > 0 && usable(l.y[i - 1] as number);
      const nextOk = i + 1 < l.x.length && usable(l.y[i + 1] as number);
      if (!prevOk && !nextOk) dots.push(`<circle cx="${X}" cy="${Y}" r="2" fill="${PALETTE[l.color % PALETTE.length]}"/>`);
      pen = true;
    }
    const dash = RUN_DASH[l.run] ?? '';
    const stroke = `stroke="${PALETTE[l.color % PALETTE.length]}" stroke-width="${l.run === 0 ? 2 : 2.2}"${dash ? ` stroke-dasharray="${dash}"` : ''}`;
    if (d) parts.push(`<path d="${d}" fill="none" ${stroke} stroke-linejoin="round"><title>${esc(l.label)}</title></path>`);
    parts.push(...dots);
  }
  if (!p.curves) {
    parts.push(`<line class="rule" x1="0" x2="0" y1="${g.y0}" y2="${g.y1}" visibility="hidden"/>`);
    parts.push(`<rect class="hover" x="${g.x0}" y="${g.y0}" width="${g.x1 - g.x0}" height="${g.y1 - g.y0}" fill="transparent"/>`);
  }
  for (const m of p.markers ?? []) {
    if (!Number.isFinite(m.x) || !usable(m.y)) continue;
    const color = m.kind === 'fold' ? '#000' : m.kind === 'undecided' ? '#999' : (PALETTE[(m.color ?? 0) % PALETTE.length] as string);
    const fill = m.kind === 'saddle' ? '#fff' : color;
    const r = m.kind === 'fold' ? 4.5 : 3.5;
    parts.push(`<circle class="marker ${m.kind}" cx="${tx(m.x).toFixed(1)}" cy="${ty(m.y).toFixed(1)}" r="${r}" fill="${fill}" stroke="${color}" stroke-width="1.5"><title>${esc(m.title)}</title></circle>`);
  }
  return { svg: `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(p.title)}">${parts.join('')}</svg>`, geometry: g };
}

/** The legend of a panel (HTML, placed above the plot). */
export function legendHtml(p: ChartPanel, runLabels: readonly string[]): string {
  const seen = new Set<string>();
  const items: string[] = [];
  for (const l of p.lines) {
    if (l.run !== 0 && runLabels.length > 1 && seen.has(`${l.color}:${l.label}`)) continue;
    seen.add(`${l.color}:${l.label}`);
    items.push(`<span class="key"><i style="border-color:${PALETTE[l.color % PALETTE.length]}"></i>${esc(l.label)}</span>`);
  }
  return items.join('');
}

/** The index of the last x <= v in an increasing array (-1 if none). */
export function lastAtOrBefore(xs: readonly number[], v: number): number {
  let lo = 0;
  let hi = xs.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if ((xs[mid] as number) <= v) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best;
}
