//! A fixed piece of sweep work to profile (issue 14): `run_row_text` (the row's JSON text, what a
//! study with rows gives) of `--runs N` runs spread over the whole sweep (run `i * --stride S`),
//! single-threaded, no timing; with `--summary`, `run_summary` instead (what a study with
//! `records: "settings"` computes per run: no text, no spec hash). Run it under callgrind for
//! load-independent instruction counts per run:
//!
//!     cargo build --release -p autobalance-core --example sweep_profile
//!     valgrind --tool=callgrind --callgrind-out-file=cg.out \
//!         target/release/examples/sweep_profile SWEEP_SPEC.json --runs 360 --stride 500
//!     callgrind_annotate --inclusive=yes cg.out | head -60
//!
//! SWEEP_SPEC.json: a sweep spec without buffers (e.g. the `table51` preset's, from
//! `presetSpec('table51')`). `--parse-only` stops after parsing the sweep (the fixed cost to
//! subtract). Prints the number of rows and their total bytes (`--summary`: kept values);
//! `--print` also prints every row's text (to compare two builds: the rows must not change).

use std::collections::HashMap;

use autobalance_core::study::sweep::{self, SweepSpec};
use serde_json::Value;

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect(
        "usage: sweep_profile SWEEP_SPEC.json [--runs N] [--stride S] [--parse-only] [--summary]",
    );
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let s = SweepSpec::parse(&spec, HashMap::new()).expect("a valid sweep spec");
    if args.iter().any(|a| a == "--parse-only") {
        return;
    }
    let runs = arg(&args, "--runs", 360);
    let stride = arg(&args, "--stride", (s.runs / runs.max(1)).max(1));
    let summary = args.iter().any(|a| a == "--summary");
    let print = args.iter().any(|a| a == "--print");
    let (mut n, mut bytes) = (0u64, 0usize);
    for i in 0..runs {
        let run = i * stride;
        if run >= s.runs {
            break;
        }
        if summary {
            bytes += std::hint::black_box(sweep::run_summary(&s, run)).kept.len();
        } else {
            let text = std::hint::black_box(sweep::run_row_text(&s, run).0);
            if print {
                println!("{text}");
            }
            bytes += text.len();
        }
        n += 1;
    }
    println!("{n} rows, {bytes} bytes");
}
