//! Matrix factorization: gradients, the GD identities of Du, Hu & Lee (2018) §3, run mechanics.

use std::collections::HashMap;

use autobalance_core::model::mf::MatrixFactorization;
use autobalance_core::{ErrorCode, Session};

mod common;
use common::data;

/// Naive row-major product A (n x k) B^T (m x k) -> n x m.
fn abt(a: &[f64], b: &[f64], n: usize, m: usize, k: usize) -> Vec<f64> {
    let mut c = vec![0.0; n * m];
    for i in 0..n {
        for j in 0..m {
            c[i * m + j] = (0..k).map(|l| a[i * k + l] * b[j * k + l]).sum();
        }
    }
    c
}

/// Naive A^T B for A (n x p), B (n x q) -> p x q.
fn atb(a: &[f64], b: &[f64], n: usize, p: usize, q: usize) -> Vec<f64> {
    let mut c = vec![0.0; p * q];
    for i in 0..p {
        for j in 0..q {
            c[i * q + j] = (0..n).map(|l| a[l * p + i] * b[l * q + j]).sum();
        }
    }
    c
}

fn fro(a: &[f64]) -> f64 {
    a.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn sub(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

fn explicit_spec(
    d1: usize,
    d2: usize,
    r: usize,
    w: f64,
    eta: f64,
    steps: u64,
    every: u64,
) -> String {
    format!(
        r#"{{"model":{{"kind":"matrixFactorization","d1":{d1},"d2":{d2},"rank":{r},"balanceWeight":{w}}},
            "target":{{"kind":"explicit","matrix":{{"rows":{d1},"cols":{d2}}}}},
            "init":{{"kind":"explicit","u0":{{"rows":{d1},"cols":{r}}},"v0":{{"rows":{d2},"cols":{r}}}}},
            "schedule":{{"kind":"constant","eta":{eta}}},"steps":{steps},"recordEvery":{every}}}"#
    )
}

fn buffers(m: &[f64], u: &[f64], v: &[f64]) -> HashMap<String, Vec<f64>> {
    HashMap::from([
        ("target.matrix".to_string(), m.to_vec()),
        ("init.u0".to_string(), u.to_vec()),
        ("init.v0".to_string(), v.to_vec()),
    ])
}

#[test]
fn gradient_matches_central_differences() {
    // Sizes chosen so the fused kernel runs several chunks and several row blocks per chunk.
    for &(d1, d2, r, w) in &[
        (37usize, 23usize, 3usize, 0.0),
        (37, 23, 3, 0.125),
        (9, 300, 4, 0.5),
        (1, 1, 1, 0.0),
        (40, 13, 9, 0.0),
        (21, 30, 12, 0.125),
    ] {
        let m = data(d1 * d2, 1, 1.0);
        let mut model = MatrixFactorization::new(d1, d2, r, w, m);
        let x = data((d1 + d2) * r, 2, 0.7);
        let mut g = vec![0.0; x.len()];
        model.eval(&x, &mut g);
        let mut scratch = vec![0.0; x.len()];
        let h = 1e-6;
        let mut worst: f64 = 0.0;
        for i in 0..x.len() {
            let mut xp = x.clone();
            xp[i] += h;
            let fp = model.eval(&xp, &mut scratch).total();
            xp[i] -= 2.0 * h;
            let fm = model.eval(&xp, &mut scratch).total();
            let fd = (fp - fm) / (2.0 * h);
            worst = worst.max((fd - g[i]).abs() / (1.0 + g[i].abs()));
        }
        // Central differences: truncation O(h^2) ~ 1e-12, round-off ~ 1e-16 |f| / h ~ 1e-7 for the
        // largest case (|f| ~ 1e3). A wrong term in the gradient gives errors of order 1.
        assert!(
            worst < 1e-6,
            "({d1},{d2},{r},{w}): worst relative FD error {worst}"
        );
    }
}

#[test]
fn loss_matches_naive_formula() {
    let (d1, d2, r, w) = (40, 31, 4, 0.125);
    let m = data(d1 * d2, 3, 1.0);
    let x = data((d1 + d2) * r, 4, 0.5);
    let (u, v) = x.split_at(d1 * r);
    let res = sub(&abt(u, v, d1, d2, r), &m);
    let d = sub(&atb(u, u, d1, r, r), &atb(v, v, d2, r, r));
    let want = 0.5 * fro(&res).powi(2) + w * fro(&d).powi(2);
    let mut model = MatrixFactorization::new(d1, d2, r, w, m);
    let mut g = vec![0.0; x.len()];
    let got = model.eval(&x, &mut g).total();
    assert!((got - want).abs() < 1e-12 * want, "{got} vs {want}");
    // Gradient against the closed form dU = R V + 4w U D, dV = R^T U - 4w V D.
    let mut gu = vec![0.0; d1 * r];
    let rv = atb(&transpose(&res, d1, d2), v, d2, d1, r);
    let ud = mul(u, &d, d1, r, r);
    for i in 0..d1 * r {
        gu[i] = rv[i] + 4.0 * w * ud[i];
    }
    let err = fro(&sub(&g[..d1 * r], &gu)) / fro(&gu);
    assert!(err < 1e-13, "dU relative error {err}");
}

fn transpose(a: &[f64], n: usize, m: usize) -> Vec<f64> {
    let mut t = vec![0.0; n * m];
    for i in 0..n {
        for j in 0..m {
            t[j * n + i] = a[i * m + j];
        }
    }
    t
}

fn mul(a: &[f64], b: &[f64], n: usize, k: usize, m: usize) -> Vec<f64> {
    let mut c = vec![0.0; n * m];
    for i in 0..n {
        for j in 0..m {
            c[i * m + j] = (0..k).map(|l| a[i * k + l] * b[l * m + j]).sum();
        }
    }
    c
}

/// U'^T U' - V'^T V' = U^T U - V^T V + eta^2 (V^T R^T R V - U^T R R^T U)  (one GD step on eq. 1).
#[test]
fn one_step_identity_of_the_invariant() {
    let (d1, d2, r) = (30, 20, 3);
    let m = data(d1 * d2, 5, 1.0);
    let u = data(d1 * r, 6, 0.8);
    let v = data(d2 * r, 7, 0.8);
    for &eta in &[1e-3, 0.05, 0.2] {
        let mut s = Session::new(
            &explicit_spec(d1, d2, r, 0.0, eta, 1, 1),
            buffers(&m, &u, &v),
        )
        .unwrap();
        s.advance(1);
        let (_, _, u1) = s.matrix("U").unwrap();
        let (_, _, v1) = s.matrix("V").unwrap();
        let lhs = sub(&atb(u1, u1, d1, r, r), &atb(v1, v1, d2, r, r));
        let res = sub(&abt(&u, &v, d1, d2, r), &m); // R, d1 x d2
        let rv = mul(&res, &v, d1, d2, r); // R V: d1 x r
        let rtu = atb(&res, &u, d1, d2, r); // R^T U: d2 x r
        let d0 = sub(&atb(&u, &u, d1, r, r), &atb(&v, &v, d2, r, r));
        let corr = sub(&atb(&rv, &rv, d1, r, r), &atb(&rtu, &rtu, d2, r, r));
        let rhs: Vec<f64> = d0
            .iter()
            .zip(&corr)
            .map(|(a, c)| a + eta * eta * c)
            .collect();
        let err = fro(&sub(&lhs, &rhs)) / fro(&rhs);
        assert!(err < 1e-10, "eta {eta}: relative error {err}");
        // And the correction is not negligible, so the identity is not trivially true.
        assert!(eta * eta * fro(&corr) > 1e-8 * fro(&d0));
    }
}

/// With a tiny constant step the invariant moves by O(eta^2) per step: halving eta divides the
/// one-step drift by 4, and the drift over a fixed time horizon T = n eta by 2.
#[test]
fn invariant_drift_scales_as_eta_squared() {
    let (d1, d2, r) = (25, 18, 2);
    let m = data(d1 * d2, 8, 1.0);
    let u = data(d1 * r, 9, 0.5);
    let v = data(d2 * r, 10, 0.5);
    let drift = |eta: f64, steps: u64| {
        let mut s = Session::new(
            &explicit_spec(d1, d2, r, 0.0, eta, steps, steps),
            buffers(&m, &u, &v),
        )
        .unwrap();
        s.advance(steps);
        *s.column("imbalanceDrift", 0).unwrap().last().unwrap()
    };
    let (a, b) = (drift(1e-3, 1), drift(5e-4, 1));
    assert!((a / b - 4.0).abs() < 0.02, "one-step drift ratio {}", a / b);
    let (a, b) = (drift(2e-3, 100), drift(1e-3, 200));
    assert!(
        (a / b - 2.0).abs() < 0.1,
        "fixed-horizon drift ratio {}",
        a / b
    );
}

/// Lemma 3.1 on a seeded case: with a small balanced init and the Theorem 3.1 schedule the
/// imbalance stays below eps and the loss never increases.
#[test]
fn theorem_3_1_schedule_keeps_balance_and_decreases_loss() {
    let eps = 0.01;
    let spec = format!(
        r#"{{"model":{{"kind":"matrixFactorization","d1":40,"d2":30,"rank":3}},
            "target":{{"kind":"random","singularValues":[3,2,1],"seed":11}},
            "init":{{"kind":"gaussian","stdU":0.001,"stdV":0.001,"seed":12}},
            "schedule":{{"kind":"theorem31","eps":{eps}}},"steps":3000,"recordEvery":1}}"#
    );
    let mut s = Session::new(&spec, HashMap::new()).unwrap();
    let st = s.advance(u64::MAX);
    assert!(st.finished && st.diverged_at.is_none());
    let imb = s.column("imbalance", 0).unwrap();
    let loss = s.column("loss", 0).unwrap();
    assert_eq!(loss.len(), 3001);
    assert!(
        imb.iter().all(|&x| x <= eps),
        "max imbalance {}",
        imb.iter().cloned().fold(0.0, f64::max)
    );
    assert!(loss.windows(2).all(|w| w[1] <= w[0]), "loss increased");
    assert!(loss[3000] < loss[0], "loss did not decrease at all");
    // Lemma 3.1: f_0 <= 2 ||M*||_F^2 (here ||M*||_F^2 = 14).
    assert!(loss[0] <= 28.0);
}

#[test]
fn random_target_has_the_requested_singular_values() {
    let spec = r#"{"model":{"kind":"matrixFactorization","d1":20,"d2":15,"rank":3},
        "target":{"kind":"random","singularValues":[5,2,0.5],"seed":3},
        "init":{"kind":"gaussian","stdU":0.1,"stdV":0.1,"seed":1},
        "schedule":{"kind":"constant","eta":0.01},"steps":0}"#;
    let s = Session::new(spec, HashMap::new()).unwrap();
    let (rows, cols, m) = s.matrix("target").unwrap();
    let mat = nalgebra::DMatrix::from_row_slice(rows, cols, m);
    let sv = mat.singular_values();
    let mut sv: Vec<f64> = sv.iter().cloned().collect();
    sv.sort_by(|a, b| b.partial_cmp(a).unwrap());
    for (got, want) in sv.iter().zip([5.0, 2.0, 0.5]) {
        assert!((got - want).abs() < 1e-12, "{sv:?}");
    }
    assert!(sv[3] < 1e-12);
}

#[test]
fn chunked_advance_equals_one_advance_and_records_every_k() {
    let spec = r#"{"model":{"kind":"matrixFactorization","d1":30,"d2":20,"rank":2},
        "target":{"kind":"random","singularValues":[2,1],"seed":3},
        "init":{"kind":"gaussian","stdU":0.1,"stdV":0.1,"seed":4},
        "schedule":{"kind":"inversePower","c":0.2,"delta":0.25},"steps":103,"recordEvery":10}"#;
    let mut a = Session::new(spec, HashMap::new()).unwrap();
    a.advance(u64::MAX);
    let mut b = Session::new(spec, HashMap::new()).unwrap();
    let mut calls = 0;
    while !b.advance(7).finished {
        calls += 1;
    }
    assert!(calls >= 14);
    assert_eq!(a.params(), b.params());
    let steps = a.column("step", 0).unwrap().to_vec();
    let want: Vec<f64> = (0..=10).map(|k| (10 * k) as f64).chain([103.0]).collect();
    assert_eq!(steps, want);
    for name in a.column_names() {
        assert_eq!(
            a.column(name, 0).unwrap(),
            b.column(name, 0).unwrap(),
            "{name}"
        );
    }
    let eta = a.column("eta", 0).unwrap();
    assert!((eta[1] - 0.2 * 11f64.powf(-0.75)).abs() < 1e-15);
    let (nu, nv, ratio) = (
        a.column("normU2", 0).unwrap(),
        a.column("normV2", 0).unwrap(),
        a.column("normRatio", 0).unwrap(),
    );
    for i in 0..nu.len() {
        assert_eq!(ratio[i], nu[i] / nv[i]);
    }
}

#[test]
fn divergence_stops_and_keeps_the_last_finite_state() {
    let spec = r#"{"model":{"kind":"matrixFactorization","d1":10,"d2":8,"rank":2},
        "target":{"kind":"random","singularValues":[10,5],"seed":3},
        "init":{"kind":"gaussian","stdU":1,"stdV":1,"seed":4},
        "schedule":{"kind":"constant","eta":5},"steps":1000,"recordEvery":1}"#;
    let mut s = Session::new(spec, HashMap::new()).unwrap();
    let st = s.advance(u64::MAX);
    let at = st.diverged_at.expect("should diverge");
    assert!(st.finished);
    assert_eq!(st.step, at - 1);
    assert!(st.loss.unwrap().is_finite());
    assert!(s.params().iter().all(|x| x.is_finite()));
    let steps = s.column("step", 0).unwrap();
    assert_eq!(*steps.last().unwrap(), (at - 1) as f64);
    assert!(s.column("loss", 0).unwrap().iter().all(|x| x.is_finite()));
    // A finished run does not move.
    let again = s.advance(10);
    assert_eq!(again, st);
}

fn err_of(spec: &str, bufs: HashMap<String, Vec<f64>>) -> (ErrorCode, String) {
    match Session::new(spec, bufs) {
        Ok(_) => panic!("expected an error for {spec}"),
        Err(e) => (e.code, e.field),
    }
}

#[test]
fn bad_input_is_refused_with_the_field_named() {
    let base = |model: &str, target: &str, init: &str, sched: &str, steps: &str| {
        format!(
            r#"{{"model":{model},"target":{target},"init":{init},"schedule":{sched},"steps":{steps}}}"#
        )
    };
    let model = r#"{"kind":"matrixFactorization","d1":4,"d2":3,"rank":2}"#;
    let target = r#"{"kind":"random","singularValues":[1,1],"seed":0}"#;
    let init = r#"{"kind":"gaussian","stdU":0.1,"stdV":0.1,"seed":0}"#;
    let sched = r#"{"kind":"constant","eta":0.1}"#;
    let none = HashMap::new;
    assert!(Session::new(&base(model, target, init, sched, "5"), none()).is_ok());
    type Case = (String, HashMap<String, Vec<f64>>, ErrorCode, &'static str);
    let cases: Vec<Case> = vec![
        (
            base(
                r#"{"kind":"matrixFactorization","d1":4,"d2":3,"rank":4}"#,
                r#"{"kind":"random","singularValues":[1,1,1,1],"seed":0}"#,
                init,
                sched,
                "5",
            ),
            none(),
            ErrorCode::OutOfRange,
            "model.rank",
        ),
        (
            base(
                r#"{"kind":"matrixFactorization","d1":0,"d2":3,"rank":1}"#,
                target,
                init,
                sched,
                "5",
            ),
            none(),
            ErrorCode::OutOfRange,
            "model.d1",
        ),
        (
            base(model, target, init, r#"{"kind":"constant","eta":0}"#, "5"),
            none(),
            ErrorCode::OutOfRange,
            "schedule.eta",
        ),
        (
            base(model, target, init, r#"{"kind":"constant","eta":-1}"#, "5"),
            none(),
            ErrorCode::OutOfRange,
            "schedule.eta",
        ),
        (
            base(model, target, init, sched, "-3"),
            none(),
            ErrorCode::OutOfRange,
            "steps",
        ),
        (
            base(model, target, init, sched, "2.5"),
            none(),
            ErrorCode::OutOfRange,
            "steps",
        ),
        (
            base(model, target, init, sched, r#""ten""#),
            none(),
            ErrorCode::InvalidSpec,
            "steps",
        ),
        (
            base(model, target, init, r#"{"kind":"warp","eta":1}"#, "5"),
            none(),
            ErrorCode::InvalidSpec,
            "schedule.kind",
        ),
        (
            base(
                model,
                r#"{"kind":"random","singularValues":[1],"seed":0}"#,
                init,
                sched,
                "5",
            ),
            none(),
            ErrorCode::ShapeMismatch,
            "target.singularValues",
        ),
        (
            base(
                r#"{"kind":"matrixFactorization","d1":3000000,"d2":3000000,"rank":1}"#,
                target,
                init,
                sched,
                "5",
            ),
            none(),
            ErrorCode::TooLarge,
            "model",
        ),
        (
            base(model, target, init, sched, "1e15"),
            none(),
            ErrorCode::TooLarge,
            "steps",
        ),
        (
            base(
                model,
                r#"{"kind":"explicit","matrix":{"rows":4,"cols":3}}"#,
                init,
                sched,
                "5",
            ),
            none(),
            ErrorCode::InvalidRequest,
            "target.matrix",
        ),
        (
            base(
                model,
                r#"{"kind":"explicit","matrix":{"rows":3,"cols":4}}"#,
                init,
                sched,
                "5",
            ),
            HashMap::from([("target.matrix".into(), vec![0.0; 12])]),
            ErrorCode::ShapeMismatch,
            "target.matrix",
        ),
        (
            base(
                model,
                r#"{"kind":"explicit","matrix":{"rows":4,"cols":3}}"#,
                init,
                sched,
                "5",
            ),
            HashMap::from([("target.matrix".into(), vec![0.0; 11])]),
            ErrorCode::ShapeMismatch,
            "target.matrix",
        ),
        (
            base(
                model,
                r#"{"kind":"explicit","matrix":{"rows":4,"cols":3}}"#,
                init,
                sched,
                "5",
            ),
            HashMap::from([("target.matrix".into(), {
                let mut x = vec![0.0; 12];
                x[7] = f64::NAN;
                x
            })]),
            ErrorCode::NonFinite,
            "target.matrix",
        ),
        (
            base(
                model,
                target,
                r#"{"kind":"explicit","u0":{"rows":4,"cols":2},"v0":{"rows":2,"cols":3}}"#,
                sched,
                "5",
            ),
            HashMap::from([
                ("init.u0".into(), vec![0.0; 8]),
                ("init.v0".into(), vec![0.0; 6]),
            ]),
            ErrorCode::ShapeMismatch,
            "init.v0",
        ),
        (
            base(model, target, init, sched, "5"),
            HashMap::from([("extra".into(), vec![1.0])]),
            ErrorCode::InvalidRequest,
            "extra",
        ),
        (
            base(
                model,
                target,
                init,
                r#"{"kind":"inversePower","c":1,"delta":0}"#,
                "5",
            ),
            none(),
            ErrorCode::OutOfRange,
            "schedule.delta",
        ),
        (
            base(
                model,
                target,
                r#"{"kind":"gaussian","stdU":-1,"stdV":0.1,"seed":0}"#,
                sched,
                "5",
            ),
            none(),
            ErrorCode::OutOfRange,
            "init.stdU",
        ),
        (
            "{not json".to_string(),
            none(),
            ErrorCode::InvalidSpec,
            "spec",
        ),
        (
            base(
                r#"{"kind":"matrixFactorization","d1":4,"d2":3,"rank":2,"bogus":1}"#,
                target,
                init,
                sched,
                "5",
            ),
            none(),
            ErrorCode::InvalidSpec,
            // The family parses its own `model` object: the unknown field is named in full.
            "model.bogus",
        ),
    ];
    for (spec, bufs, code, field) in cases {
        let (c, f) = err_of(&spec, bufs);
        assert_eq!((c, f.as_str()), (code, field), "spec {spec}");
    }
}

/// Curvature along a trajectory: lambda_min / lambda_max columns sampled every `every` steps
/// agree with a dense solve at the same point; rows without a sample hold NaN.
#[test]
fn curvature_columns_follow_the_dense_spectrum() {
    let spec = |steps: u64| {
        format!(
            r#"{{"model":{{"kind":"matrixFactorization","d1":12,"d2":9,"rank":2}},
            "target":{{"kind":"random","singularValues":[3,1],"seed":4}},
            "init":{{"kind":"gaussian","stdU":0.01,"stdV":0.01,"seed":5}},
            "schedule":{{"kind":"constant","eta":0.05}},"steps":{steps},"recordEvery":5,
            "curvature":{{"every":10,"tol":1e-10}}}}"#
        )
    };
    let mut s = Session::new(&spec(400), HashMap::new()).unwrap();
    s.advance(u64::MAX);
    let steps = s.column("step", 0).unwrap().to_vec();
    let lmin = s.column("lambdaMin", 0).unwrap().to_vec();
    let lmax = s.column("lambdaMax", 0).unwrap().to_vec();
    for (i, &t) in steps.iter().enumerate() {
        assert_eq!(
            (t as u64).is_multiple_of(10),
            lmin[i].is_finite(),
            "row {i}"
        );
    }
    // Near U = V = 0 the Hessian's extreme eigenvalues are -+sigma_1(M*) = -+3.
    assert!((lmin[0] + 3.0).abs() < 1e-2 && (lmax[0] - 3.0).abs() < 1e-2);
    // At every sampled step, the same numbers as a dense solve at that point.
    for stop in [50u64, 400] {
        let mut d = Session::new(&spec(stop), HashMap::new()).unwrap();
        d.advance(u64::MAX);
        let rep: serde_json::Value = serde_json::from_str(
            &d.hessian(r#"{"what":"classify","method":"dense"}"#)
                .unwrap(),
        )
        .unwrap();
        let i = steps.iter().position(|&t| t == stop as f64).unwrap();
        let scale = rep["lambdaMax"].as_f64().unwrap().abs();
        assert!(
            (rep["lambdaMin"].as_f64().unwrap() - lmin[i]).abs() < 1e-8 * scale,
            "step {stop}"
        );
        assert!(
            (rep["lambdaMax"].as_f64().unwrap() - lmax[i]).abs() < 1e-8 * scale,
            "step {stop}"
        );
    }
    // every must be a multiple of recordEvery.
    let bad = spec(10).replace(r#""every":10"#, r#""every":7"#);
    let e = Session::new(&bad, HashMap::new()).err().unwrap();
    assert_eq!(
        (e.code, e.field.as_str()),
        (ErrorCode::OutOfRange, "curvature.every")
    );
}

/// Dormand-Prince hands its last stage (the loss and gradient at the accepted point) to the
/// session instead of a new evaluation: the recorded loss and gradient norm must equal a fresh
/// evaluation at the same point, bit for bit.
#[test]
fn dopri5_first_same_as_last_gives_the_fresh_values() {
    use serde_json::json;
    let spec = |init: serde_json::Value, steps: u64| {
        json!({
            "model": {"kind": "matrixFactorization", "d1": 9, "d2": 7, "rank": 3, "balanceWeight": 0.1},
            "target": {"kind": "random", "singularValues": [3.0, 2.0, 1.0], "seed": 1},
            "init": init,
            "schedule": {"kind": "constant", "eta": 0.05},
            "method": {"kind": "dopri5", "rtol": 1e-7},
            "weightDecay": 0.01,
            "steps": steps
        })
        .to_string()
    };
    let mut s = Session::new(
        &spec(
            json!({"kind": "gaussian", "stdU": 0.3, "stdV": 0.3, "seed": 2}),
            40,
        ),
        Default::default(),
    )
    .unwrap();
    s.advance(u64::MAX);
    let (_, _, u) = s.matrix("U").unwrap();
    let (_, _, v) = s.matrix("V").unwrap();
    let buffers = std::collections::HashMap::from([
        ("init.u0".to_string(), u.to_vec()),
        ("init.v0".to_string(), v.to_vec()),
    ]);
    let explicit =
        json!({"kind": "explicit", "u0": {"rows": 9, "cols": 3}, "v0": {"rows": 7, "cols": 3}});
    let mut fresh = Session::new(&spec(explicit, 0), buffers).unwrap();
    fresh.advance(u64::MAX);
    for name in ["loss", "gradNorm", "imbalance"] {
        let a = *s.column(name, 0).unwrap().last().unwrap();
        let b = fresh.column(name, 0).unwrap()[0];
        assert_eq!(a.to_bits(), b.to_bits(), "{name}: {a} vs {b}");
    }
}
