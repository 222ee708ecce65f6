//! The JSON entry point: [`analyze`] parses and validates a query, runs it and returns a JSON
//! report. Query and report formats: `docs/curvature.md`.

use serde::Deserialize;
use serde_json::{json, Value};

use super::classify::{classify, ClassifyOptions, Method, Verdict, DENSE_MAX_DIM};
use super::dense::dense_eigen;
use super::lanczos::{lanczos, EigPair, LanczosOptions, Which};
use super::slq::{hutchinson, slq_density};
use super::{residual, HessianOp};
use crate::error::{Error, Result};
use crate::linalg::all_finite;
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
    let max_iter = int("maxIter", q.max_iter, 1000, 1, usize::MAX)?;
    // The eigen-solver's basis is bounded by thick restarts (lanczos::BASIS_BUDGET_DOUBLES);
    // the quadrature's is not: each probe keeps its lanczosSteps vectors.
    let basis_ok = |steps: usize| steps.min(dim).saturating_mul(dim) <= MAX_BASIS_DOUBLES;
    let seed = int("seed", q.seed, 0, 0, usize::MAX)? as u64;
    let probes = int("probes", q.probes, 20, 1, 100_000)?;
    let lanczos_steps = int("lanczosSteps", q.lanczos_steps, 60, 1, 10_000)?;
    if !basis_ok(lanczos_steps) {
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

fn pairs_json(p: &[EigPair], vectors: bool) -> Value {
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

fn verdict_json(v: &Verdict) -> Value {
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
/// `invalid_request` error on `query.what`.
pub fn analyze(model: &mut dyn Model, w: &[f64], query_json: &str) -> Result<String> {
    let dim = model.dim();
    if w.len() != dim {
        return Err(Error::shape(
            "w",
            format!("expected {dim} parameters, got {}", w.len()),
        ));
    }
    if !all_finite(w) {
        return Err(Error::non_finite("w", "the point has a non-finite entry"));
    }
    if dim == 0 {
        return Err(Error::range("w", "the model has no parameters"));
    }
    let mut g = vec![0.0; dim];
    let f = model.loss_grad(w, &mut g);
    if !f.is_finite() || !all_finite(&g) {
        return Err(Error::non_finite(
            "w",
            "the loss or its gradient is not finite at this point",
        ));
    }
    drop(g);
    let blocks = model.blocks().to_vec();
    let names: Vec<String> = blocks.iter().map(|b| b.name.clone()).collect();
    let q = parse_query(query_json, dim, &names, model.family_queries())?;
    let range = q
        .block
        .as_ref()
        .and_then(|b| blocks.iter().find(|x| &x.name == b))
        .map(|x| x.range());
    let n = range.as_ref().map(|r| r.len()).unwrap_or(dim);
    if q.k > n {
        return Err(Error::range(
            field("k"),
            format!("k = {} exceeds the operator dimension {n}", q.k),
        ));
    }
    let method = q.method.resolve(n, q.dense_max_dim);
    if method == Method::Dense
        && n > DENSE_HARD_MAX
        && matches!(q.what, What::Classify | What::Eigs)
    {
        return Err(Error::too_large(
            field("method"),
            format!("the dense solver is limited to dimension {DENSE_HARD_MAX}; got {n}"),
        ));
    }
    let block_json = json!(q.block);
    let report = match &q.what {
        What::Eigs => {
            let mut op = HessianOp::new(model, w, range);
            if method == Method::Dense {
                let e = dense_eigen(&mut op);
                if e.values.iter().any(|x| !x.is_finite()) {
                    return Err(Error::non_finite(
                        "w",
                        "the Hessian is not finite at this point",
                    ));
                }
                let scale = e.values[0]
                    .abs()
                    .max(e.values[n - 1].abs())
                    .max(super::TINY);
                let mut pick = |idx: Vec<usize>| -> Vec<EigPair> {
                    idx.into_iter()
                        .map(|i| {
                            let v = e.vector(i);
                            let res = residual(&mut op, &v, e.values[i]);
                            EigPair {
                                value: e.values[i],
                                residual: res,
                                converged: res <= q.tol * scale,
                                vector: v,
                            }
                        })
                        .collect()
                };
                let small = if q.which != Which::Largest {
                    pick((0..q.k).collect())
                } else {
                    Vec::new()
                };
                let large = if q.which != Which::Smallest {
                    pick((0..q.k).map(|i| n - 1 - i).collect())
                } else {
                    Vec::new()
                };
                let all = small.iter().chain(&large).all(|p| p.converged);
                json!({
                    "what": "eigs", "method": "dense", "dim": n, "block": block_json,
                    "smallest": pairs_json(&small, q.vectors),
                    "largest": pairs_json(&large, q.vectors),
                    "allConverged": all, "scale": scale, "asymmetry": e.asymmetry,
                    "iterations": 0, "restarts": 0, "hvps": op.hvps, "tol": q.tol,
                })
            } else {
                let r = lanczos(
                    &mut op,
                    &LanczosOptions {
                        k: q.k,
                        which: q.which,
                        tol: q.tol,
                        max_iter: q.max_iter,
                        seed: q.seed,
                        warm: Vec::new(),
                        deflate: Vec::new(),
                    },
                );
                json!({
                    "what": "eigs", "method": "lanczos", "dim": n, "block": block_json,
                    "smallest": pairs_json(&r.smallest, q.vectors),
                    "largest": pairs_json(&r.largest, q.vectors),
                    "allConverged": r.all_converged, "scale": r.scale,
                    "iterations": r.iterations, "restarts": r.restarts, "hvps": op.hvps,
                    "tol": q.tol,
                })
            }
        }
        What::Classify => {
            let c = classify(
                model,
                w,
                &ClassifyOptions {
                    method: q.method,
                    dense_max_dim: q.dense_max_dim,
                    tol: q.tol,
                    max_iter: q.max_iter,
                    seed: q.seed,
                    grad_tol: q.grad_tol,
                    zero_tol: q.zero_tol,
                    k: q.k,
                    warm: Vec::new(),
                },
            );
            let mut o = json!({
                "what": "classify", "method": c.method.name(), "dim": c.dim,
                "loss": c.loss, "gradNorm": c.grad_norm,
                "lambdaMin": c.lambda_min, "lambdaMinResidual": c.lambda_min_residual,
                "lambdaMinConverged": c.lambda_min_converged,
                "lambdaMax": c.lambda_max, "lambdaMaxResidual": c.lambda_max_residual,
                "zeroCount": c.zero_count, "negativeCount": c.negative_count,
                "zeroCountNote": c.zero_count_note, "symmetryDim": c.symmetry_dim,
                "deflatedLambdaMin": c.deflated_lambda_min,
                "verdict": verdict_json(&c.verdict),
                "thresholds": {"gradTol": q.grad_tol, "zeroTol": q.zero_tol, "tol": q.tol},
                "hvps": c.hvps, "iterations": c.iterations,
            });
            if c.method == Method::Dense {
                o["eigenvalues"] = json!(c.smallest);
            } else {
                o["smallest"] = json!(c.smallest);
            }
            if q.vectors {
                o["lambdaMinVector"] = json!(c.lambda_min_vector);
            }
            o
        }
        What::Density => {
            let mut op = HessianOp::new(model, w, range);
            let d = slq_density(
                &mut op,
                q.probes,
                q.lanczos_steps,
                q.grid_points,
                q.sigma,
                q.seed,
            );
            json!({
                "what": "density", "dim": n, "block": block_json,
                "grid": d.grid, "density": d.density, "nodes": d.nodes, "weights": d.weights,
                "sigma": d.sigma, "probes": d.probes, "steps": d.steps,
                "traceEstimate": d.trace_estimate, "hvps": op.hvps,
            })
        }
        What::Trace => {
            let mut op = HessianOp::new(model, w, range);
            let t = hutchinson(&mut op, q.probes, q.seed);
            json!({
                "what": "trace", "dim": n, "block": block_json,
                "estimate": t.estimate, "stdError": t.std_error, "probes": t.probes,
                "hvps": op.hvps,
            })
        }
        What::Family(name) => model.family_query(name, w, &q)?,
    };
    let mut report = report;
    // Which Hessian-vector product answered: the family's exact one, or the central-difference
    // default of `Model::hvp` (accurate to about 1e-8 relative, not to rounding).
    report["hvp"] = json!(if model.hvp_exact() {
        "exact"
    } else {
        "centralDifference"
    });
    serde_json::to_string(&report)
        .map_err(|e| Error::request("query", format!("report serialization failed: {e}")))
}
