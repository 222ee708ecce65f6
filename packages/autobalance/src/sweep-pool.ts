/**
 * The page side of a sweep's worker pool (wasm): workers (Web Workers in a browser,
 * `worker_threads` in Node) take blocks of runs from a queue, each on its own copy of the
 * WebAssembly backend ({@link serveSweepWorker}); the rows come back out of order and leave here
 * in run order. Backpressure: at most `2 * workers` blocks are out (running, or holding rows not
 * yet taken), so memory stays bounded however many runs there are.
 *
 * @module
 */

import { BackendLoadError, BINDING_ERROR_PREFIX, InternalError, InvalidRequestError, type AutobalanceError, fromBindingError } from './errors.js';
import type { SweepPageMessage, SweepWireError, SweepWorkerMessage } from './sweep-worker.js';

/**
 * What the pool needs of a worker: a Web `Worker` is one; Node's `worker_threads` workers are
 * adapted (see `sweep-pool-node.ts`).
 */
export interface SweepWorkerLike {
  /** Send a message to the worker. */
  postMessage(message: unknown): void;
  /** Receive its messages (`message`, `event.data`) and failures (`error`). */
  addEventListener(type: 'message' | 'error', listener: (event: { data?: unknown; message?: string; error?: unknown }) => void): void;
  /** Stop the worker. */
  terminate(): unknown;
  /** Node only: whether the worker keeps the process alive (it does while it has work). */
  ref?(keep: boolean): void;
}

/**
 * A source of a sweep's rows: raw JSON lines in run order.
 *
 * @internal
 */
export interface RowSource {
  /**
   * The next rows, in run order (an empty list when `signal` aborted while waiting), or null
   * when every run is done.
   */
  next(signal?: AbortSignal): Promise<string[] | null>;
  /** Stop after the current chunks and return the rows of every run finished and not yet returned (run order, maybe with gaps). */
  stop(): Promise<string[]>;
  /** Release everything (workers, studies). */
  close(): void;
}

/** The error a worker reported, as a typed error. */
function fromWire(e: SweepWireError): AutobalanceError {
  if (e.code === 'backend_load') return new BackendLoadError('wasm', e.message);
  return fromBindingError(new Error(`${BINDING_ERROR_PREFIX}${JSON.stringify(e)}`));
}

interface Block {
  id: number;
  start: number;
  end: number;
  lines: string[];
  done: boolean;
}

interface Slot {
  w: SweepWorkerLike;
  state: 'starting' | 'idle' | 'busy' | 'stopped';
  block: Block | undefined;
}

/** Settings of a {@link WorkerPoolSource}. @internal */
export interface PoolSettings {
  /** Creates one worker. */
  create: () => SweepWorkerLike;
  /** Workers to start. */
  workers: number;
  /** The encoded sweep spec (without `runs` and `threads`). */
  spec: string;
  /** Its buffers. */
  buffers: Record<string, Float64Array>;
  /** Runs `start <= run < end`. */
  start: number;
  /** End of the runs (exclusive). */
  end: number;
  /**
   * Most runs per block (a block's rows may wait in memory for the blocks before it). Blocks are
   * sized by guided self-scheduling: an even share of what remains, shrinking toward the end,
   * but long enough that creating the block's study (parsing the spec; the settings were validated by the plan) stays a
   * small part of its time, as measured by the workers.
   */
  maxBlock: number;
  /** The core version the page's backend runs: workers must run the same. */
  coreVersion: string;
  /** Target wall time of one chunk in a worker. */
  chunkMillis: number;
}

/**
 * Rows from a pool of workers, in run order. Blocks go to idle workers in order; a block's rows
 * are returned as soon as every earlier block has been returned.
 *
 * @internal
 */
export class WorkerPoolSource implements RowSource {
  readonly #s: PoolSettings;
  readonly #slots: Slot[] = [];
  /** Blocks handed out and not yet fully returned, in run order. */
  readonly #blocks: Block[] = [];
  #nextStart: number;
  #nextId = 0;
  #failure: AutobalanceError | undefined;
  #wake: (() => void) | undefined;
  #closed = false;
  #stopping = false;
  /** Measured by the workers: milliseconds to create a block's study, and per run. */
  #createMs = 0;
  #runMs = 0;
  #runs = 0;

  constructor(s: PoolSettings) {
    this.#s = s;
    this.#nextStart = s.start;
    if (s.start >= s.end) return;
    const n = Math.max(1, Math.min(s.workers, s.end - s.start));
    for (let i = 0; i < n; i++) {
      let w: SweepWorkerLike;
      try {
        w = s.create();
      } catch (e) {
        this.#fail(new InvalidRequestError('options.worker', `the worker factory threw: ${String(e)}`, { cause: e }));
        break;
      }
      const slot: Slot = { w, state: 'starting', block: undefined };
      this.#slots.push(slot);
      w.ref?.(true);
      w.addEventListener('message', (ev) => this.#onMessage(slot, ev.data as SweepWorkerMessage));
      w.addEventListener('error', (ev) => {
        const detail = ev.message ?? (ev.error instanceof Error ? ev.error.message : String(ev.error ?? 'unknown error'));
        this.#fail(new InternalError('', `a sweep worker failed: ${detail}`, { cause: ev.error }));
      });
    }
  }

  #signal(): void {
    const f = this.#wake;
    this.#wake = undefined;
    f?.();
  }

  #fail(e: AutobalanceError): void {
    this.#failure ??= e;
    this.#signal();
  }

  #post(slot: Slot, m: SweepPageMessage): void {
    slot.w.postMessage(m);
  }

  #onMessage(slot: Slot, m: SweepWorkerMessage): void {
    if (this.#closed || typeof m !== 'object' || m === null) return;
    // A worker still starting when the pool stops is done with: it gets no work.
    if (this.#stopping && (m.type === 'hello' || m.type === 'ready')) return;
    switch (m.type) {
      case 'hello':
        if (m.coreVersion !== this.#s.coreVersion) {
          this.#fail(
            new InvalidRequestError(
              'options.workers',
              `the sweep workers run core ${m.coreVersion}, the page's backend core ${this.#s.coreVersion}: pass workers: 1, or the same backend`,
            ),
          );
          return;
        }
        this.#post(slot, { type: 'init', spec: this.#s.spec, buffers: this.#s.buffers, chunkMillis: this.#s.chunkMillis });
        break;
      case 'ready':
        slot.state = 'idle';
        this.#dispatch();
        break;
      case 'rows': {
        const b = slot.block;
        if (b && b.id === m.block) {
          for (const line of m.jsonl.split('\n')) if (line !== '') b.lines.push(line);
        }
        this.#signal();
        break;
      }
      case 'done':
        if (slot.block && slot.block.id === m.block) slot.block.done = true;
        this.#createMs = Math.max(this.#createMs, m.createMs);
        this.#runMs += m.runMs;
        this.#runs += m.runs;
        slot.block = undefined;
        slot.state = this.#stopping ? slot.state : 'idle';
        this.#dispatch();
        this.#signal();
        break;
      case 'stopped':
        slot.state = 'stopped';
        this.#signal();
        break;
      case 'error':
        this.#fail(fromWire(m.error));
        break;
    }
  }

  /** Hand blocks to idle workers while fewer than 2 blocks per worker are out. */
  #dispatch(): void {
    if (this.#stopping || this.#closed || this.#failure) return;
    for (const slot of this.#slots) {
      if (slot.state !== 'idle') continue;
      if (this.#nextStart >= this.#s.end || this.#blocks.length >= 2 * this.#slots.length) {
        slot.w.ref?.(false);
        continue;
      }
      const start = this.#nextStart;
      const end = start + this.#blockSize(this.#s.end - start);
      this.#nextStart = end;
      const block: Block = { id: this.#nextId++, start, end, lines: [], done: false };
      this.#blocks.push(block);
      slot.block = block;
      slot.state = 'busy';
      slot.w.ref?.(true);
      this.#post(slot, { type: 'block', block: block.id, start, end });
    }
  }

  /** The size of the next block, `remaining` runs left (see {@link PoolSettings.maxBlock}). */
  #blockSize(remaining: number): number {
    const w = this.#slots.length;
    const guided = Math.ceil(remaining / (2 * w));
    // Long enough that the study's creation is at most a fifth of the block's time, but never
    // more than an even share of what remains (all workers stay busy to the end).
    const perRun = this.#runs > 0 ? this.#runMs / this.#runs : 0;
    const floor = perRun > 0 ? Math.min(Math.ceil((4 * this.#createMs) / perRun), Math.ceil(remaining / w)) : 1;
    return Math.max(1, Math.min(remaining, this.#s.maxBlock, Math.max(guided, floor)));
  }

  async next(signal?: AbortSignal): Promise<string[] | null> {
    for (;;) {
      if (this.#failure) throw this.#failure;
      if (this.#closed) return null;
      const b = this.#blocks[0];
      if (b && b.lines.length > 0) {
        const out = b.lines;
        b.lines = [];
        return out;
      }
      if (b && b.done) {
        this.#blocks.shift();
        this.#dispatch();
        continue;
      }
      if (!b && this.#nextStart >= this.#s.end) return null;
      if (signal?.aborted) return [];
      await new Promise<void>((resolve) => {
        const onAbort = (): void => this.#signal();
        this.#wake = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
  }

  async stop(): Promise<string[]> {
    if (this.#closed) return [];
    this.#stopping = true;
    for (const slot of this.#slots) {
      if (slot.state === 'busy') this.#post(slot, { type: 'stop' });
      else slot.state = 'stopped';
    }
    while (!this.#failure && this.#slots.some((s) => s.state !== 'stopped')) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    const out: string[] = [];
    for (const b of this.#blocks) out.push(...b.lines);
    this.#blocks.length = 0;
    this.close();
    if (this.#failure) throw this.#failure;
    return out;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const slot of this.#slots) {
      try {
        void slot.w.terminate();
      } catch {
        // already gone
      }
    }
    this.#signal();
  }
}
