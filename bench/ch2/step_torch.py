"""PyTorch peer of the Figure 2.1 GD step (Du 2019 thesis, ch. 2): the same GD on the same data.

  python step_torch.py PROBLEM_FILE [--threads N]

PROBLEM_FILE is written by bench/ch2/step.mjs from the native session: n, d, m, steps as f64,
eta, then X (n x d), y (n), W0 (m x d), a (m), row-major little-endian f64. The step is written by
hand (no autograd: the gradient of the sum loss is two GEMMs, as in the core), float64 on the CPU:

  Z = X W^T ; u = relu(Z) a / sqrt(m) ; M = 1{Z > 0} * (u - y) a^T / sqrt(m) ; W -= eta M^T X

Also times a 2000^3 float64 matmul (this machine's GEMM peak as torch reaches it). Prints one
JSON object.
"""

import json
import os
import sys
import time

import numpy as np
import torch


def main():
    path = sys.argv[1]
    threads = os.cpu_count()
    if "--threads" in sys.argv:
        threads = int(sys.argv[sys.argv.index("--threads") + 1])
    torch.set_num_threads(threads)
    raw = np.fromfile(path, dtype="<f8")
    n, d, m, steps = (int(v) for v in raw[:4])
    eta = float(raw[4])
    off = 5

    def take(r, c):
        nonlocal off
        a = raw[off : off + r * c].reshape(r, c)
        off += r * c
        return torch.from_numpy(a.copy())

    x = take(n, d)
    y = take(n, 1)[:, 0]
    w = take(m, d)
    a = take(m, 1)[:, 0]
    s = 1.0 / np.sqrt(m)

    def step(w):
        z = x @ w.T
        u = torch.relu(z) @ a * s
        r = u - y
        mm = (z > 0).to(torch.float64) * (r[:, None] * (a[None, :] * s))
        return w - eta * (mm.T @ x), 0.5 * float(r @ r)

    # Warm-up step (not timed), then `steps` timed steps from W0 again.
    step(w)
    t0 = time.perf_counter()
    cur = w
    losses = []
    for _ in range(steps):
        cur, l = step(cur)
        losses.append(l)
    dt = time.perf_counter() - t0
    z = x @ cur.T
    u = torch.relu(z) @ a * s
    final = 0.5 * float((u - y) @ (u - y))

    # GEMM peak as torch reaches it on this machine.
    g = torch.randn(2000, 2000, dtype=torch.float64)
    h = torch.randn(2000, 2000, dtype=torch.float64)
    g @ h
    reps = 5
    t1 = time.perf_counter()
    for _ in range(reps):
        g @ h
    gemm = (time.perf_counter() - t1) / reps
    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "threads": threads,
                "blas": "MKL" if torch.backends.mkl.is_available() else "not MKL",
                "seconds": dt,
                "msPerStep": 1e3 * dt / steps,
                "lossFirst": losses[0],
                "lossFinal": final,
                "gemm2000Seconds": gemm,
                "gemm2000Gflops": 2 * 2000**3 / gemm / 1e9,
            }
        )
    )


if __name__ == "__main__":
    main()
