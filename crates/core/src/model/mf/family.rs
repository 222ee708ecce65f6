//! The matrix-factorization family (`model.kind = "matrixFactorization"`): its spec (`model`,
//! `target`, `init`), validation, memory budget and initial point.

use serde::Deserialize;
use serde_json::{json, Value};

use super::MatrixFactorization;
use crate::build::{zeroed, Budget, Buffers};
use crate::error::{Error, Result};
use crate::linalg::gram_schmidt_columns;
use crate::model::{Built, Family, RunInfo};
use crate::rng::Normal;
use crate::spec::{count, finite, from_value, positive, MatrixRef};

/// The family's part of a run spec: `model`, `target`, `init`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MfProblem {
    pub model: MfModelSpec,
    pub target: TargetSpec,
    pub init: InitSpec,
}

/// f(U, V) = 1/2 ||U V^T - M*||_F^2 + balanceWeight ||U^T U - V^T V||_F^2.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MfModelSpec {
    /// `"matrixFactorization"`.
    pub kind: String,
    pub d1: f64,
    pub d2: f64,
    pub rank: f64,
    #[serde(default)]
    pub balance_weight: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum TargetSpec {
    /// Data in the buffer `target.matrix`.
    Explicit { matrix: MatrixRef },
    /// M* = P diag(singularValues) Q^T with P, Q random orthonormal (Gaussian + Gram-Schmidt).
    #[serde(rename_all = "camelCase")]
    Random {
        singular_values: Vec<f64>,
        seed: f64,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum InitSpec {
    /// Data in the buffers `init.u0` (d1 x r) and `init.v0` (d2 x r).
    Explicit { u0: MatrixRef, v0: MatrixRef },
    /// Entries i.i.d. N(0, stdU^2) and N(0, stdV^2); U first, then V, from one seeded stream.
    #[serde(rename_all = "camelCase")]
    Gaussian { std_u: f64, std_v: f64, seed: f64 },
    /// Balanced factors of singular components of M*: column c of U0 is sqrt(sigma_i) phi_i and of
    /// V0 is sqrt(sigma_i) psi_i for i = components[c] (0-based, singular values in descending
    /// order); the remaining columns are zero. Then entries i.i.d. N(0, noiseStd^2) are added
    /// (U first, then V, from one seeded stream). Components {0..k-1} with k < rank give the
    /// saddle that has learned the top k components; [] gives the origin.
    #[serde(rename_all = "camelCase")]
    TargetSvd {
        components: Vec<f64>,
        #[serde(default)]
        noise_std: f64,
        #[serde(default)]
        seed: f64,
    },
}

/// The matrix-factorization family.
pub struct MfFamily;

impl Family for MfFamily {
    fn kind(&self) -> &'static str {
        "matrixFactorization"
    }
    fn fields(&self) -> &'static [&'static str] {
        &["target", "init"]
    }
    fn queries(&self) -> &'static [&'static str] {
        super::QUERIES
    }
    fn theorem31(&self) -> bool {
        true
    }
    fn build(
        &self,
        problem: Value,
        buffers: &mut Buffers,
        run: &RunInfo,
        budget: &mut Budget,
    ) -> Result<Built> {
        let spec: MfProblem = from_value(problem, "", "spec")?;
        let MfModelSpec {
            d1,
            d2,
            rank,
            balance_weight,
            ..
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
        // In u64 (the same on every target), part by part, so that what is refused and the
        // message do not depend on the width of usize.
        let (d1u, d2u, ru) = (d1 as u64, d2 as u64, r as u64);
        budget.reserve("model", &[(d1u, d2u)])?;
        // The factors: the session's and the method's vectors, the curvature tracker's, and the
        // scratch of the random target and initial point (a QR factor, noise), of the HVP.
        let pu = (d1u + d2u) * ru;
        budget.reserve(
            "model",
            &[
                (pu, run.per_param as u64 + 4),
                (run.curvature_doubles(pu), 1),
            ],
        )?;
        // Past the two reservations above, every size fits usize on every target.
        let p = (d1 + d2) * r;
        budget.reserve(
            "model",
            &[(MatrixFactorization::workspace_bytes(d1, d2, r), 1usize)],
        )?;
        budget.reserve(
            "steps",
            &[(
                run.rows_max,
                (run.other_columns + super::MF_METRICS.len()) as u64,
            )],
        )?;

        // Shapes and data of explicit inputs, before any allocation of our own.
        let target_buf = match &spec.target {
            TargetSpec::Explicit { matrix } => {
                Some(buffers.matrix("target.matrix", matrix, d1, d2)?)
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
                buffers.matrix("init.u0", u0, d1, r)?,
                buffers.matrix("init.v0", v0, d2, r)?,
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
        buffers.finish("explicit matrices are passed as target.matrix, init.u0, init.v0")?;

        // Work starts here.
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
                let (us, vs, _) = super::lemma::balanced_factors(&m, &comps, r)?;
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
        Ok(Built {
            model: Box::new(model),
            w0: w,
        })
    }

    fn examples(&self) -> Vec<(&'static str, Value)> {
        let base = |balance: f64, init: Value| {
            json!({
                "model": {"kind": "matrixFactorization", "d1": 5, "d2": 4, "rank": 2,
                          "balanceWeight": balance},
                "target": {"kind": "random", "singularValues": [2.0, 1.0], "seed": 3},
                "init": init,
                "schedule": {"kind": "constant", "eta": 0.02},
                "steps": 40,
                "recordEvery": 5,
            })
        };
        vec![
            (
                "mf",
                base(
                    0.0,
                    json!({"kind": "gaussian", "stdU": 0.3, "stdV": 0.3, "seed": 1}),
                ),
            ),
            (
                "mf-balanced",
                base(
                    0.125,
                    json!({"kind": "gaussian", "stdU": 0.5, "stdV": 0.2, "seed": 2}),
                ),
            ),
            (
                "mf-minimum",
                base(0.0, json!({"kind": "targetSvd", "components": [0, 1]})),
            ),
        ]
    }
}

/// Gaussian `n x r` matrix with orthonormal columns (modified Gram-Schmidt, applied twice).
fn random_orthonormal(rng: &mut Normal, n: usize, r: usize) -> Vec<f64> {
    let mut q = vec![0.0; n * r];
    rng.fill(&mut q, 1.0);
    gram_schmidt_columns(&mut q, n, r);
    q
}
