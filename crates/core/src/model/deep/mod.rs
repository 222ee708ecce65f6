//! Deep networks with smooth activations (Du 2019, thesis chapter 3; docs/deep-networks.md):
//!
//! - fully connected: x^(0) = x, x^(h) = sqrt(c_sigma/m) sigma(W^(h) x^(h-1)), h = 1..H;
//! - ResNet: x^(1) = sqrt(c_sigma/m) sigma(W^(1) x) (plain first layer),
//!   x^(h) = x^(h-1) + c_res/(H sqrt m) sigma(W^(h) x^(h-1)), h = 2..H;
//! - convolutional ResNet (1-D): x in R^{d0 x p}; phi_h cuts p patches of q columns (stride 1,
//!   zero padding); x^(1) = sqrt(c_sigma/m) sigma(W^(1) phi_1(x)) in R^{m x p},
//!   x^(h) = x^(h-1) + c_res/(H sqrt m) sigma(W^(h) phi_h(x^(h-1)));
//!
//! output f(x) = sum_{r,l} a_{r l} x^(H)_{r l} (p = 1 for the first two), loss
//! L = 1/2 sum_i (f(x_i) - y_i)^2 (a SUM over the n samples, the chapter's convention), every
//! W^(h) and a trained. c_sigma = 1 / E[sigma(z)^2], z ~ N(0, 1), by Gauss-Hermite quadrature.
//!
//! One code path for the three: a layer maps `rows x c` (one row per sample and position,
//! `rows = n p`) to `rows x m` through its patches `P = phi(X)` (`rows x q c`; `P = X` when
//! q = 1): Z = P W^T, X' = [skip] X + alpha sigma(Z). The fully connected net and the ResNet are
//! the case p = q = 1. A patch lists its q columns (offsets -(q-1)/2 .. (q-1)/2) one after the
//! other, each with its c channels: W^(h)[r, k c + j] multiplies channel j at offset k - (q-1)/2.
//!
//! Samples are split into a fixed number of chunks (set by n, never by the thread count),
//! evaluated independently (in parallel with rayon) and summed in chunk order: the same bits on
//! any number of threads.

pub mod family;
pub mod hvp;

pub use family::DeepSmoothFamily;

use crate::error::{Error, Result};
use crate::linalg::{gemm, norm, Layout};
use crate::model::{Block, Column, Model, Role};
use crate::par::Parallelism;

/// Most sample chunks per evaluation.
const CHUNKS: usize = 4;
/// Fewest samples per chunk (below this, fewer chunks).
const MIN_SAMPLES: usize = 16;

fn chunk_count(n: usize) -> usize {
    CHUNKS.min(n.div_ceil(MIN_SAMPLES)).max(1)
}

/// Gauss-Hermite nodes for c_sigma (tanh needs about 150 for 1e-14; docs/deep-networks.md).
pub const CSIGMA_NODES: usize = 150;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    FullyConnected,
    Resnet,
    ConvResnet,
}

impl Architecture {
    pub fn name(self) -> &'static str {
        match self {
            Architecture::FullyConnected => "fullyConnected",
            Architecture::Resnet => "resnet",
            Architecture::ConvResnet => "convResnet",
        }
    }
}

pub use crate::quadrature::Activation;

/// c_sigma = 1 / E[sigma(z)^2], z ~ N(0, 1): the shared Gauss-Hermite rule (`crate::quadrature`)
/// with [`CSIGMA_NODES`] nodes (ReLU: exactly 2).
pub fn c_sigma(act: Activation) -> f64 {
    crate::quadrature::c_sigma(act, CSIGMA_NODES).expect("CSIGMA_NODES is a valid rule size")
}

/// One layer: W is `m x q cin` at `off`; X' = [skip] X + alpha sigma(P W^T).
#[derive(Debug, Clone)]
pub struct Layer {
    pub cin: usize,
    pub off: usize,
    pub alpha: f64,
    pub skip: bool,
}

impl Layer {
    fn len(&self, m: usize, q: usize) -> usize {
        m * q * self.cin
    }
}

/// The network's shape (everything but the data and the parameters).
#[derive(Debug, Clone)]
pub struct Shape {
    pub arch: Architecture,
    pub act: Activation,
    /// H.
    pub depth: usize,
    /// m.
    pub width: usize,
    /// Input channels (d for the fully connected net and the ResNet).
    pub d: usize,
    /// Positions (1 unless convolutional).
    pub p: usize,
    /// Patch width (1 unless convolutional).
    pub q: usize,
    pub c_sigma: f64,
    pub c_res: f64,
    pub layers: Vec<Layer>,
    /// Offset of a (m x p).
    pub a_off: usize,
    pub dim: usize,
}

impl Shape {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        arch: Architecture,
        act: Activation,
        depth: usize,
        width: usize,
        d: usize,
        p: usize,
        q: usize,
        c_res: f64,
    ) -> Shape {
        let c_sigma = c_sigma(act);
        let m = width;
        let mf = m as f64;
        let mut off = 0;
        let layers = (0..depth)
            .map(|h| {
                let cin = if h == 0 { d } else { m };
                let (alpha, skip) = if h == 0 || arch == Architecture::FullyConnected {
                    (libm::sqrt(c_sigma / mf), false)
                } else {
                    (c_res / (depth as f64 * libm::sqrt(mf)), true)
                };
                let l = Layer {
                    cin,
                    off,
                    alpha,
                    skip,
                };
                off += l.len(m, q);
                l
            })
            .collect();
        Shape {
            arch,
            act,
            depth,
            width,
            d,
            p,
            q,
            c_sigma,
            c_res,
            layers,
            a_off: off,
            dim: off + m * p,
        }
    }
    pub fn blocks(&self) -> Vec<Block> {
        let m = self.width;
        let mut b: Vec<Block> = self
            .layers
            .iter()
            .enumerate()
            .map(|(h, l)| Block {
                name: format!("W{}", h + 1),
                offset: l.off,
                rows: m,
                cols: self.q * l.cin,
            })
            .collect();
        b.push(Block {
            name: "a".into(),
            offset: self.a_off,
            rows: m,
            cols: self.p,
        });
        b
    }
    fn weights<'a>(&self, w: &'a [f64], h: usize) -> &'a [f64] {
        let l = &self.layers[h];
        &w[l.off..l.off + l.len(self.width, self.q)]
    }
    fn max_c(&self) -> usize {
        self.d.max(self.width)
    }
}

/// The patches of `x` (`rows x c`, rows = samples x p positions) into `out` (`rows x q c`):
/// row (i, l) holds x[(i, l + k - (q-1)/2), :] for k = 0..q, zero outside 0..p.
pub(crate) fn im2col(x: &[f64], rows: usize, c: usize, p: usize, q: usize, out: &mut [f64]) {
    let r = (q / 2) as isize;
    let qc = q * c;
    for row in 0..rows {
        let l = (row % p) as isize;
        let base = row as isize - l;
        let o = &mut out[row * qc..(row + 1) * qc];
        for k in 0..q {
            let src = l + k as isize - r;
            let dst = &mut o[k * c..(k + 1) * c];
            if src < 0 || src >= p as isize {
                dst.fill(0.0);
            } else {
                let s = (base + src) as usize;
                dst.copy_from_slice(&x[s * c..(s + 1) * c]);
            }
        }
    }
}

/// The adjoint of [`im2col`]: `x += col2im(dp)`.
pub(crate) fn col2im_add(dp: &[f64], rows: usize, c: usize, p: usize, q: usize, x: &mut [f64]) {
    let r = (q / 2) as isize;
    let qc = q * c;
    for row in 0..rows {
        let l = (row % p) as isize;
        let base = row as isize - l;
        let o = &dp[row * qc..(row + 1) * qc];
        for k in 0..q {
            let src = l + k as isize - r;
            if src < 0 || src >= p as isize {
                continue;
            }
            let s = (base + src) as usize;
            for (xi, di) in x[s * c..(s + 1) * c].iter_mut().zip(&o[k * c..(k + 1) * c]) {
                *xi += di;
            }
        }
    }
}

/// `z = p w^T` (p: rows x k, w: m x k, z: rows x m).
pub(crate) fn mul_wt(p: &[f64], rows: usize, k: usize, w: &[f64], m: usize, z: &mut [f64]) {
    gemm(
        1.0,
        p,
        Layout::row_major(rows, k),
        w,
        Layout::row_major(m, k).t(),
        0.0,
        z,
        Layout::row_major(rows, m),
    );
}

/// `g (+)= beta g + dz^T p` (dz: rows x m, p: rows x k, g: m x k).
pub(crate) fn grad_w(
    dz: &[f64],
    rows: usize,
    m: usize,
    p: &[f64],
    k: usize,
    beta: f64,
    g: &mut [f64],
) {
    gemm(
        1.0,
        dz,
        Layout::row_major(rows, m).t(),
        p,
        Layout::row_major(rows, k),
        beta,
        g,
        Layout::row_major(m, k),
    );
}

/// `dp (+)= dz w` (dz: rows x m, w: m x k, dp: rows x k).
pub(crate) fn back_w(
    dz: &[f64],
    rows: usize,
    m: usize,
    w: &[f64],
    k: usize,
    beta: f64,
    dp: &mut [f64],
) {
    gemm(
        1.0,
        dz,
        Layout::row_major(rows, m),
        w,
        Layout::row_major(m, k),
        beta,
        dp,
        Layout::row_major(rows, k),
    );
}

/// One chunk of samples and its buffers (rows = samples x p).
pub(crate) struct Chunk {
    pub start: usize,
    pub len: usize,
    /// Pre-activations Z_h and outputs X_h per layer (rows x m).
    pub z: Vec<Vec<f64>>,
    pub x: Vec<Vec<f64>>,
    /// Patches (rows x q max(d, m)).
    pub pbuf: Vec<f64>,
    /// dL/dX (rows x max(d, m)), two for swapping.
    pub g: Vec<f64>,
    pub g2: Vec<f64>,
    /// dL/dZ (rows x m), dL/dP (rows x q max(d, m)).
    pub dz: Vec<f64>,
    pub dp: Vec<f64>,
    /// Predictions of the chunk's samples.
    pub u: Vec<f64>,
    pub grad: Vec<f64>,
    pub loss: f64,
    /// The Hessian-vector product's buffers (allocated at the first product; reserved).
    pub r: Option<hvp::RBufs>,
}

impl Chunk {
    fn new(s: &Shape, start: usize, len: usize) -> Chunk {
        let rows = len * s.p;
        let m = s.width;
        let qc = s.q * s.max_c();
        Chunk {
            start,
            len,
            z: (0..s.depth).map(|_| vec![0.0; rows * m]).collect(),
            x: (0..s.depth).map(|_| vec![0.0; rows * m]).collect(),
            pbuf: vec![0.0; if s.q > 1 { rows * qc } else { 0 }],
            g: vec![0.0; rows * s.max_c()],
            g2: vec![0.0; rows * s.max_c()],
            dz: vec![0.0; rows * m],
            dp: vec![0.0; rows * qc],
            u: vec![0.0; len],
            grad: vec![0.0; s.dim],
            loss: 0.0,
            r: None,
        }
    }
    /// Doubles of one chunk of `cap` samples, without and with the HVP's buffers.
    fn doubles(
        depth: u128,
        m: u128,
        maxc: u128,
        p: u128,
        q: u128,
        cap: u128,
        dim: u128,
    ) -> (u128, u128) {
        let rows = cap * p;
        let qc = q * maxc;
        let pb = if q > 1 { rows * qc } else { 0 };
        let base = 2 * depth * rows * m + pb + 2 * rows * maxc + rows * m + rows * qc + cap + dim;
        (base, hvp::RBufs::doubles(depth, m, maxc, p, q, cap, dim))
    }
}

/// The forward pass of one chunk: `c.z`, `c.x` and `c.u` at `w` (`x0`: the chunk's input rows).
pub(crate) fn forward(s: &Shape, w: &[f64], x0: &[f64], c: &mut Chunk) {
    let rows = c.len * s.p;
    let m = s.width;
    let Chunk { z, x, pbuf, u, .. } = c;
    for (h, l) in s.layers.iter().enumerate() {
        let (below, here) = x.split_at_mut(h);
        let input: &[f64] = if h == 0 { x0 } else { &below[h - 1] };
        let k = s.q * l.cin;
        let pm: &[f64] = if s.q == 1 {
            &input[..rows * l.cin]
        } else {
            im2col(input, rows, l.cin, s.p, s.q, &mut pbuf[..rows * k]);
            &pbuf[..rows * k]
        };
        let zh = &mut z[h][..rows * m];
        mul_wt(pm, rows, k, s.weights(w, h), m, zh);
        let xh = &mut here[0][..rows * m];
        if l.skip {
            for ((xo, zi), xi) in xh.iter_mut().zip(zh.iter()).zip(input) {
                *xo = xi + l.alpha * s.act.sigma(*zi);
            }
        } else {
            for (xo, zi) in xh.iter_mut().zip(zh.iter()) {
                *xo = l.alpha * s.act.sigma(*zi);
            }
        }
    }
    // u_i = sum_{r,l} a[r p + l] X_H[(i, l), r]
    let a = &w[s.a_off..s.a_off + m * s.p];
    let xh = &x[s.depth - 1];
    for (i, ui) in u.iter_mut().enumerate().take(c.len) {
        let mut t = 0.0;
        for l in 0..s.p {
            let row = &xh[(i * s.p + l) * m..(i * s.p + l + 1) * m];
            for (r, v) in row.iter().enumerate() {
                t += a[r * s.p + l] * v;
            }
        }
        *ui = t;
    }
}

/// Loss and gradient of one chunk (forward, then backward), into `c.loss`, `c.grad`.
pub(crate) fn loss_grad_chunk(s: &Shape, w: &[f64], x0: &[f64], y: &[f64], c: &mut Chunk) {
    forward(s, w, x0, c);
    let rows = c.len * s.p;
    let m = s.width;
    let p = s.p;
    let a = &w[s.a_off..s.a_off + m * p];
    let Chunk {
        z,
        x,
        pbuf,
        g,
        g2,
        dz,
        dp,
        u,
        grad,
        loss,
        ..
    } = c;
    grad.fill(0.0);
    // Output: e_i = u_i - y_i; dL/da[r p + l] = sum_i e_i X_H[(i,l), r]; G = dL/dX_H.
    let mut lsum = 0.0;
    let xh = &x[s.depth - 1];
    let ga = &mut grad[s.a_off..s.a_off + m * p];
    for (i, (ui, yi)) in u.iter().zip(y).enumerate() {
        let e = ui - yi;
        lsum += e * e;
        for l in 0..p {
            let row = (i * p + l) * m;
            for r in 0..m {
                ga[r * p + l] += e * xh[row + r];
                g[row + r] = e * a[r * p + l];
            }
        }
    }
    *loss = 0.5 * lsum;
    let mut cur = std::mem::take(g);
    let mut nxt = std::mem::take(g2);
    for h in (0..s.depth).rev() {
        let l = &s.layers[h];
        let zh = &z[h][..rows * m];
        let dzh = &mut dz[..rows * m];
        for ((d, gi), zi) in dzh.iter_mut().zip(&cur[..rows * m]).zip(zh) {
            *d = l.alpha * gi * s.act.d1(*zi);
        }
        let input: &[f64] = if h == 0 { x0 } else { &x[h - 1] };
        let k = s.q * l.cin;
        let pm: &[f64] = if s.q == 1 {
            &input[..rows * l.cin]
        } else {
            im2col(input, rows, l.cin, p, s.q, &mut pbuf[..rows * k]);
            &pbuf[..rows * k]
        };
        let gw = &mut grad[l.off..l.off + m * k];
        grad_w(dzh, rows, m, pm, k, 0.0, gw);
        if h > 0 {
            let wh = s.weights(w, h);
            let nx = &mut nxt[..rows * l.cin];
            if s.q == 1 {
                back_w(dzh, rows, m, wh, k, 0.0, nx);
            } else {
                let dph = &mut dp[..rows * k];
                back_w(dzh, rows, m, wh, k, 0.0, dph);
                nx.fill(0.0);
                col2im_add(dph, rows, l.cin, p, s.q, nx);
            }
            if l.skip {
                for (a, b) in nx.iter_mut().zip(&cur[..rows * l.cin]) {
                    *a += b;
                }
            }
            std::mem::swap(&mut cur, &mut nxt);
        }
    }
    *g = cur;
    *g2 = nxt;
}

/// The finite-width Gram G^(H) is computed every `every` recorded rows (row 0 included).
#[derive(Debug, Clone, Copy)]
pub struct GramSpec {
    pub every: u64,
}

/// A deep smooth network and its data.
pub struct DeepNet {
    pub shape: Shape,
    /// Samples.
    pub n: usize,
    /// Inputs as rows (sample, position) x d: n p x d.
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    blocks: Vec<Block>,
    pub(crate) chunks: Vec<Chunk>,
    pub(crate) par: Parallelism,
    w0: Vec<f64>,
    gram: Option<GramSpec>,
    /// Recorded rows so far (for `gram.every`).
    rows_seen: u64,
    /// The data as given (n x d p, channel-major per sample), for `matrix("X")`.
    x_given: Vec<f64>,
}

impl DeepNet {
    /// Working doubles beyond the data and the parameters (chunks, HVP, Gram scratch), u64.
    #[allow(clippy::too_many_arguments)]
    pub fn workspace(depth: u64, m: u64, d: u64, p: u64, q: u64, n: u64, gram: bool) -> u64 {
        let (depth, m, d, p, q, n) = (
            depth as u128,
            m as u128,
            d as u128,
            p as u128,
            q as u128,
            n as u128,
        );
        let nc = (CHUNKS as u128).min(n.div_ceil(MIN_SAMPLES as u128)).max(1);
        let cap = n.div_ceil(nc);
        let dim = m * q * d + depth.saturating_sub(1) * m * q * m + m * p;
        let maxc = d.max(m);
        let (base, r) = Chunk::doubles(depth, m, maxc, p, q, cap, dim);
        // Gram: B (np x m), P (np x q c), two np x np products, the n x n Gram and the
        // eigen-solver's copies (a few n x n).
        let np = n * p;
        let g = if gram {
            np * m + np * q * maxc + 2 * np * np + 6 * n * n
        } else {
            0
        };
        (nc * (base + r) + g).min(u64::MAX as u128) as u64
    }

    /// `x_given`: n x (d p), sample i's channel j at position l at column j p + l.
    pub fn new(shape: Shape, x_given: Vec<f64>, y: Vec<f64>, gram: Option<GramSpec>) -> DeepNet {
        let n = y.len();
        let (d, p) = (shape.d, shape.p);
        let mut x = vec![0.0; n * p * d];
        for i in 0..n {
            for j in 0..d {
                for l in 0..p {
                    x[(i * p + l) * d + j] = x_given[i * d * p + j * p + l];
                }
            }
        }
        let nc = chunk_count(n);
        let cap = n.div_ceil(nc);
        let chunks = (0..nc)
            .map(|k| {
                let start = (k * cap).min(n);
                let end = ((k + 1) * cap).min(n);
                Chunk::new(&shape, start, end - start)
            })
            .collect();
        DeepNet {
            blocks: shape.blocks(),
            w0: vec![0.0; shape.dim],
            shape,
            n,
            x,
            y,
            chunks,
            par: Parallelism::default(),
            gram,
            rows_seen: 0,
            x_given,
        }
    }

    fn input(&self, c: &Chunk) -> &[f64] {
        let rd = self.shape.p * self.shape.d;
        &self.x[c.start * rd..(c.start + c.len) * rd]
    }

    /// The predictions u at `w` (one forward pass).
    pub fn predict(&mut self, w: &[f64]) -> Vec<f64> {
        let mut chunks = std::mem::take(&mut self.chunks);
        let (s, x) = (&self.shape, &self.x);
        let rd = s.p * s.d;
        self.par.for_each(&mut chunks, |_, c| {
            let x0 = &x[c.start * rd..(c.start + c.len) * rd];
            forward(s, w, x0, c);
        });
        let u = chunks.iter().flat_map(|c| c.u[..c.len].to_vec()).collect();
        self.chunks = chunks;
        u
    }

    /// The finite-width Gram of the last layer at `w`: G^(H)_ij = <du_i/dW^(H), du_j/dW^(H)>
    /// (n x n, row-major). With B[(i,l), r] = alpha_H a[r, l] sigma'(Z_H[(i,l), r]) and the
    /// patches P = phi_H(X_{H-1}): G_ij = sum_{l,l'} <B_il, B_jl'> <P_il, P_jl'> (for p = 1:
    /// (c/m) x_i^(H-1)^T x_j^(H-1) sum_r a_r^2 sigma'(.) sigma'(.), the chapter's formula).
    pub fn gram_last(&mut self, w: &[f64]) -> Vec<f64> {
        let _ = self.predict(w);
        let s = &self.shape;
        let (m, p, q) = (s.width, s.p, s.q);
        let hl = s.depth - 1;
        let l = &s.layers[hl];
        let k = q * l.cin;
        let np = self.n * p;
        let a = &w[s.a_off..s.a_off + m * p];
        let mut b = vec![0.0; np * m];
        let mut pm = vec![0.0; np * k];
        for c in &self.chunks {
            let rows = c.len * p;
            let r0 = c.start * p;
            let zh = &c.z[hl];
            for row in 0..rows {
                let li = row % p;
                for r in 0..m {
                    b[(r0 + row) * m + r] = l.alpha * a[r * p + li] * s.act.d1(zh[row * m + r]);
                }
            }
            let input: &[f64] = if hl == 0 { self.input(c) } else { &c.x[hl - 1] };
            if q == 1 {
                pm[r0 * k..(r0 + rows) * k].copy_from_slice(&input[..rows * k]);
            } else {
                im2col(input, rows, l.cin, p, q, &mut pm[r0 * k..(r0 + rows) * k]);
            }
        }
        let mut gb = vec![0.0; np * np];
        let mut gp = vec![0.0; np * np];
        gemm(
            1.0,
            &b,
            Layout::row_major(np, m),
            &b,
            Layout::row_major(np, m).t(),
            0.0,
            &mut gb,
            Layout::row_major(np, np),
        );
        gemm(
            1.0,
            &pm,
            Layout::row_major(np, k),
            &pm,
            Layout::row_major(np, k).t(),
            0.0,
            &mut gp,
            Layout::row_major(np, np),
        );
        let n = self.n;
        let mut g = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                let mut t = 0.0;
                for l1 in 0..p {
                    let ri = (i * p + l1) * np;
                    for l2 in 0..p {
                        let cj = j * p + l2;
                        t += gb[ri + cj] * gp[ri + cj];
                    }
                }
                g[i * n + j] = t;
            }
        }
        g
    }
}

/// The smallest eigenvalue of a symmetric n x n matrix (row-major; symmetrized first).
pub fn lambda_min(g: &[f64], n: usize) -> f64 {
    if !crate::linalg::all_finite(&g[..n * n]) {
        return f64::NAN;
    }
    let mut mat = nalgebra::DMatrix::<f64>::zeros(n, n);
    for i in 0..n {
        for j in 0..n {
            mat[(i, j)] = 0.5 * (g[i * n + j] + g[j * n + i]);
        }
    }
    match nalgebra::SymmetricEigen::try_new(mat, f64::EPSILON, 1_000_000) {
        Some(e) => e.eigenvalues.iter().cloned().fold(f64::INFINITY, f64::min),
        None => f64::NAN,
    }
}

impl Model for DeepNet {
    fn dim(&self) -> usize {
        self.shape.dim
    }
    fn blocks(&self) -> &[Block] {
        &self.blocks
    }
    fn loss_grad(&mut self, w: &[f64], grad: &mut [f64]) -> f64 {
        let mut chunks = std::mem::take(&mut self.chunks);
        let (s, x, y) = (&self.shape, &self.x, &self.y);
        let rd = s.p * s.d;
        self.par.for_each(&mut chunks, |_, c| {
            let x0 = &x[c.start * rd..(c.start + c.len) * rd];
            let yc = &y[c.start..c.start + c.len];
            loss_grad_chunk(s, w, x0, yc, c);
        });
        grad.fill(0.0);
        let mut loss = 0.0;
        for c in &chunks {
            loss += c.loss;
            for (g, v) in grad.iter_mut().zip(&c.grad) {
                *g += v;
            }
        }
        self.chunks = chunks;
        loss
    }
    fn hvp(&mut self, w: &[f64], v: &[f64], out: &mut [f64]) {
        hvp::hvp(self, w, v, out)
    }
    fn hvp_exact(&self) -> bool {
        true
    }
    fn end_queries(&mut self) {}
    fn set_parallelism(&mut self, par: Parallelism) {
        self.par = par;
    }
    fn set_reference(&mut self, w0: &[f64]) {
        self.w0.copy_from_slice(w0);
        self.rows_seen = 0;
    }
    fn columns(&self) -> Vec<Column> {
        let mut v = vec![
            Column::new("loss", Role::Loss),
            Column::new("gradNorm", Role::GradNorm),
            Column::new("maxLayerDist", Role::Other),
        ];
        if self.gram.is_some() {
            v.push(Column::new("lambdaMinG", Role::Other));
        }
        v
    }
    fn metrics(&mut self, w: &[f64], grad: &[f64], loss: f64, out: &mut Vec<f64>) {
        out.push(loss);
        out.push(norm(grad));
        let dist = self
            .blocks
            .iter()
            .map(|b| {
                let r = b.range();
                w[r.clone()]
                    .iter()
                    .zip(&self.w0[r])
                    .map(|(x, y)| (x - y) * (x - y))
                    .sum::<f64>()
            })
            .fold(0.0, f64::max);
        out.push(libm::sqrt(dist));
        if let Some(g) = self.gram {
            let due = self.rows_seen.is_multiple_of(g.every);
            self.rows_seen += 1;
            if due {
                let gm = self.gram_last(w);
                out.push(lambda_min(&gm, self.n));
            } else {
                out.push(f64::NAN);
            }
        }
    }
    fn matrix<'a>(
        &'a self,
        name: &str,
        w: &'a [f64],
        w0: &'a [f64],
    ) -> Result<(usize, usize, &'a [f64])> {
        let s = &self.shape;
        match name {
            "X" => return Ok((self.n, s.d * s.p, &self.x_given)),
            "Y" => return Ok((self.n, 1, &self.y)),
            _ => {}
        }
        let (base, src) = match name.strip_suffix("_0") {
            Some(b) => (b, w0),
            None => (name, w),
        };
        match self.blocks.iter().find(|b| b.name == base) {
            Some(b) => Ok((b.rows, b.cols, &src[b.range()])),
            None => Err(Error::request(
                "matrix",
                format!(
                    "no matrix named {name:?} (expected W1..W{}, a, with suffix _0 for the \
                     initial value, X or Y)",
                    s.depth
                ),
            )),
        }
    }
}
