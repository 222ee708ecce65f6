// The chapter-7 presets (figure73, figure74: GD and perturbed GD on the octopus function,
// crates/core/src/presets/du_2019_ch7.rs) and the generic pieces they added: the `stepGrowth`
// sweep quantity and the `requires` check (packages/autobalance/src/checks.ts), string values in
// `where`, and the `keptProfile` / `staircase` plots and theory curves (sweep-report.ts). The
// generic pieces are tested on hand-made tables whose answers are known; the presets run their
// quick variants (fewer random starts) on the backend of this pass, and figure73 its full protocol.
import { describe, expect, it } from 'vitest';

import {
  type Check,
  type CheckInputs,
  type SweepPlan,
  type SweepSettingRow,
  type SweepTable,
  applyOverrides,
  checkReferences,
  presetChecks,
  presetHtml,
  presetReport,
  presetSpec,
  presetVegaLite,
  runCheck,
  runPreset,
  runsToCsv,
  sweepVegaLite,
} from 'autobalance';

import { BACKEND } from './helpers.js';

/** A kept statistic with the given quartiles (count 5, no missing unless said). */
function stat(q1: number, med: number, q3: number, missing = 0): SweepSettingRow['kept'][string] {
  return { count: 5 - missing, missing, mean: med, std: 1, min: q1, max: q3, quantiles: [[0.25, q1], [0.5, med], [0.75, q3]] };
}

/**
 * Two methods (a zip axis with a string member) x one L; escape1..escape4 geometric with factor 3
 * for `gd` (steps 10, 30, 90 after escape1 = 5) and equal steps of 20 for `pgd`.
 */
function table(runs = 5, missing = 0): { plan: SweepPlan; table: SweepTable } {
  const names = ['escape1', 'escape2', 'escape3', 'escape4'];
  const plan: SweepPlan = {
    runs: 2 * runs,
    settings: 2,
    seedsPerSetting: runs,
    axes: [
      { paths: ['model.L'], values: [[2]] },
      { paths: ['method', 'model.arithmetic'], values: [[{ kind: 'gd' }, { kind: 'pgd' }], ['logScale', 'float']] },
    ],
    seedPaths: ['init.seed'],
    seedBase: 0,
    kept: [...names, 'finalLoss'],
    classes: ['escapedAll', 'other'],
    quantiles: [0.25, 0.5, 0.75],
    confidence: 0.95,
    hash: '0000000000000000',
  };
  const gd = [5, 15, 45, 135];
  const pgd = [20, 40, 60, 80];
  const row = (setting: number, arithmetic: string, e: number[]): SweepSettingRow => ({
    setting,
    values: { 'model.L': 2, method: { kind: setting === 0 ? 'gd' : 'pgd' }, 'model.arithmetic': arithmetic },
    runs,
    stops: { finished: runs },
    kept: { ...Object.fromEntries(names.map((n, k) => [n, stat(e[k]! - 1, e[k]!, e[k]! + 1, k === 3 ? missing : 0)])), finalLoss: stat(-1, -1, -1) },
    classes: { escapedAll: { count: runs - missing, p: 1, lo: 0.5, hi: 1 }, other: { count: missing, p: 0, lo: 0, hi: 0.5 } },
  });
  return { plan, table: { plan, settings: [row(0, 'logScale', gd), row(1, 'float', pgd)], complete: true, stopped: null } };
}

describe('stepGrowth, requires and string where (hand-made table)', () => {
  it('fits the growth factor of the staircase steps: 3 for geometric steps, 1 for equal ones', () => {
    const inputs: CheckInputs = { runs: [], sweep: { table: table().table } };
    const g = (arith: string, through = 'escape4'): Check => ({
      kind: 'show',
      of: { sweep: 'stepGrowth', name: 'escape1', through, where: { 'model.L': 2, 'model.arithmetic': arith } },
    });
    expect(runCheck(g('logScale'), inputs).text).toMatch(/growth factor of the steps of median escape1\.\.escape4 at \[model\.L = 2, model\.arithmetic = logScale\] = 3$/);
    expect(runCheck(g('float'), inputs).text).toMatch(/= 1$/);
    const near: Check = { kind: 'near', of: { sweep: 'stepGrowth', name: 'escape1', through: 'escape4', where: { 'model.arithmetic': 'logScale' } }, to: 3, relTol: 1e-12 };
    expect(runCheck(near, inputs).pass).toBe(true);
    // Two steps at least; one setting exactly; every step positive.
    expect(runCheck(g('logScale', 'escape2'), inputs)).toMatchObject({ pass: null, text: expect.stringMatching(/at least two steps/) });
    expect(runCheck({ kind: 'show', of: { sweep: 'stepGrowth', name: 'escape1', through: 'escape4' } }, inputs)).toMatchObject({ pass: null, text: expect.stringMatching(/2 settings match/) });
    const t = table().table;
    t.settings[1]!.kept['escape3'] = stat(39, 40, 41);
    expect(runCheck(g('float'), { runs: [], sweep: { table: t } })).toMatchObject({ pass: null, text: expect.stringMatching(/escape3 - escape2 of setting 1 is 0, not positive/) });
    // A string in `where` matches by equality only.
    expect(runCheck({ kind: 'show', of: { sweep: 'kept', name: 'escape4', stat: 'median', where: { 'model.arithmetic': 'log' } } }, inputs).pass).toBeNull();
  });

  it('requires: a precondition that holds passes; one that fails makes the row incomplete, never judged', () => {
    const runsMin = { sweep: 'class', name: 'escapedAll', stat: 'runs', reduce: 'min' } as const;
    const full: Check = { kind: 'requires', of: runsMin, atLeast: 5, why: 'the full protocol' };
    const ok: Check = { kind: 'atMost', of: { sweep: 'kept', name: 'escape4', stat: 'median', where: { 'model.arithmetic': 'float' } }, bound: 100 };
    const bad: Check = { kind: 'atMost', of: { sweep: 'kept', name: 'escape4', stat: 'median', where: { 'model.arithmetic': 'float' } }, bound: 10 };
    const allEscaped: Check = { kind: 'requires', of: { sweep: 'kept', name: 'escape4', stat: 'missing', reduce: 'max' }, atMost: 0 };
    const mark = (t: SweepTable, checks: Check[]): string => checkReferences([{ claim: 'x', checks }], { runs: [], sweep: { table: t } })[0]!.status;
    expect(mark(table().table, [full, ok])).toBe('agrees');
    expect(mark(table().table, [full, bad])).toBe('disagrees');
    // Fewer random starts than the protocol: not judged, even where the comparison would fail.
    expect(mark(table(3).table, [full, ok])).toBe('incomplete');
    expect(mark(table(3).table, [full, bad])).toBe('incomplete');
    const o = runCheck(full, { runs: [], sweep: { table: table(3).table } });
    expect(o).toEqual({ pass: null, text: 'not judged: requires runs min over [all settings] >= 5, got 3 (the full protocol)' });
    expect(runCheck(full, { runs: [], sweep: { table: table().table } }).text).toBe('requires runs min over [all settings] = 5 >= 5 (the full protocol)');
    // Runs that never reached the last saddle's escape.
    expect(mark(table(5, 2).table, [allEscaped, ok])).toBe('incomplete');
    expect(mark(table(5, 0).table, [allEscaped, ok])).toBe('agrees');
  });
});

interface Layer {
  mark: { type: string; interpolate?: string };
  encoding: { y: { scale: { type?: string } }; x: { scale: { type?: string } } };
}
interface Panel {
  title: string;
  data: { values: { series: string; x: number; y: number | null; lo: number | null; hi: number | null }[] };
  layer: Layer[];
}

describe('keptProfile, staircase and theory curves (hand-made table)', () => {
  it('draws the kept values per series with quartile bands, the staircase with step-after lines, theory beside lines', () => {
    const { plan, table: t } = table();
    const series = { path: 'model.arithmetic', title: 'method', labels: ['GD', 'PGD'] };
    const names = ['escape1', 'escape2', 'escape3', 'escape4'];
    const vl = sweepVegaLite({
      plan,
      table: t,
      plots: [
        { kind: 'keptProfile', title: 'escape per saddle', kept: names, where: { 'model.L': 2 }, series, logY: true, xTitle: 'saddle k' },
        { kind: 'staircase', title: 'staircase', kept: names, levels: [0, -1, -2, -3, -4], where: { 'model.L': 2 }, series },
        { kind: 'lines', x: { path: 'model.L' }, series, value: { kept: 'escape4', stat: 'median' }, logY: true, theory: [{ label: 'bound', x: [2], y: [100] }] },
      ],
    });
    const [profile, stairs, lines] = vl['concat'] as Panel[];
    // Profile: x = 1..4, y = the medians, band = quartiles; log y.
    const gd = profile!.data.values.filter((r) => r.series === 'GD');
    expect(gd.map((r) => [r.x, r.y, r.lo, r.hi])).toEqual([
      [1, 5, 4, 6],
      [2, 15, 14, 16],
      [3, 45, 44, 46],
      [4, 135, 134, 136],
    ]);
    expect(profile!.layer[1]!.encoding.y.scale.type).toBe('log');
    // Staircase: level k from the end of step k - 1 (x = 1 first) on, the last level to twice the last end.
    const pg = stairs!.data.values.filter((r) => r.series === 'PGD');
    expect(pg.map((r) => [r.x, r.y])).toEqual([
      [1, 0],
      [20, -1],
      [40, -2],
      [60, -3],
      [80, -4],
      [160, -4],
    ]);
    expect(stairs!.layer.find((l) => l.mark.type === 'line')?.mark.interpolate).toBe('step-after');
    expect(stairs!.layer[1]!.encoding.x.scale.type).toBe('log');
    // Lines: the two methods plus the theory curve, log y.
    expect([...new Set(lines!.data.values.map((r) => r.series))]).toEqual(['GD', 'PGD', 'bound']);
    expect(lines!.data.values.find((r) => r.series === 'bound')).toMatchObject({ x: 2, y: 100 });
    expect(lines!.layer[1]!.encoding.y.scale.type).toBe('log');
  });
});

/** The escape iterations of every setting, for the record. */
function summary(t: SweepTable, d: number): string {
  return t.settings
    .map((r) => `${JSON.stringify(r.values['model.L'])} ${String(r.values['model.arithmetic'])}: ${Array.from({ length: d }, (_, k) => r.kept[`escape${k + 1}`]?.quantiles.find(([p]) => p === 0.5)?.[1]).join(' ')}`)
    .join('\n');
}

describe(`chapter 7 presets on ${BACKEND}`, () => {
  it('figure73 and figure74 are listed sweeps over L x method with the protocol of docs/saddle-escape.md', async () => {
    for (const [name, d] of [
      ['figure73', 5],
      ['figure74', 10],
    ] as const) {
      const p = await presetSpec(name, { backend: BACKEND });
      const spec = p.sweep!.spec;
      expect(spec.seeds?.count).toBe(50);
      expect((spec.base as unknown as { model: { d: number } }).model.d).toBe(d);
      expect(spec.keep?.map((k) => k.name)).toEqual([...Array.from({ length: d }, (_, k) => `escape${k + 1}`), 'finalLoss', 'underflowAt']);
      expect(p.sweep!.plots.map((x) => x.kind)).toEqual([...Array(4).fill(['staircase', 'keptProfile']).flat(), 'lines']);
      // --steps sets every run's steps, the methods' zip axis included.
      const short = applyOverrides(p, { steps: 7 });
      const zip = (short.sweep!.spec.axes[1] as { zip: { path: string; values: unknown[] }[] }).zip;
      expect(zip.find((m) => m.path === 'steps')?.values).toEqual([7, 7]);
    }
  });

  // The quick variant: 3 random starts per setting (24 runs). Claims over medians need the full
  // protocol and are not judged; the lower bound is a statement about every run and is.
  it('figure73 quick (3 starts per setting): protocol claims incomplete, the bound judged; report files', async () => {
    const preset = applyOverrides(await presetSpec('figure73', { backend: BACKEND }), { seedsPerSetting: 3 });
    const outcome = await runPreset(preset, { backend: BACKEND });
    const t = outcome.sweep!.table;
    expect(t.complete).toBe(true);
    expect(t.settings.length).toBe(8);
    for (const r of t.settings) expect(r.classes['escapedAll']?.count, summary(t, 5)).toBe(3);
    const checked = presetChecks(preset, outcome);
    const byClaim = (re: RegExp): (typeof checked)[number] => checked.find((c) => re.test(c.claim ?? ''))!;
    for (const re of [/grows exponentially/, /coincides/, /GD with step eta/, /PGD's time per saddle/, /PGD converges faster/]) {
      const c = byClaim(re);
      expect(c.status, c.outcomes.map((o) => o.text).join('\n')).toBe('incomplete');
      expect(c.outcomes[0]?.text).toMatch(/^not judged: requires runs min over \[all settings\] >= 50, got 3/);
    }
    // 3 of 50 starts: the bound and the end point hold on every run, but a shortened protocol is
    // never judged.
    expect(preset.shortened).toBe('3 of 50 seeds per setting');
    for (const c of [byClaim(/needs at least/), byClaim(/end at the minimum/)]) {
      expect(c.status, c.outcomes.map((o) => o.text).join('\n')).toBe('shortened');
      for (const o of c.outcomes) expect(o.pass, o.text).toBe(true);
    }
    const csv = runsToCsv(outcome.runs).trimEnd().split('\n');
    expect(csv.length).toBe(9);
    expect(csv[0]).toMatch(/^setting,model\.L,schedule\.eta,method,model\.arithmetic,steps,recordEvery,runs,/);
    const vl = presetVegaLite(preset, outcome.runs);
    expect((vl['concat'] as unknown[]).length).toBe(9);
    const meta = { backend: outcome.backend, coreVersion: 'test', cancelled: false };
    const html = await presetHtml(preset, outcome, meta, '<svg></svg>');
    expect(html).toContain('24 runs = 8 settings x 3 seed(s)');
    expect(html).toContain('not judged');
    expect(presetReport(preset, outcome, meta).sweep?.table.settings.length).toBe(8);
  }, 120_000);

  // The full protocol (50 starts per setting, 400 runs: about a second natively, two on wasm):
  // the marks of docs/saddle-escape.md, with the growth factors near the discrete-time kappa.
  for (const [name, d] of [
    ['figure73', 5],
    ['figure74', 10],
  ] as const) {
    it(`${name} (full protocol): marks, growth factors, totals`, async () => {
      const preset = await presetSpec(name, { backend: BACKEND });
      const outcome = await runPreset(preset, { backend: BACKEND });
      const t = outcome.sweep!.table;
      expect(t.complete).toBe(true);
      for (const r of t.settings) expect(r.classes['escapedAll']?.count, summary(t, d)).toBe(50);
      const checked = presetChecks(preset, outcome);
      const text = checked.map((c) => `${c.status} ${c.claim}\n${c.outcomes.map((o) => `  ${o.text}`).join('\n')}`).join('\n');
      expect(checked.map((c) => c.status), text).toEqual(['agrees', 'disagrees', 'agrees', 'agrees', 'agrees', 'agrees', 'agrees', 'cannotCompare']);
      // The disagreement is with (L + gamma)/gamma only: every fitted factor is within 1% of kappa.
      for (const o of checked[2]!.outcomes.slice(2)) {
        const m = /= ([\d.]+) within 10% of ([\d.]+)$/.exec(o.text);
        expect(m, o.text).not.toBeNull();
        expect(Math.abs(Number(m![1]) / Number(m![2]) - 1), o.text).toBeLessThan(0.01);
      }
    }, 120_000);
  }

  it('a run cut short (--steps 40) leaves escapes missing: those claims are incomplete, not judged', async () => {
    const preset = applyOverrides(await presetSpec('figure73', { backend: BACKEND }), { seedsPerSetting: 2, steps: 40 });
    const outcome = await runPreset(preset, { backend: BACKEND });
    const checked = presetChecks(preset, outcome);
    const bound = checked.find((c) => /needs at least/.test(c.claim ?? ''))!;
    expect(bound.status).toBe('incomplete');
    expect(bound.outcomes[0]?.text).toMatch(/^not judged: requires missing escape5 max over/);
    for (const c of checked) expect(['incomplete', 'cannotCompare']).toContain(c.status);
  }, 60_000);
});
