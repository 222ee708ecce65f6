//! Networks: gradients against central differences, conservation laws (Du, Hu & Lee 2018,
//! Theorems 2.1-2.3, Corollary 2.1) under the integrators, determinism, validation.

use std::collections::HashMap;

use autobalance_core::model::Model;
use autobalance_core::session::Problem;
use autobalance_core::{ErrorCode, Session};
use serde_json::{json, Value};

fn session(spec: &Value) -> Session {
    Session::new(&spec.to_string(), HashMap::new()).unwrap_or_else(|e| panic!("{e:?}"))
}

/// A spec with small generated data.
fn spec(layers: Value, loss: &str, input_dim: usize, method: Value, eta: f64, steps: u64) -> Value {
    let n = layers.as_array().unwrap().len();
    json!({
        "model": {"kind": "network", "inputDim": input_dim, "layers": layers, "loss": loss},
        "data": {"kind": "generated", "samples": 150, "inputs": "gaussian",
                 "targets": {"kind": "teacher", "widths": [7]}, "seed": 3},
        "init": {"kind": "gaussian", "variances": vec![0.3; n], "seed": 4},
        "schedule": {"kind": "constant", "eta": eta},
        "method": method,
        "steps": steps,
        "recordEvery": 1
    })
}

fn nets() -> Vec<(&'static str, Value, usize)> {
    vec![
        (
            "relu",
            json!([{"width": 6, "activation": "relu"}, {"width": 5, "activation": "relu"}, {"width": 3}]),
            4,
        ),
        (
            "leaky+bias",
            json!([{"width": 6, "activation": "leakyRelu", "slope": 0.2, "bias": true},
                   {"width": 3, "bias": true}]),
            4,
        ),
        (
            "linear",
            json!([{"width": 5}, {"width": 4}, {"width": 3}]),
            4,
        ),
        (
            "conv1d",
            json!([{"type": "conv1d", "inChannels": 2, "outChannels": 3, "kernel": 3, "stride": 1,
                    "padding": 1, "activation": "relu", "bias": true},
                   {"type": "conv1d", "inChannels": 3, "outChannels": 2, "kernel": 2, "stride": 2,
                    "activation": "leakyRelu", "slope": 0.1},
                   {"width": 3}]),
            12,
        ),
        (
            "conv2d",
            json!([{"type": "conv2d", "inChannels": 1, "inHeight": 4, "outChannels": 2, "kernel": 3,
                    "padding": 1, "activation": "relu"},
                   {"width": 3, "bias": true}]),
            16,
        ),
    ]
}

fn gd() -> Value {
    json!({"kind": "gd"})
}

#[test]
fn gradients_match_central_differences() {
    for (name, layers, d) in nets() {
        for loss in ["squared", "crossEntropy"] {
            let s = session(&spec(layers.clone(), loss, d, gd(), 0.1, 0));
            assert!(matches!(s.problem(), Problem::Net(_)));
            // A private copy of the model to evaluate.
            let mut net = clone_net(&s);
            let w = s.params().to_vec();
            let mut g = vec![0.0; w.len()];
            let f0 = net.loss_grad(&w, &mut g);
            assert!(f0.is_finite() && f0 > 0.0);
            let mut scratch = vec![0.0; w.len()];
            let h = 1e-6;
            let mut worst: f64 = 0.0;
            for i in 0..w.len() {
                let mut wp = w.clone();
                wp[i] += h;
                let fp = net.loss_grad(&wp, &mut scratch);
                wp[i] -= 2.0 * h;
                let fm = net.loss_grad(&wp, &mut scratch);
                let fd = (fp - fm) / (2.0 * h);
                worst = worst.max((fd - g[i]).abs() / (1.0 + g[i].abs()));
            }
            // ReLU kinks are crossed with probability ~0 at these random points; truncation is
            // O(h^2), round-off ~1e-16 |f| / h ~ 1e-10.
            assert!(worst < 1e-6, "{name} {loss}: worst FD error {worst}");
        }
    }
}

/// Rebuild the same network (same spec and data) as an owned model.
fn clone_net(s: &Session) -> autobalance_core::model::net::Network {
    let n = s.network().unwrap();
    autobalance_core::model::net::Network::new(
        n.input_dim,
        n.layers.clone(),
        n.loss,
        n.x.clone(),
        n.y.clone(),
        0,
    )
}
