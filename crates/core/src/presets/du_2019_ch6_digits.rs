//! Du, "Gradient Descent for Non-convex Problems in Modern Machine Learning" (thesis, CMU 2019),
//! chapter 6, Figure 6.3 (c) and (d): SGD learning a convolutional filter on the patches of real
//! handwritten digits, labels from a random Gaussian filter (c) or a Gabor filter (d), several
//! initializations; the thesis plots the relative loss against iterations and says "better
//! initializations give faster rates".
//!
//! MNIST cannot be downloaded here: the data are scikit-learn's bundled 8 x 8 digits (1797
//! images), exported by `scripts/setup.sh` to `data/digits.csv`. The core reads no files: the
//! runs give `patches: {"kind": "digits", ...}`, which the TS layer (Node) expands into the
//! family's `data` patches (docs/filter-learning.md, docs/ARCHITECTURE.md "Data sets").
//! Every theory value (the teachers, the initial points) is computed here from seeds and
//! formulas, never from a run.

use serde_json::{json, Value};

use super::Preset;
use crate::rng::Normal;

pub(super) const PRESETS: &[Preset] = &[
    Preset {
        name: "figure63c",
        description: "Du (2019 thesis) Figure 6.3 (c): SGD learning a random Gaussian 4 x 4 \
                      filter on the non-overlapping 4 x 4 patches of scikit-learn's 8 x 8 \
                      handwritten digits (MNIST stand-in; data/digits.csv from \
                      scripts/setup.sh), four initializations at 10-80 degrees from w*: the \
                      relative loss and ||w - w*|| against iterations, better (smaller-angle) \
                      initializations faster",
        build: figure63c,
    },
    Preset {
        name: "figure63d",
        description: "Du (2019 thesis) Figure 6.3 (d): as figure63c with a 4 x 4 Gabor target \
                      filter (sigma 1.5, wavelength 4, orientation 45 degrees, aspect 0.5, \
                      phase 0)",
        build: figure63d,
    },
];

/// Patch side q (patches are q x q, p = q^2), stride, patches per image k, image side.
pub const DIGITS_Q: usize = 4;
pub const DIGITS_STRIDE: usize = 4;
pub const DIGITS_SIDE: usize = 8;
pub const DIGITS_K: usize = ((DIGITS_SIDE - DIGITS_Q) / DIGITS_STRIDE + 1).pow(2);
/// Pixels (0..16) are multiplied by this: patches in [0, 1]^p.
pub const DIGITS_SCALE: f64 = 1.0 / 16.0;
/// Initial angles to w* (degrees); every start has norm ||w*||.
pub const DIGITS_ANGLES: [f64; 4] = [10.0, 30.0, 55.0, 80.0];
/// SGD: fresh batches of this many images (rows drawn uniformly with replacement).
pub const DIGITS_BATCH: usize = 16;
pub const DIGITS_STEPS: u64 = 6000;
pub const DIGITS_RECORD: u64 = 20;
/// Seeds: the random teacher's entries, the direction orthogonal to w* of the starts, SGD.
pub const DIGITS_TEACHER_SEED: u64 = 14;
pub const DIGITS_DIR_SEED: u64 = 63;
pub const DIGITS_SGD_SEED: u64 = 0;
/// The relative-loss level whose first crossing orders the runs.
pub const DIGITS_LEVEL: f64 = 1e-3;

/// Gabor parameters: envelope sigma, wavelength lambda, orientation theta, aspect gamma, phase psi.
pub const GABOR: (f64, f64, f64, f64, f64) = (1.5, 4.0, std::f64::consts::FRAC_PI_4, 0.5, 0.0);

/// The random target of (c): q^2 independent N(0, 1) entries from DIGITS_TEACHER_SEED.
pub fn random_filter() -> Vec<f64> {
    let mut w = vec![0.0; DIGITS_Q * DIGITS_Q];
    Normal::new(DIGITS_TEACHER_SEED).fill(&mut w, 1.0);
    w
}

/// The Gabor target of (d), row-major q x q: at pixel (i, j) with x = j - (q-1)/2, y = i - (q-1)/2,
/// x' = x cos theta + y sin theta, y' = -x sin theta + y cos theta,
/// G = exp(-(x'^2 + gamma^2 y'^2) / (2 sigma^2)) cos(2 pi x' / lambda + psi).
pub fn gabor_filter() -> Vec<f64> {
    let (sigma, lambda, theta, gamma, psi) = GABOR;
    let c = (DIGITS_Q as f64 - 1.0) / 2.0;
    let mut w = Vec::with_capacity(DIGITS_Q * DIGITS_Q);
    for i in 0..DIGITS_Q {
        for j in 0..DIGITS_Q {
            let (x, y) = (j as f64 - c, i as f64 - c);
            let xr = x * libm::cos(theta) + y * libm::sin(theta);
            let yr = -x * libm::sin(theta) + y * libm::cos(theta);
            let env = libm::exp(-(xr * xr + gamma * gamma * yr * yr) / (2.0 * sigma * sigma));
            w.push(env * libm::cos(2.0 * std::f64::consts::PI * xr / lambda + psi));
        }
    }
    w
}

/// The start at angle `deg` from w*, norm ||w*||: ||w*|| (cos a u + sin a v), u = w*/||w*||, v a
/// fixed unit vector orthogonal to w* (a Gaussian draw from DIGITS_DIR_SEED, Gram-Schmidt).
pub fn start_at(w_star: &[f64], deg: f64) -> Vec<f64> {
    let n = crate::linalg::norm(w_star);
    let u: Vec<f64> = w_star.iter().map(|x| x / n).collect();
    let mut v = vec![0.0; w_star.len()];
    Normal::new(DIGITS_DIR_SEED).fill(&mut v, 1.0);
    let d = crate::linalg::dot(&v, &u);
    v.iter_mut().zip(&u).for_each(|(a, b)| *a -= d * b);
    let nv = crate::linalg::norm(&v);
    let a = deg.to_radians();
    u.iter()
        .zip(&v)
        .map(|(a_u, a_v)| n * (libm::cos(a) * a_u + libm::sin(a) * a_v / nv))
        .collect()
}

/// The patches spec the TS layer expands (docs/filter-learning.md).
pub fn digits_patches() -> Value {
    json!({"kind": "digits", "q": DIGITS_Q, "stride": DIGITS_STRIDE, "scale": DIGITS_SCALE})
}

fn run_spec(w_star: &[f64], w0: &[f64], eta: f64) -> Value {
    json!({
        "model": {"kind": "convFilter", "p": DIGITS_Q * DIGITS_Q, "k": DIGITS_K},
        "teacher": {"kind": "vector", "w": w_star},
        "patches": digits_patches(),
        "sampling": {"kind": "fresh", "batch": DIGITS_BATCH, "seed": DIGITS_SGD_SEED},
        "init": {"kind": "point", "w": w0},
        "schedule": {"kind": "constant", "eta": eta},
        "method": {"kind": "gd"},
        "steps": DIGITS_STEPS,
        "recordEvery": DIGITS_RECORD
    })
}

fn panel(w_star: Vec<f64>, eta: f64, target: &str, paper_fig: &str) -> Value {
    let runs: Vec<Value> = DIGITS_ANGLES
        .iter()
        .map(|&a| json!({"label": format!("init {a} deg from w*"), "spec": run_spec(&w_star, &start_at(&w_star, a), eta)}))
        .collect();
    let n = DIGITS_ANGLES.len();
    let hit = |i: usize| json!({"run": i, "column": "relLoss", "reduce": "firstStepAtMost", "value": DIGITS_LEVEL});
    let mut order = Vec::new();
    for i in 0..n - 1 {
        order.push(json!({"kind": "atMost", "of": hit(i), "bound": hit(i + 1)}));
    }
    let mut show = Vec::new();
    for i in 0..n {
        show.push(json!({"kind": "show", "of": {"run": i, "column": "relLoss", "reduce": "last"}}));
        show.push(json!({"kind": "show", "of": {"run": i, "column": "err", "reduce": "last"}}));
    }
    let plots = vec![
        json!({"title": format!("({target}) relative loss mean (f(w,Z) - y)^2 / mean(y)^2 over all 1797 images"), "column": "relLoss", "logY": true}),
        json!({"title": "||w - w*||", "column": "err", "logY": true}),
        json!({"title": "angle between w and w* (rad)", "column": "phi"}),
    ];
    let angles = DIGITS_ANGLES
        .iter()
        .map(|a| format!("{a}"))
        .collect::<Vec<_>>()
        .join(", ");
    let reference = vec![
        json!({
            "claim": "better initializations give faster rates",
            "paper": format!("Section 6.4 and Figure 6.3 ({paper_fig}): \"convergence rates of SGD with different initializations. Here, better initializations give faster rates, which coincides our theory\""),
            "check": format!("starts at {angles} degrees from w* (norm ||w*||, one direction orthogonal to w*, the same SGD batches): the first recorded step with relative loss <= {DIGITS_LEVEL:e} is non-decreasing in the angle"),
            "checks": order
        }),
        json!({
            "claim": "SGD reaches a filter with near-zero loss, often not the exact filter",
            "paper": "Section 6.4: \"we found SGD often cannot converge to the exact filter but rather a filter with near zero loss\"",
            "check": "shown per start: the final relative loss, then the final ||w - w*||",
            "checks": show,
            "cannotCompare": "the thesis gives no numbers for Figure 6.3 (c, d) (MNIST 28 x 28 there, 8 x 8 digits here): shown, not judged"
        }),
    ];
    json!({"runs": runs, "plots": plots, "reference": reference})
}

/// The step sizes (chosen: docs/filter-learning.md).
pub const DIGITS_ETA_C: f64 = 0.5;
pub const DIGITS_ETA_D: f64 = 0.5;

fn figure63c() -> Value {
    panel(random_filter(), DIGITS_ETA_C, "c", "c")
}

fn figure63d() -> Value {
    panel(gabor_filter(), DIGITS_ETA_D, "d", "d")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_are_at_their_angles_with_norm_w_star() {
        for w in [random_filter(), gabor_filter()] {
            for &a in &DIGITS_ANGLES {
                let w0 = start_at(&w, a);
                let phi = crate::model::convfilter::angle(&w0, &w).to_degrees();
                assert!((phi - a).abs() < 1e-9, "{phi} vs {a}");
                let r = crate::linalg::norm(&w0) / crate::linalg::norm(&w);
                assert!((r - 1.0).abs() < 1e-12);
            }
        }
        let g = gabor_filter();
        // The centre pixel pair on the 45-degree diagonal: symmetric under (i, j) -> (j, i) for
        // theta = 45 degrees (x' is symmetric, y' flips sign and enters squared).
        for i in 0..DIGITS_Q {
            for j in 0..DIGITS_Q {
                assert!((g[i * DIGITS_Q + j] - g[j * DIGITS_Q + i]).abs() < 1e-15);
            }
        }
        assert_eq!(
            DIGITS_K,
            ((DIGITS_SIDE - DIGITS_Q) / DIGITS_STRIDE + 1).pow(2)
        );
    }
}
