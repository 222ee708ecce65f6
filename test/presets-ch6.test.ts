// The chapter-6 presets (figure63a, figure63b: SGD learning a convolutional filter,
// crates/core/src/presets/du_2019_ch6.rs): the sweeps' shape, the quick variants (3 sampling seeds
// per setting: the ordering claims need the full protocol and are not judged, the rate claim is)
// and the full protocol with its marks (docs/filter-learning.md), on the backend of this pass.
import { describe, expect, it } from 'vitest';

import { type SweepTable, applyOverrides, presetChecks, presetSpec, presetVegaLite, runPreset, runsToCsv } from 'autobalance';

import { BACKEND } from './helpers.js';

const PANELS = [
  ['figure63a', 'patches.s', [0.25, 0.5, 1, 2], 1],
  ['figure63b', 'patches.s2', [0.1, 0.3, 1, 3], 4],
] as const;

/** Median iterations per decade of every setting, for failure messages. */
function summary(t: SweepTable): string {
  return t.settings
    .map((r) => `${JSON.stringify(r.values)}: ${Array.from({ length: 8 }, (_, j) => r.kept[`decade${j + 1}`]?.quantiles.find(([p]) => p === 0.5)?.[1]).join(' ')} contraction ${r.kept['contraction']?.quantiles.find(([p]) => p === 0.5)?.[1]}`)
    .join('\n');
}

describe(`chapter 6 presets on ${BACKEND}`, () => {
  it('figure63a and figure63b are sweeps over the spread x 20 sampling seeds, fresh SGD from one start', async () => {
    for (const [name, path, values, k] of PANELS) {
      const p = await presetSpec(name, { backend: BACKEND });
      const spec = p.sweep!.spec;
      expect(spec.seeds?.count).toBe(20);
      expect(spec.seeds?.paths).toEqual(['sampling.seed']);
      expect(spec.axes).toEqual([{ path, values }]);
      const base = spec.base as unknown as { model: { k: number }; sampling: { kind: string }; init: { w: number[] } };
      expect(base.model.k).toBe(k);
      expect(base.sampling.kind).toBe('fresh');
      expect(base.init.w).toEqual([0.6, 0.6]);
      expect(spec.keep?.map((x) => x.name)).toEqual([...Array.from({ length: 8 }, (_, j) => `decade${j + 1}`), 'contraction', 'finalErr']);
      expect(p.sweep!.plots.map((x) => x.kind)).toEqual(name === 'figure63a' ? ['keptProfile', 'lines', 'lines'] : ['keptProfile', 'lines']);
    }
  });

  for (const [name] of PANELS) {
    it(`${name} quick (3 seeds per setting): ordering not judged, the rate's checks hold`, async () => {
      const preset = applyOverrides(await presetSpec(name, { backend: BACKEND }), { seedsPerSetting: 3 });
      const outcome = await runPreset(preset, { backend: BACKEND });
      const t = outcome.sweep!.table;
      expect(t.complete).toBe(true);
      expect(t.settings.length).toBe(4);
      for (const r of t.settings) expect(r.classes['converged']?.count, summary(t)).toBe(3);
      const checked = presetChecks(preset, outcome);
      const text = checked.map((c) => `${c.status} ${c.claim}\n${c.outcomes.map((o) => `  ${o.text}`).join('\n')}`).join('\n');
      expect(checked[0]!.status, text).toBe('incomplete');
      expect(checked[0]!.outcomes[0]?.text).toMatch(/^not judged: requires runs min over \[all settings\] >= 20, got 3/);
      // Judged rows of a run cut below the protocol are marked `shortened`; the rate's checks
      // themselves all hold.
      expect(checked[1]!.status, text).toBe('shortened');
      expect(checked[1]!.outcomes.every((o) => o.pass !== false), text).toBe(true);
      for (const c of checked.slice(2)) expect(c.status, text).toBe('cannotCompare');
      expect(runsToCsv(outcome.runs).trimEnd().split('\n').length).toBe(5);
      expect((presetVegaLite(preset, outcome.runs)['concat'] as unknown[]).length).toBe(name === 'figure63a' ? 3 : 2);
    }, 120_000);
  }

  // The full protocol (20 seeds per setting, 80 runs of 2000 / 1200 steps): the marks of
  // docs/filter-learning.md.
  for (const [name] of PANELS) {
    it(`${name} (full protocol): larger s / smaller s2 faster, the rate near 1 - eta gamma(0)`, async () => {
      const preset = await presetSpec(name, { backend: BACKEND });
      const outcome = await runPreset(preset, { backend: BACKEND });
      const t = outcome.sweep!.table;
      expect(t.complete).toBe(true);
      const checked = presetChecks(preset, outcome);
      const text = checked.map((c) => `${c.status} ${c.claim}\n${c.outcomes.map((o) => `  ${o.text}`).join('\n')}`).join('\n') + '\n' + summary(t);
      expect(checked.map((c) => c.status), text).toEqual(name === 'figure63a' ? ['agrees', 'agrees', 'cannotCompare', 'cannotCompare'] : ['agrees', 'agrees', 'cannotCompare']);
    }, 180_000);
  }
});
