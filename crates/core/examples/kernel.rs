//! Times one fused loss+gradient evaluation plus the GD update (what a session step does).
use autobalance_core::model::mf::MatrixFactorization;
use std::time::Instant;
fn main() {
    for &(d1, d2, r) in &[(1000usize, 1000usize, 5usize), (2000, 1000, 50)] {
        let m: Vec<f64> = (0..d1 * d2)
            .map(|i| ((i * 7919) % 1000) as f64 / 1000.0 - 0.5)
            .collect();
        let mut model = MatrixFactorization::new(d1, d2, r, 0.0, m);
        let mut w: Vec<f64> = (0..(d1 + d2) * r)
            .map(|i| ((i * 31) % 100) as f64 / 1e4)
            .collect();
        let mut g = vec![0.0; w.len()];
        for _ in 0..3 {
            model.eval(&w, &mut g);
        }
        let n = if r == 5 { 300 } else { 60 };
        let mut ms = f64::INFINITY;
        for _ in 0..7 {
            let t = Instant::now();
            for _ in 0..n / 5 {
                model.eval(&w, &mut g);
                for (x, y) in w.iter_mut().zip(&g) {
                    *x -= 1e-6 * y;
                }
            }
            ms = ms.min(t.elapsed().as_secs_f64() * 1e3 / (n / 5) as f64);
        }
        println!(
            "({d1},{d2},{r}): {ms:.3} ms/step, {:.1} GFLOP/s",
            6.0 * (d1 * d2 * r) as f64 / ms / 1e6
        );
    }
}
