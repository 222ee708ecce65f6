//! Taghvaei, Kim & Mehta, "How regularization affects the critical points in linear networks"
//! (NIPS 2017): Example 1 (R = rotation by pi/2, the branches C(lambda; n) of Figure 1), Example 2
//! (R(sigma) = [[0, -1], [1, sigma]], Figure 2) and the learning rule (backprop with weight decay)
//! on Example 1. The formulas, checked, are in ../shared/REFERENCE.md section 2; the guide is
//! docs/taghvaei.md.
//!
//! Example 1 and 2 are `continuation` studies (one per branch; docs/continuation.md); Example 2
//! adds two runs of the `continuousLinear` family at its critical point and at the constant
//! log(R) (their regularization cost and A_t over t); the learning preset is runs only.
//!
//! Marks. The paper prints no numbers for Figure 1, so its claims are checked as statements
//! (orderings, limits, verdicts), each on the columns the continuation computed. Its min/saddle
//! labels are verdicts among weights constant in t (it does no second-order analysis): each is
//! checked in that sense, and the time-varying verdict (the Hessian of the K-layer network, the
//! largest K of the study) is a second check carrying a `finding`: where it differs, the row is
//! marked "finding: holds only among constant weights ...", not agrees. The theory values used
//! as bounds (C(0; n), the first-order term of Theorem 2, the cost of the constant log(R)) are
//! computed here from the problem, never from a study or a run.

use std::f64::consts::{FRAC_PI_2, PI};

use serde_json::{json, Value};

use super::Preset;

pub(super) const PRESETS: &[Preset] = &[
    Preset {
        name: "taghvaeiExample1",
        description:
            "Taghvaei, Kim & Mehta (2017) Example 1 / Figure 1: R = rotation by pi/2; the \
                      branches C(lambda; n), n = 0, +-1, +-2, of the characteristic equation \
                      continued in lambda from the matrix logarithms, their turning points, and \
                      each point's verdict among constant and among time-varying weights",
        build: example1,
    },
    Preset {
        name: "taghvaeiExample2",
        description:
            "Taghvaei, Kim & Mehta (2017) Example 2 / Figure 2: R(sigma) = [[0,-1],[1,sigma]] \
                      continued in sigma at lambda = 0 from (pi/2) J to sigma = pi/2, then in \
                      lambda; the regularization cost of the constant log(R) (the paper's 3.76) \
                      beside the non-constant critical point's, and A_t over t",
        build: example2,
    },
    Preset {
        name: "taghvaeiLearning",
        description: "Taghvaei, Kim & Mehta (2017) learning rule (backprop with weight decay) on \
                      Example 1 at lambda = 0.03: 6 random small inits (K = 16 exponential layers) \
                      -- which critical point they reach, the linear rate against the Hessian's \
                      eigenvalues at the limit -- and Euler layers K = 4..64: the O(h) bias",
        build: learning,
    },
];

/// Example 1's branches, in study order: the sheet n of C(0; n) = (pi/2 + 2 n pi) J.
pub const EX1_SHEETS: [i64; 5] = [0, 1, -1, 2, -2];
/// Largest lambda of the continuation (every n != 0 branch turns below 0.15).
pub const EX1_LAMBDA_MAX: f64 = 1.0;
/// |C|_F at which a branch is said to have run off to infinity (a ~ -21 on n = +-1, -18 on
/// n = 2: c21 is then within about |limit / a| of its limit).
pub const EX1_C_MAX: f64 = 30.0;
/// The verdicts' K (the time-varying verdict is the largest).
pub const EX1_KS: [usize; 6] = [1, 2, 4, 8, 16, 32];
/// Rows with lambda below this are left out of the verdict checks (at lambda = 0 every solution
/// is a degenerate global minimum).
const LAMBDA_LO: f64 = 1e-3;
/// Lambdas at which the principal branch's cost is compared with the others' (below every fold).
const EX1_COMPARE: [f64; 2] = [0.01, 0.03];
/// Lambda at which Theorem 2's first-order expansion is checked.
const THEOREM2_LAMBDA: f64 = 1e-3;

/// Example 2's sigma at which the paper's non-constant critical point is found.
pub const EX2_SIGMA: f64 = FRAC_PI_2;
/// Layers of Example 2's runs (A_t over t, the regularization costs).
pub const EX2_K: usize = 64;
/// Largest lambda of Example 2's continuation in lambda.
const EX2_LAMBDA_MAX: f64 = 1.0;
/// Lambdas at which Example 2's branch cost is compared with the constant log(R)'s.
const EX2_COMPARE: [f64; 3] = [0.05, 0.2, 0.5];

/// The learning preset's lambda (below every fold of Example 1, so C(lambda; n) exists for all
/// five sheets).
pub const LEARN_LAMBDA: f64 = 0.03;
/// Its step size (eta lambda_max < 1 at the limit, so 1 - eta lambda_min is the slowest mode).
pub const LEARN_ETA: f64 = 0.8;
/// Its steps.
pub const LEARN_STEPS: u64 = 2500;
/// Layers of the seeded runs.
pub const LEARN_K: usize = 16;
/// Seeds of the small random initializations.
pub const LEARN_SEEDS: [u64; 6] = [1, 2, 3, 4, 5, 6];
/// Euler layer counts (the O(h) bias).
pub const LEARN_EULER_K: [usize; 5] = [4, 8, 16, 32, 64];
/// The window of the rate fit (the gradient norm goes from ~1e-6 to ~1e-13 there, then sits at
/// rounding, ~1e-15, from about step 2000).
const RATE_FROM: u64 = 300;
const RATE_TO: u64 = 1500;

/// R = rotation by pi/2.
fn rotation() -> Value {
    json!([[0.0, -1.0], [1.0, 0.0]])
}

/// b J with J = [[0, -1], [1, 0]].
fn bj(b: f64) -> Value {
    json!([[0.0, -b], [b, 0.0]])
}

/// The angle b of C(0; n) = b J.
pub fn ex1_b0(n: i64) -> f64 {
    FRAC_PI_2 + 2.0 * PI * n as f64
}

/// The limit of c21 along the far half of branch n as lambda -> 0: pi/2 + (2n - 1) pi for n > 0,
/// pi/2 + (2n + 1) pi for n < 0 (REFERENCE.md section 2).
pub fn ex1_far_limit(n: i64) -> f64 {
    let m = if n > 0 { 2 * n - 1 } else { 2 * n + 1 };
    FRAC_PI_2 + PI * m as f64
}

/// The paper's limit, pi/2 + (2n - 1) pi, for every n != 0.
pub fn ex1_far_limit_paper(n: i64) -> f64 {
    FRAC_PI_2 + PI * (2 * n - 1) as f64
}

/// The principal logarithm of R(sigma) = [[0, -1], [1, sigma]], |sigma| < 2: R has the
/// eigenvalues e^{+-i theta}, cos theta = sigma / 2, so R = cos(theta) I + sin(theta) N with
/// N^2 = -I and log R = theta N = theta / sin(theta) (R - cos(theta) I). Row-major.
pub fn ex2_log_r(sigma: f64) -> [[f64; 2]; 2] {
    let theta = (sigma / 2.0).acos();
    let k = theta / theta.sin();
    let c = theta.cos();
    [[-k * c, -k], [k, k * (sigma - c)]]
}

/// int_0^T tr(A^T A) dt of the constant A = log(R) / T: |log R|_F^2 / T.
pub fn ex2_constant_cost(sigma: f64, t: f64) -> f64 {
    let l = ex2_log_r(sigma);
    l.iter().flatten().map(|x| x * x).sum::<f64>() / t
}

/// The paper's critical point at sigma = pi/2, lambda = 0 (T = 1): C = [[0, 0], [pi/2, 0]],
/// Omega = (pi/4) J, e^{2 Omega} e^{C^T} = [[0, -1], [1, 1]] [[1, pi/2], [0, 1]] = R(pi/2).
pub fn ex2_critical_c() -> [[f64; 2]; 2] {
    [[0.0, 0.0], [FRAC_PI_2, 0.0]]
}

/// A column of study `i` reduced over the rows matching `where`.
fn sc(i: usize, column: &str, reduce: &str, w: Value) -> Value {
    json!({"study": i, "column": column, "reduce": reduce, "where": w})
}

/// A column of study `i` interpolated at `x = value`, its first or last crossing along the rows.
fn sat(i: usize, column: &str, x: &str, value: f64, occurrence: &str, w: Value) -> Value {
    json!({"study": i, "column": column, "reduce": "at", "x": x, "value": value,
           "occurrence": occurrence, "where": w})
}

fn sfield(i: usize, field: &str) -> Value {
    json!({"study": i, "field": field})
}

fn rc(run: usize, column: &str, reduce: &str) -> Value {
    json!({"run": run, "column": column, "reduce": reduce})
}

fn fmt(x: f64) -> String {
    format!("{}", (x * 1e4).round() / 1e4)
}

/// The continuation of Example 1's branch from C(0; n) in lambda, with verdicts at every point.
fn ex1_study(n: i64) -> Value {
    json!({
        "kind": "continuation",
        "problem": {"n": 2, "T": 1.0, "R": rotation()},
        "parameter": "lambda",
        "lambda": 0.0,
        "range": [0.0, EX1_LAMBDA_MAX],
        "starts": [{"kind": "logarithm", "sheet": n}],
        "step": {"initial": 0.01, "min": 1e-9, "max": 0.1},
        "maxPoints": 2000,
        "cMax": EX1_C_MAX,
        "tol": 1e-11,
        "verdicts": {"K": EX1_KS, "discretization": "exponential", "every": 1}
    })
}

fn example1() -> Value {
    let studies: Vec<Value> = EX1_SHEETS
        .iter()
        .map(|&n| {
            let label = if n == 0 {
                "n = 0 (principal)".to_string()
            } else {
                format!("n = {n}")
            };
            json!({"label": label, "spec": ex1_study(n)})
        })
        .collect();
    let idx = |n: i64| EX1_SHEETS.iter().position(|&m| m == n).unwrap();
    // The continued direction (+lambda from the start, through the fold and back), past lambda = 0.
    let on_branch = || json!({"direction": 1, "lambda": {"ge": LAMBDA_LO}});
    let dir1 = || json!({"direction": 1});
    let fold_lambda = |n: i64| sfield(idx(n), "folds.0.lambda");
    let kmax = EX1_KS[EX1_KS.len() - 1];

    // (0) the starts.
    let mut c_starts = Vec::new();
    for &n in &EX1_SHEETS {
        let i = idx(n);
        c_starts.push(json!({"kind": "near", "of": sc(i, "c21", "first", dir1()), "to": ex1_b0(n), "absTol": 1e-9}));
        c_starts.push(json!({"kind": "near", "of": sc(i, "c12", "first", dir1()), "to": -ex1_b0(n), "absTol": 1e-9}));
        c_starts.push(
            json!({"kind": "near", "of": sc(i, "c11", "first", dir1()), "to": 0.0, "absTol": 1e-9}),
        );
        c_starts.push(
            json!({"kind": "atMost", "of": sc(i, "residual", "max", json!({})), "bound": 1e-9}),
        );
    }
    // Theorem 2: C(lambda; n) = C(0; n) (1 - lambda) + O(lambda^2) (R R^T = I, T = 1).
    let mut c_thm2 = Vec::new();
    for &n in &EX1_SHEETS {
        let i = idx(n);
        let b0 = ex1_b0(n);
        let l = THEOREM2_LAMBDA;
        let tol = 0.05 * l * b0.abs();
        c_thm2.push(json!({"kind": "near", "of": sat(i, "c21", "lambda", l, "first", dir1()), "to": b0 * (1.0 - l), "absTol": tol}));
        c_thm2.push(json!({"kind": "near", "of": sat(i, "c11", "lambda", l, "first", dir1()), "to": 0.0, "absTol": tol}));
    }
    // (i) the turning points.
    let mut c_folds = Vec::new();
    for &n in &[1i64, -1, 2, -2] {
        c_folds.push(
            json!({"kind": "requires", "of": sc(idx(n), "fold", "max", json!({})), "atLeast": 1,
                            "why": format!("branch n = {n} has a refined fold")}),
        );
    }
    for &far in &[2i64, -2] {
        for &near in &[1i64, -1] {
            c_folds.push(
                json!({"kind": "atMost", "of": fold_lambda(far), "bound": fold_lambda(near)}),
            );
        }
    }
    c_folds.push(json!({"kind": "atMost", "of": sc(idx(0), "fold", "max", json!({})), "bound": 0}));
    c_folds.push(json!({"kind": "show", "of": fold_lambda(-1)}));
    c_folds.push(json!({"kind": "show", "of": fold_lambda(1)}));
    c_folds.push(json!({"kind": "show", "of": fold_lambda(-2)}));
    c_folds.push(json!({"kind": "show", "of": fold_lambda(2)}));
    // (i) two solutions below the fold: a local minimum (the near one) and a saddle (the far one).
    let mut c_minsad = Vec::new();
    for &n in &[1i64, -1, 2, -2] {
        let i = idx(n);
        c_minsad.push(
            json!({"kind": "requires", "of": sc(i, "fold", "max", json!({})), "atLeast": 1,
                             "why": format!("branch n = {n} turns")}),
        );
        c_minsad.push(json!({"kind": "equals", "of": sc(i, "verdictConst", "first", on_branch()), "value": 1}));
        c_minsad.push(json!({"kind": "equals", "of": sc(i, "verdictConst", "last", on_branch()), "value": -1}));
    }
    for &n in &[1i64, -1, 2, -2] {
        c_minsad.push(json!({"kind": "equals", "of": sc(idx(n), "verdictTime", "max", on_branch()), "value": 1,
                             "finding": format!("holds only among constant weights (the paper's sense): among time-varying weights (K = {kmax}) both solutions are saddles")}));
    }
    for &n in &[1i64, -1, 2, -2] {
        c_minsad.push(json!({"kind": "show", "of": sc(idx(n), "minEigTime", "max", on_branch())}));
    }
    // (iii) the far solution runs off to infinity, cost -> 1.
    let mut c_far = Vec::new();
    for &n in &[1i64, -1, 2, -2] {
        let i = idx(n);
        c_far.push(json!({"kind": "equals", "of": sfield(i, "branches.0.directions.0.stop"), "value": "cMax"}));
        c_far.push(json!({"kind": "atMost", "of": sc(i, "lambda", "last", dir1()), "bound": 1e-3}));
        c_far.push(
            json!({"kind": "near", "of": sc(i, "J", "last", dir1()), "to": 1.0, "absTol": 0.01}),
        );
    }
    // (iii) the limit of c21, the paper's formula and the corrected one.
    let mut c_lim_pos = Vec::new();
    let mut c_lim_neg = Vec::new();
    let mut c_lim_ref = Vec::new();
    for &n in &[1i64, 2] {
        c_lim_pos.push(json!({"kind": "near", "of": sc(idx(n), "c21", "last", dir1()), "to": ex1_far_limit_paper(n), "absTol": 1.0}));
    }
    for &n in &[-1i64, -2] {
        c_lim_neg.push(json!({"kind": "near", "of": sc(idx(n), "c21", "last", dir1()), "to": ex1_far_limit_paper(n), "absTol": 1.0}));
        c_lim_ref.push(json!({"kind": "near", "of": sc(idx(n), "c21", "last", dir1()), "to": ex1_far_limit(n), "absTol": 1.0}));
    }
    // (iv) the principal branch has the lowest cost, at every lambda compared.
    let mut c_lowest = Vec::new();
    for &l in &EX1_COMPARE {
        for &n in &[1i64, -1, 2, -2] {
            for occ in ["first", "last"] {
                c_lowest.push(
                    json!({"kind": "atMost", "of": sat(idx(0), "J", "lambda", l, "first", dir1()),
                                     "bound": sat(idx(n), "J", "lambda", l, occ, dir1())}),
                );
            }
        }
    }
    // Not in the paper: the principal branch is a minimum in both senses.
    let c_principal = json!([
        {"kind": "equals", "of": sc(0, "verdictConst", "min", on_branch()), "value": 1},
        {"kind": "equals", "of": sc(0, "verdictTime", "min", on_branch()), "value": 1},
        {"kind": "show", "of": sc(0, "minEigTime", "min", on_branch())}
    ]);

    let reference = json!([
        {"claim": "at lambda = 0 the normal solutions are the matrix logarithms C(0; n) = (pi/2 + 2 n pi) J, e^{C(0;n)} = R",
         "paper": "Example 1: \"It is easy to verify that e^{C(0;n)} = R\"",
         "check": "each branch's first point (Newton from the logarithm of sheet n): c21 = pi/2 + 2 n pi, c12 = -c21, c11 = 0 within 1e-9; the residual of the characteristic equation <= 1e-9 at every point of every branch",
         "checks": c_starts},
        {"claim": "Theorem 2 (R normal, Sigma0 = I): C(lambda) = log(R)/T - (lambda/T^2) (R R^T)^{-1} log(R) + O(lambda^2), here C(0; n) (1 - lambda)",
         "paper": "Theorem 2 (its proof is in the supplement)",
         "check": format!("on every branch at lambda = {THEOREM2_LAMBDA} (interpolated between points): c21 within 5% of lambda |b_n| of b_n (1 - lambda) and c11 within the same of 0 (the first-order term explains the change; the rest is O(lambda^2))"),
         "checks": c_thm2},
        {"claim": "(i)-(ii) each branch n != 0 turns at lambda_n, and lambda_n decreases as |n| grows; the principal branch does not turn",
         "paper": "Example 1 (i)-(ii), Figure 1(a) (no values printed)",
         "check": "the refined folds (the study's `folds`): lambda_{+-2} <= lambda_{+-1} for each pair of signs; no fold on n = 0 within lambda <= 1; the four values shown (lambda_{-n} > lambda_n: the folds order by |pi/2 + 2 n pi|, not by |n|)",
         "checks": c_folds},
        {"claim": "(i) for each n != 0 there are two solutions on (0, lambda_n): a local minimum and a saddle point",
         "paper": "Example 1 (i); Figure 1 (the paper does no second-order analysis: its labels are perturbations constant in t)",
         "check": format!("along each branch from lambda = {LAMBDA_LO}: the verdict among constant weights (the reduced cost J(C)) is +1 (minimum) at the first point (the near solution) and -1 (saddle) at the last (the far solution); among time-varying weights (the full Hessian of the K = {kmax} exponential-layer network) some point must be a minimum for the claim to hold in that sense too; the largest minEigTime per branch shown"),
         "checks": c_minsad},
        {"claim": "(iii) as lambda -> 0 the saddle solution escapes to infinity and its cost J -> 1 (the global minimum's is 0)",
         "paper": "Example 1 (iii)",
         "check": format!("each n != 0 branch, continued through its fold: stops because |C|_F > {EX1_C_MAX} (the study's stop reason), at lambda <= 1e-3, with J within 0.01 of 1 (a ~ log lambda: the approach is logarithmically slow)"),
         "checks": c_far},
        {"claim": "(iii) for n > 0: the saddle's C(lambda; n) -> (pi/2 + (2n - 1) pi) J in its J part (c21), with a -> -infinity",
         "paper": "Example 1 (iii)",
         "check": format!("c21 at the last point (|C|_F = {EX1_C_MAX}) within 1 of the limit (neighbouring limits are 2 pi apart; the approach is like |limit / a|)"),
         "checks": c_lim_pos},
        {"claim": "(iii) the same formula for n < 0: c21 -> pi/2 + (2n - 1) pi",
         "paper": "Example 1 (iii) states it for every n != 0",
         "check": "c21 at the last point of n = -1, -2 within 1 of pi/2 + (2n - 1) pi (the next row checks the corrected limit pi/2 + (2n + 1) pi, REFERENCE.md section 2)",
         "checks": c_lim_neg},
        {"claim": "for n < 0 the limit is pi/2 + (2n + 1) pi",
         "paper": "not in the paper: REFERENCE.md section 2 (the paper's formula is right for n > 0 only)",
         "check": "c21 at the last point of n = -1, -2 within 1 of pi/2 + (2n + 1) pi",
         "checks": c_lim_ref},
        {"claim": "(iv) among the branches computed, the principal branch C(lambda; 0) has the lowest cost",
         "paper": "Example 1 (iv), Figure 1(b)",
         "check": format!("at lambda = {} and {} (below every fold): J of the principal branch <= J of both solutions of every other branch (interpolated at that lambda: the first crossing is the near solution, the last the far one)", EX1_COMPARE[0], EX1_COMPARE[1]),
         "checks": c_lowest},
        {"claim": "the principal branch is a local minimum among constant and among time-varying weights",
         "paper": "not in the paper (no second-order analysis); Figure 1 calls it the minimum-cost branch",
         "check": format!("the constant-weight and the K = {kmax} time-varying verdicts are +1 at every point from lambda = {LAMBDA_LO}; the smallest eigenvalue shown"),
         "checks": c_principal}
    ]);

    let labels = json!({"verdictConst": {"1": "const min", "-1": "const saddle", "0": "const degenerate"},
                        "verdictTime": {"1": "time min", "-1": "time saddle", "0": "time degenerate"}});
    json!({
        "runs": [],
        "plots": [
            {"kind": "studyLines", "title": "(a) C21 against lambda (Figure 1a), split by the verdicts (constant / time-varying weights)",
             "x": "lambda", "y": "c21", "xTitle": "lambda", "yTitle": "C21",
             "split": ["verdictConst", "verdictTime"], "labels": labels},
            {"kind": "studyLines", "title": "(b) the cost J against lambda (Figure 1b)",
             "x": "lambda", "y": "J", "xTitle": "lambda", "yTitle": "J"},
            {"kind": "studyLines", "title": format!("(c) smallest Hessian eigenvalue, time-varying weights (K = {kmax}), against lambda"),
             "x": "lambda", "y": "minEigTime", "xTitle": "lambda", "yTitle": "lambda_min"}
        ],
        "studies": studies,
        "studyTable": [
            {"title": "fold lambda", "of": {"field": "folds.0.lambda"}},
            {"title": "largest lambda", "of": {"column": "lambda", "reduce": "max"}},
            {"title": "end (why)", "of": {"field": "branches.0.directions.0.stop"}},
            {"title": "J at the end", "of": {"column": "J", "reduce": "last"}},
            {"title": "c11 at the end", "of": {"column": "c11", "reduce": "last"}},
            {"title": "c21 at the end", "of": {"column": "c21", "reduce": "last"}},
            {"title": "largest residual", "of": {"column": "residual", "reduce": "max"}},
            {"title": "min eig (time, smallest)", "of": {"column": "minEigTime", "reduce": "min"}},
            {"title": "min eig (time, largest)", "of": {"column": "minEigTime", "reduce": "max"}}
        ],
        "reference": reference
    })
}

/// A run of the continuous-linear family on R(sigma) with A_k the critical A_t of C (or the
/// constant C), steps 0: its step-0 row has the costs of that A.
fn ex2_run(init: Value, lambda: f64, critical: Option<Value>) -> Value {
    let mut spec = json!({
        "model": {"kind": "continuousLinear", "n": 2, "K": EX2_K, "T": 1.0, "lambda": lambda,
                  "discretization": "exponential"},
        "data": {"kind": "population", "R": [[0.0, -1.0], [1.0, 0.0]], "dR": [[0.0, 0.0], [0.0, 1.0]], "sigma": EX2_SIGMA},
        "init": init,
        "schedule": {"kind": "constant", "eta": 0.01},
        "steps": 0,
        "recordEvery": 1
    });
    if let Some(c) = critical {
        spec["critical"] = c;
    }
    spec
}

fn example2() -> Value {
    let s = EX2_SIGMA;
    let c_star = ex2_critical_c();
    let log_r = ex2_log_r(s);
    let constant_cost = ex2_constant_cost(s, 1.0);
    let critical_cost: f64 = c_star.iter().flatten().map(|x| x * x).sum();
    let problem = json!({"n": 2, "T": 1.0, "R": rotation(), "dR": [[0.0, 0.0], [0.0, 1.0]]});
    let in_sigma = json!({
        "kind": "continuation", "problem": problem, "parameter": "sigma", "lambda": 0.0,
        "sigma": 0.0, "range": [0.0, s],
        "starts": [{"kind": "point", "C": bj(FRAC_PI_2)}],
        "step": {"initial": 0.01, "min": 1e-9, "max": 0.05}, "maxPoints": 2000, "tol": 1e-11
    });
    let in_lambda = json!({
        "kind": "continuation", "problem": problem, "parameter": "lambda", "lambda": 0.0,
        "sigma": s, "range": [0.0, EX2_LAMBDA_MAX],
        "starts": [{"kind": "point", "C": c_star}],
        "step": {"initial": 0.01, "min": 1e-9, "max": 0.05}, "maxPoints": 2000, "tol": 1e-11,
        "verdicts": {"K": [1, 4, 16, 32], "discretization": "exponential", "every": 4}
    });
    // Runs at lambda = 1: reg = (lambda / 2) int tr(A^T A) dt, so 2 reg is the paper's integral.
    let runs = json!([
        {"label": "constant A = log(R(pi/2)) / T", "spec": ex2_run(json!({"kind": "constant", "C": log_r}), 1.0, None)},
        {"label": "A_t = e^{2t Omega} C e^{-2t Omega}, C = [[0, 0], [pi/2, 0]]",
         "spec": ex2_run(json!({"kind": "critical", "C": c_star}), 1.0, Some(json!({"C": [c_star]})))}
    ]);
    let at_end = json!({"direction": 1, "sigma": {"ge": s - 1e-12}});
    let target = [c_star[0][0], c_star[0][1], c_star[1][0], c_star[1][1]];
    let mut c_found: Vec<Value> = ["c11", "c12", "c21", "c22"]
        .iter()
        .zip(target)
        .map(|(c, v)| json!({"kind": "near", "of": sc(0, c, "last", at_end.clone()), "to": v, "absTol": 1e-8}))
        .collect();
    c_found
        .push(json!({"kind": "atMost", "of": sc(0, "residual", "max", json!({})), "bound": 1e-9}));
    let mut c_lower = Vec::new();
    for &l in &EX2_COMPARE {
        c_lower.push(json!({"kind": "atMost", "of": sat(1, "J", "lambda", l, "first", json!({"direction": 1})),
                            "bound": l * constant_cost / 2.0}));
    }
    let reference = json!([
        {"claim": "continued in sigma at lambda = 0 from C = (pi/2) J, the solution at sigma = pi/2 is C = [[0, 0], [pi/2, 0]]",
         "paper": "Example 2, Figure 2(a): \"the solution C = ... is found for R = [[0, -1], [1, pi/2]]\"",
         "check": "study 0's point at sigma = pi/2: each entry of C within 1e-8 of [[0, 0], [pi/2, 0]] (e^{2 Omega} e^{C^T} = R(pi/2) exactly); the residual <= 1e-9 at every point",
         "checks": c_found},
        {"claim": "the critical point A_t = e^{2t Omega} C e^{-2t Omega} is not constant in t",
         "paper": "Example 2 (and Remark 2: for non-normal R every critical point at lambda > 0 is non-constant)",
         "check": format!("run 1 ({EX2_K} layers at the critical A_t): its L2 distance to the nearest constant weight (spread; 0.8565 in closed form at K = 64) >= 0.5, and |A_0 A_0^T - A_0^T A_0|_F > 1 (C is not normal)"),
         "checks": [
            {"kind": "atLeast", "of": rc(1, "spread", "first"), "bound": 0.5},
            {"kind": "atLeast", "of": rc(1, "nonNormality", "first"), "bound": 1.0},
            {"kind": "show", "of": rc(1, "critDist", "first")}
         ]},
        {"claim": "the regularization cost of the constant solution log(R)/T is int_0^1 tr(log(R)^T log(R)) dt = 3.76",
         "paper": "Example 2: 3.76",
         "check": format!("run 0 (A_k = log R for all {EX2_K} layers, lambda = 1): 2 reg = int tr(A^T A) dt within 0.005 of 3.76 (the printed digits); its data term ~0 (e^{{log R}} = R: it is a logarithm)"),
         "checks": [
            {"kind": "near", "of": {"run": 0, "column": "reg", "reduce": "first", "scale": 2.0}, "to": 3.76, "absTol": 0.005},
            {"kind": "atMost", "of": rc(0, "data", "first"), "bound": 1e-20}
         ]},
        {"claim": "the non-constant critical point is strictly cheaper: int tr(A_t^T A_t) dt = tr(C^T C) = pi^2/4 < 3.76",
         "paper": "Example 2: \"strictly smaller than the constant log(R)/T solution\"",
         "check": format!("run 1: 2 reg within 1e-9 of pi^2/4 = {} (|A_t| = |C| for every t) and below run 0's; its data term (O(h^2) from {EX2_K} piecewise-constant layers) shown", fmt(critical_cost)),
         "checks": [
            {"kind": "near", "of": {"run": 1, "column": "reg", "reduce": "first", "scale": 2.0}, "to": critical_cost, "relTol": 1e-9},
            {"kind": "atMost", "of": {"run": 1, "column": "reg", "reduce": "first", "scale": 2.0}, "bound": {"run": 0, "column": "reg", "reduce": "first", "scale": 2.0}},
            {"kind": "show", "of": rc(1, "data", "first")}
         ]},
        {"claim": "continued in lambda at sigma = pi/2, the branch is a minimum and costs less than the constant log(R)/T (which is not a critical point for lambda > 0)",
         "paper": "Example 2, Figure 2(b): the cost of the critical point (minimum) and of the constant log(R)/T",
         "check": format!("study 1: J at lambda = {}, {}, {} below lambda |log R|_F^2 / 2 (the constant's cost: its data term is 0); the time-varying verdict (K = 32) +1 from lambda = {LAMBDA_LO}; the smallest eigenvalue shown", EX2_COMPARE[0], EX2_COMPARE[1], EX2_COMPARE[2]),
         "checks": c_lower.into_iter().chain([
            json!({"kind": "equals", "of": sc(1, "verdictTime", "min", json!({"direction": 1, "lambda": {"ge": LAMBDA_LO}})), "value": 1}),
            json!({"kind": "show", "of": sc(1, "minEigTime", "min", json!({"direction": 1, "lambda": {"ge": LAMBDA_LO}}))})
         ]).collect::<Vec<_>>()}
    ]);
    // The constant log(R)'s cost against lambda, drawn beside the branch.
    let xs: Vec<f64> = (0..=20).map(|i| EX2_LAMBDA_MAX * i as f64 / 20.0).collect();
    let ys: Vec<f64> = xs.iter().map(|l| l * constant_cost / 2.0).collect();
    json!({
        "runs": runs,
        "plots": [
            {"kind": "studyLines", "title": "(a) C against sigma at lambda = 0 (Figure 2a): c12", "studies": [0],
             "x": "sigma", "y": "c12", "xTitle": "sigma", "yTitle": "C12"},
            {"kind": "studyLines", "title": "(a) c11", "studies": [0], "x": "sigma", "y": "c11", "xTitle": "sigma", "yTitle": "C11"},
            {"kind": "studyLines", "title": "(a) c22", "studies": [0], "x": "sigma", "y": "c22", "xTitle": "sigma", "yTitle": "C22"},
            {"kind": "studyLines", "title": "(b) the cost J against lambda at sigma = pi/2 (Figure 2b)", "studies": [1],
             "x": "lambda", "y": "J", "xTitle": "lambda", "yTitle": "J",
             "theory": [{"label": "constant log(R)/T (not a critical point)", "x": xs, "y": ys}]},
            {"kind": "layers", "title": "A_t over t at sigma = pi/2, lambda = 0 (the critical point)", "run": 1,
             "param": "theta", "n": 2, "T": 1.0, "scale": (EX2_K as f64).sqrt()}
        ],
        "studies": [
            {"label": "in sigma at lambda = 0, from (pi/2) J", "spec": in_sigma},
            {"label": "in lambda at sigma = pi/2, from [[0, 0], [pi/2, 0]]", "spec": in_lambda}
        ],
        "studyTable": [
            {"title": "points", "of": {"field": "branches.0.directions.0.points"}},
            {"title": "end (why)", "of": {"field": "branches.0.directions.0.stop"}},
            {"title": "c11 at the end", "of": {"column": "c11", "reduce": "last"}},
            {"title": "c12 at the end", "of": {"column": "c12", "reduce": "last"}},
            {"title": "c21 at the end", "of": {"column": "c21", "reduce": "last"}},
            {"title": "c22 at the end", "of": {"column": "c22", "reduce": "last"}},
            {"title": "J at the end", "of": {"column": "J", "reduce": "last"}},
            {"title": "largest residual", "of": {"column": "residual", "reduce": "max"}}
        ],
        "reference": reference
    })
}

/// One learning run on Example 1 at LEARN_LAMBDA.
fn learn_run(k: usize, discretization: &str, seed: u64) -> Value {
    json!({
        "model": {"kind": "continuousLinear", "n": 2, "K": k, "T": 1.0, "lambda": LEARN_LAMBDA,
                  "discretization": discretization},
        "data": {"kind": "population", "R": rotation()},
        "init": {"kind": "gaussian", "std": 0.01, "seed": seed},
        "critical": {"C": EX1_SHEETS.iter().map(|&n| bj(ex1_b0(n))).collect::<Vec<_>>()},
        "schedule": {"kind": "constant", "eta": LEARN_ETA},
        "steps": LEARN_STEPS,
        "recordEvery": 10
    })
}

fn learning() -> Value {
    let mut runs = Vec::new();
    for &s in &LEARN_SEEDS {
        runs.push(json!({"label": format!("exponential K = {LEARN_K}, seed {s}"), "spec": learn_run(LEARN_K, "exponential", s)}));
    }
    let e0 = runs.len();
    for &k in &LEARN_EULER_K {
        runs.push(
            json!({"label": format!("Euler K = {k}, seed 1"), "spec": learn_run(k, "euler", 1)}),
        );
    }
    let seeds = 0..LEARN_SEEDS.len();
    let mut c_conv = Vec::new();
    let mut c_branch = Vec::new();
    let mut c_const = Vec::new();
    for i in seeds.clone() {
        c_conv.push(json!({"kind": "atMost", "of": rc(i, "gradNorm", "last"), "bound": 1e-9}));
        c_branch.push(json!({"kind": "equals", "of": rc(i, "critIndex", "last"), "value": 0}));
        c_branch.push(json!({"kind": "atMost", "of": rc(i, "critDist", "last"), "bound": 1e-8}));
        c_const.push(json!({"kind": "atMost", "of": rc(i, "spread", "last"), "bound": 1e-8}));
    }
    c_branch.push(json!({"kind": "show", "of": rc(0, "loss", "last")}));
    let mut c_bias = Vec::new();
    for j in 1..LEARN_EULER_K.len() {
        let (a, b) = (e0 + j - 1, e0 + j);
        c_bias.push(json!({"kind": "near", "of": rc(b, "critDist", "last"),
                           "to": {"run": a, "column": "critDist", "reduce": "last", "scale": 0.5}, "relTol": 0.15}));
    }
    for j in 0..LEARN_EULER_K.len() {
        c_bias.push(json!({"kind": "equals", "of": rc(e0 + j, "critIndex", "last"), "value": 0}));
        c_bias.push(json!({"kind": "atMost", "of": rc(e0 + j, "gradNorm", "last"), "bound": 1e-9}));
        c_bias.push(json!({"kind": "show", "of": rc(e0 + j, "critDist", "last")}));
    }
    c_bias.push(json!({"kind": "atMost", "of": rc(0, "critDist", "last"), "bound": 1e-8}));
    let rate =
        json!({"run": 0, "column": "gradNorm", "reduce": "rate", "from": RATE_FROM, "to": RATE_TO});
    let reference = json!([
        {"claim": "backprop with weight decay, A <- A - eta (lambda A - Y X^T), converges",
         "paper": "Section 2, eqs (11)-(13) (a convergence result for lambda = 0 is in the supplement)",
         "check": format!("GD on the {LEARN_K}-layer network (exponential layers; with theta_k = sqrt(h) A_k it is exactly the paper's rule) from {} small random inits (entries N(0, 1e-4)), lambda = {LEARN_LAMBDA}, eta = {LEARN_ETA}: the gradient norm at the last step <= 1e-9", LEARN_SEEDS.len()),
         "checks": c_conv},
        {"claim": "backprop reaches a critical point of the regularized problem: which one",
         "paper": "Section 1: \"one would expect to obtain critical points of the [lambda = 0+] problem\" (which one is not said)",
         "check": format!("each seed's limit against the critical points C(lambda; n), n = 0, 1, -1, 2, -2 at lambda = {LEARN_LAMBDA} (the family refines each logarithm by Newton on the characteristic equation): the nearest is n = 0, the principal branch (critIndex 0), at L2 distance <= 1e-8; the cost shown"),
         "checks": c_branch},
        {"claim": "the limit is constant in t (R normal: the critical A_t of a normal C is constant)",
         "paper": "Proposition 2: A_t = C for all t iff C is normal",
         "check": "the spread of the layers (L2 distance to the nearest constant weight) at the last step <= 1e-8, each seed",
         "checks": c_const},
        {"claim": "the linear rate is set by the smallest Hessian eigenvalue at the limit: ||grad|| shrinks by 1 - eta lambda_min per step",
         "paper": "not in the paper (the rate of GD at a nondegenerate minimum)",
         "check": format!("seed 1: the per-step factor of the gradient norm fitted over steps {RATE_FROM}..{RATE_TO} within 0.1% of 1 - eta lambda_min (the dense Hessian at the last step), with eta lambda_max <= 1 (so no other mode is slower); both eigenvalues shown"),
         "checks": [
            {"kind": "near", "of": rate, "to": {"hessian": 0, "field": "lambdaMin", "scale": -LEARN_ETA, "offset": 1.0}, "relTol": 1e-3},
            {"kind": "atMost", "of": {"hessian": 0, "field": "lambdaMax", "scale": LEARN_ETA}, "bound": 1.0},
            {"kind": "equals", "of": {"hessian": 0, "field": "verdict.kind"}, "value": "localMinimum"},
            {"kind": "show", "of": {"hessian": 0, "field": "lambdaMin"}},
            {"kind": "show", "of": {"hessian": 0, "field": "lambdaMax"}}
         ]},
        {"claim": "Euler layers bias the critical point by O(h); exact exponentials of piecewise-constant A keep the normal critical point exact",
         "paper": "not in the paper (REFERENCE.md section 2)",
         "check": format!("Euler runs K = {:?} (seed 1), each converged to the principal branch's discrete critical point: its distance to the continuous one halves (within 15%) each time K doubles; the exponential run's distance <= 1e-8", LEARN_EULER_K),
         "checks": c_bias}
    ]);
    json!({
        "runs": runs,
        "plots": [
            {"title": "(a) the cost J", "column": "loss", "logY": false},
            {"title": "(b) gradient norm", "column": "gradNorm", "logY": true},
            {"title": "(c) L2 distance to the nearest critical point C(lambda; n)", "column": "critDist", "logY": true},
            {"title": "(d) spread of the layers (distance to a constant weight)", "column": "spread", "logY": true}
        ],
        "hessian": [
            {"label": "seed 1 at its end (the limit): dense Hessian", "run": 0, "at": "final",
             "query": {"what": "classify", "method": "dense"}}
        ],
        "reference": reference
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn theory_values() {
        // C(0; n) and the far limits.
        assert!((ex1_b0(0) - FRAC_PI_2).abs() < 1e-15);
        assert!((ex1_far_limit(1) - 1.5 * PI).abs() < 1e-12);
        assert!((ex1_far_limit(-1) + FRAC_PI_2).abs() < 1e-12);
        assert!((ex1_far_limit_paper(-1) + 2.5 * PI).abs() < 1e-12);
        // log R(pi/2): the paper's 3.76, and its square is R (2 x 2 by hand: L^2 = -theta^2 I +
        // ..., checked through the series of e^L).
        let c = ex2_constant_cost(FRAC_PI_2, 1.0);
        assert!((c - 3.76).abs() < 0.005, "{c}");
        let l = ex2_log_r(FRAC_PI_2);
        let e = expm2(l);
        let r = [[0.0, -1.0], [1.0, FRAC_PI_2]];
        for i in 0..2 {
            for j in 0..2 {
                assert!((e[i][j] - r[i][j]).abs() < 1e-12, "{e:?}");
            }
        }
        // At sigma = 0 the principal log is (pi/2) J.
        let l0 = ex2_log_r(0.0);
        assert!((l0[1][0] - FRAC_PI_2).abs() < 1e-12 && l0[0][0].abs() < 1e-12);
        // The paper's critical point: e^{2 Omega} e^{C^T} = R(pi/2), Omega = (pi/4) J.
        let c = ex2_critical_c();
        let om = [[0.0, -PI / 4.0], [PI / 4.0, 0.0]];
        let e1 = expm2([
            [2.0 * om[0][0], 2.0 * om[0][1]],
            [2.0 * om[1][0], 2.0 * om[1][1]],
        ]);
        let e2 = expm2([[c[0][0], c[1][0]], [c[0][1], c[1][1]]]);
        let f = mul2(e1, e2);
        for i in 0..2 {
            for j in 0..2 {
                assert!((f[i][j] - r[i][j]).abs() < 1e-12, "{f:?}");
            }
        }
    }

    fn mul2(a: [[f64; 2]; 2], b: [[f64; 2]; 2]) -> [[f64; 2]; 2] {
        let mut c = [[0.0; 2]; 2];
        for i in 0..2 {
            for j in 0..2 {
                c[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j];
            }
        }
        c
    }

    /// e^A of a 2 x 2 by scaling and squaring with a long Taylor series (a test oracle only).
    fn expm2(a: [[f64; 2]; 2]) -> [[f64; 2]; 2] {
        let s = 10;
        let f = 0.5f64.powi(s);
        let x = [[a[0][0] * f, a[0][1] * f], [a[1][0] * f, a[1][1] * f]];
        let mut sum = [[1.0, 0.0], [0.0, 1.0]];
        let mut term = sum;
        for k in 1..30 {
            term = mul2(term, x);
            for row in term.iter_mut() {
                for v in row.iter_mut() {
                    *v /= k as f64;
                }
            }
            for i in 0..2 {
                for j in 0..2 {
                    sum[i][j] += term[i][j];
                }
            }
        }
        for _ in 0..s {
            sum = mul2(sum, sum);
        }
        sum
    }

    /// Every check names a study or run of its preset.
    #[test]
    fn checks_name_their_studies_and_runs() {
        for f in [example1 as fn() -> Value, example2, learning] {
            let v = f();
            let studies = v["studies"].as_array().map_or(0, |s| s.len());
            let runs = v["runs"].as_array().unwrap().len();
            let hessian = v["hessian"].as_array().map_or(0, |s| s.len());
            for r in v["reference"].as_array().unwrap() {
                for c in r["checks"].as_array().unwrap() {
                    for k in ["of", "to", "bound"] {
                        if let Some(i) = c[k]["study"].as_u64() {
                            assert!((i as usize) < studies);
                        }
                        if let Some(i) = c[k]["run"].as_u64() {
                            assert!((i as usize) < runs);
                        }
                        if let Some(i) = c[k]["hessian"].as_u64() {
                            assert!((i as usize) < hessian);
                        }
                    }
                }
            }
        }
    }
}
