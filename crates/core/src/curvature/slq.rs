//! Spectral density by stochastic Lanczos quadrature (SLQ) and the Hutchinson trace estimate.
//!
//! SLQ: for each seeded Rademacher probe z (normalized), m Lanczos steps from z (full
//! reorthogonalization) give T_m = S diag(theta) S^T; the Gauss quadrature nodes theta_i with
//! weights tau_i = S_{0,i}^2 (they sum to 1) approximate the spectral measure
//! z^T delta(lambda - H) z / ||z||^2, whose expectation is the eigenvalue density (1/n) sum
//! delta(lambda - lambda_j). Averaging over probes and broadening each node by a Gaussian of
//! width sigma gives a smooth density on a grid that integrates to 1.
//!
//! Hutchinson: tr H = E[z^T H z] for Rademacher z; the estimate is the probe mean and its
//! standard error the sample standard deviation / sqrt(probes).

use super::lanczos::{reorth, tridiag_eig};

use super::{normalize, LinOp};
use crate::linalg::dot;
use crate::rng::Normal;

fn rademacher(rng: &mut Normal, x: &mut [f64]) {
    for v in x.iter_mut() {
        *v = if rng.uniform_open() < 0.5 { -1.0 } else { 1.0 };
    }
}

#[derive(Debug, Clone)]
pub struct Density {
    /// Quadrature nodes of all probes (probe after probe).
    pub nodes: Vec<f64>,
    /// Their weights, divided by the number of probes (sum to 1).
    pub weights: Vec<f64>,
    pub grid: Vec<f64>,
    pub density: Vec<f64>,
    /// Broadening width used.
    pub sigma: f64,
    pub probes: usize,
    /// Lanczos steps per probe actually used.
    pub steps: usize,
    /// Trace estimate from the quadrature's first moment times n (= Hutchinson on the same probes).
    pub trace_estimate: f64,
}

/// SLQ density with `probes` Rademacher probes, `steps` Lanczos steps each, `grid_points` grid
/// points, broadening `sigma` (None: (max - min) / 100 of the node range, or 1e-3 if flat).
/// This is [`SlqJob`] run to its end.
pub fn slq_density(
    op: &mut dyn LinOp,
    probes: usize,
    steps: usize,
    grid_points: usize,
    sigma: Option<f64>,
    seed: u64,
) -> Density {
    let mut job = SlqJob::new(op.n(), probes, steps, grid_points, sigma, seed);
    while !job.step(op) {}
    job.finish()
}

/// The Lanczos recurrence of the current probe.
struct Probe {
    basis: Vec<Vec<f64>>,
    alpha: Vec<f64>,
    beta: Vec<f64>,
}

/// [`slq_density`] advanced one Lanczos step (one operator application) at a time, its state
/// kept between calls; run to the end it gives the same bits as the function (which is this loop).
pub struct SlqJob {
    n: usize,
    probes: usize,
    m_max: usize,
    grid_points: usize,
    sigma: Option<f64>,
    rng: Normal,
    /// Probes finished.
    done: usize,
    current: Option<Probe>,
    w: Vec<f64>,
    nodes: Vec<f64>,
    weights: Vec<f64>,
    first_moment: f64,
}

impl SlqJob {
    pub fn new(
        n: usize,
        probes: usize,
        steps: usize,
        grid_points: usize,
        sigma: Option<f64>,
        seed: u64,
    ) -> SlqJob {
        SlqJob {
            n,
            probes,
            m_max: steps.min(n).max(1),
            grid_points,
            sigma,
            rng: Normal::new(seed),
            done: 0,
            current: None,
            w: vec![0.0; n],
            nodes: Vec::new(),
            weights: Vec::new(),
            first_moment: 0.0,
        }
    }

    /// One Lanczos step of the current probe; true once every probe is done.
    pub fn step(&mut self, op: &mut dyn LinOp) -> bool {
        if self.done >= self.probes {
            return true;
        }
        let probe = self.current.get_or_insert_with(|| {
            let mut z = vec![0.0; self.n];
            rademacher(&mut self.rng, &mut z);
            normalize(&mut z);
            Probe {
                basis: vec![z],
                alpha: Vec::new(),
                beta: Vec::new(),
            }
        });
        let w = &mut self.w;
        let j = probe.alpha.len();
        op.apply(&probe.basis[j], w);
        let a = dot(&probe.basis[j], w);
        probe.alpha.push(a);
        reorth(&probe.basis, w);
        let b = dot(w, w).sqrt();
        let over = if !(a.is_finite() && b.is_finite()) {
            true
        } else {
            let scale = probe.alpha.iter().map(|x| x.abs()).fold(0.0, f64::max) + b;
            probe.alpha.len() >= self.m_max || b <= 1e-12 * scale.max(1e-300)
        };
        if !over {
            probe.beta.push(b);
            probe.basis.push(w.iter().map(|x| x / b).collect());
            return false;
        }
        let Probe { alpha, beta, .. } = self.current.take().unwrap_or(Probe {
            basis: Vec::new(),
            alpha: vec![0.0],
            beta: Vec::new(),
        });
        self.done += 1;
        self.first_moment += alpha[0];
        let (vals, vecs) = tridiag_eig(&alpha, &beta);
        if !vals.iter().any(|v| v.is_nan()) {
            for (i, &v) in vals.iter().enumerate() {
                self.nodes.push(v);
                let s0 = vecs[(0, i)];
                self.weights.push(s0 * s0 / self.probes as f64);
            }
        }
        self.done >= self.probes
    }

    /// The density from the probes done (all of them once [`SlqJob::step`] returned true).
    pub fn finish(self) -> Density {
        let SlqJob {
            n,
            probes,
            m_max,
            grid_points,
            sigma,
            nodes,
            weights,
            first_moment,
            ..
        } = self;
        let lo = nodes.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = nodes.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let sigma = match sigma {
            Some(s) => s,
            None => {
                let span = hi - lo;
                if span > 0.0 {
                    span / 100.0
                } else {
                    1e-3 * lo.abs().max(1.0)
                }
            }
        };
        let (g0, g1) = (lo - 5.0 * sigma, hi + 5.0 * sigma);
        let gp = grid_points.max(2);
        let grid: Vec<f64> = (0..gp)
            .map(|i| g0 + (g1 - g0) * i as f64 / (gp - 1) as f64)
            .collect();
        let c = 1.0 / (sigma * (2.0 * std::f64::consts::PI).sqrt());
        let density = grid
            .iter()
            .map(|&x| {
                nodes
                    .iter()
                    .zip(&weights)
                    .map(|(&t, &wt)| {
                        let d = (x - t) / sigma;
                        wt * c * libm::exp(-0.5 * d * d)
                    })
                    .sum()
            })
            .collect();
        Density {
            nodes,
            weights,
            grid,
            density,
            sigma,
            probes,
            steps: m_max,
            trace_estimate: first_moment / probes.max(1) as f64 * n as f64,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct TraceEstimate {
    pub estimate: f64,
    /// Sample standard deviation of z^T H z over the probes / sqrt(probes) (0 if one probe).
    pub std_error: f64,
    pub probes: usize,
}

/// Hutchinson estimate of tr(A) with `probes` seeded Rademacher vectors ([`TraceJob`] run to
/// its end).
pub fn hutchinson(op: &mut dyn LinOp, probes: usize, seed: u64) -> TraceEstimate {
    let mut job = TraceJob::new(op.n(), probes, seed);
    while !job.step(op) {}
    job.finish()
}

/// [`hutchinson`] advanced one probe (one operator application) at a time.
pub struct TraceJob {
    probes: usize,
    rng: Normal,
    z: Vec<f64>,
    hz: Vec<f64>,
    samples: Vec<f64>,
}

impl TraceJob {
    pub fn new(n: usize, probes: usize, seed: u64) -> TraceJob {
        TraceJob {
            probes,
            rng: Normal::new(seed),
            z: vec![0.0; n],
            hz: vec![0.0; n],
            samples: Vec::with_capacity(probes.min(1 << 20)),
        }
    }

    /// One probe; true once every probe is done.
    pub fn step(&mut self, op: &mut dyn LinOp) -> bool {
        if self.samples.len() < self.probes {
            rademacher(&mut self.rng, &mut self.z);
            op.apply(&self.z, &mut self.hz);
            self.samples.push(dot(&self.z, &self.hz));
        }
        self.samples.len() >= self.probes
    }

    pub fn finish(self) -> TraceEstimate {
        let (probes, samples) = (self.probes, self.samples);
        let p = probes.max(1) as f64;
        let mean = samples.iter().sum::<f64>() / p;
        let std_error = if probes > 1 {
            let var = samples.iter().map(|s| (s - mean) * (s - mean)).sum::<f64>() / (p - 1.0);
            (var / p).sqrt()
        } else {
            0.0
        };
        TraceEstimate {
            estimate: mean,
            std_error,
            probes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::curvature::test_ops::Diag;

    #[test]
    fn full_krylov_nodes_are_the_eigenvalues() {
        // With as many steps as distinct eigenvalues the quadrature is exact: the nodes are the
        // eigenvalues and the weights (one probe) are z_i^2 / n = 1/n for Rademacher z.
        let mut op = Diag(vec![1.0, 2.0, 3.0, 4.0]);
        let d = slq_density(&mut op, 1, 10, 100, Some(0.1), 1);
        let mut nodes = d.nodes.clone();
        nodes.sort_by(f64::total_cmp);
        for (a, b) in nodes.iter().zip([1.0, 2.0, 3.0, 4.0]) {
            assert!((a - b).abs() < 1e-12);
        }
        for w in &d.weights {
            assert!((w - 0.25).abs() < 1e-12);
        }
        assert!((d.trace_estimate - 10.0).abs() < 1e-12);
    }

    #[test]
    fn hutchinson_is_exact_for_diagonal() {
        // z^T D z = tr D for every Rademacher z.
        let mut op = Diag(vec![1.0, -2.0, 5.0]);
        let t = hutchinson(&mut op, 5, 3);
        assert!((t.estimate - 4.0).abs() < 1e-12 && t.std_error < 1e-12);
    }
}
