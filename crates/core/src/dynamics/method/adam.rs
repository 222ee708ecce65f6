//! Adam with bias correction (on grad F: weight decay as an L2 term, not decoupled).

use super::{unit_interval, Objective, Setup, Step, StepResult};
use crate::error::Result;
use crate::spec::positive_real;

#[derive(Clone)]
pub struct Adam {
    beta1: f64,
    beta2: f64,
    eps: f64,
    /// Steps taken (the exponent of the bias corrections).
    t: u64,
    /// First and second moment estimates.
    m: Vec<f64>,
    s: Vec<f64>,
}

impl Adam {
    pub fn new(beta1: f64, beta2: f64, eps: f64, s: &mut Setup) -> Result<Self> {
        Ok(Adam {
            beta1: unit_interval("method.beta1", beta1)?,
            beta2: unit_interval("method.beta2", beta2)?,
            eps: positive_real("method.eps", eps)?,
            t: 0,
            m: s.vector(),
            s: s.vector(),
        })
    }
}

impl Step for Adam {
    fn name(&self) -> &'static str {
        "adam"
    }
    fn step(&mut self, _f: &mut Objective, w: &mut [f64], grad: &[f64], eta: f64) -> StepResult {
        let Adam {
            beta1,
            beta2,
            eps,
            t,
            m,
            s,
        } = self;
        let (beta1, beta2, eps) = (*beta1, *beta2, *eps);
        *t += 1;
        let t = *t as f64;
        let c1 = 1.0 - libm::pow(beta1, t);
        let c2 = 1.0 - libm::pow(beta2, t);
        for (((wi, gi), mi), si) in w.iter_mut().zip(grad).zip(m.iter_mut()).zip(s.iter_mut()) {
            *mi = beta1 * *mi + (1.0 - beta1) * gi;
            *si = beta2 * *si + (1.0 - beta2) * gi * gi;
            *wi -= eta * (*mi / c1) / (libm::sqrt(*si / c2) + eps);
        }
        Ok(eta)
    }
}
