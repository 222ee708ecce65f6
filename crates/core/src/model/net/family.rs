//! The network family (`model.kind = "network"`): its spec (`model`, `data`, `init`),
//! validation of layers, data and init, memory budget and initial point.

use serde::Deserialize;
use serde_json::{json, Value};

use super::pattern::{self, Pattern};
use super::{Activation, Layer, Loss, Network};
use crate::build::{zeroed, Budget, Buffers};
use crate::error::{Error, Result};
use crate::model::{Built, Family, RunInfo};
use crate::rng::Normal;
use crate::spec::{count, finite, from_value, positive, size0, MatrixRef, MethodSpec, MAX_SIZE};

/// The family's part of a run spec: `model`, `data`, `init`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetProblem {
    pub model: NetModelSpec,
    pub data: DataSpec,
    pub init: NetInitSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetModelSpec {
    /// Must be "network".
    pub kind: String,
    pub input_dim: f64,
    pub layers: Vec<LayerSpec>,
    #[serde(default)]
    pub loss: LossSpec,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum LossSpec {
    /// 1/(2m) sum_i ||f(x_i) - y_i||^2
    #[default]
    Squared,
    /// 1/m sum_i -sum_k y_ik log softmax(f(x_i))_k
    CrossEntropy,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ActivationSpec {
    #[default]
    Linear,
    Relu,
    LeakyRelu,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum LayerType {
    #[default]
    Dense,
    Shared,
    Conv1d,
    Conv2d,
}

/// One layer. `dense` and `shared` need `width` (n_h); `shared` also `params` (d_h) and a
/// `pattern` `{rows: n_h, cols: n_{h-1}}` whose data (0 or 1-based parameter index per entry) is
/// the buffer `model.layers[i].pattern`. `conv1d` needs `inChannels`, `outChannels`, `kernel`
/// (+ `stride` 1, `padding` 0); its input length is n_{h-1} / inChannels. `conv2d` also needs
/// `inHeight` (the input width is n_{h-1} / (inChannels inHeight)); square kernels.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LayerSpec {
    #[serde(default, rename = "type")]
    pub kind: LayerType,
    #[serde(default)]
    pub width: Option<f64>,
    #[serde(default)]
    pub activation: ActivationSpec,
    /// Leaky ReLU slope, 0 < slope < 1.
    #[serde(default)]
    pub slope: Option<f64>,
    #[serde(default)]
    pub bias: bool,
    #[serde(default)]
    pub params: Option<f64>,
    #[serde(default)]
    pub pattern: Option<MatrixRef>,
    #[serde(default)]
    pub in_channels: Option<f64>,
    #[serde(default)]
    pub out_channels: Option<f64>,
    #[serde(default)]
    pub in_height: Option<f64>,
    #[serde(default)]
    pub kernel: Option<f64>,
    #[serde(default)]
    pub stride: Option<f64>,
    #[serde(default)]
    pub padding: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum DataSpec {
    /// Buffers `data.x` (m x inputDim) and `data.y` (m x outputDim), one sample per row.
    Explicit { x: MatrixRef, y: MatrixRef },
    /// Seeded inputs and targets.
    #[serde(rename_all = "camelCase")]
    Generated {
        samples: f64,
        #[serde(default)]
        inputs: InputKind,
        /// Gaussian inputs: entries N(0, inputStd^2).
        #[serde(default = "crate::spec::one")]
        input_std: f64,
        targets: TargetGen,
        seed: f64,
    },
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum InputKind {
    #[default]
    Gaussian,
    /// Uniform on the unit sphere (normalized Gaussian rows).
    Sphere,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum TargetGen {
    /// Entries N(0, std^2).
    Gaussian {
        #[serde(default = "crate::spec::one")]
        std: f64,
    },
    /// y = scale * teacher(x): a random network with the given hidden widths and activation,
    /// weights N(0, 1/fan_in), no biases, output width = the model's.
    Teacher {
        #[serde(default)]
        widths: Vec<f64>,
        #[serde(default = "relu")]
        activation: ActivationSpec,
        #[serde(default)]
        slope: Option<f64>,
        #[serde(default = "crate::spec::one")]
        scale: f64,
    },
}

fn relu() -> ActivationSpec {
    ActivationSpec::Relu
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum NetInitSpec {
    /// Per layer: entries of W_h (v_h for shared layers) i.i.d. N(0, variances[h]) (or
    /// N(0, stds[h]^2)); biases start at 0. One seeded stream, layer by layer.
    Gaussian {
        #[serde(default)]
        variances: Option<Vec<f64>>,
        #[serde(default)]
        stds: Option<Vec<f64>>,
        seed: f64,
    },
    /// Buffers `init.w1` .. `init.wN` (row-major n_h x n_{h-1}, or the d_h free parameters of a
    /// shared layer) and `init.b1` .. for layers with biases.
    Explicit {},
}

fn activation(field: &str, a: ActivationSpec, slope: Option<f64>) -> Result<Activation> {
    Ok(match a {
        ActivationSpec::Linear => Activation::Linear,
        ActivationSpec::Relu => Activation::Relu,
        ActivationSpec::LeakyRelu => {
            let f = format!("{field}.slope");
            let s = slope
                .ok_or_else(|| Error::spec(f.clone(), "leakyRelu needs a slope (0 < slope < 1)"))?;
            finite(&f, s)?;
            if !(s > 0.0 && s < 1.0) {
                return Err(Error::range(f, format!("expected 0 < slope < 1, got {s}")));
            }
            Activation::LeakyRelu(s)
        }
    })
}

fn opt_positive(field: &str, x: Option<f64>, what: &str) -> Result<usize> {
    let x = x.ok_or_else(|| Error::spec(field, format!("missing field (needed by {what})")))?;
    positive(field, x)
}

fn opt_size(field: &str, x: Option<f64>, default: usize) -> Result<usize> {
    match x {
        None => Ok(default),
        Some(x) => size0(field, x),
    }
}

/// Output length of a convolution along one axis, in u64 (the same on every target); `None`
/// when the kernel does not fit the padded input.
fn conv_out(len: u64, kernel: u64, stride: u64, padding: u64) -> Option<u64> {
    let padded = len + 2 * padding;
    if kernel == 0 || stride == 0 || padded < kernel {
        return None;
    }
    Some((padded - kernel) / stride + 1)
}

/// A seeded generated data set: X (m x d_in), Y (m x d_out).
#[allow(clippy::too_many_arguments)]
fn generate(
    m: usize,
    d_in: usize,
    d_out: usize,
    inputs: InputKind,
    input_std: f64,
    targets: &TargetGen,
    teacher_acts: &[Activation],
    seed: u64,
    loss: Loss,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let mut rng = Normal::new(seed);
    let mut x = zeroed("data", m * d_in)?;
    match inputs {
        InputKind::Gaussian => rng.fill(&mut x, input_std),
        InputKind::Sphere => {
            rng.fill(&mut x, 1.0);
            for row in x.chunks_mut(d_in) {
                let n = libm::sqrt(crate::linalg::norm2(row));
                for v in row {
                    *v /= n;
                }
            }
        }
    }
    let mut y = match targets {
        TargetGen::Gaussian { std } => {
            let mut y = zeroed("data", m * d_out)?;
            rng.fill(&mut y, *std);
            y
        }
        TargetGen::Teacher { widths, scale, .. } => {
            let mut dims = vec![d_in];
            dims.extend(widths.iter().map(|&w| w as usize));
            dims.push(d_out);
            let specs = (0..dims.len() - 1)
                .map(|h| {
                    let act = if h + 2 == dims.len() {
                        Activation::Linear
                    } else {
                        teacher_acts[0]
                    };
                    (dims[h + 1], dims[h], act, None, false)
                })
                .collect::<Vec<_>>();
            let layers = Layer::stack(specs);
            let dim: usize = layers.iter().map(|l| l.w_len).sum();
            let mut w = zeroed("data", dim)?;
            for l in &layers {
                rng.fill(
                    &mut w[l.w_off..l.w_off + l.w_len],
                    libm::sqrt(1.0 / l.cols as f64),
                );
            }
            let teacher = Network::new(
                d_in,
                layers,
                Loss::Squared,
                vec![0.0; d_in],
                vec![0.0; d_out],
                0,
            );
            let mut y = teacher.predict(&w, &x);
            for v in y.iter_mut() {
                *v *= scale;
            }
            y
        }
    };
    if loss == Loss::CrossEntropy {
        // One-hot labels: the class of the largest target entry.
        for row in y.chunks_mut(d_out) {
            let mut k = 0;
            for j in 1..d_out {
                if row[j] > row[k] {
                    k = j;
                }
            }
            row.fill(0.0);
            row[k] = 1.0;
        }
    }
    Ok((x, y))
}

/// The network family.
pub struct NetFamily;

impl Family for NetFamily {
    fn kind(&self) -> &'static str {
        "network"
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
        build(problem, buffers, run, budget)
    }
    fn examples(&self) -> Vec<(&'static str, Value)> {
        examples()
    }
}

fn build(
    problem: Value,
    buffers: &mut Buffers,
    run: &RunInfo,
    budget: &mut Budget,
) -> Result<Built> {
    let spec: NetProblem = from_value(problem, "", "spec")?;
    let d_in = positive("model.inputDim", spec.model.input_dim)?;
    if spec.model.layers.is_empty() {
        return Err(Error::range("model.layers", "expected at least one layer"));
    }
    let nl = spec.model.layers.len();
    let mut specs = Vec::with_capacity(nl);
    let mut cols = d_in;
    let mut pattern_bytes: u64 = 0;
    // Dense sizes of the layers so far (W_h, or the expanded pattern), checked cumulatively.
    let mut dense_so_far: u64 = 0;
    for (i, ls) in spec.model.layers.iter().enumerate() {
        let f = format!("model.layers[{i}]");
        let act = activation(&f, ls.activation, ls.slope)?;
        if i + 1 == nl && act != Activation::Linear {
            return Err(Error::range(
                format!("{f}.activation"),
                "the last layer is linear (x -> W_N phi(W_{N-1} ...))",
            ));
        }
        if ls.slope.is_some() && ls.activation != ActivationSpec::LeakyRelu {
            return Err(Error::spec(
                format!("{f}.slope"),
                "a slope is only used by activation leakyRelu",
            ));
        }
        let (rows, pat): (usize, Option<Pattern>) = match ls.kind {
            LayerType::Dense => (
                opt_positive(&format!("{f}.width"), ls.width, "a dense layer")?,
                None,
            ),
            LayerType::Shared => {
                let rows = opt_positive(&format!("{f}.width"), ls.width, "a shared layer")?;
                let params = opt_positive(&format!("{f}.params"), ls.params, "a shared layer")?;
                let pf = format!("{f}.pattern");
                let pr = ls
                    .pattern
                    .as_ref()
                    .ok_or_else(|| Error::spec(pf.clone(), "missing field (a shared layer)"))?;
                budget.check(&pf, &[(rows, cols)])?;
                let data = buffers.matrix(&pf, pr, rows, cols)?;
                let mut map = Vec::with_capacity(rows * cols);
                for (k, &x) in data.iter().enumerate() {
                    if x < 0.0 || x.fract() != 0.0 || x > params as f64 {
                        return Err(Error::range(
                            pf,
                            format!(
                                "entry ({}, {}) is {x}: expected 0 (zero) or a parameter index \
                                 1..={params}",
                                k / cols,
                                k % cols
                            ),
                        ));
                    }
                    map.push(x as u32);
                }
                (
                    rows,
                    Some(Pattern {
                        rows,
                        cols,
                        params,
                        map,
                        bias_map: (0..rows as u32).collect(),
                        biases: rows,
                    }),
                )
            }
            LayerType::Conv1d | LayerType::Conv2d => {
                let two = ls.kind == LayerType::Conv2d;
                let what = if two {
                    "a conv2d layer"
                } else {
                    "a conv1d layer"
                };
                let ic = opt_positive(&format!("{f}.inChannels"), ls.in_channels, what)?;
                let oc = opt_positive(&format!("{f}.outChannels"), ls.out_channels, what)?;
                let k = opt_positive(&format!("{f}.kernel"), ls.kernel, what)?;
                let stride = opt_size(&format!("{f}.stride"), ls.stride, 1)?;
                if stride == 0 {
                    return Err(Error::range(
                        format!("{f}.stride"),
                        "expected a positive integer",
                    ));
                }
                let pad = opt_size(&format!("{f}.padding"), ls.padding, 0)?;
                let ih = if two {
                    opt_positive(&format!("{f}.inHeight"), ls.in_height, what)?
                } else {
                    1
                };
                let (icu, ihu) = (ic as u64, ih as u64);
                if !(cols as u64).is_multiple_of(icu * ihu) {
                    return Err(Error::shape(
                        format!("{f}.inChannels"),
                        format!(
                            "the layer's input has {cols} entries, not a multiple of \
                             inChannels{} = {}",
                            if two { " x inHeight" } else { "" },
                            icu * ihu
                        ),
                    ));
                }
                let iw = cols / (ic * ih);
                let (kh, ph) = if two { (k, pad) } else { (1, 0) };
                if iw as u64 + 2 * pad as u64 > MAX_SIZE || ihu + 2 * ph as u64 > MAX_SIZE {
                    return Err(Error::range(
                        format!("{f}.padding"),
                        format!("the padded input is longer than {MAX_SIZE} along an axis"),
                    ));
                }
                let u = |x: usize| x as u64;
                let oh = conv_out(ihu, u(kh), u(stride), u(ph));
                let ow = conv_out(u(iw), u(k), u(stride), u(pad));
                let (Some(oh), Some(ow)) = (oh, ow) else {
                    return Err(Error::range(
                        format!("{f}.kernel"),
                        format!(
                            "kernel {k} does not fit the padded input ({ih} x {iw}, padding {pad})"
                        ),
                    ));
                };
                // At most (2^32)^3: u128, then the budget refuses what does not fit.
                let rows = oc as u128 * oh as u128 * ow as u128;
                let rows = u64::try_from(rows).unwrap_or(u64::MAX);
                budget.check(&f, &[(rows, cols as u64)])?;
                let nparams = (oc as u64) * (ic as u64) * (kh as u64) * (k as u64);
                if nparams >= u32::MAX as u64 {
                    return Err(Error::too_large(
                        format!("{f}.kernel"),
                        format!("{nparams} kernel parameters (at most {})", u32::MAX - 1),
                    ));
                }
                let p = pattern::conv(ic, oc, ih, iw, kh, k, stride, ph, pad)
                    .expect("sizes checked above");
                (p.rows, Some(p))
            }
        };
        // Every layer's dense size (W_h, or the expanded pattern), with the layers before it,
        // within the memory limit (in u64: every size below fits usize on every target).
        dense_so_far += rows as u64 * cols as u64 + rows as u64;
        budget.check(&f, &[(dense_so_far, 1u64)])?;
        if pat.is_some() {
            pattern_bytes += (rows * cols) as u64 * 4;
        }
        specs.push((rows, cols, act, pat, ls.bias));
        cols = rows;
    }
    let d_out = cols;
    let layers = Layer::stack(specs);
    let dim: usize = layers.iter().map(|l| l.w_len + l.b_len).sum();
    let loss = match spec.model.loss {
        LossSpec::Squared => Loss::Squared,
        LossSpec::CrossEntropy => Loss::CrossEntropy,
    };
    // Data.
    let (m, data) = match &spec.data {
        DataSpec::Explicit { x, y } => {
            let m = positive("data.x.rows", x.rows)?;
            let xd = buffers.matrix("data.x", x, m, d_in)?;
            let yd = buffers.matrix("data.y", y, m, d_out)?;
            (m, Some((xd, yd)))
        }
        DataSpec::Generated {
            samples,
            input_std,
            targets,
            seed,
            ..
        } => {
            let m = positive("data.samples", *samples)?;
            finite("data.inputStd", *input_std)?;
            if *input_std < 0.0 {
                return Err(Error::range("data.inputStd", "expected a value >= 0"));
            }
            count("data.seed", *seed)?;
            match targets {
                TargetGen::Gaussian { std } => {
                    finite("data.targets.std", *std)?;
                    if *std < 0.0 {
                        return Err(Error::range("data.targets.std", "expected a value >= 0"));
                    }
                }
                TargetGen::Teacher {
                    widths,
                    activation: a,
                    slope,
                    scale,
                } => {
                    for (i, &w) in widths.iter().enumerate() {
                        positive(&format!("data.targets.widths[{i}]"), w)?;
                    }
                    activation("data.targets", *a, *slope)?;
                    finite("data.targets.scale", *scale)?;
                }
            }
            (m, None)
        }
    };
    let max_batch = match run.method {
        Some(MethodSpec::Sgd { batch_size, .. }) => {
            positive("method.batchSize", *batch_size)?.min(m)
        }
        _ => 0,
    };
    let u = |x: usize| x as u64;
    let masks = matches!(run.method, Some(MethodSpec::ImplicitMidpoint { .. }));
    budget.reserve(
        "model",
        &[
            (u(m), u(d_in) + u(d_out)),
            (u(dim), u(run.per_param)),
            (run.curvature_doubles(u(dim)), 1),
            (
                Network::workspace_len(d_in, &layers, m, max_batch, masks),
                1,
            ),
            (pattern_bytes.div_ceil(8), 1),
        ],
    )?;
    // The recorded columns: step, eta, time, the method's, curvature, and the model's (2, per
    // layer 1 or 2 norms, per pair of layers at most 5).
    let model_columns = 2 + 2 * u(nl) + 5 * u(nl - 1);
    budget.reserve(
        "steps",
        &[(run.rows_max, u(run.other_columns) + model_columns)],
    )?;
    if let DataSpec::Generated {
        targets:
            TargetGen::Teacher {
                widths,
                activation: a,
                ..
            },
        ..
    } = &spec.data
    {
        // The teacher, built and dropped while the data is generated: its weights, its
        // forward pass over every sample, and (linear teachers) its matrix invariants.
        let mut dims = vec![u(d_in)];
        dims.extend(widths.iter().map(|&w| w as u64));
        dims.push(u(d_out));
        let weights: u64 = dims.windows(2).map(|p| p[0] * p[1]).sum();
        let acts: u64 = dims[1..].iter().sum::<u64>() * u(m);
        let widest = dims[1..dims.len() - 1].iter().copied().max().unwrap_or(0);
        let inv: u64 = if *a == ActivationSpec::Linear {
            dims[1..dims.len() - 1].iter().map(|w| w * w).sum::<u64>() + 2 * widest * widest
        } else {
            0
        };
        budget.check(
            "data.targets",
            &[(weights, 1u64), (acts, 2), (inv, 1), (widest, 4)],
        )?;
    }

    // Init.
    let explicit_init = match &spec.init {
        NetInitSpec::Gaussian {
            variances,
            stds,
            seed,
        } => {
            let (field, vals, var) = match (variances, stds) {
                (Some(v), None) => ("init.variances", v, true),
                (None, Some(s)) => ("init.stds", s, false),
                _ => {
                    return Err(Error::spec(
                        "init",
                        "give exactly one of variances and stds (one per layer)",
                    ))
                }
            };
            if vals.len() != nl {
                return Err(Error::shape(
                    field,
                    format!("expected {nl} values (one per layer), got {}", vals.len()),
                ));
            }
            for (i, &x) in vals.iter().enumerate() {
                let f = format!("{field}[{i}]");
                finite(&f, x)?;
                if x < 0.0 {
                    return Err(Error::range(f, format!("expected a value >= 0, got {x}")));
                }
            }
            count("init.seed", *seed)?;
            let _ = var;
            None
        }
        NetInitSpec::Explicit {} => {
            let mut w = Vec::with_capacity(nl);
            for (h, l) in layers.iter().enumerate() {
                let name = format!("init.w{}", h + 1);
                let wb = take_flat(buffers, &name, l.w_len, l.rows, l.cols, l.pattern.is_some())?;
                let bb = if l.bias {
                    Some(take_flat(
                        buffers,
                        &format!("init.b{}", h + 1),
                        l.b_len,
                        1,
                        l.b_len,
                        false,
                    )?)
                } else {
                    None
                };
                w.push((wb, bb));
            }
            Some(w)
        }
    };
    buffers
        .finish("network buffers: data.x, data.y, init.w<h>, init.b<h>, model.layers[i].pattern")?;

    // Work starts here.
    let (x, y) = match data {
        Some(d) => d,
        None => {
            let DataSpec::Generated {
                inputs,
                input_std,
                targets,
                seed,
                ..
            } = &spec.data
            else {
                unreachable!("explicit data taken above")
            };
            let acts = match targets {
                TargetGen::Teacher {
                    activation: a,
                    slope,
                    ..
                } => vec![activation("data.targets", *a, *slope)?],
                _ => vec![Activation::Relu],
            };
            generate(
                m,
                d_in,
                d_out,
                *inputs,
                *input_std,
                targets,
                &acts,
                *seed as u64,
                loss,
            )?
        }
    };
    let mut w = zeroed("init", dim)?;
    match (&spec.init, explicit_init) {
        (_, Some(bufs)) => {
            for (l, (wb, bb)) in layers.iter().zip(bufs) {
                w[l.w_off..l.w_off + l.w_len].copy_from_slice(&wb);
                if let Some(b) = bb {
                    w[l.b_off..l.b_off + l.b_len].copy_from_slice(&b);
                }
            }
        }
        (
            NetInitSpec::Gaussian {
                variances,
                stds,
                seed,
            },
            None,
        ) => {
            let mut rng = Normal::new(*seed as u64);
            for (h, l) in layers.iter().enumerate() {
                let std = match (variances, stds) {
                    (Some(v), _) => libm::sqrt(v[h]),
                    (_, Some(s)) => s[h],
                    _ => unreachable!(),
                };
                rng.fill(&mut w[l.w_off..l.w_off + l.w_len], std);
            }
        }
        (NetInitSpec::Explicit {}, None) => unreachable!("explicit init taken above"),
    }
    let net = Network::new(d_in, layers, loss, x, y, max_batch);
    Ok(Built {
        model: Box::new(net),
        w0: w,
    })
}

/// A flat buffer of `len` numbers (a dense `rows x cols` matrix, or a shared layer's `len` free
/// parameters).
fn take_flat(
    buffers: &mut Buffers,
    name: &str,
    len: usize,
    rows: usize,
    cols: usize,
    shared: bool,
) -> Result<Vec<f64>> {
    let what = if shared {
        format!("the {len} free parameters of this shared layer")
    } else {
        format!("a {rows} x {cols} matrix (row-major)")
    };
    buffers.flat(name, len, &what)
}

/// Small networks for the conformance suite: one per layer type, activation and loss.
fn examples() -> Vec<(&'static str, Value)> {
    let spec = |layers: Value, loss: &str, input_dim: usize, n: usize| {
        json!({
            "model": {"kind": "network", "inputDim": input_dim, "layers": layers, "loss": loss},
            "data": {"kind": "generated", "samples": 12, "inputs": "gaussian",
                     "targets": {"kind": "teacher", "widths": [3]}, "seed": 3},
            "init": {"kind": "gaussian", "variances": vec![0.4; n], "seed": 4},
            "schedule": {"kind": "constant", "eta": 0.02},
            "steps": 40,
            "recordEvery": 5,
        })
    };
    vec![
        (
            "net-relu-bias",
            spec(
                json!([{"width": 4, "activation": "relu", "bias": true}, {"width": 2}]),
                "squared",
                3,
                2,
            ),
        ),
        (
            "net-linear-deep",
            spec(
                json!([{"width": 3}, {"width": 4}, {"width": 2}]),
                "squared",
                3,
                3,
            ),
        ),
        (
            "net-leaky-crossentropy",
            spec(
                json!([{"width": 5, "activation": "leakyRelu", "slope": 0.2}, {"width": 3}]),
                "crossEntropy",
                3,
                2,
            ),
        ),
        (
            "net-conv1d",
            spec(
                json!([{"type": "conv1d", "inChannels": 1, "outChannels": 2, "kernel": 2,
                        "activation": "relu"}, {"width": 2}]),
                "squared",
                4,
                2,
            ),
        ),
    ]
}
