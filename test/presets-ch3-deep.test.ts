// The chapter-3 GD preset (crates/core/src/presets/du_2019_ch3_deep.rs; docs/deep-networks.md):
// ch3Deep (ResNet and fully connected, softplus, H = 10, m = 256) and its quick variant
// ch3DeepQuick (m = 64), run here on the backend of this pass, each with a kernelRecursion study
// per net on the same data (K^(H), and the G^(H)(0) of the run's own initial network). The quick
// variant's claims are judged; the checks can fail (a bound that a run breaks is marked DISAGREES),
// and the rate the checks read is recomputed here from the loss column (least squares of ln loss
// against k).
import { describe, expect, it } from 'vitest';

import { type Check, Run, presetChecks, presetSpec, runCheck, runPreset } from 'autobalance';

import { BACKEND } from './helpers.js';

// ResNet rate, fully connected rate, ResNet G(0) vs K, fully connected G(0) vs K, lambdaMinG along GD, FC vs ResNet.
// At m = 64 both nets' lambda_min(G^(H)(0)) are below 3/4 lambda_min(K^(H)): findings.
const STATUSES = ['agrees', 'agrees', 'finding', 'finding', 'agrees', 'cannotCompare'];

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
    expect(p.reference.length).toBe(6);
    // The kernelRecursion study of each run: the same data, activation, depth, architecture; one
    // network of the run's width from the run's init seed.
    expect(p.studies?.map((st) => st.spec)).toEqual(
      p.runs.map((r) => {
        const m = r.spec.model as { architecture: string; depth: number; width: number; activation: string; cRes?: number };
        return {
          kind: 'kernelRecursion',
          architecture: m.architecture,
          activation: m.activation,
          depths: [m.depth],
          data: (r.spec as unknown as { data: unknown }).data,
          finiteWidth: { widths: [m.width], seeds: 1, seed: (r.spec as unknown as { init: { seed: number } }).init.seed },
          ...(m.cRes !== undefined ? { cRes: m.cRes } : {}),
        };
      }),
    );
    // The loss panel draws (1 - eta lambda/2)^k L0 with lambda_min(K^(H)) and with lambda_min(G^(H)(0)) for each run.
    const loss = p.plots[0] as { theory?: { run: number; rate?: unknown }[] };
    expect(loss.theory?.map((t) => [t.run, t.rate !== undefined])).toEqual([
      [0, true],
      [0, true],
      [1, true],
      [1, true],
    ]);
    // The core accepts both runs as they are (validation and the memory budget, no step taken).
    for (const r of p.runs) (await Run.create(r.spec, { backend: BACKEND })).dispose();
  });

  it('ch3DeepQuick: the marks (rates agree, G(0) against K findings), the study is the run\'s network, the rate is the least-squares slope, and the checks can fail', async () => {
    const preset = await presetSpec('ch3DeepQuick', { backend: BACKEND });
    const t0 = Date.now();
    const outcome = await runPreset(preset, { backend: BACKEND });
    expect(Date.now() - t0).toBeLessThan(60_000);
    const checked = presetChecks(preset, outcome);
    const explain = checked.map((c) => `${c.status} ${c.claim}\n${c.outcomes.map((o) => `  ${o.text}`).join('\n')}`).join('\n');
    expect(checked.map((c) => c.status), explain).toEqual(STATUSES);
    // The study's network of the run's width and init seed IS the run's initial point: its
    // lambda_min(G^(H)) equals the run's first lambdaMinG (same data, architecture, init).
    for (const i of [0, 1]) {
      const row = checked[2 + i]!;
      expect(row.outcomes[0]!.pass, row.outcomes[0]!.text).toBe(true);
      const st = outcome.studies![i]!.result.columns;
      const kRow = Array.from(st['lambdaMin']!)[0]!;
      const g0 = outcome.runs[i]!.result.columns['lambdaMinG']![0]!;
      expect(kRow).toBeGreaterThan(0);
      const shown = Number(/= (\S+)$/.exec(row.outcomes[2]!.text)![1]);
      expect(Math.abs(shown - kRow) / kRow, row.outcomes[2]!.text).toBeLessThan(5e-3); // shown to 3 digits
      // The finding: at m = 64 the run's lambda_min(G^(H)(0)) is below 3/4 lambda_min(K^(H)) (Lemmas 3.2 / 3.9).
      expect(outcome.runs[i]!.result.columns['lambdaMinG']![0]! / kRow).toBeLessThan(0.75);
      expect(g0).toBeGreaterThan(0);
    }
    // The identity check can fail: the ResNet study's network is not the fully connected run's.
    const withStudies = { runs: outcome.runs.map((r) => r.result), studies: outcome.studies!.map((x) => ({ output: {}, columns: x.result.columns, finished: true })) };
    const crossed = runCheck({ kind: 'near', of: { study: 0, column: 'lambdaMinG', reduce: 'first' }, to: { run: 1, column: 'lambdaMinG', reduce: 'first' }, relTol: 1e-9 }, withStudies);
    expect(crossed.pass, crossed.text).toBe(false);
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
