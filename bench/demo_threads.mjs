#!/usr/bin/env node
// The demo page's wasm module in Debian's chromium, with and without threads: the same GD run
// (matrix factorization, default (1000,1000,50), 40 steps) on a cross-origin isolated page (the
// threaded module on a pool of navigator.hardwareConcurrency workers) and on a plain one (the
// single-threaded module), timed by the page's worker (window.__autobalance.seconds: the wall time
// of the worker's core calls) and from page load to the end (module load, pool start, drawing). Usage, after `pnpm --filter autobalance-demo build` with the
// threaded module built (AUTOBALANCE_WASM_THREADS=1 bash scripts/build-wasm.sh):
//   node bench/demo_threads.mjs [--shape 1000x1000x50] [--steps 40] [--reps 3]
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { serveDist } from '../test/e2e/serve-dist.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'packages/demo/dist');
const opt = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const [d1, d2, rank] = opt('--shape', '1000x1000x50').split('x').map(Number);
const steps = Number(opt('--steps', 40));
const reps = Number(opt('--reps', 3));
if (!existsSync(join(dist, 'index.html'))) throw new Error('build the page first: pnpm --filter autobalance-demo build');
const { base, close: closeServer } = await serveDist(dist);
const { chromium } = createRequire(join(root, 'packages/demo/package.json'))('playwright-core');
const dir = mkdtempSync(join(os.tmpdir(), 'autobalance-bench-'));
const context = await chromium.launchPersistentContext(dir, { executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
const page = context.pages()[0] ?? (await context.newPage());
const query = `model=mf&d1=${d1}&d2=${d2}&rank=${rank}&w=0&stdU=0.01&stdV=0.01&method=gd&eta=0.0005&steps=${steps}&every=${steps}&seed=1`;
console.log(`demo page, MF (${d1},${d2},${rank}), ${steps} GD steps, chromium ${context.browser()?.version() ?? ''}, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(2)}`);
const out = {};
for (let r = 0; r < reps; r++) {
  for (const [name, prefix] of [['threads', ''], ['single', 'plain/']]) {
    await page.goto(`${base}${prefix}?${query}`);
    const t0 = Date.now();
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? '') && window.__autobalance?.coreVersion != null, null, { timeout: 600_000 });
    const wall = (Date.now() - t0) / 1000;
    const info = await page.evaluate(() => ({ threads: window.__autobalance.threads, state: window.__autobalance.state, core: window.__autobalance.seconds, loss: window.__autobalance.columns.loss?.at(-1) }));
    (out[name] ??= []).push({ wall, ...info });
    console.log(`${name}: ${info.threads} thread(s), ${info.state}, ${(1000 * info.core / steps).toFixed(1)} ms/step in the worker's core calls, ${(1000 * wall / steps).toFixed(1)} from page load to done, final loss ${info.loss}`);
  }
}
const med = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const [t, s] = ['threads', 'single'].map((k) => med(out[k].map((x) => x.core)));
const [tw, sw] = ['threads', 'single'].map((k) => med(out[k].map((x) => x.wall)));
console.log(`median ms/step in the core: threads ${(1000 * t / steps).toFixed(1)}, single ${(1000 * s / steps).toFixed(1)}: single / threads ${(s / t).toFixed(2)} (page load to done: ${(sw / tw).toFixed(2)}); same final loss: ${out.threads.every((x, i) => Object.is(x.loss, out.single[i].loss))}`);
await context.close();
rmSync(dir, { recursive: true, force: true });
closeServer();
