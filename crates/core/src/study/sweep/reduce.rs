//! Reductions of one setting's runs: summary statistics of each kept value (mean, sample
//! standard deviation, min, max, quantiles by linear interpolation, NumPy's default), and the
//! probability of each class with its Wilson score interval.

/// Summary of the finite values of one kept value over a setting's runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Finite values.
    pub count: usize,
    /// Values that are null (never reached, not computed) or not finite.
    pub missing: usize,
    pub mean: f64,
    /// Sample standard deviation (n - 1); NaN below two values.
    pub std: f64,
    pub min: f64,
    pub max: f64,
    /// (q, value) for each asked quantile.
    pub quantiles: Vec<(f64, f64)>,
}

/// Statistics of `values` (non-finite values counted as missing). Sums in input order (the run
/// order), so every backend and machine gives the same bits.
pub fn stats(values: &[f64], qs: &[f64]) -> Stats {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    let n = v.len();
    let missing = values.len() - n;
    if n == 0 {
        return Stats {
            count: 0,
            missing,
            mean: f64::NAN,
            std: f64::NAN,
            min: f64::NAN,
            max: f64::NAN,
            quantiles: qs.iter().map(|&q| (q, f64::NAN)).collect(),
        };
    }
    let mean = v.iter().sum::<f64>() / n as f64;
    let std = if n > 1 {
        (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        f64::NAN
    };
    v.sort_by(f64::total_cmp);
    Stats {
        count: n,
        missing,
        mean,
        std,
        min: v[0],
        max: v[n - 1],
        quantiles: qs.iter().map(|&q| (q, quantile_sorted(&v, q))).collect(),
    }
}

/// The q-quantile of sorted finite values by linear interpolation between order statistics
/// (`numpy.quantile`'s default, Hyndman & Fan type 7): position q (n - 1).
pub fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    let pos = q * (n - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let t = pos - lo as f64;
    if t == 0.0 {
        v[lo]
    } else {
        v[lo] + t * (v[hi] - v[lo])
    }
}

/// The standard normal quantile Phi^{-1}(p), 0 < p < 1: Acklam's rational approximation
/// (relative error 1.15e-9) refined by one Halley step on erfc (full double precision).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    if !(p > 0.0 && p < 1.0) {
        return f64::NAN;
    }
    let plow = 0.02425;
    let x = if p < plow {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - plow {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    // Halley's step on Phi(x) - p, Phi(x) = erfc(-x / sqrt 2) / 2.
    let e = 0.5 * libm::erfc(-x / std::f64::consts::SQRT_2) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * libm::exp(x * x / 2.0);
    x - u / (1.0 + x * u / 2.0)
}

/// The Wilson score interval for `k` successes in `n` trials at `confidence` (two-sided):
/// (p, lo, hi) with p = k/n; NaN when n = 0.
pub fn wilson(k: u64, n: u64, confidence: f64) -> (f64, f64, f64) {
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let nf = n as f64;
    let p = k as f64 / nf;
    let z = normal_quantile(1.0 - (1.0 - confidence) / 2.0);
    let z2 = z * z;
    let denom = 1.0 + z2 / nf;
    let center = (p + z2 / (2.0 * nf)) / denom;
    let half = z / denom * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt();
    ((p), (center - half).max(0.0), (center + half).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_numpy() {
        // numpy.quantile([3, 1, 4, 1, 5, 9, 2, 6], [0, .1, .25, .5, .75, .9, 1])
        let s = stats(&[3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0], &[0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]);
        let want = [1.0, 1.0, 1.75, 3.5, 5.25, 6.9, 9.0];
        for ((_, got), w) in s.quantiles.iter().zip(want) {
            assert!((got - w).abs() < 1e-12, "{got} vs {w}");
        }
        assert_eq!(s.mean, 31.0 / 8.0);
        // numpy.std(..., ddof=1)
        assert!((s.std - 2.748376143).abs() < 1e-8, "{}", s.std);
        let e = stats(&[f64::NAN, 2.0], &[0.5]);
        assert_eq!((e.count, e.missing, e.mean), (1, 1, 2.0));
        assert!(e.std.is_nan());
    }

    #[test]
    fn normal_quantiles() {
        for (p, z) in [
            (0.975, 1.959_963_984_540_054),
            (0.5, 0.0),
            (0.995, 2.575_829_303_548_901),
            (0.01, -2.326_347_874_040_841),
            (1e-10, -6.361_340_902_404_056),
        ] {
            let got = normal_quantile(p);
            assert!((got - z).abs() <= 1e-14 * z.abs().max(1.0), "{p}: {got} vs {z}");
        }
    }

    #[test]
    fn wilson_intervals() {
        // statsmodels.stats.proportion.proportion_confint(k, n, 0.05, 'wilson') (0.39677815,
        // 0.89220873), here to full precision from the same formula in Python
        let (p, lo, hi) = wilson(7, 10, 0.95);
        assert_eq!(p, 0.7);
        assert!((lo - 0.396_778_147_461_145_37).abs() < 1e-12, "{lo}");
        assert!((hi - 0.892_208_732_593_698_9).abs() < 1e-12, "{hi}");
        let (_, lo, hi) = wilson(0, 50, 0.95);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.071_347_599_133_358_72).abs() < 1e-12, "{hi}");
        assert!(wilson(0, 0, 0.95).0.is_nan());
    }
}
