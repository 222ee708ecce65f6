//! Small dense helpers on row-major `f64` slices. Products go through gemm-f64 (natively, inner
//! dimension >= 32), `matrixmultiply` (the kernel nalgebra itself uses; smaller products) or our
//! own simd128 kernel (wasm), called with explicit strides so transposes cost nothing.

/// A row-major matrix view description: `rows x cols`, element (i, j) at `i * rs + j * cs`.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub rows: usize,
    pub cols: usize,
    pub rs: isize,
    pub cs: isize,
}

impl Layout {
    pub fn row_major(rows: usize, cols: usize) -> Self {
        Layout {
            rows,
            cols,
            rs: cols as isize,
            cs: 1,
        }
    }
    /// The same shape stored row-major (for a matrix materialized in that order).
    pub fn contiguous(self) -> Self {
        Layout::row_major(self.rows, self.cols)
    }
    pub fn t(self) -> Self {
        Layout {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

#[allow(clippy::too_many_arguments)]
/// C = alpha A B + beta C. Shapes are checked with debug assertions only: callers are internal.
pub fn gemm(
    alpha: f64,
    a: &[f64],
    la: Layout,
    b: &[f64],
    lb: Layout,
    beta: f64,
    c: &mut [f64],
    lc: Layout,
) {
    debug_assert_eq!(la.cols, lb.rows);
    debug_assert_eq!(la.rows, lc.rows);
    debug_assert_eq!(lb.cols, lc.cols);
    if lc.rows == 0 || lc.cols == 0 {
        return;
    }
    if la.cols == 0 {
        for x in c.iter_mut() {
            *x *= beta;
        }
        return;
    }
    // SAFETY: the layouts describe regions inside the slices (checked in debug builds below).
    debug_assert!(fits(a.len(), la) && fits(b.len(), lb) && fits(c.len(), lc));
    // matrixmultiply has no f64 simd128 kernel: on wasm, products whose C rows are contiguous
    // go through our own (any strides of A and B; cache-blocked with packing unless B is small
    // and row-contiguous).
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if lc.cs == 1 {
        // SAFETY: as above; the kernel reads C only when beta != 0.
        unsafe {
            wasm_gemm::gemm(
                lc.rows,
                la.cols,
                lc.cols,
                alpha,
                a.as_ptr(),
                la.rs,
                la.cs,
                b.as_ptr(),
                lb.rs,
                lb.cs,
                beta,
                c.as_mut_ptr(),
                lc.rs,
            );
        }
        return;
    }
    #[cfg(not(target_arch = "wasm32"))]
    if la.cols >= GEMM_F64_MIN_K {
        // SAFETY: as above; gemm-f64 reads C only when beta != 0 (`read_dst`), like BLAS.
        unsafe { gemm_f64_blocked(alpha, a, la, b, lb, beta, c, lc) };
        return;
    }
    unsafe {
        matrixmultiply::dgemm(
            lc.rows,
            la.cols,
            lc.cols,
            alpha,
            a.as_ptr(),
            la.rs,
            la.cs,
            b.as_ptr(),
            lb.rs,
            lb.cs,
            beta,
            c.as_mut_ptr(),
            lc.rs,
            lc.cs,
        );
    }
}

/// Inner dimensions from which native products go through gemm-f64 (faer's GEMM kernels) rather
/// than matrixmultiply: 1.05-1.5x faster at k >= 32 on this project's machines, slower below
/// (0.5-0.9x at k = 4..16, where its packing does not pay). Measured on the 2-core AMD EPYC
/// family 23 guest, docs/performance.md "GEMM kernel".
#[cfg(not(target_arch = "wasm32"))]
pub const GEMM_F64_MIN_K: usize = 32;

/// Largest inner dimension of one gemm-f64 call. gemm-f64 splits k into cache blocks whose size
/// it derives from the L1 cache it detects (at least 512, all of k when k <= 512): a product
/// with a longer k is summed in fixed blocks of at most this many terms here, so its bits depend
/// on the shape only, not on the machine's caches.
#[cfg(not(target_arch = "wasm32"))]
pub const GEMM_F64_K_BLOCK: usize = 512;

/// C = alpha A B + beta C through gemm-f64, sequentially, with k cut into
/// `ceil(k / GEMM_F64_K_BLOCK)` nearly equal blocks summed in order into C.
///
/// # Safety
/// The layouts describe regions inside the slices.
#[cfg(not(target_arch = "wasm32"))]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_f64_blocked(
    alpha: f64,
    a: &[f64],
    la: Layout,
    b: &[f64],
    lb: Layout,
    beta: f64,
    c: &mut [f64],
    lc: Layout,
) {
    let k = la.cols;
    let blocks = k.div_ceil(GEMM_F64_K_BLOCK);
    let kb = k.div_ceil(blocks);
    let f = gemm_f64::gemm::f64::get_gemm_fn();
    let mut p = 0;
    while p < k {
        let len = kb.min(k - p);
        // gemm-f64 computes dst = alpha_g dst + beta_g lhs rhs (its names: the scale of C first).
        let (read, scale_c) = if p == 0 {
            (beta != 0.0, beta)
        } else {
            (true, 1.0)
        };
        f(
            lc.rows,
            lc.cols,
            len,
            c.as_mut_ptr(),
            lc.cs,
            lc.rs,
            read,
            a.as_ptr().offset(p as isize * la.cs) as *mut f64,
            la.cs,
            la.rs,
            b.as_ptr().offset(p as isize * lb.rs) as *mut f64,
            lb.cs,
            lb.rs,
            scale_c,
            alpha,
            false,
            false,
            false,
            gemm_common::Parallelism::None,
        );
        p += len;
    }
}

fn fits(len: usize, l: Layout) -> bool {
    if l.rows == 0 || l.cols == 0 {
        return true;
    }
    let last = (l.rows as isize - 1) * l.rs + (l.cols as isize - 1) * l.cs;
    last >= 0 && (last as usize) < len
}

/// Gram matrix A^T A of a row-major `n x r` matrix (r x r, row-major).
pub fn gram(a: &[f64], n: usize, r: usize, out: &mut [f64]) {
    let l = Layout::row_major(n, r);
    gemm(1.0, a, l.t(), a, l, 0.0, out, Layout::row_major(r, r));
}

/// Dot product with 8 independent partial sums (added in a fixed order, so the result is the
/// same on every target): a single running sum is one dependent add per element, ~4x slower.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    for (l, (x, y)) in ar.iter().zip(br).enumerate() {
        acc[l] += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// Basis vectors per group of [`dots`] (one pass over a block of `w` serves the group).
const DOT_GROUP: usize = 4;
/// Basis vectors per parallel task of [`dots`].
const DOT_TASK: usize = 16;
/// Rows per block of [`dots`] and [`add_combination`]: the block of `w` (16 KB) stays in L1
/// while the basis vectors stream past it.
const ROW_BLOCK: usize = 2048;
/// Rows per parallel task of [`add_combination`] (fixed: a multiple of [`ROW_BLOCK`]).
const ROW_TASK: usize = 8 * ROW_BLOCK;

/// `c[l] = dot(basis[l], w)` for every `l`, bit for bit (each dot keeps `dot`'s 8 partial sums
/// over the whole vector, in order): `Q^T w` as one blocked pass over the basis, with the block
/// of `w` in L1 and several basis vectors per pass over it; the basis vectors are split over
/// `par` in fixed groups. Every basis vector has the length of `w`.
pub fn dots(basis: &[Vec<f64>], w: &[f64], c: &mut [f64], par: crate::par::Parallelism) {
    let k = basis.len();
    debug_assert!(c.len() >= k && basis.iter().all(|q| q.len() == w.len()));
    let par = par.for_work(2 * k * w.len());
    let tasks = k.div_ceil(DOT_TASK);
    let parts = par.map(tasks, |t| {
        let lo = t * DOT_TASK;
        let hi = (lo + DOT_TASK).min(k);
        let mut acc = [[0.0f64; 8]; DOT_TASK];
        dispatch_dots(&basis[lo..hi], w, &mut acc[..hi - lo]);
        acc
    });
    for (t, acc) in parts.iter().enumerate() {
        let lo = t * DOT_TASK;
        for (l, a) in acc.iter().take(k - lo).enumerate() {
            c[lo + l] = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
        }
    }
}

fn dispatch_dots(qs: &[Vec<f64>], w: &[f64], acc: &mut [[f64; 8]]) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        unsafe fn avx512(qs: &[Vec<f64>], w: &[f64], acc: &mut [[f64; 8]]) {
            dots_body(qs, w, acc)
        }
        #[target_feature(enable = "avx2")]
        unsafe fn avx2(qs: &[Vec<f64>], w: &[f64], acc: &mut [[f64; 8]]) {
            dots_body(qs, w, acc)
        }
        // SAFETY: each path runs only on a CPU that has its features.
        if std::arch::is_x86_feature_detected!("avx512f") {
            return unsafe { avx512(qs, w, acc) };
        } else if std::arch::is_x86_feature_detected!("avx2") {
            return unsafe { avx2(qs, w, acc) };
        }
    }
    dots_body(qs, w, acc)
}

/// The lane sums of `dot` for every vector of `qs`: element i goes to lane i % 8, in order of i.
/// Separate multiply and add in every instruction set (Rust does not contract them), so every
/// path gives the same bits.
#[inline(always)]
fn dots_body(qs: &[Vec<f64>], w: &[f64], acc: &mut [[f64; 8]]) {
    let n = w.len();
    let full = n / 8 * 8;
    let mut b0 = 0;
    while b0 < full {
        let b1 = (b0 + ROW_BLOCK).min(full);
        let wb = &w[b0..b1];
        let mut g0 = 0;
        while g0 + DOT_GROUP <= qs.len() {
            let q: [&[f64]; DOT_GROUP] = std::array::from_fn(|g| &qs[g0 + g][b0..b1]);
            let mut a: [[f64; 8]; DOT_GROUP] = std::array::from_fn(|g| acc[g0 + g]);
            for (i, x) in wb.chunks_exact(8).enumerate() {
                for g in 0..DOT_GROUP {
                    let y = &q[g][8 * i..8 * i + 8];
                    for l in 0..8 {
                        a[g][l] += y[l] * x[l];
                    }
                }
            }
            acc[g0..g0 + DOT_GROUP].copy_from_slice(&a);
            g0 += DOT_GROUP;
        }
        for g in g0..qs.len() {
            let q = &qs[g][b0..b1];
            let a = &mut acc[g];
            for (x, y) in wb.chunks_exact(8).zip(q.chunks_exact(8)) {
                for l in 0..8 {
                    a[l] += y[l] * x[l];
                }
            }
        }
        b0 = b1;
    }
    for (a, q) in acc.iter_mut().zip(qs) {
        for (l, i) in (full..n).enumerate() {
            a[l] += q[i] * w[i];
        }
    }
}

/// `w += sum_l coef[l] basis[l]`, bit for bit as `axpy(coef[l], &basis[l], w)` for l = 0, 1, ..
/// in turn (every element sees the same additions in the same order): `w + Q coef` with the
/// block of `w` in L1 while the basis streams past it, rows split over `par` in fixed tasks.
pub fn add_combination(
    basis: &[Vec<f64>],
    coef: &[f64],
    w: &mut [f64],
    par: crate::par::Parallelism,
) {
    let k = basis.len();
    debug_assert!(coef.len() >= k && basis.iter().all(|q| q.len() == w.len()));
    let par = par.for_work(2 * k * w.len());
    par.for_each_chunk(w, ROW_TASK, |t, wt| {
        let base = t * ROW_TASK;
        for (b, wb) in wt.chunks_mut(ROW_BLOCK).enumerate() {
            let lo = base + b * ROW_BLOCK;
            let hi = lo + wb.len();
            let mut l = 0;
            while l + 4 <= k {
                let (q0, q1, q2, q3) = (
                    &basis[l][lo..hi],
                    &basis[l + 1][lo..hi],
                    &basis[l + 2][lo..hi],
                    &basis[l + 3][lo..hi],
                );
                let (c0, c1, c2, c3) = (coef[l], coef[l + 1], coef[l + 2], coef[l + 3]);
                for (i, y) in wb.iter_mut().enumerate() {
                    *y = (((*y + c0 * q0[i]) + c1 * q1[i]) + c2 * q2[i]) + c3 * q3[i];
                }
                l += 4;
            }
            while l < k {
                axpy(coef[l], &basis[l][lo..hi], wb);
                l += 1;
            }
        }
    });
}

/// Rows per block of [`combinations`]: the blocks of all outputs (e.g. 150 kept Ritz vectors x
/// 2 KB) stay in L2 while each basis vector's block streams past them once.
const COMB_BLOCK: usize = 256;

/// `out[c] = sum_l coef[c][l] basis[l]` for every `c`, bit for bit as `add_combination(basis,
/// coef[c], out[c])` into a zeroed `out[c]` (every element sees the same additions in the same
/// order), but with one pass over the basis for all outputs instead of one per output: `Q S` for
/// the Ritz vectors of a thick restart. Rows are split over `par` in fixed tasks.
pub fn combinations(
    basis: &[Vec<f64>],
    coef: &[Vec<f64>],
    out: &mut [Vec<f64>],
    par: crate::par::Parallelism,
) {
    let k = basis.len();
    let n = out.first().map_or(0, |y| y.len());
    debug_assert!(coef.len() == out.len() && coef.iter().all(|c| c.len() >= k));
    debug_assert!(basis.iter().chain(out.iter()).all(|q| q.len() == n));
    let par = par.for_work(2 * k * n * out.len());
    // Each task owns rows [t * ROW_TASK, (t + 1) * ROW_TASK) of every output.
    let mut tasks: Vec<Vec<&mut [f64]>> = (0..n.div_ceil(ROW_TASK)).map(|_| Vec::new()).collect();
    for y in out.iter_mut() {
        for (t, part) in y.chunks_mut(ROW_TASK).enumerate() {
            part.fill(0.0);
            tasks[t].push(part);
        }
    }
    par.for_each(&mut tasks, |t, ys| {
        let base = t * ROW_TASK;
        let len = ys.first().map_or(0, |y| y.len());
        let mut b0 = 0;
        while b0 < len {
            let b1 = (b0 + COMB_BLOCK).min(len);
            for (l, q) in basis.iter().enumerate() {
                let qb = &q[base + b0..base + b1];
                for (y, c) in ys.iter_mut().zip(coef) {
                    let cl = c[l];
                    for (yi, qi) in y[b0..b1].iter_mut().zip(qb) {
                        *yi += cl * qi;
                    }
                }
            }
            b0 = b1;
        }
    });
}

pub fn norm2(a: &[f64]) -> f64 {
    dot(a, a)
}

/// The Euclidean norm: sqrt(norm2(a)), bit for bit, when the sum of squares does not overflow;
/// otherwise computed with scaling by max|a_i|, so it is finite whenever it is representable
/// (the gradient norm of the last kept row of a diverging run).
pub fn norm(a: &[f64]) -> f64 {
    let s = norm2(a);
    if s.is_finite() {
        return libm::sqrt(s);
    }
    let m = a.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    if !m.is_finite() || m == 0.0 {
        return s.sqrt();
    }
    m * libm::sqrt(a.iter().map(|x| (x / m) * (x / m)).sum::<f64>())
}

/// y += alpha x
pub fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// Orthonormalize the `r` columns of the row-major `n x r` matrix `q` in place (modified
/// Gram-Schmidt, applied twice: "twice is enough"). Columns must be independent.
pub fn gram_schmidt_columns(q: &mut [f64], n: usize, r: usize) {
    for j in 0..r {
        for _pass in 0..2 {
            for k in 0..j {
                let mut p = 0.0;
                for i in 0..n {
                    p += q[i * r + j] * q[i * r + k];
                }
                for i in 0..n {
                    q[i * r + j] -= p * q[i * r + k];
                }
            }
        }
        let mut s = 0.0;
        for i in 0..n {
            s += q[i * r + j] * q[i * r + j];
        }
        let s = libm::sqrt(s);
        for i in 0..n {
            q[i * r + j] /= s;
        }
    }
}

/// An orthonormal basis of the span of `raw` (modified Gram-Schmidt, two passes per vector:
/// "twice is enough"); a vector whose remainder is below `rel_tol` times the largest input norm is
/// dropped as dependent.
pub fn orthonormalize(raw: Vec<Vec<f64>>, rel_tol: f64) -> Vec<Vec<f64>> {
    let big = raw.iter().map(|t| norm2(t).sqrt()).fold(0.0, f64::max);
    let mut basis: Vec<Vec<f64>> = Vec::new();
    for mut t in raw {
        for _ in 0..2 {
            for q in &basis {
                let c = dot(q, &t);
                if c != 0.0 {
                    axpy(-c, q, &mut t);
                }
            }
        }
        let nn = norm2(&t).sqrt();
        if nn > rel_tol * big && nn > 0.0 {
            t.iter_mut().for_each(|x| *x /= nn);
            basis.push(t);
        }
    }
    basis
}

pub fn all_finite(a: &[f64]) -> bool {
    a.iter().all(|x| x.is_finite())
}

/// An f64 GEMM for wasm simd128 (2 lanes): C = alpha A B + beta C with C row-contiguous (column
/// stride 1), A and B with any strides; plain multiply and add (no FMA: relaxed SIMD is not in
/// Node 20 by default). Two paths (`gemm` picks one by B's layout and size):
///
/// - **packed** (B not row-contiguous, or more than `DIRECT_B_BYTES` with more than
///   `DIRECT_ROWS` rows of A): cache-blocked in the BLIS / GotoBLAS way. k is cut into
///   `ceil(k / KC)` nearly equal blocks (so the bits depend on the shape, not on the machine);
///   for each block a `kc x nc` panel of B is packed in micro-panels of `NR` columns (`kc NR`
///   contiguous doubles each, zero-padded), bounded by `B_BYTES`; for each `mc x kc` block of A
///   (bounded by `A_BYTES`, in L2), packed in micro-panels of `MR` rows (which also turns a
///   transposed A's strided loads into contiguous ones), every `MR x NR` tile of C is computed
///   in registers with B's micro-panel in L1: per k step one splat load of each of A's `MR`
///   values, `NR / 2` vector loads of B, `MR NR / 2` multiplies and adds. A tile is written as
///   `base + alpha acc`, base being `beta C` (0 when beta = 0: C is not read, like BLAS; C
///   itself when beta = 1) for the first k block and C for the next ones. The packing buffers
///   are transient (at most `A_BYTES + B_BYTES`, 1.25 MB). Without it every 4-row block of A
///   streamed all of B: 8 MB per block for the Figure 2 network's dW = delta^T X (100 x 1000
///   by 1000 x 1000), which runs ~3x faster packed.
/// - **direct** (the kernel before cache blocking, for a row-contiguous B that is small or
///   multiplies few rows of A, e.g. the row blocks of the matrix-factorization step, where
///   packing B on every call did not pay): 4 x 4 register tiles (8 accumulators) read straight
///   from A and B, then 2-column, scalar and single-row edges.
///
/// Each element of C is one lane summed in order of k within a k block: for k <= `KC` the two
/// paths give the same bits (and the bits of the kernel before cache blocking). Of the tiles
/// tried for the packed path, 4 x 4 was the fastest under V8 (x86 has 16 XMM registers, one
/// kept as scratch); 4 x 6, 6 x 4, 5 x 4 and 3 x 8 ran 15-35% slower (docs/performance.md,
/// "wasm GEMM, cache-blocked").
///
/// The arithmetic goes through a 2-lane type that is simd128 on wasm32 and a plain pair of
/// f64 elsewhere (the same operations in the same order, so the same bits): the native unit
/// tests run this kernel too.
#[cfg(any(test, all(target_arch = "wasm32", target_feature = "simd128")))]
mod wasm_gemm {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    mod v2 {
        use std::arch::wasm32::*;
        pub type V = v128;
        #[inline(always)]
        pub fn splat(x: f64) -> V {
            f64x2_splat(x)
        }
        #[inline(always)]
        pub unsafe fn load_splat(p: *const f64) -> V {
            v128_load64_splat(p as *const u64)
        }
        #[inline(always)]
        pub unsafe fn load(p: *const f64) -> V {
            v128_load(p as *const v128)
        }
        #[inline(always)]
        pub fn add(a: V, b: V) -> V {
            f64x2_add(a, b)
        }
        #[inline(always)]
        pub fn mul(a: V, b: V) -> V {
            f64x2_mul(a, b)
        }
        #[inline(always)]
        pub unsafe fn store(p: *mut f64, a: V) {
            v128_store(p as *mut v128, a)
        }
        #[inline(always)]
        pub fn lanes(a: V) -> [f64; 2] {
            [f64x2_extract_lane::<0>(a), f64x2_extract_lane::<1>(a)]
        }
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    mod v2 {
        pub type V = [f64; 2];
        pub fn splat(x: f64) -> V {
            [x, x]
        }
        pub unsafe fn load_splat(p: *const f64) -> V {
            [*p, *p]
        }
        pub unsafe fn load(p: *const f64) -> V {
            [*p, *p.add(1)]
        }
        pub fn add(a: V, b: V) -> V {
            [a[0] + b[0], a[1] + b[1]]
        }
        pub fn mul(a: V, b: V) -> V {
            [a[0] * b[0], a[1] * b[1]]
        }
        pub unsafe fn store(p: *mut f64, a: V) {
            *p = a[0];
            *p.add(1) = a[1];
        }
        pub fn lanes(a: V) -> [f64; 2] {
            a
        }
    }
    use v2::*;

    /// Rows of a register tile.
    pub const MR: usize = 4;
    /// Columns of a register tile (a multiple of 2: `NR / 2` vectors per row).
    pub const NR: usize = 4;
    /// Largest k block. Up to it, the sums are those of the direct path, bit for bit.
    pub const KC: usize = 1024;
    /// Largest B (bytes) that goes through the direct path when its rows are contiguous.
    pub const DIRECT_B_BYTES: usize = 512 << 10;
    /// Products of at most this many rows take the direct path for any row-contiguous B:
    /// packing B for a few row tiles does not pay (the MF step's 32-row residual blocks were
    /// 2-5% slower packed).
    pub const DIRECT_ROWS: usize = 32;
    /// Bound of the packed block of A (bytes): `mc kc` doubles in L2.
    pub const A_BYTES: usize = 256 << 10;
    /// Bound of the packed panel of B (bytes): `kc nc` doubles.
    pub const B_BYTES: usize = 1 << 20;

    /// C (`m x n`, row stride `crs`, column stride 1) = alpha A B + beta C, A `m x k` (element
    /// (i, p) at `a[i ars + p acs]`), B `k x n` (element (p, j) at `b[p brs + j bcs]`), k > 0:
    /// [`direct`] when B's rows are contiguous and B has at most `DIRECT_B_BYTES` or A at most
    /// `DIRECT_ROWS` rows, else [`packed`]. The two give the same bits when k <= `KC`.
    ///
    /// # Safety
    /// The strides describe regions inside the allocations the pointers point into.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: f64,
        a: *const f64,
        ars: isize,
        acs: isize,
        b: *const f64,
        brs: isize,
        bcs: isize,
        beta: f64,
        c: *mut f64,
        crs: isize,
    ) {
        if bcs == 1 && (k * n * 8 <= DIRECT_B_BYTES || m <= DIRECT_ROWS) {
            direct(m, k, n, alpha, a, ars, acs, b, brs, beta, c, crs);
        } else {
            packed(m, k, n, alpha, a, ars, acs, b, brs, bcs, beta, c, crs);
        }
    }

    /// The cache-blocked (packed) path (module doc).
    ///
    /// # Safety
    /// As [`gemm`].
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn packed(
        m: usize,
        k: usize,
        n: usize,
        alpha: f64,
        a: *const f64,
        ars: isize,
        acs: isize,
        b: *const f64,
        brs: isize,
        bcs: isize,
        beta: f64,
        c: *mut f64,
        crs: isize,
    ) {
        let blocks = k.div_ceil(KC);
        let kb = k.div_ceil(blocks);
        let mc_max = (A_BYTES / 8 / kb / MR).max(1) * MR;
        let nc_max = (B_BYTES / 8 / kb / NR).max(1) * NR;
        let mc_max = mc_max.min(m.next_multiple_of(MR));
        let nc_max = nc_max.min(n.next_multiple_of(NR));
        let mut ap = vec![0.0f64; mc_max * kb];
        let mut bp = vec![0.0f64; nc_max * kb];
        let mut jc = 0;
        while jc < n {
            let nc = nc_max.min(n - jc);
            let mut pc = 0;
            while pc < k {
                let kc = kb.min(k - pc);
                pack(
                    &mut bp,
                    b.offset(pc as isize * brs + jc as isize * bcs),
                    bcs,
                    brs,
                    nc,
                    kc,
                    NR,
                );
                let mut ic = 0;
                while ic < m {
                    let mc = mc_max.min(m - ic);
                    pack(
                        &mut ap,
                        a.offset(ic as isize * ars + pc as isize * acs),
                        ars,
                        acs,
                        mc,
                        kc,
                        MR,
                    );
                    let mut jr = 0;
                    while jr < nc {
                        let bt = bp.as_ptr().add(jr * kc);
                        let mut ir = 0;
                        while ir < mc {
                            let acc = tile(kc, ap.as_ptr().add(ir * kc), bt);
                            let cp = c.offset((ic + ir) as isize * crs + (jc + jr) as isize);
                            write_tile(
                                &acc,
                                cp,
                                crs,
                                MR.min(mc - ir),
                                NR.min(nc - jr),
                                alpha,
                                if pc == 0 { beta } else { 1.0 },
                            );
                            ir += MR;
                        }
                        jr += NR;
                    }
                    ic += mc;
                }
                pc += kc;
            }
            jc += nc;
        }
    }

    /// The direct path (the kernel before cache blocking): no packing, B row-contiguous; for
    /// each 4 rows of A every `4`-column block of B is read along k, then 2-column, scalar
    /// columns and single rows. Each element of C is summed in order of k in one block.
    ///
    /// # Safety
    /// As [`gemm`], with B's column stride 1.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn direct(
        m: usize,
        k: usize,
        n: usize,
        alpha: f64,
        a: *const f64,
        ars: isize,
        acs: isize,
        b: *const f64,
        brs: isize,
        beta: f64,
        c: *mut f64,
        crs: isize,
    ) {
        if beta != 1.0 {
            for i in 0..m as isize {
                for j in 0..n as isize {
                    let p = c.offset(i * crs + j);
                    *p = if beta == 0.0 { 0.0 } else { *p * beta };
                }
            }
        }
        let t = Direct {
            k,
            n,
            alpha,
            a,
            ars,
            acs,
            b,
            brs,
            c,
            crs,
        };
        let mut i = 0;
        while i + 4 <= m {
            t.rows::<4>(i as isize);
            i += 4;
        }
        while i < m {
            t.rows::<1>(i as isize);
            i += 1;
        }
    }

    struct Direct {
        k: usize,
        n: usize,
        alpha: f64,
        a: *const f64,
        ars: isize,
        acs: isize,
        b: *const f64,
        brs: isize,
        c: *mut f64,
        crs: isize,
    }

    impl Direct {
        #[inline(always)]
        unsafe fn rows<const R: usize>(&self, i0: isize) {
            let al = splat(self.alpha);
            let arow: [*const f64; R] =
                std::array::from_fn(|r| self.a.offset((i0 + r as isize) * self.ars));
            let mut j = 0isize;
            let n = self.n as isize;
            while j + 4 <= n {
                let mut acc = [[splat(0.0); 2]; R];
                for p in 0..self.k as isize {
                    let bp = self.b.offset(p * self.brs + j);
                    let b0 = load(bp);
                    let b1 = load(bp.add(2));
                    for r in 0..R {
                        let av = splat(*arow[r].offset(p * self.acs));
                        acc[r][0] = add(acc[r][0], mul(av, b0));
                        acc[r][1] = add(acc[r][1], mul(av, b1));
                    }
                }
                for (r, row) in acc.iter().enumerate() {
                    let cp = self.c.offset((i0 + r as isize) * self.crs + j);
                    for (q, v) in row.iter().enumerate() {
                        let p = cp.add(2 * q);
                        store(p, add(load(p), mul(al, *v)));
                    }
                }
                j += 4;
            }
            while j + 2 <= n {
                let mut acc = [splat(0.0); R];
                for p in 0..self.k as isize {
                    let b0 = load(self.b.offset(p * self.brs + j));
                    for r in 0..R {
                        let av = splat(*arow[r].offset(p * self.acs));
                        acc[r] = add(acc[r], mul(av, b0));
                    }
                }
                for (r, v) in acc.iter().enumerate() {
                    let p = self.c.offset((i0 + r as isize) * self.crs + j);
                    store(p, add(load(p), mul(al, *v)));
                }
                j += 2;
            }
            while j < n {
                for r in 0..R {
                    let mut s = 0.0;
                    for p in 0..self.k as isize {
                        s += *arow[r].offset(p * self.acs) * *self.b.offset(p * self.brs + j);
                    }
                    *self.c.offset((i0 + r as isize) * self.crs + j) += self.alpha * s;
                }
                j += 1;
            }
        }
    }

    /// Packs the `len x kc` matrix X (element (q, p) at `x[q qs + p ps]`) in micro-panels of
    /// `w` rows: panel t holds (t w + r, p) at `dst[t w kc + p w + r]`; rows past `len` are 0.
    /// Walks each panel along p (w neighbouring elements of X per step: contiguous for B).
    #[inline(always)]
    unsafe fn pack(
        dst: &mut [f64],
        x: *const f64,
        qs: isize,
        ps: isize,
        len: usize,
        kc: usize,
        w: usize,
    ) {
        let mut q0 = 0;
        while q0 < len {
            let rows = w.min(len - q0);
            let panel = &mut dst[q0 * kc..(q0 + w) * kc];
            let x0 = x.offset(q0 as isize * qs);
            for (p, out) in panel.chunks_exact_mut(w).enumerate() {
                let xp = x0.offset(p as isize * ps);
                if rows == w {
                    for (r, o) in out.iter_mut().enumerate() {
                        *o = *xp.offset(r as isize * qs);
                    }
                } else {
                    for (r, o) in out.iter_mut().enumerate() {
                        *o = if r < rows {
                            *xp.offset(r as isize * qs)
                        } else {
                            0.0
                        };
                    }
                }
            }
            q0 += w;
        }
    }

    /// The `MR x NR` tile of sums over p < kc of A's packed micro-panel `a` times B's `b`.
    #[inline(always)]
    unsafe fn tile(kc: usize, a: *const f64, b: *const f64) -> [[V; NR / 2]; MR] {
        let mut acc = [[splat(0.0); NR / 2]; MR];
        for p in 0..kc {
            let bp = b.add(p * NR);
            let bv: [V; NR / 2] = std::array::from_fn(|q| load(bp.add(2 * q)));
            let ap = a.add(p * MR);
            for (r, row) in acc.iter_mut().enumerate() {
                let av = load_splat(ap.add(r));
                for (x, y) in row.iter_mut().zip(&bv) {
                    *x = add(*x, mul(av, *y));
                }
            }
        }
        acc
    }

    /// C's `rows x cols` corner of a tile: `base + alpha acc`, base = 0 (beta = 0, C not read),
    /// C (beta = 1) or beta C.
    #[inline(always)]
    unsafe fn write_tile(
        acc: &[[V; NR / 2]; MR],
        c: *mut f64,
        crs: isize,
        rows: usize,
        cols: usize,
        alpha: f64,
        beta: f64,
    ) {
        if rows == MR && cols == NR {
            let (al, be) = (splat(alpha), splat(beta));
            for (r, row) in acc.iter().enumerate() {
                let cr = c.offset(r as isize * crs);
                for (q, v) in row.iter().enumerate() {
                    let cq = cr.add(2 * q);
                    let base = if beta == 0.0 {
                        splat(0.0)
                    } else if beta == 1.0 {
                        load(cq)
                    } else {
                        mul(load(cq), be)
                    };
                    store(cq, add(base, mul(al, *v)));
                }
            }
            return;
        }
        for (r, row) in acc.iter().enumerate().take(rows) {
            let cr = c.offset(r as isize * crs);
            for (q, v) in row.iter().enumerate() {
                let s = lanes(*v);
                for (l, s) in s.iter().enumerate() {
                    let j = 2 * q + l;
                    if j < cols {
                        let cj = cr.add(j);
                        let base = if beta == 0.0 {
                            0.0
                        } else if beta == 1.0 {
                            *cj
                        } else {
                            *cj * beta
                        };
                        *cj = base + alpha * s;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::par::Parallelism;

    fn vecs(k: usize, n: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = crate::rng::Normal::new(seed);
        (0..k)
            .map(|_| {
                let mut v = vec![0.0; n];
                rng.fill(&mut v, 1.0);
                v
            })
            .collect()
    }

    /// The blocked products give the bits of the vector-by-vector loops they replace, for
    /// lengths around the block sizes, group sizes that do not divide k, on both paths.
    #[test]
    fn blocked_basis_products_have_the_bits_of_dot_and_axpy() {
        for &(k, n) in &[
            (0, 5),
            (1, 1),
            (3, 7),
            (5, 8),
            (17, 100),
            (23, ROW_BLOCK + 13),
            (21, ROW_TASK * 2 + 5),
            (40, 300_001),
        ] {
            let basis = vecs(k, n, 7 + k as u64);
            let w = vecs(1, n, 99).pop().unwrap();
            let want_c: Vec<f64> = basis.iter().map(|q| dot(q, &w)).collect();
            let mut want_w = w.clone();
            for (q, c) in basis.iter().zip(&want_c) {
                axpy(-c, q, &mut want_w);
            }
            for par in [Parallelism::Sequential, Parallelism::Rayon] {
                let mut c = vec![0.0; k];
                dots(&basis, &w, &mut c, par);
                assert!(
                    c.iter()
                        .zip(&want_c)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "dots k={k} n={n} {par:?}"
                );
                let neg: Vec<f64> = c.iter().map(|x| -x).collect();
                let mut w2 = w.clone();
                add_combination(&basis, &neg, &mut w2, par);
                assert!(
                    w2.iter()
                        .zip(&want_w)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "add_combination k={k} n={n} {par:?}"
                );
            }
        }
    }

    /// `combinations` gives the bits of one `add_combination` per output into a zeroed vector.
    #[test]
    fn combinations_have_the_bits_of_add_combination() {
        for &(k, n, outs) in &[
            (0, 5, 2),
            (1, 1, 1),
            (3, 7, 4),
            (17, COMB_BLOCK + 3, 5),
            (23, ROW_TASK * 2 + 5, 9),
            (30, 100_003, 16),
        ] {
            let basis = vecs(k, n, 3 + k as u64);
            let coef = vecs(outs, k, 41);
            let want: Vec<Vec<f64>> = coef
                .iter()
                .map(|c| {
                    let mut y = vec![0.0; n];
                    add_combination(&basis, c, &mut y, Parallelism::Sequential);
                    y
                })
                .collect();
            for par in [Parallelism::Sequential, Parallelism::Rayon] {
                let mut out = vec![vec![f64::NAN; n]; outs];
                combinations(&basis, &coef, &mut out, par);
                for (y, w) in out.iter().zip(&want) {
                    assert!(
                        y.iter().zip(w).all(|(a, b)| a.to_bits() == b.to_bits()),
                        "combinations k={k} n={n} outs={outs} {par:?}"
                    );
                }
            }
        }
    }

    /// `gemm` against a plain triple loop (compensated sums), on both native kernels
    /// (matrixmultiply below `GEMM_F64_MIN_K`, gemm-f64 from it, in k blocks past
    /// `GEMM_F64_K_BLOCK`): every transpose of A, B and C, beta 0 (C's NaN ignored), 1 and -0.5.
    #[test]
    fn gemm_matches_a_triple_loop_on_every_layout_and_k_block() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (3, 31, 5),
            (7, 32, 3),
            (1, 1000, 1),
            (13, 100, 17),
            (33, 513, 9),
            (5, 1025, 40),
            (64, 1200, 2),
        ] {
            let a = vecs(1, m * k, 5 + k as u64).pop().unwrap();
            let b = vecs(1, k * n, 6 + n as u64).pop().unwrap();
            let c0 = vecs(1, m * n, 8).pop().unwrap();
            for (ta, tb, tc) in (0..8).map(|x| (x & 1 == 1, x & 2 == 2, x & 4 == 4)) {
                let lay = |r: usize, c: usize, t: bool| {
                    if t {
                        Layout::row_major(c, r).t()
                    } else {
                        Layout::row_major(r, c)
                    }
                };
                let (la, lb, lc) = (lay(m, k, ta), lay(k, n, tb), lay(m, n, tc));
                let at = |l: Layout, x: &[f64], i: usize, j: usize| {
                    x[(i as isize * l.rs + j as isize * l.cs) as usize]
                };
                for &(alpha, beta) in &[(1.0, 0.0), (0.75, 1.0), (-2.0, -0.5)] {
                    let mut c = if beta == 0.0 {
                        vec![f64::NAN; m * n]
                    } else {
                        c0.clone()
                    };
                    gemm(alpha, &a, la, &b, lb, beta, &mut c, lc);
                    for i in 0..m {
                        for j in 0..n {
                            let (mut s, mut comp, mut mag) = (0.0f64, 0.0f64, 0.0f64);
                            for p in 0..k {
                                let t = at(la, &a, i, p) * at(lb, &b, p, j);
                                mag += t.abs();
                                let y = t - comp;
                                let u = s + y;
                                comp = (u - s) - y;
                                s = u;
                            }
                            let old = if beta == 0.0 {
                                0.0
                            } else {
                                beta * at(lc, &c0, i, j)
                            };
                            let want = alpha * s + old;
                            let got = at(lc, &c, i, j);
                            let tol =
                                4.0 * (k as f64) * f64::EPSILON * (alpha.abs() * mag + old.abs());
                            assert!(
                                (got - want).abs() <= tol,
                                "m={m} k={k} n={n} t=({ta},{tb},{tc}) alpha={alpha} beta={beta}: {got} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// The wasm kernel (compiled natively with its scalar 2-lane type: the same operations in
    /// the same order) against a scalar loop with its documented summation order, bit for bit,
    /// and against compensated sums within rounding: every stride pattern of A and B, C with a
    /// row stride past its width, beta 0 (C's NaN ignored), 1 and -0.5, shapes with edges of the
    /// register tile, one and several k blocks, and several blocks of A's rows and B's columns.
    #[test]
    fn wasm_gemm_kernel_matches_its_summation_order_and_a_compensated_loop() {
        use wasm_gemm::{A_BYTES, B_BYTES, DIRECT_B_BYTES, DIRECT_ROWS, KC, MR, NR};
        let big = |k: usize| {
            let kb = k.div_ceil(k.div_ceil(KC));
            (
                A_BYTES / 8 / kb / MR * MR + 3,
                B_BYTES / 8 / kb / NR * NR + 5,
            )
        };
        let (m1, n1) = big(600);
        for &(m, k, n) in &[
            (1, 1, 1),
            (3, 5, 7),
            (4, 2, 4),
            (9, 31, 6),
            (17, KC, 13),
            (6, KC + 1, 10),
            (9, 2 * KC + 5, 7),
            // B past DIRECT_B_BYTES with k past KC: the dispatch's choice shows in the bits.
            (DIRECT_ROWS, KC + 76, 60),
            (DIRECT_ROWS + 1, KC + 76, 60),
            (13, 1000, 3),
            (m1, 600, n1),
        ] {
            let a = vecs(1, m * k, 5 + k as u64).pop().unwrap();
            let b = vecs(1, k * n, 6 + n as u64).pop().unwrap();
            let crs = n + 3;
            let c0 = vecs(1, m * crs, 8).pop().unwrap();
            let blocks = k.div_ceil(KC);
            let kb = k.div_ceil(blocks);
            // Per element: the plain sum of each k block, and the compensated sum and magnitude.
            let (mut parts, mut exact) = (vec![0.0; m * n * blocks], vec![(0.0, 0.0); m * n]);
            let mut whole = vec![0.0; m * n];
            for i in 0..m {
                for j in 0..n {
                    let (mut s, mut comp, mut mag) = (0.0f64, 0.0f64, 0.0f64);
                    for p in 0..k {
                        let t = a[i * k + p] * b[p * n + j];
                        parts[(i * n + j) * blocks + p / kb] += t;
                        whole[i * n + j] += t;
                        mag += t.abs();
                        let y = t - comp;
                        let u = s + y;
                        comp = (u - s) - y;
                        s = u;
                    }
                    exact[i * n + j] = (s, mag);
                }
            }
            for (ta, tb) in (0..4).map(|x| (x & 1 == 1, x & 2 == 2)) {
                // A (m x k) and B (k x n) stored row-major or as the transpose of a row-major.
                let store = |x: &[f64], r: usize, c: usize, t: bool| -> (Vec<f64>, isize, isize) {
                    if !t {
                        return (x.to_vec(), c as isize, 1);
                    }
                    let mut y = vec![0.0; r * c];
                    for i in 0..r {
                        for j in 0..c {
                            y[j * r + i] = x[i * c + j];
                        }
                    }
                    (y, 1, r as isize)
                };
                let (a2, ars, acs) = store(&a, m, k, ta);
                let (b2, brs, bcs) = store(&b, k, n, tb);
                // 0: the dispatch, 1: the packed path, 2: the direct path (B row-contiguous).
                let paths = if tb { 2 } else { 3 };
                for (path, &(alpha, beta)) in (0..paths).flat_map(|p| {
                    [(1.0, 0.0), (0.75, 1.0), (-2.0, -0.5)]
                        .iter()
                        .map(move |x| (p, x))
                }) {
                    let mut c = if beta == 0.0 {
                        vec![f64::NAN; m * crs]
                    } else {
                        c0.clone()
                    };
                    let f = [wasm_gemm::gemm, wasm_gemm::packed][path.min(1)];
                    unsafe {
                        if path == 2 {
                            wasm_gemm::direct(
                                m,
                                k,
                                n,
                                alpha,
                                a2.as_ptr(),
                                ars,
                                acs,
                                b2.as_ptr(),
                                brs,
                                beta,
                                c.as_mut_ptr(),
                                crs as isize,
                            );
                        } else {
                            f(
                                m,
                                k,
                                n,
                                alpha,
                                a2.as_ptr(),
                                ars,
                                acs,
                                b2.as_ptr(),
                                brs,
                                bcs,
                                beta,
                                c.as_mut_ptr(),
                                crs as isize,
                            );
                        }
                    }
                    for i in 0..m {
                        for j in 0..n {
                            let ctx = format!(
                                "m={m} k={k} n={n} t=({ta},{tb}) path {path} beta={beta} ({i},{j})"
                            );
                            let old = c0[i * crs + j];
                            let mut want = if beta == 0.0 { 0.0 } else { beta * old };
                            // The direct path sums all of k in one block.
                            let e = i * n + j;
                            let direct = path == 2
                                || (path == 0
                                    && !tb
                                    && (k * n * 8 <= DIRECT_B_BYTES || m <= DIRECT_ROWS));
                            let sums = if direct {
                                &whole[e..e + 1]
                            } else {
                                &parts[e * blocks..(e + 1) * blocks]
                            };
                            for s in sums {
                                want += alpha * s;
                            }
                            let got = c[i * crs + j];
                            assert_eq!(got.to_bits(), want.to_bits(), "{ctx}: {got} vs {want}");
                            let (s, mag) = exact[i * n + j];
                            let old = if beta == 0.0 { 0.0 } else { beta * old };
                            let tol =
                                4.0 * (k as f64) * f64::EPSILON * (alpha.abs() * mag + old.abs());
                            assert!((got - (alpha * s + old)).abs() <= tol, "{ctx}");
                        }
                        // The padding past n is untouched.
                        for j in n..crs {
                            let want = if beta == 0.0 {
                                f64::NAN
                            } else {
                                c0[i * crs + j]
                            };
                            assert_eq!(c[i * crs + j].to_bits(), want.to_bits());
                        }
                    }
                }
            }
        }
    }
}
