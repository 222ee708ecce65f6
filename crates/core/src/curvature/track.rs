//! Curvature along a trajectory: lambda_min and lambda_max every few steps of a run, with
//! Lanczos warm-started from the previous sample's extreme eigenvectors (the Hessian changes
//! little between nearby iterates, so the previous eigenvectors are already close).
//!
//! The session calls [`CurvatureTracker::sample`] at the iterates it records; this module holds
//! no run state besides the two previous vectors.

use super::lanczos::{lanczos, LanczosOptions, Which};
use super::HessianOp;
use crate::model::Model;

#[derive(Debug, Clone)]
pub struct CurvatureTracker {
    /// Relative residual tolerance. Default 1e-6 (a trajectory plot needs less than a verdict).
    pub tol: f64,
    /// Lanczos step budget per sample.
    pub max_iter: usize,
    pub seed: u64,
    prev_min: Vec<f64>,
    prev_max: Vec<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvatureSample {
    pub lambda_min: f64,
    pub lambda_min_residual: f64,
    pub lambda_max: f64,
    pub lambda_max_residual: f64,
    pub converged: bool,
    pub iterations: usize,
    pub hvps: usize,
}

impl Default for CurvatureTracker {
    fn default() -> Self {
        CurvatureTracker::new(1e-6, 500, 0)
    }
}

impl CurvatureTracker {
    pub fn new(tol: f64, max_iter: usize, seed: u64) -> Self {
        CurvatureTracker {
            tol,
            max_iter,
            seed,
            prev_min: Vec::new(),
            prev_max: Vec::new(),
        }
    }

    /// Forget the previous vectors (next sample starts cold).
    pub fn reset(&mut self) {
        self.prev_min.clear();
        self.prev_max.clear();
    }

    /// lambda_min and lambda_max of the Hessian at `w`, warm-started from the previous sample.
    pub fn sample(&mut self, model: &mut dyn Model, w: &[f64]) -> CurvatureSample {
        let mut warm = Vec::new();
        if !self.prev_min.is_empty() {
            warm.push(std::mem::take(&mut self.prev_min));
        }
        if !self.prev_max.is_empty() {
            warm.push(std::mem::take(&mut self.prev_max));
        }
        let mut op = HessianOp::new(model, w, None);
        let r = lanczos(
            &mut op,
            &LanczosOptions {
                k: 1,
                which: Which::Both,
                tol: self.tol,
                max_iter: self.max_iter,
                seed: self.seed,
                warm,
                deflate: Vec::new(),
            },
        );
        let hvps = op.hvps;
        let (mut s, mut l) = (r.smallest, r.largest);
        let (Some(s0), Some(l0)) = (s.pop(), l.pop()) else {
            return CurvatureSample {
                lambda_min: f64::NAN,
                lambda_min_residual: f64::NAN,
                lambda_max: f64::NAN,
                lambda_max_residual: f64::NAN,
                converged: false,
                iterations: r.iterations,
                hvps,
            };
        };
        let out = CurvatureSample {
            lambda_min: s0.value,
            lambda_min_residual: s0.residual,
            lambda_max: l0.value,
            lambda_max_residual: l0.residual,
            converged: s0.converged && l0.converged,
            iterations: r.iterations,
            hvps,
        };
        self.prev_min = s0.vector;
        self.prev_max = l0.vector;
        out
    }
}
