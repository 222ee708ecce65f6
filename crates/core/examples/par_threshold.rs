//! Where waking rayon's pool stops paying for the MF loss+gradient evaluation: the same fused
//! evaluation (what one GD step computes) run with `Parallelism::Sequential` and with
//! `Parallelism::Rayon` on the same model, interleaved round by round, per shape. Prints the
//! median us per evaluation of each and the ratio rayon / sequential. Both give the same bits
//! (checked). Build with `--features parallel`.
//!
//!   cargo run --release -p autobalance-core --features parallel --example par_threshold [ROUNDS]
use autobalance_core::model::mf::MatrixFactorization;
use autobalance_core::par::Parallelism;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let shapes = [
        (10usize, 10usize, 2usize),
        (25, 25, 3),
        (50, 50, 5),
        (80, 80, 5),
        (100, 100, 5),
        (150, 150, 5),
        (200, 200, 5),
        (300, 300, 5),
        (500, 500, 5),
        (100, 100, 20),
        (200, 200, 20),
        (300, 300, 20),
        (500, 500, 20),
    ];
    println!("| shape | work 6 d1 d2 r | sequential us | rayon us | rayon / sequential |");
    println!("|---|---|---|---|---|");
    for &(d1, d2, r) in &shapes {
        let m: Vec<f64> = (0..d1 * d2)
            .map(|i| ((i * 7919) % 1000) as f64 / 1000.0 - 0.5)
            .collect();
        let mut model = MatrixFactorization::new(d1, d2, r, 0.0, m);
        let w: Vec<f64> = (0..(d1 + d2) * r)
            .map(|i| ((i * 31) % 100) as f64 / 1e4)
            .collect();
        let mut g = vec![0.0; w.len()];
        let mut g2 = vec![0.0; w.len()];
        // Calibrate: evaluations per timed piece so that one piece takes ~20 ms sequentially.
        use autobalance_core::model::Model;
        model.set_parallelism(Parallelism::Sequential);
        let t = Instant::now();
        let mut n = 0;
        while t.elapsed().as_secs_f64() < 0.02 {
            model.eval(&w, &mut g);
            n += 1;
        }
        let (mut s, mut p) = (Vec::new(), Vec::new());
        let l1 = model.eval(&w, &mut g);
        model.set_parallelism(Parallelism::Rayon);
        let l2 = model.eval(&w, &mut g2);
        assert_eq!(l1, l2);
        assert_eq!(g, g2);
        for round in 0..rounds {
            for k in 0..2 {
                let par = if (round + k) % 2 == 0 {
                    Parallelism::Sequential
                } else {
                    Parallelism::Rayon
                };
                model.set_parallelism(par);
                model.eval(&w, &mut g);
                let t = Instant::now();
                for _ in 0..n {
                    model.eval(&w, &mut g);
                }
                let us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
                if par == Parallelism::Sequential {
                    s.push(us)
                } else {
                    p.push(us)
                }
            }
        }
        let (ms, mp) = (median(s), median(p));
        println!(
            "| ({d1},{d2},{r}) | {} | {ms:.2} | {mp:.2} | {:.2} |",
            6 * d1 * d2 * r,
            mp / ms
        );
    }
}
