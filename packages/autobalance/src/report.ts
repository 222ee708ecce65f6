/**
 * Reports of runs: summaries, the JSON result format, CSV tables and figures. Platform-neutral.
 *
 * @module
 */

import { type CheckStudy, type CheckedReference, checkReferences, quantityValue, referenceMark, studyValue } from './checks.js';
import { type ColumnRole, columnRole, columnsWithRole, stepColumn } from './columns.js';
import { type HessianReport, describeReport } from './curvature.js';
import { type Provenance, esc, htmlPage, provenanceHtml, referenceTable, shortenedBanner } from './html.js';
import type { Matrix } from './matrix.js';
import {
  type LayersPlot,
  type Preset,
  type PresetHessianResult,
  type PresetOutcome,
  type PresetRunResult,
  type PresetStudyResult,
  type PresetSweepResult,
  type StudyLinesPlot,
  presetStudiesOf,
  presetSweepOf,
  studyColumnQuantity,
} from './presets.js';
import { type StudyResultJson, studyResultToJson } from './study.js';
import { type SweepPlot, sweepReportHtml, sweepTableCsv, sweepVegaLite } from './sweep-report.js';

export * from './sweep-report.js';
import type { RunResult, StopReason } from './run.js';
import type { Figure, Panel } from './svg.js';
import { type VegaLiteSpec, figureToVegaLite, renderVegaLiteSvg } from './vega.js';

/** A few numbers that sum up a run. */
export interface RunSummary {
  /** Loss at the final state (null if unknown). */
  finalLoss: number | null;
  /**
   * The columns of role `ratio` at the last recorded row, in column order: ratios of squared
   * norms of consecutive layers, ||U||_F^2/||V||_F^2 for matrix factorization,
   * ||W_h||^2/||W_{h+1}||^2 per layer pair for networks.
   */
  finalNormRatios: number[];
  /**
   * The largest |value| of the columns of role `drift` over the recorded rows: how far the
   * quantities conserved by gradient flow moved. Matrix factorization: ||D_t - D_0||_F with
   * D = U^T U - V^T V; networks: the drifts of ||W_h||^2 - ||W_{h+1}||^2 per layer pair (and the
   * per-neuron and matrix drifts where recorded). NaN if there are no rows or no drift columns.
   */
  maxInvariantDrift: number;
  /** Steps taken. */
  step: number;
  /** Steps asked for. */
  steps: number;
  /** `finished`, `diverged at <t>`, `solver failed at <t>` (the step that could not be taken), `cancelled` or `stopped`. */
  outcome: string;
}

function last(a: Float64Array | undefined): number {
  return a && a.length > 0 ? (a[a.length - 1] as number) : NaN;
}

function maxAbs(a: Float64Array | undefined): number {
  if (!a || a.length === 0) return NaN;
  let m = -Infinity;
  for (const x of a) if (Math.abs(x) > m || Number.isNaN(x)) m = Math.abs(x);
  return m;
}

/** Sum up a run (see {@link RunSummary}); the columns are picked by role. */
export function summarize(r: RunResult): RunSummary {
  const drifts = columnsWithRole(r, 'drift');
  return {
    finalLoss: r.loss,
    finalNormRatios: columnsWithRole(r, 'ratio').map((n) => last(r.columns[n])),
    maxInvariantDrift: drifts.length > 0 ? Math.max(...drifts.map((n) => maxAbs(r.columns[n]))) : NaN,
    step: r.step,
    steps: r.steps,
    outcome:
      r.divergedAt !== null
        ? `diverged at ${r.divergedAt}`
        : r.stop === 'solverFailed'
          ? `solver failed at ${r.stoppedAt}`
          : r.cancelled
            ? 'cancelled'
            : r.finished
              ? 'finished'
              : 'stopped',
  };
}

/** A matrix in the JSON format: `{rows, cols, data}` with `data` a row-major array. */
export interface MatrixJson {
  /** Number of rows. */
  rows: number;
  /** Number of columns. */
  cols: number;
  /** The entries, row-major. */
  data: number[];
}

/** A matrix as JSON-ready data. */
export function matrixToJson(m: Matrix): MatrixJson {
  return { rows: m.rows, cols: m.cols, data: Array.from(m.data) };
}

/** The JSON result format of `autobalance train` (non-finite numbers become `null` in JSON). */
export interface RunResultJson {
  /** The backend that ran it. */
  backend: string;
  /** Steps taken. */
  step: number;
  /** Steps asked for. */
  steps: number;
  /** Recorded rows. */
  rows: number;
  /** True when every step was taken. */
  finished: boolean;
  /** True when it was interrupted. */
  cancelled: boolean;
  /** The step at which the state stopped being finite, or null. */
  divergedAt: number | null;
  /** Why the run stopped by itself (`finished`, `diverged`, `solverFailed`), or null. */
  stop: StopReason | null;
  /** The step whose iterate was non-finite or could not be computed, or null. */
  stoppedAt: number | null;
  /** Why the run stopped early, in words, or null. */
  reason: string | null;
  /** Loss at the final state. */
  loss: number | null;
  /** Names of the recorded columns, in order. */
  columnNames: string[];
  /** The role of each column, by name (`step`, `loss`, `norm`, `ratio`, `drift`, ...; see {@link ColumnRole}). */
  columnRoles: Record<string, ColumnRole>;
  /** The recorded columns by name. */
  columns: Record<string, number[]>;
  /** Final parameters by block name (`U`, `V`; `W1`, `b1`, `v2`, ...). */
  params: Record<string, MatrixJson>;
  /** Matrix factorization: the final U (also in `params`). */
  U?: MatrixJson;
  /** Matrix factorization: the final V (also in `params`). */
  V?: MatrixJson;
}

/** A run result as JSON-ready data (the format of `autobalance train --out`). */
export function resultToJson(r: RunResult): RunResultJson {
  const columns: Record<string, number[]> = {};
  for (const name of r.columnNames) columns[name] = Array.from(r.columns[name] ?? []);
  return {
    backend: r.backend,
    step: r.step,
    steps: r.steps,
    rows: r.rows,
    finished: r.finished,
    cancelled: r.cancelled,
    divergedAt: r.divergedAt,
    stop: r.stop,
    stoppedAt: r.stoppedAt,
    reason: r.reason,
    loss: r.loss,
    columnNames: r.columnNames.slice(),
    columnRoles: Object.fromEntries(r.columnNames.map((n) => [n, columnRole(r, n)])),
    columns,
    params: Object.fromEntries(Object.entries(r.params).map(([k, m]) => [k, matrixToJson(m)])),
    ...('U' in r ? { U: matrixToJson(r.U), V: matrixToJson(r.V) } : {}),
  };
}

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * A CSV table of the recorded rows of several runs: a `run` column (the label), then every
 * column, one line per recorded row per run. Numbers are written in full precision. For the
 * (empty) `runs` of a sweep preset's outcome: the sweep's reduced table (`sweepTableCsv`).
 */
export function runsToCsv(runs: readonly { label: string; result: RunResult }[], preset?: Preset): string {
  const sw = presetSweepOf(runs);
  if (sw) return sweepTableCsv(sw.table);
  const st = presetStudiesOf(runs);
  const studyCsv = (): string => {
    const t = presetStudyTable(preset as Preset, st ?? [], undefined, true);
    return [t.header, ...t.rows].map((r) => r.map(csvField).join(',')).join('\n') + '\n';
  };
  if (st && preset && runs.length === 0) return studyCsv();
  const names: string[] = [];
  for (const r of runs) for (const n of r.result.columnNames) if (!names.includes(n)) names.push(n);
  const lines = [['run', ...names].map(csvField).join(',')];
  for (const { label, result } of runs) {
    const l = csvField(label);
    for (let i = 0; i < result.rows; i++) {
      const cells = [l];
      for (const n of names) {
        const col = result.columns[n];
        cells.push(col && i < col.length ? String(col[i]) : '');
      }
      lines.push(cells.join(','));
    }
  }
  // A preset with studies and runs: the runs' rows, a blank line, then the studies' table.
  if (st && preset && preset.studies) return lines.join('\n') + '\n\n' + studyCsv();
  return lines.join('\n') + '\n';
}

/** What the checks read of a studies preset's studies. */
function checkStudies(st: readonly PresetStudyResult[]): CheckStudy[] {
  return st.map((s) => ({ output: s.result.output, columns: s.result.columns, finished: s.result.finished }));
}

/** A cell of a studies preset's table: the value, or null when it is missing. */
function studyCell(studies: readonly CheckStudy[], i: number, of: Parameters<typeof studyColumnQuantity>[1]): number | string | null {
  try {
    return studyValue(studyColumnQuantity(i, of), studies);
  } catch {
    return null;
  }
}

/** The rows of the checks that read study `i` (their `study` quantities). */
function readsStudy(ref: CheckedReference, i: number): boolean {
  return (ref.checks ?? []).some((c) => ['of' in c ? c.of : undefined, 'to' in c ? c.to : undefined, 'bound' in c ? c.bound : undefined].some((q) => typeof q === 'object' && q !== null && 'study' in q && q.study === i));
}

/** A studies preset's table. */
export interface PresetStudyTable {
  /** Column titles: `study`, the preset's `studyTable` titles, `finished`, `mark`. */
  header: string[];
  /** One row per study of the preset. */
  rows: string[][];
}

/** One study of a studies preset in {@link PresetReportJson}. */
export interface PresetStudyReportJson {
  /** Its row label. */
  label: string;
  /** The study spec run. */
  spec: unknown;
  /** What it computed. */
  result: StudyResultJson;
}

/**
 * The table of a studies preset: a row per study (its label, the `studyTable` columns, whether it
 * finished, and the marks of the reference rows that read it).
 */
export function presetStudyTable(
  preset: Preset,
  studies: readonly PresetStudyResult[],
  checked?: readonly CheckedReference[],
  /** Numbers in full precision (the CSV), not as shown (4 significant digits). */
  full = false,
): PresetStudyTable {
  const cols = preset.studyTable ?? [];
  const inputs = checkStudies(studies);
  const marks = checked ?? checkReferences(preset.reference, { runs: [], studies: inputs });
  const header = ['study', ...cols.map((c) => c.title), 'finished', 'mark'];
  const rows = (preset.studies ?? []).map((s, i) => {
    const done = studies[i];
    const cells = cols.map((c) => {
      const v = done ? studyCell(inputs, i, c.of) : null;
      return v === null ? '-' : typeof v === 'number' ? (full || Number.isInteger(v) ? String(v) : formatNumber(v)) : v;
    });
    const mark = marks.filter((r) => readsStudy(r, i)).map(referenceMark).join('; ');
    return [s.label, ...cells, done ? (done.result.finished ? 'yes' : 'no (interrupted)') : 'not run', mark];
  });
  return { header, rows };
}

/**
 * The figure of a preset: one panel per plot. A plain plot draws a column of every run (one line
 * per run) against the plot's `x` column, by default each run's column of role `step` (labelled
 * `iteration`); in a preset of studies alone, a column of its table against the row.
 * `studyLines` plots draw study columns against each other, `layers` plots a run's final
 * parameters as matrices over time (see {@link PresetPlot}).
 */
export function presetFigure(
  preset: Preset,
  runs: readonly PresetRunResult[],
  /** The preset's studies (default: those {@link runPreset} computed with these runs). */
  studies?: readonly PresetStudyResult[],
): Figure {
  const st = studies ?? presetStudiesOf(runs);
  return {
    title: preset.name,
    panels: preset.plots.map((p): Panel => {
      if (p.kind === 'studyLines') return studyLinesPanel(p, st ?? []);
      if (p.kind === 'layers') return layersPanel(p, runs);
      if (preset.studies && st && preset.runs.length === 0) {
        const c = (preset.studyTable ?? []).find((c) => c.title === p.column);
        const inputs = checkStudies(st);
        const y = st.map((_, i) => {
          const v = c ? studyCell(inputs, i, c.of) : null;
          return typeof v === 'number' ? v : NaN;
        });
        return {
          title: p.title,
          xLabel: 'row of the table',
          yLabel: p.column + (p.logY ? ' (log scale)' : ''),
          logY: p.logY === true,
          series: [{ label: p.column, x: Float64Array.from(st, (_, i) => i + 1), y: Float64Array.from(y) }],
        };
      }
      const first = runs[0]?.result;
      const xIsStep = p.x === undefined || (first !== undefined && columnRole(first, p.x) === 'step');
      const series = runs.map((r): { label: string; x: Float64Array; y: Float64Array; theory?: boolean; theoryOf?: string } => {
        const xName = p.x ?? stepColumn(r.result);
        return {
          label: r.label,
          x: (xName !== undefined ? r.result.columns[xName] : undefined) ?? new Float64Array(0),
          y: r.result.columns[p.column] ?? new Float64Array(0),
        };
      });
      // Theory lines: a recorded column, or a geometric envelope y_0 rate^k, in the run's color.
      for (const t of p.theory ?? []) {
        const r = runs[t.run];
        const stepName = r ? stepColumn(r.result) : undefined;
        const steps = r && stepName !== undefined ? r.result.columns[stepName] : undefined;
        if (!r || !steps) continue;
        const of = r.label;
        if ('column' in t) {
          series.push({ label: t.label, x: steps, y: r.result.columns[t.column] ?? new Float64Array(0), theory: true, theoryOf: of });
          continue;
        }
        const rate = quantityValue(t.rate, { runs: runs.map((x) => x.result), specs: preset.runs.map((x) => x.spec), ...(st ? { studies: checkStudies(st) } : {}) });
        const y0 = r.result.columns[p.column]?.[0];
        if (rate === undefined || y0 === undefined) continue;
        const s0 = steps[0] ?? 0;
        series.push({ label: t.label, x: steps, y: Float64Array.from(steps, (k) => y0 * rate ** (k - s0)), theory: true, theoryOf: of });
      }
      // A conserved quantity on a linear axis: an honest range around its initial values.
      const domain = !p.logY && first !== undefined && p.column in first.columns && columnRole(first, p.column) === 'invariant' ? invariantDomain(series.filter((x) => x.theory !== true)) : undefined;
      return {
        title: p.title,
        xLabel: xIsStep ? 'iteration' : (p.x as string),
        yLabel: p.column + (p.logY ? ' (log scale)' : domain ? ' (around its initial value)' : ''),
        logY: p.logY === true,
        ...(domain ? { yDomain: domain } : {}),
        series,
      };
    }),
  };
}

/** The text of a split value: its name from `labels`, else the number (`?` before any value). */
function splitText(p: StudyLinesPlot, col: string, v: number): string {
  if (Number.isNaN(v)) return `${col} ?`;
  const named = p.labels?.[col]?.[String(v)];
  return named ?? `${col} ${formatNumber(v)}`;
}

/** A {@link StudyLinesPlot}'s panel: one line per study, or per piece with `split`. */
function studyLinesPanel(p: StudyLinesPlot, studies: readonly PresetStudyResult[]): Panel {
  const series: Panel['series'] = [];
  const which = p.studies ?? studies.map((_, i) => i);
  for (const i of which) {
    const s = studies[i];
    if (!s) continue;
    const x = s.result.columns[p.x] ?? new Float64Array(0);
    const y = s.result.columns[p.y] ?? new Float64Array(0);
    const n = Math.min(x.length, y.length);
    const splits = (p.split ?? []).map((c) => s.result.columns[c] ?? new Float64Array(n).fill(NaN));
    if (splits.length === 0) {
      series.push({ label: s.label, x, y });
      continue;
    }
    // Forward-filled split values, then pieces of equal values sharing their boundary rows.
    const key = (r: number, last: number[]): number[] => splits.map((c, k) => (Number.isNaN(c[r] as number) ? (last[k] as number) : (c[r] as number)));
    let last = splits.map(() => NaN);
    let start = 0;
    let cur = n > 0 ? key(0, last) : [];
    last = cur;
    const flush = (end: number): void => {
      const label = `${s.label}: ${cur.map((v, k) => splitText(p, p.split![k] as string, v)).join(', ')}`;
      series.push({ label, x: x.slice(start, end + 1), y: y.slice(start, end + 1) });
    };
    for (let r = 1; r < n; r++) {
      const k = key(r, last);
      last = k;
      if (k.some((v, j) => !Object.is(v, cur[j]))) {
        flush(r); // the piece ends on the row where the value changes: the lines meet there
        start = r;
        cur = k;
      }
    }
    if (n > 0) flush(n - 1);
  }
  for (const t of p.theory ?? []) series.push({ label: t.label, x: Float64Array.from(t.x), y: Float64Array.from(t.y) });
  return {
    title: p.title,
    xLabel: (p.xTitle ?? p.x) + (p.logX ? ' (log scale)' : ''),
    yLabel: (p.yTitle ?? p.y) + (p.logY ? ' (log scale)' : ''),
    logY: p.logY === true,
    logX: p.logX === true,
    inOrder: true,
    series,
  };
}

/** A {@link LayersPlot}'s panel: the entries of the run's final layer matrices over time. */
function layersPanel(p: LayersPlot, runs: readonly PresetRunResult[]): Panel {
  const r = runs[p.run]?.result;
  const m = r?.params[p.param];
  const values = m ? m.data : new Float64Array(0);
  const nn = p.n * p.n;
  const k = nn > 0 ? Math.floor(values.length / nn) : 0;
  const scale = p.scale ?? 1;
  const t = Float64Array.from({ length: k }, (_, i) => ((i + 0.5) * p.T) / k);
  const series: Panel['series'] = [];
  for (let i = 0; i < p.n; i++) {
    for (let j = 0; j < p.n; j++) {
      series.push({ label: `A_${i + 1}${j + 1}`, x: t, y: Float64Array.from({ length: k }, (_, l) => scale * (values[l * nn + i * p.n + j] as number)) });
    }
  }
  return { title: p.title, xLabel: 't', yLabel: 'entry of A_t', series };
}

/**
 * The figure of a preset as a Vega-Lite spec (`autobalance run` writes it as DIR/<preset>.vl.json).
 * A sweep preset (with the `runs` of its outcome): the plots of its reduced table (`sweepVegaLite`).
 */
export function presetVegaLite(preset: Preset, runs: readonly PresetRunResult[], studies?: readonly PresetStudyResult[]): VegaLiteSpec {
  const sw = preset.sweep ? presetSweepOf(runs) : undefined;
  if (preset.sweep && sw) return sweepVegaLite({ plan: sw.plan, table: sw.table, plots: preset.sweep.plots, title: preset.name });
  return figureToVegaLite(presetFigure(preset, runs, studies));
}

/** Render the figure of a preset as SVG (its Vega-Lite spec rendered by vega). */
export async function presetSvg(preset: Preset, runs: readonly PresetRunResult[]): Promise<string> {
  return renderVegaLiteSvg(presetVegaLite(preset, runs));
}

/** Where and how a preset or a run was computed. */
export interface ReportMeta {
  /** The backend that ran it. */
  backend: string;
  /** The core's version. */
  coreVersion: string;
  /** True when it was interrupted: partial results. */
  cancelled: boolean;
  /**
   * What produced it (command line, date, versions, machine, files beside it): shown in the HTML
   * report's "How this was produced" and kept in the JSON report. `backend` and `coreVersion`
   * default to the fields above.
   */
  provenance?: Provenance;
}

/** The provenance of `meta`, with its backend and core version filled in. */
function provenanceOf(meta: ReportMeta, shortened?: string): Provenance {
  return { backend: meta.backend, coreVersion: meta.coreVersion, ...meta.provenance, ...(shortened !== undefined ? { shortened } : {}) };
}

/** A sweep preset's part of {@link PresetReportJson}. */
export interface PresetSweepReportJson extends PresetSweepResult {
  /** The plots of its table. */
  plots: SweepPlot[];
}

/** The JSON report of a preset run (`autobalance run --out DIR` writes it as DIR/<preset>.json). */
export interface PresetReportJson {
  /** The preset's name. */
  preset: string;
  /** Its one-line description. */
  description: string;
  /** The backend that ran it. */
  backend: string;
  /** The core's version. */
  coreVersion: string;
  /** True when it was interrupted: partial results. */
  cancelled: boolean;
  /** The runs made. */
  runs: {
    /** Legend label. */
    label: string;
    /** The spec that was run. */
    spec: unknown;
    /** A few numbers that sum it up. */
    summary: RunSummary;
    /** Everything it recorded (its `params` empty when `paramsOmitted` says so). */
    result: RunResultJson;
    /**
     * Set when the run's final parameters were left out of the report because they hold more
     * than {@link PRESET_PARAMS_LIMIT} numbers (e.g. `figure21`'s widest net: 10^7): how many
     * numbers, and how to get them.
     */
    paramsOmitted?: {
      /** How many numbers the final parameters hold. */
      numbers: number;
      /** Why they were left out, and how to get them. */
      why: string;
    };
  }[];
  /** The curvature reports, in the order of the preset's `hessian` list (null: not computed). */
  hessian: (PresetHessianResult | null)[];
  /** The panels of the figure. */
  plots: Preset['plots'];
  /** A sweep preset: the sweep's spec, plan and reduced table, and its plots. */
  sweep?: PresetSweepReportJson;
  /** A studies preset: its table (as in the HTML report) and every study computed. */
  studies?: PresetStudyTable & {
    /** The studies computed, in order (fewer when interrupted). */
    results: PresetStudyReportJson[];
  };
  /** The paper's claims, each with our checks and its mark. */
  reference: CheckedReference[];
  /** Set when the runs were cut below the preset's protocol (e.g. `2000 of 10000 steps`): no claim is judged. */
  shortened?: string;
  /** What produced it. */
  provenance: Provenance;
}

/** The sweep result of an outcome: its `sweep`, else the one its `runs` array is known by. */
function sweepOfOutcome(outcome: Pick<PresetOutcome, 'runs' | 'hessian' | 'sweep' | 'studies'>): PresetSweepResult | undefined {
  return outcome.sweep ?? presetSweepOf(outcome.runs);
}

/** The paper's claims of a preset with their checks evaluated on an outcome (a sweep preset: on its reduced table). */
export function presetChecks(preset: Preset, outcome: Pick<PresetOutcome, 'runs' | 'hessian' | 'sweep' | 'studies'>): CheckedReference[] {
  const sw = sweepOfOutcome(outcome);
  const st = outcome.studies ?? presetStudiesOf(outcome.runs);
  return checkReferences(preset.reference, {
    runs: preset.runs.map((_, i) => outcome.runs[i]?.result),
    specs: preset.runs.map((r) => r.spec),
    hessian: preset.hessian.map((_, i) => outcome.hessian[i]?.report),
    ...(sw ? { sweep: { table: sw.table, confidence: sw.plan.confidence } } : {}),
    ...(preset.studies ? { studies: checkStudies(st ?? []) } : {}),
    ...(preset.shortened !== undefined ? { shortened: preset.shortened } : {}),
  });
}

/**
 * The most final-parameter numbers a run keeps in a preset's JSON report: above it (`figure21`'s
 * widest net has 10^7, ~200 MB as JSON text) the parameters are left out and the run says so in
 * `paramsOmitted`; `autobalance train --spec` on the run's spec writes them.
 */
export const PRESET_PARAMS_LIMIT = 1_000_000;

/** One run of a preset's JSON report (the parameters left out above {@link PRESET_PARAMS_LIMIT} numbers). */
export function presetRunJson(r: PresetRunResult, limit = PRESET_PARAMS_LIMIT): PresetReportJson['runs'][number] {
  const result = resultToJsonLimited(r.result, limit);
  const entry: PresetReportJson['runs'][number] = { label: r.label, spec: r.spec, summary: summarize(r.result), result: result.json };
  if (result.omitted > 0) {
    entry.paramsOmitted = {
      numbers: result.omitted,
      why: `more than ${limit} numbers: \`autobalance train --spec\` on this run's spec writes them`,
    };
  }
  return entry;
}

function resultToJsonLimited(r: RunResult, limit: number): { json: RunResultJson; omitted: number } {
  const numbers = Object.values(r.params).reduce((a, m) => a + m.data.length, 0);
  if (numbers <= limit) return { json: resultToJson(r), omitted: 0 };
  const { params: _p, ...rest } = r;
  const json = resultToJson({ ...rest, params: {} } as RunResult);
  delete json.U;
  delete json.V;
  return { json, omitted: numbers };
}

/** Build the JSON report of a preset run. */
export function presetReport(preset: Preset, outcome: Pick<PresetOutcome, 'runs' | 'hessian' | 'sweep' | 'studies'>, meta: ReportMeta): PresetReportJson {
  const sw = sweepOfOutcome(outcome);
  return {
    preset: preset.name,
    description: preset.description,
    backend: meta.backend,
    coreVersion: meta.coreVersion,
    cancelled: meta.cancelled,
    runs: outcome.runs.map((r) => presetRunJson(r)),
    hessian: preset.hessian.map((_, i) => outcome.hessian[i] ?? null),
    plots: preset.plots,
    ...(sw && preset.sweep ? { sweep: { ...sw, plots: preset.sweep.plots } } : {}),
    ...(preset.studies ? { studies: studiesJson(preset, outcome) } : {}),
    reference: presetChecks(preset, outcome),
    ...(preset.shortened !== undefined ? { shortened: preset.shortened } : {}),
    provenance: provenanceOf(meta, preset.shortened),
  };
}

function studiesJson(preset: Preset, outcome: Pick<PresetOutcome, 'runs' | 'hessian' | 'sweep' | 'studies'>): NonNullable<PresetReportJson['studies']> {
  const st = outcome.studies ?? presetStudiesOf(outcome.runs) ?? [];
  return {
    ...presetStudyTable(preset, st, presetChecks(preset, outcome)),
    results: st.map((s) => ({ label: s.label, spec: s.spec, result: studyResultToJson(s.result) })),
  };
}

/** Format a number for a table: 4 significant digits, exponent form when small or large. */
export function formatNumber(x: number | null): string {
  if (x === null) return '-';
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  // Integers (counts, steps, dimensions) as integers.
  if (Number.isInteger(x) && Math.abs(x) < 1e6) return String(x);
  const a = Math.abs(x);
  return a < 1e-3 || a >= 1e5 ? x.toExponential(3) : x.toPrecision(4);
}

/** A plain-text table (columns padded, first column left-aligned, the others right-aligned). */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, j) => Math.max(h.length, ...rows.map((r) => (r[j] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, j) => (j === 0 ? c.padEnd(widths[j] ?? 0) : c.padStart(widths[j] ?? 0))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n') + '\n';
}




function metaLine(meta: ReportMeta, shortened?: string): string {
  const date = meta.provenance?.date !== undefined ? `, ${esc(meta.provenance.date)}` : '';
  return `<p class="meta">Computed by autobalance (core ${esc(meta.coreVersion)}) on the ${esc(meta.backend)} backend, float64${date}${meta.cancelled ? '; <b>interrupted</b>: partial results' : ''}.</p>${shortenedBanner(shortened)}`;
}

function runsTable(runs: readonly { label: string; result: RunResult }[]): string {
  const rows = runs
    .map((r, i) => {
      const s = summarize(r.result);
      const cells = [String(i), r.label, `${s.step}/${s.steps}`, formatNumber(s.finalLoss), s.finalNormRatios.map(formatNumber).join(' '), Number.isNaN(s.maxInvariantDrift) ? '-' : formatNumber(s.maxInvariantDrift), s.outcome];
      return `<tr>${cells.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`;
    })
    .join('\n');
  return `<table><tr><th>#</th><th>run</th><th>steps</th><th>final loss</th><th>norm ratio(s)</th><th>max invariant drift</th><th>outcome</th></tr>
${rows}
</table>`;
}


function hessianTable(items: readonly (PresetHessianResult | undefined)[], labels: readonly string[]): string {
  const rows = labels
    .map((label, i) => {
      const h = items[i];
      return `<tr><td>${i}</td><td>${esc(label)}</td><td>${h ? String(h.step) : '-'}</td><td>${h ? esc(describeReport(h.report)) : 'not computed (interrupted)'}</td></tr>`;
    })
    .join('\n');
  return `<table><tr><th>#</th><th>where</th><th>step</th><th>report</th></tr>
${rows}
</table>`;
}

/**
 * A self-contained HTML report of a preset run (`autobalance run` writes it as
 * DIR/<preset>.html): the description, the plots (inline SVG rendered from the Vega-Lite spec),
 * a summary table per run, the curvature reports, and the paper's claims beside our checks,
 * each marked `agrees`, `DISAGREES`, `cannot compare` (with the reason) or `incomplete`. A sweep
 * preset: `sweepReportHtml` of its table, with the claims.
 */
export async function presetHtml(
  preset: Preset,
  outcome: Pick<PresetOutcome, 'runs' | 'hessian' | 'sweep' | 'studies'>,
  meta: ReportMeta,
  /** The figure, if already rendered by {@link presetSvg} (otherwise rendered here). */
  svg?: string,
): Promise<string> {
  const checked = presetChecks(preset, outcome);
  const sw = sweepOfOutcome(outcome);
  if (preset.sweep && sw) {
    return sweepReportHtml({
      spec: sw.spec,
      plan: sw.plan,
      table: sw.table,
      title: preset.name,
      description: preset.description,
      backend: meta.backend,
      coreVersion: meta.coreVersion,
      plots: preset.sweep.plots,
      ...(preset.sweep.tables ? { tables: preset.sweep.tables } : {}),
      reference: checked,
      provenance: provenanceOf(meta, preset.shortened),
      ...(svg !== undefined ? { svg } : {}),
    });
  }
  const hessian = preset.hessian.length > 0 ? `<h2>Curvature</h2>\n${hessianTable(outcome.hessian, preset.hessian.map((h) => h.label))}` : '';
  const st = outcome.studies ?? presetStudiesOf(outcome.runs);
  if (preset.studies) {
    const t = presetStudyTable(preset, st ?? [], checked);
    const head = `<tr>${t.header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>`;
    const body = t.rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('\n');
    const specs = preset.studies.map((s) => `<h3>${esc(s.label)}</h3>\n<pre>${esc(JSON.stringify(s.spec))}</pre>`).join('\n');
    return htmlPage(
      preset.name,
      `<h1>${esc(preset.name)}</h1>
<p>${esc(preset.description)}</p>
${metaLine(meta, preset.shortened)}
${svg ?? (await presetSvg(preset, outcome.runs))}
<h2>Studies</h2>
<table>${head}
${body}
</table>
${preset.runs.length > 0 ? `<h2>Runs</h2>\n${runsTable(outcome.runs)}\n${hessian}` : ''}
<h2>What the paper reports, beside ours</h2>
${referenceTable(checked)}
<h2>Study specs</h2>
${specs}
${provenanceHtml(provenanceOf(meta, preset.shortened), outcome.runs.map((r) => ({ label: r.label, spec: r.spec })))}`,
    );
  }
  return htmlPage(
    preset.name,
    `<h1>${esc(preset.name)}</h1>
<p>${esc(preset.description)}</p>
${metaLine(meta, preset.shortened)}
${svg ?? (await presetSvg(preset, outcome.runs))}
<h2>Runs</h2>
${runsTable(outcome.runs)}
${hessian}
<h2>What the paper reports, beside ours</h2>
${referenceTable(checked)}
${provenanceHtml(provenanceOf(meta, preset.shortened), outcome.runs.map((r) => ({ label: r.label, spec: r.spec })))}`,
  );
}

/**
 * The panel groups of {@link runFigure}, in order, by column role: loss (the objective, then the
 * residuals), the norms, the balance (ratios, conserved quantities, their drifts), the curvature
 * samples. Roles not listed (step, step size, time, gradient norm, solver statistics, other) are
 * not plotted.
 */
const RUN_PANEL_ROLES: readonly ColumnRole[] = ['loss', 'residual', 'norm', 'ratio', 'invariant', 'drift', 'curvature'];

/**
 * Roles plotted on a log axis: positive by nature (the loss, residual norms) or usually so (a
 * conserved quantity that is itself a norm, such as matrix factorization's ||U^T U - V^T V||_F).
 */
const LOG_ROLES: readonly ColumnRole[] = ['loss', 'residual', 'invariant'];

/** Whether column `name` goes on a log axis: a role of {@link LOG_ROLES}, and no negative values. */
function logAxis(r: RunResult, name: string): boolean {
  if (!LOG_ROLES.includes(columnRole(r, name))) return false;
  // A conserved quantity gets a linear axis around its initial value (invariantDomain) unless it
  // spans decades (then it is not conserved, and the log axis shows how far it moved).
  if (columnRole(r, name) === 'invariant' && !spansDecades(r.columns[name])) return false;
  // A signed conserved quantity (a network's ||W_h||^2 - ||W_{h+1}||^2) goes on a linear axis:
  // a log axis would drop its negative values.
  for (const v of r.columns[name] ?? []) if (v < 0) return false;
  return true;
}

/**
 * The y range of a panel of a conserved quantity, so that its scale is honest: symmetric around
 * the initial values, at least 5% of the largest |initial value| on each side (a drift of 3e-6 in
 * a quantity of size 1 stays a flat line, not a steep ramp; the drift panel shows it), and wide
 * enough for every value. Undefined without finite values.
 */
export function invariantDomain(series: readonly { y: Float64Array }[]): [number, number] | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  let dev = 0;
  let size = 0;
  for (const s of series) {
    let v0 = NaN;
    for (const v of s.y) {
      if (!Number.isFinite(v)) continue;
      if (Number.isNaN(v0)) {
        v0 = v;
        lo = Math.min(lo, v0);
        hi = Math.max(hi, v0);
        size = Math.max(size, Math.abs(v0));
      }
      dev = Math.max(dev, Math.abs(v - v0));
    }
  }
  if (!(lo <= hi)) return undefined;
  const m = Math.max(1.2 * dev, 0.05 * size, 1e-12);
  return [lo - m, hi + m];
}

/** Whether the positive finite values of `c` span more than a factor 10. */
function spansDecades(c: Float64Array | undefined): boolean {
  let lo = Infinity;
  let hi = 0;
  for (const v of c ?? []) {
    if (v > 0 && Number.isFinite(v)) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  return hi > 10 * lo;
}

/** Columns plotted by {@link runFigure}, one panel each, grouped by role (see {@link RUN_PANEL_ROLES}). */
function runPanels(r: RunResult): { column: string; logY: boolean }[] {
  return RUN_PANEL_ROLES.flatMap((role) => columnsWithRole(r, role).map((column) => ({ column, logY: logAxis(r, column) })));
}

/** What a column of each plotted role is, in words (panel titles). */
const ROLE_WORDS: Partial<Record<ColumnRole, string>> = {
  loss: 'loss',
  residual: 'residual',
  norm: 'squared norm',
  ratio: 'ratio of squared norms',
  invariant: 'conserved quantity',
  drift: 'drift of a conserved quantity',
  curvature: 'curvature',
};

/** A panel's title: the column's role in words, then its name (`conserved quantity: D12`). */
function panelTitle(role: ColumnRole, column: string): string {
  const word = ROLE_WORDS[role];
  return word === undefined || word === column ? column : `${word}: ${column}`;
}

/**
 * The standard figure of one run, one panel per column, picked and ordered by role: loss and
 * residual, norms, ratios of norms, conserved quantities, their drift, curvature samples; against
 * the column of role `step`.
 */
export function runFigure(title: string, r: RunResult): Figure {
  const stepName = stepColumn(r);
  const x = (stepName !== undefined ? r.columns[stepName] : undefined) ?? new Float64Array(0);
  return {
    title,
    panels: runPanels(r).map((p): Panel => {
      const series = [{ label: title, x, y: r.columns[p.column] ?? new Float64Array(0) }];
      const domain = columnRole(r, p.column) === 'invariant' && !p.logY ? invariantDomain(series) : undefined;
      return {
        title: panelTitle(columnRole(r, p.column), p.column),
        xLabel: 'iteration',
        yLabel: p.column + (p.logY ? ' (log scale)' : domain ? ' (around its initial value)' : ''),
        logY: p.logY,
        ...(domain ? { yDomain: domain } : {}),
        series,
      };
    }),
  };
}

/** A self-contained HTML report of one run (`autobalance train --report FILE`): plots, summary, the spec. */
export async function runHtml(spec: unknown, r: RunResult, meta: ReportMeta, title = 'train'): Promise<string> {
  const svg = await renderVegaLiteSvg(figureToVegaLite(runFigure(title, r)));
  return htmlPage(
    title,
    `<h1>${esc(title)}</h1>
${metaLine(meta)}
${svg}
<h2>Run</h2>
${runsTable([{ label: title, result: r }])}
<h2>Spec</h2>
<pre>${esc(JSON.stringify(spec, null, 2))}</pre>
${provenanceHtml(provenanceOf(meta))}`,
  );
}

/** The eigenvalues in ascending order against their index (the spectrum), as SVG. */
async function spectrumSvg(values: readonly number[]): Promise<string> {
  const y = Float64Array.from([...values].sort((a, b) => a - b));
  const fig: Figure = {
    title: 'spectrum',
    panels: [{ title: `${y.length} eigenvalue(s), ascending`, xLabel: 'index', yLabel: 'eigenvalue', series: [{ label: 'eigenvalue', x: Float64Array.from(y, (_, i) => i + 1), y }] }],
  };
  return renderVegaLiteSvg(figureToVegaLite(fig));
}

/** A long list of eigenvalues: the first and last 20 shown, the rest collapsed (all in one number style). */
function eigenvalueList(values: readonly number[]): string {
  const f = (xs: readonly number[]): string => xs.map((x) => formatNumber(x)).join(' ');
  if (values.length <= 40) return `<pre style="white-space:pre-wrap">${esc(f(values))}</pre>`;
  return `<pre style="white-space:pre-wrap">${esc(f(values.slice(0, 20)))} ... ${esc(f(values.slice(-20)))}</pre>\n<details><summary>all ${values.length}</summary><pre style="white-space:pre-wrap">${esc(f(values))}</pre></details>`;
}

function fieldRows(obj: Record<string, unknown>, skip: readonly string[]): string {
  return Object.entries(obj)
    .filter(([k, v]) => !skip.includes(k) && (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' || v === null))
    .map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(typeof v === 'number' ? formatNumber(v) : String(v))}</td></tr>`)
    .join('\n');
}

/**
 * A self-contained HTML report of a curvature query (`autobalance hessian --report FILE`): the
 * verdict, every scalar of the report, the eigenvalues found, and for `density` a plot of the
 * spectral density.
 */
export async function hessianHtml(spec: unknown, report: HessianReport, meta: ReportMeta & { step: number }): Promise<string> {
  const parts: string[] = [`<h1>Hessian: ${esc(report.what)} at step ${meta.step}</h1>`, metaLine(meta), `<p><b>${esc(describeReport(report))}</b></p>`];
  const skip = ['grid', 'density', 'nodes', 'weights', 'rotation', 'delta', 'eigenvalues'];
  parts.push(`<h2>Numbers</h2>\n<table><tr><th>field</th><th>value</th></tr>\n${fieldRows(report as unknown as Record<string, unknown>, skip)}\n</table>`);
  if (report.what === 'classify') {
    parts.push(`<h2>Verdict</h2>\n<table><tr><th>field</th><th>value</th></tr>\n${fieldRows(report.verdict as unknown as Record<string, unknown>, ['direction'])}\n</table>`);
    const r = report as unknown as { zeroCount?: number; symmetryDim?: number };
    if (r.zeroCount !== undefined && r.symmetryDim !== undefined) {
      parts.push(
        `<p>"near-zero ${r.zeroCount} vs symmetry ${r.symmetryDim}": ${r.zeroCount} eigenvalues are within the zero tolerance; the model's continuous symmetries (e.g. rescaling between layers) account for ${r.symmetryDim} of them, since the loss is flat along those directions at every point. ${r.zeroCount > r.symmetryDim ? `The ${r.zeroCount - r.symmetryDim} further flat direction(s) are not explained by symmetry: the point is degenerate beyond it.` : 'Every flat direction is explained by symmetry.'}</p>`,
      );
    }
    if (report.eigenvalues) {
      parts.push(`<h2>Eigenvalues (${report.eigenvalues.length})</h2>`, await spectrumSvg(report.eigenvalues), eigenvalueList(report.eigenvalues));
    }
  }
  if (report.what === 'eigs') {
    const pairs = [...(report.smallest ?? []).map((p) => ['smallest', p] as const), ...(report.largest ?? []).map((p) => ['largest', p] as const)];
    const rows = pairs.map(([end, p]) => `<tr><td>${end}</td><td>${esc(formatNumber(p.value))}</td><td>${esc(formatNumber(p.residual))}</td><td>${p.converged ? 'yes' : 'no'}</td></tr>`).join('\n');
    parts.push(`<h2>Eigenpairs</h2>\n<table><tr><th>end</th><th>eigenvalue</th><th>residual</th><th>converged</th></tr>\n${rows}\n</table>`);
    if (pairs.length > 0) parts.push(await spectrumSvg(pairs.map(([, p]) => p.value).sort((a, b) => a - b)));
  }
  if (report.what === 'density') {
    const fig: Figure = {
      title: 'spectral density (stochastic Lanczos quadrature)',
      panels: [{ title: 'density', xLabel: 'eigenvalue', yLabel: 'density', logY: false, series: [{ label: 'SLQ', x: Float64Array.from(report.grid), y: Float64Array.from(report.density) }] }],
    };
    parts.push(await renderVegaLiteSvg(figureToVegaLite(fig)));
  }
  if (report.what === 'lemma32') {
    parts.push(`<h2>Singular values of M*</h2>\n<pre>${esc(report.singularValues.map((x) => formatNumber(x)).join(' '))}</pre>`);
  }
  parts.push(`<h2>Spec</h2>\n<pre>${esc(JSON.stringify(spec, null, 2))}</pre>`, provenanceHtml(provenanceOf(meta)));
  return htmlPage(`hessian ${report.what}`, parts.join('\n'));
}
