#!/usr/bin/env node
/**
 * The `autobalance` command line:
 *
 *     autobalance info [--json] [--backend native|wasm]
 *     autobalance train --spec run.json [--out result.json] [--report report.html] [--backend native|wasm]
 *     autobalance list
 *     autobalance run <preset> [--out DIR] [--backend native|wasm] [--steps N] [--seed N]
 *     autobalance hessian --spec run.json [--query q.json | --what classify|eigs|density|trace|lemma32]
 *                         [--at-init] [--out report.json] [--report report.html] [--backend native|wasm]
 *     autobalance study --spec study.json [--out result.json] [--csv columns.csv] [--backend native|wasm]
 *
 * Exit codes: 0 ok, 1 runtime error, 2 bad usage, 130 interrupted (Ctrl-C; what was computed is
 * still written). Errors print `error: <field>: <message>`.
 *
 * @module
 */

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import type { BackendName } from './backend.js';
import { AutobalanceError } from './errors.js';
import { applyOverrides, presetList, presetSpec, runPreset } from './presets.js';
import { statusMark } from './checks.js';
import {
  formatNumber,
  hessianHtml,
  presetChecks,
  presetHtml,
  presetReport,
  presetSvg,
  presetVegaLite,
  resultToJson,
  runHtml,
  runsToCsv,
  summarize,
  textTable,
} from './report.js';
import { type CurvatureWhat, type HessianQuery, type HessianReport, QueryCancelledError, describeReport } from './curvature.js';
import { type Progress, Run, train } from './run.js';
import { loadBackend, probeBackends } from './select.js';
import { checkWritable, writeText } from './node-files.js';
import type { RunSpec } from './spec.js';
import { type StudySpec, study, studyResultToJson, studyToCsv } from './study.js';

/** Bad command-line usage (exit code 2). */
class UsageError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const USAGE = `usage:
  autobalance info [--json] [--backend native|wasm]
  autobalance train --spec run.json [--out result.json] [--report report.html] [--backend native|wasm]
  autobalance list
  autobalance run <preset> [--out DIR] [--backend native|wasm] [--steps N] [--seed N]
  autobalance hessian --spec run.json [--query q.json | --what classify|eigs|density|trace|lemma32]
                      [--at-init] [--out report.json] [--report report.html] [--backend native|wasm]
  autobalance study --spec study.json [--out result.json] [--csv columns.csv] [--backend native|wasm]

  --backend   force a backend (default: AUTOBALANCE_BACKEND, else native if it loads, else wasm)
  --report    also write a self-contained HTML report (plots, tables, the spec)
  train       runs the spec (JSON, see docs/api.md) and writes the result JSON (stdout without --out)
  list        the presets (paper reproductions), one line each
  run         runs a paper preset; prints the paper's claims beside ours, each marked agrees,
              DISAGREES, cannot compare or incomplete; writes DIR/<preset>.html (report), .svg,
              .vl.json (Vega-Lite spec of the figure), .csv, .json (DIR default: out/<preset>)
  hessian     runs the spec to its end (or not, with --at-init), then asks the core what kind of
              point it reached (default --what classify); prints a verdict, writes the JSON report
  study       runs a study (a computation that is not one run, e.g. kind hessianGrid: the Hessian
              along a grid of steps and axis values; docs/studies.md) and writes its JSON result
              (stdout without --out) and, with --csv, its columns
`;

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function backendOption(v: string | undefined): BackendName | undefined {
  if (v === undefined) return undefined;
  if (v === 'native' || v === 'wasm') return v;
  throw new UsageError('--backend', `expected native or wasm, got ${JSON.stringify(v)}`);
}

function intOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(name, `expected a non-negative integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

type OptionSpec = Record<string, { type: 'string' | 'boolean' }>;

function parse(args: string[], options: OptionSpec, positionals: number): { values: Record<string, unknown>; positionals: string[] } {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError('', e instanceof Error ? e.message : String(e));
  }
  if (parsed.positionals.length > positionals) {
    throw new UsageError('', `unexpected argument ${JSON.stringify(parsed.positionals[positionals])}`);
  }
  return parsed;
}

function str(values: Record<string, unknown>, key: string): string | undefined {
  const v = values[key];
  return typeof v === 'string' ? v : undefined;
}

/** Progress on stderr: one updating line on a TTY; otherwise sparse plain lines (none in CI). */
class ProgressLine {
  readonly tty = process.stderr.isTTY === true && !process.env['CI'];
  #lastPlain = Date.now();
  #active = false;

  update(prefix: string, p: Progress): void {
    const frac = p.steps > 0 ? Math.min(1, p.step / p.steps) : 1;
    const pct = Math.floor(100 * frac);
    this.show(prefix, frac, `step ${p.step}/${p.steps} (${pct}%)  loss ${formatNumber(p.loss)}`);
  }

  /** A line `<prefix>: <tail>` with a bar at `frac` (0..1). */
  show(prefix: string, frac: number, tail: string): void {
    const text = `${prefix}: ${tail}`;
    if (this.tty) {
      // [#########-----------] 45%  step ..  loss ..  <prefix>, cut to the terminal width.
      const width = 24;
      const filled = Math.round(frac * width);
      const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${tail}  ${prefix}`;
      process.stderr.write(`\r${bar.slice(0, (process.stderr.columns || 100) - 1)}\x1b[K`);
      this.#active = true;
    } else if (Date.now() - this.#lastPlain > 10_000 && !process.env['CI']) {
      process.stderr.write(`${text}\n`);
      this.#lastPlain = Date.now();
    }
  }

  line(text: string): void {
    this.clear();
    process.stderr.write(`${text}\n`);
  }

  clear(): void {
    if (this.tty && this.#active) process.stderr.write('\r\x1b[K');
    this.#active = false;
  }
}

/** An AbortController aborted by the first Ctrl-C; a second Ctrl-C exits at once. */
function interruptible(): { signal: AbortSignal; interrupted: () => boolean; release: () => void } {
  const controller = new AbortController();
  let count = 0;
  const onSigint = (): void => {
    count++;
    if (count === 1) {
      process.stderr.write('\ninterrupted: stopping after the current chunk (Ctrl-C again to quit at once)\n');
      controller.abort();
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSigint);
  return {
    signal: controller.signal,
    interrupted: () => count > 0,
    release: () => {
      process.off('SIGINT', onSigint);
    },
  };
}

function writeFile(path: string, text: string): void {
  writeText(path, text);
}

/**
 * Check before any work that each output path can be written (its directory exists or can be
 * created, the file can be opened for writing): a path that cannot is an error naming its flag
 * (exit code 1) before anything is computed.
 */
function checkOutputs(outputs: readonly (readonly [flag: string, path: string | undefined])[]): void {
  for (const [flag, path] of outputs) {
    if (!path) continue;
    try {
      checkWritable(path);
    } catch (e) {
      throw new FileError(flag, `cannot write ${path}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

async function cmdInfo(args: string[]): Promise<number> {
  const { values } = parse(args, { json: { type: 'boolean' }, backend: { type: 'string' } }, 0);
  const forced = backendOption(str(values, 'backend'));
  const probes = await probeBackends();
  let active: { backend: BackendName; coreVersion: string } | { error: string };
  try {
    const b = await loadBackend(forced);
    active = { backend: b.name, coreVersion: b.coreVersion };
  } catch (e) {
    active = { error: e instanceof AutobalanceError ? e.detail : e instanceof Error ? e.message : String(e) };
  }
  const info = {
    package: 'autobalance',
    packageVersion: packageVersion(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    ...active,
    backends: probes,
  };
  if (values['json']) {
    process.stdout.write(JSON.stringify(info, null, 2) + '\n');
  } else {
    const lines = [
      `autobalance ${info.packageVersion}`,
      'backend' in active ? `backend in use: ${active.backend}` : `backend in use: none (${active.error})`,
      'coreVersion' in active ? `core version:   ${active.coreVersion}` : 'core version:   -',
      `node:           ${info.node} (${info.platform})`,
    ];
    for (const [name, p] of Object.entries(probes)) {
      lines.push(`${`${name}:`.padEnd(16)}${p.available ? `loads (core ${p.coreVersion})` : `does not load: ${p.error}`}`);
    }
    process.stdout.write(lines.join('\n') + '\n');
  }
  if ('error' in active) {
    process.stderr.write(`error: backend: ${active.error}\n`);
    return 1;
  }
  return 0;
}

/** A file that cannot be read or parsed (exit code 1, `error: <flag>: ...`). */
class FileError extends Error {
  constructor(
    readonly flag: string,
    message: string,
  ) {
    super(message);
  }
}

function readJson(flag: string, path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FileError(flag, `cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  // A UTF-8 byte-order mark (as some editors write) is not part of the JSON text.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FileError(flag, `${path} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}

async function cmdTrain(args: string[]): Promise<number> {
  const { values } = parse(args, { spec: { type: 'string' }, out: { type: 'string' }, report: { type: 'string' }, backend: { type: 'string' } }, 0);
  const specPath = str(values, 'spec');
  if (!specPath) throw new UsageError('--spec', 'missing: the path of a JSON spec file');
  const backend = backendOption(str(values, 'backend'));
  const spec = readJson('--spec', specPath);
  checkOutputs([
    ['--out', str(values, 'out')],
    ['--report', str(values, 'report')],
  ]);
  const progress = new ProgressLine();
  const sig = interruptible();
  try {
    const started = Date.now();
    const result = await train(spec as RunSpec, {
      ...(backend ? { backend } : {}),
      signal: sig.signal,
      onProgress: (p) => progress.update('train', p),
    });
    const s = summarize(result);
    progress.line(
      `train: ${s.outcome} after ${result.step}/${result.steps} steps in ${((Date.now() - started) / 1000).toFixed(2)} s on ${result.backend}; loss ${formatNumber(result.loss)}`,
    );
    const json = JSON.stringify(resultToJson(result));
    const out = str(values, 'out');
    if (out) {
      writeFile(out, json + '\n');
      process.stderr.write(`wrote ${out}\n`);
    } else {
      process.stdout.write(json + '\n');
    }
    const reportPath = str(values, 'report');
    if (reportPath) {
      const backendInfo = await loadBackend(result.backend);
      const meta = { backend: result.backend, coreVersion: backendInfo.coreVersion, cancelled: result.cancelled };
      writeFile(reportPath, await runHtml(spec, result, meta, `train: ${specPath}`));
      process.stderr.write(`wrote ${reportPath}\n`);
    }
    return sig.interrupted() ? 130 : 0;
  } finally {
    progress.clear();
    sig.release();
  }
}

async function cmdList(args: string[]): Promise<number> {
  parse(args, {}, 0);
  const list = await presetList();
  const width = Math.max(0, ...list.map((p) => p.name.length));
  for (const p of list) process.stdout.write(`${p.name.padEnd(width)}  ${p.description}\n`);
  return 0;
}

async function cmdRun(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    { out: { type: 'string' }, backend: { type: 'string' }, steps: { type: 'string' }, seed: { type: 'string' } },
    1,
  );
  const name = positionals[0];
  if (!name) throw new UsageError('preset', 'missing: the name of a preset (see autobalance list)');
  const backendName = backendOption(str(values, 'backend'));
  const steps = intOption('--steps', str(values, 'steps'));
  const seed = intOption('--seed', str(values, 'seed'));
  const backend = await loadBackend(backendName);
  const base = await presetSpec(name, { backend });
  const preset = applyOverrides(base, { ...(steps !== undefined ? { steps } : {}), ...(seed !== undefined ? { seed } : {}) });
  const dir = resolve(str(values, 'out') ?? join('out', preset.name));
  checkOutputs(['html', 'svg', 'vl.json', 'csv', 'json'].map((ext) => ['--out', join(dir, `${preset.name}.${ext}`)] as const));

  const progress = new ProgressLine();
  const sig = interruptible();
  let outcome;
  const started = Date.now();
  try {
    outcome = await runPreset(preset, {
      backend,
      signal: sig.signal,
      onProgress: (run, p) => progress.update(`${preset.name} ${run.index + 1}/${run.count} ${run.label}`, p),
      onRunEnd: (run, r) => {
        progress.line(`${preset.name} ${run.index + 1}/${run.count} ${run.label}: ${summarize(r).outcome} at step ${r.step}`);
      },
    });
  } finally {
    progress.clear();
    sig.release();
  }
  const runs = outcome.runs;
  const cancelled = sig.interrupted() || runs.some((r) => r.result.cancelled) || runs.length < preset.runs.length;
  const rows = runs.map((r) => {
    const s = summarize(r.result);
    return [
      r.label,
      `${s.step}/${s.steps}`,
      formatNumber(s.finalLoss),
      s.finalNormRatios.map(formatNumber).join(' '),
      formatNumber(s.maxInvariantDrift),
      s.outcome,
    ];
  });
  process.stdout.write(
    `\n${preset.name} on ${backend.name} (core ${backend.coreVersion}), ${((Date.now() - started) / 1000).toFixed(2)} s\n` +
      textTable(['run', 'steps', 'final loss', 'norm ratio(s)', 'max invariant drift', 'outcome'], rows),
  );
  if (runs.length < preset.runs.length) {
    process.stdout.write(`(${preset.runs.length - runs.length} run(s) skipped after the interruption)\n`);
  }
  const checked = presetChecks(preset, outcome);
  if (checked.length > 0) {
    const lines = ['\nthe paper beside ours:'];
    for (const c of checked) {
      lines.push(`  [${statusMark(c.status)}] ${c.claim ?? ''}`);
      for (const o of c.outcomes) lines.push(`      ${o.shown ? '=  ' : o.pass === true ? 'ok ' : o.pass === false ? 'NO ' : '?  '} ${o.text}`);
      if (c.cannotCompare) lines.push(`      (cannot compare: ${c.cannotCompare})`);
    }
    process.stdout.write(lines.join('\n') + '\n');
  }
  const meta = { backend: backend.name, coreVersion: backend.coreVersion, cancelled };
  const report = presetReport(preset, outcome, meta);
  const files = {
    html: join(dir, `${preset.name}.html`),
    svg: join(dir, `${preset.name}.svg`),
    vl: join(dir, `${preset.name}.vl.json`),
    csv: join(dir, `${preset.name}.csv`),
    json: join(dir, `${preset.name}.json`),
  };
  writeFile(files.json, JSON.stringify(report) + '\n');
  writeFile(files.csv, runsToCsv(runs));
  writeFile(files.vl, JSON.stringify(presetVegaLite(preset, runs)) + '\n');
  const svg = await presetSvg(preset, runs);
  writeFile(files.svg, svg);
  writeFile(files.html, await presetHtml(preset, outcome, meta, svg));
  process.stdout.write(`wrote ${Object.values(files).join('\n      ')}\n`);
  return cancelled ? 130 : 0;
}

const WHATS: readonly CurvatureWhat[] = ['classify', 'eigs', 'density', 'trace', 'lemma32'];

async function cmdHessian(args: string[]): Promise<number> {
  const { values } = parse(
    args,
    {
      spec: { type: 'string' },
      query: { type: 'string' },
      what: { type: 'string' },
      'at-init': { type: 'boolean' },
      out: { type: 'string' },
      report: { type: 'string' },
      backend: { type: 'string' },
    },
    0,
  );
  const specPath = str(values, 'spec');
  if (!specPath) throw new UsageError('--spec', 'missing: the path of a JSON spec file');
  const queryPath = str(values, 'query');
  const what = str(values, 'what');
  if (queryPath && what) throw new UsageError('--what', 'give either --query or --what, not both');
  if (what !== undefined && !WHATS.includes(what as CurvatureWhat)) {
    throw new UsageError('--what', `expected one of ${WHATS.join(', ')}, got ${JSON.stringify(what)}`);
  }
  const backend = backendOption(str(values, 'backend'));
  const spec = readJson('--spec', specPath) as RunSpec;
  const query = (queryPath ? readJson('--query', queryPath) : { what: what ?? 'classify' }) as HessianQuery;
  checkOutputs([
    ['--out', str(values, 'out')],
    ['--report', str(values, 'report')],
  ]);
  const run = await Run.create(spec, backend ? { backend } : {});
  const progress = new ProgressLine();
  const sig = interruptible();
  try {
    if (!values['at-init']) {
      for await (const chunk of run.chunks({ signal: sig.signal })) progress.update('hessian: training', { step: chunk.status.step, steps: chunk.status.steps, loss: chunk.status.loss, rows: chunk.status.rows });
    }
    if (sig.interrupted()) return 130;
    const st = run.status;
    progress.line(`hessian: ${query.what} at step ${st.step}/${st.steps} on ${run.backend}`);
    let report: HessianReport;
    try {
      report = await run.hessian(query, { signal: sig.signal });
    } catch (e) {
      // Ctrl-C stopped the query between two chunks of its work.
      if (e instanceof QueryCancelledError) {
        process.stderr.write(`${e.message}\n`);
        return 130;
      }
      throw e;
    }
    process.stdout.write(`${describeReport(report)}\n`);
    const json = JSON.stringify({ step: st.step, backend: run.backend, report });
    const out = str(values, 'out');
    if (out) {
      writeFile(out, json + '\n');
      process.stderr.write(`wrote ${out}\n`);
    }
    const reportPath = str(values, 'report');
    if (reportPath) {
      const b = await loadBackend(run.backend);
      writeFile(reportPath, await hessianHtml(spec, report, { backend: run.backend, coreVersion: b.coreVersion, cancelled: false, step: st.step }));
      process.stderr.write(`wrote ${reportPath}\n`);
    }
    return 0;
  } finally {
    progress.clear();
    sig.release();
    run.dispose();
  }
}

async function cmdStudy(args: string[]): Promise<number> {
  const { values } = parse(args, { spec: { type: 'string' }, out: { type: 'string' }, csv: { type: 'string' }, backend: { type: 'string' } }, 0);
  const specPath = str(values, 'spec');
  if (!specPath) throw new UsageError('--spec', 'missing: the path of a JSON study spec file');
  const backend = backendOption(str(values, 'backend'));
  const spec = readJson('--spec', specPath) as StudySpec;
  checkOutputs([
    ['--out', str(values, 'out')],
    ['--csv', str(values, 'csv')],
  ]);
  const progress = new ProgressLine();
  const sig = interruptible();
  try {
    const started = Date.now();
    const result = await study(spec, {
      ...(backend ? { backend } : {}),
      signal: sig.signal,
      onProgress: (p) => {
        const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 1;
        progress.show('study', frac, `${p.done}/${p.total} units (${Math.floor(100 * frac)}%)  ${p.rows} points`);
      },
    });
    const outcome = result.finished ? 'finished' : 'cancelled';
    progress.line(
      `study: ${result.kind} ${outcome}: ${result.rows} points, ${result.done}/${result.total} units in ${((Date.now() - started) / 1000).toFixed(2)} s on ${result.backend}`,
    );
    const json = JSON.stringify(studyResultToJson(result));
    const out = str(values, 'out');
    if (out) {
      writeFile(out, json + '\n');
      process.stderr.write(`wrote ${out}\n`);
    } else {
      process.stdout.write(json + '\n');
    }
    const csv = str(values, 'csv');
    if (csv) {
      writeFile(csv, studyToCsv(result));
      process.stderr.write(`wrote ${csv}\n`);
    }
    return sig.interrupted() ? 130 : 0;
  } finally {
    progress.clear();
    sig.release();
  }
}

/** Run the CLI with `argv` (without `node` and the script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (rest.includes('--help') || rest.includes('-h') || command === 'help' || command === '--help' || command === '-h') {
      process.stdout.write(USAGE);
      return 0;
    }
    switch (command) {
      case 'info':
        return await cmdInfo(rest);
      case 'train':
        return await cmdTrain(rest);
      case 'list':
        return await cmdList(rest);
      case 'run':
        return await cmdRun(rest);
      case 'hessian':
        return await cmdHessian(rest);
      case 'study':
        return await cmdStudy(rest);
      case '--version':
      case 'version':
        process.stdout.write(`${packageVersion()}\n`);
        return 0;
      case undefined:
        throw new UsageError('', 'missing command');
      default:
        throw new UsageError('', `unknown command ${JSON.stringify(command)}`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`error: ${e.field ? `${e.field}: ` : ''}${e.message}\n${USAGE}`);
      return 2;
    }
    if (e instanceof FileError) {
      process.stderr.write(`error: ${e.flag}: ${e.message}\n`);
      return 1;
    }
    if (e instanceof AutobalanceError) {
      process.stderr.write(`error: ${e.field ? `${e.field}: ` : ''}${e.detail}\n`);
      return 1;
    }
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
