//! Perturbed gradient descent (Algorithm 2 of Du's thesis, ch. 7; Jin et al. 2017): gradient
//! descent that adds uniform noise from a ball when the gradient is small, at most once per
//! tThres + 1 steps.
//!
//! With t_noise = -tThres - 1 at the start, the step from iterate t (t = 0 is the initial point,
//! the session's `step` column) is
//!
//!   if ||grad F(x_t)|| <= gThres and t - t_noise > tThres:
//!       x_t <- x_t + xi,  xi uniform in the ball B(0, radius) of the full parameter dimension n;
//!       t_noise <- t;
//!       grad F(x_t) re-evaluated at the perturbed point;
//!   x_{t+1} = x_t - eta_t grad F(x_t).
//!
//! The thesis's loop counts t = 1, 2, ... from the initial point, so its iteration t is our step
//! from iterate t - 1; the rule reads only differences of t, so the two indexings take the same
//! steps (the first step may perturb in both). F is the objective with weight decay, as for every
//! method. xi = radius U^{1/n} g / ||g|| with g standard normal (n draws) and then U uniform in
//! (0, 1), all from one [`Normal`] stream seeded by `seed` (bit-identical on every target; the
//! spare normal of an odd n carries over to the next perturbation). A perturbation is counted
//! even when radius = 0 (xi = 0). A non-finite gradient never triggers one (the comparison is
//! false).
//!
//! Columns: `perturbed` (1 when the step from the previous iterate perturbed, else 0; 0 on the
//! initial row) and `perturbations` (perturbations so far).

use super::{Objective, Setup, Step, StepResult};
use crate::error::{Error, Result};
use crate::linalg::{axpy, norm, norm2};
use crate::rng::Normal;
use crate::spec::{count, finite};

#[derive(Clone)]
pub struct PerturbedGd {
    g_thres: f64,
    t_thres: u64,
    radius: f64,
    rng: Normal,
    /// Index of the iterate the next step starts from.
    t: u64,
    /// The iterate of the last perturbation (t_noise); `None` stands for -tThres - 1.
    t_noise: Option<u64>,
    /// Whether the last step perturbed, and the number of perturbations so far.
    perturbed: bool,
    count: u64,
    /// The noise direction, then the gradient at the perturbed point.
    v: Vec<f64>,
}

/// A finite field >= 0.
fn non_negative(field: &str, x: f64) -> Result<f64> {
    finite(field, x)?;
    if x >= 0.0 {
        Ok(x)
    } else {
        Err(Error::range(
            field,
            format!("expected a number >= 0, got {}", crate::spec::num(x)),
        ))
    }
}

impl PerturbedGd {
    pub fn new(g_thres: f64, t_thres: f64, radius: f64, seed: f64, s: &mut Setup) -> Result<Self> {
        Ok(PerturbedGd {
            g_thres: non_negative("method.gThres", g_thres)?,
            t_thres: count("method.tThres", t_thres)?,
            radius: non_negative("method.radius", radius)?,
            rng: Normal::new(count("method.seed", seed)?),
            t: 0,
            t_noise: None,
            perturbed: false,
            count: 0,
            v: s.vector(),
        })
    }

    /// Write xi, uniform in B(0, radius) of dimension `v.len()`, into `self.v`.
    fn draw(&mut self) {
        let n = self.v.len();
        if n == 0 {
            return;
        }
        // ||g|| is > 0 with probability 1 (and in practice: Box-Muller's radius is > 0 for every
        // uniform it draws); redraw in the impossible case rather than divide by 0.
        let mut s = 0.0;
        while s == 0.0 {
            self.rng.fill(&mut self.v, 1.0);
            s = libm::sqrt(norm2(&self.v));
        }
        let u = self.rng.uniform_open();
        let scale = self.radius * libm::pow(u, 1.0 / n as f64) / s;
        for x in self.v.iter_mut() {
            *x *= scale;
        }
    }
}

impl Step for PerturbedGd {
    fn name(&self) -> &'static str {
        "perturbedGd"
    }
    fn step(&mut self, f: &mut Objective, w: &mut [f64], grad: &[f64], eta: f64) -> StepResult {
        let t = self.t;
        self.t += 1;
        let due = self.t_noise.is_none_or(|tn| t - tn > self.t_thres);
        self.perturbed = due && norm(grad) <= self.g_thres;
        if !self.perturbed {
            axpy(-eta, grad, w);
            return Ok(eta);
        }
        self.t_noise = Some(t);
        self.count += 1;
        self.draw();
        axpy(1.0, &self.v, w);
        f.eval(w, &mut self.v);
        axpy(-eta, &self.v, w);
        Ok(eta)
    }
    fn column_names(&self) -> &'static [&'static str] {
        &["perturbed", "perturbations"]
    }
    fn columns(&self, out: &mut Vec<f64>) {
        out.push(if self.perturbed { 1.0 } else { 0.0 });
        out.push(self.count as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pgd(dim: usize, radius: f64, seed: u64) -> PerturbedGd {
        let mut s = Setup {
            dim,
            samples: None,
            vectors: 0,
        };
        PerturbedGd::new(0.0, 0.0, radius, seed as f64, &mut s).unwrap()
    }

    /// Kolmogorov-Smirnov statistic of `xs` against the distribution function `cdf`.
    fn ks(xs: &mut [f64], cdf: impl Fn(f64) -> f64) -> f64 {
        xs.sort_by(f64::total_cmp);
        let m = xs.len() as f64;
        xs.iter()
            .enumerate()
            .map(|(i, &x)| {
                let c = cdf(x);
                (c - i as f64 / m).abs().max((c - (i + 1) as f64 / m).abs())
            })
            .fold(0.0, f64::max)
    }

    /// The noise is uniform in the ball: P(||xi|| <= s r) = s^n (KS test), the direction has mean
    /// 0 and the covariance of xi is r^2 / (n + 2) I.
    #[test]
    fn the_noise_is_uniform_in_the_ball() {
        let m = 40_000;
        let r = 0.37;
        for n in [1usize, 2, 5] {
            let mut p = pgd(n, r, 11 + n as u64);
            let mut radii = Vec::with_capacity(m);
            let mut mean_dir = vec![0.0; n];
            let mut cov = vec![0.0; n * n];
            for _ in 0..m {
                p.draw();
                let len = norm2(&p.v).sqrt();
                assert!(len <= r * (1.0 + 1e-15), "outside the ball: {len}");
                radii.push(len / r);
                for i in 0..n {
                    mean_dir[i] += p.v[i] / len / m as f64;
                    for j in 0..n {
                        cov[i * n + j] += p.v[i] * p.v[j] / m as f64;
                    }
                }
            }
            // KS critical value at level 1e-3: 1.95 / sqrt(m).
            let d = ks(&mut radii, |s| s.clamp(0.0, 1.0).powi(n as i32));
            assert!(d < 1.95 / (m as f64).sqrt(), "n = {n}: KS {d}");
            // A wrong law is rejected: the radius of r g/||g|| U (U^{1/n} omitted) for n > 1.
            if n > 1 {
                let mut wrong: Vec<f64> = radii.iter().map(|s| s.powi(n as i32)).collect();
                let d = ks(&mut wrong, |s| s.clamp(0.0, 1.0).powi(n as i32));
                assert!(d > 0.1, "n = {n}: the test cannot tell U from U^(1/n): {d}");
            }
            // The mean direction: each coordinate has variance 1/(n m); 5 standard deviations.
            for (i, x) in mean_dir.iter().enumerate() {
                assert!(
                    x.abs() < 5.0 / ((n * m) as f64).sqrt(),
                    "n = {n}: mean direction[{i}] = {x}"
                );
            }
            // E xi_i xi_j = r^2/(n + 2) delta_ij; the standard deviation of the estimate is below
            // r^2 sqrt(E|u|^4 / m) <= r^2 / sqrt(m) for |u| <= 1 (u = xi / r): 5 of them.
            let tol = 5.0 * r * r / (m as f64).sqrt();
            for i in 0..n {
                for j in 0..n {
                    let want = if i == j { r * r / (n + 2) as f64 } else { 0.0 };
                    let got = cov[i * n + j];
                    assert!(
                        (got - want).abs() < tol,
                        "n = {n}: cov[{i}][{j}] = {got}, want {want} +- {tol}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_noise_is_reproducible_from_the_seed_and_differs_across_seeds() {
        let draws = |seed| {
            let mut p = pgd(3, 1.0, seed);
            (0..50)
                .flat_map(|_| {
                    p.draw();
                    p.v.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
                })
                .collect::<Vec<u64>>()
        };
        assert_eq!(draws(5), draws(5));
        assert_ne!(draws(5), draws(6));
    }
}
