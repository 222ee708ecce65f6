//! Exact Hessian-vector products of the matrix factorization loss
//!
//!   f(U, V) = 1/2 ||U V^T - M*||_F^2 + w ||D||_F^2,   D = U^T U - V^T V,
//!
//! with gradient g_U = R V + 4w U D, g_V = R^T U - 4w V D (R = U V^T - M*). Differentiating along
//! a direction (dU, dV), with dR = dU V^T + U dV^T and dD = dU^T U + U^T dU - dV^T V - V^T dV:
//!
//!   H_U = R dV + dU (V^T V) + U (dV^T V) + 4w (dU D + U dD)
//!   H_V = R^T dU + dV (U^T U) + V (dU^T U) - 4w (dV D + V dD)
//!
//! All r x r products cost O((d1 + d2) r^2). The residual is never formed: R dV = U (V^T dV) - M* dV
//! and R^T dU = V (U^T dU) - M*^T dU, so the O(d1 d2 r) work is two GEMMs with M* read in place
//! (4 d1 d2 r flops instead of 6 for forming R and multiplying by it). No d1 x d2 temporary. The
//! subtraction rounds at the level eps ||M*|| ||v||, i.e. eps times the Hessian's scale.

use nalgebra::DMatrix;

use crate::linalg::{gemm, Layout};
use crate::model::mf::MatrixFactorization;

/// r x r product A^T B of two row-major n x r matrices, written into `out` (r x r).
fn atb(a: &[f64], b: &[f64], n: usize, r: usize, out: &mut [f64]) {
    let l = Layout::row_major(n, r);
    gemm(1.0, a, l.t(), b, l, 0.0, out, Layout::row_major(r, r));
}

/// out (n x r) += alpha A (n x r) B (r x r).
fn acc_ab(alpha: f64, a: &[f64], b: &[f64], n: usize, r: usize, out: &mut [f64]) {
    let l = Layout::row_major(n, r);
    gemm(alpha, a, l, b, Layout::row_major(r, r), 1.0, out, l);
}

/// Exact `out = H(w) v` for matrix factorization (see the module docs).
pub fn mf_hvp(m: &MatrixFactorization, w: &[f64], v: &[f64], out: &mut [f64]) {
    let (d1, d2, r) = (m.d1, m.d2, m.r);
    let (u, vv) = w.split_at(d1 * r);
    let (du, dv) = v.split_at(d1 * r);
    let (ou, ov) = out.split_at_mut(d1 * r);
    ou.fill(0.0);
    ov.fill(0.0);
    if r == 0 {
        return;
    }
    let rr = r * r;
    let mut s = vec![0.0; 4 * rr];
    let (utu, rest) = s.split_at_mut(rr);
    let (vtv, rest) = rest.split_at_mut(rr);
    let (dvtv, dutu) = rest.split_at_mut(rr);
    atb(u, u, d1, r, utu);
    atb(vv, vv, d2, r, vtv);
    atb(dv, vv, d2, r, dvtv); // dV^T V
    atb(du, u, d1, r, dutu); // dU^T U

    // R dV = U (V^T dV) - M* dV and R^T dU = V (U^T dU) - M*^T dU, so the r x r terms combine:
    //   H_U = dU (V^T V) + U (dV^T V + V^T dV) - M* dV + reg,
    //   H_V = dV (U^T U) + V (dU^T U + U^T dU) - M*^T dU + reg.
    let mut sym_v = vec![0.0; rr];
    let mut sym_u = vec![0.0; rr];
    for i in 0..r {
        for j in 0..r {
            sym_v[i * r + j] = dvtv[i * r + j] + dvtv[j * r + i];
            sym_u[i * r + j] = dutu[i * r + j] + dutu[j * r + i];
        }
    }
    acc_ab(1.0, du, vtv, d1, r, ou);
    acc_ab(1.0, u, &sym_v, d1, r, ou);
    acc_ab(1.0, dv, utu, d2, r, ov);
    acc_ab(1.0, vv, &sym_u, d2, r, ov);

    // Regularizer terms.
    let bw = m.balance_weight;
    if bw != 0.0 {
        let mut dmat = vec![0.0; rr];
        for i in 0..rr {
            dmat[i] = utu[i] - vtv[i];
        }
        // dD = dU^T U + U^T dU - dV^T V - V^T dV
        let dd: Vec<f64> = sym_u.iter().zip(&sym_v).map(|(a, b)| a - b).collect();
        let k = 4.0 * bw;
        acc_ab(k, du, &dmat, d1, r, ou);
        acc_ab(k, u, &dd, d1, r, ou);
        acc_ab(-k, dv, &dmat, d2, r, ov);
        acc_ab(-k, vv, &dd, d2, r, ov);
    }

    // The two products with M*: one GEMM each, M* read in place.
    if d1 == 0 || d2 == 0 {
        return;
    }
    let lm = Layout::row_major(d1, d2);
    gemm(
        -1.0,
        &m.target,
        lm,
        dv,
        Layout::row_major(d2, r),
        1.0,
        ou,
        Layout::row_major(d1, r),
    );
    gemm(
        -1.0,
        &m.target,
        lm.t(),
        du,
        Layout::row_major(d1, r),
        1.0,
        ov,
        Layout::row_major(d2, r),
    );
}

/// Numerical rank of a row-major n x r matrix (singular values above 1e-8 of the largest).
fn rank(a: &[f64], n: usize, r: usize) -> usize {
    if n == 0 || r == 0 {
        return 0;
    }
    let m = DMatrix::from_row_slice(n, r, a);
    // a decomposition that does not converge counts as full rank (the caller's check then fails)
    let Some(s) = crate::decomp::singular_values(&m) else {
        return n.min(r);
    };
    let smax = s.iter().cloned().fold(0.0, f64::max);
    if smax == 0.0 {
        return 0;
    }
    s.iter().filter(|&&x| x > 1e-8 * smax).count()
}

/// Dimension of the symmetry orbit through (U, V).
///
/// - `balance_weight == 0`: GL(r) acts by U -> U A, V -> V A^{-T}; tangent directions
///   (U X, -V X^T), X in R^{r x r}. The kernel is {X : U X = 0, V X^T = 0}, of dimension
///   (r - rank U)(r - rank V), so the orbit has dimension r^2 - (r - rank U)(r - rank V).
/// - `balance_weight != 0`: only O(r) (U -> U Q, V -> V Q) leaves the regularizer invariant;
///   tangent directions (U S, V S), S skew; kernel: skew S with range in null(U) ∩ null(V), of
///   dimension k(k-1)/2 with k = r - rank [U; V]; orbit dimension r(r-1)/2 - k(k-1)/2.
pub fn mf_symmetry_dim(m: &MatrixFactorization, w: &[f64]) -> usize {
    let (d1, d2, r) = (m.d1, m.d2, m.r);
    let (u, v) = w.split_at(d1 * r);
    if m.balance_weight == 0.0 {
        let (ru, rv) = (rank(u, d1, r), rank(v, d2, r));
        r * r - (r - ru) * (r - rv)
    } else {
        let k = r - rank(w, d1 + d2, r);
        r * (r.saturating_sub(1)) / 2 - k * (k.saturating_sub(1)) / 2
    }
}

/// Orthonormal basis of the orbit's tangent space (see [`mf_symmetry_dim`]): the vectors
/// (U X, -V X^T) for X = E_ij (balance_weight = 0) or (U S, V S) for S = E_ij - E_ji, i < j
/// (balance_weight != 0), orthonormalized by Gram-Schmidt (twice), dependent ones dropped.
pub fn mf_symmetry_tangents(m: &MatrixFactorization, w: &[f64]) -> Vec<Vec<f64>> {
    let (d1, d2, r) = (m.d1, m.d2, m.r);
    let (u, v) = w.split_at(d1 * r);
    let n = (d1 + d2) * r;
    let mut raw: Vec<Vec<f64>> = Vec::new();
    for i in 0..r {
        for j in 0..r {
            let mut t = vec![0.0; n];
            if m.balance_weight == 0.0 {
                // (U E_ij)[a, j] = U[a, i]; (-V E_ji)[b, i] = -V[b, j]
                for a in 0..d1 {
                    t[a * r + j] = u[a * r + i];
                }
                for b in 0..d2 {
                    t[d1 * r + b * r + i] = -v[b * r + j];
                }
            } else {
                if i >= j {
                    continue;
                }
                // S = E_ij - E_ji: (X S)[., j] += X[., i], (X S)[., i] -= X[., j]
                for a in 0..d1 {
                    t[a * r + j] += u[a * r + i];
                    t[a * r + i] -= u[a * r + j];
                }
                for b in 0..d2 {
                    t[d1 * r + b * r + j] += v[b * r + i];
                    t[d1 * r + b * r + i] -= v[b * r + j];
                }
            }
            raw.push(t);
        }
    }
    crate::linalg::orthonormalize(raw, 1e-8)
}
