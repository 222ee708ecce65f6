//! Matrix-free Lanczos with full reorthogonalization for extreme eigenpairs.
//!
//! - Start vector: the warm-start vectors (summed, each normalized) if given, else a seeded
//!   Gaussian vector ([`crate::rng::Normal`]).
//! - Every new Krylov vector is orthogonalized against the whole basis twice (classical
//!   Gram-Schmidt, "twice is enough"), so the basis stays orthonormal to working precision and
//!   no spurious copies of converged Ritz values appear.
//! - The Krylov space grows (one HVP per step) until the wanted Ritz pairs converge or
//!   `max_iter` steps were taken. When the Krylov space becomes invariant (beta ~ 0, e.g. at a
//!   point whose Hessian has few distinct eigenvalues) the iteration continues from a fresh
//!   seeded random vector orthogonal to the basis, so the space keeps growing and eigenvalues
//!   outside the first invariant subspace (including further copies of a multiple eigenvalue)
//!   can be found.
//! - The tridiagonal projection T is diagonalized with nalgebra; convergence is first judged by
//!   the cheap estimate |beta_m s_{m,i}| and then confirmed by the true residual
//!   ||H x - theta x||, computed with a real HVP for every returned pair. A pair is converged
//!   when that residual is <= tol * max(|lambda|_max estimate, tiny).
//!
//! Single-vector Krylov methods see one copy of each distinct eigenvalue before the space
//! becomes invariant; multiplicities are therefore only reliable from the dense solver.

use nalgebra::{DMatrix, SymmetricEigen};

use super::{normalize, LinOp, TINY};
use crate::linalg::{axpy, dot};
use crate::rng::Normal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Smallest,
    Largest,
    Both,
}

#[derive(Debug, Clone)]
pub struct LanczosOptions {
    /// Number of eigenpairs wanted at each requested end.
    pub k: usize,
    pub which: Which,
    /// Relative residual tolerance.
    pub tol: f64,
    /// Maximum number of Lanczos steps (= HVPs of the iteration, and Krylov dimension).
    pub max_iter: usize,
    pub seed: u64,
    /// Optional warm-start vectors (e.g. eigenvectors from the previous point of a trajectory).
    pub warm: Vec<Vec<f64>>,
    /// Orthonormal vectors to deflate: the iteration runs in their orthogonal complement
    /// (e.g. the tangent space of a symmetry orbit, whose eigenvalues are known to be 0).
    pub deflate: Vec<Vec<f64>>,
}

impl Default for LanczosOptions {
    fn default() -> Self {
        LanczosOptions {
            k: 1,
            which: Which::Smallest,
            tol: 1e-8,
            max_iter: 1000,
            seed: 0,
            warm: Vec::new(),
            deflate: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct EigPair {
    pub value: f64,
    /// ||H x - value x|| with a real HVP, x unit.
    pub residual: f64,
    pub converged: bool,
    pub vector: Vec<f64>,
}

#[derive(Debug, Clone)]
pub struct LanczosResult {
    /// Ascending (smallest first).
    pub smallest: Vec<EigPair>,
    /// Descending (largest first).
    pub largest: Vec<EigPair>,
    /// Lanczos steps taken (Krylov dimension).
    pub iterations: usize,
    /// Operator applications in total (steps + residual checks).
    pub hvps: usize,
    /// Times the Krylov space became invariant and was continued with a fresh vector.
    pub restarts: usize,
    /// Estimate of max |lambda| (largest |Ritz value|), the scale of the relative tolerance.
    pub scale: f64,
    pub all_converged: bool,
}

/// Ritz pairs (ascending) of the tridiagonal matrix (alpha, beta); NaN values if the solve fails.
pub(crate) fn tridiag_eig(alpha: &[f64], beta: &[f64]) -> (Vec<f64>, DMatrix<f64>) {
    let m = alpha.len();
    let mut t = DMatrix::<f64>::zeros(m, m);
    for i in 0..m {
        t[(i, i)] = alpha[i];
        if i + 1 < m {
            t[(i, i + 1)] = beta[i];
            t[(i + 1, i)] = beta[i];
        }
    }
    let e = match SymmetricEigen::try_new(t, f64::EPSILON, 1_000_000) {
        Some(e) => e,
        None => return (vec![f64::NAN; m], DMatrix::<f64>::identity(m, m)),
    };
    let mut idx: Vec<usize> = (0..m).collect();
    idx.sort_by(|&a, &b| e.eigenvalues[a].total_cmp(&e.eigenvalues[b]));
    let vals = idx.iter().map(|&i| e.eigenvalues[i]).collect();
    let mut s = DMatrix::<f64>::zeros(m, m);
    for (k, &i) in idx.iter().enumerate() {
        s.column_mut(k).copy_from(&e.eigenvectors.column(i));
    }
    (vals, s)
}

/// One classical Gram-Schmidt pass: w -= Q (Q^T w).
fn cgs(basis: &[Vec<f64>], w: &mut [f64]) {
    let c: Vec<f64> = basis.iter().map(|q| dot(q, w)).collect();
    for (q, ci) in basis.iter().zip(c) {
        axpy(-ci, q, w);
    }
}

/// Orthogonalize `w` against the basis twice (CGS2).
pub(crate) fn reorth(basis: &[Vec<f64>], w: &mut [f64]) {
    cgs(basis, w);
    cgs(basis, w);
}

/// A fresh unit vector orthogonal to `basis` (seeded); `None` if the basis spans everything.
fn fresh(basis: &[Vec<f64>], n: usize, rng: &mut Normal) -> Option<Vec<f64>> {
    for _ in 0..3 {
        let mut x = vec![0.0; n];
        rng.fill(&mut x, 1.0);
        normalize(&mut x);
        reorth(basis, &mut x);
        if normalize(&mut x) > 1e-8 {
            return Some(x);
        }
    }
    None
}

/// Indices (into ascending Ritz values) of the wanted pairs.
fn wanted(m: usize, k: usize, which: Which) -> (Vec<usize>, Vec<usize>) {
    let k = k.min(m);
    let small: Vec<usize> = match which {
        Which::Smallest | Which::Both => (0..k).collect(),
        Which::Largest => Vec::new(),
    };
    let large: Vec<usize> = match which {
        Which::Largest | Which::Both => (0..k).map(|i| m - 1 - i).collect(),
        Which::Smallest => Vec::new(),
    };
    (small, large)
}

/// The k smallest and/or largest eigenpairs of the symmetric operator `op`.
pub fn lanczos(op: &mut dyn LinOp, opts: &LanczosOptions) -> LanczosResult {
    let n = op.n();
    let mut rng = Normal::new(opts.seed);
    let max_steps = opts.max_iter.min(n).max(1);
    let k_total = match opts.which {
        Which::Both => 2 * opts.k,
        _ => opts.k,
    };
    let mut hvps = 0usize;
    let mut restarts = 0usize;

    // Start vector.
    let mut q0 = vec![0.0; n];
    for wv in &opts.warm {
        if wv.len() == n {
            let nn = dot(wv, wv).sqrt();
            if nn > 0.0 && nn.is_finite() {
                axpy(1.0 / nn, wv, &mut q0);
            }
        }
    }
    let defl: Vec<Vec<f64>> = opts
        .deflate
        .iter()
        .filter(|d| d.len() == n)
        .cloned()
        .collect();
    reorth(&defl, &mut q0);
    if normalize(&mut q0) <= 1e-8 {
        match fresh(&defl, n, &mut rng) {
            Some(x) => q0 = x,
            None => {
                return LanczosResult {
                    smallest: Vec::new(),
                    largest: Vec::new(),
                    iterations: 0,
                    hvps: 0,
                    restarts: 0,
                    scale: 0.0,
                    all_converged: false,
                }
            }
        }
    }
    let max_steps = max_steps.min(n.saturating_sub(defl.len())).max(1);

    let mut basis: Vec<Vec<f64>> = vec![q0];
    let mut alpha: Vec<f64> = Vec::new();
    let mut beta: Vec<f64> = Vec::new();
    let mut w = vec![0.0; n];
    let mut next_check = k_total.max(1) + 1;
    let mut final_pairs: Option<(Vec<EigPair>, Vec<EigPair>, f64, bool)> = None;
    let mut verify_from: Option<usize> = None;
    let mut force = false;

    loop {
        let j = alpha.len();
        op.apply(&basis[j], &mut w);
        hvps += 1;
        let a = dot(&basis[j], &w);
        alpha.push(a);
        // Three-term recurrence, then full reorthogonalization against the deflated vectors
        // and the whole basis: one classical Gram-Schmidt pass, and a second one whenever the
        // pass removed more than 1 - 1/sqrt(2) of the norm (Kahan-Parlett "twice is enough").
        axpy(-a, &basis[j], &mut w);
        if j > 0 {
            axpy(-beta[j - 1], &basis[j - 1], &mut w);
        }
        let mut b = dot(&w, &w).sqrt();
        for pass in 0..2 {
            cgs(&defl, &mut w);
            cgs(&basis, &mut w);
            let nb = dot(&w, &w).sqrt();
            let enough = nb >= std::f64::consts::FRAC_1_SQRT_2 * b;
            b = nb;
            if enough && pass == 0 {
                break;
            }
        }
        let m = alpha.len();
        if !(a.is_finite() && b.is_finite()) {
            // Non-finite operator output: stop with nothing converged.
            break;
        }
        let scale_now = alpha.iter().map(|x| x.abs()).fold(0.0, f64::max) + b;
        let invariant = b <= 1e-10 * scale_now.max(TINY);
        let last = m >= max_steps;
        if m >= next_check || last || (invariant && m >= k_total) {
            next_check = m + (m / 8).max(4);
            let (theta, s) = tridiag_eig(&alpha, &beta);
            let scale = theta.iter().map(|x| x.abs()).fold(0.0, f64::max).max(TINY);
            let thresh = opts.tol * scale;
            let (ws, wl) = wanted(m, opts.k, opts.which);
            let est_ok = ws
                .iter()
                .chain(&wl)
                .all(|&i| (b * s[(m - 1, i)]).abs() <= 0.5 * thresh);
            let enough = m >= k_total.min(n);
            // Verification blocks: once an invariant subspace was met (a sign of multiple
            // eigenvalues), converged answers are checked by one more Krylov block started in
            // the complement of everything seen. If its extreme Ritz value is among the wanted
            // ones it is a further copy, and another block follows; otherwise we stop once it
            // has converged.
            let est = |i: usize| (b * s[(m - 1, i)]).abs();
            let in_block = |i: usize| match verify_from {
                Some(v0) => (v0..m).map(|l| s[(l, i)] * s[(l, i)]).sum::<f64>() > 0.5,
                None => false,
            };
            let mut block_ok = true;
            let mut copy_found = false;
            if verify_from.is_some() {
                let ends = [
                    (!ws.is_empty(), (0..m).find(|&i| in_block(i)), &ws),
                    (!wl.is_empty(), (0..m).rev().find(|&i| in_block(i)), &wl),
                ];
                for (active, ext, want) in ends {
                    if let (true, Some(i)) = (active, ext) {
                        if want.contains(&i) {
                            copy_found = true;
                        } else if est(i) > 0.5 * thresh {
                            block_ok = false;
                        }
                    }
                }
            }
            let verify = ((restarts > 0 || invariant) && verify_from.is_none()) || copy_found;
            if est_ok && enough && verify && !last {
                force = true;
            } else if (est_ok && enough && block_ok) || last {
                // Ritz vectors and true residuals.
                let mut make = |idx: &[usize], hvps: &mut usize| -> Vec<EigPair> {
                    idx.iter()
                        .map(|&i| {
                            let mut x = vec![0.0; n];
                            for (l, q) in basis.iter().take(m).enumerate() {
                                axpy(s[(l, i)], q, &mut x);
                            }
                            normalize(&mut x);
                            let mut hx = vec![0.0; n];
                            op.apply(&x, &mut hx);
                            *hvps += 1;
                            let rq = dot(&x, &hx);
                            let res = hx
                                .iter()
                                .zip(&x)
                                .map(|(p, q)| (p - rq * q) * (p - rq * q))
                                .sum::<f64>()
                                .sqrt();
                            EigPair {
                                value: rq,
                                residual: res,
                                converged: res <= thresh,
                                vector: x,
                            }
                        })
                        .collect()
                };
                let small = make(&ws, &mut hvps);
                let large = make(&wl, &mut hvps);
                let all = small.iter().chain(&large).all(|p| p.converged) && enough;
                if all || last {
                    final_pairs = Some((small, large, scale, all));
                    break;
                }
            }
        }
        let next = if invariant || force {
            // New block: orthogonal to the deflated vectors, the basis and (for a forced
            // restart of a non-invariant space) the current residual, so that T stays the
            // exact projection Q^T H Q. (At an invariant space the residual is rounding noise:
            // excluding its direction would exclude a real one.)
            let mut known = defl.clone();
            known.extend(basis.iter().cloned());
            let push_w = force && !invariant && b > 0.0;
            if push_w {
                known.push(w.iter().map(|x| x / b).collect());
            }
            let was_forced = force;
            force = false;
            match fresh(&known, n, &mut rng) {
                Some(x) => {
                    if was_forced || verify_from.is_some() {
                        verify_from = Some(m);
                    }
                    restarts += 1;
                    beta.push(0.0);
                    x
                }
                // No room for a verification block: continue the recurrence (the space is
                // then complete at the next step, and the answer exact).
                None if push_w => {
                    beta.push(b);
                    w.iter().map(|x| x / b).collect()
                }
                None => break,
            }
        } else {
            beta.push(b);
            w.iter().map(|x| x / b).collect()
        };
        basis.push(next);
    }
    let (smallest, largest, scale, all_converged) = final_pairs.unwrap_or_default();
    LanczosResult {
        smallest,
        largest,
        iterations: alpha.len(),
        hvps,
        restarts,
        scale,
        all_converged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::curvature::test_ops::Diag;

    #[test]
    fn distinct_spectrum() {
        let mut op = Diag((0..200).map(|i| (i as f64 - 50.0) * 0.1).collect());
        let r = lanczos(
            &mut op,
            &LanczosOptions {
                k: 3,
                which: Which::Both,
                ..Default::default()
            },
        );
        assert!(r.all_converged);
        for (i, p) in r.smallest.iter().enumerate() {
            assert!(
                (p.value - (i as f64 - 50.0) * 0.1).abs() < 1e-9,
                "{}",
                p.value
            );
        }
        assert!((r.largest[0].value - 14.9).abs() < 1e-9);
    }

    #[test]
    fn repeated_eigenvalues_are_found_through_invariant_restarts() {
        // Three distinct eigenvalues, each 5 times: the Krylov space of one start vector is
        // 3-dimensional; restarts in the orthogonal complement find the other copies.
        let d: Vec<f64> = (0..15).map(|i| [-1.0, 0.0, 2.0][i % 3]).collect();
        let mut op = Diag(d);
        let r = lanczos(
            &mut op,
            &LanczosOptions {
                k: 5,
                which: Which::Smallest,
                ..Default::default()
            },
        );
        assert!(r.restarts >= 4, "{} restarts", r.restarts);
        assert_eq!(r.smallest.len(), 5);
        for p in &r.smallest {
            assert!((p.value + 1.0).abs() < 1e-12 && p.converged, "{p:?}");
        }
    }

    #[test]
    fn a_multiple_eigenvalue_that_leaves_one_dimension_is_found() {
        // 8 dimensions, 7 distinct eigenvalues: the first Krylov space is invariant after 7
        // steps and the verification block has exactly one direction left.
        for d in [
            vec![0.0, 0.0, 0.1, 0.2, 0.3, 1.0, 2.0, 4.0],
            vec![-1.0, 0.5, 0.5, 1.0, 2.0, 3.0, 4.0, 4.0],
        ] {
            let (lo, hi) = (d[0], d[7]);
            let mut op = Diag(d);
            for which in [Which::Both, Which::Smallest, Which::Largest] {
                let r = lanczos(
                    &mut op,
                    &LanczosOptions {
                        k: 1,
                        which,
                        ..Default::default()
                    },
                );
                assert!(r.all_converged, "{which:?}: {r:?}");
                if which != Which::Largest {
                    assert!((r.smallest[0].value - lo).abs() < 1e-12);
                }
                if which != Which::Smallest {
                    assert!((r.largest[0].value - hi).abs() < 1e-12);
                }
            }
        }
    }

    #[test]
    fn deflation_skips_the_deflated_directions() {
        let mut op = Diag(vec![0.0, 0.0, 1.0, 2.0, 3.0]);
        let e = |i: usize| {
            let mut v = vec![0.0; 5];
            v[i] = 1.0;
            v
        };
        let r = lanczos(
            &mut op,
            &LanczosOptions {
                k: 1,
                deflate: vec![e(0), e(1)],
                ..Default::default()
            },
        );
        assert!((r.smallest[0].value - 1.0).abs() < 1e-12);
    }
}
