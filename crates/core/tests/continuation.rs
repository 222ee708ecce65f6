//! The matrix exponential, the characteristic equation of Taghvaei, Kim & Mehta (2017) and the
//! `continuation` study, against closed forms, finite differences and the Example 1 reduction.

use autobalance_core::model::continuous::expm::{expm, expm_frechet, expm_frechet_block};
use nalgebra::DMatrix;

fn rng_matrix(n: usize, seed: u64, scale: f64) -> DMatrix<f64> {
    // A small LCG: the tests need fixed, unstructured matrices, not a distribution.
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    DMatrix::from_fn(n, n, |_, _| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale
    })
}

fn rel(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    (a - b).norm() / b.norm().max(1e-300)
}

#[test]
fn expm_rotation_generators() {
    for &theta in &[1e-6, 0.3, 1.0, 2.5, 10.0, 100.0] {
        let a = DMatrix::from_row_slice(2, 2, &[0.0, -theta, theta, 0.0]);
        let (c, s) = (f64::cos(theta), f64::sin(theta));
        let want = DMatrix::from_row_slice(2, 2, &[c, -s, s, c]);
        let got = expm(&a);
        assert!(
            (&got - &want).norm() < 1e-13 * theta.max(1.0),
            "theta {theta}: {got}"
        );
    }
    // a I + b J: e^a (cos b I + sin b J)
    for &(a, b) in &[(0.5, 1.2), (-3.0, 7.5), (2.0, -0.1)] {
        let m = DMatrix::from_row_slice(2, 2, &[a, -b, b, a]);
        let e = f64::exp(a);
        let want =
            DMatrix::from_row_slice(2, 2, &[e * b.cos(), -e * b.sin(), e * b.sin(), e * b.cos()]);
        assert!(rel(&expm(&m), &want) < 1e-13);
    }
    // 3D rotation about a unit axis (Rodrigues)
    let (x, y, z) = (0.48f64, 0.6, 0.64);
    let k = DMatrix::from_row_slice(3, 3, &[0.0, -z, y, z, 0.0, -x, -y, x, 0.0]);
    for &th in &[0.7f64, 3.0, 20.0] {
        let want = DMatrix::identity(3, 3) + &k * th.sin() + &k * &k * (1.0 - th.cos());
        assert!((expm(&(&k * th)) - want).norm() < 1e-12 * th.max(1.0));
    }
}

#[test]
fn expm_nilpotent_and_diagonalizable() {
    // strictly upper triangular 4x4: finite series
    let n = rng_matrix(4, 3, 3.0).upper_triangle()
        - DMatrix::from_diagonal(&rng_matrix(4, 3, 3.0).diagonal());
    let mut want = DMatrix::identity(4, 4);
    let mut term = DMatrix::identity(4, 4);
    for k in 1..4 {
        term = &term * &n / k as f64;
        want += &term;
    }
    assert!(rel(&expm(&n), &want) < 1e-14);
    // V diag(d) V^{-1}
    for seed in 0..5 {
        let v = rng_matrix(5, 100 + seed, 1.0) + DMatrix::identity(5, 5) * 2.0;
        let d = [-4.0, -0.5, 0.0, 1.3, 3.7];
        let vinv = v.clone().try_inverse().unwrap();
        let a = &v * DMatrix::from_diagonal(&nalgebra::DVector::from_row_slice(&d)) * &vinv;
        let want =
            &v * DMatrix::from_diagonal(&nalgebra::DVector::from_iterator(
                5,
                d.iter().map(|x| x.exp()),
            )) * &vinv;
        assert!(
            rel(&expm(&a), &want) < 1e-12,
            "seed {seed}: {}",
            rel(&expm(&a), &want)
        );
    }
}

#[test]
fn expm_series_small_norm_and_nalgebra() {
    for seed in 0..10 {
        for &scale in &[1e-3, 1e-2, 0.05, 0.2] {
            let a = rng_matrix(6, seed, scale);
            let mut want = DMatrix::identity(6, 6);
            let mut term = DMatrix::identity(6, 6);
            for k in 1..30 {
                term = &term * &a / k as f64;
                want += &term;
            }
            assert!(
                rel(&expm(&a), &want) < 2e-15 * 6.0,
                "seed {seed} scale {scale}"
            );
        }
        for &scale in &[0.5, 2.0, 8.0] {
            let a = rng_matrix(7, 50 + seed, scale);
            let want = a.clone().exp();
            assert!(
                rel(&expm(&a), &want) < 1e-11,
                "seed {seed} scale {scale}: {}",
                rel(&expm(&a), &want)
            );
        }
    }
    // e^A e^{-A} = I
    let a = rng_matrix(6, 9, 3.0);
    assert!((expm(&a) * expm(&(-&a)) - DMatrix::identity(6, 6)).norm() < 1e-10);
}

#[test]
fn expm_frechet_vs_finite_differences_and_block() {
    for seed in 0..8 {
        for &scale in &[1e-3, 0.1, 0.6, 1.5, 4.0, 12.0] {
            let n = 2 + (seed as usize % 5);
            let a = rng_matrix(n, seed, scale);
            let e = rng_matrix(n, 1000 + seed, 1.0);
            let (ea, l) = expm_frechet(&a, &e);
            assert!(rel(&ea, &expm(&a)) < 1e-13, "exp part");
            let eps = 1e-5;
            let fd = (expm(&(&a + &e * eps)) - expm(&(&a - &e * eps))) / (2.0 * eps);
            assert!(
                rel(&l, &fd) < 1e-7,
                "seed {seed} scale {scale}: fd {}",
                rel(&l, &fd)
            );
            let (_, lb) = expm_frechet_block(&a, &e);
            assert!(
                rel(&l, &lb) < 1e-11,
                "seed {seed} scale {scale}: block {}",
                rel(&l, &lb)
            );
            // adjoint: <L(A, E), G> = <E, L(A^T, G)>
            let g = rng_matrix(n, 2000 + seed, 1.0);
            let (_, lt) = expm_frechet(&a.transpose(), &g);
            let lhs = l.dot(&g);
            let rhs = e.dot(&lt);
            assert!(
                (lhs - rhs).abs() < 1e-11 * lhs.abs().max(ea.norm()),
                "adjoint {lhs} {rhs}"
            );
        }
    }
}

use autobalance_core::model::continuous::critical::{logarithm, mat_of, vec_of, Problem};
use std::f64::consts::PI;

fn jmat() -> DMatrix<f64> {
    DMatrix::from_row_slice(2, 2, &[0.0, -1.0, 1.0, 0.0])
}

fn random_problem(n: usize, seed: u64) -> Problem {
    // R near a rotation-like matrix with distinct eigenvalues, Sigma0 SPD, dR random
    let r = DMatrix::identity(n, n) + rng_matrix(n, seed, 0.6);
    let m = rng_matrix(n, seed + 7, 0.4);
    let sigma0 = DMatrix::identity(n, n) + &m * m.transpose();
    Problem {
        n,
        t: 1.0,
        r,
        dr: Some(rng_matrix(n, seed + 9, 0.3)),
        sigma0,
    }
}

#[test]
fn jacobian_matches_finite_differences() {
    for (n, seed) in [(2usize, 1u64), (3, 2), (4, 3), (6, 4)] {
        let p = random_problem(n, seed);
        let c = rng_matrix(n, seed + 20, 0.8);
        let (lambda, sigma) = (0.3, 0.2);
        let jac = p.jacobian(&c, lambda, sigma);
        assert!((&jac.g - p.residual(&c, lambda, sigma)).norm() < 1e-14 * jac.g.norm().max(1.0));
        let eps = 1e-6;
        for k in 0..n * n {
            let mut e = DMatrix::zeros(n, n);
            e[(k / n, k % n)] = 1.0;
            let fd = (p.residual(&(&c + &e * eps), lambda, sigma)
                - p.residual(&(&c - &e * eps), lambda, sigma))
                / (2.0 * eps);
            let col = mat_of(jac.jc.column(k).as_slice(), n);
            assert!(
                (&col - &fd).norm() < 1e-7 * fd.norm().max(1.0),
                "n {n} k {k}: {}",
                (&col - &fd).norm()
            );
            // jvp is the same column
            assert!((p.jvp(&c, lambda, sigma, &e) - &col).norm() < 1e-13 * col.norm().max(1.0));
        }
        let fdl = (p.residual(&c, lambda + eps, sigma) - p.residual(&c, lambda - eps, sigma))
            / (2.0 * eps);
        assert!((vec_of(&fdl) - &jac.jl).norm() < 1e-8);
        let fds = (p.residual(&c, lambda, sigma + eps) - p.residual(&c, lambda, sigma - eps))
            / (2.0 * eps);
        assert!((vec_of(&fds) - &jac.js).norm() < 1e-7 * fds.norm().max(1.0));
    }
}

/// RK4 on dX/dt = A_t X (and the running integral of |A_t|^2) with A_t = a_at(C, t).
fn integrate(p: &Problem, c: &DMatrix<f64>, steps: usize) -> (DMatrix<f64>, f64) {
    let h = p.t / steps as f64;
    let mut x = DMatrix::identity(p.n, p.n);
    let mut reg = 0.0;
    for s in 0..steps {
        let t = s as f64 * h;
        let (a0, a1, a2) = (p.a_at(c, t), p.a_at(c, t + h / 2.0), p.a_at(c, t + h));
        let k1 = &a0 * &x;
        let k2 = &a1 * (&x + &k1 * (h / 2.0));
        let k3 = &a1 * (&x + &k2 * (h / 2.0));
        let k4 = &a2 * (&x + &k3 * h);
        x += (k1 + k2 * 2.0 + k3 * 2.0 + k4) * (h / 6.0);
        reg += h / 6.0 * (a0.norm_squared() + 4.0 * a1.norm_squared() + a2.norm_squared());
    }
    (x, reg)
}

#[test]
fn cost_matches_the_integrated_trajectory() {
    for (n, seed) in [(2usize, 11u64), (4, 12), (6, 13)] {
        let p = random_problem(n, seed);
        let c = rng_matrix(n, seed + 30, 1.2);
        let (x, reg_int) = integrate(&p, &c, 4000);
        let f = p.f_of(&c);
        assert!(
            (&x - &f).norm() < 1e-10 * f.norm(),
            "n {n}: X_T vs F {}",
            (&x - &f).norm()
        );
        let (lambda, sigma) = (0.7, -0.4);
        let (j, reg, data) = p.cost(&c, lambda, sigma);
        assert!((reg - 0.5 * lambda * reg_int).abs() < 1e-10 * reg);
        let d = &x - p.r_at(sigma);
        let data_int = 0.5 * (d.transpose() * &d * &p.sigma0).trace();
        assert!((data - data_int).abs() < 1e-9 * data.max(1.0));
        assert!((j - reg - data).abs() < 1e-14 * j.abs().max(1.0));
    }
}

#[test]
fn logarithm_sheets_of_a_rotation_and_a_random_matrix() {
    for sheet in -3i64..=3 {
        let l = logarithm(&jmat(), sheet).unwrap();
        let want = jmat() * (PI / 2.0 + 2.0 * PI * sheet as f64);
        assert!(
            (&l - &want).norm() < 1e-12 * want.norm(),
            "sheet {sheet}: {l}"
        );
    }
    let p = random_problem(6, 5);
    for sheet in -1..=1 {
        let l = logarithm(&p.r, sheet).unwrap();
        assert!((expm(&l) - &p.r).norm() < 1e-10 * p.r.norm());
    }
    let l0 = logarithm(&p.r, 0).unwrap();
    let l1 = logarithm(&p.r, 1).unwrap();
    assert!(
        (l0 - l1).norm() > 1.0,
        "sheet 1 differs from the principal one"
    );
    // errors
    let neg = DMatrix::from_row_slice(2, 2, &[-1.0, 0.0, 0.0, 2.0]);
    assert_eq!(logarithm(&neg, 0).unwrap_err().field, "R");
    let defective = DMatrix::from_row_slice(2, 2, &[1.0, 1.0, 0.0, 1.0]);
    assert!(logarithm(&defective, 0).is_err());
}

#[test]
fn theorem2_first_order_expansion_for_normal_r() {
    // R normal: Q blockdiag(rho_k rotation(theta_k)) Q^T with Q orthogonal; Sigma0 = I
    let n = 4;
    let q = rng_matrix(n, 77, 1.0).qr().q();
    let blk = |rho: f64, th: f64| {
        [
            rho * th.cos(),
            -rho * th.sin(),
            rho * th.sin(),
            rho * th.cos(),
        ]
    };
    let (b1, b2) = (blk(1.3, 0.9), blk(0.8, 2.1));
    let mut d = DMatrix::zeros(n, n);
    d.view_mut((0, 0), (2, 2))
        .copy_from(&DMatrix::from_row_slice(2, 2, &b1));
    d.view_mut((2, 2), (2, 2))
        .copy_from(&DMatrix::from_row_slice(2, 2, &b2));
    let r = &q * d * q.transpose();
    for &t in &[1.0, 2.0] {
        let p = Problem::new(t, r.clone());
        let log_r = logarithm(&r, 0).unwrap();
        let c0 = &log_r / t;
        let slope = -(&r * r.transpose()).try_inverse().unwrap() * &log_r / (t * t);
        let mut errs = Vec::new();
        for &lambda in &[1e-2, 5e-3, 2.5e-3] {
            let c = p
                .newton(&c0, lambda, 0.0, 1e-13, 30)
                .expect("newton converges");
            let err = (&c - (&c0 + &slope * lambda)).norm();
            errs.push(err);
        }
        // O(lambda^2): halving lambda divides the error by about 4
        assert!(
            errs[0] / errs[1] > 3.5 && errs[1] / errs[2] > 3.5,
            "T {t}: {errs:?}"
        );
        assert!(errs[0] < 1e-2 * 1e-2 * 100.0, "{errs:?}");
    }
}

use autobalance_core::study::Study;
use serde_json::{json, Value};

fn run_study(spec: Value) -> (Study, Value) {
    let mut s = Study::new(&spec.to_string(), Default::default()).unwrap();
    while !s.status().finished {
        s.advance(50).unwrap();
    }
    let out: Value = serde_json::from_str(&s.result_json()).unwrap();
    (s, out)
}

fn col(s: &Study, name: &str) -> Vec<f64> {
    s.column(name, 0).unwrap().to_vec()
}

fn example1(sheet: i64, extra: Value) -> Value {
    let mut spec = json!({
        "kind": "continuation",
        "problem": {"n": 2, "T": 1, "R": [[0, -1], [1, 0]]},
        "parameter": "lambda", "lambda": 0, "range": [0, 2],
        "starts": [{"kind": "logarithm", "sheet": sheet}],
        "maxPoints": 3000, "cMax": 40,
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    spec
}

/// Every row: the residual column is small and matches a recomputation.
fn check_residuals(
    s: &Study,
    n: usize,
    t: f64,
    r: &DMatrix<f64>,
    dr: Option<&DMatrix<f64>>,
    tol: f64,
) {
    let lam = col(s, "lambda");
    let sig = col(s, "sigma");
    let res = col(s, "residual");
    let mut p = Problem::new(t, r.clone());
    p.dr = dr.cloned();
    let cs: Vec<Vec<f64>> = (0..n * n)
        .map(|k| col(s, &format!("c{}{}", k / n + 1, k % n + 1)))
        .collect();
    for i in 0..lam.len() {
        let c = mat_of(&cs.iter().map(|v| v[i]).collect::<Vec<_>>(), n);
        let g = p.residual(&c, lam[i], sig[i]).norm();
        assert!(
            g <= tol && res[i] <= tol,
            "row {i}: residual {g} (column {})",
            res[i]
        );
        assert!((g - res[i]).abs() <= 1e-14 + 1e-12 * g);
    }
}

/// The Example 1 fold from the reduction C = a I + b J: Newton on (a, b, lambda) for
/// lambda a = e^a sin b - e^{2a}, lambda b = e^a cos b, (lambda + e^{2a})^2 = lambda^2 (a^2 + b^2).
fn oracle_fold(a: f64, b: f64, l: f64) -> (f64, f64, f64) {
    let f = |x: [f64; 3]| {
        let (a, b, l) = (x[0], x[1], x[2]);
        let e = a.exp();
        [
            l * a - e * b.sin() + e * e,
            l * b - e * b.cos(),
            (l + e * e).powi(2) - l * l * (a * a + b * b),
        ]
    };
    let mut x = [a, b, l];
    for _ in 0..50 {
        let fx = f(x);
        let mut jm = nalgebra::Matrix3::zeros();
        for k in 0..3 {
            let h = 1e-7 * (1.0 + x[k].abs());
            let (mut xp, mut xm) = (x, x);
            xp[k] += h;
            xm[k] -= h;
            let (fp, fm) = (f(xp), f(xm));
            for i in 0..3 {
                jm[(i, k)] = (fp[i] - fm[i]) / (2.0 * h);
            }
        }
        let d = jm
            .lu()
            .solve(&nalgebra::Vector3::new(fx[0], fx[1], fx[2]))
            .unwrap();
        for k in 0..3 {
            x[k] -= d[k];
        }
        if d.norm() < 1e-15 {
            break;
        }
    }
    (x[0], x[1], x[2])
}

#[test]
fn example1_branches_against_the_reduction() {
    let r = jmat();
    let mut cost_near = Vec::new();
    for sheet in [0i64, 1, -1, 2, -2] {
        let (s, out) = run_study(example1(sheet, json!({})));
        check_residuals(&s, 2, 1.0, &r, None, 1e-9);
        let (lam, j) = (col(&s, "lambda"), col(&s, "J"));
        let (c11, c12, c21, c22) = (
            col(&s, "c11"),
            col(&s, "c12"),
            col(&s, "c21"),
            col(&s, "c22"),
        );
        for i in 0..lam.len() {
            // the branch stays in a I + b J and solves the reduced equations
            assert!(
                (c11[i] - c22[i]).abs() < 1e-9 && (c12[i] + c21[i]).abs() < 1e-9,
                "row {i}"
            );
            let (a, b, l) = (c11[i], c21[i], lam[i]);
            let e = a.exp();
            assert!(
                (l * a - e * b.sin() + e * e).abs() < 1e-9 && (l * b - e * b.cos()).abs() < 1e-9
            );
            let jr = l * (a * a + b * b) + e * e - 2.0 * e * b.sin() + 1.0;
            assert!(
                (j[i] - jr).abs() < 1e-9 * jr.max(1.0),
                "row {i}: J {} vs {jr}",
                j[i]
            );
        }
        // the start is (pi/2 + 2 pi n) J at lambda = 0
        assert_eq!(lam[0], 0.0);
        assert!((c21[0] - (PI / 2.0 + 2.0 * PI * sheet as f64)).abs() < 1e-10);
        cost_near.push(j[1]);
        let folds = out["folds"].as_array().unwrap();
        let fold_col = col(&s, "fold");
        if sheet == 0 {
            assert!(
                folds.is_empty(),
                "the principal branch has no fold on [0, 2]"
            );
            assert_eq!(out["branches"][0]["directions"][0]["stop"], "range");
            assert_eq!(*lam.last().unwrap(), 2.0);
            continue;
        }
        assert_eq!(folds.len(), 1, "sheet {sheet}: {folds:?}");
        let row = folds[0]["row"].as_u64().unwrap() as usize;
        assert_eq!(fold_col[row], 1.0);
        let (a, b, l) = oracle_fold(c11[row], c21[row], lam[row]);
        assert!(
            (l - lam[row]).abs() < 1e-10,
            "sheet {sheet}: fold {} vs oracle {l}",
            lam[row]
        );
        assert!((a - c11[row]).abs() < 1e-8 && (b - c21[row]).abs() < 1e-8);
        // it is the largest lambda of the branch: the tangent turns there
        let lmax = lam.iter().copied().fold(f64::MIN, f64::max);
        assert!((lmax - lam[row]).abs() < 1e-12);
        // beyond the fold the far solution runs off: cMax, with the cost tending to 1 as lambda -> 0
        assert_eq!(out["branches"][0]["directions"][0]["stop"], "cMax");
        let last = lam.len() - 1;
        assert!(
            lam[last] < 1e-3 && (j[last] - 1.0).abs() < 0.05,
            "lambda {} J {}",
            lam[last],
            j[last]
        );
    }
}

#[test]
fn example2_in_sigma_at_lambda_zero() {
    let spec = json!({
        "kind": "continuation",
        "problem": {"n": 2, "T": 1, "R": [[0, -1], [1, 0]], "dR": [[0, 0], [0, 1]]},
        "parameter": "sigma", "lambda": 0, "sigma": 0, "range": [0, PI / 2.0],
        "starts": [{"kind": "point", "C": [[0, -PI / 2.0], [PI / 2.0, 0]]}],
    });
    let (s, out) = run_study(spec);
    let r = jmat();
    let dr = DMatrix::from_row_slice(2, 2, &[0.0, 0.0, 0.0, 1.0]);
    check_residuals(&s, 2, 1.0, &r, Some(&dr), 1e-9);
    let sig = col(&s, "sigma");
    assert_eq!(
        out["branches"][0]["directions"][0]["stop"], "range",
        "{out}"
    );
    let last = sig.len() - 1;
    assert_eq!(sig[last], PI / 2.0);
    let c = mat_of(&["c11", "c12", "c21", "c22"].map(|k| col(&s, k)[last]), 2);
    // at lambda = 0 the critical point is F = R exactly, and it is not normal (A_t not constant)
    let p = Problem {
        n: 2,
        t: 1.0,
        r: r.clone(),
        dr: Some(dr.clone()),
        sigma0: DMatrix::identity(2, 2),
    };
    let rs = p.r_at(PI / 2.0);
    assert!((p.f_of(&c) - &rs).norm() < 1e-9);
    let non_normal = (&c * c.transpose() - c.transpose() * &c).norm();
    assert!(non_normal > 0.1, "non-normal {non_normal}");
    // the paper's 3.76: int tr(A^T A) dt of the constant solution log(R)/T
    let log_r = logarithm(&rs, 0).unwrap();
    let constant = log_r.norm_squared();
    assert!((constant - 3.76).abs() < 0.005, "{constant}");
    let found = c.norm_squared();
    assert!(
        found < constant,
        "non-constant {found} vs constant {constant}"
    );
    println!(
        "Example 2: constant {constant}, non-constant {found}, {} rows",
        sig.len()
    );
}

fn random_start(n: usize, seed: u64) -> (DMatrix<f64>, DMatrix<f64>, Value) {
    let m = rng_matrix(n, seed, 0.9);
    let r = expm(&m);
    let q = rng_matrix(n, seed + 5, 0.3);
    let sigma0 = DMatrix::identity(n, n) + &q * q.transpose();
    let rows = |a: &DMatrix<f64>| -> Value {
        json!((0..n)
            .map(|i| (0..n).map(|j| a[(i, j)]).collect::<Vec<_>>())
            .collect::<Vec<_>>())
    };
    let spec = json!({
        "kind": "continuation",
        "problem": {"n": n, "T": 1.0, "R": rows(&r), "sigma0": rows(&sigma0)},
        "parameter": "lambda", "lambda": 0, "range": [0, 3],
        "starts": [{"kind": "logarithm", "sheet": 0}, {"kind": "largeLambda"}],
        "maxPoints": 400, "cMax": 60,
    });
    (r, sigma0, spec)
}

#[test]
fn random_4x4_and_6x6_problems_continue() {
    for (n, seed) in [(4usize, 41u64), (6, 61)] {
        let (r, sigma0, spec) = random_start(n, seed);
        let t0 = std::time::Instant::now();
        let (s, out) = run_study(spec);
        let elapsed = t0.elapsed();
        let lam = col(&s, "lambda");
        let res = col(&s, "residual");
        assert!(res.iter().all(|&g| g < 1e-9), "n {n}");
        // recompute with Sigma0
        let p = Problem {
            n,
            t: 1.0,
            r: r.clone(),
            dr: None,
            sigma0,
        };
        let cs: Vec<Vec<f64>> = (0..n * n)
            .map(|k| col(&s, &format!("c{}{}", k / n + 1, k % n + 1)))
            .collect();
        for i in 0..lam.len() {
            let c = mat_of(&cs.iter().map(|v| v[i]).collect::<Vec<_>>(), n);
            assert!(p.residual(&c, lam[i], 0.0).norm() < 1e-9);
        }
        for b in out["branches"].as_array().unwrap() {
            assert_eq!(b["startSolved"], true, "n {n}: {b}");
            for d in b["directions"].as_array().unwrap() {
                assert_ne!(d["stop"], "stepTooSmall", "n {n}: {b}");
            }
        }
        for f in out["folds"].as_array().unwrap() {
            assert!(
                f["lastUpdate"].as_f64().unwrap() < 1e-10 * (1.0 + f["lambda"].as_f64().unwrap())
            );
        }
        // the principal branch reaches lambda = 3 and the large-lambda start lies on it
        assert!(lam.contains(&3.0));
        println!(
            "n {n}: {} rows, {} folds, {:?}; {}",
            lam.len(),
            out["folds"].as_array().unwrap().len(),
            elapsed,
            out["branches"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["directions"].to_string())
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
}

#[test]
fn example1_constant_verdicts_min_before_the_fold_saddle_after() {
    for sheet in [1i64, -1, 2] {
        let (s, out) = run_study(example1(
            sheet,
            json!({"verdicts": {"every": 1}, "cMax": 25}),
        ));
        let (lam, fold, v, m) = (
            col(&s, "lambda"),
            col(&s, "fold"),
            col(&s, "verdictConst"),
            col(&s, "minEigConst"),
        );
        let row = fold.iter().position(|&f| f == 1.0).expect("a fold");
        let near: Vec<f64> = (1..row).map(|i| v[i]).collect();
        let far: Vec<f64> = (row + 1..lam.len()).map(|i| v[i]).collect();
        println!(
            "sheet {sheet}: fold minEig {} near {:?} far {:?}",
            m[row],
            &near[..near.len().min(5)],
            &far[..far.len().min(5)]
        );
        assert!(
            near.iter().all(|&x| x == 1.0),
            "sheet {sheet}: near {near:?}"
        );
        assert!(far.iter().all(|&x| x == -1.0), "sheet {sheet}: far {far:?}");
        assert!(m[row].abs() < 1e-5, "the fold is degenerate: {}", m[row]);
        let pts = out["verdicts"]["points"].as_array().unwrap();
        assert_eq!(pts.len(), lam.len());
        assert!(pts.iter().all(|p| p["normal"] == true));
    }
}

/// Timings for docs/continuation.md: `cargo test --release --test continuation -- --ignored --nocapture timings`.
#[test]
#[ignore]
fn timings() {
    for sheet in [1i64, -1, 2, -2] {
        let t0 = std::time::Instant::now();
        let (s, out) = run_study(example1(sheet, json!({"maxPoints": 30})));
        let through = t0.elapsed();
        let t1 = std::time::Instant::now();
        let (s2, _) = run_study(example1(sheet, json!({})));
        let full = t1.elapsed();
        println!(
            "sheet {sheet}: through the fold (30 points, fold lambda {}) {:.1} ms; whole branch to cMax 40 ({} rows) {:.1} ms",
            out["folds"][0]["lambda"], through.as_secs_f64() * 1e3, col(&s2, "lambda").len(), full.as_secs_f64() * 1e3
        );
        assert!(!col(&s, "lambda").is_empty());
    }
    for (n, seed) in [(4usize, 41u64), (6, 61)] {
        let (_, _, spec) = random_start(n, seed);
        let t0 = std::time::Instant::now();
        let (s, _) = run_study(spec);
        println!(
            "random {n}x{n}: {} rows in {:.1} ms",
            col(&s, "lambda").len(),
            t0.elapsed().as_secs_f64() * 1e3
        );
    }
}

#[test]
fn time_varying_verdicts_from_the_k_layer_model() {
    // Example 1, sheet 1, a few points with verdicts for K = 1, 4, 16 (exponential layers)
    let (s, out) = run_study(example1(
        1,
        json!({"maxPoints": 40, "verdicts": {"K": [1, 4, 16], "every": 10}}),
    ));
    let pts = out["verdicts"]["points"].as_array().unwrap();
    assert!(pts.len() >= 4);
    let (vt, mt) = (col(&s, "verdictTime"), col(&s, "minEigTime"));
    for p in pts {
        let row = p["row"].as_u64().unwrap() as usize;
        let reduced = p["constant"]["minEig"].as_f64().unwrap();
        let time = p["time"].as_array().unwrap();
        assert_eq!(time.len(), 3);
        for t in time {
            // C is normal, A_t = C is constant: the K-layer exponential model restricted to
            // constant directions is the reduced cost, for every K
            let kc = t["minEigConst"].as_f64().unwrap();
            assert!(
                (kc - reduced).abs() < 1e-5 * (1.0 + reduced.abs()),
                "K {}: {kc} vs reduced {reduced}",
                t["K"]
            );
            // the sampled critical point is critical for the K-layer model too
            assert!(t["gradNorm"].as_f64().unwrap() < 1e-8, "{t}");
            // more directions: the full minimum is at most the restricted one
            assert!(t["minEig"].as_f64().unwrap() <= kc + 1e-9);
        }
        let last = &time[2];
        assert_eq!(mt[row], last["minEig"].as_f64().unwrap());
        assert_eq!(vt[row], last["verdict"].as_f64().unwrap());
    }
    println!("{}", serde_json::to_string(pts).unwrap());
}

/// nalgebra's real Schur iteration cycles forever on this R = e^M, with
/// M_ij = 0.3 sin(1.7 i + 2.3 j + 0.5) and e^M by a Taylor series in JS (the bench's 6 x 6 case);
/// the bounded decompositions of `decomp` retry on a reflected copy, and the continuation runs.
#[test]
fn a_6x6_r_on_which_the_plain_schur_iteration_cycles_continues() {
    let r = json!([
        [
            1.155497937216742,
            0.17080906901524223,
            -0.38310991102071257,
            0.33970482544025343,
            -0.06956444798706585,
            -0.24700657818555405
        ],
        [
            0.18717931280659822,
            0.7332810937277722,
            0.16823751053573513,
            0.042533667972684285,
            -0.22491583667028936,
            0.25717838958632194
        ],
        [
            -0.20373198501903966,
            -0.10207854381984083,
            1.3397569570876837,
            -0.3506652833212018,
            0.12752278245674242,
            0.18073453908557968
        ],
        [
            -0.13467982364339523,
            0.29302342298601025,
            -0.2557891371744325,
            1.04782891422035,
            0.192054619836695,
            -0.30375169016675463
        ],
        [
            0.23843749255732707,
            0.02656963431708851,
            -0.27384291303662633,
            0.33834029879035166,
            0.8229868568033014,
            -0.10246107326368684
        ],
        [
            0.07323710734411164,
            -0.2998701251804146,
            0.3263554404676673,
            -0.13501548361522878,
            -0.146440281999015,
            1.330154780506027
        ]
    ]);
    let (s, _) = run_study(json!({
        "kind": "continuation", "problem": {"n": 6, "T": 1.0, "R": r},
        "parameter": "lambda", "lambda": 0, "range": [0, 1],
        "starts": [{"kind": "logarithm", "sheet": 0}], "maxPoints": 20, "cMax": 40,
    }));
    let lam = col(&s, "lambda");
    assert!(lam.len() >= 10, "{lam:?}");
    assert!(col(&s, "residual").iter().all(|&g| g < 1e-9));
}
