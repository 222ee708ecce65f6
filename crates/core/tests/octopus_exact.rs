//! The octopus family's exact (log-scale) GD engine against plain float64 GD and against the
//! closed-form escape-time law (docs/octopus.md, "Exact mode (logScale)").

use autobalance_core::model::octopus::exact::Engine;
use autobalance_core::model::octopus::pieces::Params;
use autobalance_core::rng::Normal;
use autobalance_core::Session;
use serde_json::json;
use std::collections::HashMap;
use std::time::Instant;

const E: f64 = std::f64::consts::E;

fn uniform(seed: u64, d: usize) -> Vec<f64> {
    let mut r = Normal::new(seed);
    (0..d).map(|_| 2.0 * r.uniform_open() - 1.0).collect()
}

/// Plain float64 GD exactly as the session takes it (`w += (-eta) grad`, the float model's
/// gradient), with its events.
struct Plain {
    x: Vec<f64>,
    g: Vec<f64>,
    t: u64,
    escapes: Vec<Option<u64>>,
    /// First iteration with a nonzero subnormal coordinate.
    subnormal_at: Option<u64>,
    /// First iteration with an exact 0 where the coordinate was nonzero.
    zero_at: Option<u64>,
}

impl Plain {
    fn new(p: &Params, x0: &[f64]) -> Plain {
        let i0 = p.region(x0).i;
        Plain {
            x: x0.to_vec(),
            g: vec![0.0; x0.len()],
            t: 0,
            escapes: (0..x0.len())
                .map(|k| if k < i0 { Some(0) } else { None })
                .collect(),
            subnormal_at: None,
            zero_at: None,
        }
    }
    fn step(&mut self, p: &Params, eta: f64) {
        p.loss_grad(&self.x, &mut self.g);
        let nonzero: Vec<bool> = self.x.iter().map(|v| *v != 0.0).collect();
        for (x, g) in self.x.iter_mut().zip(&self.g) {
            *x += -eta * g;
        }
        self.t += 1;
        if self.subnormal_at.is_none()
            && self
                .x
                .iter()
                .any(|v| *v != 0.0 && v.abs() < f64::MIN_POSITIVE)
        {
            self.subnormal_at = Some(self.t);
        }
        if self.zero_at.is_none() && self.x.iter().zip(&nonzero).any(|(x, n)| *n && *x == 0.0) {
            self.zero_at = Some(self.t);
        }
        let i = p.region(&self.x).i;
        for e in self.escapes.iter_mut().take(i) {
            e.get_or_insert(self.t);
        }
    }
}

/// Run the engine until every saddle is escaped (closed-form spans, one call per span end).
fn escape_all(p: &Params, x0: &[f64], eta: f64) -> Engine {
    let mut e = Engine::new(p, x0);
    let mut w = vec![0.0; x0.len()];
    let mut budget = 1u64 << 60;
    while e.escapes()[p.d - 1].is_none() {
        // Stop at the last escape: never more than the next 2^k iterations past it.
        let n = e.advance(p, &mut w, eta, budget);
        budget -= n;
    }
    e
}

/// Plain GD's underflow and the engine's report of it, d = 5, eta = 1/(4L), where the runs need
/// thousands of iterations: the engine's `underflow_at` is the first iteration with
/// ln|x_j| < -1075 ln 2 (checked by single steps against its closed-form spans); plain GD's first
/// subnormal is the engine's first |x_j| < 2^-1022, its first exact 0 (when it has one) is the
/// iteration before or at `underflow_at`, and otherwise it is stuck at +-2^-1074 (its subnormal
/// rounding: (-eta) * 2L * 2^-1074 rounds to at most half an ulp). Plain GD then never escapes
/// the last saddles; the engine does.
#[test]
fn underflow_iteration_against_plain_gd() {
    let d = 5;
    let (mut zero, mut stuck, mut clean) = (0, 0, 0);
    for l in [2.0, 2.5, 3.0, 5.0, 7.0, 10.0] {
        let p = Params::new(d, l, 1.0, E);
        let eta = 1.0 / (4.0 * l);
        for seed in 0..4u64 {
            let x0 = uniform(seed, d);
            let spanned = escape_all(&p, &x0, eta);
            let Some(uf) = spanned.underflow_at() else {
                // Every escape before any coordinate's underflow: plain GD agrees.
                let mut a = Plain::new(&p, &x0);
                while a.escapes[d - 1].is_none() {
                    a.step(&p, eta);
                    assert!(a.zero_at.is_none() && a.t < 100_000);
                }
                assert_eq!(a.escapes, spanned.escapes());
                clean += 1;
                continue;
            };
            // Single steps: the first iteration with |x_j| < 2^-1022 and with < 2^-1075.
            let mut e = Engine::new(&p, &x0);
            let mut w = vec![0.0; d];
            let mut a = Plain::new(&p, &x0);
            let (mut first_sub, mut first_uf) = (None, None);
            while e.iteration() < uf + 10 {
                assert_eq!(e.advance(&p, &mut w, eta, 1), 1);
                a.step(&p, eta);
                let min = e.ln_abs().into_iter().fold(f64::INFINITY, f64::min);
                if first_sub.is_none() && min < -1022.0 * std::f64::consts::LN_2 {
                    first_sub = Some(e.iteration());
                }
                if first_uf.is_none() && min < -1075.0 * std::f64::consts::LN_2 {
                    first_uf = Some(e.iteration());
                }
            }
            assert_eq!(e.underflow_at(), Some(uf), "L {l} seed {seed}");
            assert_eq!(first_uf, Some(uf), "L {l} seed {seed}");
            assert_eq!(a.subnormal_at, first_sub, "L {l} seed {seed}");
            match a.zero_at {
                Some(z) => {
                    assert!(z == uf || z + 1 == uf, "L {l} seed {seed}: {z} {uf}");
                    zero += 1;
                }
                None => {
                    assert!(
                        a.x.iter().any(|v| v.abs() == 5e-324),
                        "L {l} seed {seed}: {:?}",
                        a.x
                    );
                    stuck += 1;
                }
            }
            // Plain GD from there: the saddle whose coordinate underflowed is never left.
            while a.t < 100_000 {
                a.step(&p, eta);
            }
            let k = a
                .escapes
                .iter()
                .position(|e| e.is_none())
                .expect("plain GD stalls");
            assert!(a.x[k].abs() <= 5e-324, "L {l} seed {seed}");
            assert!(spanned.escapes().iter().all(|e| e.is_some()));
            assert_eq!(&a.escapes[..k], &spanned.escapes()[..k]);
        }
    }
    eprintln!(
        "plain GD reached 0 in {zero} runs, stuck at 2^-1074 in {stuck}, no underflow in {clean}"
    );
    assert!(zero >= 6 && stuck >= 6, "{zero} {stuck}");
}

/// Discrete-time escape law. With mu = ln(1 + 2 eta gamma), rho = ln(1/|1 - 2 eta L|) and
/// kappa = 1 + rho/mu, the escape iterations T_k (T_0 = 0) satisfy exactly
///   T_k = kappa T_{k-1} + ln(tau/|x_k(0)|)/mu + E_k,
///   E_k = N_k + theta_k - Phi_{k-1}/mu,
/// N_k the spline steps of saddle k, theta_k in [0, 1) the rounding up of its quadratic phase,
/// Phi_{k-1} = sum over saddle k-1's spline steps of ln(|1 - 2 eta g2(y)|/|1 - 2 eta L|) (the
/// extra shrinkage of x_k while x_{k-1} crosses the spline). For 2 eta L < 1 and k >= 2 the
/// spline phases start in (tau, (1 + 2 eta gamma) tau] and their trajectories interleave, so
/// N_k - Phi_k/mu varies by at most kappa and N_k by 1: max E_k - min E_k <= kappa + 3.
/// Hence D_{k+1} = T_{k+1} - T_k = kappa D_k + ln(|x_k(0)|/|x_{k+1}(0)|)/mu + (E_{k+1} - E_k):
/// the durations grow by kappa per saddle, kappa -> (L + gamma)/gamma as eta -> 0.
#[test]
fn escape_durations_grow_by_kappa() {
    let d = 10;
    let mut checked = 0;
    for l in [1.0, 2.0, 3.0, 5.0, 10.0] {
        for el in [0.05, 0.25, 0.45] {
            let p = Params::new(d, l, 1.0, E);
            let eta = el / l;
            let mu = (2.0 * eta * p.gamma).ln_1p();
            let rho = -(-2.0 * eta * l).ln_1p();
            let kappa = 1.0 + rho / mu;
            assert!(kappa > (l + p.gamma) / p.gamma);
            let mut worst_ratio: f64 = 0.0;
            let mut worst_spread: f64 = 0.0;
            for seed in 0..20u64 {
                let x0 = uniform(seed + 1000, d);
                let e = escape_all(&p, &x0, eta);
                let t: Vec<f64> = e.escapes().iter().map(|v| v.unwrap() as f64).collect();
                let ek: Vec<f64> = (1..d)
                    .map(|k| t[k] - kappa * t[k - 1] - (p.tau / x0[k].abs()).ln() / mu)
                    .collect();
                let spread = ek.iter().cloned().fold(f64::MIN, f64::max)
                    - ek.iter().cloned().fold(f64::MAX, f64::min);
                assert!(
                    spread <= kappa + 3.0,
                    "L {l} eta L {el} seed {seed}: spread {spread} kappa {kappa}"
                );
                worst_spread = worst_spread.max(spread / (kappa + 3.0));
                // The last ratio of durations against kappa, with the derived error.
                let dl = t[d - 1] - t[d - 2];
                let dp = t[d - 2] - t[d - 3];
                let shift = (x0[d - 2].abs() / x0[d - 1].abs()).ln() / mu;
                let err = (dl / dp - kappa).abs();
                assert!(
                    err <= (shift.abs() + kappa + 3.0) / dp,
                    "L {l} eta L {el} seed {seed}: {} vs {kappa}",
                    dl / dp
                );
                worst_ratio = worst_ratio.max(err / kappa);
                checked += 1;
            }
            eprintln!(
                "L {l} eta L {el}: kappa {kappa:.6} ((L+gamma)/gamma = {}), worst relative \
                 |D_d/D_(d-1) - kappa| / kappa = {worst_ratio:.2e}, largest spread / (kappa + 3) \
                 = {worst_spread:.3}",
                (l + p.gamma) / p.gamma
            );
        }
    }
    assert_eq!(checked, 300);
    // kappa -> (L + gamma)/gamma as eta -> 0.
    for l in [1.0f64, 3.0, 10.0] {
        let eta = 1e-9 / l;
        let kappa = 1.0 - (-2.0 * eta * l).ln_1p() / (2.0 * eta).ln_1p();
        assert!((kappa - (l + 1.0)).abs() < 1e-6 * l, "{kappa}");
    }
}

/// d = 10, L = 3, eta = 1/(4L): about 10^8 effective iterations per run, in microseconds. Prints
/// the time per run and plain stepping's time per iteration (the speed-up).
#[test]
fn d10_runs_take_milliseconds() {
    let (d, l) = (10, 3.0);
    let p = Params::new(d, l, 1.0, E);
    let eta = 1.0 / (4.0 * l);
    let mut total_iters = 0u64;
    let start = Instant::now();
    let runs = 20;
    for seed in 0..runs {
        let x0 = uniform(seed, d);
        let t0 = Instant::now();
        let e = escape_all(&p, &x0, eta);
        let el = t0.elapsed();
        assert!(el.as_secs_f64() < 0.05, "seed {seed}: {el:?}");
        let n = e.escapes()[d - 1].unwrap();
        if seed == 0 {
            // log10 min |x_j| just before the last escape (the last coordinate's turn).
            let mut f = Engine::new(&p, &x0);
            let mut w = vec![0.0; d];
            let before = e.escapes()[d - 2].unwrap() - 1;
            while f.iteration() < before {
                f.advance(&p, &mut w, eta, before - f.iteration());
            }
            eprintln!(
                "log10MinAbs at iteration {before}: {:.4e}",
                f.log10_min_abs(&p)
            );
        }
        assert!(n > 10_000_000, "{n}");
        total_iters += n;
    }
    let exact = start.elapsed().as_secs_f64();
    // Plain stepping on the same function, 2 * 10^6 iterations (it cannot run these to the end).
    let x0 = uniform(0, d);
    let mut a = Plain::new(&p, &x0);
    let steps = 2_000_000;
    let t0 = Instant::now();
    for _ in 0..steps {
        a.step(&p, eta);
    }
    let per_step = t0.elapsed().as_secs_f64() / steps as f64;
    eprintln!(
        "d 10 L 3: {runs} exact runs to the last escape, {:.3e} effective iterations each on \
         average, {:.1} us per run; plain stepping {:.1} ns per iteration, so {:.2} s per run; \
         speed-up {:.2e}",
        total_iters as f64 / runs as f64,
        exact / runs as f64 * 1e6,
        per_step * 1e9,
        per_step * total_iters as f64 / runs as f64,
        per_step * total_iters as f64 / exact
    );
}

// ---- Through the public Session API: "logScale" against "float" ----

fn session(d: usize, l: f64, seed: u64, arithmetic: &str, steps: u64, every: u64) -> Session {
    let spec = json!({
        "model": {"kind": "octopus", "d": d, "L": l, "arithmetic": arithmetic},
        "init": {"kind": "uniform", "low": -1, "high": 1, "seed": seed},
        "schedule": {"kind": "constant", "eta": 1.0 / (4.0 * l)},
        "steps": steps,
        "recordEvery": every,
    });
    Session::new(&spec.to_string(), HashMap::new()).expect("valid spec")
}

fn finish(s: &mut Session, chunk: u64) {
    while !s.advance(chunk).finished {}
}

fn col<'a>(s: &'a Session, name: &str) -> &'a [f64] {
    s.column(name, 0).expect("column")
}

fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Escapes, saddle indices, the underflow iteration, log10MinAbs, loss and the parameters of a
/// logScale run against a float run of the same spec, row by row: identical escapes and saddle
/// indices; in runs whose float iterates never go subnormal, loss, log10MinAbs and parameters
/// within 1e-12 (relative; absolute below 1 for loss and log10MinAbs); in runs that underflow, everything identical up to the float run's
/// underflow and the logScale run escaping every saddle after it.
#[test]
fn session_logscale_against_float() {
    let (mut clean, mut underflowed) = (0, 0);
    let mut lags = [0; 3];
    let mut worst: f64 = 0.0;
    for d in 2..=5 {
        for l in [1.0, 1.5, 2.0, 3.0] {
            for seed in 0..3u64 {
                let steps = 4000;
                let mut a = session(d, l, seed, "float", steps, 7);
                let mut b = session(d, l, seed, "logScale", steps, 7);
                finish(&mut a, 1000);
                finish(&mut b, 333);
                assert_eq!(col(&a, "step"), col(&b, "step"));
                let uf_float = col(&a, "underflowAt").last().copied().unwrap();
                let uf_log = col(&b, "underflowAt").last().copied().unwrap();
                let rows = col(&a, "step").len();
                // Rows before the float run's first subnormal (log10MinAbs >= -307.6).
                let normal_rows = col(&a, "log10MinAbs")
                    .iter()
                    .position(|v| *v < f64::MIN_POSITIVE.log10())
                    .unwrap_or(rows);
                for r in 0..normal_rows {
                    for name in ["saddle", "underflowAt"] {
                        assert!(same(col(&a, name)[r], col(&b, name)[r]), "{name} row {r}");
                    }
                    for k in 1..=d {
                        let name = format!("escape{k}");
                        assert!(
                            same(col(&a, &name)[r], col(&b, &name)[r]),
                            "d {d} L {l} seed {seed} {name} row {r}"
                        );
                    }
                    for name in ["loss", "log10MinAbs"] {
                        let (x, y) = (col(&a, name)[r], col(&b, name)[r]);
                        if !same(x, y) {
                            // Relative, and absolute near 0 (log10MinAbs crosses 0).
                            let e = (x - y).abs() / x.abs().max(y.abs()).max(1.0);
                            worst = worst.max(e);
                            assert!(e < 1e-12, "d {d} L {l} seed {seed} {name} row {r}: {x} {y}");
                        }
                    }
                }
                if normal_rows == rows {
                    assert!(uf_float.is_nan() && uf_log.is_nan());
                    for (x, y) in a.params().iter().zip(b.params()) {
                        let e = if x == y {
                            0.0
                        } else {
                            (x - y).abs() / x.abs().max(y.abs())
                        };
                        worst = worst.max(e);
                        assert!(e < 1e-12, "d {d} L {l} seed {seed}: {x} {y}");
                    }
                    clean += 1;
                } else if !uf_float.is_nan() {
                    // Plain GD's underflow (its first 0 or +-2^-1074, where it then stays)
                    // against the engine's |x_j| < 2^-1075: 0 to 2 iterations earlier.
                    let lag = uf_log - uf_float;
                    assert!(
                        (0.0..=2.0).contains(&lag),
                        "d {d} L {l} seed {seed}: float {uf_float} log {uf_log}"
                    );
                    lags[lag as usize] += 1;
                    underflowed += 1;
                }
            }
        }
    }
    eprintln!(
        "session: {clean} runs without subnormals (worst relative difference {worst:e}), \
         {underflowed} runs underflowing in float (underflowAt lags 0, 1, 2: {lags:?})"
    );
    assert!(clean >= 20 && underflowed >= 3, "{clean} {underflowed}");
}

/// d = 10, L = 3 through the session: about 10^8 iterations, every saddle escaped at the
/// engine's iterations, the run ends at the minimum; chunking changes no bit. Prints the time
/// and the float session's time per step.
#[test]
fn session_logscale_d10() {
    let (d, l) = (10, 3.0);
    let steps = 300_000_000;
    let t0 = Instant::now();
    let mut s = session(d, l, 5, "logScale", steps, 1_000_000);
    finish(&mut s, 10_000);
    let el = t0.elapsed();
    let p = Params::new(d, l, 1.0, E);
    let e = escape_all(&p, s.initial_params(), 1.0 / (4.0 * l));
    for k in 1..=d {
        let v = *col(&s, &format!("escape{k}")).last().unwrap();
        assert_eq!(v, e.escapes()[k - 1].unwrap() as f64, "escape{k}");
    }
    assert_eq!(*col(&s, "saddle").last().unwrap(), (d + 1) as f64);
    for x in s.params() {
        assert!((x.abs() - 4.0 * E).abs() < 1e-12);
    }
    let mut c = session(d, l, 5, "logScale", steps, 1_000_000);
    finish(&mut c, 1);
    for name in s.column_names() {
        let (x, y) = (col(&s, name), col(&c, name));
        assert!(x.iter().zip(y).all(|(x, y)| same(*x, *y)), "{name}");
    }
    let mut f = session(d, l, 5, "float", 1_000_000, 100_000);
    let tf = Instant::now();
    finish(&mut f, 1_000_000);
    let per_step = tf.elapsed().as_secs_f64() / 1e6;
    let last = e.escapes()[d - 1].unwrap();
    eprintln!(
        "session d 10 L 3: {steps} steps (last escape at {last}) in {:.2} ms; float session \
         {:.1} ns per step, {:.1} s to the last escape; speed-up {:.2e}",
        el.as_secs_f64() * 1e3,
        per_step * 1e9,
        per_step * last as f64,
        per_step * last as f64 / el.as_secs_f64()
    );
    assert!(el.as_secs_f64() < 1.0, "{el:?}");
}

/// A step size past 1/L leaves D: both arithmetics stop `diverged` at the same step, keeping
/// the same last iterate in D, with the same reason.
#[test]
fn session_logscale_leaving_d() {
    let d = 4;
    let spec = |a: &str| {
        json!({
            "model": {"kind": "octopus", "d": d, "L": 1.0, "arithmetic": a},
            "init": {"kind": "point", "x": [0.3, 0.2, -0.1, 0.05]},
            "schedule": {"kind": "constant", "eta": 1.3},
            "steps": 1000,
            "recordEvery": 10,
        })
        .to_string()
    };
    let mut a = Session::new(&spec("float"), HashMap::new()).unwrap();
    let mut b = Session::new(&spec("logScale"), HashMap::new()).unwrap();
    let (sa, sb) = (a.advance(1000), b.advance(1000));
    assert!(sa.finished && sb.finished);
    assert_eq!(sa.stop, sb.stop);
    assert_eq!(sa.diverged_at, sb.diverged_at);
    assert!(sa.diverged_at.is_some());
    assert_eq!(col(&a, "step"), col(&b, "step"));
    for (x, y) in a.params().iter().zip(b.params()) {
        assert!((x - y).abs() <= 1e-12 * x.abs().max(y.abs()), "{x} {y}");
    }
}
