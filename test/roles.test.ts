// Column roles (issue 9, item 9: "column roles come from the core"), on the backend of this pass:
// the core declares a role for every recorded column (`columnRoles()` of both bindings); runs,
// results and the JSON result carry them; summaries, figures and checks pick columns by role,
// never by name (a fake result whose columns have unusual names but proper roles is reported
// exactly like a real one), and the CLI writes the roles into its JSON result.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import {
  COLUMN_ROLES,
  type ColumnRole,
  type NetworkRunSpec,
  type Preset,
  type RunResult,
  type RunSpec,
  Run,
  checkReferences,
  columnsWithRole,
  isColumnRole,
  presetFigure,
  resultToJson,
  runFigure,
  stepColumn,
  summarize,
  train,
} from 'autobalance';

import { BACKEND, smallSpec } from './helpers.js';

const opts = { backend: BACKEND } as const;

/** Every column has a role, a known one, and the roles follow the names. */
function expectRolesComplete(r: { columnNames: readonly string[]; columnRoles: Readonly<Record<string, ColumnRole>> }): void {
  expect(Object.keys(r.columnRoles).sort()).toEqual([...r.columnNames].sort());
  for (const n of r.columnNames) expect(isColumnRole(r.columnRoles[n]), `role of ${n}: ${r.columnRoles[n]}`).toBe(true);
}

function netSpec(over: Partial<NetworkRunSpec> = {}): NetworkRunSpec {
  return {
    model: {
      kind: 'network',
      inputDim: 5,
      // A ReLU layer with a bias (normSqB1, per-neuron drift), a linear one (the matrix drift of
      // W2^T W2 - W3 W3^T), and the output layer.
      layers: [{ width: 4, activation: 'relu', bias: true }, { width: 3, activation: 'linear' }, { width: 2 }],
    },
    data: { kind: 'generated', samples: 20, targets: { kind: 'gaussian' }, seed: 1 },
    init: { kind: 'gaussian', stds: [0.5, 0.5, 0.5], seed: 2 },
    schedule: { kind: 'constant', eta: 0.05 },
    steps: 60,
    recordEvery: 10,
    ...over,
  };
}

const MF_ROLES: Record<string, ColumnRole> = {
  step: 'step',
  eta: 'stepSize',
  time: 'time',
  loss: 'loss',
  normU2: 'norm',
  normV2: 'norm',
  normRatio: 'ratio',
  imbalance: 'invariant',
  imbalanceDrift: 'drift',
  residual: 'residual',
  gradNorm: 'gradNorm',
};

const NET_ROLES: Record<string, ColumnRole> = {
  step: 'step',
  eta: 'stepSize',
  time: 'time',
  loss: 'loss',
  gradNorm: 'gradNorm',
  normSqW1: 'norm',
  normSqB1: 'norm',
  normSqW2: 'norm',
  normSqW3: 'norm',
  normRatio1: 'ratio',
  layerDiff1: 'invariant',
  layerDiffDrift1: 'drift',
  neuronDriftMax1: 'drift',
  normRatio2: 'ratio',
  layerDiff2: 'invariant',
  layerDiffDrift2: 'drift',
  neuronDriftMax2: 'drift',
  matrixDrift2: 'drift',
};

describe(`column roles from the core on ${BACKEND}`, () => {
  it('the role names of the TS layer are the core`s (13, in its order)', () => {
    expect(COLUMN_ROLES).toEqual(['step', 'stepSize', 'time', 'loss', 'norm', 'ratio', 'invariant', 'drift', 'residual', 'gradNorm', 'curvature', 'solver', 'other']);
    expect(isColumnRole('drift')).toBe(true);
    expect(isColumnRole('normRatio')).toBe(false);
  });

  it('matrix factorization: every column has its role, on the Run and on the result; time = the sum of the step sizes', async () => {
    const spec = smallSpec({ steps: 40, recordEvery: 4, schedule: { kind: 'inversePower', c: 0.05, delta: 0.25 } });
    const run = await Run.create(spec, opts);
    try {
      expectRolesComplete(run);
      expect(run.columnRoles).toEqual(MF_ROLES);
      expect(run.columnNames).toEqual(Object.keys(MF_ROLES));
    } finally {
      run.dispose();
    }
    const r = await train(spec, opts);
    expectRolesComplete(r);
    expect(r.columnRoles).toEqual(MF_ROLES);
    expect(stepColumn(r)).toBe('step');
    // Flow time: time at step t is the sum of eta_s over s < t (every run records it now).
    const eta = (t: number): number => 0.05 * (t + 1) ** -0.75;
    const time = r.columns['time'] as Float64Array;
    const step = r.columns['step'] as Float64Array;
    expect(time[0]).toBe(0);
    for (let i = 0; i < r.rows; i++) {
      let want = 0;
      for (let s = 0; s < (step[i] as number); s++) want += eta(s);
      expect(time[i]).toBeCloseTo(want, 12);
    }
  });

  it('matrix factorization with curvature tracking and a flow method: curvature and solver roles', async () => {
    const r = await train(smallSpec({ steps: 20, recordEvery: 5, curvature: { every: 10 }, method: { kind: 'implicitMidpoint' } }), opts);
    expectRolesComplete(r);
    expect(columnsWithRole(r, 'curvature')).toEqual(['lambdaMin', 'lambdaMax', 'lambdaMinResidual', 'lambdaMaxResidual']);
    expect(columnsWithRole(r, 'solver')).toEqual(['solveIters', 'solveResidual']);
    expect(columnsWithRole(r, 'time')).toEqual(['time']);
    const d = await train(smallSpec({ steps: 10, method: { kind: 'dopri5' } }), opts);
    expect(columnsWithRole(d, 'solver')).toEqual(['rejected']);
  });

  it('networks: every column has its role (norms with biases, per-pair invariants and drifts)', async () => {
    const r = await train(netSpec(), opts);
    expectRolesComplete(r);
    expect(r.columnRoles).toEqual(NET_ROLES);
    expect(r.columnNames).toEqual(Object.keys(NET_ROLES));
    // The time column is there for every method on networks too.
    const rk = await train(netSpec({ method: { kind: 'rk4' } }), opts);
    expect(rk.columnRoles['time']).toBe('time');
  });

  it('the JSON result carries the roles', async () => {
    const r = await train(smallSpec({ steps: 10, recordEvery: 5 }), opts);
    const json = JSON.parse(JSON.stringify(resultToJson(r))) as { columnNames: string[]; columnRoles: Record<string, string> };
    expect(json.columnRoles).toEqual(MF_ROLES);
    expect(json.columnNames).toEqual(Object.keys(MF_ROLES));
  });
});

describe(`reports pick columns by role on ${BACKEND}`, () => {
  it('summarize: the ratio columns at the last row, the largest |drift|', async () => {
    const r = await train(smallSpec({ steps: 50 }), opts);
    const s = summarize(r);
    const nr = r.columns['normRatio'] as Float64Array;
    expect(s.finalNormRatios).toEqual([nr[nr.length - 1]]);
    expect(s.maxInvariantDrift).toBe(Math.max(...Array.from(r.columns['imbalanceDrift'] as Float64Array, Math.abs)));
    const n = await train(netSpec(), opts);
    const sn = summarize(n);
    expect(sn.finalNormRatios).toEqual(['normRatio1', 'normRatio2'].map((c) => n.columns[c]?.[n.rows - 1]));
    const drifts = ['layerDiffDrift1', 'neuronDriftMax1', 'layerDiffDrift2', 'neuronDriftMax2', 'matrixDrift2'];
    expect(sn.maxInvariantDrift).toBe(Math.max(...drifts.flatMap((c) => Array.from(n.columns[c] as Float64Array, Math.abs))));
  });

  it('runFigure: one panel per column, grouped by role (loss, residual, norms, balance, curvature), against the step', async () => {
    const r = await train(smallSpec({ steps: 40, recordEvery: 2, curvature: { every: 10 } }), opts);
    const fig = runFigure('mf', r);
    // Titles say what each column is (its role in words), then its name.
    expect(fig.panels.map((p) => p.title)).toEqual([
      'loss',
      'residual',
      'squared norm: normU2',
      'squared norm: normV2',
      'ratio of squared norms: normRatio',
      'conserved quantity: imbalance',
      'drift of a conserved quantity: imbalanceDrift',
      'curvature: lambdaMin',
      'curvature: lambdaMax',
      'curvature: lambdaMinResidual',
      'curvature: lambdaMaxResidual',
    ]);
    // The conserved quantity stays within a decade: a linear axis around its initial value.
    expect(fig.panels.map((p) => p.logY)).toEqual([true, true, false, false, false, false, false, false, false, false, false]);
    expect(fig.panels[5]?.yDomain).toBeDefined();
    for (const p of fig.panels) {
      expect(p.xLabel).toBe('iteration');
      expect(p.series[0]?.x).toEqual(r.columns['step']);
      expect(p.series[0]?.y).toEqual(r.columns[p.title.replace(/^.*: /, '')]);
    }
    const n = await train(netSpec(), opts);
    const nf = runFigure('net', n);
    expect(nf.panels.map((p) => p.title.replace(/^.*: /, ''))).toEqual([
      'loss',
      'normSqW1',
      'normSqB1',
      'normSqW2',
      'normSqW3',
      'normRatio1',
      'normRatio2',
      'layerDiff1',
      'layerDiff2',
      'layerDiffDrift1',
      'neuronDriftMax1',
      'layerDiffDrift2',
      'neuronDriftMax2',
      'matrixDrift2',
    ]);
    // A conserved quantity goes on a linear axis around its initial value (signed or not), unless
    // it spans decades.
    for (const h of [1, 2]) {
      const name = `layerDiff${h}`;
      const p = nf.panels.find((p) => p.title === `conserved quantity: ${name}`);
      expect(p?.logY).toBe(false);
      expect(p?.yDomain).toBeDefined();
    }
  });

  /**
   * A result whose columns have unusual names but proper roles, with decoys: columns named like
   * the core's (`step`, `normRatio`, `imbalanceDrift`, `loss`) whose role is `other`.
   */
  function oddResult(): RunResult {
    const cols: [string, ColumnRole, number[]][] = [
      ['it', 'step', [0, 5, 10, 15]],
      ['step', 'other', [100, 200, 300, 400]],
      ['h', 'stepSize', [0.1, 0.1, 0.1, 0.1]],
      ['objective', 'loss', [8, 4, 2, 1]],
      ['loss', 'other', [-1, -1, -1, -1]],
      ['fitErr', 'residual', [4, 2.8, 2, 1.4]],
      ['sqA', 'norm', [1, 2, 3, 4]],
      ['sqB', 'norm', [4, 3, 2, 1]],
      ['balanceAB', 'ratio', [0.25, 0.67, 1.5, 4]],
      ['normRatio', 'other', [99, 99, 99, 99]],
      ['cons', 'invariant', [-3, -3, -3, -3]],
      ['cons2', 'invariant', [2, 2, 2, 2]],
      ['consMove', 'drift', [0, 1e-3, -5e-3, 2e-3]],
      ['consMove2', 'drift', [0, 1e-4, 2e-4, 3e-4]],
      ['imbalanceDrift', 'other', [7, 7, 7, 7]],
      ['eig', 'curvature', [NaN, 1, NaN, 0.5]],
      ['g', 'gradNorm', [3, 2, 1, 0.5]],
      ['iters', 'solver', [1, 2, 3, 4]],
    ];
    return {
      backend: BACKEND,
      columnNames: cols.map(([n]) => n),
      columnRoles: Object.fromEntries(cols.map(([n, role]) => [n, role])),
      columns: Object.fromEntries(cols.map(([n, , v]) => [n, Float64Array.from(v)])),
      rows: 4,
      step: 15,
      steps: 15,
      finished: true,
      cancelled: false,
      stop: 'finished',
      divergedAt: null,
      stoppedAt: null,
      reason: null,
      loss: 1,
      params: {},
      initialParams: {},
    };
  }

  it('a result with unusual column names but proper roles is summarized and plotted by role', () => {
    const r = oddResult();
    const s = summarize(r);
    expect(s.finalNormRatios).toEqual([4]);
    expect(s.maxInvariantDrift).toBe(5e-3);
    expect(s.finalLoss).toBe(1);
    const fig = runFigure('odd', r);
    expect(fig.panels.map((p) => p.title.replace(/^.*: /, ''))).toEqual(['objective', 'fitErr', 'sqA', 'sqB', 'balanceAB', 'cons', 'cons2', 'consMove', 'consMove2', 'eig']);
    expect(fig.panels[5]?.title).toBe('conserved quantity: cons');
    expect(fig.panels.map((p) => p.logY)).toEqual([true, true, false, false, false, false, false, false, false, false]);
    for (const p of fig.panels) expect(Array.from(p.series[0]?.x ?? [])).toEqual([0, 5, 10, 15]);
    // The JSON result keeps the roles as given.
    expect(resultToJson(r).columnRoles).toEqual(r.columnRoles);
    // No drift column: NaN, not -Infinity.
    const noDrift = { ...r, columnRoles: { ...r.columnRoles, consMove: 'other', consMove2: 'other' } } satisfies RunResult;
    expect(summarize(noDrift).maxInvariantDrift).toBeNaN();
  });

  it('presetFigure takes the x axis from the column of role step (unless the plot names one)', () => {
    const r = oddResult();
    const preset = { name: 'odd', description: '', runs: [], hessian: [], reference: [], plots: [{ title: 'a', column: 'objective', logY: true }, { title: 'b', column: 'objective', x: 'h' }] } as unknown as Preset;
    const fig = presetFigure(preset, [{ label: 'x', spec: {} as RunSpec, result: r }]);
    expect(fig.panels[0]?.xLabel).toBe('iteration');
    expect(Array.from(fig.panels[0]?.series[0]?.x ?? [])).toEqual([0, 5, 10, 15]);
    expect(fig.panels[1]?.xLabel).toBe('h');
    expect(Array.from(fig.panels[1]?.series[0]?.x ?? [])).toEqual([0.1, 0.1, 0.1, 0.1]);
  });

  it('checks read the steps from the column of role step', () => {
    const r = oddResult();
    const [c] = checkReferences(
      [
        {
          checks: [
            { kind: 'atMost', of: { run: 0, column: 'objective', reduce: 'max', from: 5 }, bound: 4 },
            { kind: 'equals', of: { run: 0, column: 'objective', reduce: 'firstStepAtMost', value: 2 }, value: 10 },
            { kind: 'near', of: { run: 0, column: 'objective', reduce: 'at', step: 12 }, to: 2 },
            { kind: 'nonIncreasing', run: 0, column: 'objective' },
          ],
        },
      ],
      { runs: [r] },
    );
    expect(c?.outcomes.map((o) => o.pass)).toEqual([true, true, true, true]);
    expect(c?.status).toBe('agrees');
    // Without a column of role step, a step window cannot be evaluated: incomplete, and said so.
    const noStep = { ...r, columnRoles: { ...r.columnRoles, it: 'other' } } satisfies RunResult;
    const [d] = checkReferences([{ checks: [{ kind: 'atMost', of: { run: 0, column: 'objective', reduce: 'last' }, bound: 4 }] }], { runs: [noStep] });
    expect(d?.status).toBe('incomplete');
    expect(d?.outcomes[0]?.text).toMatch(/no column of role step/);
  });
});

describe(`the CLI on ${BACKEND} writes the roles into its JSON result`, () => {
  const CLI = fileURLToPath(new URL('../packages/autobalance/dist/cli.js', import.meta.url));
  const tmp = mkdtempSync(join(tmpdir(), 'autobalance-roles-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('train --out: columnRoles beside columnNames, equal to the API result', async () => {
    const spec = netSpec({ steps: 20 });
    const specPath = join(tmp, 'net.json');
    const outPath = join(tmp, 'net-result.json');
    writeFileSync(specPath, JSON.stringify(spec));
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, 'train', '--spec', specPath, '--out', outPath], {
        env: { ...process.env, AUTOBALANCE_BACKEND: BACKEND },
        stdio: ['ignore', 'ignore', 'ignore'],
      });
      const killer = setTimeout(() => child.kill('SIGKILL'), 25_000);
      child.on('error', reject);
      child.on('close', (c) => {
        clearTimeout(killer);
        resolve(c);
      });
    });
    expect(code).toBe(0);
    const out = JSON.parse(readFileSync(outPath, 'utf8')) as { columnNames: string[]; columnRoles: Record<string, string> };
    const api = await train(spec, opts);
    expect(out.columnNames).toEqual(api.columnNames);
    expect(out.columnRoles).toEqual(api.columnRoles);
    expect(out.columnRoles).toEqual(NET_ROLES);
  });
});
