/**
 * The worker: loads the wasm core and holds the page's runs (one, or two for an overlay). The page
 * asks for each chunk (`advance`), so pausing is simply not asking; every answer carries the new
 * rows (float64) and the status. A run stays available for curvature queries until disposed.
 */
import init, * as glue from 'autobalance/wasm/autobalance_wasm.js';
import wasmUrl from 'autobalance/wasm/autobalance_wasm_bg.wasm?url';
import { AutobalanceError, Run, wasmBackend, type Backend, type RunSpec } from 'autobalance/portable';

import type { ErrorInfo, FromWorker, ToWorker } from './protocol.js';

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

const backend: Promise<Backend> = (async () => {
  await init({ module_or_path: wasmUrl });
  const b = wasmBackend(glue);
  post({ type: 'ready', coreVersion: b.coreVersion });
  return b;
})();
backend.catch((e: unknown) => post({ type: 'error', id: 0, error: errorInfo(e) }));

/** A live run and the size of its next automatic chunk (grown or shrunk toward ~40 ms). */
interface Live {
  run: Run;
  auto: number;
}
const runs = new Map<number, Live>();
const TARGET_MS = 40;

function postRows(id: number, live: Live, seconds: number): void {
  const { start, rows } = live.run.newRows();
  const transfer = Object.values(rows).map((a) => a.buffer);
  post({ type: 'rows', id, start, rows, status: live.run.status, seconds }, transfer);
}

async function start(id: number, spec: RunSpec): Promise<void> {
  let run: Run;
  try {
    run = Run.withBackend(await backend, spec);
  } catch (e) {
    post({ type: 'error', id, error: errorInfo(e) });
    return;
  }
  const live: Live = { run, auto: 1 };
  runs.set(id, live);
  post({ type: 'started', id, columnNames: [...run.columnNames], columnRoles: { ...run.columnRoles } });
  try {
    const t0 = performance.now();
    run.advance(0); // records the initial iterate
    postRows(id, live, (performance.now() - t0) / 1000);
  } catch (e) {
    post({ type: 'error', id, error: errorInfo(e) });
  }
}

function advance(id: number, steps: number | 'auto'): void {
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
    postRows(id, live, ms / 1000);
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

// Messages are handled one after another, in the order they came.
let queue: Promise<void> = Promise.resolve();
scope.addEventListener('message', (e) => {
  const m = e.data;
  queue = queue.then(async () => {
    switch (m.type) {
      case 'start':
        return start(m.id, m.spec);
      case 'advance':
        return advance(m.id, m.steps);
      case 'dispose': {
        runs.get(m.id)?.run.dispose();
        runs.delete(m.id);
        return;
      }
      case 'classify':
        return classify(m.id);
    }
  });
});
