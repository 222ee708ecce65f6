//! Exact Hessian-vector products of the network losses (`model::net`), by the R-operator
//! (Pearlmutter 1994): forward-over-reverse differentiation of the backpropagation pass.
//!
//! Notation (one sample per row, all samples at once): A_{-1} = X, per layer h
//! Z_h = A_{h-1} W_h^T + 1 b_h^T, A_h = phi_h(Z_h) = D_h o Z_h with D_h = phi_h'(Z_h) (0/1 for
//! ReLU, slope/1 for leaky ReLU, all ones for linear), F = Z_{N-1}. The gradient is
//! G = dL/dF, delta_{N-1} = G, grad W_h = delta_h^T A_{h-1}, grad b_h = 1^T delta_h,
//! delta_{h-1} = (delta_h W_h) o D_{h-1}.
//!
//! Along a direction v = (dW_h, db_h) the R-operator R{.} = d/dt (.)(w + t v) at t = 0 gives
//!
//! - forward: R A_{-1} = 0, R Z_h = R A_{h-1} W_h^T + A_{h-1} dW_h^T + 1 db_h^T,
//!   R A_h = D_h o R Z_h;
//! - output: R G = H_F R F per sample, H_F = I/m (squared loss) or
//!   (sum_k y_k) (diag p - p p^T)/m with p = softmax(f) (cross-entropy);
//! - backward: R delta_{N-1} = R G,
//!   (H v)_{W_h} = R delta_h^T A_{h-1} + delta_h^T R A_{h-1}, (H v)_{b_h} = 1^T R delta_h,
//!   R delta_{h-1} = (R delta_h W_h + delta_h dW_h) o D_{h-1}.
//!
//! ReLU and leaky ReLU are piecewise linear: phi'' = 0 wherever it exists, so R D_h = 0 and the
//! activation pattern D_h is the one at w (phi'(0) = 0 for ReLU, the slope for leaky ReLU, as in
//! the gradient). This is the exact Hessian at every w where no pre-activation is exactly 0 (the
//! loss is then smooth in a neighbourhood), i.e. almost everywhere; at a kink it is the Hessian of
//! the smooth piece selected by that convention.
//!
//! Shared / sparse / convolutional layers: W_h = P_h v_h is linear in the free parameters, so
//! dW_h = P_h dv_h (`Pattern::expand`) and the v-block of H v is P_h^T of the dense W-block
//! (`Pattern::gather`), exactly as the gradient is mapped back; shared biases likewise through the
//! bias map. The Hessian is P^T H_W P (no curvature term from the pattern: it is linear).
//!
//! The Hessian is that of the model's loss L only: a session's weight decay
//! (weightDecay / 2 ||w||^2, whose Hessian is weightDecay I) is not included.

use crate::linalg::{dot, gemm, Layout};
use std::ops::Range;

use super::{affine, forward_pass, Layer, Loss, Network};
use crate::model::Model;

/// Most doubles spent on the raw symmetry tangents (number of tangents x dim); above this
/// `symmetry_dim` / `symmetry_tangents` answer `None`.
pub const MAX_TANGENT_DOUBLES: usize = 1 << 24;

/// Dense weights of layer `l` from the parameter slice `p` (the whole parameter vector).
fn dense_weights(l: &Layer, p: &[f64]) -> Vec<f64> {
    let src = &p[l.w_off..l.w_off + l.w_len];
    match &l.pattern {
        Some(pat) => {
            let mut d = vec![0.0; l.rows * l.cols];
            pat.expand(src, &mut d);
            d
        }
        None => src.to_vec(),
    }
}

fn mask(d: &[f64], x: &mut [f64]) {
    if !d.is_empty() {
        for (xi, di) in x.iter_mut().zip(d) {
            *xi *= di;
        }
    }
}

/// Most row chunks per HVP and fewest rows per chunk (as for the gradient): the chunks are
/// independent of the thread count and summed in order, so results do not depend on it.
const CHUNKS: usize = 4;
const MIN_ROWS: usize = 64;

/// The parts of a Hessian-vector product that depend on the point only (the forward pass, the
/// activation derivatives, the backpropagated deltas), per row chunk, kept for the next product
/// at the same point: a Lanczos run applies H(w) to hundreds of vectors at one w.
pub(crate) struct HvpCache {
    w: Vec<f64>,
    wd: Vec<Vec<f64>>,
    chunks: Vec<ChunkFwd>,
}

/// One row chunk's forward pass: per layer h, A_h (activations), D_h (phi'(Z_h)) and delta_h
/// (dL/dZ_h).
struct ChunkFwd {
    acts: Vec<Vec<f64>>,
    ders: Vec<Vec<f64>>,
    deltas: Vec<Vec<f64>>,
}

/// Row range of chunk `c` of `nc` over `m` samples.
fn chunk_rows(c: usize, nc: usize, m: usize) -> (usize, usize) {
    let per = m.div_ceil(nc);
    ((c * per).min(m), ((c + 1) * per).min(m))
}

/// Exact `out = H(w) v` for the network's loss over all its samples (see the module docs).
/// Samples are split into row chunks evaluated independently (in parallel with the `parallel`
/// feature) and summed in chunk order.
pub fn net_hvp(net: &Network, w: &[f64], v: &[f64], out: &mut [f64]) {
    let mut cache = None;
    net_hvp_cached(net, &mut cache, w, v, out);
}

/// [`net_hvp`], reusing `cache` when it holds the same point `w` (compared bit for bit) and
/// refilling it otherwise. The result is the same, bit for bit, either way.
pub(crate) fn net_hvp_cached(
    net: &Network,
    cache: &mut Option<HvpCache>,
    w: &[f64],
    v: &[f64],
    out: &mut [f64],
) {
    out.fill(0.0);
    let m = net.m;
    if m == 0 || net.layers.is_empty() {
        return;
    }
    let nc = CHUNKS.min(m.div_ceil(MIN_ROWS)).max(1);
    let (d_in, d_out) = (net.input_dim, net.output_dim());
    let inv_m = 1.0 / m as f64;
    let fresh = match cache {
        Some(c) => {
            c.w.len() != w.len() || c.w.iter().zip(w).any(|(a, b)| a.to_bits() != b.to_bits())
        }
        None => true,
    };
    if fresh {
        let wd: Vec<Vec<f64>> = net.layers.iter().map(|l| dense_weights(l, w)).collect();
        let chunks = net.par.map(nc, |c| {
            let (lo, hi) = chunk_rows(c, nc, m);
            forward(
                net,
                w,
                &wd,
                inv_m,
                &net.x[lo * d_in..hi * d_in],
                &net.y[lo * d_out..hi * d_out],
                hi - lo,
            )
        });
        *cache = Some(HvpCache {
            w: w.to_vec(),
            wd,
            chunks,
        });
    }
    let c = cache.as_ref().expect("filled above");
    let dwd: Vec<Vec<f64>> = net.layers.iter().map(|l| dense_weights(l, v)).collect();
    let ctx = HvpCtx {
        net,
        v,
        wd: &c.wd,
        dwd: &dwd,
        inv_m,
    };
    let parts = net.par.map(nc, |k| {
        let (lo, hi) = chunk_rows(k, nc, m);
        let mut part = vec![0.0; out.len()];
        ctx.rows(
            &c.chunks[k],
            &net.x[lo * d_in..hi * d_in],
            &net.y[lo * d_out..hi * d_out],
            hi - lo,
            &mut part,
        );
        part
    });
    // The chunks' parts, summed in chunk order (the same bits on any thread count), by ranges of
    // `out` in parallel.
    net.par
        .for_work(parts.len() * out.len())
        .for_each_chunk(out, SUM_BLOCK, |t, o| {
            let (lo, len) = (t * SUM_BLOCK, o.len());
            for p in &parts {
                for (oi, x) in o.iter_mut().zip(&p[lo..lo + len]) {
                    *oi += x;
                }
            }
        });
}

/// Entries of the HVP per task of the parallel sum of the chunks' parts.
const SUM_BLOCK: usize = 1 << 14;

/// The forward pass and backpropagation of `n` samples at the point (weights `wd`, biases in
/// `w`): activations, derivatives and deltas per layer.
fn forward(
    net: &Network,
    w: &[f64],
    wd: &[Vec<f64>],
    inv_m: f64,
    x: &[f64],
    y: &[f64],
    n: usize,
) -> ChunkFwd {
    let nl = net.layers.len();
    let mut acts: Vec<Vec<f64>> = net.layers.iter().map(|l| vec![0.0; n * l.rows]).collect();
    let mut ders: Vec<Vec<f64>> = net
        .layers
        .iter()
        .map(|l| {
            if l.activation.is_linear() {
                Vec::new()
            } else {
                vec![0.0; n * l.rows]
            }
        })
        .collect();
    forward_pass(
        &net.layers,
        |h| &wd[h],
        w,
        x,
        n,
        &mut acts,
        Some((&mut ders[..], false)),
    );
    // Output: G = dL/dF, then delta_{h-1} = (delta_h W_h) o D_{h-1}.
    let out_dim = net.layers[nl - 1].rows;
    let f = &acts[nl - 1];
    let mut delta = vec![0.0; n * out_dim];
    match net.loss {
        Loss::Squared => {
            for i in 0..n * out_dim {
                delta[i] = (f[i] - y[i]) * inv_m;
            }
        }
        Loss::CrossEntropy => {
            for r in 0..n {
                let s = r * out_dim..(r + 1) * out_dim;
                let p = softmax(&f[s.clone()]);
                let sy: f64 = y[s.clone()].iter().sum();
                for k in 0..out_dim {
                    delta[s.start + k] = (sy * p[k] - y[s.start + k]) * inv_m;
                }
            }
        }
    }
    let mut deltas = vec![Vec::new(); nl];
    for h in (0..nl).rev() {
        let l = &net.layers[h];
        let next = if h > 0 {
            let mut nd = vec![0.0; n * l.cols];
            gemm(
                1.0,
                &delta,
                Layout::row_major(n, l.rows),
                &wd[h],
                Layout::row_major(l.rows, l.cols),
                0.0,
                &mut nd,
                Layout::row_major(n, l.cols),
            );
            mask(&ders[h - 1], &mut nd);
            nd
        } else {
            Vec::new()
        };
        deltas[h] = std::mem::replace(&mut delta, next);
    }
    ChunkFwd { acts, ders, deltas }
}

/// softmax of one row (max-shifted).
fn softmax(f: &[f64]) -> Vec<f64> {
    let mx = f.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mut p: Vec<f64> = f.iter().map(|fi| libm::exp(fi - mx)).collect();
    let tot: f64 = p.iter().sum();
    p.iter_mut().for_each(|pi| *pi /= tot);
    p
}

struct HvpCtx<'a> {
    net: &'a Network,
    v: &'a [f64],
    wd: &'a [Vec<f64>],
    dwd: &'a [Vec<f64>],
    inv_m: f64,
}

impl HvpCtx<'_> {
    /// Adds the contribution of `n` samples (x: n x d_in, y: n x d_out), whose forward pass is
    /// `fwd`, to `out`: the R-forward and R-backward passes.
    fn rows(&self, fwd: &ChunkFwd, x: &[f64], y: &[f64], n: usize, out: &mut [f64]) {
        let (net, v, wd, dwd) = (self.net, self.v, self.wd, self.dwd);
        if n == 0 {
            return;
        }
        let nl = net.layers.len();
        let (acts, ders) = (&fwd.acts, &fwd.ders);
        // R-forward.
        let mut racts: Vec<Vec<f64>> = Vec::with_capacity(nl);
        for (h, l) in net.layers.iter().enumerate() {
            let input: &[f64] = if h == 0 { x } else { &acts[h - 1] };
            let mut rz = vec![0.0; n * l.rows];
            // A_{h-1} dW_h^T + 1 db_h^T
            affine(
                l,
                &dwd[h],
                Some(&v[l.b_off..l.b_off + l.b_len]),
                input,
                n,
                &mut rz,
            );
            if h > 0 {
                // + R A_{h-1} W_h^T
                gemm(
                    1.0,
                    &racts[h - 1],
                    Layout::row_major(n, l.cols),
                    &wd[h],
                    Layout::row_major(l.rows, l.cols).t(),
                    1.0,
                    &mut rz,
                    Layout::row_major(n, l.rows),
                );
            }
            mask(&ders[h], &mut rz);
            racts.push(rz);
        }
        // Output: R G = H_F R F.
        let out_dim = net.layers[nl - 1].rows;
        let f = &acts[nl - 1];
        let rf = &racts[nl - 1];
        let inv_m = self.inv_m;
        let mut rdelta = vec![0.0; n * out_dim];
        match net.loss {
            Loss::Squared => {
                for i in 0..n * out_dim {
                    rdelta[i] = rf[i] * inv_m;
                }
            }
            Loss::CrossEntropy => {
                for r in 0..n {
                    let s = r * out_dim..(r + 1) * out_dim;
                    let p = softmax(&f[s.clone()]);
                    let sy: f64 = y[s.clone()].iter().sum();
                    let prf = dot(&p, &rf[s.clone()]);
                    for k in 0..out_dim {
                        rdelta[s.start + k] = sy * p[k] * (rf[s.start + k] - prf) * inv_m;
                    }
                }
            }
        }
        // R-backward.
        for h in (0..nl).rev() {
            let l = &net.layers[h];
            let delta = &fwd.deltas[h];
            let input: &[f64] = if h == 0 { x } else { &acts[h - 1] };
            let ld = Layout::row_major(n, l.rows);
            let li = Layout::row_major(n, l.cols);
            let lw = Layout::row_major(l.rows, l.cols);
            // H_W = R delta^T A_{h-1} + delta^T R A_{h-1}: a dense layer's block of `out` (zero
            // until now) takes the products directly, a shared one through P^T.
            let ow = &mut out[l.w_off..l.w_off + l.w_len];
            let h_w = |hw: &mut [f64], beta: f64| {
                gemm(1.0, &rdelta, ld.t(), input, li, beta, hw, lw);
                if h > 0 {
                    gemm(1.0, delta, ld.t(), &racts[h - 1], li, 1.0, hw, lw);
                }
            };
            match &l.pattern {
                Some(p) => {
                    let mut hw = vec![0.0; l.rows * l.cols];
                    h_w(&mut hw, 0.0);
                    p.gather(&hw, ow);
                }
                None => h_w(ow, 1.0),
            }
            if l.bias {
                let ob = &mut out[l.b_off..l.b_off + l.b_len];
                for r in 0..n {
                    for (i, di) in rdelta[r * l.rows..(r + 1) * l.rows].iter().enumerate() {
                        ob[l.bias_index(i)] += di;
                    }
                }
            }
            if h > 0 {
                // R delta_{h-1} = (R delta W_h + delta dW_h) o D_{h-1}.
                let mut nrd = vec![0.0; n * l.cols];
                gemm(1.0, &rdelta, ld, &wd[h], lw, 0.0, &mut nrd, li);
                gemm(1.0, delta, ld, &dwd[h], lw, 1.0, &mut nrd, li);
                mask(&ders[h - 1], &mut nrd);
                rdelta = nrd;
            }
        }
    }
}

/// Raw (not orthonormalized) symmetry tangents, or `None` when a linear boundary involves a
/// shared / convolutional layer or there would be too many.
fn raw_tangents(net: &Network, w: &[f64]) -> Option<Vec<Vec<f64>>> {
    let dim = Model::dim(net);
    let nl = net.layers.len();
    let mut count = 0usize;
    for h in 0..nl.saturating_sub(1) {
        let (l, u) = (&net.layers[h], &net.layers[h + 1]);
        let shared = l.pattern.is_some() || u.pattern.is_some();
        if shared && l.activation.is_linear() {
            return None;
        }
        count += if l.activation.is_linear() {
            l.rows * l.rows
        } else {
            l.rows
        };
    }
    if count.saturating_mul(dim) > MAX_TANGENT_DOUBLES {
        return None;
    }
    let mut raw = Vec::with_capacity(count);
    for h in 0..nl.saturating_sub(1) {
        let (l, u) = (&net.layers[h], &net.layers[h + 1]);
        let nh = l.rows;
        if l.pattern.is_some() || u.pattern.is_some() {
            class_tangents(l, u, w, dim, &mut raw);
            continue;
        }
        // X = E_ab acts by [W_h b_h] -> (I + t X)[W_h b_h], W_{h+1} -> W_{h+1}(I - t X):
        // tangent row a of [W_h b_h] += row b; column b of W_{h+1} -= column a.
        for a in 0..nh {
            let bs: Range<usize> = if l.activation.is_linear() {
                0..nh
            } else {
                a..a + 1
            };
            for b in bs {
                let mut t = vec![0.0; dim];
                let (ra, rb) = (l.w_off + a * l.cols, l.w_off + b * l.cols);
                t[ra..ra + l.cols].copy_from_slice(&w[rb..rb + l.cols]);
                if l.bias {
                    t[l.b_off + a] = w[l.b_off + b];
                }
                for k in 0..u.rows {
                    t[u.w_off + k * u.cols + b] -= w[u.w_off + k * u.cols + a];
                }
                raw.push(t);
            }
        }
    }
    Some(raw)
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Joins neuron `i` to the first neuron that used the same parameter (`first`, by parameter).
fn join(parent: &mut [usize], first: &mut [usize], param: usize, i: usize) {
    if first[param] == usize::MAX {
        first[param] = i;
    } else {
        let (a, b) = (find(parent, first[param]), find(parent, i));
        parent[a] = b;
    }
}

/// Rescaling tangents of a homogeneous boundary (layers `l`, `u`) involving shared layers: the
/// hidden neurons are grouped into classes that must share one scale (rows of W_l sharing a
/// parameter or a bias, columns of W_u sharing a parameter); each class gives
/// (+its incoming parameters and biases, -its outgoing parameters). For convolutions the
/// classes are the channels.
fn class_tangents(l: &Layer, u: &Layer, w: &[f64], dim: usize, raw: &mut Vec<Vec<f64>>) {
    let nh = l.rows;
    let mut parent: Vec<usize> = (0..nh).collect();
    // First neuron using each incoming parameter, bias and outgoing parameter.
    let mut fin = vec![usize::MAX; l.w_len];
    let mut fb = vec![usize::MAX; l.b_len];
    let mut fout = vec![usize::MAX; u.w_len];
    for i in 0..nh {
        match &l.pattern {
            Some(p) => {
                for &g in &p.map[i * l.cols..(i + 1) * l.cols] {
                    if g > 0 {
                        join(&mut parent, &mut fin, g as usize - 1, i);
                    }
                }
            }
            None => {
                for j in 0..l.cols {
                    fin[i * l.cols + j] = i;
                }
            }
        }
        if l.bias {
            join(&mut parent, &mut fb, l.bias_index(i), i);
        }
    }
    for k in 0..u.rows {
        for i in 0..nh {
            match &u.pattern {
                Some(p) => {
                    let g = p.map[k * nh + i];
                    if g > 0 {
                        join(&mut parent, &mut fout, g as usize - 1, i);
                    }
                }
                None => fout[k * nh + i] = i,
            }
        }
    }
    let mut slot = vec![usize::MAX; nh];
    let first = raw.len();
    for i in 0..nh {
        let r = find(&mut parent, i);
        if slot[r] == usize::MAX {
            slot[r] = raw.len() - first;
            raw.push(vec![0.0; dim]);
        }
    }
    let mut class = |i: usize| slot[find(&mut parent, i)] + first;
    for (p, &i) in fin.iter().enumerate() {
        if i != usize::MAX {
            raw[class(i)][l.w_off + p] = w[l.w_off + p];
        }
    }
    for (b, &i) in fb.iter().enumerate() {
        if i != usize::MAX {
            raw[class(i)][l.b_off + b] = w[l.b_off + b];
        }
    }
    for (q, &i) in fout.iter().enumerate() {
        if i != usize::MAX {
            raw[class(i)][u.w_off + q] -= w[u.w_off + q];
        }
    }
}

/// An orthonormal basis of the span of the symmetry tangents at `w` (modified Gram-Schmidt,
/// twice; a tangent is dropped when less than 1e-8 of the largest tangent's norm remains).
pub fn net_symmetry_tangents(net: &Network, w: &[f64]) -> Option<Vec<Vec<f64>>> {
    let raw = raw_tangents(net, w)?;
    Some(crate::linalg::orthonormalize(raw, 1e-8))
}
