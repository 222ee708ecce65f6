/**
 * The page: a form whose settings live in the URL, a worker that runs the wasm core, live SVG
 * plots, the last recorded row at full precision, and the curvature verdict.
 *
 * For tests and for the curious, `window.__autobalance` holds the state: the settings, the spec,
 * every recorded row (`columns`, float64 numbers) with the role of each column (`columnRoles`), the
 * status, and the last curvature report;
 * with curvature tracking on, `curvaturePlot` holds the points of the lambda_min / lambda_max panel;
 * `document.body.dataset.state` is `loading`, `running`, `done`, `stopped` or `error`.
 */
import type { ClassifyReport, ColumnRole, RunSpec, Status } from 'autobalance/portable';
import { renderSvg } from 'autobalance/svg';

import { CURVATURE_TITLE, figure, stepName, type Columns } from './plots.js';
import type { ErrorInfo, FromWorker, ToWorker } from './protocol.js';
import { METHODS, METHOD_LABELS, formatList, fromQuery, parseList, toQuery, toSpec, type Settings } from './settings.js';

type PageState = 'loading' | 'running' | 'done' | 'stopped' | 'error';

interface Exposed {
  state: PageState;
  coreVersion: string | null;
  settings: Settings;
  spec: RunSpec;
  columnNames: string[];
  /** The role of each column, as the core declares it (the panels pick columns by role). */
  columnRoles: Record<string, ColumnRole>;
  columns: Columns;
  status: Status | null;
  seconds: number | null;
  error: ErrorInfo | null;
  curvature: ClassifyReport | null;
  curvatureError: ErrorInfo | null;
  /** The points drawn in the curvature panel (the sampled rows), or null without tracking. */
  curvaturePlot: { step: number[]; lambdaMin: number[]; lambdaMax: number[] } | null;
}

declare global {
  interface Window {
    __autobalance: Exposed;
  }
}

const $ = <T extends HTMLElement>(sel: string): T => {
  const el = document.querySelector<T>(sel);
  if (!el) throw new Error(`missing element ${sel}`);
  return el;
};
const form = $<HTMLFormElement>('#settings');
const stopButton = $<HTMLButtonElement>('#stop');
const classifyButton = $<HTMLButtonElement>('#classify');
const statusText = $<HTMLSpanElement>('#status');
const bar = $<HTMLProgressElement>('#bar');
const plots = $<HTMLElement>('#plots');
const lastTable = $<HTMLTableElement>('#last');
const verdict = $<HTMLDivElement>('#verdict');
const link = $<HTMLAnchorElement>('#link');

const methodSelect = form.elements.namedItem('method') as HTMLSelectElement;
for (const m of METHODS) methodSelect.add(new Option(METHOD_LABELS[m], m));

// ---- settings <-> form ----------------------------------------------------------------------

const field = (name: string): HTMLInputElement | HTMLSelectElement =>
  form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement;

function fillForm(s: Settings): void {
  for (const [key, value] of Object.entries(s)) {
    const el = field(key);
    if (el) el.value = Array.isArray(value) ? formatList(value as number[]) : String(value);
  }
  showRelevant();
}

function readForm(): Settings {
  const p = new URLSearchParams();
  for (const el of Array.from(form.elements)) {
    if ((el instanceof HTMLInputElement || el instanceof HTMLSelectElement) && el.name) p.set(el.name, el.value);
  }
  // Lists are normalized (spaces, separators) so that the URL is canonical.
  for (const key of ['sv', 'hidden', 'stds']) p.set(key, formatList(parseList(p.get(key) ?? '')));
  return fromQuery(p);
}

function showRelevant(): void {
  const model = field('model').value;
  for (const fs of Array.from(form.querySelectorAll<HTMLElement>('[data-model]'))) fs.hidden = fs.dataset['model'] !== model;
  const method = field('method').value;
  for (const el of Array.from(form.querySelectorAll<HTMLElement>('[data-method]'))) {
    el.hidden = !(el.dataset['method'] ?? '').split(' ').includes(method);
  }
}
form.addEventListener('change', showRelevant);

// ---- the worker -----------------------------------------------------------------------------

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const send = (m: ToWorker): void => worker.postMessage(m);

let runId = 0;
const initial = fromQuery(location.search);
const exposed: Exposed = {
  state: 'loading',
  coreVersion: null,
  settings: initial,
  spec: toSpec(initial),
  columnNames: [],
  columnRoles: {},
  columns: {},
  status: null,
  seconds: null,
  error: null,
  curvature: null,
  curvatureError: null,
  curvaturePlot: null,
};
window.__autobalance = exposed;

function setState(state: PageState): void {
  exposed.state = state;
  document.body.dataset['state'] = state;
  const running = state === 'running';
  stopButton.disabled = !running;
  classifyButton.disabled = !(state === 'done' || state === 'stopped');
}

function start(s: Settings): void {
  runId += 1;
  const query = toQuery(s);
  history.replaceState(null, '', `${location.pathname}?${query}`);
  link.href = `?${query}`;
  exposed.settings = s;
  exposed.spec = toSpec(s);
  exposed.columnNames = [];
  exposed.columnRoles = {};
  exposed.columns = {};
  exposed.status = null;
  exposed.seconds = null;
  exposed.error = null;
  exposed.curvature = null;
  exposed.curvatureError = null;
  exposed.curvaturePlot = null;
  // The interval the run uses (rounded to a multiple of `every`), as the URL has it.
  field('curvature').value = String(s.curvature);
  verdict.replaceChildren();
  verdict.dataset['state'] = 'idle';
  bar.value = 0;
  statusText.textContent = 'starting…';
  setState('running');
  send({ type: 'start', id: runId, spec: exposed.spec });
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  start(readForm());
});
stopButton.addEventListener('click', () => send({ type: 'stop', id: runId }));
classifyButton.addEventListener('click', () => {
  classifyButton.disabled = true;
  verdict.dataset['state'] = 'computing';
  verdict.textContent = 'computing the Hessian spectrum in the worker…';
  send({ type: 'classify', id: runId });
});

// ---- drawing --------------------------------------------------------------------------------

let drawPending = false;
function scheduleDraw(): void {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => {
    drawPending = false;
    draw();
  });
}

const fmt = (x: number | null | undefined): string =>
  x === null || x === undefined ? 'n/a' : Number.isNaN(x) ? 'NaN' : String(x);
const short = (x: number | null | undefined): string =>
  x === null || x === undefined ? 'n/a' : Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(3) : x.toPrecision(4);

function draw(): void {
  const width = Math.max(280, Math.min(480, Math.floor((plots.clientWidth || 1200) / 3) - 8));
  const info = { names: exposed.columnNames, roles: exposed.columnRoles };
  const fig = figure(info, exposed.columns, width, exposed.settings.model === 'net' ? 'net' : 'mf');
  plots.innerHTML = renderSvg(fig);
  const cp = fig.panels.find((p) => p.title === CURVATURE_TITLE);
  const line = (label: string): number[] => Array.from(cp?.series.find((s) => s.label === label)?.y ?? []);
  exposed.curvaturePlot = cp
    ? { step: Array.from(cp.series[0]?.x ?? []), lambdaMin: line('λ_min'), lambdaMax: line('λ_max') }
    : null;
  const stepCol = stepName(info);
  const rows = (stepCol !== undefined ? exposed.columns[stepCol]?.length : undefined) ?? 0;
  plots.dataset['rows'] = String(rows);
  const cells = exposed.columnNames.map((name) => {
    const v = exposed.columns[name]?.[rows - 1];
    return `<tr><th>${name}</th><td>${fmt(v)}</td></tr>`;
  });
  lastTable.innerHTML = cells.join('');
}

function describeStatus(s: Status, extra: string): string {
  const head = `step ${s.step} / ${s.steps} · loss ${short(s.loss)}`;
  return s.divergedAt !== null ? `${head} · diverged at step ${s.divergedAt} (the last finite state is kept)` : `${head}${extra}`;
}

/** An error for people: the core's message (it names the field) and its code. */
const showError = (e: ErrorInfo): string => (e.code === 'internal' ? `Error: ${e.message}` : `${e.message} (${e.code})`);

// ---- curvature ------------------------------------------------------------------------------

function verdictHead(r: ClassifyReport): string {
  const v = r.verdict;
  switch (v.kind) {
    case 'localMinimum':
      return 'A local minimum';
    case 'strictSaddle':
      return `A strict saddle: there is a direction of negative curvature (λ = ${short(v.lambdaMin)})`;
    case 'degenerate':
      return `Degenerate: ${v.reason}`;
    case 'notStationary':
      return `Not a stationary point yet: ‖∇f‖ = ${short(v.gradNorm)} (keep running, or take more steps)`;
  }
}

/** The rescaling symmetry whose orbit gives the zero eigenvalues at a minimum. */
function symmetryNote(s: Settings): string {
  if (s.model === 'net') return 'per hidden ReLU neuron: incoming weights × c, outgoing ÷ c';
  return s.w === 0 ? 'U → UA, V → VA⁻ᵀ for invertible r × r A' : 'U → UQ, V → VQ for orthogonal Q (the regularizer breaks the rest)';
}

function showReport(r: ClassifyReport, seconds: number): void {
  const rows: [string, string][] = [
    ['λ_min', `${fmt(r.lambdaMin)} (residual ${short(r.lambdaMinResidual)}${r.lambdaMinConverged ? '' : ', not converged'})`],
    ['λ_max', `${fmt(r.lambdaMax)} (residual ${short(r.lambdaMaxResidual)})`],
    ['near-zero eigenvalues', `${r.zeroCount ?? 'n/a'}`],
    ['symmetry dimension', `${r.symmetryDim ?? 'n/a'} (${symmetryNote(exposed.settings)})`],
    ['negative eigenvalues', `${r.negativeCount ?? 'n/a'}`],
    ['loss, ‖∇f‖', `${fmt(r.loss)}, ${fmt(r.gradNorm)}`],
    ['parameters, solver', `${r.dim}, ${r.method} (${r.hvps} Hessian-vector products, ${seconds.toFixed(3)} s)`],
  ];
  const head = document.createElement('div');
  head.className = 'kind';
  head.textContent = verdictHead(r);
  const table = document.createElement('table');
  for (const [k, v] of rows) {
    const tr = table.insertRow();
    const th = document.createElement('th');
    th.textContent = k;
    tr.append(th);
    tr.insertCell().textContent = v;
  }
  const note = document.createElement('div');
  note.className = 'note';
  note.textContent = `${r.zeroCountNote}; thresholds: ‖∇f‖ ≤ ${r.thresholds.gradTol}, |λ| ≤ ${r.thresholds.zeroTol}·λ_max counts as zero.`;
  verdict.replaceChildren(head, table, note);
}

// ---- messages from the worker ---------------------------------------------------------------

worker.addEventListener('message', (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  if (m.type === 'ready') {
    exposed.coreVersion = m.coreVersion;
    $('#core').textContent = `Core ${m.coreVersion} (wasm).`;
    return;
  }
  if (m.id !== runId && m.id !== 0) return; // a message of a run replaced since
  switch (m.type) {
    case 'started':
      exposed.columnNames = m.columnNames;
      exposed.columnRoles = m.columnRoles;
      exposed.columns = Object.fromEntries(m.columnNames.map((n) => [n, [] as number[]]));
      break;
    case 'rows': {
      for (const [name, values] of Object.entries(m.rows)) {
        const col = exposed.columns[name];
        if (col && col.length === m.start) for (const v of values) col.push(v);
      }
      exposed.status = m.status;
      bar.value = m.status.steps > 0 ? m.status.step / m.status.steps : 1;
      statusText.textContent = describeStatus(m.status, ` · ${Math.round(m.stepsPerSecond)} steps/s`);
      scheduleDraw();
      break;
    }
    case 'done':
      exposed.status = m.status;
      exposed.seconds = m.seconds;
      statusText.textContent = describeStatus(m.status, ` · ${m.cancelled ? 'stopped' : 'done'} in ${m.seconds.toFixed(2)} s`);
      draw();
      setState(m.cancelled ? 'stopped' : 'done');
      break;
    case 'error':
      exposed.error = m.error;
      statusText.textContent = showError(m.error);
      setState('error');
      break;
    case 'classified':
      exposed.curvature = m.report;
      showReport(m.report, m.seconds);
      verdict.dataset['state'] = 'done';
      classifyButton.disabled = false;
      break;
    case 'classifyError':
      exposed.curvatureError = m.error;
      verdict.textContent =
        m.error.field === 'model'
          ? `Not available for ${exposed.settings.model === 'net' ? 'networks' : 'this model'}: ${m.error.detail}.`
          : `Could not classify the point: ${showError(m.error)}`;
      verdict.dataset['state'] = 'unavailable';
      classifyButton.disabled = false;
      break;
  }
});
worker.addEventListener('error', (e) => {
  const message = e.message || 'the worker failed to load';
  exposed.error = { name: 'WorkerError', code: 'internal', field: '', detail: message, message };
  statusText.textContent = showError(exposed.error);
  setState('error');
});

fillForm(initial);
start(initial);
