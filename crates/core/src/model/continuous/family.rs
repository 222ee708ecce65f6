//! The continuousLinear family's spec (`model`, `data`, `init`, `critical`), validation, memory
//! budget and initial point (docs/continuous-linear.md).

use nalgebra::DMatrix;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    critical_theta, ContinuousLinear, Critical, Discretization, Samples, Stats, COLUMNS, MAX_K,
    MAX_N,
};
use crate::build::{Budget, Buffers};
use crate::error::{Error, Result};
use crate::model::{Built, Family, RunInfo};
use crate::rng::Normal;
use crate::spec::{count, finite, from_value, num, positive, positive_real, MatrixRef};

/// The family's part of a run spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContinuousProblem {
    pub model: ModelSpec,
    pub data: DataSpec,
    pub init: InitSpec,
    #[serde(default)]
    pub critical: Option<CriticalSpec>,
}

/// dX/dt = A_t X on [0, T], n x n weights, K layers, weight decay lambda.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelSpec {
    /// `"continuousLinear"`.
    pub kind: String,
    pub n: f64,
    #[serde(rename = "K")]
    pub k: f64,
    #[serde(rename = "T")]
    pub t: f64,
    pub lambda: f64,
    #[serde(default)]
    pub discretization: DiscretizationSpec,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum DiscretizationSpec {
    #[default]
    Exponential,
    Euler,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum DataSpec {
    /// Data term 1/2 tr((Phi - R(sigma))^T (Phi - R(sigma)) Sigma0), R(sigma) = R + sigma dR.
    Population {
        #[serde(rename = "R")]
        r: Value,
        #[serde(default)]
        sigma0: Option<Value>,
        #[serde(default, rename = "dR")]
        dr: Option<Value>,
        #[serde(default)]
        sigma: f64,
    },
    /// N samples x0_i ~ N(0, I), z_i = R x0_i + noise * N(0, I); data term = the mean of
    /// 1/2 |Phi x0_i - z_i|^2. One seeded stream: x0_1, ..., x0_N (n numbers each), then the
    /// noise of z_1, ..., z_N.
    Samples {
        #[serde(rename = "R")]
        r: Value,
        samples: f64,
        noise: f64,
        seed: f64,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum InitSpec {
    /// Every entry of every A_k i.i.d. N(0, std^2) (layer by layer, row-major).
    Gaussian { std: f64, seed: f64 },
    /// A_k = C.
    Constant {
        #[serde(rename = "C")]
        c: Value,
    },
    /// A_k = e^{2 t_k Omega} C e^{-2 t_k Omega}, Omega = (C - C^T)/2, t_k = (k + 1/2) h.
    Critical {
        #[serde(rename = "C")]
        c: Value,
    },
}

/// Candidate critical points for the `critDist` and `critIndex` columns.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CriticalSpec {
    #[serde(default, rename = "C")]
    pub c: Vec<Value>,
    #[serde(default)]
    pub sheets: Vec<f64>,
}

/// The `n x n` matrix at spec path `field`: inline rows (`[[..], ..]`, as Rust callers and
/// presets write it) or `{rows, cols}` with the data in the buffer named `field` (as the TS layer
/// sends every matrix), checked for shape and finiteness.
pub fn square(field: &str, v: &Value, n: usize, buffers: &mut Buffers) -> Result<DMatrix<f64>> {
    let rows = match v {
        Value::Array(rows) => rows,
        Value::Object(_) => {
            let shape: MatrixRef = from_value(v.clone(), &format!("{field}."), field)?;
            let data = buffers.matrix(field, &shape, n, n)?;
            return Ok(DMatrix::from_row_slice(n, n, &data));
        }
        _ => {
            return Err(Error::spec(
                field,
                format!("expected a {n} x {n} matrix: an array of rows, or {{rows, cols}} with its data in the buffer {field}"),
            ))
        }
    };
    if rows.len() != n {
        return Err(Error::shape(
            field,
            format!(
                "expected a {n} x {n} matrix (model.n = {n}): {n} rows, got {}",
                rows.len()
            ),
        ));
    }
    let mut m = DMatrix::zeros(n, n);
    for (i, row) in rows.iter().enumerate() {
        let Value::Array(row) = row else {
            return Err(Error::spec(
                format!("{field}[{i}]"),
                format!("expected a row of {n} numbers"),
            ));
        };
        if row.len() != n {
            return Err(Error::shape(
                format!("{field}[{i}]"),
                format!("expected {n} numbers (model.n), got {}", row.len()),
            ));
        }
        for (j, x) in row.iter().enumerate() {
            let at = format!("{field}[{i}][{j}]");
            let x = x
                .as_f64()
                .ok_or_else(|| Error::spec(&at, format!("expected a number, got {x}")))?;
            m[(i, j)] = finite(&at, x)?;
        }
    }
    Ok(m)
}

/// Sigma0: symmetric (to 1e-12 relative) and positive semidefinite (eigenvalues >= -1e-12
/// relative); returned symmetrized.
fn covariance(field: &str, m: DMatrix<f64>) -> Result<DMatrix<f64>> {
    let scale = m.amax().max(f64::MIN_POSITIVE);
    let n = m.nrows();
    for i in 0..n {
        for j in 0..i {
            if (m[(i, j)] - m[(j, i)]).abs() > 1e-12 * scale {
                return Err(Error::range(
                    format!("{field}[{i}][{j}]"),
                    format!(
                        "Sigma0 must be symmetric: entry ({i}, {j}) = {} but ({j}, {i}) = {}",
                        num(m[(i, j)]),
                        num(m[(j, i)])
                    ),
                ));
            }
        }
    }
    let s = (&m + m.transpose()) * 0.5;
    let min = crate::decomp::symmetric_eigenvalues(&s).map_or(f64::NAN, |e| e.min());
    if min.is_nan() {
        return Err(Error::range(
            field,
            "the eigenvalues of Sigma0 did not converge (is it finite?)",
        ));
    }
    if min < -1e-12 * scale {
        return Err(Error::range(
            field,
            format!(
                "Sigma0 must be positive semidefinite (a covariance): its smallest eigenvalue is {}",
                num(min)
            ),
        ));
    }
    Ok(s)
}

/// Largest |sheet| of `critical.sheets`.
pub const MAX_SHEET: f64 = 1e6;

/// The residual tolerance of the refinement of `critical` candidates: |G|_F <= tol (1 + |C|_F).
pub const CRITICAL_TOL: f64 = 1e-11;

/// The continuousLinear family.
pub struct ContinuousFamily;

impl Family for ContinuousFamily {
    fn kind(&self) -> &'static str {
        "continuousLinear"
    }
    fn fields(&self) -> &'static [&'static str] {
        &["data", "init", "critical"]
    }
    fn build(
        &self,
        problem: Value,
        buffers: &mut Buffers,
        run: &RunInfo,
        budget: &mut Budget,
    ) -> Result<Built> {
        let spec: ContinuousProblem = from_value(problem, "", "spec")?;
        let m = &spec.model;
        let n = positive("model.n", m.n)?;
        if n > MAX_N {
            return Err(Error::range(
                "model.n",
                format!("expected an integer in 1..={MAX_N}, got {n}"),
            ));
        }
        let k = positive("model.K", m.k)?;
        if k > MAX_K {
            return Err(Error::range(
                "model.K",
                format!("expected an integer in 1..={MAX_K}, got {k}"),
            ));
        }
        let t = positive_real("model.T", m.t)?;
        let lambda = finite("model.lambda", m.lambda)?;
        if lambda < 0.0 {
            return Err(Error::range(
                "model.lambda",
                format!("expected a number >= 0, got {}", num(lambda)),
            ));
        }
        if t / k as f64 <= 0.0 {
            return Err(Error::range(
                "model.T",
                format!("h = T / K underflows (T = {}, K = {k})", num(t)),
            ));
        }
        let disc = match m.discretization {
            DiscretizationSpec::Euler => Discretization::Euler,
            DiscretizationSpec::Exponential => Discretization::Exponential,
        };

        // The data, validated.
        enum Data {
            Population(DMatrix<f64>, DMatrix<f64>),
            Samples(DMatrix<f64>, usize, f64, u64),
        }
        let data = match &spec.data {
            DataSpec::Population {
                r,
                sigma0,
                dr,
                sigma,
            } => {
                let mut rm = square("data.R", r, n, buffers)?;
                let s = match sigma0 {
                    Some(s) => covariance("data.sigma0", square("data.sigma0", s, n, buffers)?)?,
                    None => DMatrix::identity(n, n),
                };
                let sigma = finite("data.sigma", *sigma)?;
                if let Some(dr) = dr {
                    let d = square("data.dR", dr, n, buffers)?;
                    rm += d * sigma;
                    if let Some(i) = rm.iter().position(|x| !x.is_finite()) {
                        return Err(Error::non_finite(
                            "data.sigma",
                            format!("R + sigma dR overflows at entry {i} (column-major)"),
                        ));
                    }
                } else if sigma != 0.0 {
                    return Err(Error::range(
                        "data.sigma",
                        "sigma moves R(sigma) = R + sigma dR: give data.dR, or sigma 0",
                    ));
                }
                Data::Population(rm, s)
            }
            DataSpec::Samples {
                r,
                samples,
                noise,
                seed,
            } => {
                let rm = square("data.R", r, n, buffers)?;
                let ns = positive("data.samples", *samples)?;
                let noise = finite("data.noise", *noise)?;
                if noise < 0.0 {
                    return Err(Error::range(
                        "data.noise",
                        format!("expected a number >= 0, got {}", num(noise)),
                    ));
                }
                Data::Samples(rm, ns, noise, count("data.seed", *seed)?)
            }
        };
        let mut init_c = None;
        match &spec.init {
            InitSpec::Gaussian { std, seed } => {
                finite("init.std", *std)?;
                if *std < 0.0 {
                    return Err(Error::range(
                        "init.std",
                        format!("expected a number >= 0, got {}", num(*std)),
                    ));
                }
                count("init.seed", *seed)?;
            }
            InitSpec::Constant { c } | InitSpec::Critical { c } => {
                init_c = Some(square("init.C", c, n, buffers)?);
            }
        }
        let mut candidates: Vec<DMatrix<f64>> = Vec::new();
        if let Some(cs) = &spec.critical {
            if matches!(spec.data, DataSpec::Samples { .. }) {
                return Err(Error::range(
                    "critical",
                    "critical points are computed for population data (data.kind \"population\")",
                ));
            }
            for (j, c) in cs.c.iter().enumerate() {
                candidates.push(square(&format!("critical.C[{j}]"), c, n, buffers)?);
            }
            // Sheets: C = log(R(sigma)) / T on the sheet (lambda = 0), refined below.
            let r = match &data {
                Data::Population(r, _) => r.clone(),
                Data::Samples(..) => unreachable!("refused above"),
            };
            for (j, &sheet) in cs.sheets.iter().enumerate() {
                let f = format!("critical.sheets[{j}]");
                finite(&f, sheet)?;
                if sheet.fract() != 0.0 || sheet.abs() > MAX_SHEET {
                    return Err(Error::range(
                        &f,
                        format!(
                            "expected an integer in -{MAX_SHEET}..={MAX_SHEET}, got {}",
                            num(sheet)
                        ),
                    ));
                }
                candidates.push(super::critical::logarithm_at(&r, sheet as i64, &f)? / t);
            }
            if candidates.is_empty() {
                return Err(Error::range(
                    "critical",
                    "expected at least one candidate (critical.C or critical.sheets)",
                ));
            }
        }

        // The budget, in u64: the iterate and the method's vectors, the model's passes (maps,
        // X_k, adjoints, their tangents, the cached point, the recorded A: about 8 per
        // parameter), the curvature tracker, the candidates, the samples (X0, E) and the
        // exponentials' scratch (4n x 4n blocks), the recorded rows.
        let dim = k as u64 * (n * n) as u64;
        let ncrit = candidates.len() as u64;
        let plans = match disc {
            Discretization::Euler => 0,
            Discretization::Exponential => super::hvp::PLAN_DOUBLES_PER_PARAM,
        };
        budget.reserve(
            "model.K",
            &[
                (dim, run.per_param as u64 + 8 + ncrit + plans),
                (run.curvature_doubles(dim), 1),
                (16 * (n * n) as u64, 16u64),
            ],
        )?;
        if let Data::Samples(_, ns, _, _) = data {
            budget.reserve("data.samples", &[(ns as u64 * n as u64, 3u64)])?;
        }
        let ncols = COLUMNS.len() + if ncrit > 0 { 2 } else { 0 };
        budget.reserve(
            "steps",
            &[(run.rows_max, (run.other_columns + ncols) as u64)],
        )?;
        buffers
            .finish("the continuousLinear family takes no buffers (matrices are given inline)")?;

        // Work starts here.
        let mut model = match data {
            Data::Population(r, s) => ContinuousLinear::population(n, k, t, lambda, disc, r, s),
            Data::Samples(r, ns, noise, seed) => {
                let mut rng = Normal::new(seed);
                let mut x0 = vec![0.0; n * ns];
                rng.fill(&mut x0, 1.0);
                let mut e = vec![0.0; n * ns];
                rng.fill(&mut e, noise);
                // Column-major n x N: sample i is column i, its n numbers contiguous.
                let x0 = DMatrix::from_vec(n, ns, x0);
                let e = DMatrix::from_vec(n, ns, e);
                let full = Stats::of_samples(&x0, &e, None);
                ContinuousLinear::new(n, k, t, lambda, disc, r, full, Some(Samples { x0, e }))
            }
        };
        let dimu = k * n * n;
        let sh = model.h().sqrt();
        let w0 = match &spec.init {
            InitSpec::Gaussian { std, seed } => {
                let mut w = vec![0.0; dimu];
                Normal::new(*seed as u64).fill(&mut w, *std);
                w.iter_mut().for_each(|x| *x *= sh);
                w
            }
            InitSpec::Constant { .. } => {
                let cm = init_c.as_ref().expect("parsed above");
                let mut w = vec![0.0; dimu];
                for layer in 0..k {
                    model.put(&mut w, layer, &(cm * sh));
                }
                w
            }
            InitSpec::Critical { .. } => {
                critical_theta(n, k, t, init_c.as_ref().expect("parsed above"))
            }
        };
        if !w0.iter().all(|x| x.is_finite()) {
            return Err(Error::non_finite(
                "init",
                "the initial point is not finite (init.C or init.std too large)",
            ));
        }
        // Each candidate refined to a critical point at the model's (lambda, sigma) by Newton's
        // method (then a homotopy in R when Newton alone fails); those that fail are dropped.
        if spec.critical.is_some() {
            // model.r() is R(sigma) already.
            let problem = super::critical::Problem {
                n,
                t,
                r: model.r().clone(),
                dr: None,
                sigma0: model.sigma0().clone(),
            };
            let kept = candidates
                .iter()
                .enumerate()
                .filter_map(|(index, c0)| {
                    let tol = CRITICAL_TOL * (1.0 + c0.norm());
                    problem.solve_from(c0, lambda, 0.0, tol).map(|c| Critical {
                        index,
                        c: c.clone(),
                        theta: critical_theta(n, k, t, &c),
                    })
                })
                .collect();
            model.set_critical(kept, candidates.len());
        }
        Ok(Built {
            model: Box::new(model),
            w0,
        })
    }

    fn examples(&self) -> Vec<(&'static str, Value)> {
        let half_pi = std::f64::consts::FRAC_PI_2;
        vec![
            (
                "continuous-euler",
                json!({
                    "model": {"kind": "continuousLinear", "n": 2, "K": 4, "T": 1.0,
                              "lambda": 0.1, "discretization": "euler"},
                    "data": {"kind": "population", "R": [[0, -1], [1, 0]]},
                    "init": {"kind": "gaussian", "std": 0.3, "seed": 1},
                    "schedule": {"kind": "constant", "eta": 0.1},
                    "steps": 40,
                    "recordEvery": 5,
                }),
            ),
            (
                "continuous-exponential",
                json!({
                    "model": {"kind": "continuousLinear", "n": 2, "K": 4, "T": 1.0,
                              "lambda": 0.05},
                    "data": {"kind": "population", "R": [[0, -1], [1, 0]],
                             "dR": [[0, 0], [0, 1]], "sigma": 0.5,
                             "sigma0": [[1.0, 0.2], [0.2, 0.8]]},
                    "init": {"kind": "critical", "C": [[0.1, -half_pi], [half_pi, 0.2]]},
                    "critical": {"C": [[[0, -half_pi], [half_pi, 0]]]},
                    "schedule": {"kind": "constant", "eta": 0.1},
                    "steps": 40,
                    "recordEvery": 5,
                }),
            ),
            (
                "continuous-samples",
                json!({
                    "model": {"kind": "continuousLinear", "n": 3, "K": 3, "T": 1.0,
                              "lambda": 0.01},
                    "data": {"kind": "samples", "R": [[0.5, -1, 0], [1, 0.5, 0], [0, 0, 1]],
                             "samples": 16, "noise": 0.1, "seed": 5},
                    "init": {"kind": "gaussian", "std": 0.1, "seed": 2},
                    "schedule": {"kind": "constant", "eta": 0.1},
                    "steps": 40,
                    "recordEvery": 5,
                }),
            ),
        ]
    }
}
