// The chapter-2 family and presets (crates/core/src/model/wide/, crates/core/src/presets/du_2019_ch2.rs;
// docs/wide-networks.md): the twoLayerRelu columns against an oracle written here (explicit data and
// initial point drawn in TS: loss, pattern changes vs init, max distance from init, at every row),
// the figure21 protocol, the quick variant run on the backend of this pass with its checks, and the
// checks failing when the widths are put in the wrong order.
import { describe, expect, it } from 'vitest';

import { type Preset, type TwoLayerReluRunSpec, presetChecks, presetSpec, runPreset, train } from 'autobalance';

import { BACKEND } from './helpers.js';

/** A small deterministic Gaussian stream (xorshift + Box-Muller), independent of the core's. */
function gaussians(n: number, seed: number): number[] {
  const mask = (1n << 64n) - 1n;
  let s = (BigInt(seed) * 0x9e3779b97f4a7c15n + 1n) & mask;
  const uni = (): number => {
    s ^= (s << 13n) & mask;
    s ^= s >> 7n;
    s ^= (s << 17n) & mask;
    return (Number(s >> 11n) + 0.5) / 2 ** 53;
  };
  const out: number[] = [];
  while (out.length < n) {
    const r = Math.sqrt(-2 * Math.log(uni()));
    const t = 2 * Math.PI * uni();
    out.push(r * Math.cos(t), r * Math.sin(t));
  }
  return out.slice(0, n);
}

const rowsOf = (flat: ArrayLike<number>, r: number, c: number): number[][] => Array.from({ length: r }, (_, i) => Array.from({ length: c }, (_, j) => flat[i * c + j]!));

describe(`chapter 2 (twoLayerRelu) on ${BACKEND}`, () => {
  it('the columns equal an oracle written here (explicit data and initial point)', async () => {
    const [n, d, m] = [7, 5, 90];
    const xr = gaussians(n * d, 1);
    const x = rowsOf(xr, n, d).map((row) => {
      const nr = Math.hypot(...row);
      return row.map((v) => v / nr);
    });
    const y = gaussians(n, 2).map((v) => [v]);
    const w0 = rowsOf(gaussians(m * d, 3), m, d);
    const a = gaussians(m, 4).map((v) => [v < 0 ? -1 : 1]);
    const spec: TwoLayerReluRunSpec = {
      model: { kind: 'twoLayerRelu', width: m, loss: 'mean' },
      data: { kind: 'explicit', x, y },
      init: { kind: 'explicit', w: w0, a },
      schedule: { kind: 'constant', eta: 2 },
      steps: 12,
      recordEvery: 3,
    };
    const r = await train(spec, { backend: BACKEND });
    expect(r.columnNames.slice(3)).toEqual(['loss', 'gradNorm', 'patternChange', 'maxDist']);
    // Replay GD here (mean loss: the gradient of (1/n) sum 1/2 (u - y)^2).
    let w = w0.map((row) => row.slice());
    const dotv = (p: number[], q: number[]): number => p.reduce((acc, v, k) => acc + v * q[k]!, 0);
    const forward = (ww: number[][]): number[] => x.map((xi) => ww.reduce((acc, wr, ri) => acc + a[ri]![0]! * Math.max(0, dotv(wr, xi)), 0) / Math.sqrt(m));
    for (let k = 0; k <= 12; k++) {
      const u = forward(w);
      if (k % 3 === 0) {
        const row = k / 3;
        const loss = u.reduce((acc, ui, i) => acc + 0.5 * (ui - y[i]![0]!) ** 2, 0) / n;
        let changed = 0;
        for (let i = 0; i < n; i++) for (let q = 0; q < m; q++) if (dotv(w[q]!, x[i]!) > 0 !== dotv(w0[q]!, x[i]!) > 0) changed++;
        const dist = Math.max(...w.map((wr, q) => Math.hypot(...wr.map((v, j) => v - w0[q]![j]!))));
        expect(r.columns['loss']![row]).toBeCloseTo(loss, 12);
        expect(r.columns['patternChange']![row]).toBe(changed / (n * m));
        expect(Math.abs(r.columns['maxDist']![row]! - dist)).toBeLessThan(1e-12);
      }
      const g = w.map((_, q) => {
        const gr = new Array<number>(d).fill(0);
        for (let i = 0; i < n; i++) {
          if (dotv(w[q]!, x[i]!) > 0) {
            const c = ((u[i]! - y[i]![0]!) * a[q]![0]!) / Math.sqrt(m) / n;
            for (let j = 0; j < d; j++) gr[j]! += c * x[i]![j]!;
          }
        }
        return gr;
      });
      w = w.map((wr, q) => wr.map((v, j) => v - 2 * g[q]![j]!));
    }
    // Pattern changes happen in this run (the oracle's comparison is not vacuous).
    expect(r.columns['patternChange']![4]).toBeGreaterThan(0);
  });

  it('figure21 is the thesis protocol: n = d = 1000, 100 steps, widths 100..10,000, sum loss, the chosen step said', async () => {
    const p = await presetSpec('figure21', { backend: BACKEND });
    expect(p.runs.map((r) => (r.spec as TwoLayerReluRunSpec).model.width)).toEqual([100, 300, 1000, 3000, 10000]);
    for (const r of p.runs) {
      const s = r.spec as TwoLayerReluRunSpec;
      expect(s.data).toEqual({ kind: 'sphere', n: 1000, d: 1000, seed: 1 });
      expect(s.steps).toBe(100);
      expect(s.model.loss).toBe('sum');
    }
    expect(p.description).toMatch(/CHOSEN/);
    expect(p.plots.map((x) => ('column' in x ? x.column : null))).toEqual(['loss', 'patternChange', 'maxDist', 'lambdaMinH', 'gramDistInf']);
    // Theorem 2.3's envelope is a theory line of every run in the loss panel.
    const lossPlot = p.plots[0] as { theory?: { run: number; column?: string }[] };
    expect(lossPlot.theory?.map((t) => [t.run, t.column])).toEqual([0, 1, 2, 3, 4].map((i) => [i, 'envelopeGd']));
  });

  it('figure21Quick: the claims are judged, the theory rows shown', async () => {
    const preset = await presetSpec('figure21Quick', { backend: BACKEND });
    const outcome = await runPreset(preset, { backend: BACKEND });
    const checked = presetChecks(preset, outcome);
    const text = checked.map((c) => `${c.status} ${c.claim}\n${c.outcomes.map((o) => `  ${o.text}`).join('\n')}`).join('\n');
    const status = (re: RegExp): string => checked.find((c) => re.test(c.claim ?? ''))!.status;
    expect(status(/^larger width converges faster/), text).toBe('agrees');
    expect(status(/^larger width changes fewer/), text).toBe('agrees');
    expect(status(/^larger width stays closer/), text).toBe('agrees');
    expect(status(/concentrates at H_inf/), text).toBe('agrees');
    expect(status(/lambda_min\(H\(t\)\) stays above/), text).toBe('agrees');
    expect(status(/is stable/), text).toBe('agrees');
    expect(status(/widths the theorems require/), text).toBe('cannotCompare');
    for (const re of [/pattern changes scale/, /distance from the initialization scales/]) expect(['agrees', 'finding'], text).toContain(status(re));
    // The fitted exponents, recomputed here: least squares of ln(last value) against ln(width).
    const widths = preset.runs.map((r) => (r.spec as TwoLayerReluRunSpec).model.width);
    for (const [re, col] of [[/pattern changes scale/, 'patternChange'], [/distance from the initialization scales/, 'maxDist']] as const) {
      const lx = widths.map(Math.log);
      const ly = outcome.runs.map((r) => Math.log(r.result.columns[col]!.at(-1)!));
      const mx = lx.reduce((a, b) => a + b) / lx.length;
      const my = ly.reduce((a, b) => a + b) / ly.length;
      const b = lx.reduce((a, x, i) => a + (x - mx) * (ly[i]! - my), 0) / lx.reduce((a, x) => a + (x - mx) ** 2, 0);
      const row = checked.find((c) => re.test(c.claim ?? ''))!;
      const got = Number(/b = (-?[\d.]+)/.exec(row.outcomes[0]!.text)![1]);
      expect(got, row.outcomes[0]!.text).toBeCloseTo(b, 3);
      expect(row.outcomes[0]!.text).toMatch(/95% interval .* t\(2\) = 4\.303\), r\^2 = [\d.]+, n = 4; (not )?within 0\.1 of -0\.5/);
    }
    // The theory query at init: lambda0 > 0, H_inf's diagonal 1/2, the required width far above ours.
    const th = outcome.hessian[3]!.report as unknown as { lambda0: number; hInf: { diagonalMin: number; diagonalMax: number }; widths: { theorem22OverUsed: number } };
    expect(th.lambda0).toBeGreaterThan(0);
    expect(th.hInf.diagonalMin).toBeCloseTo(0.5, 14);
    expect(th.hInf.diagonalMax).toBeCloseTo(0.5, 14);
    expect(th.widths.theorem22OverUsed).toBeGreaterThan(1e6);
  }, 120_000);

  it('the checks can fail: the widths in the wrong order', async () => {
    const preset = await presetSpec('figure21Quick', { backend: BACKEND });
    const reversed: Preset = { ...preset, runs: [...preset.runs].reverse(), hessian: [] };
    const outcome = await runPreset(reversed, { backend: BACKEND });
    const checked = presetChecks(reversed, outcome);
    for (const re of [/^larger width converges faster/, /^larger width changes fewer/, /^larger width stays closer/]) {
      expect(checked.find((c) => re.test(c.claim ?? ''))!.status).toBe('disagrees');
    }
    // The fitted exponents read each run's width from its spec: reordering the runs changes nothing.
    for (const re of [/pattern changes scale/, /distance from the initialization scales/]) {
      expect(['agrees', 'finding']).toContain(checked.find((c) => re.test(c.claim ?? ''))!.status);
    }
  }, 120_000);
});
