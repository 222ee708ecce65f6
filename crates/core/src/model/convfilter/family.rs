//! The convolutional-filter family's spec (`model`, `teacher`, `patches`, `sampling`, `init`),
//! validation, memory budget and initial point.

use serde::Deserialize;
use serde_json::{json, Value};

use super::dist::{self, Frame, Patches};
use super::{ConvFilter, Sampling, COLUMNS, DATA_COLUMNS};
use crate::build::{Budget, Buffers};
use crate::error::{Error, Result};
use crate::model::{Built, Family, RunInfo};
use crate::rng::Normal;
use crate::spec::{count, finite, from_value, positive, positive_real, MatrixRef};

/// The family's part of a run spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConvFilterProblem {
    pub model: ConvFilterModelSpec,
    pub teacher: TeacherSpec,
    pub patches: PatchesSpec,
    pub sampling: SamplingSpec,
    pub init: InitSpec,
}

fn one() -> f64 {
    1.0
}

/// f(w, Z) = (1/k) sum_i relu(w^T Z_i): patch size `p` (>= 2), `k` patches per sample
/// (default 1).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConvFilterModelSpec {
    /// `"convFilter"`.
    pub kind: String,
    pub p: f64,
    #[serde(default = "one")]
    pub k: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum TeacherSpec {
    /// w* itself (p numbers, not all 0).
    Vector { w: Vec<f64> },
    /// w* = norm u, u uniform on the unit sphere (a normalized N(0, I_p) draw from `seed`).
    Random {
        #[serde(default = "one")]
        norm: f64,
        seed: f64,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum PatchesSpec {
    /// Every entry N(0, 1).
    Gaussian {},
    /// p = 2: unit patches, angle to w* from 1/2 N(0, s^2)|[-pi/2, pi/2] + 1/2 N(pi, s^2)|[pi/2,
    /// 3 pi/2] (Figure 6.3 (a)).
    CircleMixture { s: f64 },
    /// p = 2: a base angle as in circleMixture(s) (default s = 1), each patch at base + N(0,
    /// s2^2)|[-pi, pi] (Figure 6.3 (b)).
    AroundBase {
        s2: f64,
        #[serde(default = "one")]
        s: f64,
    },
    /// The user's samples: an N x (k p) matrix (buffer `patches.z`), patch i of a row at columns
    /// i p .. (i + 1) p.
    Data { z: MatrixRef },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum SamplingSpec {
    /// A new batch of `batch` samples at every step, drawn from (seed, step index) (data
    /// patches: rows drawn uniformly with replacement).
    Fresh { batch: f64, seed: f64 },
    /// One sample of `samples` draws from `seed`, used at every step (GD; SGD by the `sgd`
    /// method). Data patches: all rows, and neither field.
    Fixed {
        samples: Option<f64>,
        seed: Option<f64>,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum InitSpec {
    /// The point itself.
    Point { w: Vec<f64> },
    /// Uniform in the ball of radius `radius` around 0 (Theorem 6.6 takes radius alpha ||w*||).
    Ball { radius: f64, seed: f64 },
    /// Every entry N(0, std^2).
    Gaussian { std: f64, seed: f64 },
}

/// Largest patch size.
pub const MAX_P: usize = 1 << 16;
/// Largest spread s, s2.
pub const MAX_S: f64 = 1e6;

/// The convolutional-filter family.
pub struct ConvFilterFamily;

fn spread(field: &str, s: f64) -> Result<f64> {
    let s = positive_real(field, s)?;
    if s > MAX_S {
        return Err(Error::range(
            field,
            format!("expected a number in (0, 1e6], got {}", crate::spec::num(s)),
        ));
    }
    Ok(s)
}

fn vector(field: &str, w: &[f64], p: usize) -> Result<()> {
    if w.len() != p {
        return Err(Error::shape(
            field,
            format!("expected {p} numbers (model.p), got {}", w.len()),
        ));
    }
    for (j, &x) in w.iter().enumerate() {
        finite(&format!("{field}[{j}]"), x)?;
    }
    Ok(())
}

impl Family for ConvFilterFamily {
    fn kind(&self) -> &'static str {
        "convFilter"
    }
    fn fields(&self) -> &'static [&'static str] {
        &["teacher", "patches", "sampling", "init"]
    }
    fn queries(&self) -> &'static [&'static str] {
        super::QUERIES
    }
    fn build(
        &self,
        problem: Value,
        buffers: &mut Buffers,
        run: &RunInfo,
        budget: &mut Budget,
    ) -> Result<Built> {
        let spec: ConvFilterProblem = from_value(problem, "", "spec")?;
        let p = positive("model.p", spec.model.p)?;
        if !(2..=MAX_P).contains(&p) {
            return Err(Error::range(
                "model.p",
                format!("expected an integer in 2..={MAX_P}, got {p}"),
            ));
        }
        let k = positive("model.k", spec.model.k)?;
        let row = p as u64 * k as u64;
        if row > crate::spec::MAX_SIZE {
            return Err(Error::range(
                "model.k",
                format!("model.p x model.k = {row} exceeds 2^32 - 1"),
            ));
        }

        if matches!(
            spec.patches,
            PatchesSpec::CircleMixture { .. } | PatchesSpec::AroundBase { .. }
        ) && p != 2
        {
            return Err(Error::range(
                "model.p",
                format!(
                    "the patch distribution {} is defined on the plane: expected p = 2, got {p}",
                    match spec.patches {
                        PatchesSpec::CircleMixture { .. } => "circleMixture",
                        _ => "aroundBase",
                    }
                ),
            ));
        }

        match &spec.teacher {
            TeacherSpec::Vector { w } => {
                vector("teacher.w", w, p)?;
                let n2: f64 = w.iter().map(|x| x * x).sum();
                if n2 == 0.0 || !n2.is_finite() {
                    return Err(Error::range(
                        "teacher.w",
                        "expected a nonzero vector with a finite norm",
                    ));
                }
            }
            TeacherSpec::Random { norm, seed } => {
                let n = positive_real("teacher.norm", *norm)?;
                if n > 1e100 {
                    return Err(Error::range(
                        "teacher.norm",
                        format!(
                            "expected a number in (0, 1e100], got {}",
                            crate::spec::num(n)
                        ),
                    ));
                }
                count("teacher.seed", *seed)?;
            }
        }

        let mut data_rows: Option<(usize, &MatrixRef)> = None;
        match &spec.patches {
            PatchesSpec::Gaussian {} => {}
            PatchesSpec::CircleMixture { s } => {
                spread("patches.s", *s)?;
            }
            PatchesSpec::AroundBase { s2, s } => {
                spread("patches.s2", *s2)?;
                spread("patches.s", *s)?;
            }
            PatchesSpec::Data { z } => {
                let n = positive("patches.z.rows", z.rows)?;
                data_rows = Some((n, z));
            }
        }
        // The samples the model holds: fresh: batch rows; fixed: samples rows (data: N rows, also
        // kept as the source of fresh draws).
        let (rows, fixed_n, fixed_seed) = match &spec.sampling {
            SamplingSpec::Fresh { batch, seed } => {
                let b = positive("sampling.batch", *batch)?;
                count("sampling.seed", *seed)?;
                (b as u64, None, None)
            }
            SamplingSpec::Fixed { samples, seed } => match data_rows {
                Some((n, _)) => {
                    if samples.is_some() {
                        return Err(Error::request(
                            "sampling.samples",
                            "data patches are the sample: give no samples (all rows are used)",
                        ));
                    }
                    if seed.is_some() {
                        return Err(Error::request(
                            "sampling.seed",
                            "data patches are the sample: give no seed",
                        ));
                    }
                    (n as u64, Some(n), None)
                }
                None => {
                    let n = positive(
                        "sampling.samples",
                        samples.ok_or_else(|| {
                            Error::spec(
                                "sampling.samples",
                                "missing field `samples`: a fixed sample of generated patches needs its size",
                            )
                        })?,
                    )?;
                    let sd = count(
                        "sampling.seed",
                        seed.ok_or_else(|| {
                            Error::spec(
                                "sampling.seed",
                                "missing field `seed`: a fixed sample of generated patches needs a seed",
                            )
                        })?,
                    )?;
                    (n as u64, Some(n), Some(sd))
                }
            },
        };

        match &spec.init {
            InitSpec::Point { w } => vector("init.w", w, p)?,
            InitSpec::Ball { radius, seed } => {
                let r = finite("init.radius", *radius)?;
                if r < 0.0 {
                    return Err(Error::range(
                        "init.radius",
                        format!("expected a number >= 0, got {}", crate::spec::num(r)),
                    ));
                }
                count("init.seed", *seed)?;
            }
            InitSpec::Gaussian { std, seed } => {
                let s = finite("init.std", *std)?;
                if s < 0.0 {
                    return Err(Error::range(
                        "init.std",
                        format!("expected a number >= 0, got {}", crate::spec::num(s)),
                    ));
                }
                count("init.seed", *seed)?;
            }
        }

        // Memory: the samples held (rows x (k p + 1)), the data kept for fresh draws, scratch,
        // the per-parameter vectors, curvature, the recorded columns.
        let pu = p as u64;
        // (Data: the rows and their labels, for the relLoss column.)
        let data_doubles = data_rows.map_or(0, |(n, _)| n as u64 * (row + 1));
        let columns = COLUMNS.len() + data_rows.map_or(0, |_| DATA_COLUMNS.len());
        budget.reserve(
            "model",
            &[
                (pu, run.per_param as u64 + 8),
                (run.curvature_doubles(pu), 1),
                (rows, row + 2),
                (data_doubles, 1),
            ],
        )?;
        budget.reserve(
            "steps",
            &[(run.rows_max, (run.other_columns + columns) as u64)],
        )?;
        let data = match data_rows {
            Some((n, z)) => Some(buffers.matrix("patches.z", z, n, row as usize)?),
            None => None,
        };
        buffers.finish("the convFilter family reads patches.z (data patches) only")?;

        // Work starts here.
        let w_star: Vec<f64> = match &spec.teacher {
            TeacherSpec::Vector { w } => w.clone(),
            TeacherSpec::Random { norm, seed } => {
                let mut rng = Normal::new(*seed as u64);
                let mut u = vec![0.0; p];
                loop {
                    rng.fill(&mut u, 1.0);
                    let n = crate::linalg::norm(&u);
                    if n > 0.0 {
                        break u.iter().map(|x| norm * x / n).collect();
                    }
                }
            }
        };
        let patches = match &spec.patches {
            PatchesSpec::Gaussian {} => Patches::Gaussian,
            PatchesSpec::CircleMixture { s } => Patches::CircleMixture { s: *s },
            PatchesSpec::AroundBase { s2, s } => Patches::AroundBase { s: *s, s2: *s2 },
            PatchesSpec::Data { .. } => {
                let z = data.expect("taken above");
                let n = data_rows.expect("data").0;
                Patches::Data { z, n }
            }
        };
        let sampling = match &spec.sampling {
            SamplingSpec::Fresh { batch, seed } => Sampling::Fresh {
                batch: *batch as usize,
                seed: *seed as u64,
            },
            SamplingSpec::Fixed { .. } => Sampling::Fixed,
        };
        let fixed = fixed_n.map(|n| match &patches {
            Patches::Data { z, .. } => (z.clone(), n),
            other => {
                let frame = Frame::new(&w_star, None);
                (
                    dist::sample_rows(other, &frame, k, n, fixed_seed.unwrap_or(0)),
                    n,
                )
            }
        });
        let w0: Vec<f64> = match &spec.init {
            InitSpec::Point { w } => w.clone(),
            InitSpec::Ball { radius, seed } => {
                let mut rng = Normal::new(*seed as u64);
                let mut u = vec![0.0; p];
                let n = loop {
                    rng.fill(&mut u, 1.0);
                    let n = crate::linalg::norm(&u);
                    if n > 0.0 {
                        break n;
                    }
                };
                let r = radius * libm::pow(rng.uniform_open(), 1.0 / p as f64);
                u.iter().map(|x| r * x / n).collect()
            }
            InitSpec::Gaussian { std, seed } => {
                let mut rng = Normal::new(*seed as u64);
                let mut u = vec![0.0; p];
                rng.fill(&mut u, *std);
                u
            }
        };
        Ok(Built {
            model: Box::new(ConvFilter::new(p, k, w_star, patches, sampling, fixed)),
            w0,
        })
    }

    fn examples(&self) -> Vec<(&'static str, Value)> {
        vec![
            (
                "convfilter-gaussian-fresh",
                json!({
                    "model": {"kind": "convFilter", "p": 4, "k": 3},
                    "teacher": {"kind": "random", "norm": 1, "seed": 3},
                    "patches": {"kind": "gaussian"},
                    "sampling": {"kind": "fresh", "batch": 8, "seed": 5},
                    "init": {"kind": "gaussian", "std": 0.5, "seed": 1},
                    "schedule": {"kind": "constant", "eta": 0.2},
                    "steps": 40,
                    "recordEvery": 4,
                }),
            ),
            (
                "convfilter-mixture-fixed",
                json!({
                    "model": {"kind": "convFilter", "p": 2},
                    "teacher": {"kind": "vector", "w": [1.0, 0.0]},
                    "patches": {"kind": "circleMixture", "s": 0.7},
                    "sampling": {"kind": "fixed", "samples": 64, "seed": 2},
                    "init": {"kind": "point", "w": [0.6, 0.6]},
                    "schedule": {"kind": "constant", "eta": 0.5},
                    "steps": 30,
                    "recordEvery": 3,
                }),
            ),
            (
                "convfilter-aroundbase-fresh",
                json!({
                    "model": {"kind": "convFilter", "p": 2, "k": 4},
                    "teacher": {"kind": "vector", "w": [0.0, 1.0]},
                    "patches": {"kind": "aroundBase", "s2": 0.3},
                    "sampling": {"kind": "fresh", "batch": 4, "seed": 9},
                    "init": {"kind": "ball", "radius": 0.8, "seed": 4},
                    "schedule": {"kind": "constant", "eta": 0.5},
                    "steps": 30,
                    "recordEvery": 5,
                }),
            ),
        ]
    }
}
