//! Du (2019 thesis), chapter 3: the kernels of deep networks with smooth activations
//! (docs/kernel-recursions.md; formulas and the three corrections in REFERENCE.md section 3).
//!
//! The chapter has no figures. `ch3Kernels` computes what its theorems are about: lambda_min(K^(H))
//! against the depth H = 1..30 (fully connected softplus and tanh, ResNet softplus), the
//! convergence of the last-layer Gram G^(H) of random networks to K^(H) as the width grows, and
//! Prop 3.2's c_H ~ 1/H^2 for the ResNet (fitted). Each reference row says which statement of the
//! chapter the numbers support and how far.

use serde_json::{json, Value};

use super::Preset;

pub(super) const PRESETS: &[Preset] = &[Preset {
    name: "ch3Kernels",
    description:
        "Du (2019 thesis) ch. 3: lambda_min of the infinite-width Gram K^(H) against depth \
                  H = 1..30 (fully connected softplus and tanh, ResNet softplus; corrected \
                  recursions), the last-layer Gram of random networks converging to K^(H) like \
                  m^-1/2, and Prop 3.2's c_H ~ 1/H^2 for the ResNet (fitted exponent)",
    build: ch3_kernels,
}];

/// Points on the sphere (n in R^d) of every study.
pub const CH3_N: usize = 40;
pub const CH3_D: usize = 5;
/// Largest depth.
pub const CH3_HMAX: usize = 30;
/// The ResNet's c_res.
pub const CH3_CRES: f64 = 0.5;
/// Widths and seeds of the width-convergence studies, and their depth.
pub const CH3_WIDTHS: [usize; 6] = [64, 128, 256, 512, 1024, 2048];
pub const CH3_SEEDS: usize = 4;
pub const CH3_WIDTH_DEPTH: usize = 3;

fn data() -> Value {
    json!({"kind": "sphere", "n": CH3_N, "d": CH3_D, "seed": 1})
}

fn depth_study(arch: &str, act: &str) -> Value {
    let mut s = json!({"kind": "kernelRecursion", "architecture": arch, "activation": act,
                       "depths": {"max": CH3_HMAX}, "data": data()});
    if arch == "resnet" {
        s["cRes"] = json!(CH3_CRES);
    }
    s
}

fn width_study(arch: &str) -> Value {
    let mut s = json!({"kind": "kernelRecursion", "architecture": arch, "activation": "softplus",
                       "depths": [CH3_WIDTH_DEPTH], "data": data(),
                       "finiteWidth": {"widths": CH3_WIDTHS, "seeds": CH3_SEEDS, "seed": 0}});
    if arch == "resnet" {
        s["cRes"] = json!(CH3_CRES);
    }
    s
}

fn sc(i: usize, column: &str, reduce: &str) -> Value {
    json!({"study": i, "column": column, "reduce": reduce})
}

fn sf(i: usize, field: &str) -> Value {
    json!({"study": i, "field": field})
}

fn ch3_kernels() -> Value {
    let studies = json!([
        {"label": "fully connected, softplus", "spec": depth_study("fullyConnected", "softplus")},
        {"label": "fully connected, tanh", "spec": depth_study("fullyConnected", "tanh")},
        {"label": format!("ResNet, softplus, c_res = {CH3_CRES}"), "spec": depth_study("resnet", "softplus")},
        {"label": format!("fully connected softplus, H = {CH3_WIDTH_DEPTH}"), "spec": width_study("fullyConnected")},
        {"label": format!("ResNet softplus, H = {CH3_WIDTH_DEPTH}"), "spec": width_study("resnet")}
    ]);
    let positive: Vec<Value> = [1usize, 2]
        .iter()
        .map(|&i| json!({"kind": "atLeast", "of": sc(i, "lambdaMin", "min"), "bound": 0.0}))
        .collect();
    let reference = json!([
        {"claim": "lambda_min(K^(H)) > 0 for non-degenerate data (section 3.13.1), so GD converges linearly at rate lambda_min(K^(H)) (Theorems 3.1-3.3)",
         "paper": "Du 2019 thesis, ch. 3, Theorems 3.1-3.3 and section 3.13.1 (no numbers printed)",
         "check": format!("lambda_min(K^(H)) > 0 at every H = 1..{CH3_HMAX} for the fully connected tanh net and the ResNet; for the fully connected softplus net up to the depth where it falls below roundoff (shown)"),
         "checks": positive.into_iter()
             .chain([json!({"kind": "show", "of": sf(0, "roundoffDepth")})])
             .collect::<Vec<_>>()},
        {"claim": "the fully connected net's requirements grow exponentially with depth (2^{O(H)} factors in Theorem 3.1)",
         "paper": "Theorem 3.1 (a proof bound, not a measured quantity)",
         "check": "softplus: lambda_min(K^(H)) falls by a constant factor per layer (fitted over the depths above roundoff: at most 0.5), so a width bound in 1/lambda_min grows exponentially in H; tanh: lambda_min grows with H (its kernel decorrelates), so the exponential is not in lambda_min for every activation (a finding)",
         "checks": [
             {"kind": "atMost", "of": sf(0, "depthFactor"), "bound": 0.5},
             {"kind": "atMost", "of": sc(1, "lambdaMin", "last"), "bound": sc(1, "lambdaMin", "first"),
              "finding": "lambda_min(K^(H)) of the tanh net grows with depth (its kernel decorrelates): the exponential is in the proof's bounds, not in lambda_min, for tanh"}
         ]},
        {"claim": "Prop 3.2: for the ResNet, lambda_min(K^(H)) >= c_H kappa with c_H of order 1/H^2",
         "paper": "Proposition 3.2",
         "check": "the least-squares slope of ln lambda_min(K^(H)) against ln H over H = 2..30 within 0.25 of -2; lambda_min H^2 shown (the t^2 = c_res^2/H^2 of the last layer is where the 1/H^2 comes from)",
         "checks": [
             {"kind": "near", "of": sf(2, "depthExponent"), "to": -2.0, "absTol": 0.25},
             {"kind": "show", "of": sc(2, "lambdaMinH2", "min")},
             {"kind": "show", "of": sc(2, "lambdaMinH2", "max")}
         ]},
        {"claim": "at initialization the last-layer Gram G^(H) of a width-m network is close to K^(H), the gap shrinking like m^{-1/2} (the init lemmas behind Theorems 3.1-3.2)",
         "paper": "ch. 3, sections 3.9-3.10 (concentration at init)",
         "check": format!("fitted exponent of the mean relative gap ||G - K||_2 / ||K||_2 against m = {}..{} ({} seeds) within 0.2 of -1/2, fully connected and ResNet (H = {CH3_WIDTH_DEPTH})", CH3_WIDTHS[0], CH3_WIDTHS[CH3_WIDTHS.len() - 1], CH3_SEEDS),
         "checks": [
             {"kind": "near", "of": sf(3, "gapExponentRel"), "to": -0.5, "absTol": 0.2},
             {"kind": "near", "of": sf(4, "gapExponentRel"), "to": -0.5, "absTol": 0.2}
         ]}
    ]);
    json!({
        "runs": [],
        "plots": [
            {"kind": "studyLines", "title": format!("lambda_min(K^(H)) against depth H (n = {CH3_N} points on the sphere in R^{CH3_D})"),
             "studies": [0, 1, 2], "x": "depth", "y": "lambdaMin", "logY": true,
             "xTitle": "depth H", "yTitle": "lambda_min(K^(H))"},
            {"kind": "studyLines", "title": "Prop 3.2: ResNet lambda_min(K^(H)) H^2 against H (flat: c_H ~ 1/H^2)",
             "studies": [2], "x": "depth", "y": "lambdaMinH2",
             "xTitle": "depth H", "yTitle": "lambda_min H^2"},
            {"kind": "studyLines", "title": format!("||G^(H) - K^(H)||_2 / ||K^(H)||_2 against the width m (H = {CH3_WIDTH_DEPTH}, one line per seed)"),
             "studies": [3, 4], "x": "width", "y": "gapRel", "logX": true, "logY": true, "split": ["seed"],
             "xTitle": "width m", "yTitle": "relative gap"}
        ],
        "studies": studies,
        "studyTable": [
            {"title": "lambda_min at H = 1", "of": {"column": "lambdaMin", "reduce": "first"}},
            {"title": "lambda_min at the last H", "of": {"column": "lambdaMin", "reduce": "last"}},
            {"title": "depth exponent (H >= 2)", "of": {"field": "depthExponent"}},
            {"title": "per-layer factor", "of": {"field": "depthFactor"}},
            {"title": "below roundoff from H", "of": {"field": "roundoffDepth"}},
            {"title": "gap exponent vs m", "of": {"field": "gapExponentRel"}}
        ],
        "reference": reference
    })
}
