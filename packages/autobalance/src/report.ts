/**
 * Reports of runs: summaries, the JSON result format, CSV tables and figures. Platform-neutral.
 *
 * @module
 */

import type { Matrix } from './matrix.js';
import type { Preset, PresetRunResult } from './presets.js';
import type { RunResult } from './run.js';
import { type Figure, renderSvg } from './svg.js';

/** A few numbers that sum up a run. */
export interface RunSummary {
  /** Loss at the final state (null if unknown). */
  finalLoss: number | null;
  /**
   * Ratios of squared norms of consecutive layers at the last recorded row: ||U||_F^2/||V||_F^2
   * for matrix factorization; ||W_h||^2/||W_{h+1}||^2 per layer pair for networks.
   */
  finalNormRatios: number[];
  /**
   * Largest drift of a conserved quantity over the recorded rows: ||D_t - D_0||_F with
   * D = U^T U - V^T V (matrix factorization); the largest |drift| of ||W_h||^2 - ||W_{h+1}||^2
   * over layer pairs (networks). NaN if no rows.
   */
  maxInvariantDrift: number;
  /** Steps taken. */
  step: number;
  /** Steps asked for. */
  steps: number;
  /** `finished`, `diverged at <t>` or `cancelled`. */
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

/** Sum up a run (see {@link RunSummary}). */
export function summarize(r: RunResult): RunSummary {
  return {
    finalLoss: r.loss,
    finalNormRatios: r.columnNames.filter((n) => /^normRatio\d*$/.test(n)).map((n) => last(r.columns[n])),
    maxInvariantDrift: Math.max(
      ...r.columnNames.filter((n) => /^(imbalanceDrift|layerDiffDrift\d+)$/.test(n)).map((n) => maxAbs(r.columns[n])),
    ),
    step: r.step,
    steps: r.steps,
    outcome: r.divergedAt !== null ? `diverged at ${r.divergedAt}` : r.cancelled ? 'cancelled' : r.finished ? 'finished' : 'stopped',
  };
}

/** A matrix in the JSON format: `{rows, cols, data}` with `data` a row-major array. */
export interface MatrixJson {
  rows: number;
  cols: number;
  data: number[];
}

/** A matrix as JSON-ready data. */
export function matrixToJson(m: Matrix): MatrixJson {
  return { rows: m.rows, cols: m.cols, data: Array.from(m.data) };
}

/** The JSON result format of `autobalance train` (non-finite numbers become `null` in JSON). */
export interface RunResultJson {
  backend: string;
  step: number;
  steps: number;
  rows: number;
  finished: boolean;
  cancelled: boolean;
  divergedAt: number | null;
  loss: number | null;
  columnNames: string[];
  columns: Record<string, number[]>;
  /** Final parameters by block name (`U`, `V`; `W1`, `b1`, `v2`, ...). */
  params: Record<string, MatrixJson>;
  /** Matrix factorization: the final factors (also in `params`). */
  U?: MatrixJson;
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
    loss: r.loss,
    columnNames: r.columnNames.slice(),
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
 * column, one line per recorded row per run. Numbers are written in full precision.
 */
export function runsToCsv(runs: readonly { label: string; result: RunResult }[]): string {
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
  return lines.join('\n') + '\n';
}

/** The figure of a preset: one panel per plot, one line per run. */
export function presetFigure(preset: Preset, runs: readonly PresetRunResult[]): Figure {
  return {
    title: preset.name,
    panels: preset.plots.map((p) => {
      const xName = p.x ?? 'step';
      return {
        title: p.title,
        xLabel: xName === 'step' ? 'iteration' : xName,
        yLabel: p.column + (p.logY ? ' (log scale)' : ''),
        logY: p.logY === true,
        series: runs.map((r) => ({
          label: r.label,
          x: r.result.columns[xName] ?? new Float64Array(0),
          y: r.result.columns[p.column] ?? new Float64Array(0),
        })),
      };
    }),
  };
}

/** Render the figure of a preset as SVG. */
export function presetSvg(preset: Preset, runs: readonly PresetRunResult[]): string {
  return renderSvg(presetFigure(preset, runs));
}

/** The JSON report of a preset run (`autobalance run --out DIR` writes it as DIR/<preset>.json). */
export interface PresetReportJson {
  preset: string;
  description: string;
  backend: string;
  coreVersion: string;
  cancelled: boolean;
  runs: { label: string; spec: unknown; summary: RunSummary; result: RunResultJson }[];
  plots: Preset['plots'];
  reference: Preset['reference'];
}

/** Build the JSON report of a preset run. */
export function presetReport(
  preset: Preset,
  runs: readonly PresetRunResult[],
  meta: { backend: string; coreVersion: string; cancelled: boolean },
): PresetReportJson {
  return {
    preset: preset.name,
    description: preset.description,
    backend: meta.backend,
    coreVersion: meta.coreVersion,
    cancelled: meta.cancelled,
    runs: runs.map((r) => ({ label: r.label, spec: r.spec, summary: summarize(r.result), result: resultToJson(r.result) })),
    plots: preset.plots,
    reference: preset.reference,
  };
}

/** Format a number for a table: 4 significant digits, exponent form when small or large. */
export function formatNumber(x: number | null): string {
  if (x === null) return '-';
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
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

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * A self-contained HTML report of a preset run (`autobalance run` writes it as
 * DIR/<preset>.html): the description, the plots (inline SVG), a summary table per run, and the
 * paper's reported claims beside how this reproduction checks them. No scripts, no external files.
 */
export function presetHtml(
  preset: Preset,
  runs: readonly PresetRunResult[],
  meta: { backend: string; coreVersion: string; cancelled: boolean },
): string {
  const rows = runs
    .map((r) => {
      const s = summarize(r.result);
      const cells = [r.label, `${s.step}/${s.steps}`, formatNumber(s.finalLoss), s.finalNormRatios.map(formatNumber).join(' '), formatNumber(s.maxInvariantDrift), s.outcome];
      return `<tr>${cells.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`;
    })
    .join('\n');
  const refs = preset.reference
    .map((r) => `<tr><td>${esc(r.claim ?? '')}</td><td>${esc(r.paper ?? '')}</td><td>${esc(r.check ?? '')}</td></tr>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>autobalance: ${esc(preset.name)}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.meta{color:#666}svg{max-width:100%;height:auto}
</style></head><body>
<h1>${esc(preset.name)}</h1>
<p>${esc(preset.description)}</p>
<p class="meta">Computed by autobalance (core ${esc(meta.coreVersion)}) on the ${esc(meta.backend)} backend, float64${meta.cancelled ? '; <b>interrupted</b>: partial results' : ''}.</p>
${presetSvg(preset, runs)}
<h2>Runs</h2>
<table><tr><th>run</th><th>steps</th><th>final loss</th><th>norm ratio(s)</th><th>max invariant drift</th><th>outcome</th></tr>
${rows}
</table>
<h2>What the paper reports, and how we check it</h2>
<table><tr><th>claim</th><th>paper</th><th>this reproduction</th></tr>
${refs}
</table>
</body></html>
`;
}
