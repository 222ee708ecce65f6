//! The deep smooth networks (thesis ch. 3): gradients and exact Hessian-vector products against
//! central finite differences at random points for every architecture and activation (several
//! sample chunks, rayon and sequential the same bits); the forward pass against an independent
//! per-sample implementation written from the chapter's formulas (explicit patches phi_h);
//! c_sigma by Gauss-Hermite against a fine trapezoid rule; the last-layer Gram G^(H) against the
//! chapter's closed formula (fully connected and ResNet) and against J J^T from finite
//! differences of the predictions (every architecture); the loss is a sum; data on the sphere;
//! named errors.
#![allow(clippy::needless_range_loop)]

use std::collections::HashMap;

use autobalance_core::linalg::{dot, norm2};
use autobalance_core::model::deep::family::sphere_data;
use autobalance_core::model::deep::{
    c_sigma, lambda_min, Activation, Architecture, DeepNet, Shape,
};
use autobalance_core::model::Model;
use autobalance_core::par::Parallelism;
use autobalance_core::rng::Normal;
use autobalance_core::{ErrorCode, Session};
use serde_json::{json, Value};

const ARCHS: [Architecture; 3] = [
    Architecture::FullyConnected,
    Architecture::Resnet,
    Architecture::ConvResnet,
];
const ACTS: [Activation; 3] = [Activation::Softplus, Activation::Sigmoid, Activation::Tanh];

/// A small network of each architecture: (shape, x as given n x d p, y).
fn net(arch: Architecture, act: Activation, n: usize, seed: u64) -> (DeepNet, Vec<f64>) {
    let (d, p, q) = match arch {
        Architecture::ConvResnet => (2, 5, 3),
        _ => (4, 1, 1),
    };
    let shape = Shape::new(arch, act, 3, 7, d, p, q, 0.6);
    let (x, y) = sphere_data(n, d * p, seed);
    let dim = shape.dim;
    let mut w = vec![0.0; dim];
    Normal::new(seed + 100).fill(&mut w, 1.0);
    (DeepNet::new(shape, x, y, None), w)
}

fn direction(n: usize, seed: u64) -> Vec<f64> {
    let mut v = vec![0.0; n];
    Normal::new(seed).fill(&mut v, 1.0);
    let s = norm2(&v).sqrt();
    v.iter_mut().for_each(|x| *x /= s);
    v
}

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    d.sqrt() / norm2(a).sqrt().max(norm2(b).sqrt()).max(1e-300)
}

#[test]
fn gradients_and_hvps_match_central_differences_everywhere() {
    for arch in ARCHS {
        for act in ACTS {
            // 40 samples: three chunks.
            let (mut m, w0) = net(arch, act, 40, 7);
            let dim = m.dim();
            // Two points: the init and a random point around it.
            let pert = direction(dim, 3);
            let w1: Vec<f64> = w0.iter().zip(&pert).map(|(a, b)| a + 0.5 * b).collect();
            for (k, w) in [w0, w1].iter().enumerate() {
                let label = format!("{}/{} point {k}", arch.name(), act.name());
                let mut g = vec![0.0; dim];
                let f0 = m.loss_grad(w, &mut g);
                let mut scratch = vec![0.0; dim];
                for dnum in 0..4 {
                    let v = direction(dim, 10 + dnum);
                    let h = 1e-5;
                    let wp: Vec<f64> = w.iter().zip(&v).map(|(a, b)| a + h * b).collect();
                    let wm: Vec<f64> = w.iter().zip(&v).map(|(a, b)| a - h * b).collect();
                    let fd = (m.loss_grad(&wp, &mut scratch) - m.loss_grad(&wm, &mut scratch))
                        / (2.0 * h);
                    let an = dot(&g, &v);
                    let tol = 1e-7 * norm2(&g).sqrt() + 1e3 * f64::EPSILON * (1.0 + f0) / h;
                    assert!((fd - an).abs() <= tol, "{label}: g.v {an} vs FD {fd}");
                }
                // Every coordinate of a few blocks (a, W1, WH) by FD of the loss.
                for b in m.blocks().to_vec() {
                    for idx in b.range().step_by(b.len().div_ceil(5)) {
                        let h = 1e-5;
                        let mut wp = w.clone();
                        wp[idx] += h;
                        let mut wm = w.clone();
                        wm[idx] -= h;
                        let fd = (m.loss_grad(&wp, &mut scratch) - m.loss_grad(&wm, &mut scratch))
                            / (2.0 * h);
                        let tol = 1e-7 * (1.0 + g[idx].abs()) + 1e3 * f64::EPSILON * (1.0 + f0) / h;
                        assert!(
                            (fd - g[idx]).abs() <= tol,
                            "{label}: d/d{}[{idx}] {} vs FD {fd}",
                            b.name,
                            g[idx]
                        );
                    }
                }
                // H v against central differences of the gradient; symmetry u.Hv = v.Hu.
                let u = direction(dim, 20);
                let v = direction(dim, 21);
                let (mut hu, mut hv) = (vec![0.0; dim], vec![0.0; dim]);
                m.hvp(w, &u, &mut hu);
                m.hvp(w, &v, &mut hv);
                let h = 1e-5;
                let (mut gp, mut gm) = (vec![0.0; dim], vec![0.0; dim]);
                let wp: Vec<f64> = w.iter().zip(&u).map(|(a, b)| a + h * b).collect();
                let wm: Vec<f64> = w.iter().zip(&u).map(|(a, b)| a - h * b).collect();
                m.loss_grad(&wp, &mut gp);
                m.loss_grad(&wm, &mut gm);
                let fd: Vec<f64> = gp
                    .iter()
                    .zip(&gm)
                    .map(|(a, b)| (a - b) / (2.0 * h))
                    .collect();
                let err = rel(&hu, &fd);
                assert!(err < 1e-7, "{label}: Hu vs FD {err:e}");
                let (a, b) = (dot(&v, &hu), dot(&u, &hv));
                assert!(
                    (a - b).abs() <= 1e-11 * (norm2(&hu) * norm2(&hv)).sqrt(),
                    "{label}: v.Hu {a} vs u.Hv {b}"
                );
                // Sequential and rayon: the same bits.
                m.set_parallelism(Parallelism::Sequential);
                let mut hs = vec![0.0; dim];
                m.hvp(w, &u, &mut hs);
                let mut gs = vec![0.0; dim];
                let fs = m.loss_grad(w, &mut gs);
                m.set_parallelism(Parallelism::Rayon);
                assert_eq!(fs.to_bits(), f0.to_bits(), "{label}");
                assert!(gs.iter().zip(&g).all(|(a, b)| a.to_bits() == b.to_bits()));
                assert!(hs.iter().zip(&hu).all(|(a, b)| a.to_bits() == b.to_bits()));
            }
        }
    }
}

/// The chapter's network, written again sample by sample with explicit patches (no shared
/// code with the model): f(x) = sum_{r,l} a_{rl} x^(H)_{rl}.
fn reference_predict(s: &Shape, w: &[f64], xi: &[f64]) -> f64 {
    let (m, p, q, d) = (s.width, s.p, s.q, s.d);
    let cs = c_sigma(s.act);
    let hh = s.depth as f64;
    // x as channels x positions.
    let mut cur: Vec<Vec<f64>> = (0..d)
        .map(|j| (0..p).map(|l| xi[j * p + l]).collect())
        .collect();
    let mut off = 0;
    for h in 0..s.depth {
        let c = cur.len();
        let wh = &w[off..off + m * q * c];
        off += m * q * c;
        // phi(x): column l = (x[:, l-1]; x[:, l]; x[:, l+1]) for q = 3.
        let mut next = vec![vec![0.0; p]; m];
        for r in 0..m {
            for l in 0..p {
                let mut z = 0.0;
                for k in 0..q {
                    let src = l as isize + k as isize - (q / 2) as isize;
                    if src < 0 || src >= p as isize {
                        continue;
                    }
                    for j in 0..c {
                        z += wh[r * q * c + k * c + j] * cur[j][src as usize];
                    }
                }
                let sig = s.act.sigma(z);
                next[r][l] = if h == 0 || s.arch == Architecture::FullyConnected {
                    (cs / m as f64).sqrt() * sig
                } else {
                    cur[r][l] + s.c_res / (hh * (m as f64).sqrt()) * sig
                };
            }
        }
        cur = next;
    }
    let a = &w[off..off + m * p];
    let mut f = 0.0;
    for r in 0..m {
        for l in 0..p {
            f += a[r * p + l] * cur[r][l];
        }
    }
    f
}

#[test]
fn the_forward_pass_is_the_chapters_network_and_the_loss_is_a_sum() {
    for arch in ARCHS {
        for act in [Activation::Softplus, Activation::Tanh, Activation::Relu] {
            let (mut m, w) = net(arch, act, 37, 11);
            let u = m.predict(&w);
            let (x, y) = (m.matrix("X", &w, &w).unwrap().2.to_vec(), m.y.clone());
            let dp = m.shape.d * m.shape.p;
            let mut loss = 0.0;
            for i in 0..m.n {
                let r = reference_predict(&m.shape, &w, &x[i * dp..(i + 1) * dp]);
                assert!(
                    (r - u[i]).abs() <= 1e-12 * (1.0 + r.abs()),
                    "{}/{} sample {i}: {} vs {r}",
                    arch.name(),
                    act.name(),
                    u[i]
                );
                loss += 0.5 * (r - y[i]) * (r - y[i]);
            }
            let mut g = vec![0.0; m.dim()];
            let l = m.loss_grad(&w, &mut g);
            assert!((l - loss).abs() <= 1e-12 * loss, "{l} vs sum {loss}");
        }
    }
}

#[test]
fn c_sigma_by_gauss_hermite_matches_a_fine_trapezoid_rule() {
    let known = [
        (Activation::Softplus, None),
        (Activation::Sigmoid, None),
        (Activation::Tanh, None),
        (Activation::Relu, Some(2.0)),
    ];
    for (act, exact) in known {
        // Trapezoid on [-40, 40], h = 1e-3: spectrally accurate for this smooth decaying integrand.
        let h = 1e-3;
        let mut s = 0.0;
        for k in -40_000i64..=40_000 {
            let z = k as f64 * h;
            let v = act.sigma(z);
            s += v * v * (-0.5 * z * z).exp();
        }
        let e = s * h / (2.0 * std::f64::consts::PI).sqrt();
        let reference = exact.unwrap_or(1.0 / e);
        let c = c_sigma(act);
        let tol = if act == Activation::Relu { 0.0 } else { 1e-12 };
        assert!(
            (c - reference).abs() <= tol * reference,
            "{}: c_sigma {c} vs {reference}",
            act.name()
        );
    }
    // tanh: E[tanh^2] ~ 0.3943 (a known value to 4 digits).
    assert!((1.0 / c_sigma(Activation::Tanh) - 0.3943).abs() < 1e-4);
}

#[test]
fn the_last_layer_gram_is_the_chapters_formula_and_j_j_transpose() {
    for arch in ARCHS {
        for act in ACTS {
            let (mut m, w) = net(arch, act, 6, 5);
            let n = m.n;
            let g = m.gram_last(&w);
            let s = m.shape.clone();
            let label = format!("{}/{}", arch.name(), act.name());
            // J_H by central differences of the predictions in W^(H).
            let hl = s.depth - 1;
            let off = s.layers[hl].off;
            let len = s.width * s.q * s.layers[hl].cin;
            let mut jac = vec![0.0; n * len];
            for k in 0..len {
                let h = 1e-6;
                let mut wp = w.clone();
                wp[off + k] += h;
                let mut wm = w.clone();
                wm[off + k] -= h;
                let (up, um) = (m.predict(&wp), m.predict(&wm));
                for i in 0..n {
                    jac[i * len + k] = (up[i] - um[i]) / (2.0 * h);
                }
            }
            for i in 0..n {
                for j in 0..n {
                    let jj = dot(&jac[i * len..(i + 1) * len], &jac[j * len..(j + 1) * len]);
                    assert!(
                        (jj - g[i * n + j]).abs() <= 1e-7 * (1.0 + g[i * n + i].abs()),
                        "{label} ({i},{j}): G {} vs J J^T {jj}",
                        g[i * n + j]
                    );
                }
            }
            // p = 1: (c/m) x_i^(H-1).x_j^(H-1) sum_r a_r^2 sigma'(w_r.x_i) sigma'(w_r.x_j),
            // c = c_sigma (FC) or c_res^2 / H^2 (ResNet).
            if arch != Architecture::ConvResnet {
                let mf = s.width as f64;
                let c = if arch == Architecture::FullyConnected {
                    s.c_sigma
                } else {
                    s.c_res * s.c_res / (s.depth * s.depth) as f64
                };
                // x^(H-1) from a network one layer shallower with the same weights is not the
                // same ResNet (c_res / H changes): read it from the explicit formula instead.
                let xs = m.matrix("X", &w, &w).unwrap().2.to_vec();
                let mut prev: Vec<Vec<f64>> = (0..n)
                    .map(|i| xs[i * s.d..(i + 1) * s.d].to_vec())
                    .collect();
                for h in 0..hl {
                    let l = &s.layers[h];
                    let wh = &w[l.off..l.off + s.width * l.cin];
                    prev = prev
                        .iter()
                        .map(|x| {
                            (0..s.width)
                                .map(|r| {
                                    let z = dot(&wh[r * l.cin..(r + 1) * l.cin], x);
                                    let skip = if l.skip { x[r] } else { 0.0 };
                                    skip + l.alpha * s.act.sigma(z)
                                })
                                .collect()
                        })
                        .collect();
                }
                let wl = &w[off..off + len];
                let a = &w[s.a_off..s.a_off + s.width];
                for i in 0..n {
                    for j in 0..n {
                        let mut t = 0.0;
                        for r in 0..s.width {
                            let zi = dot(
                                &wl[r * s.layers[hl].cin..(r + 1) * s.layers[hl].cin],
                                &prev[i],
                            );
                            let zj = dot(
                                &wl[r * s.layers[hl].cin..(r + 1) * s.layers[hl].cin],
                                &prev[j],
                            );
                            t += a[r] * a[r] * s.act.d1(zi) * s.act.d1(zj);
                        }
                        let want = c / mf * dot(&prev[i], &prev[j]) * t;
                        assert!(
                            (want - g[i * n + j]).abs() <= 1e-12 * (1.0 + want.abs()),
                            "{label} ({i},{j}): G {} vs formula {want}",
                            g[i * n + j]
                        );
                    }
                }
            }
            let lm = lambda_min(&g, n);
            assert!(lm.is_finite() && lm > 0.0, "{label}: lambda_min {lm}");
        }
    }
}

fn session(spec: &Value) -> Session {
    Session::new(&spec.to_string(), HashMap::new()).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

fn base() -> Value {
    json!({
        "model": {"kind": "deepSmooth", "architecture": "resnet", "depth": 3, "width": 8,
                  "activation": "softplus", "gram": {"every": 2}},
        "data": {"kind": "sphere", "n": 6, "d": 3, "seed": 1},
        "init": {"kind": "gaussian", "seed": 2},
        "schedule": {"kind": "constant", "eta": 0.05},
        "steps": 20,
        "recordEvery": 2,
    })
}

#[test]
fn data_on_the_sphere_columns_and_the_gram_every_k_rows() {
    let (x, y) = sphere_data(10, 7, 3);
    for i in 0..10 {
        assert!((norm2(&x[i * 7..(i + 1) * 7]) - 1.0).abs() < 1e-14);
    }
    let (x2, y2) = sphere_data(10, 7, 3);
    assert_eq!((x.clone(), y.clone()), (x2, y2));
    assert_ne!(y, sphere_data(10, 7, 4).1);
    let mut s = session(&base());
    let st = s.advance(u64::MAX);
    assert!(st.finished);
    let cols = s.column_names().to_vec();
    for c in ["loss", "gradNorm", "maxLayerDist", "lambdaMinG"] {
        assert!(cols.iter().any(|x| x == c), "{c} in {cols:?}");
    }
    let lam = s.column("lambdaMinG", 0).unwrap().to_vec();
    for (k, v) in lam.iter().enumerate() {
        assert_eq!(v.is_nan(), k % 2 == 1, "row {k}: {v}");
    }
    let loss = s.column("loss", 0).unwrap();
    assert!(loss.last().unwrap() < &loss[0]);
    // Explicit data and init give the same run as the generated ones.
    let w0 = s.initial_params().to_vec();
    let (x, y) = sphere_data(6, 3, 1);
    let mut spec = base();
    spec["data"] =
        json!({"kind": "explicit", "x": {"rows": 6, "cols": 3}, "y": {"rows": 6, "cols": 1}});
    spec["init"] = json!({"kind": "explicit", "theta": {"rows": 1, "cols": w0.len()}});
    let bufs = HashMap::from([
        ("data.x".to_string(), x),
        ("data.y".to_string(), y),
        ("init.theta".to_string(), w0),
    ]);
    let mut t = Session::new(&spec.to_string(), bufs).unwrap();
    t.advance(u64::MAX);
    assert_eq!(t.column("loss", 0).unwrap(), s.column("loss", 0).unwrap());
}

#[test]
fn bad_specs_get_named_errors_before_any_work() {
    let cases: Vec<(Value, ErrorCode, &str)> = vec![
        (
            json!({"model": {"cRes": 0.5, "architecture": "fullyConnected"}}),
            ErrorCode::InvalidSpec,
            "model.cRes",
        ),
        (
            json!({"model": {"cRes": -1}}),
            ErrorCode::OutOfRange,
            "model.cRes",
        ),
        (
            json!({"model": {"patch": 3}}),
            ErrorCode::InvalidSpec,
            "model.patch",
        ),
        (
            json!({"model": {"architecture": "convResnet", "patch": 2}, "data": {"kind": "sphere", "n": 3, "channels": 2, "length": 4, "seed": 1}}),
            ErrorCode::OutOfRange,
            "model.patch",
        ),
        (
            json!({"model": {"depth": 0}}),
            ErrorCode::OutOfRange,
            "model.depth",
        ),
        (
            json!({"model": {"width": 2.5}}),
            ErrorCode::OutOfRange,
            "model.width",
        ),
        (
            json!({"model": {"activation": "gelu"}}),
            ErrorCode::InvalidSpec,
            "model.activation",
        ),
        (
            json!({"model": {"architecture": "mlp"}}),
            ErrorCode::InvalidSpec,
            "model.architecture",
        ),
        (
            json!({"model": {"gram": {"every": 0}}}),
            ErrorCode::OutOfRange,
            "model.gram.every",
        ),
        (
            json!({"data": {"kind": "sphere", "n": 3, "seed": 1}}),
            ErrorCode::InvalidSpec,
            "data.d",
        ),
        (
            json!({"data": {"kind": "sphere", "n": 3, "d": 2, "channels": 2, "seed": 1}}),
            ErrorCode::InvalidSpec,
            "data.channels",
        ),
        (
            json!({"model": {"architecture": "convResnet"}}),
            ErrorCode::InvalidSpec,
            "data.d",
        ),
        (
            json!({"data": {"kind": "sphere", "n": 0, "d": 2, "seed": 1}}),
            ErrorCode::OutOfRange,
            "data.n",
        ),
        (
            json!({"init": {"kind": "gaussian", "seed": -1}}),
            ErrorCode::OutOfRange,
            "init.seed",
        ),
        (
            json!({"init": {"kind": "gaussian", "seed": 1, "std": 0}}),
            ErrorCode::OutOfRange,
            "init.std",
        ),
        (
            json!({"model": {"width": 4_000_000_000u64, "depth": 1000}}),
            ErrorCode::TooLarge,
            "model",
        ),
    ];
    for (patch, code, field) in cases {
        let mut spec = base();
        for (k, v) in patch.as_object().unwrap() {
            if k == "model" {
                for (kk, vv) in v.as_object().unwrap() {
                    spec["model"][kk] = vv.clone();
                }
            } else {
                spec[k] = v.clone();
            }
        }
        match Session::new(&spec.to_string(), HashMap::new()) {
            Ok(_) => panic!("accepted: {spec}"),
            Err(e) => assert_eq!(
                (e.code, e.field.as_str()),
                (code, field),
                "{spec}: {}",
                e.message
            ),
        }
    }
    // Explicit data of the wrong shape, a leftover buffer.
    let mut spec = base();
    spec["data"] =
        json!({"kind": "explicit", "x": {"rows": 4, "cols": 3}, "y": {"rows": 3, "cols": 1}});
    let e = Session::new(&spec.to_string(), HashMap::new())
        .err()
        .unwrap();
    assert_eq!(
        (e.code, e.field.as_str()),
        (ErrorCode::ShapeMismatch, "data.y")
    );
    let e = Session::new(
        &base().to_string(),
        HashMap::from([("init.theta".to_string(), vec![0.0])]),
    )
    .err()
    .unwrap();
    assert_eq!(
        (e.code, e.field.as_str()),
        (ErrorCode::InvalidRequest, "init.theta")
    );
}
