//! Curvature of a model at a point: dense and Lanczos eigen-solvers, stochastic Lanczos
//! quadrature, Hutchinson traces, per-block spectra, a classification of the point (local minimum
//! / strict saddle / degenerate / not stationary), and the family's own queries (e.g. the Lemma
//! 3.2 certificate of matrix factorization, in `model::mf::lemma`).
//!
//! Everything works on a [`Model`] (loss, gradient and Hessian-vector products at a point; exact
//! where the family provides them, central differences otherwise, see `Model::hvp_exact`). The JSON
//! entry point the bindings call is [`analyze`]; see `docs/curvature.md` for the query and report
//! formats. No clock, no threads, no I/O: the module compiles for wasm32.

use std::ops::Range;

use crate::linalg::dot;
use crate::model::Model;

pub mod analyze;
pub mod classify;
pub mod dense;
pub mod job;
pub mod lanczos;
pub mod slq;
pub mod track;

pub use analyze::{analyze, Query};
pub use classify::{classify, Classification, ClassifyOptions, Verdict};
pub use dense::{dense_eigen, dense_hessian, DenseEigen};
pub use job::{session_query, session_query_advance, QueryJob, QueryStatus};
pub use lanczos::{
    lanczos, lanczos_capped, lanczos_verified, EigPair, LanczosJob, LanczosOptions, LanczosResult,
    VerifiedLanczos, Which,
};
pub use slq::{hutchinson, slq_density, Density, TraceEstimate};
pub use track::{CurvatureSample, CurvatureTracker};

/// A symmetric linear operator (the Hessian at a point, or one block of it).
pub trait LinOp {
    fn n(&self) -> usize;
    /// `y = A x`.
    fn apply(&mut self, x: &[f64], y: &mut [f64]);
}

/// The Hessian of `model` at `w`, optionally restricted to the block `range`
/// (`H_BB = P_B H P_B^T`: the vector is embedded in the block, the product projected back).
pub struct HessianOp<'a> {
    model: &'a mut dyn Model,
    w: &'a [f64],
    block: Option<Range<usize>>,
    xin: Vec<f64>,
    yout: Vec<f64>,
    /// Number of Hessian-vector products done through this operator.
    pub hvps: usize,
}

impl<'a> HessianOp<'a> {
    pub fn new(model: &'a mut dyn Model, w: &'a [f64], block: Option<Range<usize>>) -> Self {
        let (xin, yout) = if block.is_some() {
            let n = model.dim();
            (vec![0.0; n], vec![0.0; n])
        } else {
            (Vec::new(), Vec::new())
        };
        HessianOp {
            model,
            w,
            block,
            xin,
            yout,
            hvps: 0,
        }
    }
}

impl LinOp for HessianOp<'_> {
    fn n(&self) -> usize {
        match &self.block {
            Some(b) => b.len(),
            None => self.model.dim(),
        }
    }
    fn apply(&mut self, x: &[f64], y: &mut [f64]) {
        self.hvps += 1;
        match &self.block {
            None => self.model.hvp(self.w, x, y),
            Some(b) => {
                self.xin.fill(0.0);
                self.xin[b.clone()].copy_from_slice(x);
                self.model.hvp(self.w, &self.xin, &mut self.yout);
                y.copy_from_slice(&self.yout[b.clone()]);
            }
        }
    }
}

/// `||A x - lambda x||` for a unit `x`, with one real operator application.
pub fn residual(op: &mut dyn LinOp, x: &[f64], lambda: f64) -> f64 {
    let mut y = vec![0.0; x.len()];
    op.apply(x, &mut y);
    y.iter()
        .zip(x)
        .map(|(a, b)| (a - lambda * b) * (a - lambda * b))
        .sum::<f64>()
        .sqrt()
}

pub(crate) fn normalize(x: &mut [f64]) -> f64 {
    let n = dot(x, x).sqrt();
    if n > 0.0 {
        for v in x.iter_mut() {
            *v /= n;
        }
    }
    n
}

/// Smallest magnitude used as a scale for relative tolerances.
pub(crate) const TINY: f64 = 1e-300;

/// Operators shared by the solvers' unit tests.
#[cfg(test)]
pub(crate) mod test_ops {
    use super::LinOp;

    /// A diagonal operator.
    pub struct Diag(pub Vec<f64>);
    impl LinOp for Diag {
        fn n(&self) -> usize {
            self.0.len()
        }
        fn apply(&mut self, x: &[f64], y: &mut [f64]) {
            for ((yi, xi), d) in y.iter_mut().zip(x).zip(&self.0) {
                *yi = d * xi;
            }
        }
    }
}
