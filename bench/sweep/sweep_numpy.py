"""The peer of bench/sweep: the same sweep in Python + NumPy, run with joblib (loky) or Ray.

    python sweep_numpy.py JOB.json --workers W [--engine joblib|ray] [--check INITS.json]

JOB.json (written by sweep.mjs): the target M* (from the core, so every run factorizes the same
matrix as autobalance's), sizes, steps, recordEvery, the settings (eta, stdU, stdV), seeds per
setting, the run indices to do, and the kept values / classes of the sweep spec. Each run is the
core's GD: R = U V^T - M*, loss = ||R||^2 / 2, gU = R V, gV = R^T U, U -= eta gU, V -= eta gV;
stop (diverged) at the first non-finite loss, keeping the previous iterate's row; metrics
(step, eta, time, loss, normU2, normV2, normRatio, imbalance, imbalanceDrift, residual,
gradNorm) at every `every`-th step and the last; the kept values reduced from them; U0, V0 drawn
N(0, std^2) from numpy's default_rng(seed) (the distribution of the core's init, not its stream).
Rows (dicts like the core's) are sent back to the parent. Prints one JSON line: timings.

--check INITS.json: [{run, u0, v0}] explicit initial factors (the core's, per run): computes
those runs in-process and prints their rows (the driver compares them with the core's rows).
"""

import json
import math
import os
import sys
import time

import numpy as np


MASK = (1 << 64) - 1


def splitmix64(x):
    z = (x + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def derive_seed(base, j, run):
    """The seed the core gives run `run` at seed path j (docs/studies.md, sweep)."""
    return splitmix64(splitmix64((base + (j + 1) * 0x9E3779B97F4A7C15) & MASK) ^ run) >> 11


def run_one(job, run, u0=None, v0=None):
    d1, d2, r = job["d1"], job["d2"], job["rank"]
    steps, every = job["steps"], job["every"]
    M = job["_M"]
    per = job["seedsPerSetting"]
    setting = run // per
    eta, std_u, std_v = job["settings"][setting]
    seed = derive_seed(job["seedBase"], 0, run)
    if u0 is None:
        rng = np.random.default_rng(seed)
        U = rng.standard_normal((d1, r)) * std_u
        V = rng.standard_normal((d2, r)) * std_v
    else:
        U = np.array(u0, dtype=np.float64).reshape(d1, r)
        V = np.array(v0, dtype=np.float64).reshape(d2, r)
    G0 = U.T @ U - V.T @ V
    cols = {k: [] for k in ("step", "eta", "time", "loss", "normU2", "normV2", "normRatio",
                            "imbalance", "imbalanceDrift", "residual", "gradNorm")}

    def record(t, U, V, R, loss, gU, gV):
        nu, nv = float(np.vdot(U, U)), float(np.vdot(V, V))
        G = U.T @ U - V.T @ V
        cols["step"].append(t)
        cols["eta"].append(eta)
        cols["time"].append(eta * t)
        cols["loss"].append(loss)
        cols["normU2"].append(nu)
        cols["normV2"].append(nv)
        cols["normRatio"].append(nu / nv)
        cols["imbalance"].append(float(np.linalg.norm(G)))
        cols["imbalanceDrift"].append(float(np.linalg.norm(G - G0)))
        cols["residual"].append(math.sqrt(2.0 * loss))
        cols["gradNorm"].append(math.sqrt(float(np.vdot(gU, gU)) + float(np.vdot(gV, gV))))

    stop, t = "finished", 0
    Up = Vp = None
    while True:
        R = U @ V.T
        R -= M
        loss = 0.5 * float(np.vdot(R, R))
        if not math.isfinite(loss):
            stop = "diverged"
            if t > 0:  # keep the previous iterate, recorded as the last row
                t -= 1
                U, V = Up, Vp
                R = U @ V.T - M
                loss = 0.5 * float(np.vdot(R, R))
                record(t, U, V, R, loss, R @ V, R.T @ U)
            break
        gU = R @ V
        gV = R.T @ U
        if t % every == 0 or t == steps:
            record(t, U, V, R, loss, gU, gV)
        if t == steps:
            break
        Up, Vp = U.copy(), V.copy()
        U -= eta * gU
        V -= eta * gV
        t += 1

    kept = {}
    for k in job["keep"]:
        c = cols.get(k.get("column") or k.get("allRowsWhere", {}).get("of"))
        fin = [x for x in c if math.isfinite(x)]
        if "reduce" in k:
            red = {"last": lambda v: v[-1], "first": lambda v: v[0], "min": min, "max": max,
                   "mean": lambda v: sum(v) / len(v)}[k["reduce"]]
            kept[k["name"]] = red(fin) if fin else None
        elif "firstAtOrBelow" in k:
            x = k["firstAtOrBelow"]
            kept[k["name"]] = next((s for s, y in zip(cols["step"], c) if y <= x), None)
        elif "allRowsWhere" in k:
            p = k["allRowsWhere"]
            kept[k["name"]] = 1 if all(p["ge"] <= y <= p["le"] for y in c) else 0
    cls = "other"
    hit = kept.get("hit")
    if stop == "diverged":
        cls = "diverged"
    elif hit is not None and hit <= steps and kept.get("inBounds", 1) >= 1:
        cls = "converged"
    return {"run": run, "setting": setting, "seedIndex": run % per,
            "values": {"schedule.eta": eta, "init.stdU": std_u, "init.stdV": std_v},
            "seeds": {"init.seed": seed}, "stop": stop, "steps": t,
            "loss": loss if math.isfinite(loss) else None, "kept": kept, "class": cls}


def run_chunk(job, runs):
    job["_M"] = np.array(job["target"], dtype=np.float64).reshape(job["d1"], job["d2"])
    return [run_one(job, i) for i in runs]


def chunks(runs, size):
    return [runs[i:i + size] for i in range(0, len(runs), size)]


def main():
    args = sys.argv[1:]
    job = json.load(open(args[0]))
    opt = lambda name, default: args[args.index(name) + 1] if name in args else default
    workers = int(opt("--workers", 1))
    engine = opt("--engine", "joblib")
    chunk = int(opt("--chunk", 50))
    check = opt("--check", None)
    if check:
        job["_M"] = np.array(job["target"], dtype=np.float64).reshape(job["d1"], job["d2"])
        out = [run_one(job, x["run"], x["u0"], x["v0"]) for x in json.load(open(check))]
        print(json.dumps(out))
        return
    runs = list(range(job["runStart"], job["runEnd"]))
    slim = {k: v for k, v in job.items() if not k.startswith("_")}
    t0 = time.perf_counter()
    startup = 0.0
    if engine == "joblib":
        from joblib import Parallel, delayed
        rows = Parallel(n_jobs=workers, backend="loky")(
            delayed(run_chunk)(slim, c) for c in chunks(runs, chunk))
    elif engine == "ray":
        import ray
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
        startup = time.perf_counter() - t0
        remote = ray.remote(run_chunk)
        jref = ray.put(slim)
        rows = ray.get([remote.remote(jref, c) for c in chunks(runs, chunk)])
    else:
        raise SystemExit(f"unknown engine {engine}")
    rows = [x for c in rows for x in c]
    seconds = time.perf_counter() - t0
    classes = {}
    for x in rows:
        classes[x["class"]] = classes.get(x["class"], 0) + 1
    if engine == "ray":
        import ray
        ray.shutdown()
    print(json.dumps({"engine": engine, "workers": workers, "runs": len(rows), "seconds": seconds,
                      "startupSeconds": startup, "classes": classes, "chunk": chunk,
                      "numpy": np.__version__}))


if __name__ == "__main__":
    main()
