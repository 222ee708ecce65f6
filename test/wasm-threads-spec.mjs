// The matrix-factorization run of the threaded wasm module's parity tests, shared by
// test/wasm-threads.test.ts and its child process test/wasm-threads-child.mjs: large enough for the
// parallel path (6 d1 d2 r = 7.2e6 >= 2e6 flops per step, `par::SEQUENTIAL_BELOW_FLOPS`).
export function mfSpec(steps) {
  return {
    model: { kind: 'matrixFactorization', d1: 300, d2: 200, rank: 20 },
    target: { kind: 'random', singularValues: Array.from({ length: 20 }, (_, i) => 20 - i), seed: 1 },
    init: { kind: 'gaussian', stdU: 0.05, stdV: 0.05, seed: 2 },
    schedule: { kind: 'constant', eta: 0.002 },
    steps,
    recordEvery: 1,
  };
}
