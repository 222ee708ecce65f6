"""NumPy peer of the matrix-factorization GD step, driven by bench/mf_step.mjs.

Modes:

  python mf_step.py serve
      Line protocol used by mf_step.mjs (see serve()): the timed runs below, one at a time, so
      that the driver interleaves them with the native and wasm runs.


  python mf_step.py time '{"shapes": [[1000,1000,5], ...], "minSeconds": 1.0, "reps": 5}'
      For each shape: one GD step on f(U,V) = 1/2 ||U V^T - M*||_F^2, loss included, as ms/step
      (median of `reps` timed runs of N steps, N chosen so one run takes >= minSeconds), plus
      machine references measured with the same NumPy: read bandwidth and f64 GEMM rate.

  python mf_step.py check < input.json
      input: {"d1","d2","r","eta","steps","u0","v0","m"} (row-major flat lists).
      Runs `steps` GD steps from (u0, v0) and returns the final U, V and the loss at every
      iterate 0..steps (the loss at iterate t is computed with the gradient used for step t).

NumPy runs with its default threading (OpenBLAS uses every core unless OPENBLAS_NUM_THREADS
is set); the thread count in use is reported.
"""

import ctypes
import glob
import json
import os
import platform
import statistics
import sys
import time

import numpy as np


def step(U, V, M, eta):
    """One GD step in place; returns the loss at the iterate the step starts from."""
    R = U @ V.T
    R -= M
    loss = 0.5 * np.vdot(R, R)
    gU = R @ V
    gV = R.T @ U
    gU *= eta
    gV *= eta
    U -= gU
    V -= gV
    return loss


def problem(d1, d2, r, seed=1):
    """Same kind of data as the benchmark spec: rank-r M* with singular values 1..r, small
    Gaussian init. The values do not affect the time of a step."""
    rng = np.random.default_rng(seed)
    P, _ = np.linalg.qr(rng.standard_normal((d1, r)))
    Q, _ = np.linalg.qr(rng.standard_normal((d2, r)))
    s = np.linspace(1.0, r, r)
    M = np.ascontiguousarray((P * s) @ Q.T)
    U = 0.01 * rng.standard_normal((d1, r))
    V = 0.01 * rng.standard_normal((d2, r))
    return U, V, M


def run_steps(U, V, M, eta, n):
    for _ in range(n):
        loss = step(U, V, M, eta)
    return loss


def machine_busy():
    """(busy, total) CPU jiffies of the whole machine, from /proc/stat (None elsewhere)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v and (sum(v) - v[3] - v[4], sum(v))
    except OSError:
        return None


class Timer:
    """One shape: prepare() warms up and picks N so one run takes >= min_seconds; run() times
    N steps and returns ms/step, the cores this process kept busy, and the cores busy machine-wide."""

    def __init__(self, d1, d2, r, eta=1e-4):
        self.shape = [d1, d2, r]
        self.eta = eta
        self.U, self.V, self.M = problem(d1, d2, r)
        self.loss = None

    def prepare(self, min_seconds):
        run_steps(self.U, self.V, self.M, self.eta, 2)  # warm-up
        n = 1
        while True:
            t0 = time.perf_counter()
            run_steps(self.U, self.V, self.M, self.eta, n)
            dt = time.perf_counter() - t0
            if dt >= 0.1 or n >= 1 << 20:
                break
            n *= 2
        self.n = max(1, int(np.ceil(min_seconds / (dt / n))))
        return self.n

    def run(self):
        m0 = machine_busy()
        c0 = time.process_time()
        t0 = time.perf_counter()
        self.loss = run_steps(self.U, self.V, self.M, self.eta, self.n)
        dt = time.perf_counter() - t0
        own = (time.process_time() - c0) / dt
        m1 = machine_busy()
        machine = None
        if m0 and m1 and m1[1] > m0[1]:
            machine = (m1[0] - m0[0]) / (m1[1] - m0[1]) * (os.cpu_count() or 1)
        if not np.isfinite(self.loss):
            raise RuntimeError(f"numpy run diverged at {self.shape}")
        return {"msPerStep": dt / self.n * 1e3, "own": own, "machine": machine}


def time_shape(d1, d2, r, min_seconds, reps):
    t = Timer(d1, d2, r)
    n = t.prepare(min_seconds)
    runs = [t.run() for _ in range(reps)]
    times = [x["msPerStep"] for x in runs]
    return {
        "shape": [d1, d2, r],
        "stepsPerRun": n,
        "msPerStep": statistics.median(times),
        "msPerStepAll": times,
        "coresBusy": statistics.median(x["own"] for x in runs),
        "finalLoss": float(t.loss),
    }


def serve():
    """Line protocol on stdin/stdout, so that mf_step.mjs can interleave NumPy's timed runs with
    the other backends' (a load that comes and goes then hits all of them alike):
    {"cmd":"info"} | {"cmd":"prepare","shape":[d1,d2,r],"minSeconds":S} | {"cmd":"run"}
    | {"cmd":"close"} | {"cmd":"references"}; one JSON answer line each."""
    timer = None
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        cmd = req["cmd"]
        try:
            if cmd == "info":
                out = info()
            elif cmd == "prepare":
                timer = Timer(*req["shape"])
                out = {"n": timer.prepare(float(req["minSeconds"]))}
            elif cmd == "run":
                out = timer.run()
            elif cmd == "close":
                out = {"finalLoss": float(timer.loss)}
                timer = None
            elif cmd == "references":
                out = references()
            else:
                out = {"error": f"unknown cmd {cmd!r}"}
        except Exception as e:  # noqa: BLE001 - reported to the driver
            out = {"error": repr(e)}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


def info():
    return {
        "numpy": np.__version__,
        "python": platform.python_version(),
        "blas": blas_info(),
        "env": {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS") if k in os.environ},
    }


def references(reps=5):
    """Machine limits measured with this NumPy: read bandwidth (sum over 32 MB) and the
    f64 GEMM rate (2000^3, default threads)."""
    x = np.ones(4 << 20)  # 32 MB
    x.sum()
    bw = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(20):
            x.sum()
        bw.append(20 * x.nbytes / (time.perf_counter() - t0) / 1e9)
    n = 2000
    a = np.random.default_rng(0).standard_normal((n, n))
    b = np.random.default_rng(1).standard_normal((n, n))
    a @ b
    gf = []
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        gf.append(2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return {"readGBps": max(bw), "gemmGflops": max(gf)}


def blas_info():
    info = {}
    try:
        deps = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["name"] = deps.get("name")
        info["version"] = deps.get("version")
        info["configuration"] = deps.get("openblas configuration")
    except Exception as e:  # noqa: BLE001 - informative only
        info["error"] = repr(e)
    # Runtime details from the OpenBLAS that NumPy loaded (already in the process).
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "*openblas*.so*"))
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
            for sym in ("scipy_openblas_get_corename64_", "openblas_get_corename"):
                if hasattr(lib, sym):
                    f = getattr(lib, sym)
                    f.restype = ctypes.c_char_p
                    info["coreName"] = f().decode()
                    break
            for sym in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads"):
                if hasattr(lib, sym):
                    f = getattr(lib, sym)
                    f.restype = ctypes.c_int
                    info["threads"] = f()
                    break
        except OSError:
            pass
    return info


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "time"
    if mode == "time":
        cfg = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
        shapes = cfg.get("shapes", [[1000, 1000, 5], [2000, 1000, 50]])
        min_seconds = float(cfg.get("minSeconds", 1.0))
        reps = int(cfg.get("reps", 5))
        out = info()
        out["results"] = [time_shape(d1, d2, r, min_seconds, reps) for d1, d2, r in shapes]
        if cfg.get("references", True):
            out["references"] = references()
        print(json.dumps(out))
    elif mode == "serve":
        serve()
    elif mode == "check":
        inp = json.load(sys.stdin)
        d1, d2, r = inp["d1"], inp["d2"], inp["r"]
        U = np.array(inp["u0"], dtype=np.float64).reshape(d1, r)
        V = np.array(inp["v0"], dtype=np.float64).reshape(d2, r)
        M = np.array(inp["m"], dtype=np.float64).reshape(d1, d2)
        eta = float(inp["eta"])
        losses = [float(step(U, V, M, eta)) for _ in range(inp["steps"])]
        R = U @ V.T - M
        losses.append(float(0.5 * np.vdot(R, R)))
        print(json.dumps({"u": U.ravel().tolist(), "v": V.ravel().tolist(), "loss": losses}))
    else:
        sys.exit(f"unknown mode {mode!r} (expected time, serve or check)")


if __name__ == "__main__":
    main()
