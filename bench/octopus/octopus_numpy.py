"""Peer of bench/octopus/octopus.mjs: plain float64 gradient descent on the octopus function
(Du 2019, thesis ch. 7; REFERENCE.md section 3 "Ch.7"; docs/octopus.md), the same loop the core
runs per step in float mode:

  domain check (leading |x_j| <= 6 tau, trailing <= tau), region (first |x_i| < 2 tau), loss and
  gradient by the region's formulas, x <- x + (-eta) g, then the escape / underflow tracking
  (saddle index, first iteration each saddle was left, first exact 0 of a coordinate that was
  nonzero).

Two implementations of the same formulas and the same element-wise arithmetic (so the iterates
are those of the core to rounding: checked by the driver):
  numpy:  vectorized over the coordinates (np.abs, argmax, slices, where); the one branch on the
          region is scalar.
  python: a plain Python loop over the coordinates with floats (no NumPy), for comparison: at
          d = 5 or 10 NumPy's per-call overhead dominates.

Usage: python octopus_numpy.py < job.json > result.json, with job
  {"impl": "numpy"|"python", "d", "L", "gamma", "tau", "eta", "x0": [...], "steps": N,
   "what": "check" | "time", "minSeconds": S}
check: the iterates of steps 1..N (row-major), the escape iterations and underflow iteration;
time: the trajectory of N steps from x0 repeated until >= minSeconds, returns seconds per
trajectory (best of the calibrated repetitions is NOT taken: one timed batch), the final point.
"""

import json
import math
import sys
import time

import numpy as np


class Octopus:
    def __init__(self, d, L, gamma, tau):
        self.d, self.L, self.gamma, self.tau = d, L, gamma, tau
        self.nu = 4.0 * L * tau * tau + 13.0 / 6.0 * (L + gamma) * tau * tau
        self.a = (10.0 * gamma - 14.0 * L) / (3.0 * tau)
        self.b = (10.0 * L - 6.0 * gamma) / (4.0 * tau * tau)

    # The spline pieces, as in crates/core/src/model/octopus/pieces.rs (same operation order).
    def g1(self, x):
        g, t = self.gamma, self.tau
        s = x - t
        return -g * t * t + s * (-2.0 * g * t + s * (-g + s * (self.a + s * self.b)))

    def g1p(self, x):
        g, t = self.gamma, self.tau
        s = x - t
        return -2.0 * g * t + s * (-2.0 * g + s * (3.0 * self.a + s * 4.0 * self.b))

    def g2(self, x):
        c = self.L + self.gamma
        u = (x - 2.0 * self.tau) / self.tau
        return -self.gamma - c * u * u * u * (10.0 + u * (15.0 + 6.0 * u))

    def g2p(self, x):
        c = self.L + self.gamma
        u = (x - 2.0 * self.tau) / self.tau
        v = u * (1.0 + u)
        return -30.0 * c / self.tau * v * v


def run_numpy(p, x0, eta, steps, keep=False):
    """steps GD iterations from x0, vectorized. Returns (x, escapes, underflow, iterates)."""
    d, L, gamma, tau = p.d, p.L, p.gamma, p.tau
    two, four, six = 2.0 * tau, 4.0 * tau, 6.0 * tau
    l2 = 2.0 * L
    neta = -eta
    x = np.array(x0, dtype=np.float64)
    g = np.empty(d)
    y = np.empty(d)
    escapes = [None] * d
    nonzero_since = np.full(d, np.iinfo(np.int64).max, dtype=np.int64)
    underflow = None
    out = np.empty((steps, d)) if keep else None
    idx = np.arange(d)

    def track(t, x):
        nonlocal underflow
        y = np.abs(x)
        small = y < two
        i = int(np.argmax(small)) if small.any() else d
        if (y[:i] > six).any() or (y[i + 1:] > tau).any():
            return
        for k in range(i):  # saddle k + 1 left when the index exceeds it
            if escapes[k] is None:
                escapes[k] = t
        nz = x != 0.0
        np.minimum(nonzero_since, np.where(nz, t, nonzero_since), out=nonzero_since)
        if underflow is None and ((~nz) & (nonzero_since < t)).any():
            underflow = t

    track(0, x)
    loss = 0.0
    for t in range(1, steps + 1):
        np.abs(x, out=y)
        small = y < two
        i = int(np.argmax(small)) if small.any() else d
        if (y[:i] > six).any() or (y[i + 1:] > tau).any() or not np.isfinite(x).all():
            raise RuntimeError(f"left the domain D at step {t}")
        s = np.where(np.signbit(x), -1.0, 1.0)
        # leading: L (y - 4 tau)^2, gradient s 2 L (y - 4 tau)
        e = y[:i] - four
        f = L * np.dot(e, e)
        g[:i] = s[:i] * (l2 * e)
        # trailing (and i + 1 outside the spline phase): L x^2, gradient 2 L x
        g[i:] = l2 * x[i:]
        f += L * np.dot(x[i + 1:], x[i + 1:])
        if i < d:
            yi = y[i]
            if yi <= tau:
                f -= gamma * x[i] * x[i]
                g[i] = -2.0 * gamma * x[i]
            else:
                f += p.g1(yi)
                gy = p.g1p(yi)
                if i + 1 < d:
                    z = x[i + 1]
                    g2 = p.g2(yi)
                    f += g2 * z * z - L * z * z
                    gy += p.g2p(yi) * z * z
                    g[i + 1] = 2.0 * g2 * z
                g[i] = s[i] * gy
        loss = f - i * p.nu
        x += neta * g
        track(t, x)
        if keep:
            out[t - 1] = x
    del idx
    return x, escapes, underflow, out, loss


def run_python(p, x0, eta, steps, keep=False):
    """The same in plain Python floats, one coordinate at a time."""
    d, L, gamma, tau = p.d, p.L, p.gamma, p.tau
    two, four, six = 2.0 * tau, 4.0 * tau, 6.0 * tau
    l2 = 2.0 * L
    neta = -eta
    x = [float(v) for v in x0]
    g = [0.0] * d
    escapes = [None] * d
    big = 1 << 62
    nonzero_since = [big] * d
    underflow = None
    out = [] if keep else None

    def region(x):
        for j in range(d):
            if abs(x[j]) < two:
                return j
        return d

    def in_domain(x, i):
        for j in range(d):
            a = abs(x[j])
            if (j < i and a > six) or (j > i and a > tau):
                return False
        return True

    def track(t, x):
        nonlocal underflow
        i = region(x)
        if not in_domain(x, i):
            return
        for k in range(i):
            if escapes[k] is None:
                escapes[k] = t
        for j in range(d):
            if x[j] != 0.0:
                if t < nonzero_since[j]:
                    nonzero_since[j] = t
            elif nonzero_since[j] < t and underflow is None:
                underflow = t

    track(0, x)
    loss = 0.0
    for t in range(1, steps + 1):
        for v in x:
            if not math.isfinite(v):
                raise RuntimeError(f"not finite at step {t}")
        i = region(x)
        if not in_domain(x, i):
            raise RuntimeError(f"left the domain D at step {t}")
        f = 0.0
        spline = i < d and abs(x[i]) > tau
        for j in range(d):
            v = x[j]
            yv = abs(v)
            s = -1.0 if math.copysign(1.0, v) < 0 else 1.0
            if j < i:
                e = yv - four
                f += L * e * e
                g[j] = s * (l2 * e)
            elif j == i:
                if not spline:
                    f -= gamma * v * v
                    g[j] = -2.0 * gamma * v
                else:
                    f += p.g1(yv)
                    gy = p.g1p(yv)
                    if j + 1 < d:
                        z = x[j + 1]
                        f += p.g2(yv) * z * z
                        gy += p.g2p(yv) * z * z
                    g[j] = s * gy
            elif j == i + 1 and spline:
                g[j] = 2.0 * p.g2(abs(x[i])) * v
            else:
                f += L * v * v
                g[j] = l2 * v
        loss = f - i * p.nu
        for j in range(d):
            x[j] += neta * g[j]
        track(t, x)
        if keep:
            out.append(list(x))
    return np.array(x), escapes, underflow, (np.array(out) if keep else None), loss


def main():
    job = json.load(sys.stdin)
    p = Octopus(job["d"], job["L"], job.get("gamma", 1.0), job.get("tau", math.e))
    run = run_numpy if job["impl"] == "numpy" else run_python
    eta, steps, x0 = job["eta"], job["steps"], job["x0"]
    if job["what"] == "check":
        x, esc, uf, out, _ = run(p, x0, eta, steps, keep=True)
        json.dump({"iterates": out.ravel().tolist(), "escapes": esc, "underflowAt": uf}, sys.stdout)
        return
    # time: warm up with one short trajectory, then repeat the N-step trajectory from x0 until
    # the batch takes >= minSeconds (the count is found by doubling, then one timed batch).
    run(p, x0, eta, min(steps, 200))
    reps = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(reps):
            x, esc, uf, _, loss = run(p, x0, eta, steps)
        el = time.perf_counter() - t0
        if el >= job["minSeconds"] or reps >= 1 << 20:
            break
        reps = max(reps * 2, int(math.ceil(reps * job["minSeconds"] / max(el, 1e-9) * 1.05)))
    json.dump({"seconds": el / reps, "reps": reps, "x": x.tolist(), "escapes": esc,
               "underflowAt": uf, "loss": loss, "numpy": np.__version__,
               "python": sys.version.split()[0]}, sys.stdout)


if __name__ == "__main__":
    main()
