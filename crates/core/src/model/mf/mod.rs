//! Asymmetric matrix factorization (Du, Hu & Lee 2018, eq. 1 and 3):
//!
//!   f(U, V) = 1/2 ||U V^T - M*||_F^2 + w ||U^T U - V^T V||_F^2,   U: d1 x r, V: d2 x r.
//!
//! Gradients: dU = R V + 4 w U D, dV = R^T U - 4 w V D with R = U V^T - M*, D = U^T U - V^T V.
//! Parameters are the flat vector [U (d1 x r, row-major) | V (d2 x r, row-major)].
//!
//! The data term is computed by a fused kernel that streams M* once per evaluation: for each
//! block of rows of M* it forms the residual block in cache, adds its squared norm to the loss
//! and accumulates both gradient products from it. U V^T and R are never written to memory.
//! Rows are split into a fixed number of chunks (independent of the thread count) whose partial
//! results are summed in order, so results do not depend on how many threads ran.

use serde_json::{json, Value};

use crate::curvature::Query;
use crate::linalg::{gemm, gram, norm2, Layout};
use crate::model::{Block, Column, Model, Role};
use crate::par::Parallelism;

pub mod family;
pub mod hvp;
pub mod lemma;
mod simd;
mod small;

pub use family::MfFamily;
use hvp::{mf_hvp, mf_symmetry_dim, mf_symmetry_tangents};

/// Number of row chunks of the fused kernel (fixed: determinism does not depend on threads).
const CHUNKS: usize = 8;
/// Target size in bytes of one residual block (kept in L2).
const BLOCK_BYTES: usize = 256 * 1024;

/// Ranks up to this use the single-pass kernel of `small.rs`; larger ones the blocked GEMM path.
pub const SMALL_RANK: usize = 8;

pub struct MatrixFactorization {
    pub d1: usize,
    pub d2: usize,
    pub r: usize,
    /// Weight of the balancing regularizer (1/8 in the paper's eq. 3).
    pub balance_weight: f64,
    /// M*, d1 x d2 row-major.
    pub target: Vec<f64>,
    blocks: [Block; 2],
    ws: Workspace,
    /// How the row chunks of the fused kernel run.
    par: Parallelism,
    /// Loss parts of the last evaluation.
    last: LossParts,
    /// U0^T U0 - V0^T V0 and a scratch pair for the recorder.
    d0: Vec<f64>,
    rec: (Vec<f64>, Vec<f64>),
}

/// The family's curvature queries: the Lemma 3.2 certificate (see [`lemma`]).
pub const QUERIES: &[&str] = &["lemma32"];

/// The metric columns of matrix factorization (after `step`, `eta` and, for flows, `time`).
pub const MF_METRICS: [(&str, Role); 8] = [
    ("loss", Role::Loss),
    ("normU2", Role::Norm),
    ("normV2", Role::Norm),
    ("normRatio", Role::Ratio),
    ("imbalance", Role::Invariant),
    ("imbalanceDrift", Role::Drift),
    ("residual", Role::Residual),
    ("gradNorm", Role::GradNorm),
];

struct Chunk {
    rows: std::ops::Range<usize>,
    rbuf: Vec<f64>,
    gv: Vec<f64>,
    sq: f64,
}

struct Workspace {
    chunks: Vec<Chunk>,
    /// V^T (r x d2), for the small-rank kernel.
    vt: Vec<f64>,
    block_rows: usize,
    d: Vec<f64>,
    tmp: Vec<f64>,
}

/// The parts of the loss at one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossParts {
    /// 1/2 ||U V^T - M*||_F^2
    pub data: f64,
    /// w ||U^T U - V^T V||_F^2
    pub balance: f64,
}

impl LossParts {
    pub fn total(&self) -> f64 {
        self.data + self.balance
    }
}

impl MatrixFactorization {
    /// Bytes of working memory the fused kernel needs beyond M* and the parameters.
    pub fn workspace_bytes(d1: usize, d2: usize, r: usize) -> usize {
        let br = if r <= SMALL_RANK {
            0
        } else {
            block_rows(d1, d2)
        };
        let chunks = CHUNKS.min(d1);
        8 * (chunks * (br * d2 + d2 * r) + d2 * r + 2 * r * r)
    }

    /// Shapes are validated by the caller (the session), which also owns the error reporting.
    pub fn new(d1: usize, d2: usize, r: usize, balance_weight: f64, target: Vec<f64>) -> Self {
        assert_eq!(target.len(), d1 * d2);
        let small = r <= SMALL_RANK;
        let br = if small { 0 } else { block_rows(d1, d2) };
        let nchunks = CHUNKS.min(d1);
        let per = d1.div_ceil(nchunks);
        let chunks = (0..nchunks)
            .map(|c| {
                let lo = (c * per).min(d1);
                let hi = ((c + 1) * per).min(d1);
                Chunk {
                    rows: lo..hi,
                    rbuf: vec![0.0; br.min(hi - lo) * d2],
                    gv: vec![0.0; d2 * r],
                    sq: 0.0,
                }
            })
            .collect();
        MatrixFactorization {
            d1,
            d2,
            r,
            balance_weight,
            target,
            par: Parallelism::default(),
            blocks: [
                Block {
                    name: "U".into(),
                    offset: 0,
                    rows: d1,
                    cols: r,
                },
                Block {
                    name: "V".into(),
                    offset: d1 * r,
                    rows: d2,
                    cols: r,
                },
            ],
            ws: Workspace {
                chunks,
                vt: vec![0.0; d2 * r],
                block_rows: br,
                d: vec![0.0; r * r],
                tmp: vec![0.0; r * r],
            },
            last: LossParts {
                data: 0.0,
                balance: 0.0,
            },
            d0: vec![0.0; r * r],
            rec: (vec![0.0; r * r], vec![0.0; r * r]),
        }
    }

    pub fn split<'a>(&self, w: &'a [f64]) -> (&'a [f64], &'a [f64]) {
        w.split_at(self.d1 * self.r)
    }

    /// D = U^T U - V^T V (r x r, row-major); `scratch` is r x r.
    pub fn imbalance(&self, w: &[f64], d: &mut [f64], scratch: &mut [f64]) {
        let (u, v) = self.split(w);
        gram(u, self.d1, self.r, d);
        gram(v, self.d2, self.r, scratch);
        for (x, y) in d.iter_mut().zip(scratch.iter()) {
            *x -= y;
        }
    }

    /// Loss parts and gradient at `w` (the fused kernel plus the regularizer).
    pub fn eval(&mut self, w: &[f64], grad: &mut [f64]) -> LossParts {
        let (d1, d2, r) = (self.d1, self.d2, self.r);
        let (u, v) = w.split_at(d1 * r);
        let (gu, gv) = grad.split_at_mut(d1 * r);
        let target = &self.target;
        let br = self.ws.block_rows;
        let small = r <= SMALL_RANK;
        // V^T (r x d2), row-contiguous: the small kernel streams its rows; the GEMM path uses it
        // as the right factor of U_b V^T (row-contiguous B, which the wasm GEMM needs).
        for j in 0..d2 {
            for k in 0..r {
                self.ws.vt[k * d2 + j] = v[j * r + k];
            }
        }
        let vt = &self.ws.vt;

        let work = |(chunk, gu_chunk): (&mut Chunk, &mut [f64])| {
            if small {
                chunk.gv.fill(0.0);
                let rows = chunk.rows.clone();
                let x = small::Rows {
                    u: &u[rows.start * r..rows.end * r],
                    m: &target[rows.start * d2..rows.end * d2],
                    vt,
                    d2,
                    r,
                };
                chunk.sq = small::run(&x, gu_chunk, &mut chunk.gv);
                return;
            }
            chunk.sq = 0.0;
            chunk.gv.fill(0.0);
            let lo = chunk.rows.start;
            let mut b0 = lo;
            while b0 < chunk.rows.end {
                let b1 = (b0 + br).min(chunk.rows.end);
                let nb = b1 - b0;
                let rb = &mut chunk.rbuf[..nb * d2];
                for (x, m) in rb.iter_mut().zip(&target[b0 * d2..b1 * d2]) {
                    *x = -m;
                }
                let ub = &u[b0 * r..b1 * r];
                let lu = Layout::row_major(nb, r);
                let lr = Layout::row_major(nb, d2);
                let lv = Layout::row_major(d2, r);
                // R_b = U_b V^T - M_b
                gemm(1.0, ub, lu, vt, lv.t().contiguous(), 1.0, rb, lr);
                chunk.sq += norm2(rb);
                // dU_b = R_b V
                gemm(
                    1.0,
                    rb,
                    lr,
                    v,
                    lv,
                    0.0,
                    &mut gu_chunk[(b0 - lo) * r..(b1 - lo) * r],
                    lu,
                );
                // dV += R_b^T U_b
                gemm(1.0, rb, lr.t(), ub, lu, 1.0, &mut chunk.gv, lv);
                b0 = b1;
            }
        };
        let per = self.ws.chunks[0].rows.len().max(1);
        // 6 d1 d2 r flops (three d1 x d2 x r products): tiny problems stay on this thread.
        self.par.for_work(6 * d1 * d2 * r).for_each_zip(
            &mut self.ws.chunks,
            gu,
            per * r,
            |chunk, gu| work((chunk, gu)),
        );

        // Partial sums in chunk order. The small-rank kernel accumulates dV^T (r x d2): sum the
        // partials into the V^T buffer (no longer needed) and transpose once.
        let mut sq = 0.0;
        let acc: &mut [f64] = if small { &mut self.ws.vt } else { gv };
        acc.fill(0.0);
        for c in &self.ws.chunks {
            sq += c.sq;
            for (g, p) in acc.iter_mut().zip(&c.gv) {
                *g += p;
            }
        }
        if small {
            for j in 0..d2 {
                for k in 0..r {
                    gv[j * r + k] = self.ws.vt[k * d2 + j];
                }
            }
        }
        let data = 0.5 * sq;

        let mut balance = 0.0;
        if self.balance_weight != 0.0 {
            let mut d = std::mem::take(&mut self.ws.d);
            let mut tmp = std::mem::take(&mut self.ws.tmp);
            self.imbalance(w, &mut d, &mut tmp);
            self.ws.tmp = tmp;
            balance = self.balance_weight * norm2(&d);
            let k = 4.0 * self.balance_weight;
            let lrr = Layout::row_major(r, r);
            gemm(
                k,
                u,
                Layout::row_major(d1, r),
                &d,
                lrr,
                1.0,
                gu,
                Layout::row_major(d1, r),
            );
            gemm(
                -k,
                v,
                Layout::row_major(d2, r),
                &d,
                lrr,
                1.0,
                gv,
                Layout::row_major(d2, r),
            );
            self.ws.d = d;
        }
        LossParts { data, balance }
    }
}

fn block_rows(d1: usize, d2: usize) -> usize {
    (BLOCK_BYTES / (8 * d2.max(1))).clamp(4, 256).min(d1.max(1))
}

impl Model for MatrixFactorization {
    fn dim(&self) -> usize {
        (self.d1 + self.d2) * self.r
    }
    fn blocks(&self) -> &[Block] {
        &self.blocks
    }
    fn loss_grad(&mut self, w: &[f64], grad: &mut [f64]) -> f64 {
        let p = self.eval(w, grad);
        self.last = p;
        p.total()
    }
    fn set_reference(&mut self, w0: &[f64]) {
        let mut d0 = std::mem::take(&mut self.d0);
        let mut s = std::mem::take(&mut self.rec.1);
        self.imbalance(w0, &mut d0, &mut s);
        self.d0 = d0;
        self.rec.1 = s;
    }
    fn columns(&self) -> Vec<Column> {
        MF_METRICS.iter().map(|&(n, r)| Column::new(n, r)).collect()
    }
    fn hvp(&mut self, w: &[f64], v: &[f64], out: &mut [f64]) {
        mf_hvp(self, w, v, out)
    }
    fn hvp_exact(&self) -> bool {
        true
    }
    fn symmetry_dim(&self, w: &[f64]) -> Option<usize> {
        Some(mf_symmetry_dim(self, w))
    }
    fn symmetry_tangents(&self, w: &[f64]) -> Option<Vec<Vec<f64>>> {
        Some(mf_symmetry_tangents(self, w))
    }
    fn family_queries(&self) -> &'static [&'static str] {
        QUERIES
    }
    fn family_query(&mut self, what: &str, w: &[f64], q: &Query) -> crate::Result<Value> {
        debug_assert_eq!(what, "lemma32");
        let l = lemma::lemma32(self, w, q.eps, q.grad_tol)?;
        let h = l.hypotheses;
        let mut o = json!({
            "what": "lemma32", "eps": l.eps, "imbalance": l.imbalance,
            "residual": l.residual, "gradNorm": l.grad_norm,
            "value": l.value, "hvpValue": l.hvp_value, "bound": l.bound,
            "deltaNorm": l.delta_norm, "rayleigh": l.rayleigh, "side": l.side.name(),
            "rotation": l.rotation, "singularValues": l.singular_values,
            "hypotheses": {
                "stationary": h.stationary, "balanced": h.balanced,
                "targetRankAtMostR": h.target_rank_ok, "gradTol": h.grad_tol,
                "targetRank": h.target_rank, "rank": self.r,
            },
            "reason": l.reason,
        });
        if q.vectors {
            o["delta"] = json!(l.delta);
        }
        Ok(o)
    }
    fn set_parallelism(&mut self, par: Parallelism) {
        self.par = par;
    }
    fn theorem31_scale(&self) -> Option<(usize, f64)> {
        Some((self.r, libm::sqrt(norm2(&self.target))))
    }
    fn metrics(&mut self, w: &[f64], grad: &[f64], loss: f64, out: &mut Vec<f64>) {
        let (u, v) = self.split(w);
        let nu = norm2(u);
        let nv = norm2(v);
        let (mut d, mut s) = std::mem::take(&mut self.rec);
        self.imbalance(w, &mut d, &mut s);
        let imb = libm::sqrt(norm2(&d));
        let drift = libm::sqrt(d.iter().zip(&self.d0).map(|(a, b)| (a - b) * (a - b)).sum());
        self.rec = (d, s);
        out.extend_from_slice(&[
            loss,
            nu,
            nv,
            nu / nv,
            imb,
            drift,
            libm::sqrt(2.0 * self.last.data),
            crate::linalg::norm(grad),
        ]);
    }
    fn matrix<'a>(
        &'a self,
        name: &str,
        w: &'a [f64],
        w0: &'a [f64],
    ) -> crate::Result<(usize, usize, &'a [f64])> {
        let (ur, vr) = (
            0..self.d1 * self.r,
            self.d1 * self.r..(self.d1 + self.d2) * self.r,
        );
        Ok(match name {
            "U" => (self.d1, self.r, &w[ur]),
            "V" => (self.d2, self.r, &w[vr]),
            "U0" | "U_0" => (self.d1, self.r, &w0[ur]),
            "V0" | "V_0" => (self.d2, self.r, &w0[vr]),
            "target" => (self.d1, self.d2, &self.target[..]),
            _ => {
                return Err(crate::Error::request(
                    "matrix",
                    format!("no matrix named {name:?} (expected U, V, U0, V0 or target)"),
                ))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Below the size threshold the chunks run on the calling thread; above it on the pool; the
    /// bits are the same on both sides of it and either way (small-rank and GEMM paths).
    #[test]
    fn sequential_and_pool_give_the_same_bits_around_the_threshold() {
        for &(d1, d2, r) in &[(20, 30, 3), (300, 300, 5), (200, 150, 12)] {
            let m: Vec<f64> = (0..d1 * d2)
                .map(|i| ((i * 7919) % 1000) as f64 / 1000.0 - 0.5)
                .collect();
            let w: Vec<f64> = (0..(d1 + d2) * r)
                .map(|i| ((i * 31) % 100) as f64 / 1e3 - 0.05)
                .collect();
            let mut out = Vec::new();
            for par in [Parallelism::Sequential, Parallelism::Rayon] {
                let mut model = MatrixFactorization::new(d1, d2, r, 0.125, m.clone());
                model.set_parallelism(par);
                let mut g = vec![0.0; w.len()];
                let p = model.eval(&w, &mut g);
                out.push((p.data.to_bits(), p.balance.to_bits(), g));
            }
            assert_eq!(out[0].0, out[1].0);
            assert_eq!(out[0].1, out[1].1);
            assert!(out[0]
                .2
                .iter()
                .zip(&out[1].2)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
        }
        assert_eq!(
            Parallelism::Rayon.for_work(6 * 100 * 100 * 5),
            Parallelism::Sequential
        );
        assert_eq!(
            Parallelism::Rayon.for_work(6 * 1000 * 1000 * 5),
            Parallelism::Rayon
        );
    }
}
