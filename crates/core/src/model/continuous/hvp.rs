//! The exact Hessian-vector product of the K-layer model, both discretizations: the forward
//! pass X_k, the layer maps M_k and the adjoints Lambda_{k+1} (dJ/dX_{k+1}) are kept for all
//! products at one point; a product is one forward tangent pass and one backward tangent pass.
//!
//! With W_k = Lambda_{k+1} X_k^T (= dJ/dM_k) and a direction v (v_k per layer):
//!   dM_k = sqrt(h) v_k (Euler) or L(sqrt(h) theta_k, sqrt(h) v_k) (exponential),
//!   dX_0 = 0, dX_{k+1} = M_k dX_k + dM_k X_k, dLambda_K = dPhi S,
//!   dLambda_k = M_k^T dLambda_{k+1} + dM_k^T Lambda_{k+1},
//!   dW_k = dLambda_{k+1} X_k^T + Lambda_{k+1} dX_k^T,
//!   (H v)_k = lambda v_k + sqrt(h) dW_k (Euler), or
//!   (H v)_k = lambda v_k + sqrt(h) d/ds L(B_k + s sqrt(h) v_k^T, W_k + s dW_k) (exponential,
//!   B_k = sqrt(h) theta_k^T): the derivative of the gradient's Frechet derivative, which is the
//!   top-right n x n block of the Frechet derivative of exp at P = [[B, W], [0, B]] in the
//!   direction [[sqrt(h) v^T, dW], [0, sqrt(h) v^T]] (the block trick applied twice: one
//!   exponential of a 4n x 4n matrix per layer).

use nalgebra::DMatrix;

use super::expm::FrechetPlan;
use super::{ContinuousLinear, Discretization};

/// The passes at one point.
pub(super) struct Point {
    w: Vec<f64>,
    m: Vec<DMatrix<f64>>,
    xs: Vec<DMatrix<f64>>,
    /// lams[k] = Lambda_{k+1} = dJ/dX_{k+1}.
    lams: Vec<DMatrix<f64>>,
    /// Exponential layers: the Frechet plans of h A_k, and of P_k = [[B_k, W_k / c_k], [0, B_k]]
    /// (B_k = h A_k^T, c_k = max |W_k| or 1) with c_k.
    plans: Vec<FrechetPlan>,
    plans2: Vec<(FrechetPlan, f64)>,
}

/// Memory of a point's plans, in doubles per parameter (the budget's share): the 2n x 2n plans
/// hold about 10 + s matrices of 4 n^2 numbers (s squarings, <= 10 for moderate norms).
pub(super) const PLAN_DOUBLES_PER_PARAM: u64 = 100;

fn point(model: &ContinuousLinear, w: &[f64]) -> Point {
    let n = model.n;
    let (m, plans) = model.layer_maps(w);
    let xs = model.forward(&m);
    let (_, mut lam) = model.data_term(&xs[model.k], model.stats());
    let mut lams = vec![DMatrix::zeros(0, 0); model.k];
    for k in (0..model.k).rev() {
        let next = m[k].tr_mul(&lam);
        lams[k] = std::mem::replace(&mut lam, next);
    }
    let plans2 = if model.disc == Discretization::Exponential {
        (0..model.k)
            .map(|k| {
                let b = model.theta(w, k).transpose() * model.sh;
                let wk = &lams[k] * xs[k].transpose();
                let c = match wk.amax() {
                    c if c > 0.0 && c.is_finite() => c,
                    _ => 1.0,
                };
                let mut pm = DMatrix::zeros(2 * n, 2 * n);
                pm.view_mut((0, 0), (n, n)).copy_from(&b);
                pm.view_mut((n, n), (n, n)).copy_from(&b);
                pm.view_mut((0, n), (n, n)).copy_from(&(wk / c));
                (FrechetPlan::new(&pm), c)
            })
            .collect()
    } else {
        Vec::new()
    };
    Point {
        w: w.to_vec(),
        m,
        xs,
        lams,
        plans,
        plans2,
    }
}

pub(super) fn hvp(model: &mut ContinuousLinear, w: &[f64], v: &[f64], out: &mut [f64]) {
    if !w.iter().chain(v).all(|x| x.is_finite()) {
        out.fill(f64::NAN);
        return;
    }
    if model.cache.as_ref().is_none_or(|p| p.w != w) {
        model.cache = Some(point(model, w));
    }
    let p = model.cache.take().expect("cached above");
    product(model, &p, v, out);
    model.cache = Some(p);
}

fn product(model: &ContinuousLinear, p: &Point, v: &[f64], out: &mut [f64]) {
    let (n, kk, sh) = (model.n, model.k, model.sh);
    let dm: Vec<DMatrix<f64>> = (0..kk)
        .map(|k| {
            let vk = model.theta(v, k) * sh;
            match model.disc {
                Discretization::Euler => vk,
                Discretization::Exponential => p.plans[k].apply(&vk),
            }
        })
        .collect();
    // Forward tangent: dxs[k] = dX_k.
    let mut dxs = Vec::with_capacity(kk + 1);
    dxs.push(DMatrix::zeros(n, n));
    for k in 0..kk {
        let next = &p.m[k] * &dxs[k] + &dm[k] * &p.xs[k];
        dxs.push(next);
    }
    let mut dlam = &dxs[kk] * &model.stats().s;
    for k in (0..kk).rev() {
        let dw = &dlam * p.xs[k].transpose() + &p.lams[k] * dxs[k].transpose();
        let g = match model.disc {
            Discretization::Euler => dw * sh,
            Discretization::Exponential => {
                // L(B, W) is linear in W: W and dW are scaled by the same c_k.
                let (plan, c) = &p.plans2[k];
                let vt = model.theta(v, k).transpose() * sh;
                let mut em = DMatrix::zeros(2 * n, 2 * n);
                em.view_mut((0, 0), (n, n)).copy_from(&vt);
                em.view_mut((n, n), (n, n)).copy_from(&vt);
                em.view_mut((0, n), (n, n)).copy_from(&(dw / *c));
                plan.apply(&em).view((0, n), (n, n)).into_owned() * (sh * c)
            }
        };
        model.put(out, k, &g);
        dlam = p.m[k].tr_mul(&dlam) + dm[k].tr_mul(&p.lams[k]);
    }
    for (o, x) in out.iter_mut().zip(v) {
        *o += model.lambda * x;
    }
}
