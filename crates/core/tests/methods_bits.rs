//! Bit-level fingerprints of every method's trajectory on matrix-factorization and network runs:
//! a hash of the bits of every recorded column, the final parameters and the status.
//!
//! A refactor of the methods must leave every fingerprint unchanged (same floating-point
//! operations in the same order): run
//! `cargo test -p autobalance-core --release --test methods_bits -- --ignored --nocapture`
//! before and after and compare the output. The fingerprints are compared on one machine, not
//! against a stored table: matrix products pick their kernel by CPU (with or without FMA).

use std::collections::HashMap;

use autobalance_core::Session;
use serde_json::{json, Value};

fn methods() -> Vec<(&'static str, Value)> {
    vec![
        ("gd", json!({"kind": "gd"})),
        ("momentum", json!({"kind": "momentum", "beta": 0.9})),
        ("nesterov", json!({"kind": "nesterov", "beta": 0.8})),
        (
            "adam",
            json!({"kind": "adam", "beta1": 0.9, "beta2": 0.99, "eps": 1e-8}),
        ),
        ("sgd", json!({"kind": "sgd", "batchSize": 16, "seed": 5})),
        ("euler", json!({"kind": "euler"})),
        ("rk4", json!({"kind": "rk4"})),
        (
            "dopri5",
            json!({"kind": "dopri5", "rtol": 1e-6, "atol": 1e-9}),
        ),
        (
            "implicitMidpoint",
            json!({"kind": "implicitMidpoint", "tol": 1e-12, "maxIter": 50}),
        ),
    ]
}

fn mf(method: &Value, eta: f64) -> Value {
    json!({
        "model": {"kind": "matrixFactorization", "d1": 9, "d2": 7, "rank": 3, "balanceWeight": 0.1},
        "target": {"kind": "random", "singularValues": [3.0, 2.0, 1.0], "seed": 1},
        "init": {"kind": "gaussian", "stdU": 0.3, "stdV": 0.3, "seed": 2},
        "schedule": {"kind": "constant", "eta": eta},
        "method": method,
        "weightDecay": 0.01,
        "steps": 200
    })
}

fn net(method: &Value, record_every: u64) -> Value {
    json!({
        "model": {"kind": "network", "inputDim": 4, "loss": "squared", "layers": [
            {"width": 6, "activation": "relu", "bias": true},
            {"width": 5, "activation": "leakyRelu", "slope": 0.2},
            {"width": 3}
        ]},
        "data": {"kind": "generated", "samples": 64, "inputs": "gaussian",
                 "targets": {"kind": "teacher", "widths": [7]}, "seed": 3},
        "init": {"kind": "gaussian", "variances": [0.3, 0.3, 0.3], "seed": 4},
        "schedule": {"kind": "constant", "eta": 0.1},
        "method": method,
        "weightDecay": 0.001,
        "steps": 200,
        "recordEvery": record_every
    })
}

fn fnv(h: &mut u64, bits: u64) {
    for b in bits.to_le_bytes() {
        *h ^= b as u64;
        *h = h.wrapping_mul(0x100000001b3);
    }
}

/// The fingerprint of a run advanced in chunks of `chunk` steps (with where it diverged and the
/// method's extra columns at the end, to read), or None if the spec is invalid.
fn fingerprint(spec: &Value, chunk: u64) -> Option<(u64, String)> {
    let mut s = Session::new(&spec.to_string(), HashMap::new()).ok()?;
    while !s.advance(chunk).finished {}
    let mut h = 0xcbf29ce484222325u64;
    for name in s.column_names().to_vec() {
        for b in name.bytes() {
            fnv(&mut h, b as u64);
        }
        for x in s.column(&name, 0).unwrap() {
            fnv(&mut h, x.to_bits());
        }
    }
    for x in s.params() {
        fnv(&mut h, x.to_bits());
    }
    let st = s.status();
    fnv(&mut h, st.step);
    fnv(&mut h, st.diverged_at.unwrap_or(u64::MAX));
    fnv(&mut h, st.loss.unwrap_or(f64::NAN).to_bits());
    let mut info = format!("divergedAt={:?}", st.diverged_at);
    for name in ["time", "solveIters", "rejected"] {
        if let Ok(c) = s.column(name, 0) {
            info += &format!(" {name}={}", c.last().unwrap());
        }
    }
    Some((h, info))
}

fn fingerprints() -> Vec<String> {
    let mut out = Vec::new();
    for (name, m) in methods() {
        let runs = [
            ("mf", fingerprint(&mf(&m, 0.05), u64::MAX)),
            ("mfDiverging", fingerprint(&mf(&m, 1.5), 37)),
            ("net", fingerprint(&net(&m, 1), u64::MAX)),
            ("netChunked", fingerprint(&net(&m, 7), 13)),
        ];
        for (run, f) in runs {
            let f = f.map_or("invalid".to_string(), |(f, info)| {
                format!("{f:016x} ({info})")
            });
            out.push(format!("{name} {run} {f}"));
        }
    }
    out
}

#[test]
#[ignore = "prints fingerprints to compare before and after a change"]
fn print_fingerprints() {
    for line in fingerprints() {
        println!("{line}");
    }
}

/// Advancing in chunks gives the same bits as one call, for every method (the lazy methods,
/// SGD and Nesterov, skip full evaluations between recorded rows and chunk ends).
#[test]
fn chunking_leaves_every_method_bit_identical() {
    for (name, m) in methods() {
        let one = fingerprint(&net(&m, 7), u64::MAX).unwrap();
        let chunked = fingerprint(&net(&m, 7), 13).unwrap();
        assert_eq!(one, chunked, "{name}");
    }
}
