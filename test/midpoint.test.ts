// Runs that stop honestly (issue 10), per backend: an implicit midpoint solve that cannot reach its
// tolerance stops the run with `stop: 'solverFailed'` and the last good state (never a silently
// kept step); maxIter is capped; normal and diverged runs report their stop too.
import { describe, expect, it } from 'vitest';

import { type NetworkRunSpec, OutOfRangeError, Run, summarize, train } from 'autobalance';

import { BACKEND, smallSpec } from './helpers.js';

const opts = { backend: BACKEND } as const;

function reluSpec(method: NetworkRunSpec['method'], steps = 50): NetworkRunSpec {
  return {
    model: {
      kind: 'network',
      inputDim: 6,
      loss: 'squared',
      layers: [
        { width: 8, activation: 'relu', bias: true },
        { width: 7, activation: 'relu', bias: true },
        { width: 3 },
      ],
    },
    data: { kind: 'generated', samples: 30, inputs: 'gaussian', targets: { kind: 'gaussian', std: 1 }, seed: 5 },
    init: { kind: 'gaussian', stds: [0.6, 0.6, 0.6], seed: 6 },
    schedule: { kind: 'constant', eta: 0.05 },
    method,
    steps,
    recordEvery: 10,
  };
}

describe(`implicit midpoint and stop reasons on ${BACKEND}`, () => {
  it('a solve that cannot converge stops with solverFailed and keeps the last good state', async () => {
    const t0 = Date.now();
    const r = await train(reluSpec({ kind: 'implicitMidpoint', tol: 1e-300, maxIter: 1000 }), opts);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.finished).toBe(true);
    expect(r.cancelled).toBe(false);
    expect(r.stop).toBe('solverFailed');
    expect(r.stoppedAt).toBe(1);
    expect(r.divergedAt).toBeNull();
    expect(r.reason).toMatch(/implicitMidpoint/);
    expect(r.step).toBe(0);
    // The last good state: the initial one, with its row recorded.
    expect(r.rows).toBe(1);
    for (const name of Object.keys(r.params)) {
      expect(Array.from(r.params[name]?.data ?? [])).toEqual(Array.from(r.initialParams[name]?.data ?? []));
    }
    expect(Number.isFinite(r.loss)).toBe(true);
    expect(r.columns['loss']?.[0]).toBe(r.loss);
    expect(r.columns['time']?.[0]).toBe(0);
    expect(summarize(r).outcome).toBe('solver failed at 1');
  });

  it('the status of a Run carries the stop, advanced step by step', async () => {
    const run = await Run.create(reluSpec({ kind: 'implicitMidpoint', tol: 1e-300 }), opts);
    try {
      expect(run.status).toMatchObject({ finished: false, stop: null, stoppedAt: null, reason: null });
      const st = run.advance(5);
      expect(st).toMatchObject({ step: 0, finished: true, stop: 'solverFailed', stoppedAt: 1, divergedAt: null });
      expect(run.advance(5)).toMatchObject({ step: 0, stop: 'solverFailed' });
    } finally {
      run.dispose();
    }
  });

  it('converges on the same network with the default tolerance, invariants kept', async () => {
    const r = await train(reluSpec({ kind: 'implicitMidpoint' }, 200), opts);
    expect(r.stop).toBe('finished');
    expect(r.stoppedAt).toBeNull();
    expect(r.reason).toBeNull();
    expect(summarize(r).maxInvariantDrift).toBeLessThan(1e-11);
  });

  it('maxIter above 1000 is out of range', async () => {
    for (const maxIter of [4e9, 1001]) {
      await expect(train(reluSpec({ kind: 'implicitMidpoint', maxIter }), opts)).rejects.toMatchObject({
        constructor: OutOfRangeError,
        code: 'out_of_range',
        field: 'method.maxIter',
      });
    }
  });

  it('divergence reports its stop; at step 0 no row and a reason', async () => {
    const d = await train(smallSpec({ schedule: { kind: 'constant', eta: 5 }, steps: 1000 }), opts);
    expect(d.stop).toBe('diverged');
    expect(d.stoppedAt).toBe(d.divergedAt);
    const last = d.rows - 1;
    for (const name of d.columnNames) expect(Number.isFinite(d.columns[name]?.[last])).toBe(true);
    const z = await train(smallSpec({ init: { kind: 'gaussian', stdU: 1e100, stdV: 1e100, seed: 2 } }), opts);
    expect(z).toMatchObject({ stop: 'diverged', divergedAt: 0, stoppedAt: 0, rows: 0, loss: null });
    expect(z.reason).toMatch(/initial point/);
  });
});
