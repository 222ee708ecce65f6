#!/usr/bin/env node
/**
 * The `autobalance` command line:
 *
 *     autobalance info [--json] [--backend native|wasm]
 *     autobalance train --spec run.json [--out result.json] [--report report.html] [--backend native|wasm]
 *     autobalance list
 *     autobalance run <preset> [--out DIR] [--backend native|wasm] [--steps N] [--seed N] [--seeds N] [--strict]
 *     autobalance hessian --spec run.json [--query q.json | --what classify|eigs|density|trace|lemma32]
 *                         [--at-init] [--out report.json] [--report report.html] [--backend native|wasm]
 *     autobalance study --spec study.json [--out result.json] [--csv columns.csv] [--backend native|wasm]
 *     autobalance sweep run --spec sweep.json --out DIR [--shard K --shards N] [--block B] [--threads T]
 *     autobalance sweep missing|status|merge --out DIR ...
 *     autobalance sweep submit --slurm --spec sweep.json --out DIR --shards N [--submit] [--missing] ...
 *
 * Exit codes: 0 ok, 1 runtime error, 2 bad usage, 130 interrupted (Ctrl-C; what was computed is
 * still written). Errors print `error: <field>: <message>`.
 *
 * @module
 */

import { existsSync, readFileSync } from 'node:fs';
import { cpus, totalmem, type as osType, release as osRelease, arch as osArch } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import type { BackendName } from './backend.js';
import type { Provenance } from './html.js';
import { AutobalanceError } from './errors.js';
import { applyOverrides, presetList, presetSpec, runPreset } from './presets.js';
import { referenceMark } from './checks.js';
import {
  formatNumber,
  hessianHtml,
  presetChecks,
  presetHtml,
  presetReport,
  presetStudyTable,
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
// Data set files (digits patches) are read from disk.
import './datasets-node.js';
import type { RunSpec } from './spec.js';
import { type StudySpec, study, studyResultToJson, studyToCsv } from './study.js';
import { type SweepPlan, type SweepSpec, type SweepTable, sweepPlan } from './sweep.js';
import {
  SweepFilesError,
  arrayList,
  countRuns,
  formatRanges,
  identitySpec,
  initSweepDir,
  listShards,
  mergeSweep,
  missingRanges,
  missingShards,
  planOf,
  runRanges,
  shardRange,
  sweepDirStatus,
  sweepJsonPath,
} from './sweep-files.js';
import { submitSlurm, writeSlurmScripts } from './slurm.js';
// Wasm sweeps run on worker_threads workers (registers them with registerSweepWorkers).
import './sweep-pool-node.js';

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
  autobalance list [--json]
  autobalance run <preset> [--out DIR] [--backend native|wasm] [--steps N] [--seed N] [--seeds N] [--strict]
  autobalance hessian --spec run.json [--query q.json | --what classify|eigs|density|trace|lemma32]
                      [--at-init] [--out report.json] [--report report.html] [--backend native|wasm]
  autobalance study --spec study.json [--out result.json] [--csv columns.csv] [--backend native|wasm]
  autobalance sweep run --spec sweep.json --out DIR [--shard K --shards N] [--block B] [--threads T]
                        [--no-merge] [--backend native|wasm]
  autobalance sweep missing --out DIR [--shards N] [--json]
  autobalance sweep status --out DIR [--json]
  autobalance sweep merge --out DIR [--no-report]
  autobalance sweep submit --slurm --spec sweep.json --out DIR --shards N [--submit] [--missing]
                        [--partition P] [--time T] [--cpus-per-task C] [--mem M] [--sbatch-arg=X]...

  autobalance <command> --help   what one command does, its options and formats

  --backend   force a backend (default: AUTOBALANCE_BACKEND, else native if it loads, else wasm)
  --report    also write a self-contained HTML report (plots, tables, the spec)
  train       runs the spec (JSON, see docs/api.md) and writes the result JSON (stdout without --out)
  list        the presets (paper reproductions), one line each
  run         runs a paper preset; prints the paper's claims beside ours, each marked agrees,
              DISAGREES, cannot compare or incomplete; writes DIR/<preset>.html (report), .svg,
              .vl.json (Vega-Lite spec of the figure), .csv, .json (DIR default: out/<preset>);
              --seeds N: a sweep preset's random starts per setting (fewer: a quicker, shortened run);
              --strict: exit code 3 when a claim is marked DISAGREES (for CI; incomplete and
              cannot compare do not fail it)
  hessian     runs the spec to its end (or not, with --at-init), then asks the core what kind of
              point it reached (default --what classify); prints a verdict, writes the JSON report
  study       runs a study (a computation that is not one run, e.g. kind hessianGrid: the Hessian
              along a grid of steps and axis values; docs/studies.md) and writes its JSON result
              (stdout without --out) and, with --csv, its columns
  sweep run   runs a sweep (many runs over axes and seeds; docs/sweeps.md) into DIR: one shard
              (--shard K of --shards N, default SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT),
              or all of it in blocks of --block runs, then merges; runs already in DIR are
              skipped, so a rerun resumes (Ctrl-C keeps every finished run)
  sweep missing  the missing runs (start end, one range a line), or with --shards N the shards
              that have missing runs (a list for sbatch --array=)
  sweep status   runs done, shard files, what is missing
  sweep merge    checks every run is there, then writes DIR/runs.jsonl, table.json, table.csv,
              report.html
  sweep submit --slurm  writes DIR/slurm/array.sbatch and merge.sbatch (docs/slurm.md), and with
              --submit submits them (--missing: only the shards with missing runs)
`;

/** The command line as typed (arguments with spaces or quotes quoted). */
function commandLine(): string {
  const q = (a: string): string => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return ['autobalance', ...process.argv.slice(2).map(q)].join(' ');
}

/** One line on this machine: OS, CPU model and count, memory, Node. */
function machineSummary(): string {
  const c = cpus();
  const gib = (totalmem() / 2 ** 30).toFixed(1);
  return `${osType()} ${osRelease()} ${osArch()}; ${c[0]?.model.trim() ?? 'unknown CPU'} x ${c.length}; ${gib} GiB; Node ${process.version}`;
}

/** What produced a report, before the backend is known (date, package version, machine). */
function baseProvenance(): Provenance {
  return { date: new Date().toISOString(), packageVersion: packageVersion(), machine: machineSummary() };
}

/** What produced a report written by the CLI (`files`: written beside it, linked by name). */
function provenance(backend: string, coreVersion: string, files: string[] = [], overrides?: Record<string, unknown>, shortened?: string): Provenance {
  return {
    command: commandLine(),
    date: new Date().toISOString(),
    packageVersion: packageVersion(),
    coreVersion,
    backend,
    machine: machineSummary(),
    ...(overrides !== undefined && Object.keys(overrides).length > 0 ? { overrides } : {}),
    ...(shortened !== undefined ? { shortened } : {}),
    ...(files.length > 0 ? { files: files.map((f) => ({ label: basename(f), href: basename(f) })) } : {}),
  };
}

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

type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;

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
/** Seconds as `42 s`, `3 min 5 s` or `2 h 10 min`. */
function duration(sec: number): string {
  const s = Math.round(sec);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

class ProgressLine {
  readonly tty = process.stderr.isTTY === true && !process.env['CI'];
  #lastPlain = Date.now();
  #active = false;
  #started = new Map<string, number>();

  update(prefix: string, p: Progress): void {
    const frac = p.steps > 0 ? Math.min(1, p.step / p.steps) : 1;
    const pct = Math.floor(100 * frac);
    this.show(prefix, frac, `step ${p.step}/${p.steps} (${pct}%)  loss ${formatNumber(p.loss)}`);
  }

  /** A line `<prefix>: <tail>` with a bar at `frac` (0..1), the time elapsed since this prefix first showed, and an ETA. */
  show(prefix: string, frac: number, tail0: string): void {
    const now = Date.now();
    const started = this.#started.get(prefix) ?? now;
    this.#started.set(prefix, started);
    const elapsed = (now - started) / 1000;
    const eta = frac > 0.01 && frac < 1 && elapsed > 1 ? `, ETA ${duration((elapsed * (1 - frac)) / frac)}` : '';
    const tail = `${tail0}  ${duration(elapsed)} elapsed${eta}`;
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
      const meta = {
        backend: result.backend,
        coreVersion: backendInfo.coreVersion,
        cancelled: result.cancelled,
        provenance: provenance(result.backend, backendInfo.coreVersion, out ? [out] : []),
      };
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
  const { values } = parse(args, { json: { type: 'boolean' } }, 0);
  const list = await presetList();
  // How much work each preset is (runs and steps, sweep runs, studies): computed from its spec.
  const sized = await Promise.all(list.map(async (p) => ({ ...p, size: await presetSize(p.name) })));
  if (values['json']) {
    process.stdout.write(JSON.stringify(sized) + '\n');
    return 0;
  }
  const width = Math.max(0, ...sized.map((p) => p.name.length));
  const sw = Math.max(0, ...sized.map((p) => p.size.length));
  for (const p of sized) process.stdout.write(`${p.name.padEnd(width)}  ${p.size.padEnd(sw)}  ${p.description}\n`);
  process.stdout.write('\n(measured wall times per preset on a 2-core machine: docs/presets.md)\n');
  return 0;
}

/** A preset's amount of work in words: `2 runs x 10000 steps`, `7200 runs (sweep)`, `17 studies (+ 3 runs)`. */
async function presetSize(name: string): Promise<string> {
  const p = await presetSpec(name);
  if (p.sweep) {
    const plan = await sweepPlan(p.sweep.spec);
    return `${plan.runs} runs (sweep)`;
  }
  const steps = p.runs.map((r) => r.spec.steps ?? 0);
  const most = Math.max(0, ...steps);
  const least = Math.min(...steps);
  const runs = p.runs.length > 0 ? `${p.runs.length} run${p.runs.length > 1 ? 's' : ''} x ${least === most ? most : `${least}-${most}`} steps` : '';
  if (p.studies) return `${p.studies.length} stud${p.studies.length > 1 ? 'ies' : 'y'}${runs ? ` + ${runs}` : ''}`;
  return runs;
}

/** An axis value in a terminal cell: numbers and strings as they are, an object by its `kind` (a method, an init) or as short JSON. */
function axisCell(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'object') return String(v);
  const kind = (v as Record<string, unknown>)['kind'];
  if (typeof kind === 'string') return kind;
  const json = JSON.stringify(v);
  return json.length > 40 ? `${json.slice(0, 37)}...` : json;
}

/** A sweep's table on a terminal: one line per setting, its axis values, runs and each class's probability with its interval. */
function sweepSummary(plan: SweepPlan, table: SweepTable): string {
  const paths = plan.axes.flatMap((a) => a.paths);
  const classes = plan.classes.filter((c) => table.settings.some((s) => (s.classes[c]?.count ?? 0) > 0));
  const rows = table.settings.map((s) => [
    ...paths.map((p) => axisCell(s.values[p])),
    String(s.runs),
    ...classes.map((c) => {
      const k = s.classes[c];
      return k === undefined ? '-' : `${k.p.toFixed(2)} [${k.lo.toFixed(2)}, ${k.hi.toFixed(2)}]`;
    }),
  ]);
  const level = Math.round(plan.confidence * 100);
  return (
    `${plan.runs} runs: ${plan.settings} settings x ${plan.seedsPerSetting} seeds; P(class) [${level}% Wilson interval]${table.complete ? '' : ' (incomplete: interrupted)'}\n` +
    textTable([...paths, 'runs', ...classes.map((c) => `P(${c})`)], rows)
  );
}

async function cmdRun(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    { out: { type: 'string' }, backend: { type: 'string' }, steps: { type: 'string' }, seed: { type: 'string' }, seeds: { type: 'string' }, strict: { type: 'boolean' } },
    1,
  );
  const name = positionals[0];
  if (!name) throw new UsageError('preset', 'missing: the name of a preset (see autobalance list)');
  const backendName = backendOption(str(values, 'backend'));
  const steps = intOption('--steps', str(values, 'steps'));
  const seed = intOption('--seed', str(values, 'seed'));
  const seedsPerSetting = intOption('--seeds', str(values, 'seeds'));
  const backend = await loadBackend(backendName);
  const base = await presetSpec(name, { backend });
  if (seedsPerSetting !== undefined && base.sweep === undefined) {
    throw new UsageError('--seeds', `the preset ${name} is not a sweep (--seeds sets a sweep preset's random starts per setting)`);
  }
  const preset = applyOverrides(base, {
    ...(steps !== undefined ? { steps } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...(seedsPerSetting !== undefined ? { seedsPerSetting } : {}),
  });
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
      onProgress: (run, p) =>
        preset.sweep !== undefined
          ? progress.show(preset.name, p.steps > 0 ? p.step / p.steps : 1, `runs ${p.step}/${p.steps}`)
          : progress.update(`${preset.name} ${run.index + 1}/${run.count} ${run.label}`, p),
      onRunEnd: (run, r) => {
        progress.line(`${preset.name} ${run.index + 1}/${run.count} ${run.label}: ${summarize(r).outcome} at step ${r.step}`);
      },
    });
  } finally {
    progress.clear();
    sig.release();
  }
  const runs = outcome.runs;
  const cancelled =
    sig.interrupted() ||
    runs.some((r) => r.result.cancelled) ||
    runs.length < preset.runs.length ||
    (outcome.sweep !== undefined && !outcome.sweep.table.complete) ||
    (preset.studies !== undefined && ((outcome.studies?.length ?? 0) < preset.studies.length || (outcome.studies ?? []).some((s) => !s.result.finished)));
  const rows = runs.map((r) => {
    const s = summarize(r.result);
    return [
      r.label,
      `${s.step}/${s.steps}`,
      formatNumber(s.finalLoss),
      s.finalNormRatios.map(formatNumber).join(' '),
      Number.isNaN(s.maxInvariantDrift) ? '-' : formatNumber(s.maxInvariantDrift),
      s.outcome,
    ];
  });
  const header =
    `\n${preset.name} on ${backend.name} (core ${backend.coreVersion}), ${((Date.now() - started) / 1000).toFixed(2)} s\n` +
    (preset.shortened !== undefined ? `SHORTENED: ${preset.shortened} (below the preset's protocol): no claim is judged\n` : '');
  if (outcome.sweep !== undefined) {
    process.stdout.write(header + sweepSummary(outcome.sweep.plan, outcome.sweep.table));
  } else if (preset.studies !== undefined) {
    // The marks read the runs too when the preset has both (a preset of studies and runs).
    const t = presetStudyTable(preset, outcome.studies ?? [], presetChecks(preset, outcome));
    process.stdout.write(header + textTable(t.header, t.rows));
    if (preset.runs.length > 0) process.stdout.write('\n' + textTable(['run', 'steps', 'final loss', 'norm ratio(s)', 'max invariant drift', 'outcome'], rows));
  } else {
    process.stdout.write(header + textTable(['run', 'steps', 'final loss', 'norm ratio(s)', 'max invariant drift', 'outcome'], rows));
  }
  if (runs.length < preset.runs.length) {
    process.stdout.write(`(${preset.runs.length - runs.length} run(s) skipped after the interruption)\n`);
  }
  const checked = presetChecks(preset, outcome);
  if (checked.length > 0) {
    const lines = ['\nthe paper beside ours:'];
    for (const c of checked) {
      lines.push(`  [${referenceMark(c)}] ${c.claim ?? ''}`);
      for (const o of c.outcomes) lines.push(`      ${o.shown ? '=  ' : o.pass === true ? 'ok ' : o.pass === false ? 'NO ' : '?  '} ${o.text}`);
      if (c.cannotCompare) lines.push(`      (cannot compare: ${c.cannotCompare})`);
    }
    process.stdout.write(lines.join('\n') + '\n');
  }
  const files = {
    html: join(dir, `${preset.name}.html`),
    svg: join(dir, `${preset.name}.svg`),
    vl: join(dir, `${preset.name}.vl.json`),
    csv: join(dir, `${preset.name}.csv`),
    json: join(dir, `${preset.name}.json`),
  };
  const overrides = { ...(steps !== undefined ? { steps } : {}), ...(seed !== undefined ? { seed } : {}), ...(seedsPerSetting !== undefined ? { seedsPerSetting } : {}) };
  const meta = {
    backend: backend.name,
    coreVersion: backend.coreVersion,
    cancelled,
    provenance: provenance(backend.name, backend.coreVersion, [files.csv, files.json, files.svg, files.vl], overrides, preset.shortened),
  };
  const report = presetReport(preset, outcome, meta);
  writeFile(files.json, JSON.stringify(report) + '\n');
  writeFile(files.csv, runsToCsv(runs, preset));
  writeFile(files.vl, JSON.stringify(presetVegaLite(preset, runs)) + '\n');
  const svg = await presetSvg(preset, runs);
  writeFile(files.svg, svg);
  writeFile(files.html, await presetHtml(preset, outcome, meta, svg));
  process.stdout.write(`wrote ${Object.values(files).join('\n      ')}\n`);
  if (cancelled) return 130;
  const disagree = checked.filter((c) => c.status === 'disagrees').length;
  if (values['strict'] && disagree > 0) {
    process.stderr.write(`${preset.name}: ${disagree} claim(s) DISAGREE (--strict: exit code 3)\n`);
    return 3;
  }
  return 0;
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
  // The query is checked before any training: a bad query fails in a moment, not after the run.
  try {
    run.checkQuery(query);
  } catch (e) {
    run.dispose();
    throw e;
  }
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
      writeFile(reportPath, await hessianHtml(spec, report, { backend: run.backend, coreVersion: b.coreVersion, cancelled: false, step: st.step, provenance: provenance(run.backend, b.coreVersion) }));
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

// ---------------------------------------------------------------------------------------------
// autobalance sweep run|missing|merge|status|submit

/** A positive integer option (or environment variable, named in the error). */
function countOption(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v.trim()) || Number(v) < min || !Number.isSafeInteger(Number(v))) {
    throw new UsageError(name, `expected an integer >= ${min}, got ${JSON.stringify(v)}`);
  }
  return Number(v);
}

/** The sweep directory of `--out` (required). */
function outDir(values: Record<string, unknown>): string {
  const out = str(values, 'out');
  if (!out) throw new UsageError('--out', 'missing: the sweep directory (shards, merged rows, table, report)');
  return resolve(out);
}

/**
 * The spec of a sweep command: `--spec` (its study-only fields `runs`/`threads` dropped), or
 * `DIR/sweep.json` when `--spec` is absent and the directory has one. Returns the spec and the
 * `threads` it asked for.
 */
function sweepSpecOf(values: Record<string, unknown>, dir: string): { spec: SweepSpec; threads: number | undefined; path: string } {
  const specPath = str(values, 'spec');
  let raw: unknown;
  let path: string;
  if (specPath) {
    raw = readJson('--spec', specPath);
    path = specPath;
  } else if (existsSync(sweepJsonPath(dir))) {
    raw = readJson('--out', sweepJsonPath(dir));
    path = sweepJsonPath(dir);
  } else {
    throw new UsageError('--spec', `missing: the path of a JSON sweep spec (${dir} holds no sweep.json yet)`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new FileError('--spec', `${path}: expected a JSON object (a sweep spec)`);
  const obj = raw as Record<string, unknown>;
  if ('runs' in obj) {
    process.stderr.write(`note: ${path}: "runs" is ignored by the CLI (use --shard/--shards)\n`);
  }
  const threads = typeof obj['threads'] === 'number' && obj['threads'] > 0 ? (obj['threads'] as number) : undefined;
  return { spec: identitySpec(obj) as unknown as SweepSpec, threads, path };
}

/**
 * Make `dir` the directory of `spec` (writes `DIR/sweep.json` on first use, refuses another
 * sweep's directory); returns the plan.
 */
async function openSweepDir(dir: string, spec: SweepSpec, backend: BackendName | undefined): Promise<Awaited<ReturnType<typeof planOf>>> {
  const plan = await planOf(spec, backend);
  initSweepDir(dir, spec as unknown as Record<string, unknown>, plan.hash);
  return plan;
}

/** The shard of this process: `--shard`/`--shards`, else Slurm's array variables; null for all. */
function shardOf(values: Record<string, unknown>): { k: number; n: number } | null {
  const env = process.env;
  let k = countOption('--shard', str(values, 'shard'), 0);
  let n = countOption('--shards', str(values, 'shards'), 1);
  if (k === undefined && env['SLURM_ARRAY_TASK_ID'] !== undefined) k = countOption('SLURM_ARRAY_TASK_ID', env['SLURM_ARRAY_TASK_ID'], 0);
  if (n === undefined && env['SLURM_ARRAY_TASK_COUNT'] !== undefined) {
    n = countOption('SLURM_ARRAY_TASK_COUNT', env['SLURM_ARRAY_TASK_COUNT'], 1);
    // The count is the number of shards only for a full array 0..N-1: a resubmission of some
    // elements (--array=3,7) has a count of 2. Refuse to guess.
    const min = env['SLURM_ARRAY_TASK_MIN'];
    const max = env['SLURM_ARRAY_TASK_MAX'];
    if ((min !== undefined && min !== '0') || (max !== undefined && n !== undefined && Number(max) !== n - 1)) {
      throw new UsageError(
        '--shards',
        `missing: this array's SLURM_ARRAY_TASK_COUNT (${n}) is not its number of shards (the array is ${min ?? '?'}..${max ?? '?'}): pass --shards N (the scripts of sweep submit do)`,
      );
    }
  }
  if (k === undefined && n === undefined) return null;
  if (k === undefined) throw new UsageError('--shard', 'missing: --shards needs --shard K (or SLURM_ARRAY_TASK_ID)');
  if (n === undefined) throw new UsageError('--shards', 'missing: --shard needs --shards N (or SLURM_ARRAY_TASK_COUNT)');
  if (k >= n) throw new UsageError('--shard', `shard ${k} does not exist: shards are numbered 0 to ${n - 1} (--shards ${n})`);
  return { k, n };
}

/** Threads for a shard: `--threads`, the spec's, else Slurm's CPUs for this task, else all cores. */
function threadsOf(values: Record<string, unknown>, specThreads: number | undefined): number | undefined {
  const t = countOption('--threads', str(values, 'threads'), 1);
  if (t !== undefined) return t;
  if (specThreads !== undefined) return specThreads;
  const env = process.env;
  if (env['SLURM_CPUS_PER_TASK']) return countOption('SLURM_CPUS_PER_TASK', env['SLURM_CPUS_PER_TASK'], 1);
  if (env['SLURM_JOB_ID'] && env['SLURM_CPUS_ON_NODE']) return countOption('SLURM_CPUS_ON_NODE', env['SLURM_CPUS_ON_NODE'], 1);
  return undefined;
}

function seconds(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const m = Math.floor(ms / 60_000);
  if (m < 60) return `${m} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** Ctrl-C (SIGINT) and SIGTERM (scancel) stop the sweep after the current chunk, keeping its runs. */
function sweepInterruptible(): { signal: AbortSignal; signalled: () => NodeJS.Signals | null; release: () => void } {
  const controller = new AbortController();
  let first: NodeJS.Signals | null = null;
  const on = (sig: NodeJS.Signals) => (): void => {
    if (first === null) {
      first = sig;
      process.stderr.write(`\ninterrupted (${sig}): stopping after the current runs, keeping every finished one (again to quit at once)\n`);
      controller.abort();
    } else {
      process.exit(sig === 'SIGTERM' ? 143 : 130);
    }
  };
  const onInt = on('SIGINT');
  const onTerm = on('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    signal: controller.signal,
    signalled: () => first,
    release: () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}

async function cmdSweepRun(args: string[]): Promise<number> {
  const { values } = parse(
    args,
    {
      spec: { type: 'string' },
      out: { type: 'string' },
      shard: { type: 'string' },
      shards: { type: 'string' },
      block: { type: 'string' },
      threads: { type: 'string' },
      backend: { type: 'string' },
      'no-merge': { type: 'boolean' },
    },
    0,
  );
  const dir = outDir(values);
  const backend = backendOption(str(values, 'backend'));
  const shard = shardOf(values);
  const blockOpt = countOption('--block', str(values, 'block'), 1);
  if (shard && blockOpt !== undefined) throw new UsageError('--block', 'a shard is written as one file: --block is for a local run of the whole sweep');
  const { spec, threads: specThreads } = sweepSpecOf(values, dir);
  const threads = threadsOf(values, specThreads);
  const plan = await openSweepDir(dir, spec, backend);
  const range = shard ? shardRange(shard.k, shard.n, plan.runs) : { start: 0, end: plan.runs };
  const block = shard ? null : (blockOpt ?? Math.max(1000, Math.ceil(plan.runs / 100)));
  const what = shard ? `shard ${shard.k} of ${shard.n}` : 'sweep';
  const todo = countRuns(missingRanges(listShards(dir), range));
  process.stderr.write(
    `${what}: runs [${range.start}, ${range.end}) of ${plan.runs} (${plan.settings} settings x ${plan.seedsPerSetting} seeds), ${todo} to run, ${range.end - range.start - todo} already in ${dir}\n`,
  );
  const progress = new ProgressLine();
  const sig = sweepInterruptible();
  const started = Date.now();
  let lastPlain = Date.now();
  let result;
  try {
    result = await runRanges({
      dir,
      spec,
      range,
      block,
      ...(backend ? { backend } : {}),
      ...(threads !== undefined ? { threads } : {}),
      signal: sig.signal,
      onProgress: (p) => {
        const frac = p.total > 0 ? p.done / p.total : 1;
        const eta = p.etaMs === null ? '' : `  ETA ${seconds(p.etaMs)}`;
        const tail = `${p.done}/${p.total} runs (${Math.floor(100 * frac)}%)  ${(p.done / Math.max(1e-3, p.elapsedMs / 1000)).toFixed(1)} runs/s${eta}`;
        if (progress.tty) {
          progress.show(what, frac, tail);
        } else if (Date.now() - lastPlain >= 10_000) {
          // Not a terminal (a Slurm log): a plain line every 10 s.
          process.stderr.write(`${what}: ${tail}\n`);
          lastPlain = Date.now();
        }
      },
    });
  } finally {
    progress.clear();
    sig.release();
  }
  const elapsed = seconds(Date.now() - started);
  const names = result.files.map((f) => f.name);
  if (result.cancelled) {
    process.stderr.write(
      `${what}: interrupted after ${result.done} of ${todo} runs in ${elapsed}; kept ${names.length ? names.join(', ') : 'nothing new'} (run the same command again to resume)\n`,
    );
    return sig.signalled() === 'SIGTERM' ? 143 : 130;
  }
  process.stderr.write(`${what}: ${result.done} runs in ${elapsed}${names.length ? `; wrote ${names.length} file(s) in ${join(dir, 'shards')}` : ''}\n`);
  if (!shard && !values['no-merge']) return await mergeAndSay(dir, backend, `autobalance sweep run --out ${dir}`);
  return 0;
}

async function mergeAndSay(dir: string, backend: BackendName | undefined, command: string): Promise<number> {
  const started = Date.now();
  const r = await mergeSweep(dir, { ...(backend ? { backend } : {}), command, provenance: baseProvenance() });
  process.stderr.write(
    `merge: ${r.runs} runs from ${r.files} file(s)${r.duplicates ? ` (${r.duplicates} duplicate rows dropped)` : ''}, ${r.settings} settings, in ${seconds(Date.now() - started)}\n`,
  );
  if (r.noReport) process.stderr.write(`merge: no report.html: ${r.noReport}\n`);
  process.stdout.write(`wrote ${r.written.join('\n      ')}\n`);
  return 0;
}

async function cmdSweepMerge(args: string[]): Promise<number> {
  const { values } = parse(args, { out: { type: 'string' }, backend: { type: 'string' }, 'no-report': { type: 'boolean' } }, 0);
  const dir = outDir(values);
  const backend = backendOption(str(values, 'backend'));
  const started = Date.now();
  const r = await mergeSweep(dir, { ...(backend ? { backend } : {}), command: `autobalance sweep merge --out ${dir}`, report: !values['no-report'], provenance: baseProvenance() });
  process.stderr.write(
    `merge: ${r.runs} runs from ${r.files} file(s)${r.duplicates ? ` (${r.duplicates} duplicate rows dropped)` : ''}, ${r.settings} settings, in ${seconds(Date.now() - started)}\n`,
  );
  if (r.noReport) process.stderr.write(`merge: no report.html: ${r.noReport}\n`);
  process.stdout.write(`wrote ${r.written.join('\n      ')}\n`);
  return 0;
}

async function cmdSweepMissing(args: string[]): Promise<number> {
  const { values } = parse(args, { out: { type: 'string' }, shards: { type: 'string' }, json: { type: 'boolean' }, backend: { type: 'string' } }, 0);
  const dir = outDir(values);
  const backend = backendOption(str(values, 'backend'));
  const n = countOption('--shards', str(values, 'shards'), 1);
  const st = await sweepDirStatus(dir, backend);
  const shards = n !== undefined ? missingShards(st.missing, n, st.plan.runs) : null;
  if (values['json']) {
    process.stdout.write(
      JSON.stringify({
        hash: st.plan.hash,
        runs: st.plan.runs,
        done: st.done,
        missing: st.missing,
        ...(shards ? { shards: n, missingShards: shards, array: arrayList(shards) } : {}),
      }) + '\n',
    );
  } else if (shards) {
    process.stdout.write(`${arrayList(shards)}\n`);
    process.stderr.write(
      shards.length === 0 ? `complete: all ${st.plan.runs} runs are there\n` : `${shards.length} of ${n} shards have missing runs (${countRuns(st.missing)} of ${st.plan.runs} runs)\n`,
    );
  } else {
    for (const r of st.missing) process.stdout.write(`${r.start} ${r.end}\n`);
    process.stderr.write(
      st.missing.length === 0
        ? `complete: all ${st.plan.runs} runs are there\n`
        : `${countRuns(st.missing)} of ${st.plan.runs} runs missing (start end, end excluded): ${formatRanges(st.missing, 5)}\n`,
    );
  }
  return 0;
}

async function cmdSweepStatus(args: string[]): Promise<number> {
  const { values } = parse(args, { out: { type: 'string' }, json: { type: 'boolean' }, backend: { type: 'string' } }, 0);
  const dir = outDir(values);
  const backend = backendOption(str(values, 'backend'));
  const st = await sweepDirStatus(dir, backend);
  const merged = existsSync(join(dir, 'runs.jsonl')) && existsSync(join(dir, 'table.json'));
  if (values['json']) {
    process.stdout.write(
      JSON.stringify({
        dir,
        hash: st.plan.hash,
        runs: st.plan.runs,
        settings: st.plan.settings,
        seedsPerSetting: st.plan.seedsPerSetting,
        done: st.done,
        files: st.files.map((f) => ({ name: f.name, start: f.start, end: f.end })),
        missing: st.missing,
        inProgress: st.temp.map((t) => ({ name: t.name, pid: t.pid, alive: t.alive })),
        merged,
      }) + '\n',
    );
    return 0;
  }
  const pct = st.plan.runs > 0 ? Math.floor((100 * st.done) / st.plan.runs) : 100;
  const lines = [
    `sweep ${st.plan.hash} in ${dir}`,
    `runs:     ${st.done}/${st.plan.runs} done (${pct}%), ${st.plan.settings} settings x ${st.plan.seedsPerSetting} seeds`,
    `files:    ${st.files.length} in ${join(dir, 'shards')}`,
    `missing:  ${st.missing.length === 0 ? 'none' : formatRanges(st.missing, 10)}`,
  ];
  for (const t of st.temp) {
    // The pid is that of the writer's machine: on a shared file system, another node's process
    // may be running although no such pid lives here.
    lines.push(`writing:  ${t.name} (pid ${t.pid}: ${t.alive ? 'a process with this pid runs here' : 'no such process here: left by a process that died, or written on another machine'})`);
  }
  lines.push(`merged:   ${merged ? 'yes (runs.jsonl, table.json)' : st.missing.length === 0 ? 'no: run `autobalance sweep merge --out DIR`' : 'no'}`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

async function cmdSweepSubmit(args: string[]): Promise<number> {
  const { values } = parse(
    args,
    {
      slurm: { type: 'boolean' },
      spec: { type: 'string' },
      out: { type: 'string' },
      shards: { type: 'string' },
      submit: { type: 'boolean' },
      missing: { type: 'boolean' },
      partition: { type: 'string' },
      time: { type: 'string' },
      'cpus-per-task': { type: 'string' },
      mem: { type: 'string' },
      'sbatch-arg': { type: 'string', multiple: true },
      backend: { type: 'string' },
    },
    0,
  );
  if (!values['slurm']) throw new UsageError('--slurm', 'missing: the scheduler (only --slurm so far; other schedulers run `sweep run --shard K --shards N` themselves)');
  const dir = outDir(values);
  const shards = countOption('--shards', str(values, 'shards'), 1);
  if (shards === undefined) throw new UsageError('--shards', 'missing: the number of shards (array elements)');
  const backend = backendOption(str(values, 'backend'));
  const cpus = countOption('--cpus-per-task', str(values, 'cpus-per-task'), 1);
  const extra = values['sbatch-arg'];
  const sbatchArgs = Array.isArray(extra) ? (extra as string[]) : [];
  if (values['missing'] && !values['submit']) throw new UsageError('--missing', 'resubmits the missing shards: it needs --submit');
  const { spec } = sweepSpecOf(values, dir);
  const plan = await openSweepDir(dir, spec, backend);
  if (shards > plan.runs && plan.runs > 0) throw new UsageError('--shards', `${shards} shards for ${plan.runs} runs: at most one shard per run`);
  const scripts = writeSlurmScripts({
    dir,
    shards,
    ...(str(values, 'partition') ? { partition: str(values, 'partition')! } : {}),
    ...(str(values, 'time') ? { time: str(values, 'time')! } : {}),
    ...(cpus !== undefined ? { cpusPerTask: cpus } : {}),
    ...(str(values, 'mem') ? { mem: str(values, 'mem')! } : {}),
    sbatchArgs,
    ...(backend ? { backend } : {}),
  });
  process.stderr.write(`wrote ${scripts.array}\n      ${scripts.merge}\n`);
  if (!values['submit']) {
    process.stdout.write(
      [
        `submit with:`,
        `  job=$(sbatch --parsable ${scripts.array})`,
        `  sbatch --dependency=afterany:$job ${scripts.merge}`,
        `after failures, resubmit the missing shards with:`,
        `  autobalance sweep submit --slurm --out ${dir} --shards ${shards} --submit --missing`,
        '',
      ].join('\n'),
    );
    return 0;
  }
  let list: number[] | null = null;
  if (values['missing']) {
    const st = await sweepDirStatus(dir, backend);
    list = missingShards(st.missing, shards, plan.runs);
    const running = st.temp.filter((t) => t.alive);
    if (running.length > 0) {
      process.stderr.write(`warning: ${running.length} shard file(s) are being written right now (${running.map((t) => t.name).join(', ')}): their runs count as missing\n`);
    }
    if (list.length === 0) process.stderr.write(`no missing shards: every run is there; submitting the merge only\n`);
  }
  const sub = submitSlurm(scripts, list);
  const out = {
    arrayJob: sub.arrayJob,
    array: sub.array ?? (list === null ? `0-${shards - 1}` : ''),
    mergeJob: sub.mergeJob,
  };
  if (sub.arrayJob) process.stderr.write(`submitted array job ${sub.arrayJob} (shards ${out.array} of ${shards})\n`);
  process.stderr.write(`submitted merge job ${sub.mergeJob}${sub.arrayJob ? ` (after ${sub.arrayJob}, afterany)` : ''}\n`);
  process.stdout.write(JSON.stringify(out) + '\n');
  return 0;
}

const SWEEP_USAGE = 'expected a subcommand: run, missing, status, merge or submit';

async function cmdSweep(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'run':
      return await cmdSweepRun(rest);
    case 'missing':
      return await cmdSweepMissing(rest);
    case 'status':
      return await cmdSweepStatus(rest);
    case 'merge':
      return await cmdSweepMerge(rest);
    case 'submit':
      return await cmdSweepSubmit(rest);
    case undefined:
      throw new UsageError('sweep', `missing: ${SWEEP_USAGE}`);
    default:
      throw new UsageError('sweep', `unknown subcommand ${JSON.stringify(sub)}: ${SWEEP_USAGE}`);
  }
}

/** `autobalance <command> --help`: what one command does, its options and formats. */
const HELP: Record<string, string> = {
  info: `usage: autobalance info [--json] [--backend native|wasm]

The backend in use, the core, package and Node versions, and whether each backend loads.
  --json      the same as one JSON object
  --backend   force a backend (default: AUTOBALANCE_BACKEND, else native if it loads, else wasm)
`,
  train: `usage: autobalance train --spec run.json [--out result.json] [--report report.html] [--backend native|wasm]

Runs one spec (JSON: model, data or target, init, schedule, steps, ...; docs/api.md) and writes the
result JSON (every recorded column, the final parameters, the stop reason) to --out, or stdout.
  --report    also a self-contained HTML page: the plots of the run, its table, the spec and how it was
              produced (command, date, versions, backend, machine)
Ctrl-C stops the run after its current chunk and writes what was computed (exit code 130).
`,
  list: `usage: autobalance list [--json]

The presets (paper reproductions), one line each: name, amount of work (runs x steps, sweep runs,
studies: computed from the preset's spec) and what it reproduces.
  --json      the list as JSON: [{"name", "description", "size"}]
`,
  run: `usage: autobalance run <preset> [--out DIR] [--backend native|wasm] [--steps N] [--seed N] [--seeds N] [--strict]

Runs a paper preset (see autobalance list; docs/presets.md) and prints a table of its runs and the
paper's claims beside ours, each marked agrees, DISAGREES, cannot compare, incomplete, finding or
"not checked (shortened)". Writes DIR/<preset>.html (report), .svg and .vl.json (the figure), .csv
and .json (DIR default: out/<preset>); the output location is checked before anything runs.
  --steps N   the steps of every run; fewer than the preset's protocol: SHORTENED, no claim judged
  --seed N    shift every seed of the preset by one amount, so that the smallest is N
  --seeds N   a sweep preset's random starts per setting (fewer than the protocol: SHORTENED)
  --strict    exit code 3 when a claim is marked DISAGREES (for CI)
`,
  hessian: `usage: autobalance hessian --spec run.json [--query q.json | --what classify|eigs|density|trace|lemma32]
                   [--at-init] [--out report.json] [--report report.html] [--backend native|wasm]

Runs the spec to its end (or not, with --at-init), then asks the core about the point it reached:
prints a one-line verdict and writes {step, backend, report} to --out. The query is checked before
any training (a bad query fails at once).
  --what      a query with its defaults (default classify)
  --query     a query file (JSON, camelCase; docs/curvature.md "Query"), e.g.
                {"what": "classify", "tol": 1e-8, "zeroTol": 1e-6}
                {"what": "eigs", "k": 3, "which": "both", "method": "lanczos", "tol": 1e-8}
                {"what": "density", "probes": 10, "lanczosSteps": 80, "gridPoints": 400, "seed": 1}
                {"what": "trace", "probes": 100, "seed": 1}
                {"what": "lemma32"}                         (matrix factorization)
              fields: what, k, which (smallest|largest|both), method (auto|dense|lanczos), tol,
              maxIter, seed, block (a parameter block: U, V, W1, b1, ...), probes, lanczosSteps,
              gridPoints, sigma, zeroTol, gradTol, denseMaxDim, eps, vectors
  --at-init   ask at the initial point, without training
  --report    an HTML page: the verdict, every number of the report, the eigenpairs, the density plot
`,
  study: `usage: autobalance study --spec study.json [--out result.json] [--csv columns.csv] [--backend native|wasm]

Runs a study (a computation that is not one run; docs/studies.md): kind hessianGrid (the Hessian
along a grid of steps and axis values), conservationLaws, continuation, ... Writes its JSON result
(stdout without --out) and, with --csv, its columns (one line per point).
`,
  sweep: `usage: autobalance sweep run|missing|status|merge|submit ...

Many runs over axes of spec paths and seeds (docs/sweeps.md, docs/slurm.md):
  sweep run --spec sweep.json --out DIR [--shard K --shards N] [--block B] [--threads T] [--no-merge]
              runs a sweep into DIR (a shard, or all of it), resumable; then merges
  sweep missing --out DIR [--shards N] [--json]    the missing runs or shards
  sweep status --out DIR [--json]                  runs done, shard files, what is missing
  sweep merge --out DIR [--no-report]              runs.jsonl, table.json, table.csv, report.html
  sweep submit --slurm --spec sweep.json --out DIR --shards N [--submit] [--missing] [--partition P]
              [--time T] [--cpus-per-task C] [--mem M] [--sbatch-arg=X]...   Slurm job arrays
`,
};

/** Run the CLI with `argv` (without `node` and the script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (rest.includes('--help') || rest.includes('-h') || command === 'help' || command === '--help' || command === '-h') {
      // `autobalance run --help` and `autobalance help run`: that command; otherwise the overview.
      const which = command === 'help' ? rest[0] : command;
      process.stdout.write((which !== undefined ? HELP[which] : undefined) ?? USAGE);
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
      case 'sweep':
        return await cmdSweep(rest);
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
    if (e instanceof SweepFilesError) {
      process.stderr.write(`error: ${e.field ? `${e.field}: ` : ''}${e.message}\n`);
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
