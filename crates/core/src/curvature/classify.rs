//! Classification of a point from its gradient and Hessian spectrum.
//!
//! Thresholds (defaults in [`ClassifyOptions::default`]):
//! - stationary when ||grad f|| <= `grad_tol` (absolute);
//! - scale = max(|lambda_min|, |lambda_max|); an eigenvalue is near zero when
//!   |lambda| <= `zero_tol` * scale, negative when lambda < -`zero_tol` * scale.
//!
//! Verdict, in this order:
//! 1. ||grad|| > grad_tol: `NotStationary` (the spectrum is still reported).
//! 2. lambda_min < -zero_tol * scale: `StrictSaddle` with the unit eigenvector. The reported
//!    lambda_min is the Rayleigh quotient of that vector, so lambda_min(H) <= it < 0 holds for
//!    certain, whatever the solver's accuracy; f(w + t d) = f(w) + t^2 lambda_min / 2 + O(t^3).
//! 3. Otherwise count the near-zero eigenvalues: none, or exactly as many as the dimension of the
//!    symmetry orbit through w (whose tangent vectors are always null vectors of H at a
//!    stationary point, so equal dimensions mean the null space *is* the orbit's tangent space),
//!    gives `LocalMinimum`; more than that gives `Degenerate` (higher-order terms decide).
//!    The count needs every eigenvalue near 0: the dense solver provides it. With Lanczos,
//!    when the model provides its symmetry tangents, Lanczos runs in their orthogonal complement
//!    (deflation) and the verdict is `LocalMinimum` if the deflated lambda_min is positive and
//!    the tangents are null vectors; otherwise `Degenerate` with the reason.

use super::dense::dense_eigen;
use super::lanczos::{lanczos, EigPair, LanczosOptions, Which};
use super::{normalize, residual, HessianOp, LinOp, TINY};
use crate::linalg::dot;
use crate::model::Model;

/// Which eigen-solver to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Dense when the operator dimension is <= `dense_max_dim`, Lanczos above.
    Auto,
    Dense,
    Lanczos,
}

impl Method {
    pub fn resolve(self, n: usize, dense_max_dim: usize) -> Method {
        match self {
            Method::Auto if n <= dense_max_dim => Method::Dense,
            Method::Auto => Method::Lanczos,
            m => m,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Dense => "dense",
            Method::Lanczos => "lanczos",
        }
    }
}

/// Default dimension up to which `Method::Auto` uses the dense solver.
pub const DENSE_MAX_DIM: usize = 1500;

#[derive(Debug, Clone)]
pub struct ClassifyOptions {
    pub method: Method,
    /// Default 1500.
    pub dense_max_dim: usize,
    /// Relative residual tolerance of Lanczos. Default 1e-8.
    pub tol: f64,
    /// Lanczos step budget. Default 1000.
    pub max_iter: usize,
    pub seed: u64,
    /// Absolute gradient-norm threshold for stationarity. Default 1e-6.
    pub grad_tol: f64,
    /// Relative threshold of near-zero eigenvalues. Default 1e-6.
    pub zero_tol: f64,
    /// Number of smallest eigenpairs Lanczos computes. Default 1.
    pub k: usize,
    /// Warm start for Lanczos (e.g. the previous point's lambda_min vector).
    pub warm: Vec<Vec<f64>>,
}

impl Default for ClassifyOptions {
    fn default() -> Self {
        ClassifyOptions {
            method: Method::Auto,
            dense_max_dim: DENSE_MAX_DIM,
            tol: 1e-8,
            max_iter: 1000,
            seed: 0,
            grad_tol: 1e-6,
            zero_tol: 1e-6,
            k: 1,
            warm: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    LocalMinimum,
    StrictSaddle {
        direction: Vec<f64>,
        lambda_min: f64,
    },
    Degenerate {
        reason: String,
    },
    NotStationary {
        grad_norm: f64,
    },
}

#[derive(Debug, Clone)]
pub struct Classification {
    pub loss: f64,
    pub grad_norm: f64,
    pub method: Method,
    pub dim: usize,
    pub lambda_min: f64,
    pub lambda_min_residual: f64,
    pub lambda_min_converged: bool,
    /// Unit eigenvector of lambda_min.
    pub lambda_min_vector: Vec<f64>,
    pub lambda_max: f64,
    pub lambda_max_residual: f64,
    /// Smallest eigenvalues computed (all of them for the dense solver), ascending.
    pub smallest: Vec<f64>,
    /// Number of |lambda| <= zero_tol * scale, when known.
    pub zero_count: Option<usize>,
    pub negative_count: Option<usize>,
    /// How `zero_count` was obtained.
    pub zero_count_note: String,
    pub symmetry_dim: Option<usize>,
    /// Lanczos with deflation: lambda_min of H on the complement of the symmetry tangents.
    pub deflated_lambda_min: Option<f64>,
    pub hvps: usize,
    pub iterations: usize,
    pub verdict: Verdict,
}

/// Classify the point `w` of `model`.
pub fn classify(model: &mut dyn Model, w: &[f64], o: &ClassifyOptions) -> Classification {
    let n = model.dim();
    let mut g = vec![0.0; n];
    let loss = model.loss_grad(w, &mut g);
    let grad_norm = dot(&g, &g).sqrt();
    let symmetry_dim = model.symmetry_dim(w);
    let method = o.method.resolve(n, o.dense_max_dim);
    let tangents = if method == Method::Lanczos {
        model.symmetry_tangents(w)
    } else {
        None
    };
    let mut op = HessianOp::new(model, w, None);

    let (lmin, lmin_res, lmin_conv, vmin, lmax, lmax_res, smallest, iterations);
    let (mut zero_count, mut negative_count, zero_note);
    let mut deflated_lambda_min = None;
    let mut tangent_residual = None;
    if method == Method::Dense {
        let e = dense_eigen(&mut op);
        let vals = &e.values;
        lmin = vals[0];
        lmax = vals[n - 1];
        vmin = e.vector(0);
        lmin_res = residual(&mut op, &vmin, lmin);
        lmax_res = residual(&mut op, &e.vector(n - 1), lmax);
        let scale = lmin.abs().max(lmax.abs()).max(TINY);
        lmin_conv = lmin_res <= 1e-8 * scale.max(1.0);
        let thr = o.zero_tol * scale;
        zero_count = Some(vals.iter().filter(|x| x.abs() <= thr).count());
        negative_count = Some(vals.iter().filter(|&&x| x < -thr).count());
        zero_note = "dense: all eigenvalues".to_string();
        smallest = vals.clone();
        iterations = 0;
    } else {
        let lo = LanczosOptions {
            k: o.k.max(1),
            which: Which::Both,
            tol: o.tol,
            max_iter: o.max_iter,
            seed: o.seed,
            warm: o.warm.clone(),
            deflate: Vec::new(),
        };
        let r = lanczos(&mut op, &lo);
        let nan_pair = EigPair {
            value: f64::NAN,
            residual: f64::NAN,
            converged: false,
            vector: vec![0.0; n],
        };
        let s0 = r.smallest.first().unwrap_or(&nan_pair);
        let l0 = r.largest.first().unwrap_or(&nan_pair);
        lmin = s0.value;
        lmin_res = s0.residual;
        lmin_conv = s0.converged;
        vmin = s0.vector.clone();
        lmax = l0.value;
        lmax_res = l0.residual;
        smallest = r.smallest.iter().map(|p| p.value).collect();
        iterations = r.iterations;
        let scale = lmin.abs().max(lmax.abs()).max(TINY);
        let thr = o.zero_tol * scale;
        zero_count = None;
        negative_count = None;
        let mut note = format!(
            "lanczos: {} of the {} smallest Ritz values are near zero (single-vector Krylov sees \
             one copy per distinct eigenvalue: not a multiplicity)",
            smallest.iter().filter(|x| x.abs() <= thr).count(),
            smallest.len()
        );
        // Deflate the symmetry tangents when known and lambda_min is not clearly negative.
        if let Some(t) = tangents.filter(|t| !t.is_empty()) {
            if lmin >= -thr {
                let mut worst: f64 = 0.0;
                let mut hx = vec![0.0; n];
                for x in &t {
                    op.apply(x, &mut hx);
                    worst = worst.max(dot(&hx, &hx).sqrt());
                }
                tangent_residual = Some(worst);
                let dl = LanczosOptions {
                    k: 1,
                    which: Which::Smallest,
                    tol: o.tol,
                    max_iter: o.max_iter,
                    seed: o.seed.wrapping_add(1),
                    warm: Vec::new(),
                    deflate: t.clone(),
                };
                let rd = lanczos(&mut op, &dl);
                if let Some(p) = rd.smallest.first() {
                    deflated_lambda_min = Some(p.value);
                    if p.value > thr && worst <= thr {
                        zero_count = Some(t.len());
                        note = format!(
                            "lanczos with deflation: the {} symmetry tangents are null vectors \
                             (max ||H t|| = {worst:.3e}) and H is positive on their complement \
                             (lambda_min there = {:.6e})",
                            t.len(),
                            p.value
                        );
                    }
                }
            }
        }
        zero_note = note;
    }
    let hvps = op.hvps;
    drop(op);

    let scale = lmin.abs().max(lmax.abs()).max(TINY);
    let thr = o.zero_tol * scale;
    if negative_count.is_none() && lmin >= -thr && zero_count.is_some() {
        negative_count = Some(0);
    }
    let verdict = if !(lmin.is_finite() && lmax.is_finite() && grad_norm.is_finite()) {
        Verdict::Degenerate {
            reason: "the gradient or the Hessian spectrum is not finite at this point".to_string(),
        }
    } else if grad_norm > o.grad_tol {
        Verdict::NotStationary { grad_norm }
    } else if lmin < -thr {
        let mut d = vmin.clone();
        normalize(&mut d);
        Verdict::StrictSaddle {
            direction: d,
            lambda_min: lmin,
        }
    } else if !lmin_conv && lmin <= thr {
        Verdict::Degenerate {
            reason: format!(
                "lambda_min = {lmin:.6e} is not below -zeroTol*scale = {:.3e} and did not \
                 converge (residual {lmin_res:.3e}): raise maxIter or use method dense",
                -thr
            ),
        }
    } else if lmin > thr {
        zero_count.get_or_insert(0);
        Verdict::LocalMinimum
    } else {
        match (zero_count, symmetry_dim) {
            (Some(0), _) => Verdict::LocalMinimum,
            (Some(z), Some(s)) if z == s => Verdict::LocalMinimum,
            (Some(z), Some(s)) => Verdict::Degenerate {
                reason: format!(
                    "{z} near-zero eigenvalues but the symmetry orbit has dimension {s}: \
                     {} flat directions are not explained by the symmetry, so higher-order \
                     terms decide",
                    z.abs_diff(s)
                ),
            },
            (Some(z), None) => Verdict::Degenerate {
                reason: format!(
                    "{z} near-zero eigenvalues and the model does not report its symmetry \
                     dimension"
                ),
            },
            (None, _) => Verdict::Degenerate {
                reason: match tangent_residual {
                    Some(t) if t > thr => format!(
                        "lambda_min ~ 0 and the symmetry tangents are not null vectors \
                         (max ||H t|| = {t:.3e}): not a symmetric critical manifold"
                    ),
                    Some(_) => format!(
                        "lambda_min ~ 0 remains after deflating the symmetry tangents \
                         (deflated lambda_min = {:.6e}): higher-order terms decide",
                        deflated_lambda_min.unwrap_or(f64::NAN)
                    ),
                    None => "lambda_min ~ 0 and Lanczos cannot count the multiplicity of the \
                             zero eigenvalue (no symmetry tangents from the model): use method \
                             dense"
                        .to_string(),
                },
            },
        }
    };
    Classification {
        loss,
        grad_norm,
        method,
        dim: n,
        lambda_min: lmin,
        lambda_min_residual: lmin_res,
        lambda_min_converged: lmin_conv,
        lambda_min_vector: vmin,
        lambda_max: lmax,
        lambda_max_residual: lmax_res,
        smallest,
        zero_count,
        negative_count,
        zero_count_note: zero_note,
        symmetry_dim,
        deflated_lambda_min,
        hvps,
        iterations,
        verdict,
    }
}
