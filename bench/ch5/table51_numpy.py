"""Table 5.1 (Du 2019 thesis, ch. 5) in NumPy: the bench peer of the `table51` preset, and an
independent oracle of the weightNormCnn family (bench/ch5/README.md).

The same computation as the core's sweep: for each cell (k, r) of the table, `seeds` runs of
Algorithm 1 (plain GD on (v, a), simultaneous updates) on the population loss of Theorem 5.1,
from Theorem 5.4's initialization (v uniform on the sphere of radius vNorm, a uniform in the
ball B(0, |1^T a*| ||w*|| / sqrt(k))), teacher a* = ||a*|| (sqrt(r/k) e + sqrt(1 - r/k) u), every
iterate classified by the absorbing regions (the family's rule, ported: `classify_core`), the
outcome and its deciding iteration kept. Vectorized over the runs of a cell (arrays N x p and
N x k). With `earlyStop` decided runs are dropped at their deciding iterate (the core's
`model.stopWhenDecided`: the driver passes what the core does, so both do the same work). The
outcome is the union of the two rules below, as the core's `Regions::classify`.

A second, independently derived pair of absorbing regions (`classify_alt`, the (alpha, beta)
decomposition of docs/spurious-minima.md) classifies the same iterates: the two must give the
same outcome on every run both decide.

Modes (JSON on stdin, JSON on stdout):
  {"mode": "table", "K": [...], "R": [...], "seeds": N, "p": 6, "eta": 0.05, "steps": 3000,
   "aNorm": 0.55, "vNorm": 1, "earlyStop": false, "seed": 0}
      -> {"cells": [{"k", "r", "global", "spurious", "undecided", "decidedMax", "altAgree",
          "altDecided"}], "seconds": wall time of the computation}
  {"mode": "points", "runs": [{"wStar": [...], "aStar": [...], "v0": [...], "a0": [...]}],
   "eta": ..., "steps": ...}
      -> {"runs": [{"outcome", "decidedAt", "finalLoss", "finalPhi"}]}
"""

import json
import sys
import time

import numpy as np

PI = np.pi


def g_of(phi):
    return (PI - phi) * np.cos(phi) + np.sin(phi)


class Teacher:
    def __init__(self, w_star, a_star):
        self.ws = np.asarray(w_star, dtype=float)
        self.s = float(np.linalg.norm(self.ws))
        self.wh = self.ws / self.s
        self.a = np.asarray(a_star, dtype=float)
        self.k = len(self.a)
        self.S = float(self.a.sum())
        self.A2 = float(self.a @ self.a)
        self.b = self.s * self.a  # the second layer at the global minimum
        # The core's regions (crates/core/src/model/wncnn/mod.rs, Regions).
        self.kappa = (self.k + PI - 1.0) / (2.0 * PI)
        self.sa2 = self.s * self.A2
        self.e_max = PI * self.s * self.S * self.S / (self.k + PI - 1.0)
        # The alternative regions: phi_thr and the (alpha, beta) bounds.
        k, S, A2 = self.k, self.S, self.A2
        c = S * S / k

        def q_eq(phi):
            gg = g_of(phi)
            return (k + gg - 1.0) / (k + PI - 1.0) * c + (gg - 1.0) / (PI - 1.0) * (A2 - c)

        if q_eq(PI) >= 0.0:
            t = PI
        else:
            lo, hi = 0.0, PI
            for _ in range(200):
                mid = 0.5 * (lo + hi)
                if q_eq(mid) > 0.0:
                    lo = mid
                else:
                    hi = mid
            t = 0.5 * (lo + hi)
        self.phi_thr = t
        gt = g_of(t)
        self.c1 = self.s * (k + gt - 1.0) / (k + PI - 1.0) * c
        self.c2 = self.s * (gt - 1.0) / (PI - 1.0) * (A2 - c)
        self.tol = 1e-12 * self.s * A2


def state(T, V, A):
    """||v||^2, phi (atan2 of the rejection and the projection), q, 1^T a."""
    n2 = np.einsum("ij,ij->i", V, V)
    proj = V @ T.wh
    rej = np.sqrt(np.maximum(n2 - proj * proj, 0.0))
    phi = np.arctan2(rej, proj)
    return n2, phi, A @ T.a, A.sum(axis=1)


def classify_core(T, n2, phi, q, suma, eta):
    """The family's rule (Regions::classify), vectorized: +1 global, -1 spurious, 0 neither."""
    out = np.zeros(len(phi), dtype=np.int8)
    if eta * T.kappa > 1.0:
        return out
    s, sa2 = T.s, T.sa2
    e = T.S * (s * T.S - suma)
    gg = g_of(phi)
    pos = q > 0
    r1 = pos & (phi < 0.5 * PI) & (e >= 0)
    e_lo = np.minimum(e, 0.0)
    b = (PI - 1.0) * sa2 + np.maximum(e, T.e_max)
    r2 = pos & (gg >= 1.0 - e_lo / sa2) & (np.maximum(q, b / (PI - 1.0)) * eta * s <= 2.0 * n2)
    neg = q < 0
    e_hi = np.maximum(e, T.e_max)
    b2 = sa2 - np.minimum(e, 0.0)
    r3 = neg & (e_hi < sa2) & (gg <= 1.0 - e_hi / sa2) & (np.maximum(-q, b2 / (PI - 1.0)) * eta * s * (PI - phi) <= 2.0 * PI * n2)
    out[r1 | r2] = 1
    out[r3] = -1
    return out


def classify_alt(T, n2, phi, q, suma, eta):
    """The (alpha, beta) regions of docs/spurious-minima.md: +1, -1, 0."""
    out = np.zeros(len(phi), dtype=np.int8)
    if eta * T.kappa > 1.0:
        return out
    k, S = T.k, T.S
    ss = suma * S / k
    t1 = ss - T.c1
    t2 = (q - ss) - T.c2
    tol = T.tol
    # No angle overshoot from here on: |alpha alpha*| and |beta beta*| never exceed
    # max(|.|, s alpha*^2) and max(|.|, s beta*^2) (convex combinations with the equilibria).
    beta_s2 = max(T.A2 - S * S / k, 0.0)
    qmax = np.maximum(np.abs(ss), T.s * S * S / k) + np.maximum(np.abs(q - ss), T.s * beta_s2)
    gl = (phi < T.phi_thr) & (q > 0) & (t1 >= -tol) & (t2 >= -tol) & (t1 + t2 > tol) & (eta * T.s * qmax <= 2.0 * n2)
    sp = (phi > T.phi_thr) & (q < 0) & (t1 <= tol) & (t2 <= tol) & (t1 + t2 < -tol) & (eta * T.s * qmax * (PI - phi) <= 2.0 * PI * n2)
    out[gl] = 1
    out[sp] = -1
    return out


def loss_grad(T, V, A, n2, phi, q, suma):
    """The population loss (cancellation-free form) and its gradient in v and a."""
    s = T.s
    gg = g_of(phi)
    pmg = 2.0 * PI * np.sin(0.5 * phi) ** 2 + (phi * np.cos(phi) - np.sin(phi))  # pi - g(phi)
    D = A - T.b
    loss = ((PI - 1.0) * np.einsum("ij,ij->i", D, D) + (suma - s * T.S) ** 2 + 2.0 * s * pmg * q) / (4.0 * PI)
    vn = np.sqrt(n2)
    # dl/dv = -q (pi - phi) / (2 pi ||v||) (I - v v^T/||v||^2) w*
    proj = V @ T.ws
    coef = -q * (PI - phi) / (2.0 * PI * vn)
    gv = coef[:, None] * (T.ws[None, :] - (proj / n2)[:, None] * V)
    # dl/da = ((11^T + (pi-1) I) a - ||w*|| (11^T + (g-1) I) a*) / (2 pi)
    ga = (suma[:, None] + (PI - 1.0) * A - s * T.S - (s * (gg - 1.0))[:, None] * T.a[None, :]) / (2.0 * PI)
    return loss, gv, ga


def gd(T, V, A, eta, steps, early_stop=False, alt=True, union=True):
    """GD from the rows of (V, A); every iterate 0..steps classified (`union`: by the union of the
    two rules, as the core; else by the (q, E) rule alone). With `early_stop` a run is dropped at
    its deciding iterate (the core's `model.stopWhenDecided`). Returns outcome, decidedAt, the
    alternative rule's outcome (alone; 0 for runs dropped before it decided), final loss and
    angle."""
    N = V.shape[0]
    outcome = np.zeros(N, dtype=np.int8)
    decided = np.full(N, -1, dtype=np.int64)
    alt_out = np.zeros(N, dtype=np.int8)
    final_loss = np.full(N, np.nan)
    final_phi = np.full(N, np.nan)
    idx = np.arange(N)
    V = V.copy()
    A = A.copy()
    for t in range(steps + 1):
        n2, phi, q, suma = state(T, V, A)
        und = outcome[idx] == 0
        if und.any():
            c = classify_core(T, n2[und], phi[und], q[und], suma[und], eta)
            if union:
                # The core's outcome: the union of its (q, E) and (alpha, beta) regions.
                z = c == 0
                if z.any():
                    c[z] = classify_alt(T, n2[und][z], phi[und][z], q[und][z], suma[und][z], eta)
            hit = c != 0
            if hit.any():
                j = idx[und][hit]
                outcome[j] = c[hit]
                decided[j] = t
        if alt:
            und2 = alt_out[idx] == 0
            if und2.any():
                c2 = classify_alt(T, n2[und2], phi[und2], q[und2], suma[und2], eta)
                alt_out[idx[und2]] = c2
        loss, gv, ga = loss_grad(T, V, A, n2, phi, q, suma)
        if t == steps:
            final_loss[idx] = loss
            final_phi[idx] = phi
            break
        if early_stop:
            keep = outcome[idx] == 0
            if not keep.all():
                gone = ~keep
                final_loss[idx[gone]] = loss[gone]
                final_phi[idx[gone]] = phi[gone]
                idx, V, A, gv, ga = idx[keep], V[keep], A[keep], gv[keep], ga[keep]
                if len(idx) == 0:
                    break
        V -= eta * gv
        A -= eta * ga
    return outcome, decided, alt_out, final_loss, final_phi


def teacher_for(k, r, a_norm, p, rng):
    ws = rng.standard_normal(p)
    ws /= np.linalg.norm(ws)
    e = np.ones(k) / np.sqrt(k)
    u = rng.standard_normal(k)
    u -= u.mean()
    u /= np.linalg.norm(u)
    a = a_norm * (np.sqrt(r / k) * e + np.sqrt(max(1.0 - r / k, 0.0)) * u)
    return Teacher(ws, a)


def theorem54(T, N, p, v_norm, rng):
    V = rng.standard_normal((N, p))
    V *= v_norm / np.linalg.norm(V, axis=1, keepdims=True)
    k = T.k
    rad = abs(T.S) * T.s / np.sqrt(k)
    if not rad > 1e-12 * np.sqrt(T.A2) * T.s:  # 1^T a* = 0: radius ||a*|| ||w*|| / sqrt(k)
        rad = np.sqrt(T.A2) * T.s / np.sqrt(k)
    A = rng.standard_normal((N, k))
    A /= np.linalg.norm(A, axis=1, keepdims=True)
    A *= rad * rng.random((N, 1)) ** (1.0 / k)
    return V, A


def table(req):
    rng = np.random.default_rng(req.get("seed", 0))
    cells = []
    t0 = time.perf_counter()
    for k in req["K"]:
        for r in req["R"]:
            T = teacher_for(k, r, req["aNorm"], req["p"], rng)
            V, A = theorem54(T, req["seeds"], req["p"], req.get("vNorm", 1.0), rng)
            out, dec, alt, _, _ = gd(T, V, A, req["eta"], int(req["steps"]), req.get("earlyStop", False), req.get("alt", True), req.get("union", True))
            both = (out != 0) & (alt != 0)
            cells.append({
                "k": k, "r": r,
                "global": int((out == 1).sum()), "spurious": int((out == -1).sum()), "undecided": int((out == 0).sum()),
                "decidedMax": int(dec.max()), "decidedMedian": float(np.median(dec[dec >= 0])) if (dec >= 0).any() else None,
                "altAgree": int((out[both] == alt[both]).sum()), "altBoth": int(both.sum()),
            })
    return {"cells": cells, "seconds": time.perf_counter() - t0}


def points(req):
    res = []
    # Group the runs by teacher (same k): one vectorized GD per group.
    groups = {}
    for i, r in enumerate(req["runs"]):
        key = (tuple(r["wStar"]), tuple(r["aStar"]))
        groups.setdefault(key, []).append(i)
    res = [None] * len(req["runs"])
    for (ws, a), ids in groups.items():
        T = Teacher(ws, a)
        V = np.array([req["runs"][i]["v0"] for i in ids], dtype=float)
        A = np.array([req["runs"][i]["a0"] for i in ids], dtype=float)
        out, dec, alt, fl, fp = gd(T, V, A, req["eta"], int(req["steps"]), False, True)
        for j, i in enumerate(ids):
            res[i] = {"outcome": int(out[j]), "decidedAt": int(dec[j]) if dec[j] >= 0 else None, "alt": int(alt[j]),
                      "finalLoss": float(fl[j]), "finalPhi": float(fp[j])}
    return {"runs": res}


def main():
    req = json.load(sys.stdin)
    out = table(req) if req["mode"] == "table" else points(req)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
