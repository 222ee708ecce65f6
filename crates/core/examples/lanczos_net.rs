//! `eigs` both ends (Lanczos, tol 1e-8) of Figure 2's network Hessian (1000-100-100-10 ReLU,
//! 1000 points, n = 111,000) after 300 GD steps: the query of `bench/hessian_net.mjs` without
//! Node, for timing and profiling the Lanczos solver. Prints ms, HVPs, steps and the values.
//!
//!   cargo run --release -p autobalance-core --features parallel --example lanczos_net [REPS] [SIZE]
//!
//! SIZE is `large` (default) or `small` (100-64-64-10, 500 points).
use std::collections::HashMap;
use std::time::Instant;

/// CPU seconds of this process (all threads, user + system) from /proc/self/stat (Linux; 0 elsewhere).
fn cpu_s() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn main() {
    let reps: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let large = std::env::args().nth(2).as_deref() != Some("small");
    let (d, w, m, eta) = if large {
        (1000, [100, 100, 10], 1000, 0.02)
    } else {
        (100, [64, 64, 10], 500, 0.05)
    };
    let spec = format!(
        r#"{{"model":{{"kind":"network","inputDim":{d},"loss":"squared","layers":[{{"width":{},"activation":"relu"}},{{"width":{},"activation":"relu"}},{{"width":{}}}]}},
"data":{{"kind":"generated","samples":{m},"inputs":"gaussian","targets":{{"kind":"gaussian","std":1}},"seed":1}},
"init":{{"kind":"gaussian","variances":[{},{},{}],"seed":2}},
"schedule":{{"kind":"constant","eta":{eta}}},"steps":300,"recordEvery":300}}"#,
        w[0],
        w[1],
        w[2],
        1.0 / d as f64,
        1.0 / w[0] as f64,
        1.0 / w[1] as f64
    );
    let mut s = autobalance_core::Session::new(&spec, HashMap::new()).unwrap();
    let t0 = Instant::now();
    s.advance(u64::MAX);
    println!("train {:.0} ms", t0.elapsed().as_secs_f64() * 1e3);
    let (t0, c0) = (Instant::now(), cpu_s());
    let r = s.hessian(r#"{"what":"trace","probes":40}"#).unwrap();
    let v: serde_json::Value = serde_json::from_str(&r).unwrap();
    let hvps = v["hvps"].as_f64().unwrap_or(1.0);
    println!(
        "HVP {:.2} ms, CPU {:.2} ms ({hvps} in a trace query)",
        t0.elapsed().as_secs_f64() * 1e3 / hvps,
        (cpu_s() - c0) * 1e3 / hvps
    );
    for seed in 0..reps {
        let q = format!(
            r#"{{"what":"eigs","which":"both","method":"lanczos","tol":1e-8,"seed":{seed}}}"#
        );
        let (t0, c0) = (Instant::now(), cpu_s());
        let r = s.hessian(&q).unwrap();
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        let cpu = cpu_s() - c0;
        let v: serde_json::Value = serde_json::from_str(&r).unwrap();
        println!(
            "eigs {ms:.0} ms (CPU {cpu:.1} s), hvps {}, iterations {}, restarts {}, lambda_min {}, lambda_max {}, residuals {} {}, allConverged {}",
            v["hvps"], v["iterations"], v["restarts"], v["smallest"][0]["value"], v["largest"][0]["value"],
            v["smallest"][0]["residual"], v["largest"][0]["residual"], v["allConverged"]
        );
    }
}
