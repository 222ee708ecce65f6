// The paper-beside-ours checks (packages/autobalance/src/checks.ts) and the presets' own checks,
// run on the backend of this pass: every check of a preset that runs in seconds must agree (or say
// why it cannot be compared); a shortened run must make the checks fail; the check evaluator is
// tested on hand-made results whose answers are known.
import { describe, expect, it } from 'vitest';

import {
  type Check,
  type CheckInputs,
  type HessianReport,
  type RunResult,
  type SweepSettingRow,
  type SweepTable,
  applyOverrides,
  checkReferences,
  presetChecks,
  presetHtml,
  presetList,
  presetReport,
  presetRunJson,
  PRESET_PARAMS_LIMIT,
  presetSpec,
  presetVegaLite,
  runCheck,
  runPreset,
  runsToCsv,
  wilsonInterval,
} from 'autobalance';

import { BACKEND } from './helpers.js';

/** A finished run with the given columns (only what the checks read). */
function fakeRun(columns: Record<string, number[]>, finished = true): RunResult {
  const cols = Object.fromEntries(Object.entries(columns).map(([k, v]) => [k, Float64Array.from(v)]));
  return {
    backend: BACKEND,
    step: 0,
    steps: 0,
    rows: columns['step']?.length ?? 0,
    finished,
    cancelled: !finished,
    stop: finished ? 'finished' : null,
    divergedAt: null,
    stoppedAt: null,
    reason: null,
    loss: null,
    columnNames: Object.keys(columns),
    // The checks find the step column by its role.
    columnRoles: Object.fromEntries(Object.keys(columns).map((k) => [k, k === 'step' ? 'step' : 'other'])),
    columns: cols,
  } as unknown as RunResult;
}

const run0 = fakeRun({ step: [0, 10, 20, 30], loss: [4, 2, 2, 1], ratio: [1.3, 1.0, NaN, 1.01], d: [0.5, -0.7, 0.2, 0.1] });
const inputs: CheckInputs = {
  runs: [run0, fakeRun({ step: [0, 10], loss: [5, 6] })],
  hessian: [{ what: 'classify', lambdaMin: -3, verdict: { kind: 'strictSaddle' }, zeroCount: 9 } as unknown as HessianReport],
};

describe('check evaluator', () => {
  it('reduces columns (first, last, min, max, maxAbs, windows, at, firstStepAtMost), skipping NaN', () => {
    const cases: [Check, boolean, RegExp][] = [
      [{ kind: 'atMost', of: { run: 0, column: 'loss', reduce: 'last' }, bound: 1 }, true, /last loss \[run 0\] = 1 <= 1/],
      [{ kind: 'atMost', of: { run: 0, column: 'loss', reduce: 'first' }, bound: 3.9 }, false, /= 4 > 3\.9/],
      [{ kind: 'atLeast', of: { run: 0, column: 'loss', reduce: 'min' }, bound: 1 }, true, /min loss/],
      [{ kind: 'atMost', of: { run: 0, column: 'd', reduce: 'maxAbs' }, bound: 0.69 }, false, /max \|d\| \[run 0\] = 0\.7 > 0\.69/],
      [{ kind: 'atMost', of: { run: 0, column: 'ratio', reduce: 'max', from: 10 }, bound: 1.01 }, true, /from step 10/],
      [{ kind: 'atMost', of: { run: 0, column: 'ratio', reduce: 'max' }, bound: 1.01 }, false, /= 1\.3 >/],
      [{ kind: 'near', of: { run: 0, column: 'loss', reduce: 'at', step: 25 }, to: 2, relTol: 0 }, true, /loss at step 25/],
      [{ kind: 'equals', of: { run: 0, column: 'loss', reduce: 'firstStepAtMost', value: 2 }, value: 10 }, true, /first step with loss <= 2/],
      [{ kind: 'atMost', of: { run: 0, column: 'loss', reduce: 'firstStepAtMost', value: 0.5 }, bound: 1e9 }, false, /= Infinity/],
      // A bound that is itself a quantity, scaled.
      // Each side prints its own value: the scaled bound shows the value before the scale too.
      [{ kind: 'atMost', of: { run: 0, column: 'loss', reduce: 'last' }, bound: { run: 0, column: 'loss', reduce: 'first', scale: 0.25 } }, true, /^last loss \[run 0\] = 1 <= 0\.25 x \(first loss \[run 0\] = 4\) = 1$/],
      [{ kind: 'atMost', of: { run: 0, column: 'loss', reduce: 'firstStepAtMost', value: 2 }, bound: { run: 0, column: 'loss', reduce: 'firstStepAtMost', value: 2, scale: 10 } }, true, /^first step with loss <= 2 \[run 0\] = 10 <= 10 x \(first step with loss <= 2 \[run 0\] = 10\) = 100$/],
      [{ kind: 'near', of: { run: 0, column: 'ratio', reduce: 'last' }, to: 1, relTol: 0.005 }, false, /not within 0\.5% of 1/],
      [{ kind: 'near', of: { run: 0, column: 'ratio', reduce: 'last' }, to: 1, absTol: 0.02 }, true, /within 0\.02 of 1/],
      [{ kind: 'nonIncreasing', run: 0, column: 'loss' }, true, /never increases over 4/],
      [{ kind: 'nonIncreasing', run: 1, column: 'loss' }, false, /rises by 1 at step 10/],
      [{ kind: 'equals', of: { hessian: 0, field: 'verdict.kind' }, value: 'strictSaddle' }, true, /verdict\.kind \[curvature 0\] = strictSaddle/],
      [{ kind: 'equals', of: { hessian: 0, field: 'zeroCount' }, value: 8 }, false, /= 9, expected 8/],
      [{ kind: 'near', of: { hessian: 0, field: 'lambdaMin' }, to: { value: -3 }, relTol: 1e-12 }, true, /lambdaMin/],
    ];
    for (const [c, pass, text] of cases) {
      const o = runCheck(c, inputs);
      expect(o.pass, JSON.stringify(c)).toBe(pass);
      expect(o.text).toMatch(text);
    }
  });

  it('says what is missing instead of guessing', () => {
    const missing: [Check, RegExp][] = [
      [{ kind: 'atMost', of: { run: 2, column: 'loss', reduce: 'last' }, bound: 1 }, /run 2 was not run/],
      [{ kind: 'atMost', of: { run: 0, column: 'nope', reduce: 'last' }, bound: 1 }, /no column nope/],
      [{ kind: 'atMost', of: { run: 0, column: 'loss', reduce: 'at', step: 99 }, bound: 1 }, /ended at step 30, before step 99/],
      [{ kind: 'atMost', of: { run: 0, column: 'loss', reduce: 'max', from: 100 }, bound: 1 }, /no loss values in the window/],
      [{ kind: 'equals', of: { hessian: 1, field: 'side' }, value: 'x' }, /curvature report 1 was not computed/],
      [{ kind: 'equals', of: { hessian: 0, field: 'verdict.nope' }, value: 'x' }, /no field verdict\.nope/],
    ];
    for (const [c, text] of missing) {
      const o = runCheck(c, inputs);
      expect(o.pass).toBeNull();
      expect(o.text).toMatch(text);
    }
  });

  it('marks rows: agrees, DISAGREES, cannot compare, not checked, incomplete', () => {
    const ok: Check = { kind: 'atMost', of: { run: 0, column: 'loss', reduce: 'last' }, bound: 1 };
    const bad: Check = { kind: 'atMost', of: { run: 0, column: 'loss', reduce: 'last' }, bound: 0.5 };
    const onUnfinished: Check = { kind: 'atMost', of: { run: 1, column: 'loss', reduce: 'last' }, bound: 100 };
    const rows = checkReferences(
      [
        { claim: 'a', checks: [ok, ok] },
        { claim: 'b', checks: [ok, bad] },
        { claim: 'c', checks: [bad], cannotCompare: 'no numbers' },
        { claim: 'd' },
        { claim: 'e', checks: [ok, { kind: 'atMost', of: { run: 0, column: 'nope', reduce: 'last' }, bound: 1 }] },
        { claim: 'f', checks: [onUnfinished] },
      ],
      { ...inputs, runs: [run0, fakeRun({ step: [0, 10], loss: [5, 6] }, false)] },
    );
    expect(rows.map((r) => r.status)).toEqual(['agrees', 'disagrees', 'cannotCompare', 'notChecked', 'incomplete', 'incomplete']);
    expect(rows[2]?.outcomes[0]?.pass).toBe(false);
    // A shortened protocol judges nothing: agrees and disagrees both become shortened, the rest stay.
    const cut = checkReferences(
      [{ claim: 'a', checks: [ok, ok] }, { claim: 'b', checks: [ok, bad] }, { claim: 'c', checks: [bad], cannotCompare: 'no numbers' }, { claim: 'd' }, { claim: 'f', checks: [onUnfinished] }],
      { ...inputs, runs: [run0, fakeRun({ step: [0, 10], loss: [5, 6] }, false)], shortened: '10 of 100 steps' },
    );
    expect(cut.map((r) => r.status)).toEqual(['shortened', 'shortened', 'cannotCompare', 'notChecked', 'incomplete']);
    expect(cut[1]?.outcomes.map((o) => o.pass)).toEqual([true, false]);
  });
});

/** A reduced table of 2 x 2 settings (eta x std), 10 runs each, `linear` counts as given. */
function fakeTable(linear: number[], complete = true): SweepTable {
  const settings: SweepSettingRow[] = [];
  [0.1, 1.5].forEach((eta, i) =>
    [0.001, 0.1].forEach((std, j) => {
      const k = linear[2 * i + j] as number;
      const [lo, hi] = wilsonInterval(k, 10);
      settings.push({
        setting: 2 * i + j,
        values: { 'schedule.eta': eta, 'init.stdU': std, 'init.stdV': std },
        runs: 10,
        stops: { finished: 10 },
        kept: { t10: k > 0 ? { count: k, missing: 10 - k, mean: 100 * (i + 1), std: 1, min: 90, max: 110, quantiles: [[0.1, 95], [0.5, 100 * (i + 1) + j], [0.9, 105]] } : { count: 0, missing: 10, mean: null, std: null, min: null, max: null, quantiles: [[0.5, null]] } },
        classes: { linear: { count: k, p: k / 10, lo, hi }, other: { count: 10 - k, p: 1 - k / 10, ...Object.fromEntries(wilsonInterval(10 - k, 10).map((v, m) => [m === 0 ? 'lo' : 'hi', v])) } as { count: number; p: number; lo: number; hi: number } },
      });
    }),
  );
  const plan = { runs: 40, settings: 4, seedsPerSetting: 10, axes: [{ paths: ['schedule.eta'], values: [[0.1, 1.5]] }, { paths: ['init.stdU', 'init.stdV'], values: [[0.001, 0.1], [0.001, 0.1]] }], seedPaths: ['init.seed'], seedBase: 0, kept: ['t10'], classes: ['linear', 'other'], quantiles: [0.1, 0.5, 0.9], confidence: 0.95, hash: '0000000000000000' };
  return { plan, settings: complete ? settings : settings.slice(0, 2), complete, stopped: complete ? null : 'cancelled' };
}

describe('sweep checks on a reduced table', () => {
  it('computes the Wilson interval', () => {
    const [lo, hi] = wilsonInterval(7, 10);
    expect(lo).toBeCloseTo(0.3968, 4);
    expect(hi).toBeCloseTo(0.8922, 4);
    expect(wilsonInterval(0, 0)).toEqual([0, 1]);
    const [lo99] = wilsonInterval(100, 100, 0.99);
    expect(lo99).toBeCloseTo(100 / (100 + 2.5758293035489 ** 2), 8);
  });

  it('reads a setting, the min/max over settings, and pools classes', () => {
    const sweep = { table: fakeTable([10, 8, 0, 0]) };
    const inputs: CheckInputs = { runs: [], sweep };
    const cases: [Check, boolean | null, RegExp][] = [
      [{ kind: 'atLeast', of: { sweep: 'class', name: 'linear', stat: 'p', where: { 'schedule.eta': 0.1, 'init.stdU': 0.001 } }, bound: 1 }, true, /P\(linear\) at \[schedule\.eta = 0\.1, init\.stdU = 0\.001\] = 1 >= 1/],
      [{ kind: 'atLeast', of: { sweep: 'class', name: 'linear', stat: 'p', where: { 'schedule.eta': { le: 0.5 } }, reduce: 'min' }, bound: 0.9 }, false, /min over \[schedule\.eta <= 0\.5\] = 0\.8 < 0\.9/],
      // Pooled: 18 of 20.
      [{ kind: 'atLeast', of: { sweep: 'class', name: 'linear', stat: 'lo', where: { 'schedule.eta': { le: 0.5 } }, reduce: 'pool' }, bound: wilsonInterval(18, 20)[0] }, true, /Wilson lo of P\(linear\) pooled over/],
      [{ kind: 'atMost', of: { sweep: 'class', name: 'linear', stat: 'p', where: { 'schedule.eta': { ge: 1 } }, reduce: 'max' }, bound: 0 }, true, /max over/],
      [{ kind: 'near', of: { sweep: 'kept', name: 't10', stat: 'median', where: { 'schedule.eta': 0.1, 'init.stdU': 0.1 } }, to: 101, absTol: 0 }, true, /median t10/],
      [{ kind: 'atMost', of: { sweep: 'kept', name: 't10', stat: 'median', where: { 'schedule.eta': 0.1, 'init.stdU': 0.1 } }, bound: { sweep: 'kept', name: 't10', stat: 'mean', where: { 'schedule.eta': 0.1, 'init.stdU': 0.1 }, scale: 2 } }, true, /<= 2 x \(mean t10 at \[schedule\.eta = 0\.1, init\.stdU = 0\.1\] = 100\) = 200$/],
      // Missing: several settings without reduce, none, a null statistic, an unknown class.
      [{ kind: 'atLeast', of: { sweep: 'class', name: 'linear', stat: 'p' }, bound: 0 }, null, /4 settings match \[all settings\], expected one/],
      [{ kind: 'atLeast', of: { sweep: 'class', name: 'linear', stat: 'p', where: { 'schedule.eta': 0.3 } }, bound: 0 }, null, /no setting of the table matches/],
      [{ kind: 'atLeast', of: { sweep: 'kept', name: 't10', stat: 'mean', where: { 'schedule.eta': 1.5, 'init.stdU': 0.1 } }, bound: 0 }, null, /mean t10 of setting 3 is null/],
      [{ kind: 'atLeast', of: { sweep: 'class', name: 'nope', stat: 'p', where: { 'schedule.eta': 0.1, 'init.stdU': 0.1 } }, bound: 0 }, null, /no class nope/],
    ];
    for (const [c, pass, text] of cases) {
      const o = runCheck(c, inputs);
      expect(o.pass, `${JSON.stringify(c)}: ${o.text}`).toBe(pass);
      expect(o.text).toMatch(text);
    }
    expect(runCheck(cases[0]![0], { runs: [] }).text).toMatch(/the sweep was not run/);
  });

  it('marks rows on an incomplete table incomplete', () => {
    const check: Check = { kind: 'atLeast', of: { sweep: 'class', name: 'linear', stat: 'p', where: { 'schedule.eta': 0.1, 'init.stdU': 0.001 } }, bound: 0.5 };
    const ok = checkReferences([{ claim: 'a', checks: [check] }], { runs: [], sweep: { table: fakeTable([10, 8, 0, 0]) } });
    expect(ok[0]?.status).toBe('agrees');
    const part = checkReferences([{ claim: 'a', checks: [check] }], { runs: [], sweep: { table: fakeTable([10, 8, 0, 0], false) } });
    expect(part[0]?.status).toBe('incomplete');
  });
});

describe(`preset checks on ${BACKEND}`, () => {
  it('every preset is listed with a description, and every check names what it reads', async () => {
    const list = await presetList({ backend: BACKEND });
    expect(list.map((p) => p.name)).toEqual(expect.arrayContaining(['figure1', 'figure2', 'theorem31', 'theorem32', 'curvature', 'theorem32sweep']));
    for (const p of list) {
      expect(p.description.length).toBeGreaterThan(20);
      const spec = await presetSpec(p.name, { backend: BACKEND });
      expect(spec.reference.length).toBeGreaterThan(0);
      for (const ref of spec.reference) {
        // Every row is either judged by checks or says why it cannot be.
        expect((ref.checks?.length ?? 0) > 0 || ref.cannotCompare !== undefined, `${p.name}: ${ref.claim}`).toBe(true);
      }
    }
  });

  // The presets that run in seconds, as defined (figure2 takes minutes: its checks are evaluated
  // on a short run below).
  for (const name of ['figure1', 'theorem32', 'curvature', 'theorem31']) {
    it(`${name}: every claim agrees or says why it cannot be compared`, async () => {
      const preset = await presetSpec(name, { backend: BACKEND });
      const outcome = await runPreset(preset, { backend: BACKEND });
      expect(outcome.hessian.every((h) => h !== undefined)).toBe(true);
      const checked = presetChecks(preset, outcome);
      for (const c of checked) {
        expect(['agrees', 'cannotCompare'], `${name}: ${c.claim}: ${c.status}\n${c.outcomes.map((o) => o.text).join('\n')}`).toContain(c.status);
        // Rows that cannot be compared still evaluate every value they show.
        for (const o of c.outcomes) expect(o.pass, o.text).not.toBeNull();
      }
    }, 60_000);
  }

  it('a shortened figure1 run fails its checks (they can fail) and is marked shortened, not judged', async () => {
    const preset = applyOverrides(await presetSpec('figure1', { backend: BACKEND }), { steps: 60 });
    expect(preset.shortened).toBe('60 of 1000 steps');
    const checked = presetChecks(preset, await runPreset(preset, { backend: BACKEND }));
    expect(checked[0]?.status).toBe('shortened');
    expect(checked[0]?.outcomes.some((o) => o.pass === false && /last loss/.test(o.text))).toBe(true);
    // The same run's checks, as if it were the protocol, disagree.
    const unmarked = presetChecks({ ...preset, shortened: undefined } as typeof preset, await runPreset(preset, { backend: BACKEND }));
    expect(unmarked[0]?.status).toBe('disagrees');
  });

  // Shortening can never turn a claim into "agrees" on its own: every preset that runs in
  // seconds, cut to a fraction of its steps, judges no claim; its report, JSON and table say so.
  for (const [name, frac] of [
    ['figure1', 0.5],
    ['theorem32', 0.2],
    ['curvature', 0.5],
    ['theorem31', 0.5],
  ] as const) {
    it(`${name} cut to ${frac * 100}% of its steps: no claim agrees or disagrees; "shortened" in the report`, async () => {
      const full = await presetSpec(name, { backend: BACKEND });
      const steps = Math.floor(Math.min(...full.runs.map((r) => r.spec.steps ?? 0)) * frac);
      const preset = applyOverrides(full, { steps });
      expect(preset.shortened).toMatch(new RegExp(`^${steps} of \\d+(-\\d+)? steps$`));
      const outcome = await runPreset(preset, { backend: BACKEND });
      for (const c of presetChecks(preset, outcome)) expect(['shortened', 'cannotCompare', 'incomplete', 'notChecked'], `${c.claim}: ${c.status}`).toContain(c.status);
      const meta = { backend: outcome.backend, coreVersion: 'test', cancelled: false };
      const json = presetReport(preset, outcome, meta);
      expect(json.shortened).toBe(preset.shortened);
      expect(JSON.stringify(json.reference)).not.toMatch(/"status":"agrees"/);
      const html = await presetHtml(preset, outcome, meta, '<svg></svg>');
      expect(html).toContain(`Shortened: ${preset.shortened}`);
      expect(html).not.toContain('>agrees<');
    }, 60_000);
  }

  it('a run with more final-parameter numbers than the limit keeps its columns, not its parameters, and says so', async () => {
    const full = await presetSpec('figure1', { backend: BACKEND });
    const preset = applyOverrides(full, { steps: 5 });
    const outcome = await runPreset(preset, { backend: BACKEND });
    const r = outcome.runs[0]!;
    const numbers = Object.values(r.result.params).reduce((a, m) => a + m.data.length, 0);
    expect(numbers).toBeGreaterThan(1);
    const kept = presetRunJson(r, numbers);
    expect(kept.paramsOmitted).toBeUndefined();
    expect(Object.keys(kept.result.params).length).toBeGreaterThan(0);
    const cut = presetRunJson(r, numbers - 1);
    expect(cut.paramsOmitted?.numbers).toBe(numbers);
    expect(cut.paramsOmitted?.why).toMatch(/autobalance train --spec/);
    expect(cut.result.params).toEqual({});
    expect(cut.result.U).toBeUndefined();
    expect(cut.result.columns).toEqual(kept.result.columns);
    expect(PRESET_PARAMS_LIMIT).toBe(1_000_000);
    // the whole report uses the default limit: figure1's runs are far below it
    const meta = { backend: outcome.backend, coreVersion: 'test', cancelled: false };
    expect(presetReport(preset, outcome, meta).runs.every((x) => x.paramsOmitted === undefined)).toBe(true);
  }, 30_000);

  it('more steps than the protocol, or the protocol itself, is not shortened', async () => {
    const full = await presetSpec('figure1', { backend: BACKEND });
    const steps = Math.max(...full.runs.map((r) => r.spec.steps ?? 0));
    expect(applyOverrides(full, { steps }).shortened).toBeUndefined();
    expect(applyOverrides(full, { steps: steps + 1, seed: 3 }).shortened).toBeUndefined();
  });

  it('figure2: every check reads existing columns (short run)', async () => {
    const preset = applyOverrides(await presetSpec('figure2', { backend: BACKEND }), { steps: 3 });
    for (const r of preset.runs) {
      (r.spec as { recordEvery?: number }).recordEvery = 1;
      // A smaller network keeps this fast; the checks only need the columns.
      const s = r.spec as { data: { samples: number } };
      s.data.samples = 20;
    }
    const checked = presetChecks(preset, await runPreset(preset, { backend: BACKEND }));
    for (const c of checked) {
      expect(c.status).not.toBe('incomplete');
      for (const o of c.outcomes) expect(o.pass, o.text).not.toBeNull();
    }
  });

  it('an interrupted preset is incomplete, never judged', async () => {
    const preset = await presetSpec('curvature', { backend: BACKEND });
    const ac = new AbortController();
    ac.abort();
    const outcome = await runPreset(preset, { backend: BACKEND, signal: ac.signal });
    expect(outcome.runs.length).toBe(0);
    for (const c of presetChecks(preset, outcome)) expect(['incomplete', 'cannotCompare']).toContain(c.status);
  });
});

describe(`sweep preset on ${BACKEND}`, () => {
  it('applyOverrides: steps and seeds of the base, the sweep seed base, seeds per setting', async () => {
    const preset = await presetSpec('theorem32sweep', { backend: BACKEND });
    expect(preset.runs).toEqual([]);
    expect(preset.sweep?.spec.kind).toBe('sweep');
    expect(preset.sweep?.plots.map((p) => p.kind)).toContain('heatmap');
    const o = applyOverrides(preset, { steps: 50, seed: 7, seedsPerSetting: 3 });
    const spec = o.sweep!.spec;
    expect(spec.base.steps).toBe(50);
    expect(spec.seeds?.count).toBe(3);
    expect(spec.seeds?.base).toBe(7);
    // The base's seeds move by one shift (target 1 -> 7, init 2 -> 8).
    const base = spec.base as unknown as { target: { seed: number }; init: { seed: number } };
    expect([base.target.seed, base.init.seed]).toEqual([7, 8]);
    // The preset given is unchanged.
    expect(preset.sweep?.spec.seeds?.count).toBe(100);
    const figure1 = await presetSpec('figure1', { backend: BACKEND });
    expect(() => applyOverrides(figure1, { seedsPerSetting: 2 })).toThrow(/not a sweep/);
    expect(() => applyOverrides(preset, { seedsPerSetting: 0 })).toThrow(/positive integer/);
  });

  // The quick variant of theorem32sweep: 4 random inits per setting instead of 100 (288 runs).
  it('theorem32sweep (4 seeds per setting): every claim agrees or says why it cannot be compared; report, CSV, plot', async () => {
    const preset = applyOverrides(await presetSpec('theorem32sweep', { backend: BACKEND }), { seedsPerSetting: 4 });
    const progress: number[] = [];
    const outcome = await runPreset(preset, { backend: BACKEND, onProgress: (_, p) => progress.push(p.step) });
    const table = outcome.sweep!.table;
    expect(table.complete).toBe(true);
    expect(table.settings.length).toBe(72);
    expect(outcome.sweep!.plan.runs).toBe(288);
    expect(progress.at(-1)).toBe(288);
    // The same runs on every backend: the class totals recorded from the native addon.
    const totals: Record<string, number> = {};
    for (const r of table.settings) for (const [c, v] of Object.entries(r.classes)) totals[c] = (totals[c] ?? 0) + v.count;
    expect(totals).toEqual({ linear: 116, unbalanced: 51, diverged: 79, other: 42 });
    // 4 of 100 seeds: no claim is judged, but every check holds on these runs.
    expect(preset.shortened).toBe('4 of 100 seeds per setting');
    const checked = presetChecks(preset, outcome);
    expect(checked.length).toBeGreaterThan(2);
    for (const c of checked) {
      expect(['shortened', 'cannotCompare'], `${c.claim}: ${c.status}\n${c.outcomes.map((o) => o.text).join('\n')}`).toContain(c.status);
      for (const o of c.outcomes) expect(o.pass, o.text).toBe(true);
    }
    // The files `autobalance run` writes: the table as CSV (one line per setting), the plots, the report.
    const csv = runsToCsv(outcome.runs).trimEnd().split('\n');
    expect(csv.length).toBe(73);
    expect(csv[0]).toMatch(/^setting,schedule\.eta,init\.stdU,init\.stdV,runs,/);
    const vl = presetVegaLite(preset, outcome.runs);
    expect((vl['concat'] as unknown[]).length).toBe(preset.sweep!.plots.length);
    const meta = { backend: outcome.backend, coreVersion: 'test', cancelled: false };
    const html = await presetHtml(preset, outcome, meta, '<svg></svg>');
    expect(html).toContain('What the paper reports, beside ours');
    expect(html).toContain('288 runs = 72 settings x 4 seed(s)');
    expect(html.match(/<tr><td>\d+<\/td>/g)?.length).toBe(72);
    const json = presetReport(preset, outcome, meta);
    expect(json.sweep?.table.settings.length).toBe(72);
    expect(JSON.parse(JSON.stringify(json)).reference.length).toBe(checked.length);
  }, 60_000);

  it('the sweep checks can fail: with 100 steps few runs reach the residual 1e-10', async () => {
    const preset = applyOverrides(await presetSpec('theorem32sweep', { backend: BACKEND }), { seedsPerSetting: 1, steps: 100 });
    const checked = presetChecks(preset, await runPreset(preset, { backend: BACKEND }));
    expect(checked[0]?.status).toBe('shortened');
    expect(checked[0]?.outcomes.some((o) => o.pass === false && /P\(linear\)/.test(o.text))).toBe(true);
  }, 30_000);

  it('an interrupted sweep preset keeps a partial table and is incomplete, never judged', async () => {
    const preset = applyOverrides(await presetSpec('theorem32sweep', { backend: BACKEND }), { seedsPerSetting: 1, steps: 10 });
    const ac = new AbortController();
    ac.abort();
    const outcome = await runPreset(preset, { backend: BACKEND, signal: ac.signal });
    expect(outcome.sweep?.table.complete).toBe(false);
    for (const c of presetChecks(preset, outcome)) expect(['incomplete', 'cannotCompare']).toContain(c.status);
  }, 30_000);
});
