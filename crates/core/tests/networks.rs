//! Networks: gradients against central differences, conservation laws (Du, Hu & Lee 2018,
//! Theorems 2.1-2.3, Corollary 2.1) under the integrators, determinism, validation.

use std::collections::HashMap;

use autobalance_core::model::Model;
use autobalance_core::{ErrorCode, Session};
use serde_json::{json, Value};

fn session(spec: &Value) -> Session {
    Session::new(&spec.to_string(), HashMap::new()).unwrap_or_else(|e| panic!("{e:?}"))
}

/// A spec with small generated data.
fn spec(layers: Value, loss: &str, input_dim: usize, method: Value, eta: f64, steps: u64) -> Value {
    let n = layers.as_array().unwrap().len();
    json!({
        "model": {"kind": "network", "inputDim": input_dim, "layers": layers, "loss": loss},
        "data": {"kind": "generated", "samples": 150, "inputs": "gaussian",
                 "targets": {"kind": "teacher", "widths": [7]}, "seed": 3},
        "init": {"kind": "gaussian", "variances": vec![0.3; n], "seed": 4},
        "schedule": {"kind": "constant", "eta": eta},
        "method": method,
        "steps": steps,
        "recordEvery": 1
    })
}

fn nets() -> Vec<(&'static str, Value, usize)> {
    vec![
        (
            "relu",
            json!([{"width": 6, "activation": "relu"}, {"width": 5, "activation": "relu"}, {"width": 3}]),
            4,
        ),
        (
            "leaky+bias",
            json!([{"width": 6, "activation": "leakyRelu", "slope": 0.2, "bias": true},
                   {"width": 3, "bias": true}]),
            4,
        ),
        (
            "linear",
            json!([{"width": 5}, {"width": 4}, {"width": 3}]),
            4,
        ),
        (
            "conv1d",
            json!([{"type": "conv1d", "inChannels": 2, "outChannels": 3, "kernel": 3, "stride": 1,
                    "padding": 1, "activation": "relu", "bias": true},
                   {"type": "conv1d", "inChannels": 3, "outChannels": 2, "kernel": 2, "stride": 2,
                    "activation": "leakyRelu", "slope": 0.1},
                   {"width": 3}]),
            12,
        ),
        (
            "conv2d",
            json!([{"type": "conv2d", "inChannels": 1, "inHeight": 4, "outChannels": 2, "kernel": 3,
                    "padding": 1, "activation": "relu"},
                   {"width": 3, "bias": true}]),
            16,
        ),
    ]
}

fn gd() -> Value {
    json!({"kind": "gd"})
}

#[test]
fn gradients_match_central_differences() {
    for (name, layers, d) in nets() {
        for loss in ["squared", "crossEntropy"] {
            let s = session(&spec(layers.clone(), loss, d, gd(), 0.1, 0));
            assert!(s.network().is_some());
            // A private copy of the model to evaluate.
            let mut net = clone_net(&s);
            let w = s.params().to_vec();
            let mut g = vec![0.0; w.len()];
            let f0 = net.loss_grad(&w, &mut g);
            assert!(f0.is_finite() && f0 > 0.0);
            let mut scratch = vec![0.0; w.len()];
            let h = 1e-6;
            let mut worst: f64 = 0.0;
            for i in 0..w.len() {
                let mut wp = w.clone();
                wp[i] += h;
                let fp = net.loss_grad(&wp, &mut scratch);
                wp[i] -= 2.0 * h;
                let fm = net.loss_grad(&wp, &mut scratch);
                let fd = (fp - fm) / (2.0 * h);
                worst = worst.max((fd - g[i]).abs() / (1.0 + g[i].abs()));
            }
            // ReLU kinks are crossed with probability ~0 at these random points; truncation is
            // O(h^2), round-off ~1e-16 |f| / h ~ 1e-10.
            assert!(worst < 1e-6, "{name} {loss}: worst FD error {worst}");
        }
    }
}

/// Rebuild the same network (same spec and data) as an owned model.
fn clone_net(s: &Session) -> autobalance_core::model::net::Network {
    let n = s.network().unwrap();
    autobalance_core::model::net::Network::new(
        n.input_dim,
        n.layers.clone(),
        n.loss,
        n.x.clone(),
        n.y.clone(),
        0,
    )
}

fn max_abs(s: &Session, col: &str) -> f64 {
    s.column(col, 0)
        .unwrap_or_else(|_| panic!("no column {col}"))
        .iter()
        .fold(0.0f64, |a, x| a.max(x.abs()))
}

/// Largest drift over all conserved-quantity columns of a run.
fn worst_drift(s: &Session) -> (f64, String) {
    let mut worst = (0.0, String::new());
    for name in s.column_names() {
        if name.starts_with("layerDiffDrift")
            || name.starts_with("neuronDriftMax")
            || name.starts_with("matrixDrift")
        {
            let d = max_abs(s, name);
            if d >= worst.0 {
                worst = (d, name.clone());
            }
        }
    }
    worst
}

fn scale_of(s: &Session) -> f64 {
    s.column_names()
        .iter()
        .filter(|n| n.starts_with("normSqW"))
        .map(|n| max_abs(s, n))
        .fold(0.0, f64::max)
}

#[test]
fn implicit_midpoint_conserves_every_invariant_to_the_solve_tolerance() {
    for (name, layers, d) in nets() {
        for loss in ["squared", "crossEntropy"] {
            let imp = json!({"kind": "implicitMidpoint", "tol": 1e-14, "maxIter": 200});
            let mut s = session(&spec(layers.clone(), loss, d, imp, 0.05, 250));
            s.advance(u64::MAX);
            assert!(s.status().finished && s.status().diverged_at.is_none());
            let iters = s.column("solveIters", 0).unwrap();
            assert!(
                iters[1..].iter().all(|&k| k < 200.0),
                "{name} {loss}: solve did not converge"
            );
            let (drift, col) = worst_drift(&s);
            let scale = scale_of(&s);
            // Per step the invariant moves by O(tol * |w|^2); 250 steps.
            assert!(
                drift < 1e-10 * (1.0 + scale),
                "{name} {loss}: {col} drifted {drift}"
            );
            // The loss went down, so the run did move: the check is not vacuous.
            let l = s.column("loss", 0).unwrap();
            assert!(
                l[l.len() - 1] < 0.9 * l[0],
                "{name} {loss}: loss {} -> {}",
                l[0],
                l[l.len() - 1]
            );
            // Gradient descent with the same step drifts by orders of magnitude more.
            let mut g = session(&spec(layers.clone(), loss, d, gd(), 0.05, 250));
            g.advance(u64::MAX);
            let (gdrift, _) = worst_drift(&g);
            assert!(
                gdrift > 1e3 * drift.max(1e-16),
                "{name} {loss}: GD drift {gdrift} vs {drift}"
            );
        }
    }
}

#[test]
fn linear_networks_record_the_matrix_invariant() {
    let (_, layers, d) = nets().into_iter().find(|n| n.0 == "linear").unwrap();
    let s = session(&spec(layers, "squared", d, gd(), 0.05, 0));
    assert!(s.column("matrixDrift1", 0).is_ok() && s.column("matrixDrift2", 0).is_ok());
    let (_, relu, d) = nets().into_iter().next().unwrap();
    let s = session(&spec(relu, "squared", d, gd(), 0.05, 0));
    assert!(s.column("matrixDrift1", 0).is_err());
    assert!(s.column("neuronDriftMax1", 0).is_ok());
}

/// Drift of the conserved quantities at time T = 1 for step h: the slope of log drift against
/// log h is the order of the integrator on the invariant.
fn drift_at_t1(method: Value, h: f64) -> f64 {
    let (_, layers, d) = nets().into_iter().next().unwrap();
    let steps = (1.0 / h).round() as u64;
    let mut s = session(&spec(layers, "squared", d, method, h, steps));
    s.advance(u64::MAX);
    worst_drift(&s).0
}

#[test]
fn invariant_drift_scales_with_the_order_of_the_integrator() {
    let slope = |m: Value, h: f64| {
        let a = drift_at_t1(m.clone(), h);
        let b = drift_at_t1(m, h / 2.0);
        (a / b).log2()
    };
    let e = slope(json!({"kind": "euler"}), 0.05);
    assert!((e - 1.0).abs() < 0.25, "Euler: drift at T=1 ~ h^{e}");
    let r = slope(json!({"kind": "rk4"}), 0.2);
    assert!(r > 3.5, "RK4: drift at T=1 ~ h^{r}");
}

#[test]
fn every_method_runs_and_decreases_the_loss() {
    let (_, layers, d) = nets().into_iter().next().unwrap();
    for m in [
        json!({"kind": "gd"}),
        json!({"kind": "momentum", "beta": 0.9}),
        json!({"kind": "nesterov", "beta": 0.9}),
        json!({"kind": "adam"}),
        json!({"kind": "sgd", "batchSize": 32, "seed": 5}),
        json!({"kind": "euler"}),
        json!({"kind": "rk4"}),
        json!({"kind": "dopri5", "rtol": 1e-8, "atol": 1e-10}),
        json!({"kind": "implicitMidpoint"}),
    ] {
        let eta = if m["kind"] == "adam" { 0.01 } else { 0.05 };
        let mut s = session(&spec(layers.clone(), "squared", d, m.clone(), eta, 200));
        s.advance(u64::MAX);
        let l = s.column("loss", 0).unwrap();
        assert!(l.iter().all(|x| x.is_finite()), "{m}");
        assert!(
            l[l.len() - 1] < 0.7 * l[0],
            "{m}: loss {} -> {}",
            l[0],
            l[l.len() - 1]
        );
        let t = s.column("time", 0).unwrap();
        assert!(t[t.len() - 1] > 0.0);
    }
}

#[test]
fn weight_decay_shrinks_the_invariants_instead_of_conserving_them() {
    let (_, layers, d) = nets().into_iter().next().unwrap();
    let mut sp = spec(
        layers,
        "squared",
        d,
        json!({"kind": "implicitMidpoint"}),
        0.05,
        200,
    );
    sp["weightDecay"] = json!(0.1);
    let mut s = session(&sp);
    s.advance(u64::MAX);
    assert!(worst_drift(&s).0 > 1e-4);
}

#[test]
fn seeded_runs_are_bit_identical_and_chunking_does_not_matter() {
    let (_, layers, d) = nets().into_iter().nth(3).unwrap();
    let sp = spec(
        layers,
        "crossEntropy",
        d,
        json!({"kind": "sgd", "batchSize": 20, "seed": 9}),
        0.05,
        37,
    );
    let mut a = session(&sp);
    let mut b = session(&sp);
    assert_eq!(a.params(), b.params());
    let xa = a.matrix("X").unwrap().2.to_vec();
    assert!(xa
        .iter()
        .zip(b.matrix("X").unwrap().2)
        .all(|(x, y)| x.to_bits() == y.to_bits()));
    a.advance(u64::MAX);
    while !b.status().finished {
        b.advance(5);
    }
    assert!(a
        .params()
        .iter()
        .zip(b.params())
        .all(|(x, y)| x.to_bits() == y.to_bits()));
    for n in a.column_names() {
        assert_eq!(a.column(n, 0).unwrap(), b.column(n, 0).unwrap(), "{n}");
    }
    let c = session(&spec(nets()[0].1.clone(), "squared", 4, gd(), 0.1, 0));
    let mut sp2 = spec(nets()[0].1.clone(), "squared", 4, gd(), 0.1, 0);
    sp2["init"]["seed"] = json!(5);
    assert_ne!(c.params(), session(&sp2).params());
}

#[test]
fn matrices_are_named_per_layer() {
    let (_, layers, d) = nets().into_iter().nth(1).unwrap();
    let s = session(&spec(layers, "squared", d, gd(), 0.1, 0));
    assert_eq!(s.matrix("W1").unwrap().0, 6);
    assert_eq!(s.matrix("W1").unwrap().1, 4);
    assert_eq!(s.matrix("b1").unwrap().1, 6);
    assert_eq!(s.matrix("W2_0").unwrap().0, 3);
    assert_eq!(s.matrix("X").unwrap().0, 150);
    assert!(s.matrix("W3").is_err() && s.matrix("v1").is_err());
    let (_, conv, d) = nets().into_iter().nth(3).unwrap();
    let s = session(&spec(conv, "squared", d, gd(), 0.1, 0));
    assert_eq!(s.matrix("v1").unwrap().1, 3 * 2 * 3);
    assert_eq!(s.matrix("W1").unwrap().0, 3 * 6);
}

fn err_of(spec: &Value, bufs: HashMap<String, Vec<f64>>) -> (ErrorCode, String) {
    match Session::new(&spec.to_string(), bufs) {
        Ok(_) => panic!("accepted {spec}"),
        Err(e) => (e.code, e.field),
    }
}

#[test]
fn bad_network_input_is_refused_with_the_field_named() {
    let base = || spec(nets()[0].1.clone(), "squared", 4, gd(), 0.1, 5);
    let none = HashMap::new;
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(Edit, ErrorCode, &str)> = vec![
        (
            Box::new(|s| s["model"]["inputDim"] = json!(0)),
            ErrorCode::OutOfRange,
            "model.inputDim",
        ),
        (
            Box::new(|s| s["model"]["layers"] = json!([])),
            ErrorCode::OutOfRange,
            "model.layers",
        ),
        (
            Box::new(|s| s["model"]["layers"][1]["width"] = json!(2.5)),
            ErrorCode::OutOfRange,
            "model.layers[1].width",
        ),
        (
            Box::new(|s| s["model"]["layers"][2]["activation"] = json!("relu")),
            ErrorCode::OutOfRange,
            "model.layers[2].activation",
        ),
        (
            Box::new(|s| s["model"]["layers"][0]["activation"] = json!("leakyRelu")),
            ErrorCode::InvalidSpec,
            "model.layers[0].slope",
        ),
        (
            Box::new(|s| {
                s["model"]["layers"][0]["activation"] = json!("leakyRelu");
                s["model"]["layers"][0]["slope"] = json!(1.5)
            }),
            ErrorCode::OutOfRange,
            "model.layers[0].slope",
        ),
        (
            Box::new(|s| s["model"]["layers"][0]["activation"] = json!("tanh")),
            ErrorCode::InvalidSpec,
            "model.layers[0].activation",
        ),
        (
            Box::new(|s| s["model"]["loss"] = json!("hinge")),
            ErrorCode::InvalidSpec,
            "model.loss",
        ),
        (
            Box::new(|s| {
                s["model"]["layers"][0] =
                    json!({"type": "conv1d", "inChannels": 3, "outChannels": 2, "kernel": 2})
            }),
            ErrorCode::ShapeMismatch,
            "model.layers[0].inChannels",
        ),
        (
            Box::new(|s| {
                s["model"]["layers"][0] =
                    json!({"type": "conv1d", "inChannels": 1, "outChannels": 2, "kernel": 9})
            }),
            ErrorCode::OutOfRange,
            "model.layers[0].kernel",
        ),
        (
            Box::new(|s| s["data"]["samples"] = json!(-1)),
            ErrorCode::OutOfRange,
            "data.samples",
        ),
        (
            Box::new(|s| s["data"]["targets"]["widths"] = json!([0])),
            ErrorCode::OutOfRange,
            "data.targets.widths[0]",
        ),
        (
            Box::new(|s| s["init"]["variances"] = json!([0.1])),
            ErrorCode::ShapeMismatch,
            "init.variances",
        ),
        (
            Box::new(|s| s["init"]["variances"][1] = json!(-1.0)),
            ErrorCode::OutOfRange,
            "init.variances[1]",
        ),
        (
            Box::new(|s| s["init"]["stds"] = json!([1, 1, 1])),
            ErrorCode::InvalidSpec,
            "init",
        ),
        (
            Box::new(|s| s["method"] = json!({"kind": "momentum", "beta": 1.0})),
            ErrorCode::OutOfRange,
            "method.beta",
        ),
        (
            Box::new(|s| s["method"] = json!({"kind": "sgd", "batchSize": 1000, "seed": 1})),
            ErrorCode::OutOfRange,
            "method.batchSize",
        ),
        (
            Box::new(|s| s["method"] = json!({"kind": "dopri5", "rtol": 0})),
            ErrorCode::OutOfRange,
            "method.rtol",
        ),
        (
            Box::new(|s| s["method"] = json!({"kind": "leapfrog"})),
            ErrorCode::InvalidSpec,
            "method.kind",
        ),
        (
            Box::new(|s| s["weightDecay"] = json!(-0.1)),
            ErrorCode::OutOfRange,
            "weightDecay",
        ),
        (
            Box::new(|s| s["schedule"] = json!({"kind": "theorem31", "eps": 0.1})),
            ErrorCode::OutOfRange,
            "schedule.kind",
        ),
        (
            Box::new(|s| s["init"] = json!({"kind": "explicit"})),
            ErrorCode::InvalidRequest,
            "init.w1",
        ),
    ];
    for (edit, code, field) in cases {
        let mut s = base();
        edit(&mut s);
        let (c, f) = err_of(&s, none());
        assert_eq!((c, f.as_str()), (code, field), "{s}");
    }
    // Explicit data: shapes and buffers named.
    let mut s = base();
    s["data"] =
        json!({"kind": "explicit", "x": {"rows": 10, "cols": 4}, "y": {"rows": 10, "cols": 2}});
    let bufs = HashMap::from([
        ("data.x".to_string(), vec![0.0; 40]),
        ("data.y".to_string(), vec![0.0; 20]),
    ]);
    assert_eq!(
        err_of(&s, bufs),
        (ErrorCode::ShapeMismatch, "data.y".into())
    );
    s["data"]["y"]["cols"] = json!(3);
    let bufs = HashMap::from([
        ("data.x".to_string(), vec![0.0; 40]),
        ("data.y".to_string(), vec![f64::NAN; 30]),
    ]);
    assert_eq!(err_of(&s, bufs), (ErrorCode::NonFinite, "data.y".into()));
    let bufs = HashMap::from([
        ("data.x".to_string(), vec![0.5; 40]),
        ("data.y".to_string(), vec![1.0; 30]),
    ]);
    assert!(Session::new(&s.to_string(), bufs).is_ok());
    // MF specs still refuse network-only methods.
    let mf = json!({"model": {"kind": "matrixFactorization", "d1": 4, "d2": 3, "rank": 2},
        "target": {"kind": "random", "singularValues": [1, 1], "seed": 0},
        "init": {"kind": "gaussian", "stdU": 0.1, "stdV": 0.1, "seed": 0},
        "schedule": {"kind": "constant", "eta": 0.1}, "steps": 5,
        "method": {"kind": "sgd", "batchSize": 2, "seed": 0}});
    assert_eq!(
        err_of(&mf, none()),
        (ErrorCode::OutOfRange, "method.kind".into())
    );
}

/// A general shared layer from an explicit pattern buffer: 6 x 4 with 5 free parameters, some
/// structural zeros and parameters used several times; explicit init buffers.
fn shared_session(loss: &str, method: Value, steps: u64) -> Session {
    #[rustfmt::skip]
    let pattern = vec![
        1.0, 2.0, 0.0, 3.0,
        0.0, 1.0, 4.0, 0.0,
        5.0, 0.0, 2.0, 1.0,
        3.0, 3.0, 0.0, 0.0,
        0.0, 0.0, 5.0, 4.0,
        2.0, 4.0, 1.0, 5.0,
    ];
    let sp = json!({
        "model": {"kind": "network", "inputDim": 4, "loss": loss, "layers": [
            {"type": "shared", "width": 6, "params": 5, "pattern": {"rows": 6, "cols": 4},
             "activation": "relu", "bias": true},
            {"width": 3}
        ]},
        "data": {"kind": "generated", "samples": 100, "inputs": "sphere",
                 "targets": {"kind": "teacher", "widths": [5], "scale": 2.0}, "seed": 7},
        "init": {"kind": "explicit"},
        "schedule": {"kind": "constant", "eta": 0.05},
        "method": method,
        "steps": steps
    });
    let v1 = vec![0.5, -0.3, 0.8, 0.2, -0.6];
    let b1 = vec![0.1, -0.1, 0.05, 0.0, 0.2, -0.05];
    let w2: Vec<f64> = (0..18).map(|i| ((i * 7 % 11) as f64 - 5.0) / 8.0).collect();
    let bufs = HashMap::from([
        ("model.layers[0].pattern".to_string(), pattern),
        ("init.w1".to_string(), v1),
        ("init.b1".to_string(), b1),
        ("init.w2".to_string(), w2),
    ]);
    Session::new(&sp.to_string(), bufs).unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn shared_layers_from_an_explicit_pattern() {
    for loss in ["squared", "crossEntropy"] {
        let s = shared_session(loss, gd(), 0);
        assert_eq!(s.matrix("v1").unwrap().1, 5);
        let (r, c, w1) = s.matrix("W1").unwrap();
        assert_eq!((r, c), (6, 4));
        assert_eq!((w1[0], w1[2], w1[3], w1[23]), (0.5, 0.0, 0.8, -0.6));
        // Gradient against central differences.
        let mut net = clone_net(&s);
        let w = s.params().to_vec();
        let mut g = vec![0.0; w.len()];
        net.loss_grad(&w, &mut g);
        let mut scratch = vec![0.0; w.len()];
        let h = 1e-6;
        for i in 0..w.len() {
            let mut wp = w.clone();
            wp[i] += h;
            let fp = net.loss_grad(&wp, &mut scratch);
            wp[i] -= 2.0 * h;
            let fm = net.loss_grad(&wp, &mut scratch);
            let fd = (fp - fm) / (2.0 * h);
            assert!(
                (fd - g[i]).abs() < 1e-6 * (1.0 + g[i].abs()),
                "{loss} param {i}"
            );
        }
        // Theorem 2.3: ||v1||^2 + ||b1||^2 - ||W2||^2 is conserved by implicit midpoint.
        let mut s = shared_session(loss, json!({"kind": "implicitMidpoint"}), 300);
        s.advance(u64::MAX);
        let d = max_abs(&s, "layerDiffDrift1");
        let l = s.column("loss", 0).unwrap();
        assert!(l[l.len() - 1] < 0.9 * l[0], "{loss}: the run must move");
        assert!(d < 1e-11, "{loss}: drift {d}");
        assert!(s.column("neuronDriftMax1", 0).is_err());
        let mut g = shared_session(loss, gd(), 300);
        g.advance(u64::MAX);
        assert!(max_abs(&g, "layerDiffDrift1") > 1e3 * d.max(1e-16));
    }
    // A pattern entry out of range is refused with the buffer named.
    let sp = json!({
        "model": {"kind": "network", "inputDim": 2, "layers": [
            {"type": "shared", "width": 1, "params": 1, "pattern": {"rows": 1, "cols": 2}}, {"width": 1}]},
        "data": {"kind": "generated", "samples": 3, "targets": {"kind": "gaussian"}, "seed": 0},
        "init": {"kind": "gaussian", "stds": [1, 1], "seed": 0},
        "schedule": {"kind": "constant", "eta": 0.1}, "steps": 1
    });
    let bufs = HashMap::from([("model.layers[0].pattern".to_string(), vec![1.0, 2.0])]);
    assert_eq!(
        err_of(&sp, bufs),
        (ErrorCode::OutOfRange, "model.layers[0].pattern".into())
    );
}

#[test]
fn absurd_sizes_are_refused_before_any_allocation() {
    let mut s = spec(nets()[0].1.clone(), "squared", 4, gd(), 0.1, 5);
    // Sizes above 2^32 - 1 are out of range on every target (issue 10); below, too large.
    s["model"]["inputDim"] = json!(4e15);
    assert_eq!(err_of(&s, HashMap::new()).0, ErrorCode::OutOfRange);
    s["model"]["inputDim"] = json!(4e9);
    s["model"]["layers"][0]["width"] = json!(4e9);
    assert_eq!(err_of(&s, HashMap::new()).0, ErrorCode::TooLarge);
    let mut s = spec(nets()[0].1.clone(), "squared", 4, gd(), 0.1, 5);
    s["data"]["samples"] = json!(4e9);
    assert_eq!(
        err_of(&s, HashMap::new()),
        (ErrorCode::TooLarge, "model".into())
    );
    let (_, mut conv, _) = nets().into_iter().nth(4).unwrap();
    conv[0]["outChannels"] = json!(4e9);
    let s = spec(conv, "squared", 16, gd(), 0.1, 5);
    assert_eq!(err_of(&s, HashMap::new()).0, ErrorCode::TooLarge);
}

/// SGD and Nesterov never read the full-batch gradient of the iterate, so the session evaluates it
/// only on recorded rows: recording every step or every 7th must give the same trajectory and the
/// same values on the common rows, bit for bit; and a diverging lazy run still stops with its last
/// finite iterate.
#[test]
fn lazy_full_batch_evaluation_changes_nothing_but_the_cost() {
    let (_, layers, d) = nets().into_iter().nth(1).unwrap();
    for method in [
        json!({"kind": "sgd", "batchSize": 10, "seed": 2}),
        json!({"kind": "nesterov", "beta": 0.9}),
    ] {
        let mut every1 = spec(layers.clone(), "squared", d, method.clone(), 0.05, 50);
        every1["recordEvery"] = json!(1);
        let mut every7 = every1.clone();
        every7["recordEvery"] = json!(7);
        let mut a = session(&every1);
        let mut b = session(&every7);
        a.advance(u64::MAX);
        // Chunks that end between recorded rows (a status there needs the loss).
        let mut chunk_losses = Vec::new();
        while !b.status().finished {
            let st = b.advance(3);
            chunk_losses.push((st.step, st.loss));
        }
        assert!(a
            .params()
            .iter()
            .zip(b.params())
            .all(|(x, y)| x.to_bits() == y.to_bits()));
        let sa = a.column("step", 0).unwrap().to_vec();
        let sb = b.column("step", 0).unwrap().to_vec();
        for name in b.column_names() {
            let ca = a.column(name, 0).unwrap();
            let cb = b.column(name, 0).unwrap();
            for (i, t) in sb.iter().enumerate() {
                let j = sa.iter().position(|s| s == t).unwrap();
                assert_eq!(
                    ca[j].to_bits(),
                    cb[i].to_bits(),
                    "{method} {name} at step {t}"
                );
            }
        }
        // Every chunk's status carries the loss of its iterate.
        let la = a.column("loss", 0).unwrap();
        for (step, loss) in chunk_losses {
            assert_eq!(
                loss,
                Some(la[step as usize]),
                "{method}: status loss at {step}"
            );
        }
    }
    // Divergence between recorded rows: stops at the first non-finite iterate, keeps the last
    // finite one.
    let mut blow = spec(
        layers,
        "squared",
        d,
        json!({"kind": "sgd", "batchSize": 10, "seed": 2}),
        1e6,
        500,
    );
    blow["recordEvery"] = json!(100);
    let mut s = session(&blow);
    let st = s.advance(u64::MAX);
    let at = st.diverged_at.expect("diverges");
    assert!(at < 100, "diverged at {at}");
    assert!(s.params().iter().all(|x| x.is_finite()));
    assert_eq!(st.step, at - 1);
    assert!(st.loss.is_some_and(f64::is_finite), "{:?}", st.loss);
    // The same in chunks (a replay may span chunks): same stop, same state.
    let mut c = session(&blow);
    let mut last = c.status();
    while !last.finished {
        last = c.advance(7);
    }
    assert_eq!(last.diverged_at, Some(at));
    assert_eq!(last.step, st.step);
    assert!(c
        .params()
        .iter()
        .zip(s.params())
        .all(|(x, y)| x.to_bits() == y.to_bits()));
}
