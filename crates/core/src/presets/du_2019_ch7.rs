//! Du, "Gradient Descent for Non-convex Problems in Modern Machine Learning" (thesis, CMU 2019),
//! chapter 7 (= Du, Jin, Lee, Jordan, Poczos, Singh, "Gradient descent can take exponential time
//! to escape saddle points", NeurIPS 2017): Figures 7.3 (d = 5) and 7.4 (d = 10), GD and
//! perturbed GD on the octopus function, as sweeps over L x method x random starts.
//!
//! The thesis's section 7.5 is partly garbled in our text; what we read and what we chose is in
//! docs/saddle-escape.md: eta = 1/(4L), gamma = 1, tau = e, PGD with tThres = 1,
//! gThres = gamma e / 100, radius = e / 100, starts uniform in [-1, 1]^d; the values of L are
//! lost with the captions, we take L in {1, 1.5, 2, 3}. GD runs in the exact log-scale mode
//! (plain float64 GD underflows after ~1e3 steps and then sits on a saddle forever), PGD in
//! float64. Every theory value (the growth factors, the lower bound, nu, f*) is computed here
//! from the parameters, never from a run.

use serde_json::{json, Value};

use super::Preset;

pub(super) const PRESETS: &[Preset] = &[
    Preset {
        name: "figure73",
        description: "Du (2019 thesis) Figure 7.3 / Du et al. (NeurIPS 2017): GD (exact log-scale \
                      mode) and perturbed GD on the octopus function, d = 5, L in {1, 1.5, 2, 3}, \
                      50 random starts in [-1,1]^d each: escape iteration of every saddle \
                      (medians, quartiles), its growth factor against the theory's, GD's total \
                      time against the lower bound",
        build: figure73,
    },
    Preset {
        name: "figure74",
        description: "Du (2019 thesis) Figure 7.4 / Du et al. (NeurIPS 2017): the same with \
                      d = 10 (GD needs ~1e5 to 2e8 iterations: exact log-scale mode)",
        build: figure74,
    },
];

/// The values of L (the thesis's captions are lost; NeurIPS 2017 varies L with gamma = 1).
pub const CH7_L: [f64; 4] = [1.0, 1.5, 2.0, 3.0];
/// gamma (the thesis: 1).
pub const CH7_GAMMA: f64 = 1.0;
/// Random starts per setting (the full protocol).
pub const CH7_SEEDS: u64 = 50;
/// PGD's t_thres.
pub const CH7_T_THRES: f64 = 1.0;

/// tau = e.
fn tau() -> f64 {
    std::f64::consts::E
}

/// PGD's g_thres = gamma e / 100.
pub fn ch7_g_thres() -> f64 {
    CH7_GAMMA * std::f64::consts::E / 100.0
}

/// PGD's radius r = e / 100.
pub fn ch7_radius() -> f64 {
    std::f64::consts::E / 100.0
}

/// eta = 1/(4L).
pub fn ch7_eta(l: f64) -> f64 {
    1.0 / (4.0 * l)
}

/// nu = 4 L tau^2 + (13/6)(L + gamma) tau^2 (REFERENCE.md section 3, Ch.7).
pub fn ch7_nu(l: f64) -> f64 {
    let t2 = tau() * tau();
    4.0 * l * t2 + 13.0 / 6.0 * (l + CH7_GAMMA) * t2
}

/// The theory's per-saddle growth factor (L + gamma)/gamma (thesis section 7.4, the continuous
/// picture: t_{i+1} >= (L + gamma)/gamma t_i).
pub fn ch7_growth_theory(l: f64) -> f64 {
    (l + CH7_GAMMA) / CH7_GAMMA
}

/// The discrete-time growth factor of GD with step eta: a trailing coordinate shrinks by
/// (1 - 2 eta L) per step while the earlier saddles are passed, and must grow back by
/// (1 + 2 eta gamma) per step, so escape_{k+1} ~ escape_k (1 + ln(1/(1 - 2 eta L)) /
/// ln(1 + 2 eta gamma)); (L + gamma)/gamma is its limit as eta -> 0 (docs/saddle-escape.md).
pub fn ch7_growth_discrete(l: f64, eta: f64) -> f64 {
    1.0 + (1.0 / (1.0 - 2.0 * eta * l)).ln() / (1.0 + 2.0 * eta * CH7_GAMMA).ln()
}

/// The theory's lower bound on GD's iterations: (1/(2 eta gamma)) ((L + gamma)/gamma)^(d-1).
pub fn ch7_gd_lower_bound(l: f64, eta: f64, d: usize) -> f64 {
    1.0 / (2.0 * eta * CH7_GAMMA) * ch7_growth_theory(l).powi(d as i32 - 1)
}

/// Steps of a GD run: far above the slowest escape of the last saddle (d = 10, L = 3: ~1e8 to
/// ~1e9 iterations from the unluckiest start); the exact log-scale mode jumps the multiplicative
/// phases, so a run costs its spline phases, not its iterations.
fn gd_steps(d: usize) -> f64 {
    if d <= 5 {
        1e9
    } else {
        1e12
    }
}

/// Steps of a PGD run (float64, every step taken): PGD passes a saddle in 25-60 iterations
/// (its slowest start of 30 at d = 10, L = 3 reaches the minimum at ~520).
fn pgd_steps(d: usize) -> f64 {
    500.0 * d as f64
}

fn escape(k: usize) -> String {
    format!("escape{k}")
}

fn fmt_l(l: f64) -> String {
    let s = format!("{l}");
    s.trim_end_matches(".0").to_string()
}

/// The sweep preset of one figure.
fn figure(d: usize) -> Value {
    let g_thres = ch7_g_thres();
    let radius = ch7_radius();
    let etas: Vec<f64> = CH7_L.iter().map(|&l| ch7_eta(l)).collect();
    let (gd_n, pgd_n) = (gd_steps(d), pgd_steps(d));
    let base = json!({
        "model": {"kind": "octopus", "d": d, "L": CH7_L[0], "gamma": CH7_GAMMA, "tau": tau(), "arithmetic": "logScale"},
        "init": {"kind": "uniform", "low": -1.0, "high": 1.0, "seed": 0},
        "schedule": {"kind": "constant", "eta": etas[0]},
        "method": {"kind": "gd"},
        "steps": gd_n,
        "recordEvery": gd_n
    });
    let pgd = json!({"kind": "perturbedGd", "gThres": g_thres, "tThres": CH7_T_THRES, "radius": radius, "seed": 1});
    let last = escape(d);
    let mut keep: Vec<Value> = (1..=d)
        .map(|k| json!({"name": escape(k), "column": escape(k), "reduce": "last"}))
        .collect();
    keep.push(json!({"name": "finalLoss", "column": "loss", "reduce": "last"}));
    keep.push(json!({"name": "underflowAt", "column": "underflowAt", "reduce": "last"}));
    let sweep = json!({
        "kind": "sweep",
        "base": base,
        "axes": [
            {"zip": [
                {"path": "model.L", "values": CH7_L},
                {"path": "schedule.eta", "values": etas}
            ]},
            {"zip": [
                {"path": "method", "values": [{"kind": "gd"}, pgd]},
                {"path": "model.arithmetic", "values": ["logScale", "float"]},
                {"path": "steps", "values": [gd_n, pgd_n]},
                {"path": "recordEvery", "values": [gd_n, pgd_n]}
            ]}
        ],
        "seeds": {"count": CH7_SEEDS, "base": 0, "paths": ["init.seed", "method.seed?"]},
        "keep": keep,
        "classes": [
            {"name": "escapedAll", "when": {"all": [{"stop": "finished"}, {"of": last, "ge": 0}]}}
        ],
        "reduce": {"quantiles": [0.25, 0.5, 0.75], "confidence": 0.95}
    });

    let names: Vec<String> = (1..=d).map(escape).collect();
    let method_axis = json!({"path": "model.arithmetic", "title": "method",
                             "labels": ["GD (exact log-scale)", "PGD (float64)"]});
    let gd = |l: f64| json!({"model.L": l, "model.arithmetic": "logScale"});
    let pg = |l: f64| json!({"model.L": l, "model.arithmetic": "float"});
    let kept = |name: &str, stat: &str, w: Value| json!({"sweep": "kept", "name": name, "stat": stat, "where": w});
    // The staircase from the second saddle on: the steps escape_k - escape_{k-1}, k = 3..d (the
    // first escape and the second step depend on the random start more than on the saddles).
    let growth = |w: Value| json!({"sweep": "stepGrowth", "name": escape(2), "through": last, "stat": "median", "where": w});
    let runs_min = json!({"sweep": "class", "name": "escapedAll", "stat": "runs", "reduce": "min"});
    let full_protocol = json!({"kind": "requires", "of": runs_min, "atLeast": CH7_SEEDS,
        "why": format!("the full protocol: {CH7_SEEDS} random starts per setting; a quick run is not judged")});
    let all_escaped = |w: Value, who: &str| {
        json!({"kind": "requires",
        "of": {"sweep": "kept", "name": last, "stat": "missing", "where": w, "reduce": "max"}, "atMost": 0,
        "why": format!("every {who} run left every saddle within its steps: medians over only the runs that did would be biased")})
    };

    // Plots: per L the median staircase (objective levels at the saddles between the median escape
    // iterations, log x) and the escape iteration per saddle (log y, quartile bands); then GD's
    // and PGD's total time against L beside the theory's lower bound.
    let mut plots: Vec<Value> = Vec::new();
    for &l in &CH7_L {
        let nu = ch7_nu(l);
        let levels: Vec<f64> = (0..=d).map(|k| -(k as f64) * nu).collect();
        plots.push(json!({
            "kind": "staircase",
            "title": format!("L = {}: objective against iterations (median staircase)", fmt_l(l)),
            "kept": names, "levels": levels, "where": {"model.L": l}, "series": method_axis,
            "stat": "median", "xTitle": "iteration (log)", "yTitle": "f (saddle values between median escapes)"
        }));
        plots.push(json!({
            "kind": "keptProfile",
            "title": format!("L = {}: iteration leaving saddle k", fmt_l(l)),
            "kept": names, "where": {"model.L": l}, "series": method_axis,
            "stat": "median", "logY": true, "xTitle": "saddle k", "yTitle": "escape iteration (median)"
        }));
    }
    let bound_y: Vec<f64> = CH7_L
        .iter()
        .map(|&l| ch7_gd_lower_bound(l, ch7_eta(l), d))
        .collect();
    plots.push(json!({
        "kind": "lines",
        "title": format!("total iterations to leave all {d} saddles against L"),
        "x": {"path": "model.L", "title": "L"},
        "series": method_axis,
        "value": {"kept": last, "stat": "median"},
        "logY": true,
        "theory": [{"label": "theory: GD lower bound (1/(2 eta gamma)) ((L+gamma)/gamma)^(d-1)", "x": CH7_L, "y": bound_y}]
    }));

    // Claims.
    let mut c_lower = vec![
        full_protocol.clone(),
        all_escaped(json!({"model.arithmetic": "logScale"}), "GD"),
    ];
    let mut c_coincide = c_lower.clone();
    let mut c_discrete = c_lower.clone();
    let mut c_pgd = vec![
        full_protocol.clone(),
        all_escaped(json!({"model.arithmetic": "float"}), "PGD"),
    ];
    let mut c_bound = vec![all_escaped(json!({"model.arithmetic": "logScale"}), "GD")];
    let mut c_faster = vec![
        full_protocol.clone(),
        all_escaped(json!({"model.arithmetic": "logScale"}), "GD"),
        all_escaped(json!({"model.arithmetic": "float"}), "PGD"),
    ];
    let mut c_min = vec![
        all_escaped(json!({"model.arithmetic": "logScale"}), "GD"),
        all_escaped(json!({"model.arithmetic": "float"}), "PGD"),
    ];
    let mut c_float = Vec::new();
    for &l in &CH7_L {
        let eta = ch7_eta(l);
        let fstar = -(d as f64) * ch7_nu(l);
        c_lower
            .push(json!({"kind": "atLeast", "of": growth(gd(l)), "bound": ch7_growth_theory(l)}));
        c_coincide.push(
            json!({"kind": "near", "of": growth(gd(l)), "to": ch7_growth_theory(l), "relTol": 0.1}),
        );
        c_discrete.push(json!({"kind": "near", "of": growth(gd(l)), "to": ch7_growth_discrete(l, eta), "relTol": 0.1}));
        c_pgd.push(json!({"kind": "near", "of": growth(pg(l)), "to": 1.0, "relTol": 0.25}));
        c_pgd.push(json!({"kind": "show", "of": kept(&last, "median", pg(l))}));
        c_bound.push(json!({"kind": "atLeast", "of": kept(&last, "min", gd(l)), "bound": ch7_gd_lower_bound(l, eta, d)}));
        c_faster.push(json!({"kind": "atMost", "of": kept(&last, "median", pg(l)), "bound": kept(&last, "median", gd(l))}));
        c_faster.push(json!({"kind": "show", "of": kept(&last, "max", pg(l))}));
        c_faster.push(json!({"kind": "show", "of": kept(&last, "min", gd(l))}));
        // f* = -d nu: GD converges to it; PGD keeps perturbing by r every other step there
        // (t_thres = 1), so its last loss is within ~L r^2 of f*.
        c_min.push(json!({"kind": "near", "of": kept("finalLoss", "max", gd(l)), "to": fstar, "absTol": 1e-9 * fstar.abs()}));
        c_min.push(json!({"kind": "near", "of": kept("finalLoss", "max", pg(l)), "to": fstar, "absTol": 4.0 * l * radius * radius}));
        // How many of GD's runs plain float64 GD would have stalled (a run that reaches the
        // minimum before a coordinate underflows has none), and when, for the largest L.
        c_float.push(json!({"kind": "show", "of": kept("underflowAt", "count", gd(l))}));
        if l == CH7_L[CH7_L.len() - 1] {
            c_float.push(json!({"kind": "show", "of": kept("underflowAt", "median", gd(l))}));
            c_float.push(json!({"kind": "show", "of": kept(&last, "median", gd(l))}));
        }
    }
    let ls = CH7_L
        .iter()
        .map(|&l| fmt_l(l))
        .collect::<Vec<_>>()
        .join(", ");
    let reference = json!([
        {"claim": "GD's time to escape a saddle grows exponentially with the saddle index: t_{i+1} >= ((L + gamma)/gamma) t_i",
         "paper": "Section 7.4 (key observation, \"t_{i+1} >= (L+gamma)/gamma t_i\"), Theorem 7.3; Figures 7.3/7.4: \"for GD the length of the segment grows at a fixed rate\"",
         "check": format!("for each L in {{{ls}}}: the growth factor of the median staircase (least-squares fit of ln(median escape_k - median escape_{{k-1}}) on k, k = 3..{d}) is at least (L + gamma)/gamma"),
         "checks": c_lower},
        {"claim": "the growth factor coincides with (L + gamma)/gamma",
         "paper": "Section 7.5: the growth \"coincides with ... a multiplicative factor (L+gamma)/gamma\"; \"as the ratio (L+gamma)/gamma becomes larger, the rate of growth ... increases\"",
         "check": "the fitted factor within 10% of (L + gamma)/gamma, each L (the continuous-time picture; see the next row for the discrete one)",
         "checks": c_coincide},
        {"claim": "GD with step eta: the factor is 1 + ln(1/(1 - 2 eta L)) / ln(1 + 2 eta gamma) (eta = 1/(4L): 1 + ln 2 / ln(1 + 1/(2L))), whose eta -> 0 limit is (L + gamma)/gamma",
         "paper": "not in the paper: the discrete-time version of its key observation (docs/saddle-escape.md derives it)",
         "check": "the fitted factor within 10% of the discrete-time factor, each L",
         "checks": c_discrete},
        {"claim": "PGD's time per saddle is roughly constant (polynomial in total)",
         "paper": "Section 7.5: \"the number of iterations for PGD to escape is approximately constant\"; Theorem (PGD): polynomially many iterations",
         "check": format!("for each L: the growth factor of PGD's median staircase (k = 3..{d}) within 25% of 1; PGD's median total shown"),
         "checks": c_pgd},
        {"claim": format!("GD needs at least (1/(2 eta gamma)) ((L + gamma)/gamma)^(d-1) iterations (d = {d})"),
         "paper": "Theorem 7.3 / Section 7.4: the lower bound on GD's escape of all d saddles (= 2L (L+1)^(d-1) here)",
         "check": format!("for each L: the fastest of GD's runs (min over the random starts) leaves saddle {d} no earlier than the bound (a statement about every run: judged on any number of starts)"),
         "checks": c_bound},
        {"claim": "PGD converges faster than GD in every setting",
         "paper": "Section 7.5: \"in all experiments, PGD converges faster than GD\"",
         "check": format!("for each L: PGD's median iteration of leaving saddle {d} (reaching the minimum's region) at most GD's; PGD's slowest and GD's fastest run shown"),
         "checks": c_faster},
        {"claim": "both methods end at the minimum f* = -d nu",
         "paper": "Figures 7.3/7.4: both objectives reach the minimum (the text gives no values)",
         "check": "for each L: the largest final loss of GD within 1e-9 |f*| of f*, of PGD within 4 L r^2 (it keeps perturbing by r every other step at the minimum: t_thres = 1)",
         "checks": c_min},
        {"claim": "plain float64 GD would not show the exponential times: the trailing coordinates underflow to 0",
         "paper": "not discussed in the paper",
         "check": format!("for each L, the number of GD runs (of the starts per setting) in which plain float64 GD would hold an exact 0 (underflowAt: it then sits on a saddle for ever; the exact mode goes on in log scale); at L = {}, the median of that iteration beside GD's median escape of saddle {d}", fmt_l(CH7_L[CH7_L.len() - 1])),
         "checks": c_float,
         "cannotCompare": "the paper does not discuss floating point; shown, not judged"}
    ]);
    json!({
        "runs": [],
        "sweep": sweep,
        "plots": plots,
        "reference": reference
    })
}

fn figure73() -> Value {
    figure(5)
}

fn figure74() -> Value {
    figure(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn theory_values() {
        // eta = 1/(4L): 1 - 2 eta L = 1/2, 1 + 2 eta gamma = 1 + 1/(2L).
        for &l in &CH7_L {
            let eta = ch7_eta(l);
            let q = ch7_growth_discrete(l, eta);
            assert!((q - (1.0 + 2f64.ln() / (1.0 + 0.5 / l).ln())).abs() < 1e-12);
            assert!(q > ch7_growth_theory(l));
            assert!((ch7_gd_lower_bound(l, eta, 5) - 2.0 * l * (l + 1.0).powi(4)).abs() < 1e-9);
        }
        // The discrete factor tends to (L + gamma)/gamma as eta -> 0.
        let q = ch7_growth_discrete(2.0, 1e-7);
        assert!((q - 3.0).abs() < 1e-5, "{q}");
        // nu = -g1(2 tau) + 4 L tau^2 with g1(2 tau) = -(13/6)(L + gamma) tau^2.
        assert!((ch7_nu(1.0) - (4.0 + 13.0 / 3.0) * tau() * tau()).abs() < 1e-12);
    }

    #[test]
    fn plots_and_checks_name_kept_values() {
        for (d, f) in [(5usize, figure73 as fn() -> Value), (10, figure74)] {
            let v = f();
            let kept: Vec<String> = v["sweep"]["keep"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["name"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(kept.len(), d + 2);
            for p in v["plots"].as_array().unwrap() {
                for k in p["kept"].as_array().into_iter().flatten() {
                    assert!(kept.contains(&k.as_str().unwrap().to_string()));
                }
                if let Some(levels) = p["levels"].as_array() {
                    assert_eq!(levels.len(), d + 1);
                }
            }
            for r in v["reference"].as_array().unwrap() {
                for c in r["checks"].as_array().unwrap() {
                    for q in [&c["of"], &c["bound"], &c["to"]] {
                        for key in ["name", "through"] {
                            if let Some(n) = q[key].as_str() {
                                assert!(kept.contains(&n.to_string()) || n == "escapedAll", "{n}");
                            }
                        }
                    }
                }
            }
        }
    }
}
