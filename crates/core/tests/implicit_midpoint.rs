//! Implicit midpoint solves its equation (Newton-MINRES after a fixed-point start) and conserves
//! the invariants to the rounding level, or stops the run with `solverFailed` (issue 10); runs that
//! stop early (divergence, failed steps) report it in their status and keep a finite last row.
//!
//! The new status fields are read through the serialized JSON, as the bindings see them.

use std::collections::HashMap;
use std::time::Instant;

use autobalance_core::{ErrorCode, Session};
use serde_json::{json, Value};

fn session(spec: &Value) -> Session {
    Session::new(&spec.to_string(), HashMap::new()).expect("valid spec")
}

fn status_json(s: &Session) -> Value {
    serde_json::to_value(s.status()).unwrap()
}

/// Largest |value| over every row of the columns whose role is `drift`.
fn max_drift(s: &Session) -> f64 {
    let roles = s.column_roles();
    let mut m = 0.0f64;
    for (name, role) in s.column_names().iter().zip(roles) {
        if role == "drift" {
            for x in s.column(name, 0).unwrap() {
                assert!(x.is_finite(), "{name} not finite");
                m = m.max(x.abs());
            }
        }
    }
    m
}

fn linear_221(eta: f64, steps: u64) -> Value {
    json!({
        "model": {"kind": "network", "inputDim": 2, "loss": "squared",
                  "layers": [{"width": 2}, {"width": 1}]},
        "data": {"kind": "generated", "samples": 10, "inputs": "gaussian",
                 "targets": {"kind": "gaussian", "std": 1}, "seed": 1},
        "init": {"kind": "gaussian", "stds": [1.0, 1.0], "seed": 2},
        "schedule": {"kind": "constant", "eta": eta},
        "method": {"kind": "implicitMidpoint"},
        "steps": steps,
        "recordEvery": 1
    })
}

fn relu_6873(steps: u64) -> Value {
    json!({
        "model": {"kind": "network", "inputDim": 6, "loss": "squared",
                  "layers": [{"width": 8, "activation": "relu", "bias": true},
                             {"width": 7, "activation": "relu", "bias": true},
                             {"width": 3}]},
        "data": {"kind": "generated", "samples": 30, "inputs": "gaussian",
                 "targets": {"kind": "gaussian", "std": 1}, "seed": 5},
        "init": {"kind": "gaussian", "stds": [0.6, 0.6, 0.6], "seed": 6},
        "schedule": {"kind": "constant", "eta": 0.05},
        "method": {"kind": "implicitMidpoint"},
        "steps": steps,
        "recordEvery": 10
    })
}

#[test]
fn linear_net_large_step_conserves_to_rounding() {
    // h = 1.5: beyond the fixed-point iteration's contraction (it used to stop at maxIter with the
    // invariants moved by O(1) and the run "finished").
    let mut s = session(&linear_221(1.5, 40));
    let st = s.advance(u64::MAX);
    let j = status_json(&s);
    assert!(st.finished && st.diverged_at.is_none());
    let drift = max_drift(&s);
    assert!(drift <= 1e-12, "invariant drift {drift:e} at h = 1.5");
    assert_eq!(j["stop"], "finished", "{j}");
    // Every solve converged to the tolerance.
    for r in s.column("solveResidual", 1).unwrap() {
        assert!(*r <= 1e-14 * 10.0, "residual {r:e}");
    }
}

#[test]
fn relu_net_converges_or_stops_never_drifts() {
    let mut s = session(&relu_6873(2000));
    s.advance(u64::MAX);
    let j = status_json(&s);
    let drift = max_drift(&s);
    let st = s.status();
    match j["stop"].as_str() {
        _ if st.finished && st.diverged_at.is_none() && j["stop"] != "solverFailed" => {
            eprintln!("relu 6-8-7-3: finished, drift {drift:e}");
            assert!(drift <= 1e-11, "finished with drift {drift:e}")
        }
        Some("solverFailed") => {
            assert!(drift <= 1e-11, "kept rows drift {drift:e}");
            let at = j["stoppedAt"].as_u64().unwrap();
            assert_eq!(j["step"].as_u64().unwrap() + 1, at);
            assert!(j["reason"].as_str().unwrap().contains("implicitMidpoint"));
        }
        other => panic!("unexpected stop {other:?}: {j}"),
    }
}

#[test]
fn max_iter_is_capped_and_tiny_tol_fails_cleanly() {
    for bad in [4e9, 1001.0] {
        let mut spec = linear_221(0.1, 5);
        spec["method"] = json!({"kind": "implicitMidpoint", "maxIter": bad});
        let e = Session::new(&spec.to_string(), HashMap::new())
            .err()
            .expect("refused");
        assert_eq!(e.code, ErrorCode::OutOfRange, "{e:?}");
        assert_eq!(e.field, "method.maxIter");
    }
    let mut spec = linear_221(0.1, 5);
    spec["method"] = json!({"kind": "implicitMidpoint", "maxIter": 1000});
    Session::new(&spec.to_string(), HashMap::new()).expect("maxIter 1000 is accepted");

    // A tolerance no float64 computation reaches: the first step fails fast and cleanly.
    let mut spec = relu_6873(100);
    spec["method"] = json!({"kind": "implicitMidpoint", "tol": 1e-300, "maxIter": 1000});
    let mut s = session(&spec);
    let t0 = Instant::now();
    let st = s.advance(u64::MAX);
    assert!(t0.elapsed().as_secs_f64() < 5.0, "took {:?}", t0.elapsed());
    let j = status_json(&s);
    assert_eq!(j["stop"], "solverFailed", "{j}");
    assert_eq!(j["stoppedAt"], 1);
    assert_eq!(st.step, 0);
    assert!(st.finished && st.diverged_at.is_none());
    assert_eq!(st.rows, 1);
    assert_eq!(s.params(), s.initial_params());
    assert!(st.loss.unwrap().is_finite());
    assert_eq!(s.column("time", 0).unwrap(), &[0.0]);
}

#[test]
fn newton_converges_quadratically() {
    // Matrix factorization at a step where the fixed-point iteration does not contract.
    let spec = json!({
        "model": {"kind": "matrixFactorization", "d1": 8, "d2": 6, "rank": 3},
        "target": {"kind": "random", "singularValues": [4.0, 3.0, 2.0], "seed": 1},
        "init": {"kind": "gaussian", "stdU": 0.5, "stdV": 0.5, "seed": 2},
        "schedule": {"kind": "constant", "eta": 0.6},
        "method": {"kind": "implicitMidpoint", "tol": 1e-15},
        "steps": 1,
        "recordEvery": 1
    });
    let mut s = session(&spec);
    s.advance(u64::MAX);
    assert_eq!(status_json(&s)["stop"], "finished");
    let trace = s.method().solve_trace().to_vec();
    eprintln!("trace {trace:?}");
    // From a start far away (the fixed-point iteration grows: 2.8 -> 4.5), damped Newton
    // reaches the quadratic regime: every residual below 0.1 (and above the rounding level) is
    // followed by one at most 10 r^2.
    let mut quadratic_steps = 0;
    for w in trace.windows(2) {
        if w[0] < 0.1 && w[1] > 1e-14 {
            assert!(w[1] <= 10.0 * w[0] * w[0], "{trace:?}");
            quadratic_steps += 1;
        }
    }
    assert!(quadratic_steps >= 3, "{trace:?}");
    assert!(trace.len() <= 30, "{trace:?}");
    assert!(*trace.last().unwrap() <= 1e-15 * 10.0);
}

#[test]
fn status_serializes_stop_fields() {
    let mut s = session(&linear_221(0.1, 3));
    let j = status_json(&s);
    for k in ["stop", "stoppedAt", "reason", "divergedAt"] {
        assert!(j.get(k).is_some(), "missing {k}: {j}");
        assert!(j[k].is_null(), "{k}: {j}");
    }
    s.advance(u64::MAX);
    let j = status_json(&s);
    assert_eq!(j["stop"], "finished");
    assert!(j["stoppedAt"].is_null() && j["reason"].is_null() && j["divergedAt"].is_null());
}

fn mf_gd(eta: f64, std: f64) -> Value {
    json!({
        "model": {"kind": "matrixFactorization", "d1": 20, "d2": 15, "rank": 4},
        "target": {"kind": "random", "singularValues": [4.0, 3.0, 2.0, 1.0], "seed": 1},
        "init": {"kind": "gaussian", "stdU": std, "stdV": std, "seed": 2},
        "schedule": {"kind": "constant", "eta": eta},
        "steps": 1000,
        "recordEvery": 1
    })
}

#[test]
fn diverged_run_keeps_a_finite_last_row() {
    // The golden mf-diverge case: its last kept row had gradNorm = Infinity (the sum of squares
    // of a finite gradient overflowed).
    let mut s = session(&mf_gd(5.0, 0.1));
    let st = s.advance(u64::MAX);
    let j = status_json(&s);
    assert_eq!(j["stop"], "diverged");
    let at = st.diverged_at.unwrap();
    assert_eq!(j["stoppedAt"].as_u64(), Some(at));
    assert_eq!(st.step + 1, at);
    for name in s.column_names() {
        let col = s.column(name, 0).unwrap();
        let last = col[col.len() - 1];
        assert!(last.is_finite(), "last row: {name} = {last}");
    }
}

#[test]
fn divergence_at_step_zero_is_reported() {
    // A non-finite initial loss: no finite state, no row, a clear reason.
    let mut s = session(&mf_gd(0.1, 1e100));
    let st = s.advance(u64::MAX);
    let j = status_json(&s);
    assert_eq!(j["stop"], "diverged", "{j}");
    assert_eq!(st.diverged_at, Some(0));
    assert_eq!(j["stoppedAt"], 0);
    assert_eq!(st.rows, 0);
    assert!(st.loss.is_none());
    assert!(
        j["reason"].as_str().unwrap().contains("initial point"),
        "{j}"
    );
}

#[test]
fn dopri5_stops_when_every_trial_is_rejected() {
    // An unreachable error tolerance: every trial is rejected; the run stops with the iterate
    // and the flow time of the last accepted step (it used to keep a rejected trial).
    let mut spec = mf_gd(0.1, 0.3);
    spec["method"] = json!({"kind": "dopri5", "rtol": 1e-300, "atol": 1e-300});
    let mut s = session(&spec);
    let st = s.advance(u64::MAX);
    let j = status_json(&s);
    assert_eq!(j["stop"], "solverFailed", "{j}");
    assert_eq!(st.step, 0);
    assert_eq!(s.params(), s.initial_params());
    assert_eq!(s.method().time, 0.0);
    assert!(j["reason"].as_str().unwrap().contains("dopri5"));
}
