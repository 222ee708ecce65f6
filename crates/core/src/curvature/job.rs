//! A curvature query advanced in bounded pieces of work ([`QueryJob`]), so that a caller can
//! stream, yield to an event loop and cancel between them (issue 10). [`super::analyze`] is this
//! job run to its end in one call, so a chunked query gives the same bits as an unchunked one.
//!
//! A unit of work is one Lanczos step (one Hessian-vector product, plus its reorthogonalization)
//! for `eigs` with Lanczos and `density`, and one probe (one product) for `trace`. `classify`,
//! `eigs` with the dense solver and family queries (`lemma32`) run whole in one unit.

use std::ops::Range;

use serde::Serialize;
use serde_json::{json, Value};

use super::analyze::{pairs_json, parse_query, verdict_json, Query, What, DENSE_HARD_MAX};
use super::classify::{classify, ClassifyOptions, Method};
use super::dense::dense_eigen;
use super::lanczos::{EigPair, LanczosOptions, VerifiedLanczos, Which};
use super::slq::{SlqJob, TraceJob};
use super::{residual, HessianOp};
use crate::error::{Error, Result};
use crate::linalg::all_finite;
use crate::model::Model;

fn field(name: &str) -> String {
    format!("query.{name}")
}

enum Work {
    Eigs(Box<VerifiedLanczos>),
    Density(Box<SlqJob>),
    Trace(Box<TraceJob>),
    /// Classify, dense eigs and family queries: one unit.
    Once,
    Finished,
}

/// Progress of a [`QueryJob`] (the JSON the bindings return from `advance`).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct QueryStatus {
    /// Units of work done (Lanczos steps, probes; 1 for a query that runs whole).
    pub units: u64,
    /// Hessian-vector products so far.
    pub hvps: u64,
    /// True once the report is ready.
    pub finished: bool,
}

/// One curvature query at a fixed point (a copy of `w` taken at the start), validated up front
/// and advanced by [`QueryJob::advance`]; the model is passed to every call (a session keeps it).
pub struct QueryJob {
    w: Vec<f64>,
    q: Query,
    range: Option<Range<usize>>,
    n: usize,
    work: Work,
    units: u64,
    hvps: usize,
    report: Option<String>,
}

impl QueryJob {
    /// Validate the point and the query (every error of [`super::analyze`], before any work).
    pub fn new(model: &mut dyn Model, w: &[f64], query_json: &str) -> Result<QueryJob> {
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
        let work = match q.what {
            What::Eigs if method != Method::Dense => {
                Work::Eigs(Box::new(VerifiedLanczos::with_default_cap(
                    n,
                    LanczosOptions {
                        k: q.k,
                        which: q.which,
                        tol: q.tol,
                        max_iter: q.max_iter,
                        seed: q.seed,
                        warm: Vec::new(),
                        deflate: Vec::new(),
                    },
                )))
            }
            What::Density => Work::Density(Box::new(SlqJob::new(
                n,
                q.probes,
                q.lanczos_steps,
                q.grid_points,
                q.sigma,
                q.seed,
            ))),
            What::Trace => Work::Trace(Box::new(TraceJob::new(n, q.probes, q.seed))),
            _ => Work::Once,
        };
        Ok(QueryJob {
            w: w.to_vec(),
            q,
            range,
            n,
            work,
            units: 0,
            hvps: 0,
            report: None,
        })
    }

    pub fn status(&self) -> QueryStatus {
        QueryStatus {
            units: self.units,
            hvps: self.hvps as u64,
            finished: self.report.is_some(),
        }
    }

    /// The JSON report, once finished.
    pub fn report(&self) -> Option<&str> {
        self.report.as_deref()
    }

    pub fn take_report(&mut self) -> Option<String> {
        self.report.take()
    }

    /// Do up to `budget` units of work (at least one) with `model`; the report is built when the
    /// last unit is done. The caller drops the model's per-query caches afterwards
    /// (`Model::end_queries`) if the model is used for anything else before the next call.
    pub fn advance(&mut self, model: &mut dyn Model, budget: u64) -> Result<QueryStatus> {
        if self.report.is_some() {
            return Ok(self.status());
        }
        let budget = budget.max(1);
        let block_json = json!(self.q.block);
        let n = self.n;
        let mut op = HessianOp::new(model, &self.w, self.range.clone());
        let mut done = false;
        let mut used = 0u64;
        match &mut self.work {
            Work::Eigs(j) => {
                while used < budget && !done {
                    used += 1;
                    done = j.step(&mut op);
                }
            }
            Work::Density(j) => {
                while used < budget && !done {
                    used += 1;
                    done = j.step(&mut op);
                }
            }
            Work::Trace(j) => {
                while used < budget && !done {
                    used += 1;
                    done = j.step(&mut op);
                }
            }
            Work::Once | Work::Finished => {
                used = 1;
                done = true;
            }
        }
        self.units += used;
        self.hvps += op.hvps;
        drop(op);
        if !done {
            return Ok(self.status());
        }
        let q = &self.q;
        let work = std::mem::replace(&mut self.work, Work::Finished);
        let mut report = match work {
            Work::Eigs(mut j) => {
                let r = j.take();
                json!({
                    "what": "eigs", "method": "lanczos", "dim": n, "block": block_json,
                    "smallest": pairs_json(&r.smallest, q.vectors),
                    "largest": pairs_json(&r.largest, q.vectors),
                    "allConverged": r.all_converged, "scale": r.scale,
                    "iterations": r.iterations, "restarts": r.restarts, "hvps": self.hvps,
                    "tol": q.tol,
                    "multiplicityVerified": r.multiplicity_verified,
                    "verificationRounds": r.verification_rounds,
                    "copiesFound": r.copies_found,
                })
            }
            Work::Density(j) => {
                let d = j.finish();
                json!({
                    "what": "density", "dim": n, "block": block_json,
                    "grid": d.grid, "density": d.density, "nodes": d.nodes, "weights": d.weights,
                    "sigma": d.sigma, "probes": d.probes, "steps": d.steps,
                    "traceEstimate": d.trace_estimate, "hvps": self.hvps,
                })
            }
            Work::Trace(j) => {
                let t = j.finish();
                json!({
                    "what": "trace", "dim": n, "block": block_json,
                    "estimate": t.estimate, "stdError": t.std_error, "probes": t.probes,
                    "hvps": self.hvps,
                })
            }
            Work::Once | Work::Finished => self.run_once(model)?,
        };
        // Which Hessian-vector product answered: the family's exact one, or the central-difference
        // default of `Model::hvp` (accurate to about 1e-8 relative, not to rounding).
        report["hvp"] = json!(if model.hvp_exact() {
            "exact"
        } else {
            "centralDifference"
        });
        let text = serde_json::to_string(&report)
            .map_err(|e| Error::request("query", format!("report serialization failed: {e}")))?;
        self.report = Some(text);
        Ok(self.status())
    }

    /// Classify, dense eigs and family queries, whole.
    fn run_once(&mut self, model: &mut dyn Model) -> Result<Value> {
        let (q, w, n) = (&self.q, &self.w[..], self.n);
        let block_json = json!(q.block);
        Ok(match &q.what {
            What::Eigs => {
                let mut op = HessianOp::new(model, w, self.range.clone());
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
                self.hvps += op.hvps;
                json!({
                    "what": "eigs", "method": "dense", "dim": n, "block": block_json,
                    "smallest": pairs_json(&small, q.vectors),
                    "largest": pairs_json(&large, q.vectors),
                    "allConverged": all, "scale": scale, "asymmetry": e.asymmetry,
                    "iterations": 0, "restarts": 0, "hvps": op.hvps, "tol": q.tol,
                })
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
            What::Family(name) => model.family_query(name, w, q)?,
            // Handled by the chunked work.
            What::Density | What::Trace => Value::Null,
        })
    }
}

/// What the bindings call: a [`QueryJob`] at the session's current point, and its advance with
/// the session's model (all samples, no frozen pattern, caches dropped after each call so the run
/// may step in between: the job keeps its own copy of the point).
pub fn session_query(session: &mut crate::Session, query_json: &str) -> Result<QueryJob> {
    let w = session.params().to_vec();
    let model = session.model_mut();
    model.full_batch();
    let job = QueryJob::new(model, &w, query_json);
    model.end_queries();
    job
}

/// [`QueryJob::advance`] with the session's model (see [`session_query`]).
pub fn session_query_advance(
    session: &mut crate::Session,
    job: &mut QueryJob,
    budget: u64,
) -> Result<QueryStatus> {
    let model = session.model_mut();
    model.full_batch();
    let st = job.advance(model, budget);
    model.end_queries();
    st
}
