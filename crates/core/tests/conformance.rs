//! The conformance suite: every registered model family (and the toy quadratic fixture, which
//! registers with one line below) goes through the same checks with its own example specs
//! (`Family::examples`), and every method runs on every family:
//! - the gradient against central differences of the loss;
//! - the Hessian-vector product against central differences of the gradient, and symmetric;
//! - the symmetry tangents: orthonormal, orthogonal to the gradient everywhere (the loss is
//!   constant along the orbit), null vectors of the Hessian at a critical point;
//! - columns: names unique, one role each, `step`, `eta`, `time` and a `loss` column;
//! - determinism (two sessions, bit for bit) and chunking invariance (one `advance` against many);
//! - named errors: unknown fields anywhere, an unknown kind, a leftover buffer;
//! - every method runs, stays finite on the examples and records the same rows chunked.
//!
//! A new family gets all of this by registering (`FAMILIES` in `model/mod.rs`).

use std::collections::HashMap;

use autobalance_core::linalg::{dot, norm2};
use autobalance_core::model::{Family, Role, FAMILIES};
use autobalance_core::{ErrorCode, Session};
use serde_json::{json, Value};

#[path = "common/quadratic.rs"]
mod quadratic;

/// The registry under test: the product's families, plus the fixture (its one registry line).
fn families() -> Vec<&'static dyn Family> {
    let mut f: Vec<&'static dyn Family> = FAMILIES.to_vec();
    f.push(&quadratic::QuadraticFamily);
    f
}

fn session(spec: &Value) -> Session {
    let fams = families();
    Session::with_families(&fams, &spec.to_string(), HashMap::new())
        .unwrap_or_else(|e| panic!("{spec}: {e}"))
}

fn error(spec: &Value, buffers: HashMap<String, Vec<f64>>) -> (ErrorCode, String) {
    let fams = families();
    match Session::with_families(&fams, &spec.to_string(), buffers) {
        Ok(_) => panic!("accepted: {spec}"),
        Err(e) => (e.code, e.field),
    }
}

/// Every example of every family: (family kind, example name, spec).
fn examples() -> Vec<(&'static str, &'static str, Value)> {
    families()
        .iter()
        .flat_map(|f| f.examples().into_iter().map(move |(n, s)| (f.kind(), n, s)))
        .collect()
}

/// Every method, with parameters that are stable on the examples.
fn methods() -> Vec<Value> {
    vec![
        json!({"kind": "gd"}),
        json!({"kind": "momentum", "beta": 0.5}),
        json!({"kind": "nesterov", "beta": 0.5}),
        json!({"kind": "adam", "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}),
        json!({"kind": "sgd", "batchSize": 4, "seed": 1}),
        json!({"kind": "euler"}),
        json!({"kind": "rk4"}),
        json!({"kind": "dopri5", "rtol": 1e-6, "atol": 1e-9}),
        json!({"kind": "implicitMidpoint", "tol": 1e-13, "maxIter": 200}),
        json!({"kind": "perturbedGd", "gThres": 1e-2, "tThres": 3, "radius": 1e-3, "seed": 7}),
    ]
}

/// A deterministic direction of unit norm.
fn direction(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    let mut v: Vec<f64> = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect();
    let nv = norm2(&v).sqrt();
    v.iter_mut().for_each(|x| *x /= nv);
    v
}

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    d.sqrt() / norm2(a).sqrt().max(norm2(b).sqrt()).max(1e-300)
}

/// The points checked: the initial point and the point after 40 GD steps.
fn points(spec: &Value) -> (Session, Vec<Vec<f64>>) {
    let mut s = session(spec);
    let w0 = s.params().to_vec();
    s.advance(u64::MAX);
    let w1 = s.params().to_vec();
    (s, vec![w0, w1])
}

#[test]
fn gradients_match_central_differences() {
    for (kind, name, spec) in examples() {
        let (mut s, pts) = points(&spec);
        let f0 = s.column("loss", 0).unwrap()[0];
        let m = s.model_mut();
        let n = m.dim();
        for (k, w) in pts.iter().enumerate() {
            let mut g = vec![0.0; n];
            m.loss_grad(w, &mut g);
            for d in 0..3 {
                let v = direction(n, 10 * k as u64 + d);
                let h = 1e-5 * (1.0 + norm2(w).sqrt());
                let mut scratch = vec![0.0; n];
                let wp: Vec<f64> = w.iter().zip(&v).map(|(a, b)| a + h * b).collect();
                let wm: Vec<f64> = w.iter().zip(&v).map(|(a, b)| a - h * b).collect();
                let fd =
                    (m.loss_grad(&wp, &mut scratch) - m.loss_grad(&wm, &mut scratch)) / (2.0 * h);
                let an = dot(&g, &v);
                // Truncation O(h^2) relative to the gradient, rounding O(eps |f| / h) absolute.
                let tol = 1e-6 * norm2(&g).sqrt() + 1e4 * f64::EPSILON * (1.0 + f0.abs()) / h;
                assert!(
                    (fd - an).abs() <= tol,
                    "{kind}/{name} point {k} dir {d}: grad.v {an} vs FD {fd} (tol {tol:e})"
                );
            }
        }
    }
}

#[test]
fn hessian_vector_products_match_central_differences_and_are_symmetric() {
    for (kind, name, spec) in examples() {
        let (mut s, pts) = points(&spec);
        let m = s.model_mut();
        let n = m.dim();
        for (k, w) in pts.iter().enumerate() {
            let u = direction(n, 100 + k as u64);
            let v = direction(n, 200 + k as u64);
            let (mut hu, mut hv) = (vec![0.0; n], vec![0.0; n]);
            m.hvp(w, &u, &mut hu);
            m.hvp(w, &v, &mut hv);
            m.end_queries();
            // Central differences of the gradient with a step far from the default's.
            let h = 1e-4 * (1.0 + norm2(w).sqrt());
            let (mut gp, mut gm) = (vec![0.0; n], vec![0.0; n]);
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
            assert!(err < 1e-5, "{kind}/{name} point {k}: Hu vs FD {err:e}");
            let (a, b) = (dot(&v, &hu), dot(&u, &hv));
            let scale = (norm2(&hu) * norm2(&hv)).sqrt().max(1e-300);
            let tol = if m.hvp_exact() { 1e-10 } else { 1e-6 };
            assert!(
                (a - b).abs() <= tol * scale,
                "{kind}/{name} point {k}: v.Hu {a} vs u.Hv {b}"
            );
        }
    }
}

#[test]
fn the_default_hvp_is_central_differences_and_says_so() {
    let spec = &quadratic::QuadraticFamily.examples()[0].1;
    let mut s = session(spec);
    let w = s.params().to_vec();
    let m = s.model_mut();
    assert!(!m.hvp_exact());
    let n = m.dim();
    let a = m
        .downcast_ref::<quadratic::Quadratic>()
        .unwrap()
        .hessian()
        .to_vec();
    for d in 0..n as u64 {
        let v = direction(n, d);
        let mut hv = vec![0.0; n];
        m.hvp(&w, &v, &mut hv);
        let exact: Vec<f64> = (0..n).map(|i| dot(&a[i * n..(i + 1) * n], &v)).collect();
        assert!(rel(&hv, &exact) < 1e-8, "{:e}", rel(&hv, &exact));
    }
    // The curvature report says which product it used.
    let r: Value =
        serde_json::from_str(&s.hessian(r#"{"what": "eigs", "k": 1}"#).unwrap()).unwrap();
    assert_eq!(r["hvp"], "centralDifference", "{r}");
    for (kind, _, spec) in examples() {
        if kind != "quadratic" {
            let r: Value =
                serde_json::from_str(&session(&spec).hessian(r#"{"what": "trace"}"#).unwrap())
                    .unwrap();
            assert_eq!(r["hvp"], "exact", "{kind}");
        }
    }
}

#[test]
fn symmetry_tangents_are_orthonormal_orthogonal_to_the_gradient_and_null_at_a_minimum() {
    let mut checked = 0;
    for (kind, name, spec) in examples() {
        let (mut s, pts) = points(&spec);
        let m = s.model_mut();
        let n = m.dim();
        for (k, w) in pts.iter().enumerate() {
            let Some(t) = m.symmetry_tangents(w) else {
                continue;
            };
            assert_eq!(m.symmetry_dim(w), Some(t.len()), "{kind}/{name}");
            let mut g = vec![0.0; n];
            m.loss_grad(w, &mut g);
            let gn = norm2(&g).sqrt();
            let stationary = gn < 1e-10;
            for (i, ti) in t.iter().enumerate() {
                for (j, tj) in t.iter().enumerate().take(i + 1) {
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!(
                        (dot(ti, tj) - want).abs() < 1e-10,
                        "{kind}/{name}: tangents not orthonormal"
                    );
                }
                assert!(
                    dot(&g, ti).abs() <= 1e-10 * gn.max(1.0),
                    "{kind}/{name} point {k}: g.t = {}",
                    dot(&g, ti)
                );
                if stationary {
                    let mut ht = vec![0.0; n];
                    m.hvp(w, ti, &mut ht);
                    assert!(
                        norm2(&ht).sqrt() < 1e-8,
                        "{kind}/{name}: |H t| = {}",
                        norm2(&ht).sqrt()
                    );
                    checked += 1;
                }
            }
            m.end_queries();
        }
    }
    assert!(
        checked > 0,
        "no example reached a critical point with tangents"
    );
}

#[test]
fn columns_have_roles_and_the_common_ones() {
    for (kind, name, spec) in examples() {
        let s = session(&spec);
        let cols = s.columns();
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(&names[..3], ["step", "eta", "time"], "{kind}/{name}");
        assert_eq!(
            (cols[0].role, cols[1].role, cols[2].role),
            (Role::Step, Role::StepSize, Role::Time)
        );
        assert!(
            cols.iter().any(|c| c.role == Role::Loss),
            "{kind}/{name}: no loss column"
        );
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            names.len(),
            "{kind}/{name}: duplicate column names"
        );
        assert_eq!(
            names,
            s.column_names()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        );
    }
}

fn all_columns(s: &Session) -> Vec<Vec<u64>> {
    s.column_names()
        .iter()
        .map(|c| {
            s.column(c, 0)
                .unwrap()
                .iter()
                .map(|x| x.to_bits())
                .collect()
        })
        .collect()
}

#[test]
fn every_method_runs_on_every_family_deterministically_and_chunk_invariantly() {
    for (kind, name, spec) in examples() {
        for method in methods() {
            let mut spec = spec.clone();
            spec["method"] = method.clone();
            let fams = families();
            let text = spec.to_string();
            let mut a = match Session::with_families(&fams, &text, HashMap::new()) {
                Ok(s) => s,
                Err(e) => {
                    // SGD needs a loss averaged over samples; nothing else may be refused.
                    assert_eq!(method["kind"], "sgd", "{kind}/{name} {method}: {e}");
                    assert_eq!(
                        (e.code, e.field.as_str()),
                        (ErrorCode::OutOfRange, "method.kind")
                    );
                    continue;
                }
            };
            let mut b = Session::with_families(&fams, &text, HashMap::new()).unwrap();
            let st = a.advance(u64::MAX);
            assert!(
                st.finished && st.diverged_at.is_none(),
                "{kind}/{name} {method}: {st:?}"
            );
            while !b.advance(7).finished {}
            assert_eq!(
                all_columns(&a),
                all_columns(&b),
                "{kind}/{name} {method}: chunked run differs"
            );
            assert_eq!(a.params(), b.params());
            let mut c = Session::with_families(&fams, &text, HashMap::new()).unwrap();
            c.advance(u64::MAX);
            assert_eq!(
                all_columns(&a),
                all_columns(&c),
                "{kind}/{name} {method}: not deterministic"
            );
            let loss = a.column("loss", 0).unwrap();
            assert!(loss.iter().all(|x| x.is_finite()), "{kind}/{name} {method}");
        }
    }
}

#[test]
fn errors_name_the_full_field_path() {
    for (kind, name, spec) in examples() {
        let mut bad = spec.clone();
        bad["model"]["bogus"] = json!(1);
        assert_eq!(
            error(&bad, HashMap::new()),
            (ErrorCode::InvalidSpec, "model.bogus".into()),
            "{kind}/{name}"
        );
        // Inside a variant tagged by `kind` too (serde's own path stops at the variant).
        let mut bad = spec.clone();
        bad["init"]["bogus"] = json!(1);
        assert_eq!(
            error(&bad, HashMap::new()),
            (ErrorCode::InvalidSpec, "init.bogus".into()),
            "{kind}/{name}"
        );
        let mut bad = spec.clone();
        bad["bogus"] = json!(1);
        assert_eq!(
            error(&bad, HashMap::new()),
            (ErrorCode::InvalidSpec, "bogus".into()),
            "{kind}/{name}"
        );
        let mut bad = spec.clone();
        bad["schedule"]["eta"] = json!(-1.0);
        assert_eq!(
            error(&bad, HashMap::new()),
            (ErrorCode::OutOfRange, "schedule.eta".into()),
            "{kind}/{name}"
        );
        let mut bad = spec.clone();
        bad["steps"] = json!(1.5);
        assert_eq!(
            error(&bad, HashMap::new()),
            (ErrorCode::OutOfRange, "steps".into()),
            "{kind}/{name}"
        );
        let bufs = HashMap::from([("nowhere.matrix".to_string(), vec![1.0])]);
        assert_eq!(
            error(&spec, bufs),
            (ErrorCode::InvalidRequest, "nowhere.matrix".into()),
            "{kind}/{name}"
        );
        let mut bad = spec.clone();
        bad["model"]["kind"] = json!("noSuchFamily");
        assert_eq!(
            error(&bad, HashMap::new()),
            (ErrorCode::InvalidSpec, "model.kind".into())
        );
    }
}

#[test]
fn parallelism_is_a_runtime_parameter_with_the_same_bits() {
    use autobalance_core::par::Parallelism;
    for (kind, name, spec) in examples() {
        let mut a = session(&spec);
        let mut b = session(&spec);
        a.set_parallelism(Parallelism::Sequential);
        b.set_parallelism(Parallelism::Rayon);
        a.advance(u64::MAX);
        b.advance(u64::MAX);
        assert_eq!(all_columns(&a), all_columns(&b), "{kind}/{name}");
        let q = r#"{"what": "eigs", "which": "both", "k": 1, "method": "lanczos"}"#;
        assert_eq!(
            a.hessian(q).unwrap(),
            b.hessian(q).unwrap(),
            "{kind}/{name}"
        );
    }
}
