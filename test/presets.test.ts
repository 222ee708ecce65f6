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
  applyOverrides,
  checkReferences,
  presetChecks,
  presetList,
  presetSpec,
  runCheck,
  runPreset,
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
      [{ kind: 'atMost', of: { run: 0, column: 'loss', reduce: 'last' }, bound: { run: 0, column: 'loss', reduce: 'first', scale: 0.25 } }, true, /0\.25 x first loss \[run 0\] = 1/],
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
  });
});

describe(`preset checks on ${BACKEND}`, () => {
  it('every preset is listed with a description, and every check names what it reads', async () => {
    const list = await presetList({ backend: BACKEND });
    expect(list.map((p) => p.name)).toEqual(expect.arrayContaining(['figure1', 'figure2', 'theorem31', 'theorem32', 'curvature']));
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

  it('a shortened figure1 run disagrees with the paper (the checks can fail)', async () => {
    const preset = applyOverrides(await presetSpec('figure1', { backend: BACKEND }), { steps: 60 });
    const checked = presetChecks(preset, await runPreset(preset, { backend: BACKEND }));
    expect(checked[0]?.status).toBe('disagrees');
    expect(checked[0]?.outcomes.some((o) => o.pass === false && /last loss/.test(o.text))).toBe(true);
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
