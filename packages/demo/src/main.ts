/**
 * The page: presets (a pair of runs overlaid, with an explanation), a form whose settings live in
 * the URL, play / pause / step / reset driving a worker that runs the wasm core one chunk at a
 * time, live SVG plots with hover readouts, the last recorded row at full precision, CSV and spec
 * downloads, and the curvature verdict.
 *
 * For tests and for the curious, `window.__autobalance` holds the state: the settings, the spec,
 * every recorded row (`columns`, float64 numbers) with the role of each column (`columnRoles`), the
 * status and the last curvature report of run A (the solid lines); `runs` holds every run shown
 * (one, or two overlaid); `problems` what the URL had that the page could not use;
 * with curvature tracking on, `curvaturePlot` holds the points of run A's lambda panels;
 * `document.body.dataset.state` is `loading`, `running`, `paused`, `done` or `error`.
 */
import type { ClassifyReport, ColumnRole, ContinuationOutput, ContinuationStudySpec, RunSpec, Status } from 'autobalance/portable';

import { lastAtOrBefore, legendHtml, renderPanel, short, type ChartPanel, type Geometry } from './chart.js';
import { PANEL, branchName, label as columnLabel, panels, stepName, studyPanels, type Columns } from './plots.js';
import { PRESETS, SPEEDS, presetDuration, type Preset } from './presets.js';
import type { ErrorInfo, FromWorker, ToWorker } from './protocol.js';
import {
  FIELD_WORDS,
  METHODS,
  METHOD_LABELS,
  formatList,
  fromQuery,
  notANumber,
  parseList,
  queryProblems,
  toQuery,
  toSpec,
  type Settings,
} from './settings.js';

type PageState = 'loading' | 'running' | 'paused' | 'done' | 'error';
type Overlay = 'none' | 'preset' | 'previous';

interface RunView {
  label: string;
  settings: Settings;
  spec: RunSpec;
  columnNames: string[];
  columnRoles: Record<string, ColumnRole>;
  columns: Columns;
  status: Status | null;
  seconds: number;
}

interface Exposed {
  state: PageState;
  coreVersion: string | null;
  /** Threads of the worker's wasm module (1: single-threaded), once ready. */
  threads: number | null;
  settings: Settings;
  spec: RunSpec;
  columnNames: string[];
  columnRoles: Record<string, ColumnRole>;
  columns: Columns;
  status: Status | null;
  seconds: number | null;
  error: ErrorInfo | null;
  curvature: ClassifyReport | null;
  curvatureError: ErrorInfo | null;
  curvaturePlot: { step: number[]; lambdaMin: number[]; lambdaMax: number[] } | null;
  runs: RunView[];
  preset: string | null;
  overlay: Overlay;
  speed: string;
  problems: string[];
  /** The ids of the panels drawn, in order. */
  panels: string[];
  /** A study preset's result (the continuation): its spec, columns, output and time. */
  study: StudyView | null;
}

interface StudyView {
  spec: ContinuationStudySpec;
  columnNames: string[];
  columns: Columns;
  output: ContinuationOutput;
  seconds: number;
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
const playButton = $<HTMLButtonElement>('#play');
const pauseButton = $<HTMLButtonElement>('#pause');
const stepButton = $<HTMLButtonElement>('#step');
const resetButton = $<HTMLButtonElement>('#reset');
const speedSelect = $<HTMLSelectElement>('#speed');
const overlaySelect = $<HTMLSelectElement>('#overlay');
const classifyButton = $<HTMLButtonElement>('#classify');
const statusText = $<HTMLSpanElement>('#status');
const notices = $<HTMLDivElement>('#notices');
const bar = $<HTMLProgressElement>('#bar');
const plots = $<HTMLElement>('#plots');
const runKey = $<HTMLElement>('#runkey');
const lastTable = $<HTMLTableElement>('#last');
const verdict = $<HTMLDivElement>('#verdict');
const link = $<HTMLAnchorElement>('#link');
const explain = $<HTMLElement>('#explain');
const presetNav = $<HTMLElement>('#presets');

const escapeText = (t: string): string => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const methodSelect = form.elements.namedItem('method') as HTMLSelectElement;
for (const m of METHODS) methodSelect.add(new Option(METHOD_LABELS[m], m));
for (const s of SPEEDS) speedSelect.add(new Option(s.label, s.value));
for (const p of PRESETS) {
  const b = document.createElement('button');
  b.type = 'button';
  b.dataset['preset'] = p.id;
  b.innerHTML = `${escapeText(p.title)} <small class="takes">${escapeText(presetDuration(p))}</small>`;
  b.title = `${p.title}: ${presetDuration(p)}${p.study ? ' (computed in the core)' : ' at its speed'}`;
  b.addEventListener('click', () => choosePreset(p, true));
  presetNav.append(b);
}

// ---- settings <-> form ----------------------------------------------------------------------

const field = (name: string): HTMLInputElement | HTMLSelectElement =>
  form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement;

function fillForm(s: Settings): void {
  for (const [key, value] of Object.entries(s)) {
    const el = field(key);
    if (el) el.value = Array.isArray(value) ? formatList(value as number[]) : String(value);
  }
  showRelevant();
  syncSliders();
}

/** The form's settings, and the raw text of each field (for messages). */
function readForm(): { settings: Settings; raw: Record<string, string> } {
  const p = new URLSearchParams();
  const raw: Record<string, string> = {};
  for (const el of Array.from(form.elements)) {
    if ((el instanceof HTMLInputElement || el instanceof HTMLSelectElement) && el.name && el.type !== 'range') {
      p.set(el.name, el.value);
      raw[el.name] = el.value;
    }
  }
  // Lists are normalized (spaces, separators) so that the URL is canonical.
  for (const key of ['sv', 'hidden', 'stds']) p.set(key, formatList(parseList(p.get(key) ?? '')));
  return { settings: fromQuery(p), raw };
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

// Sliders: a range input beside a text field (`data-for`), on a log scale (`data-log`) or linear;
// moving it writes the field and shows the value; letting go runs again (same seed).
const sliders = Array.from(form.querySelectorAll<HTMLInputElement>('input[type=range][data-for]'));
const sliderValue = (r: HTMLInputElement): number => (r.dataset['log'] !== undefined ? 10 ** Number(r.value) : Number(r.value));
function syncSliders(): void {
  for (const r of sliders) {
    const v = Number(field(r.dataset['for'] ?? '').value);
    if (Number.isFinite(v) && v > 0) r.value = String(r.dataset['log'] !== undefined ? Math.log10(v) : v);
  }
}
for (const r of sliders) {
  const target = field(r.dataset['for'] ?? '');
  r.addEventListener('input', () => {
    const v = sliderValue(r);
    target.value = r.dataset['int'] !== undefined ? String(Math.max(1, Math.round(v))) : String(Number(v.toPrecision(2)));
  });
  r.addEventListener('change', () => form.requestSubmit());
  target.addEventListener('input', syncSliders);
}

// A slider that scales a list (the network's init stds) by 10^value, from the list it had when
// the slider was grabbed; letting go runs again and puts the slider back to the middle.
for (const r of Array.from(form.querySelectorAll<HTMLInputElement>('input[type=range][data-scale-list]'))) {
  const target = field(r.dataset['scaleList'] ?? '');
  let baseList: number[] | null = null;
  r.addEventListener('input', () => {
    baseList ??= parseList(target.value);
    const m = 10 ** Number(r.value);
    target.value = formatList(baseList.map((v) => Number((v * m).toPrecision(3))));
  });
  r.addEventListener('change', () => {
    baseList = null;
    r.value = '0';
    form.requestSubmit();
  });
}

// ---- the worker -----------------------------------------------------------------------------

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const send = (m: ToWorker): void => worker.postMessage(m);

interface Slot extends RunView {
  id: number;
  /** The worker records every step of this run (unknown until it started). */
  everyStep?: boolean;
  awaiting: boolean;
  failed: boolean;
}

let nextId = 1;
let slots: Slot[] = [];
let playing = false;
let previous: Settings | null = null;
let activePreset: Preset | null = null;
/** The id of the study being computed or shown (a study preset), else null. */
let studyId: number | null = null;

const initialQuery = new URLSearchParams(location.search);
const initial = fromQuery(initialQuery);
const exposed: Exposed = {
  state: 'loading',
  coreVersion: null,
  threads: null,
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
  runs: [],
  preset: null,
  overlay: 'none',
  speed: 'max',
  problems: [],
  panels: [],
  study: null,
};
window.__autobalance = exposed;

function setState(state: PageState): void {
  exposed.state = state;
  document.body.dataset['state'] = state;
  const live = slots.some((s) => !s.failed && !(s.status?.finished ?? false));
  playButton.disabled = state === 'running' || state === 'loading';
  pauseButton.disabled = state !== 'running';
  stepButton.disabled = state !== 'paused' || !live;
  resetButton.disabled = state === 'loading' || slots.length === 0;
  classifyButton.disabled = !(state === 'done' || state === 'paused') || slots.length === 0;
  if (studyId !== null) resetButton.disabled = state === 'running';
}

function showNotices(list: string[]): void {
  exposed.problems = list;
  notices.replaceChildren(
    ...list.map((t) => {
      const p = document.createElement('p');
      p.textContent = t;
      return p;
    }),
  );
}

function syncExposed(): void {
  const a = slots[0];
  exposed.runs = slots.map(({ label, settings, spec, columnNames, columnRoles, columns, status, seconds }) => ({
    label,
    settings,
    spec,
    columnNames,
    columnRoles,
    columns,
    status,
    seconds,
  }));
  if (!a) return;
  exposed.settings = a.settings;
  exposed.spec = a.spec;
  exposed.columnNames = a.columnNames;
  exposed.columnRoles = a.columnRoles;
  exposed.columns = a.columns;
  exposed.status = a.status;
}

function urlFor(a: Settings, overlay: Overlay, b: Settings | null): string {
  const p = new URLSearchParams(toQuery(a));
  if (overlay === 'preset' && activePreset) p.set('preset', activePreset.id);
  if (overlay === 'previous' && b) p.set('compare', toQuery(b));
  if (speedSelect.value !== 'max') p.set('speed', speedSelect.value);
  return p.toString();
}

/** Start run A (and B, overlaid), paused at step 0 or playing. */
function begin(a: Settings, raw: Record<string, string>, overlay: Overlay, b: Settings | null, play: boolean): void {
  for (const s of slots) send({ type: 'dispose', id: s.id });
  slots = [];
  studyId = null;
  exposed.study = null;
  exposed.error = null;
  markInvalid(null);
  exposed.curvature = null;
  exposed.curvatureError = null;
  exposed.curvaturePlot = null;
  exposed.overlay = overlay;
  exposed.preset = overlay === 'preset' ? (activePreset?.id ?? null) : null;
  exposed.speed = speedSelect.value;
  exposed.seconds = null;
  verdict.replaceChildren();
  verdict.dataset['state'] = 'idle';
  bar.value = 0;
  const query = urlFor(a, overlay, b);
  history.replaceState(null, '', `${location.pathname}?${query}`);
  link.href = `?${query}`;
  field('curvature').value = String(a.curvature);
  explain.hidden = overlay !== 'preset' || !activePreset;
  if (overlay === 'preset' && activePreset) explain.innerHTML = `<h2>${activePreset.title}</h2>${activePreset.explain}`;
  const labels: [string, string] =
    overlay === 'preset' && activePreset ? activePreset.labels : overlay === 'previous' ? ['this run', 'the previous run'] : ['', ''];
  const settings = b && overlay !== 'none' ? [a, b] : [a];
  // A setting that is not a number is reported in words before any work.
  for (const [k, s] of settings.entries()) {
    const bad = notANumber(s, k === 0 ? raw : {});
    if (bad) {
      fail({ name: 'InvalidSettingError', code: 'invalid_setting', field: bad.key, detail: bad.message, message: bad.message }, true);
      return;
    }
  }
  slots = settings.map((s, k) => ({
    id: nextId++,
    label: labels[k] ?? '',
    settings: s,
    spec: toSpec(s),
    columnNames: [],
    columnRoles: {},
    columns: {},
    status: null,
    seconds: 0,
    awaiting: true,
    failed: false,
  }));
  syncExposed();
  exposed.seconds = 0;
  runKey.innerHTML =
    slots.length > 1
      ? slots.map((s, k) => `<span class="run run${k}"><i></i>${k === 0 ? 'A' : 'B'}: ${escapeHtml(s.label)}</span>`).join('')
      : '';
  playing = play;
  statusText.textContent = 'starting…';
  setState(play ? 'running' : 'paused');
  for (const s of slots) send({ type: 'start', id: s.id, spec: s.spec });
  draw();
}

const escapeHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The overlay's second run for run A's settings. */
function secondRun(a: Settings, overlay: Overlay): Settings | null {
  if (overlay === 'preset' && activePreset) return activePreset.vary(a);
  if (overlay === 'previous') return previous;
  return null;
}

function runFromForm(play: boolean): void {
  const { settings, raw } = readForm();
  let overlay = overlaySelect.value as Overlay;
  if (overlay === 'preset' && activePreset && activePreset.a.model !== settings.model) {
    // The preset's second run varies a setting of its own model: with another model, one run.
    showNotices([`The preset's pair ("${activePreset.title}") is for the ${activePreset.a.model} model: running the ${settings.model} settings alone.`]);
    overlay = 'none';
    overlaySelect.value = 'none';
  }
  const prevA = slots[0]?.settings ?? null;
  const b = overlay === 'previous' ? prevA : secondRun(settings, overlay);
  if (overlay === 'previous') previous = prevA;
  begin(settings, raw, b ? overlay : 'none', b, play);
}

/** A study preset: the worker computes the study; its panels replace the runs'. */
function beginStudy(p: Preset & { study: ContinuationStudySpec }): void {
  for (const s of slots) send({ type: 'dispose', id: s.id });
  slots = [];
  playing = false;
  exposed.error = null;
  markInvalid(null);
  exposed.curvature = null;
  exposed.curvatureError = null;
  exposed.curvaturePlot = null;
  exposed.overlay = 'preset';
  exposed.preset = p.id;
  exposed.study = null;
  exposed.runs = [];
  exposed.columns = {};
  exposed.columnNames = [];
  exposed.status = null;
  verdict.replaceChildren();
  verdict.dataset['state'] = 'idle';
  bar.value = 0;
  const p2 = new URLSearchParams({ preset: p.id });
  history.replaceState(null, '', `${location.pathname}?${p2.toString()}`);
  link.href = `?${p2.toString()}`;
  explain.hidden = false;
  explain.innerHTML = `<h2>${p.title}</h2>${p.explain}`;
  runKey.innerHTML = '';
  studyId = nextId++;
  statusText.textContent = 'computing the branches…';
  setState('running');
  send({ type: 'study', id: studyId, spec: p.study });
  draw();
}

function choosePreset(p: Preset, play: boolean): void {
  if (p.study) {
    activePreset = p;
    overlaySelect.value = 'preset';
    for (const b of Array.from(presetNav.querySelectorAll<HTMLButtonElement>('button'))) b.setAttribute('aria-pressed', String(b.dataset['preset'] === p.id));
    showNotices([]);
    beginStudy(p as Preset & { study: ContinuationStudySpec });
    return;
  }
  activePreset = p;
  overlaySelect.value = 'preset';
  overlaySelect.querySelector<HTMLOptionElement>('option[value=preset]')!.disabled = false;
  speedSelect.value = p.speed;
  for (const b of Array.from(presetNav.querySelectorAll<HTMLButtonElement>('button'))) b.setAttribute('aria-pressed', String(b.dataset['preset'] === p.id));
  fillForm(p.a);
  showNotices([]);
  begin(p.a, {}, 'preset', p.vary(p.a), play);
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  showNotices([]);
  runFromForm(true);
});
playButton.addEventListener('click', () => {
  if (studyId !== null && activePreset?.study) return beginStudy(activePreset as Preset & { study: ContinuationStudySpec });
  const live = slots.some((s) => !s.failed && !(s.status?.finished ?? false));
  if (!live) {
    // Finished (or failed): play again from step 0, with the form's settings.
    runFromForm(true);
    return;
  }
  playing = true;
  setState('running');
  pump();
});
pauseButton.addEventListener('click', () => {
  playing = false;
  settle();
});
stepButton.addEventListener('click', () => {
  // Exactly one optimization step, its row recorded (and plotted) whatever "record every" is.
  for (const s of slots) {
    if (s.awaiting || s.failed || (s.status?.finished ?? false)) continue;
    s.awaiting = true;
    send({ type: 'advance', id: s.id, steps: 1, all: true });
  }
});
resetButton.addEventListener('click', () => {
  if (studyId !== null && activePreset?.study) return beginStudy(activePreset as Preset & { study: ContinuationStudySpec });
  const a = slots[0];
  if (!a) return runFromForm(false);
  const b = slots[1]?.settings ?? null;
  begin(a.settings, {}, b ? exposed.overlay : 'none', b, false);
});
speedSelect.addEventListener('change', () => {
  exposed.speed = speedSelect.value;
  const a = slots[0];
  if (a) {
    const query = urlFor(a.settings, exposed.overlay, slots[1]?.settings ?? null);
    history.replaceState(null, '', `${location.pathname}?${query}`);
    link.href = `?${query}`;
  }
});
classifyButton.addEventListener('click', () => {
  const a = slots[0];
  if (!a) return;
  classifyButton.disabled = true;
  verdict.dataset['state'] = 'computing';
  verdict.textContent = 'computing the Hessian spectrum in the worker…';
  send({ type: 'classify', id: a.id });
});

// ---- driving: ask for the next chunk of every live run ------------------------------------

let pumpPending = false;
function pump(): void {
  if (!playing) return;
  const speed = speedSelect.value;
  for (const s of slots) {
    if (s.awaiting || s.failed || (s.status?.finished ?? false)) continue;
    s.awaiting = true;
    send({ type: 'advance', id: s.id, steps: speed === 'max' ? 'auto' : Math.max(1, Number(speed)) });
  }
}
function schedulePump(): void {
  if (speedSelect.value === 'max') return pump();
  if (pumpPending) return;
  pumpPending = true;
  requestAnimationFrame(() => {
    pumpPending = false;
    pump();
  });
}

/** After a chunk: done when every run finished; paused once nothing is in flight. */
function settle(): void {
  if (exposed.state === 'error') return;
  if (slots.length > 0 && slots.every((s) => s.status?.finished ?? false)) {
    playing = false;
    setState('done');
  } else if (!playing && slots.every((s) => !s.awaiting)) setState('paused');
  else if (!playing) setState(exposed.state); // refresh the buttons
}

/** The form field of an error's field (a setting's key, or a spec path such as `model.rank`). */
const SPEC_FIELDS: Record<string, string> = {
  'model.d1': 'd1', 'model.d2': 'd2', 'model.rank': 'rank', 'model.balanceWeight': 'w', 'target.singularValues': 'sv',
  'init.stdU': 'stdU', 'init.stdV': 'stdV', 'model.inputDim': 'input', 'model.layers': 'hidden', 'data.samples': 'samples',
  'init.stds': 'stds', 'model.d': 'd', 'model.L': 'L', 'model.gamma': 'gamma', 'model.tau': 'tau', 'init.low': 'low',
  'init.high': 'high', init: 'low', 'schedule.eta': 'eta', 'method.beta': 'beta', 'method.gThres': 'gThres',
  'method.tThres': 'tThres', 'method.radius': 'radius', steps: 'steps', recordEvery: 'every', 'curvature.every': 'curvature',
  'model.k': 'k', 'model.p': 'p', 'teacher.aStar.r': 'r', 'teacher.aStar': 'r', 'init.signs': 'signV',
};
function markInvalid(e: ErrorInfo | null): void {
  for (const el of Array.from(form.querySelectorAll('[aria-invalid]'))) el.removeAttribute('aria-invalid');
  if (!e || !e.field) return;
  const path = e.field.replace(/\[\d+\]/g, '');
  const key = e.code === 'invalid_setting' ? e.field : (SPEC_FIELDS[path] ?? SPEC_FIELDS[path.split('.').slice(0, 2).join('.')]);
  const el = key !== undefined ? form.querySelector<HTMLElement>(`[name="${key}"]`) : null;
  el?.setAttribute('aria-invalid', 'true');
}

function fail(e: ErrorInfo, clearRuns: boolean): void {
  playing = false;
  markInvalid(e);
  exposed.error = e;
  // A failed run leaves no plots of the previous one behind.
  for (const s of slots) {
    s.failed = true;
    s.columns = {};
    s.columnNames = [];
  }
  if (clearRuns) slots = [];
  syncExposed();
  exposed.columns = {};
  exposed.columnNames = [];
  exposed.status = null;
  statusText.textContent = showError(e);
  bar.value = 0;
  runKey.innerHTML = '';
  setState('error');
  draw();
}

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

/** Full precision for the table; a row without a sample (NaN) is shown as a dash. */
const fmt = (x: number | null | undefined): string => (x === null || x === undefined ? 'n/a' : Number.isNaN(x) ? '–' : String(x));

let drawn: { panel: ChartPanel; geometry: Geometry; el: HTMLElement }[] = [];
let hoverStep: number | null = null;

function draw(): void {
  const runs = slots.filter((s) => s.columnNames.length > 0).map((s) => ({ info: { names: s.columnNames, roles: s.columnRoles }, cols: s.columns }));
  const model = slots[0]?.settings.model ?? 'mf';
  const st = exposed.study;
  const ps = st ? studyPanels(st.columns, st.output) : runs.length > 0 ? panels(runs, model) : [];
  exposed.panels = ps.map((p) => p.id);
  const width = 420;
  const height = 250;
  const labels = slots.map((s) => s.label);
  drawn = [];
  const figs = ps.map((p) => {
    const { svg, geometry } = renderPanel(p, width, height);
    const el = document.createElement('figure');
    el.className = 'panel';
    el.dataset['panel'] = p.id;
    el.innerHTML = `<figcaption>${escapeHtml(p.title)}</figcaption><div class="legend">${legendHtml(p, labels)}</div>${svg}<div class="readout"></div>`;
    drawn.push({ panel: p, geometry, el });
    return el;
  });
  plots.replaceChildren(...figs);
  for (const d of drawn) {
    const svg = d.el.querySelector('svg');
    // Pointer events: a mouse, a pen or a finger on a touch screen.
    svg?.addEventListener('pointermove', (e) => hover(svg, d.geometry, e));
    svg?.addEventListener('pointerdown', (e) => hover(svg, d.geometry, e));
    svg?.addEventListener('pointerleave', () => {
      hoverStep = null;
      showHover();
    });
  }
  showHover();
  const a = slots[0];
  const lmax = ps.find((p) => p.id === PANEL.lambdaMax)?.lines.find((l) => l.run === 0);
  const lmin = ps.find((p) => p.id === PANEL.lambdaMin)?.lines.find((l) => l.run === 0);
  exposed.curvaturePlot = lmax && lmin ? { step: [...lmax.x], lambdaMin: [...lmin.y], lambdaMax: [...lmax.y] } : null;
  const stepCol = a ? stepName({ names: a.columnNames, roles: a.columnRoles }) : undefined;
  const rows = (a && stepCol !== undefined ? a.columns[stepCol]?.length : undefined) ?? 0;
  plots.dataset['rows'] = String(st ? (st.columns['lambda']?.length ?? 0) : rows);
  lastTable.replaceChildren();
  $('#numbers-title').textContent = st ? 'The folds (refined by Newton on the Moore-Spence system)' : 'Last recorded row';
  if (st) {
    // The folds, each with its branch and lambda at full precision.
    const head = lastTable.createTHead().insertRow();
    head.append(...['fold of branch', 'λ', '‖C‖_F', 'residual'].map((t) => Object.assign(document.createElement('th'), { textContent: t })));
    const body = lastTable.createTBody();
    for (const f of st.output.folds) {
      const tr = body.insertRow();
      tr.insertCell().textContent = branchName(st.output, f.branch ?? (st.columns['branch']?.[f.row] ?? 0));
      tr.insertCell().textContent = String(f.lambda);
      tr.insertCell().textContent = short(f.cNorm);
      tr.insertCell().textContent = short(f.residual);
    }
  }
  if (a && a.columnNames.length > 0) {
    if (slots.length > 1) {
      const head = lastTable.createTHead().insertRow();
      head.append(...['column', ...slots.map((_, k) => (k === 0 ? 'A' : 'B'))].map((t) => Object.assign(document.createElement('th'), { textContent: t })));
    }
    const body = lastTable.createTBody();
    for (const name of a.columnNames) {
      const tr = body.insertRow();
      const th = document.createElement('th');
      th.textContent = name;
      th.title = columnLabel(name);
      tr.append(th);
      for (const s of slots) {
        const col = s.columns[name];
        const v = col?.[col.length - 1];
        const td = tr.insertCell();
        td.textContent = fmt(v);
        if (v !== undefined && Number.isNaN(v)) td.title = 'not sampled on this row';
      }
    }
  }
}

function hover(svg: SVGSVGElement, g: Geometry, e: PointerEvent): void {
  const box = svg.getBoundingClientRect();
  const vb = svg.viewBox.baseVal;
  const px = ((e.clientX - box.left) / box.width) * vb.width;
  if (px < g.x0 || px > g.x1) return;
  hoverStep = g.xmin + ((px - g.x0) / (g.x1 - g.x0)) * (g.xmax - g.xmin);
  showHover();
}

function showHover(): void {
  for (const d of drawn) {
    const rule = d.el.querySelector<SVGLineElement>('line.rule');
    const out = d.el.querySelector<HTMLElement>('.readout');
    if (!rule || !out) continue;
    const g = d.geometry;
    if (hoverStep === null || hoverStep < g.xmin || hoverStep > g.xmax) {
      rule.setAttribute('visibility', 'hidden');
      out.textContent = '';
      continue;
    }
    const x = g.x0 + ((hoverStep - g.xmin) / (g.xmax - g.xmin)) * (g.x1 - g.x0);
    rule.setAttribute('x1', x.toFixed(1));
    rule.setAttribute('x2', x.toFixed(1));
    rule.setAttribute('visibility', 'visible');
    const parts: string[] = [];
    let at: number | undefined;
    for (const l of d.panel.lines) {
      const i = lastAtOrBefore(l.x, hoverStep);
      if (i < 0) continue;
      at ??= l.x[i];
      parts.push(`${l.label}${slots.length > 1 ? ` (${l.run === 0 ? 'A' : 'B'})` : ''} ${short(l.y[i] as number)}`);
    }
    out.textContent = at !== undefined ? `step ${at}: ${parts.join(' · ')}` : '';
  }
}

function describe(s: Status, settings: Settings): string {
  const head = `step ${s.step} / ${s.steps} · loss ${short(s.loss ?? NaN)}`;
  if (s.divergedAt !== null) {
    const why = s.reason ? ` (${s.reason})` : '';
    return `${head} · diverged at step ${s.divergedAt}${why}; the last finite state is kept. Try a smaller step size: η = ${short(settings.eta / 2)} or less.`;
  }
  if (s.stop === 'solverFailed') return `${head} · the solver failed at step ${s.stoppedAt}: ${s.reason ?? ''}`;
  return head;
}

function showStatus(): void {
  const parts = slots.map((s, k) => {
    const text = s.status ? describe(s.status, s.settings) : 'starting…';
    return slots.length > 1 ? `${k === 0 ? 'A' : 'B'}: ${text}` : text;
  });
  const done = slots.every((s) => s.status?.finished ?? false);
  const secs = slots.reduce((t, s) => t + s.seconds, 0);
  exposed.seconds = secs;
  statusText.textContent = `${parts.join('  |  ')}${done ? ` · done (${secs.toFixed(2)} s in the core)` : ''}`;
  const frac = slots.map((s) => (s.status && s.status.steps > 0 ? s.status.step / s.status.steps : s.status?.finished ? 1 : 0));
  bar.value = frac.length > 0 ? Math.min(...frac) : 0;
}

/** An error for people: the core's message (it names the field) and its code. */
const showError = (e: ErrorInfo): string =>
  e.code === 'internal' ? `Error: ${e.message}` : e.code === 'invalid_setting' ? e.message : `${e.message} (${e.code})`;

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
  if (s.model === 'octopus') return 'none: the octopus has isolated critical points';
  if (s.model === 'cnn') return 'v → cv for c > 0 (only v/‖v‖ enters the network)';
  return s.w === 0 ? 'U → UA, V → VA⁻ᵀ for invertible r × r A' : 'U → UQ, V → VQ for orthogonal Q (the regularizer breaks the rest)';
}

function showReport(r: ClassifyReport, seconds: number, s: Settings): void {
  const rows: [string, string][] = [
    ['λ_min', `${fmt(r.lambdaMin)} (residual ${short(r.lambdaMinResidual)}${r.lambdaMinConverged ? '' : ', not converged'})`],
    ['λ_max', `${fmt(r.lambdaMax)} (residual ${short(r.lambdaMaxResidual)})`],
    ['near-zero eigenvalues', `${r.zeroCount ?? 'n/a'}`],
    ['symmetry dimension', `${r.symmetryDim ?? 'n/a'} (${symmetryNote(s)})`],
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

// ---- downloads ------------------------------------------------------------------------------

function download(name: string, type: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** The recorded rows as CSV: one line per row, a `run` column (A, B) when runs are overlaid. */
export function csvText(): string {
  const st = exposed.study;
  if (st) {
    const n = st.columns[st.columnNames[0] ?? '']?.length ?? 0;
    const lines = [st.columnNames.join(',')];
    for (let i = 0; i < n; i++) lines.push(st.columnNames.map((c) => String(st.columns[c]?.[i] ?? '')).join(','));
    return `${lines.join('\n')}\n`;
  }
  const a = slots[0];
  if (!a) return '';
  const names = a.columnNames;
  const lines = [[...(slots.length > 1 ? ['run'] : []), ...names].join(',')];
  slots.forEach((s, k) => {
    const n = s.columns[names[0] ?? '']?.length ?? 0;
    for (let i = 0; i < n; i++) {
      lines.push([...(slots.length > 1 ? [k === 0 ? 'A' : 'B'] : []), ...names.map((c) => String(s.columns[c]?.[i] ?? ''))].join(','));
    }
  });
  return `${lines.join('\n')}\n`;
}

/** The spec(s) as JSON: one spec, or `{runs: [{label, spec}, ...]}` for an overlay. */
export function specText(): string {
  if (exposed.study) return `${JSON.stringify(exposed.study.spec, null, 2)}\n`;
  const body = slots.length > 1 ? { runs: slots.map((s, k) => ({ run: k === 0 ? 'A' : 'B', label: s.label, spec: s.spec })) } : slots[0]?.spec;
  return `${JSON.stringify(body ?? null, null, 2)}\n`;
}
$('#csv').addEventListener('click', () => download('autobalance-run.csv', 'text/csv', csvText()));
$('#spec').addEventListener('click', () => download('autobalance-spec.json', 'application/json', specText()));

// ---- messages from the worker ---------------------------------------------------------------

worker.addEventListener('message', (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  if (m.type === 'ready') {
    exposed.coreVersion = m.coreVersion;
    exposed.threads = m.threads;
    const how = m.threads > 1 ? `wasm, ${m.threads} threads` : 'wasm, 1 thread';
    $('#core').textContent = `Core ${m.coreVersion} (${how}).`;
    if (m.why !== undefined) $('#core').title = `Single-threaded: ${m.why}`;
    return;
  }
  if (m.id === 0 && m.type === 'error') return fail(m.error, true);
  if (studyId !== null && m.id === studyId) {
    if (m.type === 'studyProgress') {
      bar.value = m.total > 0 ? m.done / m.total : 0;
      statusText.textContent = `computing the branches… ${m.done} of ${m.total} units of work`;
    } else if (m.type === 'studyDone') {
      const spec = (activePreset?.study ?? null) as ContinuationStudySpec;
      const columns = Object.fromEntries(Object.entries(m.columns).map(([k, v]) => [k, Array.from(v)]));
      exposed.study = { spec, columnNames: m.columnNames, columns, output: m.output, seconds: m.seconds };
      bar.value = 1;
      statusText.textContent = `${columns['lambda']?.length ?? 0} critical points on ${m.output.branches.length} branches, ${m.output.folds.length} folds · done (${m.seconds.toFixed(2)} s in the core)`;
      setState('done');
      draw();
    } else if (m.type === 'error') fail(m.error, true);
    return;
  }
  const slot = slots.find((s) => s.id === m.id);
  if (!slot) return; // a message of a run replaced since
  switch (m.type) {
    case 'started':
      slot.everyStep = m.everyStep;
      stepButton.title = slots.every((x) => x.everyStep !== false)
        ? 'Advance by exactly one optimization step (its row is recorded and plotted whatever "record every" is)'
        : slots.some((x) => x.settings.model === 'octopus' || x.settings.model === 'cnn')
          ? 'Advance to the next recorded row: gradient descent on this model takes closed-form spans of steps between recorded rows (set "record every" to 1 for single steps)'
          : `Advance by exactly one optimization step (this run is too long to record every step: the step's row shows only on a recorded step)`;
      slot.columnNames = m.columnNames;
      slot.columnRoles = m.columnRoles;
      slot.columns = Object.fromEntries(m.columnNames.map((n) => [n, [] as number[]]));
      syncExposed();
      break;
    case 'rows': {
      for (const [name, values] of Object.entries(m.rows)) {
        const col = slot.columns[name];
        if (col && col.length === m.start) for (const v of values) col.push(v);
      }
      slot.status = m.status;
      slot.seconds += m.seconds;
      slot.awaiting = false;
      syncExposed();
      showStatus();
      scheduleDraw();
      settle();
      if (playing) schedulePump();
      break;
    }
    case 'error':
      fail(m.error, false);
      break;
    case 'classified':
      exposed.curvature = m.report;
      showReport(m.report, m.seconds, slot.settings);
      verdict.dataset['state'] = 'done';
      classifyButton.disabled = false;
      break;
    case 'classifyError':
      exposed.curvatureError = m.error;
      verdict.textContent =
        m.error.field === 'model'
          ? `Not available for ${slot.settings.model === 'net' ? 'networks' : 'this model'}: ${m.error.detail}.`
          : `Could not classify the point: ${showError(m.error)}`;
      verdict.dataset['state'] = 'unavailable';
      classifyButton.disabled = false;
      break;
  }
});
worker.addEventListener('error', (e) => {
  const message = e.message || 'the worker failed to load';
  fail({ name: 'WorkerError', code: 'internal', field: '', detail: message, message }, false);
});

// ---- start: the URL's settings (a preset, an overlay, or one run) ---------------------------

const problems = queryProblems(initialQuery);
const speed = initialQuery.get('speed');
if (speed !== null) {
  if (SPEEDS.some((s) => s.value === speed)) speedSelect.value = speed;
  else problems.push(`speed=${speed} is not a speed of this page (${SPEEDS.map((s) => s.value).join(', ')}); using as fast as possible`);
}
if (speed === null || !SPEEDS.some((s) => s.value === speed)) speedSelect.value = 'max';
const presetId = initialQuery.get('preset');
const compare = initialQuery.get('compare');
fillForm(initial);
if (presetId !== null && !PRESETS.some((p) => p.id === presetId)) {
  problems.push(`preset=${presetId} is not a preset of this page (${PRESETS.map((p) => p.id).join(', ')}); running the settings alone`);
}
const preset = PRESETS.find((p) => p.id === presetId);
for (const key of Object.keys(FIELD_WORDS)) {
  const v = initialQuery.get(key);
  if (v !== null && !/[,\s;]/.test(v) && v.trim() !== '' && Number.isNaN(Number(v)) && !['sv', 'hidden', 'stds'].includes(key)) {
    problems.push(`${key}=${v} in the address is not a number`);
  }
}
showNotices(problems.map((p) => `The address: ${p}.`));
const raw = Object.fromEntries(Array.from(initialQuery.entries()));
if (preset?.study) {
  choosePreset(preset, true);
} else if (preset) {
  activePreset = preset;
  overlaySelect.value = 'preset';
  for (const b of Array.from(presetNav.querySelectorAll<HTMLButtonElement>('button'))) b.setAttribute('aria-pressed', String(b.dataset['preset'] === preset.id));
  begin(initial, raw, 'preset', preset.vary(initial), true);
} else if (compare !== null) {
  previous = fromQuery(compare);
  overlaySelect.value = 'previous';
  begin(initial, raw, 'previous', previous, true);
} else {
  overlaySelect.value = 'none';
  begin(initial, raw, 'none', null, true);
}
if (!activePreset) overlaySelect.querySelector<HTMLOptionElement>('option[value=preset]')!.disabled = true;
