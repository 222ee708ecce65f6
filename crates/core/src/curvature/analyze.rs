//! The JSON entry point: [`analyze`] parses and validates a query, runs it and returns a JSON
//! report. Query and report formats: `docs/curvature.md`.

use serde::Deserialize;
use serde_json::{json, Value};

use super::classify::{Method, Verdict, DENSE_MAX_DIM};
use super::job::QueryJob;
use super::lanczos::{EigPair, Which};

use crate::error::{Error, Result};
use crate::model::Model;

/// Largest dimension the dense solver accepts even when forced (n^2 doubles, plus the
/// eigen-solver's copies: ~1.5 GB at this size).
pub const DENSE_HARD_MAX: usize = 8000;
/// Largest quadrature basis (min(lanczosSteps, dim) x dim doubles) accepted: 2^27 doubles = 1 GiB.
pub const MAX_BASIS_DOUBLES: usize = 1 << 27;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawQuery {
    what: String,
    k: Option<f64>,
    which: Option<String>,
    method: Option<String>,
    tol: Option<f64>,
    max_iter: Option<f64>,
    seed: Option<f64>,
    block: Option<String>,
    probes: Option<f64>,
    lanczos_steps: Option<f64>,
    grid_points: Option<f64>,
    sigma: Option<f64>,
    zero_tol: Option<f64>,
    grad_tol: Option<f64>,
    dense_max_dim: Option<f64>,
    eps: Option<f64>,
    vectors: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    Classify,
    Eigs,
    Density,
    Trace,
    /// A query of the model's family (`Model::family_queries`), e.g. `lemma32`.
    Family(String),
}

/// A validated query (defaults filled in).
#[derive(Debug, Clone)]
pub struct Query {
    pub what: What,
    pub k: usize,
    pub which: Which,
    pub method: Method,
    pub tol: f64,
    pub max_iter: usize,
    pub seed: u64,
    pub block: Option<String>,
    pub probes: usize,
    pub lanczos_steps: usize,
    pub grid_points: usize,
    pub sigma: Option<f64>,
    pub zero_tol: f64,
    pub grad_tol: f64,
    pub dense_max_dim: usize,
    pub eps: Option<f64>,
    pub vectors: bool,
}

const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

fn field(name: &str) -> String {
    format!("query.{name}")
}

fn int(name: &str, x: Option<f64>, default: usize, min: usize, max: usize) -> Result<usize> {
    let Some(x) = x else { return Ok(default) };
    if !x.is_finite() || x.fract() != 0.0 || x < min as f64 || x > max as f64 || x > MAX_EXACT {
        return Err(Error::range(
            field(name),
            format!("expected an integer in [{min}, {max}], got {x}"),
        ));
    }
    Ok(x as usize)
}

fn real(name: &str, x: Option<f64>, default: f64, lo: f64, hi: f64, open_lo: bool) -> Result<f64> {
    let Some(x) = x else { return Ok(default) };
    if !x.is_finite() {
        return Err(Error::non_finite(
            field(name),
            format!("expected a finite number, got {x}"),
        ));
    }
    let ok = if open_lo { x > lo } else { x >= lo } && x <= hi;
    if !ok {
        let l = if open_lo { "(" } else { "[" };
        return Err(Error::range(
            field(name),
            format!("expected a number in {l}{lo}, {hi}], got {x}"),
        ));
    }
    Ok(x)
}

fn parse_raw(json: &str) -> Result<RawQuery> {
    crate::spec::from_str(json, "query.", "query")
}

/// The family queries of every registered family, with the family's kind.
fn registered_queries() -> Vec<(&'static str, &'static str)> {
    crate::model::FAMILIES
        .iter()
        .flat_map(|f| f.queries().iter().map(move |q| (*q, f.kind())))
        .collect()
}

/// Parse and validate `json` for a model of dimension `dim` with the given block names and
/// family queries (`Model::family_queries`).
pub fn parse_query(
    json: &str,
    dim: usize,
    blocks: &[String],
    family_queries: &[&str],
) -> Result<Query> {
    let q = parse_raw(json)?;
    let registered = registered_queries();
    let what = match q.what.as_str() {
        "classify" => What::Classify,
        "eigs" => What::Eigs,
        "density" => What::Density,
        "trace" => What::Trace,
        other if family_queries.contains(&other) => What::Family(other.to_string()),
        other => {
            if let Some((_, kind)) = registered.iter().find(|(n, _)| *n == other) {
                return Err(Error::request(
                    field("what"),
                    format!("{other} needs the {kind} model"),
                ));
            }
            let names: Vec<&str> = registered.iter().map(|(n, _)| *n).collect();
            return Err(Error::spec(
                field("what"),
                format!(
                    "unknown query {other:?}: expected classify, eigs, density, trace or a \
                     family query ({})",
                    names.join(", ")
                ),
            ));
        }
    };
    let which = match q.which.as_deref() {
        None | Some("smallest") => Which::Smallest,
        Some("largest") => Which::Largest,
        Some("both") => Which::Both,
        Some(other) => {
            return Err(Error::spec(
                field("which"),
                format!("expected smallest, largest or both, got {other:?}"),
            ))
        }
    };
    let method = match q.method.as_deref() {
        None | Some("auto") => Method::Auto,
        Some("dense") => Method::Dense,
        Some("lanczos") => Method::Lanczos,
        Some(other) => {
            return Err(Error::spec(
                field("method"),
                format!("expected auto, dense or lanczos, got {other:?}"),
            ))
        }
    };
    if let Some(b) = &q.block {
        if matches!(what, What::Classify | What::Family(_)) {
            return Err(Error::request(
                field("block"),
                format!("{} needs the whole Hessian: omit block", q.what),
            ));
        }
        if !blocks.iter().any(|x| x == b) {
            return Err(Error::request(
                field("block"),
                format!("unknown block {b:?}: the model's blocks are {blocks:?}"),
            ));
        }
    }
    let k = int("k", q.k, 1, 1, dim.max(1))?;
    let tol = real("tol", q.tol, 1e-8, 0.0, 0.5, true)?;
    let max_iter = int(
        "maxIter",
        q.max_iter,
        1000,
        1,
        crate::spec::MAX_SIZE as usize,
    )?;
    // The eigen-solver's basis is bounded by thick restarts (lanczos::BASIS_BUDGET_DOUBLES);
    // the quadrature's is not: each probe keeps its lanczosSteps vectors.
    let basis_ok = |steps: usize| steps.min(dim).saturating_mul(dim) <= MAX_BASIS_DOUBLES;
    let seed = crate::spec::count(&field("seed"), q.seed.unwrap_or(0.0))?;
    let probes = int("probes", q.probes, 20, 1, 100_000)?;
    let lanczos_steps = int("lanczosSteps", q.lanczos_steps, 60, 1, 10_000)?;
    // only the density's quadrature keeps that basis (a family query or eigs builds none)
    if what == What::Density && !basis_ok(lanczos_steps) {
        return Err(Error::too_large(
            field("lanczosSteps"),
            format!("a Lanczos basis of {lanczos_steps} vectors of length {dim} is too large"),
        ));
    }
    let grid_points = int("gridPoints", q.grid_points, 200, 2, 100_000)?;
    let sigma = match q.sigma {
        None => None,
        Some(_) => Some(real("sigma", q.sigma, 0.0, 0.0, f64::MAX, true)?),
    };
    let zero_tol = real("zeroTol", q.zero_tol, 1e-6, 0.0, 1.0, false)?;
    let grad_tol = real("gradTol", q.grad_tol, 1e-6, 0.0, f64::MAX, false)?;
    let dense_max_dim = int(
        "denseMaxDim",
        q.dense_max_dim,
        DENSE_MAX_DIM,
        0,
        DENSE_HARD_MAX,
    )?;
    let eps = match q.eps {
        None => None,
        Some(_) => Some(real("eps", q.eps, 0.0, 0.0, f64::MAX, false)?),
    };
    if q.eps.is_some() && !matches!(what, What::Family(_)) {
        return Err(Error::request(
            field("eps"),
            "eps is only used by family queries (lemma32)",
        ));
    }
    Ok(Query {
        what,
        k,
        which,
        method,
        tol,
        max_iter,
        seed,
        block: q.block,
        probes,
        lanczos_steps,
        grid_points,
        sigma,
        zero_tol,
        grad_tol,
        dense_max_dim,
        eps,
        vectors: q.vectors.unwrap_or(false),
    })
}

pub(crate) fn pairs_json(p: &[EigPair], vectors: bool) -> Value {
    Value::Array(
        p.iter()
            .map(|e| {
                let mut o = json!({
                    "value": e.value,
                    "residual": e.residual,
                    "converged": e.converged,
                });
                if vectors {
                    o["vector"] = json!(e.vector);
                }
                o
            })
            .collect(),
    )
}

pub(crate) fn verdict_json(v: &Verdict) -> Value {
    match v {
        Verdict::LocalMinimum => json!({"kind": "localMinimum"}),
        Verdict::StrictSaddle {
            direction,
            lambda_min,
        } => json!({"kind": "strictSaddle", "lambdaMin": lambda_min, "direction": direction}),
        Verdict::Degenerate { reason } => json!({"kind": "degenerate", "reason": reason}),
        Verdict::NotStationary { grad_norm } => {
            json!({"kind": "notStationary", "gradNorm": grad_norm})
        }
    }
}

/// Run one curvature query at `w` and return its JSON report.
///
/// `query_json` is described in `docs/curvature.md`; every invalid field gives an [`Error`] whose
/// `field` is `query.<name>` (`w` for the point itself). A family query (`what: "lemma32"`) is
/// answered by the model (`Model::family_query`); another family's query gets an
/// `invalid_request` error on `query.what`. This is [`QueryJob`] run to its end in one call.
pub fn analyze(model: &mut dyn Model, w: &[f64], query_json: &str) -> Result<String> {
    let mut job = QueryJob::new(model, w, query_json)?;
    loop {
        if job.advance(model, u64::MAX)?.finished {
            return Ok(job.take_report().unwrap_or_default());
        }
    }
}
