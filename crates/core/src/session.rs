//! A run: a validated problem, its state, and the metric columns recorded so far. Advanced in
//! chunks by the caller (the bindings), so that long runs can be streamed, reported and cancelled
//! without the core knowing about threads or event loops.

use std::collections::HashMap;

use serde_json::Value;

use crate::build::{Budget, Buffers};
use crate::curvature::CurvatureTracker;
use crate::dynamics::method::{objective, Method};
use crate::dynamics::schedule::Schedule;
use crate::error::{Error, Result};
use crate::linalg::all_finite;
use crate::model::mf::MatrixFactorization;
use crate::model::net::Network;
use crate::model::{self, Column, Family, Model, Role, RunInfo};
use crate::spec::{self, count, positive, positive_count, MethodSpec, RunSpec, ScheduleSpec};

pub use crate::build::{max_bytes, set_max_bytes, MAX_BYTES};

/// Columns added by `curvature` in the spec (NaN on rows without a sample).
pub const CURVATURE_COLUMNS: [&str; 4] = [
    "lambdaMin",
    "lambdaMax",
    "lambdaMinResidual",
    "lambdaMaxResidual",
];

/// Where a run is. Serialized to JSON for the bindings.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Index of the current iterate (number of steps taken).
    pub step: u64,
    /// Steps asked for.
    pub steps: u64,
    /// Rows recorded so far.
    pub rows: usize,
    /// True once the run has stopped (all steps taken, diverged, or a step failed).
    pub finished: bool,
    /// Why the run stopped; `None` while it runs.
    pub stop: Option<Stop>,
    /// Step at which the loss became non-finite; the state kept is the iterate before it (the
    /// start of the span, when a model took a closed-form span of steps).
    pub diverged_at: Option<u64>,
    /// When the run stopped early (`diverged` or `solverFailed`): the step whose iterate is bad
    /// or could not be computed; the state kept (and its row, the last recorded) is the iterate
    /// before it, `stopped_at - 1` (none when the initial loss is already non-finite).
    pub stopped_at: Option<u64>,
    /// Why the run stopped early, in words (which solve failed, with its defect and tolerance;
    /// or, with stop `finished` before `steps`, that the model ended the run,
    /// [`Model::finished_early`]).
    pub reason: Option<String>,
    /// Loss at the current iterate, if known.
    pub loss: Option<f64>,
}

/// Why a run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Stop {
    /// All steps taken, or the model ended the run at a decided iterate
    /// ([`Model::finished_early`]; then `step < steps`).
    Finished,
    /// The loss (or the gradient, or a squared norm of the iterate or of the gradient) became
    /// non-finite.
    Diverged,
    /// A step could not be taken: an implicit solve did not converge, or an error control
    /// rejected every trial step. The iterate is the last one computed.
    SolverFailed,
}

pub struct Session {
    model: Box<dyn Model>,
    method: Method,
    schedule: Schedule,
    steps: u64,
    record_every: u64,
    t: u64,
    w: Vec<f64>,
    w0: Vec<f64>,
    prev: Vec<f64>,
    grad: Vec<f64>,
    names: Vec<String>,
    roles: Vec<Role>,
    columns: Vec<Vec<f64>>,
    /// Curvature along the trajectory: (every, warm-started tracker).
    tracker: Option<(u64, CurvatureTracker)>,
    row: Vec<f64>,
    last_recorded: Option<u64>,
    loss: Option<f64>,
    /// Loss at the current iterate, when `grad` holds its gradient.
    current: Option<f64>,
    last_h: f64,
    /// Iterations the last step covered (more than 1 for a model's closed-form span).
    last_span: u64,
    /// The flow time of `prev` (restored exactly when a step is undone).
    prev_time: f64,
    /// The model takes plain GD steps itself ([`Model::gd_steps`]): the method is `gd` without
    /// weight decay.
    model_gd: bool,
    diverged_at: Option<u64>,
    stop: Option<Stop>,
    stopped_at: Option<u64>,
    reason: Option<String>,
    finished: bool,
    /// Methods that skip full-batch evaluations (SGD, Nesterov): the last evaluated iterate with a
    /// finite loss (step, parameters, method state, last step size), replayed from with an
    /// evaluation at every step when the run is found diverged, to find the last finite one.
    checkpoint: Option<(u64, Vec<f64>, Method, f64)>,
    /// Evaluate every iterate up to this step (a replay after a divergence).
    eager_until: u64,
    /// The memory this run holds against the limit of later runs.
    reservation: crate::build::Reservation,
}

/// The curvature tracker a spec asks for (`curvature: {every, tol, maxIter, seed}`), validated:
/// `every` a multiple of `recordEvery`, 0 < tol <= 0.5.
pub(crate) fn curvature_tracker(
    c: Option<&spec::CurvatureSpec>,
    record_every: u64,
) -> Result<Option<(u64, CurvatureTracker)>> {
    let Some(c) = c else { return Ok(None) };
    let every = spec::positive_count("curvature.every", c.every)?;
    if !every.is_multiple_of(record_every) {
        return Err(Error::range(
            "curvature.every",
            format!("expected a multiple of recordEvery = {record_every}, got {every}"),
        ));
    }
    let tol = spec::positive_real("curvature.tol", c.tol)?;
    if tol > 0.5 {
        return Err(Error::range(
            "curvature.tol",
            format!("expected 0 < tol <= 0.5, got {tol}"),
        ));
    }
    let max_iter = positive("curvature.maxIter", c.max_iter)?;
    let seed = count("curvature.seed", c.seed)?;
    Ok(Some((every, CurvatureTracker::new(tol, max_iter, seed))))
}

/// Runs that differ only in seeds, parsed once ([`Session::template`]).
pub struct SessionTemplate {
    family: &'static dyn Family,
    kind: String,
    run: RunSpec,
    problem: Box<dyn model::ProblemTemplate>,
    buffers: HashMap<String, Vec<f64>>,
}

impl std::fmt::Debug for SessionTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionTemplate({})", self.kind)
    }
}

/// A spec's top-level fields (a JSON object's map).
type Fields = serde_json::Map<String, Value>;

/// A spec's top-level fields split into the run's own (`spec::RUN_FIELDS`) and the family's
/// problem (`model` and the family's fields); `Err` with the first field that is neither.
fn split_fields(
    family: &dyn Family,
    fields: Fields,
) -> std::result::Result<(Fields, Fields), String> {
    let (mut run_part, mut problem) = (serde_json::Map::new(), serde_json::Map::new());
    for (k, v) in fields {
        if spec::RUN_FIELDS.contains(&k.as_str()) {
            run_part.insert(k, v);
        } else if k == "model" || family.fields().contains(&k.as_str()) {
            problem.insert(k, v);
        } else {
            return Err(k);
        }
    }
    Ok((run_part, problem))
}

impl Session {
    /// Validate a spec and its buffers and set up the run. Nothing is computed before every
    /// input has been checked. `model.kind` picks the family in [`model::FAMILIES`].
    pub fn new(spec_json: &str, buffers: HashMap<String, Vec<f64>>) -> Result<Session> {
        Self::with_families(model::FAMILIES, spec_json, buffers)
    }

    /// [`Session::new`] with another registry of families (tests register toy families).
    ///
    /// The spec is parsed in two stages: the run's own fields ([`spec::RUN_FIELDS`]: schedule,
    /// steps, method, ...) as a [`RunSpec`], then `model` and the family's fields by the family.
    /// A field that belongs to neither is an error naming it.
    pub fn with_families(
        families: &[&dyn Family],
        spec_json: &str,
        buffers: HashMap<String, Vec<f64>>,
    ) -> Result<Session> {
        let value: Value = spec::parse_text(spec_json, "spec")?;
        Self::from_value_with(families, value, buffers)
    }

    /// [`Session::new`] from a parsed spec (a sweep builds its runs' specs as values).
    pub fn from_value(value: Value, buffers: HashMap<String, Vec<f64>>) -> Result<Session> {
        Self::from_value_with(model::FAMILIES, value, buffers)
    }

    /// [`Session::with_families`] from a parsed spec.
    pub fn from_value_with(
        families: &[&dyn Family],
        value: Value,
        buffers: HashMap<String, Vec<f64>>,
    ) -> Result<Session> {
        // The family first (which fields mean what depends on it), then nulls and depth.
        let Some(fields) = value.as_object() else {
            return Err(Error::spec("spec", "expected a JSON object"));
        };
        let kinds = || {
            families
                .iter()
                .map(|f| f.kind())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let kind = match fields.get("model") {
            None => return Err(Error::spec("model", "missing field `model`")),
            Some(m) => match m.get("kind") {
                Some(Value::String(k)) => k.clone(),
                Some(_) => {
                    return Err(Error::spec(
                        "model.kind",
                        format!("expected a string, one of: {}", kinds()),
                    ))
                }
                None => return Err(Error::spec("model.kind", "missing field `kind`")),
            },
        };
        let family = model::family(families, &kind).ok_or_else(|| {
            Error::spec(
                "model.kind",
                format!("unknown model kind {kind:?}: expected one of {}", kinds()),
            )
        })?;
        spec::check_value(&value, "", "spec")?;
        let Value::Object(fields) = value else {
            return Err(Error::spec("spec", "expected a JSON object"));
        };
        let (run_part, problem) = split_fields(family, fields).map_err(|k| {
            let mut known: Vec<&str> = vec!["model"];
            known.extend(family.fields());
            known.extend(spec::RUN_FIELDS);
            let known: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            Error::spec(
                k.clone(),
                format!(
                    "unknown field `{k}` (model kind {kind:?}), expected one of {}",
                    known.join(", ")
                ),
            )
        })?;
        let run: RunSpec = spec::from_value(Value::Object(run_part), "", "spec")?;
        Self::finish(family, &kind, &run, buffers, |buffers, info, budget| {
            family.build(Value::Object(problem), buffers, info, budget)
        })
    }

    /// A template of runs whose specs are `value` but for the integers at `seed_paths` (spec
    /// paths, e.g. `init.seed`): the run's fields parsed once, the family's problem parsed once
    /// by its [`Family::template`]. `None` when the spec does not build this way (an error, a
    /// seed path outside the family's fields, a family without templates): then build each run
    /// with [`Session::from_value`]. [`Session::from_template`] gives what `from_value` gives.
    pub fn template(
        value: Value,
        buffers: HashMap<String, Vec<f64>>,
        seed_paths: &[&str],
    ) -> Option<SessionTemplate> {
        let families = model::FAMILIES;
        let kind = value.get("model")?.get("kind")?.as_str()?.to_string();
        let family = model::family(families, &kind)?;
        spec::check_value(&value, "", "spec").ok()?;
        let Value::Object(fields) = value else {
            return None;
        };
        let (run_part, problem) = split_fields(family, fields).ok()?;
        // Every seed in the family's part (the run's own fields are the same for all runs).
        let in_problem = |p: &&str| {
            let top = p.split(['.', '[']).next().unwrap_or("");
            problem.contains_key(top)
        };
        if !seed_paths.iter().all(in_problem) {
            return None;
        }
        let run: RunSpec = spec::from_value(Value::Object(run_part), "", "spec").ok()?;
        let problem = family.template(Value::Object(problem), seed_paths)?;
        Some(SessionTemplate {
            family,
            kind,
            run,
            problem,
            buffers,
        })
    }

    /// The run of `template` with `seeds[j]` at its `j`-th seed path: the same session (and the
    /// same errors) as [`Session::from_value`] of that run's spec.
    pub fn from_template(t: &SessionTemplate, seeds: &[u64]) -> Result<Session> {
        Self::finish(
            t.family,
            &t.kind,
            &t.run,
            t.buffers.clone(),
            |buffers, info, budget| t.problem.build(seeds, buffers, info, budget),
        )
    }

    /// The rest of [`Session::from_value_with`] once the run's fields are parsed: `build` makes
    /// the model and its initial point.
    fn finish(
        family: &dyn Family,
        kind: &str,
        run: &RunSpec,
        buffers: HashMap<String, Vec<f64>>,
        build: impl FnOnce(&mut Buffers, &RunInfo, &mut Budget) -> Result<model::Built>,
    ) -> Result<Session> {
        // The run's own fields, validated before the family does any work.
        let steps = count("steps", run.steps)?;
        let record_every = positive_count("recordEvery", run.record_every)?;
        let rows_max = steps / record_every + 2;
        let tracker = curvature_tracker(run.curvature.as_ref(), record_every)?;
        if matches!(run.schedule, ScheduleSpec::Theorem31 { .. }) && !family.theorem31() {
            return Err(Error::range(
                "schedule.kind",
                format!("the Theorem 3.1 schedule is defined for matrix factorization only, not for {kind}"),
            ));
        }
        Schedule::from_spec(&run.schedule, 1, 1.0)?;
        if !matches!(run.method, Some(MethodSpec::Sgd { .. })) {
            // Everything but SGD's batch size (checked against the samples below).
            Method::from_spec(run.method.as_ref(), run.weight_decay, 0, None)?;
        }
        let info = RunInfo {
            // The columns grow by doubling (capacity < 2 rows), and one is copied while it grows.
            rows_max: rows_max.saturating_mul(3),
            // step, eta, time, up to two method columns, four curvature columns when on.
            other_columns: 5 + if tracker.is_some() {
                CURVATURE_COLUMNS.len()
            } else {
                0
            },
            per_param: 4 + Method::buffers(run.method.as_ref()),
            curvature_iter: tracker.as_ref().map_or(0, |(_, t)| t.max_iter),
            method: run.method.as_ref(),
            weight_decay: run.weight_decay,
        };
        let mut budget = Budget::new();
        let mut buffers = Buffers::from(buffers);
        let built = build(&mut buffers, &info, &mut budget)?;
        // Explicit matrices are checked when read; a generated start can still overflow (a
        // standard deviation near f64::MAX): refuse it, naming the block and entry.
        if let Some(i) = built.w0.iter().position(|x| !x.is_finite()) {
            let blocks = built.model.blocks();
            let b = blocks
                .iter()
                .find(|b| (b.offset..b.offset + b.len()).contains(&i));
            let at = b.map_or(String::new(), |b| {
                format!(" (block {}, entry {})", b.name, i - b.offset)
            });
            return Err(Error::non_finite(
                "init",
                format!(
                    "the initial parameters are not finite{at}: a scale of the init is too large"
                ),
            ));
        }
        // Held against the limit of the runs created while this one is alive.
        let reservation = budget.hold("model")?;
        let (r, target_norm) = built.model.theorem31_scale().unwrap_or((1, 1.0));
        let schedule = Schedule::from_spec(&run.schedule, r, target_norm)?;
        let method = Method::from_spec(
            run.method.as_ref(),
            run.weight_decay,
            built.model.dim(),
            built.model.samples(),
        )?;
        Ok(Session::assemble(
            built.model,
            built.w0,
            method,
            schedule,
            steps,
            record_every,
            rows_max.min(1 << 20) as usize,
        )
        .with_curvature(tracker)
        .with_reservation(reservation))
    }

    /// Add the curvature columns when the spec asks for them (every family has an HVP: exact, or
    /// the central-difference default).
    pub(crate) fn with_curvature(mut self, tracker: Option<(u64, CurvatureTracker)>) -> Session {
        if tracker.is_none() {
            return self;
        }
        for name in CURVATURE_COLUMNS {
            self.names.push(name.to_string());
            self.roles.push(Role::Curvature);
            self.columns
                .push(Vec::with_capacity(self.columns[0].capacity()));
        }
        self.tracker = tracker;
        self
    }

    /// Keep the run's memory reserved against later runs' limit while it is alive.
    pub(crate) fn with_reservation(mut self, r: crate::build::Reservation) -> Session {
        self.reservation = r;
        self
    }

    /// Bytes this run reserved against the memory limit (model, scratch, recorded rows).
    pub fn reserved_bytes(&self) -> u64 {
        self.reservation.bytes()
    }

    /// Set up a validated run.
    pub(crate) fn assemble(
        mut model: Box<dyn Model>,
        w: Vec<f64>,
        method: Method,
        schedule: Schedule,
        steps: u64,
        record_every: u64,
        rows_max: usize,
    ) -> Session {
        model.set_reference(&w);
        if method.needs_pattern_freeze() {
            model.enable_pattern_freeze();
        }
        // step, eta, flow time (the sum of step sizes: GD is Euler's method on the flow), the
        // model's metrics, the method's statistics.
        let mut cols = vec![
            Column::new("step", Role::Step),
            Column::new("eta", Role::StepSize),
            Column::new("time", Role::Time),
        ];
        cols.extend(model.columns());
        cols.extend(
            method
                .column_names()
                .iter()
                .map(|s| Column::new(*s, Role::Solver)),
        );
        let (names, roles): (Vec<String>, Vec<Role>) =
            cols.into_iter().map(|c| (c.name, c.role)).unzip();
        let p = w.len();
        let method_is_plain_gd = method.name() == "gd" && method.weight_decay == 0.0;
        Session {
            model,
            method,
            schedule,
            steps,
            record_every,
            t: 0,
            w0: w.clone(),
            prev: w.clone(),
            grad: vec![0.0; p],
            w,
            // Each column its own capacity (`vec![v; n]` clones `v`, and a clone of an empty
            // vector has none: every column grew from 0 at its first rows).
            columns: (0..names.len())
                .map(|_| Vec::with_capacity(rows_max.min(1 << 20)))
                .collect(),
            row: Vec::with_capacity(names.len()),
            names,
            roles,
            tracker: None,
            last_recorded: None,
            loss: None,
            current: None,
            last_h: 0.0,
            last_span: 1,
            prev_time: 0.0,
            model_gd: method_is_plain_gd,
            diverged_at: None,
            stop: None,
            stopped_at: None,
            reason: None,
            finished: false,
            checkpoint: None,
            eager_until: 0,
            reservation: crate::build::Reservation::default(),
        }
    }

    pub fn column_names(&self) -> &[String] {
        &self.names
    }

    /// The role of each recorded column, in the order of [`Session::column_names`]
    /// ([`Role::name`]: `step`, `stepSize`, `time`, `loss`, `norm`, `ratio`, `invariant`, `drift`,
    /// `residual`, `gradNorm`, `curvature`, `solver`, `other`).
    pub fn column_roles(&self) -> Vec<&'static str> {
        self.roles.iter().map(|r| r.name()).collect()
    }

    /// The recorded columns with their roles, in order.
    pub fn columns(&self) -> Vec<Column> {
        self.names
            .iter()
            .zip(&self.roles)
            .map(|(n, r)| Column::new(n.clone(), *r))
            .collect()
    }

    /// A recorded column from row `start` on.
    pub fn column(&self, name: &str, start: usize) -> Result<&[f64]> {
        let i = self
            .names
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| Error::request("column", format!("no column named {name:?}")))?;
        let col = &self.columns[i];
        Ok(&col[start.min(col.len())..])
    }

    /// A matrix of the run by name. Matrix factorization: `U`, `V` (current), `U0`, `V0`
    /// (initial), `target` (M*). Networks: `W1`.. (current), `W1_0`.. (initial), `b1`.., `v1`..
    /// (free parameters of shared layers), `X`, `Y`. Returns (rows, cols, row-major data).
    pub fn matrix(&self, name: &str) -> Result<(usize, usize, &[f64])> {
        self.model.matrix(name, &self.w, &self.w0)
    }

    /// Names of the parameter blocks (`U`, `V`; `W1`, `b1`, `v2`, ...): `matrix(name)` gives the
    /// current value, `matrix(name + "_0")` the initial one.
    pub fn param_names(&self) -> Vec<String> {
        self.model.blocks().iter().map(|b| b.name.clone()).collect()
    }

    pub fn status(&self) -> Status {
        Status {
            step: self.t,
            steps: self.steps,
            rows: self.columns[0].len(),
            finished: self.finished,
            stop: self.stop,
            diverged_at: self.diverged_at,
            stopped_at: self.stopped_at,
            reason: self.reason.clone(),
            loss: self.loss,
        }
    }

    /// Append the metrics of the current iterate (loss and gradient already computed, and the
    /// model's last evaluation was at the current iterate).
    fn record(&mut self, loss: f64) {
        if self.last_recorded == Some(self.t) {
            return;
        }
        let mut row = std::mem::take(&mut self.row);
        row.clear();
        row.push(self.t as f64);
        row.push(self.method.next_h(self.schedule.eta(self.t)));
        row.push(self.method.time);
        self.model.metrics(&self.w, &self.grad, loss, &mut row);
        self.method.columns(&mut row);
        if let Some((every, tracker)) = &mut self.tracker {
            if self.t.is_multiple_of(*every) || self.t == self.steps {
                self.model.full_batch();
                let c = tracker.sample(self.model.as_mut(), &self.w);
                self.model.end_queries();
                row.extend([
                    c.lambda_min,
                    c.lambda_max,
                    c.lambda_min_residual,
                    c.lambda_max_residual,
                ]);
            } else {
                row.extend([f64::NAN; 4]);
            }
        }
        for (c, x) in self.columns.iter_mut().zip(&row) {
            c.push(*x);
        }
        self.row = row;
        self.last_recorded = Some(self.t);
    }

    /// A step from the current iterate t failed: stop with `solverFailed`, keep iterate t (the
    /// method left it unchanged; restored from `prev` all the same) and record its row.
    fn solver_failed(&mut self, reason: String) {
        self.w.copy_from_slice(&self.prev);
        self.stop = Some(Stop::SolverFailed);
        self.stopped_at = Some(self.t + 1);
        self.reason = Some(format!("step {} -> {}: {reason}", self.t, self.t + 1));
        self.finished = true;
        let l = self.eval_current();
        self.loss = Some(l);
        self.record(l);
    }

    fn eval_current(&mut self) -> f64 {
        let wd = self.method.weight_decay;
        let l = objective(self.model.as_mut(), wd, &self.w, &mut self.grad);
        self.current = Some(l);
        l
    }

    /// Take up to `max_steps` steps of the method (more when a model's closed-form span,
    /// [`Model::gd_steps`], crosses `max_steps`: spans end only at recorded rows). Stops early when the run is finished, when
    /// the loss becomes non-finite (then the last iterate with a finite loss is kept: `stop:
    /// diverged`), or when a step fails (an implicit solve that does not converge: the iterate
    /// before it is kept, `stop: solverFailed`); in both cases the kept iterate's row is the last
    /// one recorded. The loss and
    /// gradient of the current iterate are cached, so chunking costs no extra evaluation.
    pub fn advance(&mut self, max_steps: u64) -> Status {
        let mut taken = 0;
        let lazy = self.method.reads_no_full_gradient();
        while !self.finished {
            // Methods that never read the full gradient (SGD, Nesterov) skip the full-batch
            // evaluation between recorded rows and chunk ends; the trajectory is the same. When
            // such a run is found diverged (a non-finite iterate, or a non-finite loss at the
            // next evaluation), it is replayed from the last evaluated iterate with an evaluation
            // at every step, which finds the last finite iterate as the eager path does.
            let needed = !lazy
                || self.current.is_some()
                || self.t <= self.eager_until
                || self.t.is_multiple_of(self.record_every)
                || self.t == self.steps
                || taken >= max_steps
                || self.model.finished_early();
            if !needed && all_finite(&self.w) {
                self.loss = None;
                let eta = self.schedule.eta(self.t);
                self.prev.copy_from_slice(&self.w);
                self.prev_time = self.method.time;
                match self
                    .method
                    .step(self.model.as_mut(), &mut self.w, &self.grad, eta)
                {
                    Ok(h) => self.last_h = h,
                    Err(e) => {
                        self.solver_failed(e.reason);
                        break;
                    }
                }
                self.last_span = 1;
                self.t += 1;
                taken += 1;
                self.model.after_step(self.t, &self.w);
                continue;
            }
            let loss = match (needed, self.current) {
                (true, Some(l)) => l,
                (true, None) => self.eval_current(),
                (false, _) => f64::NAN,
            };
            // A gradient whose norm exceeds f64::MAX (finite entries, e.g. under a huge weight
            // decay) is a divergence too: its row could not be recorded finite.
            let bad = !loss.is_finite()
                || !all_finite(&self.grad)
                || !crate::linalg::norm(&self.grad).is_finite();
            if bad && lazy {
                if let Some((t0, w0, method, last_h)) = self.checkpoint.take() {
                    if t0 + 1 < self.t {
                        self.eager_until = self.t;
                        self.t = t0;
                        self.w = w0;
                        self.method = method;
                        self.last_h = last_h;
                        self.current = None;
                        self.model.after_step(self.t, &self.w);
                        continue;
                    }
                }
            }
            if lazy && !bad {
                match &mut self.checkpoint {
                    Some((t0, w0, method, last_h)) => {
                        *t0 = self.t;
                        w0.copy_from_slice(&self.w);
                        *method = self.method.clone();
                        *last_h = self.last_h;
                    }
                    None => {
                        self.checkpoint =
                            Some((self.t, self.w.clone(), self.method.clone(), self.last_h))
                    }
                }
            }
            if bad {
                self.diverged_at = Some(self.t);
                self.stopped_at = Some(self.t);
                self.stop = Some(Stop::Diverged);
                self.finished = true;
                let undefined = self.model.undefined_reason();
                if self.t > 0 {
                    let kept = self.t - self.last_span;
                    self.reason = Some(match undefined {
                        Some(why) => format!(
                            "the loss is not defined at step {}: {why}; the state kept is step \
                             {kept}",
                            self.t
                        ),
                        None => format!(
                            "the loss or its gradient is not finite at step {}; the state kept \
                             is step {kept}",
                            self.t
                        ),
                    });
                    std::mem::swap(&mut self.w, &mut self.prev);
                    self.t = kept;
                    self.method.time = self.prev_time;
                    self.model.after_step(self.t, &self.w);
                    let l = self.eval_current();
                    self.loss = Some(l);
                    self.record(l);
                } else {
                    // No finite state: nothing is recorded (rows: 0), the parameters are the
                    // initial ones.
                    self.reason = Some(match undefined {
                        Some(why) => format!(
                            "the loss is not defined at the initial point: {why}; no row is \
                             recorded"
                        ),
                        None => format!(
                            "the loss or its gradient is not finite at the initial point (loss \
                             {loss}); no row is recorded"
                        ),
                    });
                    self.loss = None;
                }
                break;
            }
            self.loss = Some(loss);
            // The model may end the run here (Model::finished_early): its row is the last.
            let early = self.t < self.steps && self.model.finished_early();
            if self.t.is_multiple_of(self.record_every) || self.t == self.steps || early {
                self.record(loss);
            }
            if self.t == self.steps || early {
                self.finished = true;
                self.stop = Some(Stop::Finished);
                if early {
                    self.reason = Some(format!(
                        "the model ended the run at step {} of {} (it is decided)",
                        self.t, self.steps
                    ));
                }
                break;
            }
            if taken >= max_steps {
                break;
            }
            let eta = self.schedule.eta(self.t);
            self.prev.copy_from_slice(&self.w);
            self.prev_time = self.method.time;
            if self.model_gd {
                // The model may take plain GD steps itself, a closed-form span at a time, up to
                // the next recorded row and the end of the run. Not cut at the chunk's end: a
                // span's bits depend on its length, and chunking must change no bits (a chunk
                // may then take more than `max_steps` iterations; a span costs what its phases
                // cost, not its length).
                let next_row = (self.t / self.record_every + 1) * self.record_every;
                let max = if self.schedule.is_constant() {
                    next_row.min(self.steps) - self.t
                } else {
                    1
                };
                if let Some(n) = self.model.gd_steps(&mut self.w, eta, max) {
                    if n == 0 && self.model.finished_early() {
                        // No iteration taken: the span's first iterate ends the run. Its row,
                        // if recorded before the model decided, is recorded again.
                        if self.last_recorded == Some(self.t) {
                            self.columns.iter_mut().for_each(|c| {
                                c.pop();
                            });
                            self.last_recorded = None;
                        }
                        continue;
                    }
                    debug_assert!((1..=max).contains(&n), "gd_steps took {n} of 1..={max}");
                    let n = n.clamp(1, max);
                    self.last_h = eta;
                    self.last_span = n;
                    // one product per span (a span can be 10^8 steps long): the last bit of
                    // `time` may therefore depend on where the spans end (on recordEvery)
                    self.method.time += eta * n as f64;
                    self.current = None;
                    self.t += n;
                    taken += n;
                    self.model.after_step(self.t, &self.w);
                    continue;
                }
            }
            match self
                .method
                .step(self.model.as_mut(), &mut self.w, &self.grad, eta)
            {
                Ok(h) => self.last_h = h,
                Err(e) => {
                    self.solver_failed(e.reason);
                    break;
                }
            }
            self.current = self.method.take_fsal(&mut self.grad);
            self.last_span = 1;
            self.t += 1;
            taken += 1;
            self.model.after_step(self.t, &self.w);
        }
        self.status()
    }

    /// The model of the run.
    pub fn model(&self) -> &dyn Model {
        self.model.as_ref()
    }
    /// Run this session's evaluations sequentially or on rayon ([`crate::par`]): the chunks and
    /// the results are the same; a sweep runs many sequential sessions side by side.
    pub fn set_parallelism(&mut self, par: crate::par::Parallelism) {
        self.model.set_parallelism(par);
    }

    /// The model of the run, mutable (evaluations at other points; the run's own state is kept
    /// by the session, but a model may cache its last evaluation: advance only after
    /// re-evaluating at [`Session::params`] or not at all).
    pub fn model_mut(&mut self) -> &mut dyn Model {
        self.model.as_mut()
    }
    /// The matrix-factorization model, if the run is one.
    pub fn mf(&self) -> Option<&MatrixFactorization> {
        self.model.downcast_ref()
    }
    /// The network model, if the run is one.
    pub fn network(&self) -> Option<&Network> {
        self.model.downcast_ref()
    }
    /// The step size method state (flow time, solver statistics).
    pub fn method(&self) -> &Method {
        &self.method
    }
    pub fn initial_params(&self) -> &[f64] {
        &self.w0
    }
    pub fn params(&self) -> &[f64] {
        &self.w
    }

    /// A curvature query at the current iterate (see `curvature::analyze` and
    /// docs/curvature.md); returns the JSON report.
    pub fn hessian(&mut self, query_json: &str) -> Result<String> {
        self.model.full_batch();
        let r = crate::curvature::analyze(self.model.as_mut(), &self.w, query_json);
        self.model.end_queries();
        r
    }
}
