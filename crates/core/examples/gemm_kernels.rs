//! The native GEMM kernels on the shapes that matter (issue 17): `linalg::gemm` (gemm-f64 from an
//! inner dimension of `GEMM_F64_MIN_K`, matrixmultiply below) against matrixmultiply called
//! directly, one thread, best of 3 rounds; GFLOP/s and the ratio, and the largest difference of
//! the two results. For choosing `GEMM_F64_MIN_K`; `bench/table.mjs` is the benchmark of record.
//!
//!   cargo run --release -p autobalance-core --example gemm_kernels
use autobalance_core::linalg::{gemm, Layout};
use std::time::Instant;

fn fill(n: usize, seed: u64) -> Vec<f64> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect()
}

fn best(reps: usize, f: &mut dyn FnMut()) -> f64 {
    f();
    (0..3)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            t.elapsed().as_secs_f64() / reps as f64
        })
        .fold(f64::MAX, f64::min)
}

fn main() {
    // (m, k, n, A transposed, B transposed, what)
    let shapes = [
        (250, 1000, 100, false, true, "Figure 2 forward chunk X W1^T"),
        (
            100,
            250,
            1000,
            true,
            false,
            "Figure 2 backward chunk D1^T X",
        ),
        (
            250,
            100,
            100,
            false,
            true,
            "Figure 2 chunk A_0 W_2^T (layer 2)",
        ),
        (
            100,
            250,
            100,
            true,
            false,
            "Figure 2 chunk D_2^T A_0 (layer 2)",
        ),
        (
            250,
            100,
            100,
            false,
            false,
            "Figure 2 chunk D_2 W_2 (layer 2)",
        ),
        (
            250,
            100,
            10,
            false,
            true,
            "Figure 2 chunk A_1 W_3^T (output layer)",
        ),
        (32, 50, 1000, false, false, "MF r=50 block U_b V^T"),
        (32, 1000, 50, false, false, "MF r=50 block R_b V"),
        (1000, 32, 50, true, false, "MF r=50 block R_b^T U_b"),
        (1000, 1000, 100, false, false, "1000 x 1000 by 1000 x 100"),
        (2000, 1000, 50, false, false, "2000 x 1000 by 1000 x 50"),
        (1000, 1000, 1000, false, false, "1000^3"),
        (100, 5, 100, false, true, "k = 5 (matrixmultiply on both)"),
        (64, 32, 64, false, false, "64 x 32 x 64"),
        (1, 1000, 1, false, false, "1 x 1000 x 1 (a dot)"),
    ];
    println!("| product | m, k, n | ours GFLOP/s | matrixmultiply GFLOP/s | ours / matrixmultiply speed | max |diff| |");
    println!("|---|---|---|---|---|---|");
    for (m, k, n, at, bt, what) in shapes {
        let a = fill(m * k, 1);
        let b = fill(k * n, 2);
        let la = if at {
            Layout::row_major(k, m).t()
        } else {
            Layout::row_major(m, k)
        };
        let lb = if bt {
            Layout::row_major(n, k).t()
        } else {
            Layout::row_major(k, n)
        };
        let lc = Layout::row_major(m, n);
        let (mut c1, mut c2) = (vec![0.0; m * n], vec![0.0; m * n]);
        let flops = 2.0 * (m * k * n) as f64;
        let reps = ((1e9 / flops) as usize).clamp(3, 1_000_000);
        let ours = best(reps, &mut || gemm(1.0, &a, la, &b, lb, 0.0, &mut c1, lc));
        let mm = best(reps, &mut || unsafe {
            matrixmultiply::dgemm(
                m,
                k,
                n,
                1.0,
                a.as_ptr(),
                la.rs,
                la.cs,
                b.as_ptr(),
                lb.rs,
                lb.cs,
                0.0,
                c2.as_mut_ptr(),
                lc.rs,
                lc.cs,
            )
        });
        let diff = c1
            .iter()
            .zip(&c2)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        println!(
            "| {what} | {m}, {k}, {n} | {:.2} | {:.2} | {:.2} | {diff:.1e} |",
            flops / ours / 1e9,
            flops / mm / 1e9,
            mm / ours
        );
    }
}
