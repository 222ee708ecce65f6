//! The portable exp / log1p / activations of `vecmath` against `libm` (ulp distances over wide
//! ranges, tails, subnormal results, signed zeros, infinities, NaN), and the batched (AVX2 on
//! x86-64 CPUs that have it) path against the scalar one bit for bit.

use autobalance_core::quadrature::Activation;
use autobalance_core::vecmath;

/// Distance in units in the last place (the number of doubles between a and b; +0 = -0).
fn ulps(a: f64, b: f64) -> u64 {
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() && b.is_nan() {
            0
        } else {
            u64::MAX
        };
    }
    let key = |x: f64| -> i128 {
        let b = x.to_bits();
        if b >> 63 == 1 {
            -((b & !(1 << 63)) as i128)
        } else {
            b as i128
        }
    };
    (key(a) - key(b)).unsigned_abs() as u64
}

struct Rng(u64);
impl Rng {
    fn u01(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.u01()
    }
    /// |x| log-uniform in [2^lo, 2^hi], random sign.
    fn log_range(&mut self, lo: f64, hi: f64) -> f64 {
        let x = libm::exp2(self.range(lo, hi));
        if self.u01() < 0.5 {
            -x
        } else {
            x
        }
    }
}

/// Arguments: uniform on [lo, hi] and log-uniform magnitudes, plus the listed special values.
fn args(lo: f64, hi: f64, specials: &[f64]) -> Vec<f64> {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut v: Vec<f64> = specials.to_vec();
    for _ in 0..200_000 {
        v.push(r.range(lo, hi));
        let x = r.log_range(-1074.0, 10.0);
        if x >= lo && x <= hi {
            v.push(x);
        }
    }
    v
}

const SPECIAL: [f64; 12] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    0.5,
    -0.5,
];

/// Max ulp distance of f from g over xs (asserting equal NaN-ness), and the worst argument.
fn worst(xs: &[f64], f: impl Fn(f64) -> f64, g: impl Fn(f64) -> f64) -> (u64, f64) {
    let mut w = (0, 0.0);
    for &x in xs {
        let (a, b) = (f(x), g(x));
        let d = ulps(a, b);
        assert!(d != u64::MAX, "at {x:e}: {a:e} vs {b:e}");
        if d > w.0 {
            w = (d, x);
        }
    }
    w
}

#[test]
fn exp_is_within_one_ulp_of_libm() {
    let mut xs = args(-760.0, 720.0, &SPECIAL);
    // Overflow and underflow thresholds, the subnormal range, around the reduction's k steps.
    xs.extend([
        709.782712893384,
        709.7827128933841,
        -708.3964185322641,
        -745.1332191019411,
        -745.1332191019412,
        -744.5,
        -740.0,
        -720.0,
        1e-300,
        -1e-300,
    ]);
    let mut r = Rng(7);
    for _ in 0..100_000 {
        xs.push(r.range(-745.2, -708.0));
        xs.push((r.range(-1000.0, 1000.0)).round() * std::f64::consts::LN_2 * 0.5);
    }
    let (d, x) = worst(&xs, vecmath::exp, libm::exp);
    assert!(d <= 1, "exp: {d} ulp at {x:e}");
    for (x, want) in [
        (0.0, 1.0),
        (-0.0, 1.0),
        (f64::INFINITY, f64::INFINITY),
        (f64::NEG_INFINITY, 0.0),
        (710.0, f64::INFINITY),
        (-746.0, 0.0),
    ] {
        assert_eq!(vecmath::exp(x).to_bits(), want.to_bits(), "exp({x})");
    }
    assert!(vecmath::exp(f64::NAN).is_nan());
    // The smallest subnormal: e^-744.44 = 4.94e-324.
    assert_eq!(vecmath::exp(-744.44), 5e-324);
}

#[test]
fn log1p_is_within_one_ulp_of_libm() {
    let mut xs = args(-1.0, 1e3, &SPECIAL);
    let mut r = Rng(11);
    for _ in 0..200_000 {
        xs.push(-1.0 + libm::exp2(r.range(-60.0, 0.0))); // near -1
        xs.push(libm::exp2(r.range(-1074.0, 1023.0))); // every binade
        xs.push(r.range(-0.3, 0.42)); // the k = 0 branch and its edges
    }
    xs.extend([
        f64::MAX,
        1e300,
        -0.2928932188134524,
        0.41421356237309503,
        1.0,
        2.0,
    ]);
    let (d, x) = worst(&xs, vecmath::log1p, libm::log1p);
    assert!(d <= 1, "log1p: {d} ulp at {x:e}");
    assert_eq!(vecmath::log1p(-0.0).to_bits(), (-0.0f64).to_bits());
    assert_eq!(vecmath::log1p(0.0).to_bits(), 0.0f64.to_bits());
    assert_eq!(vecmath::log1p(-1.0), f64::NEG_INFINITY);
    assert!(vecmath::log1p(-1.5).is_nan() && vecmath::log1p(f64::NAN).is_nan());
    assert_eq!(vecmath::log1p(f64::INFINITY), f64::INFINITY);
    assert_eq!(vecmath::log1p(5e-324), 5e-324);
}

/// The activations and derivatives against the `libm` formulas of `Activation`, tanh also
/// against libm::tanh and sech^2 (below 1/2) against 1 - libm::tanh^2.
#[test]
fn activations_are_within_a_few_ulp_of_the_libm_formulas() {
    let xs = args(-800.0, 800.0, &SPECIAL);
    let mut report = Vec::new();
    let mut worst_act = Vec::new();
    for act in [Activation::Softplus, Activation::Sigmoid, Activation::Tanh] {
        let (ds, xs_) = worst(&xs, |x| vecmath::sigma_d1(act, x).0, |x| act.sigma(x));
        let (dd, xd) = worst(&xs, |x| vecmath::sigma_d1(act, x).1, |x| act.d1(x));
        report.push(format!(
            "{act:?}: sigma {ds} ulp (at {xs_:e}), sigma' {dd} ulp (at {xd:e})"
        ));
        worst_act.push((act, ds, dd));
    }
    let (dt, xt) = worst(
        &xs,
        |x| vecmath::sigma_d1(Activation::Tanh, x).0,
        libm::tanh,
    );
    report.push(format!("tanh vs libm::tanh: {dt} ulp at {xt:e}"));
    // sech^2 below |x| = 1/2 against 1 - tanh^2 (libm; no cancellation there).
    let small: Vec<f64> = xs.iter().copied().filter(|x| x.abs() < 0.5).collect();
    let (dh, xh) = worst(
        &small,
        |x| vecmath::sigma_d1(Activation::Tanh, x).1,
        |x| {
            let t = libm::tanh(x);
            1.0 - t * t
        },
    );
    report.push(format!(
        "sech^2 vs 1 - libm::tanh^2 below 1/2: {dh} ulp at {xh:e}"
    ));
    eprintln!("{}", report.join("\n"));
    // Bounds: softplus and the logistic within 1 ulp of the libm formulas (measured 1); tanh
    // within 3 ulp of libm::tanh (both are within 2 ulp of the exact value: libm's own tanh is
    // up to 2 ulp in [0.1, 0.2554]); sech^2 within 3 ulp of 4 e / (1 + e)^2 (the same formula
    // above ln(3)/2, both ~3.2 ulp from the exact value at worst; docs/kernel-recursions.md).
    let within = worst_act.iter().all(|&(act, ds, dd)| match act {
        Activation::Tanh => ds <= 3 && dd <= 3,
        _ => ds <= 1 && dd <= 1,
    });
    assert!(within && dt <= 3 && dh <= 1, "{}", report.join("\n"));
    // Exact values and signs.
    for act in [Activation::Softplus, Activation::Sigmoid, Activation::Tanh] {
        let (s, d) = vecmath::sigma_d1(act, 0.0);
        assert_eq!((s, d), (act.sigma(0.0), act.d1(0.0)), "{act:?} at 0");
    }
    let t = |x: f64| vecmath::sigma_d1(Activation::Tanh, x);
    assert_eq!(t(-0.0).0.to_bits(), (-0.0f64).to_bits());
    assert_eq!(t(-5e-324).0, -5e-324);
    assert_eq!(t(f64::INFINITY), (1.0, 0.0));
    assert_eq!(t(f64::NEG_INFINITY), (-1.0, 0.0));
    let sp = |x: f64| vecmath::sigma_d1(Activation::Softplus, x);
    assert_eq!(sp(f64::INFINITY), (f64::INFINITY, 1.0));
    assert_eq!(sp(f64::NEG_INFINITY), (0.0, 0.0));
    assert_eq!(sp(-740.0).0, libm::exp(-740.0)); // subnormal result
    for act in [Activation::Softplus, Activation::Sigmoid, Activation::Tanh] {
        let (s, d) = vecmath::sigma_d1(act, f64::NAN);
        assert!(s.is_nan() && d.is_nan(), "{act:?} at NaN");
    }
    eprintln!("{}", report.join("\n"));
}

/// The dispatched batch (the AVX2 copy on this CPU if it has AVX2) gives the bits of the
/// portable batch and of the scalar function, for every length (full vectors and remainders).
#[test]
fn batched_paths_give_the_scalar_bits() {
    let mut r = Rng(3);
    for act in Activation::ALL {
        for len in 0..=41 {
            for _ in 0..50 {
                let base = r.log_range(-12.0, 9.0);
                let scale = r.range(0.0, 3.0);
                let z: Vec<f64> = (0..len).map(|_| r.range(-12.0, 12.0)).collect();
                let (mut s1, mut d1) = (vec![0.0; len], vec![0.0; len]);
                let (mut s2, mut d2) = (vec![0.0; len], vec![0.0; len]);
                vecmath::sigma_d1_affine(act, base, scale, &z, &mut s1, &mut d1);
                vecmath::sigma_d1_affine_portable(act, base, scale, &z, &mut s2, &mut d2);
                for i in 0..len {
                    let (s, d) = vecmath::sigma_d1(act, base + scale * z[i]);
                    assert_eq!(s1[i].to_bits(), s.to_bits(), "{act:?} sigma at {}", z[i]);
                    assert_eq!(d1[i].to_bits(), d.to_bits(), "{act:?} sigma' at {}", z[i]);
                    assert_eq!(s2[i].to_bits(), s.to_bits());
                    assert_eq!(d2[i].to_bits(), d.to_bits());
                }
            }
        }
    }
}
