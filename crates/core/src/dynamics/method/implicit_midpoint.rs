//! Implicit midpoint on the flow dw/dt = -grad F: w' = w - h k, where the slope k solves
//!
//!   G(k) = k - grad F(w - h/2 k) = 0.
//!
//! The solve ends when the defect h |G(k)| (max norm) is at most tol (1 + max|w|); the step then
//! conserves every quadratic invariant I of the flow to that defect: I(w') - I(w) =
//! -h <grad I(mid), k> = -h <grad I(mid), G(k)> since <grad I, grad F> = 0 at the midpoint.
//!
//! The solve: fixed-point iteration k <- grad F(w - h/2 k) while it contracts fast (each
//! iteration costs one gradient), then Newton on G with the Jacobian I + h/2 Hess F(mid),
//! symmetric, solved by MINRES (Paige & Saunders) with the model's exact Hessian-vector product
//! ([`crate::model::Model::hvp`]), an inexact-Newton forcing term proportional to |G| (so the
//! convergence is quadratic), and backtracking on |G|_2. Piecewise-linear activations make grad F
//! discontinuous at kinks, where the iteration can cycle: the activation pattern of the last
//! midpoint is then frozen (always in the Newton phase), which leaves a smooth model with the same
//! rescaling symmetries, hence the same conserved quantities; its Jacobian-vector products are
//! one-sided differences of the frozen gradient (the exact HVP is that of the unfrozen model).
//!
//! When the solve does not reach the tolerance (maxIter gradient evaluations, a residual that
//! stops decreasing: the tolerance is below the rounding level or there is no nearby solution,
//! or a non-finite gradient), the step fails and the session stops the run with
//! `solverFailed`, keeping the last iterate. One step costs at most maxIter gradient evaluations
//! plus [`KRYLOV_MAX`] Hessian-vector products per Newton iteration.

use super::{lin, Objective, Setup, Step, StepFailure, StepResult};
use crate::error::{Error, Result};
use crate::linalg::{axpy, dot, norm2};
use crate::spec::{positive, positive_real};

/// Largest `maxIter` accepted (gradient evaluations per step).
pub const MAX_ITER: usize = 1000;
/// MINRES iterations (Hessian-vector products) per Newton iteration.
pub const KRYLOV_MAX: usize = 50;
/// Newton iterations without halving the best residual before the solve gives up.
const STALL: usize = 3;
/// Step halvings per Newton iteration.
const HALVINGS: usize = 4;

/// The working vectors of MINRES.
#[derive(Clone)]
struct Krylov {
    x: Vec<f64>,
    r1: Vec<f64>,
    r2: Vec<f64>,
    y: Vec<f64>,
    v: Vec<f64>,
    d: Vec<f64>,
    d1: Vec<f64>,
    d2: Vec<f64>,
}

impl Krylov {
    /// MINRES for the symmetric system A x = b with x_0 = 0; `b` is in `r2` on entry, the
    /// solution in `x` on return. Stops when the residual estimate is at most `rtol` |b| or after
    /// `max_it` products. Returns the number of products.
    fn solve(&mut self, a: &mut dyn FnMut(&[f64], &mut [f64]), rtol: f64, max_it: usize) -> usize {
        let Krylov {
            x,
            r1,
            r2,
            y,
            v,
            d,
            d1,
            d2,
        } = self;
        x.fill(0.0);
        let beta1 = norm2(r2).sqrt();
        if beta1 == 0.0 || !beta1.is_finite() {
            return 0;
        }
        r1.copy_from_slice(r2);
        d.fill(0.0);
        d1.fill(0.0);
        d2.fill(0.0);
        let (mut oldb, mut beta, mut dbar, mut epsln, mut phibar) = (0.0, beta1, 0.0, 0.0, beta1);
        let (mut cs, mut sn) = (-1.0f64, 0.0f64);
        for itn in 1..=max_it {
            // Lanczos: v = r2 / beta, y = A v - (beta / oldb) r1 - (alpha / beta) r2.
            let s = 1.0 / beta;
            for (vi, ri) in v.iter_mut().zip(r2.iter()) {
                *vi = s * ri;
            }
            a(v, y);
            if itn >= 2 {
                axpy(-beta / oldb, r1, y);
            }
            let alfa = dot(v, y);
            axpy(-alfa / beta, r2, y);
            // r1 <- r2, r2 <- y (y's buffer is free again).
            std::mem::swap(r1, r2);
            std::mem::swap(r2, y);
            oldb = beta;
            beta = norm2(r2).sqrt();
            // Apply the previous rotation, then a new one to annihilate beta.
            let oldeps = epsln;
            let delta = cs * dbar + sn * alfa;
            let gbar = sn * dbar - cs * alfa;
            epsln = sn * beta;
            dbar = -cs * beta;
            let gamma = libm::hypot(gbar, beta).max(f64::EPSILON);
            cs = gbar / gamma;
            sn = beta / gamma;
            let phi = cs * phibar;
            phibar *= sn;
            // Search directions: d1 <- d2, d2 <- d, d <- (v - oldeps d1 - delta d2) / gamma.
            std::mem::swap(d1, d2);
            std::mem::swap(d2, d);
            for i in 0..v.len() {
                d[i] = (v[i] - oldeps * d1[i] - delta * d2[i]) / gamma;
            }
            axpy(phi, d, x);
            if phibar <= rtol * beta1 || beta == 0.0 || !beta.is_finite() {
                return itn;
            }
        }
        max_it
    }
}

#[derive(Clone)]
pub struct ImplicitMidpoint {
    tol: f64,
    max_iter: usize,
    /// Gradient evaluations of the last solve and its last defect h |G(k)| (max norm).
    iters: usize,
    residual: f64,
    /// The defect after every evaluation of the last solve.
    trace: Vec<f64>,
    /// The slope k, the midpoint w - h/2 k, the gradient there, a probe point.
    k: Vec<f64>,
    mid: Vec<f64>,
    k_next: Vec<f64>,
    pt: Vec<f64>,
    krylov: Krylov,
}

impl ImplicitMidpoint {
    pub fn new(tol: f64, max_iter: f64, s: &mut Setup) -> Result<Self> {
        let tol = positive_real("method.tol", tol)?;
        let max_iter = positive("method.maxIter", max_iter)?;
        if max_iter > MAX_ITER {
            return Err(Error::range(
                "method.maxIter",
                format!("expected an integer 1 <= maxIter <= {MAX_ITER}, got {max_iter}"),
            ));
        }
        Ok(ImplicitMidpoint {
            tol,
            max_iter,
            iters: 0,
            residual: 0.0,
            trace: Vec::new(),
            k: s.vector(),
            mid: s.vector(),
            k_next: s.vector(),
            pt: s.vector(),
            krylov: Krylov {
                x: s.vector(),
                r1: s.vector(),
                r2: s.vector(),
                y: s.vector(),
                v: s.vector(),
                d: s.vector(),
                d1: s.vector(),
                d2: s.vector(),
            },
        })
    }
}

/// (h max_i |a_i - b_i|, |a - b|_2)
fn defect(h: f64, a: &[f64], b: &[f64]) -> (f64, f64) {
    let (mut mx, mut s2) = (0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let d = x - y;
        // NaN propagates through the sum (max would drop it).
        mx = if d.is_nan() {
            f64::NAN
        } else {
            mx.max(d.abs())
        };
        s2 += d * d;
    }
    (h * mx, s2.sqrt())
}

impl Step for ImplicitMidpoint {
    fn name(&self) -> &'static str {
        "implicitMidpoint"
    }
    fn step(&mut self, f: &mut Objective, w: &mut [f64], grad: &[f64], eta: f64) -> StepResult {
        let ImplicitMidpoint {
            tol,
            max_iter,
            trace,
            k,
            mid,
            k_next,
            pt,
            krylov,
            ..
        } = self;
        let (tol, max_iter) = (*tol, *max_iter);
        let h = eta;
        k.copy_from_slice(grad);
        let scale = 1.0 + w.iter().fold(0.0f64, |a, x| a.max(x.abs()));
        let target = tol * scale;
        trace.clear();
        let mut iters = 0;
        let mut res = f64::INFINITY;
        let mut converged = false;
        let mut stalled = false;
        let mut frozen = false;
        // Fixed-point iteration k <- grad F(w - h/2 k) while it contracts by 4 per iteration.
        while iters < max_iter {
            lin(mid, w, &[(-0.5 * h, k)]);
            f.eval(mid, k_next);
            iters += 1;
            let (r, _) = defect(h, k, k_next);
            std::mem::swap(k, k_next);
            trace.push(r);
            let ratio = r / res;
            res = r;
            if res <= target {
                converged = true;
                break;
            }
            if !res.is_finite() {
                break;
            }
            if !frozen && (ratio > 0.5 || iters >= 5) {
                frozen = f.model.freeze_pattern(true);
            }
            if iters >= 2 && ratio > 0.25 {
                break;
            }
        }
        // Newton on G(k) = k - grad F(w - h/2 k).
        let mut used_hvp = false;
        if !converged && res.is_finite() && iters < max_iter {
            if !frozen {
                frozen = f.model.freeze_pattern(true);
            }
            let exact = f.model.hvp_exact() && !frozen;
            used_hvp = exact;
            let (c, wd) = (0.5 * h, f.weight_decay);
            lin(mid, w, &[(-c, k)]);
            f.eval(mid, k_next);
            iters += 1;
            let (r, mut g2) = defect(h, k, k_next);
            res = r;
            trace.push(res);
            let mut best = res;
            let mut stall = 0;
            loop {
                if res <= target {
                    converged = true;
                    break;
                }
                if !res.is_finite() || iters >= max_iter {
                    break;
                }
                if stall >= STALL {
                    stalled = true;
                    break;
                }
                // Solve (I + h/2 (Hess L + wd I)) x = -G = grad F(mid) - k.
                for ((r, a), b) in krylov.r2.iter_mut().zip(k_next.iter()).zip(k.iter()) {
                    *r = a - b;
                }
                let rtol = (g2 / norm2(k).sqrt()).clamp(1e-13, 1e-2);
                let mid_norm = norm2(mid).sqrt();
                {
                    let (mid, k_next, pt) = (&*mid, &*k_next, &mut *pt);
                    let mut jvp = |v: &[f64], out: &mut [f64]| {
                        if exact {
                            f.model.hvp(mid, v, out);
                            for (o, vi) in out.iter_mut().zip(v) {
                                *o = vi + c * (*o + wd * vi);
                            }
                        } else {
                            // |v| = 1: a one-sided difference of grad F (weight decay included).
                            let e = f64::EPSILON.sqrt() * (1.0 + mid_norm);
                            lin(pt, mid, &[(e, v)]);
                            f.eval(pt, out);
                            for ((o, vi), g) in out.iter_mut().zip(v).zip(k_next) {
                                *o = vi + c * (*o - g) / e;
                            }
                        }
                    };
                    krylov.solve(&mut jvp, rtol, KRYLOV_MAX);
                }
                // k + lambda x, lambda = 1, 1/2, .. while |G|_2 does not decrease.
                let g2_old = g2;
                let mut lambda = 1.0;
                axpy(1.0, &krylov.x, k);
                let mut halvings = 0;
                loop {
                    lin(mid, w, &[(-c, k)]);
                    f.eval(mid, k_next);
                    iters += 1;
                    (res, g2) = defect(h, k, k_next);
                    trace.push(res);
                    if g2 < g2_old || halvings == HALVINGS || iters >= max_iter {
                        break;
                    }
                    lambda *= 0.5;
                    axpy(-lambda, &krylov.x, k);
                    halvings += 1;
                }
                if res < 0.5 * best {
                    best = res;
                    stall = 0;
                } else {
                    stall += 1;
                }
            }
        }
        if frozen {
            f.model.freeze_pattern(false);
        }
        if used_hvp {
            f.model.end_queries();
        }
        self.iters = iters;
        self.residual = res;
        if converged {
            axpy(-h, &self.k, w);
            return Ok(h);
        }
        let reason = if !res.is_finite() {
            format!(
                "implicitMidpoint: the gradient at the midpoint is not finite (step size {h}); \
                 the iterate is kept"
            )
        } else if stalled {
            format!(
                "implicitMidpoint: the solve stopped improving at defect {res:e} > tol (1 + \
                 max|w|) = {target:e} after {iters} gradient evaluations (step size {h}): the \
                 tolerance is below the rounding level here, or the implicit equation has no \
                 solution nearby; the iterate is kept"
            )
        } else {
            format!(
                "implicitMidpoint: the solve did not converge in maxIter = {max_iter} gradient \
                 evaluations: defect {res:e} > tol (1 + max|w|) = {target:e} (step size {h}); \
                 the iterate is kept"
            )
        };
        Err(StepFailure { reason })
    }
    fn column_names(&self) -> &'static [&'static str] {
        &["solveIters", "solveResidual"]
    }
    fn columns(&self, out: &mut Vec<f64>) {
        out.push(self.iters as f64);
        out.push(self.residual);
    }
    fn needs_pattern_freeze(&self) -> bool {
        true
    }
    fn is_flow(&self) -> bool {
        true
    }
    fn solve_trace(&self) -> &[f64] {
        &self.trace
    }
}
