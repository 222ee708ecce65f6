#!/usr/bin/env node
// End-to-end test of the sweep page (packages/demo/sweep.html) and of sweep()'s Web Worker pool in
// a real browser: Debian's chromium driven by playwright-core. Serves the production build
// (packages/demo/dist) on a free localhost port, opens sweep.html, and checks
//   - the same sweep (Theorem 3.2's rank-1 problem, 6 step sizes x 400 seeds = 2400 runs) run on the
//     page's thread (workers: 1) and over a pool of 2 Web Workers gives the same rows (same order,
//     same JSON, same bits of every kept value and loss) and the same table, compared in the page;
//     both Web Workers posted rows; the rows are runs 0..2399 in order;
//   - those rows equal the wasm backend's in Node (worker_threads pool) byte for byte;
//   - the page's table shows one row per step size, with the class probabilities of the table;
//   - Cancel (the button) mid-run stops the sweep soon: the page keeps the rows finished, in
//     increasing run order, each equal to the complete sweep's row of that run, and shows the
//     partial table;
//   - a sweep with an explicit target matrix (a buffer posted to each worker) and two axes gives
//     the same rows and table over 2 Web Workers as on the page's thread;
// and saves a screenshot to out/e2e/sweep.png. Exits non-zero on any failure or after 45 s.
//
//   node test/e2e/sweep.e2e.mjs        (after `pnpm --filter autobalance-demo build`; see scripts/e2e.sh)
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { serveDist } from './serve-dist.mjs';

const T0 = Date.now();
const TOTAL_TIMEOUT_MS = 45_000;
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dist = join(root, 'packages/demo/dist');
const shot = join(root, 'out/e2e/sweep.png');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const killer = setTimeout(() => {
  console.error(`e2e sweep: FAILED: timed out after ${TOTAL_TIMEOUT_MS / 1000} s`);
  process.exit(1);
}, TOTAL_TIMEOUT_MS);

const log = (msg) => console.log(`e2e sweep: [${((Date.now() - T0) / 1000).toFixed(1)} s] ${msg}`);
let failures = 0;
function check(ok, what, detail = '') {
  if (ok) log(`ok   ${what}`);
  else {
    failures += 1;
    console.error(`e2e sweep: FAIL ${what}${detail ? `: ${detail}` : ''}`);
  }
}
function fatal(msg) {
  console.error(`e2e sweep: FAILED: ${msg}`);
  process.exit(1);
}

if (!existsSync(join(dist, 'sweep.html'))) fatal(`${dist}/sweep.html not found: build the page first (pnpm --filter autobalance-demo build)`);
if (!existsSync(chromiumPath)) fatal(`${chromiumPath} not found: apt-get install -y chromium`);
const nodeEntry = join(root, 'packages/autobalance/dist/index.js');
if (!existsSync(nodeEntry)) fatal(`${nodeEntry} not found: build the TS package first (pnpm --filter autobalance build)`);

const { chromium } = createRequire(join(root, 'packages/demo/package.json'))('playwright-core');
const { sweep } = await import(nodeEntry);

// ---- a static server for dist/ (the page under /plain/: without the isolation headers, as before) --
const { base, served, close: closeServer } = await serveDist(dist);
log(`serving ${dist} at ${base}`);

// The sweep: 6 step sizes x 400 seeds of Theorem 3.2's rank-1 problem (d = 20, 400 steps).
const SETTINGS = { d: 20, cinit: 0.01, steps: 400, tol: 1e-6, etas: [0.1, 0.5, 0.9, 1.2, 2, 2.5], seeds: 400 };
const RUNS = SETTINGS.etas.length * SETTINGS.seeds;

const userDataDir = mkdtempSync(join(tmpdir(), 'autobalance-e2e-sweep-'));
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 900 },
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

  await page.goto(`${base}plain/sweep.html`);
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 15_000 });
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  check((await page.evaluate(() => window.__sweep.state)) === 'ready', `the page loaded the wasm core (hardwareConcurrency ${cores})`);

  // 1. The same sweep on the page's thread, then over 2 Web Workers; compared in the page.
  const cmp = await page.evaluate(async (settings) => {
    const t = window.__sweepTest;
    const one = await t.run(settings, 1);
    const pool = await t.run(settings, 2);
    const runs = pool.rows.map((r) => JSON.parse(r).run);
    return {
      ...t.compare(pool, one),
      rows: pool.rows.length,
      inOrder: runs.every((r, i) => r === i),
      perWorker: pool.rowsMessagesPerWorker,
      msOne: one.ms,
      msPool: pool.ms,
      complete: pool.table.complete && one.table.complete,
      table: pool.table.settings.map((s) => ({ eta: s.values['schedule.eta'], runs: s.runs, classes: s.classes })),
      spec: window.__sweep.spec,
      poolRows: pool.rows,
    };
  }, SETTINGS);
  log(`page thread: ${RUNS} runs in ${(cmp.msOne / 1000).toFixed(2)} s; 2 Web Workers: ${(cmp.msPool / 1000).toFixed(2)} s (rows messages per worker ${cmp.perWorker.join(', ')})`);
  check(cmp.rows === RUNS && cmp.inOrder && cmp.complete, `the pool gives all ${RUNS} rows, runs 0..${RUNS - 1} in order`, `${cmp.rows} rows, in order ${cmp.inOrder}, complete ${cmp.complete}`);
  check(cmp.perWorker.length === 2 && cmp.perWorker.every((n) => n > 0), 'both Web Workers computed rows', cmp.perWorker.join(', '));
  check(cmp.sameRows, 'pool rows = page-thread rows (same order, same JSON)', cmp.firstDifference ?? '');
  check(cmp.sameBits, 'pool rows = page-thread rows (same bits of every kept value and loss)');
  check(cmp.sameTable, 'pool table = page-thread table');
  const p = (i, c) => cmp.table[i]?.classes[c]?.p;
  check(p(0, 'converged') === 1 && p(SETTINGS.etas.length - 1, 'diverged') === 1, 'eta 0.1 always converges, eta 2.5 always diverges', JSON.stringify(cmp.table.map((r) => [r.eta, r.classes.converged?.p, r.classes.diverged?.p])));

  // 2. The browser's rows are the wasm backend's in Node, byte for byte.
  const nodeRows = [];
  for await (const row of sweep(cmp.spec, { backend: 'wasm', workers: 2 }).rows) nodeRows.push(JSON.stringify(row));
  const diff = nodeRows.findIndex((r, i) => r !== cmp.poolRows[i]);
  check(nodeRows.length === RUNS && diff === -1, 'the browser rows equal the wasm backend in Node (worker_threads) byte for byte', diff >= 0 ? `row ${diff}: ${nodeRows[diff]} vs ${cmp.poolRows[diff]}` : `${nodeRows.length} rows`);

  // 3. The table on the page.
  const shown = await page.evaluate(() => ({
    head: Array.from(document.querySelectorAll('#table thead th')).map((th) => th.textContent),
    rows: Array.from(document.querySelectorAll('#table tbody tr')).map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent)),
    status: document.querySelector('#status')?.textContent ?? '',
    search: location.search,
  }));
  const convCol = shown.head.findIndex((h) => h?.startsWith('converged'));
  check(shown.rows.length === SETTINGS.etas.length && convCol >= 0, 'the page shows one table row per step size', JSON.stringify(shown.head));
  check(
    shown.rows.every((r, i) => r[0] === String(SETTINGS.etas[i]) && r[1] === String(SETTINGS.seeds) && r[convCol]?.startsWith(cmp.table[i].classes.converged.p.toFixed(2))),
    'the shown step sizes, runs and probabilities are the table',
    JSON.stringify(shown.rows),
  );
  check(shown.status.startsWith('done') && shown.status.includes('2 Web Workers'), 'the status says done on 2 Web Workers', shown.status);
  mkdirSync(dirname(shot), { recursive: true });
  await page.screenshot({ path: shot, fullPage: true });
  log(`screenshot ${shot}`);

  // 4. Cancel mid-run, through the UI: the same sweep on 2 workers, Cancel once some rows are in.
  await page.fill('input[name=workers]', '2');
  await page.click('#run');
  await page.waitForFunction(() => window.__sweep.state === 'running' && window.__sweep.done >= 100, null, { timeout: 10_000, polling: 5 });
  const tClick = Date.now();
  await page.click('#cancel');
  await page.waitForFunction(() => window.__sweep.state !== 'running', null, { timeout: 5_000 });
  const stopMs = Date.now() - tClick;
  const cancelled = await page.evaluate(() => {
    const r = window.__sweep.result;
    return {
      state: window.__sweep.state,
      rows: r?.rows ?? [],
      stopped: r?.stopped,
      tableRuns: r?.table.settings.reduce((n, s) => n + s.runs, 0),
      tableComplete: r?.table.complete,
      shownRows: document.querySelectorAll('#table tbody tr').length,
      note: document.querySelector('#note')?.textContent ?? '',
      status: document.querySelector('#status')?.textContent ?? '',
    };
  });
  const runs = cancelled.rows.map((r) => JSON.parse(r).run);
  log(`cancelled after ${runs.length} of ${RUNS} runs, ${stopMs} ms after the click: ${cancelled.status}`);
  check(cancelled.state === 'cancelled' && cancelled.stopped === 'cancelled' && cancelled.tableComplete === false, 'Cancel stops the sweep (state cancelled, table incomplete)', JSON.stringify({ ...cancelled, rows: cancelled.rows.length }));
  check(runs.length >= 100 && runs.length < RUNS, 'the finished rows are kept, and not every run was done', `${runs.length} rows`);
  check(runs.every((r, i) => i === 0 || r > runs[i - 1]), 'the kept rows are in increasing run order', runs.join(','));
  check(
    cancelled.rows.every((r, i) => r === cmp.poolRows[runs[i]]),
    'each kept row equals the complete sweep row of its run',
  );
  check(cancelled.tableRuns === runs.length && cancelled.shownRows > 0 && cancelled.note.startsWith('Cancelled'), 'the partial table of the kept rows is shown', `${cancelled.tableRuns} runs in the table, ${cancelled.shownRows} rows shown`);
  check(stopMs < 2000, 'the sweep stopped within 2 s of the click', `${stopMs} ms`);

  // 5. A spec with an explicit matrix (a buffer posted to every worker) and two axes.
  const explicit = await page.evaluate(async () => {
    let x = 1;
    const rand = () => ((x = (x * 16807) % 2147483647) / 2147483647) - 0.5;
    const matrix = Array.from({ length: 6 }, () => Array.from({ length: 5 }, rand));
    const spec = {
      kind: 'sweep',
      base: {
        model: { kind: 'matrixFactorization', d1: 6, d2: 5, rank: 2 },
        target: { kind: 'explicit', matrix },
        init: { kind: 'gaussian', stdU: 0.1, stdV: 0.1, seed: 0 },
        schedule: { kind: 'constant', eta: 0.1 },
        steps: 150,
      },
      axes: [{ path: 'schedule.eta', values: [0.05, 0.2] }, { path: 'model.rank', values: [1, 2, 3] }],
      seeds: { count: 25 },
      keep: [{ name: 'finalLoss', column: 'loss', reduce: 'last' }, { name: 'minGrad', column: 'gradNorm', reduce: 'min' }],
    };
    const t = window.__sweepTest;
    const one = await t.runSpec(spec, 1);
    const pool = await t.runSpec(spec, 2);
    return { ...t.compare(pool, one), rows: pool.rows.length, settings: pool.table.settings.length, perWorker: pool.rowsMessagesPerWorker };
  });
  check(
    explicit.rows === 150 && explicit.settings === 6 && explicit.sameRows && explicit.sameBits && explicit.sameTable && explicit.perWorker.length === 2,
    'an explicit target matrix (a buffer posted to the workers) and two axes: pool = page thread',
    JSON.stringify(explicit),
  );

  check(served.some((x) => x.endsWith('.wasm')) && served.some((x) => /sweep-worker-[^/]*\.js$/.test(x)), 'the wasm module and the worker script were served from dist/', served.join(' '));
  check(pageErrors.length === 0, 'no page errors, console errors or failed requests', pageErrors.join('\n  '));
} catch (e) {
  failures += 1;
  console.error(`e2e sweep: FAIL ${e?.stack ?? e}`);
} finally {
  await context?.close().catch(() => {});
  closeServer();
  rmSync(userDataDir, { recursive: true, force: true });
}
clearTimeout(killer);
if (failures > 0) {
  console.error(`e2e sweep: FAILED (${failures} check(s)) in ${((Date.now() - T0) / 1000).toFixed(1)} s`);
  process.exit(1);
}
log(`all checks passed in ${((Date.now() - T0) / 1000).toFixed(1)} s`);
