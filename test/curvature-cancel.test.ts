// Issue 10: curvature queries that can be stopped, give the same bits in any chunking, and never
// claim a wrong answer (Lanczos multiplicities, Lemma 3.2 hypotheses); the CLI's hessian command
// stops on Ctrl-C with exit code 130. Parameterized by backend (AUTOBALANCE_BACKEND).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { type MatrixFactorizationRunSpec, QueryCancelledError, Run } from 'autobalance';

import { BACKEND } from './helpers.js';
import { LONG_DENSITY, bigSpec } from './query-helpers.js';

const opts = { backend: BACKEND } as const;

describe(`cancellable curvature queries on ${BACKEND}`, () => {
  it('an AbortSignal stops a long density query between chunks: QueryCancelledError, run still usable', async () => {
    const run = await Run.create(bigSpec(), opts);
    const controller = new AbortController();
    const t0 = performance.now();
    setTimeout(() => controller.abort(), 300);
    const err = await run.hessian(LONG_DENSITY, { signal: controller.signal }).then(
      () => null,
      (e: unknown) => e,
    );
    const dt = performance.now() - t0;
    expect(err).toBeInstanceOf(QueryCancelledError);
    const e = err as QueryCancelledError;
    expect(e.code).toBe('cancelled');
    expect(e.field).toBe('query');
    expect(e.units).toBeGreaterThan(0);
    // Stopped within about one chunk (50 ms target) of the abort, not after the whole query.
    expect(dt).toBeLessThan(3000);
    // The run is unchanged and answers the next query.
    const t = await run.hessian({ what: 'trace', probes: 3 });
    expect(t.probes).toBe(3);
    run.dispose();
  });

  it('an already aborted signal rejects at once', async () => {
    const run = await Run.create(bigSpec(), opts);
    const controller = new AbortController();
    controller.abort();
    await expect(run.hessian({ what: 'trace' }, { signal: controller.signal })).rejects.toBeInstanceOf(QueryCancelledError);
    run.dispose();
  });

  it('chunked queries give the same bits as one chunk', async () => {
    const spec: MatrixFactorizationRunSpec = { ...bigSpec(), model: { kind: 'matrixFactorization', d1: 30, d2: 20, rank: 3 }, target: { kind: 'random', singularValues: [3, 2, 1], seed: 3 } };
    const run = await Run.create(spec, opts);
    for (const q of [
      { what: 'density', probes: 4, lanczosSteps: 50, gridPoints: 40 },
      { what: 'trace', probes: 9, seed: 2 },
      { what: 'eigs', k: 3, which: 'both', method: 'lanczos' },
    ] as const) {
      const whole = await run.hessian(q, { chunkMillis: 1e9 });
      const tiny = await run.hessian(q, { chunkMillis: 1e-6 });
      expect(JSON.stringify(tiny)).toBe(JSON.stringify(whole));
    }
    run.dispose();
  });

  it('next to the origin Lanczos finds the three copies of -sigma_1 (or does not claim convergence)', async () => {
    const spec: MatrixFactorizationRunSpec = {
      model: { kind: 'matrixFactorization', d1: 30, d2: 30, rank: 3 },
      target: { kind: 'random', singularValues: [3, 2, 1], seed: 1 },
      init: { kind: 'gaussian', stdU: 1e-6, stdV: 1e-6, seed: 7 },
      schedule: { kind: 'constant', eta: 0.01 },
      steps: 0,
    };
    const run = await Run.create(spec, opts);
    const dense = await run.hessian({ what: 'eigs', k: 3, method: 'dense' });
    const lz = await run.hessian({ what: 'eigs', k: 3, method: 'lanczos' });
    run.dispose();
    expect(lz.allConverged).toBe(true);
    expect(lz.multiplicityVerified).toBe(true);
    const want = (dense.smallest ?? []).map((p) => p.value);
    const got = (lz.smallest ?? []).map((p) => p.value);
    expect(got.length).toBe(3);
    got.forEach((v, i) => expect(Math.abs(v - (want[i] ?? NaN))).toBeLessThan(1e-7));
    expect(got.every((v) => Math.abs(v + 3) < 1e-4)).toBe(true);
  });

  it('Lemma 3.2 gives no side at a point that is not stationary', async () => {
    const spec: MatrixFactorizationRunSpec = {
      model: { kind: 'matrixFactorization', d1: 8, d2: 6, rank: 3 },
      target: { kind: 'random', singularValues: [5, 3, 2], seed: 1 },
      init: { kind: 'gaussian', stdU: 0.01, stdV: 0.01, seed: 2 },
      schedule: { kind: 'constant', eta: 0.01 },
      steps: 0,
    };
    const run = await Run.create(spec, opts);
    const l = await run.hessian({ what: 'lemma32', eps: 0.05 });
    run.dispose();
    expect(l.value).toBeLessThanOrEqual(l.bound);
    expect(l.side).toBe('neither');
    expect(l.hypotheses.stationary).toBe(false);
    expect(l.reason).toMatch(/not stationary/);
  });
});

const CLI = fileURLToPath(new URL('../packages/autobalance/dist/cli.js', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'autobalance-qcancel-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe(`CLI hessian on ${BACKEND}`, () => {
  it('Ctrl-C during a long hessian query stops it and exits 130', async () => {
    const specPath = join(tmp, 'spec.json');
    const queryPath = join(tmp, 'query.json');
    writeFileSync(specPath, JSON.stringify(bigSpec()));
    writeFileSync(queryPath, JSON.stringify(LONG_DENSITY));
    let sent = 0;
    const r = await new Promise<{ code: number | null; stderr: string; ms: number }>((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, 'hessian', '--spec', specPath, '--query', queryPath, '--at-init'], {
        env: { ...process.env, AUTOBALANCE_BACKEND: BACKEND },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const killer = setTimeout(() => child.kill('SIGKILL'), 25_000);
      const poll = setInterval(() => {
        if (!sent && /hessian: density/.test(stderr)) {
          // The query has started; give it a moment, then interrupt once.
          setTimeout(() => {
            sent = performance.now();
            child.kill('SIGINT');
          }, 500);
          clearInterval(poll);
          sent = -1;
        }
      }, 20);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(killer);
        clearInterval(poll);
        resolve({ code, stderr, ms: performance.now() - sent });
      });
    });
    expect(sent).toBeGreaterThan(0);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/cancelled/);
    expect(r.ms).toBeLessThan(5000);
  });
});
