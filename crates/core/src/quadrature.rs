//! Gaussian expectations for the wide-network kernels (Du 2019, ch. 3; docs/kernel-recursions.md).
//!
//! - [`GaussHermite`]: probabilists' Gauss-Hermite rule, E_{z~N(0,1)}[f(z)] ~= sum_k w_k f(z_k)
//!   (weights sum to 1). Nodes are the eigenvalues of the Jacobi matrix of the probabilists'
//!   Hermite polynomials (Golub-Welsch: zero diagonal, off-diagonal sqrt(k)), polished by Newton
//!   steps on the three-term recurrence of the *normalized* polynomials
//!   h_{k+1} = (x h_k - sqrt(k) h_{k-1}) / sqrt(k+1) (no factorials, no overflow up to 200 nodes),
//!   made exactly symmetric; weights w_k = 1 / (n h_{n-1}(z_k)^2), then scaled to sum to 1.
//! - [`GaussHermite::expect2`]: E[g(u) h(v)] for (u, v) ~ N(0, [[a, c], [c, b]]) by the tensor rule
//!   on the Cholesky form u = sqrt(a) z1, v = (c / sqrt(a)) z1 + sqrt(max(b - c^2/a, 0)) z2.
//! - [`Activation`]: the smooth activations of chapter 3 (softplus, sigmoid, tanh) and ReLU, with
//!   sigma, sigma' and sigma'' (all through `libm`, so native and wasm give the same bits).
//! - ReLU's arc-cosine closed forms ([`relu_relu`], [`step_step`]): quadrature converges badly
//!   on the kink, so the kernels of a ReLU net never use it.

use std::f64::consts::PI;

use crate::error::{Error, Result};

/// Most nodes a rule may have.
pub const MAX_NODES: usize = 200;

/// Tensor-product terms whose weight w_i w_j is below this are skipped by [`GaussHermite::expect2`]
/// (their contribution is below 1e-18 of a bounded integrand's; f64 keeps 1e-16).
pub const PRUNE: f64 = 1e-18;

/// A probabilists' Gauss-Hermite rule with `n` nodes: exact for polynomials of degree <= 2n - 1
/// against the standard normal density.
#[derive(Debug, Clone)]
pub struct GaussHermite {
    nodes: Vec<f64>,
    weights: Vec<f64>,
}

/// The normalized probabilists' Hermite polynomials h_{n-1}(x), h_n(x) (E[h_k(z)^2] = 1).
fn hermite_pair(n: usize, x: f64) -> (f64, f64) {
    let mut prev = 0.0; // h_{-1}
    let mut cur = 1.0; // h_0
    for k in 0..n {
        let next = (x * cur - (k as f64).sqrt() * prev) / ((k + 1) as f64).sqrt();
        prev = cur;
        cur = next;
    }
    (prev, cur)
}

impl GaussHermite {
    /// The rule with `n` nodes, 1 <= n <= [`MAX_NODES`]; `field` names the spec field for errors.
    pub fn with_field(n: usize, field: &str) -> Result<Self> {
        if n == 0 || n > MAX_NODES {
            return Err(Error::range(
                field,
                format!("expected 1 to {MAX_NODES} quadrature nodes, got {n}"),
            ));
        }
        // Golub-Welsch: eigenvalues of the symmetric tridiagonal Jacobi matrix.
        let mut j = nalgebra::DMatrix::<f64>::zeros(n, n);
        for k in 1..n {
            let s = (k as f64).sqrt();
            j[(k, k - 1)] = s;
            j[(k - 1, k)] = s;
        }
        let mut x: Vec<f64> = crate::decomp::symmetric_eigenvalues(&j)
            .ok_or_else(|| Error::range(field, "the Gauss-Hermite nodes did not converge"))?
            .iter()
            .copied()
            .collect();
        x.sort_by(|a, b| a.total_cmp(b));
        // Newton polish on h_n (h_n' = sqrt(n) h_{n-1}).
        let sn = (n as f64).sqrt();
        for xi in x.iter_mut() {
            for _ in 0..3 {
                let (p1, p) = hermite_pair(n, *xi);
                if p1 == 0.0 {
                    break;
                }
                let dx = p / (sn * p1);
                *xi -= dx;
                if dx.abs() <= 1e-16 * xi.abs().max(1.0) {
                    break;
                }
            }
        }
        // Exact symmetry (the middle node of an odd rule is 0).
        for i in 0..n / 2 {
            let s = 0.5 * (x[n - 1 - i] - x[i]);
            x[i] = -s;
            x[n - 1 - i] = s;
        }
        if n % 2 == 1 {
            x[n / 2] = 0.0;
        }
        let mut w: Vec<f64> = x
            .iter()
            .map(|&xi| {
                let (p1, _) = hermite_pair(n, xi);
                1.0 / (n as f64 * p1 * p1)
            })
            .collect();
        for i in 0..n / 2 {
            let s = 0.5 * (w[i] + w[n - 1 - i]);
            w[i] = s;
            w[n - 1 - i] = s;
        }
        // Sum in increasing size (the tails first), then normalize.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| w[a].total_cmp(&w[b]));
        let total: f64 = order.iter().map(|&i| w[i]).sum();
        for v in w.iter_mut() {
            *v /= total;
        }
        Ok(GaussHermite {
            nodes: x,
            weights: w,
        })
    }

    /// The rule with `n` nodes (errors name the field `nodes`).
    pub fn new(n: usize) -> Result<Self> {
        Self::with_field(n, "nodes")
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
    /// Nodes, increasing.
    pub fn nodes(&self) -> &[f64] {
        &self.nodes
    }
    /// Weights (sum 1).
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// E[f(z)], z ~ N(0, 1).
    pub fn expect(&self, f: impl Fn(f64) -> f64) -> f64 {
        self.nodes
            .iter()
            .zip(&self.weights)
            .map(|(&z, &w)| w * f(z))
            .sum()
    }

    /// E[f(u)], u ~ N(0, var) (var <= 0 gives f(0)).
    pub fn expect_var(&self, var: f64, f: impl Fn(f64) -> f64) -> f64 {
        if var <= 0.0 {
            return f(0.0);
        }
        let s = var.sqrt();
        self.expect(|z| f(s * z))
    }

    /// E[g(u) h(v)] for (u, v) ~ N(0, [[a, c], [c, b]]) (a, b >= 0), by the tensor rule on
    /// u = sqrt(a) z1, v = (c / sqrt(a)) z1 + sqrt(max(b - c^2 / a, 0)) z2 (a = 0: u = 0,
    /// v = sqrt(b) z2). Terms with w_i w_j < [`PRUNE`] are skipped.
    pub fn expect2(
        &self,
        a: f64,
        b: f64,
        c: f64,
        g: impl Fn(f64) -> f64,
        h: impl Fn(f64) -> f64,
    ) -> f64 {
        let (su, mu, sv) = cholesky2(a, b, c);
        let mut total = 0.0;
        for (&z1, &w1) in self.nodes.iter().zip(&self.weights) {
            let gu = g(su * z1);
            if gu == 0.0 {
                continue;
            }
            let m = mu * z1;
            let mut inner = 0.0;
            for (&z2, &w2) in self.nodes.iter().zip(&self.weights) {
                if w1 * w2 < PRUNE {
                    continue;
                }
                inner += w2 * h(m + sv * z2);
            }
            total += w1 * gu * inner;
        }
        total
    }
}

/// The Cholesky factors (sqrt(a), c / sqrt(a), sqrt(max(b - c^2/a, 0))) of [[a, c], [c, b]]
/// (a <= 0: (0, 0, sqrt(b))).
pub fn cholesky2(a: f64, b: f64, c: f64) -> (f64, f64, f64) {
    if a <= 0.0 {
        return (0.0, 0.0, b.max(0.0).sqrt());
    }
    let su = a.sqrt();
    let mu = c / su;
    let sv = (b - c * c / a).max(0.0).sqrt();
    (su, mu, sv)
}

/// The angle theta in [0, pi] between u and v: cos theta = c / sqrt(a b) (clamped).
fn angle(a: f64, b: f64, c: f64) -> f64 {
    let ab = (a * b).sqrt();
    if ab <= 0.0 {
        return PI / 2.0;
    }
    (c / ab).clamp(-1.0, 1.0).acos()
}

/// E[relu(u) relu(v)] = sqrt(a b) (sin th + (pi - th) cos th) / (2 pi) (arc-cosine kernel of
/// degree 1; (u, v) ~ N(0, [[a, c], [c, b]])).
pub fn relu_relu(a: f64, b: f64, c: f64) -> f64 {
    let th = angle(a, b, c);
    (a * b).max(0.0).sqrt() * (th.sin() + (PI - th) * th.cos()) / (2.0 * PI)
}

/// E[1{u > 0} 1{v > 0}] = (pi - th) / (2 pi) (arc-cosine kernel of degree 0).
pub fn step_step(a: f64, b: f64, c: f64) -> f64 {
    (PI - angle(a, b, c)) / (2.0 * PI)
}

/// The activations of chapter 3 (softplus, sigmoid, tanh: smooth, analytic, not polynomial) and
/// ReLU (for comparison; its kernels use the closed forms). The one shared definition: the
/// `deepSmooth` family and the `kernelRecursion` study both use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Activation {
    /// log(1 + e^z)
    Softplus,
    /// 1 / (1 + e^-z)
    Sigmoid,
    Tanh,
    /// max(z, 0) (sigma'(0) = 0, sigma'' = 0)
    Relu,
}

/// The logistic function, without overflow.
#[inline]
fn logistic(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + libm::exp(-z))
    } else {
        let e = libm::exp(z);
        e / (1.0 + e)
    }
}

/// sech^2 z, without overflow.
#[inline]
fn sech2(z: f64) -> f64 {
    let e = libm::exp(-2.0 * z.abs());
    4.0 * e / ((1.0 + e) * (1.0 + e))
}

impl Activation {
    pub const ALL: [Activation; 4] = [
        Activation::Softplus,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
    ];
    /// The spec name (camelCase).
    pub fn name(self) -> &'static str {
        match self {
            Activation::Softplus => "softplus",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
        }
    }
    /// True for the smooth activations (softplus, sigmoid, tanh).
    pub fn is_smooth(self) -> bool {
        self != Activation::Relu
    }
    /// sigma(z)
    #[inline]
    pub fn sigma(self, z: f64) -> f64 {
        match self {
            Activation::Softplus => z.max(0.0) + libm::log1p(libm::exp(-z.abs())),
            Activation::Sigmoid => logistic(z),
            Activation::Tanh => libm::tanh(z),
            Activation::Relu => z.max(0.0),
        }
    }
    /// sigma'(z)
    #[inline]
    pub fn d1(self, z: f64) -> f64 {
        match self {
            Activation::Softplus => logistic(z),
            Activation::Sigmoid => logistic(z) * logistic(-z),
            Activation::Tanh => sech2(z),
            Activation::Relu => {
                if z > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }
    /// (sigma(z), sigma'(z)) with the exponentials shared (the same bits as `sigma` and `d1`).
    #[inline]
    pub fn sigma_d1(self, z: f64) -> (f64, f64) {
        match self {
            Activation::Softplus => {
                let e = libm::exp(-z.abs());
                let s = if z >= 0.0 {
                    1.0 / (1.0 + e)
                } else {
                    e / (1.0 + e)
                };
                (z.max(0.0) + libm::log1p(e), s)
            }
            Activation::Sigmoid => {
                let e = libm::exp(-z.abs());
                let (s, t) = if z >= 0.0 {
                    (1.0 / (1.0 + e), e / (1.0 + e))
                } else {
                    (e / (1.0 + e), 1.0 / (1.0 + e))
                };
                (s, s * t)
            }
            Activation::Tanh => (libm::tanh(z), sech2(z)),
            Activation::Relu => (z.max(0.0), if z > 0.0 { 1.0 } else { 0.0 }),
        }
    }
    /// sigma''(z)
    #[inline]
    pub fn d2(self, z: f64) -> f64 {
        match self {
            Activation::Softplus => logistic(z) * logistic(-z),
            Activation::Sigmoid => {
                let s = logistic(z);
                let t = logistic(-z);
                s * t * (t - s)
            }
            Activation::Tanh => -2.0 * libm::tanh(z) * sech2(z),
            Activation::Relu => 0.0,
        }
    }
    /// E[sigma(z)^2], z ~ N(0, 1): 1/2 exactly for ReLU, the rule `gh` otherwise.
    pub fn second_moment(self, gh: &GaussHermite) -> f64 {
        match self {
            Activation::Relu => 0.5,
            a => gh.expect(|z| {
                let s = a.sigma(z);
                s * s
            }),
        }
    }
    /// c_sigma = 1 / E[sigma(z)^2] (2 for ReLU).
    pub fn c_sigma(self, gh: &GaussHermite) -> f64 {
        1.0 / self.second_moment(gh)
    }
    /// E[sigma(u)], u ~ N(0, var) (ReLU: sqrt(var / (2 pi))).
    pub fn mean(self, gh: &GaussHermite, var: f64) -> f64 {
        match self {
            Activation::Relu => (var.max(0.0) / (2.0 * PI)).sqrt(),
            a => gh.expect_var(var, |z| a.sigma(z)),
        }
    }
    /// E[sigma(u) sigma(v)], (u, v) ~ N(0, [[a, c], [c, b]]) (ReLU: arc-cosine closed form).
    pub fn expect_ss(self, gh: &GaussHermite, a: f64, b: f64, c: f64) -> f64 {
        match self {
            Activation::Relu => relu_relu(a, b, c),
            s => gh.expect2(a, b, c, |u| s.sigma(u), |v| s.sigma(v)),
        }
    }
    /// E[sigma'(u) sigma'(v)] (ReLU: arc-cosine closed form of degree 0).
    pub fn expect_dd(self, gh: &GaussHermite, a: f64, b: f64, c: f64) -> f64 {
        match self {
            Activation::Relu => step_step(a, b, c),
            s => gh.expect2(a, b, c, |u| s.d1(u), |v| s.d1(v)),
        }
    }
}

/// c_sigma = 1 / E[sigma(z)^2] with an `n`-node rule (convenience for callers without a rule).
pub fn c_sigma(act: Activation, nodes: usize) -> Result<f64> {
    Ok(act.c_sigma(&GaussHermite::new(nodes)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_and_five_node_rules_are_the_closed_forms() {
        let g = GaussHermite::new(3).unwrap();
        let s3 = 3f64.sqrt();
        assert!((g.nodes()[0] + s3).abs() < 1e-15 && g.nodes()[1] == 0.0);
        assert!((g.weights()[0] - 1.0 / 6.0).abs() < 1e-15);
        assert!((g.weights()[1] - 2.0 / 3.0).abs() < 1e-15);
        let g = GaussHermite::new(5).unwrap();
        let x = (5.0 + 10f64.sqrt()).sqrt();
        assert!((g.nodes()[4] - x).abs() < 1e-14);
    }

    #[test]
    fn derivatives_match_finite_differences() {
        for a in Activation::ALL {
            for &z in &[-3.1, -0.7, 0.3, 2.2] {
                let h = 1e-5;
                let fd1 = (a.sigma(z + h) - a.sigma(z - h)) / (2.0 * h);
                let fd2 = (a.d1(z + h) - a.d1(z - h)) / (2.0 * h);
                assert!((fd1 - a.d1(z)).abs() < 1e-9, "{a:?} d1 at {z}");
                assert!((fd2 - a.d2(z)).abs() < 1e-9, "{a:?} d2 at {z}");
                let (s, d) = a.sigma_d1(z);
                assert!(s.to_bits() == a.sigma(z).to_bits() && d.to_bits() == a.d1(z).to_bits());
            }
        }
    }
}
