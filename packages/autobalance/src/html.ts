/**
 * The pieces every HTML report shares (preset, `train`, `hessian` and sweep reports): escaping,
 * the style sheet, the paper-beside-ours table, and the "how this was produced" block
 * ({@link Provenance}). Platform-neutral: the CLI fills in what only Node knows (the command
 * line, the machine).
 *
 * @module
 */

import { type CheckedReference, referenceMark } from './checks.js';

/** What produced a report, so that a reader can trust it and run it again. */
export interface Provenance {
  /** The command line, as typed (the CLI's `process.argv` joined). */
  command?: string;
  /** When it was computed (ISO 8601). */
  date?: string;
  /** The version of the `autobalance` package. */
  packageVersion?: string;
  /** The core's version. */
  coreVersion?: string;
  /** The backend that ran it (`native` or `wasm`). */
  backend?: string;
  /** A one-line summary of the machine (OS, CPU, cores, memory, Node). */
  machine?: string;
  /** The overrides applied to a preset (`steps`, `seed`, `seedsPerSetting`). */
  overrides?: Record<string, unknown>;
  /** Set when the runs were cut below the preset's protocol (e.g. `2000 of 10000 steps`). */
  shortened?: string;
  /** The files written beside the report (relative links: the data to download). */
  files?: {
    /** The link's text. */
    label: string;
    /** The relative address. */
    href: string;
  }[];
}

/** HTML-escape text (also for attribute values in double quotes). */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The style sheet of every report. */
export const STYLE = `body{font:15px/1.45 system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.meta{color:#666}svg{max-width:100%;height:auto}pre{background:#f6f6f6;padding:.6em;overflow:auto;font-size:13px}
table.sweep{font-size:13px}table.sweep td{white-space:nowrap}
.agrees{background:#e3f4e1;color:#1d5e1a;font-weight:600}.finding{background:#fff4d6;color:#6b4a00;font-weight:600}.disagrees{background:#fbe0dc;color:#8a1c0f;font-weight:600}
.cannotCompare,.notChecked,.incomplete,.shortened{background:#f1f1f1;color:#555;font-weight:600}
.banner{background:#fff4d6;border:1px solid #e0c070;padding:.5em .8em}
ul.checks{margin:0;padding-left:1.1em}li.pass::marker{content:"\\2713  ";color:#1d5e1a}li.fail::marker{content:"\\2717  ";color:#8a1c0f}
li.unknown::marker{content:"?  ";color:#555}li.shown::marker{content:"=  ";color:#555}
dl.provenance{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em}dl.provenance dt{color:#666}dl.provenance dd{margin:0}`;

/** A self-contained HTML page (no scripts, no external files). */
export function htmlPage(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>autobalance: ${esc(title)}</title>
<style>
${STYLE}
</style></head><body>
${body}
</body></html>
`;
}

/** The paper-beside-ours table: claim, what the paper reports, our checks with their numbers, the mark. */
export function referenceTable(checked: readonly CheckedReference[]): string {
  const rows = checked
    .map((c) => {
      const items = c.outcomes
        .map((o) => `<li class="${o.shown ? 'shown' : o.pass === true ? 'pass' : o.pass === false ? 'fail' : 'unknown'}">${esc(o.text)}</li>`)
        .join('');
      const ours = `${esc(c.check ?? '')}${items ? `<ul class="checks">${items}</ul>` : ''}${c.cannotCompare ? `<p><i>Cannot compare:</i> ${esc(c.cannotCompare)}</p>` : ''}`;
      return `<tr><td>${esc(c.claim ?? '')}</td><td>${esc(c.paper ?? '')}</td><td>${ours}</td><td class="${c.status}">${esc(referenceMark(c))}</td></tr>`;
    })
    .join('\n');
  return `<table><tr><th>claim</th><th>the paper</th><th>this reproduction</th><th>mark</th></tr>
${rows}
</table>`;
}

/** The banner of a run cut below its preset's protocol (empty when not shortened). */
export function shortenedBanner(shortened: string | undefined): string {
  return shortened === undefined
    ? ''
    : `<p class="banner"><b>Shortened: ${esc(shortened)}.</b> The runs are shorter than the preset's protocol, so no claim is judged: every check is shown, marked "not checked (shortened)".</p>`;
}

/**
 * The "How this was produced" block: the command line, date, versions, backend, machine,
 * overrides, and links to the data written beside the report; `specs` (JSON values) are shown in
 * full, so that the report can be run again.
 */
export function provenanceHtml(p: Provenance, specs: readonly { label: string; spec: unknown }[] = []): string {
  const rows: [string, string][] = [];
  if (p.command !== undefined) rows.push(['command', `<code>${esc(p.command)}</code>`]);
  if (p.date !== undefined) rows.push(['date', esc(p.date)]);
  const versions = [p.packageVersion !== undefined ? `autobalance ${p.packageVersion}` : '', p.coreVersion !== undefined ? `core ${p.coreVersion}` : ''].filter((x) => x);
  if (versions.length > 0) rows.push(['versions', esc(versions.join(', '))]);
  if (p.backend !== undefined) rows.push(['backend', `${esc(p.backend)} (float64)`]);
  if (p.machine !== undefined) rows.push(['machine', esc(p.machine)]);
  if (p.overrides !== undefined && Object.keys(p.overrides).length > 0) rows.push(['overrides', `<code>${esc(JSON.stringify(p.overrides))}</code>`]);
  if (p.shortened !== undefined) rows.push(['shortened', esc(p.shortened)]);
  if (p.files !== undefined && p.files.length > 0) {
    rows.push(['download data', p.files.map((f) => `<a href="${esc(f.href)}" download>${esc(f.label)}</a>`).join(' &middot; ')]);
  }
  const dl = rows.length > 0 ? `<dl class="provenance">${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join('')}</dl>` : '';
  const sp = specs.map((s) => `<details><summary>spec: ${esc(s.label)}</summary><pre>${esc(JSON.stringify(s.spec, null, 2))}</pre></details>`).join('\n');
  if (dl === '' && sp === '') return '';
  return `<h2>How this was produced</h2>\n${dl}\n${sp}`;
}
