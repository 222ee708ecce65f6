//! The convolutional-filter family (`model.kind = "convFilter"`; Du 2019, thesis ch. 6): one
//! filter w in R^p, f(w, Z) = (1/k) sum_i relu(w^T Z_i) over the k patches Z_i of a sample,
//! labels from a teacher w*, loss 1/2 (f(w, Z) - f(w*, Z))^2 averaged over a batch. The batch is
//! a fixed sample (GD, or SGD through the `sgd` method) or drawn fresh at every step from
//! (seed, step index) (`sampling.kind = "fresh"`: the model changes its batch in
//! [`Model::after_step`], so a run's bits do not depend on how it is chunked). `dist.rs` holds
//! the patch distributions and the population constants (the `populationConstants` query);
//! `family.rs` the spec and the build. docs/filter-learning.md.

pub mod dist;
pub mod family;

use serde_json::{json, Value};

use crate::curvature::Query;
use crate::error::Result;
use crate::model::{Block, Column, Model, Role};
use crate::rng::Normal;
use dist::{Frame, Patches};

pub use family::ConvFilterFamily;

/// The family's curvature queries.
pub const QUERIES: &[&str] = &["populationConstants"];

/// The recorded columns, in order.
pub const COLUMNS: &[(&str, Role)] = &[
    ("loss", Role::Loss),
    ("gradNorm", Role::GradNorm),
    ("err", Role::Residual),
    ("errSq", Role::Other),
    ("phi", Role::Other),
    ("contraction", Role::Other),
];

/// The extra column of data patches: the thesis's relative loss over all N data rows,
/// mean_n (f(w, Z_n) - y_n)^2 / (mean_n y_n)^2 (Figure 6.3 (c, d) plot its logarithm).
pub const DATA_COLUMNS: &[(&str, Role)] = &[("relLoss", Role::Other)];

/// Below this relative error (||w - w*|| / ||w*||) the `contraction` column is not measured:
/// rounding, not the dynamics, decides the last digits there.
pub const CONTRACTION_FLOOR: f64 = 1e-9;

/// How a batch is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    /// A new batch of `batch` samples at every step, drawn from `step_seed(seed, t)`.
    Fresh { batch: usize, seed: u64 },
    /// The same samples at every step (all of them, or a method's mini-batch).
    Fixed,
}

/// The seed of step t's batch: SplitMix64 of (seed, t), so that every step's batch is its own
/// stream (docs/filter-learning.md).
pub fn step_seed(seed: u64, t: u64) -> u64 {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    mix(mix(seed) ^ t.wrapping_mul(0xD1B5_4A32_D192_ED03))
}

/// The convolutional-filter model: one parameter block `w` (p x 1).
pub struct ConvFilter {
    p: usize,
    k: usize,
    w_star: Vec<f64>,
    patches: Patches,
    frame: Frame,
    sampling: Sampling,
    blocks: Vec<Block>,
    /// The samples evaluated: rows of k p numbers, and their labels f(w*, Z).
    z: Vec<f64>,
    y: Vec<f64>,
    n: usize,
    /// The mini-batch of the next evaluations (indices into the rows), or all rows.
    batch: Option<Vec<usize>>,
    /// The step whose batch `z` holds (fresh sampling).
    t: u64,
    /// The last recorded (step, err), for the contraction column.
    last_row: Option<(u64, f64)>,
    /// Scratch: one sample's activation-weighted patch average.
    g: Vec<f64>,
    /// Data patches: the labels of all N rows and (mean label)^2, for `relLoss`.
    data_y: Option<(Vec<f64>, f64)>,
}

impl ConvFilter {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        p: usize,
        k: usize,
        w_star: Vec<f64>,
        patches: Patches,
        sampling: Sampling,
        fixed: Option<(Vec<f64>, usize)>,
    ) -> ConvFilter {
        let frame = Frame::new(&w_star, None);
        let mut m = ConvFilter {
            p,
            k,
            w_star,
            patches,
            frame,
            sampling,
            blocks: vec![Block {
                name: "w".into(),
                offset: 0,
                rows: p,
                cols: 1,
            }],
            z: Vec::new(),
            y: Vec::new(),
            n: 0,
            batch: None,
            t: 0,
            last_row: None,
            g: vec![0.0; p],
            data_y: None,
        };
        if let Patches::Data { z, n } = &m.patches {
            let y: Vec<f64> = (0..*n)
                .map(|r| relu_mean(&m.w_star, &z[r * k * p..(r + 1) * k * p], p, k))
                .collect();
            let ybar = y.iter().sum::<f64>() / *n as f64;
            m.data_y = Some((y, ybar * ybar));
        }
        match (sampling, fixed) {
            (Sampling::Fixed, Some((z, n))) => {
                m.z = z;
                m.n = n;
                m.label();
            }
            (Sampling::Fresh { batch, .. }, _) => {
                m.z = vec![0.0; batch * k * p];
                m.n = batch;
                m.draw_batch(0);
            }
            (Sampling::Fixed, None) => unreachable!("a fixed sample is passed"),
        }
        m
    }

    /// The teacher w*.
    pub fn w_star(&self) -> &[f64] {
        &self.w_star
    }
    /// Patch size p and patches per sample k.
    pub fn shape(&self) -> (usize, usize) {
        (self.p, self.k)
    }
    /// The patch distribution.
    pub fn patches(&self) -> &Patches {
        &self.patches
    }
    /// The samples evaluated now (rows of k p numbers) and their count.
    pub fn samples_now(&self) -> (&[f64], usize) {
        (&self.z, self.n)
    }

    /// f(w, Z) for row r.
    fn f(&self, w: &[f64], r: usize) -> f64 {
        let (p, k) = (self.p, self.k);
        relu_mean(w, &self.z[r * k * p..(r + 1) * k * p], p, k)
    }

    /// Data patches: mean over all N data rows of (f(w, Z_n) - y_n)^2 divided by (mean_n y_n)^2
    /// (the thesis's "relative loss" before its logarithm; NaN when the mean label is 0); None for
    /// generated patches.
    pub fn relative_loss(&self, w: &[f64]) -> Option<f64> {
        let (Patches::Data { z, n }, Some((y, ybar2))) = (&self.patches, &self.data_y) else {
            return None;
        };
        let (p, k) = (self.p, self.k);
        let s: f64 = (0..*n)
            .map(|r| {
                let d = relu_mean(w, &z[r * k * p..(r + 1) * k * p], p, k) - y[r];
                d * d
            })
            .sum();
        // NaN when every label is 0 (the ratio is undefined), never an infinity.
        Some(if *ybar2 > 0.0 {
            s / *n as f64 / ybar2
        } else {
            f64::NAN
        })
    }

    fn label(&mut self) {
        let y: Vec<f64> = (0..self.n).map(|r| self.f(&self.w_star, r)).collect();
        self.y = y;
    }

    /// Fill the batch of step t (fresh sampling).
    fn draw_batch(&mut self, t: u64) {
        let Sampling::Fresh { batch, seed } = self.sampling else {
            return;
        };
        let row = self.k * self.p;
        let mut rng = Normal::new(step_seed(seed, t));
        match &self.patches {
            Patches::Data { z, n } => {
                for r in 0..batch {
                    let i = ((rng.uniform_open() * *n as f64) as usize).min(n - 1);
                    self.z[r * row..(r + 1) * row].copy_from_slice(&z[i * row..(i + 1) * row]);
                }
            }
            other => {
                for r in 0..batch {
                    dist::draw(
                        other,
                        &self.frame,
                        self.k,
                        &mut rng,
                        &mut self.z[r * row..(r + 1) * row],
                    );
                }
            }
        }
        self.t = t;
        self.label();
    }

    /// Number of rows of the current evaluation, and row j of it.
    fn nrows(&self) -> usize {
        self.batch.as_ref().map_or(self.n, |b| b.len())
    }
    fn row_index(&self, j: usize) -> usize {
        self.batch.as_ref().map_or(j, |b| b[j])
    }

    /// ||w - w*||^2 and the angle between w and w* (NaN at w = 0), computed stably with atan2.
    pub fn err_phi(&self, w: &[f64]) -> (f64, f64) {
        let e2: f64 = w
            .iter()
            .zip(&self.w_star)
            .map(|(a, b)| (a - b) * (a - b))
            .sum();
        (e2, angle(w, &self.w_star))
    }

    /// The `populationConstants` query at w.
    pub fn population_constants(&self, w: &[f64], seed: u64) -> Value {
        let (e2, phi) = self.err_phi(w);
        let ns = crate::linalg::norm(&self.w_star);
        let ratio = e2.sqrt() / ns;
        let phi0 = if ratio < 1.0 {
            Some(libm::asin(ratio))
        } else {
            None
        };
        let mut phis = dist::table_phis();
        if let Some(p0) = phi0 {
            phis.push(p0);
        }
        let est = dist::estimate(&self.patches, &self.w_star, Some(w), self.k, &phis, seed);
        let v = &est.value;
        let beta = v.beta;
        let theorem = phi0.map(|p0| {
            let i0 = phis.len() - 1;
            let gamma0 = v.gamma[i0];
            // Step condition from the proof of Theorem 6.2: eta (L(phi) + 4 beta)^2 <= gamma(phi)
            // / 2 for every phi <= phi0 (then ||w_t - w*||^2 <= (1 - eta gamma(phi0)/2)^t ...).
            let eta_max = v
                .phis
                .iter()
                .enumerate()
                .filter(|(_, &p)| p <= p0)
                .map(|(i, _)| v.gamma[i] / (2.0 * (v.l[i] + 4.0 * beta).powi(2)))
                .fold(f64::INFINITY, f64::min);
            json!({
                "phi0": p0,
                "gammaPhi0": gamma0,
                "etaMax": eta_max,
                "contractionAtEtaMax": 1.0 - eta_max * gamma0 / 2.0,
                "kOne": self.k == 1,
                "theorem63Condition": gamma0 > 6.0 * v.l_cross,
            })
        });
        json!({
            "what": "populationConstants",
            "p": self.p,
            "k": self.k,
            "patches": patches_name(&self.patches),
            "current": {"err": e2.sqrt(), "phi": phi, "errOverWStar": ratio},
            "gamma0": v.gamma[0],
            "gamma0Error": est.error.gamma[0],
            "L0": v.l[0],
            "constants": est.to_json(),
            "theorem62": theorem.unwrap_or(Value::Null),
            "note": "gamma(phi) and L(phi): min / max over filter angles |alpha| <= phi of a grid (+-(pi/2)(j/J)^2, J = 48 for quadrature and 24 for sample averages, and the table's angles) in the plane of w* and w; beta and Lcross: max over that grid of the value at alpha divided by |alpha| (alpha <= pi/2)",
        })
    }
}

/// (1/k) sum_i relu(w^T Z_i) over the k patches of one row.
fn relu_mean(w: &[f64], row: &[f64], p: usize, k: usize) -> f64 {
    let mut s = 0.0;
    for i in 0..k {
        let a = crate::linalg::dot(w, &row[i * p..(i + 1) * p]);
        if a > 0.0 {
            s += a;
        }
    }
    s / k as f64
}

/// The angle between a and b, atan2(||a_perp|| ||b||, a.b) (NaN when either is 0).
pub fn angle(a: &[f64], b: &[f64]) -> f64 {
    let nb2 = crate::linalg::norm2(b);
    let na2 = crate::linalg::norm2(a);
    if nb2 == 0.0 || na2 == 0.0 {
        return f64::NAN;
    }
    let c = crate::linalg::dot(a, b);
    let perp2: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| {
            let d = x - c / nb2 * y;
            d * d
        })
        .sum();
    libm::atan2(perp2.sqrt() * nb2.sqrt(), c)
}

fn patches_name(p: &Patches) -> Value {
    match p {
        Patches::Gaussian => json!({"kind": "gaussian"}),
        Patches::CircleMixture { s } => json!({"kind": "circleMixture", "s": s}),
        Patches::AroundBase { s, s2 } => json!({"kind": "aroundBase", "s": s, "s2": s2}),
        Patches::Data { n, .. } => json!({"kind": "data", "rows": n}),
    }
}

impl Model for ConvFilter {
    fn dim(&self) -> usize {
        self.p
    }
    fn blocks(&self) -> &[Block] {
        &self.blocks
    }
    fn loss_grad(&mut self, w: &[f64], grad: &mut [f64]) -> f64 {
        let (p, k) = (self.p, self.k);
        let kf = k as f64;
        grad.fill(0.0);
        let nrows = self.nrows();
        let mut loss = 0.0;
        let mut g = std::mem::take(&mut self.g);
        for j in 0..nrows {
            let r = self.row_index(j);
            let row = &self.z[r * k * p..(r + 1) * k * p];
            g.fill(0.0);
            let mut f = 0.0;
            for i in 0..k {
                let zi = &row[i * p..(i + 1) * p];
                let a = crate::linalg::dot(w, zi);
                if a > 0.0 {
                    f += a;
                    for (gj, zj) in g.iter_mut().zip(zi) {
                        *gj += zj;
                    }
                }
            }
            let res = f / kf - self.y[r];
            loss += 0.5 * res * res;
            for (o, gj) in grad.iter_mut().zip(&g) {
                *o += res * gj / kf;
            }
        }
        self.g = g;
        let m = nrows.max(1) as f64;
        grad.iter_mut().for_each(|x| *x /= m);
        loss / m
    }
    fn hvp(&mut self, w: &[f64], v: &[f64], out: &mut [f64]) {
        // Piecewise quadratic: H = mean over rows of g g^T, g = (1/k) sum_i Z_i 1{w^T Z_i > 0}
        // (away from the kinks, where it is the Hessian; on a kink, of the active side).
        let (p, k) = (self.p, self.k);
        let kf = k as f64;
        out.fill(0.0);
        let nrows = self.nrows();
        let mut g = std::mem::take(&mut self.g);
        for j in 0..nrows {
            let r = self.row_index(j);
            let row = &self.z[r * k * p..(r + 1) * k * p];
            g.fill(0.0);
            for i in 0..k {
                let zi = &row[i * p..(i + 1) * p];
                if crate::linalg::dot(w, zi) > 0.0 {
                    for (gj, zj) in g.iter_mut().zip(zi) {
                        *gj += zj / kf;
                    }
                }
            }
            let c = crate::linalg::dot(&g, v);
            for (o, gj) in out.iter_mut().zip(&g) {
                *o += c * gj;
            }
        }
        self.g = g;
        let m = nrows.max(1) as f64;
        out.iter_mut().for_each(|x| *x /= m);
    }
    fn hvp_exact(&self) -> bool {
        true
    }
    fn set_reference(&mut self, _w0: &[f64]) {
        self.last_row = None;
        match self.sampling {
            Sampling::Fresh { .. } if self.t != 0 => self.draw_batch(0),
            _ => self.t = 0,
        }
    }
    fn columns(&self) -> Vec<Column> {
        let extra = if self.data_y.is_some() {
            DATA_COLUMNS
        } else {
            &[]
        };
        COLUMNS
            .iter()
            .chain(extra)
            .map(|(n, r)| Column::new(*n, *r))
            .collect()
    }
    fn metrics(&mut self, w: &[f64], grad: &[f64], loss: f64, out: &mut Vec<f64>) {
        let (e2, phi) = self.err_phi(w);
        let err = e2.sqrt();
        out.push(loss);
        out.push(crate::linalg::norm(grad));
        out.push(err);
        out.push(e2);
        out.push(phi);
        // The per-step contraction of ||w - w*|| since the previous recorded row, while the error
        // is above the floor (relative to ||w*||).
        let floor = CONTRACTION_FLOOR * crate::linalg::norm(&self.w_star);
        let t = self.t_now();
        let c = match self.last_row {
            Some((t0, e0)) if t > t0 && e0 > floor && err > floor => {
                libm::pow(err / e0, 1.0 / (t - t0) as f64)
            }
            _ => f64::NAN,
        };
        out.push(c);
        self.last_row = Some((t, err));
        if let Some(r) = self.relative_loss(w) {
            out.push(r);
        }
    }
    fn matrix<'a>(
        &'a self,
        name: &str,
        w: &'a [f64],
        w0: &'a [f64],
    ) -> Result<(usize, usize, &'a [f64])> {
        match name {
            "w" => Ok((self.p, 1, w)),
            "w0" | "w_0" => Ok((self.p, 1, w0)),
            "wStar" => Ok((self.p, 1, &self.w_star)),
            _ => Err(crate::Error::request(
                "matrix",
                format!("no matrix named {name:?} (expected w, w0 or wStar)"),
            )),
        }
    }
    fn samples(&self) -> Option<usize> {
        Some(self.n)
    }
    fn set_batch(&mut self, batch: Option<&[usize]>) {
        self.batch = batch.map(|b| b.to_vec());
    }
    fn family_queries(&self) -> &'static [&'static str] {
        QUERIES
    }
    fn after_step(&mut self, t: u64, _w: &[f64]) {
        self.step_to(t);
    }
    fn family_query(&mut self, what: &str, w: &[f64], q: &Query) -> Result<Value> {
        debug_assert_eq!(what, "populationConstants");
        Ok(self.population_constants(w, q.seed))
    }
}

impl ConvFilter {
    /// The step index the model is at (fresh sampling: whose batch it holds).
    fn t_now(&self) -> u64 {
        self.t
    }
    /// Move to step t: fresh sampling draws step t's batch; fixed sampling only counts.
    fn step_to(&mut self, t: u64) {
        match self.sampling {
            Sampling::Fresh { .. } => {
                if t != self.t {
                    self.draw_batch(t);
                }
            }
            Sampling::Fixed => self.t = t,
        }
        if self.last_row.is_some_and(|(t0, _)| t0 > t) {
            // The session went back (after a divergence): forget the later row.
            self.last_row = None;
        }
    }
}
