//! Patch distributions of the convolutional-filter family (thesis ch. 6): sampling (bit-identical
//! on every target: ChaCha8 + libm) and the population quantities of Definition 6.1 and
//! Assumptions 6.1-6.3: gamma(phi), L(phi), beta, L_cross.
//!
//! Angles are measured in the plane of w* and w, from the direction of w*: a unit vector at angle
//! theta is cos(theta) e1 + sin(theta) e2 with e1 = w*/||w*|| and, for p = 2, e2 = e1 turned by
//! +90 degrees. A filter w at angle alpha from w* cuts the plane into the regions
//!   S(w, w*)  = {theta : cos(theta - alpha) > 0, cos(theta) > 0}   (length pi - |alpha|),
//!   S(w, -w*) = {cos(theta - alpha) > 0, cos(theta) < 0}           (length |alpha|),
//!   S(-w, w*) = {cos(theta - alpha) < 0, cos(theta) > 0}           (length |alpha|).
//! For patches drawn i.i.d. from an angular distribution (gaussian, circleMixture) the moments
//! E[Z_R1 Z_R2^T] of the region averages Z_R = (1/k) sum_i Z_i 1{Z_i in R} are
//!   (1/k) 1{R1 = R2} A_R + (1 - 1/k) m_R1 m_R2^T,   A_R = E[Z Z^T 1{R}], m_R = E[Z 1{R}],
//! and A_R, m_R are one-dimensional integrals over theta (Gauss-Legendre quadrature); otherwise
//! (aroundBase: correlated patches; data: the user's patches) they are sample averages (Monte
//! Carlo / the empirical distribution).

use std::f64::consts::{FRAC_PI_2, PI};

use nalgebra::{DMatrix, DVector};
use serde_json::{json, Value};

use crate::rng::Normal;

/// The distribution of one sample's k patches (each of size p).
#[derive(Debug, Clone, PartialEq)]
pub enum Patches {
    /// Every entry of every patch i.i.d. N(0, 1).
    Gaussian,
    /// p = 2, unit-norm patches drawn i.i.d., the angle to w* from 1/2 N(0, s^2) truncated to
    /// [-pi/2, pi/2] plus 1/2 N(pi, s^2) truncated to [pi/2, 3 pi/2] (Figure 6.3 (a)).
    CircleMixture { s: f64 },
    /// p = 2, unit-norm patches at angle theta_b + delta_i, theta_b drawn as in circleMixture(s),
    /// delta_i i.i.d. N(0, s2^2) truncated to [-pi, pi] (Figure 6.3 (b)).
    AroundBase { s: f64, s2: f64 },
    /// The user's samples: `n` rows of k p numbers (patch i = entries i p .. (i + 1) p).
    Data { z: Vec<f64>, n: usize },
}

/// N(mu, s^2) truncated to [lo, hi] (mu inside), by rejection: a normal proposal when s is at
/// most the half-width (acceptance >= 0.68), a uniform proposal otherwise (acceptance >=
/// exp(-1/2)). The number of draws varies, the bits do not: same stream, same values.
pub fn truncated_normal(rng: &mut Normal, mu: f64, s: f64, lo: f64, hi: f64) -> f64 {
    let half = (hi - lo) / 2.0;
    if s <= half {
        loop {
            let x = mu + s * rng.sample();
            if x >= lo && x <= hi {
                return x;
            }
        }
    } else {
        loop {
            let x = lo + (hi - lo) * rng.uniform_open();
            let d = (x - mu) / s;
            if rng.uniform_open() <= libm::exp(-0.5 * d * d) {
                return x;
            }
        }
    }
}

/// An angle drawn from the Figure 6.3 (a) mixture with spread s.
pub fn mixture_angle(rng: &mut Normal, s: f64) -> f64 {
    if rng.uniform_open() < 0.5 {
        truncated_normal(rng, 0.0, s, -FRAC_PI_2, FRAC_PI_2)
    } else {
        truncated_normal(rng, PI, s, FRAC_PI_2, 3.0 * FRAC_PI_2)
    }
}

/// The frame of the angles: e1 = w*/||w*||, e2 (p = 2: e1 turned by +90 degrees).
#[derive(Debug, Clone)]
pub struct Frame {
    pub e1: Vec<f64>,
    pub e2: Vec<f64>,
}

impl Frame {
    /// e1 = w*/||w*||; e2 the unit component of `toward` orthogonal to e1 (p = 2: always e1
    /// turned by +90 degrees; p > 2: when `toward` is (nearly) parallel to e1 or absent, the
    /// first coordinate axis least aligned with e1, orthogonalized).
    pub fn new(w_star: &[f64], toward: Option<&[f64]>) -> Frame {
        let p = w_star.len();
        let n = crate::linalg::norm(w_star);
        let e1: Vec<f64> = w_star.iter().map(|x| x / n).collect();
        if p == 2 {
            return Frame {
                e2: vec![-e1[1], e1[0]],
                e1,
            };
        }
        let perp = |v: &[f64]| -> Vec<f64> {
            let c = crate::linalg::dot(v, &e1);
            v.iter().zip(&e1).map(|(a, b)| a - c * b).collect()
        };
        let mut e2 = toward.map(perp).unwrap_or_else(|| vec![0.0; p]);
        let nt = toward.map_or(0.0, crate::linalg::norm);
        if crate::linalg::norm(&e2) <= 1e-8 * nt.max(f64::MIN_POSITIVE) || nt == 0.0 {
            let j = (0..p)
                .min_by(|&a, &b| e1[a].abs().total_cmp(&e1[b].abs()))
                .unwrap_or(0);
            let mut u = vec![0.0; p];
            if p > 1 {
                u[j] = 1.0;
            }
            e2 = perp(&u);
        }
        let m = crate::linalg::norm(&e2);
        if m > 0.0 {
            e2.iter_mut().for_each(|x| *x /= m);
        }
        Frame { e1, e2 }
    }
    /// The unit vector at angle `a` in the plane.
    pub fn at(&self, a: f64) -> Vec<f64> {
        let (s, c) = (libm::sin(a), libm::cos(a));
        self.e1
            .iter()
            .zip(&self.e2)
            .map(|(x, y)| c * x + s * y)
            .collect()
    }
}

/// Draw one sample's k patches of size p into `out` (k p numbers), for the generated kinds.
pub fn draw(patches: &Patches, frame: &Frame, k: usize, rng: &mut Normal, out: &mut [f64]) {
    let p = frame.e1.len();
    let unit = |out: &mut [f64], a: f64| {
        let (s, c) = (libm::sin(a), libm::cos(a));
        for j in 0..p {
            out[j] = c * frame.e1[j] + s * frame.e2[j];
        }
    };
    match patches {
        Patches::Gaussian => {
            for x in out.iter_mut() {
                *x = rng.sample();
            }
        }
        Patches::CircleMixture { s } => {
            for i in 0..k {
                let a = mixture_angle(rng, *s);
                unit(&mut out[i * p..(i + 1) * p], a);
            }
        }
        Patches::AroundBase { s, s2 } => {
            let base = mixture_angle(rng, *s);
            for i in 0..k {
                let d = truncated_normal(rng, 0.0, *s2, -PI, PI);
                unit(&mut out[i * p..(i + 1) * p], base + d);
            }
        }
        Patches::Data { .. } => unreachable!("data patches are not drawn"),
    }
}

// ---------------------------------------------------------------------------------------------
// Quadrature (i.i.d. angular patches).

/// Gauss-Legendre nodes and weights on [-1, 1] (Newton on P_n; exact to rounding).
pub fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut x = vec![0.0; n];
    let mut w = vec![0.0; n];
    for i in 0..n.div_ceil(2) {
        let mut z = libm::cos(PI * (i as f64 + 0.75) / (n as f64 + 0.5));
        let mut dp = 0.0;
        for _ in 0..100 {
            let (mut p0, mut p1) = (1.0, z);
            for j in 2..=n {
                let p2 = ((2 * j - 1) as f64 * z * p1 - (j - 1) as f64 * p0) / j as f64;
                p0 = p1;
                p1 = p2;
            }
            let pn = if n == 0 { 1.0 } else { p1 };
            let pnm1 = if n == 1 { 1.0 } else { p0 };
            dp = n as f64 * (z * pn - pnm1) / (z * z - 1.0);
            let dz = pn / dp;
            z -= dz;
            if dz.abs() < 1e-16 {
                break;
            }
        }
        x[i] = -z;
        x[n - 1 - i] = z;
        w[i] = 2.0 / ((1.0 - z * z) * dp * dp);
        w[n - 1 - i] = w[i];
    }
    (x, w)
}

/// An angular distribution: density of the angle on the circle, and the radial moments E r,
/// E r^2 of the in-plane part (unit patches: 1, 1; a 2-D standard Gaussian: sqrt(pi/2), 2).
#[derive(Debug, Clone, Copy)]
pub enum Angular {
    /// Rotation invariant (uniform angle), Gaussian radial part (patches N(0, I_p)).
    Gaussian,
    /// Unit norm, uniform angle (Theorem 6.7).
    UniformCircle,
    /// Unit norm, the Figure 6.3 (a) mixture.
    Mixture { s: f64 },
}

impl Angular {
    fn radial(self) -> (f64, f64) {
        match self {
            Angular::Gaussian => ((PI / 2.0).sqrt(), 2.0),
            _ => (1.0, 1.0),
        }
    }
    /// The density of the angle at `t` (any real: reduced mod 2 pi).
    pub fn density(self, t: f64) -> f64 {
        self.density_with(t, self.normalizer())
    }
    /// The mixture's truncation mass erf(pi / (2 sqrt(2) s)) (1 otherwise).
    fn normalizer(self) -> f64 {
        match self {
            Angular::Mixture { s } => libm::erf(FRAC_PI_2 / (s * std::f64::consts::SQRT_2)),
            _ => 1.0,
        }
    }
    fn density_with(self, t: f64, z: f64) -> f64 {
        match self {
            Angular::Gaussian | Angular::UniformCircle => 1.0 / (2.0 * PI),
            Angular::Mixture { s } => {
                // Reduce to [-pi/2, 3 pi/2), then to the component's centre.
                let mut x = (t + FRAC_PI_2).rem_euclid(2.0 * PI) - FRAC_PI_2;
                if x > FRAC_PI_2 {
                    x -= PI;
                }
                0.5 * libm::exp(-0.5 * (x / s) * (x / s)) / (s * (2.0 * PI).sqrt() * z)
            }
        }
    }
    /// The length scale the quadrature must resolve.
    fn scale(self) -> f64 {
        match self {
            Angular::Mixture { s } => s.min(1.0),
            _ => 1.0,
        }
    }
}

/// Mass, first and second moments of the unit angle vector over [a, b]: (P, m, A) with
/// m = int rho (cos, sin), A = int rho (cos, sin)(cos, sin)^T (in-plane, before radial factors).
/// Panels split at every multiple of pi/2 (where the mixture's density jumps).
pub fn moments(d: Angular, a: f64, b: f64, panels_per_unit: f64) -> (f64, [f64; 2], [f64; 3]) {
    let (gx, gw) = gauss_legendre(16);
    let mut mass = 0.0;
    let mut m = [0.0; 2];
    let mut aa = [0.0; 3];
    if b <= a {
        return (mass, m, aa);
    }
    // Break points: multiples of pi/2 inside (a, b).
    let mut cuts = vec![a];
    let mut c = (a / FRAC_PI_2).floor() * FRAC_PI_2 + FRAC_PI_2;
    while c < b {
        if c > a {
            cuts.push(c);
        }
        c += FRAC_PI_2;
    }
    cuts.push(b);
    let h = d.scale();
    let z = d.normalizer();
    for seg in cuts.windows(2) {
        let (lo, hi) = (seg[0], seg[1]);
        let n = (((hi - lo) / h * panels_per_unit).ceil() as usize).clamp(2, 200_000);
        let step = (hi - lo) / n as f64;
        for j in 0..n {
            let c0 = lo + (j as f64 + 0.5) * step;
            for (x, wgt) in gx.iter().zip(&gw) {
                let t = c0 + 0.5 * step * x;
                let r = d.density_with(t, z) * wgt * 0.5 * step;
                let (s, c) = (libm::sin(t), libm::cos(t));
                mass += r;
                m[0] += r * c;
                m[1] += r * s;
                aa[0] += r * c * c;
                aa[1] += r * c * s;
                aa[2] += r * s * s;
            }
        }
    }
    (mass, m, aa)
}

/// The three regions' angle intervals for a filter at angle `alpha` (|alpha| <= pi):
/// [S(w, w*), S(w, -w*), S(-w, w*)].
pub fn regions(alpha: f64) -> [(f64, f64); 3] {
    if alpha >= 0.0 {
        [
            (alpha - FRAC_PI_2, FRAC_PI_2),
            (FRAC_PI_2, alpha + FRAC_PI_2),
            (-FRAC_PI_2, alpha - FRAC_PI_2),
        ]
    } else {
        [
            (-FRAC_PI_2, alpha + FRAC_PI_2),
            (alpha - FRAC_PI_2, -FRAC_PI_2),
            (alpha + FRAC_PI_2, FRAC_PI_2),
        ]
    }
}

/// The four numbers the constants need at one filter angle: lambda_min and lambda_max of
/// G = E[Z_S(w,w*) Z_S(w,w*)^T], lambda_max of B = E[Z_S(w,-w*) Z_S(w,-w*)^T], and the cross sum
/// ||E[Z_S(w,w*) Z_S(w,-w*)^T]|| + ||E[Z_S(w,w*) Z_S(-w,w*)^T]|| + ||E[Z_S(w,-w*) Z_S(-w,w*)^T]||
/// (operator norms).
#[derive(Debug, Clone, Copy, Default)]
pub struct AtAngle {
    pub g_min: f64,
    pub g_max: f64,
    pub b_max: f64,
    pub cross: f64,
}

fn sym2_eig(a: [f64; 3]) -> (f64, f64) {
    let (x, y, z) = (a[0], a[1], a[2]);
    let m = 0.5 * (x + z);
    let r = (0.25 * (x - z) * (x - z) + y * y).sqrt();
    (m - r, m + r)
}

fn op_norm2(m: [f64; 4]) -> f64 {
    // Largest singular value of [[m0, m1], [m2, m3]].
    let (a, b, c, d) = (m[0], m[1], m[2], m[3]);
    let s1 = a * a + b * b + c * c + d * d;
    let det = a * d - b * c;
    (0.5 * (s1 + (s1 * s1 - 4.0 * det * det).max(0.0).sqrt())).sqrt()
}

/// The region moments of i.i.d. angular patches at angle `alpha` (quadrature).
pub fn at_angle_quadrature(d: Angular, p: usize, k: usize, alpha: f64, ppu: f64) -> AtAngle {
    let (er, er2) = d.radial();
    let kf = k as f64;
    let regs = regions(alpha);
    let mom: Vec<(f64, [f64; 2], [f64; 3])> =
        regs.iter().map(|&(a, b)| moments(d, a, b, ppu)).collect();
    // In-plane blocks: (1/k) A_R + (1 - 1/k) m_R m_R^T; complement (Gaussian, p > 2): P_R / k.
    let second = |i: usize| -> [f64; 3] {
        let (_, m, a) = mom[i];
        let (m0, m1) = (er * m[0], er * m[1]);
        let c = 1.0 - 1.0 / kf;
        [
            er2 * a[0] / kf + c * m0 * m0,
            er2 * a[1] / kf + c * m0 * m1,
            er2 * a[2] / kf + c * m1 * m1,
        ]
    };
    let cross = |i: usize, j: usize| -> f64 {
        let c = 1.0 - 1.0 / kf;
        let (a, b) = (mom[i].1, mom[j].1);
        op_norm2([
            c * er * er * a[0] * b[0],
            c * er * er * a[0] * b[1],
            c * er * er * a[1] * b[0],
            c * er * er * a[1] * b[1],
        ])
    };
    let (g_lo, g_hi) = sym2_eig(second(0));
    let (_, b_hi) = sym2_eig(second(1));
    let (mut g_min, mut g_max, mut b_max) = (g_lo, g_hi, b_hi);
    if p > 2 {
        // Only the Gaussian has p > 2 here: the complement of the plane carries P_R / k.
        let c0 = mom[0].0 / kf;
        g_min = g_min.min(c0);
        g_max = g_max.max(c0);
        b_max = b_max.max(mom[1].0 / kf);
    }
    AtAngle {
        g_min,
        g_max,
        b_max,
        cross: cross(0, 1) + cross(0, 2) + cross(1, 2),
    }
}

/// Sums over samples of the outer products of the region averages at one filter angle: G, B and
/// the three cross blocks, p x p row-major each, and the number of samples.
#[derive(Debug, Clone)]
pub struct Sums {
    p: usize,
    n: usize,
    m: [Vec<f64>; 5],
}

impl Sums {
    pub fn new(p: usize) -> Sums {
        Sums {
            p,
            n: 0,
            m: std::array::from_fn(|_| vec![0.0; p * p]),
        }
    }
    /// Add another set of sums.
    pub fn add(&mut self, o: &Sums) {
        self.n += o.n;
        for (a, b) in self.m.iter_mut().zip(&o.m) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
    }
    /// The four numbers of the averages.
    pub fn at_angle(&self) -> AtAngle {
        let p = self.p;
        let nf = self.n.max(1) as f64;
        let mat = |i: usize| DMatrix::from_row_slice(p, p, &self.m[i]) / nf;
        // NaN when a decomposition does not converge (bounded: crate::decomp)
        // (a NaN entry makes every fold below NaN: f64::min/max would skip it)
        let nan = || DVector::from_element(1, f64::NAN);
        let eg = crate::decomp::symmetric_eigenvalues(&mat(0)).unwrap_or_else(nan);
        let eb = crate::decomp::symmetric_eigenvalues(&mat(1)).unwrap_or_else(nan);
        let opn = |m: DMatrix<f64>| -> f64 {
            crate::decomp::singular_values(&m)
                .map_or(f64::NAN, |s| s.iter().fold(0.0f64, |a, &x| a.max(x)))
        };
        AtAngle {
            g_min: eg
                .iter()
                .fold(f64::INFINITY, |a, &x| if x.is_nan() { x } else { a.min(x) }),
            g_max: eg.iter().fold(
                f64::NEG_INFINITY,
                |a, &x| if x.is_nan() { x } else { a.max(x) },
            ),
            b_max: eb.iter().fold(
                f64::NEG_INFINITY,
                |a, &x| if x.is_nan() { x } else { a.max(x) },
            ),
            cross: opn(mat(2)) + opn(mat(3)) + opn(mat(4)),
        }
    }
}

/// The sums of [`Sums`] over the rows of `z` (n rows of k p numbers) for a filter at angle
/// `alpha`.
pub fn sums_at(z: &[f64], n: usize, k: usize, frame: &Frame, alpha: f64) -> Sums {
    let p = frame.e1.len();
    let w = frame.at(alpha);
    let ws = &frame.e1;
    let mut out = Sums::new(p);
    out.n = n;
    let mut v = [vec![0.0; p], vec![0.0; p], vec![0.0; p]];
    let kf = k as f64;
    let pairs: [(usize, usize); 5] = [(0, 0), (1, 1), (0, 1), (0, 2), (1, 2)];
    for r in 0..n {
        for x in v.iter_mut() {
            x.fill(0.0);
        }
        let row = &z[r * k * p..(r + 1) * k * p];
        let mut any = [false; 3];
        for i in 0..k {
            let zi = &row[i * p..(i + 1) * p];
            let a = crate::linalg::dot(&w, zi) > 0.0;
            let s = crate::linalg::dot(ws, zi) > 0.0;
            let reg = match (a, s) {
                (true, true) => 0,
                (true, false) => 1,
                (false, true) => 2,
                _ => continue,
            };
            any[reg] = true;
            for (x, y) in v[reg].iter_mut().zip(zi) {
                *x += y / kf;
            }
        }
        for (m, &(a, b)) in out.m.iter_mut().zip(&pairs) {
            if !any[a] || !any[b] {
                continue;
            }
            let (va, vb) = (&v[a], &v[b]);
            for i in 0..p {
                let vi = va[i];
                let mrow = &mut m[i * p..(i + 1) * p];
                for (x, y) in mrow.iter_mut().zip(vb) {
                    *x += vi * y;
                }
            }
        }
    }
    out
}

/// The region moments at angle `alpha` as averages over samples (`z`: n rows of k p numbers).
pub fn at_angle_samples(z: &[f64], n: usize, k: usize, frame: &Frame, alpha: f64) -> AtAngle {
    sums_at(z, n, k, frame, alpha).at_angle()
}

/// The angles of the table of gamma(phi) and L(phi).
pub fn table_phis() -> Vec<f64> {
    vec![
        0.0,
        PI / 32.0,
        PI / 16.0,
        PI / 8.0,
        PI / 4.0,
        3.0 * PI / 8.0,
        FRAC_PI_2,
    ]
}

/// The constants from values at angles: gamma(phi) = min over |alpha| <= phi of g_min, L(phi)
/// the max of g_max (at the `phis`), beta = max over alpha != 0 of b_max / |alpha| (up to pi/2),
/// L_cross the same of cross.
#[derive(Debug, Clone)]
pub struct Constants {
    pub phis: Vec<f64>,
    pub gamma: Vec<f64>,
    pub l: Vec<f64>,
    pub beta: f64,
    pub l_cross: f64,
}

/// The grid of filter angles: +-(pi/2)(j/J)^2, j = 0..J (dense near 0, where beta and L_cross
/// take their sup for smooth densities), with +-phi for every table angle added.
pub fn alpha_grid(phis: &[f64], j_max: usize) -> Vec<f64> {
    let mut a: Vec<f64> = (0..=j_max)
        .map(|j| FRAC_PI_2 * (j as f64 / j_max as f64).powi(2))
        .collect();
    a.extend(phis.iter().copied());
    let mut all: Vec<f64> = a.iter().flat_map(|&x| [x, -x]).collect();
    all.sort_by(|x, y| x.total_cmp(y));
    all.dedup();
    all
}

pub fn constants(phis: &[f64], alphas: &[f64], at: &dyn Fn(f64) -> AtAngle) -> Constants {
    let vals: Vec<(f64, AtAngle)> = alphas.iter().map(|&a| (a, at(a))).collect();
    let tol = 1e-12;
    let gamma = phis
        .iter()
        .map(|&phi| {
            vals.iter()
                .filter(|(a, _)| a.abs() <= phi + tol)
                .fold(f64::INFINITY, |m, (_, v)| m.min(v.g_min))
        })
        .collect();
    let l = phis
        .iter()
        .map(|&phi| {
            vals.iter()
                .filter(|(a, _)| a.abs() <= phi + tol)
                .fold(f64::NEG_INFINITY, |m, (_, v)| m.max(v.g_max))
        })
        .collect();
    let ratio = |f: &dyn Fn(&AtAngle) -> f64| -> f64 {
        vals.iter()
            .filter(|(a, _)| *a != 0.0 && a.abs() <= FRAC_PI_2 + tol)
            .fold(0.0f64, |m, (a, v)| m.max(f(v) / a.abs()))
    };
    Constants {
        phis: phis.to_vec(),
        gamma,
        l,
        beta: ratio(&|v| v.b_max),
        l_cross: ratio(&|v| v.cross),
    }
}

/// Monte Carlo / empirical samples for the constants: `n` samples drawn from `seed`.
pub fn sample_rows(patches: &Patches, frame: &Frame, k: usize, n: usize, seed: u64) -> Vec<f64> {
    let p = frame.e1.len();
    let mut z = vec![0.0; n * k * p];
    let mut rng = Normal::new(seed);
    for r in 0..n {
        draw(
            patches,
            frame,
            k,
            &mut rng,
            &mut z[r * k * p..(r + 1) * k * p],
        );
    }
    z
}

/// The angular form of i.i.d. patches, when there is one.
pub fn angular(patches: &Patches) -> Option<Angular> {
    match patches {
        Patches::Gaussian => Some(Angular::Gaussian),
        Patches::CircleMixture { s } => Some(Angular::Mixture { s: *s }),
        _ => None,
    }
}

/// Monte Carlo samples of the constants for distributions without quadrature.
pub const MC_SAMPLES: usize = 50_000;
/// Batches of the batch-means error estimate.
pub const MC_BATCHES: usize = 10;
/// Panels per unit angle (relative to the density's scale) of the quadrature; the error estimate
/// compares with half as many.
pub const PANELS: f64 = 16.0;

/// All the constants with error estimates, as JSON, plus the raw values.
pub struct Estimate {
    pub method: &'static str,
    pub value: Constants,
    pub error: Constants,
    pub samples: Option<usize>,
}

fn diff(a: &Constants, b: &Constants) -> Constants {
    let d = |x: f64, y: f64| (x - y).abs();
    Constants {
        phis: a.phis.clone(),
        gamma: a
            .gamma
            .iter()
            .zip(&b.gamma)
            .map(|(x, y)| d(*x, *y))
            .collect(),
        l: a.l.iter().zip(&b.l).map(|(x, y)| d(*x, *y)).collect(),
        beta: d(a.beta, b.beta),
        l_cross: d(a.l_cross, b.l_cross),
    }
}

/// gamma(phi), L(phi) at `phis`, beta and L_cross for the patch distribution: quadrature for
/// i.i.d. angular patches (error: against half the panels), Monte Carlo for aroundBase
/// ([`MC_SAMPLES`] samples from `seed`; error: the standard error of [`MC_BATCHES`] batch
/// means), the exact empirical average for data patches (no error).
pub fn estimate(
    patches: &Patches,
    w_star: &[f64],
    toward: Option<&[f64]>,
    k: usize,
    phis: &[f64],
    seed: u64,
) -> Estimate {
    let p = w_star.len();
    let frame = Frame::new(w_star, toward);
    // Quadrature is cheap: a fine grid; sample averages cost a pass over the samples per angle.
    let alphas = alpha_grid(phis, if angular(patches).is_some() { 48 } else { 24 });
    if let Some(ang) = angular(patches) {
        let fine = constants(phis, &alphas, &|a| {
            at_angle_quadrature(ang, p, k, a, PANELS)
        });
        let coarse = constants(phis, &alphas, &|a| {
            at_angle_quadrature(ang, p, k, a, PANELS / 2.0)
        });
        return Estimate {
            method: "quadrature",
            error: diff(&fine, &coarse),
            value: fine,
            samples: None,
        };
    }
    match patches {
        Patches::Data { z, n } => {
            let v = constants(phis, &alphas, &|a| at_angle_samples(z, *n, k, &frame, a));
            let zero = Constants {
                phis: phis.to_vec(),
                gamma: vec![0.0; phis.len()],
                l: vec![0.0; phis.len()],
                beta: 0.0,
                l_cross: 0.0,
            };
            Estimate {
                method: "empirical",
                value: v,
                error: zero,
                samples: Some(*n),
            }
        }
        _ => {
            let n = MC_SAMPLES;
            let z = sample_rows(patches, &frame, k, n, seed);
            let per = n / MC_BATCHES;
            let row = k * p;
            // Per angle: the sums of each batch, and their total (all samples).
            let mut parts_at: Vec<Vec<AtAngle>> = vec![Vec::new(); MC_BATCHES];
            let mut all_at = Vec::new();
            for &a in &alphas {
                let mut total = Sums::new(p);
                for (b, part) in parts_at.iter_mut().enumerate() {
                    let zz = &z[b * per * row..(b + 1) * per * row];
                    let sb = sums_at(zz, per, k, &frame, a);
                    part.push(sb.at_angle());
                    total.add(&sb);
                }
                all_at.push(total.at_angle());
            }
            let lookup = |vals: &[AtAngle]| {
                let vals = vals.to_vec();
                let alphas = alphas.clone();
                move |a: f64| {
                    let i = alphas.iter().position(|&x| x == a).expect("grid angle");
                    vals[i]
                }
            };
            let all = constants(phis, &alphas, &lookup(&all_at));
            let parts: Vec<Constants> = parts_at
                .iter()
                .map(|v| constants(phis, &alphas, &lookup(v)))
                .collect();
            let se = |f: &dyn Fn(&Constants) -> f64| -> f64 {
                let xs: Vec<f64> = parts.iter().map(f).collect();
                let m = xs.iter().sum::<f64>() / xs.len() as f64;
                let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() - 1) as f64;
                (v / xs.len() as f64).sqrt()
            };
            let error = Constants {
                phis: phis.to_vec(),
                gamma: (0..phis.len()).map(|i| se(&|c| c.gamma[i])).collect(),
                l: (0..phis.len()).map(|i| se(&|c| c.l[i])).collect(),
                beta: se(&|c| c.beta),
                l_cross: se(&|c| c.l_cross),
            };
            Estimate {
                method: "monteCarlo",
                value: all,
                error,
                samples: Some(n),
            }
        }
    }
}

impl Estimate {
    pub fn to_json(&self) -> Value {
        let rows: Vec<Value> = self
            .value
            .phis
            .iter()
            .enumerate()
            .map(|(i, phi)| {
                json!({"phi": phi, "gamma": self.value.gamma[i], "gammaError": self.error.gamma[i],
                       "L": self.value.l[i], "LError": self.error.l[i]})
            })
            .collect();
        json!({
            "method": self.method,
            "samples": self.samples,
            "table": rows,
            "beta": self.value.beta,
            "betaError": self.error.beta,
            "Lcross": self.value.l_cross,
            "LcrossError": self.error.l_cross,
        })
    }
}
