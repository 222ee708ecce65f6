#!/usr/bin/env node
// End-to-end test of the demo page (packages/demo) in a real browser: Debian's chromium driven by
// playwright-core. Serves the production build (packages/demo/dist) on a free localhost port,
// opens the page with the settings of a small matrix-factorization run in the query string, waits
// for the page's `done` marker, and checks
//   - the spec the page built from the URL is the one expected;
//   - the plotted values (window.__autobalance.columns) equal the wasm backend's in Node bit for
//     bit, and agree with the native backend's to 1e-12 relative to each column's scale (the rule
//     of docs/api.md, "Numerics across backends");
//   - the last-row table shows exactly those numbers, and the SVG plots are drawn;
//   - "What kind of point is this?" gives the native backend's verdict and eigenvalues;
//   - with curvature tracking on (`curvature=k` in the URL), the plotted lambda_min and lambda_max
//     (NaN rows skipped) equal the wasm backend's in Node bit for bit;
//   - a ReLU network runs and agrees with native; its curvature answer is the native one (or, with
//     a core that has no network curvature, the page says it is not available, as native does);
// served with the cross-origin isolation headers, the page runs the threaded wasm module (when
// built) on a pool of > 1 workers, and under /plain/ (no headers) the single-threaded one, an MF
// run large enough for the parallel path giving the wasm backend's bits in Node both ways;
// that the page stays responsive during a long run and Stop stops it; that the form runs and
// writes the URL, and an invalid setting shows the core's error naming the field;
// that curvature tracking set in the URL plots lambda_min and lambda_max equal to the wasm backend's;
// the presets (each a pair of runs overlaid, each run equal to the wasm backend in Node bit for bit,
// visibly live at the preset's speed, with its explanation), play / pause / Step (exactly one
// optimization step, its row recorded and plotted, equal to the wasm backend's) / reset, hover
// readouts, CSV and spec downloads, the error states (a bad number named in words, unknown URL
// values reported, a failed run clearing the plots, a diverged run saying what to try), and a
// narrow viewport without horizontal scrolling;
// and saves screenshots to out/e2e/ (demo.png, demo-curvature.png, demo-net.png, demo-figure1.png,
// demo-figure2.png, demo-conservation.png, demo-cnn.png, demo-saddle.png, demo-continuation.png,
// demo-<preset>-step.png, demo-narrow.png, demo-error.png). Exits non-zero on any failure or after 150 s.
//
//   node test/e2e/demo.e2e.mjs        (after `pnpm --filter autobalance-demo build`; see scripts/e2e.sh)
//
// Not a vitest file: the root `vitest run` only includes test/**/*.test.ts.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { serveDist } from './serve-dist.mjs';

const T0 = Date.now();
const TOTAL_TIMEOUT_MS = 150_000;
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dist = join(root, 'packages/demo/dist');
const shot = join(root, 'out/e2e/demo.png');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const killer = setTimeout(() => {
  console.error(`e2e: FAILED: timed out after ${TOTAL_TIMEOUT_MS / 1000} s`);
  process.exit(1);
}, TOTAL_TIMEOUT_MS);

const log = (msg) => console.log(`e2e: [${((Date.now() - T0) / 1000).toFixed(1)} s] ${msg}`);
let failures = 0;
function check(ok, what, detail = '') {
  if (ok) log(`ok   ${what}`);
  else {
    failures += 1;
    console.error(`e2e: FAIL ${what}${detail ? `: ${detail}` : ''}`);
  }
}
function fatal(msg) {
  console.error(`e2e: FAILED: ${msg}`);
  process.exit(1);
}

if (!existsSync(join(dist, 'index.html'))) fatal(`${dist}/index.html not found: build the page first (pnpm --filter autobalance-demo build)`);
if (!existsSync(chromiumPath)) fatal(`${chromiumPath} not found: apt-get install -y chromium`);
const nativeEntry = join(root, 'packages/autobalance/dist/index.js');
if (!existsSync(nativeEntry)) fatal(`${nativeEntry} not found: build the TS package first (pnpm --filter autobalance build)`);

// playwright-core is a dev dependency of packages/demo.
const { chromium } = createRequire(join(root, 'packages/demo/package.json'))('playwright-core');
const { Run, study, train } = await import(nativeEntry);

// ---- a static server for dist/ (isolated; /plain/ without the headers) -----------------------
const THREADS_BUILT = existsSync(join(root, 'packages/autobalance/wasm-threads/autobalance_wasm_bg.wasm'));
const { base, served, close: closeServer } = await serveDist(dist);
log(`serving ${dist} at ${base}`);

// ---- the run: URL settings and the spec they stand for ----------------------------------------
const query = 'model=mf&d1=12&d2=10&rank=3&sv=3,2,1&w=0&stdU=0.5&stdV=0.05&method=gd&eta=0.1&steps=500&every=2&seed=7';
const spec = {
  model: { kind: 'matrixFactorization', d1: 12, d2: 10, rank: 3, balanceWeight: 0 },
  target: { kind: 'random', singularValues: [3, 2, 1], seed: 7 },
  init: { kind: 'gaussian', stdU: 0.5, stdV: 0.05, seed: 8 },
  schedule: { kind: 'constant', eta: 0.1 },
  method: { kind: 'gd' },
  steps: 500,
  recordEvery: 2,
};

/** Figure 1's preset settings as the URL holds them (run at full speed). */
const PRESET_FIGURE1 = 'model=mf&d1=20&d2=15&rank=3&sv=3,2,1&w=0&stdU=0.001&stdV=0.001&method=gd&eta=0.02&steps=600&every=2&seed=1';

/** JSON with sorted keys, for comparing specs. */
const canon = (x) =>
  JSON.stringify(x, (_, v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort()) : v));

const userDataDir = mkdtempSync(join(tmpdir(), 'autobalance-e2e-'));
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1500, height: 1150 },
    timeout: 20_000,
  });
  log(`chromium ${context.browser()?.version() ?? ''} launched`);
  const page = context.pages()[0] ?? (await context.newPage());
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(`console.error: ${m.text()}`);
  });
  page.on('requestfailed', (r) => pageErrors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));

  const finished = (p) =>
    // The core loaded too (an error found before any work must not leave the worker's wasm fetch to
    // be aborted by the next navigation).
    p.waitForFunction(() => ['done', 'paused', 'error'].includes(document.body.dataset.state ?? '') && window.__autobalance?.coreVersion != null, null, { timeout: 30_000 });

  // 1. The matrix-factorization run.
  await page.goto(`${base}?${query}`);
  await finished(page);
  const got = await page.evaluate(() => {
    const a = window.__autobalance;
    return {
      state: a.state,
      error: a.error,
      spec: a.spec,
      status: a.status,
      seconds: a.seconds,
      columnNames: a.columnNames,
      columns: a.columns,
      search: location.search,
      rowsAttr: document.querySelector('#plots')?.getAttribute('data-rows'),
      paths: document.querySelectorAll('#plots svg path, #plots svg polyline').length,
      table: Array.from(document.querySelectorAll('#last tr')).map((tr) => [tr.querySelector('th')?.textContent, tr.querySelector('td')?.textContent]),
    };
  });
  check(got.state === 'done', 'the page ran to the end', `state ${got.state} ${JSON.stringify(got.error)}`);
  log(`page run: ${got.status?.step} steps, ${got.columns.step?.length} rows, ${got.seconds?.toFixed(3)} s in the worker`);
  check(canon(got.spec) === canon(spec), 'the spec built from the URL is the expected one', `${canon(got.spec)}\n  vs ${canon(spec)}`);
  check(new URLSearchParams(got.search).toString() === new URLSearchParams(query).toString(), 'the URL holds the settings', got.search);
  check(served.some((p) => p.endsWith('.wasm')), 'the wasm module was served as a static asset of dist/', served.join(' '));

  const nat = await train(spec, { backend: 'native' });
  const wasm = await train(spec, { backend: 'wasm' });
  check(canon(got.columnNames) === canon(nat.columnNames), 'the page records the native columns', got.columnNames.join(','));
  const rows = nat.rows;
  check(got.columns.step?.length === rows && got.rowsAttr === String(rows), `the page holds and plots all ${rows} rows`, `${got.columns.step?.length}, plotted ${got.rowsAttr}`);
  check(got.paths >= 3, 'the SVG plots are drawn', `${got.paths} lines`);

  let identical = true;
  let worstScaled = 0;
  let worstPointwise = 0;
  let worstColumn = '';
  for (const name of nat.columnNames) {
    const page_ = got.columns[name] ?? [];
    const n = Array.from(nat.columns[name]);
    const w = Array.from(wasm.columns[name]);
    if (page_.length !== n.length) {
      check(false, `column ${name} length`, `${page_.length} vs ${n.length}`);
      continue;
    }
    const scale = Math.max(...n.map(Math.abs));
    for (let i = 0; i < n.length; i++) {
      if (!Object.is(page_[i], w[i])) identical = false;
      const d = Math.abs(page_[i] - n[i]);
      if (d === 0) continue;
      const scaled = d / scale;
      if (scaled > worstScaled) [worstScaled, worstColumn] = [scaled, `${name}[${i}]`];
      worstPointwise = Math.max(worstPointwise, d / Math.max(Math.abs(page_[i]), Math.abs(n[i])));
    }
  }
  check(identical, 'the page values equal the wasm backend in Node bit for bit');
  check(
    worstScaled <= 1e-12,
    'the page values agree with the native backend to 1e-12 relative (to each column scale)',
    `worst ${worstScaled.toExponential(2)} at ${worstColumn}`,
  );
  log(`     worst difference to native: ${worstScaled.toExponential(2)} of the column scale (${worstColumn || 'none'}), ${worstPointwise.toExponential(2)} pointwise`);
  const last = rows - 1;
  const tableOk =
    got.table.length === nat.columnNames.length &&
    got.table.every(([name, text]) => Object.is(Number(text), got.columns[name]?.[last]));
  check(tableOk, 'the last-row table shows the recorded float64 values exactly', JSON.stringify(got.table.slice(0, 3)));

  // 2. Curvature at the point reached.
  await page.click('#classify');
  await page.waitForFunction(() => ['done', 'unavailable'].includes(document.querySelector('#verdict')?.dataset.state ?? ''), null, {
    timeout: 15_000,
  });
  const cv = await page.evaluate(() => ({
    text: document.querySelector('#verdict')?.textContent ?? '',
    report: window.__autobalance.curvature,
  }));
  const natRun = await Run.create(spec, { backend: 'native' });
  natRun.advance(spec.steps);
  const ref = await natRun.hessian({ what: 'classify' });
  natRun.dispose();
  const r = cv.report;
  check(r !== null && r.verdict.kind === ref.verdict.kind && ref.verdict.kind === 'localMinimum', 'the verdict is the native one: local minimum', `${r?.verdict.kind} vs ${ref.verdict.kind}`);
  check(cv.text.includes('A local minimum'), 'the page shows the verdict', cv.text.slice(0, 80));
  check(r !== null && r.zeroCount === ref.zeroCount && r.symmetryDim === ref.symmetryDim && r.symmetryDim === 9, 'near-zero eigenvalues vs symmetry dimension: 9 vs 9', `${r?.zeroCount} vs ${r?.symmetryDim}`);
  const lmax = Math.abs(ref.lambdaMax);
  check(
    r !== null && Math.abs(r.lambdaMax - ref.lambdaMax) <= 1e-10 * lmax && Math.abs(r.lambdaMin - ref.lambdaMin) <= 1e-10 * lmax,
    'lambda_min and lambda_max agree with native (to 1e-10 of lambda_max)',
    `${r?.lambdaMin}, ${r?.lambdaMax} vs ${ref.lambdaMin}, ${ref.lambdaMax}`,
  );
  check(cv.text.includes(String(r?.lambdaMax)) && cv.text.includes(String(r?.lambdaMin)), 'the page shows lambda_min and lambda_max');
  log(`     verdict: ${cv.text.split('λ_min')[0]}; lambda_min ${r?.lambdaMin}, lambda_max ${r?.lambdaMax}`);

  mkdirSync(dirname(shot), { recursive: true });
  await page.screenshot({ path: shot, fullPage: true });
  log(`screenshot ${shot}`);

  // 2a. Threads: isolated, the worker runs the threaded module on a pool (when built); under /plain/
  // (no COOP/COEP), the single-threaded module. A run large enough for the parallel path (6 d1 d2 r
  // = 7.2e6 flops per step) gives the bits of the single-threaded wasm backend in Node on both.
  {
    const big = 'model=mf&d1=300&d2=200&rank=20&w=0&stdU=0.05&stdV=0.05&method=gd&eta=0.002&steps=20&every=1&seed=1';
    for (const [prefix, isolated] of [['', true], ['plain/', false]]) {
      await page.goto(`${base}${prefix}?${big}`);
      await finished(page);
      const r = await page.evaluate(() => ({
        state: window.__autobalance.state,
        threads: window.__autobalance.threads,
        isolated: self.crossOriginIsolated,
        core: document.querySelector('#core')?.textContent,
        why: document.querySelector('#core')?.getAttribute('title'),
        spec: window.__autobalance.spec,
        columns: window.__autobalance.columns,
      }));
      const want = isolated && THREADS_BUILT ? 'a pool of > 1 threads' : '1 thread';
      check(r.isolated === isolated, `${prefix || '/'}: crossOriginIsolated is ${isolated}`);
      check(isolated && THREADS_BUILT ? r.threads > 1 : r.threads === 1, `${prefix || '/'}: the page's wasm module runs ${want}`, `threads ${r.threads}: ${r.core} ${r.why ?? ''}`);
      const ref = await train(r.spec, { backend: 'wasm' });
      const same = r.state === 'done' && ref.columnNames.every((n) => {
        const a = r.columns[n] ?? [];
        const b = Array.from(ref.columns[n]);
        return a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
      });
      check(same, `${prefix || '/'}: MF 300 x 200, rank 20 (${r.threads} thread(s)) equals the wasm backend in Node bit for bit`, r.state);
      log(`${prefix || '/'}: ${r.core}${r.why ? ` (${r.why})` : ''}`);
    }
  }

  // 2b. Curvature tracking along the run, from the URL: `curvature=9` with `every=2` runs with
  // `curvature: {every: 10}` (rounded to a multiple of recordEvery); the plotted lambda_min and
  // lambda_max are the wasm backend's, bit for bit, on the sampled rows.
  const curvQuery = query.replace('steps=500', 'steps=300') + '&curvature=9';
  const curvSpec = { ...spec, steps: 300, curvature: { every: 10 } };
  await page.goto(`${base}?${curvQuery}`);
  await finished(page);
  const cg = await page.evaluate(() => {
    const a = window.__autobalance;
    return {
      state: a.state,
      error: a.error,
      spec: a.spec,
      search: location.search,
      input: document.querySelector('input[name=curvature]')?.value,
      columns: a.columns,
      plot: a.curvaturePlot,
      panels: a.panels,
      paths: document.querySelectorAll('#plots svg path').length,
    };
  });
  check(cg.state === 'done', 'curvature tracking: the page ran to the end', `${cg.state} ${JSON.stringify(cg.error)}`);
  check(canon(cg.spec) === canon(curvSpec), 'curvature tracking: the spec has curvature {every: 10} (9 rounded to a multiple of every=2)', canon(cg.spec));
  check(
    new URLSearchParams(cg.search).get('curvature') === '10' && cg.input === '10',
    'curvature tracking: the URL and the form hold the interval the run uses (10)',
    `${cg.search} / ${cg.input}`,
  );
  const cw = await train(curvSpec, { backend: 'wasm' });
  const cn = await train(curvSpec, { backend: 'native' });
  const sampled = Array.from(cw.columns.step).flatMap((_, i) => (Number.isNaN(cw.columns.lambdaMax[i]) ? [] : [i]));
  const want = {
    step: sampled.map((i) => cw.columns.step[i]),
    lambdaMin: sampled.map((i) => cw.columns.lambdaMin[i]),
    lambdaMax: sampled.map((i) => cw.columns.lambdaMax[i]),
  };
  const sameArr = (a, b) => Array.isArray(a) && a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
  check(
    ['lambdaMin', 'lambdaMax', 'lambdaMinResidual', 'lambdaMaxResidual'].every((c) => sameArr(cg.columns[c], Array.from(cw.columns[c]))),
    'curvature tracking: the recorded lambdaMin/lambdaMax (and residual) columns equal the wasm backend bit for bit, NaN rows included',
  );
  check(
    cg.plot !== null && sameArr(cg.plot.step, want.step) && sameArr(cg.plot.lambdaMin, want.lambdaMin) && sameArr(cg.plot.lambdaMax, want.lambdaMax),
    `curvature tracking: the plotted lambda_min/lambda_max (${want.step.length} samples, NaN rows skipped) equal the wasm backend bit for bit`,
    JSON.stringify(cg.plot)?.slice(0, 200),
  );
  check(want.step.length === 31 && want.step[0] === 0 && want.step.at(-1) === 300, 'curvature tracking: samples at steps 0, 10, ..., 300', want.step.join(','));
  check(cg.panels.includes('lambdaMin') && cg.panels.includes('lambdaMax') && cg.paths >= 6, 'curvature tracking: the lambda_max and lambda_min panels are drawn', `${cg.panels} ${cg.paths} paths`);
  const nanCells = await page.evaluate(() => Array.from(document.querySelectorAll('#last tr')).filter((tr) => tr.querySelector('td')?.textContent === 'NaN').length);
  check(nanCells === 0, 'the last-row table shows no "NaN" (an unsampled value is a dash)', String(nanCells));
  const cscale = Math.max(...Array.from(cn.columns.lambdaMax).filter((v) => !Number.isNaN(v)).map(Math.abs));
  let cworst = 0;
  for (const c of ['lambdaMin', 'lambdaMax']) {
    for (let i = 0; i < cn.rows; i++) {
      const a = cg.columns[c][i];
      const b = cn.columns[c][i];
      if (Number.isNaN(a) !== Number.isNaN(b)) cworst = Infinity;
      else if (!Number.isNaN(a)) cworst = Math.max(cworst, Math.abs(a - b) / cscale);
    }
  }
  check(cworst <= 1e-10, 'curvature tracking: lambda_min/lambda_max agree with native (to 1e-10 of max |lambda_max|)', cworst.toExponential(2));
  log(
    `     curvature: ${want.step.length} samples; lambda_min ${want.lambdaMin[0]} -> ${want.lambdaMin.at(-1)}, lambda_max ${want.lambdaMax[0]} -> ${want.lambdaMax.at(-1)}; worst vs native ${cworst.toExponential(2)} of max |lambda_max|`,
  );
  const curvShot = shot.replace(/\.png$/, '-curvature.png');
  await page.screenshot({ path: curvShot, fullPage: true });
  log(`screenshot ${curvShot}`);

  // 3. A small ReLU network: runs, plots its layers, and says curvature is not available.
  const netQuery = 'model=net&input=5&hidden=8,8&output=2&samples=20&stds=0.5&method=rk4&eta=0.05&steps=200&every=5&seed=3';
  await page.goto(`${base}?${netQuery}`);
  await finished(page);
  const net = await page.evaluate(() => ({ state: window.__autobalance.state, spec: window.__autobalance.spec, columns: window.__autobalance.columns }));
  check(net.state === 'done', 'the network run finished', net.state);
  const netNat = await train(net.spec, { backend: 'native' });
  const lossDiff = Math.max(...Array.from(netNat.columns.loss).map((v, i) => Math.abs(v - net.columns.loss[i]) / Math.abs(v)));
  check(net.columns.loss?.length === netNat.rows && lossDiff <= 1e-12, 'the network loss agrees with native to 1e-12', lossDiff.toExponential(2));
  check(Array.isArray(net.columns.normSqW3) && Array.isArray(net.columns.layerDiffDrift2), 'the network columns are there (normSqW3, layerDiffDrift2)');
  await page.click('#classify');
  await page.waitForFunction(() => ['done', 'unavailable'].includes(document.querySelector('#verdict')?.dataset.state ?? ''), null, {
    timeout: 15_000,
  });
  const netCv = await page.evaluate(() => ({
    text: document.querySelector('#verdict')?.textContent ?? '',
    report: window.__autobalance.curvature,
  }));
  // The page asks the core; the answer must be what the native backend says at the same point.
  const netRun = await Run.create(net.spec, { backend: 'native' });
  netRun.advance(net.spec.steps);
  const netRef = await netRun.hessian({ what: 'classify' }).catch((e) => e);
  netRun.dispose();
  if (netRef instanceof Error) {
    check(netCv.text.startsWith('Not available for networks') && netCv.text.includes(netRef.detail), 'curvature: the page says it is not available for networks, as the core does', netCv.text);
  } else {
    const nr = netCv.report;
    const scale = Math.abs(netRef.lambdaMax);
    check(
      nr?.verdict.kind === netRef.verdict.kind &&
        nr.symmetryDim === netRef.symmetryDim &&
        Math.abs(nr.lambdaMin - netRef.lambdaMin) <= 1e-10 * scale &&
        Math.abs(nr.lambdaMax - netRef.lambdaMax) <= 1e-10 * scale,
      'curvature of the network: the native verdict, symmetry dimension and extreme eigenvalues',
      `${nr?.verdict.kind} ${nr?.symmetryDim} ${nr?.lambdaMin} ${nr?.lambdaMax} vs ${netRef.verdict.kind} ${netRef.symmetryDim} ${netRef.lambdaMin} ${netRef.lambdaMax}`,
    );
  }

  await page.screenshot({ path: shot.replace(/\.png$/, '-net.png'), fullPage: true });
  // 4. A long run: the page stays responsive while the worker computes, and Pause stops it.
  // 10^7 steps recording every 100th: long enough to stop by hand, and its 10^5 rows within the wasm
  // memory budget (which counts every row to be recorded: 10^7 rows would be refused up front).
  const longQuery = 'model=mf&d1=200&d2=150&rank=10&stdU=0.01&stdV=0.01&eta=0.001&steps=10000000&every=100&seed=1';
  await page.goto(`${base}?${longQuery}`);
  await page.waitForFunction(() => (window.__autobalance.status?.step ?? 0) >= 1000, null, { timeout: 15_000 });
  let slowest = 0;
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    await page.evaluate(() => new Promise((ok) => requestAnimationFrame(() => ok(null))));
    slowest = Math.max(slowest, performance.now() - t);
  }
  const during = await page.evaluate(() => window.__autobalance.state);
  check(during === 'running' && slowest < 1000, 'the page answers (an animation frame) while the worker runs', `${during}, slowest ${slowest.toFixed(0)} ms`);
  await page.click('#pause');
  await finished(page);
  const stopped = await page.evaluate(() => ({ state: window.__autobalance.state, step: window.__autobalance.status?.step }));
  await page.waitForTimeout(300);
  const still = await page.evaluate(() => window.__autobalance.status?.step);
  check(stopped.state === 'paused' && stopped.step < 10_000_000 && still === stopped.step, 'Pause stops the run (no more steps while paused)', `${JSON.stringify(stopped)} then ${still}`);
  log(`     stopped at step ${stopped.step}; slowest frame during the run ${slowest.toFixed(0)} ms`);
  // Too long to record every step (10^7 rows would not fit): Step still takes exactly one step.
  await page.click('#step');
  await page.waitForFunction((s) => document.body.dataset.state === 'paused' && window.__autobalance.status?.step === s + 1, stopped.step, { timeout: 10_000 });
  const longStep = await page.evaluate(() => ({ step: window.__autobalance.status?.step, title: document.querySelector('#step')?.title ?? '' }));
  check(longStep.step === stopped.step + 1 && longStep.title.includes('too long to record every step'), 'a long run: Step takes exactly one step and says its row shows only on a recorded step', JSON.stringify(longStep));

  // 5. The form: new settings go to the URL and run; an invalid one shows the core's error.
  await page.fill('input[name=steps]', '50');
  await page.fill('input[name=d1]', '30');
  await page.click('#run');
  await finished(page);
  const edited = await page.evaluate(() => ({ state: window.__autobalance.state, step: window.__autobalance.status?.step, search: location.search }));
  const params = new URLSearchParams(edited.search);
  check(edited.state === 'done' && edited.step === 50 && params.get('steps') === '50' && params.get('d1') === '30', 'a run from the form, with its settings in the URL', JSON.stringify(edited));
  await page.fill('input[name=rank]', '40');
  await page.click('#run');
  await finished(page);
  const bad = await page.evaluate(() => ({ state: window.__autobalance.state, text: document.querySelector('#status')?.textContent ?? '' }));
  check(bad.state === 'error' && bad.text.startsWith('model.rank: ') && bad.text.includes('(out_of_range)'), 'an invalid setting shows the error naming the field', JSON.stringify(bad));
  const cleared = await page.evaluate(() => ({ figures: document.querySelectorAll('#plots figure').length, rows: document.querySelectorAll('#last tr').length, cols: Object.keys(window.__autobalance.columns).length }));
  check(cleared.figures === 0 && cleared.rows === 0 && cleared.cols === 0, "a failed run clears the previous run's plots and table", JSON.stringify(cleared));
  const marked = await page.evaluate(() => Array.from(document.querySelectorAll('#settings [aria-invalid=true]')).map((e) => e.getAttribute('name')));
  check(canon(marked) === '["rank"]', 'the form marks the field the error names (model.rank -> rank)', JSON.stringify(marked));
  await page.fill('input[name=rank]', '3');
  await page.fill('input[name=eta]', 'abc');
  await page.click('#run');
  await finished(page);
  const nan = await page.evaluate(() => ({ state: window.__autobalance.state, text: document.querySelector('#status')?.textContent ?? '', figures: document.querySelectorAll('#plots figure').length }));
  check(nan.state === 'error' && nan.text.startsWith('eta: expected a number') && nan.figures === 0, 'a bad number names the field in words (eta: expected a number)', JSON.stringify(nan));
  const marked2 = await page.evaluate(() => Array.from(document.querySelectorAll('#settings [aria-invalid=true]')).map((e) => e.getAttribute('name')));
  check(canon(marked2) === '["eta"]', 'the form marks the bad number (eta), and only it', JSON.stringify(marked2));
  await page.screenshot({ path: shot.replace(/\.png$/, '-error.png'), fullPage: true });

  await page.fill('input[name=rank]', '3');
  await page.fill('input[name=eta]', '10');
  await page.click('#run');
  await finished(page);
  const diverged = await page.evaluate(() => ({ state: window.__autobalance.state, status: window.__autobalance.status, text: document.querySelector('#status')?.textContent ?? '' }));
  check(
    diverged.state === 'done' && diverged.status?.divergedAt !== null && diverged.text.includes(`diverged at step ${diverged.status?.divergedAt}`) && diverged.text.includes('Try a smaller step size: η = 5'),
    'a diverging run ends with its last finite state, says so, and says what to try (a smaller eta)',
    JSON.stringify(diverged),
  );

  // 6. Unknown values in the address are reported, not silently replaced.
  await page.goto(`${base}?model=mf&method=foo&bogus=1&preset=nope&speed=fast&steps=20&d1=abc`);
  await finished(page);
  const notes = await page.evaluate(() => ({ problems: window.__autobalance.problems, text: document.querySelector('#notices')?.textContent ?? '', state: window.__autobalance.state, status: document.querySelector('#status')?.textContent ?? '' }));
  check(
    ['method=foo', "'bogus'", 'preset=nope', 'speed=fast', 'd1=abc'].every((t) => notes.text.includes(t)),
    'unknown URL values are reported on the page (method, key, preset, speed, a non-number)',
    notes.text,
  );
  check(notes.state === 'error' && notes.status.startsWith('d1: expected a number'), 'a non-number in the URL is an error naming the field', notes.status);

  // 7. The presets: one click each; a pair of runs overlaid, each equal to the wasm backend.
  const presets = [
    { id: 'figure1', differs: (a, b) => a.model.balanceWeight === 0 && b.model.balanceWeight === 0.125, panels: ['loss', 'norms', 'conserved', 'drift'] },
    { id: 'figure2', differs: (a, b) => canon(a.init.stds) !== canon(b.init.stds) && canon(b.init.stds) === canon([0.1, 0.1, 0.1]), panels: ['loss', 'norms', 'conserved', 'drift'] },
    { id: 'conservation', differs: (a, b) => a.method.kind === 'gd' && b.method.kind === 'implicitMidpoint', panels: ['loss', 'norms', 'conserved', 'drift'] },
    { id: 'cnn', differs: (a, b) => a.model.kind === 'weightNormCnn' && a.init.signs[0] === 1 && b.init.signs[0] === -1 && a.init.seed === b.init.seed, panels: ['loss', 'angle', 'distance', 'norms'] },
    { id: 'saddle', differs: (a, b) => a.method.kind === 'gd' && b.method.kind === 'perturbedGd', panels: ['loss', 'gradNorm'] },
  ];
  await page.goto(`${base}?${query}`);
  await finished(page);
  for (const pr of presets) {
    await page.click(`#presets button[data-preset=${pr.id}]`);
    await page.waitForFunction(() => (window.__autobalance.runs[0]?.status?.step ?? 0) > 0, null, { timeout: 10_000 });
    const live = await page.evaluate(() => ({ state: window.__autobalance.state, step: window.__autobalance.status?.step, steps: window.__autobalance.status?.steps, speed: window.__autobalance.speed }));
    check(live.state === 'running' && live.step < live.steps && live.speed !== 'max', `${pr.id}: the preset plays visibly (step ${live.step} of ${live.steps} at ${live.speed} steps/frame)`, JSON.stringify(live));
    // Pause, then Step: exactly one optimization step, its row recorded and plotted (three
    // times, so that at least one lands between the spec's recorded rows); Play to the end.
    await page.click('#pause');
    await page.waitForFunction(() => document.body.dataset.state === 'paused', null, { timeout: 10_000 });
    const p0 = await page.evaluate(() => window.__autobalance.runs.map((r) => r.status.step));
    await page.waitForTimeout(200);
    const p1 = await page.evaluate(() => window.__autobalance.runs.map((r) => r.status.step));
    check(canon(p0) === canon(p1), `${pr.id}: pause holds the runs`, `${p0} / ${p1}`);
    const stepped = [];
    let stepOk = true;
    let stepDetail = '';
    for (let k = 0; k < 3; k++) {
      const before = await page.evaluate(() => window.__autobalance.runs.map((r) => ({ step: r.status.step, rows: r.columns.step.length })));
      await page.click('#step');
      await page.waitForFunction((want) => document.body.dataset.state === 'paused' && window.__autobalance.runs.every((r, i) => r.status.step > want[i].step) && document.querySelector('#plots')?.getAttribute('data-rows') === String(window.__autobalance.runs[0].columns.step.length), before, { timeout: 10_000 });
      const after = await page.evaluate(() => ({
        runs: window.__autobalance.runs.map((r) => ({ step: r.status.step, rows: r.columns.step.length, last: r.columns.step.at(-1), every: r.spec.recordEvery })),
        plotted: document.querySelector('#plots')?.getAttribute('data-rows'),
      }));
      const ok = after.runs.every((r, i) => r.step === before[i].step + 1 && r.rows === before[i].rows + 1 && r.last === r.step) && after.plotted === String(after.runs[0].rows);
      if (!ok) stepOk = false;
      stepDetail += `${JSON.stringify(before)} -> ${JSON.stringify(after)}; `;
      stepped.push(...after.runs.map((r) => ({ step: r.step, every: r.every })));
      if (k === 0) await page.screenshot({ path: shot.replace(/\.png$/, `-${pr.id}-step.png`), fullPage: true });
    }
    // (With "record every" 1, as the saddle preset has, every step is a recorded row anyway.)
    const between = stepped.every((r) => r.every === 1) || stepped.some((r) => r.step % r.every !== 0);
    check(stepOk && between, `${pr.id}: Step advances each run by exactly one step and records (and plots) that step's row, also between the recorded rows`, stepDetail);
    await page.selectOption('#speed', 'max');
    await page.click('#play');
    await finished(page);
    const pg = await page.evaluate(() => ({
      state: window.__autobalance.state,
      preset: window.__autobalance.preset,
      search: location.search,
      runs: window.__autobalance.runs.map((r) => ({ spec: r.spec, columns: r.columns, label: r.label })),
      panels: window.__autobalance.panels,
      explain: document.querySelector('#explain')?.hidden === false ? document.querySelector('#explain')?.textContent ?? '' : '',
      legends: Array.from(document.querySelectorAll('#plots .legend')).map((l) => l.textContent),
      dashed: document.querySelectorAll('#plots path[stroke-dasharray]').length,
    }));
    check(pg.state === 'done' && pg.preset === pr.id && new URLSearchParams(pg.search).get('preset') === pr.id, `${pr.id}: ran to the end; the URL names the preset`, `${pg.state} ${pg.search}`);
    check(pg.runs.length === 2 && pr.differs(pg.runs[0].spec, pg.runs[1].spec), `${pr.id}: two runs, differing as the preset says`, canon(pg.runs.map((r) => r.spec)).slice(0, 300));
    check(pr.panels.every((p) => pg.panels.includes(p)) && pg.dashed > 0, `${pr.id}: panels ${pr.panels.join(', ')} drawn, run B dashed`, `${pg.panels} ${pg.dashed}`);
    check(pg.explain.includes('Watch:') && pg.legends.every((t) => t.length > 0), `${pr.id}: the explanation is shown beside the plots; every panel has a legend`, pg.explain.slice(0, 80));
    // The page holds the spec's rows plus the stepped ones: the spec's rows equal the wasm
    // backend's run of the spec, and every row (stepped ones too) the row of the same step of a
    // run recording every step, bit for bit.
    let same = true;
    let extra = 0;
    for (const r of pg.runs) {
      const w = await train(r.spec, { backend: 'wasm' });
      const w1 = await train({ ...r.spec, recordEvery: 1 }, { backend: 'wasm' });
      const wantSteps = new Set(Array.from(w.columns.step));
      const keep = r.columns.step.flatMap((s, i) => (wantSteps.has(s) ? [i] : []));
      extra += r.columns.step.length - keep.length;
      for (const name of w.columnNames) if (!sameArr(keep.map((i) => r.columns[name][i]), Array.from(w.columns[name]))) same = false;
      const at = new Map(Array.from(w1.columns.step).map((s, i) => [s, i]));
      for (let i = 0; i < r.columns.step.length; i++) {
        const j = at.get(r.columns.step[i]);
        if (j === undefined) same = false;
        else for (const name of w1.columnNames) if (!Object.is(r.columns[name][i], w1.columns[name][j])) same = false;
      }
    }
    check(same && extra === stepped.filter((s) => s.step % s.every !== 0).length, `${pr.id}: both overlaid runs equal the wasm backend in Node bit for bit (the spec's rows, and the ${extra} stepped rows between them)`);
    // A hover readout: a vertical rule and the values at the step under the pointer.
    const svg = page.locator('#plots figure[data-panel=loss] svg');
    const box = await svg.boundingBox();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
    const hov = await page.evaluate(() => ({
      text: document.querySelector('#plots figure[data-panel=loss] .readout')?.textContent ?? '',
      rule: document.querySelector('#plots figure[data-panel=loss] line.rule')?.getAttribute('visibility'),
      others: Array.from(document.querySelectorAll('#plots .readout')).filter((r) => r.textContent).length,
    }));
    check(hov.text.startsWith('step ') && hov.text.includes('(A)') && hov.text.includes('(B)') && hov.rule === 'visible' && hov.others === pg.panels.length, `${pr.id}: hovering shows a rule and the values of both runs in every panel`, JSON.stringify(hov));
    await page.screenshot({ path: shot.replace(/\.png$/, `-${pr.id}.png`), fullPage: true });
    if (pr.id === 'cnn') {
      // Run A reaches the global minimum, run B (v flipped) the spurious one; the core decided each.
      const [a, b] = pg.runs.map((r) => r.columns);
      const end = (c, name) => c[name].at(-1);
      check(
        end(a, 'outcome') === 1 && end(b, 'outcome') === -1 && end(a, 'loss') < 1e-25 && Math.abs(end(b, 'loss') - 0.1468) < 1e-3 && end(a, 'phi') < 1e-9 && end(b, 'phi') > 3 && a.phi[0] < Math.PI / 2 && b.phi[0] > Math.PI / 2,
        'cnn: run A ends at the global minimum (loss < 1e-25, φ = 0, outcome +1), run B at the spurious one (loss 0.147, φ → π, outcome -1)',
        `A ${end(a, 'outcome')} ${end(a, 'loss')} ${end(a, 'phi')}; B ${end(b, 'outcome')} ${end(b, 'loss')} ${end(b, 'phi')}`,
      );
    }
    if (pr.id === 'saddle') {
      // The end of GD's run on the octopus is its minimum (a saddle has lambda_min = -2 gamma).
      await page.click('#classify');
      await page.waitForFunction(() => ['done', 'unavailable'].includes(document.querySelector('#verdict')?.dataset.state ?? ''), null, { timeout: 15_000 });
      const oc = await page.evaluate(() => ({ kind: window.__autobalance.curvature?.verdict.kind, text: document.querySelector('#verdict')?.textContent ?? '' }));
      check(oc.kind === 'localMinimum' && oc.text.includes('A local minimum'), 'saddle: at the end of the run GD is at a local minimum of the octopus (the verdict)', JSON.stringify(oc).slice(0, 120));
    }
  }
  // Reset: step 0 again, same settings and seed, paused.
  await page.click('#reset');
  await page.waitForFunction(() => document.body.dataset.state === 'paused' && window.__autobalance.runs.every((r) => r.status?.rows === 1), null, { timeout: 10_000 });
  const rs = await page.evaluate(() => ({ steps: window.__autobalance.runs.map((r) => r.status.step), seeds: window.__autobalance.runs.map((r) => r.spec.init.seed) }));
  check(canon(rs.steps) === '[0,0]' && canon(rs.seeds) === '[3,3]', 'Reset goes back to step 0 with the same seed, paused', JSON.stringify(rs));
  // Downloads: the CSV has a run column and every row of both runs; the spec has both specs.
  await page.selectOption('#speed', 'max');
  await page.click('#play');
  await finished(page);
  const [csvDl] = await Promise.all([page.waitForEvent('download'), page.click('#csv')]);
  const csv = await readFile(await csvDl.path(), 'utf8');
  const [specDl] = await Promise.all([page.waitForEvent('download'), page.click('#spec')]);
  const specJson = JSON.parse(await readFile(await specDl.path(), 'utf8'));
  const nrows = await page.evaluate(() => window.__autobalance.runs.map((r) => r.columns.step.length));
  const csvLines = csv.trim().split('\n');
  check(csvLines[0]?.startsWith('run,step,') && csvLines.length === 1 + nrows[0] + nrows[1], 'Download CSV: a header with a run column and every recorded row of both runs', `${csvLines[0]} ${csvLines.length}`);
  check(specJson.runs?.length === 2 && specJson.runs[1].spec.method.kind === 'perturbedGd', 'Download spec: both runs\' specs', JSON.stringify(specJson).slice(0, 120));
  // Compare with the previous run: the last run's settings become run B.
  await page.selectOption('#overlay', 'previous');
  await page.fill('input[name=eta]', '0.2');
  await page.click('#run');
  await finished(page);
  const cmp = await page.evaluate(() => ({ state: window.__autobalance.state, etas: window.__autobalance.runs.map((r) => r.spec.schedule.eta), search: location.search }));
  check(cmp.state === 'done' && canon(cmp.etas) === '[0.2,0.25]' && new URLSearchParams(cmp.search).has('compare'), 'compare with the previous run: the previous settings are run B (and in the URL)', JSON.stringify(cmp));

  // Sliders: moving one writes its field live; letting go runs again with the same seed.
  await page.selectOption('#overlay', 'none');
  const slide = (sel, value) =>
    page.$eval(sel, (el, v) => {
      el.value = String(v);
      el.dispatchEvent(new Event('input', { bubbles: true }));
      return document.querySelector(`input[name=${el.dataset.for ?? el.dataset.scaleList}]`)?.value;
    }, value);
  const live = await slide('input[type=range][data-for=eta]', -1);
  await page.$eval('input[type=range][data-for=eta]', (el) => el.dispatchEvent(new Event('change', { bubbles: true })));
  await finished(page);
  const sl = await page.evaluate(() => ({ state: window.__autobalance.state, eta: window.__autobalance.spec.schedule.eta, seed: window.__autobalance.spec.init.seed }));
  check(live === '0.1' && sl.state === 'done' && sl.eta === 0.1 && sl.seed === 3, 'the eta slider shows its value in the field as it moves, and reruns with the same seed', `${live} ${JSON.stringify(sl)}`);
  // A preset's pair with another model's settings: one run, and the page says so.
  await page.selectOption('#overlay', 'preset');
  await page.selectOption('select[name=model]', 'mf');
  await page.click('#run');
  await finished(page);
  const other = await page.evaluate(() => ({ runs: window.__autobalance.runs.length, problems: window.__autobalance.problems, state: window.__autobalance.state }));
  check(other.state === 'done' && other.runs === 1 && other.problems.some((p) => p.includes("The preset's pair")), "a preset's pair with another model's settings runs alone and says so", JSON.stringify(other));
  await page.goto(`${base}?model=net&input=5&hidden=8,8&output=2&samples=20&stds=0.5,0.2,0.1&eta=0.05&steps=20&every=5&seed=3`);
  await finished(page);
  const scaled = await slide('input[type=range][data-scale-list=stds]', 1);
  await page.$eval('input[type=range][data-scale-list=stds]', (el) => el.dispatchEvent(new Event('change', { bubbles: true })));
  await finished(page);
  const ns = await page.evaluate(() => ({ state: window.__autobalance.state, stds: window.__autobalance.spec.init.stds }));
  check(scaled === '5,2,1' && ns.state === 'done' && canon(ns.stds) === '[5,2,1]', 'the network init-std slider scales every layer (x10) and reruns', `${scaled} ${JSON.stringify(ns)}`);

  // 7b. The continuation preset (a study, not runs): the branch diagram with its folds, the two
  // verdicts, the cost; its columns equal the wasm backend's study in Node bit for bit.
  const takes = await page.evaluate(() => Array.from(document.querySelectorAll('#presets button')).map((b) => [b.dataset.preset, b.querySelector('.takes')?.textContent ?? '']));
  check(takes.length === 6 && takes.every(([, t]) => /^(about \d+ s|a few seconds)$/.test(t)), 'the preset list says how long each takes', JSON.stringify(takes));
  const tStudy = Date.now();
  await page.click('#presets button[data-preset=continuation]');
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state) && window.__autobalance.study !== null || document.body.dataset.state === 'error', null, { timeout: 60_000 });
  const studyMs = Date.now() - tStudy;
  const cs = await page.evaluate(() => ({
    state: window.__autobalance.state,
    study: window.__autobalance.study,
    panels: window.__autobalance.panels,
    search: location.search,
    explain: document.querySelector('#explain')?.hidden === false ? document.querySelector('#explain')?.textContent ?? '' : '',
    folds: document.querySelectorAll('#plots figure[data-panel=branches] circle.fold').length,
    foldTitles: Array.from(document.querySelectorAll('#plots figure[data-panel=branches] circle.fold title')).map((t) => t.textContent),
    verdictMarkers: document.querySelectorAll('#plots figure[data-panel=verdicts] circle.marker').length,
    table: document.querySelectorAll('#last tbody tr').length,
    status: document.querySelector('#status')?.textContent ?? '',
  }));
  check(cs.state === 'done' && canon(cs.panels) === canon(['branches', 'verdicts', 'cost']) && new URLSearchParams(cs.search).get('preset') === 'continuation', 'continuation: the study ran in the worker; branch diagram, verdicts and cost drawn; the URL names the preset', `${cs.state} ${cs.panels} ${cs.search}`);
  log(`     continuation: ${cs.status} (${(studyMs / 1000).toFixed(1)} s from the click)`);
  if (cs.study) {
    const ref = await study(cs.study.spec, { backend: 'wasm' });
    const same = canon(ref.columnNames) === canon(cs.study.columnNames) && ref.columnNames.every((n) => sameArr(cs.study.columns[n], Array.from(ref.columns[n])));
    check(same, `continuation: the page's ${ref.rows} points equal the wasm backend's study in Node bit for bit`);
    // The folds of Example 1 (docs/continuation.md): n = 1, -1, 2, -2.
    const want = { 1: 0.0751576, [-1]: 0.1453871, 2: 0.0385491, [-2]: 0.0509301 };
    const got = Object.fromEntries(cs.study.output.folds.map((f) => [cs.study.spec.starts[cs.study.columns.branch[f.row]].sheet, f.lambda]));
    check(cs.study.output.folds.length === 4 && Object.entries(want).every(([n, l]) => Math.abs(got[n] - l) < 1e-7) && cs.folds === 4 && cs.foldTitles.some((t) => t.includes('n = 1: λ = 0.0751576')) && cs.table === 4, 'continuation: four folds at the documented λ (1e-7), marked on the diagram and listed', `${JSON.stringify(got)} ${cs.folds} ${cs.table}`);
    // Branch n = 1: among constant weights a minimum before the fold and a saddle after; among
    // time-varying weights (K = 16) a saddle already before the fold.
    const c = cs.study.columns;
    const b1 = cs.study.spec.starts.findIndex((st) => st.sheet === 1);
    const fold = cs.study.output.folds.find((f) => c.branch[f.row] === b1);
    const rows = c.branch.flatMap((b, i) => (b === b1 && !Number.isNaN(c.verdictConst[i]) && i !== fold.row ? [i] : []));
    const before = rows.filter((i) => c.arc[i] > 0 && c.arc[i] < c.arc[fold.row]);
    const after = rows.filter((i) => c.arc[i] > c.arc[fold.row]);
    check(
      before.length > 0 && after.length > 0 && before.every((i) => c.verdictConst[i] === 1) && after.every((i) => c.verdictConst[i] === -1) && before.some((i) => c.verdictTime[i] === -1) && cs.verdictMarkers > 0,
      'continuation: branch n = 1 is a minimum among constant weights before its fold and a saddle after; among time-varying weights a saddle before the fold too',
      `${before.map((i) => `${c.lambda[i].toFixed(3)}:${c.verdictConst[i]}/${c.verdictTime[i]}`).join(' ')} | ${after.length}`,
    );
  }
  check(cs.explain.includes('Watch:') && cs.explain.includes('fold'), 'continuation: the explanation is shown beside the plots', cs.explain.slice(0, 80));
  await page.screenshot({ path: shot.replace(/\.png$/, '-continuation.png'), fullPage: true });
  const [studyCsv] = await Promise.all([page.waitForEvent('download'), page.click('#csv')]);
  const scsv = (await readFile(await studyCsv.path(), 'utf8')).trim().split('\n');
  check(scsv[0]?.startsWith('branch,direction,arc,lambda') && scsv.length === 1 + (cs.study?.columns.lambda.length ?? -1), 'continuation: Download CSV gives every point of the study', `${scsv[0]} ${scsv.length}`);

  // 8. A narrow screen: no horizontal scrolling, the plots stacked.
  await page.setViewportSize({ width: 390, height: 860 });
  await page.goto(`${base}?preset=figure1&${new URLSearchParams(PRESET_FIGURE1).toString()}`);
  await finished(page);
  const narrow = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth, state: window.__autobalance.state }));
  check(narrow.scroll <= narrow.client, 'a narrow viewport (390 px) needs no horizontal scrolling', JSON.stringify(narrow));
  await page.screenshot({ path: shot.replace(/\.png$/, '-narrow.png'), fullPage: true });
  await page.setViewportSize({ width: 1500, height: 1150 });

  check(pageErrors.length === 0, 'no page errors, console errors or failed requests', pageErrors.join('\n  '));
} catch (e) {
  failures += 1;
  console.error(`e2e: FAIL ${e?.stack ?? e}`);
} finally {
  await context?.close().catch(() => {});
  closeServer();
  rmSync(userDataDir, { recursive: true, force: true });
}
clearTimeout(killer);
if (failures > 0) {
  console.error(`e2e: FAILED (${failures} check(s)) in ${((Date.now() - T0) / 1000).toFixed(1)} s`);
  process.exit(1);
}
log('all checks passed');
