// The TS layer on its own (no backend): matrices, spec encoding, error parsing, reports, SVG.
import { describe, expect, it } from 'vitest';

import {
  AutobalanceError,
  InternalError,
  InvalidSpecError,
  NonFiniteError,
  ShapeMismatchError,
  applyOverrides,
  encodeSpec,
  fromArray,
  fromBindingError,
  linearTicks,
  matrix,
  normalizePreset,
  renderSvg,
  runsToCsv,
  textTable,
  toArray,
  type RunResult,
} from 'autobalance/portable';

describe('matrices', () => {
  it('fromArray / toArray round-trip, row-major', () => {
    const m = fromArray([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(m.rows).toBe(2);
    expect(m.cols).toBe(3);
    expect(Array.from(m.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(toArray(m)).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
  });

  it('matrix() checks the length and keeps a Float64Array', () => {
    const d = new Float64Array([1, 2, 3, 4]);
    expect(matrix(2, 2, d).data).toBe(d);
    expect(matrix(2, 3).data).toEqual(new Float64Array(6));
    expect(() => matrix(2, 3, [1, 2])).toThrow(ShapeMismatchError);
  });

  it('a ragged array is a ShapeMismatchError naming the field', () => {
    try {
      fromArray([[1, 2], [3]], 'init.v0');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ShapeMismatchError);
      expect((e as ShapeMismatchError).field).toBe('init.v0');
      expect((e as Error).message).toMatch(/^init\.v0: ragged rows: row 0 has 2 entries but row 1 has 1/);
    }
  });

  it('a non-number entry is an InvalidSpecError', () => {
    expect(() => fromArray([[1, '2' as unknown as number]], 'target.matrix')).toThrow(InvalidSpecError);
  });
});

describe('encodeSpec', () => {
  it('moves explicit matrices into buffers named by spec path, leaving their shape', () => {
    const enc = encodeSpec({
      model: { kind: 'matrixFactorization', d1: 2, d2: 3, rank: 1 },
      target: { kind: 'explicit', matrix: [[1, 2, 3], [4, 5, 6]] },
      init: { kind: 'explicit', u0: matrix(2, 1, [7, 8]), v0: { rows: 3, cols: 1, data: [9, 10, 11] } },
      schedule: { kind: 'constant', eta: 0.1 },
      steps: 3,
    });
    expect(JSON.parse(enc.json)).toEqual({
      model: { kind: 'matrixFactorization', d1: 2, d2: 3, rank: 1 },
      target: { kind: 'explicit', matrix: { rows: 2, cols: 3 } },
      init: { kind: 'explicit', u0: { rows: 2, cols: 1 }, v0: { rows: 3, cols: 1 } },
      schedule: { kind: 'constant', eta: 0.1 },
      steps: 3,
    });
    expect(Object.keys(enc.buffers).sort()).toEqual(['init.u0', 'init.v0', 'target.matrix']);
    expect(Array.from(enc.buffers['target.matrix'] ?? [])).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(enc.buffers['init.v0'] ?? [])).toEqual([9, 10, 11]);
  });

  it('passes random targets and Gaussian inits through, with no buffers', () => {
    const spec = {
      model: { kind: 'matrixFactorization', d1: 2, d2: 3, rank: 1 },
      target: { kind: 'random', singularValues: [1], seed: 1 },
      init: { kind: 'gaussian', stdU: 1, stdV: 1, seed: 2 },
      schedule: { kind: 'theorem31', eps: 0.1 },
      steps: 3,
      recordEvery: 2,
    };
    const enc = encodeSpec(spec);
    expect(JSON.parse(enc.json)).toEqual(spec);
    expect(enc.buffers).toEqual({});
  });

  it('leaves validation to the core: unknown fields and kinds pass through', () => {
    const enc = encodeSpec({ model: { kind: 'mlp' }, bogus: 1 });
    expect(JSON.parse(enc.json)).toEqual({ model: { kind: 'mlp' }, bogus: 1 });
  });
});

describe('error parsing', () => {
  it('turns AUTOBALANCE_ERROR messages into classes', () => {
    const e = fromBindingError(new Error('AUTOBALANCE_ERROR:{"code":"non_finite","field":"target.matrix","message":"entry (0, 1) is NaN"}'));
    expect(e).toBeInstanceOf(NonFiniteError);
    expect(e).toBeInstanceOf(AutobalanceError);
    expect(e.name).toBe('NonFiniteError');
    expect(e.code).toBe('non_finite');
    expect(e.field).toBe('target.matrix');
    expect(e.detail).toBe('entry (0, 1) is NaN');
    expect(e.message).toBe('target.matrix: entry (0, 1) is NaN');
  });

  it('maps internal and unknown codes, and foreign errors, to InternalError', () => {
    expect(fromBindingError(new Error('AUTOBALANCE_ERROR:{"code":"internal","field":"","message":"boom"}'))).toBeInstanceOf(InternalError);
    expect(fromBindingError(new Error('AUTOBALANCE_ERROR:{"code":"weird","field":"x","message":"m"}')).code).toBe('internal');
    const foreign = new TypeError('not a string');
    const e = fromBindingError(foreign);
    expect(e).toBeInstanceOf(InternalError);
    expect(e.cause).toBe(foreign);
    expect(fromBindingError('AUTOBALANCE_ERROR:{bad json')).toBeInstanceOf(InternalError);
  });
});

describe('presets', () => {
  const preset = normalizePreset({
    name: 'p',
    runs: [
      { label: 'a', spec: { target: { kind: 'random', singularValues: [1], seed: 4 }, init: { kind: 'gaussian', seed: 7 }, steps: 10 } },
      { label: 'b', spec: { target: { kind: 'random', singularValues: [1], seed: 4 }, init: { kind: 'gaussian', seed: 7 }, steps: 10 } },
    ],
    plots: [{ title: 't', column: 'loss' }],
  });

  it('fills defaults', () => {
    expect(preset.description).toBe('');
    expect(preset.reference).toEqual([]);
  });

  it('overrides steps and shifts seeds, keeping shared seeds shared', () => {
    const p = applyOverrides(preset, { steps: 3, seed: 100 });
    for (const r of p.runs) {
      expect(r.spec.steps).toBe(3);
      expect(((r.spec as { target: unknown }).target as { seed: number }).seed).toBe(100);
      expect((r.spec.init as { seed: number }).seed).toBe(103);
    }
    // The original is untouched.
    expect(preset.runs[0]?.spec.steps).toBe(10);
  });
});

function fakeResult(loss: number[]): RunResult {
  const n = loss.length;
  const z = { rows: 0, cols: 0, data: new Float64Array(0) };
  return {
    backend: 'native',
    columnNames: ['step', 'loss'],
    columnRoles: { step: 'step', loss: 'loss' },
    columns: { step: Float64Array.from(loss, (_, i) => i), loss: Float64Array.from(loss) },
    rows: n,
    step: n - 1,
    steps: n - 1,
    finished: true,
    cancelled: false,
    stop: 'finished',
    divergedAt: null,
    stoppedAt: null,
    reason: null,
    loss: loss[n - 1] ?? null,
    params: { U: z, V: z },
    initialParams: { U: z, V: z },
    U: z,
    V: z,
    U0: z,
    V0: z,
  };
}

describe('reports', () => {
  it('writes one CSV line per recorded row per run, quoting labels', () => {
    const csv = runsToCsv([
      { label: 'plain', result: fakeResult([1, 0.5]) },
      { label: 'with, comma "q"', result: fakeResult([2, 1, 0.25]) },
    ]);
    expect(csv.split('\n')).toEqual(['run,step,loss', 'plain,0,1', 'plain,1,0.5', '"with, comma ""q""",0,2', '"with, comma ""q""",1,1', '"with, comma ""q""",2,0.25', '']);
  });

  it('pads text tables', () => {
    expect(textTable(['a', 'bb'], [['xyz', '1']])).toBe('a    bb\n---  --\nxyz   1\n');
  });
});

describe('SVG', () => {
  it('picks 1-2-5 ticks covering the range', () => {
    expect(linearTicks(0, 1000, 5)).toEqual([0, 200, 400, 600, 800, 1000]);
    expect(linearTicks(0.95, 1.05, 5)).toEqual([0.96, 0.98, 1, 1.02, 1.04].map((x) => expect.closeTo(x, 12)));
  });

  it('renders panels, log ticks, lines and a legend; drops non-positive values on log axes', () => {
    const x = Float64Array.from({ length: 101 }, (_, i) => i);
    const svg = renderSvg({
      title: 'fig <1>',
      panels: [
        { title: '(a) loss', logY: true, series: [{ label: 'run A', x, y: x.map((i) => 10 ** -(i / 10)) }, { label: 'run B', x, y: x.map((i) => (i === 50 ? 0 : 1 / (i + 1))) }] },
        { title: '(b) ratio', series: [{ label: 'run A', x, y: x.map(() => 1) }] },
      ],
    });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('fig &lt;1&gt;');
    expect(svg).toContain('(a) loss');
    expect(svg).toContain('(b) ratio');
    expect(svg.match(/<path /g)?.length).toBe(3);
    // Log axis: decade ticks 10^-10 .. 10^0 with superscripts.
    expect(svg).toContain('<tspan dy="-6" font-size="9">-10</tspan>');
    expect(svg).toContain('<tspan dy="-6" font-size="9">0</tspan>');
    // The zero at i = 50 breaks run B's line in two (two M commands).
    const pathB = svg.match(/<path d="([^"]*)"[^>]*><title>run B<\/title>/)?.[1] ?? '';
    expect(pathB.match(/M/g)?.length).toBe(2);
    // A constant series still gets a y range (ticks around 1).
    expect(svg).toContain('>1.00</text>');
    // The panels have different lines: one legend per panel.
    expect(svg.match(/>run A<\/text>/g)?.length).toBe(2);
    expect(svg).not.toContain('class="legend"');
    // The second line of a panel is dashed, so that coinciding lines stay visible.
    expect(svg).toMatch(/stroke-dasharray="7 4"[^>]*><title>run B/);
  });

  it('puts one shared legend below panels that have the same lines', () => {
    const x = [0, 1, 2];
    const series = [
      { label: 'one', x, y: [1, 2, 3] },
      { label: 'two', x, y: [3, 2, 1] },
    ];
    const svg = renderSvg({ panels: [{ title: 'p', series }, { title: 'q', logY: true, series }] });
    expect(svg).toContain('class="legend"');
    expect(svg.match(/>one<\/text>/g)?.length).toBe(1);
  });
});
