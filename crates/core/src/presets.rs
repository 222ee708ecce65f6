//! The paper reproductions: for each preset, the runs to make (as specs), what to plot, and what
//! the paper reports beside which the results are shown. The TS layer runs and renders them.

use serde_json::{json, Value};

use crate::error::{Error, Result};

struct Preset {
    name: &'static str,
    description: &'static str,
    build: fn() -> Value,
}

const PRESETS: &[Preset] = &[
    Preset {
        name: "figure1",
        description:
            "Du, Hu & Lee (2018) Figure 1: GD on matrix factorization, objective (1) vs the \
                      balance-regularized objective (3), from a small random init: loss and \
                      ||U||_F^2/||V||_F^2 against iterations",
        build: figure1,
    },
    Preset {
        name: "figure2",
        description:
            "Du, Hu & Lee (2018) Figure 2: GD on a 3-layer ReLU network (1000-100-100-10, \
                      1000 points, squared loss), balanced vs unbalanced Gaussian init: squared \
                      layer norms, their differences and ratios against iterations",
        build: figure2,
    },
    Preset {
        name: "theorem31",
        description: "Du, Hu & Lee (2018) Theorem 3.1 / Lemma 3.1: rank-3 matrix factorization \
                      from a small init; the Theorem 3.1 step schedule vs eta_t = c (t+1)^-3/4: \
                      the imbalance stays below eps and the loss never increases",
        build: theorem31,
    },
    Preset {
        name: "theorem32",
        description: "Du, Hu & Lee (2018) Theorem 3.2: rank-1 matrix factorization, Gaussian \
                      init, constant step c/sigma_1: linear convergence, balanced factors",
        build: theorem32,
    },
];

/// Theorem 3.1: the paper's schedule (tiny harmonic steps) and an inverse-power schedule
/// (delta = 1/4) that the theorem also covers, from the same small init (entries N(0, 1e-6)).
fn theorem31() -> Value {
    let run = |schedule: Value| {
        json!({
            "model": {"kind": "matrixFactorization", "d1": 60, "d2": 40, "rank": 3},
            "target": {"kind": "random", "singularValues": [3.0, 2.0, 1.0], "seed": 1},
            "init": {"kind": "gaussian", "stdU": 1e-3, "stdV": 1e-3, "seed": 2},
            "schedule": schedule,
            "steps": 20000,
            "recordEvery": 20
        })
    };
    json!({
        "runs": [
            {"label": "Theorem 3.1 schedule, eps = 0.01", "spec": run(json!({"kind": "theorem31", "eps": 0.01}))},
            {"label": "eta_t = 0.25 (t+1)^-3/4", "spec": run(json!({"kind": "inversePower", "c": 0.25, "delta": 0.25}))}
        ],
        "plots": [
            {"title": "(a) loss", "column": "loss", "logY": true},
            {"title": "(b) imbalance ||U^T U - V^T V||_F", "column": "imbalance", "logY": true},
            {"title": "(c) step size eta_t", "column": "eta", "logY": true}
        ],
        "reference": [
            {"claim": "Lemma 3.1: ||U_t^T U_t - V_t^T V_t||_F <= eps for all t, and f is non-increasing",
             "paper": "Theorem 3.1 / Lemma 3.1 (a proof, no figure)",
             "check": "imbalance column below 0.01 on every row; loss column non-increasing (crates/core/tests/mf.rs checks both)"},
            {"claim": "any eta_t = Theta(t^-(1/2+delta)), 0 < delta <= 1/2, converges to a global minimum",
             "paper": "Theorem 3.1",
             "check": "the inverse-power run's loss falls towards 0; the paper's constants make its own schedule very slow"}
        ]
    })
}

/// Theorem 3.2: M* = s1 u* v*^T with s1 = 1, d = 100; u0, v0 ~ N(0, delta I) with
/// delta = c_init sqrt(s1/d), c_init = 0.01 (std 0.0316); constant eta = c_step / s1, c_step = 0.1.
fn theorem32() -> Value {
    json!({
        "runs": [
            {"label": "rank 1, constant step 0.1 / sigma_1",
             "spec": {
                "model": {"kind": "matrixFactorization", "d1": 100, "d2": 100, "rank": 1},
                "target": {"kind": "random", "singularValues": [1.0], "seed": 1},
                "init": {"kind": "gaussian", "stdU": 0.0316227766016838, "stdV": 0.0316227766016838, "seed": 2},
                "schedule": {"kind": "constant", "eta": 0.1},
                "steps": 600,
                "recordEvery": 2
             }}
        ],
        "plots": [
            {"title": "(a) ||U V^T - M*||_F", "column": "residual", "logY": true},
            {"title": "(b) ||u||^2 / ||v||^2", "column": "normRatio", "logY": false}
        ],
        "reference": [
            {"claim": "linear convergence: ||u_t v_t^T - M*||_F <= eps s1 after O(log(d/eps)) steps",
             "paper": "Theorem 3.2",
             "check": "the residual falls on a straight line on the log scale after the initial growth phase"},
            {"claim": "the factors stay balanced: c0 <= |u_t^T u*| / |v_t^T v*| <= C0",
             "paper": "Theorem 3.2",
             "check": "||u||^2/||v||^2 stays of order 1"}
        ]
    })
}

/// Step size of the Figure 2 preset.
pub const FIGURE2_ETA: f64 = 0.02;
/// Iterations of the Figure 2 preset (the paper's 10,000).
pub const FIGURE2_STEPS: u64 = 10_000;

/// One Figure 2 run: `variances` of W1, W2, W3.
pub fn figure2_spec(variances: [f64; 3], steps: u64) -> Value {
    json!({
        "model": {"kind": "network", "inputDim": 1000, "loss": "squared", "layers": [
            {"width": 100, "activation": "relu"},
            {"width": 100, "activation": "relu"},
            {"width": 10}
        ]},
        "data": {"kind": "generated", "samples": 1000, "inputs": "gaussian",
                 "targets": {"kind": "gaussian", "std": 1.0}, "seed": 1},
        "init": {"kind": "gaussian", "variances": variances, "seed": 2},
        "schedule": {"kind": "constant", "eta": FIGURE2_ETA},
        "steps": steps,
        "recordEvery": 10
    })
}

/// Figure 2. The paper gives the architecture, the number of points, the loss, the inits and the
/// iteration count, not the data, the targets or the step. We use inputs with i.i.d. N(0, 1)
/// entries, targets with i.i.d. N(0, 1) entries (random labels, as in Figure 2.1 of Du's thesis),
/// L = 1/(2m) sum ||f(x_i) - y_i||^2 and the constant step 0.02 (docs/networks.md; the target
/// scale sets the size of the trained weights).
fn figure2() -> Value {
    json!({
        "runs": [
            {"label": "balanced init: Var W1, W2, W3 = 1e-4/100, 1e-4/10, 1e-4",
             "spec": figure2_spec([1e-6, 1e-5, 1e-4], FIGURE2_STEPS)},
            {"label": "unbalanced init: Var W1, W2, W3 = 1e-4",
             "spec": figure2_spec([1e-4, 1e-4, 1e-4], FIGURE2_STEPS)}
        ],
        "plots": [
            {"title": "(a) ||W1||_F^2", "column": "normSqW1", "logY": false},
            {"title": "(b) ||W2||_F^2", "column": "normSqW2", "logY": false},
            {"title": "(c) ||W3||_F^2", "column": "normSqW3", "logY": false},
            {"title": "||W1||^2 - ||W2||^2", "column": "layerDiff1", "logY": false},
            {"title": "||W2||^2 - ||W3||^2", "column": "layerDiff2", "logY": false},
            {"title": "||W1||^2 / ||W2||^2", "column": "normRatio1", "logY": false},
            {"title": "||W2||^2 / ||W3||^2", "column": "normRatio2", "logY": false},
            {"title": "loss", "column": "loss", "logY": true}
        ],
        "reference": [
            {"claim": "balanced init: the layers stay balanced",
             "paper": "final ||W1||^2, ||W2||^2, ||W3||^2 = 42.90, 43.76, 43.68; differences <= 0.14 at all iterations",
             "check": "|layerDiff1|, |layerDiff2| stay small relative to the norms; final norms of the same order"},
            {"claim": "unbalanced init: the differences stay (nearly) constant, the ratios tend to 1",
             "paper": "final 55.50, 45.65, 45.46; differences bounded by 9 and nearly constant; ratios close to 1 after ~1,000 iterations",
             "check": "layerDiffDrift small relative to the initial differences (~9.9, ~0.9); normRatio -> 1 as the norms grow"}
        ]
    })
}

/// `[{"name": .., "description": ..}, ..]`
pub fn list_json() -> String {
    let list: Vec<Value> = PRESETS
        .iter()
        .map(|p| json!({"name": p.name, "description": p.description}))
        .collect();
    Value::Array(list).to_string()
}

/// `{"name", "description", "runs": [{"label", "spec"}], "plots": [..], "reference": [..]}`
pub fn spec_json(name: &str) -> Result<String> {
    let p = PRESETS.iter().find(|p| p.name == name).ok_or_else(|| {
        let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
        Error::request(
            "preset",
            format!("no preset named {name:?} (available: {})", names.join(", ")),
        )
    })?;
    let mut v = (p.build)();
    v["name"] = json!(p.name);
    v["description"] = json!(p.description);
    Ok(v.to_string())
}

/// Figure 1. The paper does not give sizes, target, init scale or step: we use a 100 x 80 target
/// of rank 5 with singular values 5, 4, 3, 2, 1, i.i.d. N(0, 1e-6) initial entries (the small
/// random init of the text), and the constant step 0.02 (< 1/sigma_max(M*) with margin) for
/// both objectives; (3) adds 1/8 ||U^T U - V^T V||_F^2.
fn figure1() -> Value {
    let run = |w: f64| {
        json!({
            "model": {"kind": "matrixFactorization", "d1": 100, "d2": 80, "rank": 5, "balanceWeight": w},
            "target": {"kind": "random", "singularValues": [5.0, 4.0, 3.0, 2.0, 1.0], "seed": 1},
            "init": {"kind": "gaussian", "stdU": 1e-3, "stdV": 1e-3, "seed": 2},
            "schedule": {"kind": "constant", "eta": 0.02},
            "steps": 1000,
            "recordEvery": 5
        })
    };
    json!({
        "runs": [
            {"label": "objective (1)", "spec": run(0.0)},
            {"label": "objective (3): + 1/8 ||U^T U - V^T V||_F^2", "spec": run(0.125)}
        ],
        "plots": [
            {"title": "(a) loss", "column": "loss", "logY": true},
            {"title": "(b) ||U||_F^2 / ||V||_F^2", "column": "normRatio", "logY": false},
            {"title": "(c) imbalance ||U^T U - V^T V||_F (not in the paper)", "column": "imbalance", "logY": true}
        ],
        "reference": [
            {"claim": "GD on (1) from a small random init converges to a global minimum, at a rate competitive with (3)",
             "paper": "Figure 1a: both losses fall to ~0 at similar rates",
             "check": "final loss of both runs below 1e-12, and the (1) run needs at most 10x the iterations of (3) to reach 1e-10"},
            {"claim": "the ratio between the norms of U and V stays constant: no unbalancedness",
             "paper": "Figure 1b: the ratio stays flat in all iterations",
             "check": "||U||_F^2/||V||_F^2 within 1% of 1 after the first growth phase, for both objectives"}
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_builds_valid_sessions() {
        let list: Value = serde_json::from_str(&list_json()).unwrap();
        for p in list.as_array().unwrap() {
            let spec: Value =
                serde_json::from_str(&spec_json(p["name"].as_str().unwrap()).unwrap()).unwrap();
            for run in spec["runs"].as_array().unwrap() {
                crate::Session::new(&run["spec"].to_string(), Default::default()).unwrap();
            }
        }
        assert!(spec_json("nope").is_err());
    }
}
