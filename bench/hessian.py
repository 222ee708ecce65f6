"""SciPy peer of the Hessian lambda_min benchmark (issue 4), driven by bench/hessian.mjs.

  python hessian.py PROBLEM_FILE [--tol 1e-8] [--reps 3]

PROBLEM_FILE is written by the Rust example (crates/core/examples/hessian.rs --write): d1, d2, r
as f64, then M* (d1 x d2), U (d1 x r), V (d2 x r), row-major little-endian f64. The loss is
f(U, V) = 1/2 ||U V^T - M*||_F^2; its Hessian-vector product, with R = U V^T - M*,

  H[dU, dV] = (R dV + dU V^T V + U dV^T V,  R^T dU + dV U^T U + V dU^T U),

is a NumPy function wrapped in a scipy.sparse.linalg.LinearOperator (R and the Gram matrices are
formed once per point, outside the timing, which favours SciPy). eigsh(k=1, which='SA') gives
the smallest algebraic eigenvalue; ARPACK stops when ||H x - theta x|| <= tol |theta|.
The residual actually reached is measured with one more HVP and reported relative to |theta|
and to the spectral scale max|lambda| (the Rust side's convention), so both sides are compared
on the same measure. Prints one JSON object.
"""

import json
import sys
import time

import numpy as np
import scipy
from scipy.sparse.linalg import LinearOperator, eigsh


def main():
    path = sys.argv[1]
    args = sys.argv[2:]
    tol = float(args[args.index("--tol") + 1]) if "--tol" in args else 1e-8
    reps = int(args[args.index("--reps") + 1]) if "--reps" in args else 3
    raw = np.fromfile(path, dtype="<f8")
    d1, d2, r = (int(x) for x in raw[:3])
    o = 3
    M = raw[o : o + d1 * d2].reshape(d1, d2)
    o += d1 * d2
    U = raw[o : o + d1 * r].reshape(d1, r)
    o += d1 * r
    V = raw[o : o + d2 * r].reshape(d2, r)
    n = (d1 + d2) * r

    t0 = time.perf_counter()
    R = U @ V.T - M
    UtU = U.T @ U
    VtV = V.T @ V
    setup_ms = (time.perf_counter() - t0) * 1e3
    count = [0]

    def hvp(x):
        count[0] += 1
        x = np.asarray(x).reshape(-1)
        dU = x[: d1 * r].reshape(d1, r)
        dV = x[d1 * r :].reshape(d2, r)
        hu = R @ dV + dU @ VtV + U @ (dV.T @ V)
        hv = R.T @ dU + dV @ UtU + V @ (dU.T @ U)
        return np.concatenate([hu.reshape(-1), hv.reshape(-1)])

    op = LinearOperator((n, n), matvec=hvp, dtype=np.float64)
    x = np.cos(np.arange(n))
    t0 = time.perf_counter()
    for _ in range(20):
        hvp(x)
    hvp_ms = (time.perf_counter() - t0) * 1e3 / 20

    times = []
    for rep in range(reps):
        v0 = np.random.default_rng(rep).standard_normal(n)
        count[0] = 0
        t0 = time.perf_counter()
        vals, vecs = eigsh(op, k=1, which="SA", tol=tol, v0=v0, maxiter=100000)
        times.append((time.perf_counter() - t0) * 1e3)
        hvps = count[0]
    lam = float(vals[0])
    vec = vecs[:, 0] / np.linalg.norm(vecs[:, 0])
    res = float(np.linalg.norm(hvp(vec) - lam * vec))
    # Spectral scale for the Rust convention: lambda_max (quick, untimed).
    lmax = float(eigsh(op, k=1, which="LA", tol=1e-6, return_eigenvectors=False)[0])
    scale = max(abs(lam), abs(lmax))
    times.sort()
    print(
        json.dumps(
            {
                "scipy": scipy.__version__,
                "numpy": np.__version__,
                "dim": n,
                "tol": tol,
                "setupMs": setup_ms,
                "hvpMs": hvp_ms,
                "ms": times[len(times) // 2],
                "msAll": times,
                "lambdaMin": lam,
                "residual": res,
                "relResidualTheta": res / abs(lam),
                "relResidual": res / scale,
                "scale": scale,
                "hvps": hvps,
            }
        )
    )


if __name__ == "__main__":
    main()
