//! Gradient descent: w <- w - eta grad F.

use super::{Objective, Step, StepResult};
use crate::linalg::axpy;

#[derive(Clone)]
pub struct Gd;

impl Step for Gd {
    fn name(&self) -> &'static str {
        "gd"
    }
    fn step(&mut self, _f: &mut Objective, w: &mut [f64], grad: &[f64], eta: f64) -> StepResult {
        axpy(-eta, grad, w);
        Ok(eta)
    }
}
