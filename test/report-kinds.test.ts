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
  powerLawFit,
  presetChecks,
  presetFigure,
  presetHtml,
  presetReport,
  presetVegaLite,
  runCheck,
  runPreset,
  runsToCsv,
  studentTCdf,
  studentTQuantile,
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

describe('fitted power laws: exponent, standard error, 95% interval, r^2', () => {
  it("Student's t quantiles: closed forms for 1 and 2 degrees of freedom, tables for 3, 10, 30, the normal limit", () => {
    for (const p of [0.6, 0.9, 0.975, 0.995]) {
      expect(studentTQuantile(p, 1)).toBeCloseTo(Math.tan(Math.PI * (p - 0.5)), 9);
      expect(studentTQuantile(p, 2)).toBeCloseTo((2 * p - 1) / Math.sqrt(2 * p * (1 - p)), 9);
    }
    expect(studentTQuantile(0.975, 3)).toBeCloseTo(3.182446305284263, 9);
    expect(studentTQuantile(0.975, 10)).toBeCloseTo(2.228138851986274, 9);
    expect(studentTQuantile(0.975, 30)).toBeCloseTo(2.042272456301238, 9);
    expect(studentTQuantile(0.975, 1e7)).toBeCloseTo(1.959963984540054, 5);
    expect(studentTQuantile(0.025, 3)).toBeCloseTo(-3.182446305284263, 9);
    // The CDF of 1 dof is 1/2 + atan(t)/pi.
    for (const t of [-3, -0.5, 0.2, 4]) expect(studentTCdf(t, 1)).toBeCloseTo(0.5 + Math.atan(t) / Math.PI, 12);
  });

  const widths = [100, 300, 1000, 3000, 10000];
  it('an exact power law is fitted exactly; a noisy one agrees with the normal equations on raw sums', () => {
    const exact = powerLawFit(widths, widths.map((m) => 3 * m ** -0.5));
    expect(exact.exponent).toBeCloseTo(-0.5, 12);
    expect(exact.prefactor).toBeCloseTo(3, 10);
    expect(exact.stdErr).toBeLessThan(1e-12);
    expect(exact.r2).toBeCloseTo(1, 12);
    const noise = [0.1, -0.05, 0.02, -0.08, 0.03];
    const ys = widths.map((m, i) => 2 * m ** -0.5 * Math.exp(noise[i]!));
    const f = powerLawFit(widths, ys);
    // Oracle: beta = (X^T X)^-1 X^T y with X = [1, ln m], cov = s^2 (X^T X)^-1, from raw sums.
    const lx = widths.map(Math.log);
    const ly = ys.map(Math.log);
    const n = widths.length;
    const [s1, sx, sxx, sy, sxy] = [n, lx.reduce((a, b) => a + b), lx.reduce((a, b) => a + b * b, 0), ly.reduce((a, b) => a + b), lx.reduce((a, b, i) => a + b * ly[i]!, 0)];
    const det = s1 * sxx - sx * sx;
    const b = (s1 * sxy - sx * sy) / det;
    const a = (sxx * sy - sx * sxy) / det;
    const res = ly.map((v, i) => v - a - b * lx[i]!);
    const s2 = res.reduce((acc, r) => acc + r * r, 0) / (n - 2);
    const se = Math.sqrt((s2 * s1) / det);
    const my = sy / n;
    const r2 = 1 - res.reduce((acc, r) => acc + r * r, 0) / ly.reduce((acc, v) => acc + (v - my) ** 2, 0);
    expect(f.exponent).toBeCloseTo(b, 12);
    expect(f.stdErr).toBeCloseTo(se, 12);
    expect(f.r2).toBeCloseTo(r2, 12);
    expect(f.prefactor).toBeCloseTo(Math.exp(a), 10);
    expect(f.t).toBeCloseTo(3.182446305284263, 9);
    expect(f.lo).toBeCloseTo(b - 3.182446305284263 * se, 9);
    expect(f.hi).toBeCloseTo(b + 3.182446305284263 * se, 9);
    expect(f.stdErr).toBeGreaterThan(0.01); // the noise is seen
    expect(() => powerLawFit([1, 2], [1, 2])).toThrow(/three/);
    expect(() => powerLawFit([1, 2, 3], [1, 0, 2])).toThrow(/positive/);
    expect(() => powerLawFit([2, 2, 2], [1, 2, 3])).toThrow(/same/);
  });

  // Runs that differ in model.width; column c ends at width^p.
  const runsWith = (p: number): CheckInputs => ({
    runs: widths.map((m) => fakeRun({ step: [0, 1], c: [1, 5 * m ** p * (1 + 0.01 * Math.sin(m))] })),
    specs: widths.map((m) => ({ model: { width: m } })),
  });
  const points = widths.map((_, i) => ({ x: { run: i, spec: 'model.width' }, y: { run: i, column: 'c', reduce: 'last' as const } }));
  it('the check passes within the tolerance of the target and fails outside it (a finding when marked so)', () => {
    const check: Check = { kind: 'powerLaw', points, target: -0.5, absTol: 0.1, finding: 'exponent off' };
    const ok = runCheck(check, runsWith(-0.5));
    expect(ok.pass, ok.text).toBe(true);
    expect(ok.text).toMatch(/^exponent of last c against model\.width over 5 points: b = -0\.49\d* \+- 0\.00\d+ \(95% interval \[-0\.50\d*, -0\.49\d*\], t\(3\) = 3\.182\), r\^2 = 0\.99\d*, n = 5; within 0\.1 of -0\.5 \(the target is inside the 95% interval\)$/);
    const bad = runCheck(check, runsWith(-0.3));
    expect(bad.pass, bad.text).toBe(false);
    expect(bad.text).toMatch(/b = -0\.(29|30)\d*.*not within 0\.1 of -0\.5 \(the target is outside/);
    const [row] = checkReferences([{ claim: 'c ~ m^-1/2', checks: [check] }], runsWith(-0.3));
    expect(row!.status).toBe('finding');
    expect(row!.finding).toMatch(/^exponent off \(b = -0\.(29|30)\d* \+- 0\.0\d+\)$/);
    const [plain] = checkReferences([{ claim: 'c ~ m^-1/2', checks: [{ ...check, finding: undefined } as Check] }], runsWith(-0.3));
    expect(plain!.status).toBe('disagrees');
  });
  it('without a target the fit is shown; stats as quantities; too few points, a zero or a missing spec is incomplete', () => {
    const shown = runCheck({ kind: 'powerLaw', points }, runsWith(-1));
    expect(shown.shown).toBe(true);
    expect(shown.text).toMatch(/b = -1\.0\d*|b = -0\.99\d*/);
    const q = (stat: 'exponent' | 'stdErr' | 'r2' | 'points'): Check => ({ kind: 'show', of: { fit: 'powerLaw', points, stat } });
    expect(runCheck(q('points'), runsWith(-1)).text).toMatch(/= 5$/);
    expect(runCheck({ kind: 'near', of: { fit: 'powerLaw', points, stat: 'exponent' }, to: -1, absTol: 0.01 }, runsWith(-1)).pass).toBe(true);
    expect(runCheck({ kind: 'powerLaw', points: points.slice(0, 2), target: -0.5 }, runsWith(-0.5)).pass).toBeNull();
    const zero = runsWith(-0.5);
    (zero.runs[2]!.columns['c'] as Float64Array)[1] = 0;
    const z = runCheck({ kind: 'powerLaw', points, target: -0.5 }, zero);
    expect(z.pass, z.text).toBeNull();
    expect(z.text).toMatch(/positive/);
    expect(runCheck({ kind: 'powerLaw', points, target: -0.5 }, { runs: runsWith(-0.5).runs }).pass).toBeNull();
    // A missing run makes the row incomplete.
    const partial = runsWith(-0.5);
    const [row] = checkReferences([{ checks: [{ kind: 'powerLaw', points, target: -0.5, absTol: 0.1 }] }], { ...partial, runs: partial.runs.slice(0, 4) });
    expect(row!.status).toBe('incomplete');
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

describe('theory lines on run-column plots', () => {
  it('a recorded column and a geometric envelope from a study quantity, dotted in the run\'s color', () => {
    const p: Preset = normalizePreset({
      name: 'x',
      runs: [
        { label: 'a', spec: { eta: 0.1 } },
        { label: 'b', spec: { eta: 0.1 } },
      ],
      plots: [
        {
          title: 'loss',
          column: 'loss',
          logY: true,
          theory: [
            { label: 'env a', run: 0, column: 'env' },
            { label: '(1 - 0.1 lambda/2)^k L0, b', run: 1, rate: { study: 0, column: 'lambdaMin', reduce: 'first', scale: -0.05, offset: 1 } },
            { label: 'missing study', run: 1, rate: { study: 5, column: 'lambdaMin', reduce: 'first' } },
          ],
        },
      ],
      studies: [{ label: 'K', spec: {} }],
      studyTable: [],
    });
    const runA = fakeRun({ step: [0, 10, 20], loss: [4, 2, 1], env: [4, 3, 2.5] });
    const runB = fakeRun({ step: [5, 15, 25], loss: [8, 4, 2], env: [8, 7, 6] });
    const study = { label: 'K', spec: {}, result: { columns: { lambdaMin: Float64Array.from([0.4]) }, finished: true } } as never;
    const panel = presetFigure(p, [{ label: 'a', spec: {} as never, result: runA }, { label: 'b', spec: {} as never, result: runB }], [study]).panels[0]!;
    expect(panel.series.map((s) => [s.label, s.theory === true, s.theoryOf])).toEqual([
      ['a', false, undefined],
      ['b', false, undefined],
      ['env a', true, 'a'],
      ['(1 - 0.1 lambda/2)^k L0, b', true, 'b'],
    ]);
    expect(Array.from(panel.series[2]!.y)).toEqual([4, 3, 2.5]);
    // y_0 rate^(k - k_0): rate 1 - 0.05 x 0.4 = 0.98, from the run's first step.
    const env = Array.from(panel.series[3]!.y);
    [0, 10, 20].forEach((dk, i) => expect(env[i]).toBeCloseTo(8 * 0.98 ** dk, 12));
    const vl = figureToVegaLite({ panels: [panel] });
    const layer = (vl['concat'] as { layer: { encoding: { color: { scale: { domain: string[]; range: string[] } }; strokeDash: { scale: { range: number[][] } } } }[] }[])[0]!.layer[0]!;
    const dom = layer.encoding.color.scale.domain;
    expect(dom).toEqual(['a', 'b', 'env a', '(1 - 0.1 lambda/2)^k L0, b']);
    const color = layer.encoding.color.scale.range;
    const dash = layer.encoding.strokeDash.scale.range;
    expect(color[2]).toBe(color[0]);
    expect(color[3]).toBe(color[1]);
    expect(color[0]).not.toBe(color[1]);
    expect(dash[2]).toEqual([1, 3]);
    expect(dash[3]).toEqual([1, 3]);
    expect(dash[0]).not.toEqual([1, 3]);
    expect(dash[1]).not.toEqual([1, 3]);
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
