//! The deepSmooth family's spec (`model`, `data`, `init`), validation, memory budget, data and
//! initial point (docs/deep-networks.md).

use serde::Deserialize;
use serde_json::{json, Value};

use super::{Activation, Architecture, DeepNet, GramSpec, Shape};
use crate::build::{Budget, Buffers};
use crate::error::{Error, Result};
use crate::model::{Built, Family, RunInfo};
use crate::rng::Normal;
use crate::spec::{count, from_value, num, positive, positive_count, positive_real, MatrixRef};

/// The family's part of a run spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeepProblem {
    pub model: DeepModelSpec,
    pub data: DataSpec,
    pub init: InitSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeepModelSpec {
    /// `"deepSmooth"`.
    pub kind: String,
    pub architecture: ArchitectureSpec,
    /// H, the number of weight layers W^(1..H) (a comes on top).
    pub depth: f64,
    /// m, the width of every hidden layer (channels for the convolutional ResNet).
    pub width: f64,
    pub activation: ActivationSpec,
    /// c_res of the ResNets (default 0.5; the chapter asks 0 < c_res < 1).
    #[serde(default)]
    pub c_res: Option<f64>,
    /// q, the patch width of the convolutional ResNet (odd, default 3).
    #[serde(default)]
    pub patch: Option<f64>,
    /// Record lambda_min of the last layer's Gram G^(H) every `every` recorded rows.
    #[serde(default)]
    pub gram: Option<GramJson>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ArchitectureSpec {
    FullyConnected,
    Resnet,
    ConvResnet,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ActivationSpec {
    Softplus,
    Sigmoid,
    Tanh,
    Relu,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GramJson {
    pub every: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum DataSpec {
    /// n points uniform on the unit sphere (a normalized N(0, I) draw per point from `seed`:
    /// d numbers, or channels x length, channel-major, normalized in Frobenius norm), labels
    /// y_i ~ N(0, 1) from a second stream (seed XOR 2^62).
    Sphere {
        n: f64,
        #[serde(default)]
        d: Option<f64>,
        #[serde(default)]
        channels: Option<f64>,
        #[serde(default)]
        length: Option<f64>,
        seed: f64,
    },
    /// The user's data: x (n x d; convolutional: n x channels length, channel-major) and y
    /// (n x 1), buffers `data.x`, `data.y`.
    Explicit {
        x: MatrixRef,
        y: MatrixRef,
        #[serde(default)]
        channels: Option<f64>,
    },
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum InitSpec {
    /// Every entry of every W^(h) and of a i.i.d. N(0, std^2) (the chapter: std = 1), drawn
    /// from `seed` in block order (W1 row-major, .., WH, a).
    Gaussian {
        seed: f64,
        #[serde(default = "one")]
        std: f64,
    },
    /// The parameter vector itself (1 x dim, blocks in order), buffer `init.theta`.
    Explicit { theta: MatrixRef },
}

/// The salt of the labels' stream: y from `Normal::new(seed ^ LABEL_SALT)`.
pub const LABEL_SALT: u64 = 1 << 62;

/// Points uniform on the unit sphere of R^dim (n x dim, row-major) from `Normal::new(seed)`, one
/// normalized Gaussian row after the other, and labels N(0, 1) from `seed ^ LABEL_SALT`.
pub fn sphere_data(n: usize, dim: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut rng = Normal::new(seed);
    let mut x = vec![0.0; n * dim];
    for row in x.chunks_mut(dim) {
        loop {
            rng.fill(row, 1.0);
            let nr = crate::linalg::norm(row);
            if nr > 0.0 {
                row.iter_mut().for_each(|v| *v /= nr);
                break;
            }
        }
    }
    let mut y = vec![0.0; n];
    Normal::new(seed ^ LABEL_SALT).fill(&mut y, 1.0);
    (x, y)
}

/// The deep smooth network family.
pub struct DeepSmoothFamily;

/// The validated shape of a problem.
struct Sizes {
    arch: Architecture,
    act: Activation,
    depth: usize,
    width: usize,
    d: usize,
    p: usize,
    q: usize,
    n: usize,
    c_res: f64,
}

fn forbid(field: &str, given: bool, why: &str) -> Result<()> {
    if given {
        return Err(Error::spec(field, why.to_string()));
    }
    Ok(())
}

fn sizes(spec: &DeepProblem) -> Result<Sizes> {
    let m = &spec.model;
    let arch = match m.architecture {
        ArchitectureSpec::FullyConnected => Architecture::FullyConnected,
        ArchitectureSpec::Resnet => Architecture::Resnet,
        ArchitectureSpec::ConvResnet => Architecture::ConvResnet,
    };
    let act = match m.activation {
        ActivationSpec::Softplus => Activation::Softplus,
        ActivationSpec::Sigmoid => Activation::Sigmoid,
        ActivationSpec::Tanh => Activation::Tanh,
        ActivationSpec::Relu => Activation::Relu,
    };
    let depth = positive("model.depth", m.depth)?;
    let width = positive("model.width", m.width)?;
    let conv = arch == Architecture::ConvResnet;
    let c_res = match (arch, m.c_res) {
        (Architecture::FullyConnected, Some(_)) => {
            return Err(Error::spec(
                "model.cRes",
                "only the ResNets (resnet, convResnet) take cRes",
            ))
        }
        (_, Some(c)) => positive_real("model.cRes", c)?,
        (_, None) => 0.5,
    };
    let q = match (conv, m.patch) {
        (false, Some(_)) => {
            return Err(Error::spec(
                "model.patch",
                "only the convolutional ResNet (architecture convResnet) takes patch",
            ))
        }
        (true, Some(q)) => {
            let q = positive("model.patch", q)?;
            if q % 2 == 0 {
                return Err(Error::range(
                    "model.patch",
                    format!("expected an odd patch width (centred patches), got {q}"),
                ));
            }
            q
        }
        (true, None) => 3,
        (false, None) => 1,
    };
    if let Some(g) = &m.gram {
        positive_count("model.gram.every", g.every)?;
    }
    let (n, d, p) = match &spec.data {
        DataSpec::Sphere {
            n,
            d,
            channels,
            length,
            seed,
        } => {
            let n = positive("data.n", *n)?;
            count("data.seed", *seed)?;
            if conv {
                forbid(
                    "data.d",
                    d.is_some(),
                    "the convolutional ResNet's inputs are channels x length (data.channels, data.length), not d",
                )?;
                let c = channels.ok_or_else(|| {
                    Error::spec(
                        "data.channels",
                        "the convolutional ResNet needs data.channels (d0)",
                    )
                })?;
                let l = length.ok_or_else(|| {
                    Error::spec(
                        "data.length",
                        "the convolutional ResNet needs data.length (p)",
                    )
                })?;
                (
                    n,
                    positive("data.channels", c)?,
                    positive("data.length", l)?,
                )
            } else {
                forbid(
                    "data.channels",
                    channels.is_some(),
                    "only the convolutional ResNet takes data.channels (use data.d)",
                )?;
                forbid(
                    "data.length",
                    length.is_some(),
                    "only the convolutional ResNet takes data.length (use data.d)",
                )?;
                let d = d.ok_or_else(|| Error::spec("data.d", "expected the input dimension d"))?;
                (n, positive("data.d", d)?, 1)
            }
        }
        DataSpec::Explicit { x, y, channels } => {
            let n = positive("data.x.rows", x.rows)?;
            let cols = positive("data.x.cols", x.cols)?;
            let yr = positive("data.y.rows", y.rows)?;
            let yc = positive("data.y.cols", y.cols)?;
            if yr != n || yc != 1 {
                return Err(Error::shape(
                    "data.y",
                    format!(
                        "expected a {n} x 1 matrix (one label per row of data.x), got {yr} x {yc}"
                    ),
                ));
            }
            if conv {
                let c = channels.ok_or_else(|| {
                    Error::spec(
                        "data.channels",
                        "the convolutional ResNet needs data.channels (d0; data.x has d0 p columns)",
                    )
                })?;
                let c = positive("data.channels", c)?;
                if cols % c != 0 {
                    return Err(Error::shape(
                        "data.x",
                        format!("expected channels x length = {c} p columns, got {cols}"),
                    ));
                }
                (n, c, cols / c)
            } else {
                forbid(
                    "data.channels",
                    channels.is_some(),
                    "only the convolutional ResNet takes data.channels",
                )?;
                (n, cols, 1)
            }
        }
    };
    Ok(Sizes {
        arch,
        act,
        depth,
        width,
        d,
        p,
        q,
        n,
        c_res,
    })
}

/// Saturating u64 product.
fn mul(xs: &[u64]) -> u64 {
    xs.iter().fold(1u64, |a, &b| a.saturating_mul(b))
}

impl Family for DeepSmoothFamily {
    fn kind(&self) -> &'static str {
        "deepSmooth"
    }
    fn fields(&self) -> &'static [&'static str] {
        &["data", "init"]
    }
    fn build(
        &self,
        problem: Value,
        buffers: &mut Buffers,
        run: &RunInfo,
        budget: &mut Budget,
    ) -> Result<Built> {
        let spec: DeepProblem = from_value(problem, "", "spec")?;
        let z = sizes(&spec)?;
        if let InitSpec::Gaussian { seed, std } = &spec.init {
            count("init.seed", *seed)?;
            positive_real("init.std", *std)?;
        }
        let (h, m, d, p, q, n) = (
            z.depth as u64,
            z.width as u64,
            z.d as u64,
            z.p as u64,
            z.q as u64,
            z.n as u64,
        );
        // The parameter count, in u64 with saturation (the budget refuses anything that large).
        let dim = mul(&[m, q, d])
            .saturating_add(mul(&[h - 1, m, q, m]))
            .saturating_add(mul(&[m, p]));
        let gram = spec.model.gram.is_some();
        let work = DeepNet::workspace(h, m, d, p, q, n, gram);
        budget.reserve(
            "model",
            &[
                (dim, run.per_param as u64 + 1),
                (run.curvature_doubles(dim), 1),
                (work, 1),
            ],
        )?;
        budget.reserve("data", &[(mul(&[n, p, d]), 2u64), (n, 1)])?;
        let ncols = 3 + gram as u64;
        budget.reserve("steps", &[(run.rows_max, run.other_columns as u64 + ncols)])?;
        let dimu = dim as usize;
        let given = match &spec.data {
            DataSpec::Explicit { x, y, .. } => {
                let xd = buffers.matrix("data.x", x, z.n, z.d * z.p)?;
                let yd = buffers.matrix("data.y", y, z.n, 1)?;
                Some((xd, yd))
            }
            DataSpec::Sphere { .. } => None,
        };
        let w0 = match &spec.init {
            InitSpec::Explicit { theta } => Some(buffers.matrix("init.theta", theta, 1, dimu)?),
            InitSpec::Gaussian { .. } => None,
        };
        buffers.finish("the deepSmooth family reads data.x, data.y (explicit data) and init.theta (explicit init)")?;

        // Work starts here.
        let (x, y) = match (given, &spec.data) {
            (Some(g), _) => g,
            (None, DataSpec::Sphere { seed, .. }) => sphere_data(z.n, z.d * z.p, *seed as u64),
            (None, DataSpec::Explicit { .. }) => unreachable!("explicit data was taken above"),
        };
        let w0 = match (w0, &spec.init) {
            (Some(w), _) => w,
            (None, InitSpec::Gaussian { seed, std }) => {
                let mut w = vec![0.0; dimu];
                Normal::new(*seed as u64).fill(&mut w, *std);
                w
            }
            (None, InitSpec::Explicit { .. }) => unreachable!("explicit init was taken above"),
        };
        let shape = Shape::new(z.arch, z.act, z.depth, z.width, z.d, z.p, z.q, z.c_res);
        if !(shape.c_sigma.is_finite() && shape.c_sigma > 0.0) {
            return Err(Error::range(
                "model.activation",
                format!("c_sigma = {} is not a positive number", num(shape.c_sigma)),
            ));
        }
        let gram = spec.model.gram.as_ref().map(|g| GramSpec {
            every: g.every as u64,
        });
        Ok(Built {
            model: Box::new(DeepNet::new(shape, x, y, gram)),
            w0,
        })
    }

    fn examples(&self) -> Vec<(&'static str, Value)> {
        vec![
            (
                "deepSmooth-fc-softplus",
                json!({
                    "model": {"kind": "deepSmooth", "architecture": "fullyConnected", "depth": 3,
                              "width": 16, "activation": "softplus", "gram": {"every": 2}},
                    "data": {"kind": "sphere", "n": 8, "d": 4, "seed": 1},
                    "init": {"kind": "gaussian", "seed": 2},
                    "schedule": {"kind": "constant", "eta": 0.05},
                    "steps": 40,
                    "recordEvery": 4,
                }),
            ),
            (
                "deepSmooth-resnet-tanh",
                json!({
                    "model": {"kind": "deepSmooth", "architecture": "resnet", "depth": 4,
                              "width": 12, "activation": "tanh", "cRes": 0.5},
                    "data": {"kind": "sphere", "n": 6, "d": 3, "seed": 3},
                    "init": {"kind": "gaussian", "seed": 4},
                    "schedule": {"kind": "constant", "eta": 0.05},
                    "steps": 40,
                    "recordEvery": 4,
                }),
            ),
            (
                "deepSmooth-conv-sigmoid",
                json!({
                    "model": {"kind": "deepSmooth", "architecture": "convResnet", "depth": 3,
                              "width": 6, "activation": "sigmoid", "patch": 3,
                              "gram": {"every": 1}},
                    "data": {"kind": "sphere", "n": 5, "channels": 2, "length": 4, "seed": 5},
                    "init": {"kind": "gaussian", "seed": 6},
                    "schedule": {"kind": "constant", "eta": 0.05},
                    "steps": 40,
                    "recordEvery": 4,
                }),
            ),
        ]
    }
}
