/**
 * The worker: loads the wasm core, runs one run at a time in chunks of about 50 ms, and posts the
 * new rows after each chunk, so the page stays responsive. A finished (or stopped) run is kept for
 * curvature queries until the next one starts.
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

interface Current {
  id: number;
  run: Run;
  controller: AbortController;
  loop: Promise<void>;
}
let current: Current | undefined;

async function drive(id: number, run: Run, signal: AbortSignal): Promise<void> {
  const t0 = performance.now();
  let last = run.status;
  try {
    for await (const { status, start, rows } of run.chunks({ signal, chunkMillis: 50 })) {
      const seconds = (performance.now() - t0) / 1000;
      const transfer = Object.values(rows).map((a) => a.buffer);
      post({ type: 'rows', id, start, rows, status, stepsPerSecond: seconds > 0 ? status.step / seconds : 0 }, transfer);
      last = status;
    }
    post({ type: 'done', id, status: last, cancelled: run.cancelled, seconds: (performance.now() - t0) / 1000 });
  } catch (e) {
    post({ type: 'error', id, error: errorInfo(e) });
  }
}

async function start(id: number, spec: RunSpec): Promise<void> {
  const prev = current;
  current = undefined;
  if (prev) {
    prev.controller.abort();
    await prev.loop;
    prev.run.dispose();
  }
  let run: Run;
  try {
    run = Run.withBackend(await backend, spec);
  } catch (e) {
    post({ type: 'error', id, error: errorInfo(e) });
    return;
  }
  post({ type: 'started', id, columnNames: [...run.columnNames], columnRoles: { ...run.columnRoles } });
  const controller = new AbortController();
  current = { id, run, controller, loop: drive(id, run, controller.signal) };
}

async function classify(id: number): Promise<void> {
  const c = current;
  if (!c || c.id !== id) {
    post({ type: 'classifyError', id, error: { name: 'InvalidRequestError', code: 'invalid_request', field: 'run', detail: 'no run to ask about', message: 'run: no run to ask about' } });
    return;
  }
  await c.loop; // the page only asks once the run stopped; this keeps the session free anyway
  try {
    const t0 = performance.now();
    const report = await c.run.hessian({ what: 'classify' });
    post({ type: 'classified', id, report, seconds: (performance.now() - t0) / 1000 });
  } catch (e) {
    post({ type: 'classifyError', id, error: errorInfo(e) });
  }
}

// Starts and curvature queries run one after another, in the order they came; a stop acts at once.
let queue: Promise<void> = Promise.resolve();
scope.addEventListener('message', (e) => {
  const m = e.data;
  if (m.type === 'stop') {
    if (current?.id === m.id) current.controller.abort();
  } else if (m.type === 'start') {
    queue = queue.then(() => start(m.id, m.spec));
  } else {
    queue = queue.then(() => classify(m.id));
  }
});
