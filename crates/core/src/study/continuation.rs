//! `continuation`: branches of critical points of the continuous-time linear network (Taghvaei,
//! Kim & Mehta 2017), the solutions `C` of the characteristic equation
//! `lambda C = F^T (R(sigma) - F) Sigma0`, `F = e^{2T Om} e^{T C^T}`, continued in `lambda` or in
//! `sigma` (`R(sigma) = R + sigma dR`) by pseudo-arclength (docs/continuation.md).
//!
//! ```json
//! {"kind": "continuation",
//!  "problem": {"n": 2, "T": 1, "R": [[0, -1], [1, 0]], "dR": [[0, 0], [0, 1]], "sigma0": [[1, 0], [0, 1]]},
//!  "parameter": "lambda", "lambda": 0, "sigma": 0, "range": [0, 1],
//!  "starts": [{"kind": "logarithm", "sheet": 1}, {"kind": "point", "C": [[0, -1], [1, 0]]},
//!             {"kind": "largeLambda"}],
//!  "step": {"initial": 0.01, "min": 1e-9, "max": 0.1},
//!  "maxPoints": 500, "cMax": 1000, "tol": 1e-10,
//!  "verdicts": {"K": [1, 2, 4, 8, 16, 32], "discretization": "exponential", "every": 1}}
//! ```
//!
//! The unknowns are `x = (vec C, p)` (row-major `vec`, `p` the continued parameter). Each start is
//! solved by Newton at its parameter value, then continued in both directions (first increasing
//! `p`, then decreasing it): predictor along the unit tangent (the null vector of the `n^2 x
//! (n^2 + 1)` Jacobian, oriented by the previous tangent), Newton corrector on the hyperplane
//! orthogonal to the tangent, step halved on failure or on a turn of more than ~25 degrees and
//! grown by 1.5 after an easy correction. A fold is a sign change of the tangent's `p` component;
//! it is refined by Newton on the Moore-Spence system `G = 0, G_C phi = 0, l^T phi = 1` to
//! `1e-10` in `p` and recorded as its own row (`fold` = 1). A direction stops when `p` leaves the
//! range (the last point is put on the bound), `|C|_F > cMax`, after `maxPoints` points, or when
//! the step falls below `step.min`.
//!
//! Work units: one per continuation step (accepted or not), one per fold refinement, one per
//! verdict point.

use nalgebra::{DMatrix, DVector};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{parse, Buffers, Registration, StudyKind};
use crate::build::Budget;
use crate::error::{Error, Result};
use crate::model::continuous::critical::{logarithm_at, mat_of, vec_of, Problem};
use crate::model::continuous::expm::FrechetPlan;
use crate::model::continuous::{model_at, Discretization};
use crate::model::Model;
use crate::spec::{finite, num, positive, positive_real};

pub const REGISTRATION: Registration = Registration {
    kind: "continuation",
    build,
};

/// Largest `n` a continuation accepts: each Jacobian is `n^2` Frechet derivatives and a dense
/// `n^2 x n^2` solve.
pub const MAX_N: usize = 16;
/// Largest `maxPoints`.
pub const MAX_POINTS: usize = 100_000;
/// Largest K of a verdict.
pub const MAX_K: usize = 256;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Spec {
    problem: ProblemSpec,
    parameter: Parameter,
    #[serde(default)]
    lambda: f64,
    #[serde(default)]
    sigma: f64,
    range: Vec<f64>,
    starts: Vec<StartSpec>,
    #[serde(default)]
    step: StepSpec,
    #[serde(default = "default_max_points")]
    max_points: f64,
    #[serde(default = "default_c_max")]
    c_max: f64,
    #[serde(default = "default_tol")]
    tol: f64,
    #[serde(default)]
    verdicts: Option<VerdictSpec>,
}

fn default_max_points() -> f64 {
    500.0
}
fn default_c_max() -> f64 {
    1e3
}
fn default_tol() -> f64 {
    1e-10
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProblemSpec {
    n: f64,
    #[serde(rename = "T")]
    t: f64,
    #[serde(rename = "R")]
    r: Vec<Vec<f64>>,
    #[serde(rename = "dR", default)]
    dr: Option<Vec<Vec<f64>>>,
    #[serde(default)]
    sigma0: Option<Vec<Vec<f64>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Parameter {
    Lambda,
    Sigma,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
enum StartSpec {
    Logarithm {
        sheet: f64,
    },
    Point {
        #[serde(rename = "C")]
        c: Vec<Vec<f64>>,
    },
    LargeLambda {},
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StepSpec {
    #[serde(default = "default_initial")]
    initial: f64,
    #[serde(default = "default_min")]
    min: f64,
    #[serde(default = "default_max")]
    max: f64,
}

fn default_initial() -> f64 {
    0.01
}
fn default_min() -> f64 {
    1e-9
}
fn default_max() -> f64 {
    0.1
}

impl Default for StepSpec {
    fn default() -> Self {
        StepSpec {
            initial: default_initial(),
            min: default_min(),
            max: default_max(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VerdictSpec {
    #[serde(rename = "K", default = "default_ks")]
    k: Vec<f64>,
    #[serde(default = "default_disc")]
    discretization: String,
    #[serde(default = "default_every")]
    every: f64,
}

fn default_ks() -> Vec<f64> {
    vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
}
fn default_disc() -> String {
    "exponential".into()
}
fn default_every() -> f64 {
    1.0
}

/// A matrix field `[[..], ..]` of shape `n x n`, finite.
fn matrix(field: &str, rows: &[Vec<f64>], n: usize) -> Result<DMatrix<f64>> {
    if rows.len() != n {
        return Err(Error::shape(
            field,
            format!("expected {n} rows, got {}", rows.len()),
        ));
    }
    let mut m = DMatrix::zeros(n, n);
    for (i, row) in rows.iter().enumerate() {
        if row.len() != n {
            return Err(Error::shape(
                format!("{field}[{i}]"),
                format!("expected {n} entries, got {}", row.len()),
            ));
        }
        for (j, &x) in row.iter().enumerate() {
            m[(i, j)] = finite(&format!("{field}[{i}][{j}]"), x)?;
        }
    }
    Ok(m)
}

/// The validated settings of a continuation.
#[derive(Debug, Clone)]
struct Settings {
    parameter: Parameter,
    lambda: f64,
    sigma: f64,
    lo: f64,
    hi: f64,
    ds0: f64,
    ds_min: f64,
    ds_max: f64,
    max_points: usize,
    c_max: f64,
    tol: f64,
}

#[derive(Debug, Clone)]
struct Verdicts {
    ks: Vec<usize>,
    euler: bool,
    every: usize,
}

/// Why a direction of a branch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Range,
    CMax,
    MaxPoints,
    StepTooSmall,
    StartFailed,
}

impl Stop {
    fn name(self) -> &'static str {
        match self {
            Stop::Range => "range",
            Stop::CMax => "cMax",
            Stop::MaxPoints => "maxPoints",
            Stop::StepTooSmall => "stepTooSmall",
            Stop::StartFailed => "startFailed",
        }
    }
}

/// One direction of one branch in progress.
struct Walk {
    /// Current point `(vec C, p)` and unit tangent.
    x: DVector<f64>,
    tau: DVector<f64>,
    ds: f64,
    points: usize,
    arc: f64,
    direction: i32,
}

/// What the result says of a direction.
struct DirectionLog {
    direction: i32,
    points: usize,
    stop: Option<Stop>,
    folds: Vec<Value>,
    last_ds: f64,
}

struct BranchLog {
    start: Value,
    ok: bool,
    note: Option<String>,
    start_p: f64,
    directions: Vec<DirectionLog>,
}

struct Continuation {
    problem: Problem,
    s: Settings,
    verdicts: Option<Verdicts>,
    starts: Vec<(StartSpec, String)>,
    names: Vec<String>,
    columns: Vec<Vec<f64>>,
    branches: Vec<BranchLog>,
    verdict_points: Vec<Value>,
    /// Which start, which direction (0: solve the start, 1: +, 2: -), the walk.
    cur_start: usize,
    phase: u8,
    walk: Option<Walk>,
    start_x: Option<DVector<f64>>,
    done: u64,
    finished: bool,
    notes: Vec<String>,
}

fn build(spec: Value, _buffers: Buffers) -> Result<Box<dyn StudyKind>> {
    let spec: Spec = parse(spec)?;
    let p = &spec.problem;
    let n = positive("problem.n", p.n)?;
    if n > MAX_N {
        return Err(Error::range(
            "problem.n",
            format!("expected n <= {MAX_N} (each Jacobian is n^2 Frechet derivatives), got {n}"),
        ));
    }
    let t = positive_real("problem.T", p.t)?;
    let r = matrix("problem.R", &p.r, n)?;
    let dr = match &p.dr {
        Some(d) => Some(matrix("problem.dR", d, n)?),
        None => None,
    };
    let sigma0 = match &p.sigma0 {
        Some(s) => {
            let m = matrix("problem.sigma0", s, n)?;
            if (&m - m.transpose()).norm() > 1e-12 * m.norm() {
                return Err(Error::range("problem.sigma0", "expected a symmetric matrix"));
            }
            if m.clone().cholesky().is_none() {
                return Err(Error::range("problem.sigma0", "expected a positive definite matrix"));
            }
            m
        }
        None => DMatrix::identity(n, n),
    };
    let lambda = finite("lambda", spec.lambda)?;
    let sigma = finite("sigma", spec.sigma)?;
    if spec.parameter == Parameter::Sigma && dr.is_none() {
        return Err(Error::spec(
            "problem.dR",
            "continuation in sigma needs dR (R(sigma) = R + sigma dR)",
        ));
    }
    if spec.range.len() != 2 {
        return Err(Error::shape(
            "range",
            format!("expected [lo, hi], got {} numbers", spec.range.len()),
        ));
    }
    let lo = finite("range[0]", spec.range[0])?;
    let hi = finite("range[1]", spec.range[1])?;
    if lo >= hi {
        return Err(Error::range(
            "range[1]",
            format!("expected hi > lo, got [{}, {}]", num(lo), num(hi)),
        ));
    }
    let p0 = match spec.parameter {
        Parameter::Lambda => lambda,
        Parameter::Sigma => sigma,
    };
    let pname = match spec.parameter {
        Parameter::Lambda => "lambda",
        Parameter::Sigma => "sigma",
    };
    let has_point_start = spec
        .starts
        .iter()
        .any(|s| !matches!(s, StartSpec::LargeLambda {}));
    if has_point_start && (p0 < lo || p0 > hi) {
        return Err(Error::range(
            pname,
            format!(
                "the starting {pname} {} is outside range [{}, {}]",
                num(p0),
                num(lo),
                num(hi)
            ),
        ));
    }
    if spec.starts.is_empty() {
        return Err(Error::spec("starts", "expected at least one start"));
    }
    if spec.starts.len() > 1000 {
        return Err(Error::range("starts", "expected at most 1000 starts"));
    }
    let mut starts = Vec::new();
    for (i, st) in spec.starts.iter().enumerate() {
        let field = format!("starts[{i}]");
        match st {
            StartSpec::Logarithm { sheet } => {
                let f = format!("{field}.sheet");
                if !sheet.is_finite() || sheet.fract() != 0.0 || sheet.abs() > 1e6 {
                    return Err(Error::range(
                        f,
                        format!("expected an integer in -1000000..=1000000, got {}", num(*sheet)),
                    ));
                }
            }
            StartSpec::Point { c } => {
                matrix(&format!("{field}.C"), c, n)?;
            }
            StartSpec::LargeLambda {} => {
                if spec.parameter == Parameter::Lambda && hi <= 0.0 {
                    return Err(Error::range(
                        field,
                        "largeLambda starts at lambda = range[1], which must be > 0",
                    ));
                }
                if spec.parameter == Parameter::Sigma && lambda <= 0.0 {
                    return Err(Error::range(
                        field,
                        "largeLambda needs lambda > 0 when continuing in sigma",
                    ));
                }
            }
        }
        starts.push((st.clone(), field));
    }
    let ds0 = positive_real("step.initial", spec.step.initial)?;
    let ds_min = positive_real("step.min", spec.step.min)?;
    let ds_max = positive_real("step.max", spec.step.max)?;
    if ds_min > ds0 {
        return Err(Error::range("step.min", "expected step.min <= step.initial"));
    }
    if ds0 > ds_max {
        return Err(Error::range("step.max", "expected step.max >= step.initial"));
    }
    let max_points = positive("maxPoints", spec.max_points)?;
    if max_points > MAX_POINTS {
        return Err(Error::range(
            "maxPoints",
            format!("expected at most {MAX_POINTS}, got {max_points}"),
        ));
    }
    let c_max = positive_real("cMax", spec.c_max)?;
    let tol = positive_real("tol", spec.tol)?;
    if tol >= 1e-2 {
        return Err(Error::range("tol", "expected tol < 0.01"));
    }
    let verdicts = match &spec.verdicts {
        None => None,
        Some(v) => {
            if v.k.is_empty() {
                return Err(Error::spec("verdicts.K", "expected at least one K"));
            }
            let mut ks = Vec::new();
            for (i, &k) in v.k.iter().enumerate() {
                let f = format!("verdicts.K[{i}]");
                let k = positive(&f, k)?;
                if k > MAX_K {
                    return Err(Error::range(f, format!("expected K <= {MAX_K}, got {k}")));
                }
                ks.push(k);
            }
            let euler = match v.discretization.as_str() {
                "exponential" => false,
                "euler" => true,
                other => {
                    return Err(Error::spec(
                        "verdicts.discretization",
                        format!("expected \"exponential\" or \"euler\", got {other:?}"),
                    ))
                }
            };
            let every = positive("verdicts.every", v.every)?;
            Some(Verdicts { ks, euler, every })
        }
    };
    // Memory: rows (points and folds) times columns, plus the Jacobians.
    let cols = 5 + n * n + 4 + 5;
    let rows = (starts.len() as u64) * (2 * max_points as u64 + 1) * 2;
    let nn = (n * n) as u64;
    let kmax = verdicts
        .as_ref()
        .map(|v| *v.ks.iter().max().unwrap_or(&1) as u64)
        .unwrap_or(0);
    let hess = (kmax * nn) * (kmax * nn);
    Budget::new().check("maxPoints", &[(rows, cols as u64), (4 * (nn + 1), 2 * nn + 2)])?;
    // the dense K-layer Hessian, its symmetric copy and the eigen-solver's workspace
    Budget::new().check("verdicts.K", &[(3u64, hess)])?;
    let mut names: Vec<String> = ["branch", "direction", "arc", "lambda", "sigma"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for i in 0..n {
        for j in 0..n {
            names.push(format!("c{}{}", i + 1, j + 1));
        }
    }
    for s in [
        "J",
        "reg",
        "data",
        "residual",
        "fold",
        "verdictConst",
        "verdictTime",
        "minEigConst",
        "minEigTime",
    ] {
        names.push(s.into());
    }
    let columns = vec![Vec::new(); names.len()];
    Ok(Box::new(Continuation {
        problem: Problem {
            n,
            t,
            r,
            dr,
            sigma0,
        },
        s: Settings {
            parameter: spec.parameter,
            lambda,
            sigma,
            lo,
            hi,
            ds0,
            ds_min,
            ds_max,
            max_points,
            c_max,
            tol,
        },
        verdicts,
        starts,
        names,
        columns,
        branches: Vec::new(),
        verdict_points: Vec::new(),
        cur_start: 0,
        phase: 0,
        walk: None,
        start_x: None,
        done: 0,
        finished: false,
        notes: Vec::new(),
    }))
}

/// A dense solve `a x = b`, `None` when singular or not finite.
fn solve(a: DMatrix<f64>, b: &DVector<f64>) -> Option<DVector<f64>> {
    let x = a.lu().solve(b)?;
    x.iter().all(|v| v.is_finite()).then_some(x)
}

impl Continuation {
    fn n(&self) -> usize {
        self.problem.n
    }

    /// `(lambda, sigma)` at parameter value `p`.
    fn params(&self, p: f64) -> (f64, f64) {
        match self.s.parameter {
            Parameter::Lambda => (p, self.s.sigma),
            Parameter::Sigma => (self.s.lambda, p),
        }
    }

    fn split(&self, x: &DVector<f64>) -> (DMatrix<f64>, f64) {
        let nn = self.n() * self.n();
        (mat_of(&x.as_slice()[..nn], self.n()), x[nn])
    }

    fn join(c: &DMatrix<f64>, p: f64) -> DVector<f64> {
        let v = vec_of(c);
        let mut x = DVector::zeros(v.len() + 1);
        x.rows_mut(0, v.len()).copy_from(&v);
        x[v.len()] = p;
        x
    }

    /// The residual vector and the `N x (N + 1)` Jacobian at `x`.
    fn eval(&self, x: &DVector<f64>) -> (DVector<f64>, DMatrix<f64>) {
        let (c, p) = self.split(x);
        let (l, s) = self.params(p);
        let jac = self.problem.jacobian(&c, l, s);
        let nn = c.len();
        let mut full = DMatrix::zeros(nn, nn + 1);
        full.view_mut((0, 0), (nn, nn)).copy_from(&jac.jc);
        let jp = match self.s.parameter {
            Parameter::Lambda => jac.jl,
            Parameter::Sigma => jac.js,
        };
        full.column_mut(nn).copy_from(&jp);
        (vec_of(&jac.g), full)
    }

    fn residual_norm(&self, x: &DVector<f64>) -> f64 {
        let (c, p) = self.split(x);
        let (l, s) = self.params(p);
        self.problem.residual(&c, l, s).norm()
    }

    /// The unit tangent at `x` with `guide . tau > 0` (`guide` = the previous tangent or the
    /// parameter's unit vector).
    fn tangent(&self, jx: &DMatrix<f64>, guide: &DVector<f64>) -> Option<DVector<f64>> {
        let nn = jx.nrows();
        let mut a = DMatrix::zeros(nn + 1, nn + 1);
        a.view_mut((0, 0), (nn, nn + 1)).copy_from(jx);
        a.row_mut(nn).copy_from(&guide.transpose());
        let mut b = DVector::zeros(nn + 1);
        b[nn] = 1.0;
        let t = solve(a, &b)?;
        let norm = t.norm();
        (norm > 0.0).then(|| t / norm)
    }

    /// The tangent at a start point: oriented by `+p`, or the null vector of `Jx` (SVD) when the
    /// start sits on a fold.
    fn start_tangent(&self, x: &DVector<f64>) -> Option<DVector<f64>> {
        let (_, jx) = self.eval(x);
        let nn = jx.nrows();
        let mut ep = DVector::zeros(nn + 1);
        ep[nn] = 1.0;
        if let Some(t) = self.tangent(&jx, &ep) {
            return Some(t);
        }
        let mut sq = DMatrix::zeros(nn + 1, nn + 1);
        sq.view_mut((0, 0), (nn, nn + 1)).copy_from(&jx);
        let svd = crate::decomp::svd(&sq, false, true)?;
        let vt = svd.v_t?;
        let (k, _) = svd
            .singular_values
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))?;
        let mut t: DVector<f64> = vt.row(k).transpose();
        if t[nn] < 0.0 {
            t = -t;
        }
        Some(t)
    }

    /// Newton on `G(C, p) = 0` at fixed `p`.
    fn newton_fixed(&self, c0: &DMatrix<f64>, p: f64) -> Option<DMatrix<f64>> {
        let (l, s) = self.params(p);
        self.problem.newton(c0, l, s, self.s.tol, 40)
    }

    /// Corrector: Newton on `[G(x); tau . (x - xp)] = 0` from the predicted `xp`. Returns the
    /// point and the number of iterations.
    fn correct(&self, xp: &DVector<f64>, tau: &DVector<f64>) -> Option<(DVector<f64>, usize)> {
        let mut x = xp.clone();
        let nn = x.len() - 1;
        for it in 0..10 {
            let (g, jx) = self.eval(&x);
            if !g.iter().all(|v| v.is_finite()) {
                return None;
            }
            let mut a = DMatrix::zeros(nn + 1, nn + 1);
            a.view_mut((0, 0), (nn, nn + 1)).copy_from(&jx);
            a.row_mut(nn).copy_from(&tau.transpose());
            let mut rhs = DVector::zeros(nn + 1);
            rhs.rows_mut(0, nn).copy_from(&g);
            rhs[nn] = tau.dot(&(&x - xp));
            let dx = solve(a, &rhs)?;
            x -= &dx;
            let small = dx.norm() <= 1e-9 * (1.0 + x.norm());
            if small {
                let r = self.residual_norm(&x);
                if r <= self.s.tol.max(1e-14 * (1.0 + x.norm())) {
                    return Some((x, it + 1));
                }
            }
        }
        let r = self.residual_norm(&x);
        (r <= self.s.tol).then_some((x, 10))
    }

    /// Moore-Spence refinement of a fold bracketed by `(xa, ta)` and `(xb, tb)`: Newton on
    /// `G(C, p) = 0, G_C(C, p) phi = 0, l . phi = 1` (`2 n^2 + 1` unknowns), the derivative of
    /// `G_C phi` by central differences of the analytic `G_C phi`. Returns the fold point,
    /// `phi`, the final update in `p` and the residual.
    fn moore_spence(
        &self,
        xa: &DVector<f64>,
        ta: &DVector<f64>,
        xb: &DVector<f64>,
        tb: &DVector<f64>,
    ) -> Option<(DVector<f64>, f64, f64)> {
        let nn = xa.len() - 1;
        let n = self.n();
        // initial guess: interpolate where the tangent's p component vanishes
        let (pa, pb) = (ta[nn], tb[nn]);
        let w = if (pa - pb).abs() > 0.0 { pa / (pa - pb) } else { 0.5 };
        let x0 = xa * (1.0 - w) + xb * w;
        let t0 = ta * (1.0 - w) + tb * w;
        let mut phi: DVector<f64> = t0.rows(0, nn).into_owned();
        let pn = phi.norm();
        if pn == 0.0 {
            return None;
        }
        phi /= pn;
        let l = phi.clone();
        let mut c = mat_of(&x0.as_slice()[..nn], n);
        let mut p = x0[nn];
        let dim = 2 * nn + 1;
        let mut last_dp = f64::INFINITY;
        for _ in 0..30 {
            let (lam, sig) = self.params(p);
            let jac = self.problem.jacobian(&c, lam, sig);
            let jp = match self.s.parameter {
                Parameter::Lambda => jac.jl.clone(),
                Parameter::Sigma => jac.js.clone(),
            };
            let g = vec_of(&jac.g);
            let jphi = &jac.jc * &phi;
            let phim = mat_of(phi.as_slice(), n);
            // d(G_C phi)/dC and /dp by central differences
            let h = 1e-6 * (1.0 + c.norm());
            let mut hcc = DMatrix::zeros(nn, nn);
            for k in 0..nn {
                let mut e = DMatrix::zeros(n, n);
                e[(k / n, k % n)] = h;
                let plus = self.problem.jvp(&(&c + &e), lam, sig, &phim);
                let minus = self.problem.jvp(&(&c - &e), lam, sig, &phim);
                hcc.column_mut(k)
                    .copy_from(&vec_of(&((plus - minus) / (2.0 * h))));
            }
            let hp = 1e-6 * (1.0 + p.abs());
            let (l1, s1) = self.params(p + hp);
            let (l2, s2) = self.params(p - hp);
            let hcp = vec_of(
                &((self.problem.jvp(&c, l1, s1, &phim) - self.problem.jvp(&c, l2, s2, &phim))
                    / (2.0 * hp)),
            );
            let mut a = DMatrix::zeros(dim, dim);
            a.view_mut((0, 0), (nn, nn)).copy_from(&jac.jc);
            a.view_mut((0, nn), (nn, 1)).copy_from(&jp);
            a.view_mut((nn, 0), (nn, nn)).copy_from(&hcc);
            a.view_mut((nn, nn), (nn, 1)).copy_from(&hcp);
            a.view_mut((nn, nn + 1), (nn, nn)).copy_from(&jac.jc);
            a.view_mut((2 * nn, nn + 1), (1, nn))
                .copy_from(&l.transpose());
            let mut rhs = DVector::zeros(dim);
            rhs.rows_mut(0, nn).copy_from(&g);
            rhs.rows_mut(nn, nn).copy_from(&jphi);
            rhs[2 * nn] = l.dot(&phi) - 1.0;
            let d = solve(a, &rhs)?;
            let dc = mat_of(&d.as_slice()[..nn], n);
            c -= dc;
            p -= d[nn];
            phi -= d.rows(nn + 1, nn);
            last_dp = d[nn].abs();
            let dn = d.norm();
            if !p.is_finite() || !c.iter().all(|v| v.is_finite()) {
                return None;
            }
            if last_dp <= 1e-12 * (1.0 + p.abs()) && dn <= 1e-9 * (1.0 + c.norm()) {
                break;
            }
        }
        let (lam, sig) = self.params(p);
        let r = self.problem.residual(&c, lam, sig).norm();
        (r <= self.s.tol.max(1e-12) * 10.0 && last_dp <= 1e-10 * (1.0 + p.abs()))
            .then(|| (Self::join(&c, p), last_dp, r))
    }

    /// The constant-weight verdict from the reduced cost `J(A)` over constant `A` at `A = C`
    /// (valid when `C` is normal: the critical `A_t` is then constant). The Hessian is by central
    /// differences of the analytic gradient `lambda T A + T L(T A^T, (e^{TA} - R) Sigma0)`, and
    /// reported per unit of `int_0^T |dA|^2 dt` (divided by T), the family's normalization.
    fn constant_verdict(&self, c: &DMatrix<f64>, lambda: f64, sigma: f64) -> (f64, f64) {
        let n = self.n();
        let nn = n * n;
        let t = self.problem.t;
        let r = self.problem.r_at(sigma);
        let grad = |a: &DMatrix<f64>| -> DMatrix<f64> {
            let plan = FrechetPlan::new(&(a.transpose() * t));
            // e^{T A} = (e^{T A^T})^T
            let f = plan.exp().transpose();
            let w = (&f - &r) * &self.problem.sigma0;
            a * (lambda * t) + plan.apply(&w) * t
        };
        let h = 1e-5 * (1.0 + c.norm());
        let mut hess = DMatrix::zeros(nn, nn);
        for k in 0..nn {
            let mut e = DMatrix::zeros(n, n);
            e[(k / n, k % n)] = h;
            let d = (grad(&(c + &e)) - grad(&(c - &e))) / (2.0 * h);
            hess.column_mut(k).copy_from(&vec_of(&d));
        }
        let sym = (&hess + hess.transpose()) * 0.5;
        let Some(eig) = crate::decomp::symmetric_eigenvalues(&sym) else {
            return (f64::NAN, 0.0);
        };
        let min = eig.iter().copied().fold(f64::INFINITY, f64::min) / t;
        let scale = eig.iter().map(|v| v.abs()).fold(0.0, f64::max) / t;
        (min, classify(min, scale))
    }

    /// The K-layer verdicts at `C`: for each K, the smallest eigenvalue of the dense Hessian of
    /// the `continuousLinear` model (exact HVPs) at theta of the sampled critical `A_t`, and of
    /// that Hessian restricted to constant directions (`theta_k` all equal, unit norm), with
    /// the gradient norm there (how critical the sampled point is for this K).
    fn time_verdicts(&self, c: &DMatrix<f64>, lambda: f64, sigma: f64) -> Vec<Value> {
        let Some(v) = &self.verdicts else {
            return Vec::new();
        };
        let disc = if v.euler {
            Discretization::Euler
        } else {
            Discretization::Exponential
        };
        let nn = self.n() * self.n();
        let mut out = Vec::new();
        for &k in &v.ks {
            let Ok((mut model, theta)) = model_at(&self.problem, lambda, sigma, k, disc, c) else {
                out.push(json!({"K": k, "minEig": null, "verdict": 0.0}));
                continue;
            };
            let d = model.dim();
            let mut grad = vec![0.0; d];
            model.loss_grad(&theta, &mut grad);
            let gnorm = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
            let mut h = DMatrix::zeros(d, d);
            let mut e = vec![0.0; d];
            let mut col = vec![0.0; d];
            for j in 0..d {
                e[j] = 1.0;
                model.hvp(&theta, &e, &mut col);
                e[j] = 0.0;
                h.column_mut(j).copy_from_slice(&col);
            }
            model.end_queries();
            let sym = (&h + h.transpose()) * 0.5;
            let mut hc = DMatrix::<f64>::zeros(nn, nn);
            for a in 0..k {
                for b in 0..k {
                    hc += sym.view((a * nn, b * nn), (nn, nn));
                }
            }
            hc /= k as f64;
            // (NaN, NaN) when the eigenvalues do not converge: minEig null, verdict 0
            let min_scale = |m: &DMatrix<f64>| {
                crate::decomp::symmetric_eigenvalues(m).map_or((f64::NAN, f64::NAN), |e| {
                    (e.min(), e.iter().map(|x| x.abs()).fold(0.0, f64::max))
                })
            };
            let (min, scale) = min_scale(&sym);
            let (minc, scalec) = min_scale(&hc);
            out.push(json!({
                "K": k, "minEig": finite_or_null(min), "verdict": classify(min, scale),
                "minEigConst": finite_or_null(minc), "verdictConst": classify(minc, scalec),
                "gradNorm": finite_or_null(gnorm),
            }));
        }
        out
    }

    fn push_row(&mut self, branch: usize, direction: i32, arc: f64, x: &DVector<f64>, fold: bool, verdict: Option<(f64, f64, f64, f64)>) {
        let (c, p) = self.split(x);
        let (lam, sig) = self.params(p);
        let (j, reg, data) = self.problem.cost(&c, lam, sig);
        let res = self.problem.residual(&c, lam, sig).norm();
        let mut row = vec![branch as f64, direction as f64, arc, lam, sig];
        row.extend(vec_of(&c).iter());
        let (vc, vt, mc, mt) = verdict.unwrap_or((f64::NAN, f64::NAN, f64::NAN, f64::NAN));
        row.extend([j, reg, data, res, if fold { 1.0 } else { 0.0 }, vc, vt, mc, mt]);
        for (col, v) in self.columns.iter_mut().zip(row) {
            col.push(v);
        }
    }

    /// The verdicts at a point, when this point is due (`every`, and every fold and start).
    fn verdict_at(&mut self, x: &DVector<f64>, index: usize, always: bool) -> Option<(f64, f64, f64, f64)> {
        let every = self.verdicts.as_ref()?.every;
        if !always && !index.is_multiple_of(every) {
            return None;
        }
        self.done += 1;
        let (c, p) = self.split(x);
        let (lam, sig) = self.params(p);
        let non_normal = (&c * c.transpose() - c.transpose() * &c).norm();
        let normal = non_normal <= 1e-8 * (1.0 + c.norm_squared());
        let row = self.columns[0].len();
        let time = self.time_verdicts(&c, lam, sig);
        let last = time.last().cloned().unwrap_or(Value::Null);
        let get = |v: &Value, key: &str| v[key].as_f64().unwrap_or(f64::NAN);
        let (mt, vt) = (get(&last, "minEig"), get(&last, "verdict"));
        let (mc, vc) = if normal {
            self.constant_verdict(&c, lam, sig)
        } else {
            (get(&last, "minEigConst"), get(&last, "verdictConst"))
        };
        let vt = if vt.is_nan() { 0.0 } else { vt };
        let vc = if vc.is_nan() { 0.0 } else { vc };
        let differ = if vc != 0.0 && vt != 0.0 { json!(vc != vt) } else { Value::Null };
        self.verdict_points.push(json!({
            "row": row, "lambda": lam, "sigma": sig,
            "normal": normal, "nonNormality": non_normal,
            "constant": {"minEig": finite_or_null(mc), "verdict": vc,
                          "method": if normal { "reducedCost" } else { "kLayerRestricted" }},
            "time": time,
            "differ": differ,
        }));
        Some((vc, vt, mc, mt))
    }

    fn begin_start(&mut self) {
        let i = self.cur_start;
        let (st, field) = self.starts[i].clone();
        let n = self.n();
        let p0 = match self.s.parameter {
            Parameter::Lambda => self.s.lambda,
            Parameter::Sigma => self.s.sigma,
        };
        let mut log = BranchLog {
            start: start_json(&st),
            ok: false,
            note: None,
            start_p: p0,
            directions: Vec::new(),
        };
        let guess: std::result::Result<(DMatrix<f64>, f64), String> = match &st {
            StartSpec::Logarithm { sheet } => {
                let (_, sig) = self.params(p0);
                match logarithm_at(&self.problem.r_at(sig), *sheet as i64, &field) {
                    Ok(l) => Ok((l / self.problem.t, p0)),
                    Err(e) => Err(e.message),
                }
            }
            StartSpec::Point { c } => {
                let rows: Vec<f64> = c.iter().flatten().copied().collect();
                Ok((mat_of(&rows, n), p0))
            }
            StartSpec::LargeLambda {} => {
                let p = match self.s.parameter {
                    Parameter::Lambda => self.s.hi,
                    Parameter::Sigma => p0,
                };
                let (lam, sig) = self.params(p);
                let c = (self.problem.r_at(sig) - DMatrix::identity(n, n)) * &self.problem.sigma0 / lam;
                Ok((c, p))
            }
        };
        log.start_p = guess.as_ref().map(|g| g.1).unwrap_or(p0);
        self.start_x = None;
        match guess {
            Err(msg) => log.note = Some(msg),
            Ok((c0, p)) => match self.solve_start(&c0, p) {
                None => {
                    log.note = Some(format!(
                        "neither Newton nor the homotopy in R converged from the start's C at {} = {}",
                        self.pname(),
                        num(p)
                    ))
                }
                Some(c) if c.norm() > self.s.c_max => {
                    log.note = Some("the start's solution has |C| > cMax".into())
                }
                Some(c) => {
                    log.ok = true;
                    self.start_x = Some(Self::join(&c, p));
                }
            },
        }
        if !log.ok {
            self.notes.push(format!("{field}: {}", log.note.clone().unwrap_or_default()));
        }
        self.branches.push(log);
        if let Some(x) = self.start_x.clone() {
            let v = self.verdict_at(&x, 0, true);
            self.push_row(i, 1, 0.0, &x, false, v);
        }
    }

    fn solve_start(&self, c0: &DMatrix<f64>, p: f64) -> Option<DMatrix<f64>> {
        let (l, s) = self.params(p);
        self.problem.solve_from(c0, l, s, self.s.tol)
    }

    fn pname(&self) -> &'static str {
        match self.s.parameter {
            Parameter::Lambda => "lambda",
            Parameter::Sigma => "sigma",
        }
    }

    /// Set up direction `dir` (+1 / -1) from the start point.
    fn begin_direction(&mut self, dir: i32) -> bool {
        let Some(x) = self.start_x.clone() else {
            return false;
        };
        let Some(t) = self.start_tangent(&x) else {
            self.branches
                .last_mut()
                .expect("branch")
                .directions
                .push(DirectionLog {
                    direction: dir,
                    points: 0,
                    stop: Some(Stop::StepTooSmall),
                    folds: Vec::new(),
                    last_ds: 0.0,
                });
            return false;
        };
        let tau = if dir > 0 { t } else { -t };
        self.walk = Some(Walk {
            x,
            tau,
            ds: self.s.ds0,
            points: 0,
            arc: 0.0,
            direction: dir,
        });
        self.branches
            .last_mut()
            .expect("branch")
            .directions
            .push(DirectionLog {
                direction: dir,
                points: 0,
                stop: None,
                folds: Vec::new(),
                last_ds: self.s.ds0,
            });
        true
    }

    fn end_direction(&mut self, stop: Stop) {
        if let Some(w) = self.walk.take() {
            let d = self
                .branches
                .last_mut()
                .expect("branch")
                .directions
                .last_mut()
                .expect("direction");
            d.stop = Some(stop);
            d.points = w.points;
            d.last_ds = w.ds;
        }
    }

    /// One predictor-corrector step of the current walk.
    fn step(&mut self) {
        let Some(mut w) = self.walk.take() else {
            return;
        };
        let nn = w.x.len() - 1;
        let branch = self.cur_start;
        let xp = &w.x + &w.tau * w.ds;
        let accepted = self.correct(&xp, &w.tau).and_then(|(x, its)| {
            let (_, jx) = self.eval(&x);
            let t = self.tangent(&jx, &w.tau)?;
            (t.dot(&w.tau) >= 0.9).then_some((x, t, its))
        });
        let Some((x, t, its)) = accepted else {
            w.ds *= 0.5;
            if w.ds < self.s.ds_min {
                self.walk = Some(w);
                self.end_direction(Stop::StepTooSmall);
            } else {
                self.walk = Some(w);
            }
            return;
        };
        let p = x[nn];
        // a fold between the two points: refine and record it first
        if w.tau[nn] * t[nn] < 0.0 {
            self.done += 1;
            match self.moore_spence(&w.x, &w.tau, &x, &t) {
                Some((xf, dp, r)) if xf[nn] >= self.s.lo && xf[nn] <= self.s.hi => {
                    let arc = w.arc + (&xf - &w.x).norm() * w.direction as f64;
                    let v = self.verdict_at(&xf, 0, true);
                    let row = self.columns[0].len();
                    self.push_row(branch, w.direction, arc, &xf, true, v);
                    let (c, pf) = self.split(&xf);
                    let (lam, sig) = self.params(pf);
                    self.branches
                        .last_mut()
                        .expect("branch")
                        .directions
                        .last_mut()
                        .expect("direction")
                        .folds
                        .push(json!({"row": row, "lambda": lam, "sigma": sig,
                                     "lastUpdate": dp, "residual": r, "cNorm": c.norm()}));
                }
                Some(_) => {}
                None => self.notes.push(format!(
                    "branch {branch} direction {}: a fold between {} = {} and {} was detected but Moore-Spence did not converge",
                    w.direction,
                    self.pname(),
                    num(w.x[nn]),
                    num(p)
                )),
            }
        }
        let step_len = (&x - &w.x).norm();
        // the range: put the last point on the bound
        if p < self.s.lo || p > self.s.hi {
            let bound = if p < self.s.lo { self.s.lo } else { self.s.hi };
            let wgt = (bound - w.x[nn]) / (p - w.x[nn]);
            let guess = &w.x * (1.0 - wgt) + &x * wgt;
            let (c0, _) = self.split(&guess);
            let moved = (bound - w.x[nn]).abs() > 1e-14 * (1.0 + bound.abs());
            if let Some(c) = self.newton_fixed(&c0, bound).filter(|_| moved) {
                let xb = Self::join(&c, bound);
                w.points += 1;
                w.arc += (&xb - &w.x).norm() * w.direction as f64;
                let v = self.verdict_at(&xb, w.points, false);
                self.push_row(branch, w.direction, w.arc, &xb, false, v);
            }
            self.walk = Some(w);
            self.end_direction(Stop::Range);
            return;
        }
        w.points += 1;
        w.arc += step_len * w.direction as f64;
        let v = self.verdict_at(&x, w.points, false);
        self.push_row(branch, w.direction, w.arc, &x, false, v);
        let cnorm = self.split(&x).0.norm();
        w.x = x;
        w.tau = t;
        if its <= 3 {
            w.ds = (w.ds * 1.5).min(self.s.ds_max);
        } else if its >= 6 {
            w.ds *= 0.7;
        }
        let points = w.points;
        self.walk = Some(w);
        if cnorm > self.s.c_max {
            self.end_direction(Stop::CMax);
        } else if points >= self.s.max_points {
            self.end_direction(Stop::MaxPoints);
        }
    }

    /// One unit of work.
    fn unit(&mut self) {
        if self.finished {
            return;
        }
        if self.walk.is_some() {
            self.done += 1;
            self.step();
            return;
        }
        match self.phase {
            0 => {
                self.done += 1;
                self.begin_start();
                self.phase = 1;
                if self.start_x.is_none() {
                    let b = self.branches.last_mut().expect("branch");
                    for d in [1, -1] {
                        b.directions.push(DirectionLog {
                            direction: d,
                            points: 0,
                            stop: Some(Stop::StartFailed),
                            folds: Vec::new(),
                            last_ds: 0.0,
                        });
                    }
                    self.next_start();
                }
            }
            1 => {
                self.phase = 2;
                self.begin_direction(1);
            }
            _ => {
                if self.branches.last().map(|b| b.directions.len()).unwrap_or(0) < 2 {
                    self.begin_direction(-1);
                } else {
                    self.next_start();
                }
            }
        }
    }

    fn next_start(&mut self) {
        self.cur_start += 1;
        self.phase = 0;
        self.start_x = None;
        if self.cur_start >= self.starts.len() {
            self.finished = true;
        }
    }
}

fn classify(min: f64, scale: f64) -> f64 {
    let tol = 1e-7 * scale.max(1e-12);
    if !min.is_finite() {
        0.0
    } else if min > tol {
        1.0
    } else if min < -tol {
        -1.0
    } else {
        0.0
    }
}

fn finite_or_null(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

fn start_json(s: &StartSpec) -> Value {
    match s {
        StartSpec::Logarithm { sheet } => json!({"kind": "logarithm", "sheet": sheet}),
        StartSpec::Point { c } => json!({"kind": "point", "C": c}),
        StartSpec::LargeLambda {} => json!({"kind": "largeLambda"}),
    }
}

impl StudyKind for Continuation {
    fn total(&self) -> u64 {
        // an upper bound, exact once finished
        if self.finished {
            return self.done;
        }
        let left = (self.starts.len() - self.cur_start.min(self.starts.len())) as u64;
        let per = 2 * self.s.max_points as u64 + 3;
        self.done + left * per
    }

    fn done(&self) -> u64 {
        self.done
    }

    fn finished(&self) -> bool {
        self.finished
    }

    fn advance(&mut self, max_units: u64) -> Result<()> {
        let target = self.done.saturating_add(max_units);
        while !self.finished && self.done < target {
            self.unit();
        }
        Ok(())
    }

    fn column_names(&self) -> &[String] {
        &self.names
    }

    fn column(&self, index: usize) -> &[f64] {
        &self.columns[index]
    }

    fn result(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("parameter".into(), json!(self.pname()));
        out.insert("n".into(), json!(self.n()));
        let branches: Vec<Value> = self
            .branches
            .iter()
            .enumerate()
            .map(|(i, b)| {
                json!({
                    "branch": i,
                    "start": b.start,
                    "startSolved": b.ok,
                    "startParameter": b.start_p,
                    "note": b.note,
                    "directions": b.directions.iter().map(|d| json!({
                        "direction": d.direction,
                        "points": d.points,
                        "stop": d.stop.map(|s| s.name()),
                        "lastStep": d.last_ds,
                        "folds": d.folds,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let folds: Vec<Value> = self
            .branches
            .iter()
            .enumerate()
            .flat_map(|(i, b)| {
                b.directions.iter().flat_map(move |d| {
                    d.folds.iter().map(move |f| {
                        let mut f = f.clone();
                        f["branch"] = json!(i);
                        f["direction"] = json!(d.direction);
                        f
                    })
                })
            })
            .collect();
        out.insert("branches".into(), Value::Array(branches));
        out.insert("folds".into(), Value::Array(folds));
        out.insert(
            "verdicts".into(),
            match &self.verdicts {
                None => Value::Null,
                Some(v) => json!({
                    "K": v.ks, "discretization": if v.euler { "euler" } else { "exponential" },
                    "every": v.every, "points": self.verdict_points,
                }),
            },
        );
        out.insert("notes".into(), json!(self.notes));
        out
    }
}
