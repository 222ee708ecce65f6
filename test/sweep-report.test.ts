// Sweep reports (packages/autobalance/src/sweep-report.ts): the CSV of a reduced table, the
// Vega-Lite plots (heatmaps per pair of axes, lines with bands per axis) and the HTML page, on a
// synthetic table whose numbers are known (no runs); then one small real sweep through sweep().
import { describe, expect, it } from 'vitest';

import type { SweepPlan, SweepSettingRow, SweepTable } from '../packages/autobalance/src/sweep.js';
import {
  defaultSweepPlots,
  sweepAxes,
  sweepReportHtml,
  sweepTableCsv,
  sweepVegaLite,
} from '../packages/autobalance/src/sweep-report.js';
import { renderVegaLiteSvg } from '../packages/autobalance/src/vega.js';
import { type SweepSpec, sweep } from 'autobalance';

import { BACKEND } from './helpers.js';

/** Wilson interval of k successes in n at z = 1.96 (the core's, for the synthetic table). */
function wilson(k: number, n: number, z = 1.959963984540054): [number, number] {
  if (n === 0) return [0, 1];
  const p = k / n;
  const d = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / d;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return [Math.max(0, c - h), Math.min(1, c + h)];
}

const ETA = [0.05, 0.1, 0.4, 1.5];
const STD = [0.001, 0.01, 0.3];
const SEEDS = 10;

/** A 4 x 3 sweep (eta x zip(stdU, stdV)) with 10 seeds: P(linear) falls with eta and std. */
function synthetic(): { spec: Record<string, unknown>; plan: SweepPlan; table: SweepTable } {
  const spec = {
    kind: 'sweep',
    base: { model: { kind: 'matrixFactorization', d1: 10, d2: 10, rank: 1 } },
    axes: [{ path: 'schedule.eta', values: ETA }, { zip: [{ path: 'init.stdU', values: STD }, { path: 'init.stdV', values: STD }] }],
    seeds: { count: SEEDS, paths: ['init.seed'] },
    keep: [{ name: 't10', column: 'residual', firstAtOrBelow: 1e-10 }],
    classes: [{ name: 'linear', when: { of: 't10', ge: 0 } }],
    reduce: { quantiles: [0.1, 0.5, 0.9], confidence: 0.95 },
  };
  const plan: SweepPlan = {
    runs: ETA.length * STD.length * SEEDS,
    settings: ETA.length * STD.length,
    seedsPerSetting: SEEDS,
    axes: [
      { paths: ['schedule.eta'], values: [ETA] },
      { paths: ['init.stdU', 'init.stdV'], values: [STD, STD] },
    ],
    seedPaths: ['init.seed'],
    seedBase: 0,
    kept: ['t10'],
    classes: ['linear', 'other'],
    quantiles: [0.1, 0.5, 0.9],
    confidence: 0.95,
    hash: '0123456789abcdef',
  };
  const settings: SweepSettingRow[] = [];
  ETA.forEach((eta, i) =>
    STD.forEach((std, j) => {
      const linear = eta >= 1 ? 0 : SEEDS - 3 * j; // 10, 7, 4 for the three stds
      const [lo, hi] = wilson(linear, SEEDS);
      const [olo, ohi] = wilson(SEEDS - linear, SEEDS);
      const t = Math.round(20 / eta);
      settings.push({
        setting: i * STD.length + j,
        values: { 'schedule.eta': eta, 'init.stdU': std, 'init.stdV': std },
        runs: SEEDS,
        stops: eta >= 1.5 ? { diverged: SEEDS } : { finished: SEEDS },
        kept: {
          t10:
            linear > 0
              ? { count: linear, missing: SEEDS - linear, mean: t, std: 1, min: t - 2, max: t + 2, quantiles: [[0.1, t - 1], [0.5, t], [0.9, t + 1]] }
              : { count: 0, missing: SEEDS, mean: null, std: null, min: null, max: null, quantiles: [[0.1, null], [0.5, null], [0.9, null]] },
        },
        classes: { linear: { count: linear, p: linear / SEEDS, lo, hi }, other: { count: SEEDS - linear, p: 1 - linear / SEEDS, lo: olo, hi: ohi } },
      });
    }),
  );
  return { spec, plan, table: { plan, settings, complete: true, stopped: null } };
}

interface Layered {
  title: string;
  data: { values: Record<string, unknown>[] };
  layer: { mark: { type: string } }[];
}

describe('sweep report on a synthetic table', () => {
  it('reads the axes of a plan (values listed per path) as value tuples', () => {
    const { plan } = synthetic();
    expect(sweepAxes(plan)[0]).toEqual({ paths: ['schedule.eta'], values: ETA.map((v) => [v]) });
    expect(sweepAxes(plan)[1]).toEqual({ paths: ['init.stdU', 'init.stdV'], values: STD.map((v) => [v, v]) });
  });

  it('writes one CSV line per setting, every statistic in full precision', () => {
    const { table } = synthetic();
    const lines = sweepTableCsv(table).trimEnd().split('\n');
    expect(lines.length).toBe(1 + ETA.length * STD.length);
    const head = lines[0]!.split(',');
    expect(head.slice(0, 5)).toEqual(['setting', 'schedule.eta', 'init.stdU', 'init.stdV', 'runs']);
    for (const c of ['stops.finished', 'stops.diverged', 't10.mean', 't10.q0.5', 'linear.p', 'linear.lo', 'linear.hi', 'other.count']) expect(head).toContain(c);
    const row = (i: number): Record<string, string> => Object.fromEntries(lines[1 + i]!.split(',').map((v, k) => [head[k], v]));
    // Setting 4 = eta 0.1 (second), std 0.01 (second): 7 of 10 linear.
    const r4 = row(4);
    expect(r4['schedule.eta']).toBe('0.1');
    expect(r4['init.stdU']).toBe('0.01');
    expect(r4['linear.count']).toBe('7');
    expect(Number(r4['linear.lo'])).toBe(table.settings[4]!.classes['linear']!.lo);
    expect(r4['t10.mean']).toBe('200');
    // No linear run: the kept statistics are empty cells, not 0 or "null".
    const r9 = row(9);
    expect(r9['t10.mean']).toBe('');
    expect(r9['t10.count']).toBe('0');
    expect(r9['stops.diverged']).toBe('10');
  });

  it('plots a heatmap per pair of axes and lines with Wilson bands per axis', () => {
    const { plan, table } = synthetic();
    const plots = defaultSweepPlots(plan);
    expect(plots.map((p) => p.kind)).toEqual(['heatmap', 'lines', 'lines']);
    expect(plots[0]?.value).toEqual({ class: 'linear' });
    const spec = sweepVegaLite({ plan, table, plots });
    const panels = spec['concat'] as Layered[];
    expect(panels.length).toBe(3);
    // The heatmap: one cell per setting, the probability as value and text.
    const cells = panels[0]!.data.values;
    expect(cells.length).toBe(12);
    expect(cells).toContainEqual(expect.objectContaining({ x: '0.1', y: '0.01', value: 0.7, text: '0.70' }));
    // Lines over eta, one per std: the band is the Wilson interval.
    const rows = panels[1]!.data.values;
    const r = rows.find((v) => v['x'] === 0.1 && String(v['series']).endsWith('0.01'))!;
    expect(r['y']).toBe(0.7);
    expect([r['lo'], r['hi']]).toEqual([table.settings[4]!.classes['linear']!.lo, table.settings[4]!.classes['linear']!.hi]);
    // the band, the line, and the invisible points that carry the hover readouts
    expect(panels[1]!.layer.map((l) => l.mark.type)).toEqual(['area', 'line', 'point']);
    // A JSON round trip changes nothing (plain JSON).
    expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
  });

  it('holds the axes not in a plot at their first value, and says so', () => {
    const { plan, table } = synthetic();
    const spec = sweepVegaLite({ plan, table, plots: [{ kind: 'lines', x: { path: 'schedule.eta', log: true }, value: { kept: 't10', stat: 'median' } }] });
    const p = (spec['concat'] as Layered[])[0]!;
    expect(p.title).toMatch(/init\.stdU = init\.stdV = 0\.001/);
    expect(p.data.values.map((v) => v['x'])).toEqual([0.05, 0.1, 0.4]); // eta 1.5 has no t10
    expect(p.data.values.map((v) => v['y'])).toEqual([400, 200, 50]);
    expect(() => sweepVegaLite({ plan, table, plots: [{ kind: 'lines', x: { path: 'nope' }, value: { class: 'linear' } }] })).toThrow(/no sweep axis sets "nope"/);
  });

  it('three axes: a heatmap per pair and lines per axis, the third axis held at its first value', () => {
    const { plan, table } = synthetic();
    // Add a third axis (steps: 100, 200) by doubling every setting.
    const plan3: SweepPlan = { ...plan, settings: plan.settings * 2, runs: plan.runs * 2, axes: [...plan.axes, { paths: ['steps'], values: [[100, 200]] }] };
    const settings = table.settings.flatMap((r) => [100, 200].map((steps, k) => ({ ...r, setting: 2 * r.setting + k, values: { ...r.values, steps } })));
    const plots = defaultSweepPlots(plan3);
    expect(plots.map((p) => `${p.kind} ${p.x.path} ${p.y?.path ?? p.series?.path}`)).toEqual([
      'heatmap schedule.eta init.stdU',
      'heatmap schedule.eta steps',
      'heatmap init.stdU steps',
      'lines schedule.eta init.stdU',
      'lines init.stdU steps',
      'lines steps schedule.eta',
    ]);
    const panels = sweepVegaLite({ plan: plan3, table: { plan: plan3, settings, complete: true, stopped: null }, plots })['concat'] as Layered[];
    expect(panels[0]!.title).toBe('P(linear) (steps = 100)');
    expect(panels[0]!.data.values.length).toBe(12);
    expect(panels[1]!.title).toBe('P(linear) (init.stdU = init.stdV = 0.001)');
    expect(panels[1]!.data.values.length).toBe(8);
  });

  it('renders the plots to SVG with vega', async () => {
    const { plan, table } = synthetic();
    const svg = await renderVegaLiteSvg(sweepVegaLite({ plan, table }));
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('P(linear)');
  }, 30_000);

  it('writes a self-contained HTML page: provenance, plots, the table, the spec', async () => {
    const { spec, plan, table } = synthetic();
    const html = await sweepReportHtml({ spec, plan, table, title: 'synthetic <sweep>', command: 'autobalance sweep run --spec s.json --out d', backend: 'native', coreVersion: '9.9.9', date: '2026-12-01T00:00:00Z' });
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|<link|src="http/);
    expect(html).toContain('synthetic &lt;sweep&gt;');
    expect(html).toContain('autobalance sweep run --spec s.json --out d');
    expect(html).toContain('core 9.9.9');
    expect(html).toContain('native backend');
    expect(html).toContain('2026-12-01T00:00:00Z');
    expect(html).toContain('0123456789abcdef');
    expect(html).toContain('120 runs = 12 settings x 10 seed(s)');
    expect(html).toContain('All 120 runs reduced');
    expect(html).toContain('<svg');
    // One table line per setting, the class cell with its interval.
    expect(html.match(/<tr><td>\d+<\/td>/g)?.length).toBe(12);
    const [lo, hi] = wilson(7, 10);
    expect(html).toContain(`7: 0.700 [${lo.toFixed(3)}, ${hi.toFixed(3)}]`);
    expect(html).toContain('P(linear) [95% Wilson]');
    expect(html).toContain('&quot;kind&quot;: &quot;sweep&quot;');
  }, 30_000);

  it('a sweep without axes: one setting, no plot', async () => {
    const { spec, plan, table } = synthetic();
    const one: SweepPlan = { ...plan, axes: [], settings: 1, runs: 10 };
    const row = { ...table.settings[0]!, values: {} };
    expect(defaultSweepPlots(one)).toEqual([]);
    const html = await sweepReportHtml({ spec, plan: one, table: { plan: one, settings: [row], complete: true, stopped: null } });
    expect(html).toContain('No axes: nothing to plot.');
    expect(sweepTableCsv({ plan: one, settings: [row], complete: true, stopped: null }).split('\n')[0]).toMatch(/^setting,runs,/);
  });

  it('says when the table is incomplete', async () => {
    const { spec, plan, table } = synthetic();
    const part: SweepTable = { plan, settings: table.settings.slice(0, 5), complete: false, stopped: 'cancelled' };
    const html = await sweepReportHtml({ spec, plan, table: part, svg: '' });
    expect(html).toContain('<b>Incomplete</b> (cancelled): 50 of 120 runs reduced, 5 of 12 settings.');
    expect(html).toContain('sweep 0123456789abcdef');
  });
});

describe(`sweep report of a real sweep on ${BACKEND}`, () => {
  it('a 2 x 2 sweep with 3 seeds: the table, its CSV, the plots and the page', async () => {
    const spec: SweepSpec = {
      kind: 'sweep',
      base: {
        model: { kind: 'matrixFactorization', d1: 12, d2: 10, rank: 1 },
        target: { kind: 'random', singularValues: [1], seed: 1 },
        init: { kind: 'gaussian', stdU: 0.01, stdV: 0.01, seed: 2 },
        schedule: { kind: 'constant', eta: 0.1 },
        steps: 200,
        recordEvery: 5,
      },
      axes: [{ path: 'schedule.eta', values: [0.2, 2.5] }, { zip: [{ path: 'init.stdU', values: [0.01, 0.1] }, { path: 'init.stdV', values: [0.01, 0.1] }] }],
      seeds: { count: 3, paths: ['init.seed'] },
      keep: [{ name: 't8', column: 'residual', firstAtOrBelow: 1e-8 }],
      classes: [{ name: 'converged', when: { of: 't8', ge: 0 } }, { name: 'diverged', when: { stop: 'diverged' } }],
    } as SweepSpec;
    const h = sweep(spec, { backend: BACKEND });
    const [plan, table] = await Promise.all([h.plan, h.table]);
    expect(table.complete).toBe(true);
    expect(table.settings.map((r) => r.runs)).toEqual([3, 3, 3, 3]);
    // eta 0.2 converges from both inits; eta 2.5 diverges.
    expect(table.settings.map((r) => r.classes['converged']?.p)).toEqual([1, 1, 0, 0]);
    expect(table.settings.map((r) => r.classes['diverged']?.p)).toEqual([0, 0, 1, 1]);
    const csv = sweepTableCsv(table).trimEnd().split('\n');
    expect(csv.length).toBe(5);
    const head = csv[0]!.split(',');
    const cell = (i: number, c: string): string => csv[1 + i]!.split(',')[head.indexOf(c)] as string;
    expect(Number(cell(0, 't8.mean'))).toBe(table.settings[0]!.kept['t8']!.mean);
    expect(Number(cell(3, 'converged.hi'))).toBe(table.settings[3]!.classes['converged']!.hi);
    expect(cell(3, 'stops.diverged')).toBe('3');
    const html = await sweepReportHtml({ spec, plan, table, command: 'test', backend: BACKEND, date: 'today' });
    expect(html).toContain(`12 runs = 4 settings x 3 seed(s)`);
    expect(html).toContain(plan.hash);
    expect(html.match(/<tr><td>\d+<\/td>/g)?.length).toBe(4);
    expect(html).toContain('<svg');
    // The default plots: one heatmap (2 axes) and lines over each axis.
    expect(defaultSweepPlots(plan).map((p) => p.kind)).toEqual(['heatmap', 'lines', 'lines']);
  }, 30_000);
});
