"""The ratio that fits Table 5.1 (docs/spurious-minima.md): chi^2 over the thesis's 35 printed
cells against ||a*|| (ratio ||a*||^2 ||w*||^2/||v0||^2 = ||a*||^2), from the sweep table of
`autobalance run table51Ratio --out DIR` (DIR/table51Ratio.json) or of `table51` (one value).

    python3 bench/ch5/fit.py out/table51Ratio/table51Ratio.json [--json]

No NumPy needed. chi^2(x) = sum over cells (p1 - p2)^2 / (pbar (1 - pbar) (1/n1 + 1/n2) + d^2/3),
p1 = ours (count/runs at ||a*|| = x), p2 = the thesis's printed number, n2 = 5000, d = 0.005
(its rounding: uniform on +-d has variance d^2/3), pbar = (k1 + p2 n2)/(n1 + n2); a term is 0
when both are exactly 0 or 1. The degrees of freedom are 35 - 1 (one fitted parameter); the
p-value is the upper tail of chi^2_34 (regularized incomplete gamma, series/continued fraction).
The best value on the grid and the minimum of a parabola through it and its neighbours in
log ||a*|| are printed.
"""

import json
import math
import sys

THESIS = {
    25: [0.50, 0.55, 0.73, 1.0, 1.0, None],
    36: [0.50, 0.53, 0.66, 0.89, 1.0, 1.0],
    49: [0.50, 0.53, 0.61, 0.78, 1.0, 1.0],
    64: [0.50, 0.51, 0.59, 0.71, 0.89, 1.0],
    81: [0.50, 0.53, 0.57, 0.66, 0.81, 0.97],
    100: [0.50, 0.50, 0.57, 0.63, 0.75, 0.90],
}
R = [0.0, 1.0, 4.0, 9.0, 16.0, 25.0]
N2 = 5000
D = 0.005


def gammaincc(a, x):
    """Upper regularized incomplete gamma Q(a, x) (Numerical Recipes' gser/gcf)."""
    if x <= 0:
        return 1.0
    gln = math.lgamma(a)
    if x < a + 1:
        s = term = 1.0 / a
        ap = a
        for _ in range(1000):
            ap += 1
            term *= x / ap
            s += term
            if abs(term) < abs(s) * 1e-15:
                break
        return 1.0 - s * math.exp(-x + a * math.log(x) - gln)
    b = x + 1 - a
    c = 1e300
    d = 1 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1 / d
        de = d * c
        h *= de
        if abs(de - 1) < 1e-15:
            break
    return math.exp(-x + a * math.log(x) - gln) * h


def term(k1, n1, p2):
    p1 = k1 / n1
    if (p1 == 1 and p2 == 1) or (p1 == 0 and p2 == 0):
        return 0.0
    pbar = (k1 + p2 * N2) / (n1 + N2)
    var = pbar * (1 - pbar) * (1 / n1 + 1 / N2) + D * D / 3
    return (p1 - p2) ** 2 / var


def fit(table, axis="teacher.aStar.norm"):
    by = {}
    for s in table["settings"]:
        v = s["values"]
        x = v.get(axis, None)
        k = int(v["model.k"])
        r = float(v["teacher.aStar.r"])
        if k not in THESIS or r not in R:
            continue
        p2 = THESIS[k][R.index(r)]
        if p2 is None:
            continue
        c = s["classes"].get("global", {"count": 0})["count"]
        by.setdefault(x, []).append((k, r, c, s["runs"], p2))
    rows = []
    for x in sorted(by, key=lambda z: (z is None, z)):
        cells = by[x]
        chi2 = sum(term(c, n, p2) for (_, _, c, n, p2) in cells)
        worst = max(cells, key=lambda t: term(t[2], t[3], t[4]))
        rows.append({"value": x, "ratio": None if x is None else x * x, "chi2": chi2, "cells": len(cells),
                     "dof": len(cells) - 1, "pValue": gammaincc((len(cells) - 1) / 2, chi2 / 2),
                     "worst": {"k": worst[0], "r": worst[1], "ours": worst[2] / worst[3], "thesis": worst[4],
                               "term": term(worst[2], worst[3], worst[4])}})
    best = min(rows, key=lambda r: r["chi2"])
    out = {"rows": rows, "best": best}
    i = rows.index(best)
    if 0 < i < len(rows) - 1 and all(r["value"] for r in rows[i - 1:i + 2]):
        xs = [math.log(r["value"]) for r in rows[i - 1:i + 2]]
        ys = [r["chi2"] for r in rows[i - 1:i + 2]]
        den = (xs[0] - xs[1]) * (xs[0] - xs[2]) * (xs[1] - xs[2])
        a = (xs[2] * (ys[1] - ys[0]) + xs[1] * (ys[0] - ys[2]) + xs[0] * (ys[2] - ys[1])) / den
        b = (xs[2] ** 2 * (ys[0] - ys[1]) + xs[1] ** 2 * (ys[2] - ys[0]) + xs[0] ** 2 * (ys[1] - ys[2])) / den
        if a > 0:
            out["parabola"] = {"value": math.exp(-b / (2 * a)), "ratio": math.exp(-b / a)}
    return out


def main():
    path = sys.argv[1]
    doc = json.load(open(path))
    table = doc["sweep"]["table"] if "sweep" in doc else doc
    out = fit(table)
    if "--json" in sys.argv:
        json.dump(out, sys.stdout, indent=1)
        return
    print("||a*||   ratio    chi2   cells  p-value  worst cell (k, r: ours vs thesis)")
    for r in out["rows"]:
        w = r["worst"]
        print(f"{r['value']!s:6} {r['ratio'] if r['ratio'] is None else round(r['ratio'], 4)!s:8} {r['chi2']:7.1f} {r['cells']:5d}  {r['pValue']:.2g}   "
              f"({w['k']}, {w['r']:g}): {w['ours']:.4f} vs {w['thesis']:.2f}")
    b = out["best"]
    print(f"best on the grid: ||a*|| = {b['value']} (ratio {b['ratio']}), chi2 = {b['chi2']:.1f} on {b['dof']} dof, p = {b['pValue']:.2g}")
    if "parabola" in out:
        print(f"parabola in log ||a*|| through the best three: ||a*|| = {out['parabola']['value']:.3f} (ratio {out['parabola']['ratio']:.3f})")


if __name__ == "__main__":
    main()
