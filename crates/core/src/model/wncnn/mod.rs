//! The weight-normalized CNN family (`model.kind = "weightNormCnn"`; Du 2019, thesis ch. 5): a
//! one-hidden-layer CNN with k non-overlapping patches of size p,
//! f(Z, v, a) = sum_i a_i relu(w^T Z_i), w = v / ||v||, learned from a teacher (w*, a*) by
//! gradient descent on (v, a) (Algorithm 1: simultaneous updates). Two losses: the population
//! loss over Gaussian patches in closed form (Theorem 5.1, in a cancellation-free form) with its
//! exact gradient and Hessian-vector product, and the empirical loss on a fixed sample of
//! Gaussian patches (for SGD). The columns follow the quantities of the chapter (the angle phi,
//! 1^T a, a^T a*, ||v||^2, the distances to the global minimum and to the spurious point) and
//! the outcome of the run, decided by absorbing regions of the dynamics (docs/weight-norm-cnn.md
//! derives them). `family.rs` is the spec and the build.

pub mod family;

use std::f64::consts::PI;

use serde_json::{json, Value};

use crate::curvature::Query;
use crate::error::{Error, Result};
use crate::linalg::{dot, norm, norm2};
use crate::model::{Block, Column, Model, Role};

pub use family::WeightNormCnnFamily;

/// The family's curvature queries.
pub const QUERIES: &[&str] = &["stationaryPoints"];

/// The columns of the population loss, in order (the empirical loss adds `populationLoss`).
pub const COLUMNS: &[(&str, Role)] = &[
    ("loss", Role::Loss),
    ("gradNorm", Role::GradNorm),
    ("phi", Role::Other),
    ("sumA", Role::Other),
    ("aDotAStar", Role::Other),
    ("vNormSq", Role::Norm),
    ("distGlobal", Role::Other),
    ("distSpurious", Role::Other),
    ("outcome", Role::Other),
    ("decidedAt", Role::Other),
];

/// Vectors longer than this are not echoed in query reports (`null` instead).
const ECHO_MAX: usize = 4096;

/// The teacher (w*, a*) and the constants derived from it.
#[derive(Debug, Clone)]
pub struct Teacher {
    /// u* = w* / ||w*|| (p).
    pub u: Vec<f64>,
    /// ||w*||.
    pub s: f64,
    /// a* (k).
    pub a: Vec<f64>,
    /// b = ||w*|| a*, the second layer at the global minimum.
    pub b: Vec<f64>,
    /// 1^T a*.
    pub sum_a: f64,
    /// ||a*||^2.
    pub a_sq: f64,
}

impl Teacher {
    pub fn new(u: Vec<f64>, s: f64, a: Vec<f64>) -> Teacher {
        let b = a.iter().map(|x| s * x).collect();
        let sum_a = a.iter().sum();
        let a_sq = norm2(&a);
        Teacher {
            u,
            s,
            a,
            b,
            sum_a,
            a_sq,
        }
    }
}

/// h(phi) = sin phi - phi cos phi >= 0 on [0, pi], by its series below 1/2 (the difference
/// cancels like phi^3 / 3 there).
pub fn sin_minus_phi_cos(phi: f64) -> f64 {
    if phi.abs() < 0.5 {
        // sum_{n >= 1} (-1)^(n+1) 2n phi^(2n+1) / (2n+1)!
        let x2 = phi * phi;
        let mut term = phi; // phi^(2n+1) / (2n+1)! at n = 0
        let mut sum = 0.0;
        for n in 1..=12u32 {
            let m = 2 * n;
            term *= x2 / ((m * (m + 1)) as f64);
            let t = 2.0 * n as f64 * term;
            if n % 2 == 1 {
                sum += t;
            } else {
                sum -= t;
            }
        }
        sum
    } else {
        libm::sin(phi) - phi * libm::cos(phi)
    }
}

/// pi - g(phi), g(phi) = (pi - phi) cos phi + sin phi, as 2 pi sin^2(phi / 2) - h(phi) (no
/// cancellation near phi = 0, where it is ~ pi phi^2 / 2).
pub fn pi_minus_g(phi: f64) -> f64 {
    let s = libm::sin(0.5 * phi);
    2.0 * PI * s * s - sin_minus_phi_cos(phi)
}

/// g(phi) = (pi - phi) cos phi + sin phi.
pub fn g_of(phi: f64) -> f64 {
    PI - pi_minus_g(phi)
}

/// The angle between unit vectors `w` and `u`, 2 atan2(||w - u||, ||w + u||) (accurate at 0 and
/// pi, where arccos of the dot product is not).
pub fn angle_unit(w: &[f64], u: &[f64]) -> f64 {
    let (mut dm, mut dp) = (0.0, 0.0);
    for (x, y) in w.iter().zip(u) {
        dm += (x - y) * (x - y);
        dp += (x + y) * (x + y);
    }
    2.0 * libm::atan2(libm::sqrt(dm), libm::sqrt(dp))
}

/// One pass over the second layer `a` (the population loss's four sums, interleaved: independent
/// chains of additions instead of four loops): q = a^T a* with [`dot`]'s eight partial sums,
/// 1^T a, and the sums of d and d^2, d = a - b, each in order, so every sum has the bits of its
/// own loop (`dot`, `Iterator::sum`, a running sum).
fn second_layer_sums(a: &[f64], a_star: &[f64], b: &[f64]) -> (f64, f64, f64, f64) {
    let n = a.len().min(a_star.len()).min(b.len());
    let (a, a_star, b) = (&a[..n], &a_star[..n], &b[..n]);
    let mut acc = [0.0f64; 8];
    // Iterator::sum of f64 starts at -0.0 (the identity of +).
    let (mut sum_a, mut sum_d, mut dd) = (-0.0f64, 0.0f64, 0.0f64);
    let split = n / 8 * 8;
    for ((x, y), z) in a[..split]
        .chunks_exact(8)
        .zip(a_star[..split].chunks_exact(8))
        .zip(b[..split].chunks_exact(8))
    {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
            sum_a += x[l];
            let d = x[l] - z[l];
            sum_d += d;
            dd += d * d;
        }
    }
    for (l, ((x, y), z)) in a[split..]
        .iter()
        .zip(&a_star[split..])
        .zip(&b[split..])
        .enumerate()
    {
        acc[l] += x * y;
        sum_a += x;
        let d = x - z;
        sum_d += d;
        dd += d * d;
    }
    let q = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    (q, sum_a, sum_d, dd)
}

/// The population quantities of a point that the outcome and the columns use.
#[derive(Debug, Clone, Copy)]
pub struct State {
    /// ||v||^2.
    pub n2: f64,
    /// The angle between v and w*.
    pub phi: f64,
    /// q = a^T a*.
    pub q: f64,
    /// 1^T a.
    pub sum_a: f64,
    /// E = (1^T a*) (||w*|| 1^T a* - 1^T a).
    pub e: f64,
    /// g(phi) = (pi - phi) cos phi + sin phi, as [`g_of`] (the regions compare it).
    pub g: f64,
}

/// q_eq(phi) / s = (k + g - 1)/(k + pi - 1) S^2/k + (g - 1)/(pi - 1) (A - S^2/k): a^T a* at the
/// second layer's equilibrium for the angle phi (divided by s = ||w*||), decreasing in phi.
fn q_eq(k: f64, s2k: f64, a: f64, phi: f64) -> f64 {
    let g = g_of(phi);
    (k + g - 1.0) / (k + PI - 1.0) * s2k + (g - 1.0) / (PI - 1.0) * (a - s2k)
}

/// The constants of the absorbing regions (docs/weight-norm-cnn.md, "Outcome").
#[derive(Debug, Clone, Copy)]
pub struct Regions {
    /// kappa = (k + pi - 1) / (2 pi): GD contracts 1^T a by 1 - eta kappa.
    pub kappa: f64,
    /// s ||a*||^2.
    pub s_a_sq: f64,
    /// E_max = pi s (1^T a*)^2 / (k + pi - 1), the value of E at the spurious point.
    pub e_max: f64,
    /// ||w*||.
    pub s: f64,
    /// k.
    pub k: f64,
    /// S = 1^T a*.
    pub big_s: f64,
    /// beta* = ||a* - (S/k) 1||, the part of a* orthogonal to 1.
    pub beta_s: f64,
    /// phi_thr: the root of q_eq (pi when q_eq(pi) >= 0, i.e. r >= (k + pi - 1)/pi).
    pub phi_thr: f64,
    /// c1 = alpha_c alpha* = s (k + g_thr - 1)/(k + pi - 1) S^2/k, c2 = beta_c beta* =
    /// s (g_thr - 1)/(pi - 1) (A - S^2/k): the equilibria's parts of q at phi_thr.
    pub c1: f64,
    pub c2: f64,
    /// Slack of the sign tests, 1e-12 s ||a*||^2 (r = 0 gives S ~ 1e-17, not 0).
    pub tol: f64,
}

type RegionsKey = (usize, u64, u64, u64);

thread_local! {
    /// The regions of the last few teachers built on this thread (a sweep builds the same
    /// teacher for every run of a setting, issue 14); keyed by the bits of what they depend on.
    static REGIONS: std::cell::RefCell<Vec<(RegionsKey, Regions)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl Regions {
    /// The regions of a teacher with k patches ([`Regions::compute`], remembered per thread for
    /// the last 8 teachers: the same bits).
    pub fn new(k: usize, t: &Teacher) -> Regions {
        let key = (k, t.s.to_bits(), t.a_sq.to_bits(), t.sum_a.to_bits());
        if let Some(r) =
            REGIONS.with(|c| c.borrow().iter().find(|(x, _)| *x == key).map(|(_, r)| *r))
        {
            return r;
        }
        let r = Regions::compute(k, t);
        REGIONS.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() >= 8 {
                c.remove(0);
            }
            c.push((key, r));
        });
        r
    }

    /// The regions of a teacher with k patches, computed (from k, s, ||a*||^2 and 1^T a* only).
    pub fn compute(k: usize, t: &Teacher) -> Regions {
        let kf = k as f64;
        let s = t.s;
        let a = t.a_sq;
        let s2k = (t.sum_a * t.sum_a / kf).min(a);
        let phi_thr = if q_eq(kf, s2k, a, PI) >= 0.0 {
            PI
        } else {
            // q_eq(0) = A > 0 > q_eq(pi), decreasing: bisection.
            let (mut lo, mut hi) = (0.0f64, PI);
            for _ in 0..200 {
                let mid = 0.5 * (lo + hi);
                if mid <= lo || mid >= hi {
                    break;
                }
                if q_eq(kf, s2k, a, mid) > 0.0 {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            0.5 * (lo + hi)
        };
        let g_t = g_of(phi_thr);
        Regions {
            kappa: (kf + PI - 1.0) / (2.0 * PI),
            s_a_sq: s * a,
            e_max: PI * s * t.sum_a * t.sum_a / (kf + PI - 1.0),
            s,
            k: kf,
            big_s: t.sum_a,
            beta_s: libm::sqrt((a - s2k).max(0.0)),
            phi_thr,
            c1: s * (kf + g_t - 1.0) / (kf + PI - 1.0) * s2k,
            c2: s * (g_t - 1.0) / (PI - 1.0) * (a - s2k),
            tol: 1e-12 * s * a,
        }
    }

    /// +1 when the state is in the global minimum's absorbing region, -1 in the spurious
    /// point's, 0 in neither: the union of the (q, E) regions ([`Regions::classify_e`]) and
    /// the (alpha, beta) regions ([`Regions::classify_ab`]), each absorbing (a point of the
    /// union stays in the one it is in). `eta`: the step size of gradient descent (Algorithm 1)
    /// from here on (assumed not to increase later); `None`: gradient flow.
    pub fn classify(&self, st: &State, eta: Option<f64>) -> i8 {
        match self.classify_e(st, eta) {
            0 => self.classify_ab(st, eta),
            c => c,
        }
    }

    /// The (alpha, beta) regions (docs/weight-norm-cnn.md, "The (alpha, beta) regions"): with
    /// T1 = (alpha - alpha_c) alpha* and T2 = (beta - beta_c) beta*, +1 when phi < phi_thr,
    /// T1, T2 >= 0, T1 + T2 > 0 and the angle cannot overshoot 0; -1 when phi > phi_thr, T1,
    /// T2 <= 0, T1 + T2 < 0 and the angle cannot overshoot pi; 0 otherwise.
    pub fn classify_ab(&self, st: &State, eta: Option<f64>) -> i8 {
        let h = eta.unwrap_or(0.0);
        if h.is_nan() || h < 0.0 || h * self.kappa > 1.0 {
            return 0;
        }
        if !(st.q.is_finite() && st.sum_a.is_finite() && st.n2.is_finite() && st.phi.is_finite()) {
            return 0;
        }
        let tol = self.tol;
        // alpha alpha* = (1^T a)(1^T a*)/k; beta beta* = q - alpha alpha*.
        let aa = st.sum_a * self.big_s / self.k;
        let bb = st.q - aa;
        let t1 = aa - self.c1;
        let t2 = bb - self.c2;
        // Bounds of |alpha| alpha*, |beta| beta* from here on (convex combinations with the
        // equilibria, |alpha_eq| <= s |alpha*|, |beta_eq| <= s beta*): q never exceeds qmax.
        let alpha_s2 = self.big_s * self.big_s / self.k;
        let qmax =
            aa.abs().max(self.s * alpha_s2) + bb.abs().max(self.s * self.beta_s * self.beta_s);
        if st.phi < self.phi_thr
            && st.q > 0.0
            && t1 >= -tol
            && t2 >= -tol
            && t1 + t2 > tol
            && h * self.s * qmax <= 2.0 * st.n2
        {
            return 1;
        }
        if st.phi > self.phi_thr
            && st.q < 0.0
            && t1 <= tol
            && t2 <= tol
            && t1 + t2 < -tol
            && h * self.s * qmax * (PI - st.phi) <= 2.0 * PI * st.n2
        {
            return -1;
        }
        0
    }

    /// The (q, E) regions R+ and R- (docs/weight-norm-cnn.md): +1, -1 or 0 as [`Regions::classify`].
    pub fn classify_e(&self, st: &State, eta: Option<f64>) -> i8 {
        let h = eta.unwrap_or(0.0);
        if h.is_nan() || h < 0.0 || h * self.kappa > 1.0 {
            return 0;
        }
        let (q, e, n2, s, sa2) = (st.q, st.e, st.n2, self.s, self.s_a_sq);
        if !(q.is_finite() && e.is_finite() && n2.is_finite() && st.phi.is_finite()) {
            return 0;
        }
        if q > 0.0 {
            // R+: phi < pi/2 and E >= 0 (no condition on the angle step).
            if st.phi < 0.5 * PI && e >= 0.0 {
                return 1;
            }
            // R+(E_lo), E_lo = min(E, 0): g(phi) >= 1 - E_lo / (s ||a*||^2), and no angle
            // overshoot from here on: max(q, B / (pi - 1)) eta s <= 2 ||v||^2,
            // B = (pi - 1) s ||a*||^2 + max(E, E_max).
            let e_lo = e.min(0.0);
            let b = (PI - 1.0) * sa2 + e.max(self.e_max);
            if st.g >= 1.0 - e_lo / sa2 && q.max(b / (PI - 1.0)) * h * s <= 2.0 * n2 {
                return 1;
            }
            return 0;
        }
        if q < 0.0 {
            // R-(E_hi), E_hi = max(E, E_max) < s ||a*||^2: g(phi) <= 1 - E_hi / (s ||a*||^2),
            // and no angle overshoot from here on:
            // max(|q|, B / (pi - 1)) eta s (pi - phi) <= 2 pi ||v||^2, B = s ||a*||^2 - min(E, 0).
            let e_hi = e.max(self.e_max);
            if e_hi >= sa2 {
                return 0;
            }
            let b = sa2 - e.min(0.0);
            if st.g <= 1.0 - e_hi / sa2
                && (-q).max(b / (PI - 1.0)) * h * s * (PI - st.phi) <= 2.0 * PI * n2
            {
                return -1;
            }
        }
        0
    }
}

/// The fixed sample of the empirical loss.
pub struct Sample {
    /// N x k x p patches (sample, patch, coordinate), row-major.
    pub z: Vec<f64>,
    /// The teacher's outputs, N.
    pub y: Vec<f64>,
    /// The samples of the current mini-batch (`None`: all).
    batch: Option<Vec<usize>>,
}

impl Sample {
    pub fn new(z: Vec<f64>, y: Vec<f64>) -> Sample {
        Sample { z, y, batch: None }
    }
    pub fn len(&self) -> usize {
        self.y.len()
    }
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }
}

/// Which loss.
pub enum Loss {
    /// Theorem 5.1's closed form over Gaussian patches.
    Population,
    /// The mean of 1/2 (f - f*)^2 over a fixed sample.
    Empirical(Sample),
}

/// The weight-normalized CNN: parameters `v` (p) then `a` (k).
pub struct WeightNormCnn {
    k: usize,
    p: usize,
    teacher: Teacher,
    loss: Loss,
    blocks: Vec<Block>,
    regions: Regions,
    /// a_sp = (pi S / (k + pi - 1) 1 - ||w*|| a*) / (pi - 1), S = ||w*|| 1^T a*.
    a_sp: Vec<f64>,
    /// The outcome (+1, -1, 0) and the iteration at which it was decided.
    outcome: i8,
    decided_at: Option<u64>,
    /// The iteration last tracked, and whether it was classified (the initial point waits for
    /// the first step, which says the step size).
    last_t: Option<u64>,
    last_classified: bool,
    /// End the run once the outcome is decided ([`Model::finished_early`]).
    stop_when_decided: bool,
    /// Scratch: w = v / ||v|| (p), and k numbers.
    w: Vec<f64>,
    sk: Vec<f64>,
    sp: Vec<f64>,
    /// Why the point of the last `loss_grad` is outside the domain (v = 0, or not finite).
    undefined: Option<&'static str>,
}

impl WeightNormCnn {
    pub fn new(k: usize, p: usize, teacher: Teacher, loss: Loss) -> WeightNormCnn {
        let kf = k as f64;
        let s = teacher.s;
        let big_s = s * teacher.sum_a;
        let a_sp = teacher
            .a
            .iter()
            .map(|&x| (PI * big_s / (kf + PI - 1.0) - s * x) / (PI - 1.0))
            .collect();
        let regions = Regions::new(k, &teacher);
        WeightNormCnn {
            k,
            p,
            teacher,
            loss,
            blocks: vec![
                Block {
                    name: "v".into(),
                    offset: 0,
                    rows: p,
                    cols: 1,
                },
                Block {
                    name: "a".into(),
                    offset: p,
                    rows: k,
                    cols: 1,
                },
            ],
            regions,
            a_sp,
            outcome: 0,
            decided_at: None,
            last_t: None,
            last_classified: false,
            stop_when_decided: false,
            w: vec![0.0; p],
            sk: vec![0.0; k],
            sp: vec![0.0; p],
            undefined: None,
        }
    }

    /// End the run at the iterate where the outcome is decided (`model.stopWhenDecided`).
    pub fn stop_when_decided(mut self, on: bool) -> WeightNormCnn {
        self.stop_when_decided = on;
        self
    }

    pub fn k(&self) -> usize {
        self.k
    }
    pub fn p(&self) -> usize {
        self.p
    }
    pub fn teacher(&self) -> &Teacher {
        &self.teacher
    }
    pub fn regions(&self) -> &Regions {
        &self.regions
    }
    /// The spurious point's second layer a_sp.
    pub fn a_spurious(&self) -> &[f64] {
        &self.a_sp
    }
    /// The fixed sample (empirical loss).
    pub fn sample(&self) -> Option<&Sample> {
        match &self.loss {
            Loss::Empirical(s) => Some(s),
            Loss::Population => None,
        }
    }
    /// The outcome so far (+1 global, -1 spurious, 0 undecided) and when it was decided.
    pub fn outcome(&self) -> (i8, Option<u64>) {
        (self.outcome, self.decided_at)
    }
    /// r = (1^T a*)^2 / ||a*||^2.
    pub fn r(&self) -> f64 {
        self.teacher.sum_a * self.teacher.sum_a / self.teacher.a_sq
    }
    /// (k + pi - 1) / pi: the spurious point is a local minimum iff r is below it.
    pub fn r_critical(&self) -> f64 {
        (self.k as f64 + PI - 1.0) / PI
    }

    /// Writes w = v / ||v|| into `self.w`; returns ||v||^2 and ||v|| (None when v = 0 or not
    /// finite).
    fn normalize(&mut self, v: &[f64]) -> Option<(f64, f64)> {
        let n = norm(v);
        if !(n > 0.0 && n.is_finite()) {
            return None;
        }
        for (wi, vi) in self.w.iter_mut().zip(v) {
            *wi = vi / n;
        }
        Some((n * n, n))
    }

    /// The population state of `x` (also for the empirical loss's columns and outcome).
    pub fn state(&mut self, x: &[f64]) -> Option<State> {
        let (v, a) = x.split_at(self.p);
        let (n2, _) = self.normalize(v)?;
        let phi = angle_unit(&self.w, &self.teacher.u);
        let q = dot(a, &self.teacher.a);
        let sum_a: f64 = a.iter().sum();
        let t = &self.teacher;
        let e = t.sum_a * (t.s * t.sum_a - sum_a);
        Some(State {
            n2,
            phi,
            q,
            sum_a,
            e,
            g: g_of(phi),
        })
    }

    /// The population loss at `x`, its gradient into `grad` (when given).
    pub fn population(&mut self, x: &[f64], grad: Option<&mut [f64]>) -> f64 {
        self.population_state(x, grad).0
    }

    /// [`WeightNormCnn::population`], and the state of `x` ([`WeightNormCnn::state`], the same
    /// bits: gradient descent classifies the iterate it evaluates without computing it again).
    pub fn population_state(
        &mut self,
        x: &[f64],
        grad: Option<&mut [f64]>,
    ) -> (f64, Option<State>) {
        let p = self.p;
        let (v, a) = x.split_at(p);
        let Some((n2, n)) = self.normalize(v) else {
            self.undefined = Some(if v.iter().all(|x| *x == 0.0) {
                "v = 0 (w = v / ||v|| is undefined)"
            } else {
                "||v|| is not finite"
            });
            if let Some(g) = grad {
                g.fill(f64::NAN);
            }
            return (f64::NAN, None);
        };
        self.undefined = None;
        let t = &self.teacher;
        let phi = angle_unit(&self.w, &t.u);
        let pmg = pi_minus_g(phi);
        let (q, sum_a, sum_d, dd) = second_layer_sums(a, &t.a, &t.b);
        let st = State {
            n2,
            phi,
            q,
            sum_a,
            e: t.sum_a * (t.s * t.sum_a - sum_a),
            g: PI - pmg,
        };
        let loss = ((PI - 1.0) * dd + sum_d * sum_d + 2.0 * t.s * pmg * q) / (4.0 * PI);
        if let Some(g) = grad {
            let (gv, ga) = g.split_at_mut(p);
            for ((gi, ai), bi) in ga.iter_mut().zip(a).zip(&t.b) {
                *gi = ((PI - 1.0) * (ai - bi) + sum_d + pmg * bi) / (2.0 * PI);
            }
            // dl/dv = -s q (pi - phi) (I - w w^T) u* / (2 pi ||v||).
            let c = dot(&self.w, &t.u);
            let f = -t.s * q * (PI - phi) / (2.0 * PI * n);
            for ((gi, ui), wi) in gv.iter_mut().zip(&t.u).zip(&self.w) {
                *gi = f * (ui - c * wi);
            }
        }
        (loss, Some(st))
    }

    /// The population loss by the thesis's expanded form (5.3) (for tests: it cancels near the
    /// optimum).
    pub fn population_naive(&self, x: &[f64]) -> f64 {
        let (v, a) = x.split_at(self.p);
        let n = norm(v);
        let w: Vec<f64> = v.iter().map(|x| x / n).collect();
        let t = &self.teacher;
        let phi = libm::acos(dot(&w, &t.u).clamp(-1.0, 1.0));
        let g = (PI - phi) * libm::cos(phi) + libm::sin(phi);
        let s2 = t.s * t.s;
        let sa: f64 = a.iter().sum();
        let two_pi = 2.0 * PI;
        0.5 * ((PI - 1.0) / two_pi * s2 * t.a_sq + (PI - 1.0) / two_pi * norm2(a)
            - 2.0 * (g - 1.0) * t.s / two_pi * dot(a, &t.a)
            + s2 / two_pi * t.sum_a * t.sum_a
            + sa * sa / two_pi
            - 2.0 * t.s / two_pi * sa * t.sum_a)
    }

    /// The exact Hessian-vector product of the population loss.
    fn population_hvp(&mut self, x: &[f64], dir: &[f64], out: &mut [f64]) {
        let p = self.p;
        let (v, a) = x.split_at(p);
        let (dv, da) = dir.split_at(p);
        let Some((n2, n)) = self.normalize(v) else {
            out.fill(f64::NAN);
            return;
        };
        let t = &self.teacher;
        let phi = angle_unit(&self.w, &t.u);
        let q = dot(a, &t.a);
        let c = dot(&self.w, &t.u);
        // t = P u* (P = I - w w^T), |t| = sin phi; tau = t / |t|.
        for ((ti, ui), wi) in self.sp.iter_mut().zip(&t.u).zip(&self.w) {
            *ti = ui - c * wi;
        }
        let tn = norm(&self.sp);
        let t_dv = dot(&self.sp, dv);
        let w_dv = dot(&self.w, dv);
        let sum_da: f64 = da.iter().sum();
        let astar_da = dot(&t.a, da);
        let (ov, oa) = out.split_at_mut(p);
        // a-block: ((pi - 1) da + 1 1^T da) / (2 pi) - (pi - phi) (t . dv) b / (2 pi ||v||).
        let cav = -(PI - phi) * t_dv / (2.0 * PI * n);
        for ((o, d), b) in oa.iter_mut().zip(da).zip(&t.b) {
            *o = ((PI - 1.0) * d + sum_da) / (2.0 * PI) + cav * b;
        }
        // v-block: -s (a* . da) (pi - phi) t / (2 pi ||v||) - s q / (2 pi) DF[dv],
        // DF[dv] = (t . dv) tau / ||v||^2
        //        + (pi - phi) / ||v||^2 (-(t . dv) w - c P dv - (w . dv) t).
        let cva = -t.s * astar_da * (PI - phi) / (2.0 * PI * n);
        let fq = -t.s * q / (2.0 * PI);
        let tau = if tn > 0.0 { t_dv / tn } else { 0.0 };
        let m = (PI - phi) / n2;
        for i in 0..p {
            let ti = self.sp[i];
            let wi = self.w[i];
            let pdv = dv[i] - w_dv * wi;
            let df = tau * ti / n2 + m * (-t_dv * wi - c * pdv - w_dv * ti);
            ov[i] = cva * ti + fq * df;
        }
    }

    /// The empirical loss over the current batch (all samples when none), its gradient.
    fn empirical(&mut self, x: &[f64], grad: Option<&mut [f64]>) -> f64 {
        let (k, p) = (self.k, self.p);
        let (v, a) = x.split_at(p);
        let Some((_, n)) = self.normalize(v) else {
            self.undefined = Some(if v.iter().all(|x| *x == 0.0) {
                "v = 0 (w = v / ||v|| is undefined)"
            } else {
                "||v|| is not finite"
            });
            if let Some(g) = grad {
                g.fill(f64::NAN);
            }
            return f64::NAN;
        };
        self.undefined = None;
        let Loss::Empirical(sample) = &self.loss else {
            unreachable!()
        };
        let all = sample.len();
        let count = sample.batch.as_ref().map_or(all, |b| b.len());
        let mut loss = 0.0;
        let want = grad.is_some();
        // gw: dl/dw, accumulated in sp; ga in the gradient itself.
        self.sp.fill(0.0);
        let mut ga_acc = vec![];
        if want {
            ga_acc = vec![0.0; k];
        }
        for j in 0..count {
            let s = match &sample.batch {
                Some(b) => b[j],
                None => j,
            };
            let z = &sample.z[s * k * p..(s + 1) * k * p];
            let mut f = 0.0;
            for i in 0..k {
                let h = dot(&self.w, &z[i * p..(i + 1) * p]);
                self.sk[i] = h;
                if h > 0.0 {
                    f += a[i] * h;
                }
            }
            let e = f - sample.y[s];
            loss += 0.5 * e * e;
            if want {
                for i in 0..k {
                    let h = self.sk[i];
                    if h > 0.0 {
                        ga_acc[i] += e * h;
                        let c = e * a[i];
                        for (g, zi) in self.sp.iter_mut().zip(&z[i * p..(i + 1) * p]) {
                            *g += c * zi;
                        }
                    }
                }
            }
        }
        let inv = 1.0 / count as f64;
        if let Some(g) = grad {
            let (gv, ga) = g.split_at_mut(p);
            for (gi, acc) in ga.iter_mut().zip(&ga_acc) {
                *gi = acc * inv;
            }
            // dl/dv = (I - w w^T) dl/dw / ||v||.
            let wg = dot(&self.w, &self.sp);
            for ((gi, gw), wi) in gv.iter_mut().zip(&self.sp).zip(&self.w) {
                *gi = (gw - wg * wi) * inv / n;
            }
        }
        loss * inv
    }

    /// The exact Hessian-vector product of the empirical loss (all samples; exact wherever no
    /// w^T Z_i is 0, where the ReLU's second derivative is 0).
    fn empirical_hvp(&mut self, x: &[f64], dir: &[f64], out: &mut [f64]) {
        let (k, p) = (self.k, self.p);
        let (v, a) = x.split_at(p);
        let (dv, da) = dir.split_at(p);
        let Some((n2, n)) = self.normalize(v) else {
            out.fill(f64::NAN);
            return;
        };
        let Loss::Empirical(sample) = &self.loss else {
            unreachable!()
        };
        let m = sample.len();
        out.fill(0.0);
        let w_dv = dot(&self.w, dv);
        // P dv.
        let pdv: Vec<f64> = dv
            .iter()
            .zip(&self.w)
            .map(|(d, wi)| d - w_dv * wi)
            .collect();
        let mut gsum = vec![0.0; p];
        for s in 0..m {
            let z = &sample.z[s * k * p..(s + 1) * k * p];
            let mut f = 0.0;
            gsum.fill(0.0);
            // G = sum_i a_i 1{h_i > 0} Z_i; and sum_i da_i 1{h_i > 0} Z_i in sp.
            self.sp.fill(0.0);
            let mut jda = 0.0;
            for i in 0..k {
                let zi = &z[i * p..(i + 1) * p];
                let h = dot(&self.w, zi);
                self.sk[i] = h;
                if h > 0.0 {
                    f += a[i] * h;
                    jda += h * da[i];
                    for j in 0..p {
                        gsum[j] += a[i] * zi[j];
                        self.sp[j] += da[i] * zi[j];
                    }
                }
            }
            let e = f - sample.y[s];
            let wg = dot(&self.w, &gsum);
            // J . dir = (P G / n) . dv + sum_i relu(h_i) da_i.
            let pg_dv = dot(&gsum, &pdv);
            let jv = pg_dv / n + jda;
            let (ov, oa) = out.split_at_mut(p);
            // a-block: jv relu(h_i) + e 1{h_i > 0} Z_i . (P dv) / n.
            for i in 0..k {
                let h = self.sk[i];
                if h > 0.0 {
                    let zi = &z[i * p..(i + 1) * p];
                    oa[i] += jv * h + e * dot(zi, &pdv) / n;
                }
            }
            // v-block: jv P G / n + e (P sum_i da_i 1{h_i>0} Z_i / n
            //          - [(w . G) P dv + w (P G . dv) + (P G)(w . dv)] / n^2).
            let wsd = dot(&self.w, &self.sp);
            for j in 0..p {
                let pg = gsum[j] - wg * self.w[j];
                let psd = self.sp[j] - wsd * self.w[j];
                ov[j] += jv * pg / n
                    + e * (psd / n - (wg * pdv[j] + self.w[j] * pg_dv + pg * w_dv) / n2);
            }
        }
        let inv = 1.0 / m as f64;
        out.iter_mut().for_each(|o| *o *= inv);
    }

    /// sqrt(||w - u*||^2 + ||a - ||w*|| a*||^2), with ||w - u*|| = 2 sin(phi / 2).
    fn dist_global(&self, st: &State, a: &[f64]) -> f64 {
        let c = 2.0 * libm::sin(0.5 * st.phi);
        let d: f64 = a
            .iter()
            .zip(&self.teacher.b)
            .map(|(x, y)| (x - y) * (x - y))
            .sum();
        libm::sqrt(c * c + d)
    }
    /// sqrt(||w + u*||^2 + ||a - a_sp||^2), with ||w + u*|| = 2 cos(phi / 2) = 2 sin((pi - phi) / 2).
    fn dist_spurious(&self, st: &State, a: &[f64]) -> f64 {
        let c = 2.0 * libm::sin(0.5 * (PI - st.phi));
        let d: f64 = a
            .iter()
            .zip(&self.a_sp)
            .map(|(x, y)| (x - y) * (x - y))
            .sum();
        libm::sqrt(c * c + d)
    }

    /// Track the outcome at iterate `t` (`eta`: the GD step size from here on, `None`: flow).
    /// Going back to an earlier iterate (after a divergence) forgets a decision taken after it.
    fn track(&mut self, t: u64, x: &[f64], eta: Option<f64>) {
        self.track_state(t, x, None, eta);
    }

    /// [`WeightNormCnn::track`] with the state of `x` when it is known (`None`: computed).
    fn track_state(&mut self, t: u64, x: &[f64], known: Option<State>, eta: Option<f64>) {
        if let Some(last) = self.last_t {
            if t < last {
                if self.decided_at.is_some_and(|d| d > t) {
                    self.outcome = 0;
                    self.decided_at = None;
                }
            } else if t == last && self.last_classified {
                return;
            }
        }
        self.last_t = Some(t);
        self.last_classified = true;
        if self.outcome != 0 {
            return;
        }
        if let Some(st) = known.or_else(|| self.state(x)) {
            self.decide(t, &st, eta);
        }
    }

    /// Classify the state of iterate `t` (not yet decided) and keep a decision.
    fn decide(&mut self, t: u64, st: &State, eta: Option<f64>) {
        let c = self.regions.classify(st, eta);
        if c != 0 {
            self.outcome = c;
            self.decided_at = Some(t);
        }
    }

    /// The population Hessian's eigenvalues at the global minimum (for ||v|| = `n`) and at the
    /// spurious point, as (value, multiplicity) lists.
    fn eigen_lists(&self, n2: f64) -> (Value, Value) {
        let (k, p) = (self.k as f64, self.p);
        let a_block = |v: &mut Vec<Value>| {
            if self.k > 1 {
                v.push(json!({"value": (PI - 1.0) / (2.0 * PI), "multiplicity": self.k - 1}));
            }
            v.push(json!({"value": (k + PI - 1.0) / (2.0 * PI), "multiplicity": 1}));
        };
        let mut g = vec![];
        a_block(&mut g);
        let t = &self.teacher;
        if p > 1 {
            g.push(json!({"value": t.s * t.s * t.a_sq / (2.0 * n2), "multiplicity": p - 1}));
        }
        g.push(json!({"value": 0.0, "multiplicity": 1}));
        let mut s = vec![];
        a_block(&mut s);
        s.push(json!({"value": 0.0, "multiplicity": p}));
        (Value::Array(g), Value::Array(s))
    }

    /// The `stationaryPoints` query (docs/weight-norm-cnn.md).
    pub fn stationary_points(&mut self, x: &[f64]) -> Value {
        let (k, p) = (self.k, self.p);
        let echo = |v: &[f64]| -> Value {
            if v.len() <= ECHO_MAX {
                json!(v)
            } else {
                Value::Null
            }
        };
        let t = self.teacher.clone();
        let mut x_sp = t.u.iter().map(|u| -u).collect::<Vec<_>>();
        x_sp.extend_from_slice(&self.a_sp);
        let loss_sp = self.population(&x_sp, None);
        let q_sp = dot(&self.a_sp, &t.a);
        let st = self.state(x);
        let n2 = st.map_or(1.0, |s| s.n2);
        let (eig_g, eig_s) = self.eigen_lists(n2);
        let r = self.r();
        let rc = self.r_critical();
        let current = match st {
            Some(st) => json!({
                "phi": st.phi,
                "aDotAStar": st.q,
                "sumA": st.sum_a,
                "vNormSq": st.n2,
                "regionFlow": self.regions.classify(&st, None),
                "outcome": self.outcome,
                "decidedAt": self.decided_at,
            }),
            None => Value::Null,
        };
        let kf = k as f64;
        json!({
            "what": "stationaryPoints",
            "k": k,
            "p": p,
            "wStarNorm": t.s,
            "r": r,
            "rCritical": rc,
            "etaMaxOutcome": 2.0 * PI / (kf + PI - 1.0),
            "etaDiverge": 4.0 * PI / (kf + PI - 1.0),
            "global": {
                "w": echo(&t.u),
                "a": echo(&t.b),
                "phi": 0.0,
                "loss": 0.0,
                "hessianEigenvalues": eig_g,
            },
            "spurious": {
                "w": echo(&x_sp[..p]),
                "a": echo(&self.a_sp),
                "phi": PI,
                "loss": loss_sp,
                "aDotAStar": q_sp,
                "isLocalMin": q_sp < 0.0,
                "cubicCoefficient": -t.s * q_sp / (6.0 * PI),
                "angularHessianSlope": -t.s * q_sp / (2.0 * PI * n2),
                "hessianEigenvalues": eig_s,
            },
            "current": current,
        })
    }
}

impl Model for WeightNormCnn {
    fn dim(&self) -> usize {
        self.p + self.k
    }
    fn blocks(&self) -> &[Block] {
        &self.blocks
    }
    fn loss_grad(&mut self, w: &[f64], grad: &mut [f64]) -> f64 {
        match self.loss {
            Loss::Population => self.population(w, Some(grad)),
            Loss::Empirical(_) => self.empirical(w, Some(grad)),
        }
    }
    fn hvp(&mut self, w: &[f64], v: &[f64], out: &mut [f64]) {
        match self.loss {
            Loss::Population => self.population_hvp(w, v, out),
            Loss::Empirical(_) => self.empirical_hvp(w, v, out),
        }
    }
    fn hvp_exact(&self) -> bool {
        true
    }
    fn symmetry_tangents(&self, w: &[f64]) -> Option<Vec<Vec<f64>>> {
        // The loss is invariant under v -> c v (c > 0): the radial direction (v / ||v||, 0).
        let v = &w[..self.p];
        let n = norm(v);
        if !(n > 0.0 && n.is_finite()) {
            return None;
        }
        let mut t = vec![0.0; self.dim()];
        for (ti, vi) in t.iter_mut().zip(v) {
            *ti = vi / n;
        }
        Some(vec![t])
    }
    fn samples(&self) -> Option<usize> {
        self.sample().map(Sample::len)
    }
    fn set_batch(&mut self, batch: Option<&[usize]>) {
        if let Loss::Empirical(s) = &mut self.loss {
            match batch {
                None => s.batch = None,
                Some(idx) => {
                    let b = s.batch.get_or_insert_with(Vec::new);
                    b.clear();
                    b.extend_from_slice(idx);
                }
            }
        }
    }
    fn set_reference(&mut self, _w0: &[f64]) {
        self.outcome = 0;
        self.decided_at = None;
        self.last_t = Some(0);
        self.last_classified = false;
    }
    fn columns(&self) -> Vec<Column> {
        let mut c: Vec<Column> = COLUMNS.iter().map(|(n, r)| Column::new(*n, *r)).collect();
        if matches!(self.loss, Loss::Empirical(_)) {
            c.push(Column::new("populationLoss", Role::Other));
        }
        c
    }
    fn metrics(&mut self, w: &[f64], grad: &[f64], loss: f64, out: &mut Vec<f64>) {
        out.push(loss);
        out.push(norm(grad));
        let a = &w[self.p..];
        match self.state(w) {
            Some(st) => {
                out.push(st.phi);
                out.push(st.sum_a);
                out.push(st.q);
                out.push(st.n2);
                out.push(self.dist_global(&st, a));
                out.push(self.dist_spurious(&st, a));
            }
            None => out.extend([f64::NAN; 6]),
        }
        out.push(self.outcome as f64);
        out.push(self.decided_at.map_or(f64::NAN, |t| t as f64));
        if matches!(self.loss, Loss::Empirical(_)) {
            let l = self.population(w, None);
            out.push(l);
        }
    }
    fn matrix<'a>(
        &'a self,
        name: &str,
        w: &'a [f64],
        w0: &'a [f64],
    ) -> Result<(usize, usize, &'a [f64])> {
        let p = self.p;
        match name {
            "v" => Ok((p, 1, &w[..p])),
            "a" => Ok((self.k, 1, &w[p..])),
            "v_0" | "v0" => Ok((p, 1, &w0[..p])),
            "a_0" | "a0" => Ok((self.k, 1, &w0[p..])),
            "wStarDirection" => Ok((p, 1, &self.teacher.u)),
            "aStar" => Ok((self.k, 1, &self.teacher.a)),
            "aSpurious" => Ok((self.k, 1, &self.a_sp)),
            _ => Err(Error::request(
                "matrix",
                format!(
                    "no matrix named {name:?} (expected v, a, v_0, a_0, wStarDirection, aStar or aSpurious)"
                ),
            )),
        }
    }
    fn family_queries(&self) -> &'static [&'static str] {
        QUERIES
    }
    fn family_query(&mut self, what: &str, w: &[f64], _q: &Query) -> Result<Value> {
        debug_assert_eq!(what, "stationaryPoints");
        Ok(self.stationary_points(w))
    }
    fn after_step(&mut self, t: u64, w: &[f64]) {
        // Steps the model did not take itself (methods other than plain GD): the flow's regions.
        self.track(t, w, None);
    }
    fn gd_steps(&mut self, w: &mut [f64], eta: f64, max: u64) -> Option<u64> {
        if !matches!(self.loss, Loss::Population) {
            return None;
        }
        // Plain GD, w <- w - eta grad l(w) (the bits of method gd), tracking the outcome with
        // the step size at every iterate. A step to a point where the loss is not finite ends
        // the span just before it (the session takes it alone and keeps the iterate before).
        let t0 = self.last_t.unwrap_or(0);
        let n = self.dim();
        let mut g = vec![0.0; n];
        let mut prev = vec![0.0; n];
        let mut taken = 0u64;
        while taken < max {
            let (l, st) = self.population_state(w, Some(&mut g));
            // norm2 finite implies every entry finite; when it overflows, ask as the session does.
            let bad = !l.is_finite()
                || (!norm2(&g).is_finite()
                    && (!g.iter().all(|x| x.is_finite()) || !norm(&g).is_finite()));
            if bad && taken >= 2 {
                // Back to the iterate before (tracked when it was reached); the session takes
                // the bad step alone next time.
                w.copy_from_slice(&prev);
                taken -= 1;
                self.last_t = Some(t0 + taken);
                self.last_classified = true;
                return Some(taken);
            }
            if bad && taken == 1 {
                // The session finds the loss not finite and keeps the iterate before.
                break;
            }
            // (taken == 0 and bad cannot happen: the session evaluated this iterate.)
            self.track_state(t0 + taken, w, st, Some(eta));
            if self.finished_early() {
                // Decided at this iterate: the run ends here (0 iterations when it is the
                // span's first).
                return Some(taken);
            }
            prev.copy_from_slice(w);
            crate::linalg::axpy(-eta, &g, w);
            taken += 1;
            self.last_t = Some(t0 + taken);
            self.last_classified = false;
        }
        // Classify the span's last iterate with the step size too.
        if taken == max {
            self.track(t0 + taken, w, Some(eta));
        }
        Some(taken)
    }
    fn undefined_reason(&self) -> Option<String> {
        self.undefined.map(str::to_string)
    }
    fn finished_early(&self) -> bool {
        self.stop_when_decided && self.outcome != 0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn second_layer_sums_have_the_bits_of_their_own_loops() {
        let mut rng = crate::rng::Normal::new(7);
        for n in [0usize, 1, 7, 8, 9, 15, 16, 17, 25, 64, 100, 101] {
            let mut a = vec![0.0; n];
            let mut s = vec![0.0; n];
            let mut b = vec![0.0; n];
            rng.fill(&mut a, 1.0);
            rng.fill(&mut s, 0.3);
            rng.fill(&mut b, 2.0);
            let (q, sa, sd, dd) = super::second_layer_sums(&a, &s, &b);
            assert_eq!(
                q.to_bits(),
                crate::linalg::dot(&a, &s).to_bits(),
                "q, n = {n}"
            );
            assert_eq!(
                sa.to_bits(),
                a.iter().sum::<f64>().to_bits(),
                "1^T a, n = {n}"
            );
            let (mut sd0, mut dd0) = (0.0f64, 0.0f64);
            for (x, z) in a.iter().zip(&b) {
                sd0 += x - z;
                dd0 += (x - z) * (x - z);
            }
            assert_eq!(
                (sd.to_bits(), dd.to_bits()),
                (sd0.to_bits(), dd0.to_bits()),
                "n = {n}"
            );
        }
        // The sign of an all -0 sum, as Iterator::sum gives it.
        let z = [-0.0f64; 3];
        let (_, sa, _, _) = super::second_layer_sums(&z, &z, &z);
        assert_eq!(sa.to_bits(), z.iter().sum::<f64>().to_bits());
        let e: [f64; 0] = [];
        let (_, sa, _, _) = super::second_layer_sums(&e, &e, &e);
        assert_eq!(sa.to_bits(), e.iter().sum::<f64>().to_bits());
    }
}
