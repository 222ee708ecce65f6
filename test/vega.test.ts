// Vega-Lite report plots (packages/autobalance/src/vega.ts): the spec a figure gives, and its
// rendering to SVG with vega. Backend-independent (no runs): the same checks on both passes.
import { describe, expect, it } from 'vitest';

import type { Figure } from '../packages/autobalance/src/svg.js';
import { DASHES, PALETTE, THEORY_DASHES } from '../packages/autobalance/src/svg.js';
import { VEGA_LITE_SCHEMA, bandLinesVegaLite, figureToVegaLite, heatmapVegaLite, panelsToVegaLite, readoutNumber, renderVegaLiteSvg } from '../packages/autobalance/src/vega.js';

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
  };
  layer: [
    { mark: { type: string }; encoding: { color: { scale: { domain: string[]; range: string[] }; legend: { orient: string; columns?: number; symbolSize?: number } | null }; strokeDash: { scale: { domain: string[]; range: unknown[] } } } },
    { data: { values: (Row & { tip: string })[] }; mark: { type: string; opacity: number }; encoding: { description: { field: string }; tooltip: { field: string; title: string }[] } },
  ];
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
    // One legend per panel, series in order of first appearance.
    for (const p of ps) expect(p.layer[0].encoding.color.scale.domain).toEqual(['objective (1)', 'objective (3)']);
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

  it('one legend per panel, above its plot (off the data), listing its own series in figure-wide colors', async () => {
    const x = [0, 1, 2];
    const spec = figureToVegaLite({
      panels: [
        { title: 'both', series: [{ label: 'A', x, y: x }, { label: 'B', x, y: x }] },
        { title: 'only B', series: [{ label: 'B', x, y: x }] },
        { title: 'C and A', series: [{ label: 'C', x, y: x }, { label: 'A', x, y: x }] },
      ],
    });
    const ps = panels(spec);
    expect(ps.map((p) => p.layer[0].encoding.color.scale.domain)).toEqual([['A', 'B'], ['B'], ['A', 'C']]);
    // A series has the same color in every panel: A first, B second, C third in the figure.
    expect(ps.map((p) => p.layer[0].encoding.color.scale.range)).toEqual([[PALETTE[0], PALETTE[1]], [PALETTE[1]], [PALETTE[0], PALETTE[2]]]);
    for (const p of ps) {
      expect(p.layer[0].encoding.color.legend?.orient).toBe('top');
      expect(p.layer[0].encoding.strokeDash.scale.domain).toEqual(p.layer[0].encoding.color.scale.domain);
    }
    expect(spec['resolve']).toEqual({ scale: { color: 'independent', strokeDash: 'independent' }, legend: { color: 'independent', strokeDash: 'independent' } });
    // Line symbols long enough to show the dash; more than three lines in two columns.
    expect(ps[0]!.layer[0].encoding.color.legend).toMatchObject({ columns: 1, symbolSize: 400 });
    const four = panels(figureToVegaLite({ panels: [{ title: 'four', series: ['a', 'b', 'c', 'd'].map((label) => ({ label, x, y: x })) }] }));
    expect(four[0]!.layer[0].encoding.color.legend).toMatchObject({ orient: 'top', columns: 2 });
    // Rendered: one legend group per panel, each above its panel's plot area.
    const svg = await renderVegaLiteSvg(spec);
    expect(svg.match(/role-legend"/g)?.length).toBe(3);
  });

  it('theory lines take their run\'s color; two of one run get two different dashes, neither a data dash', () => {
    const x = [0, 1, 2];
    const spec = figureToVegaLite({
      panels: [
        {
          title: 'loss',
          series: [
            { label: 'run A', x, y: x },
            { label: 'run B', x, y: x },
            { label: 'K envelope A', x, y: x, theory: true, theoryOf: 'run A' },
            { label: 'G envelope A', x, y: x, theory: true, theoryOf: 'run A' },
            { label: 'K envelope B', x, y: x, theory: true, theoryOf: 'run B' },
          ],
        },
      ],
    });
    const enc = panels(spec)[0]!.layer[0].encoding;
    const dash = Object.fromEntries(enc.strokeDash.scale.domain.map((l, i) => [l, (enc.strokeDash.scale.range[i] as number[]).join(' ')]));
    const color = Object.fromEntries(enc.color.scale.domain.map((l, i) => [l, enc.color.scale.range[i]]));
    expect(color['K envelope A']).toBe(color['run A']);
    expect(color['G envelope A']).toBe(color['run A']);
    expect(color['K envelope B']).toBe(color['run B']);
    expect(dash['K envelope A']).toBe(THEORY_DASHES[0]);
    expect(dash['K envelope B']).toBe(THEORY_DASHES[0]);
    expect(dash['G envelope A']).toBe(THEORY_DASHES[1]);
    expect(THEORY_DASHES[0]).not.toBe(THEORY_DASHES[1]);
    for (const t of THEORY_DASHES) expect(DASHES).not.toContain(t);
  });

  it('readout numbers: integers in full, 6 significant digits otherwise, short exponents', () => {
    expect([0, -0, 7, 10000, 123456789, 0.5, 1 / 3, -2.0000004, 1e-7 / 3, 6.02e23, 1e15 + 0.5, Infinity].map(readoutNumber)).toEqual([
      '0', '0', '7', '10000', '123456789', '0.5', '0.333333', '-2', '3.33333e-8', '6.02e23', '1e15', 'Infinity',
    ]);
  });

  it('hover points: at most 120 per series with their readouts, tooltips, and <title>s in the rendered SVG', async () => {
    const figure = figureLike(2);
    figure.panels[1]!.series.push({ label: 'run <B> & co', x: steps(10), y: steps(10).map((v) => v / 3) });
    const spec = figureToVegaLite(figure);
    const ps = panels(spec);
    const hover = ps[0]!.layer[1];
    expect(hover.mark).toMatchObject({ type: 'point', opacity: 0 });
    expect(hover.encoding.description.field).toBe('tip');
    expect(hover.encoding.tooltip.map((t) => t.title)).toEqual(['line', 'iteration', 'loss']);
    const h1 = hover.data.values.filter((r) => r.series === 'objective (1)');
    expect(h1).toHaveLength(120);
    expect(h1[0]).toEqual({ series: 'objective (1)', x: 0, y: 1, tip: 'objective (1): iteration 0, loss 1' });
    expect(h1[119]?.x).toBe(10000);
    // Every hover point is a plotted point, its readout its own numbers.
    const plotted = new Set(rowsOf(ps[0]!, 'objective (1)').map((r) => `${r.x} ${r.y}`));
    for (const r of h1) {
      expect(plotted.has(`${r.x} ${r.y}`)).toBe(true);
      expect(r.tip).toBe(`objective (1): iteration ${readoutNumber(r.x)}, loss ${readoutNumber(r.y)}`);
    }
    const short = ps[1]!.layer[1].data.values.filter((r) => r.series === 'run <B> & co');
    expect(short.map((r) => r.tip)).toContain('run <B> & co: iteration 4, q1 1.33333');

    // The static SVG: one invisible circle with a <title> per hover point, escaped, no scripts.
    const svg = await renderVegaLiteSvg(spec);
    const titles = [...svg.matchAll(/<circle transform="translate\(([-\d.]+),([-\d.]+)\)" r="5" fill="#000" opacity="0"><title>([^<]*)<\/title><\/circle>/g)];
    const all = ps.flatMap((p) => p.layer[1].data.values);
    expect(titles).toHaveLength(all.length);
    expect(titles.map((m) => m[3])).toEqual(all.map((r) => r.tip.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')));
    expect(svg).not.toContain('<script');
    expect(svg).not.toContain('aria-roledescription="point"');
    // The lines carry no misleading one-point readout.
    expect(svg).not.toMatch(/aria-label="[^"]*" role="graphics-symbol" aria-roledescription="line mark"/);
    // Positions: iteration 0 at the left edge of the plot, the loss 1 (the top decade) at its top.
    expect(titles[0]?.slice(1, 3).map(Number)).toEqual([0, 0]);
  });

  it('sweep plots: band lines and heatmap cells carry readouts too', async () => {
    const band = bandLinesVegaLite({
      title: 'bands',
      xLabel: 'eta',
      yLabel: 'P(converged)',
      series: [{ label: 'd = 10', x: [0.1, 0.5, 1], y: [1, 0.5, null], lo: [0.9, 0.4, 0], hi: [1, 0.6, 0.1] }],
    });
    const heat = heatmapVegaLite({
      title: 'heat',
      xLabel: 'eta',
      yLabel: 'd',
      xValues: ['0.1', '0.5'],
      yValues: ['10'],
      valueLabel: 'P(converged)',
      cells: [{ x: '0.1', y: '10', value: 1 / 3, text: '33%' }, { x: '0.5', y: '10', value: null }],
    });
    const svg = await renderVegaLiteSvg(panelsToVegaLite('sweep', [band, heat]));
    const titles = [...svg.matchAll(/<title>([^<]*)<\/title>/g)].map((m) => m[1]);
    expect(titles).toEqual(['d = 10: eta 0.1, P(converged) 1 (0.9 to 1)', 'd = 10: eta 0.5, P(converged) 0.5 (0.4 to 0.6)', 'eta 0.1, d 10: P(converged) 0.333333 (33%)']);
  });
});
