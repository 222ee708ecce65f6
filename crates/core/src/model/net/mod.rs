//! Fully connected (and sparse / shared / convolutional) homogeneous networks
//! (Du, Hu & Lee 2018, §2):
//!
//!   f(x) = W_N phi_{N-1}(W_{N-1} ... phi_1(W_1 x + b_1) ... + b_{N-1}) + b_N
//!
//! with per-layer activations phi in {linear, ReLU, leaky ReLU} (all satisfy phi(z) = phi'(z) z),
//! optional biases, and the losses
//!
//! - squared: L = 1/(2m) sum_i ||f(x_i) - y_i||^2,
//! - softmax cross-entropy: L = 1/m sum_i [ (sum_k y_ik) logsumexp(f(x_i)) - <y_i, f(x_i)> ]
//!   (= -1/m sum_i sum_k y_ik log softmax(f(x_i))_k; one-hot or probability rows y_i).
//!
//! Data are `m x d_in` (X) and `m x d_out` (Y), one sample per row, so every layer is one GEMM
//! over all samples: Z_h = A_{h-1} W_h^T (+ 1 b_h^T), A_h = phi(Z_h).
//!
//! Parameters, in order, per layer h: W_h (`n_h x n_{h-1}` row-major; for shared layers the free
//! parameters v_h) then b_h (when the layer has biases; per output channel for convolutions).
//!
//! Samples are split into a fixed number of row chunks (independent of the thread count) that are
//! evaluated independently (in parallel with the `parallel` feature) and whose partial losses and
//! gradients are summed in chunk order, so results do not depend on the number of threads. All
//! buffers are allocated once.

pub mod family;
pub mod hvp;
pub mod pattern;

pub use family::NetFamily;
use hvp::{net_hvp_cached, net_symmetry_tangents};
use pattern::Pattern;

use crate::error::{Error, Result};
use crate::linalg::{dot, gemm, norm2, Layout};
use crate::model::{Block, Column, Model, Role};
use crate::par::Parallelism;

/// Most row chunks per evaluation.
const CHUNKS: usize = 4;
/// Fewest rows per chunk (below this, fewer chunks).
const MIN_ROWS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    Linear,
    Relu,
    /// max(z, slope z), 0 < slope < 1.
    LeakyRelu(f64),
}

impl Activation {
    fn apply(self, z: &mut [f64]) {
        match self {
            Activation::Linear => {}
            Activation::Relu => {
                for x in z {
                    if *x <= 0.0 {
                        *x = 0.0;
                    }
                }
            }
            Activation::LeakyRelu(s) => {
                for x in z {
                    if *x < 0.0 {
                        *x *= s;
                    }
                }
            }
        }
    }
    /// d *= phi'(z), with phi'(z) read from the sign of a = phi(z) (phi'(0) = 0 for ReLU,
    /// the slope for leaky ReLU).
    fn backprop(self, a: &[f64], d: &mut [f64]) {
        match self {
            Activation::Linear => {}
            Activation::Relu => {
                for (x, &y) in d.iter_mut().zip(a) {
                    if y <= 0.0 {
                        *x = 0.0;
                    }
                }
            }
            Activation::LeakyRelu(s) => {
                for (x, &y) in d.iter_mut().zip(a) {
                    if y <= 0.0 {
                        *x *= s;
                    }
                }
            }
        }
    }
    pub fn is_linear(self) -> bool {
        self == Activation::Linear
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    Squared,
    CrossEntropy,
}

#[derive(Debug, Clone)]
pub struct Layer {
    /// n_h x n_{h-1}
    pub rows: usize,
    pub cols: usize,
    /// Activation applied to this layer's output (linear for the last layer).
    pub activation: Activation,
    /// Sparse / shared weights; `None` for a dense layer.
    pub pattern: Option<Pattern>,
    pub bias: bool,
    pub w_off: usize,
    pub w_len: usize,
    pub b_off: usize,
    pub b_len: usize,
}

impl Layer {
    /// Build the layers' offsets from (rows, cols, activation, pattern, bias).
    pub fn stack(specs: Vec<(usize, usize, Activation, Option<Pattern>, bool)>) -> Vec<Layer> {
        let mut off = 0;
        specs
            .into_iter()
            .map(|(rows, cols, activation, pattern, bias)| {
                let w_len = pattern.as_ref().map_or(rows * cols, |p| p.params);
                let b_len = if bias {
                    pattern.as_ref().map_or(rows, |p| p.biases)
                } else {
                    0
                };
                let l = Layer {
                    rows,
                    cols,
                    activation,
                    pattern,
                    bias,
                    w_off: off,
                    w_len,
                    b_off: off + w_len,
                    b_len,
                };
                off += w_len + b_len;
                l
            })
            .collect()
    }
    pub(crate) fn bias_index(&self, i: usize) -> usize {
        self.pattern.as_ref().map_or(i, |p| p.bias_map[i] as usize)
    }
}

struct Chunk {
    acts: Vec<Vec<f64>>,
    /// phi'(z) per hidden layer and sample (only when pattern freezing is enabled).
    masks: Vec<Vec<f64>>,
    da: Vec<f64>,
    db: Vec<f64>,
    grad: Vec<f64>,
    gdense: Vec<Vec<f64>>,
    loss: f64,
}

/// Pairs of consecutive layers and which invariants they have.
#[derive(Debug, Clone)]
struct Pair {
    /// 0-based index of the lower layer h (the pair is h, h+1).
    h: usize,
    /// Both layers dense: per-neuron invariant.
    neurons: bool,
    /// ... and phi_h linear: matrix invariant.
    matrix: bool,
}

pub struct Network {
    pub input_dim: usize,
    pub layers: Vec<Layer>,
    pub loss: Loss,
    /// m x d_in and m x d_out, one sample per row.
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub m: usize,
    blocks: Vec<Block>,
    dim: usize,
    /// Expanded dense W of shared layers (empty for dense layers) at the last evaluation.
    dense: Vec<Vec<f64>>,
    dense0: Vec<Vec<f64>>,
    chunks: Vec<Chunk>,
    /// Mini-batch: rows gathered into xb, yb.
    batch: Option<usize>,
    xb: Vec<f64>,
    yb: Vec<f64>,
    pairs: Vec<Pair>,
    ref_layer: Vec<f64>,
    ref_neuron: Vec<Vec<f64>>,
    ref_matrix: Vec<Vec<f64>>,
    /// Per-neuron invariants at the last record.
    neuron: Vec<Vec<f64>>,
    mscratch: (Vec<f64>, Vec<f64>),
    /// Evaluate with the activation pattern (phi'(z) per sample and neuron) of the last
    /// unfrozen evaluation held fixed.
    frozen: bool,
    /// The forward and backpropagation pass of the last Hessian-vector product's point, reused
    /// by the next product at the same point (see `hvp.rs`).
    pub(crate) hvp_cache: Option<hvp::HvpCache>,
    /// How the row chunks of evaluations and products run.
    pub(crate) par: Parallelism,
}

fn chunk_count(m: usize) -> usize {
    CHUNKS.min(m.div_ceil(MIN_ROWS)).max(1)
}

impl Network {
    /// Working memory in numbers (beyond data and parameters), for the memory limit: the row
    /// chunks' activations, deltas, gradients and expanded patterns, the mini-batch buffers, the
    /// frozen activation pattern (implicit midpoint on ReLU networks, `masks`), the invariants
    /// of dense pairs (per neuron; n_h x n_h for linear pairs, with two scratch matrices), and
    /// the exact HVP's cached forward pass and per-product buffers. In u64, the same on every
    /// target.
    pub fn workspace_len(
        input_dim: usize,
        layers: &[Layer],
        m: usize,
        max_batch: usize,
        masks: bool,
    ) -> u64 {
        let u = |x: usize| x as u64;
        let nc = u(chunk_count(m));
        let m = u(m);
        let cap = m.div_ceil(nc);
        let dim: u64 = layers.iter().map(|l| u(l.w_len) + u(l.b_len)).sum();
        let rows: u64 = layers.iter().map(|l| u(l.rows)).sum();
        let cols: u64 = layers.iter().map(|l| u(l.cols)).sum();
        let maxw = layers
            .iter()
            .map(|l| l.rows.max(l.cols))
            .max()
            .unwrap_or(0)
            .max(input_dim) as u64;
        let dense: u64 = layers
            .iter()
            .filter(|l| l.pattern.is_some())
            .map(|l| u(l.rows) * u(l.cols))
            .sum();
        let all_dense: u64 = layers.iter().map(|l| u(l.rows) * u(l.cols)).sum();
        let out = layers.last().map_or(0, |l| u(l.rows));
        let chunks = nc * (rows * cap + 2 * cap * maxw + dim + dense);
        let masks = if masks { nc * rows * cap } else { 0 };
        // Invariants: per-neuron references and values, n_h x n_h for linear dense pairs.
        let mut inv = 0;
        let mut maxm = 0;
        for h in 0..layers.len().saturating_sub(1) {
            let neurons = layers[h].pattern.is_none() && layers[h + 1].pattern.is_none();
            inv += 3 * u(layers[h].rows);
            if neurons && layers[h].activation.is_linear() {
                inv += u(layers[h].rows) * u(layers[h].rows);
                maxm = maxm.max(u(layers[h].rows));
            }
        }
        // The exact HVP: the point (w, expanded weights), per chunk the forward pass (A, D,
        // delta per layer, deltas), per product the direction's expanded weights, one partial
        // product per chunk, and per chunk the R-pass (R(A), R(Z), R(delta), H W) buffers.
        let hvp = 2 * dim
            + 3 * all_dense
            + nc * dim
            + m * (6 * rows + 3 * cols + 2 * out)
            + 2 * nc * all_dense;
        chunks
            + masks
            + 2 * dense
            + u(max_batch) * (u(input_dim) + out)
            + inv
            + 2 * maxm * maxm
            + hvp
    }

    /// Shapes are validated by the caller (the session). `max_batch` > 0 reserves mini-batch
    /// buffers.
    pub fn new(
        input_dim: usize,
        layers: Vec<Layer>,
        loss: Loss,
        x: Vec<f64>,
        y: Vec<f64>,
        max_batch: usize,
    ) -> Network {
        let out = layers.last().expect("at least one layer").rows;
        let m = x.len() / input_dim;
        assert_eq!(x.len(), m * input_dim);
        assert_eq!(y.len(), m * out);
        let dim: usize = layers.iter().map(|l| l.w_len + l.b_len).sum();
        let mut blocks = Vec::new();
        for (h, l) in layers.iter().enumerate() {
            let (name, rows, cols) = if l.pattern.is_some() {
                (format!("v{}", h + 1), 1, l.w_len)
            } else {
                (format!("W{}", h + 1), l.rows, l.cols)
            };
            blocks.push(Block {
                name,
                offset: l.w_off,
                rows,
                cols,
            });
            if l.bias {
                blocks.push(Block {
                    name: format!("b{}", h + 1),
                    offset: l.b_off,
                    rows: 1,
                    cols: l.b_len,
                });
            }
        }
        let nc = chunk_count(m);
        let cap = m.div_ceil(nc);
        let maxw = layers.iter().map(|l| l.rows.max(l.cols)).max().unwrap_or(0);
        let dense: Vec<Vec<f64>> = layers
            .iter()
            .map(|l| {
                if l.pattern.is_some() {
                    vec![0.0; l.rows * l.cols]
                } else {
                    Vec::new()
                }
            })
            .collect();
        let chunks = (0..nc)
            .map(|_| Chunk {
                acts: layers.iter().map(|l| vec![0.0; cap * l.rows]).collect(),
                da: vec![0.0; cap * maxw],
                db: vec![0.0; cap * maxw],
                grad: vec![0.0; dim],
                masks: Vec::new(),
                gdense: dense.clone(),
                loss: 0.0,
            })
            .collect();
        let pairs: Vec<Pair> = (0..layers.len().saturating_sub(1))
            .map(|h| {
                let neurons = layers[h].pattern.is_none() && layers[h + 1].pattern.is_none();
                Pair {
                    h,
                    neurons,
                    matrix: neurons && layers[h].activation.is_linear(),
                }
            })
            .collect();
        let ref_neuron = pairs
            .iter()
            .map(|p| {
                if p.neurons {
                    vec![0.0; layers[p.h].rows]
                } else {
                    Vec::new()
                }
            })
            .collect::<Vec<_>>();
        let ref_matrix = pairs
            .iter()
            .map(|p| {
                if p.matrix {
                    vec![0.0; layers[p.h].rows * layers[p.h].rows]
                } else {
                    Vec::new()
                }
            })
            .collect();
        // Scratch of the n_h x n_h matrix invariants: linear dense pairs only.
        let maxn = pairs
            .iter()
            .filter(|p| p.matrix)
            .map(|p| layers[p.h].rows)
            .max()
            .unwrap_or(0);
        Network {
            input_dim,
            loss,
            m,
            blocks,
            dim,
            dense0: dense.clone(),
            dense,
            chunks,
            batch: None,
            xb: vec![0.0; max_batch * input_dim],
            yb: vec![0.0; max_batch * out],
            neuron: ref_neuron.clone(),
            ref_neuron,
            ref_matrix,
            ref_layer: vec![0.0; pairs.len()],
            pairs,
            mscratch: (vec![0.0; maxn * maxn], vec![0.0; maxn * maxn]),
            frozen: false,
            hvp_cache: None,
            par: Parallelism::default(),
            layers,
            x,
            y,
        }
    }

    pub fn output_dim(&self) -> usize {
        self.layers.last().map_or(0, |l| l.rows)
    }

    /// Evaluate the network on an `n x d_in` input into `out` (`n x d_out`), allocating (for
    /// tests and data generation, not for the training loop).
    pub fn predict(&self, w: &[f64], x: &[f64]) -> Vec<f64> {
        let n = x.len() / self.input_dim;
        let dense: Vec<Vec<f64>> = self
            .layers
            .iter()
            .map(|l| {
                let mut wd = vec![0.0; l.rows * l.cols];
                match &l.pattern {
                    Some(p) => p.expand(&w[l.w_off..l.w_off + l.w_len], &mut wd),
                    None => wd.copy_from_slice(&w[l.w_off..l.w_off + l.w_len]),
                }
                wd
            })
            .collect();
        let mut acts: Vec<Vec<f64>> = self.layers.iter().map(|l| vec![0.0; n * l.rows]).collect();
        forward_pass(&self.layers, |h| &dense[h], w, x, n, &mut acts, None);
        acts.pop().unwrap_or_default()
    }

    /// Squared Frobenius norm of layer h's weights (||W_h||^2, or ||v_h||^2 for shared layers).
    pub fn weight_norm2(&self, w: &[f64], h: usize) -> f64 {
        let l = &self.layers[h];
        norm2(&w[l.w_off..l.w_off + l.w_len])
    }
    pub fn bias_norm2(&self, w: &[f64], h: usize) -> f64 {
        let l = &self.layers[h];
        norm2(&w[l.b_off..l.b_off + l.b_len])
    }

    /// Per-layer-pair invariant ||W_h||^2 + ||b_h||^2 - ||W_{h+1}||^2 (h 0-based).
    pub fn layer_invariant(&self, w: &[f64], h: usize) -> f64 {
        self.weight_norm2(w, h) + self.bias_norm2(w, h) - self.weight_norm2(w, h + 1)
    }

    /// Per-neuron invariants ||W_h[i,:]||^2 + b_h[i]^2 - ||W_{h+1}[:,i]||^2 of a dense pair.
    pub fn neuron_invariants(&self, w: &[f64], h: usize, out: &mut [f64]) {
        let (l, u) = (&self.layers[h], &self.layers[h + 1]);
        let wl = &w[l.w_off..l.w_off + l.w_len];
        let wu = &w[u.w_off..u.w_off + u.w_len];
        for (i, o) in out.iter_mut().enumerate().take(l.rows) {
            let row = &wl[i * l.cols..(i + 1) * l.cols];
            *o = norm2(row);
            if l.bias {
                let b = w[l.b_off + i];
                *o += b * b;
            }
        }
        for k in 0..u.rows {
            let row = &wu[k * u.cols..(k + 1) * u.cols];
            for (o, x) in out.iter_mut().zip(row) {
                *o -= x * x;
            }
        }
    }

    /// Matrix invariant [W_h b_h][W_h b_h]^T - W_{h+1}^T W_{h+1} (n_h x n_h) of a dense pair.
    pub fn matrix_invariant(&self, w: &[f64], h: usize, out: &mut [f64], tmp: &mut [f64]) {
        let (l, u) = (&self.layers[h], &self.layers[h + 1]);
        let n = l.rows;
        let wl = &w[l.w_off..l.w_off + l.w_len];
        let wu = &w[u.w_off..u.w_off + u.w_len];
        let ll = Layout::row_major(n, l.cols);
        gemm(
            1.0,
            wl,
            ll,
            wl,
            ll.t(),
            0.0,
            &mut out[..n * n],
            Layout::row_major(n, n),
        );
        if l.bias {
            let b = &w[l.b_off..l.b_off + l.b_len];
            for i in 0..n {
                for j in 0..n {
                    out[i * n + j] += b[i] * b[j];
                }
            }
        }
        let lu = Layout::row_major(u.rows, n);
        gemm(
            1.0,
            wu,
            lu.t(),
            wu,
            lu,
            0.0,
            &mut tmp[..n * n],
            Layout::row_major(n, n),
        );
        for (o, t) in out[..n * n].iter_mut().zip(&tmp[..n * n]) {
            *o -= t;
        }
    }

    fn loss_grad_impl(&mut self, w: &[f64], grad: &mut [f64]) -> f64 {
        // Expand shared layers once.
        for (l, d) in self.layers.iter().zip(self.dense.iter_mut()) {
            if let Some(p) = &l.pattern {
                p.expand(&w[l.w_off..l.w_off + l.w_len], d);
            }
        }
        let (x, y, m): (&[f64], &[f64], usize) = match self.batch {
            Some(b) => (&self.xb, &self.yb, b),
            None => (&self.x, &self.y, self.m),
        };
        let nc = self.chunks.len();
        let per = m.div_ceil(nc).max(1);
        let d_in = self.input_dim;
        let out = self.layers.last().map_or(0, |l| l.rows);
        let ctx = Ctx {
            frozen: self.frozen,
            layers: &self.layers,
            dense: &self.dense,
            loss: self.loss,
            w,
            inv_m: 1.0 / m as f64,
        };
        let work = |(c, chunk): (usize, &mut Chunk)| {
            let lo = (c * per).min(m);
            let hi = ((c + 1) * per).min(m);
            ctx.run(
                chunk,
                &x[lo * d_in..hi * d_in],
                &y[lo * out..hi * out],
                hi - lo,
            );
        };
        self.par
            .for_each(&mut self.chunks, |c, chunk| work((c, chunk)));
        let mut loss = 0.0;
        grad.copy_from_slice(&self.chunks[0].grad);
        loss += self.chunks[0].loss;
        for c in &self.chunks[1..] {
            loss += c.loss;
            for (g, p) in grad.iter_mut().zip(&c.grad) {
                *g += p;
            }
        }
        loss
    }
}

/// Z = X W^T (+ 1 b^T by the layer's bias map, when `b` is given and the layer has biases):
/// X is n x cols, Z is n x rows. The one affine map of the network, shared by the gradient's
/// forward pass and the Hessian-vector product's (`hvp.rs`: the point's pass and its tangent).
pub(crate) fn affine(
    l: &Layer,
    wd: &[f64],
    b: Option<&[f64]>,
    input: &[f64],
    n: usize,
    z: &mut [f64],
) {
    let z = &mut z[..n * l.rows];
    let beta = match b {
        Some(b) if l.bias => {
            for r in 0..n {
                for (i, zi) in z[r * l.rows..(r + 1) * l.rows].iter_mut().enumerate() {
                    *zi = b[l.bias_index(i)];
                }
            }
            1.0
        }
        _ => 0.0,
    };
    gemm(
        1.0,
        &input[..n * l.cols],
        Layout::row_major(n, l.cols),
        wd,
        Layout::row_major(l.rows, l.cols).t(),
        beta,
        z,
        Layout::row_major(n, l.rows),
    );
}

/// phi'(z) per entry into `out` (z > 0 gives 1, otherwise 0 or the leaky slope), for
/// piecewise-linear activations; the convention of the gradient and of the HVP.
pub(crate) fn derivative_into(act: Activation, z: &[f64], out: &mut [f64]) {
    let lo = match act {
        Activation::LeakyRelu(s) => s,
        _ => 0.0,
    };
    for (d, x) in out.iter_mut().zip(z) {
        *d = if *x > 0.0 { 1.0 } else { lo };
    }
}

/// The one forward pass of the network, shared by the gradient, the Hessian-vector product and
/// `predict`: for `n` samples `x` (n x d_in) and each layer h, `acts[h][..n rows]` becomes
/// phi(Z_h), Z_h = A_{h-1} W_h^T + 1 b_h^T, with `wd[h]` the dense weights and the biases read
/// from `w`. With `ders = Some((d, frozen))`, the activation of each piecewise-linear layer is
/// applied as Z_h o D_h with D_h = phi'(Z_h) written to `d[h]` (or, when `frozen`, the pattern
/// already in `d[h]` kept): the derivatives the HVP reuses and the pattern implicit midpoint
/// freezes. Without, the activation is applied directly.
pub(crate) fn forward_pass<'w>(
    layers: &[Layer],
    wd: impl Fn(usize) -> &'w [f64],
    w: &[f64],
    x: &[f64],
    n: usize,
    acts: &mut [Vec<f64>],
    mut ders: Option<(&mut [Vec<f64>], bool)>,
) {
    for (h, l) in layers.iter().enumerate() {
        let (before, after) = acts.split_at_mut(h);
        let input: &[f64] = if h == 0 { x } else { &before[h - 1] };
        let z = &mut after[0][..n * l.rows];
        affine(l, wd(h), Some(&w[l.b_off..l.b_off + l.b_len]), input, n, z);
        match &mut ders {
            Some((d, frozen)) if !l.activation.is_linear() => {
                let mask = &mut d[h][..n * l.rows];
                if !*frozen {
                    derivative_into(l.activation, z, mask);
                }
                for (zi, mk) in z.iter_mut().zip(mask.iter()) {
                    *zi *= mk;
                }
            }
            _ => l.activation.apply(z),
        }
    }
}

struct Ctx<'a> {
    frozen: bool,
    layers: &'a [Layer],
    dense: &'a [Vec<f64>],
    loss: Loss,
    w: &'a [f64],
    inv_m: f64,
}

impl Ctx<'_> {
    fn weights(&self, h: usize) -> &[f64] {
        let l = &self.layers[h];
        if l.pattern.is_some() {
            &self.dense[h]
        } else {
            &self.w[l.w_off..l.w_off + l.w_len]
        }
    }

    /// Loss and gradient contributions of `n` samples (x: n x d_in, y: n x d_out).
    fn run(&self, c: &mut Chunk, x: &[f64], y: &[f64], n: usize) {
        c.grad.fill(0.0);
        c.loss = 0.0;
        if n == 0 {
            return;
        }
        let nl = self.layers.len();
        let use_masks = !c.masks.is_empty();
        let ders = use_masks.then_some((&mut c.masks[..], self.frozen));
        forward_pass(
            self.layers,
            |h| self.weights(h),
            self.w,
            x,
            n,
            &mut c.acts,
            ders,
        );
        // Loss and output delta dL/dZ_N into da.
        let out = self.layers[nl - 1].rows;
        let f = &c.acts[nl - 1][..n * out];
        let d = &mut c.da[..n * out];
        let mut loss = 0.0;
        match self.loss {
            Loss::Squared => {
                for ((di, fi), yi) in d.iter_mut().zip(f).zip(y) {
                    let r = fi - yi;
                    loss += r * r;
                    *di = r * self.inv_m;
                }
                loss *= 0.5;
            }
            Loss::CrossEntropy => {
                for r in 0..n {
                    let fr = &f[r * out..(r + 1) * out];
                    let yr = &y[r * out..(r + 1) * out];
                    let dr = &mut d[r * out..(r + 1) * out];
                    let mx = fr.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let mut s = 0.0;
                    for (di, fi) in dr.iter_mut().zip(fr) {
                        *di = libm::exp(fi - mx);
                        s += *di;
                    }
                    let lse = mx + libm::log(s);
                    let sy: f64 = yr.iter().sum();
                    loss += sy * lse - dot(yr, fr);
                    for (di, yi) in dr.iter_mut().zip(yr) {
                        *di = (sy * *di / s - yi) * self.inv_m;
                    }
                }
            }
        }
        c.loss = loss * self.inv_m;
        // Backward.
        let mut cur = std::mem::take(&mut c.da);
        let mut other = std::mem::take(&mut c.db);
        for h in (0..nl).rev() {
            let l = &self.layers[h];
            let input: &[f64] = if h == 0 {
                x
            } else {
                &c.acts[h - 1][..n * l.cols]
            };
            let delta = &cur[..n * l.rows];
            let ld = Layout::row_major(n, l.rows);
            let li = Layout::row_major(n, l.cols);
            let lw = Layout::row_major(l.rows, l.cols);
            // dW = delta^T input
            match &l.pattern {
                None => gemm(
                    1.0,
                    delta,
                    ld.t(),
                    input,
                    li,
                    0.0,
                    &mut c.grad[l.w_off..l.w_off + l.w_len],
                    lw,
                ),
                Some(p) => {
                    let gd = &mut c.gdense[h];
                    gemm(1.0, delta, ld.t(), input, li, 0.0, gd, lw);
                    p.gather(gd, &mut c.grad[l.w_off..l.w_off + l.w_len]);
                }
            }
            if l.bias {
                let gb = &mut c.grad[l.b_off..l.b_off + l.b_len];
                for r in 0..n {
                    for (i, di) in delta[r * l.rows..(r + 1) * l.rows].iter().enumerate() {
                        gb[l.bias_index(i)] += di;
                    }
                }
            }
            if h > 0 {
                let o = &mut other[..n * l.cols];
                gemm(1.0, delta, ld, self.weights(h), lw, 0.0, o, li);
                let below = &self.layers[h - 1];
                if use_masks && !below.activation.is_linear() {
                    for (oi, mk) in o.iter_mut().zip(&c.masks[h - 1][..n * l.cols]) {
                        *oi *= mk;
                    }
                } else {
                    below.activation.backprop(&c.acts[h - 1][..n * l.cols], o);
                }
                std::mem::swap(&mut cur, &mut other);
            }
        }
        c.da = cur;
        c.db = other;
    }
}

impl Model for Network {
    fn dim(&self) -> usize {
        self.dim
    }
    fn blocks(&self) -> &[Block] {
        &self.blocks
    }
    fn loss_grad(&mut self, w: &[f64], grad: &mut [f64]) -> f64 {
        self.loss_grad_impl(w, grad)
    }
    fn set_reference(&mut self, w0: &[f64]) {
        for i in 0..self.pairs.len() {
            let p = self.pairs[i].clone();
            self.ref_layer[i] = self.layer_invariant(w0, p.h);
            if p.neurons {
                let mut v = std::mem::take(&mut self.ref_neuron[i]);
                self.neuron_invariants(w0, p.h, &mut v);
                self.ref_neuron[i] = v;
            }
            if p.matrix {
                let mut v = std::mem::take(&mut self.ref_matrix[i]);
                let mut t = std::mem::take(&mut self.mscratch.1);
                self.matrix_invariant(w0, p.h, &mut v, &mut t);
                self.ref_matrix[i] = v;
                self.mscratch.1 = t;
            }
        }
        for ((l, d0), d) in self
            .layers
            .iter()
            .zip(self.dense0.iter_mut())
            .zip(self.dense.iter_mut())
        {
            if let Some(p) = &l.pattern {
                p.expand(&w0[l.w_off..l.w_off + l.w_len], d0);
                d.copy_from_slice(d0);
            }
        }
    }
    fn columns(&self) -> Vec<Column> {
        let mut v = vec![
            Column::new("loss", Role::Loss),
            Column::new("gradNorm", Role::GradNorm),
        ];
        for (h, l) in self.layers.iter().enumerate() {
            v.push(Column::new(format!("normSqW{}", h + 1), Role::Norm));
            if l.bias {
                v.push(Column::new(format!("normSqB{}", h + 1), Role::Norm));
            }
        }
        for p in &self.pairs {
            let h = p.h + 1;
            v.push(Column::new(format!("normRatio{h}"), Role::Ratio));
            v.push(Column::new(format!("layerDiff{h}"), Role::Invariant));
            v.push(Column::new(format!("layerDiffDrift{h}"), Role::Drift));
            if p.neurons {
                v.push(Column::new(format!("neuronDriftMax{h}"), Role::Drift));
            }
            if p.matrix {
                v.push(Column::new(format!("matrixDrift{h}"), Role::Drift));
            }
        }
        v
    }
    fn hvp(&mut self, w: &[f64], v: &[f64], out: &mut [f64]) {
        let mut cache = self.hvp_cache.take();
        net_hvp_cached(self, &mut cache, w, v, out);
        self.hvp_cache = cache;
    }
    fn hvp_exact(&self) -> bool {
        true
    }
    fn end_queries(&mut self) {
        self.hvp_cache = None;
    }
    fn set_parallelism(&mut self, par: Parallelism) {
        self.par = par;
    }
    /// Dimension of the span of the symmetry tangents (see [`net_symmetry_tangents`]): per
    /// boundary between two dense layers, the rescalings of each hidden neuron (ReLU / leaky
    /// ReLU) or all of GL(n_h) (linear activation); with a shared / convolutional layer at a
    /// ReLU-type boundary, the rescalings of the classes of neurons that share parameters (the
    /// channels of a convolution). `None` for a linear boundary involving a shared layer, or
    /// when the tangents would exceed [`hvp::MAX_TANGENT_DOUBLES`].
    fn symmetry_dim(&self, w: &[f64]) -> Option<usize> {
        net_symmetry_tangents(self, w).map(|t| t.len())
    }
    fn symmetry_tangents(&self, w: &[f64]) -> Option<Vec<Vec<f64>>> {
        net_symmetry_tangents(self, w)
    }
    fn metrics(&mut self, w: &[f64], grad: &[f64], loss: f64, out: &mut Vec<f64>) {
        out.push(loss);
        out.push(crate::linalg::norm(grad));
        for h in 0..self.layers.len() {
            out.push(self.weight_norm2(w, h));
            if self.layers[h].bias {
                out.push(self.bias_norm2(w, h));
            }
        }
        for i in 0..self.pairs.len() {
            let p = self.pairs[i].clone();
            out.push(self.weight_norm2(w, p.h) / self.weight_norm2(w, p.h + 1));
            let c = self.layer_invariant(w, p.h);
            out.push(c);
            out.push(c - self.ref_layer[i]);
            if p.neurons {
                let mut v = std::mem::take(&mut self.neuron[i]);
                self.neuron_invariants(w, p.h, &mut v);
                let worst = v
                    .iter()
                    .zip(&self.ref_neuron[i])
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max);
                self.neuron[i] = v;
                out.push(worst);
            }
            if p.matrix {
                let (mut a, mut t) = std::mem::take(&mut self.mscratch);
                self.matrix_invariant(w, p.h, &mut a, &mut t);
                let n = self.layers[p.h].rows;
                let d: f64 = a[..n * n]
                    .iter()
                    .zip(&self.ref_matrix[i])
                    .map(|(x, y)| (x - y) * (x - y))
                    .sum();
                self.mscratch = (a, t);
                out.push(libm::sqrt(d));
            }
        }
    }
    fn matrix<'a>(
        &'a self,
        name: &str,
        w: &'a [f64],
        w0: &'a [f64],
    ) -> Result<(usize, usize, &'a [f64])> {
        let bad = || {
            Error::request(
                "matrix",
                format!(
                    "no matrix named {name:?} (expected W1..W{n}, b<h>, v<h> (shared layers), \
                     with suffix _0 for the initial value, neuron<h> (per-neuron invariants at \
                     the last record), X or Y)",
                    n = self.layers.len()
                ),
            )
        };
        let out = self.output_dim();
        match name {
            "X" => return Ok((self.m, self.input_dim, &self.x)),
            "Y" => return Ok((self.m, out, &self.y)),
            _ => {}
        }
        let (base, initial) = match name.strip_suffix("_0") {
            Some(b) => (b, true),
            None => (name, false),
        };
        let src = if initial { w0 } else { w };
        let (kind, num) = base.split_at(base.find(|c: char| c.is_ascii_digit()).ok_or_else(bad)?);
        let h: usize = num.parse().map_err(|_| bad())?;
        if h == 0 || h > self.layers.len() {
            return Err(bad());
        }
        let l = &self.layers[h - 1];
        match (kind, &l.pattern) {
            ("W", None) => Ok((l.rows, l.cols, &src[l.w_off..l.w_off + l.w_len])),
            ("W", Some(_)) => {
                let d = if initial {
                    &self.dense0[h - 1]
                } else {
                    &self.dense[h - 1]
                };
                Ok((l.rows, l.cols, d))
            }
            ("v", Some(_)) => Ok((1, l.w_len, &src[l.w_off..l.w_off + l.w_len])),
            ("b", _) if l.bias => Ok((1, l.b_len, &src[l.b_off..l.b_off + l.b_len])),
            ("neuron", _) if !initial => {
                let i = self
                    .pairs
                    .iter()
                    .position(|p| p.h == h - 1 && p.neurons)
                    .ok_or_else(bad)?;
                Ok((1, self.neuron[i].len(), &self.neuron[i]))
            }
            _ => Err(bad()),
        }
    }
    fn samples(&self) -> Option<usize> {
        Some(self.m)
    }
    fn enable_pattern_freeze(&mut self) {
        for c in &mut self.chunks {
            if c.masks.is_empty() {
                c.masks = c.acts.iter().map(|a| vec![0.0; a.len()]).collect();
            }
        }
    }
    fn freeze_pattern(&mut self, on: bool) -> bool {
        let any = self.layers.iter().any(|l| !l.activation.is_linear());
        self.frozen = on && any && !self.chunks[0].masks.is_empty();
        self.frozen
    }
    fn set_batch(&mut self, batch: Option<&[usize]>) {
        match batch {
            None => self.batch = None,
            Some(idx) => {
                let d = self.input_dim;
                let o = self.output_dim();
                for (r, &i) in idx.iter().enumerate() {
                    self.xb[r * d..(r + 1) * d].copy_from_slice(&self.x[i * d..(i + 1) * d]);
                    self.yb[r * o..(r + 1) * o].copy_from_slice(&self.y[i * o..(i + 1) * o]);
                }
                self.batch = Some(idx.len());
            }
        }
    }
}
