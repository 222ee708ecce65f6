// The CLI (packages/autobalance/dist/cli.js, built by the global setup), run as a child process on
// the backend of this pass (AUTOBALANCE_BACKEND is inherited).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { type MatrixFactorizationRunSpec, type RunSpec, train } from 'autobalance';

import { BACKEND, lcg, randomArray } from './helpers.js';

const CLI = fileURLToPath(new URL('../packages/autobalance/dist/cli.js', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'autobalance-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], options: { env?: Record<string, string>; onSpawn?: (kill: (sig: NodeJS.Signals) => void, stderr: () => string) => void } = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, AUTOBALANCE_BACKEND: BACKEND, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A CLI that ignores Ctrl-C or hangs must not outlive its test.
    const killer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
    options.onSpawn?.((sig) => child.kill(sig), () => stderr);
  });
}

describe(`CLI on ${BACKEND}`, () => {
  it('run of a sweep preset names object axis values by their kind in the terminal table', async () => {
    const out = await cli(['run', 'figure73', '--seeds', '2', '--out', join(tmp, 'f73')]);
    expect(out.code).toBe(0);
    expect(out.stdout).not.toContain('[object Object]');
    expect(out.stdout).toMatch(/\n1 +0\.25 +gd +logScale /);
    expect(out.stdout).toMatch(/\n1 +0\.25 +perturbedGd +float /);
  });

  it('run --strict: exit code 3 when a claim DISAGREES, 0 when none does (incomplete claims do not fail it)', async () => {
    // figure73's full protocol marks "the factor coincides with (L + gamma)/gamma" DISAGREES.
    const full = await cli(['run', 'figure73', '--strict', '--out', join(tmp, 'strict-full')]);
    expect(full.stdout).toContain('[DISAGREES]');
    expect(full.stderr).toContain('claim(s) DISAGREE (--strict: exit code 3)');
    expect(full.code).toBe(3);
    const plain = await cli(['run', 'figure73', '--out', join(tmp, 'strict-plain')]);
    expect(plain.code).toBe(0);
    // Two starts per setting: the median claims are incomplete, nothing disagrees.
    const quick = await cli(['run', 'figure73', '--seeds', '2', '--strict', '--out', join(tmp, 'strict-quick')]);
    expect(quick.stdout).not.toContain('[DISAGREES]');
    expect(quick.code).toBe(0);
  });

  it('info --json says which backend is in use and whether each loads', async () => {
    const r = await cli(['info', '--json']);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(info['backend']).toBe(BACKEND);
    expect(info['coreVersion']).toMatch(/^\d+\.\d+\.\d+/);
    expect(info['packageVersion']).toBe(JSON.parse(readFileSync(new URL('../packages/autobalance/package.json', import.meta.url), 'utf8')).version);
    expect(info['node']).toBe(process.version);
    const backends = info['backends'] as Record<string, { available: boolean }>;
    expect(backends['native']?.available).toBe(true);
    expect(backends['wasm']?.available).toBe(true);
  });

  it('info (text), and --backend overrides the environment', async () => {
    const other = BACKEND === 'native' ? 'wasm' : 'native';
    const r = await cli(['info', '--backend', other]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`backend in use: ${other}`);
    expect(r.stdout).toMatch(/native: +loads/);
  });

  it('info with a forced backend that cannot load fails with exit code 1', async () => {
    const r = await cli(['info'], { env: { AUTOBALANCE_NATIVE_PATH: '/nonexistent.node', AUTOBALANCE_BACKEND: 'native' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: backend: the native addon could not be loaded/m);
    expect(r.stdout).toMatch(/native: +does not load/);
  });

  const next = lcg(21);
  const spec: MatrixFactorizationRunSpec = {
    model: { kind: 'matrixFactorization', d1: 6, d2: 4, rank: 2 },
    target: { kind: 'explicit', matrix: randomArray(6, 4, next) },
    init: { kind: 'explicit', u0: randomArray(6, 2, () => 0.2 * next()), v0: { rows: 4, cols: 2, data: Array.from({ length: 8 }, () => 0.2 * next()) } },
    schedule: { kind: 'constant', eta: 0.05 },
    steps: 200,
    recordEvery: 10,
  };

  it('train --spec --out writes the result JSON, equal to the API result', async () => {
    const specPath = join(tmp, 'run.json');
    const outPath = join(tmp, 'sub', 'result.json');
    writeFileSync(specPath, JSON.stringify(spec));
    const r = await cli(['train', '--spec', specPath, '--out', outPath]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const out = JSON.parse(readFileSync(outPath, 'utf8')) as Record<string, unknown>;
    expect(out).toMatchObject({ backend: BACKEND, step: 200, steps: 200, rows: 21, finished: true, cancelled: false, divergedAt: null });
    const api = await train(spec, { backend: BACKEND });
    expect(out['loss']).toBe(api.loss);
    expect(out['columnNames']).toEqual(api.columnNames);
    const columns = out['columns'] as Record<string, number[]>;
    expect(columns['loss']).toEqual(Array.from(api.columns['loss'] ?? []));
    expect(columns['step']).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200]);
    expect(out['U']).toEqual({ rows: 6, cols: 2, data: Array.from(api.U.data) });
    expect(out['V']).toEqual({ rows: 4, cols: 2, data: Array.from(api.V.data) });
    expect((columns['loss'] as number[])[20]).toBeLessThan((columns['loss'] as number[])[0] as number);
  });

  it('train --report writes a self-contained HTML report with the plots of the run', async () => {
    const specPath = join(tmp, 'run-report.json');
    const reportPath = join(tmp, 'reports', 'train.html');
    writeFileSync(specPath, JSON.stringify(spec));
    const r = await cli(['train', '--spec', specPath, '--out', join(tmp, 'run-report-out.json'), '--report', reportPath]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`wrote ${reportPath}`);
    const html = readFileSync(reportPath, 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expectSelfContained(html);
    // Panels, picked by column role: loss, residual, the norms normU2 and normV2 (role norm, shown
    // since reports pick by role), normRatio, imbalance and its drift (matrix factorization), one line each.
    expect(html.match(/class="mark-line role-mark/g)?.length).toBe(7);
    expect(html).toContain('200/200');
    expect(html).toContain('&quot;kind&quot;: &quot;matrixFactorization&quot;');
  });

  it('train writes to stdout without --out', async () => {
    const specPath = join(tmp, 'run2.json');
    writeFileSync(specPath, JSON.stringify({ ...spec, steps: 3 }));
    const r = await cli(['train', '--spec', specPath]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ step: 3, rows: 2 });
  });

  it('train with an invalid spec: exit 1 and error: <field>: <message>', async () => {
    const specPath = join(tmp, 'bad.json');
    writeFileSync(specPath, JSON.stringify({ ...spec, init: { kind: 'explicit', u0: [[1, 2]], v0: [[1, 2], [3, 4], [5, 6], [7, 8]] } }));
    const r = await cli(['train', '--spec', specPath, '--out', join(tmp, 'never.json')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: init\.u0: expected a 6 x 2 matrix, got 1 x 2$/m);
    expect(existsSync(join(tmp, 'never.json'))).toBe(false);
  });

  it('hessian trains the spec, prints a verdict and writes the report', async () => {
    const specPath = join(tmp, 'hess.json');
    writeFileSync(
      specPath,
      JSON.stringify({
        model: { kind: 'matrixFactorization', d1: 8, d2: 6, rank: 2 },
        target: { kind: 'random', singularValues: [2, 1], seed: 1 },
        init: { kind: 'gaussian', stdU: 0.01, stdV: 0.01, seed: 2 },
        schedule: { kind: 'constant', eta: 0.05 },
        steps: 3000,
      }),
    );
    const out = join(tmp, 'hess-report.json');
    const r = await cli(['hessian', '--spec', specPath, '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^local minimum; lambda_min/m);
    const rep = JSON.parse(readFileSync(out, 'utf8')) as { step: number; report: { what: string; zeroCount: number; symmetryDim: number } };
    expect(rep.step).toBe(3000);
    expect(rep.report).toMatchObject({ what: 'classify', zeroCount: 4, symmetryDim: 4 });
    // At the initial point (tiny init, near U = V = 0): not a minimum.
    const init = await cli(['hessian', '--spec', specPath, '--at-init', '--what', 'eigs']);
    expect(init.code).toBe(0);
    expect(init.stdout).toMatch(/^eigs \(dense/m);
    // --report: the HTML report of the query (a density plot for `density`).
    const html = join(tmp, 'hess-density.html');
    const dens = await cli(['hessian', '--spec', specPath, '--what', 'density', '--report', html]);
    expect(dens.code).toBe(0);
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('Hessian: density at step 3000');
    expect(page.match(/class="mark-line role-mark/g)?.length).toBe(1);
    expect(page).toContain('traceEstimate');
    const classifyHtml = join(tmp, 'hess-classify.html');
    expect((await cli(['hessian', '--spec', specPath, '--report', classifyHtml])).code).toBe(0);
    const classifyPage = readFileSync(classifyHtml, 'utf8');
    expect(classifyPage).toMatch(/<b>local minimum; lambda_min/);
    // What "near-zero vs symmetry" means, in a sentence; integers as integers.
    expect(classifyPage).toContain('"near-zero 4 vs symmetry 4": 4 eigenvalues are within the zero tolerance');
    expect(classifyPage).toContain('Every flat direction is explained by symmetry.');
    expect(classifyPage).toMatch(/<td>zeroCount<\/td><td>4<\/td>/);
    const bad = await cli(['hessian', '--spec', specPath, '--what', 'everything']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: --what: expected one of/m);
    // A bad query is refused before any training: a run of 10^9 steps fails in a moment.
    const long = join(tmp, 'hess-long.json');
    writeFileSync(long, JSON.stringify({ ...JSON.parse(readFileSync(specPath, 'utf8')), steps: 1_000_000_000, recordEvery: 1_000_000 }));
    const q = join(tmp, 'bad-query.json');
    writeFileSync(q, JSON.stringify({ what: 'eigs', k: 0 }));
    const t0 = Date.now();
    const early = await cli(['hessian', '--spec', long, '--query', q]);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/query\.k|\bk\b/);
    expect(early.stderr).not.toMatch(/training/);
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  it('train with a file that is not JSON: exit 1', async () => {
    const specPath = join(tmp, 'notjson.json');
    writeFileSync(specPath, '{ nope');
    const r = await cli(['train', '--spec', specPath]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: --spec: /);
  });

  it('<command> --help describes that command; list --json', async () => {
    const run = await cli(['run', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^usage: autobalance run <preset>/);
    expect(run.stdout).toContain('SHORTENED');
    const hess = await cli(['help', 'hessian']);
    expect(hess.stdout).toMatch(/^usage: autobalance hessian/);
    expect(hess.stdout).toContain('{"what": "eigs", "k": 3');
    expect((await cli(['--help'])).stdout).toMatch(/^usage:\n/);
    const list = await cli(['list', '--json']);
    expect(list.code).toBe(0);
    const items = JSON.parse(list.stdout) as { name: string; size: string }[];
    // Each preset says how much work it is, computed from its spec.
    expect(items.find((p) => p.name === 'figure1')?.size).toBe('2 runs x 1000 steps');
    expect(items.find((p) => p.name === 'theorem32sweep')?.size).toBe('7200 runs (sweep)');
    expect(items.find((p) => p.name === 'conservationLaws')?.size).toBe('17 studies');
  });

  it('bad usage: exit 2', async () => {
    expect((await cli(['train'])).code).toBe(2);
    expect((await cli(['frobnicate'])).code).toBe(2);
    expect((await cli([])).code).toBe(2);
    const r = await cli(['run', 'figure1', '--steps', 'ten']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: --steps: /);
    expect((await cli(['train', '--spec', 'x', '--backend', 'gpu'])).code).toBe(2);
    expect((await cli(['info', '--bogus'])).code).toBe(2);
  });

  it('list shows the presets of the core', async () => {
    const r = await cli(['list']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^figure1 +\S/m);
  });

  it('run an unknown preset: exit 1 naming the preset', async () => {
    const r = await cli(['run', 'figure99', '--out', join(tmp, 'x')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: preset: no preset named "figure99"/m);
  });

  it('run figure1 --steps 200 writes the SVG, CSV and JSON and prints a table', async () => {
    const dir = join(tmp, 'fig1');
    const r = await cli(['run', 'figure1', '--steps', '200', '--out', dir]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/final loss/);
    expect(r.stdout).toMatch(/max invariant drift/);
    expect(r.stdout.match(/200\/200/g)?.length).toBe(2);

    const report = JSON.parse(readFileSync(join(dir, 'figure1.json'), 'utf8')) as {
      preset: string;
      backend: string;
      cancelled: boolean;
      runs: { label: string; spec: RunSpec; summary: { finalLoss: number; step: number }; result: { rows: number; columns: Record<string, number[]> } }[];
      plots: unknown[];
      shortened?: string;
    };
    expect(report.preset).toBe('figure1');
    expect(report.backend).toBe(BACKEND);
    expect(report.cancelled).toBe(false);
    expect(report.runs.length).toBe(2);
    // One panel per plot of the core's preset (loss, norm ratio, imbalance).
    expect(report.plots.length).toBe(3);
    const recordEvery = report.runs[0]?.spec.recordEvery ?? 1;
    const rows = Math.floor(200 / recordEvery) + 1 + (200 % recordEvery === 0 ? 0 : 1);
    for (const run of report.runs) {
      expect(run.spec.steps).toBe(200);
      expect(run.summary.step).toBe(200);
      expect(run.result.rows).toBe(rows);
      expect(run.result.columns['loss']?.length).toBe(rows);
    }
    // The two objectives differ: (3) has the regularizer.
    expect(report.runs[0]?.result.columns['loss']).not.toEqual(report.runs[1]?.result.columns['loss']);

    const csv = readFileSync(join(dir, 'figure1.csv'), 'utf8').trimEnd().split('\n');
    expect(csv[0]).toMatch(/^run,step,eta,time,loss,/);
    expect(csv.length).toBe(1 + 2 * rows);

    const html = readFileSync(join(dir, 'figure1.html'), 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<svg');
    expect(html).toContain('objective (1)');
    expect(html).toContain('What the paper reports');
    expectSelfContained(html);
    const svg = readFileSync(join(dir, 'figure1.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('(a) loss');
    expect(svg).toContain('||U||_F^2 / ||V||_F^2');
    expect(svg).toContain('imbalance');
    // Rendered by vega from the Vega-Lite spec written beside it: one line mark per run and panel.
    expect(svg.match(/class="mark-line role-mark/g)?.length).toBe(2 * report.plots.length);
    expect(svg).toContain('objective (1)');
    const vl = JSON.parse(readFileSync(join(dir, 'figure1.vl.json'), 'utf8')) as { $schema: string; concat: { title: string }[] };
    expect(vl.$schema).toMatch(/vega-lite\/v6/);
    expect(vl.concat.map((p) => p.title)).toEqual(['(a) loss', '(b) ||U||_F^2 / ||V||_F^2', '(c) imbalance ||U^T U - V^T V||_F (not in the paper)']);
    // 200 of the protocol's 1000 steps: the run says it is shortened, and no claim is judged
    // (its failing check is still shown).
    expect(r.stdout).toContain('SHORTENED: 200 of 1000 steps');
    expect(r.stdout).toMatch(/\[not checked \(shortened\)\] GD on \(1\)/);
    expect(r.stdout).toMatch(/^ +NO +last loss \[run 0\]/m);
    expect(r.stdout).not.toMatch(/\[agrees\]|\[DISAGREES\]/);
    expect(html).toContain('<td class="shortened">not checked (shortened)</td>');
    expect(html).toContain('Shortened: 200 of 1000 steps');
    expect(html).not.toContain('<td class="agrees">');
    expect(report.shortened).toBe('200 of 1000 steps');
  });

  it('run curvature: the claims agree, with the curvature reports in the JSON and the HTML', async () => {
    const dir = join(tmp, 'curv');
    const r = await cli(['run', 'curvature', '--out', dir]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\[agrees\] Lemma 3\.2/);
    expect(r.stdout).not.toMatch(/DISAGREES|incomplete/);
    const report = JSON.parse(readFileSync(join(dir, 'curvature.json'), 'utf8')) as {
      hessian: { label: string; at: string; step: number; report: { what: string } }[];
      reference: { status: string; outcomes: { text: string; pass: boolean | null }[] }[];
    };
    expect(report.hessian.map((h) => [h.at, h.report.what])).toEqual([
      ['init', 'classify'],
      ['final', 'classify'],
      ['final', 'lemma32'],
      ['init', 'classify'],
      ['init', 'lemma32'],
      ['final', 'classify'],
    ]);
    expect(report.reference.filter((c) => c.status === 'agrees').length).toBeGreaterThanOrEqual(4);
    const html = readFileSync(join(dir, 'curvature.html'), 'utf8');
    expect(html).toContain('<h2>Curvature</h2>');
    expect(html).toContain('strict saddle');
    expectSelfContained(html);
  });

  it('run --seed changes the random draws', async () => {
    const a = join(tmp, 'seed-a');
    const b = join(tmp, 'seed-b');
    expect((await cli(['run', 'figure1', '--steps', '5', '--seed', '10', '--out', a])).code).toBe(0);
    expect((await cli(['run', 'figure1', '--steps', '5', '--seed', '11', '--out', b])).code).toBe(0);
    const loss = (d: string): number[] =>
      (JSON.parse(readFileSync(join(d, 'figure1.json'), 'utf8')) as { runs: { result: { columns: { loss: number[] } } }[] }).runs[0]?.result.columns.loss ?? [];
    expect(loss(a).length).toBeGreaterThan(0);
    expect(loss(a)).not.toEqual(loss(b));
  });

  it('Ctrl-C during run stops cleanly, writes what was computed, exits 130', async () => {
    const dir = join(tmp, 'interrupted');
    let sent = false;
    // 400,000 steps take far longer than the 25 s the child is given (see cli()).
    const r = await cli(['run', 'figure1', '--steps', '400000', '--out', dir], {
      onSpawn: (kill, stderr) => {
        // Wait until the run has started (its progress line or enough time), then interrupt.
        const started = Date.now();
        const poll = setInterval(() => {
          if (!sent && (Date.now() - started > 1500 || /step [1-9]/.test(stderr()))) {
            sent = true;
            kill('SIGINT');
            clearInterval(poll);
          }
        }, 50);
      },
    });
    expect(sent).toBe(true);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted/);
    const report = JSON.parse(readFileSync(join(dir, 'figure1.json'), 'utf8')) as { cancelled: boolean; runs: { result: { step: number; cancelled: boolean } }[] };
    expect(report.cancelled).toBe(true);
    expect(report.runs.length).toBe(1);
    expect(report.runs[0]?.result.cancelled).toBe(true);
    expect(report.runs[0]?.result.step).toBeGreaterThan(0);
    expect(existsSync(join(dir, 'figure1.svg'))).toBe(true);
  });
});

/** No scripts, no external resources; links only to data files written beside the report. */
function expectSelfContained(html: string): void {
  expect(html).not.toMatch(/<script|src=/);
  const hrefs = [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1] as string);
  for (const h of hrefs) expect(h).toMatch(/^[\w.-]+\.(csv|json|svg|vl\.json|jsonl)$/);
  expect(html).toContain('<h2>How this was produced</h2>');
}
