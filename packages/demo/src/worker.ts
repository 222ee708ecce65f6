/**
 * The worker: loads the wasm core and holds the page's runs (one, or two for an overlay). The page
 * asks for each chunk (`advance`), so pausing is simply not asking; every answer carries the new
 * rows (float64) and the status. A run stays available for curvature queries until disposed.
 */
import init, * as glue from 'autobalance/wasm/autobalance_wasm.js';
import wasmUrl from 'autobalance/wasm/autobalance_wasm_bg.wasm?url';
import { AutobalanceError, Run, study, wasmBackend, type Backend, type ContinuationStudySpec, type RunSpec } from 'autobalance/portable';

import type { ErrorInfo, FromWorker, ToWorker } from './protocol.js';
import { startThreaded } from './threads.js';

interface WorkerScope {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (e: MessageEvent<ToWorker>) => void): void;
}
const scope = self as unknown as WorkerScope;
const post = (m: FromWorker, transfer: Transferable[] = []): void => scope.postMessage(m, transfer);

function errorInfo(e: unknown): ErrorInfo {
  if (e instanceof AutobalanceError) return { name: e.name, code: e.code, field: e.field, detail: e.detail, message: e.message };
  const err = e instanceof Error ? e : new Error(String(e));
  return { name: err.name, code: 'internal', field: '', detail: err.message, message: err.message };
}

// The threaded module on a pool of workers when the page is cross-origin isolated and it is
// built (threads.ts); else the single-threaded module. Both give the same bits.
const backend: Promise<Backend> = (async () => {
  const threaded = await startThreaded().catch((e: unknown) => ({ why: `the threaded module failed to start: ${String(e)}` }));
  if ('backend' in threaded) {
    post({ type: 'ready', coreVersion: threaded.backend.coreVersion, threads: threaded.threads });
    return threaded.backend;
  }
  await init({ module_or_path: wasmUrl });
  const b = wasmBackend(glue);
  post({ type: 'ready', coreVersion: b.coreVersion, threads: 1, why: threaded.why });
  return b;
})();
backend.catch((e: unknown) => post({ type: 'error', id: 0, error: errorInfo(e) }));

/**
 * A live run and the size of its next automatic chunk (grown or shrunk toward ~40 ms). The core
 * records every step (`recordEvery: 1`, the same trajectory bit for bit); the page gets the rows
 * of the spec's own `recordEvery` (step 0, its multiples, the last state) while playing, and
 * every row while stepping, so that Step shows exactly one optimization step.
 */
interface Live {
  run: Run;
  auto: number;
  /** The spec's `recordEvery`. */
  every: number;
  /** The step column's name. */
  stepName: string | undefined;
  /** Rows posted to the page so far (the page's row count). */
  posted: number;
}
const runs = new Map<number, Live>();
const TARGET_MS = 40;

/** Post the rows recorded since the last post: all of them (`all`), or those the spec records. */
function postRows(id: number, live: Live, seconds: number, all: boolean): void {
  const { rows: fresh } = live.run.newRows();
  const status = live.run.status;
  const steps = live.stepName !== undefined ? fresh[live.stepName] : undefined;
  const n = steps?.length ?? 0;
  const keep: number[] = [];
  for (let i = 0; i < n; i++) {
    const step = steps?.[i] as number;
    // The spec's own rows: step 0, every multiple of recordEvery, and the last state.
    if (all || step % live.every === 0 || (status.finished && i === n - 1)) keep.push(i);
  }
  const rows: Record<string, Float64Array> = {};
  for (const [name, col] of Object.entries(fresh)) rows[name] = keep.length === n ? col : Float64Array.from(keep, (i) => col[i] as number);
  const start = live.posted;
  live.posted += keep.length;
  const transfer = Object.values(rows).map((a) => a.buffer);
  // `status.rows` counts the rows the page holds, not the core's every-step rows.
  post({ type: 'rows', id, start, rows, status: { ...status, rows: live.posted }, seconds }, transfer);
}

/**
 * Runs of at most this many steps record every step in the core (Step then shows each step's
 * row); longer ones record as their spec says (a row per step would not fit the memory budget:
 * Step still takes one step, and shows its row only on a recorded step).
 */
const EVERY_STEP_LIMIT = 200_000;

/**
 * Plain GD on the octopus and the weight-normalized CNN: the model takes closed-form spans of
 * steps up to the next recorded row, whose bits depend on their length (the CNN's `time`, the
 * octopus's iterates), so recording every step would change the run: such runs keep the spec's
 * recording, and Step advances one span (to the next recorded row; with "record every" 1, one
 * step).
 */
function takesSpans(spec: RunSpec): boolean {
  const kind = (spec.model as { kind?: string }).kind;
  const method = spec.method as { kind?: string; weightDecay?: number } | undefined;
  return (kind === 'octopus' || kind === 'weightNormCnn') && (method?.kind ?? 'gd') === 'gd' && !method?.weightDecay;
}

async function start(id: number, spec: RunSpec): Promise<void> {
  let run: Run;
  let everyStep = false;
  try {
    // The spec as given first, so that errors name its own fields (recordEvery too).
    run = Run.withBackend(await backend, spec);
  } catch (e) {
    post({ type: 'error', id, error: errorInfo(e) });
    return;
  }
  if (spec.recordEvery !== undefined && spec.recordEvery > 1 && spec.steps <= EVERY_STEP_LIMIT && !takesSpans(spec)) {
    try {
      const fine = Run.withBackend(await backend, { ...spec, recordEvery: 1 });
      run.dispose();
      run = fine;
      everyStep = true;
    } catch {
      // Over the memory budget: keep the spec's recording.
    }
  } else everyStep = (spec.recordEvery ?? 1) === 1;
  const stepName = Object.entries(run.columnRoles).find(([, role]) => role === 'step')?.[0];
  const live: Live = { run, auto: 1, every: everyStep ? (spec.recordEvery ?? 1) : 1, stepName, posted: 0 };
  runs.set(id, live);
  post({ type: 'started', id, columnNames: [...run.columnNames], columnRoles: { ...run.columnRoles }, everyStep });
  try {
    const t0 = performance.now();
    run.advance(0); // records the initial iterate
    postRows(id, live, (performance.now() - t0) / 1000, true);
  } catch (e) {
    post({ type: 'error', id, error: errorInfo(e) });
  }
}

function advance(id: number, steps: number | 'auto', all: boolean): void {
  const live = runs.get(id);
  if (!live) return; // disposed since
  try {
    const n = steps === 'auto' ? live.auto : steps;
    const t0 = performance.now();
    const before = live.run.status.step;
    const status = live.run.advance(n);
    const ms = performance.now() - t0;
    if (steps === 'auto' && status.step - before >= n) {
      if (ms < TARGET_MS / 2) live.auto = Math.min(live.auto * 2, 2 ** 40);
      else if (ms > TARGET_MS * 2) live.auto = Math.max(1, Math.floor(live.auto / 2));
    }
    postRows(id, live, ms / 1000, all);
  } catch (e) {
    post({ type: 'error', id, error: errorInfo(e) });
  }
}

async function classify(id: number): Promise<void> {
  const live = runs.get(id);
  if (!live) {
    post({ type: 'classifyError', id, error: { name: 'InvalidRequestError', code: 'invalid_request', field: 'run', detail: 'no run to ask about', message: 'run: no run to ask about' } });
    return;
  }
  try {
    const t0 = performance.now();
    const report = await live.run.hessian({ what: 'classify' });
    post({ type: 'classified', id, report, seconds: (performance.now() - t0) / 1000 });
  } catch (e) {
    post({ type: 'classifyError', id, error: errorInfo(e) });
  }
}

async function runStudy(id: number, spec: ContinuationStudySpec): Promise<void> {
  try {
    const t0 = performance.now();
    const r = await study(spec, { backend: await backend, onProgress: (st) => post({ type: 'studyProgress', id, done: st.done, total: st.total }) });
    const columns: Record<string, Float64Array> = {};
    for (const name of r.columnNames) columns[name] = Float64Array.from(r.columns[name] ?? []);
    post(
      { type: 'studyDone', id, columnNames: r.columnNames, columns, output: r.output, seconds: (performance.now() - t0) / 1000 },
      Object.values(columns).map((a) => a.buffer),
    );
  } catch (e) {
    post({ type: 'error', id, error: errorInfo(e) });
  }
}

// Messages are handled one after another, in the order they came.
let queue: Promise<void> = Promise.resolve();
scope.addEventListener('message', (e) => {
  const m = e.data;
  queue = queue.then(async () => {
    switch (m.type) {
      case 'start':
        return start(m.id, m.spec);
      case 'advance':
        return advance(m.id, m.steps, m.all === true);
      case 'dispose': {
        runs.get(m.id)?.run.dispose();
        runs.delete(m.id);
        return;
      }
      case 'classify':
        return classify(m.id);
      case 'study':
        return runStudy(m.id, m.spec);
    }
  });
});
