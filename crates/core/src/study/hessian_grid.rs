//! `hessianGrid`: the Hessian along a grid of points. One run (any model family), or one run per
//! value of an axis over a spec path (`model.balanceWeight`, `init.stdU`, `init.seed`, ...), each
//! sampled at a list of steps (or every N steps) with one curvature query per point.
//!
//! Spec (camelCase, unknown fields refused; docs/studies.md):
//!
//! ```json
//! {"kind": "hessianGrid",
//!  "run": {...a run spec, passed to Session::new unchanged (but for the axis value)...},
//!  "query": {"what": "eigs", "which": "both"},
//!  "at": {"steps": [0, 100, 200]} | {"every": 50},
//!  "axis": {"path": "model.balanceWeight", "values": [0, 0.125, 0.25]},
//!  "columns": [{"name": "lambda2", "pointer": "/smallest/1/value"}],
//!  "keepReports": true}
//! ```
//!
//! Buffers are those of the run, named `run.<path>` (`run.target.matrix`, `run.init.u0`).
//!
//! Work units: one per training step up to the run's last sample, one per curvature query.
//! Only the public [`Session`] API is used (`new`, `advance`, `status`, `hessian`): the points
//! are bit-identical to driving a session by hand and querying it at the same steps.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::path::{parse_path, set_path};
#[cfg(test)]
use super::path::Seg;
use super::{field_in_message, parse, Buffers, Registration, StudyKind};
use crate::error::{Error, Result};
use crate::build::Budget;
use crate::session::{Session, Status};
use crate::spec::count;

pub const REGISTRATION: Registration = Registration {
    kind: "hessianGrid",
    build,
};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Spec {
    run: Value,
    query: Value,
    #[serde(default)]
    at: Option<At>,
    #[serde(default)]
    axis: Option<Axis>,
    #[serde(default)]
    columns: Vec<ExtraColumn>,
    #[serde(default = "yes")]
    keep_reports: bool,
}

fn yes() -> bool {
    true
}

/// Where to sample each run: the given steps, or 0, every, 2 every, ... and the last step.
/// Default: the run's last step only.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct At {
    #[serde(default)]
    steps: Option<Vec<f64>>,
    #[serde(default)]
    every: Option<f64>,
}

/// One run per value, each the base run with `path` set to the value.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Axis {
    path: String,
    values: Vec<Value>,
}

/// A column of a number of the report, by JSON pointer (RFC 6901).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExtraColumn {
    name: String,
    pointer: String,
}

/// The report numbers that become columns, per query kind (JSON pointers into the report of
/// docs/curvature.md). Missing or null entries are NaN, booleans 0 or 1.
fn report_columns(what: &str) -> &'static [(&'static str, &'static str)] {
    match what {
        "classify" => &[
            ("lambdaMin", "/lambdaMin"),
            ("lambdaMinResidual", "/lambdaMinResidual"),
            ("lambdaMax", "/lambdaMax"),
            ("lambdaMaxResidual", "/lambdaMaxResidual"),
            ("gradNorm", "/gradNorm"),
            ("zeroCount", "/zeroCount"),
            ("negativeCount", "/negativeCount"),
            ("symmetryDim", "/symmetryDim"),
        ],
        "eigs" => &[
            ("lambdaMin", "/smallest/0/value"),
            ("lambdaMinResidual", "/smallest/0/residual"),
            ("lambdaMax", "/largest/0/value"),
            ("lambdaMaxResidual", "/largest/0/residual"),
        ],
        "density" => &[("traceEstimate", "/traceEstimate")],
        "trace" => &[("trace", "/estimate"), ("traceStdError", "/stdError")],
        "lemma32" => &[
            ("certificate", "/value"),
            ("bound", "/bound"),
            ("residual", "/residual"),
            ("imbalance", "/imbalance"),
            ("rayleigh", "/rayleigh"),
            ("gradNorm", "/gradNorm"),
        ],
        _ => &[],
    }
}

/// One run of the grid.
struct Plan {
    /// The run spec (with the axis value set), as JSON.
    spec_json: String,
    /// The axis value, if there is an axis.
    value: Option<Value>,
    /// The steps at which to query, increasing.
    samples: Vec<u64>,
    /// Steps to the last sample plus one unit per sample.
    units: u64,
}

struct HessianGrid {
    plans: Vec<Plan>,
    buffers: Buffers,
    query: Value,
    query_json: String,
    axis_path: Option<String>,
    /// (column, JSON pointer into the report) after the fixed columns.
    from_report: Vec<(String, String)>,
    names: Vec<String>,
    columns: Vec<Vec<f64>>,
    keep_reports: bool,
    points: Vec<Value>,
    /// Final status of each run (null until it has ended).
    outcomes: Vec<Value>,
    current: usize,
    next: usize,
    session: Option<Session>,
    run_start: u64,
    done: u64,
    total: u64,
}

/// The error of a run's `Session::new`, named by its path in the study spec.
fn run_error(e: Error, axis: Option<(&str, usize, &Value)>) -> Error {
    let inner = if e.field.is_empty() || e.field == "spec" {
        // A missing or unknown top-level field of the run: name it.
        field_in_message(&e.message).unwrap_or_default()
    } else {
        e.field.clone()
    };
    let full = if inner.is_empty() {
        "run".to_string()
    } else {
        format!("run.{inner}")
    };
    let Some((path, i, value)) = axis else {
        return Error::new(e.code, full, e.message);
    };
    // The axis set a field the run does not have (a typo in the path's last name).
    let unknown = e.message.contains("unknown field `")
        && field_in_message(&e.message).is_some_and(|name| {
            path == name
                || path == inner
                || path.strip_prefix(inner.as_str()) == Some(&format!(".{name}"))
        });
    if unknown {
        return Error::spec("axis.path", format!("run.{path}: {}", e.message));
    }
    let rest = inner.strip_prefix(path).filter(|r| {
        r.is_empty() || r.starts_with('.') || r.starts_with('[')
    });
    match rest {
        Some(rest) => Error::new(
            e.code,
            format!("axis.values[{i}]{rest}"),
            format!("{} (as {full})", e.message),
        ),
        None => Error::new(
            e.code,
            full,
            format!("{} (in the run with {path} = axis.values[{i}] = {value})", e.message),
        ),
    }
}

fn build(spec: Value, buffers: Buffers) -> Result<Box<dyn StudyKind>> {
    let spec: Spec = parse(spec)?;
    if !spec.run.is_object() {
        return Err(Error::spec("run", "expected a run spec (an object)"));
    }
    let Value::Object(q) = &spec.query else {
        return Err(Error::spec(
            "query",
            "expected a curvature query (an object, docs/curvature.md)",
        ));
    };
    let what = q.get("what").and_then(Value::as_str).unwrap_or("");

    // Buffers are the run's, under `run.`.
    let mut run_buffers = Buffers::new();
    for (name, data) in buffers {
        match name.strip_prefix("run.") {
            Some(inner) if !inner.is_empty() => {
                run_buffers.insert(inner.to_string(), data);
            }
            _ => {
                return Err(Error::request(
                    name,
                    "this buffer is not used by the study (a hessianGrid study takes the run's \
                     buffers, named run.<path>, e.g. run.target.matrix)",
                ))
            }
        }
    }

    // Columns: the grid, the run's loss, the report's numbers, then the caller's.
    let mut names: Vec<String> = vec!["run".into()];
    if spec.axis.is_some() {
        names.push("value".into());
    }
    names.extend(["step".into(), "loss".into()]);
    let mut from_report: Vec<(String, String)> = report_columns(what)
        .iter()
        .map(|(n, p)| (n.to_string(), p.to_string()))
        .collect();
    for (i, c) in spec.columns.iter().enumerate() {
        let taken = names.iter().chain(from_report.iter().map(|(n, _)| n));
        if c.name.is_empty() || taken.into_iter().any(|n| n == &c.name) {
            return Err(Error::spec(
                format!("columns[{i}].name"),
                format!("expected a new, non-empty column name, got {:?}", c.name),
            ));
        }
        if !(c.pointer.is_empty() || c.pointer.starts_with('/')) {
            return Err(Error::spec(
                format!("columns[{i}].pointer"),
                format!(
                    "expected a JSON pointer into the report (\"/smallest/1/value\"), got {:?}",
                    c.pointer
                ),
            ));
        }
        from_report.push((c.name.clone(), c.pointer.clone()));
    }
    names.extend(from_report.iter().map(|(n, _)| n.clone()));

    // The runs: the base spec, or one per axis value.
    let runs: Vec<(Value, Option<Value>)> = match &spec.axis {
        None => vec![(spec.run.clone(), None)],
        Some(axis) => {
            let segs = parse_path(&axis.path, "axis.path")?;
            if axis.values.is_empty() {
                return Err(Error::range("axis.values", "expected at least one value"));
            }
            let mut runs = Vec::with_capacity(axis.values.len());
            for v in &axis.values {
                let mut s = spec.run.clone();
                set_path(&mut s, &segs, v.clone(), "axis.path", "run")?;
                runs.push((s, Some(v.clone())));
            }
            runs
        }
    };

    // Validate every run (and learn its length) before any work: the session is built and dropped.
    let budget = Budget::new();
    let mut plans = Vec::with_capacity(runs.len());
    let (mut rows, mut total) = (0usize, 0u64);
    for (i, (run, value)) in runs.into_iter().enumerate() {
        let spec_json = run.to_string();
        let axis = spec
            .axis
            .as_ref()
            .zip(value.as_ref())
            .map(|(a, v)| (a.path.as_str(), i, v));
        let steps = Session::new(&spec_json, run_buffers.clone())
            .map_err(|e| run_error(e, axis))?
            .status()
            .steps;
        let which = |s: String| match axis {
            Some((path, i, v)) => format!("{s} (the run with {path} = axis.values[{i}] = {v})"),
            None => s,
        };
        let samples = match &spec.at {
            None => vec![steps],
            Some(At {
                steps: Some(_),
                every: Some(_),
            }) => {
                return Err(Error::spec("at", "give steps or every, not both"));
            }
            Some(At {
                steps: None,
                every: None,
            }) => return Err(Error::spec("at", "expected steps or every")),
            Some(At {
                steps: Some(list),
                every: None,
            }) => {
                if list.is_empty() {
                    return Err(Error::range("at.steps", "expected at least one step"));
                }
                let mut out = Vec::with_capacity(list.len());
                for (j, &s) in list.iter().enumerate() {
                    let f = format!("at.steps[{j}]");
                    let s = count(&f, s)?;
                    if let Some(&prev) = out.last() {
                        if s <= prev {
                            return Err(Error::range(
                                f,
                                format!("expected increasing steps, got {s} after {prev}"),
                            ));
                        }
                    }
                    if s > steps {
                        return Err(Error::range(
                            f,
                            which(format!("step {s} is after the run's last step {steps}")),
                        ));
                    }
                    out.push(s);
                }
                out
            }
            Some(At {
                steps: None,
                every: Some(e),
            }) => {
                let e = crate::spec::positive_count("at.every", *e)?;
                let n = steps / e + 1 + u64::from(!steps.is_multiple_of(e));
                let n = usize::try_from(n)
                    .map_err(|_| Error::too_large("at.every", "too many points"))?;
                budget.check("at.every", &[(n, 1usize)])?;
                let mut out: Vec<u64> = (0..=steps / e).map(|k| k * e).collect();
                if !steps.is_multiple_of(e) {
                    out.push(steps);
                }
                out
            }
        };
        let last = *samples.last().expect("at least one sample");
        let units = last
            .checked_add(samples.len() as u64)
            .ok_or_else(|| Error::too_large("at", "too many units of work"))?;
        total = total
            .checked_add(units)
            .ok_or_else(|| Error::too_large("at", "too many units of work"))?;
        rows = rows
            .checked_add(samples.len())
            .ok_or_else(|| Error::too_large("at", "too many points"))?;
        budget.check("at", &[(rows, names.len())])?;
        plans.push(Plan {
            spec_json,
            value,
            samples,
            units,
        });
    }

    let query_json = spec.query.to_string();
    let outcomes = vec![Value::Null; plans.len()];
    Ok(Box::new(HessianGrid {
        columns: vec![Vec::with_capacity(rows.min(1 << 16)); names.len()],
        names,
        from_report,
        plans,
        buffers: run_buffers,
        query: spec.query,
        query_json,
        axis_path: spec.axis.map(|a| a.path),
        keep_reports: spec.keep_reports,
        points: Vec::new(),
        outcomes,
        current: 0,
        next: 0,
        session: None,
        run_start: 0,
        done: 0,
        total,
    }))
}

fn number(v: Option<&Value>) -> f64 {
    match v {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(Value::Bool(b)) => f64::from(u8::from(*b)),
        _ => f64::NAN,
    }
}

fn status_json(s: &Status) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

impl HessianGrid {
    /// Append the row of point (`current`, `next`): the report (or None when the point was not
    /// reached, or the query failed at it).
    fn push(&mut self, step: u64, loss: Option<f64>, report: Option<&Value>) {
        let plan = &self.plans[self.current];
        let mut row = vec![self.current as f64];
        if self.axis_path.is_some() {
            row.push(number(plan.value.as_ref()));
        }
        row.extend([step as f64, loss.unwrap_or(f64::NAN)]);
        for (_, pointer) in &self.from_report {
            row.push(number(report.and_then(|r| r.pointer(pointer))));
        }
        debug_assert_eq!(row.len(), self.names.len());
        for (c, x) in self.columns.iter_mut().zip(row) {
            c.push(x);
        }
    }

    fn point(&self, step: u64, reached: bool, loss: Option<f64>) -> Map<String, Value> {
        let mut p = Map::new();
        p.insert("run".into(), json!(self.current));
        if let Some(v) = &self.plans[self.current].value {
            p.insert("value".into(), v.clone());
        }
        p.insert("step".into(), json!(step));
        p.insert("reached".into(), json!(reached));
        p.insert("loss".into(), json!(loss));
        p
    }

    /// Close the current run: record its status, drop its session, go to the next one.
    fn end_run(&mut self) {
        if let Some(s) = self.session.take() {
            self.outcomes[self.current] = status_json(&s.status());
        }
        self.run_start += self.plans[self.current].units;
        self.done = self.run_start;
        self.current += 1;
        self.next = 0;
    }
}

impl StudyKind for HessianGrid {
    fn total(&self) -> u64 {
        self.total
    }
    fn done(&self) -> u64 {
        self.done
    }
    fn finished(&self) -> bool {
        self.current == self.plans.len()
    }

    fn advance(&mut self, max_units: u64) -> Result<()> {
        let mut budget = max_units;
        while budget > 0 && self.current < self.plans.len() {
            let i = self.current;
            if self.session.is_none() {
                // Validated in `build`; an error here would be a bug, reported with its path.
                let s = Session::new(&self.plans[i].spec_json, self.buffers.clone())
                    .map_err(|e| run_error(e, None))?;
                self.session = Some(s);
            }
            let target = self.plans[i].samples[self.next];
            let session = self.session.as_mut().expect("session set above");
            let before = session.status();
            if before.step < target && !before.finished {
                let after = session.advance((target - before.step).min(budget));
                let taken = after.step.saturating_sub(before.step);
                self.done += taken;
                budget = budget.saturating_sub(taken.max(1));
                continue;
            }
            if before.step == target {
                // Evaluates the loss if it is not known yet (step 0); nothing else changes.
                let loss = session.advance(0).loss;
                let answer = session.hessian(&self.query_json);
                let mut point = self.point(target, true, loss);
                match answer {
                    Ok(text) => {
                        let report = super::parse_json(&text, "report")?;
                        self.push(target, loss, Some(&report));
                        if self.keep_reports {
                            point.insert("report".into(), report);
                        }
                    }
                    // A bad query fails the whole study (it would fail at every point).
                    Err(e) if e.field == "query" || e.field.starts_with("query.") => {
                        return Err(e)
                    }
                    // A point where the Hessian cannot be evaluated (non-finite) is a result.
                    Err(e) => {
                        self.push(target, loss, None);
                        point.insert("error".into(), serde_json::to_value(&e).unwrap_or_default());
                    }
                }
                self.points.push(Value::Object(point));
                self.done += 1;
                budget -= 1;
                self.next += 1;
            } else {
                // The run stopped (diverged) before this sample: it and the later ones are not
                // reached; their rows hold NaN.
                let samples = self.plans[i].samples[self.next..].to_vec();
                for s in samples {
                    self.push(s, None, None);
                    let p = self.point(s, false, None);
                    self.points.push(Value::Object(p));
                }
                self.next = self.plans[i].samples.len();
            }
            if self.next == self.plans[i].samples.len() {
                self.end_run();
            }
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
        out.insert("query".into(), self.query.clone());
        out.insert(
            "axis".into(),
            match &self.axis_path {
                Some(path) => json!({
                    "path": path,
                    "values": self.plans.iter().map(|p| p.value.clone()).collect::<Vec<_>>(),
                }),
                None => Value::Null,
            },
        );
        let runs: Vec<Value> = self
            .plans
            .iter()
            .zip(&self.outcomes)
            .enumerate()
            .map(|(i, (p, outcome))| {
                let mut r = Map::new();
                r.insert("run".into(), json!(i));
                if let Some(v) = &p.value {
                    r.insert("value".into(), v.clone());
                }
                r.insert("samples".into(), json!(p.samples));
                let status = match (&self.session, i == self.current) {
                    (Some(s), true) => status_json(&s.status()),
                    _ => outcome.clone(),
                };
                r.insert("status".into(), status);
                Value::Object(r)
            })
            .collect();
        out.insert("runs".into(), Value::Array(runs));
        out.insert("points".into(), Value::Array(self.points.clone()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn paths() {
        assert_eq!(
            parse_path("model.layers[1].width", "axis.path").unwrap(),
            vec![
                Seg::Key("model".into()),
                Seg::Key("layers".into()),
                Seg::Index(1),
                Seg::Key("width".into())
            ]
        );
        assert_eq!(parse_path("steps", "axis.path").unwrap(), vec![Seg::Key("steps".into())]);
        for bad in ["", ".a", "a..b", "a[", "a[x]", "a[-1]", "a b", "a.", "a[0]b"] {
            let e = parse_path(bad, "axis.path").unwrap_err();
            assert_eq!(e.field, "axis.path", "{bad}");
            assert_eq!(e.code, ErrorCode::InvalidSpec);
        }
    }

    #[test]
    fn set_paths() {
        let mut v = json!({"model": {"d1": 3, "layers": [{"width": 2}]}});
        set_path(&mut v, &parse_path("model.d1", "axis.path").unwrap(), json!(4), "axis.path", "run").unwrap();
        set_path(&mut v, &parse_path("model.balanceWeight", "axis.path").unwrap(), json!(0.5), "axis.path", "run").unwrap();
        set_path(&mut v, &parse_path("model.layers[0].width", "axis.path").unwrap(), json!(7), "axis.path", "run").unwrap();
        assert_eq!(
            v,
            json!({"model": {"d1": 4, "balanceWeight": 0.5, "layers": [{"width": 7}]}})
        );
        for (p, msg) in [
            ("init.stdU", "run has no field \"init\""),
            ("model.layers[3].width", "run.model.layers has 1 entries, no index 3"),
            ("model.d1.x", "run.model.d1 is not an object"),
            ("model[0]", "run.model is not an array"),
        ] {
            let e = set_path(&mut v, &parse_path(p, "axis.path").unwrap(), json!(1), "axis.path", "run").unwrap_err();
            assert_eq!(e.field, "axis.path");
            assert!(e.message.starts_with(msg), "{p}: {}", e.message);
        }
    }
}
