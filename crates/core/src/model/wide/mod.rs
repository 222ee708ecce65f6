//! The over-parameterized two-layer ReLU network of Du (2019 thesis, chapter 2; Du, Zhai, Poczos,
//! Singh, ICLR 2019), `model.kind = "twoLayerRelu"`:
//!
//!   f(W, x) = m^{-1/2} sum_r a_r relu(w_r^T x),   a_r in {-1, +1} FIXED (not a parameter),
//!
//! trained on the first layer W (one block `W`, m x d, row r = w_r) with the loss
//! L = sum_i 1/2 (f(x_i) - y_i)^2 (`"sum"`, the chapter's) or its mean over the n points
//! (`"mean"`, n times smaller: the same trajectory needs an n times larger step).
//!
//! One evaluation is two GEMMs (4 n m d flops): Z = X W^T (n x m), then the gradient
//! G = M^T X with M_ir = c r_i 1{z_ir > 0} a_r / sqrt(m) (r = u - y; c = 1 or 1/n). The neurons are
//! split into a FIXED number of column chunks (set by m, never by the thread count): each chunk
//! owns its block of Z, its bits of the activation pattern and its rows of the gradient; the
//! predictions u are the chunks' partial sums added in chunk order, so a run has the same bits
//! sequentially and on any number of threads.
//!
//! Columns: `loss`, `gradNorm`, `patternChange` (the fraction of the n m activation patterns
//! 1{w_r^T x_i > 0} that differ from the initial point's), `maxDist` (max_r ||w_r - w_r(0)||);
//! with `model.gram`: `lambdaMinH` (the smallest eigenvalue of the finite-width Gram matrix
//! H_ij = x_i^T x_j / m sum_r 1{w_r^T x_i > 0, w_r^T x_j > 0}) and `gramDistInf`
//! (||H - H_inf||_2), every `gram.every` steps (NaN between); with `model.envelopeEta`:
//! `envelopeFlow` = L0 exp(-lambda0 eta k) and `envelopeGd` = L0 (1 - eta lambda0 / 2)^k
//! (Theorems 2.2 and 2.3; for the mean loss eta / n in place of eta). The family query `theory`
//! gives H_inf's statistics, lambda0, the widths the theorems require, and the step-size bound.
//! docs/wide-networks.md derives and documents all of it.

pub mod family;
pub mod gram;

use serde_json::Value;

use crate::curvature::Query;
use crate::error::{Error, Result};
use crate::linalg::{gemm, norm, Layout};
use crate::model::{Block, Column, Model, Role};
use crate::par::Parallelism;

pub use family::TwoLayerReluFamily;

/// The family's queries.
pub const QUERIES: &[&str] = &["theory"];

/// Most neuron chunks per evaluation.
pub const CHUNKS: usize = 8;
/// Fewest neurons per chunk (below this, fewer chunks).
pub const MIN_NEURONS: usize = 64;

/// The number of neuron chunks for width `m` (set by the problem size only).
pub fn chunk_count(m: usize) -> usize {
    CHUNKS.min(m.div_ceil(MIN_NEURONS)).max(1)
}

/// Neurons per chunk (the last chunk may have fewer).
pub fn chunk_width(m: usize) -> usize {
    m.div_ceil(chunk_count(m)).max(1)
}

/// The loss convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossKind {
    /// sum_i 1/2 (f(x_i) - y_i)^2 (the chapter's).
    Sum,
    /// (1/n) sum_i 1/2 (f(x_i) - y_i)^2.
    Mean,
}

/// One chunk of neurons: its block of Z (n x mc, row-major), the activation pattern at the last
/// evaluation and at the initial point (bit i * mc + j: neuron r0 + j on point i), and its partial
/// predictions.
struct Chunk {
    r0: usize,
    mc: usize,
    z: Vec<f64>,
    bits: Vec<u64>,
    bits0: Vec<u64>,
    upart: Vec<f64>,
}

/// The data the chunks read.
struct Ctx<'a> {
    n: usize,
    d: usize,
    x: &'a [f64],
    a: &'a [f64],
    inv_sqrt_m: f64,
}

impl Ctx<'_> {
    /// ch.z = X P_c^T for the chunk's rows P_c of an m x d matrix `p` (W for the forward pass,
    /// the direction V for the tangent).
    fn x_rows_t(&self, ch: &mut Chunk, p: &[f64]) {
        let (n, d, mc) = (self.n, self.d, ch.mc);
        let pc = &p[ch.r0 * d..(ch.r0 + mc) * d];
        gemm(
            1.0,
            self.x,
            Layout::row_major(n, d),
            pc,
            Layout::row_major(mc, d).t(),
            0.0,
            &mut ch.z,
            Layout::row_major(n, mc),
        );
    }

    /// Z_c = X W_c^T, the pattern bits, and the partial predictions
    /// sum_{r in c} a_r relu(z_ir) / sqrt(m).
    fn forward(&self, ch: &mut Chunk, w: &[f64]) {
        let (n, mc) = (self.n, ch.mc);
        self.x_rows_t(ch, w);
        ch.bits.fill(0);
        let a = &self.a[ch.r0..ch.r0 + mc];
        for i in 0..n {
            let row = &ch.z[i * mc..(i + 1) * mc];
            let mut s = 0.0;
            for (j, (&z, &ar)) in row.iter().zip(a).enumerate() {
                if z > 0.0 {
                    s += ar * z;
                    let b = i * mc + j;
                    ch.bits[b >> 6] |= 1u64 << (b & 63);
                }
            }
            ch.upart[i] = s * self.inv_sqrt_m;
        }
    }

    /// out_c = M_c^T X, M_ir = coef_i 1{pattern} a_r / sqrt(m) (written over Z_c).
    fn backward(&self, ch: &mut Chunk, coef: &[f64], out: &mut [f64]) {
        let (n, d, mc) = (self.n, self.d, ch.mc);
        let a = &self.a[ch.r0..ch.r0 + mc];
        for i in 0..n {
            let c = coef[i] * self.inv_sqrt_m;
            let row = &mut ch.z[i * mc..(i + 1) * mc];
            for (j, (zv, &ar)) in row.iter_mut().zip(a).enumerate() {
                let b = i * mc + j;
                *zv = if ch.bits[b >> 6] >> (b & 63) & 1 == 1 {
                    c * ar
                } else {
                    0.0
                };
            }
        }
        gemm(
            1.0,
            &ch.z,
            Layout::row_major(n, mc).t(),
            self.x,
            Layout::row_major(n, d),
            0.0,
            &mut out[..mc * d],
            Layout::row_major(mc, d),
        );
    }

    /// S_c = X V_c^T masked by the pattern: partial J v = sum_{r in c} a_r 1_ir x_i^T v_r / sqrt(m).
    fn tangent(&self, ch: &mut Chunk, v: &[f64]) {
        let (n, mc) = (self.n, ch.mc);
        self.x_rows_t(ch, v);
        let a = &self.a[ch.r0..ch.r0 + mc];
        for i in 0..n {
            let row = &ch.z[i * mc..(i + 1) * mc];
            let mut s = 0.0;
            for (j, (&z, &ar)) in row.iter().zip(a).enumerate() {
                let b = i * mc + j;
                if ch.bits[b >> 6] >> (b & 63) & 1 == 1 {
                    s += ar * z;
                }
            }
            ch.upart[i] = s * self.inv_sqrt_m;
        }
    }
}

/// What the Gram columns and the envelopes need (computed at build when asked for).
pub struct Theory {
    /// H_inf (n x n, row-major).
    pub h_inf: Vec<f64>,
    /// lambda0 = lambda_min(H_inf).
    pub lambda0: f64,
    /// lambda_max(H_inf).
    pub lambda_max: f64,
}

/// The two-layer ReLU network with a fixed second layer.
pub struct TwoLayerRelu {
    n: usize,
    d: usize,
    m: usize,
    loss_kind: LossKind,
    /// n x d, rows on the unit sphere (or as given).
    x: Vec<f64>,
    y: Vec<f64>,
    /// The fixed second layer (entries +-1).
    a: Vec<f64>,
    blocks: Vec<Block>,
    chunks: Vec<Chunk>,
    /// Predictions and residual coefficients of the last evaluation.
    u: Vec<f64>,
    coef: Vec<f64>,
    /// The initial point.
    w0: Vec<f64>,
    /// The loss at the initial point.
    loss0: f64,
    /// The iteration of the current iterate (from `after_step`).
    t: u64,
    /// Gram columns every this many steps (0: off).
    gram_every: u64,
    /// The step size the envelopes assume (as given; for the mean loss, eta / n is used).
    envelope_eta: Option<f64>,
    theory: Option<Theory>,
    /// X X^T (n x n) when the Gram columns are on.
    xxt: Vec<f64>,
    par: Parallelism,
}

impl TwoLayerRelu {
    /// A model on data `x` (n x d) and `y` (n), second layer `a` (m), width m.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        n: usize,
        d: usize,
        m: usize,
        loss_kind: LossKind,
        x: Vec<f64>,
        y: Vec<f64>,
        a: Vec<f64>,
        gram_every: u64,
        envelope_eta: Option<f64>,
        theory: Option<Theory>,
    ) -> TwoLayerRelu {
        let nc = chunk_count(m);
        let per = chunk_width(m);
        let chunks = (0..nc)
            .map(|c| {
                let r0 = (c * per).min(m);
                let mc = ((c + 1) * per).min(m) - r0;
                let words = (n * mc).div_ceil(64);
                Chunk {
                    r0,
                    mc,
                    z: vec![0.0; n * mc],
                    bits: vec![0; words],
                    bits0: vec![0; words],
                    upart: vec![0.0; n],
                }
            })
            .collect();
        let xxt = if gram_every > 0 {
            let mut g = vec![0.0; n * n];
            let l = Layout::row_major(n, d);
            gemm(1.0, &x, l, &x, l.t(), 0.0, &mut g, Layout::row_major(n, n));
            g
        } else {
            Vec::new()
        };
        TwoLayerRelu {
            n,
            d,
            m,
            loss_kind,
            x,
            y,
            a,
            blocks: vec![Block {
                name: "W".into(),
                offset: 0,
                rows: m,
                cols: d,
            }],
            chunks,
            u: vec![0.0; n],
            coef: vec![0.0; n],
            w0: vec![0.0; m * d],
            loss0: f64::NAN,
            t: 0,
            gram_every,
            envelope_eta,
            theory,
            xxt,
            par: Parallelism::default(),
        }
    }

    pub fn n(&self) -> usize {
        self.n
    }
    pub fn d(&self) -> usize {
        self.d
    }
    pub fn width(&self) -> usize {
        self.m
    }
    pub fn loss_kind(&self) -> LossKind {
        self.loss_kind
    }
    pub fn x(&self) -> &[f64] {
        &self.x
    }
    pub fn y(&self) -> &[f64] {
        &self.y
    }
    pub fn a(&self) -> &[f64] {
        &self.a
    }
    /// The predictions of the last evaluation.
    pub fn predictions(&self) -> &[f64] {
        &self.u
    }
    pub fn theory(&self) -> Option<&Theory> {
        self.theory.as_ref()
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            n: self.n,
            d: self.d,
            x: &self.x,
            a: &self.a,
            inv_sqrt_m: 1.0 / libm::sqrt(self.m as f64),
        }
    }

    /// The factor of the loss: 1 (sum) or 1/n (mean).
    fn scale(&self) -> f64 {
        match self.loss_kind {
            LossKind::Sum => 1.0,
            LossKind::Mean => 1.0 / self.n as f64,
        }
    }

    /// The forward pass at `w`: predictions into `self.u`, the pattern bits; returns the loss.
    fn forward(&mut self, w: &[f64]) -> f64 {
        let mut chunks = std::mem::take(&mut self.chunks);
        {
            let ctx = self.ctx();
            self.par.for_each(&mut chunks, |_, ch| ctx.forward(ch, w));
        }
        self.u.copy_from_slice(&chunks[0].upart);
        for ch in &chunks[1..] {
            for (u, p) in self.u.iter_mut().zip(&ch.upart) {
                *u += p;
            }
        }
        self.chunks = chunks;
        let mut l = 0.0;
        for (u, y) in self.u.iter().zip(&self.y) {
            let r = u - y;
            l += 0.5 * r * r;
        }
        l * self.scale()
    }

    /// `out = J^T coef` (coef per point), chunk by chunk (each chunk writes its own rows).
    fn backward(&mut self, out: &mut [f64]) {
        let mut chunks = std::mem::take(&mut self.chunks);
        let per = chunk_width(self.m) * self.d;
        {
            let ctx = self.ctx();
            let coef = &self.coef;
            self.par
                .for_each_zip(&mut chunks, out, per, |ch, o| ctx.backward(ch, coef, o));
        }
        self.chunks = chunks;
    }

    /// The fraction of the n m activation patterns that differ from the initial point's (at the
    /// last evaluation).
    pub fn pattern_change(&self) -> f64 {
        let mut c: u64 = 0;
        for ch in &self.chunks {
            for (b, b0) in ch.bits.iter().zip(&ch.bits0) {
                c += (b ^ b0).count_ones() as u64;
            }
        }
        c as f64 / (self.n as f64 * self.m as f64)
    }

    /// max_r ||w_r - w_r(0)||.
    pub fn max_dist(&self, w: &[f64]) -> f64 {
        let d = self.d;
        let mut best = 0.0f64;
        for (row, row0) in w.chunks(d).zip(self.w0.chunks(d)) {
            let s: f64 = row.iter().zip(row0).map(|(a, b)| (a - b) * (a - b)).sum();
            best = best.max(s);
        }
        libm::sqrt(best)
    }

    /// The finite-width Gram matrix H of the pattern of the last evaluation (n x n, row-major):
    /// H_ij = x_i^T x_j / m sum_r 1_ir 1_jr. Uses the chunks' Z blocks as scratch; rows of H in
    /// parallel blocks, each summed over the neuron chunks in order.
    pub fn gram_matrix(&mut self) -> Vec<f64> {
        let n = self.n;
        let mut h = vec![0.0; n * n];
        // The pattern as 0/1 doubles in each chunk's Z block.
        let mut chunks = std::mem::take(&mut self.chunks);
        self.par.for_each(&mut chunks, |_, ch| {
            for (b, z) in ch.z.iter_mut().enumerate() {
                *z = (ch.bits[b >> 6] >> (b & 63) & 1) as f64;
            }
        });
        let rows = n.div_ceil(chunk_count(n)).max(1);
        {
            let chs = &chunks;
            let mut blocks: Vec<usize> = (0..n.div_ceil(rows)).collect();
            self.par
                .for_each_zip(&mut blocks, &mut h, rows * n, |blk, o| {
                    let i0 = *blk * rows;
                    let ni = o.len() / n;
                    for ch in chs {
                        let mc = ch.mc;
                        gemm(
                            1.0,
                            &ch.z[i0 * mc..(i0 + ni) * mc],
                            Layout::row_major(ni, mc),
                            &ch.z,
                            Layout::row_major(n, mc).t(),
                            1.0,
                            o,
                            Layout::row_major(ni, n),
                        );
                    }
                });
        }
        self.chunks = chunks;
        let inv_m = 1.0 / self.m as f64;
        if self.xxt.len() == n * n {
            for (hv, g) in h.iter_mut().zip(&self.xxt) {
                *hv *= g * inv_m;
            }
        } else {
            for i in 0..n {
                for j in 0..n {
                    let g = crate::linalg::dot(
                        &self.x[i * self.d..(i + 1) * self.d],
                        &self.x[j * self.d..(j + 1) * self.d],
                    );
                    h[i * n + j] *= g * inv_m;
                }
            }
        }
        h
    }

    /// Evaluate at `w` (the pattern and predictions) without the gradient.
    pub fn evaluate(&mut self, w: &[f64]) -> f64 {
        self.forward(w)
    }
}

impl Model for TwoLayerRelu {
    fn dim(&self) -> usize {
        self.m * self.d
    }
    fn blocks(&self) -> &[Block] {
        &self.blocks
    }
    fn loss_grad(&mut self, w: &[f64], grad: &mut [f64]) -> f64 {
        let l = self.forward(w);
        let s = self.scale();
        for ((c, u), y) in self.coef.iter_mut().zip(&self.u).zip(&self.y) {
            *c = (u - y) * s;
        }
        self.backward(grad);
        l
    }
    fn hvp(&mut self, w: &[f64], v: &[f64], out: &mut [f64]) {
        // Within a pattern the loss is quadratic in W: H v = J^T J v (times 1/n for the mean).
        self.forward(w);
        let mut chunks = std::mem::take(&mut self.chunks);
        {
            let ctx = self.ctx();
            self.par.for_each(&mut chunks, |_, ch| ctx.tangent(ch, v));
        }
        let s = self.scale();
        self.coef.copy_from_slice(&chunks[0].upart);
        for ch in &chunks[1..] {
            for (c, p) in self.coef.iter_mut().zip(&ch.upart) {
                *c += p;
            }
        }
        for c in self.coef.iter_mut() {
            *c *= s;
        }
        self.chunks = chunks;
        self.backward(out);
    }
    fn hvp_exact(&self) -> bool {
        true
    }
    fn set_parallelism(&mut self, par: Parallelism) {
        self.par = par;
    }
    fn set_reference(&mut self, w0: &[f64]) {
        self.w0.copy_from_slice(w0);
        self.loss0 = self.forward(w0);
        for ch in &mut self.chunks {
            ch.bits0.copy_from_slice(&ch.bits);
        }
        self.t = 0;
    }
    fn columns(&self) -> Vec<Column> {
        let mut c = vec![
            Column::new("loss", Role::Loss),
            Column::new("gradNorm", Role::GradNorm),
            Column::new("patternChange", Role::Other),
            Column::new("maxDist", Role::Other),
        ];
        if self.gram_every > 0 {
            c.push(Column::new("lambdaMinH", Role::Other));
            c.push(Column::new("gramDistInf", Role::Other));
        }
        if self.envelope_eta.is_some() {
            c.push(Column::new("envelopeFlow", Role::Other));
            c.push(Column::new("envelopeGd", Role::Other));
        }
        c
    }
    fn metrics(&mut self, w: &[f64], grad: &[f64], loss: f64, out: &mut Vec<f64>) {
        out.push(loss);
        out.push(norm(grad));
        out.push(self.pattern_change());
        out.push(self.max_dist(w));
        if self.gram_every > 0 {
            if self.t.is_multiple_of(self.gram_every) {
                let h = self.gram_matrix();
                let (lmin, dist) = match &self.theory {
                    Some(th) => {
                        let diff: Vec<f64> = h.iter().zip(&th.h_inf).map(|(a, b)| a - b).collect();
                        (
                            gram::eig_range(&h, self.n).0,
                            gram::spectral_norm_sym(&diff, self.n),
                        )
                    }
                    None => (gram::eig_range(&h, self.n).0, f64::NAN),
                };
                out.push(lmin);
                out.push(dist);
            } else {
                out.extend([f64::NAN; 2]);
            }
        }
        if let Some(eta) = self.envelope_eta {
            let lambda0 = self.theory.as_ref().map_or(f64::NAN, |t| t.lambda0);
            let e = eta * self.scale();
            let k = self.t as f64;
            out.push(self.loss0 * libm::exp(-lambda0 * e * k));
            out.push(self.loss0 * libm::pow(1.0 - e * lambda0 / 2.0, k));
        }
    }
    fn matrix<'a>(
        &'a self,
        name: &str,
        w: &'a [f64],
        w0: &'a [f64],
    ) -> Result<(usize, usize, &'a [f64])> {
        let (n, d, m) = (self.n, self.d, self.m);
        match name {
            "W" => Ok((m, d, w)),
            "W_0" | "W0" => Ok((m, d, w0)),
            "a" => Ok((m, 1, &self.a)),
            "X" | "x" => Ok((n, d, &self.x)),
            "y" => Ok((n, 1, &self.y)),
            "Hinf" if self.theory.is_some() => {
                Ok((n, n, &self.theory.as_ref().expect("checked").h_inf))
            }
            _ => Err(Error::request(
                "matrix",
                format!(
                    "no matrix named {name:?} (expected W, W_0, a, X, y{})",
                    if self.theory.is_some() {
                        " or Hinf"
                    } else {
                        ""
                    }
                ),
            )),
        }
    }
    fn family_queries(&self) -> &'static [&'static str] {
        QUERIES
    }
    fn family_query(&mut self, what: &str, w: &[f64], _q: &Query) -> Result<Value> {
        debug_assert_eq!(what, "theory");
        gram::theory_query(self, w)
    }
    fn after_step(&mut self, t: u64, _w: &[f64]) {
        self.t = t;
    }
}
