//! The octopus family (thesis ch. 7): continuity of value, gradient and Hessian across every
//! region boundary, gradients and Hessian-vector products against finite differences in every
//! region type, the stationary points, mirror symmetry, GD passing the saddles in order with
//! escape columns that agree with the saddle column, and named domain errors.
#![allow(clippy::needless_range_loop)]

use std::collections::HashMap;

use autobalance_core::model::octopus::pieces::{Params, Phase};
use autobalance_core::model::octopus::{Arithmetic, Octopus};
use autobalance_core::model::Model;
use autobalance_core::rng::Normal;
use autobalance_core::{ErrorCode, Session};
use serde_json::{json, Value};

const E: f64 = std::f64::consts::E;

fn param_sets() -> Vec<Params> {
    vec![
        Params::new(5, E, 1.0, E),
        Params::new(4, 2.0, 1.0, 1.0),
        Params::new(3, 7.5, 0.3, 0.8),
        Params::new(1, 1.5, 2.0, 0.5),
    ]
}

fn model(p: Params) -> Octopus {
    Octopus::new(p, Arithmetic::Float)
}

/// A uniform draw in [lo, hi) from the test's own stream.
fn unif(rng: &mut Normal, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.uniform_open()
}

fn sign(rng: &mut Normal) -> f64 {
    if rng.uniform_open() < 0.5 {
        -1.0
    } else {
        1.0
    }
}

/// A generic point with active index `i` whose active coordinate is `yi` (sign random), leading
/// coordinates in [2.2 tau, 5.8 tau], trailing ones in [0.05 tau, 0.95 tau], random signs.
fn point(p: &Params, i: usize, yi: f64, rng: &mut Normal) -> Vec<f64> {
    let t = p.tau;
    (0..p.d)
        .map(|j| {
            let y = if j < i {
                unif(rng, 2.2 * t, 5.8 * t)
            } else if j == i {
                yi
            } else {
                unif(rng, 0.05 * t, 0.95 * t)
            };
            sign(rng) * y
        })
        .collect()
}

fn dense_hessian(m: &mut Octopus, x: &[f64]) -> Vec<Vec<f64>> {
    let n = x.len();
    (0..n)
        .map(|k| {
            let mut e = vec![0.0; n];
            e[k] = 1.0;
            let mut col = vec![0.0; n];
            m.hvp(x, &e, &mut col);
            col
        })
        .collect()
}

#[test]
fn value_gradient_and_hessian_are_continuous_across_every_boundary() {
    let mut rng = Normal::new(11);
    for p in param_sets() {
        let mut m = model(p);
        let n = p.d;
        let scale =
            (p.l + p.gamma) * p.tau * p.tau * (1.0 + p.nu / ((p.l + p.gamma) * p.tau * p.tau));
        for i in 0..n {
            for edge in [p.tau, 2.0 * p.tau] {
                for _ in 0..3 {
                    let x = point(&p, i, edge, &mut rng);
                    let s = x[i].signum();
                    // Both sides of the joint, a few ulps apart.
                    let eps = 64.0 * f64::EPSILON * edge;
                    let (mut a, mut b) = (x.clone(), x.clone());
                    a[i] = s * (edge - eps);
                    b[i] = s * (edge + eps);
                    let (ra, rb) = (p.region(&a), p.region(&b));
                    assert_ne!(ra, rb, "the two sides are in different regions");
                    let (mut ga, mut gb) = (vec![0.0; n], vec![0.0; n]);
                    let fa = m.loss_grad(&a, &mut ga);
                    let fb = m.loss_grad(&b, &mut gb);
                    let tol = 1e-12 * scale * n as f64;
                    assert!(
                        (fa - fb).abs() <= tol,
                        "{p:?} i={i} edge={edge}: f {fa} vs {fb}"
                    );
                    for j in 0..n {
                        assert!(
                            (ga[j] - gb[j]).abs() <= tol / p.tau,
                            "{p:?} i={i} edge={edge}: grad[{j}] {} vs {}",
                            ga[j],
                            gb[j]
                        );
                    }
                    let (ha, hb) = (dense_hessian(&mut m, &a), dense_hessian(&mut m, &b));
                    for j in 0..n {
                        for k in 0..n {
                            assert!(
                                (ha[k][j] - hb[k][j]).abs() <= 1e-9 * (p.l + p.gamma),
                                "{p:?} i={i} edge={edge}: H[{j},{k}] {} vs {}",
                                ha[k][j],
                                hb[k][j]
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Central differences of the value (gradient) and of the gradient (HVP), in every region type.
#[test]
fn gradient_and_hvp_match_finite_differences_in_every_region() {
    let mut rng = Normal::new(5);
    for p in param_sets() {
        let mut m = model(p);
        let n = p.d;
        let t = p.tau;
        let mut cases: Vec<(usize, f64)> = Vec::new();
        for i in 0..n {
            cases.push((i, 0.5 * t)); // Quadratic
            cases.push((i, 0.0)); // Quadratic, at the active coordinate's zero
            cases.push((i, 1.3 * t)); // Spline
            cases.push((i, 1.8 * t)); // Spline
        }
        cases.push((n, 0.0)); // Minimum (all leading)
        for (i, yi) in cases {
            for _ in 0..3 {
                let x = point(&p, i, yi, &mut rng);
                let r = p.region(&x);
                assert_eq!(r.i, i);
                let want = if i == n {
                    Phase::Minimum
                } else if yi <= t {
                    Phase::Quadratic
                } else {
                    Phase::Spline
                };
                assert_eq!(r.phase, want);
                let mut g = vec![0.0; n];
                m.loss_grad(&x, &mut g);
                let v: Vec<f64> = (0..n).map(|_| unif(&mut rng, -1.0, 1.0)).collect();
                // Small enough to stay in the region (0.05 tau from every boundary).
                let h = 1e-4 * t;
                let xp: Vec<f64> = x.iter().zip(&v).map(|(a, b)| a + h * b).collect();
                let xm: Vec<f64> = x.iter().zip(&v).map(|(a, b)| a - h * b).collect();
                assert_eq!(p.region(&xp).phase, want);
                assert_eq!(p.region(&xm).phase, want);
                let (mut gp, mut gm) = (vec![0.0; n], vec![0.0; n]);
                let fp = m.loss_grad(&xp, &mut gp);
                let fm = m.loss_grad(&xm, &mut gm);
                let fd = (fp - fm) / (2.0 * h);
                let an: f64 = g.iter().zip(&v).map(|(a, b)| a * b).sum();
                let gscale = (p.l + p.gamma) * t * n as f64;
                assert!(
                    (fd - an).abs() <= 1e-6 * gscale,
                    "{p:?} i={i} y={yi}: grad.v {an} vs FD {fd}"
                );
                let mut hv = vec![0.0; n];
                m.hvp(&x, &v, &mut hv);
                for j in 0..n {
                    let fdj = (gp[j] - gm[j]) / (2.0 * h);
                    assert!(
                        (fdj - hv[j]).abs() <= 1e-6 * (p.l + p.gamma) * n as f64,
                        "{p:?} i={i} y={yi}: (Hv)[{j}] {} vs FD {fdj}",
                        hv[j]
                    );
                }
            }
        }
    }
}

#[test]
fn the_hessian_is_symmetric_and_sparse() {
    let mut rng = Normal::new(9);
    let p = Params::new(5, E, 1.0, E);
    let mut m = model(p);
    for i in 0..5 {
        for yi in [0.4 * p.tau, 1.5 * p.tau] {
            let x = point(&p, i, yi, &mut rng);
            let h = dense_hessian(&mut m, &x);
            for j in 0..5 {
                for k in 0..5 {
                    assert_eq!(h[j][k], h[k][j], "symmetric");
                    let coupled = yi > p.tau && ((j, k) == (i, i + 1) || (k, j) == (i, i + 1));
                    if j != k && !coupled {
                        assert_eq!(h[j][k], 0.0, "H[{j},{k}] at i={i}");
                    }
                }
            }
        }
    }
}

#[test]
fn mirror_symmetry() {
    let mut rng = Normal::new(3);
    for p in param_sets() {
        let mut m = model(p);
        let n = p.d;
        for i in 0..=n {
            for yi in [0.3 * p.tau, 1.6 * p.tau] {
                let x = point(&p, i, yi, &mut rng);
                let s: Vec<f64> = (0..n).map(|_| sign(&mut rng)).collect();
                let sx: Vec<f64> = x.iter().zip(&s).map(|(a, b)| a * b).collect();
                let (mut g, mut sg) = (vec![0.0; n], vec![0.0; n]);
                let f = m.loss_grad(&x, &mut g);
                let sf = m.loss_grad(&sx, &mut sg);
                assert_eq!(f.to_bits(), sf.to_bits());
                for j in 0..n {
                    assert_eq!(sg[j], s[j] * g[j]);
                }
                let v: Vec<f64> = (0..n).map(|_| unif(&mut rng, -1.0, 1.0)).collect();
                let sv: Vec<f64> = v.iter().zip(&s).map(|(a, b)| a * b).collect();
                let (mut hv, mut shv) = (vec![0.0; n], vec![0.0; n]);
                m.hvp(&x, &v, &mut hv);
                m.hvp(&sx, &sv, &mut shv);
                for j in 0..n {
                    assert_eq!(shv[j], s[j] * hv[j], "H(Sx) S v = S H(x) v");
                }
            }
        }
    }
}

fn symmetric_eigenvalues(h: &[Vec<f64>]) -> Vec<f64> {
    let n = h.len();
    let m = nalgebra::DMatrix::from_fn(n, n, |i, j| h[i][j]);
    let mut e: Vec<f64> = m.symmetric_eigen().eigenvalues.iter().copied().collect();
    e.sort_by(|a, b| a.partial_cmp(b).unwrap());
    e
}

fn spec(model: Value, init: Value, eta: f64, steps: u64, every: u64) -> String {
    json!({
        "model": model, "init": init,
        "schedule": {"kind": "constant", "eta": eta},
        "steps": steps, "recordEvery": every,
    })
    .to_string()
}

#[test]
fn stationary_points_have_zero_gradient_and_the_stated_values_and_eigenvalues() {
    let mut rng = Normal::new(21);
    for p in param_sets() {
        let n = p.d;
        let text = spec(
            json!({"kind": "octopus", "d": n, "L": p.l, "gamma": p.gamma, "tau": p.tau}),
            json!({"kind": "point", "x": vec![0.0; n]}),
            0.01,
            1,
            1,
        );
        let mut s = Session::new(&text, HashMap::new()).unwrap();
        let q: Value =
            serde_json::from_str(&s.hessian(r#"{"what": "stationaryPoints"}"#).unwrap()).unwrap();
        assert_eq!(q["current"]["saddle"], json!(1));
        assert_eq!(q["current"]["inDomain"], json!(true));
        assert_eq!(q["nu"].as_f64().unwrap(), p.nu);
        let mut m = model(p);
        let mut all: Vec<&Value> = q["saddles"].as_array().unwrap().iter().collect();
        assert_eq!(all.len(), n);
        all.push(&q["minimum"]);
        for (k0, sp) in all.into_iter().enumerate() {
            let lead = sp["leading"].as_u64().unwrap() as usize;
            assert_eq!(lead, k0);
            let rep: Vec<f64> = sp["point"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert_eq!(rep.len(), n);
            let value = sp["value"].as_f64().unwrap();
            assert_eq!(value, -(k0 as f64) * p.nu);
            // The stated eigenvalues, expanded.
            let mut stated: Vec<f64> = sp["hessianEigenvalues"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|e| {
                    let v = e["value"].as_f64().unwrap();
                    std::iter::repeat_n(v, e["multiplicity"].as_u64().unwrap() as usize)
                })
                .collect();
            stated.sort_by(|a, b| a.partial_cmp(b).unwrap());
            assert_eq!(sp["mirrorCopies"].as_f64().unwrap(), 2f64.powi(lead as i32));
            // The representative and a few mirror copies.
            for c in 0..4 {
                let x: Vec<f64> = rep
                    .iter()
                    .map(|v| if c == 0 { *v } else { sign(&mut rng) * v })
                    .collect();
                let mut g = vec![0.0; n];
                let f = m.loss_grad(&x, &mut g);
                assert!(
                    g.iter().all(|v| *v == 0.0),
                    "{p:?} k={}: grad {g:?}",
                    k0 + 1
                );
                assert!(
                    (f - value).abs() <= 1e-12 * (1.0 + value.abs()),
                    "{f} vs {value}"
                );
                let e = symmetric_eigenvalues(&dense_hessian(&mut m, &x));
                for (a, b) in e.iter().zip(&stated) {
                    assert!(
                        (a - b).abs() <= 1e-12 * (p.l + p.gamma),
                        "{e:?} vs {stated:?}"
                    );
                }
            }
        }
    }
}

/// Plain float GD from a uniform start passes the saddles in order: the saddle column never
/// decreases, ends at d + 1, and escape k is the first row whose saddle index exceeds k.
#[test]
fn gd_passes_the_saddles_in_order_and_escapes_agree_with_the_saddle_column() {
    for (d, l, gamma, tau, seed) in [
        (3, 1.0, 1.0, 1.0, 1),
        (4, 2.0, 1.0, 1.0, 2),
        (5, 1.0, 1.0, 1.0, 3),
        (4, 3.0, 1.5, E, 4),
    ] {
        let eta = 1.0 / (4.0 * l);
        let text = spec(
            json!({"kind": "octopus", "d": d, "L": l, "gamma": gamma, "tau": tau}),
            json!({"kind": "uniform", "low": -1, "high": 1, "seed": seed}),
            eta,
            3000,
            1,
        );
        let mut s = Session::new(&text, HashMap::new()).unwrap();
        let st = s.advance(u64::MAX);
        assert!(st.finished && st.diverged_at.is_none(), "{st:?}");
        let saddle = s.column("saddle", 0).unwrap().to_vec();
        let step = s.column("step", 0).unwrap().to_vec();
        assert!(
            saddle.windows(2).all(|w| w[0] <= w[1]),
            "monotone: {saddle:?}"
        );
        assert_eq!(
            *saddle.last().unwrap(),
            (d + 1) as f64,
            "reaches the minimum"
        );
        let loss = s.column("loss", 0).unwrap();
        let p = Params::new(d, l, gamma, tau);
        assert!((loss.last().unwrap() + d as f64 * p.nu).abs() < 1e-9 * p.nu);
        let mut last_escape = -1.0;
        for k in 1..=d {
            let esc = s.column(&format!("escape{k}"), 0).unwrap().to_vec();
            let first = saddle.iter().position(|&v| v > k as f64).unwrap();
            let t = step[first];
            assert!(t > last_escape, "saddles in order");
            last_escape = t;
            for (r, e) in esc.iter().enumerate() {
                if r < first {
                    assert!(e.is_nan(), "escape{k} at row {r}: {e}");
                } else {
                    assert_eq!(*e, t, "escape{k} at row {r}");
                }
            }
        }
        // No coordinate underflowed in these short runs.
        assert!(s
            .column("underflowAt", 0)
            .unwrap()
            .iter()
            .all(|v| v.is_nan()));
        let lm = s.column("log10MinAbs", 0).unwrap();
        assert!(lm[0].is_finite() && lm.last().unwrap().is_nan());
    }
}

/// The trailing coordinates shrink by (1 - 2 eta L) per step: float GD brings one down to the
/// smallest subnormal 2^-1074, where the update eta g rounds to 0 (eta = 1/(4L): 2 eta L = 1/2)
/// and it sits forever; or to exactly 0 (2 eta L > 1/2). underflowAt says when, either way.
#[test]
fn float_gd_underflow_is_reported() {
    for (two_eta_l, stuck) in [(0.5, true), (0.75, false)] {
        let (l, d) = (8.0, 4);
        let text = spec(
            json!({"kind": "octopus", "d": d, "L": l, "gamma": 1.0, "tau": 1.0}),
            json!({"kind": "point", "x": [0.001, 0.5, 0.5, 0.5]}),
            two_eta_l / (2.0 * l),
            1500,
            1,
        );
        let mut s = Session::new(&text, HashMap::new()).unwrap();
        s.advance(u64::MAX);
        let u = s.column("underflowAt", 0).unwrap();
        let at = *u.last().unwrap();
        assert!(at.is_finite(), "underflow reported: x = {:?}", s.params());
        let t = at as usize;
        assert!(u[..t].iter().all(|v| v.is_nan()) && u[t..].iter().all(|v| *v == at));
        // Replay the run by hand (the session's GD step is w - eta g) and find the iteration.
        let p = Params::new(d, l, 1.0, 1.0);
        let eta = two_eta_l / (2.0 * l);
        let mut x = vec![0.001, 0.5, 0.5, 0.5];
        let mut g = vec![0.0; d];
        let mut first = None;
        for k in 1..=1500u64 {
            p.loss_grad(&x, &mut g);
            for (a, b) in x.iter_mut().zip(&g) {
                *a -= eta * b;
            }
            if first.is_none() && x.iter().any(|v| v.abs() <= f64::from_bits(1)) {
                first = Some(k);
            }
        }
        assert_eq!(first, Some(t as u64));
        let lm = s.column("log10MinAbs", 0).unwrap();
        assert!(lm[t - 1] > -323.4, "{}", lm[t - 1]);
        if stuck {
            assert!((lm[t] - 2f64.powi(-1074).log10()).abs() < 1e-9, "{}", lm[t]);
            assert_eq!(lm[t + 50], lm[t], "stuck at 2^-1074");
        } else {
            assert_eq!(lm[t], f64::NEG_INFINITY);
        }
    }
}

#[test]
fn stationary_points_query_describes_the_current_point() {
    let text = spec(
        json!({"kind": "octopus", "d": 3, "L": 2.0, "tau": 1.0}),
        json!({"kind": "point", "x": [-4.5, 1.4, 0.3]}),
        0.1,
        2,
        1,
    );
    let mut s = Session::new(&text, HashMap::new()).unwrap();
    let q: Value =
        serde_json::from_str(&s.hessian(r#"{"what": "stationaryPoints"}"#).unwrap()).unwrap();
    assert_eq!(q["current"]["saddle"], json!(2));
    assert_eq!(q["current"]["phase"], json!("spline"));
    assert_eq!(q["saddles"][1]["point"], json!([4.0, 0.0, 0.0]));
    assert_eq!(
        q["saddles"][2]["hessianEigenvalues"],
        json!([{"value": 4.0, "multiplicity": 2}, {"value": -2.0, "multiplicity": 1}])
    );
}

fn err(text: &str) -> (ErrorCode, String, String) {
    match Session::new(text, HashMap::new()) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => (e.code, e.field.clone(), e.message.clone()),
    }
}

#[test]
fn domain_and_spec_errors_are_named() {
    let m = |extra: Value| {
        let mut v = json!({"kind": "octopus", "d": 3, "L": 2.0, "tau": 1.0});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    let pt = |x: Value| json!({"kind": "point", "x": x});
    let uni = json!({"kind": "uniform", "low": -1, "high": 1, "seed": 0});
    let cases: Vec<(Value, Value, ErrorCode, &str)> = vec![
        (
            m(json!({"d": 0})),
            uni.clone(),
            ErrorCode::OutOfRange,
            "model.d",
        ),
        (
            m(json!({"d": 4097})),
            uni.clone(),
            ErrorCode::OutOfRange,
            "model.d",
        ),
        (
            m(json!({"d": 2.5})),
            uni.clone(),
            ErrorCode::OutOfRange,
            "model.d",
        ),
        (
            m(json!({"L": -1})),
            uni.clone(),
            ErrorCode::OutOfRange,
            "model.L",
        ),
        (
            m(json!({"L": 1e101})),
            uni.clone(),
            ErrorCode::OutOfRange,
            "model.L",
        ),
        (
            m(json!({"gamma": 0})),
            uni.clone(),
            ErrorCode::OutOfRange,
            "model.gamma",
        ),
        (
            m(json!({"tau": 1e-101})),
            uni.clone(),
            ErrorCode::OutOfRange,
            "model.tau",
        ),
        (
            m(json!({"arithmetic": "double"})),
            uni.clone(),
            ErrorCode::InvalidSpec,
            "model.arithmetic",
        ),
        (
            m(json!({"l": 1})),
            uni.clone(),
            ErrorCode::InvalidSpec,
            "model.l",
        ),
        (
            m(json!({})),
            pt(json!([1, 0])),
            ErrorCode::ShapeMismatch,
            "init.x",
        ),
        // Trailing coordinate > tau: x_3.
        (
            m(json!({})),
            pt(json!([0.5, 0.1, 1.5])),
            ErrorCode::OutOfRange,
            "init.x[2]",
        ),
        // Leading coordinate > 6 tau: x_1.
        (
            m(json!({})),
            pt(json!([6.5, 0.1, 0.1])),
            ErrorCode::OutOfRange,
            "init.x[0]",
        ),
        (
            m(json!({})),
            json!({"kind": "uniform", "low": -3, "high": 3, "seed": 0}),
            ErrorCode::OutOfRange,
            "init",
        ),
        (
            m(json!({})),
            json!({"kind": "uniform", "low": 1, "high": -1, "seed": 0}),
            ErrorCode::OutOfRange,
            "init.high",
        ),
        (
            m(json!({})),
            json!({"kind": "uniform", "low": -1, "high": 1, "seed": 0.5}),
            ErrorCode::OutOfRange,
            "init.seed",
        ),
        (
            m(json!({})),
            json!({"kind": "uniform", "low": -1, "high": 1}),
            ErrorCode::InvalidSpec,
            "init.seed",
        ),
        (
            m(json!({})),
            json!({"kind": "gaussian"}),
            ErrorCode::InvalidSpec,
            "init.kind",
        ),
    ];
    for (model, init, code, field) in cases {
        let text = spec(model.clone(), init.clone(), 0.1, 5, 1);
        let (c, f, msg) = err(&text);
        assert_eq!((c, f.as_str()), (code, field), "{model} {init}: {msg}");
    }
    let (_, _, msg) = err(&spec(m(json!({})), pt(json!([0.5, 0.1, 1.5])), 0.1, 5, 1));
    assert!(msg.contains("x_3") && msg.contains("domain D"), "{msg}");
}

#[test]
fn outside_the_domain_the_value_is_nan_and_the_run_stops_diverged() {
    let p = Params::new(2, 1.0, 1.0, 1.0);
    let mut m = model(p);
    let mut g = vec![0.0; 2];
    assert!(m.loss_grad(&[7.0, 0.0], &mut g).is_nan());
    assert!(g.iter().all(|v| v.is_nan()));
    // eta = 1.2 / L: the leading coordinate's distance to 4 tau grows by |1 - 2.4| per step.
    let text = spec(
        json!({"kind": "octopus", "d": 2, "L": 1.0, "gamma": 1.0, "tau": 1.0}),
        json!({"kind": "point", "x": [4.5, 0.1]}),
        1.2,
        100,
        1,
    );
    let mut s = Session::new(&text, HashMap::new()).unwrap();
    let st = s.advance(u64::MAX);
    assert!(st.diverged_at.is_some(), "{st:?}");
    let w = s.params().to_vec();
    assert!(p.in_domain(&w), "the last good state is kept: {w:?}");
    let reason = st.reason.clone().unwrap();
    assert!(
        reason.contains("left the domain D") && reason.contains("x_"),
        "{reason}"
    );
    // The escape columns of the kept state hold nothing recorded after it.
    let kept = st.step;
    for k in 1..=2 {
        let e = s.column(&format!("escape{k}"), 0).unwrap();
        assert!(e.iter().all(|v| v.is_nan() || *v <= kept as f64), "{e:?}");
    }
}

fn columns_of(s: &Session, names: &[String]) -> Vec<Vec<f64>> {
    names
        .iter()
        .map(|n| s.column(n, 0).unwrap().to_vec())
        .collect()
}

fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// logScale mode through a session: the same saddle and escape columns as float GD when nothing
/// underflows, iterates equal to rounding, chunking changes no bit.
#[test]
fn log_scale_sessions_agree_with_float_gd_before_underflow() {
    for (d, l, seed) in [(3, 1.0, 1), (5, 1.0, 3), (4, 2.0, 2)] {
        let mk = |arith: &str, every: u64| {
            spec(
                json!({"kind": "octopus", "d": d, "L": l, "gamma": 1.0, "tau": 1.0, "arithmetic": arith}),
                json!({"kind": "uniform", "low": -1, "high": 1, "seed": seed}),
                1.0 / (4.0 * l),
                2000,
                every,
            )
        };
        let mut f = Session::new(&mk("float", 1), HashMap::new()).unwrap();
        let mut g = Session::new(&mk("logScale", 1), HashMap::new()).unwrap();
        f.advance(u64::MAX);
        let st = g.advance(u64::MAX);
        assert!(st.finished && st.diverged_at.is_none(), "{st:?}");
        assert!(f
            .column("underflowAt", 0)
            .unwrap()
            .iter()
            .all(|v| v.is_nan()));
        let mut names: Vec<String> = vec!["step".into(), "saddle".into(), "underflowAt".into()];
        names.extend((1..=d).map(|k| format!("escape{k}")));
        let (a, b) = (columns_of(&f, &names), columns_of(&g, &names));
        for (n, (x, y)) in names.iter().zip(a.iter().zip(&b)) {
            assert!(same_bits(x, y), "{n}: float {x:?} vs logScale {y:?}");
        }
        let (la, lb) = (f.column("loss", 0).unwrap(), g.column("loss", 0).unwrap());
        for (x, y) in la.iter().zip(lb) {
            assert!((x - y).abs() <= 1e-9 * (1.0 + x.abs()), "loss {x} vs {y}");
        }
        // Chunked and recorded sparsely: the same escapes, the same bits at the common rows.
        let mut h = Session::new(&mk("logScale", 50), HashMap::new()).unwrap();
        while !h.advance(7).finished {}
        let hs = h.column("step", 0).unwrap().to_vec();
        for (k, n) in names.iter().enumerate().skip(1) {
            let col = h.column(n, 0).unwrap();
            for (r, t) in hs.iter().enumerate() {
                let full = b[k][*t as usize];
                assert_eq!(col[r].to_bits(), full.to_bits(), "{n} at step {t}");
            }
        }
        assert_eq!(h.params(), g.params());
    }
}

/// Far past float64's underflow: logScale still reaches the minimum, with increasing escapes;
/// float GD sits on a saddle and says when it underflowed.
#[test]
fn log_scale_escapes_where_float_gd_underflows() {
    let l = E;
    let mk = |arith: &str| {
        spec(
            json!({"kind": "octopus", "d": 5, "L": l, "arithmetic": arith}),
            json!({"kind": "uniform", "low": -1, "high": 1, "seed": 4}),
            1.0 / (4.0 * l),
            1_000_000,
            100_000,
        )
    };
    let mut f = Session::new(&mk("float"), HashMap::new()).unwrap();
    let mut g = Session::new(&mk("logScale"), HashMap::new()).unwrap();
    f.advance(u64::MAX);
    let st = g.advance(u64::MAX);
    assert!(st.finished && st.diverged_at.is_none(), "{st:?}");
    let last = |s: &Session, n: &str| *s.column(n, 0).unwrap().last().unwrap();
    assert_eq!(last(&g, "saddle"), 6.0, "logScale reaches the minimum");
    assert!(last(&f, "saddle") < 6.0, "float GD is stuck on a saddle");
    assert!(last(&f, "underflowAt").is_finite());
    assert!(
        last(&g, "underflowAt").is_finite(),
        "logScale reports float's underflow"
    );
    let esc: Vec<f64> = (1..=5).map(|k| last(&g, &format!("escape{k}"))).collect();
    assert!(esc.windows(2).all(|w| w[0] < w[1]), "{esc:?}");
    // The escapes float GD did make (before underflowing) are the same iterations.
    for k in 1..=5 {
        let a = last(&f, &format!("escape{k}"));
        if a.is_finite() {
            assert_eq!(a, esc[k - 1], "escape{k}");
        }
    }
    assert!(last(&g, "log10MinAbs").is_nan());
}

#[test]
fn log_scale_refuses_other_methods_and_weight_decay_and_stops_outside_d() {
    let m = json!({"kind": "octopus", "d": 3, "L": 2.0, "tau": 1.0, "arithmetic": "logScale"});
    let init = json!({"kind": "uniform", "low": -1, "high": 1, "seed": 0});
    for extra in [
        json!({"method": {"kind": "momentum", "beta": 0.5}}),
        json!({"method": {"kind": "euler"}}),
        json!({"weightDecay": 0.01}),
    ] {
        let mut v: Value = serde_json::from_str(&spec(m.clone(), init.clone(), 0.1, 5, 1)).unwrap();
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        let (c, f, msg) = err(&v.to_string());
        assert_eq!(
            (c, f.as_str()),
            (ErrorCode::OutOfRange, "model.arithmetic"),
            "{msg}"
        );
    }
    let mut v: Value = serde_json::from_str(&spec(m.clone(), init.clone(), 0.1, 5, 1)).unwrap();
    v["method"] = json!({"kind": "gd"});
    Session::new(&v.to_string(), HashMap::new()).unwrap();
    // Leaving D: diverged, the last point in D kept, the coordinate named.
    let text = spec(
        json!({"kind": "octopus", "d": 2, "L": 1.0, "gamma": 1.0, "tau": 1.0, "arithmetic": "logScale"}),
        json!({"kind": "point", "x": [4.5, 0.1]}),
        1.2,
        100,
        10,
    );
    let mut s = Session::new(&text, HashMap::new()).unwrap();
    let st = s.advance(u64::MAX);
    assert!(st.diverged_at.is_some(), "{st:?}");
    let p = Params::new(2, 1.0, 1.0, 1.0);
    assert!(p.in_domain(s.params()));
    assert!(st.reason.unwrap().contains("left the domain D"));
    let mut fl = Session::new(&text.replace("logScale", "float"), HashMap::new()).unwrap();
    let sf = fl.advance(u64::MAX);
    assert_eq!(sf.diverged_at, st.diverged_at);
    for (a, b) in fl.params().iter().zip(s.params()) {
        assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0), "{a} vs {b}");
    }
}
