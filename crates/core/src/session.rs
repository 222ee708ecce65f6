//! A run: a validated problem, its state, and the metric columns recorded so far. Advanced in
//! chunks by the caller (the bindings), so that long runs can be streamed, reported and cancelled
//! without the core knowing about threads or event loops.

use std::collections::HashMap;

use crate::curvature::CurvatureTracker;
use crate::dynamics::method::{objective, Method};
use crate::dynamics::schedule::Schedule;
use crate::error::{Error, Result};
use crate::linalg::{all_finite, norm2};
use crate::model::mf::MatrixFactorization;
use crate::model::net::Network;
use crate::model::Model;
use crate::rng::Normal;
use crate::spec::{
    self, count, finite, positive, InitSpec, MatrixRef, ModelSpec, RunSpec, TargetSpec,
};

/// Columns added by `curvature` in the spec (NaN on rows without a sample).
pub const CURVATURE_COLUMNS: [&str; 4] = [
    "lambdaMin",
    "lambdaMax",
    "lambdaMinResidual",
    "lambdaMaxResidual",
];

/// Largest working set a problem may ask for, in bytes.
#[cfg(target_pointer_width = "64")]
pub const MAX_BYTES: u64 = 32 << 30;
#[cfg(not(target_pointer_width = "64"))]
pub const MAX_BYTES: u64 = 2 << 30;

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
    /// True once the run has stopped (all steps taken, or diverged).
    pub finished: bool,
    /// Step at which the loss became non-finite; the state kept is the iterate before it.
    pub diverged_at: Option<u64>,
    /// Loss at the current iterate, if known.
    pub loss: Option<f64>,
}

/// The model of a session.
pub enum Problem {
    Mf(MatrixFactorization),
    Net(Network),
}

impl Problem {
    pub fn model(&self) -> &dyn Model {
        match self {
            Problem::Mf(m) => m,
            Problem::Net(n) => n,
        }
    }
    pub fn model_mut(&mut self) -> &mut dyn Model {
        match self {
            Problem::Mf(m) => m,
            Problem::Net(n) => n,
        }
    }
}

pub struct Session {
    problem: Problem,
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
    /// Column `time` (flow time) present.
    has_time: bool,
    columns: Vec<Vec<f64>>,
    /// Curvature along the trajectory: (every, warm-started tracker).
    tracker: Option<(u64, CurvatureTracker)>,
    row: Vec<f64>,
    last_recorded: Option<u64>,
    loss: Option<f64>,
    /// Loss at the current iterate, when `grad` holds its gradient.
    current: Option<f64>,
    last_h: f64,
    diverged_at: Option<u64>,
    finished: bool,
    /// Methods that skip full-batch evaluations (SGD, Nesterov): the last evaluated iterate with a
    /// finite loss (step, parameters, method state, last step size), replayed from with an
    /// evaluation at every step when the run is found diverged, to find the last finite one.
    checkpoint: Option<(u64, Vec<f64>, Method, f64)>,
    /// Evaluate every iterate up to this step (a replay after a divergence).
    eager_until: u64,
}

pub(crate) fn take_buffer(
    buffers: &mut HashMap<String, Vec<f64>>,
    name: &str,
    shape: &MatrixRef,
    rows: usize,
    cols: usize,
) -> Result<Vec<f64>> {
    let r = positive(&format!("{name}.rows"), shape.rows)?;
    let c = positive(&format!("{name}.cols"), shape.cols)?;
    if r != rows || c != cols {
        return Err(Error::shape(
            name,
            format!("expected a {rows} x {cols} matrix, got {r} x {c}"),
        ));
    }
    let data = buffers.remove(name).ok_or_else(|| {
        Error::request(
            name,
            format!("the data of this {rows} x {cols} matrix was not passed"),
        )
    })?;
    if data.len() != rows * cols {
        return Err(Error::shape(
            name,
            format!(
                "expected {} numbers ({rows} x {cols}, row-major), got {}",
                rows * cols,
                data.len()
            ),
        ));
    }
    if let Some(i) = data.iter().position(|x| !x.is_finite()) {
        return Err(Error::non_finite(
            name,
            format!("entry ({}, {}) is {}", i / cols, i % cols, data[i]),
        ));
    }
    Ok(data)
}

/// Gaussian `n x r` matrix with orthonormal columns (modified Gram-Schmidt, applied twice).
fn random_orthonormal(rng: &mut Normal, n: usize, r: usize) -> Vec<f64> {
    let mut q = vec![0.0; n * r];
    rng.fill(&mut q, 1.0);
    for j in 0..r {
        for _pass in 0..2 {
            for k in 0..j {
                let mut p = 0.0;
                for i in 0..n {
                    p += q[i * r + j] * q[i * r + k];
                }
                for i in 0..n {
                    q[i * r + j] -= p * q[i * r + k];
                }
            }
        }
        let mut s = 0.0;
        for i in 0..n {
            s += q[i * r + j] * q[i * r + j];
        }
        let s = libm::sqrt(s);
        for i in 0..n {
            q[i * r + j] /= s;
        }
    }
    q
}

/// Checked size arithmetic in bytes, for the memory limit.
pub(crate) fn bytes(field: &str, parts: &[(usize, usize)]) -> Result<u64> {
    let mut total: u64 = 0;
    for &(a, b) in parts {
        let n = (a as u64)
            .checked_mul(b as u64)
            .and_then(|n| n.checked_mul(8))
            .and_then(|n| n.checked_add(total));
        total = n.ok_or_else(|| Error::too_large(field, "size overflows"))?;
    }
    if total > MAX_BYTES {
        return Err(Error::too_large(
            field,
            format!(
                "this problem needs {:.1} GiB of memory, above the limit of {:.1} GiB",
                total as f64 / (1u64 << 30) as f64,
                MAX_BYTES as f64 / (1u64 << 30) as f64
            ),
        ));
    }
    Ok(total)
}

pub(crate) fn zeroed(field: &str, n: usize) -> Result<Vec<f64>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| Error::too_large(field, format!("could not allocate {n} numbers")))?;
    v.resize(n, 0.0);
    Ok(v)
}

/// The curvature tracker a spec asks for (`curvature: {every, tol, maxIter, seed}`), validated:
/// `every` a multiple of `recordEvery`, 0 < tol <= 0.5.
pub(crate) fn curvature_tracker(
    c: Option<&spec::CurvatureSpec>,
    record_every: u64,
) -> Result<Option<(u64, CurvatureTracker)>> {
    let Some(c) = c else { return Ok(None) };
    let every = positive("curvature.every", c.every)? as u64;
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

impl Session {
    /// Validate a spec and its buffers and set up the run. Nothing is computed before every
    /// input has been checked.
    pub fn new(spec_json: &str, buffers: HashMap<String, Vec<f64>>) -> Result<Session> {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(spec_json) {
            if v.get("model")
                .and_then(|m| m.get("kind"))
                .and_then(|k| k.as_str())
                == Some("network")
            {
                return crate::session_net::new_network(v, buffers);
            }
        }
        Self::new_mf(spec_json, buffers)
    }

    fn new_mf(spec_json: &str, mut buffers: HashMap<String, Vec<f64>>) -> Result<Session> {
        let spec: RunSpec = spec::parse(spec_json)?;
        let ModelSpec::MatrixFactorization {
            d1,
            d2,
            rank,
            balance_weight,
        } = spec.model;
        let d1 = positive("model.d1", d1)?;
        let d2 = positive("model.d2", d2)?;
        let r = positive("model.rank", rank)?;
        if r > d1.min(d2) {
            return Err(Error::range(
                "model.rank",
                format!("expected rank <= min(d1, d2) = {}, got {r}", d1.min(d2)),
            ));
        }
        let balance_weight = finite("model.balanceWeight", balance_weight)?;
        if balance_weight < 0.0 {
            return Err(Error::range(
                "model.balanceWeight",
                format!("expected a number >= 0, got {balance_weight}"),
            ));
        }
        let steps = count("steps", spec.steps)?;
        let record_every = positive("recordEvery", spec.record_every)? as u64;
        let rows_max = (steps / record_every + 2) as usize;
        let tracker = curvature_tracker(spec.curvature.as_ref(), record_every)?;
        let p = (d1 + d2) * r;
        bytes(
            "model",
            &[
                (d1, d2),
                (p, 4 + Method::buffers(spec.method.as_ref())),
                (MatrixFactorization::workspace_bytes(d1, d2, r), 1),
            ],
        )?;
        // step, eta (+ time for flows), then the model's metrics.
        bytes(
            "steps",
            &[(rows_max, 3 + crate::model::mf::MF_METRICS.len())],
        )?;

        // Shapes and data of explicit inputs, before any allocation of our own.
        let target_buf = match &spec.target {
            TargetSpec::Explicit { matrix } => {
                Some(take_buffer(&mut buffers, "target.matrix", matrix, d1, d2)?)
            }
            TargetSpec::Random {
                singular_values,
                seed,
            } => {
                if singular_values.len() != r {
                    return Err(Error::shape(
                        "target.singularValues",
                        format!(
                            "expected {r} values (one per rank), got {}",
                            singular_values.len()
                        ),
                    ));
                }
                for (i, &s) in singular_values.iter().enumerate() {
                    let f = format!("target.singularValues[{i}]");
                    finite(&f, s)?;
                    if s < 0.0 {
                        return Err(Error::range(f, format!("expected a value >= 0, got {s}")));
                    }
                }
                count("target.seed", *seed)?;
                None
            }
        };
        let init_bufs = match &spec.init {
            InitSpec::Explicit { u0, v0 } => Some((
                take_buffer(&mut buffers, "init.u0", u0, d1, r)?,
                take_buffer(&mut buffers, "init.v0", v0, d2, r)?,
            )),
            InitSpec::Gaussian { std_u, std_v, seed } => {
                for (f, s) in [("init.stdU", *std_u), ("init.stdV", *std_v)] {
                    finite(f, s)?;
                    if s < 0.0 {
                        return Err(Error::range(f, format!("expected a value >= 0, got {s}")));
                    }
                }
                count("init.seed", *seed)?;
                None
            }
            InitSpec::TargetSvd {
                components,
                noise_std,
                seed,
            } => {
                if components.len() > r {
                    return Err(Error::shape(
                        "init.components",
                        format!(
                            "expected at most rank = {r} components, got {}",
                            components.len()
                        ),
                    ));
                }
                let kmax = d1.min(d2);
                for (i, &c) in components.iter().enumerate() {
                    let f = format!("init.components[{i}]");
                    let k = count(&f, c)?;
                    if k >= kmax as u64 {
                        return Err(Error::range(
                            f,
                            format!("expected an index < min(d1, d2) = {kmax}, got {k}"),
                        ));
                    }
                    if components[..i].contains(&c) {
                        return Err(Error::range(f, format!("component {k} is listed twice")));
                    }
                }
                finite("init.noiseStd", *noise_std)?;
                if *noise_std < 0.0 {
                    return Err(Error::range(
                        "init.noiseStd",
                        format!("expected a value >= 0, got {noise_std}"),
                    ));
                }
                count("init.seed", *seed)?;
                None
            }
        };
        if let Some(name) = buffers.keys().next() {
            return Err(Error::request(
                name.clone(),
                "this buffer is not used by the spec (explicit matrices are passed as \
                 target.matrix, init.u0, init.v0)",
            ));
        }

        let target = match (target_buf, &spec.target) {
            (Some(t), _) => t,
            (
                None,
                TargetSpec::Random {
                    singular_values,
                    seed,
                },
            ) => {
                let mut rng = Normal::new(*seed as u64);
                let pm = random_orthonormal(&mut rng, d1, r);
                let qm = random_orthonormal(&mut rng, d2, r);
                let mut m = zeroed("target", d1 * d2)?;
                for i in 0..d1 {
                    for k in 0..r {
                        let a = pm[i * r + k] * singular_values[k];
                        let row = &mut m[i * d2..(i + 1) * d2];
                        for (j, x) in row.iter_mut().enumerate() {
                            *x += a * qm[j * r + k];
                        }
                    }
                }
                m
            }
            (None, TargetSpec::Explicit { .. }) => unreachable!("explicit target taken above"),
        };
        let target_norm = libm::sqrt(norm2(&target));
        let schedule = Schedule::from_spec(&spec.schedule, r, target_norm)?;

        let mut w = zeroed("init", p)?;
        match (init_bufs, &spec.init) {
            (Some((u0, v0)), _) => {
                w[..d1 * r].copy_from_slice(&u0);
                w[d1 * r..].copy_from_slice(&v0);
            }
            (None, InitSpec::Gaussian { std_u, std_v, seed }) => {
                let mut rng = Normal::new(*seed as u64);
                let (u, v) = w.split_at_mut(d1 * r);
                rng.fill(u, *std_u);
                rng.fill(v, *std_v);
            }
            (
                None,
                InitSpec::TargetSvd {
                    components,
                    noise_std,
                    seed,
                },
            ) => {
                let m = nalgebra::DMatrix::from_row_slice(d1, d2, &target);
                let comps: Vec<usize> = components.iter().map(|&c| c as usize).collect();
                let (us, vs, _) = crate::curvature::lemma::balanced_factors(&m, &comps, r)?;
                let (u, v) = w.split_at_mut(d1 * r);
                for (i, row) in u.chunks_exact_mut(r).enumerate() {
                    for (j, x) in row.iter_mut().enumerate() {
                        *x = us[(i, j)];
                    }
                }
                for (i, row) in v.chunks_exact_mut(r).enumerate() {
                    for (j, x) in row.iter_mut().enumerate() {
                        *x = vs[(i, j)];
                    }
                }
                if *noise_std > 0.0 {
                    let mut rng = Normal::new(*seed as u64);
                    let mut noise = vec![0.0; w.len()];
                    rng.fill(&mut noise, *noise_std);
                    for (x, n) in w.iter_mut().zip(&noise) {
                        *x += n;
                    }
                }
            }
            (None, InitSpec::Explicit { .. }) => unreachable!("explicit init taken above"),
        }

        let model = MatrixFactorization::new(d1, d2, r, balance_weight, target);
        let method = Method::from_spec(spec.method.as_ref(), spec.weight_decay, p, None)?;
        Ok(Session::assemble(
            Problem::Mf(model),
            w,
            method,
            schedule,
            steps,
            record_every,
            rows_max,
        )
        .with_curvature(tracker))
    }

    /// Add the curvature columns when the spec asks for them (both model families have exact
    /// HVPs).
    pub(crate) fn with_curvature(mut self, tracker: Option<(u64, CurvatureTracker)>) -> Session {
        if tracker.is_none() {
            return self;
        }
        for name in CURVATURE_COLUMNS {
            self.names.push(name.to_string());
            self.columns
                .push(Vec::with_capacity(self.columns[0].capacity()));
        }
        self.tracker = tracker;
        self
    }

    /// Set up a validated run.
    pub(crate) fn assemble(
        mut problem: Problem,
        w: Vec<f64>,
        method: Method,
        schedule: Schedule,
        steps: u64,
        record_every: u64,
        rows_max: usize,
    ) -> Session {
        problem.model_mut().set_reference(&w);
        if matches!(
            method.kind,
            crate::dynamics::method::Kind::ImplicitMidpoint { .. }
        ) {
            problem.model_mut().enable_pattern_freeze();
        }
        let mut names: Vec<String> = vec!["step".into(), "eta".into()];
        let has_time = !matches!(problem, Problem::Mf(_));
        if has_time {
            names.push("time".into());
        }
        names.extend(problem.model().metric_names());
        names.extend(method.column_names().iter().map(|s| s.to_string()));
        let p = w.len();
        Session {
            problem,
            method,
            schedule,
            steps,
            record_every,
            t: 0,
            w0: w.clone(),
            prev: w.clone(),
            grad: vec![0.0; p],
            w,
            columns: vec![Vec::with_capacity(rows_max.min(1 << 20)); names.len()],
            row: Vec::with_capacity(names.len()),
            names,
            has_time,
            tracker: None,
            last_recorded: None,
            loss: None,
            current: None,
            last_h: 0.0,
            diverged_at: None,
            finished: false,
            checkpoint: None,
            eager_until: 0,
        }
    }

    pub fn column_names(&self) -> &[String] {
        &self.names
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
        self.problem.model().matrix(name, &self.w, &self.w0)
    }

    /// Names of the parameter blocks (`U`, `V`; `W1`, `b1`, `v2`, ...): `matrix(name)` gives the
    /// current value, `matrix(name + "_0")` the initial one.
    pub fn param_names(&self) -> Vec<String> {
        self.problem
            .model()
            .blocks()
            .iter()
            .map(|b| b.name.clone())
            .collect()
    }

    pub fn status(&self) -> Status {
        Status {
            step: self.t,
            steps: self.steps,
            rows: self.columns[0].len(),
            finished: self.finished,
            diverged_at: self.diverged_at,
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
        if self.has_time {
            row.push(self.method.time);
        }
        self.problem
            .model_mut()
            .metrics(&self.w, &self.grad, loss, &mut row);
        self.method.columns(&mut row);
        if let Some((every, tracker)) = &mut self.tracker {
            match &mut self.problem {
                _ if !(self.t.is_multiple_of(*every) || self.t == self.steps) => {
                    row.extend([f64::NAN; 4])
                }
                problem => {
                    let c = match problem {
                        Problem::Mf(m) => tracker.sample(m, &self.w),
                        Problem::Net(n) => {
                            let c = tracker.sample(n, &self.w);
                            n.hvp_cache = None;
                            c
                        }
                    };
                    row.extend([
                        c.lambda_min,
                        c.lambda_max,
                        c.lambda_min_residual,
                        c.lambda_max_residual,
                    ]);
                }
            }
        }
        for (c, x) in self.columns.iter_mut().zip(&row) {
            c.push(*x);
        }
        self.row = row;
        self.last_recorded = Some(self.t);
    }

    fn eval_current(&mut self) -> f64 {
        let wd = self.method.weight_decay;
        let l = objective(self.problem.model_mut(), wd, &self.w, &mut self.grad);
        self.current = Some(l);
        l
    }

    /// Take up to `max_steps` steps of the method. Stops early when the run is finished or the
    /// loss becomes non-finite (then the last iterate with a finite loss is kept). The loss and
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
                || taken >= max_steps;
            if !needed && all_finite(&self.w) {
                self.loss = None;
                let eta = self.schedule.eta(self.t);
                self.prev.copy_from_slice(&self.w);
                self.last_h =
                    self.method
                        .step(self.problem.model_mut(), &mut self.w, &self.grad, eta);
                self.t += 1;
                taken += 1;
                continue;
            }
            let loss = match (needed, self.current) {
                (true, Some(l)) => l,
                (true, None) => self.eval_current(),
                (false, _) => f64::NAN,
            };
            let bad = !loss.is_finite() || !all_finite(&self.grad);
            if bad && lazy {
                if let Some((t0, w0, method, last_h)) = self.checkpoint.take() {
                    if t0 + 1 < self.t {
                        self.eager_until = self.t;
                        self.t = t0;
                        self.w = w0;
                        self.method = method;
                        self.last_h = last_h;
                        self.current = None;
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
                self.finished = true;
                if self.t > 0 {
                    std::mem::swap(&mut self.w, &mut self.prev);
                    self.t -= 1;
                    self.method.time -= self.last_h;
                    let l = self.eval_current();
                    self.loss = Some(l);
                    self.record(l);
                } else {
                    self.loss = None;
                }
                break;
            }
            self.loss = Some(loss);
            if self.t.is_multiple_of(self.record_every) || self.t == self.steps {
                self.record(loss);
            }
            if self.t == self.steps {
                self.finished = true;
                break;
            }
            if taken >= max_steps {
                break;
            }
            let eta = self.schedule.eta(self.t);
            self.prev.copy_from_slice(&self.w);
            self.last_h = self
                .method
                .step(self.problem.model_mut(), &mut self.w, &self.grad, eta);
            self.current = self.method.take_fsal(&mut self.grad);
            self.t += 1;
            taken += 1;
        }
        self.status()
    }

    /// Direct access for tests and presets in the core.
    ///
    /// The matrix-factorization model. Panics for other models: use [`Session::mf`],
    /// [`Session::network`] or [`Session::problem`].
    pub fn model(&self) -> &MatrixFactorization {
        self.mf()
            .expect("Session::model() is for matrix-factorization sessions")
    }
    pub fn mf(&self) -> Option<&MatrixFactorization> {
        match &self.problem {
            Problem::Mf(m) => Some(m),
            _ => None,
        }
    }
    pub fn network(&self) -> Option<&Network> {
        match &self.problem {
            Problem::Net(n) => Some(n),
            _ => None,
        }
    }
    pub fn problem(&self) -> &Problem {
        &self.problem
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
        match &mut self.problem {
            Problem::Mf(m) => crate::curvature::analyze(m, &self.w, query_json),
            Problem::Net(n) => {
                let r = crate::curvature::analyze(n, &self.w, query_json);
                n.hvp_cache = None; // the forward pass kept for the query's products
                r
            }
        }
    }
}
