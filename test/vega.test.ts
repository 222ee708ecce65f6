// Vega-Lite report plots (packages/autobalance/src/vega.ts): the spec a figure gives, and its
// rendering to SVG with vega. Backend-independent (no runs): the same checks on both passes.
import { describe, expect, it } from 'vitest';

import type { Figure } from '../packages/autobalance/src/svg.js';
import { VEGA_LITE_SCHEMA, figureToVegaLite, renderVegaLiteSvg } from '../packages/autobalance/src/vega.js';

import { BACKEND } from './helpers.js';

interface Row {
  series: string;
  x: number;
  y: number;
}

interface PanelSpec {
  title: string;
  data: { values: Row[] };
  encoding: {
    x: { title: string | null };
    y: { title: string | null; scale: { type?: string } };
    color: { scale: { domain: string[] } };
  };
}

function panels(spec: Record<string, unknown>): PanelSpec[] {
  return spec['concat'] as PanelSpec[];
}

function rowsOf(p: PanelSpec, series: string): Row[] {
  return p.data.values.filter((r) => r.series === series);
}

const steps = (n: number): Float64Array => Float64Array.from({ length: n }, (_, i) => i);

/** Like the figure1 preset: 2 panels (log loss, linear ratio) x 2 runs x 1,001 points. */
function figureLike(panelCount: number): Figure {
  const x = Float64Array.from({ length: 1001 }, (_, i) => 10 * i);
  return {
    title: 'figure-like',
    panels: Array.from({ length: panelCount }, (_, p) => ({
      title: `(${String.fromCharCode(97 + p)}) quantity ${p}`,
      xLabel: 'iteration',
      yLabel: p === 0 ? 'loss (log scale)' : `q${p}`,
      logY: p === 0,
      series: [
        { label: 'objective (1)', x, y: x.map((t) => (p === 0 ? Math.exp(-t / 900) : 1 + Math.sin(t / 700 + p))) },
        { label: 'objective (3)', x, y: x.map((t) => (p === 0 ? Math.exp(-t / 1500) : 1 + Math.cos(t / 500 + p))) },
      ],
    })),
  };
}

describe(`Vega-Lite plots (suite backend ${BACKEND})`, () => {
  it('one concat panel per figure panel, wrapping at columns, with titles and labels', () => {
    const spec = figureToVegaLite(figureLike(5), { columns: 2, width: 300, height: 200 });
    expect(spec.$schema).toBe(VEGA_LITE_SCHEMA);
    expect(spec.$schema).toContain('/v6');
    expect(spec['title']).toBe('figure-like');
    expect(spec['columns']).toBe(2);
    const ps = panels(spec);
    expect(ps).toHaveLength(5);
    expect(ps.map((p) => p.title)).toEqual(['(a) quantity 0', '(b) quantity 1', '(c) quantity 2', '(d) quantity 3', '(e) quantity 4']);
    expect(ps[0]?.encoding.x.title).toBe('iteration');
    expect(ps[0]?.encoding.y.title).toBe('loss (log scale)');
    expect(ps[1]).toMatchObject({ width: 300, height: 200 });
    // Default: 2 columns (a figure that fits a report page unscaled).
    expect(figureToVegaLite(figureLike(2))['columns']).toBe(2);
    // One legend, series in order of first appearance.
    for (const p of ps) expect(p.encoding.color.scale.domain).toEqual(['objective (1)', 'objective (3)']);
  });

  it('log scale only on log panels', () => {
    const ps = panels(figureToVegaLite(figureLike(4)));
    expect(ps.map((p) => p.encoding.y.scale.type === 'log')).toEqual([true, false, false, false]);
  });

  it('drops non-finite points, and non-positive y on log panels only', () => {
    const x = [0, 1, 2, 3, 4, 5, 6];
    const y = [1, NaN, -2, 0, Infinity, 3, 4];
    const xBad = [0, 1, NaN, 3, 4, -Infinity, 6];
    const spec = figureToVegaLite({
      panels: [
        { title: 'log', logY: true, series: [{ label: 's', x, y }, { label: 't', x: xBad, y: x.map((v) => v + 1) }] },
        { title: 'lin', series: [{ label: 's', x, y }, { label: 't', x: xBad, y: x.map((v) => v + 1) }] },
      ],
    });
    const [log, lin] = panels(spec) as [PanelSpec, PanelSpec];
    expect(rowsOf(log, 's').map((r) => [r.x, r.y])).toEqual([[0, 1], [5, 3], [6, 4]]);
    expect(rowsOf(lin, 's').map((r) => [r.x, r.y])).toEqual([[0, 1], [2, -2], [3, 0], [5, 3], [6, 4]]);
    for (const p of [log, lin]) expect(rowsOf(p, 't').map((r) => r.x)).toEqual([0, 1, 3, 4, 6]);
    // Plain JSON: survives a round trip unchanged, every number finite.
    const text = JSON.stringify(spec);
    expect(JSON.parse(text)).toEqual(spec);
    for (const p of panels(spec)) for (const r of p.data.values) expect(Number.isFinite(r.x) && Number.isFinite(r.y)).toBe(true);
  });

  it('downsamples each series to at most maxPoints, keeping the first and last point', () => {
    const n = 10_007;
    const x = steps(n);
    const y = x.map((t) => t * t);
    const spec = figureToVegaLite({ panels: [{ title: 'p', series: [{ label: 'long', x, y }, { label: 'short', x: steps(5), y: steps(5) }] }] }, { maxPoints: 100 });
    const p = panels(spec)[0] as PanelSpec;
    const long = rowsOf(p, 'long');
    expect(long.length).toBeLessThanOrEqual(100);
    expect(long.length).toBeGreaterThan(90);
    expect(long[0]).toEqual({ series: 'long', x: 0, y: 0 });
    expect(long[long.length - 1]).toEqual({ series: 'long', x: n - 1, y: (n - 1) * (n - 1) });
    for (let i = 1; i < long.length; i++) expect((long[i] as Row).x).toBeGreaterThan((long[i - 1] as Row).x);
    for (const r of long) expect(r.y).toBe(r.x * r.x); // points, not interpolations
    expect(rowsOf(p, 'short')).toHaveLength(5);
    // Default: 2,000 points.
    const d = rowsOf(panels(figureToVegaLite({ panels: [{ title: 'p', series: [{ label: 'long', x, y }] }] }))[0] as PanelSpec, 'long');
    expect(d.length).toBeLessThanOrEqual(2000);
    expect(d.length).toBeGreaterThan(1900);
    expect(d[d.length - 1]?.x).toBe(n - 1);
    // Thinning applies after dropping: the last usable point is kept.
    const yz = Float64Array.from(y);
    yz[n - 1] = NaN;
    const t = rowsOf(panels(figureToVegaLite({ panels: [{ title: 'p', series: [{ label: 'long', x, y: yz }] }] }, { maxPoints: 10 }))[0] as PanelSpec, 'long');
    expect(t).toHaveLength(10);
    expect(t[t.length - 1]?.x).toBe(n - 2);
  });

  it('renders an SVG document with every panel title and series label, the same text twice', async () => {
    const figure = figureLike(2);
    figure.panels[1]!.series.push({ label: 'run <B> & co', x: steps(10), y: steps(10) });
    const spec = figureToVegaLite(figure);
    const svg = await renderVegaLiteSvg(spec);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('figure-like');
    for (const p of figure.panels) expect(svg).toContain(p.title);
    for (const label of ['objective (1)', 'objective (3)', 'run &lt;B&gt; &amp; co']) expect(svg).toContain(label);
    expect(svg).toContain('loss (log scale)');
    expect(svg).toContain('sans-serif');
    expect(await renderVegaLiteSvg(spec)).toBe(svg);
    expect(await renderVegaLiteSvg(JSON.parse(JSON.stringify(spec)))).toBe(svg);
  });

  it('renders empty series and panels without series', async () => {
    const spec = figureToVegaLite({
      title: 'edge',
      panels: [
        { title: 'no series', logY: true, series: [] },
        { title: 'nothing usable', logY: true, series: [{ label: 'all points dropped', x: [0, 1, 2], y: [NaN, 0, -1] }, { label: 'empty series', x: [], y: [] }] },
        { title: 'fine', series: [{ label: 'good series', x: [0, 1], y: [1, 2] }] },
      ],
    });
    const ps = panels(spec);
    expect(ps[0]?.data.values).toEqual([]);
    expect(ps[1]?.data.values).toEqual([]);
    const svg = await renderVegaLiteSvg(spec);
    expect(svg.startsWith('<svg')).toBe(true);
    for (const t of ['no series', 'nothing usable', 'fine', 'all points dropped', 'empty series', 'good series']) expect(svg).toContain(t);
    // A figure of one panel without series at all.
    const lone = await renderVegaLiteSvg(figureToVegaLite({ panels: [{ title: 'alone', series: [] }] }));
    expect(lone).toContain('alone');
  });
});
