//! Implicit midpoint on the flow dw/dt = -grad F: w' = w - h k with k = grad F(w - h/2 k), solved
//! by fixed-point iteration until h |k_new - k| <= tol (1 + max|w|) (max norm), at most maxIter
//! evaluations. It conserves the quadratic invariants of the flow to the solve tolerance.

use super::{lin, Objective, Setup, Step};
use crate::error::Result;
use crate::linalg::axpy;
use crate::spec::{positive, positive_real};

#[derive(Clone)]
pub struct ImplicitMidpoint {
    tol: f64,
    max_iter: usize,
    /// Iterations of the last solve and its last defect h |grad F(mid) - k| (max norm).
    iters: usize,
    residual: f64,
    /// The slope k, the midpoint w - h/2 k and the gradient there (the next k).
    k: Vec<f64>,
    mid: Vec<f64>,
    k_next: Vec<f64>,
}

impl ImplicitMidpoint {
    pub fn new(tol: f64, max_iter: f64, s: &mut Setup) -> Result<Self> {
        Ok(ImplicitMidpoint {
            tol: positive_real("method.tol", tol)?,
            max_iter: positive("method.maxIter", max_iter)?,
            iters: 0,
            residual: 0.0,
            k: s.vector(),
            mid: s.vector(),
            k_next: s.vector(),
        })
    }
}

impl Step for ImplicitMidpoint {
    fn name(&self) -> &'static str {
        "implicitMidpoint"
    }
    fn step(&mut self, f: &mut Objective, w: &mut [f64], grad: &[f64], eta: f64) -> f64 {
        let ImplicitMidpoint {
            tol,
            max_iter,
            k,
            mid,
            k_next,
            ..
        } = self;
        let (tol, max_iter) = (*tol, *max_iter);
        let h = eta;
        k.copy_from_slice(grad);
        let scale = 1.0 + w.iter().fold(0.0f64, |a, x| a.max(x.abs()));
        let mut iters = 0;
        let mut res = f64::INFINITY;
        // Fixed-point iteration k <- grad F(w - h/2 k). Piecewise-linear activations make grad F
        // discontinuous at kinks, where the plain iteration can cycle: when it stops contracting
        // (or after 5 iterations) the activation pattern of the last midpoint is frozen, which
        // leaves a smooth model with the same rescaling symmetries (so the same conserved
        // quantities), and the iteration converges.
        let mut frozen = false;
        while iters < max_iter {
            lin(mid, w, &[(-0.5 * h, k)]);
            f.eval(mid, k_next);
            iters += 1;
            // h |grad F(mid) - k| (max norm): the fixed-point defect.
            let r = h * k
                .iter()
                .zip(k_next.iter())
                .fold(0.0f64, |a, (x, y)| a.max((x - y).abs()));
            std::mem::swap(k, k_next);
            let contracting = r <= 0.5 * res;
            res = r;
            if res <= tol * scale || res.is_nan() {
                break;
            }
            if !frozen && (!contracting || iters >= 5) {
                frozen = f.model.freeze_pattern(true);
            }
        }
        if frozen {
            f.model.freeze_pattern(false);
        }
        self.iters = iters;
        self.residual = res;
        axpy(-h, &self.k, w);
        h
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
}
