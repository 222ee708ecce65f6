//! The continuous-time linear network family (`model.kind = "continuousLinear"`; Taghvaei, Kim
//! & Mehta 2017): dX/dt = A_t X on [0, T] with n x n weights, discretized into K layers of width
//! h = T/K, Euler residual layers X_{k+1} = (I + h A_k) X_k or exact exponentials
//! X_{k+1} = e^{h A_k} X_k of piecewise-constant weights. Cost
//! J = lambda/2 sum_k |theta_k|^2 + data term, with ONE parameter block `theta` (K n^2 numbers,
//! theta_k = sqrt(h) A_k, row-major n x n per layer): with this L2([0, T]) isometry, GD on theta
//! with step eta is the paper's learning rule A <- A - eta (lambda A - Y X^T) (docs/continuous-linear.md).
//!
//! This file is the model (value and gradient by a forward X / backward adjoint pass, columns,
//! matrices) and [`model_at`] (the model and the point at a critical point A_t of a `C`, for the
//! continuation study's time-varying verdict); `hvp.rs` the exact Hessian-vector product (both
//! discretizations); `family.rs` the spec and the build. `expm` is the matrix exponential and its
//! Frechet derivative; `critical` the characteristic equation of the critical points, its
//! Jacobian, Newton's method and the matrix logarithms (the continuation study's).

pub mod critical;
pub mod expm;
pub mod family;
pub(crate) mod hvp;

use nalgebra::DMatrix;

use crate::error::{Error, Result};
use crate::model::{Block, Column, Model, Role};

pub use family::ContinuousFamily;

/// Largest n (the layers are dense n x n matrices; exponentials cost O(n^3) each).
pub const MAX_N: usize = 64;
/// Largest K (layers).
pub const MAX_K: usize = 65536;

/// How a layer maps X_k to X_{k+1}.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discretization {
    /// X_{k+1} = (I + h A_k) X_k: critical points of the continuous problem are off by O(h).
    Euler,
    /// X_{k+1} = e^{h A_k} X_k (piecewise-constant A): exact for piecewise-constant weights.
    Exponential,
}

impl Discretization {
    pub fn name(self) -> &'static str {
        match self {
            Discretization::Euler => "euler",
            Discretization::Exponential => "exponential",
        }
    }
}

/// e^A (the matrix exponential, [`expm::expm`]).
pub(crate) fn expm(a: &DMatrix<f64>) -> DMatrix<f64> {
    expm::expm(a)
}

/// The data term as statistics of the residual D = Phi - R:
/// data = 1/2 tr(D S D^T) - <D, Q>_F + c. Population data: S = Sigma0, Q = 0, c = 0. Samples
/// (X0, Z = R X0 + E, N columns): S = X0 X0^T / N, Q = E X0^T / N, c = |E|_F^2 / (2 N), which is
/// the mean of 1/2 |Phi x0_i - z_i|^2 over the samples.
#[derive(Debug, Clone)]
pub(crate) struct Stats {
    pub s: DMatrix<f64>,
    pub q: DMatrix<f64>,
    pub c: f64,
}

impl Stats {
    /// The statistics of the columns `idx` of `x0` and `e` (all columns when `None`).
    fn of_samples(x0: &DMatrix<f64>, e: &DMatrix<f64>, idx: Option<&[usize]>) -> Stats {
        let n = x0.nrows();
        let mut s = DMatrix::zeros(n, n);
        let mut q = DMatrix::zeros(n, n);
        let mut c = 0.0;
        let mut count = 0usize;
        let mut add = |j: usize| {
            let x = x0.column(j);
            let ej = e.column(j);
            s.ger(1.0, &x, &x, 1.0);
            q.ger(1.0, &ej, &x, 1.0);
            c += ej.norm_squared();
            count += 1;
        };
        match idx {
            Some(idx) => idx.iter().for_each(|&j| add(j)),
            None => (0..x0.ncols()).for_each(&mut add),
        }
        let m = count.max(1) as f64;
        Stats {
            s: s / m,
            q: q / m,
            c: c / (2.0 * m),
        }
    }
}

/// Samples mode: X0 (n x N, columns ~ N(0, I)) and the noise E (n x N) of Z = R X0 + E.
#[derive(Debug, Clone)]
pub(crate) struct Samples {
    pub x0: DMatrix<f64>,
    pub e: DMatrix<f64>,
}

/// A candidate critical point for the `critDist` column: its index in the spec's list and
/// theta* (sqrt(h) A*(t_k), t_k = (k + 1/2) h, stacked like theta).
#[derive(Debug, Clone)]
pub(crate) struct Critical {
    pub index: usize,
    pub c: DMatrix<f64>,
    pub theta: Vec<f64>,
}

/// The model: one parameter block `theta` (K n x n, row-major per layer).
pub struct ContinuousLinear {
    n: usize,
    k: usize,
    t: f64,
    h: f64,
    sh: f64,
    lambda: f64,
    disc: Discretization,
    r: DMatrix<f64>,
    full: Stats,
    batch: Option<Stats>,
    samples: Option<Samples>,
    critical: Vec<Critical>,
    /// The number of candidates given (`critical` in the spec; 0 without).
    candidates: usize,
    blocks: Vec<Block>,
    /// Row-major R and S (for `matrix`).
    r_rows: Vec<f64>,
    s_rows: Vec<f64>,
    /// A (K n x n, unscaled) and Phi at the last recorded row.
    rec_a: Vec<f64>,
    rec_phi: Vec<f64>,
    /// The forward and backward passes at the point of the last product (dropped by
    /// `end_queries`).
    cache: Option<hvp::Point>,
    /// Why the loss at the point of the last `loss_grad` is undefined (NaN), if it is.
    undefined: Option<String>,
}

fn rows_of(m: &DMatrix<f64>) -> Vec<f64> {
    m.transpose().as_slice().to_vec()
}

impl ContinuousLinear {
    /// A model on `r` (already R(sigma)) with data statistics `full` (and samples for
    /// mini-batches).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        n: usize,
        k: usize,
        t: f64,
        lambda: f64,
        disc: Discretization,
        r: DMatrix<f64>,
        full: Stats,
        samples: Option<Samples>,
    ) -> ContinuousLinear {
        let h = t / k as f64;
        let r_rows = rows_of(&r);
        let s_rows = rows_of(&full.s);
        ContinuousLinear {
            n,
            k,
            t,
            h,
            sh: h.sqrt(),
            lambda,
            disc,
            r,
            full,
            batch: None,
            samples,
            critical: Vec::new(),
            candidates: 0,
            blocks: vec![Block {
                name: "theta".into(),
                offset: 0,
                rows: k * n,
                cols: n,
            }],
            r_rows,
            s_rows,
            rec_a: Vec::new(),
            rec_phi: Vec::new(),
            cache: None,
            undefined: None,
        }
    }

    /// A population model: data term 1/2 tr((Phi - R)^T (Phi - R) Sigma0).
    pub fn population(
        n: usize,
        k: usize,
        t: f64,
        lambda: f64,
        disc: Discretization,
        r: DMatrix<f64>,
        sigma0: DMatrix<f64>,
    ) -> ContinuousLinear {
        let full = Stats {
            s: sigma0,
            q: DMatrix::zeros(n, n),
            c: 0.0,
        };
        ContinuousLinear::new(n, k, t, lambda, disc, r, full, None)
    }

    pub(crate) fn set_critical(&mut self, c: Vec<Critical>, candidates: usize) {
        self.critical = c;
        self.candidates = candidates;
    }

    pub fn n(&self) -> usize {
        self.n
    }
    pub fn layers(&self) -> usize {
        self.k
    }
    /// h = T / K.
    pub fn h(&self) -> f64 {
        self.h
    }
    pub fn horizon(&self) -> f64 {
        self.t
    }
    pub fn lambda(&self) -> f64 {
        self.lambda
    }
    pub fn discretization(&self) -> Discretization {
        self.disc
    }
    /// R (R(sigma) for population data with dR).
    pub fn r(&self) -> &DMatrix<f64> {
        &self.r
    }
    /// Sigma0 (population) or X0 X0^T / N (samples).
    pub fn sigma0(&self) -> &DMatrix<f64> {
        &self.full.s
    }
    /// The critical points kept for `critDist` (refined by Newton), with their indices in the
    /// spec's candidate list (`critical.C`, then `critical.sheets`).
    pub fn critical_points(&self) -> Vec<(usize, DMatrix<f64>)> {
        self.critical
            .iter()
            .map(|c| (c.index, c.c.clone()))
            .collect()
    }
    /// The number of candidates the spec gave (0 without `critical`).
    pub fn critical_candidates(&self) -> usize {
        self.candidates
    }

    fn stats(&self) -> &Stats {
        self.batch.as_ref().unwrap_or(&self.full)
    }

    /// theta_k as a matrix.
    pub(crate) fn theta(&self, w: &[f64], k: usize) -> DMatrix<f64> {
        let nn = self.n * self.n;
        DMatrix::from_row_slice(self.n, self.n, &w[k * nn..(k + 1) * nn])
    }

    /// A_k = theta_k / sqrt(h) as a matrix.
    pub fn a(&self, w: &[f64], k: usize) -> DMatrix<f64> {
        self.theta(w, k) / self.sh
    }

    /// The layer maps M_k (I + h A_k or e^{h A_k}; h A_k = sqrt(h) theta_k), and for exponential
    /// layers the Frechet plans of h A_k (e^{h A_k} and L(h A_k, .) from one Pade setup).
    pub(crate) fn layer_maps(&self, w: &[f64]) -> (Vec<DMatrix<f64>>, Vec<expm::FrechetPlan>) {
        match self.disc {
            Discretization::Euler => (
                (0..self.k)
                    .map(|k| self.theta(w, k) * self.sh + DMatrix::identity(self.n, self.n))
                    .collect(),
                Vec::new(),
            ),
            Discretization::Exponential => {
                let plans: Vec<expm::FrechetPlan> = (0..self.k)
                    .map(|k| expm::FrechetPlan::new(&(self.theta(w, k) * self.sh)))
                    .collect();
                (plans.iter().map(|p| p.exp().clone()).collect(), plans)
            }
        }
    }

    /// The layer maps M_k.
    pub(crate) fn maps(&self, w: &[f64]) -> Vec<DMatrix<f64>> {
        match self.disc {
            Discretization::Euler => self.layer_maps(w).0,
            Discretization::Exponential => (0..self.k)
                .map(|k| expm(&(self.theta(w, k) * self.sh)))
                .collect(),
        }
    }

    /// X_0 = I, X_{k+1} = M_k X_k (K + 1 matrices; X_K = Phi).
    pub(crate) fn forward(&self, m: &[DMatrix<f64>]) -> Vec<DMatrix<f64>> {
        let mut xs = Vec::with_capacity(self.k + 1);
        xs.push(DMatrix::identity(self.n, self.n));
        for mk in m {
            let next = mk * xs.last().expect("X_0 pushed");
            xs.push(next);
        }
        xs
    }

    /// The end-to-end map Phi = X_K at `w` (X_0 = I).
    pub fn phi(&self, w: &[f64]) -> DMatrix<f64> {
        let m = self.maps(w);
        let mut x = DMatrix::identity(self.n, self.n);
        for mk in &m {
            x = mk * x;
        }
        x
    }

    /// The data term at Phi with the given statistics, and dJ/dPhi = D S - Q.
    fn data_term(&self, phi: &DMatrix<f64>, st: &Stats) -> (f64, DMatrix<f64>) {
        let d = phi - &self.r;
        let ds = &d * &st.s;
        let data = 0.5 * ds.dot(&d) - d.dot(&st.q) + st.c;
        (data, ds - &st.q)
    }

    /// (J, reg, data) at `w` on all the data.
    pub fn cost_terms(&self, w: &[f64]) -> (f64, f64, f64) {
        if !w.iter().all(|x| x.is_finite()) {
            return (f64::NAN, f64::NAN, f64::NAN);
        }
        let reg = 0.5 * self.lambda * crate::linalg::norm2(w);
        let (data, _) = self.data_term(&self.phi(w), &self.full);
        (reg + data, reg, data)
    }

    /// Why the loss is undefined at `w`: a non-finite parameter.
    fn domain_violation(&self, w: &[f64]) -> Option<String> {
        w.iter()
            .position(|x| !x.is_finite())
            .map(|i| format!("theta[{i}] is not finite"))
    }

    /// The gradient of the layer map's contribution: dJ/dtheta_k (without the regularization)
    /// given W_k = dJ/dM_k = Lambda_{k+1} X_k^T. Exponential layers: dJ/dA_k = h L(h A_k, .)^*(W_k)
    /// = h L(h A_k^T, W_k) = h L(h A_k, W_k^T)^T; dtheta = dA / sqrt(h).
    fn layer_grad(&self, plan: Option<&expm::FrechetPlan>, wk: &DMatrix<f64>) -> DMatrix<f64> {
        match plan {
            None => wk * self.sh,
            Some(p) => p.apply(&wk.transpose()).transpose() * self.sh,
        }
    }

    /// Writes the matrix `m` row-major into layer k of `out`.
    pub(crate) fn put(&self, out: &mut [f64], k: usize, m: &DMatrix<f64>) {
        let n = self.n;
        let o = &mut out[k * n * n..(k + 1) * n * n];
        for i in 0..n {
            for j in 0..n {
                o[i * n + j] = m[(i, j)];
            }
        }
    }

    /// theta* of the critical point A_t = e^{2t Omega} C e^{-2t Omega} (Omega = (C - C^T)/2)
    /// sampled at t_k = (k + 1/2) h: theta_k = sqrt(h) A_{t_k}.
    pub fn critical_theta(&self, c: &DMatrix<f64>) -> Vec<f64> {
        critical_theta(self.n, self.k, self.t, c)
    }
}

/// theta of A_t = e^{2t Omega} C e^{-2t Omega} at t_k = (k + 1/2) h, theta_k = sqrt(h) A_{t_k}
/// (row-major per layer). e^{2 t_k Omega} is computed exactly every 32 layers and by one
/// multiplication with e^{2h Omega} in between (orthogonal factors: the error grows by about
/// 32 eps).
pub fn critical_theta(n: usize, k: usize, t: f64, c: &DMatrix<f64>) -> Vec<f64> {
    let h = t / k as f64;
    let sh = h.sqrt();
    let om = (c - c.transpose()) * 0.5;
    let step = expm(&(&om * (2.0 * h)));
    let mut out = vec![0.0; k * n * n];
    let mut u = DMatrix::identity(n, n);
    for layer in 0..k {
        if layer % 32 == 0 {
            u = expm(&(&om * (2.0 * (layer as f64 + 0.5) * h)));
        } else {
            u = &step * u;
        }
        let a = &u * c * u.transpose() * sh;
        let o = &mut out[layer * n * n..(layer + 1) * n * n];
        for i in 0..n {
            for j in 0..n {
                o[i * n + j] = a[(i, j)];
            }
        }
    }
    out
}

/// The model with population data R(sigma) = R + sigma dR, Sigma0, at the regularization
/// `lambda`, with `k` layers of the discretization `disc`, and the point theta of the critical
/// A_t of `c` (see [`critical_theta`]). For the continuation study's time-varying verdict (the
/// Hessian of the K-layer model there).
#[allow(clippy::too_many_arguments)]
pub fn model_at_parts(
    t: f64,
    r: &DMatrix<f64>,
    dr: Option<&DMatrix<f64>>,
    sigma0: &DMatrix<f64>,
    lambda: f64,
    sigma: f64,
    k: usize,
    disc: Discretization,
    c: &DMatrix<f64>,
) -> Result<(ContinuousLinear, Vec<f64>)> {
    let n = r.nrows();
    if n == 0 || n > MAX_N || r.ncols() != n || sigma0.shape() != (n, n) {
        return Err(Error::shape(
            "problem.R",
            format!("expected n x n matrices with 1 <= n <= {MAX_N}"),
        ));
    }
    if c.shape() != (n, n) {
        return Err(Error::shape("C", format!("expected a {n} x {n} matrix")));
    }
    if k == 0 || k > MAX_K {
        return Err(Error::range(
            "K",
            format!("expected an integer in 1..={MAX_K}, got {k}"),
        ));
    }
    if !(t.is_finite() && t > 0.0) {
        return Err(Error::range("problem.T", "expected a number > 0"));
    }
    let rs = match dr {
        Some(d) => r + d * sigma,
        None => r.clone(),
    };
    let m = ContinuousLinear::population(n, k, t, lambda, disc, rs, sigma0.clone());
    let theta = m.critical_theta(c);
    Ok((m, theta))
}

/// [`model_at_parts`] for a characteristic-equation problem: the K-layer model of `problem` at
/// `(lambda, sigma)` and theta at the critical A_t of `c` (the continuation study's time-varying
/// verdict: the Hessian there, through [`Model::hvp`]).
pub fn model_at(
    problem: &critical::Problem,
    lambda: f64,
    sigma: f64,
    k: usize,
    disc: Discretization,
    c: &DMatrix<f64>,
) -> Result<(ContinuousLinear, Vec<f64>)> {
    model_at_parts(
        problem.t,
        &problem.r,
        problem.dr.as_ref(),
        &problem.sigma0,
        lambda,
        sigma,
        k,
        disc,
        c,
    )
}

/// The column names and roles before the critical-point columns.
pub const COLUMNS: &[(&str, Role)] = &[
    ("loss", Role::Loss),
    ("reg", Role::Other),
    ("data", Role::Other),
    ("gradNorm", Role::GradNorm),
    ("spread", Role::Other),
    ("nonNormality", Role::Other),
];

impl Model for ContinuousLinear {
    fn dim(&self) -> usize {
        self.k * self.n * self.n
    }
    fn blocks(&self) -> &[Block] {
        &self.blocks
    }
    fn loss_grad(&mut self, w: &[f64], grad: &mut [f64]) -> f64 {
        self.undefined = self.domain_violation(w);
        if self.undefined.is_some() {
            grad.fill(f64::NAN);
            return f64::NAN;
        }
        let (m, plans) = self.layer_maps(w);
        let xs = self.forward(&m);
        let (data, mut lam) = self.data_term(&xs[self.k], self.stats());
        let reg = 0.5 * self.lambda * crate::linalg::norm2(w);
        for k in (0..self.k).rev() {
            let wk = &lam * xs[k].transpose();
            let g = self.layer_grad(plans.get(k), &wk);
            self.put(grad, k, &g);
            lam = m[k].tr_mul(&lam);
        }
        for (g, x) in grad.iter_mut().zip(w) {
            *g += self.lambda * x;
        }
        reg + data
    }
    fn hvp(&mut self, w: &[f64], v: &[f64], out: &mut [f64]) {
        hvp::hvp(self, w, v, out)
    }
    fn hvp_exact(&self) -> bool {
        true
    }
    fn end_queries(&mut self) {
        self.cache = None;
    }
    fn set_reference(&mut self, _w0: &[f64]) {}
    fn columns(&self) -> Vec<Column> {
        let mut c: Vec<Column> = COLUMNS.iter().map(|(n, r)| Column::new(*n, *r)).collect();
        if self.candidates > 0 {
            c.push(Column::new("critDist", Role::Other));
            c.push(Column::new("critIndex", Role::Other));
        }
        c
    }
    fn metrics(&mut self, w: &[f64], grad: &[f64], loss: f64, out: &mut Vec<f64>) {
        let nn = self.n * self.n;
        out.push(loss);
        let finite = w.iter().all(|x| x.is_finite());
        let phi = if finite {
            self.phi(w)
        } else {
            DMatrix::from_element(self.n, self.n, f64::NAN)
        };
        let reg = 0.5 * self.lambda * crate::linalg::norm2(w);
        let (data, _) = self.data_term(&phi, &self.full);
        out.push(reg);
        out.push(data);
        out.push(crate::linalg::norm(grad));
        // spread = sqrt(h sum_k |A_k - Abar|^2) = sqrt(sum_k |theta_k - theta_bar|^2).
        let mut mean = vec![0.0; nn];
        for layer in w.chunks_exact(nn) {
            for (m, x) in mean.iter_mut().zip(layer) {
                *m += x;
            }
        }
        mean.iter_mut().for_each(|m| *m /= self.k as f64);
        let spread: f64 = w
            .chunks_exact(nn)
            .map(|layer| {
                layer
                    .iter()
                    .zip(&mean)
                    .map(|(x, m)| (x - m) * (x - m))
                    .sum::<f64>()
            })
            .sum();
        out.push(spread.sqrt());
        let a0 = self.a(w, 0);
        out.push((&a0 * a0.transpose() - a0.transpose() * &a0).norm());
        if self.candidates > 0 {
            let (mut best, mut index) = (f64::NAN, f64::NAN);
            for c in &self.critical {
                let d = c
                    .theta
                    .iter()
                    .zip(w)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt();
                if best.is_nan() || d < best {
                    best = d;
                    index = c.index as f64;
                }
            }
            out.push(best);
            out.push(index);
        }
        self.rec_a = w.iter().map(|x| x / self.sh).collect();
        self.rec_phi = rows_of(&phi);
    }
    fn matrix<'a>(
        &'a self,
        name: &str,
        w: &'a [f64],
        w0: &'a [f64],
    ) -> Result<(usize, usize, &'a [f64])> {
        let (kn, n) = (self.k * self.n, self.n);
        match name {
            "theta" => Ok((kn, n, w)),
            "theta_0" => Ok((kn, n, w0)),
            "A" if !self.rec_a.is_empty() => Ok((kn, n, &self.rec_a)),
            "Phi" if !self.rec_phi.is_empty() => Ok((n, n, &self.rec_phi)),
            "R" => Ok((n, n, &self.r_rows)),
            "Sigma0" => Ok((n, n, &self.s_rows)),
            _ => Err(Error::request(
                "matrix",
                format!(
                    "no matrix named {name:?} (expected theta, theta_0, A or Phi (at the last \
                     recorded row), R or Sigma0)"
                ),
            )),
        }
    }
    fn undefined_reason(&self) -> Option<String> {
        self.undefined.clone()
    }
    fn samples(&self) -> Option<usize> {
        self.samples.as_ref().map(|s| s.x0.ncols())
    }
    fn set_batch(&mut self, batch: Option<&[usize]>) {
        self.cache = None;
        self.batch = match (batch, &self.samples) {
            (Some(idx), Some(s)) => Some(Stats::of_samples(&s.x0, &s.e, Some(idx))),
            _ => None,
        };
    }
}
