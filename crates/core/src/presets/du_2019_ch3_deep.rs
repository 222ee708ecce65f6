//! Du, "Gradient Descent for Non-convex Problems in Modern Machine Learning" (thesis, CMU 2019),
//! chapter 3 (= Du, Lee, Li, Wang, Zhai, "Gradient descent finds global minima of deep neural
//! networks", ICML 2019): GD from the chapter's init on a deep ResNet and a deep fully connected
//! net (softplus, H = 10), the loss against the linear rate of Theorems 3.1-3.2.
//!
//! The chapter has no experiments: what we chose (n, d, m, H, the step, the steps) and why is in
//! docs/deep-networks.md. The rate (1 - eta lambda/2)^k is evaluated with lambda = lambda_min of
//! the last layer's Gram G^(H)(0) of the run itself (the finite-width matrix the proofs bound
//! below by lambda_min(K^(H))/2), and with the theorems' lambda = lambda_min(K^(H)) from a
//! `kernelRecursion` study per net on the same data, activation, depth and architecture (run before
//! the runs); the study also draws the run's own initial network (same init seed and draw order),
//! so lambda_min(G^(H)(0)) is compared with lambda_min(K^(H)) at the run's width. The loss panel
//! draws both envelopes (1 - eta lambda/2)^k L0 as dotted theory lines. `ch3DeepQuick` is the same
//! protocol at a small size (the test suite runs it in seconds).

use serde_json::{json, Value};

use super::Preset;

pub(super) const PRESETS: &[Preset] = &[
    Preset {
        name: "ch3Deep",
        description: "Du (2019 thesis) chapter 3 / Du et al. (ICML 2019): GD from the chapter's \
                      Gaussian init on a ResNet and a fully connected net (softplus, H = 10, \
                      m = 256, n = 16 points on the sphere in d = 16, loss a sum): the loss \
                      against the linear rate (1 - eta lambda/2)^k with lambda = \
                      lambda_min(G^(H)(0)), lambda_min(G^(H)) along the run",
        build: ch3_deep,
    },
    Preset {
        name: "ch3DeepQuick",
        description: "ch3Deep at a small size (m = 64, n = 8, d = 16, H = 10, 300 steps): the \
                      test suite's variant",
        build: ch3_deep_quick,
    },
];

/// The protocol of one size.
pub struct Ch3Deep {
    pub n: usize,
    pub d: usize,
    pub width: usize,
    pub depth: usize,
    pub steps: u64,
    pub record: u64,
    pub gram_every: u64,
    /// Step sizes of the ResNet and of the fully connected net.
    pub eta_resnet: f64,
    pub eta_fc: f64,
}

/// The full protocol.
pub const CH3_DEEP: Ch3Deep = Ch3Deep {
    n: 16,
    d: 16,
    width: 256,
    depth: 10,
    steps: 1000,
    record: 10,
    gram_every: 10,
    eta_resnet: 0.05,
    eta_fc: 0.05,
};

/// The quick protocol.
pub const CH3_DEEP_QUICK: Ch3Deep = Ch3Deep {
    n: 8,
    d: 16,
    width: 64,
    depth: 10,
    steps: 300,
    record: 10,
    gram_every: 3,
    eta_resnet: 0.1,
    eta_fc: 0.1,
};

/// A run of the protocol.
pub fn ch3_deep_run(p: &Ch3Deep, architecture: &str, eta: f64) -> Value {
    let mut model = json!({"kind": "deepSmooth", "architecture": architecture, "depth": p.depth,
                           "width": p.width, "activation": "softplus",
                           "gram": {"every": p.gram_every}});
    if architecture != "fullyConnected" {
        model["cRes"] = json!(0.5);
    }
    json!({
        "model": model,
        "data": {"kind": "sphere", "n": p.n, "d": p.d, "seed": 1},
        "init": {"kind": "gaussian", "seed": 2},
        "schedule": {"kind": "constant", "eta": eta},
        "steps": p.steps,
        "recordEvery": p.record
    })
}

/// The kernelRecursion study on the run's data, activation, depth and architecture: K^(H) and
/// lambda_min(K^(H)), plus the finite-width Gram G^(H) of one network of the run's width drawn
/// from the run's init seed (the study and the family draw W^(1), .., W^(H), a in the same order
/// from one stream: that network is the run's initial point, and its lambda_min equals the run's
/// first lambdaMinG; the preset checks it).
pub fn ch3_deep_study(p: &Ch3Deep, architecture: &str) -> Value {
    let mut s = json!({"kind": "kernelRecursion", "architecture": architecture, "activation": "softplus",
                       "depths": [p.depth],
                       "data": {"kind": "sphere", "n": p.n, "d": p.d, "seed": 1},
                       "finiteWidth": {"widths": [p.width], "seeds": 1, "seed": 2}});
    if architecture != "fullyConnected" {
        s["cRes"] = json!(0.5);
    }
    s
}

/// lambda_min(K^(H)) of study `i` (its first row: the kernel row of depth H).
fn kernel_lambda(i: usize) -> Value {
    json!({"study": i, "column": "lambdaMin", "reduce": "first"})
}

fn rate_bound(run: usize, eta: f64) -> Value {
    // (1 - eta lambda/2) with lambda = lambda_min(G^(H)(0)) of the run (its first row).
    json!({"run": run, "column": "lambdaMinG", "reduce": "first", "scale": -eta / 2.0, "offset": 1.0})
}

fn build(p: &Ch3Deep) -> Value {
    let runs = [
        ("ResNet", "resnet", p.eta_resnet),
        ("fully connected", "fullyConnected", p.eta_fc),
    ];
    let h = p.depth;
    let mut reference = Vec::new();
    for (i, (label, _, eta)) in runs.iter().enumerate() {
        let mut checks = vec![
            json!({"kind": "atMost",
                   "of": {"run": i, "column": "loss", "reduce": "rate"},
                   "bound": rate_bound(i, *eta)}),
            json!({"kind": "atMost",
                   "of": {"run": i, "column": "loss", "reduce": "rate"},
                   "bound": {"study": i, "column": "lambdaMin", "reduce": "first", "scale": -eta / 2.0, "offset": 1.0}}),
        ];
        let what = if i == 0 {
            checks.push(json!({"kind": "atMost", "of": {"run": i, "column": "loss", "reduce": "last"},
                               "bound": {"run": i, "column": "loss", "reduce": "first", "scale": 1e-2}}));
            "; the loss falls by at least two decades over the run"
        } else {
            checks.push(
                json!({"kind": "show", "of": {"run": i, "column": "loss", "reduce": "last"}}),
            );
            "; the loss at the end is shown (the bound allows a plateau: lambda is tiny)"
        };
        reference.push(json!({
            "claim": format!("{label} (H = {h}): GD contracts the loss at least at the rate (1 - eta lambda/2)^k of Theorems 3.1-3.2"),
            "paper": "Theorems 3.1 (fully connected) and 3.2 (ResNet): ||y - u(k)||^2 <= (1 - eta lambda/2)^k ||y - u(0)||^2 once m is large enough, lambda = lambda_min(K^(H))",
            "check": format!("the per-step contraction of the loss (exp of the least-squares slope of ln loss against k) is at most 1 - eta lambda/2, eta = {eta}, with lambda = lambda_min(G^(H)(0)) of the run (the finite-width Gram that the proofs bound below by lambda_min(K^(H))/2) and with the theorems' lambda = lambda_min(K^(H)) (the kernelRecursion study on the same data){what}"),
            "checks": checks
        }));
    }
    for (i, (label, _, _)) in runs.iter().enumerate() {
        let g0 = json!({"run": i, "column": "lambdaMinG", "reduce": "first"});
        reference.push(json!({
            "claim": format!("{label} (H = {h}): at the run's width m = {}, lambda_min(G^(H)(0)) >= 3/4 lambda_min(K^(H))", p.width),
            "paper": "Lemma 3.2 (fully connected) and Lemma 3.9 (ResNet), 'least eigenvalue at the initialization': lambda_min(G^(H)(0)) >= 3/4 lambda_min(K^(H)) once m is large enough (a width exponential in H for the fully connected net, polynomial for the ResNet; constants not given); the proofs go through ||G^(H)(0) - K^(H)||_2 <= lambda_min(K^(H))/4",
            "check": "the study's network of the run's width and init seed reproduces the run's first lambdaMinG (same data, architecture and init: 1e-9 relative); the run's lambda_min(G^(H)(0)) is at least 3/4 of lambda_min(K^(H)) from the kernelRecursion study on the same data; a miss is a finding (our width is below the lemma's requirement, which the chapter does not quantify); the relative gap ||G - K||_2/||K||_2 of that network shown",
            "checks": [
                {"kind": "near", "of": {"study": i, "column": "lambdaMinG", "reduce": "first", "where": {"width": p.width}}, "to": g0.clone(), "relTol": 1e-9},
                {"kind": "atLeast", "of": g0.clone(), "bound": {"study": i, "column": "lambdaMin", "reduce": "first", "scale": 0.75},
                 "finding": format!("{label}: lambda_min(G^(H)(0)) at m = {} is below 3/4 lambda_min(K^(H)): the width is below what the lemma needs", p.width)},
                {"kind": "show", "of": kernel_lambda(i)},
                {"kind": "show", "of": {"study": i, "column": "gapRel", "reduce": "first", "where": {"width": p.width}}}
            ]
        }));
    }
    reference.push(json!({
        "claim": "lambda_min(G^(H)(k)) stays above half its initial value along GD, for both nets",
        "paper": "the proofs' induction (Lemma 3.3 and its ResNet version): G^(H)(k) stays close to G^(H)(0), so lambda_min(G^(H)(k)) >= lambda/2",
        "check": "the minimum of each run's lambdaMinG column is at least half its first value; the largest distance of a layer from its init is shown",
        "checks": [
            {"kind": "atLeast", "of": {"run": 0, "column": "lambdaMinG", "reduce": "min"},
             "bound": {"run": 0, "column": "lambdaMinG", "reduce": "first", "scale": 0.5}},
            {"kind": "atLeast", "of": {"run": 1, "column": "lambdaMinG", "reduce": "min"},
             "bound": {"run": 1, "column": "lambdaMinG", "reduce": "first", "scale": 0.5}},
            {"kind": "show", "of": {"run": 0, "column": "maxLayerDist", "reduce": "last"}},
            {"kind": "show", "of": {"run": 1, "column": "maxLayerDist", "reduce": "last"}}
        ]
    }));
    reference.push(json!({
        "claim": format!("at the same width and depth H = {h}, the fully connected net's lambda_min(G^(H)(0)) is far below the ResNet's"),
        "paper": "section 3.3: the perturbation grows like 2^O(H) through a fully connected net and stays polynomial through the ResNet (the width needed is exponential in H for the former, polynomial for the latter)",
        "check": "lambdaMinG at step 0: the fully connected net's is at most a tenth of the ResNet's (both shown)",
        "checks": [
            {"kind": "atMost", "of": {"run": 1, "column": "lambdaMinG", "reduce": "first"},
             "bound": {"run": 0, "column": "lambdaMinG", "reduce": "first", "scale": 0.1}},
            {"kind": "show", "of": {"run": 0, "column": "lambdaMinG", "reduce": "first"}},
            {"kind": "show", "of": {"run": 1, "column": "lambdaMinG", "reduce": "first"}},
            {"kind": "show", "of": kernel_lambda(0)},
            {"kind": "show", "of": kernel_lambda(1)}
        ],
        "cannotCompare": "the chapter compares the widths its proofs need, not measured Grams: this is shown beside it"
    }));
    let theory: Vec<Value> = runs
        .iter()
        .enumerate()
        .flat_map(|(i, (label, _, eta))| {
            [
                json!({"label": format!("{label}: (1 - eta lambda_min(K^(H))/2)^k L0"), "run": i,
                       "rate": {"study": i, "column": "lambdaMin", "reduce": "first", "scale": -eta / 2.0, "offset": 1.0}}),
                json!({"label": format!("{label}: (1 - eta lambda_min(G^(H)(0))/2)^k L0"), "run": i, "rate": rate_bound(i, *eta)}),
            ]
        })
        .collect();
    json!({
        "studies": runs.iter().map(|(label, arch, _)| json!({
            "label": format!("{label}: K^(H) and G^(H)(0) at m = {}, H = {h}", p.width),
            "spec": ch3_deep_study(p, arch)
        })).collect::<Vec<_>>(),
        "studyTable": [
            {"title": "lambda_min(K^(H))", "of": {"column": "lambdaMin", "reduce": "first"}},
            {"title": "lambda_min(G^(H)(0)), the run's network", "of": {"column": "lambdaMinG", "reduce": "first"}},
            {"title": "||G^(H)(0) - K^(H)||_2 / ||K^(H)||_2", "of": {"column": "gapRel", "reduce": "first"}}
        ],
        "runs": runs.iter().map(|(label, arch, eta)| json!({
            "label": format!("{label}, H = {h}, m = {}, eta = {eta}", p.width),
            "spec": ch3_deep_run(p, arch, *eta)
        })).collect::<Vec<_>>(),
        "plots": [
            {"title": "(a) loss 1/2 sum_i (u_i - y_i)^2; dotted: (1 - eta lambda/2)^k L0, lambda = lambda_min(K^(H)) and lambda_min(G^(H)(0))", "column": "loss", "logY": true,
             "theory": theory},
            {"title": "(b) lambda_min(G^(H)(k)), the last layer's Gram", "column": "lambdaMinG", "logY": true},
            {"title": "(c) max over layers of ||W^(h)(k) - W^(h)(0)||_F", "column": "maxLayerDist", "logY": false}
        ],
        "reference": reference
    })
}

fn ch3_deep() -> Value {
    build(&CH3_DEEP)
}

fn ch3_deep_quick() -> Value {
    build(&CH3_DEEP_QUICK)
}
