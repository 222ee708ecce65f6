//! Nesterov's accelerated gradient: v <- beta v + grad F(w - eta beta v); w <- w - eta v.
//! It never reads the gradient at the iterate itself, only at the look-ahead point.

use super::{unit_interval, Objective, Setup, Step, StepResult};
use crate::error::Result;
use crate::linalg::axpy;

#[derive(Clone)]
pub struct Nesterov {
    beta: f64,
    /// The velocity v.
    v: Vec<f64>,
    /// The look-ahead point w - eta beta v and the objective gradient there.
    look: Vec<f64>,
    look_grad: Vec<f64>,
}

impl Nesterov {
    pub fn new(beta: f64, s: &mut Setup) -> Result<Self> {
        Ok(Nesterov {
            beta: unit_interval("method.beta", beta)?,
            v: s.vector(),
            look: s.vector(),
            look_grad: s.vector(),
        })
    }
}

impl Step for Nesterov {
    fn name(&self) -> &'static str {
        "nesterov"
    }
    fn step(&mut self, f: &mut Objective, w: &mut [f64], _grad: &[f64], eta: f64) -> StepResult {
        let Nesterov {
            beta,
            v,
            look,
            look_grad,
        } = self;
        let beta = *beta;
        for ((l, wi), vi) in look.iter_mut().zip(w.iter()).zip(v.iter()) {
            *l = wi - eta * beta * vi;
        }
        f.eval(look, look_grad);
        for (vi, gi) in v.iter_mut().zip(look_grad.iter()) {
            *vi = beta * *vi + gi;
        }
        axpy(-eta, v, w);
        Ok(eta)
    }
    fn reads_no_full_gradient(&self) -> bool {
        true
    }
}
