//! The twoLayerRelu family's spec (`model`, `data`, `init`), validation, memory budget, data and
//! initial point (docs/wide-networks.md).
//!
//! Draw order (seeded, the same bits on every target): `data.kind = "sphere"`: X (n x d,
//! row-major) from `Normal::new(data.seed)`, each row then divided by its norm (uniform on the
//! unit sphere); y (n) from a second stream `Normal::new(data.seed ^ LABEL_STREAM)`, N(0, 1).
//! `init.kind = "gaussian"`: W (m x d, row-major) from `Normal::new(init.seed)` times `std`; a (m)
//! from a second stream `Normal::new(init.seed ^ LABEL_STREAM)`: a_r = +1 when its r-th
//! uniform draw is below 1/2, else -1.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{chunk_count, chunk_width, gram, LossKind, TwoLayerRelu};
use crate::build::{zeroed, Budget, Buffers};
use crate::error::{Error, Result};
use crate::model::{Built, Family, RunInfo};
use crate::rng::Normal;
use crate::spec::{count, from_value, num, positive, positive_count, positive_real, MatrixRef};

/// XOR'ed into a seed for the second stream of a draw (labels; the second layer).
pub const LABEL_STREAM: u64 = 0x9E37_79B9_7F4A_7C15;

/// The family's part of a run spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WideProblem {
    pub model: WideModelSpec,
    pub data: DataSpec,
    pub init: InitSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WideModelSpec {
    /// `"twoLayerRelu"`.
    pub kind: String,
    /// m, the number of hidden neurons.
    pub width: f64,
    #[serde(default)]
    pub loss: LossSpec,
    /// The Gram columns (`lambdaMinH`, `gramDistInf`) every `every` steps; absent: off.
    #[serde(default)]
    pub gram: Option<GramSpec>,
    /// The step size the envelope columns assume (the run's constant eta).
    #[serde(default)]
    pub envelope_eta: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum LossSpec {
    #[default]
    Sum,
    Mean,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GramSpec {
    pub every: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum DataSpec {
    /// n points uniform on the unit sphere of R^d, labels N(0, 1).
    Sphere { n: f64, d: f64, seed: f64 },
    /// X (n x d) and y (n x 1) as buffers `data.x`, `data.y`.
    Explicit { x: MatrixRef, y: MatrixRef },
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum InitSpec {
    /// w_r ~ N(0, std^2 I), a_r uniform in {-1, +1}.
    Gaussian {
        seed: f64,
        #[serde(default = "one")]
        std: f64,
    },
    /// W (m x d) and a (m x 1, entries +-1) as buffers `init.w`, `init.a`.
    Explicit { w: MatrixRef, a: MatrixRef },
}

/// The twoLayerRelu family.
pub struct TwoLayerReluFamily;

impl Family for TwoLayerReluFamily {
    fn kind(&self) -> &'static str {
        "twoLayerRelu"
    }
    fn fields(&self) -> &'static [&'static str] {
        &["data", "init"]
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
        let spec: WideProblem = from_value(problem, "", "spec")?;
        let ms = &spec.model;
        let m = positive("model.width", ms.width)?;
        let gram_every = match &ms.gram {
            Some(g) => positive_count("model.gram.every", g.every)?,
            None => 0,
        };
        if let Some(eta) = ms.envelope_eta {
            positive_real("model.envelopeEta", eta)?;
        }
        let (n, d) = match &spec.data {
            DataSpec::Sphere { n, d, seed } => {
                let n = positive("data.n", *n)?;
                let d = positive("data.d", *d)?;
                count("data.seed", *seed)?;
                (n, d)
            }
            DataSpec::Explicit { x, y } => {
                let n = positive("data.x.rows", x.rows)?;
                let d = positive("data.x.cols", x.cols)?;
                let yr = positive("data.y.rows", y.rows)?;
                let yc = positive("data.y.cols", y.cols)?;
                if yr != n || yc != 1 {
                    return Err(Error::shape(
                        "data.y",
                        format!("expected a {n} x 1 matrix (data.x has {n} rows), got {yr} x {yc}"),
                    ));
                }
                (n, d)
            }
        };
        match &spec.init {
            InitSpec::Gaussian { seed, std } => {
                count("init.seed", *seed)?;
                positive_real("init.std", *std)?;
                if *std > 1e100 {
                    return Err(Error::range(
                        "init.std",
                        format!("expected a number in (0, 1e100], got {}", num(*std)),
                    ));
                }
            }
            InitSpec::Explicit { w, a } => {
                let wr = positive("init.w.rows", w.rows)?;
                let wc = positive("init.w.cols", w.cols)?;
                if wr != m || wc != d {
                    return Err(Error::shape(
                        "init.w",
                        format!("expected a {m} x {d} matrix (model.width x d), got {wr} x {wc}"),
                    ));
                }
                let ar = positive("init.a.rows", a.rows)?;
                let ac = positive("init.a.cols", a.cols)?;
                if ar != m || ac != 1 {
                    return Err(Error::shape(
                        "init.a",
                        format!("expected a {m} x 1 matrix (model.width), got {ar} x {ac}"),
                    ));
                }
            }
        }
        let theory = gram_every > 0 || ms.envelope_eta.is_some();

        // Memory, in u64: the iterate and the method's vectors (and the model's copy of the
        // initial point), the curvature tracker, the data, the second layer, the chunks' blocks
        // of Z (n x m in all) and pattern bits (two n x m bitsets), the predictions, the recorded
        // rows; with the Gram columns or the envelopes: H_inf, X X^T, H and the eigen solver's
        // copies (7 n x n); at build, the draw of X's Gram matrix (n x n) too.
        let (nu, du, mu) = (n as u64, d as u64, m as u64);
        let dim = mu * du;
        let nc = chunk_count(m) as u64;
        let words = nc * (nu * chunk_width(m) as u64).div_ceil(64);
        budget.reserve(
            "model.width",
            &[
                (dim, run.per_param as u64 + 1),
                (run.curvature_doubles(dim), 1u64),
                (nu * mu, 1u64),
                (words, 2u64),
                (mu, 1u64),
                (nc * nu + 4 * nu, 1u64),
            ],
        )?;
        budget.reserve("data", &[(nu * du, 1u64), (nu, 1u64)])?;
        if theory {
            let field = if gram_every > 0 {
                "model.gram"
            } else {
                "model.envelopeEta"
            };
            budget.reserve(field, &[(gram::query_doubles(n), 1u64)])?;
        }
        let ncols =
            4 + if gram_every > 0 { 2 } else { 0 } + if ms.envelope_eta.is_some() { 2 } else { 0 };
        budget.reserve(
            "steps",
            &[(run.rows_max, (run.other_columns + ncols) as u64)],
        )?;

        // The buffers.
        let (xy, wa) = {
            let xy = match &spec.data {
                DataSpec::Explicit { x, y } => Some((
                    buffers.matrix("data.x", x, n, d)?,
                    buffers.matrix("data.y", y, n, 1)?,
                )),
                DataSpec::Sphere { .. } => None,
            };
            let wa = match &spec.init {
                InitSpec::Explicit { w, a } => {
                    let wv = buffers.matrix("init.w", w, m, d)?;
                    let av = buffers.matrix("init.a", a, m, 1)?;
                    if let Some(r) = av.iter().position(|v| *v != 1.0 && *v != -1.0) {
                        return Err(Error::range(
                            "init.a",
                            format!(
                                "entry ({r}, 0) is {}: the second layer's entries are +1 or -1",
                                num(av[r])
                            ),
                        ));
                    }
                    Some((wv, av))
                }
                InitSpec::Gaussian { .. } => None,
            };
            (xy, wa)
        };
        buffers.finish(
            "the twoLayerRelu family reads data.x and data.y (data.kind = \"explicit\"), init.w \
             and init.a (init.kind = \"explicit\")",
        )?;

        // Work starts here.
        let (x, y) = match (xy, &spec.data) {
            (Some(xy), _) => xy,
            (None, DataSpec::Sphere { seed, .. }) => {
                let mut x = zeroed("data", n * d)?;
                let mut rng = Normal::new(*seed as u64);
                rng.fill(&mut x, 1.0);
                for row in x.chunks_mut(d) {
                    let nr = crate::linalg::norm(row);
                    row.iter_mut().for_each(|v| *v /= nr);
                }
                let mut y = zeroed("data", n)?;
                Normal::new(*seed as u64 ^ LABEL_STREAM).fill(&mut y, 1.0);
                (x, y)
            }
            (None, DataSpec::Explicit { .. }) => unreachable!("taken above"),
        };
        let (w0, a) = match (wa, &spec.init) {
            (Some(wa), _) => wa,
            (None, InitSpec::Gaussian { seed, std }) => {
                let mut w = zeroed("init", m * d)?;
                Normal::new(*seed as u64).fill(&mut w, *std);
                let mut rng = Normal::new(*seed as u64 ^ LABEL_STREAM);
                let a: Vec<f64> = (0..m)
                    .map(|_| if rng.uniform_open() < 0.5 { 1.0 } else { -1.0 })
                    .collect();
                (w, a)
            }
            (None, InitSpec::Explicit { .. }) => unreachable!("taken above"),
        };
        let th = if theory {
            Some(gram::theory_of(&x, n, d))
        } else {
            None
        };
        let loss = match ms.loss {
            LossSpec::Sum => LossKind::Sum,
            LossSpec::Mean => LossKind::Mean,
        };
        let model = TwoLayerRelu::new(n, d, m, loss, x, y, a, gram_every, ms.envelope_eta, th);
        Ok(Built {
            model: Box::new(model),
            w0,
        })
    }

    fn examples(&self) -> Vec<(&'static str, Value)> {
        vec![
            (
                "twoLayerRelu-sphere",
                json!({
                    "model": {"kind": "twoLayerRelu", "width": 24},
                    "data": {"kind": "sphere", "n": 6, "d": 5, "seed": 8},
                    "init": {"kind": "gaussian", "seed": 9},
                    "schedule": {"kind": "constant", "eta": 0.3},
                    "steps": 40,
                    "recordEvery": 4,
                }),
            ),
            (
                "twoLayerRelu-gram",
                json!({
                    "model": {"kind": "twoLayerRelu", "width": 130, "loss": "mean",
                              "gram": {"every": 5}, "envelopeEta": 1.0},
                    "data": {"kind": "sphere", "n": 4, "d": 3, "seed": 69},
                    "init": {"kind": "gaussian", "seed": 70, "std": 1},
                    "schedule": {"kind": "constant", "eta": 1.0},
                    "steps": 30,
                    "recordEvery": 5,
                }),
            ),
        ]
    }
}
