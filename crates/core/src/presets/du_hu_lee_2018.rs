//! Du, Hu & Lee, "Algorithmic Regularization in Learning Deep Homogeneous Models: Layers are
//! Automatically Balanced" (NeurIPS 2018): Figures 1 and 2, Theorems 3.1 and 3.2, and the
//! curvature checks (Lemma 3.2, strict saddles).

use serde_json::{json, Value};

use super::Preset;

pub(super) const PRESETS: &[Preset] = &[
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
    Preset {
        name: "theorem32sweep",
        description: "Du, Hu & Lee (2018) Theorem 3.2 \"with constant probability\": a sweep over \
                      the step constant c_step and the init scale c_init, 100 random inits per \
                      setting: the fraction that converge at a linear rate with the norm ratio \
                      in bounds, with its Wilson interval, and the heatmap",
        build: theorem32sweep,
    },
    Preset {
        name: "curvature",
        description:
            "Du, Hu & Lee (2018) Lemma 3.2 and the strict saddles of matrix factorization: \
                      rank-3 GD from a small init passes the saddles and stops at a global \
                      minimum; GD started next to the saddle of the top two components escapes \
                      it; lambda_min along both runs and the verdicts at their ends",
        build: curvature,
    },
];

/// Singular values of the curvature preset's target.
const CURVATURE_SIGMA: [f64; 3] = [3.0, 2.0, 1.0];

/// Curvature: where GD passes and where it stops. Theory values (-sigma_1 at the origin,
/// -sigma_{k+1} at the saddle of the top k components, r^2 zero eigenvalues at a global minimum)
/// are computed from the spec here, not from a run.
fn curvature() -> Value {
    let s = CURVATURE_SIGMA;
    let r = s.len();
    let run = |init: Value| {
        json!({
            "model": {"kind": "matrixFactorization", "d1": 60, "d2": 40, "rank": r},
            "target": {"kind": "random", "singularValues": s, "seed": 1},
            "init": init,
            "schedule": {"kind": "constant", "eta": 0.05},
            "steps": 1500,
            "recordEvery": 5,
            "curvature": {"every": 5, "tol": 1e-8}
        })
    };
    let classify = json!({"what": "classify", "method": "dense"});
    // The starts are next to, not on, the critical points (a run started exactly on one never
    // leaves it): gradient norms ~1e-3 next to the origin (init std 1e-4) and ~1e-6 at the noisy
    // saddle, so those queries call a point stationary up to that size.
    let classify_near =
        |grad_tol: f64| json!({"what": "classify", "method": "dense", "gradTol": grad_tol});
    let lemma = json!({"what": "lemma32"});
    // The lemma's side is given only at a stationary point (up to gradTol, issue 10).
    let lemma_near = |grad_tol: f64| json!({"what": "lemma32", "gradTol": grad_tol});
    json!({
        "runs": [
            {"label": "small random init (std 1e-4)",
             "spec": run(json!({"kind": "gaussian", "stdU": 1e-4, "stdV": 1e-4, "seed": 2}))},
            {"label": "saddle of the top 2 components + noise 1e-6",
             "spec": run(json!({"kind": "targetSvd", "components": [0, 1], "noiseStd": 1e-6, "seed": 3}))}
        ],
        "plots": [
            {"title": "(a) loss", "column": "loss", "logY": true},
            {"title": "(b) lambda_min of the Hessian", "column": "lambdaMin", "logY": false},
            {"title": "(c) lambda_max of the Hessian", "column": "lambdaMax", "logY": false},
            {"title": "(d) imbalance ||U^T U - V^T V||_F", "column": "imbalance", "logY": true}
        ],
        "hessian": [
            {"label": "run 0 at init (next to the origin; stationary up to gradient norm 1e-2)", "run": 0, "at": "init", "query": classify_near(1e-2)},
            {"label": "run 0 at its end", "run": 0, "at": "final", "query": classify},
            {"label": "run 0 at its end: Lemma 3.2 certificate", "run": 0, "at": "final", "query": lemma},
            {"label": "run 1 at init (the saddle of the top 2 components; stationary up to gradient norm 1e-4)", "run": 1, "at": "init", "query": classify_near(1e-4)},
            {"label": "run 1 at init: Lemma 3.2 certificate (stationary up to gradient norm 1e-4)", "run": 1, "at": "init", "query": lemma_near(1e-4)},
            {"label": "run 1 at its end", "run": 1, "at": "final", "query": classify}
        ],
        "reference": [
            {"claim": "Lemma 3.2: a stationary point with ||U^T U - V^T V||_F <= eps is within eps of a global minimum or a strict saddle",
             "paper": "Lemma 3.2, certificate (thesis 4.12): [Hess f](Delta, Delta) <= -||U V^T - M*||_F^2 + eps^2/2 at a saddle",
             "check": "the certificate at the saddle of run 1 is on the saddle side with its value below the bound; at the end of run 0 it is on the global-minimum side",
             "checks": [
                {"kind": "equals", "of": {"hessian": 4, "field": "side"}, "value": "strictSaddle"},
                {"kind": "atMost", "of": {"hessian": 4, "field": "value"}, "bound": {"hessian": 4, "field": "bound"}},
                {"kind": "equals", "of": {"hessian": 2, "field": "side"}, "value": "globalMinimumWithinEps"}
             ]},
            {"claim": "the origin is a strict saddle: the Hessian there has eigenvalues +-sigma_i (each r times), so lambda_min = -sigma_1",
             "paper": "the saddles of matrix factorization are strict (Section 3, citing Ge et al. 2017)",
             "check": "dense Hessian next to the origin (run 0 at init): verdict and lambda_min against -sigma_1",
             "checks": [
                {"kind": "equals", "of": {"hessian": 0, "field": "verdict.kind"}, "value": "strictSaddle"},
                {"kind": "near", "of": {"hessian": 0, "field": "lambdaMin"}, "to": -s[0], "relTol": 1e-3}
             ]},
            {"claim": "the saddle that has learned the top k components has lambda_min = -sigma_{k+1}",
             "paper": "follows from the Hessian at a critical point (not stated as a number in the paper)",
             "check": "dense Hessian at run 1's start (k = 2): verdict and lambda_min against -sigma_3",
             "checks": [
                {"kind": "equals", "of": {"hessian": 3, "field": "verdict.kind"}, "value": "strictSaddle"},
                {"kind": "near", "of": {"hessian": 3, "field": "lambdaMin"}, "to": -s[2], "relTol": 1e-3}
             ]},
            {"claim": "GD escapes the strict saddles and converges to a global minimum (Theorem 3.1)",
             "paper": "Theorem 3.1: ||U V^T - M*||_F <= eps",
             "check": "both runs end at loss <= 1e-12 (run 1 starts on the saddle's plateau, loss sigma_3^2/2), at a local minimum whose r^2 zero eigenvalues are exactly the GL(r) symmetry",
             "checks": [
                {"kind": "atMost", "of": {"run": 0, "column": "loss", "reduce": "last"}, "bound": 1e-12},
                {"kind": "atMost", "of": {"run": 1, "column": "loss", "reduce": "last"}, "bound": 1e-12},
                {"kind": "near", "of": {"run": 1, "column": "loss", "reduce": "first"}, "to": s[2] * s[2] / 2.0, "relTol": 1e-3},
                {"kind": "equals", "of": {"hessian": 1, "field": "verdict.kind"}, "value": "localMinimum"},
                {"kind": "equals", "of": {"hessian": 1, "field": "zeroCount"}, "value": r * r},
                {"kind": "equals", "of": {"hessian": 5, "field": "verdict.kind"}, "value": "localMinimum"}
             ]},
            {"claim": "along GD from a small init, lambda_min steps through -sigma_1, -sigma_2, -sigma_3 as the components are learned one by one, then reaches 0",
             "paper": "not in the paper (the saddle-to-saddle picture of small-init GD)",
             "check": "the lambda_min column of run 0: its minimum against -sigma_1, its last value against 0",
             "checks": [
                {"kind": "near", "of": {"run": 0, "column": "lambdaMin", "reduce": "min"}, "to": -s[0], "relTol": 1e-3},
                {"kind": "atLeast", "of": {"run": 0, "column": "lambdaMin", "reduce": "last"}, "bound": -1e-8}
             ],
             "cannotCompare": "the paper has no curvature plot; this is shown, not compared"}
        ]
    })
}

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
             "paper": "Theorem 3.1 / Lemma 3.1 (a proof, no figure): imbalance <= eps = 0.01 at every t",
             "check": "the imbalance column stays below eps = 0.01 and the loss column never increases, on both runs (crates/core/tests/mf.rs checks every step)",
             "checks": [
                {"kind": "atMost", "of": {"run": 0, "column": "imbalance", "reduce": "max"}, "bound": 0.01},
                {"kind": "nonIncreasing", "run": 0, "column": "loss"},
                {"kind": "atMost", "of": {"run": 1, "column": "imbalance", "reduce": "max"}, "bound": 0.01},
                {"kind": "nonIncreasing", "run": 1, "column": "loss"}
             ]},
            {"claim": "any eta_t = Theta(t^-(1/2+delta)), 0 < delta <= 1/2, converges to a global minimum",
             "paper": "Theorem 3.1: ||U V^T - M*||_F <= eps in the limit",
             "check": "the inverse-power run's residual ||U V^T - M*||_F falls below eps = 0.01",
             "checks": [
                {"kind": "atMost", "of": {"run": 1, "column": "residual", "reduce": "last"}, "bound": 0.01}
             ]},
            {"claim": "the theorem's own schedule converges",
             "paper": "Theorem 3.1: eta_t = sqrt(eps/r) / (100 (t+1) ||M*||_F^1.5)",
             "check": "the loss and the step size of the run with the theorem's schedule, shown",
             "checks": [
                {"kind": "show", "of": {"run": 0, "column": "loss", "reduce": "first"}},
                {"kind": "show", "of": {"run": 0, "column": "loss", "reduce": "last"}},
                {"kind": "show", "of": {"run": 0, "column": "eta", "reduce": "first"}}
             ],
             "cannotCompare": "the proof's constants make the steps sum to about 8e-4 over 20,000 iterations, so the loss barely moves in any runnable number of steps; only the bounds of Lemma 3.1 can be checked on this run"}
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
             "paper": "Theorem 3.2 (a proof, no figure)",
             "check": "the residual reaches 1e-12 s1 within the run, and falls by at least 1e8 between iterations 60 and 300 (a 1/t rate would take ~1e8 iterations)",
             "checks": [
                {"kind": "atMost", "of": {"run": 0, "column": "residual", "reduce": "min"}, "bound": 1e-12},
                {"kind": "atMost", "of": {"run": 0, "column": "residual", "reduce": "at", "step": 300},
                 "bound": {"run": 0, "column": "residual", "reduce": "at", "step": 60, "scale": 1e-8}}
             ]},
            {"claim": "the factors stay balanced: c0 <= |u_t^T u*| / |v_t^T v*| <= C0",
             "paper": "Theorem 3.2: constants c0, C0 not given",
             "check": "||u||^2/||v||^2 stays within [1/2, 2] at every recorded iteration",
             "checks": [
                {"kind": "atMost", "of": {"run": 0, "column": "normRatio", "reduce": "max"}, "bound": 2.0},
                {"kind": "atLeast", "of": {"run": 0, "column": "normRatio", "reduce": "min"}, "bound": 0.5}
             ]}
        ]
    })
}

/// Step constants c_step (eta = c_step / sigma_1, sigma_1 = 1) of the Theorem 3.2 sweep: small
/// ones, then across 1 (beyond it GD cannot converge: the top Hessian eigenvalue at the balanced
/// minimum is 2 sigma_1) up to divergence.
const THEOREM32_SWEEP_C_STEP: [f64; 9] = [0.05, 0.1, 0.2, 0.4, 0.8, 0.95, 1.05, 1.5, 2.5];
/// Init constants c_init of the Theorem 3.2 sweep.
const THEOREM32_SWEEP_C_INIT: [f64; 8] = [0.01, 0.03, 0.1, 0.3, 1.0, 1.5, 2.0, 3.0];
/// The entry standard deviations delta = c_init sqrt(sigma_1 / d) (sigma_1 = 1, d = 100), written
/// out so that they are the decimal numbers shown (c_init / 10).
const THEOREM32_SWEEP_STD: [f64; 8] = [0.001, 0.003, 0.01, 0.03, 0.1, 0.15, 0.2, 0.3];
/// Random initializations per setting (the full protocol).
const THEOREM32_SWEEP_SEEDS: u64 = 100;
/// Steps of every run of the Theorem 3.2 sweep.
const THEOREM32_SWEEP_STEPS: u64 = 1000;

/// Theorem 3.2 as a sweep: "with constant probability over the initialization". M* = s1 u* v*^T
/// with s1 = 1, d1 = d2 = 100 (the target fixed, seed 1); u0, v0 with i.i.d. N(0, delta^2)
/// entries, delta = c_init sqrt(s1/d) read as a standard deviation (the proof's bounds
/// |alpha_0| ~ c_init sqrt(s1/d), ||u_0,perp|| <= 10 c_init sqrt(s1) need it; the statement's
/// N(0, delta I) would make it a variance: docs/theorems.md); eta = c_step / s1; 1000 steps.
/// A run is `linear` when it finishes with ||u v^T - M*||_F <= 1e-10 s1 within the 1000 steps (12
/// decades from ~1: a geometric rate; a 1/t rate would need ~1e10 steps) and ||u||^2/||v||^2 in
/// [1/2, 2] at every recorded row (our c0, C0: the paper gives none, and bounds the ratio of the
/// signal strengths |u^T u*| / |v^T v*|, which no column records).
fn theorem32sweep() -> Value {
    for (c, s) in THEOREM32_SWEEP_C_INIT.iter().zip(THEOREM32_SWEEP_STD) {
        assert!(
            (c * (1.0f64 / 100.0).sqrt() - s).abs() <= 1e-15,
            "std = c_init sqrt(s1/d)"
        );
    }
    let base = json!({
        "model": {"kind": "matrixFactorization", "d1": 100, "d2": 100, "rank": 1},
        "target": {"kind": "random", "singularValues": [1.0], "seed": 1},
        "init": {"kind": "gaussian", "stdU": THEOREM32_SWEEP_STD[0], "stdV": THEOREM32_SWEEP_STD[0], "seed": 2},
        "schedule": {"kind": "constant", "eta": 0.1},
        "steps": THEOREM32_SWEEP_STEPS,
        "recordEvery": 5
    });
    let small_steps = json!({"le": 0.95});
    let small_init = json!({"le": 0.03});
    let cell = json!({"schedule.eta": 0.1, "init.stdU": 0.001});
    let c_init_axis = json!({"path": "init.stdU", "title": "c_init (entry std = c_init sqrt(sigma_1/d))", "scale": 10.0});
    let c_step_axis =
        json!({"path": "schedule.eta", "title": "c_step (eta = c_step / sigma_1)", "log": true});
    json!({
        "runs": [],
        "sweep": {
            "kind": "sweep",
            "base": base,
            "axes": [
                {"path": "schedule.eta", "values": THEOREM32_SWEEP_C_STEP},
                {"zip": [
                    {"path": "init.stdU", "values": THEOREM32_SWEEP_STD},
                    {"path": "init.stdV", "values": THEOREM32_SWEEP_STD}
                ]}
            ],
            "seeds": {"count": THEOREM32_SWEEP_SEEDS, "base": 0, "paths": ["init.seed"]},
            "keep": [
                {"name": "t5", "column": "residual", "firstAtOrBelow": 1e-5},
                {"name": "t10", "column": "residual", "firstAtOrBelow": 1e-10},
                {"name": "ratioInBounds", "allRowsWhere": {"of": "normRatio", "ge": 0.5, "le": 2.0}},
                {"name": "ratioMin", "column": "normRatio", "reduce": "min"},
                {"name": "ratioMax", "column": "normRatio", "reduce": "max"},
                {"name": "finalResidual", "column": "residual", "reduce": "last"}
            ],
            "classes": [
                {"name": "linear", "when": {"all": [
                    {"stop": "finished"}, {"of": "t10", "ge": 0}, {"of": "ratioInBounds", "ge": 1}
                ]}},
                {"name": "unbalanced", "when": {"all": [{"stop": "finished"}, {"of": "t10", "ge": 0}]}},
                {"name": "diverged", "when": {"stop": "diverged"}}
            ],
            "reduce": {"quantiles": [0.1, 0.5, 0.9], "confidence": 0.95}
        },
        "plots": [
            {"kind": "heatmap", "title": "P(linear rate, ||u||^2/||v||^2 in [1/2, 2])",
             "x": c_step_axis, "y": c_init_axis, "value": {"class": "linear"}},
            {"kind": "lines", "title": "P(linear) against c_step, a line per c_init",
             "x": c_step_axis, "series": {"path": "init.stdU", "title": "c_init", "scale": 10.0}, "value": {"class": "linear"}},
            {"kind": "heatmap", "title": "P(diverged)",
             "x": c_step_axis, "y": c_init_axis, "value": {"class": "diverged"}},
            {"kind": "heatmap", "title": "median first step with ||u v^T - M*||_F <= 1e-10",
             "x": c_step_axis, "y": c_init_axis, "value": {"kept": "t10", "stat": "median"}}
        ],
        "reference": [
            {"claim": "with constant probability over the initialization, for sufficiently small c_step and c_init: c0 <= |u_t^T u*| / |v_t^T v*| <= C0 for all t, and ||u_t v_t^T - M*||_F <= eps s1 after O(log(d/eps)) iterations",
             "paper": "Theorem 3.2: \"with constant probability\" (no value; the proof assumes the initial signals have the same sign, probability 1/2); c0, C0 \"universal constants\" (not given); c_init, c_step \"sufficiently small\" (not given)",
             "check": "P(linear) per setting: the run reaches ||u v^T - M*||_F <= 1e-10 within 1000 steps and ||u||^2/||v||^2 stays in [1/2, 2] (our c0, C0; the signal strengths are not recorded, the norm ratio is their proxy: equal to (|u^T u*| / |v^T v*|)^2 at convergence). Over c_step <= 0.95 (below the edge eta = 1/sigma_1) and c_init <= 0.3 (24 settings): pooled Wilson 95% lower bound >= 0.9, and every setting's estimate >= 1/2 (the probability of the proof's same-sign event alpha_0 beta_0 > 0)",
             "checks": [
                {"kind": "atLeast", "of": {"sweep": "class", "name": "linear", "stat": "lo", "where": {"schedule.eta": small_steps, "init.stdU": small_init}, "reduce": "pool"}, "bound": 0.9},
                {"kind": "atLeast", "of": {"sweep": "class", "name": "linear", "stat": "p", "where": {"schedule.eta": small_steps, "init.stdU": small_init}, "reduce": "min"}, "bound": 0.5}
             ]},
            {"claim": "the rate is linear: O(log(d/eps)) iterations to eps s1",
             "paper": "Theorem 3.2 (a proof, no figure)",
             "check": "at c_step = 0.1, c_init = 0.01: the median first step with residual <= 1e-10 is at most 2.5 x the median first step with residual <= 1e-5 (the second 5 decades take no longer than the first, escape included; a 1/t rate would take 1e5 x)",
             "checks": [
                {"kind": "atMost", "of": {"sweep": "kept", "name": "t10", "stat": "median", "where": cell},
                 "bound": {"sweep": "kept", "name": "t5", "stat": "median", "where": cell, "scale": 2.5}}
             ]},
            {"claim": "\"sufficiently small\" c_step is needed: with eta >= 1/sigma_1 GD does not converge",
             "paper": "Theorem 3.2 asks for a sufficiently small c_step (no threshold); theory: at the balanced minimum the Hessian's top eigenvalue is 2 sigma_1, so GD converges to it only for eta < 1/sigma_1 (an unbalanced minimum is sharper)",
             "check": "for c_step >= 1.05, no run of any c_init reaches the residual 1e-10 (P(linear) = P(unbalanced) = 0); below 1 they do",
             "checks": [
                {"kind": "atMost", "of": {"sweep": "class", "name": "linear", "stat": "p", "where": {"schedule.eta": {"ge": 1.0}}, "reduce": "max"}, "bound": 0.0},
                {"kind": "atMost", "of": {"sweep": "class", "name": "unbalanced", "stat": "p", "where": {"schedule.eta": {"ge": 1.0}}, "reduce": "max"}, "bound": 0.0}
             ]},
            {"claim": "where the probability falls off with the init scale",
             "paper": "not given (\"sufficiently small c_init\")",
             "check": "P(linear) at c_step = 0.1 for c_init = 1, 2, 3 (the runs that converge but leave [1/2, 2] are `unbalanced`: during the escape the norm ratio swings with the unequal initial signals, and at the end it is set by ||u||^2 - ||v||^2, nearly conserved, whose initial spread grows as c_init^2), P(unbalanced) at c_step = 0.1, c_init = 2, and P(diverged) at c_step = 0.4, c_init = 3, shown",
             "checks": [
                {"kind": "show", "of": {"sweep": "class", "name": "linear", "stat": "p", "where": {"schedule.eta": 0.1, "init.stdU": 0.1}}},
                {"kind": "show", "of": {"sweep": "class", "name": "linear", "stat": "p", "where": {"schedule.eta": 0.1, "init.stdU": 0.2}}},
                {"kind": "show", "of": {"sweep": "class", "name": "linear", "stat": "p", "where": {"schedule.eta": 0.1, "init.stdU": 0.3}}},
                {"kind": "show", "of": {"sweep": "class", "name": "unbalanced", "stat": "p", "where": {"schedule.eta": 0.1, "init.stdU": 0.2}}},
                {"kind": "show", "of": {"sweep": "class", "name": "diverged", "stat": "p", "where": {"schedule.eta": 0.4, "init.stdU": 0.3}}}
             ],
             "cannotCompare": "the paper gives no thresholds for c_init and no c0, C0; our numbers are shown, not judged"}
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
            {"claim": "balanced init: the layers stay balanced at all iterations",
             "paper": "|||W1||^2 - ||W2||^2| and |||W2||^2 - ||W3||^2| <= 0.14 at all iterations",
             "check": "the largest |difference| over all recorded iterations of the balanced run",
             "checks": [
                {"kind": "atMost", "of": {"run": 0, "column": "layerDiff1", "reduce": "maxAbs"}, "bound": 0.14},
                {"kind": "atMost", "of": {"run": 0, "column": "layerDiff2", "reduce": "maxAbs"}, "bound": 0.14}
             ]},
            {"claim": "balanced init: the three layers end with (nearly) equal norms",
             "paper": "final ||W1||^2, ||W2||^2, ||W3||^2 = 42.90, 43.76, 43.68 (within 2% of each other)",
             "check": "the final squared norms of the balanced run within 2% of each other",
             "checks": [
                {"kind": "near", "of": {"run": 0, "column": "normSqW1", "reduce": "last"}, "to": {"run": 0, "column": "normSqW2", "reduce": "last"}, "relTol": 0.02},
                {"kind": "near", "of": {"run": 0, "column": "normSqW3", "reduce": "last"}, "to": {"run": 0, "column": "normSqW2", "reduce": "last"}, "relTol": 0.02}
             ]},
            {"claim": "unbalanced init: the differences stay bounded and nearly constant",
             "paper": "differences bounded by 9 and nearly constant at all iterations",
             "check": "the largest |difference| of the unbalanced run, and its largest drift from the start against 1% of the initial difference",
             "checks": [
                {"kind": "atMost", "of": {"run": 1, "column": "layerDiff1", "reduce": "maxAbs"}, "bound": 9.0},
                {"kind": "atMost", "of": {"run": 1, "column": "layerDiff2", "reduce": "maxAbs"}, "bound": 9.0},
                {"kind": "atMost", "of": {"run": 1, "column": "layerDiffDrift1", "reduce": "maxAbs"},
                 "bound": {"run": 1, "column": "layerDiff1", "reduce": "first", "scale": 0.01}}
             ]},
            {"claim": "the absolute sizes of the trained layers; unbalanced init: the ratios come close to 1 after ~1,000 iterations",
             "paper": "balanced: final 42.90, 43.76, 43.68; unbalanced: final 55.50, 45.65, 45.46, ratios close to 1 after ~1,000 iterations",
             "check": "our final squared norms and ratios, shown",
             "checks": [
                {"kind": "show", "of": {"run": 0, "column": "normSqW2", "reduce": "last"}},
                {"kind": "show", "of": {"run": 1, "column": "normSqW1", "reduce": "last"}},
                {"kind": "show", "of": {"run": 1, "column": "normSqW2", "reduce": "last"}},
                {"kind": "show", "of": {"run": 1, "column": "normSqW3", "reduce": "last"}},
                {"kind": "show", "of": {"run": 1, "column": "normRatio1", "reduce": "last"}},
                {"kind": "show", "of": {"run": 1, "column": "normRatio2", "reduce": "last"}}
             ],
             "cannotCompare": "the trained norms scale with the targets, which the paper does not give (nor the data or the step); since ||W1||^2 - ||W2||^2 stays near its initial 9, the ratio is 1 + 9/||W2||^2 and comes closer to 1 the larger the trained norms. The paper's own unbalanced numbers give ||W2||^2 - ||W3||^2 = 0.19 at the end against about 0.9 at its init (100 x 100 and 10 x 100 entries of variance 1e-4), so its run did not keep that difference constant"}
        ]
    })
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
             "check": "final loss of both runs below 1e-12, and the (1) run needs at most 10x the iterations of (3) to reach 1e-10",
             "checks": [
                {"kind": "atMost", "of": {"run": 0, "column": "loss", "reduce": "last"}, "bound": 1e-12},
                {"kind": "atMost", "of": {"run": 1, "column": "loss", "reduce": "last"}, "bound": 1e-12},
                {"kind": "atMost", "of": {"run": 0, "column": "loss", "reduce": "firstStepAtMost", "value": 1e-10},
                 "bound": {"run": 1, "column": "loss", "reduce": "firstStepAtMost", "value": 1e-10, "scale": 10.0}}
             ]},
            {"claim": "the ratio between the norms of U and V stays constant: no unbalancedness",
             "paper": "Figure 1b: the ratio stays flat in all iterations",
             "check": "||U||_F^2/||V||_F^2 within 1% of 1 from iteration 100 on (after the first growth phase), for both objectives",
             "checks": [
                {"kind": "near", "of": {"run": 0, "column": "normRatio", "reduce": "max", "from": 100}, "to": 1.0, "relTol": 0.01},
                {"kind": "near", "of": {"run": 0, "column": "normRatio", "reduce": "min", "from": 100}, "to": 1.0, "relTol": 0.01},
                {"kind": "near", "of": {"run": 1, "column": "normRatio", "reduce": "max", "from": 100}, "to": 1.0, "relTol": 0.01},
                {"kind": "near", "of": {"run": 1, "column": "normRatio", "reduce": "min", "from": 100}, "to": 1.0, "relTol": 0.01}
             ]},
            {"claim": "the sizes, target and step of the figure",
             "paper": "not given",
             "check": "our choices are in docs/figure1.md",
             "cannotCompare": "the paper gives no sizes, target, init scale or step size, so its curves cannot be matched point by point; only their shape"}
        ]
    })
}
