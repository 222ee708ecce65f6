//! The Lemma 3.2 certificate of Du, Hu & Lee (2018) for matrix factorization (thesis 4.7, 4.12).
//!
//! Lemma 3.2: a stationary point of f(U, V) = 1/2 ||U V^T - M*||_F^2 with
//! ||U^T U - V^T V||_F <= eps has ||U V^T - M*||_F <= eps or is a strict saddle. Certificate:
//! from the SVD M* = Phi Sigma Psi^T, U* = Phi_r Sigma_r^{1/2}, V* = Psi_r Sigma_r^{1/2}
//! (top r), W = [U; V], W* = [U*; V*], R the orthogonal Procrustes rotation
//! argmin_{R^T R = I} ||W - W* R||_F (R = A B^T from the SVD W*^T W = A S B^T), and
//! Delta = W - W* R, the Hessian quadratic form (thesis 4.12) is
//!
//!   [Hess f](Delta, Delta) = 2 <U V^T - M*, Delta_U Delta_V^T> + ||U Delta_V^T + Delta_U V^T||_F^2
//!
//! and in the saddle case it is <= -||U V^T - M*||_F^2 + eps^2 / 2 < 0, so Delta is a direction of
//! negative curvature (lambda_min <= value / ||Delta||^2).
//!
//! The lemma's hypotheses are checked before a side is given (issue 10): the point must be
//! stationary for the unregularized loss (||grad f|| <= `gradTol`, the query's threshold), balanced
//! (||U^T U - V^T V||_F <= eps) and M* must have (numerical) rank <= r (the paper's M* has rank r;
//! with a larger rank the best rank-r fit is a local minimum whose residual is sigma_{r+1}, and the
//! dichotomy does not hold). When one fails the side is `neither` and `reason` says which; the
//! numbers (value, bound, residual, ...) are still reported.
//!
//! The form is that of the unregularized loss; `hvp_value` is Delta^T H Delta from the model's own
//! HVP, equal to `value` when the model's balance weight is 0 (and including the regularizer's
//! curvature otherwise).

use nalgebra::DMatrix;

use super::hvp::mf_hvp;
use super::MatrixFactorization;
use crate::error::{Error, Result};
use crate::linalg::dot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LemmaSide {
    /// ||U V^T - M*||_F <= eps.
    GlobalMinimumWithinEps,
    /// Certificate value <= -||U V^T - M*||_F^2 + eps^2/2 (< 0).
    StrictSaddle,
    /// A hypothesis of the lemma fails (not stationary, not balanced within eps, rank M* > r),
    /// or (numerically) neither inequality holds: see [`Lemma32::reason`].
    Neither,
}

impl LemmaSide {
    pub fn name(self) -> &'static str {
        match self {
            LemmaSide::GlobalMinimumWithinEps => "globalMinimumWithinEps",
            LemmaSide::StrictSaddle => "strictSaddle",
            LemmaSide::Neither => "neither",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Lemma32 {
    /// eps used (given, or the measured imbalance).
    pub eps: f64,
    /// ||U^T U - V^T V||_F
    pub imbalance: f64,
    /// ||U V^T - M*||_F
    pub residual: f64,
    /// Gradient norm of the unregularized loss, ||(R V, R^T U)||.
    pub grad_norm: f64,
    /// Eq. 4.12 at Delta.
    pub value: f64,
    /// Delta^T H Delta from the model's HVP.
    pub hvp_value: f64,
    /// -residual^2 + eps^2 / 2.
    pub bound: f64,
    /// ||Delta||_F
    pub delta_norm: f64,
    /// value / ||Delta||^2 (an upper bound on lambda_min when the balance weight is 0).
    pub rayleigh: f64,
    pub side: LemmaSide,
    /// The Procrustes rotation R (r x r, row-major).
    pub rotation: Vec<f64>,
    /// Delta, flat like the parameters ([Delta_U | Delta_V], row-major).
    pub delta: Vec<f64>,
    /// Singular values of M* (descending, all min(d1, d2) of them).
    pub singular_values: Vec<f64>,
    /// The lemma's hypotheses at this point.
    pub hypotheses: Hypotheses,
    /// Why the side is `neither` (None otherwise).
    pub reason: Option<String>,
}

/// The hypotheses of Lemma 3.2, checked numerically.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hypotheses {
    /// ||grad f|| (unregularized) <= `grad_tol`.
    pub stationary: bool,
    /// ||U^T U - V^T V||_F <= eps.
    pub balanced: bool,
    /// Numerical rank of M* <= r.
    pub target_rank_ok: bool,
    /// The stationarity threshold used (absolute, the query's `gradTol`).
    pub grad_tol: f64,
    /// Numerical rank of M*: singular values above max(d1, d2) * machine eps * sigma_1.
    pub target_rank: usize,
}

impl Hypotheses {
    pub fn all(&self) -> bool {
        self.stationary && self.balanced && self.target_rank_ok
    }
}

/// Balanced factors of singular components of `m` (d1 x d2): column c of U* is
/// sqrt(sigma_i) phi_i and of V* is sqrt(sigma_i) psi_i for i = `components[c]` (0-based, in
/// descending order of the singular values), so U* V*^T is the sum of those components and
/// U*^T U* = V*^T V*. Columns past `components.len()` (up to `cols`) are zero. Also returns all
/// min(d1, d2) singular values, descending.
pub(crate) fn balanced_factors(
    m: &DMatrix<f64>,
    components: &[usize],
    cols: usize,
) -> Result<(DMatrix<f64>, DMatrix<f64>, Vec<f64>)> {
    let (d1, d2) = m.shape();
    let svd = crate::decomp::svd(m, true, true)
        .ok_or_else(|| Error::request("model.target", "the SVD of the target did not converge"))?;
    let (phi, psit) = match (svd.u.as_ref(), svd.v_t.as_ref()) {
        (Some(a), Some(b)) => (a, b),
        _ => {
            return Err(Error::request(
                "model.target",
                "the SVD of the target did not converge",
            ))
        }
    };
    let mut idx: Vec<usize> = (0..d1.min(d2)).collect();
    idx.sort_by(|&a, &b| svd.singular_values[b].total_cmp(&svd.singular_values[a]));
    let singular_values: Vec<f64> = idx.iter().map(|&i| svd.singular_values[i]).collect();
    let mut us = DMatrix::<f64>::zeros(d1, cols);
    let mut vs = DMatrix::<f64>::zeros(d2, cols);
    for (c, &k) in components.iter().enumerate().take(cols) {
        let i = idx[k];
        let s = svd.singular_values[i].max(0.0).sqrt();
        us.column_mut(c).copy_from(&(phi.column(i) * s));
        vs.column_mut(c).copy_from(&(psit.row(i).transpose() * s));
    }
    Ok((us, vs, singular_values))
}

/// Compute the certificate at `w`; `eps` defaults to the measured imbalance (floored at
/// 1e-8 ||M*||_F so that rounding does not decide the side at an exact global minimum);
/// `grad_tol` is the stationarity threshold (absolute, on the unregularized gradient norm).
pub fn lemma32(
    mf: &MatrixFactorization,
    w: &[f64],
    eps: Option<f64>,
    grad_tol: f64,
) -> Result<Lemma32> {
    let (d1, d2, r) = (mf.d1, mf.d2, mf.r);
    let m = DMatrix::from_row_slice(d1, d2, &mf.target);
    let (u_flat, v_flat) = w.split_at(d1 * r);
    let u = DMatrix::from_row_slice(d1, r, u_flat);
    let v = DMatrix::from_row_slice(d2, r, v_flat);

    let (us, vs, singular_values) = balanced_factors(&m, &(0..r).collect::<Vec<_>>(), r)?;

    // Procrustes: W*^T W = A S B^T, R = A B^T.
    let cross = us.transpose() * &u + vs.transpose() * &v;
    let rot = match crate::decomp::svd(&cross, true, true).map(|ps| (ps.u, ps.v_t)) {
        Some((Some(a), Some(bt))) => a * bt,
        _ => DMatrix::<f64>::identity(r, r),
    };
    let du = &u - &us * &rot;
    let dv = &v - &vs * &rot;

    let res = &u * v.transpose() - &m;
    let value = 2.0 * res.dot(&(&du * dv.transpose()))
        + (&u * dv.transpose() + &du * v.transpose()).norm_squared();
    let imbalance = (u.transpose() * &u - v.transpose() * &v).norm();
    let residual = res.norm();
    let gu = &res * &v;
    let gv = res.transpose() * &u;
    let grad_norm = (gu.norm_squared() + gv.norm_squared()).sqrt();

    let mut delta = Vec::with_capacity((d1 + d2) * r);
    for i in 0..d1 {
        for j in 0..r {
            delta.push(du[(i, j)]);
        }
    }
    for i in 0..d2 {
        for j in 0..r {
            delta.push(dv[(i, j)]);
        }
    }
    let mut rotation = Vec::with_capacity(r * r);
    for i in 0..r {
        for j in 0..r {
            rotation.push(rot[(i, j)]);
        }
    }

    let mut hd = vec![0.0; delta.len()];
    mf_hvp(mf, w, &delta, &mut hd);
    let hvp_value = dot(&delta, &hd);
    let delta_norm = dot(&delta, &delta).sqrt();

    // Default eps: the measured imbalance, floored at 1e-8 ||M*||_F (rounding).
    let eps = eps.unwrap_or(imbalance.max(1e-8 * m.norm()));
    let bound = -residual * residual + 0.5 * eps * eps;
    let s1 = singular_values.first().copied().unwrap_or(0.0);
    let rank_tol = d1.max(d2) as f64 * f64::EPSILON * s1;
    let target_rank = singular_values.iter().filter(|&&x| x > rank_tol).count();
    let hypotheses = Hypotheses {
        stationary: grad_norm <= grad_tol,
        balanced: imbalance <= eps,
        target_rank_ok: target_rank <= r,
        grad_tol,
        target_rank,
    };
    let mut failed = Vec::new();
    if !hypotheses.stationary {
        failed.push(format!(
            "not stationary: gradient norm {grad_norm:e} > gradTol {grad_tol:e}"
        ));
    }
    if !hypotheses.balanced {
        failed.push(format!(
            "not balanced: ||U^T U - V^T V||_F = {imbalance:e} > eps {eps:e}"
        ));
    }
    if !hypotheses.target_rank_ok {
        failed.push(format!(
            "the target has rank {target_rank} > r = {r} (the lemma needs rank M* <= r)"
        ));
    }
    let (side, reason) = if !failed.is_empty() {
        (
            LemmaSide::Neither,
            Some(format!(
                "the lemma's hypotheses fail: {}",
                failed.join("; ")
            )),
        )
    } else if residual <= eps {
        (LemmaSide::GlobalMinimumWithinEps, None)
    } else if value <= bound {
        (LemmaSide::StrictSaddle, None)
    } else {
        (
            LemmaSide::Neither,
            Some(format!(
                "the hypotheses hold to the tolerances used, but neither inequality does: \
                 residual {residual:e} > eps {eps:e} and value {value:e} > bound {bound:e} \
                 (tighten gradTol)"
            )),
        )
    };
    let rayleigh = if delta_norm > 0.0 {
        value / (delta_norm * delta_norm)
    } else {
        0.0
    };
    Ok(Lemma32 {
        eps,
        imbalance,
        residual,
        grad_norm,
        value,
        hvp_value,
        bound,
        delta_norm,
        rayleigh,
        side,
        rotation,
        delta,
        singular_values,
        hypotheses,
        reason,
    })
}
