// Figure 6.3 (c, d) on scikit-learn's 8 x 8 digits (presets figure63c, figure63d;
// crates/core/src/presets/du_2019_ch6_digits.rs, packages/autobalance/src/datasets.ts): the data
// file the set-up script exports, the TS expansion of `digits` patches (against an independent
// loop), the typed errors when the file is missing or the spec disagrees, the relLoss column
// against an oracle, both presets' marks, and native/wasm parity, on the backend of this pass.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { InvalidSpecError, type RunSpec, applyOverrides, digitsPatchRows, parseDigitsCsv, presetChecks, presetSpec, resolveDatasets, runPreset, train } from 'autobalance';

import { BACKEND } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FILE = join(ROOT, 'data', 'digits.csv');
const HAVE = existsSync(FILE);
const SETUP = 'bash scripts/fetch-digits.sh';

/** The pinned sha256 of the extracted csv, as the script states it. */
function pinnedSha(): string {
  const m = /^sha="([0-9a-f]{64})"/m.exec(readFileSync(join(ROOT, 'scripts', 'fetch-digits.sh'), 'utf8'));
  return m![1]!;
}

/** A small spec over digits patches (q = 4: k = 4, p = 16). */
function spec(over: Record<string, unknown> = {}): RunSpec {
  const w = Array.from({ length: 16 }, (_, i) => Math.sin(i + 1));
  return {
    model: { kind: 'convFilter', p: 16, k: 4 },
    teacher: { kind: 'vector', w },
    patches: { kind: 'digits', q: 4 },
    sampling: { kind: 'fresh', batch: 8, seed: 3 },
    init: { kind: 'point', w: w.map((x, i) => x + 0.3 * Math.cos(i)) },
    schedule: { kind: 'constant', eta: 0.5 },
    steps: 200,
    recordEvery: 20,
    ...over,
  } as unknown as RunSpec;
}

function fieldOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof InvalidSpecError) return `${e.field}: ${e.detail}`;
    throw e;
  }
  return 'no error';
}

describe(`digits data set (figure63c, figure63d) on ${BACKEND}`, () => {
  it.skipIf(!HAVE)('data/digits.csv is 1797 images x 64 pixels 0..16 and a label 0..9, with the pinned sha256', () => {
    const text = readFileSync(FILE, 'utf8');
    expect(createHash('sha256').update(text).digest('hex')).toBe(pinnedSha());
    const d = parseDigitsCsv(text, FILE);
    expect(d.n).toBe(1797);
    expect(d.pixels.length).toBe(1797 * 64);
    expect(Math.min(...d.pixels)).toBe(0);
    expect(Math.max(...d.pixels)).toBe(16);
    const counts = Array.from({ length: 10 }, (_, c) => d.labels.filter((y) => y === c).length);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(1797);
    for (const c of counts) expect(c).toBeGreaterThanOrEqual(174); // 174..183 per digit
    // The first image is a 0 (scikit-learn's load_digits().images[0]).
    expect(d.labels[0]).toBe(0);
    expect(Array.from(d.pixels.slice(0, 8))).toEqual([0, 0, 5, 13, 9, 1, 0, 0]);
  });

  it('patch extraction: corners in row-major order, pixels row-major, overlapping strides', () => {
    // A fake image whose pixel (i, j) is 8 i + j (mod 17 to stay in 0..16 is not needed here).
    const pixels = Float64Array.from({ length: 64 }, (_, i) => i);
    const d = { n: 1, pixels, labels: new Float64Array(1), path: 'fake' };
    const check = (q: number, stride: number): void => {
      const m = Math.floor((8 - q) / stride) + 1;
      const z = digitsPatchRows(d, q, stride, 0.5);
      expect(z.cols).toBe(m * m * q * q);
      let o = 0;
      for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) for (let i = 0; i < q; i++) for (let j = 0; j < q; j++) expect(z.data[o++]).toBe(0.5 * (8 * (a * stride + i) + b * stride + j));
    };
    check(4, 4);
    check(2, 2);
    check(3, 2);
    check(3, 3);
    expect(digitsPatchRows(d, 4, 4, 1).data.slice(16, 20)).toEqual(Float64Array.from([4, 5, 6, 7]));
  });

  it('typed errors: a missing file names it and the command that creates it; bad fields are named', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'ab-digits-'));
    const old = process.env['AUTOBALANCE_DATA_DIR'];
    try {
      process.env['AUTOBALANCE_DATA_DIR'] = empty;
      const msg = fieldOf(() => resolveDatasets(spec()));
      expect(msg).toContain('patches.kind: ');
      expect(msg).toContain(join(empty, 'digits.csv'));
      expect(msg).toContain(SETUP);
      await expect(train(spec(), { backend: BACKEND })).rejects.toThrow(/patches\.kind.*does not exist.*setup\.sh/);
    } finally {
      if (old === undefined) delete process.env['AUTOBALANCE_DATA_DIR'];
      else process.env['AUTOBALANCE_DATA_DIR'] = old;
      rmSync(empty, { recursive: true });
    }
    expect(fieldOf(() => resolveDatasets(spec({ patches: { kind: 'digits', q: 4, file: '/nonexistent/d.csv' } })))).toMatch(/^patches\.file: .*\/nonexistent\/d\.csv does not exist: create it with bash scripts\/setup\.sh/);
    expect(fieldOf(() => resolveDatasets(spec({ patches: { kind: 'digits', q: 9 } })))).toMatch(/^patches\.q: expected an integer in 1\.\.8, got 9/);
    expect(fieldOf(() => resolveDatasets(spec({ patches: { kind: 'digits', q: 4, stride: 0 } })))).toMatch(/^patches\.stride: /);
    expect(fieldOf(() => resolveDatasets(spec({ patches: { kind: 'digits', q: 4, scale: -1 } })))).toMatch(/^patches\.scale: /);
    expect(fieldOf(() => resolveDatasets(spec({ patches: { kind: 'digits', q: 4, extra: 1 } })))).toMatch(/^patches\.extra: /);
    expect(fieldOf(() => resolveDatasets(spec({ patches: { kind: 'digits', q: 3 } })))).toMatch(/^model\.p: .*expected model\.p = 9, got 16/);
    expect(fieldOf(() => resolveDatasets(spec({ patches: { kind: 'digits', q: 4, stride: 2 } })))).toMatch(/^model\.k: .*9 patches per image: expected model\.k = 9, got 4/);
  });

  it.skipIf(!HAVE)('relLoss: mean (f(w, Z) - f(w*, Z))^2 / mean(f(w*, Z))^2 over all 1797 images (independent loop), the spec not changed', async () => {
    const s = spec({ steps: 0 });
    const before = JSON.stringify(s);
    const r = await train(s, { backend: BACKEND });
    expect(JSON.stringify(s)).toBe(before);
    const d = parseDigitsCsv(readFileSync(FILE, 'utf8'), FILE);
    const S = s as unknown as { teacher: { w: number[] }; init: { w: number[] } };
    const f = (w: number[], img: number): number => {
      let t = 0;
      for (const [r0, c0] of [[0, 0], [0, 4], [4, 0], [4, 4]] as const) {
        let a = 0;
        for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) a += w[4 * i + j]! * (d.pixels[img * 64 + (r0 + i) * 8 + c0 + j]! / 16);
        t += Math.max(a, 0);
      }
      return t / 4;
    };
    let se = 0;
    let ys = 0;
    for (let n = 0; n < d.n; n++) {
      const y = f(S.teacher.w, n);
      se += (f(S.init.w, n) - y) ** 2;
      ys += y;
    }
    const want = se / d.n / (ys / d.n) ** 2;
    const got = r.columns['relLoss']![0]!;
    expect(Math.abs(got - want) / want).toBeLessThan(1e-12);
  });

  it.skipIf(!HAVE)('the same bits on native and wasm', async () => {
    const a = await train(spec(), { backend: 'native' });
    const b = await train(spec(), { backend: 'wasm' });
    for (const c of ['loss', 'err', 'relLoss', 'phi']) expect(Array.from(b.columns[c]!), c).toEqual(Array.from(a.columns[c]!));
  });

  for (const name of ['figure63c', 'figure63d']) {
    it.skipIf(!HAVE)(`${name}: full protocol marks (agrees; cannot compare), and a quick variant is marked shortened`, async () => {
      const preset = await presetSpec(name, { backend: BACKEND });
      expect(preset.runs.map((r) => r.label)).toEqual(['init 10 deg from w*', 'init 30 deg from w*', 'init 55 deg from w*', 'init 80 deg from w*']);
      const outcome = await runPreset(preset, { backend: BACKEND });
      // The outcome keeps the spec as written (the data set by name, not its numbers).
      expect((outcome.runs[0]!.spec as unknown as { patches: { kind: string } }).patches.kind).toBe('digits');
      const checked = presetChecks(preset, outcome);
      const text = checked.map((c) => `${c.status} ${c.claim}\n${c.outcomes.map((o) => `  ${o.text}`).join('\n')}`).join('\n');
      expect(checked.map((c) => c.status), text).toEqual(['agrees', 'cannotCompare']);
      // Near-zero loss: every run's relative loss fell by more than 10^4 from its start.
      for (const r of outcome.runs) {
        const rl = r.result.columns['relLoss']!;
        expect(rl[rl.length - 1]! / rl[0]!, text).toBeLessThan(1e-4);
      }
      const quick = applyOverrides(preset, { steps: 500 });
      const qc = presetChecks(quick, await runPreset(quick, { backend: BACKEND }));
      expect(qc[0]!.status).toBe('shortened');
    }, 60_000);
  }
});
