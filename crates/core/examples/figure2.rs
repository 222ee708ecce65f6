//! Figure 2 of Du, Hu & Lee (2018), natively, timed.
//! `cargo run --release -p autobalance-core --features parallel --example figure2 -- [steps] [eta]`
//! Prints the final squared layer norms, the largest |differences| over the run and the time.

use std::collections::HashMap;
use std::time::Instant;

use autobalance_core::presets::{figure2_spec, FIGURE2_STEPS};
use autobalance_core::Session;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let steps: u64 = args.get(1).map_or(FIGURE2_STEPS, |s| s.parse().unwrap());
    let eta: Option<f64> = args.get(2).map(|s| s.parse().unwrap());
    for (label, vars) in [
        ("balanced", [1e-6, 1e-5, 1e-4]),
        ("unbalanced", [1e-4, 1e-4, 1e-4]),
    ] {
        let mut spec = figure2_spec(vars, steps);
        if let Some(e) = eta {
            spec["schedule"]["eta"] = e.into();
        }
        let mut s = Session::new(&spec.to_string(), HashMap::new()).unwrap();
        let t0 = Instant::now();
        s.advance(u64::MAX);
        let secs = t0.elapsed().as_secs_f64();
        let col = |n: &str| s.column(n, 0).unwrap().to_vec();
        let last = |n: &str| *col(n).last().unwrap();
        let maxabs = |n: &str| col(n).iter().fold(0.0f64, |a, x| a.max(x.abs()));
        let st = s.status();
        println!(
            "{label:>10}: {} steps in {secs:.2} s ({:.3} ms/step){}; loss {:.4e} -> {:.4e}; \
             ||W||^2 = {:.2}, {:.2}, {:.2}; diff1 {:.3} -> {:.3} (max |.| {:.3}, max drift {:.3e}); \
             diff2 {:.3} -> {:.3} (max |.| {:.3}, max drift {:.3e}); ratios {:.4}, {:.4}",
            st.step,
            1e3 * secs / st.step.max(1) as f64,
            st.diverged_at.map_or(String::new(), |d| format!(" DIVERGED at {d}")),
            col("loss")[0],
            last("loss"),
            last("normSqW1"),
            last("normSqW2"),
            last("normSqW3"),
            col("layerDiff1")[0],
            last("layerDiff1"),
            maxabs("layerDiff1"),
            maxabs("layerDiffDrift1"),
            col("layerDiff2")[0],
            last("layerDiff2"),
            maxabs("layerDiff2"),
            maxabs("layerDiffDrift2"),
            last("normRatio1"),
            last("normRatio2"),
        );
    }
}
