//! Classical 4th-order Runge-Kutta on the flow dw/dt = -grad F.

use super::{lin, Objective, Setup, Step, StepResult};

#[derive(Clone)]
pub struct Rk4 {
    /// The stage point, and the gradients of stages 2 to 4 (stage 1 is the session's).
    y: Vec<f64>,
    k2: Vec<f64>,
    k3: Vec<f64>,
    k4: Vec<f64>,
}

impl Rk4 {
    pub fn new(s: &mut Setup) -> Self {
        Rk4 {
            y: s.vector(),
            k2: s.vector(),
            k3: s.vector(),
            k4: s.vector(),
        }
    }
}

impl Step for Rk4 {
    fn name(&self) -> &'static str {
        "rk4"
    }
    fn step(&mut self, f: &mut Objective, w: &mut [f64], grad: &[f64], eta: f64) -> StepResult {
        let Rk4 { y, k2, k3, k4 } = self;
        let h = eta;
        lin(y, w, &[(-0.5 * h, grad)]);
        f.eval(y, k2);
        lin(y, w, &[(-0.5 * h, k2)]);
        f.eval(y, k3);
        lin(y, w, &[(-h, k3)]);
        f.eval(y, k4);
        for i in 0..w.len() {
            w[i] -= h / 6.0 * (grad[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
        }
        Ok(h)
    }
    fn is_flow(&self) -> bool {
        true
    }
}
