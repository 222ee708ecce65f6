/**
 * The sweep page: Theorem 3.2's rank-1 problem over a few step sizes x many seeds, run by
 * `sweep()` over a pool of Web Workers (src/sweep-worker.ts), with a progress bar, a Cancel
 * button and the reduced table. The settings live in the URL.
 *
 * For tests and for the curious: `window.__sweep` holds the state (`state`, `done`, `total`, the
 * last result: its rows as JSON, the bits of their kept values, the table);
 * `window.__sweepTest.run(settings, workers)` runs a sweep through the same code as the Run
 * button, `runSpec(spec, workers)` any sweep spec (off the page's display), and `compare(a, b)`
 * says whether two results are the same bytes.
 * `document.body.dataset.state` is `loading`, `ready`, `running`, `done`, `cancelled` or `error`.
 */
import init, * as glue from 'autobalance/wasm/autobalance_wasm.js';
import wasmUrl from 'autobalance/wasm/autobalance_wasm_bg.wasm?url';
import {
  AutobalanceError,
  SweepCancelledError,
  sweep,
  wasmBackend,
  type Backend,
  type SweepProgress,
  type SweepSpec,
  type SweepTable,
} from 'autobalance/portable';

type PageState = 'loading' | 'ready' | 'running' | 'done' | 'cancelled' | 'error';

interface Settings {
  d: number;
  cinit: number;
  steps: number;
  tol: number;
  etas: number[];
  seeds: number;
  workers: number;
}

/** One sweep's outcome, as the page keeps it. */
interface SweepResult {
  /** Workers asked for (1: on the page's thread). */
  workers: number;
  /** Web Workers created, and `rows` messages each of them posted. */
  rowsMessagesPerWorker: number[];
  /** Every row yielded, as JSON, in the order yielded. */
  rows: string[];
  /** Per row: the bits (16 hex digits, or `null`) of each kept value and of the loss. */
  bits: string[];
  /** The reduced table (complete, or the partial one of a cancelled sweep). */
  table: SweepTable;
  stopped: null | 'cancelled';
  total: number;
  ms: number;
}

interface Exposed {
  state: PageState;
  coreVersion: string | null;
  settings: Settings;
  spec: SweepSpec;
  done: number;
  total: number;
  result: SweepResult | null;
  error: string | null;
}

declare global {
  interface Window {
    __sweep: Exposed;
    __sweepTest: {
      run(settings: Partial<Settings>, workers: number): Promise<SweepResult>;
      /** Any sweep spec, without touching the page (its rows and table). */
      runSpec(spec: SweepSpec, workers: number): Promise<SweepResult>;
      compare(a: SweepResult, b: SweepResult): { sameRows: boolean; sameBits: boolean; sameTable: boolean; firstDifference: string | null };
    };
  }
}

const $ = <T extends HTMLElement>(sel: string): T => {
  const el = document.querySelector<T>(sel);
  if (!el) throw new Error(`missing element ${sel}`);
  return el;
};
const form = $<HTMLFormElement>('#settings');
const runButton = $<HTMLButtonElement>('#run');
const cancelButton = $<HTMLButtonElement>('#cancel');
const statusText = $<HTMLSpanElement>('#status');
const bar = $<HTMLProgressElement>('#bar');
const tableEl = $<HTMLTableElement>('#table');
const note = $<HTMLParagraphElement>('#note');
const link = $<HTMLAnchorElement>('#link');

const MAX_WORKERS = 8;
const defaultWorkers = Math.max(1, Math.min(MAX_WORKERS, navigator.hardwareConcurrency || 1));
const DEFAULTS: Settings = { d: 100, cinit: 0.01, steps: 600, tol: 1e-6, etas: [0.1, 0.5, 0.9, 1.2, 2, 2.5], seeds: 100, workers: defaultWorkers };

// ---- settings <-> URL, form and spec ------------------------------------------------------------

function num(p: URLSearchParams, key: keyof Settings, fallback: number, int: boolean): number {
  const raw = p.get(key);
  const x = raw === null || raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(x) || (int && !Number.isInteger(x))) return fallback;
  return x;
}

function fromQuery(search: string | URLSearchParams): Settings {
  const p = typeof search === 'string' ? new URLSearchParams(search) : search;
  const etas = (p.get('etas') ?? '')
    .split(/[\s,;]+/)
    .filter((s) => s !== '')
    .map(Number);
  return {
    d: num(p, 'd', DEFAULTS.d, true),
    cinit: num(p, 'cinit', DEFAULTS.cinit, false),
    steps: num(p, 'steps', DEFAULTS.steps, true),
    tol: num(p, 'tol', DEFAULTS.tol, false),
    etas: etas.length > 0 && etas.every(Number.isFinite) ? etas : DEFAULTS.etas,
    seeds: num(p, 'seeds', DEFAULTS.seeds, true),
    workers: Math.min(MAX_WORKERS, Math.max(1, num(p, 'workers', DEFAULTS.workers, true))),
  };
}

function toQuery(s: Settings): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(s)) p.set(k, Array.isArray(v) ? v.join(',') : String(v));
  return p.toString().replaceAll('%2C', ',');
}

const field = (name: keyof Settings): HTMLInputElement => form.elements.namedItem(name) as HTMLInputElement;

function fillForm(s: Settings): void {
  for (const [k, v] of Object.entries(s)) field(k as keyof Settings).value = Array.isArray(v) ? v.join(', ') : String(v);
}

function readForm(): Settings {
  const p = new URLSearchParams();
  for (const key of Object.keys(DEFAULTS)) p.set(key, field(key as keyof Settings).value);
  return fromQuery(p);
}

/**
 * Theorem 3.2's setting: M* = u* v*ᵀ with σ₁ = 1 (d x d), u₀, v₀ ~ N(0, std²) with
 * std = c_init √(σ₁/d), a constant step η; the data stay fixed, the initialization's seed varies.
 */
function toSpec(s: Settings): SweepSpec {
  const std = s.cinit * Math.sqrt(1 / s.d);
  return {
    kind: 'sweep',
    base: {
      model: { kind: 'matrixFactorization', d1: s.d, d2: s.d, rank: 1 },
      target: { kind: 'random', singularValues: [1], seed: 1 },
      init: { kind: 'gaussian', stdU: std, stdV: std, seed: 0 },
      schedule: { kind: 'constant', eta: s.etas[0] ?? 0.1 },
      steps: s.steps,
    },
    axes: [{ path: 'schedule.eta', values: s.etas }],
    seeds: { count: s.seeds, paths: ['init.seed'] },
    keep: [
      { name: 'hit', column: 'residual', firstAtOrBelow: s.tol },
      { name: 'finalResidual', column: 'residual', reduce: 'last' },
    ],
    classes: [
      { name: 'converged', when: { of: 'hit', ge: 0 } },
      { name: 'diverged', when: { stop: 'diverged' } },
    ],
    reduce: { quantiles: [0.1, 0.5, 0.9], confidence: 0.95 },
  };
}

// ---- state ------------------------------------------------------------------------------------

const initial = fromQuery(location.search);
const exposed: Exposed = {
  state: 'loading',
  coreVersion: null,
  settings: initial,
  spec: toSpec(initial),
  done: 0,
  total: 0,
  result: null,
  error: null,
};
window.__sweep = exposed;
let controller: AbortController | undefined;

function setState(state: PageState): void {
  exposed.state = state;
  document.body.dataset['state'] = state;
  runButton.disabled = state === 'loading' || state === 'running';
  cancelButton.disabled = state !== 'running';
}

const backendReady: Promise<Backend> = (async () => {
  await init({ module_or_path: wasmUrl });
  return wasmBackend(glue);
})();

// ---- formatting ------------------------------------------------------------------------------

function seconds(ms: number): string {
  const s = ms / 1000;
  return s < 10 ? `${s.toFixed(1)} s` : s < 120 ? `${Math.round(s)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

function showProgress(p: SweepProgress, workers: number): void {
  bar.value = p.total > 0 ? p.done / p.total : 1;
  const eta = p.etaMs === null ? '' : ` · about ${seconds(p.etaMs)} left`;
  statusText.textContent = `${p.done} / ${p.total} runs · ${Math.round(p.rate)} runs/s on ${workers === 1 ? 'the page' : `${workers} workers`}${eta}`;
}

const fmt = (x: number | null | undefined, digits = 2): string => (x === null || x === undefined ? '–' : x.toFixed(digits));
const fmtG = (x: number | null | undefined): string => (x === null || x === undefined ? '–' : x.toPrecision(2));
const CLASS_LABELS: Record<string, string> = { converged: 'converged', diverged: 'diverged', other: 'neither' };

function showTable(table: SweepTable, tol: number): void {
  const classes = table.plan.classes;
  const head = [
    'step size η',
    'runs',
    ...classes.map((c) => `${CLASS_LABELS[c] ?? c}: p [95% CI]`),
    `steps to ${tol < 1e-3 ? tol.toExponential() : tol}: median [10%, 90%]`,
    'final residual: median',
  ];
  const rows = table.settings.map((s) => {
    const q = (name: string, at: number): number | null => s.kept[name]?.quantiles.find(([x]) => x === at)?.[1] ?? null;
    return [
      String(s.values['schedule.eta']),
      String(s.runs),
      ...classes.map((c) => {
        const k = s.classes[c];
        return k ? `${fmt(k.p)} [${fmt(k.lo)}, ${fmt(k.hi)}]` : '–';
      }),
      q('hit', 0.5) === null ? '–' : `${fmt(q('hit', 0.5), 0)} [${fmt(q('hit', 0.1), 0)}, ${fmt(q('hit', 0.9), 0)}]`,
      fmtG(q('finalResidual', 0.5)),
    ];
  });
  tableEl.replaceChildren();
  const tr = (cells: string[], tag: 'th' | 'td'): HTMLTableRowElement => {
    const r = document.createElement('tr');
    for (const c of cells) {
      const cell = document.createElement(tag);
      cell.textContent = c;
      r.append(cell);
    }
    return r;
  };
  const thead = document.createElement('thead');
  thead.append(tr(head, 'th'));
  const tbody = document.createElement('tbody');
  for (const r of rows) tbody.append(tr(r, 'td'));
  tableEl.append(thead, tbody);
  tableEl.dataset['settings'] = String(table.settings.length);
  note.textContent = table.complete
    ? `Every run done. ‘neither’: the run neither reached the tolerance nor diverged in ${exposed.settings.steps} steps (it oscillates, ` +
      'or is too slow); the final residual of a diverged run is its last finite one. Near the balanced solution the Hessian’s ' +
      'largest eigenvalue is ‖u‖² + ‖v‖² = 2σ₁, so gradient descent can only settle there for η < 2/(2σ₁) = 1.'
    : `Cancelled: the table holds the ${table.settings.reduce((n, s) => n + s.runs, 0)} runs finished before the stop.`;
}

// ---- a sweep ----------------------------------------------------------------------------------

function keptBits(row: { kept: Record<string, number | null>; loss: number | null }, names: string[]): string {
  const view = new DataView(new ArrayBuffer(8));
  const hex = (x: number | null | undefined): string => {
    if (x === null || x === undefined) return 'null';
    view.setFloat64(0, x);
    return view.getBigUint64(0).toString(16).padStart(16, '0');
  };
  return [...names.map((n) => hex(row.kept[n])), hex(row.loss)].join(' ');
}

/** Run `spec` on `workers` Web Workers (1: on this thread) and collect its rows and table. */
async function collect(spec: SweepSpec, workers: number, signal?: AbortSignal, onProgress?: (p: SweepProgress) => void): Promise<SweepResult> {
  const backend = await backendReady;
  const counts: number[] = [];
  const makeWorker = (): Worker => {
    const i = counts.push(0) - 1;
    const w = new Worker(new URL('./sweep-worker.ts', import.meta.url), { type: 'module' });
    w.addEventListener('message', (e: MessageEvent<{ type?: string }>) => {
      if (e.data?.type === 'rows') counts[i]! += 1;
    });
    return w;
  };
  const t0 = performance.now();
  const rows: string[] = [];
  const bits: string[] = [];
  const h = sweep(spec, { backend, workers, worker: makeWorker, signal, onProgress });
  const plan = await h.plan;
  for await (const row of h.rows) {
    rows.push(JSON.stringify(row));
    bits.push(keptBits(row, plan.kept));
  }
  let table: SweepTable;
  try {
    table = await h.table;
  } catch (e) {
    if (!(e instanceof SweepCancelledError)) throw e;
    table = e.table;
  }
  return { workers, rowsMessagesPerWorker: counts, rows, bits, table, stopped: table.stopped, total: plan.runs, ms: performance.now() - t0 };
}

/** A sweep of the page's problem, shown on the page (what the Run button does). */
async function runSweep(s: Settings, workers: number): Promise<SweepResult> {
  if (exposed.state === 'running') throw new Error('a sweep is already running');
  const query = toQuery(s);
  history.replaceState(null, '', `${location.pathname}?${query}`);
  link.href = `?${query}`;
  fillForm(s);
  exposed.settings = s;
  exposed.spec = toSpec(s);
  exposed.done = 0;
  exposed.total = 0;
  exposed.error = null;
  bar.value = 0;
  statusText.textContent = 'validating the sweep…';
  setState('running');
  controller = new AbortController();
  try {
    const result = await collect(exposed.spec, workers, controller.signal, (p) => {
      exposed.done = p.done;
      exposed.total = p.total;
      showProgress(p, workers);
    });
    exposed.result = result;
    showTable(result.table, s.tol);
    const how = result.table.complete ? 'done' : `cancelled after ${result.rows.length} of ${result.total} runs`;
    statusText.textContent = `${how} in ${seconds(result.ms)} on ${workers === 1 ? 'the page' : `${workers} Web Workers`}`;
    setState(result.table.complete ? 'done' : 'cancelled');
    return result;
  } catch (e) {
    const msg = e instanceof AutobalanceError ? `${e.message} (${e.code})` : String(e);
    exposed.error = msg;
    statusText.textContent = msg;
    setState('error');
    throw e;
  } finally {
    controller = undefined;
  }
}

function compare(a: SweepResult, b: SweepResult): ReturnType<Window['__sweepTest']['compare']> {
  let firstDifference: string | null = null;
  const n = Math.max(a.rows.length, b.rows.length);
  for (let i = 0; i < n && firstDifference === null; i++) {
    if (a.rows[i] !== b.rows[i]) firstDifference = `row ${i}: ${a.rows[i] ?? '(none)'} vs ${b.rows[i] ?? '(none)'}`;
  }
  return {
    sameRows: a.rows.length === b.rows.length && a.rows.every((r, i) => r === b.rows[i]),
    sameBits: a.bits.length === b.bits.length && a.bits.every((r, i) => r === b.bits[i]),
    sameTable: JSON.stringify(a.table) === JSON.stringify(b.table),
    firstDifference,
  };
}

window.__sweepTest = {
  run: (settings, workers) => runSweep({ ...readForm(), ...settings, workers }, workers),
  runSpec: (spec, workers) => collect(spec, workers),
  compare,
};

form.addEventListener('submit', (e) => {
  e.preventDefault();
  const s = readForm();
  runSweep(s, s.workers).catch(() => undefined); // shown on the page
});
cancelButton.addEventListener('click', () => controller?.abort());

fillForm(initial);
link.href = `?${toQuery(initial)}`;
backendReady.then(
  (b) => {
    exposed.coreVersion = b.coreVersion;
    $('#core').textContent = `Core ${b.coreVersion} (wasm); this browser has ${navigator.hardwareConcurrency || 1} logical cores.`;
    statusText.textContent = `ready: ${initial.etas.length} step sizes × ${initial.seeds} seeds = ${initial.etas.length * initial.seeds} runs`;
    setState('ready');
  },
  (e: unknown) => {
    exposed.error = `could not load the wasm core: ${String(e)}`;
    statusText.textContent = exposed.error;
    setState('error');
  },
);
