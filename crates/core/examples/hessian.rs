//! Benchmark driver for issue 4 (Performance): lambda_min of the matrix-factorization Hessian by
//! Lanczos and by the dense path, timed in one process. Driven by `bench/hessian.mjs`, which also
//! runs SciPy's eigsh on the same problem (`bench/hessian.py`) and prints the ratios.
//!
//!   cargo run --release -p autobalance-core --example hessian -- \
//!       [--d1 500] [--d2 500] [--r 5] [--tol 1e-8] [--reps 3] [--no-dense] [--write FILE]
//!
//! The problem: M* = P diag(1..r) Q^T (P, Q orthonormal from seeded Gaussians), the point
//! U, V with i.i.d. N(0, 0.3^2) entries (seeded): a generic non-stationary point whose Hessian
//! has negative eigenvalues. `--write FILE` stores d1, d2, r (as f64) then M*, U, V (row-major
//! little-endian f64) for the SciPy peer. Prints one JSON object.

use std::time::Instant;

use autobalance_core::curvature::{
    dense_eigen, lanczos, residual, HessianOp, LanczosOptions, Which,
};
use autobalance_core::model::mf::MatrixFactorization;
use autobalance_core::rng::Normal;
use nalgebra::DMatrix;

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let d1: usize = arg(&args, "--d1", "500").parse().unwrap();
    let d2: usize = arg(&args, "--d2", "500").parse().unwrap();
    let r: usize = arg(&args, "--r", "5").parse().unwrap();
    let tol: f64 = arg(&args, "--tol", "1e-8").parse().unwrap();
    let reps: usize = arg(&args, "--reps", "3").parse().unwrap();
    let dense = !args.iter().any(|a| a == "--no-dense");
    let write = arg(&args, "--write", "");

    let mut rng = Normal::new(2024);
    let mut g = |rows: usize, cols: usize| {
        let mut x = vec![0.0; rows * cols];
        rng.fill(&mut x, 1.0);
        DMatrix::from_row_slice(rows, cols, &x)
    };
    let p = g(d1, r).qr().q();
    let q = g(d2, r).qr().q();
    let s = DMatrix::from_diagonal(&nalgebra::DVector::from_iterator(
        r,
        (1..=r).map(|i| i as f64),
    ));
    let m = &p * s * q.transpose();
    let mut target = Vec::with_capacity(d1 * d2);
    for i in 0..d1 {
        for j in 0..d2 {
            target.push(m[(i, j)]);
        }
    }
    let n = (d1 + d2) * r;
    let mut w = vec![0.0; n];
    Normal::new(7).fill(&mut w, 0.3);

    if !write.is_empty() {
        let mut bytes = Vec::with_capacity(8 * (3 + d1 * d2 + n));
        for x in [d1 as f64, d2 as f64, r as f64]
            .iter()
            .chain(&target)
            .chain(&w)
        {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        std::fs::write(&write, bytes).expect("write problem file");
    }

    let mut model = MatrixFactorization::new(d1, d2, r, 0.0, target);

    // One HVP, for reference.
    let mut op = HessianOp::new(&mut model, &w, None);
    let v: Vec<f64> = (0..n).map(|i| ((i % 7) as f64) - 3.0).collect();
    let mut out = vec![0.0; n];
    let t0 = Instant::now();
    let hv_reps = 20;
    for _ in 0..hv_reps {
        autobalance_core::curvature::LinOp::apply(&mut op, &v, &mut out);
    }
    let hvp_ms = t0.elapsed().as_secs_f64() * 1e3 / hv_reps as f64;

    // Lanczos, lambda_min to `tol` relative residual (and to tol / 100, to compare with a solver
    // that overshoots the tolerance).
    let mut run = |tol: f64| {
        let mut times = Vec::new();
        let mut last = None;
        for rep in 0..reps.max(1) {
            let t0 = Instant::now();
            let res = lanczos(
                &mut op,
                &LanczosOptions {
                    k: 1,
                    which: Which::Smallest,
                    tol,
                    max_iter: 3000,
                    seed: rep as u64,
                    ..Default::default()
                },
            );
            times.push(t0.elapsed().as_secs_f64() * 1e3);
            last = Some(res);
        }
        times.sort_by(f64::total_cmp);
        let lz = last.unwrap();
        let p = &lz.smallest[0];
        format!(
            r#"{{"tol": {tol}, "ms": {}, "msAll": {times:?}, "lambdaMin": {}, "residual": {}, "relResidual": {}, "scale": {}, "converged": {}, "iterations": {}, "hvps": {}}}"#,
            times[times.len() / 2],
            p.value,
            p.residual,
            p.residual / lz.scale,
            lz.scale,
            p.converged,
            lz.iterations,
            lz.hvps
        )
    };
    let lanczos_json = run(tol);
    let strict_json = run(tol * 0.01);

    let mut dense_json = String::from("null");
    if dense {
        let t0 = Instant::now();
        let e = dense_eigen(&mut op);
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        let vmin = e.vector(0);
        let res = residual(&mut op, &vmin, e.values[0]);
        let scale = e.values[0].abs().max(e.values[n - 1].abs());
        dense_json = format!(
            r#"{{"ms": {ms}, "lambdaMin": {}, "lambdaMax": {}, "residual": {res}, "relResidual": {}}}"#,
            e.values[0],
            e.values[n - 1],
            res / scale
        );
    }
    println!(
        r#"{{"d1": {d1}, "d2": {d2}, "r": {r}, "dim": {n}, "tol": {tol}, "hvpMs": {hvp_ms},
 "lanczos": {lanczos_json},
 "lanczosStrict": {strict_json},
 "dense": {dense_json}}}"#
    );
}
