//! The description of a run: the single contract both bindings accept.
//!
//! A spec is small JSON (camelCase fields); bulk numbers (explicit target, explicit initial
//! factors) travel beside it as named `f64` buffers whose name is the spec path of the matrix
//! reference, e.g. `target.matrix`, `init.u0`, `init.v0`. A matrix reference in the spec holds
//! only its shape (`{"rows": 3, "cols": 2}`); the buffer holds the row-major data.
//!
//! Numeric fields that must be integers (sizes, counts, seeds) are read as JSON numbers and
//! checked here, so that a negative or fractional value gets an error naming the field instead of
//! a generic type error.

use serde::Deserialize;

use crate::error::{Error, Result};

/// Shape of a matrix whose data is passed as a buffer named after its spec path.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixRef {
    pub rows: f64,
    pub cols: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum ScheduleSpec {
    /// eta_t = eta.
    Constant { eta: f64 },
    /// eta_t = c (t+1)^-(1/2+delta), 0 < delta <= 1/2.
    InversePower { c: f64, delta: f64 },
    /// Theorem 3.1 of Du, Hu & Lee: eta_t = sqrt(eps/r) / (100 (t+1) ||M*||_F^1.5).
    Theorem31 { eps: f64 },
}

/// The run's own fields, common to every family (stage 1 of parsing a run spec; the family
/// parses `model` and its own fields, stage 2).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunSpec {
    pub schedule: ScheduleSpec,
    pub steps: f64,
    #[serde(default = "one")]
    pub record_every: f64,
    /// The dynamics; default gradient descent with `schedule`.
    #[serde(default)]
    pub method: Option<MethodSpec>,
    /// L2 weight decay lambda: the dynamics see grad L + lambda w.
    #[serde(default)]
    pub weight_decay: f64,
    /// Record lambda_min and lambda_max of the Hessian along the run.
    #[serde(default)]
    pub curvature: Option<CurvatureSpec>,
}

/// Curvature along a trajectory: lambda_min and lambda_max by warm-started Lanczos at every
/// recorded row whose step is a multiple of `every` (and at the last step).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CurvatureSpec {
    /// A multiple of `recordEvery`.
    pub every: f64,
    /// Relative residual tolerance of the Lanczos solves (default 1e-6).
    #[serde(default = "curv_tol")]
    pub tol: f64,
    /// Lanczos steps per sample (default 300).
    #[serde(default = "curv_iter")]
    pub max_iter: f64,
    /// Seed of the first start vector (default 0).
    #[serde(default)]
    pub seed: f64,
}

fn curv_tol() -> f64 {
    1e-6
}
fn curv_iter() -> f64 {
    300.0
}

/// First-order methods and gradient-flow integrators. Every method takes its step size h from
/// `schedule` (eta_t); Dormand-Prince uses eta_0 as its first trial step.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum MethodSpec {
    /// w <- w - eta grad
    Gd {},
    /// Heavy ball: v <- beta v + grad; w <- w - eta v.
    Momentum { beta: f64 },
    /// v <- beta v + grad(w - eta beta v); w <- w - eta v.
    Nesterov { beta: f64 },
    /// Adam with bias correction.
    Adam {
        #[serde(default = "beta1")]
        beta1: f64,
        #[serde(default = "beta2")]
        beta2: f64,
        #[serde(default = "adam_eps")]
        eps: f64,
    },
    /// Mini-batch SGD: batches drawn without replacement from a seeded shuffle per epoch.
    #[serde(rename_all = "camelCase")]
    Sgd { batch_size: f64, seed: f64 },
    /// Explicit Euler on dw/dt = -grad (the same iterates as GD).
    Euler {},
    /// Classical 4th-order Runge-Kutta.
    Rk4 {},
    /// Adaptive Dormand-Prince 5(4).
    Dopri5 {
        #[serde(default = "rtol")]
        rtol: f64,
        #[serde(default = "atol")]
        atol: f64,
    },
    /// Implicit midpoint w' = w - h grad((w + w')/2), solved by fixed-point iteration until
    /// the update is below tol (1 + max|w|) (max norm), at most maxIter evaluations.
    #[serde(rename_all = "camelCase")]
    ImplicitMidpoint {
        #[serde(default = "imp_tol")]
        tol: f64,
        #[serde(default = "imp_iter")]
        max_iter: f64,
    },
}

fn beta1() -> f64 {
    0.9
}
fn beta2() -> f64 {
    0.999
}
fn adam_eps() -> f64 {
    1e-8
}
fn rtol() -> f64 {
    1e-6
}
fn atol() -> f64 {
    1e-9
}
fn imp_tol() -> f64 {
    1e-14
}
fn imp_iter() -> f64 {
    100.0
}

pub(crate) fn one() -> f64 {
    1.0
}

/// The top-level fields of [`RunSpec`].
pub const RUN_FIELDS: [&str; 6] = [
    "schedule",
    "steps",
    "recordEvery",
    "method",
    "weightDecay",
    "curvature",
];

/// Deserialize `v`, naming the offending field on a type error, a missing or an unknown field:
/// the field is `prefix` followed by serde's path (`root` for the root itself).
pub fn from_value<T: serde::de::DeserializeOwned>(
    v: serde_json::Value,
    prefix: &str,
    root: &str,
) -> Result<T> {
    let copy = v.clone();
    serde_path_to_error::deserialize(v).map_err(|e| serde_error(e, &copy, prefix, root))
}

/// Deserialize JSON text like [`from_value`].
pub fn from_str<T: serde::de::DeserializeOwned>(json: &str, prefix: &str, root: &str) -> Result<T> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| Error::spec(root, e.to_string()))?;
    from_value(v, prefix, root)
}

fn serde_error(
    e: serde_path_to_error::Error<serde_json::Error>,
    input: &serde_json::Value,
    prefix: &str,
    root: &str,
) -> Error {
    let path = e.path().to_string();
    let msg = e.into_inner().to_string();
    // serde_path_to_error writes "." for the root and "?" where it lost track; inside variants
    // tagged by `kind` it stops at the variant. A missing or unknown field named in the message
    // is appended when the input shows that it belongs there (an object at that path that has it,
    // for an unknown field, or lacks it, for a missing one), so the error names the full path
    // (`target.bogus`, `init.seed`); otherwise the path serde knows is given.
    let at_root = path == "." || path == "?";
    let base = if at_root { "" } else { path.as_str() };
    let named = field_in_message(&msg).filter(|n| {
        let unknown = msg.contains("unknown field `");
        lookup(input, base)
            .and_then(|o| o.as_object())
            .is_some_and(|o| o.contains_key(n.as_str()) == unknown)
    });
    let field = match (at_root, named) {
        (true, Some(n)) => format!("{prefix}{n}"),
        (true, None) => root.to_string(),
        (false, Some(n)) => format!("{prefix}{path}.{n}"),
        (false, None) => format!("{prefix}{path}"),
    };
    Error::spec(field, msg)
}

/// The value at a path written as serde_path_to_error writes it (`a.b[2].c`, `""` for the root).
fn lookup<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    let mut cur = v;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            cur = cur.get(key)?;
        }
        for idx in rest.split(']').filter(|x| !x.is_empty()) {
            cur = cur.get(idx.trim_start_matches('[').parse::<usize>().ok()?)?;
        }
    }
    Some(cur)
}

/// The field a serde message names (`missing field `x``, `unknown field `x``), if any.
pub(crate) fn field_in_message(msg: &str) -> Option<String> {
    ["missing field `", "unknown field `"]
        .iter()
        .find_map(|p| msg.find(p).map(|i| &msg[i + p.len()..]))
        .and_then(|rest| rest.split('`').next())
        .map(str::to_string)
}

/// Largest integer an f64 holds exactly; counts above it are refused.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// A non-negative integer field (`steps`, `seed`, ...).
pub fn count(field: &str, x: f64) -> Result<u64> {
    if !x.is_finite() || x < 0.0 || x.fract() != 0.0 || x > MAX_EXACT {
        return Err(Error::range(
            field,
            format!("expected a non-negative integer, got {x}"),
        ));
    }
    Ok(x as u64)
}

/// A positive integer field (sizes, rank, recordEvery).
pub fn positive(field: &str, x: f64) -> Result<usize> {
    let n = count(field, x)
        .map_err(|_| Error::range(field, format!("expected a positive integer, got {x}")))?;
    if n == 0 || n > usize::MAX as u64 {
        return Err(Error::range(
            field,
            format!("expected a positive integer, got {x}"),
        ));
    }
    Ok(n as usize)
}

/// A finite real field.
pub fn finite(field: &str, x: f64) -> Result<f64> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(Error::non_finite(
            field,
            format!("expected a finite number, got {x}"),
        ))
    }
}

/// A finite, strictly positive real field.
pub fn positive_real(field: &str, x: f64) -> Result<f64> {
    finite(field, x)?;
    if x > 0.0 {
        Ok(x)
    } else {
        Err(Error::range(
            field,
            format!("expected a number > 0, got {x}"),
        ))
    }
}
