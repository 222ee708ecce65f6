"""PyTorch + SciPy peer of the network Hessian benchmark, driven by bench/hessian_net.mjs.

  python hessian_net_torch.py PROBLEM_FILE [--threads N] [--probes P] [--tol T] [--reps R]

PROBLEM_FILE (written from the native session, little-endian f64): m, d_in, n1, n2, n3, K; then
X (m x d_in), Y (m x n3), W1 (n1 x d_in), W2 (n2 x n1), W3 (n3 x n2) row-major (the trained
point); then the check data: v (dim), our H v (dim), our K eigenvalues, our K unit eigenvectors
(dim each), our eigenvalues of the W3 block (n3 n2, ascending). The parameter vector is
(W1, W2, W3) row-major, the core's order.

  loss(W) = 1/(2m) ||relu(relu(X W1^T) W2^T) W3^T - Y||_F^2     (float64, CPU)

HVPs, each timed per product (median of `reps` batches of `probes` products on random vectors):
  - func:  torch.func forward-over-reverse, jvp(grad(loss)), a fresh forward pass per product
           (what ours does: the R-operator recomputes the forward pass per HVP);
  - twice: torch.autograd.grad twice (grad with create_graph, then grad of <g, v>), fresh
           forward pass per product;
  - reuse: the gradient graph built once (create_graph=True, outside the timing, reported as
           gradGraphMs) and only the second backward per product (retain_graph=True). This
           favours PyTorch the way precomputing R favoured SciPy in bench/hessian.py.
ReLU'(0) = 0 on both sides (torch's relu backward; the core's convention).

lambda_min / lambda_max: scipy.sparse.linalg.eigsh (ARPACK, implicitly restarted Lanczos) on a
LinearOperator wrapping the fastest HVP, timed two ways: 'SA+LA' (two calls, k=1 each) and 'BE'
(one call, k=2: one pair from each end). tol as given. Tolerance semantics differ: ARPACK stops
when ||H x - theta x|| <= tol |theta| for each Ritz value theta (relative to that eigenvalue),
ours when the true residual <= tol * max|Ritz value| (relative to the spectral scale), confirmed
by one extra HVP per pair. So for lambda_min with |lambda_min| << lambda_max ARPACK asks more;
both are reported as residual / |lambda| measured with one more torch HVP (untimed).
Prints one JSON object.
"""

import json
import os
import resource
import sys
import time

import numpy as np
import scipy
import torch
from scipy.sparse.linalg import LinearOperator, eigsh


def arg(name, default, cast):
    return cast(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def checks(v_chk, hv_ours, pair_vals, pair_vecs, block_ours, hvp_reuse, g_graph, wg, n2, n3, npairs):
    hv_t = hvp_reuse(torch.from_numpy(v_chk)).numpy()
    hv_rel = float(np.linalg.norm(hv_t - hv_ours) / np.linalg.norm(hv_t))
    pair_res = [
        float(np.linalg.norm(hvp_reuse(torch.from_numpy(pair_vecs[i].copy())).numpy() - pair_vals[i] * pair_vecs[i]))
        for i in range(npairs)
    ]
    # The W3 block of H, column by column (HVPs with unit vectors in W3, W3 part kept).
    nb = n3 * n2
    hb = np.empty((nb, nb))
    for j in range(nb):
        e = torch.zeros(nb, dtype=torch.float64)
        e[j] = 1.0
        hb[:, j] = torch.autograd.grad(g_graph[2], wg[2], grad_outputs=e.view(n3, n2), retain_graph=True)[0].reshape(-1).numpy()
    block = np.linalg.eigvalsh(0.5 * (hb + hb.T))
    block_scale = float(np.max(np.abs(block)))
    block_diff = float(np.max(np.abs(np.sort(block_ours) - block)))
    return {
        "hvpRel": hv_rel,
        "hvpNorm": float(np.linalg.norm(hv_t)),
        "pairResiduals": pair_res,
        "blockMaxDiff": block_diff,
        "blockScale": block_scale,
    }


def main():
    path = sys.argv[1]
    threads = arg("--threads", os.cpu_count(), int)
    probes = arg("--probes", 40, int)
    tol = arg("--tol", 1e-8, float)
    reps = arg("--reps", 3, int)
    torch.set_num_threads(threads)
    raw = np.fromfile(path, dtype="<f8")
    m, d, n1, n2, n3, npairs = (int(x) for x in raw[:6])
    off = 6

    def take(*shape):
        nonlocal off
        k = int(np.prod(shape))
        a = raw[off : off + k].reshape(shape)
        off += k
        return a.copy()

    x = torch.from_numpy(take(m, d))
    y = torch.from_numpy(take(m, n3))
    shapes = [(n1, d), (n2, n1), (n3, n2)]
    ws = [torch.from_numpy(take(*s)) for s in shapes]
    sizes = [a * b for a, b in shapes]
    dim = sum(sizes)
    v_chk = take(dim)
    hv_ours = take(dim)
    pair_vals = take(npairs)
    pair_vecs = take(npairs, dim)
    block_ours = take(n3 * n2)
    assert off == raw.size

    def loss_of(w1, w2, w3):
        h = torch.relu(x @ w1.T)
        h = torch.relu(h @ w2.T)
        return 0.5 / m * ((h @ w3.T - y) ** 2).sum()

    def split(v):
        out, o = [], 0
        for s, k in zip(shapes, sizes):
            out.append(v[o : o + k].view(s))
            o += k
        return out

    def flat(ts):
        return torch.cat([t.reshape(-1) for t in ts])

    grad_fn = torch.func.grad(lambda w: loss_of(*w))

    def hvp_func(v):
        return flat(torch.func.jvp(grad_fn, (tuple(ws),), (tuple(split(v)),))[1])

    def hvp_twice(v):
        wr = [w.detach().requires_grad_(True) for w in ws]
        g = torch.autograd.grad(loss_of(*wr), wr, create_graph=True)
        return flat(torch.autograd.grad(g, wr, grad_outputs=split(v)))

    wg = [w.detach().requires_grad_(True) for w in ws]
    t0 = time.perf_counter()
    g_graph = torch.autograd.grad(loss_of(*wg), wg, create_graph=True)
    grad_graph_ms = (time.perf_counter() - t0) * 1e3

    def hvp_reuse(v):
        return flat(torch.autograd.grad(g_graph, wg, grad_outputs=split(v), retain_graph=True))

    def time_hvp(fn):
        gen = torch.Generator().manual_seed(0)
        vs = [torch.randn(dim, dtype=torch.float64, generator=gen) for _ in range(probes)]
        with torch.no_grad() if fn is hvp_func else torch.enable_grad():
            fn(vs[0])  # warm-up
        per = []
        for _ in range(reps):
            t0 = time.perf_counter()
            for v in vs:
                fn(v)
            per.append((time.perf_counter() - t0) * 1e3 / probes)
        return float(np.min(per)), per

    hvp_ms = {}
    hvp_all = {}
    for name, fn in (("func", hvp_func), ("twice", hvp_twice), ("reuse", hvp_reuse)):
        hvp_ms[name], hvp_all[name] = time_hvp(fn)
    fastest = min(hvp_ms, key=hvp_ms.get)
    hvp = {"func": hvp_func, "twice": hvp_twice, "reuse": hvp_reuse}[fastest]

    # Agreement of the three torch HVPs among themselves, on one random vector.
    vr = torch.randn(dim, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    a, b, c = hvp_func(vr), hvp_twice(vr), hvp_reuse(vr)
    torch_self = float(max((a - c).norm(), (b - c).norm()) / c.norm())

    count = [0]

    def matvec(v):
        count[0] += 1
        return hvp(torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64).reshape(-1))).numpy()

    op = LinearOperator((dim, dim), matvec=matvec, dtype=np.float64)

    def residual(lam, vec):
        vec = vec / np.linalg.norm(vec)
        return float(np.linalg.norm(matvec(vec) - lam * vec))

    runs = {}
    for name in ("SA+LA", "BE"):
        times = []
        for rep in range(reps):
            v0 = np.random.default_rng(rep).standard_normal(dim)
            count[0] = 0
            t0 = time.perf_counter()
            if name == "BE":
                vals, vecs = eigsh(op, k=2, which="BE", tol=tol, v0=v0, maxiter=100000)
                order = np.argsort(vals)
                lmin, lmax = vals[order[0]], vals[order[1]]
                xmin, xmax = vecs[:, order[0]], vecs[:, order[1]]
            else:
                vmin, xs_min = eigsh(op, k=1, which="SA", tol=tol, v0=v0, maxiter=100000)
                vmax, xs_max = eigsh(op, k=1, which="LA", tol=tol, v0=v0, maxiter=100000)
                lmin, lmax, xmin, xmax = vmin[0], vmax[0], xs_min[:, 0], xs_max[:, 0]
            times.append((time.perf_counter() - t0) * 1e3)
            hvps = count[0]
        runs[name] = {
            "ms": float(np.min(times)),
            "msAll": times,
            "hvps": hvps,
            "lambdaMin": float(lmin),
            "lambdaMax": float(lmax),
            "relResMin": residual(lmin, xmin) / abs(lmin),
            "relResMax": residual(lmax, xmax) / abs(lmax),
        }
    best_name = min(runs, key=lambda k: runs[k]["ms"])

    if "--no-check" in sys.argv:
        check = None
    else:
        check = checks(v_chk, hv_ours, pair_vals, pair_vecs, block_ours, hvp_reuse, g_graph, wg, n2, n3, npairs)
    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "scipy": scipy.__version__,
                "numpy": np.__version__,
                "threads": torch.get_num_threads(),
                "dim": dim,
                "hvpMs": min(hvp_ms["func"], hvp_ms["twice"]),
                "hvpReuseMs": hvp_ms["reuse"],
                "hvpMsByKind": hvp_ms,
                "hvpMsAll": hvp_all,
                "gradGraphMs": grad_graph_ms,
                "eigshHvp": fastest,
                "torchSelfAgreement": torch_self,
                "eigsh": {"runs": runs, "bestName": best_name, "best": runs[best_name]},
                "ompWaitPolicy": os.environ.get("OMP_WAIT_POLICY"),
                # peak RSS of this Python process (KiB on Linux), the peer's memory
                "maxRssKiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "check": check,
            }
        )
    )


if __name__ == "__main__":
    main()
