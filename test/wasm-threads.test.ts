// The threaded wasm module (experimental, opt-in: AUTOBALANCE_WASM_THREADS=1 bash
// scripts/build-wasm.sh) against the single-threaded one, both loaded in this process whatever
// AUTOBALANCE_BACKEND says: the core's parallel loops map over chunks fixed by the problem size and
// sum them in chunk order, so a run gives the SAME BITS on a pool of 2 workers as on one thread.
// Also under V8's Liftoff-only and TurboFan-only tiers (child processes): rayon without
// `web_spin_lock` gave wrong results under Liftoff in the probe (crates/wasm/Cargo.toml).
// Skipped, saying why, when the threaded module is not built (an error with
// AUTOBALANCE_REQUIRE_WASM_THREADS=1, as scripts/test.sh sets).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { beforeAll, describe, expect, it } from 'vitest';

import { type Backend, type RunSpec, Run, loadBackendByName, presetSpec } from 'autobalance';

import { loadWasmThreadsBackend, wasmThreadsPoolSize } from '../packages/autobalance/src/wasm-threads-node.js';

import { mfSpec } from './wasm-threads-spec.mjs';

const DIR = fileURLToPath(new URL('../packages/autobalance/wasm-threads/', import.meta.url));
const BUILT = existsSync(`${DIR}autobalance_wasm_bg.wasm`) && existsSync(`${DIR}autobalance_wasm.js`);
const WHY = BUILT ? '' : ' (SKIPPED: packages/autobalance/wasm-threads/ is not built: AUTOBALANCE_WASM_THREADS=1 bash scripts/build-wasm.sh)';
if (!BUILT) process.stderr.write(`test/wasm-threads.test.ts:${WHY}\n`);
// The test command (scripts/test.sh) builds the module and sets this: there a missing module fails.
if (!BUILT && process.env['AUTOBALANCE_REQUIRE_WASM_THREADS'] === '1') {
  throw new Error(`AUTOBALANCE_REQUIRE_WASM_THREADS=1 but the threaded module is missing${WHY}`);
}
const CHILD = fileURLToPath(new URL('./wasm-threads-child.mjs', import.meta.url));
const THREADS = 2;

/** Matrix factorization large enough for the parallel path (6 d1 d2 r >= 2e6 flops per step). */
const MF: RunSpec = mfSpec(20);

/** The figure2 preset's first run (1000-100-100-10 ReLU net, 1000 points), a few steps. */
async function figure2Spec(): Promise<RunSpec> {
  const preset = await presetSpec('figure2', { backend: 'wasm' });
  return { ...preset.runs[0]!.spec, steps: 3, recordEvery: 1 } as RunSpec;
}

/** Every recorded column, every parameter block and a Lanczos eigenvalue report, as bytes. */
async function outcome(spec: RunSpec, backend: Backend, lanczos: boolean): Promise<Record<string, Buffer | string>> {
  const run = await Run.create(spec, { backend });
  try {
    run.advance(spec.steps as number);
    const out: Record<string, Buffer | string> = {};
    for (const [name, col] of Object.entries(run.columns())) out[`column ${name}`] = Buffer.from(col.buffer, col.byteOffset, col.byteLength);
    for (const [name, m] of Object.entries(run.result().params)) out[`param ${name}`] = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
    if (lanczos) out['lanczos'] = JSON.stringify(await run.hessian({ what: 'eigs', which: 'both', k: 2, method: 'lanczos', tol: 1e-8 }));
    return out;
  } finally {
    run.dispose();
  }
}

function expectSameBits(a: Record<string, Buffer | string>, b: Record<string, Buffer | string>): void {
  expect(Object.keys(a).length).toBeGreaterThan(3);
  expect(Object.keys(b)).toEqual(Object.keys(a));
  for (const k of Object.keys(a)) expect(Buffer.compare(Buffer.from(b[k]!), Buffer.from(a[k]!)), k).toBe(0);
}

// scripts/test.sh runs core suites with AUTOBALANCE_WASM_THREADS=2 (this file among them): there the
// `wasm` backend must be the threaded module with its pool, not a silent single-threaded module.
const ENV_THREADS = Number(process.env['AUTOBALANCE_WASM_THREADS'] || 0);
it.runIf(BUILT && ENV_THREADS > 0)('with AUTOBALANCE_WASM_THREADS set, the wasm backend is the threaded module and its pool', async () => {
  const b = await loadBackendByName('wasm');
  expect(b.name).toBe('wasm');
  expect(wasmThreadsPoolSize()).toBe(ENV_THREADS);
});

describe.skipIf(!BUILT)(`threaded wasm module (${THREADS} workers) gives the single-threaded module's bits${WHY}`, () => {
  let single: Backend;
  let threaded: Backend;

  beforeAll(async () => {
    single = await loadBackendByName('wasm');
    threaded = await loadWasmThreadsBackend({ threads: THREADS });
  }, 60_000);

  it('loads, runs the same core version, and uses its pool', async () => {
    expect(threaded.name).toBe('wasm');
    expect(threaded.coreVersion).toBe(single.coreVersion);
    expect(wasmThreadsPoolSize()).toBe(THREADS);
    // Asking again for another pool size is an error (rayon's global pool is built once).
    await expect(loadWasmThreadsBackend({ threads: THREADS + 1 })).rejects.toThrow(/loaded with 2 threads/);
  });

  it('matrix factorization (300 x 200, rank 20): 20 GD steps and a Lanczos query, same bits', async () => {
    expectSameBits(await outcome(MF, single, true), await outcome(MF, threaded, true));
  });

  it('the figure2 network (1000-100-100-10, 1000 points): 3 GD steps, same bits', async () => {
    const spec = await figure2Spec();
    expectSameBits(await outcome(spec, single, false), await outcome(spec, threaded, false));
  });

  it('AUTOBALANCE_WASM_THREADS=2 makes the wasm backend the threaded module, and the process exits by itself', () => {
    const text = execFileSync(process.execPath, [CHILD, '--env'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, AUTOBALANCE_WASM_THREADS: '2' } });
    const r = JSON.parse(text.trim().split('\n').pop()!) as { poolSize: number; loss: number };
    expect(r.poolSize).toBe(THREADS);
    expect(Number.isFinite(r.loss)).toBe(true);
  });

  // V8's tiers forced in a child process (the probe's wrong results were Liftoff-only).
  for (const flags of [['--liftoff', '--no-wasm-tier-up'], ['--no-liftoff']]) {
    it(`under node ${flags.join(' ')}: the same bits`, () => {
      const text = execFileSync(process.execPath, [...flags, CHILD], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, AUTOBALANCE_WASM_THREADS: '' } });
      const r = JSON.parse(text.trim().split('\n').pop()!) as { poolSize: number; single: Record<string, string>; threaded: Record<string, string> };
      expect(r.poolSize).toBe(THREADS);
      expect(Object.keys(r.single).filter((k) => k.startsWith('mf ')).length).toBeGreaterThan(3);
      expect(Object.keys(r.single).filter((k) => k.startsWith('figure2 ')).length).toBeGreaterThan(3);
      expect(r.threaded).toEqual(r.single);
    }, 120_000);
  }
});
