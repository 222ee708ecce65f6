// Shared by the query cancellation and responsiveness tests (issue 10).
import type { MatrixFactorizationRunSpec } from 'autobalance';

/** dim 5000: a density query with many probes and steps takes seconds. */
export function bigSpec(): MatrixFactorizationRunSpec {
  return {
    model: { kind: 'matrixFactorization', d1: 300, d2: 200, rank: 10 },
    target: { kind: 'random', singularValues: [10, 9, 8, 7, 6, 5, 4, 3, 2, 1], seed: 3 },
    init: { kind: 'gaussian', stdU: 0.01, stdV: 0.01, seed: 4 },
    schedule: { kind: 'constant', eta: 0.01 },
    steps: 0,
  };
}

/** A density query of many seconds on either backend (far more than the tests wait). */
export const LONG_DENSITY = { what: 'density', probes: 2000, lanczosSteps: 400 } as const;


/**
 * The density query of the responsiveness test: many probes of 120 steps (the smallest chunk of
 * a density query is one Lanczos step; the end of each probe adds its O(steps^2) quadrature).
 */
export const RESPONSIVE_DENSITY = { what: 'density', probes: 20000, lanczosSteps: 120 } as const;
