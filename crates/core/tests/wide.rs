//! The twoLayerRelu family (thesis ch. 2): the GEMM kernels against a naive per-neuron oracle
//! (loss, gradient, exact Hessian-vector product, pattern, Gram matrix), gradients and HVPs
//! against finite differences, H_inf's closed form against Monte Carlo (the error falling like
//! S^-1/2), the finite-width H at a large width against H_inf, chunking and thread invariance,
//! the columns along a run, the theory query, the loss conventions, the memory budget and named
//! errors.
#![allow(clippy::needless_range_loop)]

use std::collections::HashMap;
use std::f64::consts::PI;

use autobalance_core::linalg::{dot, norm2};
use autobalance_core::model::wide::{gram, TwoLayerRelu};
use autobalance_core::model::Model;
use autobalance_core::rng::Normal;
use autobalance_core::{ErrorCode, Session};
use serde_json::{json, Value};

fn session(spec: &Value) -> Session {
    Session::new(&spec.to_string(), HashMap::new()).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

fn session_with(spec: &Value, bufs: HashMap<String, Vec<f64>>) -> Session {
    Session::new(&spec.to_string(), bufs).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

fn err(spec: &Value, bufs: HashMap<String, Vec<f64>>) -> (ErrorCode, String) {
    match Session::new(&spec.to_string(), bufs) {
        Ok(_) => panic!("accepted: {spec}"),
        Err(e) => (e.code, e.field),
    }
}

fn spec(n: usize, d: usize, m: usize, loss: &str) -> Value {
    json!({
        "model": {"kind": "twoLayerRelu", "width": m, "loss": loss},
        "data": {"kind": "sphere", "n": n, "d": d, "seed": 1},
        "init": {"kind": "gaussian", "seed": 2},
        "schedule": {"kind": "constant", "eta": 0.1},
        "steps": 0,
    })
}

fn model(s: &mut Session) -> &TwoLayerRelu {
    s.model().downcast_ref::<TwoLayerRelu>().unwrap()
}

/// The naive oracle: loss, gradient and Gauss-Newton product by loops over neurons and points.
struct Naive {
    n: usize,
    d: usize,
    m: usize,
    x: Vec<f64>,
    y: Vec<f64>,
    a: Vec<f64>,
    scale: f64,
}

impl Naive {
    fn of(s: &mut Session) -> Naive {
        let t = model(s);
        let scale = match t.loss_kind() {
            autobalance_core::model::wide::LossKind::Sum => 1.0,
            autobalance_core::model::wide::LossKind::Mean => 1.0 / t.n() as f64,
        };
        Naive {
            n: t.n(),
            d: t.d(),
            m: t.width(),
            x: t.x().to_vec(),
            y: t.y().to_vec(),
            a: t.a().to_vec(),
            scale,
        }
    }
    fn z(&self, w: &[f64], i: usize, r: usize) -> f64 {
        let d = self.d;
        dot(&w[r * d..(r + 1) * d], &self.x[i * d..(i + 1) * d])
    }
    fn u(&self, w: &[f64]) -> Vec<f64> {
        (0..self.n)
            .map(|i| {
                (0..self.m)
                    .map(|r| self.a[r] * self.z(w, i, r).max(0.0))
                    .sum::<f64>()
                    / (self.m as f64).sqrt()
            })
            .collect()
    }
    fn loss(&self, w: &[f64]) -> f64 {
        let u = self.u(w);
        self.scale
            * u.iter()
                .zip(&self.y)
                .map(|(u, y)| 0.5 * (u - y) * (u - y))
                .sum::<f64>()
    }
    fn grad(&self, w: &[f64]) -> Vec<f64> {
        let u = self.u(w);
        let (d, sm) = (self.d, (self.m as f64).sqrt());
        let mut g = vec![0.0; self.m * d];
        for r in 0..self.m {
            for i in 0..self.n {
                if self.z(w, i, r) > 0.0 {
                    let c = self.scale * (u[i] - self.y[i]) * self.a[r] / sm;
                    for k in 0..d {
                        g[r * d + k] += c * self.x[i * d + k];
                    }
                }
            }
        }
        g
    }
    fn gn(&self, w: &[f64], v: &[f64]) -> Vec<f64> {
        let (d, sm) = (self.d, (self.m as f64).sqrt());
        let jv: Vec<f64> = (0..self.n)
            .map(|i| {
                (0..self.m)
                    .filter(|&r| self.z(w, i, r) > 0.0)
                    .map(|r| self.a[r] * self.z(v, i, r))
                    .sum::<f64>()
                    / sm
            })
            .collect();
        let mut out = vec![0.0; self.m * d];
        for r in 0..self.m {
            for i in 0..self.n {
                if self.z(w, i, r) > 0.0 {
                    let c = self.scale * jv[i] * self.a[r] / sm;
                    for k in 0..d {
                        out[r * d + k] += c * self.x[i * d + k];
                    }
                }
            }
        }
        out
    }
    fn gram(&self, w: &[f64]) -> Vec<f64> {
        let n = self.n;
        let mut h = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                let c = (0..self.m)
                    .filter(|&r| self.z(w, i, r) > 0.0 && self.z(w, j, r) > 0.0)
                    .count();
                h[i * n + j] = dot(
                    &self.x[i * self.d..(i + 1) * self.d],
                    &self.x[j * self.d..(j + 1) * self.d],
                ) * c as f64
                    / self.m as f64;
            }
        }
        h
    }
}

fn wide(m: &mut dyn Model) -> &mut TwoLayerRelu {
    (m as &mut dyn std::any::Any)
        .downcast_mut::<TwoLayerRelu>()
        .unwrap()
}

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    d.sqrt() / norm2(a).sqrt().max(norm2(b).sqrt()).max(1e-300)
}

fn gaussian(n: usize, seed: u64) -> Vec<f64> {
    let mut v = vec![0.0; n];
    Normal::new(seed).fill(&mut v, 1.0);
    v
}

#[test]
fn kernels_match_the_naive_oracle_across_chunk_counts() {
    // Widths with 1, 2, 3 and 8 chunks (the last one short), both losses.
    for (m, loss) in [(40, "sum"), (130, "mean"), (150, "sum"), (700, "mean")] {
        let mut s = session(&spec(9, 7, m, loss));
        let nv = Naive::of(&mut s);
        let w = s.params().to_vec();
        let dim = w.len();
        let mm = s.model_mut();
        let mut g = vec![0.0; dim];
        let l = mm.loss_grad(&w, &mut g);
        assert!(
            (l - nv.loss(&w)).abs() <= 1e-12 * l.abs().max(1.0),
            "m {m}: loss"
        );
        assert!(
            rel(&g, &nv.grad(&w)) < 1e-12,
            "m {m}: grad {}",
            rel(&g, &nv.grad(&w))
        );
        let v = gaussian(dim, 5);
        let mut hv = vec![0.0; dim];
        mm.hvp(&w, &v, &mut hv);
        assert!(rel(&hv, &nv.gn(&w, &v)) < 1e-12, "m {m}: hvp");
        let mut g2 = vec![0.0; dim];
        mm.loss_grad(&w, &mut g2);
        let h = wide(mm).gram_matrix();
        assert!(rel(&h, &nv.gram(&w)) < 1e-12, "m {m}: gram");
    }
}

/// H_inf closed form against Monte Carlo over w ~ N(0, I): each entry's z-score
/// (error / its standard deviation |x_i^T x_j| sqrt(p (1 - p) / S), p = (pi - theta) / (2 pi))
/// has mean square ~1 at every S (so the error falls like S^-1/2), and a wrong closed form (pi
/// in place of 2 pi in p's denominator, or theta not clipped as the angle) is rejected.
#[test]
fn h_inf_closed_form_matches_monte_carlo_with_error_like_s_to_the_minus_half() {
    let (n, d) = (7, 4);
    let mut s = session(&spec(n, d, 8, "sum"));
    let x = model(&mut s).x().to_vec();
    let h = gram::h_inf(&x, n, d);
    // The diagonal is 1/2 for unit rows; symmetric.
    for i in 0..n {
        assert!((h[i * n + i] - 0.5).abs() < 1e-15);
        for j in 0..n {
            assert_eq!(h[i * n + j].to_bits(), h[j * n + i].to_bits());
        }
    }
    let mut rng = Normal::new(11);
    let mut w = vec![0.0; d];
    let mut rms_err = vec![];
    for &samples in &[1_000usize, 16_000, 256_000] {
        let mut counts = vec![0u64; n * n];
        for _ in 0..samples {
            rng.fill(&mut w, 1.0);
            let act: Vec<bool> = (0..n)
                .map(|i| dot(&w, &x[i * d..(i + 1) * d]) >= 0.0)
                .collect();
            for i in 0..n {
                for j in 0..n {
                    if act[i] && act[j] {
                        counts[i * n + j] += 1;
                    }
                }
            }
        }
        let (mut z2, mut e2, mut k) = (0.0, 0.0, 0.0);
        let mut z2_wrong = 0.0;
        for i in 0..n {
            for j in (i + 1)..n {
                let g = dot(&x[i * d..(i + 1) * d], &x[j * d..(j + 1) * d]);
                let p = counts[i * n + j] as f64 / samples as f64;
                let mc = g * p;
                let theta = g.clamp(-1.0, 1.0).acos();
                let p_true = (PI - theta) / (2.0 * PI);
                let sd = g.abs() * (p_true * (1.0 - p_true) / samples as f64).sqrt();
                z2 += ((mc - h[i * n + j]) / sd).powi(2);
                e2 += (mc - h[i * n + j]).powi(2);
                let wrong = g * (PI - theta) / PI;
                z2_wrong += ((mc - wrong) / sd).powi(2);
                k += 1.0;
            }
        }
        let mz = z2 / k;
        assert!(mz < 4.0, "S = {samples}: mean z^2 {mz}");
        assert!(
            z2_wrong / k > 25.0,
            "S = {samples}: the wrong form passes ({})",
            z2_wrong / k
        );
        rms_err.push((e2 / k).sqrt());
    }
    // 16x the samples: the error 4x smaller (within a factor 2.5 either way).
    for w in rms_err.windows(2) {
        let r = w[0] / w[1];
        assert!((1.6..10.0).contains(&r), "error ratio {r} ({rms_err:?})");
    }
}

/// The finite-width H(0) converges to H_inf like m^-1/2 (Lemma 2.1's concentration): the theory
/// query's ||H(0) - H_inf||_2 at m and 16 m.
#[test]
fn the_finite_width_gram_matrix_converges_to_h_inf() {
    let mut dist = vec![];
    for m in [500usize, 8000] {
        let mut s = session(&spec(10, 6, m, "sum"));
        let r: Value = serde_json::from_str(&s.hessian(r#"{"what": "theory"}"#).unwrap()).unwrap();
        dist.push(r["current"]["gramDistInf"].as_f64().unwrap());
        // lambda0 = lambda_min(H_inf), checked against the closed form's eigenvalues here.
        let x = model(&mut s).x().to_vec();
        let (lo, hi) = gram::eig_range(&gram::h_inf(&x, 10, 6), 10);
        assert!((r["lambda0"].as_f64().unwrap() - lo).abs() < 1e-14);
        assert!((r["lambdaMaxHinf"].as_f64().unwrap() - hi).abs() < 1e-14);
        assert!(lo > 0.0);
        // etaMax = 2 / lambda_max(H) (sum loss): the Hessian's top eigenvalue within a pattern.
        let eta_max = r["etaMax"].as_f64().unwrap();
        assert!(
            (eta_max - 2.0 / r["current"]["lambdaMaxH"].as_f64().unwrap()).abs() < 1e-12 * eta_max
        );
        assert!(r["widths"]["theorem22"].as_f64().unwrap() > 1e6 * m as f64);
    }
    let ratio = dist[0] / dist[1];
    assert!(
        (1.5..12.0).contains(&ratio),
        "||H(0) - H_inf|| at m = 500, 8000: {dist:?}"
    );
}

#[test]
fn gradients_and_hvps_match_finite_differences() {
    // Small steps at a generic point (no pattern within reach of the step: checked).
    for loss in ["sum", "mean"] {
        let mut s = session(&spec(5, 4, 70, loss));
        let nv = Naive::of(&mut s);
        let w = s.params().to_vec();
        let dim = w.len();
        let v = gaussian(dim, 7);
        let vn = norm2(&v).sqrt();
        let h = 1e-7;
        let minz = (0..nv.n)
            .flat_map(|i| (0..nv.m).map(move |r| (i, r)))
            .map(|(i, r)| nv.z(&w, i, r).abs() / nv.z(&v, i, r).abs().max(1e-300))
            .fold(f64::INFINITY, f64::min);
        assert!(minz > 10.0 * h, "a kink within the step");
        let mm = s.model_mut();
        let mut g = vec![0.0; dim];
        mm.loss_grad(&w, &mut g);
        let wp: Vec<f64> = w.iter().zip(&v).map(|(a, b)| a + h * b).collect();
        let wm: Vec<f64> = w.iter().zip(&v).map(|(a, b)| a - h * b).collect();
        let (mut gp, mut gm) = (vec![0.0; dim], vec![0.0; dim]);
        let fd = (mm.loss_grad(&wp, &mut gp) - mm.loss_grad(&wm, &mut gm)) / (2.0 * h);
        assert!(
            (fd - dot(&g, &v)).abs() < 1e-6 * norm2(&g).sqrt() * vn,
            "{loss}: grad"
        );
        let fdh: Vec<f64> = gp
            .iter()
            .zip(&gm)
            .map(|(a, b)| (a - b) / (2.0 * h))
            .collect();
        let mut hv = vec![0.0; dim];
        mm.hvp(&w, &v, &mut hv);
        assert!(rel(&hv, &fdh) < 1e-6, "{loss}: hvp {}", rel(&hv, &fdh));
    }
}

#[test]
fn columns_along_a_run_and_the_envelopes() {
    let mut sp = spec(8, 5, 200, "sum");
    sp["model"]["gram"] = json!({"every": 2});
    sp["model"]["envelopeEta"] = json!(0.2);
    sp["schedule"]["eta"] = json!(0.2);
    sp["steps"] = json!(6);
    let mut s = session(&sp);
    let names = s.column_names();
    for c in [
        "loss",
        "gradNorm",
        "patternChange",
        "maxDist",
        "lambdaMinH",
        "gramDistInf",
        "envelopeFlow",
        "envelopeGd",
    ] {
        assert!(names.iter().any(|n| n == c), "{c}");
    }
    let r: Value = serde_json::from_str(&s.hessian(r#"{"what": "theory"}"#).unwrap()).unwrap();
    let lambda0 = r["lambda0"].as_f64().unwrap();
    let lmin0 = r["current"]["lambdaMinH"].as_f64().unwrap();
    let dist0 = r["current"]["gramDistInf"].as_f64().unwrap();
    let nv = Naive::of(&mut s);
    let w0 = s.params().to_vec();
    s.advance(u64::MAX);
    let col = |s: &Session, c: &str| s.column(c, 0).unwrap().to_vec();
    let loss = col(&s, "loss");
    assert_eq!(loss.len(), 7);
    assert_eq!(col(&s, "patternChange")[0], 0.0);
    assert_eq!(col(&s, "maxDist")[0], 0.0);
    assert_eq!(col(&s, "lambdaMinH")[0], lmin0);
    assert_eq!(col(&s, "gramDistInf")[0], dist0);
    assert!(col(&s, "lambdaMinH")[1].is_nan() && col(&s, "lambdaMinH")[2].is_finite());
    let l0 = loss[0];
    for (k, (ef, eg)) in col(&s, "envelopeFlow")
        .iter()
        .zip(col(&s, "envelopeGd"))
        .enumerate()
    {
        let kf = k as f64;
        assert!((ef - l0 * (-lambda0 * 0.2 * kf).exp()).abs() < 1e-12 * l0);
        assert!((eg - l0 * (1.0 - 0.2 * lambda0 / 2.0).powf(kf)).abs() < 1e-12 * l0);
    }
    // The last row against the oracle: pattern changes vs init and the distance.
    let w = s.params().to_vec();
    let (n, m, d) = (nv.n, nv.m, nv.d);
    let changed = (0..n)
        .flat_map(|i| (0..m).map(move |r| (i, r)))
        .filter(|&(i, r)| (nv.z(&w, i, r) > 0.0) != (nv.z(&w0, i, r) > 0.0))
        .count();
    assert_eq!(
        *col(&s, "patternChange").last().unwrap(),
        changed as f64 / (n * m) as f64
    );
    let dist = (0..m)
        .map(|r| {
            (0..d)
                .map(|k| (w[r * d + k] - w0[r * d + k]).powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .fold(0.0f64, f64::max);
    assert!((col(&s, "maxDist").last().unwrap() - dist).abs() < 1e-14);
    // lambdaMinH on the last row (step 6) against the oracle's Gram matrix.
    let (lo, _) = gram::eig_range(&nv.gram(&w), n);
    assert!((col(&s, "lambdaMinH").last().unwrap() - lo).abs() < 1e-12);
    // The loss decreases at this step (eta below 2 / lambda_max(H)).
    assert!(r["etaMax"].as_f64().unwrap() > 0.2);
    assert!(loss.windows(2).all(|p| p[1] < p[0]));
}

#[test]
fn mean_loss_is_the_sum_over_n_and_needs_an_n_times_larger_step() {
    let n = 6;
    let mut a = spec(n, 4, 100, "sum");
    a["steps"] = json!(5);
    let mut b = spec(n, 4, 100, "mean");
    b["steps"] = json!(5);
    b["schedule"]["eta"] = json!(0.1 * n as f64);
    let (mut sa, mut sb) = (session(&a), session(&b));
    sa.advance(u64::MAX);
    sb.advance(u64::MAX);
    let (la, lb) = (sa.column("loss", 0).unwrap(), sb.column("loss", 0).unwrap());
    for (x, y) in la.iter().zip(lb) {
        assert!((x / n as f64 - y).abs() < 1e-12 * x, "{x} {y}");
    }
    assert!(rel(sa.params(), sb.params()) < 1e-13);
}

#[test]
fn explicit_buffers_reproduce_the_seeded_draws() {
    let sp = spec(5, 3, 20, "sum");
    let mut s = session(&sp);
    let t = model(&mut s);
    let (x, y, a) = (t.x().to_vec(), t.y().to_vec(), t.a().to_vec());
    let w0 = s.params().to_vec();
    // Unit rows; a in {-1, +1} with both signs; labels not all equal.
    for i in 0..5 {
        assert!((norm2(&x[i * 3..(i + 1) * 3]) - 1.0).abs() < 1e-14);
    }
    assert!(a.iter().all(|v| *v == 1.0 || *v == -1.0) && a.contains(&1.0) && a.contains(&-1.0));
    let mut e = sp.clone();
    e["data"] =
        json!({"kind": "explicit", "x": {"rows": 5, "cols": 3}, "y": {"rows": 5, "cols": 1}});
    e["init"] =
        json!({"kind": "explicit", "w": {"rows": 20, "cols": 3}, "a": {"rows": 20, "cols": 1}});
    e["steps"] = json!(4);
    let bufs = HashMap::from([
        ("data.x".to_string(), x.clone()),
        ("data.y".to_string(), y.clone()),
        ("init.w".to_string(), w0.clone()),
        ("init.a".to_string(), a.clone()),
    ]);
    let mut se = session_with(&e, bufs.clone());
    let mut sp2 = sp.clone();
    sp2["steps"] = json!(4);
    let mut s2 = session(&sp2);
    se.advance(u64::MAX);
    s2.advance(u64::MAX);
    assert_eq!(se.params(), s2.params());
    // Errors name the field.
    let mut bad = bufs.clone();
    bad.get_mut("init.a").unwrap()[3] = 0.5;
    assert_eq!(err(&e, bad), (ErrorCode::OutOfRange, "init.a".into()));
    let mut bad = bufs.clone();
    bad.remove("data.y");
    assert_eq!(err(&e, bad).1, "data.y");
    let mut e2 = e.clone();
    e2["data"]["y"] = json!({"rows": 4, "cols": 1});
    assert_eq!(
        err(&e2, bufs.clone()),
        (ErrorCode::ShapeMismatch, "data.y".into())
    );
    let mut e3 = e.clone();
    e3["init"]["w"] = json!({"rows": 20, "cols": 4});
    assert_eq!(
        err(&e3, bufs.clone()),
        (ErrorCode::ShapeMismatch, "init.w".into())
    );
}

#[test]
fn errors_and_the_memory_budget_name_the_field() {
    let base = spec(5, 3, 20, "sum");
    let set = |path: &[&str], v: Value| {
        let mut s = base.clone();
        let mut cur = &mut s;
        for p in &path[..path.len() - 1] {
            cur = &mut cur[*p];
        }
        cur[path[path.len() - 1]] = v;
        s
    };
    let none = HashMap::new;
    assert_eq!(
        err(&set(&["model", "width"], json!(0)), none()),
        (ErrorCode::OutOfRange, "model.width".into())
    );
    assert_eq!(
        err(&set(&["model", "loss"], json!("max")), none()).1,
        "model.loss"
    );
    assert_eq!(
        err(&set(&["model", "gram"], json!({"every": 0})), none()),
        (ErrorCode::OutOfRange, "model.gram.every".into())
    );
    assert_eq!(
        err(&set(&["model", "envelopeEta"], json!(-1)), none()),
        (ErrorCode::OutOfRange, "model.envelopeEta".into())
    );
    assert_eq!(
        err(&set(&["data", "n"], json!(1.5)), none()),
        (ErrorCode::OutOfRange, "data.n".into())
    );
    assert_eq!(
        err(&set(&["data", "kind"], json!("cube")), none()).1,
        "data.kind"
    );
    assert_eq!(
        err(&set(&["init", "std"], json!(0)), none()),
        (ErrorCode::OutOfRange, "init.std".into())
    );
    assert_eq!(
        err(&set(&["init", "seed"], json!(-1)), none()),
        (ErrorCode::OutOfRange, "init.seed".into())
    );
    // Too large before any work: n x m (and W) at m = 4e9; the n x n Gram at n = 3e5.
    assert_eq!(
        err(&set(&["model", "width"], json!(4e9)), none()),
        (ErrorCode::TooLarge, "model.width".into())
    );
    let mut g = set(&["data", "n"], json!(300_000));
    g["model"]["gram"] = json!({"every": 10});
    assert_eq!(err(&g, none()), (ErrorCode::TooLarge, "model.gram".into()));
}

#[test]
fn chunks_and_threads_give_the_same_bits() {
    use autobalance_core::par::Parallelism;
    let mut sp = spec(30, 8, 600, "sum");
    sp["steps"] = json!(5);
    sp["model"]["gram"] = json!({"every": 5});
    let mut a = session(&sp);
    let mut b = session(&sp);
    a.set_parallelism(Parallelism::Sequential);
    b.set_parallelism(Parallelism::Rayon);
    a.advance(u64::MAX);
    for _ in 0..5 {
        b.advance(1);
    }
    for c in a.column_names() {
        let (x, y) = (a.column(c, 0).unwrap(), b.column(c, 0).unwrap());
        assert!(
            x.iter()
                .zip(y.iter())
                .all(|(p, q)| p.to_bits() == q.to_bits()),
            "{c}"
        );
    }
    assert_eq!(a.params(), b.params());
}

/// Figure 2.1's scale: the theory query at n = d = 1000 and the time of a GD step (printed; run
/// by hand: `cargo test --release --features parallel --test wide -- --ignored --nocapture`).
#[test]
#[ignore]
fn figure21_scale_probe() {
    for m in [100usize, 1000, 10000] {
        let mut sp = spec(1000, 1000, m, "sum");
        sp["steps"] = json!(3);
        let t0 = std::time::Instant::now();
        let mut s = session(&sp);
        let t1 = t0.elapsed();
        let r: Value = serde_json::from_str(&s.hessian(r#"{"what": "theory"}"#).unwrap()).unwrap();
        let t2 = t0.elapsed();
        s.advance(u64::MAX);
        let t3 = t0.elapsed();
        println!(
            "m {m}: build {:.2}s theory {:.2}s 3 steps {:.2}s; lambda0 {} lambdaMaxHinf {} lambdaMinH {} lambdaMaxH {} dist {} etaMax {} loss0 {}",
            t1.as_secs_f64(), (t2 - t1).as_secs_f64(), (t3 - t2).as_secs_f64(),
            r["lambda0"], r["lambdaMaxHinf"], r["current"]["lambdaMinH"], r["current"]["lambdaMaxH"],
            r["current"]["gramDistInf"], r["etaMax"], r["current"]["loss"]
        );
    }
}

/// A family query builds no Lanczos basis: at dim = m d = 10^7 it answers with the default
/// `lanczosSteps` (it was refused as "a Lanczos basis of 60 vectors"), while a density query,
/// whose quadrature keeps that basis, is still refused before any work.
#[test]
fn family_queries_are_not_refused_for_a_lanczos_basis_they_never_build() {
    let mut s = session(&spec(3, 1000, 10_000, "sum"));
    let r: Value = serde_json::from_str(&s.hessian(r#"{"what": "theory"}"#).unwrap()).unwrap();
    assert!(r.to_string().contains("lambda0"), "{r}");
    let e = s.hessian(r#"{"what": "density"}"#).unwrap_err();
    assert_eq!(e.code, ErrorCode::TooLarge, "{e:?}");
    assert!(e.field.ends_with("lanczosSteps"), "{e:?}");
}
