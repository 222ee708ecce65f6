//! Adaptive Dormand-Prince 5(4) on the flow dw/dt = -grad F, first-same-as-last: the last stage
//! is the gradient at the accepted point, handed to the session instead of a new evaluation.

use super::{Objective, Setup, Step, StepFailure, StepResult};
use crate::error::Result;
use crate::spec::positive_real;

/// Stage s + 2 is evaluated at w - h sum_j C[s][j] k_{j+1} (k_1: the gradient at w); the last
/// row gives the 5th-order solution.
const C: [[f64; 6]; 6] = [
    [1.0 / 5.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0, 0.0],
    [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0, 0.0],
    [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
        0.0,
        0.0,
    ],
    [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
        0.0,
    ],
    [
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
    ],
];
/// Error weights of k_1 .. k_7 (5th minus 4th order).
const E: [f64; 7] = [
    71.0 / 57600.0,
    0.0,
    -71.0 / 16695.0,
    71.0 / 1920.0,
    -17253.0 / 339200.0,
    22.0 / 525.0,
    -1.0 / 40.0,
];
/// Trial steps per step; when all are rejected the step fails (the run stops with
/// `solverFailed`).
const MAX_ATTEMPTS: usize = 60;

#[derive(Clone)]
pub struct Dopri5 {
    rtol: f64,
    atol: f64,
    /// The current trial step size (after the first step).
    h: Option<f64>,
    /// Rejected trial steps so far.
    rejected: u64,
    /// The loss at the accepted point, whose gradient is the last stage, until the session takes
    /// it.
    fsal: Option<f64>,
    /// Gradients of stages 2 to 7 (`k[s]` is stage s + 2; stage 1 is the session's).
    k: [Vec<f64>; 6],
    /// The stage point; after the last stage, the 5th-order solution.
    y: Vec<f64>,
}

impl Dopri5 {
    pub fn new(rtol: f64, atol: f64, s: &mut Setup) -> Result<Self> {
        Ok(Dopri5 {
            rtol: positive_real("method.rtol", rtol)?,
            atol: positive_real("method.atol", atol)?,
            h: None,
            rejected: 0,
            fsal: None,
            k: std::array::from_fn(|_| s.vector()),
            y: s.vector(),
        })
    }
}

impl Step for Dopri5 {
    fn name(&self) -> &'static str {
        "dopri5"
    }
    fn step(&mut self, f: &mut Objective, w: &mut [f64], g1: &[f64], eta: f64) -> StepResult {
        let Dopri5 {
            rtol,
            atol,
            h: next_h,
            rejected,
            fsal,
            k,
            y,
        } = self;
        let (rtol, atol) = (*rtol, *atol);
        let mut h = next_h.unwrap_or(eta);
        let n = w.len();
        let mut last_loss = f64::NAN;
        for _attempt in 0..MAX_ATTEMPTS {
            for s in 0..6 {
                // y = w - h (C[s][0] g1 + sum_{1<=j<=s} C[s][j] k_{j+1}); k_{s+2} = grad(y)
                for i in 0..n {
                    let mut acc = C[s][0] * g1[i];
                    for (c, kj) in C[s][1..=s].iter().zip(k.iter()) {
                        acc += c * kj[i];
                    }
                    y[i] = w[i] - h * acc;
                }
                last_loss = f.eval(y, &mut k[s]);
            }
            // y holds the 5th-order solution (stage 7 point); error estimate.
            let mut e2 = 0.0;
            for i in 0..n {
                let mut e = E[0] * g1[i];
                for (ej, kj) in E[1..].iter().zip(k.iter()) {
                    e += ej * kj[i];
                }
                let sc = atol + rtol * w[i].abs().max(y[i].abs());
                let r = h * e / sc;
                e2 += r * r;
            }
            let err = libm::sqrt(e2 / n.max(1) as f64);
            if err <= 1.0 {
                w.copy_from_slice(y);
                // The last stage was evaluated at y, the new iterate.
                *fsal = Some(last_loss);
                let factor = if err == 0.0 {
                    5.0
                } else {
                    (0.9 * libm::pow(err, -0.2)).clamp(0.2, 5.0)
                };
                *next_h = Some(h * factor);
                return Ok(h);
            }
            if !err.is_finite() {
                h *= 0.2;
            } else {
                h *= (0.9 * libm::pow(err, -0.2)).clamp(0.2, 1.0);
            }
            *rejected += 1;
            // A trial step that cannot move w any more (h |g| below the rounding of w): fail
            // rather than shrink on. Only reached after a rejection, so a zero gradient (err = 0,
            // accepted) never gets here.
            let gmax = g1.iter().fold(0.0f64, |a, x| a.max(x.abs()));
            let wmax = w.iter().fold(0.0f64, |a, x| a.max(x.abs()));
            if h <= 0.0 || h * gmax <= f64::EPSILON * (1.0 + wmax) {
                return Err(StepFailure {
                    reason: format!(
                        "dopri5: the error control shrank the step size to {h:e}, below the \
                         rounding of the iterate (error estimate {err:e}); the iterate is kept"
                    ),
                });
            }
        }
        // Every trial rejected: fail (w unchanged); a next step would start from the last trial h.
        *next_h = Some(h);
        Err(StepFailure {
            reason: format!(
                "dopri5: all {MAX_ATTEMPTS} trial steps of this step were rejected by the error \
                 control (last trial step size {h:e}); the iterate is kept"
            ),
        })
    }
    fn next_h(&self, eta_t: f64) -> f64 {
        self.h.unwrap_or(eta_t)
    }
    fn column_names(&self) -> &'static [&'static str] {
        &["rejected"]
    }
    fn columns(&self, out: &mut Vec<f64>) {
        out.push(self.rejected as f64);
    }
    fn take_fsal(&mut self, grad: &mut [f64]) -> Option<f64> {
        let loss = self.fsal.take()?;
        grad.copy_from_slice(&self.k[5]);
        Some(loss)
    }
    fn is_flow(&self) -> bool {
        true
    }
}
