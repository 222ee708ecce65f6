// The `conservationLaws` preset (crates/core/src/presets/marcotte_2023.rs: a table of
// `conservationLaws` studies over architectures, docs/conservation.md) and the generic pieces it
// added: presets of studies (`studies`, `studyTable`), the study quantities of the checks, and the
// `finding` of a check (a failed check that is a finding, not a disagreement). The generic pieces
// are tested on hand-made study outputs; the preset runs in full (about 0.5 s native) on the
// backend of this pass.
import { describe, expect, it } from 'vitest';

import {
  type CheckInputs,
  type Preset,
  applyOverrides,
  checkReferences,
  presetHtml,
  presetReport,
  presetSpec,
  presetVegaLite,
  referenceMark,
  runCheck,
  runPreset,
  runsToCsv,
} from 'autobalance';

import { BACKEND } from './helpers.js';

const study = (laws: number, explained: number[], finished = true): NonNullable<CheckInputs['studies']>[number] => ({
  output: { laws, gap: 1e9, consistent: true, status: { rows: explained.length } },
  columns: { knownExplained: Float64Array.from(explained) },
  finished,
});

describe('study quantities and findings (hand-made outputs)', () => {
  it('reads output fields and reduced columns, and says what is missing', () => {
    const inputs: CheckInputs = { runs: [], studies: [study(3, [2, 3, NaN])] };
    expect(runCheck({ kind: 'equals', of: { study: 0, field: 'laws' }, value: 3 }, inputs)).toMatchObject({ pass: true, text: 'laws [study 0] = 3' });
    expect(runCheck({ kind: 'equals', of: { study: 0, field: 'consistent' }, value: 'true' }, inputs).pass).toBe(true);
    expect(runCheck({ kind: 'equals', of: { study: 0, field: 'status.rows' }, value: 3 }, inputs).pass).toBe(true);
    expect(runCheck({ kind: 'near', of: { study: 0, column: 'knownExplained', reduce: 'max' }, to: 3, absTol: 0 }, inputs).pass).toBe(true);
    expect(runCheck({ kind: 'near', of: { study: 0, column: 'knownExplained', reduce: 'min' }, to: 3, absTol: 0 }, inputs).pass).toBe(false);
    expect(runCheck({ kind: 'equals', of: { study: 0, column: 'knownExplained', reduce: 'last' }, value: 3 }, inputs).pass).toBe(true);
    expect(runCheck({ kind: 'equals', of: { study: 1, field: 'laws' }, value: 3 }, inputs)).toEqual({ pass: null, text: 'study 1 was not run' });
    expect(runCheck({ kind: 'equals', of: { study: 0, field: 'nope' }, value: 3 }, inputs).pass).toBeNull();
    expect(runCheck({ kind: 'equals', of: { study: 0, column: 'nope', reduce: 'max' }, value: 3 }, inputs).pass).toBeNull();
  });

  it('marks a failed check with a finding as a finding, a failed one without as DISAGREES, an unfinished study incomplete', () => {
    const explains = { kind: 'near' as const, of: { study: 0, column: 'knownExplained', reduce: 'max' as const }, to: { study: 0, field: 'laws' }, absTol: 0, finding: 'finds more than the theorems' };
    const proven = { kind: 'equals' as const, of: { study: 0, field: 'laws' }, value: 3 };
    const marks = (s: NonNullable<CheckInputs['studies']>[number]) =>
      checkReferences([{ checks: [explains] }, { checks: [explains, proven] }, { checks: [proven] }], { runs: [], studies: [s] }).map((c) => [c.status, referenceMark(c)]);
    expect(marks(study(3, [3]))).toEqual([['agrees', 'agrees'], ['agrees', 'agrees'], ['agrees', 'agrees']]);
    expect(marks(study(4, [3]))).toEqual([
      ['finding', 'finding: finds more than the theorems'],
      ['disagrees', 'DISAGREES'],
      ['disagrees', 'DISAGREES'],
    ]);
    expect(marks(study(3, [3], false)).map(([s]) => s)).toEqual(['incomplete', 'incomplete', 'incomplete']);
  });
});

describe(`the conservationLaws preset (${BACKEND})`, () => {
  it('runs its table: the proven counts agree, the theorems explain every law found except the 2-channel conv net (a finding)', async () => {
    const preset = await presetSpec('conservationLaws', { backend: BACKEND });
    expect(preset.runs).toEqual([]);
    expect(preset.studies?.length).toBe(17);
    const t0 = Date.now();
    const outcome = await runPreset(preset, { backend: BACKEND });
    const ms = Date.now() - t0;
    expect(ms).toBeLessThan(10_000);
    const report = presetReport(preset, outcome, { backend: BACKEND, coreVersion: 'test', cancelled: false });
    const byLabel = Object.fromEntries((report.studies?.rows ?? []).map((r) => [r[0], r]));
    const col = (title: string): number => (report.studies?.header ?? []).indexOf(title);
    // Known answers (Marcotte et al.): r (r + 1) / 2 for two-layer linear nets and U V^T, r for ReLU.
    for (const [label, laws] of [
      ['linear 3-2-3', 3],
      ['linear 5-3-4', 6],
      ['linear 2-4-3', 10],
      ['U V^T 4x3, r = 2', 3],
      ['relu 3-2-2', 2],
      ['relu 4-3-3', 3],
      ['relu 2-5-2', 5],
      ['linear 2-2-2-2', 6],
      ['linear 3-4-4-4-3', 30],
      ['conv1d 2ch k3 relu -> 2', 2],
    ] as const) {
      expect(byLabel[label]?.[col('laws found')], label).toBe(String(laws));
    }
    expect(byLabel['conv1d 2ch k3 relu -> 2']?.[col("theorems' laws")]).toBe('1');
    const marks = report.reference.map((r) => referenceMark(r));
    expect(marks.filter((m) => m === 'agrees').length).toBe(16);
    expect(report.reference[16]).toMatchObject({ status: 'finding', finding: 'finds more than the theorems' });
    expect(byLabel['conv1d 2ch k3 relu -> 2']?.[col('mark')]).toBe('finding: finds more than the theorems');
    expect(report.studies?.results.length).toBe(17);
    const csv = runsToCsv(outcome.runs, preset).trim().split('\n');
    expect(csv.length).toBe(18);
    expect(csv[0]).toContain('laws found');
    const html = await presetHtml(preset, outcome, { backend: BACKEND, coreVersion: 'test', cancelled: false }, '<svg></svg>');
    expect(html).toContain('<h2>Studies</h2>');
    expect(html).toContain('finding: finds more than the theorems');
    expect(html).not.toContain('DISAGREES');
    const vl = JSON.stringify(presetVegaLite(preset, outcome.runs));
    expect(vl).toContain('laws found');
    // The check can fail: a wrong proven count is DISAGREES.
    const wrong = JSON.parse(JSON.stringify(preset)) as Preset;
    const c = wrong.reference[0]?.checks?.find((c) => c.kind === 'near');
    if (c?.kind !== 'near') throw new Error('no near check');
    c.to = { value: 4 };
    const report2 = presetReport(wrong, outcome, { backend: BACKEND, coreVersion: 'test', cancelled: false });
    expect(report2.reference[0]?.status).toBe('disagrees');
    console.log(`conservationLaws on ${BACKEND}: ${ms} ms`);
  });

  it('is cancellable (the rows of studies not finished are incomplete), moves its seeds, has no steps', async () => {
    const preset = await presetSpec('conservationLaws', { backend: BACKEND });
    const ac = new AbortController();
    const outcome = await runPreset(preset, {
      backend: BACKEND,
      signal: ac.signal,
      chunkMillis: 1,
      onProgress: (s) => {
        if (s.index === 2) ac.abort();
      },
    });
    expect(outcome.studies?.length).toBe(3);
    expect(outcome.studies?.[1]?.result.finished).toBe(true);
    const report = presetReport(preset, outcome, { backend: BACKEND, coreVersion: 'test', cancelled: true });
    expect(report.reference[0]?.status).toBe('agrees');
    expect(report.reference.slice(3).every((r) => r.status === 'incomplete')).toBe(true);
    expect(report.studies?.rows[5]?.slice(-2)).toEqual(['not run', 'incomplete']);
    const moved = applyOverrides(preset, { seed: 100 });
    const spec = moved.studies?.[0]?.spec as { seed: number; run: { init: { seed: number } } };
    expect([spec.run.init.seed, spec.seed]).toEqual([100, 106]);
    expect(() => applyOverrides(preset, { steps: 5 })).toThrow(/overrides.steps/);
  });
});
