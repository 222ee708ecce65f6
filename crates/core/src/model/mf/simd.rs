//! A minimal SIMD vocabulary for the hand-fused kernels: one generic body, instantiated per
//! instruction set. Horizontal sums add lanes in a fixed order.

pub trait Simd {
    type V: Copy;
    const N: usize;
    /// Whether the kernels block the columns and fuse multiply-adds on this path (the x86-64
    /// ones); the others (simd128, scalar) keep the unblocked order of before (their bits).
    const BLOCKED: bool;
    unsafe fn zero() -> Self::V;
    unsafe fn splat(x: f64) -> Self::V;
    unsafe fn load(p: *const f64) -> Self::V;
    unsafe fn store(p: *mut f64, v: Self::V);
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
    /// a b + c: fused (one rounding) on the x86-64 paths, a multiply then an add on wasm
    /// (simd128 has no deterministic FMA) and on the scalar fallback.
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// The scalar a b + c of the same path (fused exactly when [`Simd::fma`] is).
    unsafe fn fma1(a: f64, b: f64, c: f64) -> f64;
    unsafe fn hsum(v: Self::V) -> f64;
    /// A hint to bring the cache line of `p` into L1 (a no-op where there is none); `p` need not
    /// point into an allocation (a prefetch never faults).
    #[inline(always)]
    unsafe fn prefetch(_p: *const f64) {}
}

// The fallback: unused on wasm32 builds with simd128.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub struct Scalar;
impl Simd for Scalar {
    type V = f64;
    const N: usize = 1;
    const BLOCKED: bool = false;
    #[inline(always)]
    unsafe fn zero() -> f64 {
        0.0
    }
    #[inline(always)]
    unsafe fn splat(x: f64) -> f64 {
        x
    }
    #[inline(always)]
    unsafe fn load(p: *const f64) -> f64 {
        *p
    }
    #[inline(always)]
    unsafe fn store(p: *mut f64, v: f64) {
        *p = v
    }
    #[inline(always)]
    unsafe fn sub(a: f64, b: f64) -> f64 {
        a - b
    }
    #[inline(always)]
    unsafe fn fma(a: f64, b: f64, c: f64) -> f64 {
        a * b + c
    }
    #[inline(always)]
    unsafe fn fma1(a: f64, b: f64, c: f64) -> f64 {
        a * b + c
    }
    #[inline(always)]
    unsafe fn hsum(v: f64) -> f64 {
        v
    }
}

#[cfg(target_arch = "x86_64")]
pub mod x86 {
    use super::Simd;
    use std::arch::x86_64::*;

    pub struct Avx512;
    impl Simd for Avx512 {
        type V = __m512d;
        const N: usize = 8;
        const BLOCKED: bool = true;
        #[inline(always)]
        unsafe fn zero() -> __m512d {
            _mm512_setzero_pd()
        }
        #[inline(always)]
        unsafe fn splat(x: f64) -> __m512d {
            _mm512_set1_pd(x)
        }
        #[inline(always)]
        unsafe fn load(p: *const f64) -> __m512d {
            _mm512_loadu_pd(p)
        }
        #[inline(always)]
        unsafe fn store(p: *mut f64, v: __m512d) {
            _mm512_storeu_pd(p, v)
        }
        #[inline(always)]
        unsafe fn sub(a: __m512d, b: __m512d) -> __m512d {
            _mm512_sub_pd(a, b)
        }
        #[inline(always)]
        unsafe fn fma(a: __m512d, b: __m512d, c: __m512d) -> __m512d {
            _mm512_fmadd_pd(a, b, c)
        }
        #[inline(always)]
        unsafe fn fma1(a: f64, b: f64, c: f64) -> f64 {
            // Compiled with the `fma` feature (the dispatch enables it): one vfmadd.
            a.mul_add(b, c)
        }
        #[inline(always)]
        unsafe fn prefetch(p: *const f64) {
            _mm_prefetch::<_MM_HINT_T0>(p as *const i8)
        }
        #[inline(always)]
        unsafe fn hsum(v: __m512d) -> f64 {
            let mut a = [0.0f64; 8];
            _mm512_storeu_pd(a.as_mut_ptr(), v);
            ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))
        }
    }

    /// AVX2 with the lanes of [`Avx512`]: a pair of 4-lane registers standing for one 8-lane
    /// vector (lanes 0-3, 4-7), so a kernel gives the same bits on an AVX2-only CPU as on an
    /// AVX-512 one (the golden fixtures are exact; element-wise operations are the same
    /// per lane and `hsum` adds the 8 lanes in [`Avx512`]'s order).
    pub struct Avx2;
    impl Simd for Avx2 {
        type V = (__m256d, __m256d);
        const N: usize = 8;
        const BLOCKED: bool = true;
        #[inline(always)]
        unsafe fn zero() -> (__m256d, __m256d) {
            (_mm256_setzero_pd(), _mm256_setzero_pd())
        }
        #[inline(always)]
        unsafe fn splat(x: f64) -> (__m256d, __m256d) {
            (_mm256_set1_pd(x), _mm256_set1_pd(x))
        }
        #[inline(always)]
        unsafe fn load(p: *const f64) -> (__m256d, __m256d) {
            (_mm256_loadu_pd(p), _mm256_loadu_pd(p.add(4)))
        }
        #[inline(always)]
        unsafe fn store(p: *mut f64, v: (__m256d, __m256d)) {
            _mm256_storeu_pd(p, v.0);
            _mm256_storeu_pd(p.add(4), v.1)
        }
        #[inline(always)]
        unsafe fn sub(a: (__m256d, __m256d), b: (__m256d, __m256d)) -> (__m256d, __m256d) {
            (_mm256_sub_pd(a.0, b.0), _mm256_sub_pd(a.1, b.1))
        }
        #[inline(always)]
        unsafe fn fma(
            a: (__m256d, __m256d),
            b: (__m256d, __m256d),
            c: (__m256d, __m256d),
        ) -> (__m256d, __m256d) {
            (
                _mm256_fmadd_pd(a.0, b.0, c.0),
                _mm256_fmadd_pd(a.1, b.1, c.1),
            )
        }
        #[inline(always)]
        unsafe fn fma1(a: f64, b: f64, c: f64) -> f64 {
            a.mul_add(b, c)
        }
        #[inline(always)]
        unsafe fn prefetch(p: *const f64) {
            _mm_prefetch::<_MM_HINT_T0>(p as *const i8)
        }
        #[inline(always)]
        unsafe fn hsum(v: (__m256d, __m256d)) -> f64 {
            let mut a = [0.0f64; 8];
            _mm256_storeu_pd(a.as_mut_ptr(), v.0);
            _mm256_storeu_pd(a.as_mut_ptr().add(4), v.1);
            ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod wasm {
    use super::Simd;
    use std::arch::wasm32::*;

    pub struct Simd128;
    impl Simd for Simd128 {
        type V = v128;
        const N: usize = 2;
        const BLOCKED: bool = false;
        #[inline(always)]
        unsafe fn zero() -> v128 {
            f64x2_splat(0.0)
        }
        #[inline(always)]
        unsafe fn splat(x: f64) -> v128 {
            f64x2_splat(x)
        }
        #[inline(always)]
        unsafe fn load(p: *const f64) -> v128 {
            v128_load(p as *const v128)
        }
        #[inline(always)]
        unsafe fn store(p: *mut f64, v: v128) {
            v128_store(p as *mut v128, v)
        }
        #[inline(always)]
        unsafe fn sub(a: v128, b: v128) -> v128 {
            f64x2_sub(a, b)
        }
        #[inline(always)]
        unsafe fn fma(a: v128, b: v128, c: v128) -> v128 {
            f64x2_add(f64x2_mul(a, b), c)
        }
        #[inline(always)]
        unsafe fn fma1(a: f64, b: f64, c: f64) -> f64 {
            a * b + c
        }
        #[inline(always)]
        unsafe fn hsum(v: v128) -> f64 {
            f64x2_extract_lane::<0>(v) + f64x2_extract_lane::<1>(v)
        }
    }
}

/// Call `$f::<S>($args)` with the best instruction set of the running machine.
macro_rules! dispatch {
    ($f:ident, $($arg:expr),*) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,fma")]
            unsafe fn avx512(x: &Rows, gu: &mut [f64], gvt: &mut [f64]) -> f64 {
                $f::<$crate::model::mf::simd::x86::Avx512>(x, gu, gvt)
            }
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2(x: &Rows, gu: &mut [f64], gvt: &mut [f64]) -> f64 {
                $f::<$crate::model::mf::simd::x86::Avx2>(x, gu, gvt)
            }
            // SAFETY: each path runs only on a CPU that has its features.
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("fma")
            {
                unsafe { avx512($($arg),*) }
            } else if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                unsafe { avx2($($arg),*) }
            } else {
                unsafe { $f::<$crate::model::mf::simd::Scalar>($($arg),*) }
            }
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        {
            // SAFETY: the module was compiled with simd128.
            unsafe { $f::<$crate::model::mf::simd::wasm::Simd128>($($arg),*) }
        }
        #[cfg(not(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128"))))]
        {
            unsafe { $f::<$crate::model::mf::simd::Scalar>($($arg),*) }
        }
    }};
}
pub(crate) use dispatch;
