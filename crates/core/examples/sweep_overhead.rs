//! Per-run overhead of the sweep machinery (bench/sweep, issue 11), in Rust without any binding.
//!
//!     cargo run --release --features parallel -p autobalance-core --example sweep_overhead -- \
//!         SWEEP_SPEC.json [--runs N] [--rounds K]
//!
//! SWEEP_SPEC.json: a sweep spec without buffers (bench/sweep/sweep.mjs writes the one it
//! measures to bench/sweep/results/spec.json). Measures, interleaved over K rounds (median):
//! - sweep: `Study` of kind sweep with `threads: 1`, `advance(256)` + `take_records` to the end;
//! - alone: each run's concrete spec as JSON text (from `SweepSpec::run_spec`, made before the
//!   clock starts), `Session::new` + sequential + `advance` to the end + the kept values read from
//!   its columns (the same reductions the sweep's `keep` asks for);
//! - split: the pieces of `run_row` timed one by one on the same runs (sequential), to say where
//!   the sweep's extra time goes.
//!
//! Prints one JSON object on stdout (the driver reads it) and a table on stderr.

use std::collections::HashMap;
use std::time::Instant;

use autobalance_core::par::Parallelism;
use autobalance_core::study::sweep::{self, spec, SweepSpec};
use autobalance_core::study::Study;
use autobalance_core::Session;
use serde_json::{json, Value};

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

/// CPU seconds of the whole process (every thread), from /proc/self/stat (utime + stime, in
/// clock ticks of 1/100 s): robust to other processes sharing the cores, unlike wall time.
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        f.get(i)
            .and_then(|x| x.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // After ")": state is field 0, utime field 11, stime field 12.
    (tick(11) + tick(12)) / 100.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// The kept values of the sweep's `keep` list, computed from a finished session's columns the
/// way a user running the runs alone would (only the kinds bench/sweep uses).
fn kept(session: &Session, keep: &[Value]) -> Vec<f64> {
    let col = |n: &str| session.column(n, 0).map(|c| c.to_vec()).unwrap_or_default();
    keep.iter()
        .map(|k| {
            if let Some(c) = k.get("column").and_then(Value::as_str) {
                let v = col(c);
                if let Some(r) = k.get("reduce").and_then(Value::as_str) {
                    let mut f = v.iter().copied().filter(|x| x.is_finite());
                    return match r {
                        "last" => f.next_back().unwrap_or(f64::NAN),
                        "max" => f.fold(f64::NAN, f64::max),
                        "min" => f.fold(f64::NAN, f64::min),
                        _ => f64::NAN,
                    };
                }
                if let Some(x) = k.get("firstAtOrBelow").and_then(Value::as_f64) {
                    let steps = col("step");
                    return v
                        .iter()
                        .position(|&y| y <= x)
                        .map_or(f64::NAN, |i| steps[i]);
                }
            }
            if let Some(p) = k.get("allRowsWhere") {
                let v = col(p["of"].as_str().unwrap());
                let (ge, le) = (p["ge"].as_f64().unwrap(), p["le"].as_f64().unwrap());
                return if v.iter().all(|&y| y >= ge && y <= le) {
                    1.0
                } else {
                    0.0
                };
            }
            f64::NAN
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .expect("usage: sweep_overhead SWEEP_SPEC.json [--runs N] [--rounds K]");
    let mut spec: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let s0 = SweepSpec::parse(&spec, HashMap::new()).expect("a valid sweep spec");
    let runs = arg(&args, "--runs", s0.runs).min(s0.runs);
    let rounds = arg(&args, "--rounds", 3);
    spec["threads"] = json!(1);
    spec["runs"] = json!({"start": 0, "end": runs});
    let spec_text = spec.to_string();
    let keep: Vec<Value> = spec["keep"].as_array().cloned().unwrap_or_default();
    let s = SweepSpec::parse(&spec, HashMap::new()).unwrap();

    // The concrete specs, as a user running them alone would have them (not timed).
    let texts: Vec<String> = (0..runs)
        .map(|i| s.run_spec(i).unwrap().to_string())
        .collect();

    let sweep_once = || -> (f64, usize, f64) {
        let c = cpu_seconds();
        let t = Instant::now();
        let mut st = Study::new(&spec_text, HashMap::new()).unwrap();
        let mut bytes = 0;
        while !st.status().finished {
            st.advance(256).unwrap();
            bytes += st.take_records().len();
        }
        (t.elapsed().as_secs_f64(), bytes, cpu_seconds() - c)
    };
    let alone_once = || -> (f64, f64) {
        let c = cpu_seconds();
        let t = Instant::now();
        let mut acc = 0.0;
        for text in &texts {
            let mut session = Session::new(text, HashMap::new()).unwrap();
            session.set_parallelism(Parallelism::Sequential);
            session.advance(u64::MAX);
            acc += kept(&session, &keep)
                .iter()
                .filter(|x| x.is_finite())
                .sum::<f64>();
        }
        std::hint::black_box(acc);
        (t.elapsed().as_secs_f64(), cpu_seconds() - c)
    };
    // Warm-up (page in, caches).
    let _ = sweep::run_row(&s, 0);

    let (mut sw, mut al, mut swc, mut alc) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut bytes = 0;
    for k in 0..rounds {
        let mut do_sweep = || {
            let (t, b, c) = sweep_once();
            sw.push(t);
            swc.push(c);
            bytes = b;
        };
        if k % 2 == 0 {
            do_sweep();
            let (t, c) = alone_once();
            al.push(t);
            alc.push(c);
        } else {
            let (t, c) = alone_once();
            al.push(t);
            alc.push(c);
            do_sweep();
        }
    }

    // Split of run_row: each piece timed on every run, sequentially.
    let n = runs as usize;
    let mut t_spec = 0.0; // run_spec: clone the base, set the axis values and seeds
    let mut t_hash = 0.0; // specHash: canonical JSON text + FNV-1a
    let mut t_place = 0.0; // values + seeds of the row
    let mut t_build = 0.0; // Session::from_value (incl. the buffers' clone)
    let mut t_run = 0.0; // advance to the end
    let mut t_keep = 0.0; // kept values from the columns
    let mut t_row = 0.0; // the row as JSON text
    let mut t_text = 0.0; // alone: Session::new from text (parse included), for comparison
    let mut t_rowfull = 0.0; // sweep::run_row(..).to_string() as a whole
    for i in 0..runs {
        let c = Instant::now();
        let v = s.run_spec(i).unwrap();
        t_spec += c.elapsed().as_secs_f64();
        let c = Instant::now();
        let h = spec::hash(&v, &s.buffers);
        t_hash += c.elapsed().as_secs_f64();
        let c = Instant::now();
        let setting = i / s.per_setting;
        let values = s.values(setting);
        let seeds = s.seeds_of(i);
        t_place += c.elapsed().as_secs_f64();
        let c = Instant::now();
        let mut session = Session::from_value(v, s.buffers.clone()).unwrap();
        session.set_parallelism(Parallelism::Sequential);
        t_build += c.elapsed().as_secs_f64();
        let c = Instant::now();
        let st = session.advance(u64::MAX);
        t_run += c.elapsed().as_secs_f64();
        let c = Instant::now();
        let k = kept(&session, &keep);
        t_keep += c.elapsed().as_secs_f64();
        let c = Instant::now();
        let row = json!({"run": i, "setting": setting, "seedIndex": i % s.per_setting,
            "values": values, "seeds": seeds.into_iter().collect::<HashMap<_, _>>(), "specHash": h,
            "stop": "finished", "steps": st.step, "loss": st.loss, "reason": null,
            "kept": k.iter().map(|x| if x.is_finite() { json!(x) } else { Value::Null }).collect::<Vec<_>>(),
            "class": "other"})
        .to_string();
        t_row += c.elapsed().as_secs_f64();
        std::hint::black_box(row);
        let c = Instant::now();
        let mut s2 = Session::new(&texts[i as usize], HashMap::new()).unwrap();
        std::hint::black_box(&mut s2);
        t_text += c.elapsed().as_secs_f64();
        let c = Instant::now();
        std::hint::black_box(sweep::run_row(&s, i).to_string());
        t_rowfull += c.elapsed().as_secs_f64();
    }
    let us = |t: f64| 1e6 * t / n as f64;
    let (sw_m, al_m) = (median(sw.clone()), median(al.clone()));
    let (swc_m, alc_m) = (median(swc.clone()), median(alc.clone()));
    let out = json!({
        "runs": runs, "rounds": rounds, "rowBytes": bytes,
        "sweepSeconds": sw, "aloneSeconds": al,
        "sweepUsPerRun": us(sw_m), "aloneUsPerRun": us(al_m),
        "overheadUsPerRun": us(sw_m - al_m), "overheadFraction": (sw_m - al_m) / al_m,
        "sweepCpuSeconds": swc, "aloneCpuSeconds": alc,
        "sweepCpuUsPerRun": us(swc_m), "aloneCpuUsPerRun": us(alc_m),
        "overheadCpuUsPerRun": us(swc_m - alc_m), "overheadCpuFraction": (swc_m - alc_m) / alc_m,
        "split": {
            "runSpecUs": us(t_spec), "specHashUs": us(t_hash), "valuesSeedsUs": us(t_place),
            "sessionFromValueUs": us(t_build), "advanceUs": us(t_run), "keptUs": us(t_keep),
            "rowJsonUs": us(t_row), "sessionFromTextUs": us(t_text), "runRowWholeUs": us(t_rowfull)
        }
    });
    eprintln!(
        "rust: {runs} runs, {rounds} rounds: sweep (1 thread) {:.1} us/run, alone {:.1} us/run, overhead {:.2} us/run ({:.2}%)",
        us(sw_m), us(al_m), us(sw_m - al_m), 100.0 * (sw_m - al_m) / al_m
    );
    eprintln!(
        "rust CPU time: sweep {:.1} us/run, alone {:.1} us/run, overhead {:.2} us/run ({:.2}%)",
        us(swc_m),
        us(alc_m),
        us(swc_m - alc_m),
        100.0 * (swc_m - alc_m) / alc_m
    );
    eprintln!(
        "rust split (us/run): run_spec {:.2}, spec hash {:.2}, values+seeds {:.2}, Session::from_value {:.2} (from text: {:.2}), advance {:.2}, kept {:.2}, row JSON {:.2}; run_row whole {:.2}",
        us(t_spec), us(t_hash), us(t_place), us(t_build), us(t_text), us(t_run), us(t_keep), us(t_row), us(t_rowfull)
    );
    println!("{out}");
}
