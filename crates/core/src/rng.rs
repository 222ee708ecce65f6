//! Portable, seeded random numbers. Uniform bits come from ChaCha8 (identical on every platform);
//! normals are made from them with `libm` (Box-Muller), so the same seed gives bit-identical
//! values on native and wasm builds.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

#[derive(Clone)]
pub struct Normal {
    rng: ChaCha8Rng,
    spare: Option<f64>,
}

impl Normal {
    pub fn new(seed: u64) -> Self {
        Normal {
            rng: ChaCha8Rng::seed_from_u64(seed),
            spare: None,
        }
    }

    /// Uniform in (0, 1): 53 random bits, never exactly 0.
    pub fn uniform_open(&mut self) -> f64 {
        let bits = self.rng.next_u64() >> 11;
        (bits as f64 + 0.5) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Standard normal (Box-Muller, both outputs used).
    pub fn sample(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let u1 = self.uniform_open();
        let u2 = self.uniform_open();
        let rad = libm::sqrt(-2.0 * libm::log(u1));
        let theta = 2.0 * std::f64::consts::PI * u2;
        // sincos: one argument reduction for both, the bits of sin and cos (test below).
        let (s, c) = libm::sincos(theta);
        self.spare = Some(rad * s);
        rad * c
    }

    /// `n` values, i.i.d. N(0, std^2).
    pub fn fill(&mut self, out: &mut [f64], std: f64) {
        for x in out.iter_mut() {
            *x = std * self.sample();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sincos_has_the_bits_of_sin_and_cos() {
        // Box-Muller's angles 2 pi u (u in (0, 1)), tiny ones (sin's and cos's small-argument
        // branches differ), and a wide range.
        let mut g = Normal::new(11);
        let mut xs: Vec<f64> = (0..200_000)
            .map(|_| 2.0 * std::f64::consts::PI * g.uniform_open())
            .collect();
        for e in -60..=60 {
            for m in [1.0, 1.1, std::f64::consts::SQRT_2, 1.5, 1.9] {
                xs.push(m * 2f64.powi(e));
                xs.push(-m * 2f64.powi(e));
            }
        }
        xs.extend([
            0.0,
            -0.0,
            std::f64::consts::PI,
            1e300,
            f64::INFINITY,
            f64::NAN,
        ]);
        for x in xs {
            let (s, c) = libm::sincos(x);
            assert_eq!(s.to_bits(), libm::sin(x).to_bits(), "sin({x:e})");
            assert_eq!(c.to_bits(), libm::cos(x).to_bits(), "cos({x:e})");
        }
    }

    #[test]
    fn same_seed_same_bits_and_moments() {
        let mut a = Normal::new(7);
        let mut b = Normal::new(7);
        let xs: Vec<f64> = (0..20000).map(|_| a.sample()).collect();
        let ys: Vec<f64> = (0..20000).map(|_| b.sample()).collect();
        assert!(xs.iter().zip(&ys).all(|(x, y)| x.to_bits() == y.to_bits()));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.03, "var {var}");
        let mut c = Normal::new(8);
        assert_ne!(c.sample().to_bits(), xs[0].to_bits());
    }
}
