// The ch3Kernels preset (Du 2019 thesis, ch. 3; crates/core/src/presets/du_2019_ch3.rs,
// docs/kernel-recursions.md) on the backend of this pass, quick: n = 8 points instead of 40,
// widths 32..1024 with 4 seeds instead of 64..2048 with 4. The marks are pinned; the numbers are
// checked against independent facts: lambda_min(K^(1)) of the fully connected ReLU-free
// softplus net equals the ResNet's at H = 1 (the same plain layer), the ResNet's lambda_min H^2
// is nearly flat, and a mutated check fails.
import { describe, expect, it } from 'vitest';

import { type Preset, presetChecks, presetReport, presetSpec, presetVegaLite, referenceMark, runPreset } from 'autobalance';

import { BACKEND } from './helpers.js';

const opts = { backend: BACKEND };
const meta = { backend: BACKEND, coreVersion: 'test', cancelled: false };

type Spec = { data: { n: number }; finiteWidth?: { widths: number[]; seeds: number } };

describe(`ch3Kernels (${BACKEND}; quick: n = 8, widths 32..1024, 4 seeds)`, () => {
  it('lambda_min against depth, the ResNet 1/H^2, the width convergence; marks', async () => {
    const full = await presetSpec('ch3Kernels', opts);
    const preset = JSON.parse(JSON.stringify(full)) as Preset;
    expect(preset.studies?.length).toBe(5);
    for (const s of preset.studies ?? []) {
      const spec = s.spec as unknown as Spec;
      spec.data.n = 8;
      if (spec.finiteWidth) {
        spec.finiteWidth.widths = [32, 64, 128, 256, 512, 1024];
        spec.finiteWidth.seeds = 4;
      }
    }
    const t0 = Date.now();
    const outcome = await runPreset(preset, opts);
    const ms = Date.now() - t0;
    const st = outcome.studies ?? [];
    expect(st.every((s) => s.result.finished)).toBe(true);
    const col = (i: number, c: string): number[] => Array.from(st[i]?.result.columns[c] ?? []);
    const out = (i: number): Record<string, unknown> => st[i]?.result.output as unknown as Record<string, unknown>;
    // Depths 1..30 in the three depth studies.
    for (const i of [0, 1, 2]) expect(col(i, 'depth')).toEqual(Array.from({ length: 30 }, (_, k) => k + 1));
    // H = 1: the ResNet is its plain first layer, the fully connected net's K^(1).
    const [fc1, res1] = [col(0, 'lambdaMin')[0] as number, col(2, 'lambdaMin')[0] as number];
    expect(Math.abs(fc1 - res1)).toBeLessThan(1e-14 * Math.abs(fc1));
    // Prop 3.2: lambda_min H^2 within a factor 2 over H = 4..30; the fitted exponent near -2.
    const h2 = col(2, 'lambdaMinH2').slice(3);
    expect(Math.max(...h2) / Math.min(...h2)).toBeLessThan(2);
    expect(Math.abs((out(2)['depthExponent'] as number) + 2)).toBeLessThan(0.25);
    // Fully connected softplus: lambda_min falls geometrically with depth.
    expect(out(0)['depthFactor'] as number).toBeLessThan(0.5);
    // Width: the mean relative gap over the seeds falls by more than 2 from m = 32 to 1024.
    for (const i of [3, 4]) {
      const w = col(i, 'width');
      const g = col(i, 'gapRel');
      const first = g.filter((_, k) => w[k] === 32);
      const last = g.filter((_, k) => w[k] === 1024);
      expect(first.length).toBe(4);
      const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
      expect(mean(last)).toBeLessThan(mean(first) / 2);
    }
    console.log(`exponents: ${JSON.stringify([out(2)['depthExponent'], out(0)['depthFactor'], out(3)['gapExponentRel'], out(4)['gapExponentRel']])}`);
    const marks = presetReport(preset, outcome, meta).reference.map((r) => referenceMark(r));
    expect(marks).toEqual([
      'agrees', // lambda_min > 0
      'finding: lambda_min(K^(H)) of the tanh net grows with depth (its kernel decorrelates): the exponential is in the proof\'s bounds, not in lambda_min, for tanh',
      'agrees', // Prop 3.2
      'agrees', // the gap exponent
    ]);
    // A mutated check fails: Prop 3.2 with exponent -1 disagrees.
    const bad = JSON.parse(JSON.stringify(preset)) as Preset;
    const row = bad.reference[2] as unknown as { checks: { to: number }[] };
    (row.checks[0] as { to: number }).to = -1;
    expect(presetChecks(bad, outcome)[2]?.status).toBe('disagrees');
    const vl = JSON.stringify(presetVegaLite(preset, outcome.runs));
    expect(vl.length).toBeGreaterThan(100);
    console.log(`ch3Kernels (quick) on ${BACKEND}: ${ms} ms; exponents ${JSON.stringify([out(2)['depthExponent'], out(3)['gapExponentRel'], out(4)['gapExponentRel']])}`);
  }, 180_000);
});
