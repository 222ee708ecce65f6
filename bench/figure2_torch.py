"""PyTorch peer of the Figure 2 timing (Du, Hu & Lee 2018): the same GD loop on the same data.

  python figure2_torch.py PROBLEM_FILE [--threads N]

PROBLEM_FILE is written by bench/figure2.mjs from the native session: m, d_in, n1, n2, n3, steps,
eta as f64, then X (m x d_in), Y (m x n3), W1 (n1 x d_in), W2 (n2 x n1), W3 (n3 x n2), row-major
little-endian f64. The loop is the plain PyTorch one, float64 on the CPU, autograd:

  loss = 1/(2m) ||relu(relu(X W1^T) W2^T) W3^T - Y||_F^2 ;  loss.backward() ;  W -= eta W.grad

Prints one JSON object: seconds, ms per step, final loss and squared layer norms.
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
    m, d, n1, n2, n3, steps = (int(x) for x in raw[:6])
    eta = float(raw[6])
    off = 7

    def take(r, c):
        nonlocal off
        a = raw[off : off + r * c].reshape(r, c)
        off += r * c
        return torch.from_numpy(a.copy())

    x = take(m, d)
    y = take(m, n3)
    ws = [take(n1, d), take(n2, n1), take(n3, n2)]
    for w in ws:
        w.requires_grad_(True)
    assert off == raw.size

    def loss_fn():
        h = torch.relu(x @ ws[0].T)
        h = torch.relu(h @ ws[1].T)
        f = h @ ws[2].T
        return 0.5 / m * ((f - y) ** 2).sum()

    # Warm-up step excluded from the timing (allocator, thread pool), then `steps` timed steps.
    first = None
    t0 = None
    for k in range(steps + 1):
        if k == 1:
            t0 = time.perf_counter()
        loss = loss_fn()
        if first is None:
            first = float(loss)
        loss.backward()
        with torch.no_grad():
            for w in ws:
                w -= eta * w.grad
                w.grad = None
    secs = time.perf_counter() - t0
    with torch.no_grad():
        final = float(loss_fn())
        norms = [float((w * w).sum()) for w in ws]
    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "threads": threads,
                "steps": steps,
                "seconds": secs,
                "msPerStep": 1e3 * secs / steps,
                "firstLoss": first,
                "finalLoss": final,
                "normSq": norms,
            }
        )
    )


if __name__ == "__main__":
    main()
