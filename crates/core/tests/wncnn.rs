//! The weight-normalized CNN family (thesis ch. 5): the closed-form population loss and gradient
//! against Monte Carlo over Gaussian patches (error falling like N^-1/2), gradients and exact
//! Hessian-vector products against finite differences (population and empirical), the
//! cancellation-free loss against the thesis's expanded form, the spurious point (zero gradient,
//! its loss, the stability boundary r = (k + pi - 1) / pi as a sign change of a Hessian
//! eigenvalue and of the loss along the angle), ||v||^2 growing by eta^2 ||dl/dv||^2 per step,
//! the a* construction, the absorbing regions (a run classified early ends where it was classified
//! when run long, and stays in its region), the stationaryPoints query, and named errors.
#![allow(clippy::needless_range_loop)]

use std::collections::HashMap;
use std::f64::consts::PI;

use autobalance_core::linalg::{dot, norm2};
use autobalance_core::model::wncnn::{angle_unit, pi_minus_g, State, Teacher, WeightNormCnn};
use autobalance_core::model::Model;
use autobalance_core::rng::Normal;
use autobalance_core::{ErrorCode, Session};
use serde_json::{json, Value};

fn session(spec: &Value) -> Session {
    Session::new(&spec.to_string(), HashMap::new()).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

fn err(spec: &Value) -> (ErrorCode, String) {
    match Session::new(&spec.to_string(), HashMap::new()) {
        Ok(_) => panic!("accepted: {spec}"),
        Err(e) => (e.code, e.field),
    }
}

fn base(k: usize, p: usize, r: f64, seed: u64) -> Value {
    json!({
        "model": {"kind": "weightNormCnn", "k": k, "p": p},
        "teacher": {"wStar": {"kind": "random", "seed": seed},
                    "aStar": {"kind": "ratio", "r": r, "seed": seed + 1}},
        "init": {"kind": "theorem54", "seed": seed + 2},
        "schedule": {"kind": "constant", "eta": 0.1},
        "steps": 0,
    })
}

fn model(s: &Session) -> &WeightNormCnn {
    s.model().downcast_ref::<WeightNormCnn>().unwrap()
}

fn gaussian(n: usize, rng: &mut Normal) -> Vec<f64> {
    let mut x = vec![0.0; n];
    rng.fill(&mut x, 1.0);
    x
}

/// A model with a random teacher (||w*|| = s) and no sample.
fn pop_model(k: usize, p: usize, s: f64, seed: u64) -> WeightNormCnn {
    let mut rng = Normal::new(seed);
    let mut u = gaussian(p, &mut rng);
    let nu = norm2(&u).sqrt();
    u.iter_mut().for_each(|x| *x /= nu);
    let a = gaussian(k, &mut rng);
    WeightNormCnn::new(
        k,
        p,
        Teacher::new(u, s, a),
        autobalance_core::model::wncnn::Loss::Population,
    )
}

/// Monte Carlo of 1/2 (f - f*)^2 and its gradient (v, a) over `n` draws of Gaussian patches.
fn monte_carlo(m: &WeightNormCnn, x: &[f64], n: usize, rng: &mut Normal) -> (f64, Vec<f64>) {
    let (k, p) = (m.k(), m.p());
    let t = m.teacher();
    let (v, a) = x.split_at(p);
    let nv = norm2(v).sqrt();
    let w: Vec<f64> = v.iter().map(|x| x / nv).collect();
    let mut loss = 0.0;
    let mut g = vec![0.0; p + k];
    let mut z = vec![0.0; k * p];
    let mut gw = vec![0.0; p];
    for _ in 0..n {
        rng.fill(&mut z, 1.0);
        let (mut f, mut fs) = (0.0, 0.0);
        let mut h = vec![0.0; k];
        for i in 0..k {
            let zi = &z[i * p..(i + 1) * p];
            h[i] = dot(&w, zi);
            f += a[i] * h[i].max(0.0);
            fs += t.b[i] * dot(&t.u, zi).max(0.0);
        }
        let e = f - fs;
        loss += 0.5 * e * e;
        for i in 0..k {
            g[p + i] += e * h[i].max(0.0);
            if h[i] > 0.0 {
                for j in 0..p {
                    gw[j] += e * a[i] * z[i * p + j];
                }
            }
        }
    }
    let inv = 1.0 / n as f64;
    let wg = dot(&w, &gw);
    for j in 0..p {
        g[j] = (gw[j] - wg * w[j]) * inv / nv;
    }
    for i in 0..k {
        g[p + i] *= inv;
    }
    (loss * inv, g)
}

#[test]
fn population_loss_and_gradient_match_monte_carlo_with_error_falling_like_n_to_the_minus_half() {
    let mut m = pop_model(4, 3, 1.3, 5);
    let mut rng = Normal::new(9);
    let x: Vec<f64> = vec![0.4, -0.8, 0.5, 0.3, -0.2, 0.9, 0.1];
    let mut g = vec![0.0; 7];
    let l = m.loss_grad(&x, &mut g);
    // RMS errors over repetitions at N and 64 N: the ratio should be about sqrt(64) = 8 (a bias
    // in the closed form would flatten it towards 1).
    let reps = 12;
    let mut errs = vec![];
    for &n in &[2_000usize, 128_000] {
        let (mut el, mut eg) = (0.0, 0.0);
        for _ in 0..reps {
            let (lm, gm) = monte_carlo(&m, &x, n, &mut rng);
            el += (lm - l).powi(2);
            let d: f64 = gm.iter().zip(&g).map(|(a, b)| (a - b).powi(2)).sum();
            eg += d;
        }
        errs.push(((el / reps as f64).sqrt(), (eg / reps as f64).sqrt()));
    }
    let (l0, g0) = errs[0];
    let (l1, g1) = errs[1];
    let gn = norm2(&g).sqrt();
    assert!(l1 < 0.02 * l, "loss MC rms {l1} vs {l}");
    assert!(g1 < 0.02 * gn, "grad MC rms {g1} vs |g| {gn}");
    for (name, r) in [("loss", l0 / l1), ("grad", g0 / g1)] {
        assert!(
            (4.0..16.0).contains(&r),
            "{name}: error ratio {r} (expected ~8)"
        );
    }
}

#[test]
fn gradients_and_hessian_vector_products_match_finite_differences() {
    let mut rng = Normal::new(3);
    for (k, p, s) in [(5, 4, 1.0), (3, 6, 2.5), (1, 2, 0.7)] {
        let mut m = pop_model(k, p, s, 10 + k as u64);
        let n = k + p;
        for trial in 0..6 {
            let mut x = gaussian(n, &mut rng);
            if trial == 5 {
                // Near the global minimum (phi tiny).
                let t = m.teacher().clone();
                for j in 0..p {
                    x[j] = 2.0 * t.u[j] + 1e-4 * x[j];
                }
                for i in 0..k {
                    x[p + i] = t.b[i] + 1e-3 * x[p + i];
                }
            }
            let mut g = vec![0.0; n];
            m.loss_grad(&x, &mut g);
            let d = gaussian(n, &mut rng);
            let h = 1e-5;
            let xp: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a + h * b).collect();
            let xm: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a - h * b).collect();
            let (mut gp, mut gm) = (vec![0.0; n], vec![0.0; n]);
            let fd = (m.loss_grad(&xp, &mut gp) - m.loss_grad(&xm, &mut gm)) / (2.0 * h);
            let an = dot(&g, &d);
            assert!(
                (fd - an).abs() < 1e-7 * (1.0 + an.abs()),
                "k {k} p {p} trial {trial}: {an} vs {fd}"
            );
            let mut hv = vec![0.0; n];
            m.hvp(&x, &d, &mut hv);
            let hfd: Vec<f64> = gp
                .iter()
                .zip(&gm)
                .map(|(a, b)| (a - b) / (2.0 * h))
                .collect();
            let e: f64 = hv.iter().zip(&hfd).map(|(a, b)| (a - b).powi(2)).sum();
            assert!(
                e.sqrt() < 1e-6 * (1.0 + norm2(&hv).sqrt()),
                "k {k} p {p} trial {trial}: Hv {hv:?} vs FD {hfd:?}"
            );
        }
    }
}

#[test]
fn empirical_gradient_and_hvp_match_finite_differences_and_the_sample_mean_tends_to_the_population()
{
    let spec = |n: usize| {
        json!({
            "model": {"kind": "weightNormCnn", "k": 5, "p": 3, "loss": "empirical"},
            "teacher": {"wStarNorm": 1.2, "wStar": {"kind": "random", "seed": 1},
                        "aStar": {"kind": "ratio", "r": 2, "seed": 2}},
            "init": {"kind": "theorem54", "seed": 3},
            "data": {"samples": n, "seed": 4},
            "schedule": {"kind": "constant", "eta": 0.1},
            "steps": 0,
        })
    };
    let mut rng = Normal::new(8);
    // Finite differences on a small sample (the gradient jumps by O(1/N) at a kink; with 50
    // samples and h = 1e-6 no kink is crossed).
    let mut s = session(&spec(50));
    let x0 = s.params().to_vec();
    let n = x0.len();
    let m = s.model_mut();
    for _ in 0..4 {
        let x: Vec<f64> = x0.iter().map(|v| v + 0.3 * rng.sample()).collect();
        let mut g = vec![0.0; n];
        m.loss_grad(&x, &mut g);
        let d = gaussian(n, &mut rng);
        let h = 1e-6;
        let xp: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a + h * b).collect();
        let xm: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a - h * b).collect();
        let (mut gp, mut gm) = (vec![0.0; n], vec![0.0; n]);
        let fd = (m.loss_grad(&xp, &mut gp) - m.loss_grad(&xm, &mut gm)) / (2.0 * h);
        let an = dot(&g, &d);
        assert!((fd - an).abs() < 1e-7 * (1.0 + an.abs()), "{an} vs {fd}");
        let mut hv = vec![0.0; n];
        m.hvp(&x, &d, &mut hv);
        let hfd: Vec<f64> = gp
            .iter()
            .zip(&gm)
            .map(|(a, b)| (a - b) / (2.0 * h))
            .collect();
        let e: f64 = hv.iter().zip(&hfd).map(|(a, b)| (a - b).powi(2)).sum();
        assert!(
            e.sqrt() < 1e-6 * (1.0 + norm2(&hv).sqrt()),
            "Hv {hv:?} vs {hfd:?}"
        );
    }
    // The mean over 20000 samples is within a few percent of the population loss.
    let mut s = session(&spec(20000));
    let m = s.model_mut();
    for _ in 0..3 {
        let x: Vec<f64> = x0.iter().map(|v| v + 0.3 * rng.sample()).collect();
        let mut g = vec![0.0; n];
        let l = m.loss_grad(&x, &mut g);
        let pl = concrete(&mut *m).population(&x, None);
        assert!(
            (l - pl).abs() < 0.05 * pl.max(0.05),
            "empirical {l} vs population {pl}"
        );
    }
}

/// Mutable access to the concrete model (tests only).
fn concrete(m: &mut dyn Model) -> &mut WeightNormCnn {
    let any: &mut dyn std::any::Any = m;
    any.downcast_mut::<WeightNormCnn>().unwrap()
}

#[test]
fn the_cancellation_free_form_agrees_with_the_expanded_form_away_from_the_optimum_and_beats_it_near_it(
) {
    let mut m = pop_model(6, 4, 1.0, 21);
    let mut rng = Normal::new(2);
    for _ in 0..20 {
        let x = gaussian(10, &mut rng);
        let a = m.population(&x, None);
        let b = m.population_naive(&x);
        assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0), "{a} vs {b}");
    }
    // Near the optimum: phi = 1e-6, a = b + 1e-7: the loss is ~1e-14; the expanded form has
    // absolute errors ~1e-16 |a*|^2 and loses most digits; the cancellation-free form keeps them.
    let t = m.teacher().clone();
    let p = 4;
    let mut perp = gaussian(p, &mut rng);
    let c = dot(&perp, &t.u);
    for j in 0..p {
        perp[j] -= c * t.u[j];
    }
    let np = norm2(&perp).sqrt();
    let eps = 1e-6;
    let mut x: Vec<f64> = (0..p)
        .map(|j| libm::cos(eps) * t.u[j] + libm::sin(eps) * perp[j] / np)
        .collect();
    let da = 1e-7;
    x.extend(t.b.iter().map(|b| b + da));
    let st_phi = angle_unit(&x[..p], &t.u);
    assert!((st_phi - eps).abs() < 1e-15, "phi {st_phi}");
    // Reference: the cancellation-free formula's terms with known phi and a - b.
    let k = 6.0;
    let q = t.a.iter().sum::<f64>() * da / t.s + t.a_sq * t.s;
    let exact = ((PI - 1.0) * k * da * da + (k * da).powi(2) + 2.0 * t.s * pi_minus_g(eps) * q)
        / (4.0 * PI);
    let free = m.population(&x, None);
    let naive = m.population_naive(&x);
    assert!(
        (free - exact).abs() < 1e-9 * exact,
        "free {free} vs {exact}"
    );
    assert!(
        (naive - exact).abs() > 100.0 * (free - exact).abs(),
        "naive {naive} free {free} exact {exact}"
    );
}

#[test]
fn the_spurious_point_is_stationary_with_its_loss_and_its_stability_changes_at_r_critical() {
    for (k, p) in [(25usize, 6usize), (10, 3), (49, 4)] {
        let rc = (k as f64 + PI - 1.0) / PI;
        for (r, local_min) in [
            (0.0, true),
            (rc * 0.97, true),
            (rc * 1.03, false),
            (k as f64, false),
        ] {
            let mut spec = base(k, p, r, 7);
            spec["teacher"]["wStarNorm"] = json!(1.7);
            let mut s = session(&spec);
            let w = s.params().to_vec();
            let rep = s
                .hessian(r#"{"what": "stationaryPoints"}"#)
                .unwrap_or_else(|e| panic!("{e}"));
            let rep: Value = serde_json::from_str(&rep).unwrap();
            assert_eq!(
                rep["spurious"]["isLocalMin"], local_min,
                "k {k} r {r}: {rep}"
            );
            assert!((rep["r"].as_f64().unwrap() - r).abs() < 1e-9 * k as f64);
            assert!((rep["rCritical"].as_f64().unwrap() - rc).abs() < 1e-12);
            let m = concrete(s.model_mut());
            let t = m.teacher().clone();
            let a_sp = m.a_spurious().to_vec();
            // The gradient at (-u*, a_sp) is zero.
            let mut x: Vec<f64> = t.u.iter().map(|u| -u).collect();
            x.extend_from_slice(&a_sp);
            let mut g = vec![0.0; k + p];
            let l = m.loss_grad(&x, &mut g);
            assert!(
                norm2(&g).sqrt() < 1e-14 * (1.0 + l),
                "k {k} r {r}: |g| {:e}",
                norm2(&g).sqrt()
            );
            assert!((l - rep["spurious"]["loss"].as_f64().unwrap()).abs() < 1e-12 * l);
            // a_sp solves (11^T + (pi - 1) I) a = (11^T - I) ||w*|| a*.
            let sa: f64 = a_sp.iter().sum();
            let sb: f64 = t.b.iter().sum();
            for i in 0..k {
                let lhs = sa + (PI - 1.0) * a_sp[i];
                let rhs = sb - t.b[i];
                assert!((lhs - rhs).abs() < 1e-12 * (1.0 + rhs.abs()));
            }
            // Near the point along the angle (psi = pi - phi small): the Hessian eigenvalue of a
            // direction orthogonal to v and w* is s q c (pi - phi) / (2 pi ||v||^2), sign -q_sp;
            // and the loss rises along the angle iff the point is a local minimum.
            let q_sp = dot(&a_sp, &t.a);
            assert_eq!(q_sp < 0.0, local_min);
            if p >= 3 {
                let mut rng = Normal::new(4);
                let mut e1 = gaussian(p, &mut rng);
                let c = dot(&e1, &t.u);
                e1.iter_mut().zip(&t.u).for_each(|(x, u)| *x -= c * u);
                let n1 = norm2(&e1).sqrt();
                e1.iter_mut().for_each(|x| *x /= n1);
                let psi = 1e-3;
                let mut y: Vec<f64> = (0..p)
                    .map(|j| -libm::cos(psi) * t.u[j] + libm::sin(psi) * e1[j])
                    .collect();
                y.extend_from_slice(&a_sp);
                // A direction orthogonal to both v and u*.
                let mut e2 = gaussian(p, &mut rng);
                for b in [&t.u, &e1] {
                    let c = dot(&e2, b);
                    e2.iter_mut().zip(b.iter()).for_each(|(x, u)| *x -= c * u);
                }
                let n2 = norm2(&e2).sqrt();
                e2.iter_mut().for_each(|x| *x /= n2);
                let mut dir = e2.clone();
                dir.extend(vec![0.0; k]);
                let mut hd = vec![0.0; k + p];
                m.hvp(&y, &dir, &mut hd);
                let lambda = dot(&dir, &hd);
                // Exact eigenvector: H dir = lambda dir.
                let res: f64 = hd
                    .iter()
                    .zip(&dir)
                    .map(|(h, d)| (h - lambda * d).powi(2))
                    .sum();
                assert!(res.sqrt() < 1e-12, "not an eigenvector: {res:e}");
                assert_eq!(lambda > 0.0, local_min, "k {k} r {r}: lambda {lambda:e}");
                let want = t.s * q_sp * libm::cos(PI - psi) * psi / (2.0 * PI);
                assert!(
                    (lambda - want).abs() < 1e-9 * want.abs(),
                    "{lambda} vs {want}"
                );
                let ly = m.loss_grad(&y, &mut g);
                assert_eq!(ly > l, local_min, "k {k} r {r}: loss {ly} vs {l}");
            }
            let _ = w;
        }
    }
}

#[test]
fn v_norm_squared_grows_by_eta_squared_grad_v_squared_per_step() {
    let mut m = pop_model(8, 5, 1.0, 30);
    let mut rng = Normal::new(31);
    let mut x = gaussian(13, &mut rng);
    let eta = 0.3;
    let mut g = vec![0.0; 13];
    for _ in 0..50 {
        m.loss_grad(&x, &mut g);
        let n2 = norm2(&x[..5]);
        let gv2 = norm2(&g[..5]);
        // dl/dv is orthogonal to v.
        assert!(dot(&x[..5], &g[..5]).abs() < 1e-14 * (n2 * gv2).sqrt().max(1e-300));
        for (xi, gi) in x.iter_mut().zip(&g) {
            *xi -= eta * gi;
        }
        let n2b = norm2(&x[..5]);
        assert!(
            (n2b - n2 - eta * eta * gv2).abs() < 1e-14 * n2b,
            "{n2b} vs {n2} + {}",
            eta * eta * gv2
        );
    }
}

#[test]
fn the_ratio_construction_gives_exactly_r_and_the_norm() {
    for (k, r, norm) in [
        (25usize, 4.0, 1.0),
        (100, 0.0, 2.5),
        (36, 36.0, 0.3),
        (1, 1.0, 1.0),
        (7, 6.5, 1.0),
    ] {
        let mut spec = base(k, 3, r, 11);
        spec["teacher"]["aStar"]["norm"] = json!(norm);
        let s = session(&spec);
        let t = model(&s).teacher();
        let sum: f64 = t.a.iter().sum();
        let got = sum * sum / t.a_sq;
        assert!((got - r).abs() < 1e-12 * k as f64, "k {k} r {r}: {got}");
        assert!((t.a_sq.sqrt() - norm).abs() < 1e-13 * norm);
        // Theorem 5.4's ball: ||a0|| <= |1^T a*| ||w*|| / sqrt(k) (or ||a*|| ||w*|| / sqrt(k)).
        let a0 = &s.params()[3..];
        let radius = if sum != 0.0 { sum.abs() } else { norm } / (k as f64).sqrt();
        assert!(norm2(a0).sqrt() <= radius * (1.0 + 1e-12));
        let v0 = &s.params()[..3];
        assert!((norm2(v0).sqrt() - 1.0).abs() < 1e-14);
    }
}

/// Plain GD on the population loss from `spec` for `steps` steps; the session's outcome.
fn run(spec: &Value, steps: u64) -> (Session, i8, Option<u64>) {
    let mut spec = spec.clone();
    spec["steps"] = json!(steps);
    spec["recordEvery"] = json!(steps.max(1));
    let mut s = session(&spec);
    s.advance(u64::MAX);
    let (o, at) = model(&s).outcome();
    (s, o, at)
}

#[test]
fn a_run_classified_early_ends_where_it_was_classified_and_stays_in_its_region() {
    let mut decided = [0usize; 2];
    for (k, r) in [(25usize, 1.0), (25, 4.0), (64, 9.0), (100, 0.0), (16, 2.0)] {
        let eta = 0.9 * 2.0 * PI / (k as f64 + PI - 1.0);
        for seed in 0..12u64 {
            let mut spec = base(k, 6, r, 100 * seed + k as u64);
            spec["schedule"]["eta"] = json!(eta);
            let (_, o_short, at) = run(&spec, 400);
            if o_short == 0 {
                continue;
            }
            decided[(o_short > 0) as usize] += 1;
            // Long run: the outcome is the same, and the end point is where it said.
            let (s, o_long, at_long) = run(&spec, 40_000);
            assert_eq!((o_short, at), (o_long, at_long), "k {k} r {r} seed {seed}");
            let dg = *s.column("distGlobal", 0).unwrap().last().unwrap();
            let ds = *s.column("distSpurious", 0).unwrap().last().unwrap();
            if o_long > 0 {
                assert!(dg < 1e-6, "k {k} r {r} seed {seed}: global? dist {dg}");
            } else {
                // Sublinear: pi - phi ~ 1/t; a is close to a_sp already.
                assert!(
                    ds < 0.05 && ds < 0.1 * dg,
                    "k {k} r {r} seed {seed}: spurious? {ds} vs {dg}"
                );
            }
            // Region membership at every step after the decision (step by step, no stickiness).
            let mut spec1 = spec.clone();
            spec1["steps"] = json!(3000);
            let mut s1 = session(&spec1);
            let at = at.unwrap();
            let mut t = 0;
            while t < 3000 {
                s1.advance(1);
                t += 1;
                if t < at {
                    continue;
                }
                let x = s1.params().to_vec();
                let m = concrete(s1.model_mut());
                let st: State = m.state(&x).unwrap();
                let c = m.regions().classify(&st, Some(eta));
                assert_eq!(
                    c, o_short,
                    "k {k} r {r} seed {seed}: left its region at {t}: {st:?}"
                );
            }
        }
    }
    assert!(
        decided[0] > 0 && decided[1] > 0,
        "both outcomes seen: {decided:?}"
    );
}

#[test]
fn model_gd_steps_are_the_bits_of_plain_gd() {
    let spec = base(10, 4, 2.0, 5);
    let mut a = spec.clone();
    a["steps"] = json!(200);
    a["recordEvery"] = json!(50);
    let mut sa = session(&a);
    sa.advance(u64::MAX);
    // The same GD, one step per call of the session's own method: weight decay 0 through the
    // generic path is not available, so step by hand.
    let mut s0 = session(&spec);
    let mut x = s0.params().to_vec();
    let m = s0.model_mut();
    let mut g = vec![0.0; x.len()];
    for _ in 0..200 {
        m.loss_grad(&x, &mut g);
        for (xi, gi) in x.iter_mut().zip(&g) {
            *xi += -0.1 * gi;
        }
    }
    assert_eq!(sa.params(), &x[..]);
}

#[test]
fn errors_name_full_field_paths() {
    let b = base(4, 3, 1.0, 1);
    let cases: Vec<(Value, ErrorCode, &str)> = vec![
        (
            {
                let mut s = b.clone();
                s["model"]["k"] = json!(0);
                s
            },
            ErrorCode::OutOfRange,
            "model.k",
        ),
        (
            {
                let mut s = b.clone();
                s["model"]["p"] = json!(1.5);
                s
            },
            ErrorCode::OutOfRange,
            "model.p",
        ),
        (
            {
                let mut s = b.clone();
                s["model"]["loss"] = json!("other");
                s
            },
            ErrorCode::InvalidSpec,
            "model.loss",
        ),
        (
            {
                let mut s = b.clone();
                s["teacher"]["aStar"]["r"] = json!(5);
                s
            },
            ErrorCode::OutOfRange,
            "teacher.aStar.r",
        ),
        (
            {
                let mut s = b.clone();
                s["teacher"]["aStar"]["r"] = json!(-0.5);
                s
            },
            ErrorCode::OutOfRange,
            "teacher.aStar.r",
        ),
        (
            {
                let mut s = b.clone();
                s["teacher"]["aStar"]["norm"] = json!(0);
                s
            },
            ErrorCode::OutOfRange,
            "teacher.aStar.norm",
        ),
        (
            {
                let mut s = b.clone();
                s["teacher"]["aStar"]["bogus"] = json!(0);
                s
            },
            ErrorCode::InvalidSpec,
            "teacher.aStar.bogus",
        ),
        (
            {
                let mut s = b.clone();
                s["teacher"]["wStar"] = json!({"kind": "vector", "w": [1, 2]});
                s
            },
            ErrorCode::ShapeMismatch,
            "teacher.wStar.w",
        ),
        (
            {
                let mut s = b.clone();
                s["teacher"]["wStar"] = json!({"kind": "vector", "w": [0, 0, 0]});
                s
            },
            ErrorCode::OutOfRange,
            "teacher.wStar.w",
        ),
        (
            {
                let mut s = b.clone();
                s["teacher"]["aStar"] = json!({"kind": "vector", "a": [0, 0, 0, 0]});
                s
            },
            ErrorCode::OutOfRange,
            "teacher.aStar.a",
        ),
        (
            {
                let mut s = b.clone();
                s["teacher"]["wStarNorm"] = json!(-1);
                s
            },
            ErrorCode::OutOfRange,
            "teacher.wStarNorm",
        ),
        (
            {
                let mut s = b.clone();
                s["teacher"]["bogus"] = json!(-1);
                s
            },
            ErrorCode::InvalidSpec,
            "teacher.bogus",
        ),
        (
            {
                let mut s = b.clone();
                s["init"]["signs"] = json!([1, 0]);
                s
            },
            ErrorCode::OutOfRange,
            "init.signs[1]",
        ),
        (
            {
                let mut s = b.clone();
                s["init"]["signs"] = json!([1]);
                s
            },
            ErrorCode::ShapeMismatch,
            "init.signs",
        ),
        (
            {
                let mut s = b.clone();
                s["init"]["vNorm"] = json!(0);
                s
            },
            ErrorCode::OutOfRange,
            "init.vNorm",
        ),
        (
            {
                let mut s = b.clone();
                s["init"] = json!({"kind": "point", "v": [0, 0, 0], "a": [0, 0, 0, 0]});
                s
            },
            ErrorCode::OutOfRange,
            "init.v",
        ),
        (
            {
                let mut s = b.clone();
                s["init"] = json!({"kind": "point", "v": [1, 0, 0], "a": [0, 0, 0]});
                s
            },
            ErrorCode::ShapeMismatch,
            "init.a",
        ),
        (
            {
                let mut s = b.clone();
                s["data"] = json!({"samples": 4, "seed": 1});
                s
            },
            ErrorCode::InvalidSpec,
            "data",
        ),
        (
            {
                let mut s = b.clone();
                s["model"]["loss"] = json!("empirical");
                s
            },
            ErrorCode::InvalidSpec,
            "data",
        ),
        (
            {
                let mut s = b.clone();
                s["model"]["loss"] = json!("empirical");
                s["data"] = json!({"samples": 0, "seed": 1});
                s
            },
            ErrorCode::OutOfRange,
            "data.samples",
        ),
        (
            {
                let mut s = b.clone();
                s["model"]["loss"] = json!("empirical");
                s["data"] = json!({"samples": 4, "seed": 1, "x": 1});
                s
            },
            ErrorCode::InvalidSpec,
            "data.x",
        ),
        (
            {
                let mut s = b.clone();
                s["model"]["k"] = json!(1);
                s["teacher"]["aStar"]["r"] = json!(0.5);
                s
            },
            ErrorCode::OutOfRange,
            "teacher.aStar.r",
        ),
    ];
    for (spec, code, field) in cases {
        assert_eq!(err(&spec), (code, field.to_string()), "{spec}");
    }
    // SGD needs the empirical loss; with it, the batch is checked against data.samples.
    let mut s = b.clone();
    s["method"] = json!({"kind": "sgd", "batchSize": 2, "seed": 1});
    assert_eq!(err(&s), (ErrorCode::OutOfRange, "method.kind".into()));
    s["model"]["loss"] = json!("empirical");
    s["data"] = json!({"samples": 3, "seed": 1});
    session(&s);
    s["method"]["batchSize"] = json!(4);
    assert_eq!(err(&s), (ErrorCode::OutOfRange, "method.batchSize".into()));
}

#[test]
fn sgd_on_the_empirical_loss_follows_the_population_run() {
    let pop = json!({
        "model": {"kind": "weightNormCnn", "k": 8, "p": 4},
        "teacher": {"wStar": {"kind": "random", "seed": 1},
                    "aStar": {"kind": "ratio", "r": 8, "seed": 2}},
        "init": {"kind": "theorem54", "seed": 3},
        "schedule": {"kind": "constant", "eta": 0.05},
        "steps": 1500,
        "recordEvery": 100,
    });
    let mut emp = pop.clone();
    emp["model"]["loss"] = json!("empirical");
    emp["data"] = json!({"samples": 4000, "seed": 9});
    emp["method"] = json!({"kind": "sgd", "batchSize": 64, "seed": 5});
    let mut a = session(&pop);
    let mut b = session(&emp);
    a.advance(u64::MAX);
    b.advance(u64::MAX);
    let pa = a.column("loss", 0).unwrap();
    let pb = b.column("populationLoss", 0).unwrap();
    assert_eq!(pa[0], pb[0]);
    // Both reach a small population loss (r = k: the global minimum with probability 1).
    let (la, lb) = (*pa.last().unwrap(), *pb.last().unwrap());
    assert!(
        la < 1e-3 * pa[0] && lb < 1e-2 * pb[0],
        "population {la}, sgd {lb} from {}",
        pa[0]
    );
    let oa = *a.column("outcome", 0).unwrap().last().unwrap();
    let ob = *b.column("outcome", 0).unwrap().last().unwrap();
    assert_eq!((oa, ob), (1.0, 1.0));
}

#[test]
fn the_four_signs_variant_always_has_one_start_in_the_global_region() {
    // Theorem 5.4: of (v, a), (v, -a), (-v, a), (-v, -a) exactly one has a^T a* > 0 and
    // phi < pi/2 (and E >= 0 holds for all four): GD decides it at step 0.
    for seed in 0..40u64 {
        let mut wins = 0;
        for signs in [[1, 1], [1, -1], [-1, 1], [-1, -1]] {
            let mut spec = base(36, 6, 4.0, 3 * seed);
            spec["init"]["signs"] = json!(signs);
            spec["schedule"]["eta"] = json!(0.15);
            let (_, o, at) = run(&spec, 1);
            if o == 1 && at == Some(0) {
                wins += 1;
            }
        }
        assert_eq!(wins, 1, "seed {seed}");
    }
}

#[test]
fn nothing_is_decided_above_the_step_size_bound_and_the_flow_agrees_with_gd() {
    let k = 25usize;
    let bound = 2.0 * PI / (k as f64 + PI - 1.0);
    let mut agree = 0;
    for seed in 0..10u64 {
        let mut spec = base(k, 6, 4.0, 50 + seed);
        spec["schedule"]["eta"] = json!(bound * 1.05);
        let (_, o, _) = run(&spec, 300);
        assert_eq!(
            o, 0,
            "seed {seed}: decided with eta above 2 pi / (k + pi - 1)"
        );
        // A small step: GD (the model's own steps, eta checked) and RK4 (the flow's conditions)
        // end with the same outcome.
        spec["schedule"]["eta"] = json!(0.02);
        let (_, o_gd, _) = run(&spec, 20_000);
        spec["method"] = json!({"kind": "rk4"});
        let (_, o_rk, _) = run(&spec, 20_000);
        assert_ne!(o_gd, 0, "seed {seed}");
        assert_eq!(o_gd, o_rk, "seed {seed}");
        agree += 1;
    }
    assert_eq!(agree, 10);
}

// ---- The early end (`model.stopWhenDecided`, Model::finished_early) ----

/// Every recorded column of a run, by name.
fn all_columns(s: &Session) -> Vec<Vec<u64>> {
    s.column_names()
        .iter()
        .map(|n| {
            s.column(n, 0)
                .unwrap()
                .iter()
                .map(|x| x.to_bits())
                .collect()
        })
        .collect()
}

/// Run `spec` to its end in chunks of `chunk` steps.
fn run_chunked(spec: &Value, chunk: u64) -> Session {
    let mut s = session(spec);
    let mut calls = 0;
    while !s.advance(chunk).finished {
        calls += 1;
        assert!(calls < 1_000_000, "no end");
    }
    s
}

#[test]
fn stop_when_decided_ends_the_run_at_the_deciding_iterate_with_the_bits_of_the_full_run() {
    let mut ended = [0usize; 2];
    for (k, r) in [
        (25usize, 1.0),
        (25, 4.0),
        (64, 9.0),
        (100, 0.0),
        (16, 2.0),
        (81, 25.0),
    ] {
        let eta = 0.05;
        for seed in 0..6u64 {
            let mut spec = base(k, 6, r, 7 * seed + k as u64);
            spec["schedule"]["eta"] = json!(eta);
            spec["steps"] = json!(3000);
            for every in [1u64, 7, 3000] {
                spec["recordEvery"] = json!(every);
                // The full run: where it is decided.
                let full = run_chunked(&spec, u64::MAX);
                let (o, at) = model(&full).outcome();
                let mut early = spec.clone();
                early["model"]["stopWhenDecided"] = json!(true);
                let e = run_chunked(&early, u64::MAX);
                let st = e.status();
                assert_eq!(model(&e).outcome(), (o, at), "k {k} r {r} seed {seed}");
                let Some(at) = at else {
                    // Undecided: the early end changes nothing.
                    assert_eq!(st.step, 3000);
                    assert_eq!(all_columns(&e), all_columns(&full));
                    continue;
                };
                ended[(o > 0) as usize] += 1;
                assert_eq!(st.stop, Some(autobalance_core::session::Stop::Finished));
                assert!(st.finished);
                assert_eq!(st.step, at, "k {k} r {r} seed {seed}: ends at decidedAt");
                assert!(st.reason.as_deref().unwrap().contains("ended the run"));
                // The last row is the deciding iterate's, with its outcome.
                let step = e.column("step", 0).unwrap();
                assert_eq!(
                    *step.last().unwrap(),
                    at as f64,
                    "k {k} r {r} seed {seed} every {every} {st:?} {:?}",
                    step
                );
                assert_eq!(*e.column("outcome", 0).unwrap().last().unwrap(), o as f64);
                assert_eq!(
                    *e.column("decidedAt", 0).unwrap().last().unwrap(),
                    at as f64
                );
                // Bits: the full run cut at `at` (steps = at) has the same iterate and rows.
                let mut cut = spec.clone();
                cut["steps"] = json!(at);
                let c = run_chunked(&cut, u64::MAX);
                assert_eq!(e.params(), c.params(), "k {k} r {r} seed {seed}");
                // (The cut run's last row may predate the decision: outcome and decidedAt of
                // the last row are the early run's own.)
                let (mut ce, mut cc) = (all_columns(&e), all_columns(&c));
                for (j, name) in e.column_names().iter().enumerate() {
                    if name == "outcome" || name == "decidedAt" {
                        ce[j].pop();
                        cc[j].pop();
                    }
                }
                assert_eq!(ce, cc, "k {k} r {r} seed {seed}");
                // Chunking changes nothing.
                for chunk in [1u64, 3, 50] {
                    let ec = run_chunked(&early, chunk);
                    assert_eq!(ec.params(), e.params());
                    assert_eq!(all_columns(&ec), all_columns(&e));
                    assert_eq!(ec.status(), e.status());
                }
            }
        }
    }
    assert!(
        ended[0] > 0 && ended[1] > 0,
        "both outcomes ended early: {ended:?}"
    );
}

#[test]
fn stop_when_decided_at_the_initial_point_ends_at_step_zero_and_other_methods_end_too() {
    // The four-signs start in the global region is decided at step 0: the run is step 0 alone.
    let mut zero = 0;
    for seed in 0..10u64 {
        for signs in [[1, 1], [1, -1], [-1, 1], [-1, -1]] {
            let mut spec = base(36, 6, 4.0, 3 * seed);
            spec["init"]["signs"] = json!(signs);
            spec["schedule"]["eta"] = json!(0.15);
            spec["steps"] = json!(500);
            spec["recordEvery"] = json!(100);
            spec["model"]["stopWhenDecided"] = json!(true);
            let s = run_chunked(&spec, u64::MAX);
            let (o, at) = model(&s).outcome();
            if at == Some(0) {
                zero += 1;
                assert_eq!(o, 1);
                assert_eq!(s.status().step, 0);
                assert_eq!(s.status().rows, 1);
                assert_eq!(s.params(), s.initial_params());
            }
        }
    }
    assert_eq!(zero, 10);
    // A method the model does not step itself (RK4: the flow's regions, checked after every
    // step): the run ends at decidedAt, chunking changes nothing.
    for seed in 0..6u64 {
        let mut spec = base(25, 6, 4.0, 40 + seed);
        spec["schedule"]["eta"] = json!(0.05);
        spec["method"] = json!({"kind": "rk4"});
        spec["steps"] = json!(4000);
        spec["recordEvery"] = json!(10);
        let full = run_chunked(&spec, u64::MAX);
        let (o, at) = model(&full).outcome();
        spec["model"]["stopWhenDecided"] = json!(true);
        let e = run_chunked(&spec, u64::MAX);
        assert_eq!(model(&e).outcome(), (o, at));
        let at = at.expect("decided");
        assert_eq!(e.status().step, at);
        assert_eq!(
            e.status().stop,
            Some(autobalance_core::session::Stop::Finished)
        );
        let e1 = run_chunked(&spec, 1);
        assert_eq!(all_columns(&e1), all_columns(&e));
        assert_eq!(e1.params(), e.params());
        let mut cut = spec.clone();
        cut["steps"] = json!(at);
        cut["model"]["stopWhenDecided"] = json!(false);
        assert_eq!(run_chunked(&cut, u64::MAX).params(), e.params());
    }
    // Off by default, and typed.
    let mut spec = base(25, 6, 4.0, 3);
    spec["steps"] = json!(300);
    let s = run_chunked(&spec, u64::MAX);
    assert_eq!(s.status().step, 300);
    assert!(s.status().reason.is_none());
    spec["model"]["stopWhenDecided"] = json!(1);
    assert_eq!(err(&spec).1, "model.stopWhenDecided");
}

// ---- The (alpha, beta) regions (Regions::classify_ab), united with the (q, E) ones ----

#[test]
fn the_alpha_beta_regions_decide_fast_are_absorbing_and_name_where_gd_ends() {
    let mut rng = Normal::new(20261202);
    let mut seen = [0usize; 2];
    let mut slowest = 0u64;
    for cell in 0..24u64 {
        let k = [25usize, 36, 49, 64, 81, 100][(cell % 6) as usize];
        // r around the stability boundary r_c = (k + pi - 1)/pi and below it.
        let rc = (k as f64 + PI - 1.0) / PI;
        let r = (rc * (0.2 + 1.1 * rng.uniform_open())).min(k as f64);
        let norm = 0.3 + 0.7 * rng.uniform_open();
        let eta = (0.3 + 0.7 * rng.uniform_open()) * 2.0 * PI / (k as f64 + PI - 1.0);
        for seed in 0..8u64 {
            let mut spec = base(k, 6, r, 1000 * cell + 10 * seed);
            spec["teacher"]["aStar"]["norm"] = json!(norm);
            spec["teacher"]["wStarNorm"] = json!(0.8 + 0.4 * rng.uniform_open());
            spec["init"]["vNorm"] = json!(0.7 + 0.6 * rng.uniform_open());
            spec["schedule"]["eta"] = json!(eta);
            spec["model"]["stopWhenDecided"] = json!(true);
            let (_, o, at) = run(&spec, 20_000);
            let at =
                at.unwrap_or_else(|| panic!("cell {cell} (k {k} r {r}) seed {seed}: undecided"));
            slowest = slowest.max(at);
            seen[(o > 0) as usize] += 1;
            // Where GD goes: the long run.
            spec["model"]["stopWhenDecided"] = json!(false);
            // (Near r_c with a small ratio the spurious point is approached slowly: psi ~ 1/t
            // with a small constant.)
            let n_long = if o > 0 { 60_000 } else { 300_000 };
            let mut long = spec.clone();
            long["steps"] = json!(n_long);
            long["recordEvery"] = json!(n_long);
            let mut s = session(&long);
            s.advance(u64::MAX);
            let x = s.params().to_vec();
            let m = concrete(s.model_mut());
            let st = m.state(&x).unwrap();
            let dg = *s.column("distGlobal", 0).unwrap().last().unwrap();
            let ds = *s.column("distSpurious", 0).unwrap().last().unwrap();
            let what = format!("cell {cell} (k {k} r {r:.2} |a*| {norm:.2} eta {eta:.3}) seed {seed}: o {o} at {at}, phi {} dg {dg:e} ds {ds:e}", st.phi);
            if o > 0 {
                assert!(dg < 1e-6, "{what}");
            } else {
                assert!(st.phi > 2.9 && ds < 0.2 * dg, "{what}");
            }
            // Absorbing, step by step: the (alpha, beta) classification, once it holds, holds at
            // every later iterate (checked for 2000 steps), and never contradicts the (q, E) one.
            let mut s1 = session(&{
                let mut x = spec.clone();
                x["steps"] = json!(2000);
                x
            });
            let mut first: Option<i8> = None;
            for _ in 0..2000 {
                s1.advance(1);
                let x = s1.params().to_vec();
                let m = concrete(s1.model_mut());
                let st = m.state(&x).unwrap();
                let ab = m.regions().classify_ab(&st, Some(eta));
                let e = m.regions().classify_e(&st, Some(eta));
                assert!(ab * e >= 0, "{what}: the two regions disagree");
                match first {
                    None if ab != 0 => first = Some(ab),
                    Some(c) => assert_eq!(ab, c, "{what}: left the (alpha, beta) region"),
                    None => {}
                }
                if let Some(c) = first {
                    assert_eq!(c, o, "{what}");
                }
            }
        }
    }
    assert!(seen[0] > 10 && seen[1] > 10, "both outcomes: {seen:?}");
    assert!(slowest < 5000, "slowest decision {slowest}");
}

#[test]
fn signs_theorem54_picks_the_four_signs_start_in_the_global_region() {
    for seed in 0..40u64 {
        let k = [25usize, 36, 49, 64, 81, 100][(seed % 6) as usize];
        let r = [0.0, 1.0, 4.0, 9.0, 16.0, 25.0][(seed / 6 % 6) as usize];
        let mut spec = base(k, 6, r, 3 * seed);
        spec["schedule"]["eta"] = json!(0.05);
        spec["teacher"]["aStar"]["norm"] = json!(0.55);
        spec["init"]["signs"] = json!("theorem54");
        let (s, o, at) = run(&spec, 1);
        // The start: phi0 <= pi/2 and a0^T a* >= 0, and it is one of the four sign pairs of the
        // same draw.
        let x0 = s.initial_params().to_vec();
        let m = model(&s);
        let (v0, a0) = x0.split_at(6);
        assert!(dot(v0, &m.teacher().u) >= 0.0 && dot(a0, &m.teacher().a) >= 0.0);
        let mut same = 0;
        for signs in [[1, 1], [1, -1], [-1, 1], [-1, -1]] {
            let mut sp = spec.clone();
            sp["init"]["signs"] = json!(signs);
            if session(&sp).initial_params() == &x0[..] {
                same += 1;
            }
        }
        assert_eq!(same, 1, "seed {seed}");
        // Decided global at once (Theorem 5.4; R+ holds at step 0).
        assert_eq!((o, at), (1, Some(0)), "seed {seed} k {k} r {r}");
    }
    let mut spec = base(4, 3, 1.0, 1);
    for bad in [json!("theorem"), json!({}), json!(["a", 1])] {
        spec["init"]["signs"] = bad.clone();
        let (_, field) = err(&spec);
        assert!(field.starts_with("init.signs"), "{bad}: {field}");
    }
}

/// The per-thread memos of the teacher's construction (issue 14: a sweep builds the same teacher
/// for every run of a setting) give the bits of the computation, on hits and misses alike.
#[test]
fn remembered_regions_and_teacher_directions_equal_computed_ones() {
    use autobalance_core::model::wncnn::family::random_unit_uncached;
    use autobalance_core::model::wncnn::Regions;
    // More keys than the memos keep (8), visited twice in an order that mixes hits and misses.
    let keys: Vec<(usize, u64)> = (0..12).map(|i| (3 + i % 5, 100 + i as u64)).collect();
    for round in 0..2 {
        for &(k, seed) in keys.iter().chain(keys.iter().rev()) {
            let u = random_unit_uncached(6, seed, false).unwrap();
            let a = random_unit_uncached(k, seed + 7, true).unwrap();
            let t = Teacher::new(
                u.clone(),
                1.0 + seed as f64 * 0.01,
                a.iter().map(|x| 0.55 * x + 0.1).collect(),
            );
            assert_eq!(
                format!("{:?}", Regions::new(k, &t)),
                format!("{:?}", Regions::compute(k, &t)),
                "round {round}, k {k}"
            );
            // Sessions build their teachers through the memo: the same w* as drawn directly.
            let s = session(&json!({
                "model": {"kind": "weightNormCnn", "k": k, "p": 6},
                "teacher": {"wStar": {"kind": "random", "seed": seed}, "aStar": {"kind": "ratio", "r": 1, "seed": seed + 7}},
                "init": {"kind": "theorem54", "seed": 1},
                "schedule": {"kind": "constant", "eta": 0.05},
                "steps": 1
            }));
            let (_, _, w) = s.matrix("wStarDirection").unwrap();
            let w: Vec<u64> = w.iter().map(|x| x.to_bits()).collect();
            assert_eq!(
                w,
                u.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                "round {round}, seed {seed}"
            );
        }
    }
}
