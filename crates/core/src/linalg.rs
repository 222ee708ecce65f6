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
    // go through our own, which wants B's rows contiguous too; a B with other strides (e.g. the
    // W^T of a network layer's forward pass, X W^T) is first copied into a row-major k x n
    // buffer (k n doubles against the product's m k n operations).
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if lc.cs == 1 {
        let packed: Vec<f64>;
        let (bp, brs) = if lb.cs == 1 {
            (b.as_ptr(), lb.rs)
        } else {
            let mut t = Vec::with_capacity(lb.rows * lb.cols);
            for p in 0..lb.rows as isize {
                for j in 0..lb.cols as isize {
                    t.push(b[(p * lb.rs + j * lb.cs) as usize]);
                }
            }
            packed = t;
            (packed.as_ptr(), lb.cols as isize)
        };
        unsafe {
            wasm_gemm::gemm(
                lc.rows,
                la.cols,
                lc.cols,
                alpha,
                a.as_ptr(),
                la.rs,
                la.cs,
                bp,
                brs,
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

/// An f64 GEMM for wasm simd128 (2 lanes): C = alpha A B + beta C with B and C row-contiguous
/// (column stride 1), A with any strides. Register tiles of 4 rows x 4 columns (8 accumulators),
/// then 1-row, 2-column and scalar edges. Plain multiply and add, no FMA.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm_gemm {
    use std::arch::wasm32::*;

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
        let t = Tile {
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

    struct Tile {
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

    impl Tile {
        #[inline(always)]
        unsafe fn rows<const MR: usize>(&self, i0: isize) {
            let al = f64x2_splat(self.alpha);
            let arow: [*const f64; MR] =
                std::array::from_fn(|r| self.a.offset((i0 + r as isize) * self.ars));
            let mut j = 0isize;
            let n = self.n as isize;
            while j + 4 <= n {
                let mut acc = [[f64x2_splat(0.0); 2]; MR];
                for p in 0..self.k as isize {
                    let bp = self.b.offset(p * self.brs + j);
                    let b0 = v128_load(bp as *const v128);
                    let b1 = v128_load(bp.add(2) as *const v128);
                    for r in 0..MR {
                        let av = f64x2_splat(*arow[r].offset(p * self.acs));
                        acc[r][0] = f64x2_add(acc[r][0], f64x2_mul(av, b0));
                        acc[r][1] = f64x2_add(acc[r][1], f64x2_mul(av, b1));
                    }
                }
                for r in 0..MR {
                    let cp = self.c.offset((i0 + r as isize) * self.crs + j);
                    for (q, v) in acc[r].iter().enumerate() {
                        let p = cp.add(2 * q) as *mut v128;
                        v128_store(p, f64x2_add(v128_load(p), f64x2_mul(al, *v)));
                    }
                }
                j += 4;
            }
            while j + 2 <= n {
                let mut acc = [f64x2_splat(0.0); MR];
                for p in 0..self.k as isize {
                    let b0 = v128_load(self.b.offset(p * self.brs + j) as *const v128);
                    for r in 0..MR {
                        let av = f64x2_splat(*arow[r].offset(p * self.acs));
                        acc[r] = f64x2_add(acc[r], f64x2_mul(av, b0));
                    }
                }
                for r in 0..MR {
                    let p = self.c.offset((i0 + r as isize) * self.crs + j) as *mut v128;
                    v128_store(p, f64x2_add(v128_load(p), f64x2_mul(al, acc[r])));
                }
                j += 2;
            }
            while j < n {
                for r in 0..MR {
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
}
