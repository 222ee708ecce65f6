// The chapter-3 GD preset (crates/core/src/presets/du_2019_ch3_deep.rs; docs/deep-networks.md):
// ch3Deep (ResNet and fully connected, softplus, H = 10, m = 256) and its quick variant
// ch3DeepQuick (m = 64), run here on the backend of this pass. The quick variant's claims are
// judged; the checks can fail (a bound that a run breaks is marked DISAGREES), and the rate the
// checks read is recomputed here from the loss column (least squares of ln loss against k).
import { describe, expect, it } from 'vitest';

import { type Check, Run, presetChecks, presetSpec, runCheck, runPreset } from 'autobalance';

import { BACKEND } from './helpers.js';

describe(`the ch3Deep presets on ${BACKEND}`, () => {
  it('ch3Deep is the protocol: a ResNet and a fully connected net, H = 10, m = 256, softplus, the chapter init, the Gram column', async () => {
    const p = await presetSpec('ch3Deep', { backend: BACKEND });
    expect(p.runs.map((r) => (r.spec.model as { architecture: string }).architecture)).toEqual(['resnet', 'fullyConnected']);
    for (const r of p.runs) {
      const s = r.spec as unknown as { model: Record<string, unknown>; init: Record<string, unknown>; steps: number };
      expect(s.model).toMatchObject({ kind: 'deepSmooth', depth: 10, width: 256, activation: 'softplus', gram: { every: 10 } });
      expect(s.init).toEqual({ kind: 'gaussian', seed: 2 });
      expect(s.steps).toBe(1000);
    }
    expect(p.reference.length).toBe(4);
    // The core accepts both runs as they are (validation and the memory budget, no step taken).
    for (const r of p.runs) (await Run.create(r.spec, { backend: BACKEND })).dispose();
  });

  it('ch3DeepQuick: every claim agrees (or is shown), the rate is the least-squares slope, and the checks can fail', async () => {
    const preset = await presetSpec('ch3DeepQuick', { backend: BACKEND });
    const t0 = Date.now();
    const outcome = await runPreset(preset, { backend: BACKEND });
    expect(Date.now() - t0).toBeLessThan(60_000);
    const checked = presetChecks(preset, outcome);
    const explain = checked.map((c) => `${c.status} ${c.claim}\n${c.outcomes.map((o) => `  ${o.text}`).join('\n')}`).join('\n');
    expect(checked.map((c) => c.status), explain).toEqual(['agrees', 'agrees', 'agrees', 'cannotCompare']);
    const [resnet, fc] = outcome.runs.map((r) => r.result);
    // The rate recomputed from the loss column: exp of the least-squares slope of ln L against k.
    const step = Array.from(resnet!.columns['step']!);
    const lnL = Array.from(resnet!.columns['loss']!).map(Math.log);
    const mk = step.reduce((a, b) => a + b, 0) / step.length;
    const ml = lnL.reduce((a, b) => a + b, 0) / lnL.length;
    const slope = step.reduce((a, k, i) => a + (k - mk) * (lnL[i]! - ml), 0) / step.reduce((a, k) => a + (k - mk) ** 2, 0);
    const inputs = { runs: outcome.runs.map((r) => r.result) };
    const rate = runCheck({ kind: 'atMost', of: { run: 0, column: 'loss', reduce: 'rate' }, bound: Math.exp(slope) * (1 + 1e-9) }, inputs);
    expect(rate.pass, rate.text).toBe(true);
    expect(Math.exp(slope)).toBeLessThan(0.99);
    // The ResNet converges; the fully connected net of the same width barely moves (its lambda is tiny).
    const loss = (r: typeof resnet, i: number) => r!.columns['loss']![i]!;
    const last = (r: typeof resnet) => r!.columns['loss']!.length - 1;
    expect(loss(resnet, last(resnet)) / loss(resnet, 0)).toBeLessThan(1e-2);
    expect(loss(fc, last(fc)) / loss(fc, 0)).toBeGreaterThan(0.5);
    // lambdaMinG: recorded every 3 rows (NaN between), positive.
    const g = Array.from(resnet!.columns['lambdaMinG']!);
    g.forEach((v, i) => expect(Number.isNaN(v), `row ${i}`).toBe(i % 3 !== 0));
    expect(g[0]).toBeGreaterThan(0);
    // The checks can fail: a bound below the measured rate, a fully connected lambda above the ResNet's.
    const tight: Check = { kind: 'atMost', of: { run: 0, column: 'loss', reduce: 'rate' }, bound: Math.exp(slope) * 0.99 };
    expect(runCheck(tight, inputs).pass).toBe(false);
    const swapped: Check = { kind: 'atMost', of: { run: 0, column: 'lambdaMinG', reduce: 'first' }, bound: { run: 1, column: 'lambdaMinG', reduce: 'first', scale: 0.1 } };
    expect(runCheck(swapped, inputs).pass).toBe(false);
  }, 120_000);
});
