//! The Gram matrices of chapter 2: H_inf in closed form, eigenvalues of symmetric matrices, and
//! the family query `theory` (docs/wide-networks.md).
//!
//! H_inf[i, j] = E_{w ~ N(0, I)}[x_i^T x_j 1{w^T x_i >= 0, w^T x_j >= 0}]
//!             = x_i^T x_j (pi - theta_ij) / (2 pi),
//! theta_ij the angle between x_i and x_j (for unit rows, arccos(x_i^T x_j) clipped to [-1, 1];
//! the diagonal is ||x_i||^2 / 2 exactly).

use std::f64::consts::PI;

use nalgebra::DMatrix;
use serde_json::{json, Value};

use super::{LossKind, TwoLayerRelu};
use crate::build::Budget;
use crate::error::Result;
use crate::linalg::{dot, gemm, Layout};

/// The failure probability delta at which the `theory` query evaluates the widths.
pub const DELTA: f64 = 0.1;

/// H_inf of the rows of `x` (n x d), row-major n x n.
pub fn h_inf(x: &[f64], n: usize, d: usize) -> Vec<f64> {
    let mut g = vec![0.0; n * n];
    let l = Layout::row_major(n, d);
    gemm(1.0, x, l, x, l.t(), 0.0, &mut g, Layout::row_major(n, n));
    let norms: Vec<f64> = (0..n).map(|i| libm::sqrt(g[i * n + i])).collect();
    let mut h = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            let gij = g[i * n + j];
            let den = norms[i] * norms[j];
            h[i * n + j] = if i == j {
                0.5 * gij
            } else if den > 0.0 {
                let c = (gij / den).clamp(-1.0, 1.0);
                gij * (PI - libm::acos(c)) / (2.0 * PI)
            } else {
                0.0
            };
        }
    }
    // Exactly symmetric (the GEMM's two triangles may differ in the last bit).
    for i in 0..n {
        for j in 0..i {
            h[i * n + j] = h[j * n + i];
        }
    }
    h
}

/// (lambda_min, lambda_max) of the symmetric n x n matrix `h` (row-major; its upper triangle
/// read symmetrically).
pub fn eig_range(h: &[f64], n: usize) -> (f64, f64) {
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let m = DMatrix::from_fn(n, n, |i, j| {
        let (a, b) = if i <= j { (i, j) } else { (j, i) };
        h[a * n + b]
    });
    // Tridiagonalization and bisection (crate::decomp): always returns; None when not finite.
    crate::decomp::symmetric_extremes(&m).unwrap_or((f64::NAN, f64::NAN))
}

/// ||h||_2 of a symmetric matrix: max |eigenvalue|.
pub fn spectral_norm_sym(h: &[f64], n: usize) -> f64 {
    let (lo, hi) = eig_range(h, n);
    lo.abs().max(hi.abs())
}

/// H_inf, lambda0 and lambda_max(H_inf) of the data.
pub fn theory_of(x: &[f64], n: usize, d: usize) -> super::Theory {
    let h = h_inf(x, n, d);
    let (lambda0, lambda_max) = eig_range(&h, n);
    super::Theory {
        h_inf: h,
        lambda0,
        lambda_max,
    }
}

/// Doubles the `theory` query holds at once (H_inf, H, their difference, X X^T, and the eigen
/// solver's copies) for n points.
pub fn query_doubles(n: usize) -> u64 {
    let n = n as u64;
    7 * n * n
}

/// The family query `theory` at `w` (docs/wide-networks.md, "The theory query").
pub fn theory_query(model: &mut TwoLayerRelu, w: &[f64]) -> Result<Value> {
    let (n, d, m) = (model.n(), model.d(), model.width());
    Budget::new().check("query.what", &[(query_doubles(n), 1u64)])?;
    let th = match model.theory() {
        Some(t) => super::Theory {
            h_inf: t.h_inf.clone(),
            lambda0: t.lambda0,
            lambda_max: t.lambda_max,
        },
        None => theory_of(model.x(), n, d),
    };
    // Statistics of H_inf.
    let (mut dmin, mut dmax) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut omin, mut omax, mut oabs) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
    for i in 0..n {
        for j in 0..n {
            let v = th.h_inf[i * n + j];
            if i == j {
                dmin = dmin.min(v);
                dmax = dmax.max(v);
            } else {
                omin = omin.min(v);
                omax = omax.max(v);
                oabs += v.abs();
            }
        }
    }
    let off = if n > 1 {
        json!({"min": omin, "max": omax, "meanAbs": oabs / (n * (n - 1)) as f64})
    } else {
        Value::Null
    };
    // H at the current point, and at the initial point's pattern for the loss there.
    let loss = model.evaluate(w);
    let h = model.gram_matrix();
    let (hmin, hmax) = eig_range(&h, n);
    let diff: Vec<f64> = h.iter().zip(&th.h_inf).map(|(a, b)| a - b).collect();
    let dist = spectral_norm_sym(&diff, n);
    let lambda0 = th.lambda0;
    let nf = n as f64;
    let mf = m as f64;
    // ||y - u||^2 at this point (sum convention).
    let res2: f64 = model
        .predictions()
        .iter()
        .zip(model.y())
        .map(|(u, y)| (u - y) * (u - y))
        .sum();
    let (scale, conv) = match model.loss_kind() {
        LossKind::Sum => (1.0, "sum"),
        LossKind::Mean => (nf, "mean"),
    };
    let pos = |x: f64| if lambda0 > 0.0 { x } else { f64::INFINITY };
    let width22 = pos(nf.powi(6) / (lambda0.powi(4) * DELTA.powi(3)));
    let width21 = pos(nf * nf / (lambda0 * lambda0) * libm::log(nf / DELTA));
    // Lemma 2.2's radius with the proof's constant: ||H - H(0)||_2 <= 4 n^2 R / (sqrt(2 pi) delta)
    // (Markov) is at most lambda0 / 4 for R = sqrt(2 pi) delta lambda0 / (16 n^2).
    let r_lemma22 = (2.0 * PI).sqrt() * DELTA * lambda0 / (16.0 * nf * nf);
    let r_flow = nf.sqrt() * res2.sqrt() / (mf.sqrt() * lambda0);
    let xnorm_dev = (0..n)
        .map(|i| {
            (dot(
                &model.x()[i * d..(i + 1) * d],
                &model.x()[i * d..(i + 1) * d],
            ) - 1.0)
                .abs()
        })
        .fold(0.0f64, f64::max);
    Ok(json!({
        "what": "theory",
        "n": n,
        "d": d,
        "m": m,
        "loss": conv,
        "maxRowNormDeviation": xnorm_dev,
        "hInf": {
            "diagonalMin": dmin,
            "diagonalMax": dmax,
            "offDiagonal": off,
            "lambdaMin": lambda0,
            "lambdaMax": th.lambda_max,
        },
        "lambda0": lambda0,
        "lambdaMaxHinf": th.lambda_max,
        "current": {
            "loss": loss,
            "residualNormSq": res2,
            "lambdaMinH": hmin,
            "lambdaMaxH": hmax,
            "gramDistInf": dist,
            "lemma21Holds": dist <= lambda0 / 4.0,
        },
        "etaMax": 2.0 * scale / hmax,
        "etaMaxInf": 2.0 * scale / th.lambda_max,
        "delta": DELTA,
        "widths": {
            "used": m,
            "theorem22": width22,
            "theorem23": width22,
            "lemma21": width21,
            "theorem22OverUsed": width22 / mf,
            "lemma21OverUsed": width21 / mf,
        },
        "etaTheorem23": lambda0 / (nf * nf) * scale,
        "radius": {
            "lemma22": r_lemma22,
            "lemma23Flow": r_flow,
            "corollary21Gd": 4.0 * r_flow,
        },
        "constants": "Theorems 2.2/2.3 and Lemma 2.1 state Omega(.)/O(.) without constants: the widths and the step are printed with constant 1 at delta = 0.1; Lemma 2.2's radius uses its proof's constant sqrt(2 pi)/16; the radii of Lemma 2.3 / Corollary 2.1 use ||y - u|| at this point (the initial point when asked at init)"
    }))
}
