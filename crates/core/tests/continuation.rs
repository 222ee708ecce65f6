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
