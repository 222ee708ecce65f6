/**
 * Presets: the paper reproductions defined in the core (runs as specs, what to plot, what the
 * paper reports), and running them.
 *
 * @module
 */

import { type BackendChoice, type BackendName, resolveBackend } from './backend.js';
import { InternalError, InvalidRequestError, guard } from './errors.js';
import { type Progress, type RunResult, train } from './run.js';
import type { RunSpec } from './spec.js';

/** A preset in the list. */
export interface PresetInfo {
  name: string;
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

/** What the paper reports, next to which the results are shown (free-form text fields). */
export interface PresetReference {
  /** The claim of the paper. */
  claim?: string;
  /** Where and how the paper shows it. */
  paper?: string;
  /** How the reproduction checks it. */
  check?: string;
  [key: string]: unknown;
}

/** A preset as the core defines it. */
export interface Preset {
  name: string;
  description: string;
  runs: PresetRun[];
  plots: PresetPlot[];
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
  const b = await resolveBackend(options.backend);
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
  const b = await resolveBackend(options.backend);
  const v = parseJson(guard(() => b.presetSpec(name)), 'a preset');
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
    reference: Array.isArray(o['reference']) ? (o['reference'] as PresetReference[]) : [],
  };
}

/** Changes to the runs of a preset. */
export interface PresetOverrides {
  /** Steps of every run. */
  steps?: number;
  /**
   * Seeds: every seed in the preset (target or data, init, SGD batches) is shifted by the same amount so that the
   * smallest becomes this value; runs that shared a seed still share one.
   */
  seed?: number;
}

function seedHolders(spec: RunSpec): { seed: number }[] {
  const out: { seed: number }[] = [];
  const parts = 'target' in spec ? [spec.target, spec.init] : [spec.data, spec.init, spec.method];
  for (const part of parts as unknown[]) {
    if (typeof part === 'object' && part !== null && typeof (part as { seed?: unknown }).seed === 'number') {
      out.push(part as { seed: number });
    }
  }
  return out;
}

/** A copy of `preset` with the overrides applied. */
export function applyOverrides(preset: Preset, overrides: PresetOverrides): Preset {
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
  label: string;
  spec: RunSpec;
  result: RunResult;
}

/** Options of {@link runPreset}. */
export interface RunPresetOptions {
  backend?: BackendChoice;
  /** Stops the current run after its current chunk, and skips the runs after it. */
  signal?: AbortSignal;
  chunkMillis?: number;
  /** Called after each chunk of each run. */
  onProgress?: (run: { index: number; count: number; label: string }, progress: Progress) => void;
  /** Called when a run ends. */
  onRunEnd?: (run: { index: number; count: number; label: string }, result: RunResult) => void;
}

/**
 * Run every run of a preset in order. When `signal` aborts, the current run stops (its partial
 * result is kept, with `cancelled: true`) and the remaining runs are skipped.
 */
export async function runPreset(preset: Preset, options: RunPresetOptions = {}): Promise<{ backend: BackendName; runs: PresetRunResult[] }> {
  if (preset.runs.length === 0) throw new InvalidRequestError('preset', `preset ${preset.name} has no runs`);
  const backend = await resolveBackend(options.backend);
  const runs: PresetRunResult[] = [];
  const count = preset.runs.length;
  for (let index = 0; index < count; index++) {
    if (options.signal?.aborted) break;
    const { label, spec } = preset.runs[index] as PresetRun;
    const info = { index, count, label };
    const trainOptions: Parameters<typeof train>[1] = { backend };
    if (options.signal) trainOptions.signal = options.signal;
    if (options.chunkMillis !== undefined) trainOptions.chunkMillis = options.chunkMillis;
    if (options.onProgress) {
      const cb = options.onProgress;
      trainOptions.onProgress = (p) => cb(info, p);
    }
    const result = await train(spec, trainOptions);
    runs.push({ label, spec, result });
    options.onRunEnd?.(info, result);
  }
  return { backend: backend.name, runs };
}
