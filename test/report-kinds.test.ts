// The check, plot and table kinds that the presets of the continuation and CNN papers need,
// on hand-made inputs (exact expectations), and a preset with studies AND runs on the backend.
import { describe, expect, it } from 'vitest';

import {
  type Check,
  type CheckInputs,
  type CheckStudy,
  type Preset,
  type RunResult,
  type SweepSettingRow,
  type SweepTable,
  applyOverrides,
  checkReferences,
  chi2Curve,
  chi2Upper,
  figureToVegaLite,
  gridTableHtml,
  invariantDomain,
  newcombeInterval,
  normalizePreset,
  presetChecks,
  presetFigure,
  presetHtml,
  presetReport,
  presetVegaLite,
  runCheck,
  runPreset,
  runsToCsv,
  sweepVegaLite,
  wilsonInterval,
} from 'autobalance';

import { BACKEND } from './helpers.js';

function fakeRun(columns: Record<string, number[]>): RunResult {
  return {
    backend: BACKEND,
    finished: true,
    rows: columns['step']?.length ?? 0,
    columnNames: Object.keys(columns),
    columnRoles: Object.fromEntries(Object.keys(columns).map((k) => [k, k === 'step' ? 'step' : 'other'])),
    columns: Object.fromEntries(Object.entries(columns).map(([k, v]) => [k, Float64Array.from(v)])),
    params: {},
  } as unknown as RunResult;
}

function fakeStudy(columns: Record<string, number[]>): CheckStudy {
  return { output: {}, columns: Object.fromEntries(Object.entries(columns).map(([k, v]) => [k, Float64Array.from(v)])), finished: true };
}

// A branch that goes up in lambda to a fold at 0.3 and back (the far solution), then a second branch.
const branch = fakeStudy({
  lambda: [0.1, 0.2, 0.3, 0.2, 0.1, NaN],
  J: [1, 2, 3, 4, 5, 6],
  fold: [0, 0, 1, 0, 0, 0],
  verdict: [1, 1, 0, -1, -1, NaN],
});

describe('study quantities: where, count, at', () => {
  const inputs: CheckInputs = { runs: [], studies: [branch] };
  const v = (q: Check): string => runCheck(q, inputs).text;
  it('reads the value where a column crosses a value, first and last crossing, interpolated', () => {
    expect(runCheck({ kind: 'show', of: { study: 0, column: 'J', reduce: 'at', x: 'lambda', value: 0.15 } }, inputs).text).toBe('J at lambda = 0.15 [study 0] = 1.5');
    expect(v({ kind: 'show', of: { study: 0, column: 'J', reduce: 'at', x: 'lambda', value: 0.15, occurrence: 'last' } })).toBe('J at lambda = 0.15 (last crossing) [study 0] = 4.5');
    expect(runCheck({ kind: 'show', of: { study: 0, column: 'J', reduce: 'at', x: 'lambda', value: 0.35 } }, inputs)).toMatchObject({ pass: null, text: 'no row pair of study 0 brackets lambda = 0.35' });
  });
  it('keeps rows by a where clause; count counts the kept rows with a value', () => {
    expect(v({ kind: 'show', of: { study: 0, column: 'lambda', reduce: 'count', where: { fold: 1 } } })).toBe('count of lambda where fold = 1 [study 0] = 1');
    expect(v({ kind: 'show', of: { study: 0, column: 'lambda', reduce: 'max', where: { fold: 1 } } })).toBe('max lambda where fold = 1 [study 0] = 0.3');
    expect(v({ kind: 'show', of: { study: 0, column: 'J', reduce: 'min', where: { verdict: { lt: 0 }, lambda: { ge: 0.15 } } } })).toBe('min J where verdict < 0, lambda >= 0.15 [study 0] = 4');
    // NaN never matches a where clause; count of a column that is NaN there is 0.
    expect(runCheck({ kind: 'equals', of: { study: 0, column: 'verdict', reduce: 'count', where: { J: { gt: 5 } } }, value: 0 }, inputs).pass).toBe(true);
  });
});

describe('run quantities: rate and offset', () => {
  const steps = Array.from({ length: 41 }, (_, i) => 10 * i);
  const run = fakeRun({ step: steps, g: steps.map((s) => 10 * 0.99 ** s) });
  const inputs: CheckInputs = { runs: [run], hessian: [{ what: 'eigs', lambdaMin: 0.5 } as never] };
  it('rate is the per-step contraction factor of a geometric column', () => {
    const o = runCheck({ kind: 'near', of: { run: 0, column: 'g', reduce: 'rate', from: 100, to: 300 }, to: 0.99, absTol: 1e-12 }, inputs);
    expect(o.pass, o.text).toBe(true);
    expect(o.text).toMatch(/^rate of g over steps 100\.\.300 \[run 0\] = 0\.99 within/);
  });
  it('offset is added after the scale, and both sides print their own values', () => {
    // 1 - 0.02 x lambdaMin = 0.99.
    const o = runCheck({ kind: 'near', of: { run: 0, column: 'g', reduce: 'rate' }, to: { hessian: 0, field: 'lambdaMin', scale: -0.02, offset: 1 }, absTol: 1e-12 }, inputs);
    expect(o.pass, o.text).toBe(true);
    expect(o.text).toBe('rate of g [run 0] = 0.99 within 1.00e-12 of 1 + -0.02 x (lambdaMin [curvature 0] = 0.5) = 0.99');
  });
  it('a rate needs two positive values', () => {
    const one = fakeRun({ step: [0, 1], g: [1, 0] });
    expect(runCheck({ kind: 'show', of: { run: 0, column: 'g', reduce: 'rate' } }, { runs: [one] }).pass).toBeNull();
  });
});

/** A table over ratio x k with `global` counts `k1[ratio][k]` of `n` runs. */
function table(ratios: number[], ks: number[], counts: number[][], n: number): SweepTable {
  const settings: SweepSettingRow[] = [];
  ratios.forEach((ratio, i) =>
    ks.forEach((k, j) => {
      const c = counts[i]![j]!;
      const [lo, hi] = wilsonInterval(c, n);
      settings.push({ setting: settings.length, values: { ratio, k }, runs: n, stops: { finished: n }, kept: {}, classes: { global: { count: c, p: c / n, lo, hi } } });
    }),
  );
  return { complete: true, settings, plan: { kept: [], classes: ['global'], axes: [], confidence: 0.95 } } as unknown as SweepTable;
}

describe('published probabilities: binomial check, chi^2 fit, grid table', () => {
  it("Newcombe's interval: 0 inside when the counts agree, outside when they differ by many errors", () => {
    const [lo, hi] = newcombeInterval(3650, 5000, 0.73, 5000, 0.005);
    expect(lo).toBeLessThan(0);
    expect(hi).toBeGreaterThan(0);
    const [lo2] = newcombeInterval(3900, 5000, 0.73, 5000, 0.005);
    expect(lo2).toBeGreaterThan(0);
    // Symmetric around the difference when the published value has no rounding and equal n.
    const [a, b] = newcombeInterval(2500, 5000, 0.5, 5000);
    expect(a).toBeCloseTo(-b, 12);
  });
  it('the binomial check marks a cell by the interval and says which', () => {
    const t = table([1], [25], [[3650]], 5000);
    const ok = runCheck({ kind: 'binomial', of: { sweep: 'class', name: 'global', where: { k: 25 } }, p: 0.73, n: 5000, rounding: 0.005 }, { runs: [], sweep: { table: t } });
    expect(ok.pass, ok.text).toBe(true);
    expect(ok.text).toMatch(/^P\(global\) at \[k = 25\] = 0\.7300 \[0\.7175, 0\.7421\] \(3650 of 5000\) vs published 0\.73 \(n 5000, \+-0\.005\): difference 0\.0000 in \[-0\.0212, 0\.0213\]$/);
    const bad = runCheck({ kind: 'binomial', of: { sweep: 'class', name: 'global', where: { k: 25 } }, p: 0.6, n: 5000 }, { runs: [], sweep: { table: t } });
    expect(bad.pass).toBe(false);
    expect(bad.text).toMatch(/which excludes 0$/);
  });
  it('chi^2 over the fitted axis: least at the ratio whose counts match, p-value, dof, at', () => {
    // At ratio 2 the counts are the published ones exactly.
    const cells = [
      { where: { k: 25 }, p: 0.73, n: 5000, rounding: 0.005 },
      { where: { k: 36 }, p: 0.66, n: 5000, rounding: 0.005 },
    ];
    const t = table(
      [1, 2, 4],
      [25, 36],
      [
        [3400, 3100],
        [3650, 3300],
        [3900, 3500],
      ],
      5000,
    );
    const curve = chi2Curve({ name: 'global', axis: 'ratio', cells }, t);
    expect(curve.map((c) => c.x)).toEqual([1, 2, 4]);
    expect(curve[1]!.chi2).toBe(0);
    expect(curve[0]!.chi2).toBeGreaterThan(20);
    const q = (stat: 'best' | 'min' | 'dof' | 'pValue'): number => runCheck({ kind: 'show', of: { sweep: 'chi2', name: 'global', axis: 'ratio', cells, stat } }, { runs: [], sweep: { table: t } }).text.match(/= (\S+)$/)![1] as unknown as number;
    expect(Number(q('best'))).toBe(2);
    expect(Number(q('min'))).toBe(0);
    expect(Number(q('dof'))).toBe(1);
    expect(Number(q('pValue'))).toBe(1);
    // The chi^2 tail against known values: P(chi2_1 >= 3.841459) = 0.05, P(chi2_35 >= 49.80185) = 0.05.
    expect(chi2Upper(3.841458820694124, 1)).toBeCloseTo(0.05, 10);
    expect(chi2Upper(49.80184956820185, 35)).toBeCloseTo(0.05, 10);
    expect(chi2Upper(2, 2)).toBeCloseTo(Math.exp(-1), 12);
    // A cell marked under the fitted reading: the ratio is resolved by the fit, never written down.
    const fitted = runCheck({ kind: 'binomial', of: { sweep: 'class', name: 'global', where: { k: 36, ratio: { fitted: { name: 'global', cells } } } }, p: 0.66, n: 5000, rounding: 0.005 }, { runs: [], sweep: { table: t } });
    expect(fitted.pass, fitted.text).toBe(true);
    expect(fitted.text).toMatch(/^P\(global\) at \[k = 36, ratio = the best fit to 2 published cells\] = 0\.6600 .*\(3300 of 5000\)/);
    // The chi2 plot draws the curve.
    const vl = sweepVegaLite({ plan: t.plan, table: t, plots: [{ kind: 'chi2', name: 'global', axis: 'ratio', cells }] });
    expect(JSON.stringify(vl)).toContain('least 0 at ratio = 2');
  });
  it('the grid table puts ours, the published value and the mark in each cell', () => {
    const t = table([1], [25, 36], [[3650, 3300]], 5000);
    const checked = checkReferences(
      [
        { claim: 'k 25', cell: [25, 1], checks: [{ kind: 'binomial', of: { sweep: 'class', name: 'global', where: { k: 25 } }, p: 0.73, n: 5000 }] },
        { claim: 'k 36', cell: [36, 1], checks: [{ kind: 'binomial', of: { sweep: 'class', name: 'global', where: { k: 36 } }, p: 0.5, n: 5000 }] },
      ],
      { runs: [], sweep: { table: t } },
    );
    const html = gridTableHtml({ title: 'Table 5.1', row: 'k', col: 'ratio', class: 'global', reference: [[0.73], [0.5]] }, t, checked);
    expect(html).toContain('0.730 [0.718, 0.742]<br>published: 0.73 <span class="agrees">agrees</span>');
    expect(html).toContain('published: 0.5 <span class="disagrees">DISAGREES</span>');
  });
});

describe(`a preset with studies and runs on ${BACKEND}`, () => {
  const run = {
    model: { kind: 'matrixFactorization', d1: 4, d2: 3, rank: 2 },
    target: { kind: 'random', singularValues: [2, 1], seed: 1 },
    init: { kind: 'gaussian', stdU: 0.1, stdV: 0.1, seed: 2 },
    schedule: { kind: 'constant', eta: 0.05 },
    steps: 200,
    recordEvery: 10,
  };
  const preset: Preset = normalizePreset({
    name: 'mixed',
    description: 'a study and a run',
    studies: [{ label: 'grid', spec: { kind: 'hessianGrid', run: { ...run, steps: 20 }, query: { what: 'classify' }, at: { every: 10 } } }],
    studyTable: [],
    runs: [{ label: 'gd', spec: run }],
    plots: [
      { title: 'loss', column: 'loss', logY: true },
      { kind: 'studyLines', title: 'lambda_min along the grid', x: 'step', y: 'lambdaMin' },
    ],
    hessian: [],
    reference: [
      { claim: 'the run converges', checks: [{ kind: 'atMost', of: { run: 0, column: 'loss', reduce: 'last' }, bound: 1e-3 }] },
      { claim: 'the study has 3 points', checks: [{ kind: 'equals', of: { study: 0, column: 'step', reduce: 'count' }, value: 3 }] },
    ],
  });
  it('runs the studies, then the runs; checks read both; figure, CSV, HTML and JSON have both', async () => {
    const outcome = await runPreset(preset, { backend: BACKEND });
    expect(outcome.studies?.length).toBe(1);
    expect(outcome.runs.length).toBe(1);
    const checked = presetChecks(preset, outcome);
    expect(checked.map((c) => c.status), checked.map((c) => c.outcomes.map((o) => o.text).join('; ')).join('\n')).toEqual(['agrees', 'agrees']);
    const fig = presetFigure(preset, outcome.runs);
    expect(fig.panels.map((p) => p.series.length)).toEqual([1, 1]);
    expect(fig.panels[1]!.series[0]!.y.length).toBe(3);
    expect((presetVegaLite(preset, outcome.runs)['concat'] as unknown[]).length).toBe(2);
    const csv = runsToCsv(outcome.runs, preset);
    expect(csv).toMatch(/^run,step,/);
    expect(csv).toMatch(/\n\nstudy,finished,mark\ngrid,yes,agrees\n$/);
    const meta = { backend: outcome.backend, coreVersion: 'test', cancelled: false };
    const html = await presetHtml(preset, outcome, meta, '<svg></svg>');
    expect(html).toContain('<h2>Studies</h2>');
    expect(html).toContain('<h2>Runs</h2>');
    const json = presetReport(preset, outcome, meta);
    expect(json.runs.length).toBe(1);
    expect(json.studies?.results.length).toBe(1);
  });
  it('--steps sets the runs, --seed shifts studies and runs by one amount', () => {
    const o = applyOverrides(preset, { steps: 50, seed: 10 });
    expect(o.runs[0]!.spec.steps).toBe(50);
    expect(o.shortened).toBe('50 of 200 steps');
    const seeds = [(o.studies![0]!.spec as unknown as { run: { target: { seed: number }; init: { seed: number } } }).run, o.runs[0]!.spec as unknown as { target: { seed: number }; init: { seed: number } }].flatMap((s) => [s.target.seed, s.init.seed]);
    expect(seeds).toEqual([10, 11, 10, 11]);
  });
});

describe('plots of study lines and layers', () => {
  it('splits a branch where the verdict changes; the pieces share their boundary row', () => {
    const p: Preset = normalizePreset({ name: 'x', runs: [], plots: [{ kind: 'studyLines', title: 't', x: 'lambda', y: 'J', split: ['verdict'], labels: { verdict: { '1': 'min', '-1': 'saddle' } } }], studies: [{ label: 'n = 1', spec: {} }], studyTable: [] });
    const study = { label: 'n = 1', spec: {}, result: { columns: branch.columns, finished: true } } as never;
    const panel = presetFigure(p, [], [study]).panels[0]!;
    expect(panel.series.map((s) => s.label)).toEqual(['n = 1: min', 'n = 1: verdict 0', 'n = 1: saddle']);
    expect(panel.series.map((s) => Array.from(s.x))).toEqual([[0.1, 0.2, 0.3], [0.3, 0.2], [0.2, 0.1, NaN]]);
    // Drawn in row order (a fold turns back in x).
    const vl = presetVegaLite(p, [], [study]);
    expect(JSON.stringify(vl)).toContain('"order":{"field":"i","type":"quantitative"}');
  });
  it('layers: a run\'s final parameters as K matrices over t, scaled', () => {
    const p: Preset = normalizePreset({ name: 'x', runs: [{ label: 'r', spec: {} }], plots: [{ kind: 'layers', title: 'A_t', run: 0, param: 'theta', n: 2, T: 1, scale: 2 }] });
    // K = 2 layers of 2 x 2.
    const r = { ...fakeRun({ step: [0] }), params: { theta: { rows: 8, cols: 1, data: Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8]) } } } as unknown as RunResult;
    const panel = presetFigure(p, [{ label: 'r', spec: {} as never, result: r }]).panels[0]!;
    expect(panel.series.map((s) => s.label)).toEqual(['A_11', 'A_12', 'A_21', 'A_22']);
    expect(Array.from(panel.series[0]!.x)).toEqual([0.25, 0.75]);
    expect(Array.from(panel.series[1]!.y)).toEqual([4, 12]);
  });
});

describe('honest axes', () => {
  it('a conserved quantity that moves by 3e-6 is drawn flat: its range is 5% around the initial value', () => {
    const y = Float64Array.from({ length: 11 }, (_, i) => 1 + 3e-7 * i);
    const [lo, hi] = invariantDomain([{ y }])!;
    expect(lo).toBeCloseTo(0.95, 12);
    expect(hi).toBeCloseTo(1.05, 12);
    // A real drift stays inside the range; two runs: around both initial values.
    const [lo2, hi2] = invariantDomain([{ y: Float64Array.from([0, 0.5, 1]) }, { y: Float64Array.from([2, 2, NaN]) }])!;
    expect(lo2).toBeCloseTo(-1.2, 12);
    expect(hi2).toBeCloseTo(3.2, 12);
    expect(invariantDomain([{ y: Float64Array.from([NaN]) }])).toBeUndefined();
    const vl = figureToVegaLite({ panels: [{ title: 'D', xLabel: 'iteration', yDomain: [lo, hi], series: [{ label: 'r', x: Float64Array.from(y, (_, i) => i), y }] }] });
    const panel = (vl['concat'] as { encoding: { x: { axis: unknown }; y: { scale: unknown } } }[])[0]!;
    expect(panel.encoding.y.scale).toEqual({ type: 'linear', domain: [lo, hi], nice: false });
    // Iterations are integers: no fractional ticks.
    expect(panel.encoding.x.axis).toEqual({ tickMinStep: 1, format: 'd' });
  });
});
