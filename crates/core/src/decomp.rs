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

use nalgebra::{Complex, DMatrix, DVector, Schur, SymmetricEigen, SVD};

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
