//! Heavy ball: v <- beta v + grad F(w); w <- w - eta v.

use super::{unit_interval, Objective, Setup, Step, StepResult};
use crate::error::Result;
use crate::linalg::axpy;

#[derive(Clone)]
pub struct Momentum {
    beta: f64,
    /// The velocity v.
    v: Vec<f64>,
}

impl Momentum {
    pub fn new(beta: f64, s: &mut Setup) -> Result<Self> {
        Ok(Momentum {
            beta: unit_interval("method.beta", beta)?,
            v: s.vector(),
        })
    }
}

impl Step for Momentum {
    fn name(&self) -> &'static str {
        "momentum"
    }
    fn step(&mut self, _f: &mut Objective, w: &mut [f64], grad: &[f64], eta: f64) -> StepResult {
        let beta = self.beta;
        for (vi, gi) in self.v.iter_mut().zip(grad) {
            *vi = beta * *vi + gi;
        }
        axpy(-eta, &self.v, w);
        Ok(eta)
    }
}
