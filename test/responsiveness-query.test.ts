// Issue 10: the event loop keeps running during a long curvature query, on both backends (native:
// chunks on the libuv thread pool; wasm: chunks of about 50 ms with the loop running between).
// Measures the largest gap between 10 ms timer ticks during a density query of several seconds,
// stopped by its AbortSignal after RUN_MS. The figures are printed (and quoted in
// docs/curvature.md with the machine).
import { describe, expect, it } from 'vitest';

import { QueryCancelledError, Run } from 'autobalance';

import { BACKEND } from './helpers.js';
import { RESPONSIVE_DENSITY, bigSpec } from './query-helpers.js';

const RUN_MS = 3000;
const MAX_GAP_MS = 250;

describe(`event loop during a long query on ${BACKEND}`, () => {
  it(`the largest timer gap stays below ${MAX_GAP_MS} ms`, async () => {
    const run = await Run.create(bigSpec(), { backend: BACKEND });
    const controller = new AbortController();
    const gaps: number[] = [];
    let last = performance.now();
    const tick = setInterval(() => {
      const t = performance.now();
      gaps.push(t - last);
      last = t;
    }, 10);
    setTimeout(() => controller.abort(), RUN_MS);
    const t0 = performance.now();
    last = t0;
    const err = await run.hessian(RESPONSIVE_DENSITY, { signal: controller.signal }).then(
      () => null,
      (e: unknown) => e,
    );
    const total = performance.now() - t0;
    clearInterval(tick);
    run.dispose();
    expect(err).toBeInstanceOf(QueryCancelledError);
    const sorted = [...gaps].sort((a, b) => a - b);
    const max = sorted[sorted.length - 1] ?? Infinity;
    const p99 = sorted[Math.floor(0.99 * (sorted.length - 1))] ?? Infinity;
    console.log(
      `[responsiveness-query] ${BACKEND}: density query stopped after ${total.toFixed(0)} ms (abort at ${RUN_MS} ms, ${(err as QueryCancelledError).units} units); ` +
        `${gaps.length} ticks of 10 ms, max gap ${max.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`,
    );
    expect(gaps.length).toBeGreaterThan(RUN_MS / MAX_GAP_MS);
    expect(max).toBeLessThan(MAX_GAP_MS);
    expect(total).toBeLessThan(RUN_MS + 1000);
  });
});
