//! Dense decompositions with a bound on their iterations.
//!
//! nalgebra's convenience calls (`complex_eigenvalues`, `symmetric_eigenvalues`, `svd`,
//! `singular_values`) iterate without a limit, and its real Schur iteration cycles forever on some
//! ordinary matrices (dimforge/nalgebra#611, #764, #1528; found here on a 6 x 6 `e^M` whose
//! logarithm a continuation started from). A loop that never returns cannot be stopped from
//! JavaScript, so the core calls these wrappers instead: each gives `None` when the iteration does
//! not converge within its bound, and the caller turns that into a typed error or a NaN.
//!
//! The Schur iteration, when it does not converge, is retried on two fixed orthogonal similarity
//! transforms of the matrix (Householder reflections): the eigenvalues are the same, the shifts
//! are not, which breaks the cycles seen in practice (the same role as LAPACK's exceptional
//! shifts). Deterministic: the same input gives the same bits on every target.

use nalgebra::{Complex, DMatrix, DVector, Schur, SymmetricEigen, SymmetricTridiagonal, SVD};

/// The tolerance of nalgebra's own `svd` (5 machine epsilons): the same bits as its unbounded call.
const SVD_EPS: f64 = 5.0 * f64::EPSILON;

/// Iterations allowed per decomposition of an `n x n` matrix (LAPACK allows 30 per eigenvalue
/// in its QR iterations; this is more generous).
fn max_iterations(n: usize) -> usize {
    1000 + 100 * n
}

/// The Householder reflection `I - 2 w w^T / |w|^2` with `w_i = 1 + ((i * step) mod 7)`.
fn reflection(n: usize, step: usize) -> DMatrix<f64> {
    let w = DVector::from_fn(n, |i, _| 1.0 + ((i * step) % 7) as f64);
    let ww = w.norm_squared();
    DMatrix::identity(n, n) - (&w * w.transpose()) * (2.0 / ww)
}

/// The eigenvalues of a real square matrix, or `None` when its Schur iteration does not
/// converge (also after the two retries on reflected copies) or the matrix is not finite.
pub fn complex_eigenvalues(m: &DMatrix<f64>) -> Option<DVector<Complex<f64>>> {
    let n = m.nrows();
    if n != m.ncols() || m.iter().any(|x| !x.is_finite()) {
        return None;
    }
    if n == 0 {
        return Some(DVector::zeros(0));
    }
    let cap = max_iterations(n);
    if let Some(s) = Schur::try_new(m.clone(), f64::EPSILON, cap) {
        return Some(s.complex_eigenvalues());
    }
    for step in [3, 5] {
        let q = reflection(n, step);
        let similar = &q * m * &q;
        if let Some(s) = Schur::try_new(similar, f64::EPSILON, cap) {
            return Some(s.complex_eigenvalues());
        }
    }
    None
}

/// The eigenvalues of a symmetric matrix (its lower triangle is read), or `None` when the
/// iteration does not converge or the matrix is not finite.
pub fn symmetric_eigenvalues(m: &DMatrix<f64>) -> Option<DVector<f64>> {
    let n = m.nrows();
    if n != m.ncols() || m.iter().any(|x| !x.is_finite()) {
        return None;
    }
    SymmetricEigen::try_new(m.clone(), f64::EPSILON, max_iterations(n)).map(|e| e.eigenvalues)
}

/// The smallest and largest eigenvalue of a symmetric matrix (its lower triangle is read), or
/// `None` when the matrix is empty or not finite.
///
/// Householder tridiagonalization (nalgebra's `SymmetricTridiagonal`, the same first stage as
/// `symmetric_eigenvalues`), then bisection on the tridiagonal matrix with Sturm counts
/// (Kahan's LDL^T recurrence with LAPACK dstebz's pivot guard): no eigenvectors and no iteration
/// that can fail to converge, so it always returns and costs the tridiagonalization alone
/// (4n^3/3 flops; 0.65 s at n = 1000 against 2.4 s for the eigen decomposition with vectors on
/// a Zen 1/2 EPYC). The bisection stops when the bracket is as narrow as floating point allows
/// (two machine epsilons of its end, or adjacent doubles): the eigenvalues of the tridiagonal
/// matrix to that accuracy, so the error is the tridiagonalization's backward error,
/// O(eps ||A||_2), as for the QR iteration.
pub fn symmetric_extremes(m: &DMatrix<f64>) -> Option<(f64, f64)> {
    let n = m.nrows();
    if n == 0 || n != m.ncols() || m.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let (d, e) = if n == 1 {
        (DVector::from_element(1, m[(0, 0)]), DVector::zeros(0))
    } else {
        SymmetricTridiagonal::new(m.clone()).unpack_tridiagonal()
    };
    let d: Vec<f64> = d.iter().copied().collect();
    let e2: Vec<f64> = e.iter().map(|x| x * x).collect();
    if d.iter().chain(&e2).any(|x| !x.is_finite()) {
        return None;
    }
    Some(tridiagonal_extremes(&d, &e2))
}

/// Smallest and largest eigenvalue of the symmetric tridiagonal matrix with diagonal `d` and
/// squared off-diagonal `e2` (`e2.len() == d.len() - 1`), by bisection.
fn tridiagonal_extremes(d: &[f64], e2: &[f64]) -> (f64, f64) {
    let n = d.len();
    let eps = f64::EPSILON;
    // LAPACK dstebz: the smallest pivot allowed.
    let pivmin = f64::MIN_POSITIVE * e2.iter().fold(1.0f64, |a, &x| a.max(x));
    // The number of eigenvalues below x.
    let below = |x: f64| -> usize {
        let mut c = 0;
        let mut q = d[0] - x;
        if q.abs() < pivmin {
            q = -pivmin;
        }
        if q < 0.0 {
            c += 1;
        }
        for i in 1..n {
            q = d[i] - x - e2[i - 1] / q;
            if q.abs() < pivmin {
                q = -pivmin;
            }
            if q < 0.0 {
                c += 1;
            }
        }
        c
    };
    // Gerschgorin's interval, widened as dstebz does.
    let mut gl = f64::INFINITY;
    let mut gu = f64::NEG_INFINITY;
    for i in 0..n {
        let r =
            if i > 0 { e2[i - 1].sqrt() } else { 0.0 } + if i + 1 < n { e2[i].sqrt() } else { 0.0 };
        gl = gl.min(d[i] - r);
        gu = gu.max(d[i] + r);
    }
    let tnorm = gl.abs().max(gu.abs());
    let widen = 2.1 * (tnorm * eps * n as f64 + 2.0 * pivmin);
    let (gl, gu) = (gl - widen, gu + widen);
    // Bisection for the eigenvalue with `k` eigenvalues below it (k = 0: the smallest; k = n - 1:
    // the largest): the bracket keeps below(lo) <= k < below(hi).
    let bisect = |k: usize| -> f64 {
        let (mut lo, mut hi) = (gl, gu);
        loop {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi || hi - lo <= 2.0 * eps * lo.abs().max(hi.abs()) {
                return mid;
            }
            if below(mid) > k {
                hi = mid;
            } else {
                lo = mid;
            }
        }
    };
    (bisect(0), bisect(n - 1))
}

/// The singular value decomposition (with `U` and/or `V^T` as asked), or `None` when the
/// iteration does not converge or the matrix is not finite.
pub fn svd(
    m: &DMatrix<f64>,
    compute_u: bool,
    compute_v: bool,
) -> Option<SVD<f64, nalgebra::Dyn, nalgebra::Dyn>> {
    if m.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let n = m.nrows().max(m.ncols());
    SVD::try_new(m.clone(), compute_u, compute_v, SVD_EPS, max_iterations(n))
}

/// The SVD of a complex matrix (see [`svd`]).
pub fn svd_complex(
    m: &DMatrix<Complex<f64>>,
    compute_u: bool,
    compute_v: bool,
) -> Option<SVD<Complex<f64>, nalgebra::Dyn, nalgebra::Dyn>> {
    if m.iter().any(|x| !x.re.is_finite() || !x.im.is_finite()) {
        return None;
    }
    let n = m.nrows().max(m.ncols());
    SVD::try_new(m.clone(), compute_u, compute_v, SVD_EPS, max_iterations(n))
}

/// The singular values (see [`svd`]).
pub fn singular_values(m: &DMatrix<f64>) -> Option<DVector<f64>> {
    svd(m, false, false).map(|s| s.singular_values)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The matrix of nalgebra#611 (a companion matrix) on which the plain Schur call loops.
    #[test]
    fn companion_matrix_of_nalgebra_611_converges_or_says_so() {
        let n = 11;
        let mut m = DMatrix::zeros(n, n);
        m[(0, n - 1)] = 1.7748092111017977;
        for i in 1..n {
            m[(i, i - 1)] = 1.0;
        }
        let e = complex_eigenvalues(&m).expect("converges after a reflection");
        // the eigenvalues are the 11th roots of 1.7748...: all of modulus 1.7748^(1/11)
        let r = 1.7748092111017977f64.powf(1.0 / 11.0);
        for z in e.iter() {
            assert!((z.norm() - r).abs() < 1e-10, "{z}");
        }
    }

    /// The extremes by bisection against the full symmetric eigen decomposition.
    #[test]
    fn symmetric_extremes_agree_with_the_eigen_decomposition() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        for &n in &[1usize, 2, 3, 7, 40, 150] {
            for scale in [1e-8, 1.0, 1e6] {
                let a = DMatrix::from_fn(n, n, |_, _| next() * scale);
                let s = (&a + a.transpose()) * 0.5;
                let e = SymmetricEigen::new(s.clone()).eigenvalues;
                let (lo, hi) = symmetric_extremes(&s).unwrap();
                let norm = e.iter().fold(0.0f64, |x, v| x.max(v.abs()));
                let tol = 64.0 * f64::EPSILON * n as f64 * norm;
                assert!((lo - e.min()).abs() <= tol, "n {n} min {lo} vs {}", e.min());
                assert!((hi - e.max()).abs() <= tol, "n {n} max {hi} vs {}", e.max());
            }
        }
        // A PSD Gram matrix of rank 3 in dimension 30: lambda_min = 0 to rounding.
        let x = DMatrix::from_fn(30, 3, |_, _| next());
        let g = &x * x.transpose();
        let (lo, hi) = symmetric_extremes(&g).unwrap();
        let e = SymmetricEigen::new(g.clone()).eigenvalues;
        assert!(lo.abs() <= 1e-13 * hi, "{lo}");
        assert!((hi - e.max()).abs() <= 1e-13 * hi);
        // Repeated and clustered eigenvalues: Q diag Q^T with a known spectrum.
        let q = reflection(9, 3);
        let spec = [-2.0, -2.0, -2.0, 0.5, 0.5, 1.0, 3.0, 3.0, 3.0 + 1e-12];
        let dm = DMatrix::from_diagonal(&DVector::from_row_slice(&spec));
        let m = &q * dm * q.transpose();
        let (lo, hi) = symmetric_extremes(&m).unwrap();
        assert!((lo + 2.0).abs() < 1e-14 * 8.0, "{lo}");
        assert!((hi - (3.0 + 1e-12)).abs() < 1e-14 * 8.0, "{hi}");
        // A diagonal matrix (zero off-diagonal: pivots guarded) and a zero matrix.
        let dg = DMatrix::from_diagonal(&DVector::from_row_slice(&[4.0, -1.0, 0.0, 2.5]));
        let (lo, hi) = symmetric_extremes(&dg).unwrap();
        assert!((lo + 1.0).abs() <= 4.0 * f64::EPSILON && (hi - 4.0).abs() <= 16.0 * f64::EPSILON);
        let (lo, hi) = symmetric_extremes(&DMatrix::zeros(5, 5)).unwrap();
        assert!(lo.abs() < 1e-300 && hi.abs() < 1e-300);
        // Only the lower triangle is read.
        let mut up = s_lower_only();
        up[(0, 2)] = 99.0;
        assert_eq!(symmetric_extremes(&up), symmetric_extremes(&s_lower_only()));
        assert!(symmetric_extremes(&DMatrix::zeros(0, 0)).is_none());
        let mut bad = DMatrix::<f64>::identity(3, 3);
        bad[(2, 1)] = f64::INFINITY;
        assert!(symmetric_extremes(&bad).is_none());
    }

    fn s_lower_only() -> DMatrix<f64> {
        DMatrix::from_fn(4, 4, |i, j| {
            let (a, b) = if i >= j { (i, j) } else { (j, i) };
            (a as f64 * 1.3 - b as f64 * 0.4).cos()
        })
    }

    #[test]
    fn zero_and_non_finite_matrices_do_not_hang() {
        let z = DMatrix::<f64>::zeros(6, 6);
        if let Some(e) = complex_eigenvalues(&z) {
            assert!(e.iter().all(|x| x.norm() == 0.0));
        }
        let mut bad = DMatrix::<f64>::identity(3, 3);
        bad[(0, 1)] = f64::NAN;
        assert!(complex_eigenvalues(&bad).is_none());
        assert!(symmetric_eigenvalues(&bad).is_none());
        assert!(svd(&bad, true, true).is_none());
        assert_eq!(symmetric_eigenvalues(&z).unwrap().len(), 6);
    }

    #[test]
    fn agree_with_the_unbounded_calls_on_ordinary_matrices() {
        let m = DMatrix::from_fn(5, 5, |i, j| (1.3 * i as f64 + 0.7 * j as f64).sin());
        let a = complex_eigenvalues(&m).unwrap();
        let b = m.complex_eigenvalues();
        for (x, y) in a.iter().zip(b.iter()) {
            assert_eq!(x, y);
        }
        let s = (&m + m.transpose()) * 0.5;
        assert_eq!(
            symmetric_eigenvalues(&s).unwrap(),
            s.symmetric_eigenvalues()
        );
        assert_eq!(singular_values(&m).unwrap(), m.singular_values());
        let (a, b) = (svd(&m, true, true).unwrap(), m.clone().svd(true, true));
        assert_eq!((a.u, a.v_t), (b.u, b.v_t));
    }
}
