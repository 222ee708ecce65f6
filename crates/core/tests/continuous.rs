//! The continuousLinear family (Taghvaei, Kim & Mehta 2017; docs/continuous-linear.md), against
//! independent oracles: finite differences of the discretized cost (gradient and exact HVP, both
//! discretizations), an RK4-integrated trajectory (cost of constant weights), the paper's learning
//! rule written out by hand (GD on theta), Example 1's exact critical points and the reduction
//! C = a I + b J, the O(h) bias of Euler, the mean over samples, and the errors' field paths.

use std::collections::HashMap;
use std::f64::consts::FRAC_PI_2;

use autobalance_core::model::continuous::{
    model_at_parts, ContinuousLinear, Discretization, MAX_N,
};
use autobalance_core::model::Model;
use autobalance_core::rng::Normal;
use autobalance_core::{ErrorCode, Session};
use nalgebra::DMatrix;
use serde_json::{json, Value};

fn session(spec: &Value) -> Session {
    Session::new(&spec.to_string(), HashMap::new()).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

fn model(s: &mut Session) -> &mut ContinuousLinear {
    let m: &mut dyn Model = s.model_mut();
    let any: &mut dyn std::any::Any = m;
    any.downcast_mut::<ContinuousLinear>()
        .expect("continuousLinear")
}

fn jmat() -> DMatrix<f64> {
    DMatrix::from_row_slice(2, 2, &[0.0, -1.0, 1.0, 0.0])
}

fn rows(m: &DMatrix<f64>) -> Value {
    json!((0..m.nrows())
        .map(|i| (0..m.ncols()).map(|j| m[(i, j)]).collect::<Vec<_>>())
        .collect::<Vec<_>>())
}

fn random(n: usize, m: usize, seed: u64, std: f64) -> DMatrix<f64> {
    let mut v = vec![0.0; n * m];
    Normal::new(seed).fill(&mut v, std);
    DMatrix::from_row_slice(n, m, &v)
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn disc_name(d: Discretization) -> &'static str {
    d.name()
}

/// A population spec of size n with K layers at lambda, from a random point.
fn spec(n: usize, k: usize, lambda: f64, disc: Discretization, seed: u64) -> Value {
    let r = random(n, n, 100 + seed, 1.0);
    let b = random(n, n, 200 + seed, 0.5);
    let s = &b * b.transpose() + DMatrix::identity(n, n) * 0.3;
    let dr = random(n, n, 300 + seed, 1.0);
    json!({
        "model": {"kind": "continuousLinear", "n": n, "K": k, "T": 1.3, "lambda": lambda,
                  "discretization": disc_name(disc)},
        "data": {"kind": "population", "R": rows(&r), "sigma0": rows(&s), "dR": rows(&dr),
                 "sigma": 0.3},
        "init": {"kind": "gaussian", "std": 0.7, "seed": seed},
        "schedule": {"kind": "constant", "eta": 0.01},
        "steps": 0,
    })
}

const DISCS: [Discretization; 2] = [Discretization::Euler, Discretization::Exponential];

#[test]
fn gradient_matches_finite_differences_of_the_discretized_cost() {
    for disc in DISCS {
        for (n, k) in [(1, 3), (2, 5), (3, 4), (4, 2)] {
            let mut s = session(&spec(n, k, 0.17, disc, n as u64));
            let w = s.params().to_vec();
            let m = model(&mut s);
            let dim = m.dim();
            let mut g = vec![0.0; dim];
            let f = m.loss_grad(&w, &mut g);
            assert!((f - m.cost_terms(&w).0).abs() <= 1e-13 * f.abs());
            // Every coordinate, central differences with Richardson extrapolation.
            let mut fd = vec![0.0; dim];
            let mut scratch = vec![0.0; dim];
            for i in 0..dim {
                let mut d = |h: f64| {
                    let mut p = w.clone();
                    p[i] += h;
                    let fp = m.loss_grad(&p, &mut scratch);
                    p[i] -= 2.0 * h;
                    let fm = m.loss_grad(&p, &mut scratch);
                    (fp - fm) / (2.0 * h)
                };
                let (a, b) = (d(1e-3), d(5e-4));
                fd[i] = (4.0 * b - a) / 3.0;
            }
            let err: Vec<f64> = g.iter().zip(&fd).map(|(a, b)| a - b).collect();
            let rel = norm(&err) / norm(&g);
            assert!(rel < 1e-8, "{disc:?} n {n} K {k}: gradient vs FD {rel:e}");
        }
    }
}

#[test]
#[allow(clippy::needless_range_loop)]
fn exact_hvp_matches_finite_differences_and_is_symmetric() {
    for disc in DISCS {
        for (n, k) in [(1, 4), (2, 6), (3, 3)] {
            let mut s = session(&spec(n, k, 0.05, disc, 10 + n as u64));
            let w = s.params().to_vec();
            let m = model(&mut s);
            assert!(m.hvp_exact());
            let dim = m.dim();
            // The full Hessian column by column, against differences of the gradient.
            let mut hess = vec![vec![0.0; dim]; dim];
            let mut worst: f64 = 0.0;
            let mut scale: f64 = 0.0;
            for i in 0..dim {
                let mut e = vec![0.0; dim];
                e[i] = 1.0;
                m.hvp(&w, &e, &mut hess[i]);
                let mut col = |h: f64| {
                    let (mut gp, mut gm) = (vec![0.0; dim], vec![0.0; dim]);
                    let mut p = w.clone();
                    p[i] += h;
                    m.loss_grad(&p, &mut gp);
                    p[i] -= 2.0 * h;
                    m.loss_grad(&p, &mut gm);
                    gp.iter()
                        .zip(&gm)
                        .map(|(a, b)| (a - b) / (2.0 * h))
                        .collect::<Vec<_>>()
                };
                let (a, b) = (col(1e-3), col(5e-4));
                for j in 0..dim {
                    let fd = (4.0 * b[j] - a[j]) / 3.0;
                    worst = worst.max((fd - hess[i][j]).abs());
                    scale = scale.max(hess[i][j].abs());
                }
            }
            m.end_queries();
            assert!(
                worst < 1e-7 * scale,
                "{disc:?} n {n} K {k}: Hessian vs FD {worst:e} (scale {scale:e})"
            );
            for i in 0..dim {
                for j in 0..i {
                    assert!(
                        (hess[i][j] - hess[j][i]).abs() < 1e-12 * scale,
                        "{disc:?} n {n} K {k}: H[{i}][{j}] {} vs {}",
                        hess[i][j],
                        hess[j][i]
                    );
                }
            }
        }
    }
}

/// RK4 on dX/dt = A(t) X from X(0) = I with `steps` steps.
fn rk4(a: impl Fn(f64) -> DMatrix<f64>, n: usize, t: f64, steps: usize) -> DMatrix<f64> {
    let h = t / steps as f64;
    let mut x = DMatrix::identity(n, n);
    for i in 0..steps {
        let t0 = i as f64 * h;
        let k1 = a(t0) * &x;
        let k2 = a(t0 + h / 2.0) * (&x + &k1 * (h / 2.0));
        let k3 = a(t0 + h / 2.0) * (&x + &k2 * (h / 2.0));
        let k4 = a(t0 + h) * (&x + &k3 * h);
        x += (k1 + k2 * 2.0 + k3 * 2.0 + k4) * (h / 6.0);
    }
    x
}

#[test]
fn cost_equals_the_cost_of_the_ode_integrated_trajectory() {
    let (n, t, lambda) = (3, 1.3, 0.2);
    let c = random(n, n, 7, 0.4);
    let r = random(n, n, 8, 1.0);
    let b = random(n, n, 9, 0.5);
    let s0 = &b * b.transpose() + DMatrix::identity(n, n) * 0.3;
    let x_t = rk4(|_| c.clone(), n, t, 4000);
    let d = &x_t - &r;
    let want = lambda * t / 2.0 * c.norm_squared() + 0.5 * (&d * &s0).dot(&d);
    let mut euler_err = Vec::new();
    for k in [1, 4, 64, 256] {
        for disc in DISCS {
            let sp = json!({
                "model": {"kind": "continuousLinear", "n": n, "K": k, "T": t, "lambda": lambda,
                          "discretization": disc_name(disc)},
                "data": {"kind": "population", "R": rows(&r), "sigma0": rows(&s0)},
                "init": {"kind": "constant", "C": rows(&c)},
                "schedule": {"kind": "constant", "eta": 0.01},
                "steps": 0,
            });
            let mut s = session(&sp);
            let w = s.params().to_vec();
            let (j, reg, _) = model(&mut s).cost_terms(&w);
            assert!((reg - lambda * t / 2.0 * c.norm_squared()).abs() < 1e-13 * reg);
            match disc {
                // Piecewise-constant weights: exact for every K.
                Discretization::Exponential => {
                    assert!((j - want).abs() < 1e-11 * want, "K {k}: {j} vs ODE {want}")
                }
                Discretization::Euler => euler_err.push((j - want).abs()),
            }
        }
    }
    // Euler converges at first order: K 64 -> 256 divides the error by 4 (within 10%).
    let ratio = euler_err[2] / euler_err[3];
    assert!((ratio - 4.0).abs() < 0.4, "Euler errors {euler_err:?}");

    // A time-varying critical-type A_t: the exponential discretization converges at second order
    // (midpoint sampling) to the ODE's cost.
    let om = (&c - c.transpose()) * 0.5;
    let a_t = |tt: f64| {
        let u = (&om * (2.0 * tt)).exp();
        &u * &c * u.transpose()
    };
    let x_t = rk4(a_t, n, t, 4000);
    let d = &x_t - &r;
    let want = lambda * t / 2.0 * c.norm_squared() + 0.5 * (&d * &s0).dot(&d);
    let mut errs = Vec::new();
    for k in [32, 64] {
        let sp = json!({
            "model": {"kind": "continuousLinear", "n": n, "K": k, "T": t, "lambda": lambda},
            "data": {"kind": "population", "R": rows(&r), "sigma0": rows(&s0)},
            "init": {"kind": "critical", "C": rows(&c)},
            "schedule": {"kind": "constant", "eta": 0.01},
            "steps": 0,
        });
        let mut s = session(&sp);
        let w = s.params().to_vec();
        errs.push((model(&mut s).cost_terms(&w).0 - want).abs());
    }
    assert!(errs[1] < 1e-3 * want, "{errs:?}");
    let ratio = errs[0] / errs[1];
    assert!((ratio - 4.0).abs() < 0.5, "second order expected: {errs:?}");
}

#[test]
fn gd_on_theta_is_the_papers_learning_rule() {
    // Sigma0 = I: full-batch GD on X0 = I. Euler layers: Y_K = R - X_K,
    // Y_k = (I + h A_k)^T Y_{k+1}, A_k <- A_k - eta (lambda A_k - Y_{k+1} X_k^T).
    let (n, k, t, lambda, eta) = (2, 6, 1.0, 0.1, 0.3);
    let r = jmat();
    let sp = json!({
        "model": {"kind": "continuousLinear", "n": n, "K": k, "T": t, "lambda": lambda,
                  "discretization": "euler"},
        "data": {"kind": "population", "R": rows(&r)},
        "init": {"kind": "gaussian", "std": 0.5, "seed": 3},
        "schedule": {"kind": "constant", "eta": eta},
        "steps": 5,
        "recordEvery": 1,
    });
    let mut s = session(&sp);
    let h = t / k as f64;
    let w0 = s.params().to_vec();
    let mut a: Vec<DMatrix<f64>> = (0..k)
        .map(|i| DMatrix::from_row_slice(n, n, &w0[i * 4..(i + 1) * 4]) / h.sqrt())
        .collect();
    s.advance(u64::MAX);
    for _ in 0..5 {
        let mut xs = vec![DMatrix::identity(n, n)];
        for ak in &a {
            let next = (DMatrix::identity(n, n) + ak * h) * xs.last().unwrap();
            xs.push(next);
        }
        let mut y = &r - &xs[k];
        let mut next_a = a.clone();
        for i in (0..k).rev() {
            next_a[i] = &a[i] - (&a[i] * lambda - &y * xs[i].transpose()) * eta;
            y = (DMatrix::identity(n, n) + &a[i] * h).transpose() * y;
        }
        a = next_a;
    }
    let (rows_a, cols_a, got) = s.matrix("A").unwrap();
    assert_eq!((rows_a, cols_a), (k * n, n));
    for (i, ak) in a.iter().enumerate() {
        for p in 0..n {
            for q in 0..n {
                let g = got[(i * n + p) * n + q];
                assert!(
                    (g - ak[(p, q)]).abs() < 1e-13,
                    "layer {i} ({p},{q}): {g} vs {}",
                    ak[(p, q)]
                );
            }
        }
    }
}

#[test]
fn exponential_gradient_is_the_layer_average_of_the_papers_y_x() {
    // dJ/dA_k / h = lambda A_k - (1/h) int_{t_k}^{t_{k+1}} Y_t X_t^T dt with
    // X_t = e^{(t - t_k) A_k} X_k, Y_t = e^{(t_{k+1} - t) A_k^T} Y_{k+1} (Simpson, 2000 panels).
    let (n, k, t, lambda) = (2, 3, 1.0, 0.1);
    let r = jmat();
    let sp = json!({
        "model": {"kind": "continuousLinear", "n": n, "K": k, "T": t, "lambda": lambda},
        "data": {"kind": "population", "R": rows(&r)},
        "init": {"kind": "gaussian", "std": 1.0, "seed": 4},
        "schedule": {"kind": "constant", "eta": 0.1},
        "steps": 0,
    });
    let mut s = session(&sp);
    let w = s.params().to_vec();
    let m = model(&mut s);
    let h = m.h();
    let mut g = vec![0.0; m.dim()];
    m.loss_grad(&w, &mut g);
    let a: Vec<DMatrix<f64>> = (0..k).map(|i| m.a(&w, i)).collect();
    let mut xs = vec![DMatrix::identity(n, n)];
    for ak in &a {
        let next = (ak * h).exp() * xs.last().unwrap();
        xs.push(next);
    }
    let mut y = &r - &xs[k];
    for i in (0..k).rev() {
        let panels = 2000;
        let mut integral = DMatrix::zeros(n, n);
        for p in 0..=panels {
            let tau = h * p as f64 / panels as f64;
            let wgt = if p == 0 || p == panels {
                1.0
            } else if p % 2 == 1 {
                4.0
            } else {
                2.0
            };
            let xt = (&a[i] * tau).exp() * &xs[i];
            let yt = (a[i].transpose() * (h - tau)).exp() * &y;
            integral += yt * xt.transpose() * wgt;
        }
        integral *= h / panels as f64 / 3.0;
        let want = &a[i] * lambda - integral / h;
        // theta-gradient = sqrt(h) (dJ/dA_k / h).
        let got = DMatrix::from_row_slice(n, n, &g[i * 4..(i + 1) * 4]) / h.sqrt();
        assert!(
            (&got - &want).norm() < 1e-10 * want.norm(),
            "layer {i}: {got} vs {want}"
        );
        y = (a[i].transpose() * h).exp() * y;
    }
}

/// Newton on the reduction of Example 1 (C = a I + b J): lambda a = e^a sin b - e^{2a},
/// lambda b = e^a cos b (panics when it does not converge).
fn example1_reduced(lambda: f64, a: f64, b: f64) -> (f64, f64) {
    try_example1_reduced(lambda, a, b).expect("the reduction's Newton converges")
}

fn try_example1_reduced(lambda: f64, mut a: f64, mut b: f64) -> Option<(f64, f64)> {
    for _ in 0..100 {
        let (ea, sb, cb) = (a.exp(), b.sin(), b.cos());
        let f1 = lambda * a - ea * sb + ea * ea;
        let f2 = lambda * b - ea * cb;
        let j11 = lambda - ea * sb + 2.0 * ea * ea;
        let j12 = -ea * cb;
        let j21 = -ea * cb;
        let j22 = lambda + ea * sb;
        let det = j11 * j22 - j12 * j21;
        let da = (f1 * j22 - f2 * j12) / det;
        let db = (j11 * f2 - j21 * f1) / det;
        a -= da;
        b -= db;
        if da.abs() + db.abs() < 1e-15 {
            break;
        }
    }
    let (ea, sb, cb) = (a.exp(), b.sin(), b.cos());
    let res = (lambda * a - ea * sb + ea * ea).abs() + (lambda * b - ea * cb).abs();
    (res < 1e-12).then_some((a, b))
}

fn example1(k: usize, lambda: f64, disc: Discretization, c: &DMatrix<f64>) -> Value {
    json!({
        "model": {"kind": "continuousLinear", "n": 2, "K": k, "T": 1.0, "lambda": lambda,
                  "discretization": disc_name(disc)},
        "data": {"kind": "population", "R": rows(&jmat())},
        "init": {"kind": "critical", "C": rows(c)},
        "critical": {"C": [rows(c)]},
        "schedule": {"kind": "constant", "eta": 0.5},
        "steps": 0,
    })
}

#[test]
fn example1_critical_points_are_exact_for_the_exponential_discretization() {
    // lambda = 0: C = (pi/2 + 2 pi n) J, every K.
    for sheet in [0.0, 1.0, -1.0] {
        let c = jmat() * (FRAC_PI_2 + 2.0 * std::f64::consts::PI * sheet);
        for k in [1, 4, 16, 64] {
            let mut s = session(&example1(k, 0.0, Discretization::Exponential, &c));
            let w = s.params().to_vec();
            let m = model(&mut s);
            let mut g = vec![0.0; m.dim()];
            m.loss_grad(&w, &mut g);
            assert!(
                norm(&g) < 1e-13,
                "sheet {sheet} K {k}: |grad| {:e}",
                norm(&g)
            );
        }
    }
    // lambda > 0: the reduction's solution on the principal branch (a normal C = a I + b J).
    for lambda in [0.05, 0.2, 0.5] {
        let (a, b) = example1_reduced(lambda, 0.0, FRAC_PI_2);
        let c = DMatrix::identity(2, 2) * a + jmat() * b;
        for k in [1, 8, 32] {
            let (mut m, w) = model_at_parts(
                1.0,
                &jmat(),
                None,
                &DMatrix::identity(2, 2),
                lambda,
                0.0,
                k,
                Discretization::Exponential,
                &c,
            )
            .unwrap();
            let mut g = vec![0.0; m.dim()];
            let f = m.loss_grad(&w, &mut g);
            assert!(
                norm(&g) < 1e-13,
                "lambda {lambda} K {k}: |grad| {:e}",
                norm(&g)
            );
            // The reduced cost: J = 1/2 [lambda (a^2 + b^2) 2 + e^{2a} 2 - 4 e^a sin b + 2]...
            // per the REFERENCE (T = 1, 2 x 2): J = lambda (a^2 + b^2) + e^{2a} - 2 e^a sin b + 1.
            let want = lambda * (a * a + b * b) + (2.0 * a).exp() - 2.0 * a.exp() * b.sin() + 1.0;
            assert!((f - want).abs() < 1e-13 * want, "{f} vs {want}");
        }
    }
}

#[test]
fn critical_candidates_are_refined_by_newton_and_measured_in_l2() {
    // Example 1 at lambda = 0.1: the sheets 0, -1, 1 (log R / T at lambda = 0) refined to the
    // critical points at lambda; the principal one against the a I + b J reduction.
    let lambda = 0.1;
    let (a, b) = example1_reduced(lambda, 0.0, FRAC_PI_2);
    let c0 = DMatrix::identity(2, 2) * a + jmat() * b;
    // Sheet -1 (C(0) = -3 pi/2 J) continues to lambda = 0.1; sheet 1 (5 pi/2 J) turns back
    // below it (the turning points decrease as |b| grows): neither Newton on the reduction nor
    // the refinement finds it, and the model drops it.
    let (a1, b1) = example1_reduced(lambda, 0.0, FRAC_PI_2 - 2.0 * std::f64::consts::PI);
    let c1 = DMatrix::identity(2, 2) * a1 + jmat() * b1;
    assert!(
        try_example1_reduced(lambda, 0.0, FRAC_PI_2 + 2.0 * std::f64::consts::PI)
            .is_none_or(|(a, b)| (a * a + (b - 2.5 * std::f64::consts::PI).powi(2)).sqrt() > 1.0)
    );
    for (start, index) in [(&c0, 0.0), (&c1, 1.0)] {
        let mut sp = example1(16, lambda, Discretization::Exponential, start);
        sp["critical"] = json!({"sheets": [0, -1, 1]});
        sp["steps"] = json!(1);
        let mut s = session(&sp);
        {
            let m = model(&mut s);
            assert_eq!(m.critical_candidates(), 3);
            let pts = m.critical_points();
            let kept: Vec<usize> = pts.iter().map(|p| p.0).collect();
            assert_eq!(kept, [0, 1], "{pts:?}");
            assert!((&pts[0].1 - &c0).norm() < 1e-10, "{} vs {c0}", pts[0].1);
            assert!((&pts[1].1 - &c1).norm() < 1e-10, "{} vs {c1}", pts[1].1);
        }
        s.advance(u64::MAX);
        assert!(s.column("critDist", 0).unwrap()[0] < 1e-10);
        assert_eq!(s.column("critIndex", 0).unwrap()[0], index);
    }
    // A point off the critical set: its L2 distance sqrt(h sum_k |A_k - A*(t_k)|^2) (constant
    // weights C + D against the constant A* = C: |D|_F sqrt(T)).
    let d = DMatrix::from_row_slice(2, 2, &[0.01, 0.02, -0.03, 0.0]);
    let mut sp = example1(8, lambda, Discretization::Euler, &c0);
    sp["init"] = json!({"kind": "constant", "C": rows(&(&c0 + &d))});
    sp["critical"] = json!({"C": [rows(&c0)]});
    let mut s = session(&sp);
    s.advance(u64::MAX);
    let got = s.column("critDist", 0).unwrap()[0];
    assert!((got - d.norm()).abs() < 1e-12, "{got} vs {}", d.norm());
}

#[test]
fn euler_biases_the_critical_point_by_order_h() {
    // Example 1, lambda = 0.1, principal branch: GD on the Euler model from the exact critical
    // point converges to the Euler critical point at distance O(h) (critDist halves with h).
    let lambda = 0.1;
    let (a, b) = example1_reduced(lambda, 0.0, FRAC_PI_2);
    let c = DMatrix::identity(2, 2) * a + jmat() * b;
    let mut dist = Vec::new();
    let mut grad0 = Vec::new();
    for k in [8, 16, 32] {
        let mut sp = example1(k, lambda, Discretization::Euler, &c);
        sp["steps"] = json!(3000);
        sp["recordEvery"] = json!(3000);
        let mut s = session(&sp);
        s.advance(u64::MAX);
        let g0 = s.column("gradNorm", 0).unwrap()[0];
        let gn = *s.column("gradNorm", 0).unwrap().last().unwrap();
        assert!(gn < 1e-12, "K {k}: GD did not converge ({gn:e})");
        dist.push(*s.column("critDist", 0).unwrap().last().unwrap());
        grad0.push(g0);
        assert_eq!(*s.column("critIndex", 0).unwrap().last().unwrap(), 0.0);
    }
    for i in 0..2 {
        let r = dist[i] / dist[i + 1];
        assert!((r - 2.0).abs() < 0.1, "critDist {dist:?}");
        let r = grad0[i] / grad0[i + 1];
        assert!(
            (r - 2.0).abs() < 0.2,
            "gradNorm at the exact point {grad0:?}"
        );
    }
}

#[test]
fn samples_mode_is_the_mean_over_samples() {
    let (n, ns, noise, seed) = (3, 37, 0.3, 11u64);
    let r = random(n, n, 12, 1.0);
    let sp = json!({
        "model": {"kind": "continuousLinear", "n": n, "K": 4, "T": 0.8, "lambda": 0.07},
        "data": {"kind": "samples", "R": rows(&r), "samples": ns, "noise": noise, "seed": seed},
        "init": {"kind": "gaussian", "std": 0.6, "seed": 1},
        "schedule": {"kind": "constant", "eta": 0.01},
        "steps": 0,
    });
    let mut s = session(&sp);
    let w = s.params().to_vec();
    // The documented draw: x0_1..x0_N, then the noise of z_1..z_N, one stream.
    let mut rng = Normal::new(seed);
    let mut x0 = vec![0.0; n * ns];
    rng.fill(&mut x0, 1.0);
    let mut e = vec![0.0; n * ns];
    rng.fill(&mut e, noise);
    let x0 = DMatrix::from_vec(n, ns, x0);
    let z = &r * &x0 + DMatrix::from_vec(n, ns, e);
    let m = model(&mut s);
    assert_eq!(m.samples(), Some(ns));
    let phi = m.phi(&w);
    let mean = |idx: &[usize]| {
        idx.iter()
            .map(|&i| 0.5 * (&phi * x0.column(i) - z.column(i)).norm_squared())
            .sum::<f64>()
            / idx.len() as f64
    };
    let all: Vec<usize> = (0..ns).collect();
    let reg = 0.5 * 0.07 * norm(&w).powi(2);
    let (j, _, data) = m.cost_terms(&w);
    assert!(
        (data - mean(&all)).abs() < 1e-12 * data,
        "{data} vs {}",
        mean(&all)
    );
    let mut g = vec![0.0; m.dim()];
    assert!((m.loss_grad(&w, &mut g) - j).abs() < 1e-12 * j);
    // A mini-batch: the mean over its samples.
    let batch = [3usize, 17, 0, 36, 5];
    m.set_batch(Some(&batch));
    let fb = m.loss_grad(&w, &mut g);
    assert!((fb - reg - mean(&batch)).abs() < 1e-12 * fb);
    m.set_batch(None);
    assert!((m.loss_grad(&w, &mut g) - j).abs() < 1e-12 * j);
}

#[test]
fn columns_spread_and_non_normality() {
    let c = DMatrix::from_row_slice(2, 2, &[0.3, -1.2, 0.4, 0.1]);
    let mut s = session(&json!({
        "model": {"kind": "continuousLinear", "n": 2, "K": 8, "T": 1.0, "lambda": 0.1},
        "data": {"kind": "population", "R": rows(&jmat())},
        "init": {"kind": "constant", "C": rows(&c)},
        "schedule": {"kind": "constant", "eta": 0.1},
        "steps": 0,
    }));
    s.advance(u64::MAX);
    assert!(s.column("critDist", 0).is_err());
    let col = |s: &Session, name: &str| s.column(name, 0).unwrap()[0];
    assert!(col(&s, "spread") < 1e-15);
    let nn = (&c * c.transpose() - c.transpose() * &c).norm();
    assert!((col(&s, "nonNormality") - nn).abs() < 1e-14);
    let (l, reg, data) = (col(&s, "loss"), col(&s, "reg"), col(&s, "data"));
    assert!((l - reg - data).abs() < 1e-14);
    assert!((reg - 0.05 * c.norm_squared()).abs() < 1e-14);
    let phi = s.matrix("Phi").unwrap();
    assert_eq!((phi.0, phi.1), (2, 2));
    let e = c.exp();
    for i in 0..2 {
        for j in 0..2 {
            assert!((phi.2[i * 2 + j] - e[(i, j)]).abs() < 1e-14);
        }
    }
}

fn err(spec: &Value) -> (ErrorCode, String) {
    match Session::new(&spec.to_string(), HashMap::new()) {
        Ok(_) => panic!("accepted: {spec}"),
        Err(e) => (e.code, e.field),
    }
}

#[test]
fn errors_name_the_full_field_path() {
    let base = example1(4, 0.1, Discretization::Exponential, &jmat());
    let with = |path: &[&str], v: Value| {
        let mut s = base.clone();
        let mut cur = &mut s;
        for p in &path[..path.len() - 1] {
            cur = &mut cur[*p];
        }
        cur[path[path.len() - 1]] = v;
        s
    };
    let samples = |data: Value| {
        let mut s = base.clone();
        s.as_object_mut().unwrap().remove("critical");
        s["data"] = data;
        s
    };
    use ErrorCode::*;
    let cases: Vec<(Value, ErrorCode, &str)> = vec![
        (
            with(&["model", "n"], json!(MAX_N + 1)),
            OutOfRange,
            "model.n",
        ),
        (with(&["model", "n"], json!(0)), OutOfRange, "model.n"),
        (with(&["model", "K"], json!(65537)), OutOfRange, "model.K"),
        (with(&["model", "K"], json!(2.5)), OutOfRange, "model.K"),
        (with(&["model", "T"], json!(0)), OutOfRange, "model.T"),
        (
            with(&["model", "lambda"], json!(-1)),
            OutOfRange,
            "model.lambda",
        ),
        (
            with(&["model", "discretization"], json!("rk4")),
            InvalidSpec,
            "model.discretization",
        ),
        (
            with(&["data", "R"], json!([[0, 1]])),
            ShapeMismatch,
            "data.R",
        ),
        (
            with(&["data", "R"], json!([[0, 1], [1]])),
            ShapeMismatch,
            "data.R[1]",
        ),
        (
            with(&["data", "R"], json!([[0, 1], [1, "x"]])),
            InvalidSpec,
            "data.R[1][1]",
        ),
        (
            with(&["data", "sigma0"], json!([[1, 0.5], [0, 1]])),
            OutOfRange,
            "data.sigma0[1][0]",
        ),
        (
            with(&["data", "sigma0"], json!([[1, 2], [2, 1]])),
            OutOfRange,
            "data.sigma0",
        ),
        (with(&["data", "sigma"], json!(1)), OutOfRange, "data.sigma"),
        (
            with(&["data", "dR"], json!([[1]])),
            ShapeMismatch,
            "data.dR",
        ),
        (
            with(&["data", "kind"], json!("bogus")),
            InvalidSpec,
            "data.kind",
        ),
        (
            with(&["data", "bogus"], json!(1)),
            InvalidSpec,
            "data.bogus",
        ),
        (
            with(&["init", "C"], json!([[1, 2, 3], [1, 2]])),
            ShapeMismatch,
            "init.C[0]",
        ),
        (
            with(&["critical", "C"], json!([[[0, 1], [1, 0]], [[0, 1], [1]]])),
            ShapeMismatch,
            "critical.C[1][1]",
        ),
        (with(&["critical", "C"], json!([])), OutOfRange, "critical"),
        (
            with(&["critical", "bogus"], json!(1)),
            InvalidSpec,
            "critical.bogus",
        ),
        (
            with(&["init"], json!({"kind": "gaussian", "std": -1, "seed": 1})),
            OutOfRange,
            "init.std",
        ),
        (
            with(
                &["init"],
                json!({"kind": "gaussian", "std": 1, "seed": 0.5}),
            ),
            OutOfRange,
            "init.seed",
        ),
        (
            samples(
                json!({"kind": "samples", "R": [[0, 1], [1, 0]], "samples": 0, "noise": 0, "seed": 1}),
            ),
            OutOfRange,
            "data.samples",
        ),
        (
            samples(
                json!({"kind": "samples", "R": [[0, 1], [1, 0]], "samples": 4, "noise": -1, "seed": 1}),
            ),
            OutOfRange,
            "data.noise",
        ),
        (
            with(
                &["data"],
                json!({"kind": "samples", "R": [[0, 1], [1, 0]], "samples": 4, "noise": 0, "seed": 1}),
            ),
            OutOfRange,
            "critical",
        ),
        (
            samples(
                json!({"kind": "samples", "R": [[0, 1], [1, 0]], "samples": 1e12, "noise": 0, "seed": 1}),
            ),
            OutOfRange,
            "data.samples",
        ),
        (
            samples(
                json!({"kind": "samples", "R": [[0, 1], [1, 0]], "samples": 4e9, "noise": 0, "seed": 1}),
            ),
            TooLarge,
            "data.samples",
        ),
    ];
    for (i, (spec, code, field)) in cases.into_iter().enumerate() {
        let got = err(&spec);
        assert_eq!(got, (code, field.to_string()), "case {i}: {spec}");
    }
}

#[test]
fn matrices_travel_inline_or_as_buffers() {
    // The TS layer sends every matrix as {rows, cols} plus a buffer named by its path.
    let c = DMatrix::from_row_slice(2, 2, &[0.1, -1.0, 1.2, 0.3]);
    let inline = example1(3, 0.1, Discretization::Exponential, &c);
    let mut by_buffer = inline.clone();
    let shape = json!({"rows": 2, "cols": 2});
    by_buffer["data"]["R"] = shape.clone();
    by_buffer["init"]["C"] = shape.clone();
    by_buffer["critical"]["C"][0] = shape.clone();
    let flat = |m: &DMatrix<f64>| m.transpose().as_slice().to_vec();
    let bufs = HashMap::from([
        ("data.R".to_string(), flat(&jmat())),
        ("init.C".to_string(), flat(&c)),
        ("critical.C[0]".to_string(), flat(&c)),
    ]);
    let mut a = session(&inline);
    let mut b = Session::new(&by_buffer.to_string(), bufs.clone()).unwrap();
    a.advance(u64::MAX);
    b.advance(u64::MAX);
    assert_eq!(a.params(), b.params());
    assert_eq!(
        a.column("critDist", 0).unwrap(),
        b.column("critDist", 0).unwrap()
    );
    let fail = |spec: &Value, bufs: HashMap<String, Vec<f64>>| {
        let e = Session::new(&spec.to_string(), bufs)
            .err()
            .expect("refused");
        (e.code, e.field)
    };
    let mut missing = bufs.clone();
    missing.remove("init.C");
    assert_eq!(
        fail(&by_buffer, missing),
        (ErrorCode::InvalidRequest, "init.C".to_string())
    );
    let mut wrong = by_buffer.clone();
    wrong["data"]["R"] = json!({"rows": 3, "cols": 2});
    assert_eq!(
        fail(&wrong, bufs.clone()),
        (ErrorCode::ShapeMismatch, "data.R".to_string())
    );
    let mut bogus = by_buffer.clone();
    bogus["data"]["R"]["bogus"] = json!(1);
    assert_eq!(
        fail(&bogus, bufs.clone()),
        (ErrorCode::InvalidSpec, "data.R.bogus".to_string())
    );
    let mut nan = bufs.clone();
    nan.insert("data.R".to_string(), vec![0.0, f64::NAN, 1.0, 0.0]);
    assert_eq!(
        fail(&by_buffer, nan),
        (ErrorCode::NonFinite, "data.R".to_string())
    );
}
