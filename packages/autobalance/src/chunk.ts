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
