/**
 * Presets: the paper reproductions defined in the core (runs as specs, or a sweep; what to plot,
 * what the paper reports), and running them.
 *
 * @module
 */

import { type BackendChoice, type BackendName, resolveBackend } from './backend.js';
import type { PresetReference, Quantity, StudyQuantity } from './checks.js';
import type { HessianQuery, HessianReport } from './curvature.js';
import { InternalError, InvalidRequestError, guard } from './errors.js';
import { describeValue, functionArg, optionsArg, chunkOptionsArg, stringArg } from './args.js';
import { type ChunkOptions, type Progress, Run, type RunResult } from './run.js';
import type { RunSpec } from './spec.js';
import { type SweepPlan, type SweepSpec, type SweepTable, SweepCancelledError, sweep } from './sweep.js';
import type { SweepGridTable, SweepPlot } from './sweep-report.js';
import { type StudyResult, type StudySpec, study } from './study.js';

/** A preset in the list. */
export interface PresetInfo {
  /** Its name, e.g. `figure1`. */
  name: string;
  /** One line on what it reproduces. */
  description: string;
}

/** One run of a preset. */
export interface PresetRun {
  /** Legend label. */
  label: string;
  /** The spec of the run (random target and init: no buffers). */
  spec: RunSpec;
}

/**
 * One panel of a preset's figure: a recorded column of every run against the step (no `kind`; in
 * a preset of studies alone, a column of its table against the row), a study's columns against
 * each other (`studyLines`), or a run's final parameters as layer matrices over time (`layers`).
 */
export type PresetPlot = RunColumnPlot | StudyLinesPlot | LayersPlot;

/** A recorded column of every run against the step (or another column). */
export interface RunColumnPlot {
  /** No kind. */
  kind?: undefined;
  /** Panel title, e.g. `(a) loss`. */
  title: string;
  /** Name of the column plotted on the y axis. */
  column: string;
  /** Logarithmic y axis. */
  logY?: boolean;
  /** Name of the column on the x axis (default `step`). */
  x?: string;
  /** Theory lines drawn dotted in the same panel, each in the color of its run's line (see {@link RunTheoryLine}). */
  theory?: RunTheoryLine[];
}

/**
 * A theory line of a {@link RunColumnPlot} (on the step axis), in the color of run `run`'s line:
 *
 * - `{label, run, column}`: a column the run records (e.g. an envelope such as `envelopeGd`);
 * - `{label, run, rate}`: the geometric envelope y_k = y_0 rate^k over the run's recorded steps,
 *   y_0 the first recorded value of the plotted column, `rate` a {@link Quantity} evaluated as a
 *   check's (from the runs, their specs and the studies; e.g. 1 - eta lambda_min(K^(H))/2 read
 *   from a study). A rate that cannot be evaluated (a missing study) draws no line.
 */
export type RunTheoryLine =
  | {
      /** Legend label. */
      label: string;
      /** Index of the run. */
      run: number;
      /** The column. */
      column: string;
    }
  | {
      /** Legend label. */
      label: string;
      /** Index of the run. */
      run: number;
      /** The contraction factor per step. */
      rate: Quantity;
    };

/**
 * Columns of the preset's studies against each other: one line per study (its rows in order,
 * non-finite points dropped, drawn in order so that a branch through a fold turns back); with
 * `split`, each study's rows are cut where the values of the split columns change (NaN: the
 * previous value), each piece a line labelled by those values (through `labels`), sharing its
 * boundary row with the next piece.
 */
export interface StudyLinesPlot {
  /** The kind. */
  kind: 'studyLines';
  /** Panel title. */
  title: string;
  /** The column on the x axis. */
  x: string;
  /** The column on the y axis. */
  y: string;
  /** Which studies (indices; default all). */
  studies?: number[];
  /** Logarithmic x axis. */
  logX?: boolean;
  /** Logarithmic y axis. */
  logY?: boolean;
  /** Axis title (default the column name). */
  xTitle?: string;
  /** Axis title (default the column name). */
  yTitle?: string;
  /** Columns whose changes cut a study's line into labelled pieces. */
  split?: string[];
  /** Names of split values, per column: e.g. `{"verdictTime": {"1": "min", "-1": "saddle"}}`. */
  labels?: Record<string, Record<string, string>>;
  /** Further lines computed by the preset (e.g. a theory value). */
  theory?: {
    /** Legend label. */
    label: string;
    /** x values. */
    x: number[];
    /** y values. */
    y: number[];
  }[];
}

/**
 * A run's final parameter block `param` (row-major, length K n^2) as K consecutive row-major n x n
 * matrices A_k over time: one line per entry `A_ij` (from 1), x_k = (k + 1/2) T/K, y = `scale` x
 * the entry (e.g. sqrt(K/T) when the parameters are sqrt(h) A_k).
 */
export interface LayersPlot {
  /** The kind. */
  kind: 'layers';
  /** Panel title. */
  title: string;
  /** Index of the run. */
  run: number;
  /** The parameter block. */
  param: string;
  /** The matrices' size. */
  n: number;
  /** The time horizon. */
  T: number;
  /** Factor applied to every entry (default 1). */
  scale?: number;
}

/** A curvature query of a preset: asked at the start or at the end of one of its runs. */
export interface PresetHessian {
  /** What the query shows, e.g. `run 0 at its end`. */
  label: string;
  /** Index of the run. */
  run: number;
  /** `init`: before the first step; `final`: where the run stopped. */
  at: 'init' | 'final';
  /** The query (see docs/curvature.md). */
  query: HessianQuery;
}

/** The sweep of a sweep preset. */
export interface PresetSweep {
  /** The sweep spec (see docs/sweeps.md). */
  spec: SweepSpec;
  /** The plots of its reduced table. */
  plots: SweepPlot[];
  /** Published tables shown beside ours as grids in the report. */
  tables?: SweepGridTable[];
}

/** One study of a studies preset. */
export interface PresetStudy {
  /** Its row label, e.g. `relu 3-2-2`. */
  label: string;
  /** The study spec (docs/studies.md). */
  spec: StudySpec;
}

/**
 * A column of a studies preset's table: a value of each study (the {@link StudyQuantity} without
 * its `study` index, which is the row's).
 */
export interface PresetStudyColumn {
  /** Column title (a studies preset's `plots` name it in `column`). */
  title: string;
  /** The value read from each study. */
  of: PresetStudyValue;
}

/** A value of each study of a studies preset: a {@link StudyQuantity} without its `study` index. */
export type PresetStudyValue =
  | {
      /** Dotted path of a field of the study's output. */
      field: string;
    }
  | {
      /** Column name. */
      column: string;
      /** How the rows are reduced to one number. */
      reduce: 'min' | 'max' | 'first' | 'last';
    };

/**
 * A preset as the core defines it: runs (each a run spec), a sweep (`sweep`, with no runs), or a
 * list of studies (`studies`: one table row each, whose columns are `studyTable`; without runs,
 * its plain `plots` draw a table column against the row, `column` naming the column's title),
 * possibly with runs too (the studies are computed first, then the runs; `studyLines` plots read
 * the studies, plain plots the runs).
 * In the core's JSON a sweep preset is `{"sweep": <sweep spec>, "plots": [<sweep plots>],
 * "reference": [..]}`; {@link normalizePreset} moves its plots into `sweep.plots`.
 */
export interface Preset {
  /** Its name, e.g. `figure1`. */
  name: string;
  /** One line on what it reproduces. */
  description: string;
  /** The runs, in order (none for a sweep preset). */
  runs: PresetRun[];
  /** The panels of its figure (none for a sweep preset: see `sweep.plots`). */
  plots: PresetPlot[];
  /** Curvature queries at the start or end of runs (may be empty). */
  hessian: PresetHessian[];
  /** What the paper reports, with the checks that compare it with ours. */
  reference: PresetReference[];
  /** A sweep preset's sweep and its plots. */
  sweep?: PresetSweep;
  /** A studies preset's studies, in order. */
  studies?: PresetStudy[];
  /** A studies preset's table columns. */
  studyTable?: PresetStudyColumn[];
  /**
   * Set by {@link applyOverrides} when the runs are cut below the preset's protocol (fewer steps,
   * fewer seeds per setting), e.g. `2000 of 10000 steps`: every claim it checks is then marked
   * `shortened` ("not checked (shortened)"), never `agrees` or `disagrees`; reports and the CLI
   * print it.
   */
  shortened?: string;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InternalError('', `the backend returned ${what} that is not JSON`, { cause: e });
  }
}

/** The presets the core defines. */
export async function presetList(options: { backend?: BackendChoice } = {}): Promise<PresetInfo[]> {
  const b = await resolveBackend(optionsArg('options', options)['backend'] as BackendChoice | undefined);
  const v = parseJson(guard(() => b.presetList()), 'a preset list');
  if (!Array.isArray(v)) throw new InternalError('', 'the preset list is not an array');
  return v as PresetInfo[];
}

/**
 * The definition of one preset.
 *
 * @throws {InvalidRequestError} (field `preset`) when there is no preset of that name.
 */
export async function presetSpec(name: string, options: { backend?: BackendChoice } = {}): Promise<Preset> {
  const n = stringArg('preset', name);
  const b = await resolveBackend(optionsArg('options', options)['backend'] as BackendChoice | undefined);
  const v = parseJson(guard(() => b.presetSpec(n)), 'a preset');
  return normalizePreset(v);
}

/** Check the shape of a preset definition (from the core, or hand-written) and fill defaults. */
export function normalizePreset(v: unknown): Preset {
  if (typeof v !== 'object' || v === null) throw new InternalError('', 'a preset must be an object');
  const o = v as Record<string, unknown>;
  const sw = o['sweep'];
  if (sw !== undefined) {
    if (typeof o['name'] !== 'string' || typeof sw !== 'object' || sw === null || Array.isArray(sw)) {
      throw new InternalError('', 'a sweep preset needs a name and a sweep spec');
    }
    return {
      name: o['name'],
      description: typeof o['description'] === 'string' ? o['description'] : '',
      runs: [],
      plots: [],
      hessian: [],
      reference: Array.isArray(o['reference']) ? (o['reference'] as PresetReference[]) : [],
      sweep: {
        spec: sw as SweepSpec,
        plots: Array.isArray(o['plots']) ? (o['plots'] as SweepPlot[]) : [],
        ...(Array.isArray(o['tables']) ? { tables: o['tables'] as SweepGridTable[] } : {}),
      },
    };
  }
  if (typeof o['name'] !== 'string' || !Array.isArray(o['runs']) || !Array.isArray(o['plots'])) {
    throw new InternalError('', 'a preset needs name, runs and plots');
  }
  return {
    name: o['name'],
    description: typeof o['description'] === 'string' ? o['description'] : '',
    runs: o['runs'] as PresetRun[],
    plots: o['plots'] as PresetPlot[],
    hessian: Array.isArray(o['hessian']) ? (o['hessian'] as PresetHessian[]) : [],
    reference: Array.isArray(o['reference']) ? (o['reference'] as PresetReference[]) : [],
    ...(Array.isArray(o['studies']) ? { studies: o['studies'] as PresetStudy[], studyTable: Array.isArray(o['studyTable']) ? (o['studyTable'] as PresetStudyColumn[]) : [] } : {}),
  };
}

/** Throw unless `p` has the shape of a {@link Preset} (as {@link presetSpec} gives). */
function checkPreset(p: unknown): asserts p is Preset {
  const o = p as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null || typeof o['name'] !== 'string' || !Array.isArray(o['runs']) || !Array.isArray(o['hessian'])) {
    throw new InvalidRequestError('preset', `expected a preset (from presetSpec or normalizePreset), got ${describeValue(p)}`);
  }
  const sw = o['sweep'] as { spec?: unknown } | undefined;
  if (sw !== undefined && (typeof sw !== 'object' || sw === null || typeof sw.spec !== 'object' || sw.spec === null)) {
    throw new InvalidRequestError('preset.sweep', `expected {spec, plots}, got ${describeValue(sw)}`);
  }
  for (const [i, r] of (o['runs'] as unknown[]).entries()) {
    if (typeof r !== 'object' || r === null || typeof (r as { spec?: unknown }).spec !== 'object') {
      throw new InvalidRequestError(`preset.runs[${i}]`, `expected {label, spec}, got ${describeValue(r)}`);
    }
  }
  const st = o['studies'];
  if (st !== undefined) {
    if (!Array.isArray(st)) throw new InvalidRequestError('preset.studies', `expected an array of {label, spec}, got ${describeValue(st)}`);
    for (const [i, r] of st.entries()) {
      if (typeof r !== 'object' || r === null || typeof (r as { label?: unknown }).label !== 'string' || typeof (r as { spec?: unknown }).spec !== 'object' || (r as { spec?: unknown }).spec === null) {
        throw new InvalidRequestError(`preset.studies[${i}]`, `expected {label, spec}, got ${describeValue(r)}`);
      }
    }
  }
}

/** Changes to the runs of a preset. */
export interface PresetOverrides {
  /**
   * Steps of every run (a sweep preset: of its base spec and of every axis over `steps`, e.g. a
   * zip of methods with their own step counts, so of every run of the sweep).
   */
  steps?: number;
  /**
   * Seeds: every seed in the preset's run specs (every object with a numeric `seed` field, at any
   * depth: target or data, init, SGD batches, curvature, or any field a model family adds) is
   * shifted by the same amount so that the smallest becomes this value; runs that shared a seed
   * still share one, and seeds left at their default are left alone. A sweep preset: the same
   * shift on the seeds of its base spec, and the sweep's `seeds.base` (from which every run's
   * seeds are derived) set to this value.
   */
  seed?: number;
  /** A sweep preset: random initializations (seeds) per setting, `seeds.count` (at least 1). */
  seedsPerSetting?: number;
}

/**
 * The objects in `spec` with a numeric `seed` field, at any depth, found by a depth-first walk:
 * an object before what it holds, fields in their order in the object (for a spec read from JSON,
 * the order of the text), array elements by index. No family is named here, so a new family's
 * seeds move with the others. The order fixes nothing in the result: {@link applyOverrides}
 * shifts every holder by one amount, which depends only on the set of seeds.
 */
function seedHolders(spec: unknown): { seed: number }[] {
  const out: { seed: number }[] = [];
  const walk = (x: unknown): void => {
    if (typeof x !== 'object' || x === null || ArrayBuffer.isView(x)) return;
    if (Array.isArray(x)) {
      for (const v of x) walk(v);
      return;
    }
    const o = x as Record<string, unknown>;
    if (typeof o['seed'] === 'number') out.push(o as { seed: number });
    for (const v of Object.values(o)) walk(v);
  };
  walk(spec);
  return out;
}

/** Shift every seed by the same amount so that the smallest becomes `seed` (their differences kept). */
function shiftSeeds(holders: { seed: number }[], seed: number): void {
  if (holders.length === 0) return;
  const shift = seed - Math.min(...holders.map((h) => h.seed));
  for (const h of holders) h.seed += shift;
}

/** The protocol's step counts of a preset: of each run, or of a sweep's base and its `steps` axes. */
function protocolSteps(preset: Preset): number[] {
  if (preset.sweep) {
    const spec = preset.sweep.spec;
    const out = [spec.base.steps];
    for (const a of spec.axes) {
      for (const m of 'zip' in a ? a.zip : [a]) {
        if (m.path !== 'steps') continue;
        if ('values' in m) out.push(...(m.values as number[]));
        else out.push(m.range.from, m.range.to);
      }
    }
    return out.filter((x): x is number => typeof x === 'number');
  }
  return preset.runs.map((r) => r.spec.steps).filter((x): x is number => typeof x === 'number');
}

/** What `overrides` cut below the preset's protocol, in words (empty when nothing). */
function shortenedBy(preset: Preset, overrides: PresetOverrides): string[] {
  const out: string[] = [];
  if (overrides.steps !== undefined) {
    const protocol = protocolSteps(preset);
    const most = Math.max(...protocol);
    if (protocol.some((s) => overrides.steps! < s)) {
      const least = Math.min(...protocol);
      out.push(`${overrides.steps} of ${least === most ? most : `${least}-${most}`} steps`);
    }
  }
  const count = preset.sweep?.spec.seeds?.count;
  if (overrides.seedsPerSetting !== undefined && count !== undefined && overrides.seedsPerSetting < count) {
    out.push(`${overrides.seedsPerSetting} of ${count} seeds per setting`);
  }
  return out;
}

/**
 * A copy of `preset` with the overrides applied. Fewer steps or seeds than the preset's protocol
 * set {@link Preset.shortened}: its claims are then not judged.
 */
export function applyOverrides(preset: Preset, overrides: PresetOverrides): Preset {
  checkPreset(preset);
  const o = optionsArg('overrides', overrides);
  for (const k of ['steps', 'seed', 'seedsPerSetting'] as const) {
    const v = o[k];
    if (v !== undefined && !(typeof v === 'number' && Number.isSafeInteger(v) && v >= (k === 'seedsPerSetting' ? 1 : 0))) {
      throw new InvalidRequestError(`overrides.${k}`, `expected a ${k === 'seedsPerSetting' ? 'positive' : 'non-negative'} integer, got ${describeValue(v)}`);
    }
  }
  if (overrides.seedsPerSetting !== undefined && preset.sweep === undefined) {
    throw new InvalidRequestError('overrides.seedsPerSetting', `preset ${preset.name} is not a sweep`);
  }
  if (overrides.steps !== undefined && preset.studies !== undefined && preset.runs.length === 0) {
    throw new InvalidRequestError('overrides.steps', `preset ${preset.name} is a list of studies: it has no steps`);
  }
  const copy = JSON.parse(JSON.stringify(preset)) as Preset;
  const cut = shortenedBy(preset, overrides);
  if (cut.length > 0) copy.shortened = [...(preset.shortened !== undefined ? [preset.shortened] : []), ...cut].join('; ');
  if (copy.studies) {
    // The same shift of every seed of every study spec (the studies' own and their runs') and of
    // the preset's runs, if any.
    if (overrides.seed !== undefined) shiftSeeds([...copy.studies.flatMap((s) => seedHolders(s.spec)), ...copy.runs.flatMap((r) => seedHolders(r.spec))], overrides.seed);
    if (overrides.steps !== undefined) for (const r of copy.runs) r.spec.steps = overrides.steps;
    return copy;
  }
  if (copy.sweep) {
    const spec = copy.sweep.spec;
    if (overrides.steps !== undefined) {
      const steps = overrides.steps;
      spec.base.steps = steps;
      for (const a of spec.axes) {
        for (const m of 'zip' in a ? a.zip : [a]) {
          if (m.path !== 'steps') continue;
          if ('values' in m) m.values = m.values.map(() => steps);
          else m.range = { ...m.range, from: steps, to: steps };
        }
      }
    }
    if (overrides.seed !== undefined) {
      shiftSeeds(seedHolders(spec.base), overrides.seed);
      spec.seeds = { ...spec.seeds, base: overrides.seed };
    }
    if (overrides.seedsPerSetting !== undefined) spec.seeds = { ...spec.seeds, count: overrides.seedsPerSetting };
    return copy;
  }
  if (overrides.steps !== undefined) {
    for (const r of copy.runs) r.spec.steps = overrides.steps;
  }
  if (overrides.seed !== undefined) shiftSeeds(copy.runs.flatMap((r) => seedHolders(r.spec)), overrides.seed);
  return copy;
}

/** The outcome of one run of a preset. */
export interface PresetRunResult {
  /** Legend label. */
  label: string;
  /** The spec that was run (overrides applied). */
  spec: RunSpec;
  /** What it computed. */
  result: RunResult;
}

/** The outcome of one curvature query of a preset. */
export interface PresetHessianResult {
  /** The query's label. */
  label: string;
  /** Index of the run. */
  run: number;
  /** Where it was asked. */
  at: 'init' | 'final';
  /** The step at which it was asked. */
  step: number;
  /** The report. */
  report: HessianReport;
}

/** Options of {@link runPreset}. */
export interface RunPresetOptions {
  /** Backend (default: automatic, see `resolveBackend`). */
  backend?: BackendChoice;
  /** Stops the current run after its current chunk, and skips the runs after it. */
  signal?: AbortSignal;
  /** Target length of a chunk of steps, in milliseconds. */
  chunkMillis?: number;
  /** Called after each chunk of each run. */
  onProgress?: (run: { index: number; count: number; label: string }, progress: Progress) => void;
  /** Called when a run ends. */
  onRunEnd?: (run: { index: number; count: number; label: string }, result: RunResult) => void;
}

/** What a sweep preset computed. */
export interface PresetSweepResult {
  /** The sweep spec run (overrides applied). */
  spec: SweepSpec;
  /** Its plan. */
  plan: SweepPlan;
  /** Its reduced table (`complete: false` when interrupted). */
  table: SweepTable;
}

/**
 * The sweep results of the outcomes of sweep presets, by their `runs` array (empty for a sweep
 * preset), so that the functions that see only the runs of an outcome (`runsToCsv`,
 * `presetVegaLite`, `presetSvg`) find the table.
 */
const sweepResults = new WeakMap<readonly unknown[], PresetSweepResult>();

/** The sweep result of a sweep preset's outcome, found by its `runs` array (see {@link PresetOutcome}). */
export function presetSweepOf(runs: readonly unknown[]): PresetSweepResult | undefined {
  return sweepResults.get(runs);
}

/** One study of a studies preset, computed. */
export interface PresetStudyResult {
  /** Its row label. */
  label: string;
  /** The study spec (overrides applied). */
  spec: StudySpec;
  /** What it computed (`finished: false` when interrupted). */
  result: StudyResult;
}

/** The studies of a studies preset's outcome, by its (empty) `runs` array, as {@link presetSweepOf}. */
const studyResults = new WeakMap<readonly unknown[], PresetStudyResult[]>();

/** The studies of a studies preset's outcome, found by its `runs` array (see {@link PresetOutcome}). */
export function presetStudiesOf(runs: readonly unknown[]): PresetStudyResult[] | undefined {
  return studyResults.get(runs);
}

/** What {@link runPreset} returns. */
export interface PresetOutcome {
  /** The backend that ran it. */
  backend: BackendName;
  /**
   * The runs made, in order (fewer than the preset's when interrupted). A sweep preset: none
   * (an empty array by which {@link presetSweepOf} finds `sweep`).
   */
  runs: PresetRunResult[];
  /** A sweep preset: the sweep's spec, plan and reduced table. */
  sweep?: PresetSweepResult;
  /** A studies preset: the studies computed, in order (fewer when interrupted). */
  studies?: PresetStudyResult[];
  /**
   * The curvature reports, in the order of the preset's `hessian` list; `undefined` where the
   * query was not reached (interrupted) or its run did not finish.
   */
  hessian: (PresetHessianResult | undefined)[];
}

/**
 * Run every run of a preset in order, with its curvature queries at the start and end of each
 * run. When `signal` aborts, the current run stops (its partial result is kept, with
 * `cancelled: true`), the remaining runs are skipped, and the end-of-run queries of the
 * interrupted run are not asked.
 *
 * A sweep preset runs its sweep with `sweep()` (every core natively; a worker pool on wasm) and
 * returns its reduced table in `sweep` (`runs` is empty); `onProgress` is called with
 * `{index: 0, count: 1, label}` (the label `sweep (runs, ETA <s> s)`) and `step`/`steps` = runs
 * done/total (`rows` the same, `loss` null); `onRunEnd` is not called. When `signal` aborts, the runs done so far are kept and
 * the table is partial (`complete: false`).
 *
 * A studies preset runs its studies in order with `study()` and returns them in `studies` (`runs`
 * is empty); `onProgress` is called per chunk with the study's units of work in `step`/`steps`,
 * `onRunEnd` is not called. When `signal` aborts, the current study stops after its chunk (kept,
 * `finished: false`) and the rest are skipped. A preset with studies and runs computes the studies
 * (as above, `index` counting studies) then the runs, and returns both.
 */
export async function runPreset(preset: Preset, options: RunPresetOptions = {}): Promise<PresetOutcome> {
  checkPreset(preset);
  const opts = optionsArg('options', options);
  chunkOptionsArg(options);
  functionArg('options.onProgress', opts['onProgress']);
  functionArg('options.onRunEnd', opts['onRunEnd']);
  if (preset.sweep) return runSweepPreset(preset.sweep, options);
  if (preset.studies && preset.runs.length === 0) return runStudiesPreset(preset.studies, options);
  if (preset.runs.length === 0) throw new InvalidRequestError('preset', `preset ${preset.name} has no runs`);
  const backend = await resolveBackend(options.backend);
  // A preset with studies and runs: the studies first, then the runs.
  const studies = preset.studies ? (await runStudiesPreset(preset.studies, options)).studies : undefined;
  const runs: PresetRunResult[] = [];
  const hessian: (PresetHessianResult | undefined)[] = preset.hessian.map(() => undefined);
  const count = preset.runs.length;
  for (let index = 0; index < count; index++) {
    if (options.signal?.aborted) break;
    const { label, spec } = preset.runs[index] as PresetRun;
    const info = { index, count, label };
    const run = await Run.create(spec, { backend });
    try {
      const ask = async (at: 'init' | 'final'): Promise<void> => {
        for (const [i, h] of preset.hessian.entries()) {
          if (h.run !== index || h.at !== at) continue;
          const report = await run.hessian(h.query);
          hessian[i] = { label: h.label, run: index, at, step: run.status.step, report };
        }
      };
      await ask('init');
      const chunkOptions: ChunkOptions = {};
      if (options.signal) chunkOptions.signal = options.signal;
      if (options.chunkMillis !== undefined) chunkOptions.chunkMillis = options.chunkMillis;
      for await (const chunk of run.chunks(chunkOptions)) {
        const st = chunk.status;
        options.onProgress?.(info, { step: st.step, steps: st.steps, loss: st.loss, rows: st.rows });
      }
      const result = run.result();
      if (result.finished) await ask('final');
      runs.push({ label, spec, result });
      options.onRunEnd?.(info, result);
    } finally {
      run.dispose();
    }
  }
  if (studies) {
    studyResults.set(runs, studies);
    return { backend: backend.name, runs, hessian, studies };
  }
  return { backend: backend.name, runs, hessian };
}

async function runSweepPreset(ps: PresetSweep, options: RunPresetOptions): Promise<PresetOutcome> {
  const backend = await resolveBackend(options.backend);
  const h = sweep(ps.spec, {
    backend,
    ...(options.signal ? { signal: options.signal } : {}),
    onProgress: (p) => {
      const eta = p.etaMs !== null && p.done < p.total ? `, ETA ${Math.ceil(p.etaMs / 1000)} s` : '';
      options.onProgress?.({ index: 0, count: 1, label: `sweep (runs${eta})` }, { step: p.done, steps: p.total, loss: null, rows: p.done });
    },
  });
  const plan = await h.plan;
  let table: SweepTable;
  try {
    table = await h.table;
  } catch (e) {
    if (!(e instanceof SweepCancelledError)) throw e;
    table = e.table;
  }
  const runs: PresetRunResult[] = [];
  const result: PresetSweepResult = { spec: ps.spec, plan, table };
  sweepResults.set(runs, result);
  return { backend: backend.name, runs, hessian: [], sweep: result };
}

async function runStudiesPreset(list: readonly PresetStudy[], options: RunPresetOptions): Promise<PresetOutcome> {
  const backend = await resolveBackend(options.backend);
  const studies: PresetStudyResult[] = [];
  for (const [index, { label, spec }] of list.entries()) {
    if (options.signal?.aborted) break;
    const info = { index, count: list.length, label };
    const result = await study(spec, {
      backend,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.chunkMillis !== undefined ? { chunkMillis: options.chunkMillis } : {}),
      onProgress: (p) => options.onProgress?.(info, { step: p.done, steps: p.total, loss: null, rows: p.rows }),
    });
    studies.push({ label, spec, result });
  }
  const runs: PresetRunResult[] = [];
  studyResults.set(runs, studies);
  return { backend: backend.name, runs, hessian: [], studies };
}

/** A {@link StudyQuantity} of study `i` from a table column's `of`. */
export function studyColumnQuantity(i: number, of: PresetStudyColumn['of']): StudyQuantity {
  return { study: i, ...of } as StudyQuantity;
}
