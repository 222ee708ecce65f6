//! The `conservationLaws` study against known answers (Marcotte, Gribonval & Peyre 2023):
//! a two-layer linear network or U V^T with hidden width r has r (r + 1) / 2 independent laws at a
//! generic point (rank (U; V) = r, so r <= n + m), a two-layer ReLU network one per hidden neuron.

use autobalance_core::study::Study;
use serde_json::{json, Value};

fn net(input: usize, layers: Value, seed: u64) -> Value {
    let n = layers.as_array().unwrap().len();
    json!({
        "model": {"kind": "network", "inputDim": input, "layers": layers},
        "data": {"kind": "generated", "samples": 4, "inputs": "gaussian",
                 "targets": {"kind": "teacher", "widths": [2]}, "seed": 3},
        "init": {"kind": "gaussian", "variances": vec![0.5; n], "seed": seed},
        "schedule": {"kind": "constant", "eta": 0.01},
        "steps": 1
    })
}

fn mf(d1: usize, d2: usize, r: usize, balance: f64) -> Value {
    json!({
        "model": {"kind": "matrixFactorization", "d1": d1, "d2": d2, "rank": r, "balanceWeight": balance},
        "target": {"kind": "random", "singularValues": vec![1.0; r.min(d1).min(d2)], "seed": 3},
        "init": {"kind": "gaussian", "stdU": 0.7, "stdV": 0.7, "seed": 5},
        "schedule": {"kind": "constant", "eta": 0.01},
        "steps": 1
    })
}

fn count(run: Value, extra: Value) -> Value {
    let mut spec = json!({"kind": "conservationLaws", "run": run, "points": 3, "seed": 7});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    let mut s = Study::new(&spec.to_string(), Default::default()).unwrap();
    while !s.status().finished {
        s.advance(1).unwrap();
    }
    serde_json::from_str(&s.result_json()).unwrap()
}

fn check(out: &Value, dim: usize, laws: usize, known: usize) {
    assert_eq!(out["dim"], json!(dim), "{out}");
    for p in out["points"].as_array().unwrap() {
        assert_eq!(p["laws"], json!(laws), "{p}");
        assert_eq!(p["converged"], json!(true), "{p}");
        assert!(
            p["gap"].is_null() || p["gap"].as_f64().unwrap() > 1e4,
            "gap {p}"
        );
        assert_eq!(p["known"]["rank"], json!(known), "{p}");
        assert_eq!(p["known"]["explained"], json!(known), "{p}");
        assert!(p["known"]["inSpan"].as_f64().unwrap() < 1e-9, "{p}");
        assert_eq!(p["complement"].as_array().unwrap().len(), laws);
    }
    assert_eq!(out["laws"], json!(laws));
    assert_eq!(out["consistent"], json!(true));
}

#[test]
fn two_layer_linear_nets_have_r_r_plus_1_over_2_laws() {
    // (n, m, r): input n, output m, hidden width r.
    for (n, m, r) in [(3, 3, 2), (4, 3, 2), (5, 4, 3), (2, 3, 4)] {
        let out = count(net(n, json!([{"width": r}, {"width": m}]), 1), json!({}));
        check(&out, r * (n + m), r * (r + 1) / 2, r * (r + 1) / 2);
    }
}

#[test]
fn matrix_factorization_has_r_r_plus_1_over_2_laws() {
    // The family takes rank <= min(d1, d2), so (2, 3, 4) is asked of the network only.
    for (d1, d2, r) in [(3, 3, 2), (4, 3, 2), (5, 4, 3), (3, 2, 2)] {
        let out = count(mf(d1, d2, r, 0.0), json!({}));
        check(&out, r * (d1 + d2), r * (r + 1) / 2, r * (r + 1) / 2);
    }
}

#[test]
fn two_layer_relu_nets_have_one_law_per_neuron() {
    for (n, m, r) in [(3, 2, 2), (4, 3, 3), (2, 2, 5)] {
        let out = count(
            net(
                n,
                json!([{"width": r, "activation": "relu"}, {"width": m}]),
                2,
            ),
            json!({}),
        );
        // Known: r neuron laws + the layer law (their sum): rank r.
        check(&out, r * (n + m), r, r);
    }
}

#[test]
fn regularizers_and_weight_decay_break_the_laws() {
    // The balancing regularizer's gradient joins the fields: U^T U - V^T V is no longer
    // conserved. Weight decay adds the field theta, which commutes with the linear fields of a
    // two-layer linear net: every quadratic law decays by exp(-2 lambda t), so their ratios
    // stay: r (r + 1) / 2 - 1 laws.
    let out = count(mf(3, 3, 2, 0.25), json!({"points": 1}));
    let p = &out["points"][0];
    assert!(p["known"]["inSpan"].as_f64().unwrap() > 1e-3, "{p}");
    let mut run = net(3, json!([{"width": 2}, {"width": 3}]), 1);
    run["weightDecay"] = json!(0.1);
    let out = count(run, json!({"points": 1}));
    assert_eq!(out["points"][0]["laws"], json!(2), "{out}");
    assert!(out["points"][0]["known"]["inSpan"].as_f64().unwrap() > 1e-3);
}

#[test]
fn errors_name_the_field() {
    let bad = |spec: Value, field: &str| {
        let e = Study::new(&spec.to_string(), Default::default()).unwrap_err();
        assert_eq!(e.field, field, "{e:?}");
    };
    let run = net(3, json!([{"width": 2}, {"width": 3}]), 1);
    bad(
        json!({"kind": "conservationLaws", "run": run, "points": 0}),
        "points",
    );
    bad(
        json!({"kind": "conservationLaws", "run": run, "maxDepth": 17}),
        "maxDepth",
    );
    bad(
        json!({"kind": "conservationLaws", "run": run, "tolerance": 0.5}),
        "tolerance",
    );
    bad(
        json!({"kind": "conservationLaws", "run": run, "extra": 1}),
        "extra",
    );
    let mut r2 = run.clone();
    r2["model"]["layers"][0]["width"] = json!(0);
    bad(
        json!({"kind": "conservationLaws", "run": r2}),
        "run.model.layers[0].width",
    );
    bad(json!({"kind": "conservationLaws"}), "run");
    // D = 40 * 30 + 30 * 3 = 1290 > 1000 parameters.
    let big = net(40, json!([{"width": 30}, {"width": 3}]), 1);
    bad(json!({"kind": "conservationLaws", "run": big}), "run.model");
}

/// The table of docs/conservation.md: `cargo test -p autobalance-core --release --test
/// conservation table -- --ignored --nocapture` (native timings on this machine).
#[test]
#[ignore]
fn table() {
    let relu = |w: usize| json!({"width": w, "activation": "relu"});
    let lin = |w: usize| json!({"width": w});
    let leaky = |w: usize| json!({"width": w, "activation": "leakyRelu", "slope": 0.2});
    let rows: Vec<(&str, Value)> = vec![
        ("linear 3-2-3", net(3, json!([lin(2), lin(3)]), 1)),
        ("linear 5-3-4", net(5, json!([lin(3), lin(4)]), 1)),
        ("relu 3-2-2", net(3, json!([relu(2), lin(2)]), 1)),
        ("relu 4-3-3", net(4, json!([relu(3), lin(3)]), 1)),
        (
            "relu+bias 3-2-2",
            net(
                3,
                json!([{"width": 2, "activation": "relu", "bias": true}, {"width": 2, "bias": true}]),
                1,
            ),
        ),
        (
            "linear+bias 3-2-3",
            net(
                3,
                json!([{"width": 2, "bias": true}, {"width": 3, "bias": true}]),
                1,
            ),
        ),
        ("leaky 3-2-2", net(3, json!([leaky(2), lin(2)]), 1)),
        ("linear 2-2-2-2", net(2, json!([lin(2), lin(2), lin(2)]), 1)),
        ("relu 2-2-2-2", net(2, json!([relu(2), relu(2), lin(2)]), 1)),
        ("relu 3-3-3-2", net(3, json!([relu(3), relu(3), lin(2)]), 1)),
        (
            "linear 2-2-2-2-2",
            net(2, json!([lin(2), lin(2), lin(2), lin(2)]), 1),
        ),
        (
            "relu 2-3-3-3-2",
            net(2, json!([relu(3), relu(3), relu(3), lin(2)]), 1),
        ),
        (
            "conv1d 1x6 k3 relu -> 2",
            net(
                6,
                json!([{"type": "conv1d", "inChannels": 1, "outChannels": 1, "kernel": 3, "activation": "relu"}, lin(2)]),
                1,
            ),
        ),
        (
            "conv1d 2ch k3 relu -> 2",
            net(
                6,
                json!([{"type": "conv1d", "inChannels": 1, "outChannels": 2, "kernel": 3, "activation": "relu"}, lin(2)]),
                1,
            ),
        ),
        ("relu 10-10-10", net(10, json!([relu(10), lin(10)]), 1)),
        ("linear 10-10-10", net(10, json!([lin(10), lin(10)]), 1)),
        ("linear 4-5-4-5", net(4, json!([lin(5), lin(4), lin(5)]), 1)),
        ("relu 4-5-4-3", net(4, json!([relu(5), relu(4), lin(3)]), 1)),
        (
            "linear 3-4-4-4-3",
            net(3, json!([lin(4), lin(4), lin(4), lin(3)]), 1),
        ),
        ("relu 14-14-14", net(14, json!([relu(14), lin(14)]), 1)),
        ("linear 14-14-14", net(14, json!([lin(14), lin(14)]), 1)),
    ];
    eprintln!(
        "| architecture (input-widths-output) | D | dims by depth (point 0) | laws (generic; all points agree?) | known (theorems) | in span | gap (smallest) | ms per point |"
    );
    for (name, run) in rows {
        let big = run["model"]["inputDim"].as_u64().unwrap_or(0) >= 10;
        let points = if big { 1 } else { 6 };
        let t = std::time::Instant::now();
        let out = count(run, json!({"keepComplement": false, "points": points}));
        // Per point.
        let ms = t.elapsed().as_secs_f64() * 1e3 / points as f64;
        let p = &out["points"][0];
        let per: Vec<String> = out["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| format!("{}{}/{}", p["laws"], p["dims"], p["inactiveNeurons"]))
            .collect();
        eprintln!("  per point: {}", per.join(" "));
        eprintln!(
            "| {name} | {} | {} | {} ({}) | {} | {:.0e} | {:.1e} | {ms:.1} |",
            out["dim"],
            p["dims"],
            out["laws"],
            if out["consistent"] == json!(true) {
                "all points"
            } else {
                "NOT consistent"
            },
            p["known"]["rank"],
            p["known"]["inSpan"].as_f64().unwrap_or(f64::NAN),
            out["gap"].as_f64().unwrap_or(f64::INFINITY)
        );
    }
}
