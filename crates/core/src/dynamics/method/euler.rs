//! Explicit Euler on the flow dw/dt = -grad F: the iterates of gradient descent, read as points
//! of the flow.

use super::{Gd, Objective, Step, StepResult};

#[derive(Clone)]
pub struct Euler;

impl Step for Euler {
    fn name(&self) -> &'static str {
        "euler"
    }
    fn step(&mut self, f: &mut Objective, w: &mut [f64], grad: &[f64], eta: f64) -> StepResult {
        Gd.step(f, w, grad, eta)
    }
    fn is_flow(&self) -> bool {
        true
    }
}
