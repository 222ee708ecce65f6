/**
 * Presets: the paper reproductions defined in the core (runs as specs, what to plot, what the
 * paper reports), and running them.
 *
 * @module
 */

import { type BackendChoice, type BackendName, resolveBackend } from './backend.js';
import type { PresetReference } from './checks.js';
import type { HessianQuery, HessianReport } from './curvature.js';
import { InternalError, InvalidRequestError, guard } from './errors.js';
import { describeValue, functionArg, optionsArg, chunkOptionsArg, stringArg } from './args.js';
import { type ChunkOptions, type Progress, Run, type RunResult } from './run.js';
import type { RunSpec } from './spec.js';

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

/** One panel of a preset's figure: a recorded column against the step. */
export interface PresetPlot {
  /** Panel title, e.g. `(a) loss`. */
  title: string;
  /** Name of the column plotted on the y axis. */
  column: string;
  /** Logarithmic y axis. */
  logY?: boolean;
  /** Name of the column on the x axis (default `step`). */
  x?: string;
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

/** A preset as the core defines it. */
export interface Preset {
  /** Its name, e.g. `figure1`. */
  name: string;
  /** One line on what it reproduces. */
  description: string;
  /** The runs, in order. */
  runs: PresetRun[];
  /** The panels of its figure. */
  plots: PresetPlot[];
  /** Curvature queries at the start or end of runs (may be empty). */
  hessian: PresetHessian[];
  /** What the paper reports, with the checks that compare it with ours. */
  reference: PresetReference[];
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
  };
}

/** Throw unless `p` has the shape of a {@link Preset} (as {@link presetSpec} gives). */
function checkPreset(p: unknown): asserts p is Preset {
  const o = p as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null || typeof o['name'] !== 'string' || !Array.isArray(o['runs']) || !Array.isArray(o['hessian'])) {
    throw new InvalidRequestError('preset', `expected a preset (from presetSpec or normalizePreset), got ${describeValue(p)}`);
  }
  for (const [i, r] of (o['runs'] as unknown[]).entries()) {
    if (typeof r !== 'object' || r === null || typeof (r as { spec?: unknown }).spec !== 'object') {
      throw new InvalidRequestError(`preset.runs[${i}]`, `expected {label, spec}, got ${describeValue(r)}`);
    }
  }
}

/** Changes to the runs of a preset. */
export interface PresetOverrides {
  /** Steps of every run. */
  steps?: number;
  /**
   * Seeds: every seed in the preset's run specs (every object with a numeric `seed` field, at any
   * depth: target or data, init, SGD batches, curvature, or any field a model family adds) is
   * shifted by the same amount so that the smallest becomes this value; runs that shared a seed
   * still share one, and seeds left at their default are left alone.
   */
  seed?: number;
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

/** A copy of `preset` with the overrides applied. */
export function applyOverrides(preset: Preset, overrides: PresetOverrides): Preset {
  checkPreset(preset);
  const o = optionsArg('overrides', overrides);
  for (const k of ['steps', 'seed'] as const) {
    const v = o[k];
    if (v !== undefined && !(typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) {
      throw new InvalidRequestError(`overrides.${k}`, `expected a non-negative integer, got ${describeValue(v)}`);
    }
  }
  const copy = JSON.parse(JSON.stringify(preset)) as Preset;
  if (overrides.steps !== undefined) {
    for (const r of copy.runs) r.spec.steps = overrides.steps;
  }
  if (overrides.seed !== undefined) {
    const holders = copy.runs.flatMap((r) => seedHolders(r.spec));
    if (holders.length > 0) {
      const min = Math.min(...holders.map((h) => h.seed));
      const shift = overrides.seed - min;
      for (const h of holders) h.seed += shift;
    }
  }
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

/** What {@link runPreset} returns. */
export interface PresetOutcome {
  /** The backend that ran it. */
  backend: BackendName;
  /** The runs made, in order (fewer than the preset's when interrupted). */
  runs: PresetRunResult[];
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
 */
export async function runPreset(preset: Preset, options: RunPresetOptions = {}): Promise<PresetOutcome> {
  checkPreset(preset);
  const opts = optionsArg('options', options);
  chunkOptionsArg(options);
  functionArg('options.onProgress', opts['onProgress']);
  functionArg('options.onRunEnd', opts['onRunEnd']);
  if (preset.runs.length === 0) throw new InvalidRequestError('preset', `preset ${preset.name} has no runs`);
  const backend = await resolveBackend(options.backend);
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
  return { backend: backend.name, runs, hessian };
}
