//! First-order methods and gradient-flow integrators, for every [`Model`].
//!
//! The objective is F(w) = L(w) + (weightDecay / 2) ||w||^2 (weight decay as an L2 term, so every
//! method, Adam included, sees the gradient grad L + weightDecay w). The flow is dw/dt = -grad F.
//! Every method takes one step from iterate t with the step size h = eta_t of the schedule
//! (Dormand-Prince: the first trial step; later steps are chosen by its error control).
//! The session holds F and grad F at the current iterate; a step may evaluate F elsewhere
//! (RK stages, the implicit solve) using the method's own buffers: nothing is allocated per step.

use crate::error::{Error, Result};
use crate::linalg::axpy;
use crate::model::Model;
use crate::rng::Normal;
use crate::spec::{count, finite, positive, positive_real, MethodSpec};

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Gd,
    Momentum { beta: f64 },
    Nesterov { beta: f64 },
    Adam { beta1: f64, beta2: f64, eps: f64 },
    Sgd { batch: usize },
    Euler,
    Rk4,
    Dopri5 { rtol: f64, atol: f64 },
    ImplicitMidpoint { tol: f64, max_iter: usize },
}

#[derive(Clone)]
pub struct Method {
    pub kind: Kind,
    pub weight_decay: f64,
    /// Current Dormand-Prince step size (after the first step).
    h: Option<f64>,
    /// Flow time (sum of step sizes).
    pub time: f64,
    /// Iterations of the last implicit solve and its last update size (max norm).
    pub solve_iters: usize,
    pub solve_residual: f64,
    /// Rejected Dormand-Prince trial steps so far.
    pub rejected: u64,
    bufs: Vec<Vec<f64>>,
    /// Dormand-Prince is first-same-as-last: the loss at the accepted point, whose gradient is the
    /// last stage (`bufs[6]`), handed to the session instead of a new evaluation.
    fsal: Option<f64>,
    adam_t: u64,
    rng: Option<Normal>,
    perm: Vec<usize>,
    perm_pos: usize,
}

fn unit_interval(field: &str, x: f64) -> Result<f64> {
    finite(field, x)?;
    if (0.0..1.0).contains(&x) {
        Ok(x)
    } else {
        Err(Error::range(
            field,
            format!("expected 0 <= {field} < 1, got {x}"),
        ))
    }
}

impl Method {
    /// Validate a method spec for a model of `dim` parameters and `samples` samples (if the loss
    /// is an average over samples).
    pub fn from_spec(
        spec: Option<&MethodSpec>,
        weight_decay: f64,
        dim: usize,
        samples: Option<usize>,
    ) -> Result<Method> {
        let wd = finite("weightDecay", weight_decay)?;
        if wd < 0.0 {
            return Err(Error::range(
                "weightDecay",
                format!("expected a value >= 0, got {wd}"),
            ));
        }
        let mut rng = None;
        let mut perm = Vec::new();
        let (kind, nbufs) = match spec {
            None | Some(MethodSpec::Gd {}) => (Kind::Gd, 0),
            Some(MethodSpec::Momentum { beta }) => (
                Kind::Momentum {
                    beta: unit_interval("method.beta", *beta)?,
                },
                1,
            ),
            Some(MethodSpec::Nesterov { beta }) => (
                Kind::Nesterov {
                    beta: unit_interval("method.beta", *beta)?,
                },
                3,
            ),
            Some(MethodSpec::Adam { beta1, beta2, eps }) => (
                Kind::Adam {
                    beta1: unit_interval("method.beta1", *beta1)?,
                    beta2: unit_interval("method.beta2", *beta2)?,
                    eps: positive_real("method.eps", *eps)?,
                },
                2,
            ),
            Some(MethodSpec::Sgd { batch_size, seed }) => {
                let b = positive("method.batchSize", *batch_size)?;
                let m = samples.ok_or_else(|| {
                    Error::range(
                        "method.kind",
                        "mini-batch SGD needs a loss averaged over samples (a network model)",
                    )
                })?;
                if b > m {
                    return Err(Error::range(
                        "method.batchSize",
                        format!("expected at most the number of samples ({m}), got {b}"),
                    ));
                }
                rng = Some(Normal::new(count("method.seed", *seed)?));
                perm = (0..m).collect();
                (Kind::Sgd { batch: b }, 1)
            }
            Some(MethodSpec::Euler {}) => (Kind::Euler, 0),
            Some(MethodSpec::Rk4 {}) => (Kind::Rk4, 5),
            Some(MethodSpec::Dopri5 { rtol, atol }) => (
                Kind::Dopri5 {
                    rtol: positive_real("method.rtol", *rtol)?,
                    atol: positive_real("method.atol", *atol)?,
                },
                8,
            ),
            Some(MethodSpec::ImplicitMidpoint { tol, max_iter }) => (
                Kind::ImplicitMidpoint {
                    tol: positive_real("method.tol", *tol)?,
                    max_iter: positive("method.maxIter", *max_iter)?,
                },
                3,
            ),
        };
        let perm_pos = perm.len();
        Ok(Method {
            kind,
            weight_decay: wd,
            h: None,
            time: 0.0,
            solve_iters: 0,
            solve_residual: 0.0,
            rejected: 0,
            bufs: vec![vec![0.0; dim]; nbufs],
            fsal: None,
            adam_t: 0,
            rng,
            perm,
            perm_pos,
        })
    }

    /// Numbers of working memory per parameter.
    pub fn buffers(spec: Option<&MethodSpec>) -> usize {
        match spec {
            Some(MethodSpec::Rk4 {}) => 5,
            Some(MethodSpec::Dopri5 { .. }) => 8,
            Some(MethodSpec::ImplicitMidpoint { .. } | MethodSpec::Nesterov { .. }) => 3,
            Some(MethodSpec::Adam { .. }) => 2,
            Some(MethodSpec::Momentum { .. } | MethodSpec::Sgd { .. }) => 1,
            _ => 0,
        }
    }

    /// Names of the method's extra columns.
    pub fn column_names(&self) -> &'static [&'static str] {
        match self.kind {
            Kind::ImplicitMidpoint { .. } => &["solveIters", "solveResidual"],
            Kind::Dopri5 { .. } => &["rejected"],
            _ => &[],
        }
    }
    pub fn columns(&self, out: &mut Vec<f64>) {
        match self.kind {
            Kind::ImplicitMidpoint { .. } => {
                out.push(self.solve_iters as f64);
                out.push(self.solve_residual);
            }
            Kind::Dopri5 { .. } => out.push(self.rejected as f64),
            _ => {}
        }
    }

    /// True when a step does not read the full-batch gradient of the current iterate (SGD uses a
    /// minibatch gradient, Nesterov the gradient at its look-ahead point): the session then
    /// evaluates the full loss and gradient only where it records a row or returns a status.
    pub fn reads_no_full_gradient(&self) -> bool {
        matches!(self.kind, Kind::Sgd { .. } | Kind::Nesterov { .. })
    }

    /// After a step: the loss at the new iterate, with its gradient (grad F) written to `grad`,
    /// when the method already evaluated them there (Dormand-Prince's last stage); `None`
    /// otherwise (the session then evaluates).
    pub fn take_fsal(&mut self, grad: &mut [f64]) -> Option<f64> {
        let loss = self.fsal.take()?;
        grad.copy_from_slice(&self.bufs[6]);
        Some(loss)
    }

    /// The step size the next step from iterate t will use (eta_t; Dormand-Prince: its current
    /// trial step).
    pub fn next_h(&self, eta_t: f64) -> f64 {
        self.h.unwrap_or(eta_t)
    }

    /// Take one step from `w` (whose objective gradient is `grad`). `eta` is eta_t. Returns the
    /// step size used.
    pub fn step(&mut self, model: &mut dyn Model, w: &mut [f64], grad: &[f64], eta: f64) -> f64 {
        let wd = self.weight_decay;
        let h = match self.kind.clone() {
            Kind::Gd | Kind::Euler => {
                axpy(-eta, grad, w);
                eta
            }
            Kind::Momentum { beta } => {
                // v <- beta v + g; w <- w - eta v
                let v = &mut self.bufs[0];
                for (vi, gi) in v.iter_mut().zip(grad) {
                    *vi = beta * *vi + gi;
                }
                axpy(-eta, v, w);
                eta
            }
            Kind::Nesterov { beta } => {
                // v <- beta v + grad F(w - eta beta v); w <- w - eta v
                let [v, look, g] = &mut self.bufs[..] else {
                    unreachable!()
                };
                for ((l, wi), vi) in look.iter_mut().zip(w.iter()).zip(v.iter()) {
                    *l = wi - eta * beta * vi;
                }
                objective(model, wd, look, g);
                for (vi, gi) in v.iter_mut().zip(g.iter()) {
                    *vi = beta * *vi + gi;
                }
                axpy(-eta, v, w);
                eta
            }
            Kind::Adam { beta1, beta2, eps } => {
                self.adam_t += 1;
                let t = self.adam_t as f64;
                let c1 = 1.0 - libm::pow(beta1, t);
                let c2 = 1.0 - libm::pow(beta2, t);
                let [m, s] = &mut self.bufs[..] else {
                    unreachable!()
                };
                for (((wi, gi), mi), si) in
                    w.iter_mut().zip(grad).zip(m.iter_mut()).zip(s.iter_mut())
                {
                    *mi = beta1 * *mi + (1.0 - beta1) * gi;
                    *si = beta2 * *si + (1.0 - beta2) * gi * gi;
                    *wi -= eta * (*mi / c1) / (libm::sqrt(*si / c2) + eps);
                }
                eta
            }
            Kind::Sgd { batch } => {
                let n = self.perm.len();
                if self.perm_pos + batch > n {
                    // New epoch: Fisher-Yates shuffle from the seeded stream.
                    let rng = self.rng.as_mut().expect("sgd has a stream");
                    for i in (1..n).rev() {
                        let j = ((rng.uniform_open() * (i + 1) as f64) as usize).min(i);
                        self.perm.swap(i, j);
                    }
                    self.perm_pos = 0;
                }
                let idx = &self.perm[self.perm_pos..self.perm_pos + batch];
                self.perm_pos += batch;
                let g = &mut self.bufs[0];
                model.set_batch(Some(idx));
                objective(model, wd, w, g);
                model.set_batch(None);
                axpy(-eta, g, w);
                eta
            }
            Kind::Rk4 => {
                let [y, k2, k3, k4, _] = &mut self.bufs[..] else {
                    unreachable!()
                };
                let h = eta;
                lin(y, w, &[(-0.5 * h, grad)]);
                objective(model, wd, y, k2);
                lin(y, w, &[(-0.5 * h, k2)]);
                objective(model, wd, y, k3);
                lin(y, w, &[(-h, k3)]);
                objective(model, wd, y, k4);
                for i in 0..w.len() {
                    w[i] -= h / 6.0 * (grad[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
                }
                h
            }
            Kind::Dopri5 { rtol, atol } => self.dopri5(model, w, grad, eta, rtol, atol),
            Kind::ImplicitMidpoint { tol, max_iter } => {
                let [k, mid, kn] = &mut self.bufs[..] else {
                    unreachable!()
                };
                let h = eta;
                k.copy_from_slice(grad);
                let scale = 1.0 + w.iter().fold(0.0f64, |a, x| a.max(x.abs()));
                let mut iters = 0;
                let mut res = f64::INFINITY;
                // Fixed-point iteration k <- grad F(w - h/2 k). Piecewise-linear activations
                // make grad F discontinuous at kinks, where the plain iteration can cycle: when
                // it stops contracting (or after 5 iterations) the activation pattern of the
                // last midpoint is frozen, which leaves a smooth model with the same rescaling
                // symmetries (so the same conserved quantities), and the iteration converges.
                let mut frozen = false;
                while iters < max_iter {
                    lin(mid, w, &[(-0.5 * h, k)]);
                    objective(model, wd, mid, kn);
                    iters += 1;
                    // h |grad F(mid) - k| (max norm): the fixed-point defect.
                    let r = h * k
                        .iter()
                        .zip(kn.iter())
                        .fold(0.0f64, |a, (x, y)| a.max((x - y).abs()));
                    std::mem::swap(k, kn);
                    let contracting = r <= 0.5 * res;
                    res = r;
                    if res <= tol * scale || res.is_nan() {
                        break;
                    }
                    if !frozen && (!contracting || iters >= 5) {
                        frozen = model.freeze_pattern(true);
                    }
                }
                if frozen {
                    model.freeze_pattern(false);
                }
                self.solve_iters = iters;
                self.solve_residual = res;
                axpy(-h, k, w);
                h
            }
        };
        self.time += h;
        h
    }

    fn dopri5(
        &mut self,
        model: &mut dyn Model,
        w: &mut [f64],
        g1: &[f64],
        eta: f64,
        rtol: f64,
        atol: f64,
    ) -> f64 {
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
        const E: [f64; 7] = [
            71.0 / 57600.0,
            0.0,
            -71.0 / 16695.0,
            71.0 / 1920.0,
            -17253.0 / 339200.0,
            22.0 / 525.0,
            -1.0 / 40.0,
        ];
        let mut h = self.h.unwrap_or(eta);
        let wd = self.weight_decay;
        let n = w.len();
        let mut last_loss = f64::NAN;
        for _attempt in 0..60 {
            let (ks, rest) = self.bufs.split_at_mut(7);
            let y = &mut rest[0];
            // ks[0] is unused: stage 1 is g1.
            for s in 0..6 {
                // y = w - h sum_{j<=s} C[s][j] k_j ; k_{s+1} = grad(y)
                for i in 0..n {
                    let mut acc = C[s][0] * g1[i];
                    for j in 1..=s {
                        acc += C[s][j] * ks[j][i];
                    }
                    y[i] = w[i] - h * acc;
                }
                let (_, hi) = ks.split_at_mut(s + 1);
                last_loss = objective(model, wd, y, &mut hi[0]);
            }
            // y holds the 5th-order solution (stage 7 point); error estimate.
            let mut e2 = 0.0;
            for i in 0..n {
                let mut e = E[0] * g1[i];
                for j in 1..7 {
                    e += E[j] * ks[j][i];
                }
                let sc = atol + rtol * w[i].abs().max(y[i].abs());
                let r = h * e / sc;
                e2 += r * r;
            }
            let err = libm::sqrt(e2 / n.max(1) as f64);
            if err <= 1.0 {
                w.copy_from_slice(y);
                // The last stage was evaluated at y, the new iterate.
                self.fsal = Some(last_loss);
                let f = if err == 0.0 {
                    5.0
                } else {
                    (0.9 * libm::pow(err, -0.2)).clamp(0.2, 5.0)
                };
                self.h = Some(h * f);
                return h;
            }
            if !err.is_finite() {
                h *= 0.2;
            } else {
                h *= (0.9 * libm::pow(err, -0.2)).clamp(0.2, 1.0);
            }
            self.rejected += 1;
        }
        // Give up shrinking: take the last trial (the session stops if it is not finite).
        let y = &self.bufs[7];
        w.copy_from_slice(y);
        self.h = Some(h);
        h
    }
}

/// out = w + sum_k a_k x_k
fn lin(out: &mut [f64], w: &[f64], terms: &[(f64, &[f64])]) {
    out.copy_from_slice(w);
    for (a, x) in terms {
        axpy(*a, x, out);
    }
}

/// Model loss L(w); writes grad F = grad L + weightDecay w into `grad`.
pub fn objective(model: &mut dyn Model, weight_decay: f64, w: &[f64], grad: &mut [f64]) -> f64 {
    let loss = model.loss_grad(w, grad);
    if weight_decay != 0.0 {
        axpy(weight_decay, w, grad);
    }
    loss
}
