//! How the drift of the conserved quantities scales with the step size, per integrator.
//! `cargo run --release -p autobalance-core --example drift_scaling`
//! Prints markdown tables (docs/networks.md): the largest drift over all conserved-quantity
//! columns (layer pairs, per-neuron maxima, matrix invariants) at flow time T = 1.

use std::collections::HashMap;

use autobalance_core::Session;
use serde_json::{json, Value};

fn spec(layers: &Value, loss: &str, method: &Value, h: f64, steps: u64) -> Value {
    // Entries of W_h ~ N(0, 1/n_{h-1}) (the usual scaling), inputs on the unit sphere.
    let mut fan = 8.0;
    let vars: Vec<f64> = layers
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let v = 1.0 / fan;
            fan = l["width"].as_f64().unwrap();
            v
        })
        .collect();
    json!({
        "model": {"kind": "network", "inputDim": 8, "layers": layers, "loss": loss},
        "data": {"kind": "generated", "samples": 200, "inputs": "sphere",
                 "targets": {"kind": "teacher", "widths": [10], "scale": 3.0}, "seed": 3},
        "init": {"kind": "gaussian", "variances": vars, "seed": 4},
        "schedule": {"kind": "constant", "eta": h},
        "method": method,
        "steps": steps,
        "recordEvery": 1
    })
}

/// (largest drift over the run, flow time reached, steps, loss at the end)
fn run(layers: &Value, loss: &str, method: &Value, h: f64, steps: u64) -> (f64, f64, u64, f64) {
    let mut s = Session::new(
        &spec(layers, loss, method, h, steps).to_string(),
        HashMap::new(),
    )
    .expect("valid spec");
    s.advance(u64::MAX);
    let mut worst: f64 = 0.0;
    for name in s.column_names() {
        if name.starts_with("layerDiffDrift")
            || name.starts_with("neuronDriftMax")
            || name.starts_with("matrixDrift")
        {
            for x in s.column(name, 0).unwrap() {
                worst = worst.max(x.abs());
            }
        }
    }
    let t = *s.column("time", 0).unwrap().last().unwrap();
    let l = *s.column("loss", 0).unwrap().last().unwrap();
    (worst, t, s.status().step, l)
}

fn main() {
    let nets = [
        (
            "ReLU 8-16-16-4, squared",
            json!([{"width": 16, "activation": "relu"}, {"width": 16, "activation": "relu"}, {"width": 4}]),
            "squared",
        ),
        (
            "leaky ReLU (0.1) + biases 8-16-4, cross-entropy",
            json!([{"width": 16, "activation": "leakyRelu", "slope": 0.1, "bias": true}, {"width": 4, "bias": true}]),
            "crossEntropy",
        ),
        (
            "linear 8-16-16-4, squared (matrix invariant included)",
            json!([{"width": 16}, {"width": 16}, {"width": 4}]),
            "squared",
        ),
    ];
    let hs: [f64; 5] = [0.2, 0.1, 0.05, 0.025, 0.0125];
    for (title, layers, loss) in &nets {
        println!("\n### {title}\n");
        println!("Largest drift of any conserved quantity over t in [0, 1]; slope = log2 ratio between successive h.\n");
        print!("| method |");
        for h in hs {
            print!(" h = {h} |");
        }
        println!(" slope |");
        print!("|---|");
        for _ in hs {
            print!("---|");
        }
        println!("---|");
        for (name, m) in [
            ("GD = explicit Euler", json!({"kind": "euler"})),
            (
                "heavy ball (beta 0.9)",
                json!({"kind": "momentum", "beta": 0.9}),
            ),
            ("RK4", json!({"kind": "rk4"})),
            (
                "implicit midpoint (tol 1e-14)",
                json!({"kind": "implicitMidpoint", "tol": 1e-14, "maxIter": 200}),
            ),
        ] {
            print!("| {name} |");
            let mut d = Vec::new();
            for h in hs {
                let steps = (1.0 / h).round() as u64;
                let (w, _, _, _) = run(layers, loss, &m, h, steps);
                d.push(w);
                print!(" {w:.2e} |");
            }
            let k = d.len();
            let slope = (d[k - 2] / d[k - 1]).log2();
            println!(" {slope:.2} |");
        }
        println!("\nDormand-Prince 5(4), adaptive, until t >= 1 (first trial step 0.1):\n");
        println!("| rtol = atol | accepted steps | drift at t ~ 1 |");
        println!("|---|---|---|");
        for tol in [1e-4, 1e-6, 1e-8, 1e-10] {
            let m = json!({"kind": "dopri5", "rtol": tol, "atol": tol});
            // Find the number of accepted steps reaching t = 1.
            let mut steps = 1;
            loop {
                let (w, t, n, _) = run(layers, loss, &m, 0.1, steps);
                if t >= 1.0 || steps > 100_000 {
                    println!("| {tol:e} | {n} | {w:.2e} |");
                    break;
                }
                steps = (steps as f64 * (1.0 / t).max(1.05)).ceil() as u64 + 1;
            }
        }
    }
}
