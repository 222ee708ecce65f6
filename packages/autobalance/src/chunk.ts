/**
 * One chunk of a binding's work off the event loop, shared by runs and studies: on the native
 * backend the chunk runs on the libuv thread pool (`advanceAsync`); on wasm it runs synchronously,
 * then yields to the event loop once.
 *
 * @module
 */

import { fromBindingError, guard } from './errors.js';

/** What runs and studies have in common in a binding: advance by a count, synchronously or not. */
export interface Advanceable {
  advance(max: number): string;
  advanceAsync?(max: number): Promise<string>;
}

/** Milliseconds since an arbitrary origin (performance.now where there is one). */
export const now: () => number =
  typeof performance !== 'undefined' && typeof performance.now === 'function' ? () => performance.now() : () => Date.now();

/** Let the event loop run (timers, I/O) between synchronous chunks. */
export function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (f: () => void) => unknown };
  return new Promise((resolve) => {
    if (typeof g.setImmediate === 'function') g.setImmediate(resolve);
    else setTimeout(resolve, 0);
  });
}

/**
 * Let the event loop run a full turn, timers included. `setImmediate` called outside the check
 * phase (e.g. right after a session was created on the JS thread) resolves before the overdue
 * timers run; a zero timeout runs after them.
 */
export function yieldToTimers(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Advance `b` by up to `max` units without blocking the event loop for the whole chunk; returns
 * the binding's status JSON. Binding errors become typed errors.
 */
export async function advanceOffLoop(b: Advanceable, max: number, useAsync: boolean): Promise<string> {
  if (useAsync && b.advanceAsync) {
    try {
      return await b.advanceAsync(max);
    } catch (e) {
      throw fromBindingError(e);
    }
  }
  const json = guard(() => b.advance(max));
  await yieldToEventLoop();
  return json;
}

/**
 * Release a binding object and never throw: a wasm session poisoned by a trap (out of memory)
 * refuses to be freed ("attempted to take ownership of Rust value while it was borrowed"); its
 * memory stays taken, but the error that poisoned it is the one worth reporting.
 */
export function freeQuietly(o: { free?(): void }): void {
  try {
    o.free?.();
  } catch {
    // the object is unusable either way; the caller reports the error that caused it
  }
}

/** Largest chunk, in steps. */
export const MAX_CHUNK = 1 << 24;

/**
 * Sizes the chunks of a run from measured wall time, so that each takes about `target`
 * milliseconds. The cost of a step is the larger of the last chunk's average and the average over
 * the last few chunks: steps of unequal cost (a curvature sample every k steps, a Lanczos solve
 * worth hundreds of plain steps) then do not make a chunk that happened to hold only cheap steps
 * grow 4x into one that holds several expensive ones. A size grows or shrinks by at most 4x per
 * chunk.
 */
export class ChunkSizer {
  #n: number;
  readonly #target: number;
  readonly #window: { units: number; ms: number }[] = [];

  constructor(targetMillis: number, first = 1) {
    this.#target = targetMillis;
    this.#n = Math.min(MAX_CHUNK, Math.max(1, Math.floor(first)));
  }

  /** The size of the next chunk. */
  get size(): number {
    return this.#n;
  }

  /**
   * Work worth about `units` units took `ms` milliseconds, outside a chunk (the evaluation of
   * step 0, which with curvature tracking is a Lanczos solve): counted in the average that sizes
   * later chunks, without changing the size of the next one.
   */
  observe(units: number, ms: number): void {
    this.#window.push({ units, ms });
    if (this.#window.length > 8) this.#window.shift();
  }

  /** A chunk asked for `asked` units took `taken` of them in `ms` milliseconds. */
  record(asked: number, taken: number, ms: number): void {
    if (taken <= 0) return;
    this.#window.push({ units: taken, ms });
    if (this.#window.length > 8) this.#window.shift();
    if (taken < asked) return; // the run ended (or diverged) within the chunk: nothing learned
    let units = 0;
    let total = 0;
    for (const w of this.#window) {
      units += w.units;
      total += w.ms;
    }
    const perUnit = Math.max(ms / taken, total / units);
    const n = this.#n;
    const ideal = perUnit > 0 ? this.#target / perUnit : n * 4;
    this.#n = Math.min(MAX_CHUNK, Math.max(1, Math.floor(n / 4), Math.min(n * 4, Math.floor(ideal))));
  }
}
