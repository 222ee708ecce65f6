"""The ResNet kernel recursion of Du (2019 thesis) ch. 3 (corrected, REFERENCE.md section 3) in
NumPy, the same algorithm as crates/core/src/study/kernel.rs for p = 1: tensor probabilists'
Gauss-Hermite (numpy's hermegauss, weights normalized) on the Cholesky form, vectorized over the
pairs i <= j. Reads X (n x d, float64 little-endian) and prints JSON: lambda_min, lambda_max of
K^(H), the seconds spent. Bench-only peer (bench/ch3/README.md).

    python kernel_numpy.py X.bin n d depth cres nodes
"""
import json
import sys
import time

import numpy as np


def softplus(z):
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def logistic(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def main():
    path, n, d, depth, cres, nodes = sys.argv[1:7]
    n, d, depth, nodes = int(n), int(d), int(depth), int(nodes)
    cres = float(cres)
    x = np.fromfile(path, dtype="<f8").reshape(n, d)
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    t0 = time.perf_counter()
    c_sigma = 1.0 / np.sum(w * softplus(z) ** 2)
    iu, ju = np.triu_indices(n)

    def expect(S, f):
        """E[f(u) f(v)] over the pairs (i <= j) of covariance S."""
        dg = np.diag(S)
        a, b, c = dg[iu], dg[ju], S[iu, ju]
        su = np.sqrt(a)
        mu = c / su
        sv = np.sqrt(np.maximum(b - c * c / a, 0.0))
        tot = np.zeros_like(a)
        for k1 in range(nodes):
            inner = np.zeros_like(a)
            base = mu * z[k1]
            for k2 in range(nodes):
                if w[k1] * w[k2] < 1e-18:
                    continue
                inner += w[k2] * f(base + sv * z[k2])
            tot += w[k1] * f(su * z[k1]) * inner
        out = np.zeros((n, n))
        out[iu, ju] = tot
        out[ju, iu] = tot
        return out

    def means(S):
        s = np.sqrt(np.diag(S))
        return (softplus(np.outer(s, z)) * w).sum(axis=1)

    t = cres / depth
    S = x @ x.T
    if depth == 1:
        K = c_sigma * S * expect(S, logistic)
    else:
        m = means(S)
        S, bvec = c_sigma * expect(S, softplus), np.sqrt(c_sigma) * m
        for h in range(2, depth):
            m = means(S)
            S = S + t * (np.outer(bvec, m) + np.outer(m, bvec)) + t * t * expect(S, softplus)
            bvec = bvec + t * m
        K = t * t * S * expect(S, logistic)
    ev = np.linalg.eigvalsh(K)
    secs = time.perf_counter() - t0
    print(json.dumps({"lambdaMin": float(ev[0]), "lambdaMax": float(ev[-1]), "seconds": secs,
                      "kSum": float(K.sum()), "numpy": np.__version__}))


if __name__ == "__main__":
    main()
