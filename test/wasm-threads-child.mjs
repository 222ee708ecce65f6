// Child process of test/wasm-threads.test.ts, run under forced V8 tiers (`node --liftoff
// --no-wasm-tier-up` or `--no-liftoff`): the built package (dist/, built by the suite's global
// setup) with the single-threaded and the threaded wasm module (2 workers); prints one JSON line
// with sha256 digests of every column and parameter block of a matrix-factorization run and of
// 2 steps of the figure2 network, per module.
// With `--env` (the parent sets AUTOBALANCE_WASM_THREADS): the `wasm` backend is the threaded
// module; one run, then the process must exit by itself (the pool's workers are unref'ed).
import { createHash } from 'node:crypto';

import { Run, loadBackendByName, presetSpec } from '../packages/autobalance/dist/index.js';
import { loadWasmThreadsBackend, wasmThreadsPoolSize } from '../packages/autobalance/dist/wasm-threads-node.js';

import { mfSpec } from './wasm-threads-spec.mjs';

const MF = mfSpec(10);

const sha = (a) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');

async function digests(spec, backend, tag, out) {
  const run = await Run.create(spec, { backend });
  run.advance(spec.steps);
  for (const [name, col] of Object.entries(run.columns())) out[`${tag} column ${name}`] = sha(col);
  for (const [name, m] of Object.entries(run.result().params)) out[`${tag} param ${name}`] = sha(m.data);
  run.dispose();
}

async function compare() {
  const single = await loadBackendByName('wasm');
  const threaded = await loadWasmThreadsBackend({ threads: 2 });
  const net = { ...(await presetSpec('figure2', { backend: single })).runs[0].spec, steps: 2, recordEvery: 1 };
  const result = { single: {}, threaded: {} };
  for (const [name, b] of [['single', single], ['threaded', threaded]]) {
    await digests(MF, b, 'mf', result[name]);
    await digests(net, b, 'figure2', result[name]);
  }
  result.poolSize = wasmThreadsPoolSize();
  return result;
}

async function viaEnv() {
  const run = await Run.create(MF, { backend: await loadBackendByName('wasm') });
  run.advance(MF.steps);
  const out = { poolSize: wasmThreadsPoolSize(), loss: run.status.loss };
  run.dispose();
  return out;
}

console.log(JSON.stringify(process.argv.includes('--env') ? await viaEnv() : await compare()));
