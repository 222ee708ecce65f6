//! Single-pass fused kernel for small ranks (r <= 8), where the products are too thin for GEMM.
//!
//! For each row i of M* and each group of N columns j (N = SIMD width): the residual lanes
//! R[i, j] = sum_k U[i,k] V[j,k] - M*[i,j] live in registers; from them the kernel accumulates the
//! squared norm, dU[i, :] = R[i, :] V and dV^T[:, j] += U[i, :]^T R[i, j]. M* is read once per
//! evaluation. On x86-64 the columns are blocked (V^T and dV^T of a block, 2 r `block_cols(r)`
//! numbers, stay in L1 while the rows of the chunk stream past; unblocked, 80 KB at d2 = 1000,
//! r = 5, they did not fit).
//!
//! One generic body, instantiated per instruction set: AVX-512 and AVX2 on x86_64 (chosen at run
//! time, both with FMA), simd128 on wasm32 (the wasm crate is built with `+simd128`), scalar
//! elsewhere. The x86-64 paths fuse every multiply-add (one rounding: `Simd::fma`); simd128 and
//! the scalar fallback multiply, then add. So native (AVX2 or AVX-512, the same 8 lanes and the
//! same bits) and wasm differ in the last bits by the rounding of the products and by the lane
//! count; parity between them is the cross-backend tolerance (test/parity.test.ts).

use super::simd::Simd;

/// Per-chunk input: the rows of U and M* of the chunk, V^T (r x d2 row-major).
pub struct Rows<'a> {
    pub u: &'a [f64],
    pub m: &'a [f64],
    pub vt: &'a [f64],
    pub d2: usize,
    pub r: usize,
}

/// Computes the chunk's dU rows (overwritten), adds to dV^T (r x d2), returns the sum of squares
/// of the residual.
pub fn run(x: &Rows, gu: &mut [f64], gvt: &mut [f64]) -> f64 {
    assert!(x.r >= 1 && x.r <= super::SMALL_RANK);
    assert!(x.vt.len() == x.r * x.d2 && gvt.len() == x.r * x.d2);
    assert!(x.m.len() == (x.u.len() / x.r) * x.d2 && gu.len() == x.u.len());
    super::simd::dispatch!(run_with, x, gu, gvt)
}

#[inline(always)]
unsafe fn run_with<S: Simd>(x: &Rows, gu: &mut [f64], gvt: &mut [f64]) -> f64 {
    match x.r {
        1 => kernel::<S, 1>(x, gu, gvt),
        2 => kernel::<S, 2>(x, gu, gvt),
        3 => kernel::<S, 3>(x, gu, gvt),
        4 => kernel::<S, 4>(x, gu, gvt),
        5 => kernel::<S, 5>(x, gu, gvt),
        6 => kernel::<S, 6>(x, gu, gvt),
        7 => kernel::<S, 7>(x, gu, gvt),
        _ => kernel::<S, 8>(x, gu, gvt),
    }
}

/// Doubles of V^T and dV^T one column block may hold (24 KB: with the stream of M*, inside a
/// 32 KB L1 data cache).
const BLOCK_DOUBLES: usize = 3072;

/// Columns per block at rank `r`: a multiple of 8 (every SIMD width divides it), at least 8.
pub fn block_cols(r: usize) -> usize {
    (BLOCK_DOUBLES / (2 * r) / 8 * 8).max(8)
}

/// SAFETY: lengths are checked by `run`; `S` must be supported by the running CPU.
///
/// On the x86-64 paths (`S::BLOCKED`) the columns are taken in blocks of [`block_cols`] (V^T and
/// dV^T of a block stay in L1 while every row of the chunk passes over it) and dU[i, k] is the
/// sum over blocks, in order, of the block's lanes (`hsum`) plus, in the last block, its scalar
/// tail; elsewhere one block spans all columns (the order, and the bits, of the unblocked kernel:
/// `S::fma` is a multiply then an add there, the same IEEE operations as before).
#[inline(always)]
unsafe fn kernel<S: Simd, const R: usize>(x: &Rows, gu: &mut [f64], gvt: &mut [f64]) -> f64 {
    let d2 = x.d2;
    let n = x.u.len() / R;
    let vt = x.vt.as_ptr();
    let gp = gvt.as_mut_ptr();
    let bw = if S::BLOCKED { block_cols(R) } else { d2.max(1) };
    let mut sq = S::zero();
    let mut sq_tail = 0.0;
    let mut j0 = 0;
    while j0 < d2 {
        let j1 = (j0 + bw).min(d2);
        // Full SIMD groups of the block (all of it but in the last block).
        let full = j0 + (j1 - j0) / S::N * S::N;
        for i in 0..n {
            let ui: [f64; R] = std::array::from_fn(|k| x.u[i * R + k]);
            let us: [S::V; R] = std::array::from_fn(|k| S::splat(ui[k]));
            let mp = x.m.as_ptr().add(i * d2);
            let mut acc: [S::V; R] = [S::zero(); R];
            let mut j = j0;
            while j < full {
                // The same columns of the next row (a block's row segment is only a few cache
                // lines, too short for the hardware prefetcher to follow the jump between rows).
                S::prefetch(mp.wrapping_add(d2 + j));
                let mut res = S::sub(S::zero(), S::load(mp.add(j)));
                for k in 0..R {
                    res = S::fma(us[k], S::load(vt.add(k * d2 + j)), res);
                }
                sq = S::fma(res, res, sq);
                for k in 0..R {
                    acc[k] = S::fma(res, S::load(vt.add(k * d2 + j)), acc[k]);
                    let g = gp.add(k * d2 + j);
                    S::store(g, S::fma(us[k], res, S::load(g)));
                }
                j += S::N;
            }
            let mut tail = [0.0f64; R];
            for j in full..j1 {
                let mut res = -*mp.add(j);
                for k in 0..R {
                    res = S::fma1(ui[k], *vt.add(k * d2 + j), res);
                }
                sq_tail = S::fma1(res, res, sq_tail);
                for k in 0..R {
                    tail[k] = S::fma1(res, *vt.add(k * d2 + j), tail[k]);
                    let g = gp.add(k * d2 + j);
                    *g = S::fma1(ui[k], res, *g);
                }
            }
            for k in 0..R {
                let part = S::hsum(acc[k]) + tail[k];
                // The first block assigns (a sum starting at 0.0 would turn a -0.0 into +0.0).
                gu[i * R + k] = if j0 == 0 { part } else { gu[i * R + k] + part };
            }
        }
        j0 = j1;
    }
    S::hsum(sq) + sq_tail
}
