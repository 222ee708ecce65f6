//! Time of one MF loss+gradient evaluation (what one GD step computes, without the update) at the
//! benchmark's shapes, on rayon (2 threads here) and sequentially: median ms over rounds, and
//! GFLOP/s of the 6 d1 d2 r counted flops. For iterating on the kernels (mf/small.rs, mod.rs)
//! without building the addon; `bench/run.sh` is the benchmark of record.
//!
//!   cargo run --profile ci -p autobalance-core --features parallel --example mf_eval [SHAPES]
//!   (SHAPES like 1000x1000x5,2000x1000x50; default: the benchmark's and r = 50, 100)
use autobalance_core::model::mf::MatrixFactorization;
use autobalance_core::model::Model;
use autobalance_core::par::Parallelism;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// CPU time of this thread in ns (/proc/thread-self/schedstat, Linux), for the sequential
/// timings: less sensitive than wall time to other processes on a shared machine.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn main() {
    let shapes: Vec<(usize, usize, usize)> = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "500x500x5,1000x1000x5,2000x1000x50,1000x1000x50,1000x1000x100".into())
        .split(',')
        .map(|s| {
            let v: Vec<usize> = s.split('x').map(|x| x.parse().unwrap()).collect();
            (v[0], v[1], v[2])
        })
        .collect();
    println!("| shape | rayon ms | GFLOP/s | sequential ms | GFLOP/s | sequential thread-CPU ms |");
    println!("|---|---|---|---|---|---|");
    for &(d1, d2, r) in &shapes {
        let m: Vec<f64> = (0..d1 * d2)
            .map(|i| ((i * 7919) % 1000) as f64 / 1000.0 - 0.5)
            .collect();
        let mut model = MatrixFactorization::new(d1, d2, r, 0.0, m);
        let w: Vec<f64> = (0..(d1 + d2) * r)
            .map(|i| ((i * 31) % 100) as f64 / 1e4)
            .collect();
        let mut g = vec![0.0; w.len()];
        let flops = 6.0 * (d1 * d2 * r) as f64;
        let mut out = Vec::new();
        for par in [Parallelism::Rayon, Parallelism::Sequential] {
            model.set_parallelism(par);
            model.eval(&w, &mut g);
            let t = Instant::now();
            let mut n = 0;
            while t.elapsed().as_secs_f64() < 0.1 {
                model.eval(&w, &mut g);
                n += 1;
            }
            let (mut ts, mut cs) = (Vec::new(), Vec::new());
            for _ in 0..5 {
                let c = thread_cpu_ns();
                let t = Instant::now();
                for _ in 0..n {
                    model.eval(&w, &mut g);
                }
                ts.push(t.elapsed().as_secs_f64() * 1e3 / n as f64);
                if let (Some(a), Some(b)) = (c, thread_cpu_ns()) {
                    cs.push((b - a) as f64 * 1e-6 / n as f64);
                }
            }
            let ms = median(ts);
            let cpu = if cs.is_empty() { f64::NAN } else { median(cs) };
            out.push((ms, flops / ms * 1e-6, cpu));
        }
        println!(
            "| ({d1},{d2},{r}) | {:.3} | {:.1} | {:.3} | {:.1} | {:.3} |",
            out[0].0, out[0].1, out[1].0, out[1].1, out[1].2
        );
    }
}
