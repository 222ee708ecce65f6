//! A run: a validated problem, its state, and the metric columns recorded so far. Advanced in
//! chunks by the caller (the bindings), so that long runs can be streamed, reported and cancelled
//! without the core knowing about threads or event loops.

use std::collections::HashMap;

use crate::dynamics::schedule::Schedule;
use crate::error::{Error, Result};
use crate::linalg::{all_finite, norm2};
use crate::model::mf::{LossParts, MatrixFactorization};
use crate::rng::Normal;
use crate::spec::{
    self, count, finite, positive, InitSpec, MatrixRef, ModelSpec, RunSpec, TargetSpec,
};

/// The metric columns of a matrix-factorization run, in order.
pub const MF_COLUMNS: [&str; 10] = [
    "step",
    "eta",
    "loss",
    "normU2",
    "normV2",
    "normRatio",
    "imbalance",
    "imbalanceDrift",
    "residual",
    "gradNorm",
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

pub struct Session {
    model: MatrixFactorization,
    schedule: Schedule,
    steps: u64,
    record_every: u64,
    t: u64,
    w: Vec<f64>,
    w0: Vec<f64>,
    prev: Vec<f64>,
    grad: Vec<f64>,
    d0: Vec<f64>,
    d_scratch: (Vec<f64>, Vec<f64>),
    columns: Vec<Vec<f64>>,
    last_recorded: Option<u64>,
    loss: Option<f64>,
    /// Loss parts at the current iterate, when `grad` holds its gradient.
    current: Option<LossParts>,
    diverged_at: Option<u64>,
    finished: bool,
}

fn take_buffer(
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
fn bytes(field: &str, parts: &[(usize, usize)]) -> Result<u64> {
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

fn zeroed(field: &str, n: usize) -> Result<Vec<f64>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| Error::too_large(field, format!("could not allocate {n} numbers")))?;
    v.resize(n, 0.0);
    Ok(v)
}

impl Session {
    /// Validate a spec and its buffers and set up the run. Nothing is computed before every
    /// input has been checked.
    pub fn new(spec_json: &str, mut buffers: HashMap<String, Vec<f64>>) -> Result<Session> {
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
        let p = (d1 + d2) * r;
        bytes(
            "model",
            &[
                (d1, d2),
                (p, 4),
                (MatrixFactorization::workspace_bytes(d1, d2, r), 1),
            ],
        )?;
        bytes("steps", &[(rows_max, MF_COLUMNS.len())])?;

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
            (None, InitSpec::Explicit { .. }) => unreachable!("explicit init taken above"),
        }

        let model = MatrixFactorization::new(d1, d2, r, balance_weight, target);
        let mut d0 = vec![0.0; r * r];
        let mut scratch = vec![0.0; r * r];
        model.imbalance(&w, &mut d0, &mut scratch);
        Ok(Session {
            model,
            schedule,
            steps,
            record_every,
            t: 0,
            w0: w.clone(),
            prev: w.clone(),
            grad: vec![0.0; p],
            w,
            d0,
            d_scratch: (vec![0.0; r * r], scratch),
            columns: vec![Vec::with_capacity(rows_max.min(1 << 20)); MF_COLUMNS.len()],
            last_recorded: None,
            loss: None,
            current: None,
            diverged_at: None,
            finished: false,
        })
    }

    pub fn column_names(&self) -> &'static [&'static str] {
        &MF_COLUMNS
    }

    /// A recorded column from row `start` on.
    pub fn column(&self, name: &str, start: usize) -> Result<&[f64]> {
        let i = MF_COLUMNS
            .iter()
            .position(|c| *c == name)
            .ok_or_else(|| Error::request("column", format!("no column named {name:?}")))?;
        let col = &self.columns[i];
        Ok(&col[start.min(col.len())..])
    }

    /// A matrix of the run by name: `U`, `V` (current), `U0`, `V0` (initial), `target` (M*).
    /// Returns (rows, cols, row-major data).
    pub fn matrix(&self, name: &str) -> Result<(usize, usize, &[f64])> {
        let m = &self.model;
        let (ur, vr) = (0..m.d1 * m.r, m.d1 * m.r..(m.d1 + m.d2) * m.r);
        Ok(match name {
            "U" => (m.d1, m.r, &self.w[ur]),
            "V" => (m.d2, m.r, &self.w[vr]),
            "U0" => (m.d1, m.r, &self.w0[ur]),
            "V0" => (m.d2, m.r, &self.w0[vr]),
            "target" => (m.d1, m.d2, &m.target[..]),
            _ => {
                return Err(Error::request(
                    "matrix",
                    format!("no matrix named {name:?} (expected U, V, U0, V0 or target)"),
                ))
            }
        })
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

    /// Append the metrics of the current iterate (loss parts and gradient already computed).
    fn record(&mut self, parts: LossParts) {
        if self.last_recorded == Some(self.t) {
            return;
        }
        let m = &self.model;
        let (u, v) = m.split(&self.w);
        let nu = norm2(u);
        let nv = norm2(v);
        let (d, s) = &mut self.d_scratch;
        m.imbalance(&self.w, d, s);
        let imb = libm::sqrt(norm2(d));
        let drift = libm::sqrt(d.iter().zip(&self.d0).map(|(a, b)| (a - b) * (a - b)).sum());
        let row = [
            self.t as f64,
            self.schedule.eta(self.t),
            parts.total(),
            nu,
            nv,
            nu / nv,
            imb,
            drift,
            libm::sqrt(2.0 * parts.data),
            libm::sqrt(norm2(&self.grad)),
        ];
        for (c, x) in self.columns.iter_mut().zip(row) {
            c.push(x);
        }
        self.last_recorded = Some(self.t);
    }

    /// Take up to `max_steps` gradient-descent steps. Stops early when the run is finished or the
    /// loss becomes non-finite (then the last iterate with a finite loss is kept). The loss and
    /// gradient of the current iterate are cached, so chunking costs no extra evaluation.
    pub fn advance(&mut self, max_steps: u64) -> Status {
        let mut taken = 0;
        while !self.finished {
            let parts = match self.current {
                Some(p) => p,
                None => {
                    let p = self.model.eval(&self.w, &mut self.grad);
                    self.current = Some(p);
                    p
                }
            };
            let loss = parts.total();
            if !loss.is_finite() || !all_finite(&self.grad) {
                self.diverged_at = Some(self.t);
                self.finished = true;
                if self.t > 0 {
                    std::mem::swap(&mut self.w, &mut self.prev);
                    self.t -= 1;
                    let parts = self.model.eval(&self.w, &mut self.grad);
                    self.current = Some(parts);
                    self.loss = Some(parts.total());
                    self.record(parts);
                } else {
                    self.loss = None;
                }
                break;
            }
            self.loss = Some(loss);
            if self.t.is_multiple_of(self.record_every) || self.t == self.steps {
                self.record(parts);
            }
            if self.t == self.steps {
                self.finished = true;
                break;
            }
            if taken == max_steps {
                break;
            }
            let eta = self.schedule.eta(self.t);
            self.prev.copy_from_slice(&self.w);
            crate::linalg::axpy(-eta, &self.grad, &mut self.w);
            self.current = None;
            self.t += 1;
            taken += 1;
        }
        self.status()
    }

    /// Direct access for tests and presets in the core.
    pub fn model(&self) -> &MatrixFactorization {
        &self.model
    }
    pub fn params(&self) -> &[f64] {
        &self.w
    }
}
