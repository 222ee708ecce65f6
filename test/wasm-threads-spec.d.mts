import type { RunSpec } from 'autobalance';

/** The parity tests' matrix-factorization run (300 x 200, rank 20) of `steps` steps. */
export function mfSpec(steps: number): RunSpec;
