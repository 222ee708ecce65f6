//! Curvature of networks (issue 4 on the models of issue 3): the exact R-operator HVP against
//! central differences of the gradient for dense / leaky / linear / conv / shared layers and both
//! losses, symmetry of H, the rescaling symmetry at a trained point, and queries through a
//! session.

#![allow(clippy::needless_range_loop)]

use std::collections::HashMap;

use autobalance_core::curvature::HessianOp;
use autobalance_core::linalg::{dot, norm2};
use autobalance_core::model::net::pattern::{conv, Pattern};
use autobalance_core::model::net::{Activation, Layer, Loss, Network};
use autobalance_core::model::Model;
use autobalance_core::Session;
use serde_json::{json, Value};

mod common;
use common::data;

type Spec = (usize, usize, Activation, Option<Pattern>, bool);

/// A 6 x 4 shared pattern with 5 free parameters.
fn shared_pattern() -> Pattern {
    #[rustfmt::skip]
    let map: Vec<u32> = vec![
        1, 2, 0, 3,
        0, 1, 4, 0,
        5, 0, 2, 1,
        3, 3, 0, 0,
        0, 0, 5, 4,
        2, 4, 1, 5,
    ];
    Pattern {
        rows: 6,
        cols: 4,
        params: 5,
        map,
        bias_map: vec![0, 1, 2, 3, 4, 5],
        biases: 6,
    }
}

/// (name, input dim, layers)
fn nets() -> Vec<(&'static str, usize, Vec<Spec>)> {
    let relu = Activation::Relu;
    let leaky = Activation::LeakyRelu(0.2);
    let lin = Activation::Linear;
    // conv1d: 2 channels of length 6 -> 3 channels (kernel 3, padding 1) -> 2 channels (kernel
    // 2, stride 2) -> dense 3.
    let c1 = conv(2, 3, 1, 6, 1, 3, 1, 0, 1).unwrap();
    let c2 = conv(3, 2, 1, 6, 1, 2, 2, 0, 0).unwrap();
    let (c1r, c2r) = (c1.rows, c2.rows);
    // conv2d: 1 channel 4 x 4 -> 2 channels (3 x 3, padding 1) -> dense 3.
    let c3 = conv(1, 2, 4, 4, 3, 3, 1, 1, 1).unwrap();
    let c3r = c3.rows;
    vec![
        (
            "relu",
            4,
            vec![
                (6, 4, relu, None, false),
                (5, 6, relu, None, false),
                (3, 5, lin, None, false),
            ],
        ),
        (
            "leaky+bias",
            4,
            vec![
                (6, 4, leaky, None, true),
                (5, 6, relu, None, true),
                (3, 5, lin, None, true),
            ],
        ),
        (
            "linear+bias",
            4,
            vec![
                (5, 4, lin, None, true),
                (4, 5, lin, None, false),
                (3, 4, lin, None, true),
            ],
        ),
        (
            "conv1d",
            12,
            vec![
                (c1r, 12, relu, Some(c1), true),
                (c2r, c1r, Activation::LeakyRelu(0.1), Some(c2), true),
                (3, c2r, lin, None, true),
            ],
        ),
        (
            "conv2d",
            16,
            vec![(c3r, 16, relu, Some(c3), true), (3, c3r, lin, None, true)],
        ),
        (
            "shared",
            4,
            vec![
                (6, 4, relu, Some(shared_pattern()), true),
                (3, 6, lin, None, false),
            ],
        ),
        (
            "dense+shared",
            3,
            vec![
                (4, 3, leaky, None, true),
                (6, 4, relu, Some(shared_pattern()), false),
                (3, 6, lin, None, true),
            ],
        ),
    ]
}

/// A network on `m` random samples; cross-entropy targets are one-hot.
fn build(d: usize, specs: Vec<Spec>, loss: Loss, m: usize, seed: u64) -> Network {
    let layers = Layer::stack(specs);
    let out = layers.last().unwrap().rows;
    let x = data(m * d, seed, 1.0);
    let y = match loss {
        Loss::Squared => data(m * out, seed + 1, 1.0),
        Loss::CrossEntropy => {
            let r = data(m * out, seed + 1, 1.0);
            let mut y = vec![0.0; m * out];
            for i in 0..m {
                let row = &r[i * out..(i + 1) * out];
                let k = (0..out).fold(0, |b, k| if row[k] > row[b] { k } else { b });
                y[i * out + k] = 1.0;
            }
            y
        }
    };
    Network::new(d, layers, loss, x, y, 0)
}

fn grad(net: &mut Network, w: &[f64]) -> Vec<f64> {
    let mut g = vec![0.0; w.len()];
    Model::loss_grad(net, w, &mut g);
    g
}

fn hvp(net: &mut Network, w: &[f64], v: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; v.len()];
    net.hvp(w, v, &mut out);
    out
}

fn losses() -> [(&'static str, Loss); 2] {
    [
        ("squared", Loss::Squared),
        ("crossEntropy", Loss::CrossEntropy),
    ]
}

#[test]
fn hvp_matches_central_differences_of_the_gradient() {
    for (name, d, specs) in nets() {
        for (lname, loss) in losses() {
            let mut net = build(d, specs.clone(), loss, 70, 11);
            let n = Model::dim(&net);
            // A generic point (biases nonzero) and generic directions.
            let w = data(n, 21, 0.6);
            for (k, seed) in [31u64, 32, 33].into_iter().enumerate() {
                let v = data(n, seed, 1.0);
                let hv = hvp(&mut net, &w, &v);
                let h = 1e-5;
                let wp: Vec<f64> = w.iter().zip(&v).map(|(a, b)| a + h * b).collect();
                let wm: Vec<f64> = w.iter().zip(&v).map(|(a, b)| a - h * b).collect();
                let (gp, gm) = (grad(&mut net, &wp), grad(&mut net, &wm));
                let fd: Vec<f64> = gp
                    .iter()
                    .zip(&gm)
                    .map(|(a, b)| (a - b) / (2.0 * h))
                    .collect();
                let diff: Vec<f64> = hv.iter().zip(&fd).map(|(a, b)| a - b).collect();
                let rel = (norm2(&diff) / norm2(&hv)).sqrt();
                // Truncation O(h^2 |f'''|) ~ 1e-10, round-off ~ eps |g| / h ~ 1e-11: no kink
                // is crossed at these random points.
                assert!(
                    rel < 1e-7,
                    "{name} {lname} direction {k}: relative error {rel}"
                );
                assert!(norm2(&hv) > 0.0);
            }
            // Single coordinates too (every block, including biases and shared parameters).
            for i in (0..n).step_by(3) {
                let mut e = vec![0.0; n];
                e[i] = 1.0;
                let hv = hvp(&mut net, &w, &e);
                let h = 1e-5;
                let mut wp = w.clone();
                wp[i] += h;
                let gp = grad(&mut net, &wp);
                wp[i] -= 2.0 * h;
                let gm = grad(&mut net, &wp);
                let scale = norm2(&hv).sqrt().max(1e-3);
                for j in 0..n {
                    let fd = (gp[j] - gm[j]) / (2.0 * h);
                    assert!(
                        (fd - hv[j]).abs() < 1e-7 * scale,
                        "{name} {lname}: H[{j}, {i}] = {} vs FD {fd}",
                        hv[j]
                    );
                }
            }
        }
    }
}

#[test]
fn the_gradient_is_the_models_and_the_hessian_is_symmetric() {
    for (name, d, specs) in nets() {
        for (lname, loss) in losses() {
            let mut net = build(d, specs.clone(), loss, 40, 5);
            let n = Model::dim(&net);
            let w = data(n, 6, 0.7);
            let mut g1 = vec![0.0; n];
            let f1 = Model::loss_grad(&mut net, &w, &mut g1);
            let mut g2 = vec![0.0; n];
            let f2 = Model::loss_grad(&mut net, &w, &mut g2);
            assert_eq!((f1, g1), (f2, g2));
            let u = data(n, 7, 1.0);
            let v = data(n, 8, 1.0);
            let hu = hvp(&mut net, &w, &u);
            let hv = hvp(&mut net, &w, &v);
            let (a, b) = (dot(&v, &hu), dot(&u, &hv));
            let scale = (norm2(&hu) * norm2(&v)).sqrt();
            assert!(
                (a - b).abs() <= 1e-13 * scale,
                "{name} {lname}: v^T H u = {a}, u^T H v = {b}"
            );
            // Linear in v.
            let uv: Vec<f64> = u.iter().zip(&v).map(|(a, b)| 2.0 * a - 3.0 * b).collect();
            let huv = hvp(&mut net, &w, &uv);
            for i in 0..n {
                let want = 2.0 * hu[i] - 3.0 * hv[i];
                assert!((huv[i] - want).abs() <= 1e-12 * scale.max(1.0));
            }
        }
    }
}

#[test]
fn blocks_and_symmetry_dimensions() {
    let lin = Activation::Linear;
    let relu = Activation::Relu;
    // ReLU: one rescaling per hidden neuron (6 + 5).
    let net = build(4, nets()[0].2.clone(), Loss::Squared, 10, 1);
    let w = data(Model::dim(&net), 2, 0.5);
    assert_eq!(net.symmetry_dim(&w), Some(11));
    let names: Vec<String> = Model::blocks(&net).iter().map(|b| b.name.clone()).collect();
    assert_eq!(names, ["W1", "W2", "W3"]);
    // Tangents are orthonormal.
    let t = net.symmetry_tangents(&w).unwrap();
    for i in 0..t.len() {
        for j in 0..t.len() {
            let want = if i == j { 1.0 } else { 0.0 };
            assert!((dot(&t[i], &t[j]) - want).abs() < 1e-12);
        }
    }
    // A dead neuron (zero incoming and outgoing weights) has no orbit.
    let mut w0 = w.clone();
    let l = &net.layers;
    for j in 0..4 {
        w0[l[0].w_off + 2 * 4 + j] = 0.0;
    }
    for k in 0..5 {
        w0[l[1].w_off + k * 6 + 2] = 0.0;
    }
    assert_eq!(net.symmetry_dim(&w0), Some(10));
    // Linear boundaries: GL(n_h) each, orbit dimension n_h^2 - (n_h - rank [W_h b_h])
    // (n_h - rank W_{h+1}) (as for matrix factorization): W_1 is 5 x 4 and W_2 4 x 5 (rank 4),
    // so 25 - 1 at the first boundary; W_2 4 x 5 and W_3 3 x 4, so 16 - 0 at the second.
    let net = build(
        4,
        vec![
            (5, 4, lin, None, false),
            (4, 5, lin, None, false),
            (3, 4, lin, None, false),
        ],
        Loss::Squared,
        10,
        1,
    );
    let w = data(Model::dim(&net), 3, 0.5);
    assert_eq!(net.symmetry_dim(&w), Some(24 + 16));
    // Mixed: ReLU then linear boundary: 5 + 4^2.
    let net = build(
        4,
        vec![
            (5, 4, relu, None, true),
            (4, 5, lin, None, true),
            (3, 4, lin, None, false),
        ],
        Loss::Squared,
        10,
        1,
    );
    let w = data(Model::dim(&net), 4, 0.5);
    assert_eq!(net.symmetry_dim(&w), Some(5 + 16));
    // Shared / convolutional boundaries with ReLU-type activations: one rescaling per class of
    // neurons that share parameters or biases: the channels of a convolution (conv1d: 3 + 2,
    // conv2d: 2); the explicit pattern connects all 6 neurons (1).
    // Dense then shared: the shared layer's columns connect the 4 dense neurons (1 + 1).
    for (k, want) in [(3, 5), (4, 2), (5, 1), (6, 2)] {
        let (name, d, specs) = nets().swap_remove(k);
        let net = build(d, specs, Loss::Squared, 10, 1);
        let w = data(Model::dim(&net), 4, 0.5);
        assert_eq!(net.symmetry_dim(&w), Some(want), "{name}");
    }
    // A linear boundary with a shared layer: not stated.
    let c = conv(1, 2, 1, 6, 1, 3, 1, 0, 1).unwrap();
    let cr = c.rows;
    let net = build(
        6,
        vec![(cr, 6, lin, Some(c), true), (3, cr, lin, None, false)],
        Loss::Squared,
        10,
        1,
    );
    let w = data(Model::dim(&net), 4, 0.5);
    assert_eq!(net.symmetry_dim(&w), None);
    assert!(net.symmetry_tangents(&w).is_none());
    // One layer: no symmetry.
    let net = build(4, vec![(3, 4, lin, None, true)], Loss::Squared, 10, 1);
    assert_eq!(net.symmetry_dim(&data(15, 1, 1.0)), Some(0));
}

#[test]
fn symmetry_tangents_keep_the_loss_and_annihilate_h_at_first_order() {
    // H t = -(Dt)^T g: the tangents are null vectors up to the gradient's size. The tangents
    // are t = S w with S linear, so g(w) . S w = 0 at every w means L is constant along
    // exp(s S) w, the group action: checked at random points for every architecture.
    for k in 0..nets().len() {
        let (name, d, specs) = nets().swap_remove(k);
        for ((lname, loss), seed) in losses().into_iter().zip([10, 12]) {
            let mut net = build(d, specs.clone(), loss, 30, 9);
            let n = Model::dim(&net);
            let w = data(n, seed, 0.6);
            let g = grad(&mut net, &w);
            let t = net.symmetry_tangents(&w).unwrap();
            for ti in &t {
                assert!(
                    dot(&g, ti).abs() < 1e-12 * norm2(&g).sqrt().max(1.0),
                    "{name} {lname}: g . t = {}",
                    dot(&g, ti)
                );
            }
        }
    }
}

fn session(spec: &Value) -> Session {
    Session::new(&spec.to_string(), HashMap::new()).unwrap_or_else(|e| panic!("{e:?}"))
}

fn parse(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

#[test]
fn a_trained_relu_network_has_a_null_space_containing_the_rescalings() {
    // Over-parameterized (26 parameters, 8 equations): GD reaches a global minimum with
    // near-zero gradient. Every hidden-neuron rescaling is then a null vector of H.
    let hidden = 4;
    let sp = json!({
        "model": {"kind": "network", "inputDim": 3, "loss": "squared", "layers": [
            {"width": hidden, "activation": "relu", "bias": true}, {"width": 1, "bias": true}]},
        "data": {"kind": "generated", "samples": 8, "inputs": "gaussian",
                 "targets": {"kind": "gaussian", "std": 1}, "seed": 3},
        "init": {"kind": "gaussian", "variances": [0.5, 0.5], "seed": 4},
        "schedule": {"kind": "constant", "eta": 0.05},
        "method": {"kind": "gd"},
        "steps": 40000,
        "recordEvery": 100000
    });
    let mut s = session(&sp);
    s.advance(40000);
    let r = parse(
        &s.hessian(r#"{"what": "classify", "method": "dense"}"#)
            .unwrap(),
    );
    let g = r["gradNorm"].as_f64().unwrap();
    assert!(g < 1e-6, "not stationary: {r}");
    let zeros = r["zeroCount"].as_u64().unwrap() as usize;
    assert!(zeros >= hidden, "{r}");
    assert_eq!(r["symmetryDim"], json!(hidden), "{r}");
    // The tangents are null vectors to the gradient's order.
    let w = s.params().to_vec();
    let net = s.network().unwrap();
    let mut net = Network::new(
        net.input_dim,
        net.layers.clone(),
        net.loss,
        net.x.clone(),
        net.y.clone(),
        0,
    );
    let scale = r["lambdaMax"].as_f64().unwrap();
    for t in net.symmetry_tangents(&w).unwrap() {
        let ht = hvp(&mut net, &w, &t);
        assert!(norm2(&ht).sqrt() < 1e-6 * scale, "{}", norm2(&ht).sqrt());
    }
    // Dense and Lanczos agree on lambda_max.
    let e = parse(
        &s.hessian(r#"{"what": "eigs", "method": "lanczos", "which": "largest", "k": 2}"#)
            .unwrap(),
    );
    let l = e["largest"][0]["value"].as_f64().unwrap();
    assert!((l - scale).abs() < 1e-8 * scale, "{e}");
}

#[test]
fn queries_through_a_network_session() {
    let sp = json!({
        "model": {"kind": "network", "inputDim": 5, "loss": "crossEntropy", "layers": [
            {"width": 4, "activation": "relu", "bias": true},
            {"width": 3, "activation": "leakyRelu", "slope": 0.2},
            {"width": 2}]},
        "data": {"kind": "generated", "samples": 20, "targets": {"kind": "gaussian"}, "seed": 1},
        "init": {"kind": "gaussian", "stds": [0.5, 0.5, 0.5], "seed": 2},
        "schedule": {"kind": "constant", "eta": 0.05},
        "steps": 5
    });
    let mut s = session(&sp);
    s.advance(5);
    let dim = s.params().len();
    let r = parse(&s.hessian(r#"{"what": "classify"}"#).unwrap());
    assert_eq!(r["method"], "dense");
    assert_eq!(r["dim"], json!(dim));
    assert_eq!(r["verdict"]["kind"], "notStationary");
    assert_eq!(r["symmetryDim"], json!(7));
    let e = parse(
        &s.hessian(r#"{"what": "eigs", "which": "both", "k": 2}"#)
            .unwrap(),
    );
    assert_eq!(e["allConverged"], json!(true), "{e}");
    let b = parse(
        &s.hessian(r#"{"what": "eigs", "block": "W2", "k": 1}"#)
            .unwrap(),
    );
    assert_eq!(b["dim"], json!(12));
    let t = parse(&s.hessian(r#"{"what": "trace", "probes": 4}"#).unwrap());
    assert!(t["estimate"].as_f64().unwrap().is_finite());
    // Lemma 3.2 is matrix factorization only.
    let err = s.hessian(r#"{"what": "lemma32"}"#).unwrap_err();
    assert_eq!(err.field, "query.what");
    // The dense eigenvalues sum to the trace computed from unit vectors.
    let net = s.network().unwrap();
    let mut net = Network::new(
        net.input_dim,
        net.layers.clone(),
        net.loss,
        net.x.clone(),
        net.y.clone(),
        0,
    );
    let w = s.params().to_vec();
    let mut op = HessianOp::new(&mut net, &w, None);
    let mut tr = 0.0;
    let mut e = vec![0.0; dim];
    let mut y = vec![0.0; dim];
    for i in 0..dim {
        e.fill(0.0);
        e[i] = 1.0;
        autobalance_core::curvature::LinOp::apply(&mut op, &e, &mut y);
        tr += y[i];
    }
    let eig: f64 = r["eigenvalues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .sum();
    assert!(
        (eig - tr).abs() < 1e-10 * tr.abs().max(1.0),
        "{eig} vs {tr}"
    );
}

#[test]
fn a_trained_leaky_relu_network_is_a_morse_bott_minimum() {
    // 20 samples, 8 parameters: GD converges to a local minimum that does not interpolate. The
    // only flat directions are the 2 neuron rescalings: dense counts exactly symmetryDim zero
    // eigenvalues, Lanczos deflated by the tangents finds H positive on their complement.
    let sp = json!({
        "model": {"kind": "network", "inputDim": 2, "loss": "squared", "layers": [
            {"width": 2, "activation": "leakyRelu", "slope": 0.3, "bias": true}, {"width": 1}]},
        "data": {"kind": "generated", "samples": 20, "inputs": "gaussian",
                 "targets": {"kind": "teacher", "widths": [6]}, "seed": 11},
        "init": {"kind": "gaussian", "variances": [0.5, 0.5], "seed": 4},
        "schedule": {"kind": "constant", "eta": 0.05},
        "method": {"kind": "gd"},
        "steps": 30000,
        "recordEvery": 30000
    });
    let mut s = session(&sp);
    s.advance(30000);
    let dense = parse(
        &s.hessian(r#"{"what": "classify", "method": "dense"}"#)
            .unwrap(),
    );
    assert!(dense["gradNorm"].as_f64().unwrap() < 1e-10, "{dense}");
    assert!(dense["loss"].as_f64().unwrap() > 1e-3, "{dense}");
    assert_eq!(dense["verdict"]["kind"], "localMinimum", "{dense}");
    assert_eq!(dense["zeroCount"], json!(2), "{dense}");
    assert_eq!(dense["symmetryDim"], json!(2), "{dense}");
    let lz = parse(
        &s.hessian(r#"{"what": "classify", "method": "lanczos"}"#)
            .unwrap(),
    );
    assert_eq!(lz["verdict"]["kind"], "localMinimum", "{lz}");
    assert_eq!(lz["zeroCount"], json!(2), "{lz}");
    let d = lz["deflatedLambdaMin"].as_f64().unwrap();
    let smallest_positive = dense["eigenvalues"][2].as_f64().unwrap();
    assert!((d - smallest_positive).abs() < 1e-8 * dense["lambdaMax"].as_f64().unwrap());
}

#[test]
fn cross_entropy_with_unnormalized_probability_rows() {
    // L = 1/m sum_i [(sum_k y_ik) logsumexp(f_i) - <y_i, f_i>]: the softmax Hessian carries the
    // factor sum_k y_ik.
    let layers = Layer::stack(vec![
        (5, 3, Activation::LeakyRelu(0.1), None, true),
        (4, 5, Activation::Linear, None, true),
    ]);
    let m = 30;
    let x = data(m * 3, 41, 1.0);
    let y: Vec<f64> = data(m * 4, 42, 1.0).iter().map(|t| 1.0 + t).collect();
    let mut net = Network::new(3, layers, Loss::CrossEntropy, x, y, 0);
    let n = Model::dim(&net);
    let w = data(n, 43, 0.8);
    let v = data(n, 44, 1.0);
    let hv = hvp(&mut net, &w, &v);
    let h = 1e-5;
    let wp: Vec<f64> = w.iter().zip(&v).map(|(a, b)| a + h * b).collect();
    let wm: Vec<f64> = w.iter().zip(&v).map(|(a, b)| a - h * b).collect();
    let (gp, gm) = (grad(&mut net, &wp), grad(&mut net, &wm));
    let diff: Vec<f64> = hv
        .iter()
        .zip(gp.iter().zip(&gm))
        .map(|(a, (p, q))| a - (p - q) / (2.0 * h))
        .collect();
    let rel = (norm2(&diff) / norm2(&hv)).sqrt();
    assert!(rel < 1e-7, "relative error {rel}");
}

/// `curvature: {every}` on a network run records lambda_min and lambda_max along the trajectory
/// (NaN on the rows in between), equal to a dense solve at the same iterate.
#[test]
fn curvature_columns_along_a_network_run() {
    let sp = |curv: Value| {
        json!({
            "model": {"kind": "network", "inputDim": 3, "loss": "crossEntropy", "layers": [
                {"width": 5, "activation": "leakyRelu", "slope": 0.2, "bias": true}, {"width": 2}]},
            "data": {"kind": "generated", "samples": 12, "inputs": "gaussian",
                     "targets": {"kind": "teacher", "widths": [3]}, "seed": 3},
            "init": {"kind": "gaussian", "variances": [0.5, 0.5], "seed": 4},
            "schedule": {"kind": "constant", "eta": 0.1},
            "steps": 30,
            "recordEvery": 5,
            "curvature": curv
        })
    };
    let mut s = session(&sp(json!({"every": 10, "tol": 1e-10})));
    let names = s.column_names();
    assert!(names.iter().any(|n| n == "lambdaMin") && names.iter().any(|n| n == "lambdaMax"));
    // Sample at steps 0, 10, 20, 30; compare each with a dense solve at that iterate.
    for target in [0u64, 10, 20, 30] {
        if target > 0 {
            s.advance(10);
        } else {
            s.advance(0);
        }
        let dense = parse(
            &s.hessian(r#"{"what": "eigs", "method": "dense", "which": "both"}"#)
                .unwrap(),
        );
        let lo = dense["smallest"][0]["value"].as_f64().unwrap();
        let hi = dense["largest"][0]["value"].as_f64().unwrap();
        let steps = s.column("step", 0).unwrap().to_vec();
        let row = steps.iter().position(|&t| t == target as f64).unwrap();
        let lmin = s.column("lambdaMin", 0).unwrap()[row];
        let lmax = s.column("lambdaMax", 0).unwrap()[row];
        let scale = hi.abs().max(lo.abs());
        assert!(
            (lmin - lo).abs() <= 1e-8 * scale,
            "step {target}: {lmin} vs {lo}"
        );
        assert!(
            (lmax - hi).abs() <= 1e-8 * scale,
            "step {target}: {lmax} vs {hi}"
        );
    }
    // Rows between samples are NaN (step 5, 15, 25).
    let lmin = s.column("lambdaMin", 0).unwrap().to_vec();
    let steps = s.column("step", 0).unwrap().to_vec();
    for (t, l) in steps.iter().zip(&lmin) {
        assert_eq!(l.is_nan(), !(*t as u64).is_multiple_of(10), "step {t}: {l}");
    }
    // Validated like the matrix-factorization field.
    let e = match Session::new(&sp(json!({"every": 7})).to_string(), HashMap::new()) {
        Ok(_) => panic!("accepted"),
        Err(e) => e,
    };
    assert_eq!(e.field, "curvature.every");
}

/// The model's HVP keeps the forward pass of its last point; products at the same point reuse it
/// and must equal a product computed from scratch bit for bit, for every layer type and loss,
/// also after the point changes.
#[test]
fn cached_forward_pass_gives_the_same_products_bit_for_bit() {
    use autobalance_core::model::net::hvp::net_hvp;
    for (name, d, specs) in nets() {
        for (lname, loss) in losses() {
            // 150 samples: several row chunks.
            let mut net = build(d, specs.clone(), loss, 150, 5);
            let n = Model::dim(&net);
            for (k, w) in [data(n, 31, 0.6), data(n, 32, 0.6)].iter().enumerate() {
                for s in 0..3 {
                    let v = data(n, 40 + s, 1.0);
                    let cached = hvp(&mut net, w, &v);
                    let mut fresh = vec![0.0; n];
                    net_hvp(&net, w, &v, &mut fresh);
                    for i in 0..n {
                        assert_eq!(
                            cached[i].to_bits(),
                            fresh[i].to_bits(),
                            "{name} {lname}: point {k}, vector {s}, entry {i}"
                        );
                    }
                }
            }
        }
    }
}
