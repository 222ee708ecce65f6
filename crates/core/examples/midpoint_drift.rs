//! Drift of the conserved quantities under implicit midpoint over 10^4 steps, at step sizes up to
//! and beyond the explicit stability limit 2 / lambda_max(Hess L(w0)), for matrix factorization,
//! a linear network and a ReLU network (issue 10).
//! `cargo run --release -p autobalance-core --example midpoint_drift [steps]`
//! Prints a markdown table (docs/networks.md): per case and h, how the run stopped, the largest
//! |drift| over every conserved-quantity column and every row, that drift relative to
//! sum_i w0_i^2 (the scale of the quadratic invariants), the largest recorded solve defect and
//! iteration count (a failed run's last row shows its failed solve when that row is recorded
//! after it), and the wall time over the steps taken.

use std::collections::HashMap;
use std::time::Instant;

use autobalance_core::Session;
use serde_json::{json, Value};

fn cases() -> Vec<(&'static str, Value)> {
    vec![
        (
            "MF 20x15, rank 4",
            json!({
                "model": {"kind": "matrixFactorization", "d1": 20, "d2": 15, "rank": 4},
                "target": {"kind": "random", "singularValues": [4.0, 3.0, 2.0, 1.0], "seed": 1},
                "init": {"kind": "gaussian", "stdU": 0.3, "stdV": 0.3, "seed": 2},
            }),
        ),
        (
            "linear net 4-6-5-2",
            json!({
                "model": {"kind": "network", "inputDim": 4, "loss": "squared",
                          "layers": [{"width": 6}, {"width": 5}, {"width": 2}]},
                "data": {"kind": "generated", "samples": 40, "inputs": "gaussian",
                         "targets": {"kind": "gaussian", "std": 1}, "seed": 1},
                "init": {"kind": "gaussian", "stds": [0.5, 0.5, 0.5], "seed": 2},
            }),
        ),
        (
            "ReLU net 6-8-7-3 + biases",
            json!({
                "model": {"kind": "network", "inputDim": 6, "loss": "squared",
                          "layers": [{"width": 8, "activation": "relu", "bias": true},
                                     {"width": 7, "activation": "relu", "bias": true},
                                     {"width": 3}]},
                "data": {"kind": "generated", "samples": 30, "inputs": "gaussian",
                         "targets": {"kind": "gaussian", "std": 1}, "seed": 5},
                "init": {"kind": "gaussian", "stds": [0.6, 0.6, 0.6], "seed": 6},
            }),
        ),
    ]
}

fn with(base: &Value, h: f64, steps: u64) -> Value {
    let mut s = base.clone();
    s["schedule"] = json!({"kind": "constant", "eta": h});
    s["method"] = json!({"kind": "implicitMidpoint"});
    s["steps"] = json!(steps);
    s["recordEvery"] = json!(10);
    s
}

/// Largest eigenvalue of Hess L at the initial point (power iteration on the model's HVP).
fn lambda_max(base: &Value) -> f64 {
    let mut s = Session::new(&with(base, 0.01, 1).to_string(), HashMap::new()).unwrap();
    let w = s.params().to_vec();
    let n = w.len();
    let mut v: Vec<f64> = (0..n).map(|i| 1.0 + (i as f64 * 0.37).sin()).collect();
    let mut hv = vec![0.0; n];
    let mut lam = 0.0;
    for _ in 0..500 {
        let nv = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.iter_mut().for_each(|x| *x /= nv);
        s.model_mut().hvp(&w, &v, &mut hv);
        lam = v.iter().zip(&hv).map(|(a, b)| a * b).sum::<f64>();
        std::mem::swap(&mut v, &mut hv);
    }
    s.model_mut().end_queries();
    lam
}

fn main() {
    let steps: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap())
        .unwrap_or(10_000);
    println!("| case | h (x 2/lambda_max) | stop | max abs drift | drift / sum w0_i^2 | max defect | max solveIters | ms/step |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, base) in cases() {
        let limit = 2.0 / lambda_max(&base);
        for frac in [0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0] {
            let h = frac * limit;
            let mut s = Session::new(&with(&base, h, steps).to_string(), HashMap::new()).unwrap();
            let w0 = s.initial_params().iter().map(|x| x * x).sum::<f64>();
            let t0 = Instant::now();
            let st = s.advance(u64::MAX);
            let ms = t0.elapsed().as_secs_f64() * 1e3 / (st.step.max(1) as f64);
            let roles = s.column_roles();
            let mut drift = 0.0f64;
            for (c, role) in s.column_names().iter().zip(&roles) {
                if *role == "drift" {
                    for x in s.column(c, 0).unwrap() {
                        drift = drift.max(x.abs());
                    }
                }
            }
            let maxcol = |c: &str| {
                s.column(c, 1)
                    .unwrap()
                    .iter()
                    .fold(0.0f64, |a, x| a.max(*x))
            };
            let j = serde_json::to_value(&st).unwrap();
            let stop = match j["stop"].as_str() {
                Some("finished") => "finished".to_string(),
                Some(other) => format!("{other} at {}", j["stoppedAt"]),
                None => "?".to_string(),
            };
            println!(
                "| {name} | {h:.4} ({frac}) | {stop} | {drift:.2e} | {:.2e} | {:.2e} | {} | {ms:.3} |",
                drift / w0,
                maxcol("solveResidual"),
                maxcol("solveIters"),
            );
        }
    }
}
