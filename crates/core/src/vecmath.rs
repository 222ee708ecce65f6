//! Portable, batched elementary functions for the smooth activations (softplus, sigmoid, tanh):
//! (sigma(x), sigma'(x)) over a slice of arguments, for the kernel study's tensor quadrature
//! (`study::kernel`, docs/kernel-recursions.md, "Accuracy and speed").
//!
//! exp, expm1 and log1p are written in plain IEEE arithmetic (+, -, *, / and bit manipulation: no
//! libm call, no FMA, no fast-math), so every target gives the same bits: native scalar, native
//! AVX2 (the elementwise loop compiled a second time with `avx2` enabled and chosen at run time)
//! and wasm (simd128 or scalar). They are branch-free (selects only), so LLVM vectorizes the
//! elementwise loops; the weighted sums are left to the caller, in a fixed order.
//!
//! - exp: fdlibm's algorithm (x = k ln2 + r, |r| <= ln2/2, the rational remez form
//!   r c / (2 - c)), with k rounded to nearest by the 1.5 * 2^52 trick and the scaling 2^k applied
//!   as two exact powers of two (one rounding for subnormal results).
//! - expm1 (for tanh): the same reduction, 2^k p + (2^k - 1) with p = e^r - 1.
//!   tanh and sech^2 share one reduction (see [`tanh_d1`]).
//! - log1p: musl's (fdlibm's) algorithm with its branches replaced by selects.
//!
//! Measured accuracy (tests in crates/core/tests/vecmath.rs, against `libm` over wide ranges):
//! exp, log1p <= 1 ulp; the activations and their derivatives within 2 ulp of the `libm`
//! formulas of [`crate::quadrature::Activation`].

// fdlibm's constants as it prints them (more digits than a double keeps; they round to its bits).
#![allow(clippy::excessive_precision)]

use crate::quadrature::Activation;

const LN2HI: f64 = 6.931_471_803_691_238_164_90e-01; // 0x3fe62e42fee00000
const LN2LO: f64 = 1.908_214_929_270_587_700_02e-10; // 0x3dea39ef35793c76
const INVLN2: f64 = std::f64::consts::LOG2_E; // fdlibm's invln2, 0x3ff71547652b82fe
const P1: f64 = 1.666_666_666_666_660_190_37e-01;
const P2: f64 = -2.777_777_777_701_559_338_42e-03;
const P3: f64 = 6.613_756_321_437_934_361_17e-05;
const P4: f64 = -1.653_390_220_546_525_153_90e-06;
const P5: f64 = 4.138_136_797_057_238_460_39e-08;

const LG1: f64 = 6.666_666_666_666_735_130e-01;
const LG2: f64 = 3.999_999_999_940_941_908e-01;
const LG3: f64 = 2.857_142_874_366_239_149e-01;
const LG4: f64 = 2.222_219_843_214_978_396e-01;
const LG5: f64 = 1.818_357_216_161_805_012e-01;
const LG6: f64 = 1.531_383_769_920_937_332e-01;
const LG7: f64 = 1.479_819_860_511_658_591e-01;

/// 1.5 * 2^52: adding and subtracting it rounds |t| < 2^51 to the nearest integer (ties to even),
/// and the low bits of t + MAGIC hold that integer.
const MAGIC: f64 = 6_755_399_441_055_744.0;
const MAGIC_BITS: u64 = 0x4338_0000_0000_0000;
/// libm's tanh switches formulas at |x| > ln(3) / 2 by the high word 0x3fe193ea.
const LN3_HALF: f64 = f64::from_bits(0x3fe1_93eb_0000_0000);

#[inline(always)]
fn sel(c: bool, a: f64, b: f64) -> f64 {
    if c {
        a
    } else {
        b
    }
}

/// 2^k for an integer-valued k in [-1022, 1023] (exact).
#[inline(always)]
fn pow2i(k: f64) -> f64 {
    let t = k + MAGIC;
    f64::from_bits(
        t.to_bits()
            .wrapping_sub(MAGIC_BITS)
            .wrapping_add(1023)
            .wrapping_shl(52),
    )
}

/// The integer k nearest x / ln2 and p = e^r - 1 for r = x - k ln2 (|x| <= 800).
#[inline(always)]
fn exp_reduce(x: f64) -> (f64, f64) {
    let k = (x * INVLN2 + MAGIC) - MAGIC;
    let hi = x - k * LN2HI; // exact: LN2HI has 32 trailing zero bits
    let lo = k * LN2LO;
    let r = hi - lo;
    let rr = r * r;
    let c = r - rr * (P1 + rr * (P2 + rr * (P3 + rr * (P4 + rr * P5))));
    (k, (r * c / (2.0 - c) - lo) + hi)
}

/// (1 + p) 2^k with 2^k applied as two exact powers of two (|k| <= 1154).
#[inline(always)]
fn scale(k: f64, y: f64) -> f64 {
    let k1 = (k * 0.5 + MAGIC) - MAGIC;
    y * pow2i(k1) * pow2i(k - k1)
}

/// Clamp to [-800, 800] (NaN passes through).
#[inline(always)]
fn clamp800(x: f64) -> f64 {
    sel(x > 800.0, 800.0, sel(x < -800.0, -800.0, x))
}

/// e^x (<= 1 ulp; subnormal results rounded once; +-inf, NaN as IEEE).
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    let (k, p) = exp_reduce(clamp800(x));
    scale(k, 1.0 + p)
}

/// log(1 + x) (<= 1 ulp; -1 gives -inf, x < -1 NaN, +-0 and +inf themselves).
#[inline(always)]
pub fn log1p(x: f64) -> f64 {
    // musl: k = 0, f = x, c = 0 when sqrt(2)/2 <= 1 + x < sqrt(2) (by the high word of x).
    let small =
        x < f64::from_bits(0x3fda_827a_0000_0000) && x > -f64::from_bits(0x3fd2_bf20_0000_0000);
    let u = 1.0 + x;
    let hu = (u.to_bits() >> 32) + (0x3ff0_0000 - 0x3fe6_a09e);
    let kb = hu >> 20; // k + 1023
    let kk = f64::from_bits(MAGIC_BITS + kb) - (MAGIC + 1023.0);
    let c = sel(kk >= 2.0, 1.0 - (u - x), x - (u - 1.0)) / u;
    let c = sel(kk < 54.0, c, 0.0);
    let hu = (hu & 0x000f_ffff) + 0x3fe6_a09e;
    let f = f64::from_bits((hu << 32) | (u.to_bits() & 0xffff_ffff)) - 1.0;
    let (k, c, f) = (sel(small, 0.0, kk), sel(small, 0.0, c), sel(small, x, f));
    let hfsq = 0.5 * f * f;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG2 + w * (LG4 + w * LG6));
    let t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    let r = t2 + t1;
    let y = s * (hfsq + r) + (k * LN2LO + c) - hfsq + f + k * LN2HI;
    // Special values: +-0 (tiny x: the formula gives x), +inf, -1, below -1, NaN.
    let y = sel(x == 0.0, x, y);
    let y = sel(x == f64::INFINITY, x, y);
    let y = sel(x == -1.0, f64::NEG_INFINITY, y);
    let y = sel(x < -1.0, f64::NAN, y);
    sel(x.is_nan(), x, y)
}

/// The bits of `t` with the sign of `z`.
#[inline(always)]
fn with_sign(t: f64, z: f64) -> f64 {
    const SIGN: u64 = 1 << 63;
    f64::from_bits((t.to_bits() & !SIGN) | (z.to_bits() & SIGN))
}

/// (softplus(x), logistic(x)).
#[inline(always)]
pub fn softplus_d1(x: f64) -> (f64, f64) {
    let e = exp(-x.abs());
    let s = sel(x >= 0.0, 1.0, e) / (1.0 + e);
    (sel(x > 0.0, x, 0.0) + log1p(e), s)
}

/// (logistic(x), logistic'(x) = logistic(x) logistic(-x)).
#[inline(always)]
pub fn logistic_d1(x: f64) -> (f64, f64) {
    let e = exp(-x.abs());
    let q = 1.0 + e;
    let (a, b) = (1.0 / q, e / q);
    let ge = x >= 0.0;
    let (s, t) = (sel(ge, a, b), sel(ge, b, a));
    (s, s * t)
}

/// (tanh(x), sech^2(x)) from one reduction. Below |x| = ln(3) / 2 (libm's switch), with
/// t = e^(2|x|) - 1: tanh |x| = t / (t + 2), sech^2 x = 1 - tanh^2 x (>= 3/4, no cancellation);
/// above, with e = e^(-2|x|) <= 1/3: tanh |x| = (1 - e) / (1 + e), sech^2 x = 4 e / (1 + e)^2.
#[inline(always)]
pub fn tanh_d1(x: f64) -> (f64, f64) {
    let a = x.abs();
    let small = a < LN3_HALF;
    let (k, p) = exp_reduce(sel(small, 2.0 * a, -2.0 * sel(a > 400.0, 400.0, a)));
    let s = pow2i(sel(k < -1000.0, -1000.0, k));
    let t = s * p + (s - 1.0); // e^(2|x|) - 1 (small)
    let e = scale(k, 1.0 + p); // e^(-2|x|) (large)
    let ts = t / (t + 2.0);
    let q = 1.0 + e;
    let th = sel(small, ts, (1.0 - e) / q);
    let d = sel(small, 1.0 - ts * ts, 4.0 * e / (q * q));
    (with_sign(th, x), d)
}

/// (sigma(x), sigma'(x)) for one argument, the same bits as the batched [`sigma_d1_affine`].
#[inline(always)]
pub fn sigma_d1(act: Activation, x: f64) -> (f64, f64) {
    match act {
        Activation::Softplus => softplus_d1(x),
        Activation::Sigmoid => logistic_d1(x),
        Activation::Tanh => tanh_d1(x),
        Activation::Relu => relu_d1(x),
    }
}

/// Elements per block of the batched loop: a constant trip count, so LLVM vectorizes it without
/// a scalar remainder (rows of a 20-node rule are shorter than the remainder threshold otherwise).
const BLOCK: usize = 8;

/// The batched loop for one activation function `$f` (a macro, not a generic over `Fn`: a
/// function item passed as `impl Fn` was called through a non-inlined `Fn::call` shim, one call
/// per element, and nothing vectorized).
macro_rules! affine_loop {
    ($f:path, $base:expr, $scale:expr, $z:expr, $s:expr, $d:expr) => {{
        let (base, scale, z, s, d): (f64, f64, &[f64], &mut [f64], &mut [f64]) =
            ($base, $scale, $z, $s, $d);
        let n = z.len();
        let mut i = 0;
        while i < n {
            let m = (n - i).min(BLOCK);
            // Arguments of the block, padded with zeros (evaluated, then dropped).
            let mut x = [0.0; BLOCK];
            for k in 0..m {
                x[k] = base + scale * z[i + k];
            }
            let mut sb = [0.0; BLOCK];
            let mut db = [0.0; BLOCK];
            for k in 0..BLOCK {
                let (a, b) = $f(x[k]);
                sb[k] = a;
                db[k] = b;
            }
            s[i..i + m].copy_from_slice(&sb[..m]);
            d[i..i + m].copy_from_slice(&db[..m]);
            i += m;
        }
    }};
}

/// (relu(x), relu'(x)).
#[inline(always)]
fn relu_d1(x: f64) -> (f64, f64) {
    (sel(x > 0.0, x, 0.0), sel(x > 0.0, 1.0, 0.0))
}

#[inline(always)]
fn affine_body(act: Activation, base: f64, scale: f64, z: &[f64], s: &mut [f64], d: &mut [f64]) {
    match act {
        Activation::Softplus => affine_loop!(softplus_d1, base, scale, z, s, d),
        Activation::Sigmoid => affine_loop!(logistic_d1, base, scale, z, s, d),
        Activation::Tanh => affine_loop!(tanh_d1, base, scale, z, s, d),
        Activation::Relu => affine_loop!(relu_d1, base, scale, z, s, d),
    }
}

/// s[i], d[i] = sigma(x), sigma'(x) at x = base + scale z[i] (a multiply, then an add), for i in
/// 0..z.len() (`s` and `d` at least as long as `z`). The AVX2 copy of the loop on x86-64 CPUs
/// that have it; the same bits on every path.
pub fn sigma_d1_affine(
    act: Activation,
    base: f64,
    scale: f64,
    z: &[f64],
    s: &mut [f64],
    d: &mut [f64],
) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        unsafe fn avx2(
            act: Activation,
            base: f64,
            scale: f64,
            z: &[f64],
            s: &mut [f64],
            d: &mut [f64],
        ) {
            affine_body(act, base, scale, z, s, d)
        }
        // SAFETY: runs only on a CPU that has AVX2.
        if std::arch::is_x86_feature_detected!("avx2") {
            return unsafe { avx2(act, base, scale, z, s, d) };
        }
    }
    affine_body(act, base, scale, z, s, d)
}

/// [`sigma_d1_affine`] always on the portable path (for the tests that compare the two).
#[doc(hidden)]
pub fn sigma_d1_affine_portable(
    act: Activation,
    base: f64,
    scale: f64,
    z: &[f64],
    s: &mut [f64],
    d: &mut [f64],
) {
    affine_body(act, base, scale, z, s, d)
}
