"""The SciPy peer of the continuation study (bench only): what a Python reader would write for
Taghvaei, Kim & Mehta's characteristic equation lambda C = F^T (R - F) Sigma0, F = e^{2T Om} e^{T C^T},
Om = (C - C^T)/2: scipy.linalg.expm and expm_frechet for the residual and its Jacobian (one Frechet
derivative per column), a pseudo-arclength loop with Newton on the bordered system, the fold at the
sign change of the tangent's lambda component refined by bisection on the arclength step. Same
stop rules as the core's study: lambda in [0, 1], |C|_F <= cMax. Prints JSON lines.

    python continuation_scipy.py [--reps N]
"""
import json, sys, time
import numpy as np
from scipy.linalg import expm, expm_frechet, solve

T = 1.0

def F_and_dF(C, E=None):
    Om = (C - C.T) / 2
    A, B = 2 * T * Om, T * C.T
    eA, eB = expm(A), expm(B)
    F = eA @ eB
    if E is None:
        return F, None
    dOm = (E - E.T) / 2
    _, LA = expm_frechet(A, 2 * T * dOm)
    _, LB = expm_frechet(B, T * E.T)
    return F, LA @ eB + eA @ LB

def residual(C, lam, R, S0):
    F, _ = F_and_dF(C)
    return lam * C - F.T @ (R - F) @ S0

def jacobian(C, lam, R, S0):
    n = C.shape[0]
    F, _ = F_and_dF(C)
    J = np.zeros((n * n, n * n + 1))
    for k in range(n * n):
        E = np.zeros(n * n); E[k] = 1.0; E = E.reshape(n, n)
        _, dF = F_and_dF(C, E)
        dG = lam * E - dF.T @ (R - F) @ S0 + F.T @ dF @ S0
        J[:, k] = dG.ravel()
    J[:, n * n] = C.ravel()
    return J

def tangent(J, prev):
    # null vector of the n^2 x (n^2+1) Jacobian, oriented by the previous tangent
    _, _, Vt = np.linalg.svd(J)
    t = Vt[-1]
    if prev is not None and t @ prev < 0:
        t = -t
    return t / np.linalg.norm(t)

def corrector(x, t, ds, R, S0, n, tol=1e-10, it=20):
    y = x + ds * t
    for _ in range(it):
        C, lam = y[:-1].reshape(n, n), y[-1]
        G = residual(C, lam, R, S0).ravel()
        g = np.concatenate([G, [t @ (y - x) - ds]])
        if np.linalg.norm(g) < tol:
            return y, True
        J = jacobian(C, lam, R, S0)
        A = np.vstack([J, t])
        y = y - solve(A, g)
    C, lam = y[:-1].reshape(n, n), y[-1]
    return y, np.linalg.norm(residual(C, lam, R, S0)) < 1e-8

def newton_fixed(C, lam, R, S0, tol=1e-11, it=50):
    n = C.shape[0]
    for _ in range(it):
        G = residual(C, lam, R, S0).ravel()
        if np.linalg.norm(G) < tol:
            return C
        J = jacobian(C, lam, R, S0)[:, : n * n]
        C = C - solve(J, G).reshape(n, n)
    return C

def branch(C0, R, S0, ds0=0.05, cmax=40.0, max_points=2000):
    n = C0.shape[0]
    C0 = newton_fixed(C0, 0.0, R, S0)
    x = np.concatenate([C0.ravel(), [0.0]])
    t = None
    J = jacobian(C0, 0.0, R, S0)
    t = tangent(J, np.concatenate([np.zeros(n * n), [1.0]]))
    rows, folds, ds = 1, [], ds0
    while rows < max_points:
        y, ok = corrector(x, t, ds, R, S0, n)
        if not ok:
            ds /= 2
            if ds < 1e-9:
                break
            continue
        tn = tangent(jacobian(y[:-1].reshape(n, n), y[-1], R, S0), t)
        if tn[-1] * t[-1] < 0:  # fold between x and y: bisect the step to 1e-10 in lambda
            lo, hi = 0.0, ds
            for _ in range(60):
                mid = (lo + hi) / 2
                z, _ = corrector(x, t, mid, R, S0, n)
                tz = tangent(jacobian(z[:-1].reshape(n, n), z[-1], R, S0), t)
                if tz[-1] * t[-1] < 0:
                    hi = mid
                else:
                    lo = mid
                if hi - lo < 1e-12:
                    break
            folds.append(float(z[-1]))
        x, t = y, tn
        rows += 1
        if not (0 <= x[-1] <= 1) or np.linalg.norm(x[:-1]) > cmax:
            break
        ds = min(ds * 1.3, 0.2)
    return rows, folds

def main():
    reps = int(sys.argv[sys.argv.index('--reps') + 1]) if '--reps' in sys.argv else 3
    Jm = np.array([[0.0, -1.0], [1.0, 0.0]])
    R = Jm.copy()
    S0 = np.eye(2)
    for n in [1, -1, 2, -2]:
        C0 = (np.pi / 2 + 2 * np.pi * n) * Jm
        best = None
        for _ in range(reps):
            t0 = time.perf_counter()
            rows, folds = branch(C0, R, S0)
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
        print(json.dumps({"case": f"example1 n={n}", "peer": "scipy", "rows": rows, "folds": folds, "ms": best * 1e3}), flush=True)
    # The same deterministic 6 x 6 problem as continuation.mjs: M_ij = 0.3 sin(1.7 i + 2.3 j + 0.5), R = e^M.
    M = np.array([[0.3 * np.sin(1.7 * i + 2.3 * j + 0.5) for j in range(6)] for i in range(6)])
    R6 = expm(M)
    best = None
    for _ in range(reps):
        t0 = time.perf_counter()
        rows, folds = branch(M, R6, np.eye(6), max_points=100)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    print(json.dumps({"case": "random 6x6 (R = e^M, sheet 0, 100 rows max)", "peer": "scipy", "rows": rows, "folds": folds, "ms": best * 1e3}), flush=True)

if __name__ == '__main__':
    main()
