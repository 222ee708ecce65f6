// The Taghvaei, Kim & Mehta (2017) presets (crates/core/src/presets/taghvaei_2017.rs,
// docs/taghvaei.md) on the backend of this pass: Example 1 (five continuation studies; the quick
// variant asks the time-varying verdicts for K = 1 and 16 only), Example 2 (two studies and two
// runs, whole) and the learning preset (whole: about 3 s native). Each claim's mark is pinned, and
// the numbers behind them are checked against oracles written here: the Example 1 reduction to
// C = a I + b J (its folds solved by Newton on the reduced equations, REFERENCE.md section 2), the
// closed forms of Example 2 (log R(pi/2), pi^2/4), and a mutated check that must fail.
import { describe, expect, it } from 'vitest';

import { type Preset, presetHtml, presetReport, presetSpec, presetVegaLite, referenceMark, runPreset, runsToCsv } from 'autobalance';

import { BACKEND } from './helpers.js';

const opts = { backend: BACKEND };
const meta = { backend: BACKEND, coreVersion: 'test', cancelled: false };

/** The marks of a report, in order. */
function marks(preset: Preset, outcome: Awaited<ReturnType<typeof runPreset>>): string[] {
  return presetReport(preset, outcome, meta).reference.map((r) => referenceMark(r));
}

/**
 * A fold of the Example 1 reduction: lambda a = e^a sin b - e^{2a}, lambda b = e^a cos b, and the
 * determinant of their Jacobian in (a, b) zero; Newton with a finite-difference Jacobian from `x0`.
 */
function reducedFold(x0: [number, number, number]): [number, number, number] {
  const f = ([a, b, l]: number[]): number[] => {
    const ea = Math.exp(a as number);
    const [s, c] = [Math.sin(b as number), Math.cos(b as number)];
    const g1 = (l as number) * (a as number) - ea * s + ea * ea;
    const g2 = (l as number) * (b as number) - ea * c;
    const det = ((l as number) - ea * s + 2 * ea * ea) * ((l as number) + ea * s) - ea * ea * c * c;
    return [g1, g2, det];
  };
  let x = [...x0];
  for (let it = 0; it < 50; it++) {
    const fx = f(x);
    const jac = [0, 1, 2].map((j) => {
      const h = 1e-7 * (1 + Math.abs(x[j] as number));
      const xp = [...x];
      const xm = [...x];
      xp[j] = (xp[j] as number) + h;
      xm[j] = (xm[j] as number) - h;
      const [fp, fm] = [f(xp), f(xm)];
      return fp.map((v, i) => (v - (fm[i] as number)) / (2 * h));
    });
    // Solve J dx = fx (J[i][j] = jac[j][i]) by Cramer's rule.
    const m = (i: number, j: number): number => (jac[j] as number[])[i] as number;
    const det3 = (a: number[][]): number =>
      (a[0]![0]! * (a[1]![1]! * a[2]![2]! - a[1]![2]! * a[2]![1]!) - a[0]![1]! * (a[1]![0]! * a[2]![2]! - a[1]![2]! * a[2]![0]!) + a[0]![2]! * (a[1]![0]! * a[2]![1]! - a[1]![1]! * a[2]![0]!));
    const A = [0, 1, 2].map((i) => [0, 1, 2].map((j) => m(i, j)));
    const d = det3(A);
    const dx = [0, 1, 2].map((k) => det3(A.map((row, i) => row.map((v, j) => (j === k ? (fx[i] as number) : v)))) / d);
    x = x.map((v, i) => v - (dx[i] as number));
    if (Math.max(...dx.map(Math.abs)) < 1e-14) break;
  }
  return x as [number, number, number];
}

describe(`taghvaeiExample1 (${BACKEND}; quick: time-varying verdicts for K = 1, 16)`, () => {
  it('continues the five branches; folds against the a I + b J reduction; marks', async () => {
    const full = await presetSpec('taghvaeiExample1', opts);
    const preset = JSON.parse(JSON.stringify(full)) as Preset;
    for (const s of preset.studies ?? []) (s.spec as unknown as { verdicts: { K: number[] } }).verdicts.K = [1, 16];
    const t0 = Date.now();
    const outcome = await runPreset(preset, opts);
    const ms = Date.now() - t0;
    const st = outcome.studies ?? [];
    expect(st.length).toBe(5);
    expect(st.every((s) => s.result.finished)).toBe(true);
    // The folds of n = 1, -1, 2, -2 (studies 1..4) against the reduction, to 1e-9 in lambda.
    const folds = st.slice(1).map((s) => {
      const f = (s.result.output as unknown as { folds: { lambda: number; row: number }[] }).folds;
      expect(f.length).toBe(1);
      const row = (f[0] as { row: number }).row;
      const col = (n: string): number => (s.result.columns[n] as Float64Array)[row] as number;
      const [a, b, l] = reducedFold([col('c11'), col('c21'), col('lambda')]);
      expect(Math.abs(l - (f[0] as { lambda: number }).lambda)).toBeLessThan(1e-9);
      expect(Math.abs(a - col('c11'))).toBeLessThan(1e-7);
      expect(Math.abs(b - col('c21'))).toBeLessThan(1e-7);
      // C stays in a I + b J.
      expect(Math.abs(col('c22') - col('c11'))).toBeLessThan(1e-9);
      expect(Math.abs(col('c12') + col('c21'))).toBeLessThan(1e-9);
      return l;
    });
    // lambda_{-1} > lambda_1 > lambda_{-2} > lambda_2 (ordered by |pi/2 + 2 n pi|).
    expect(folds[1]).toBeGreaterThan(folds[0] as number);
    expect(folds[0]).toBeGreaterThan(folds[3] as number);
    expect(folds[3]).toBeGreaterThan(folds[2] as number);
    expect(folds[0]).toBeCloseTo(0.0751576, 6);
    expect(folds[1]).toBeCloseTo(0.1453871, 6);
    // The rows that read the time-varying verdict are incomplete while the study reports none
    // (a build whose continuation computes only the constant-weight verdict), never judged.
    const timed = st.every((s) => Array.from(s.result.columns['verdictTime'] ?? []).some((v) => Number.isFinite(v)));
    expect(marks(preset, outcome)).toEqual([
      'agrees', // the logarithms
      'agrees', // Theorem 2
      'agrees', // the folds decrease with |n|
      timed ? 'finding: holds only among constant weights (the paper\'s sense): among time-varying weights (K = 32) both solutions are saddles' : 'incomplete',
      'agrees', // the saddle runs to infinity, J -> 1
      'agrees', // limit, n > 0
      'DISAGREES', // the paper's limit for n < 0
      'agrees', // the corrected limit for n < 0
      'agrees', // the principal branch is the cheapest
      timed ? 'agrees' : 'incomplete', // the principal branch is a minimum both ways
    ]);
    // The report: table, figure (C21 against lambda split by the verdicts), HTML, CSV.
    const report = presetReport(preset, outcome, meta);
    expect(report.studies?.rows.length).toBe(5);
    const vl = JSON.stringify(presetVegaLite(preset, outcome.runs));
    expect(vl).toContain('n = 1: const min');
    expect(vl).toContain('n = 1: const saddle');
    const html = await presetHtml(preset, outcome, meta, '<svg></svg>');
    expect(html).toContain(timed ? 'finding: holds only among constant weights' : 'DISAGREES');
    expect(runsToCsv(outcome.runs, preset).trim().split('\n').length).toBe(6);
    console.log(`taghvaeiExample1 (quick) on ${BACKEND}: ${ms} ms`);
  }, 120_000);
});

describe(`taghvaeiExample2 (${BACKEND})`, () => {
  it('finds the paper\'s C at sigma = pi/2; 3.76 beside pi^2/4; A_t over t; marks', async () => {
    const preset = await presetSpec('taghvaeiExample2', opts);
    expect(preset.studies?.length).toBe(2);
    expect(preset.runs.length).toBe(2);
    const t0 = Date.now();
    const outcome = await runPreset(preset, opts);
    const ms = Date.now() - t0;
    const timed = Array.from(outcome.studies?.[1]?.result.columns['verdictTime'] ?? []).some((v) => Number.isFinite(v));
    expect(marks(preset, outcome)).toEqual(['agrees', 'agrees', 'agrees', 'agrees', timed ? 'agrees' : 'incomplete']);
    // Closed forms: log R(pi/2) = theta/sin(theta) (R - cos(theta) I), cos(theta) = pi/4.
    const th = Math.acos(Math.PI / 4);
    const k = th / Math.sin(th);
    const c = Math.cos(th);
    const logR = [k * -c, -k, k, k * (Math.PI / 2 - c)];
    const cost = logR.reduce((s, x) => s + x * x, 0);
    const reg = (i: number): number => (outcome.runs[i]?.result.columns['reg'] as Float64Array)[0] as number;
    expect(Math.abs(2 * reg(0) - cost)).toBeLessThan(1e-12 * cost);
    expect(Math.abs(2 * reg(1) - (Math.PI * Math.PI) / 4)).toBeLessThan(1e-12);
    // The layers of run 1 are A_t = e^{2t Omega} C e^{-2t Omega} at t_k = (k + 1/2) h: with
    // Omega = (pi/4) J, a rotation by pi t / 2 of C = [[0, 0], [pi/2, 0]].
    const theta = outcome.runs[1]?.result.params['theta'];
    const vals = Array.from(theta?.data ?? []);
    const K = 64;
    expect(vals.length).toBe(4 * K);
    for (const kk of [0, 17, 63]) {
      const t = (kk + 0.5) / K;
      const [co, si] = [Math.cos((Math.PI * t) / 2), Math.sin((Math.PI * t) / 2)];
      // rot * C * rot^T with C = [[0, 0], [p, 0]]: [[-p si co, -p si^2], [p co^2, p si co]].
      const p = Math.PI / 2;
      const want = [-p * si * co, -p * si * si, p * co * co, p * si * co];
      for (let j = 0; j < 4; j++) expect(Math.abs((vals[4 * kk + j] as number) * Math.sqrt(K) - (want[j] as number))).toBeLessThan(1e-12);
    }
    const vl = JSON.stringify(presetVegaLite(preset, outcome.runs));
    expect(vl).toContain('A_21');
    expect(vl).toContain('constant log(R)/T');
    const html = await presetHtml(preset, outcome, meta, '<svg></svg>');
    expect(html).toContain('3.76');
    // A check that can fail: the paper's number against a wrong one.
    const wrong = JSON.parse(JSON.stringify(preset)) as Preset;
    const near = wrong.reference[2]?.checks?.[0];
    if (near?.kind !== 'near') throw new Error('expected the 3.76 check');
    near.to = 3.7;
    expect(presetReport(wrong, outcome, meta).reference[2]?.status).toBe('disagrees');
    console.log(`taghvaeiExample2 on ${BACKEND}: ${ms} ms`);
  }, 60_000);
});

describe(`taghvaeiLearning (${BACKEND})`, () => {
  it('every seed reaches the principal branch at the rate 1 - eta lambda_min; Euler bias O(h); marks', async () => {
    const preset = await presetSpec('taghvaeiLearning', opts);
    const t0 = Date.now();
    const outcome = await runPreset(preset, opts);
    const ms = Date.now() - t0;
    expect(outcome.runs.every((r) => r.result.finished)).toBe(true);
    expect(marks(preset, outcome)).toEqual(['agrees', 'agrees', 'agrees', 'agrees', 'agrees']);
    // The Euler distances themselves: decreasing, each about half the one before.
    const d = outcome.runs.slice(6).map((r) => {
      const c = r.result.columns['critDist'] as Float64Array;
      return c[c.length - 1] as number;
    });
    for (let i = 1; i < d.length; i++) expect((d[i] as number) / (d[i - 1] as number)).toBeGreaterThan(0.4);
    for (let i = 1; i < d.length; i++) expect((d[i] as number) / (d[i - 1] as number)).toBeLessThan(0.6);
    // Mutated: a rate claimed against lambda_max instead of lambda_min disagrees.
    const wrong = JSON.parse(JSON.stringify(preset)) as Preset;
    const rate = wrong.reference[3]?.checks?.[0];
    if (rate?.kind !== 'near' || typeof rate.to !== 'object' || !('hessian' in rate.to)) throw new Error('expected the rate check');
    rate.to = { ...rate.to, field: 'lambdaMax' };
    expect(presetReport(wrong, outcome, meta).reference[3]?.status).toBe('disagrees');
    console.log(`taghvaeiLearning on ${BACKEND}: ${ms} ms`);
  }, 120_000);
});
