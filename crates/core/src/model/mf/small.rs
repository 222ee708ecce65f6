//! Single-pass fused kernel for small ranks (r <= 8), where the products are too thin for GEMM.
//!
//! For each row i of M* and each group of N columns j (N = SIMD width): the residual lanes
//! R[i, j] = sum_k U[i,k] V[j,k] - M*[i,j] live in registers; from them the kernel accumulates the
//! squared norm, dU[i, :] = R[i, :] V and dV^T[:, j] += U[i, :]^T R[i, j]. M* is read once per
//! evaluation; V^T and dV^T (2 r d2 numbers) stay in L2.
//!
//! One generic body, instantiated per instruction set: AVX-512 and AVX2 on x86_64 (chosen at run
//! time), simd128 on wasm32 (the wasm crate is built with `+simd128`), scalar elsewhere. Multiply
//! and add are separate (no FMA): the paths differ only in summation order (lane count).

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

/// SAFETY: lengths are checked by `run`; `S` must be supported by the running CPU.
#[inline(always)]
unsafe fn kernel<S: Simd, const R: usize>(x: &Rows, gu: &mut [f64], gvt: &mut [f64]) -> f64 {
    let d2 = x.d2;
    let full = d2 / S::N * S::N;
    let n = x.u.len() / R;
    let vt = x.vt.as_ptr();
    let gp = gvt.as_mut_ptr();
    let mut sq = S::zero();
    let mut sq_tail = 0.0;
    for i in 0..n {
        let ui: [f64; R] = std::array::from_fn(|k| x.u[i * R + k]);
        let us: [S::V; R] = std::array::from_fn(|k| S::splat(ui[k]));
        let mp = x.m.as_ptr().add(i * d2);
        let mut acc: [S::V; R] = [S::zero(); R];
        let mut j = 0;
        while j < full {
            let mut res = S::sub(S::zero(), S::load(mp.add(j)));
            for k in 0..R {
                res = S::add(res, S::mul(us[k], S::load(vt.add(k * d2 + j))));
            }
            sq = S::add(sq, S::mul(res, res));
            for k in 0..R {
                acc[k] = S::add(acc[k], S::mul(res, S::load(vt.add(k * d2 + j))));
                let g = gp.add(k * d2 + j);
                S::store(g, S::add(S::load(g), S::mul(us[k], res)));
            }
            j += S::N;
        }
        let mut tail = [0.0f64; R];
        for j in full..d2 {
            let mut res = -*mp.add(j);
            for k in 0..R {
                res += ui[k] * *vt.add(k * d2 + j);
            }
            sq_tail += res * res;
            for k in 0..R {
                tail[k] += res * *vt.add(k * d2 + j);
                *gp.add(k * d2 + j) += ui[k] * res;
            }
        }
        for k in 0..R {
            gu[i * R + k] = S::hsum(acc[k]) + tail[k];
        }
    }
    S::hsum(sq) + sq_tail
}
