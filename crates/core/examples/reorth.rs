//! Full reorthogonalization of Lanczos at the size of the Figure 2 network's Hessian (n = 111,000,
//! a basis of k vectors): one Gram-Schmidt pass against the basis, vector by vector (the loops
//! `dot` + `axpy` the core used before) against the blocked products `linalg::dots` +
//! `linalg::add_combination` (sequential and on rayon's pool), and the modified Gram-Schmidt pass
//! the thick-restart path used. Interleaved rounds; median ms per pass. Build with
//! `--features parallel`.
//!
//!   cargo run --release -p autobalance-core --features parallel --example reorth [N] [K] [ROUNDS]
use autobalance_core::linalg::{add_combination, axpy, dot, dots};
use autobalance_core::par::Parallelism;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let arg = |i: usize, d: usize| {
        std::env::args()
            .nth(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or(d)
    };
    let (n, k, rounds) = (arg(1, 111_000), arg(2, 237), arg(3, 9));
    let mut rng = autobalance_core::rng::Normal::new(1);
    let basis: Vec<Vec<f64>> = (0..k)
        .map(|_| {
            let mut v = vec![0.0; n];
            rng.fill(&mut v, 1.0 / (n as f64).sqrt());
            v
        })
        .collect();
    let mut w0 = vec![0.0; n];
    rng.fill(&mut w0, 1.0);
    let old_cgs = |w: &mut [f64]| {
        let c: Vec<f64> = basis.iter().map(|q| dot(q, w)).collect();
        for (q, ci) in basis.iter().zip(c) {
            axpy(-ci, q, w);
        }
    };
    let old_mgs = |w: &mut [f64]| {
        for q in &basis {
            let c = dot(q, w);
            axpy(-c, q, w);
        }
    };
    let new_cgs = |w: &mut [f64], par: Parallelism| {
        let mut c = vec![0.0; k];
        dots(&basis, w, &mut c, par);
        let neg: Vec<f64> = c.iter().map(|x| -x).collect();
        add_combination(&basis, &neg, w, par);
    };
    // Same bits (old CGS vs blocked, both paths).
    let mut a = w0.clone();
    old_cgs(&mut a);
    for par in [Parallelism::Sequential, Parallelism::Rayon] {
        let mut b = w0.clone();
        new_cgs(&mut b, par);
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
    }
    let names = [
        "old CGS (dot+axpy)",
        "old MGS (thick)",
        "blocked, 1 thread",
        "blocked, pool",
    ];
    let mut t: Vec<Vec<f64>> = vec![Vec::new(); 4];
    for round in 0..rounds {
        for s in 0..4 {
            let v = (s + round) % 4;
            let mut w = w0.clone();
            let st = Instant::now();
            match v {
                0 => old_cgs(&mut w),
                1 => old_mgs(&mut w),
                2 => new_cgs(&mut w, Parallelism::Sequential),
                _ => new_cgs(&mut w, Parallelism::Rayon),
            }
            t[v].push(st.elapsed().as_secs_f64() * 1e3);
        }
    }
    let gb = 8.0 * (n * k) as f64 / 1e9;
    println!(
        "n = {n}, k = {k} (basis {:.0} MB), {rounds} rounds",
        gb * 1e3
    );
    for (name, v) in names.iter().zip(t) {
        let m = median(v);
        println!(
            "| {name} | {m:.2} ms | {:.1} GB/s of basis read (2 reads) |",
            2.0 * gb / m * 1e3
        );
    }
}
