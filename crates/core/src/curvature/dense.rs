//! Dense Hessian: assembled column by column from Hessian-vector products, symmetrized, and
//! diagonalized with nalgebra's symmetric eigen-solver (Householder tridiagonalization + implicit
//! QR). O(n) HVPs, O(n^2) memory, O(n^3) time: for small problems and as the reference.

use nalgebra::{DMatrix, SymmetricEigen};

use super::LinOp;

/// Assemble the n x n matrix of `op` (column j = A e_j), then symmetrize (A + A^T)/2. Returns the
/// matrix and the largest asymmetry |A_ij - A_ji| seen before symmetrizing.
pub fn dense_hessian(op: &mut dyn LinOp) -> (DMatrix<f64>, f64) {
    let n = op.n();
    let mut h = DMatrix::<f64>::zeros(n, n);
    let mut e = vec![0.0; n];
    let mut col = vec![0.0; n];
    for j in 0..n {
        e[j] = 1.0;
        op.apply(&e, &mut col);
        e[j] = 0.0;
        h.column_mut(j).copy_from_slice(&col);
    }
    let mut asym: f64 = 0.0;
    for j in 0..n {
        for i in 0..j {
            let (a, b) = (h[(i, j)], h[(j, i)]);
            asym = asym.max((a - b).abs());
            let m = 0.5 * (a + b);
            h[(i, j)] = m;
            h[(j, i)] = m;
        }
    }
    (h, asym)
}

/// All eigenpairs of a dense symmetric matrix, eigenvalues ascending.
pub struct DenseEigen {
    /// Ascending.
    pub values: Vec<f64>,
    /// Column i is the unit eigenvector of `values[i]`.
    pub vectors: DMatrix<f64>,
    /// Largest asymmetry of the assembled matrix.
    pub asymmetry: f64,
}

impl DenseEigen {
    pub fn vector(&self, i: usize) -> Vec<f64> {
        self.vectors.column(i).iter().cloned().collect()
    }
}

/// Assemble and diagonalize. A non-finite matrix gives NaN eigenvalues (no panic, no endless
/// QR iteration).
pub fn dense_eigen(op: &mut dyn LinOp) -> DenseEigen {
    let (h, asymmetry) = dense_hessian(op);
    let n = h.nrows();
    let nan = |asymmetry| DenseEigen {
        values: vec![f64::NAN; n],
        vectors: DMatrix::<f64>::identity(n, n),
        asymmetry,
    };
    if h.iter().any(|x| !x.is_finite()) {
        return nan(f64::NAN);
    }
    let Some(eig) = SymmetricEigen::try_new(h, f64::EPSILON, 1_000_000) else {
        return nan(asymmetry);
    };
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| eig.eigenvalues[a].total_cmp(&eig.eigenvalues[b]));
    let values = idx.iter().map(|&i| eig.eigenvalues[i]).collect();
    let mut vectors = DMatrix::<f64>::zeros(n, n);
    for (k, &i) in idx.iter().enumerate() {
        vectors.column_mut(k).copy_from(&eig.eigenvectors.column(i));
    }
    DenseEigen {
        values,
        vectors,
        asymmetry,
    }
}
