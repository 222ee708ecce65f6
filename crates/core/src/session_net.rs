//! Validation and set-up of network runs (`model.kind = "network"`): layers, data, init.

use std::collections::HashMap;

use crate::dynamics::method::Method;
use crate::dynamics::schedule::Schedule;
use crate::error::{Error, Result};
use crate::model::net::{Activation, Layer, Loss, Network};
use crate::model::pattern::{self, Pattern};
use crate::rng::Normal;
use crate::session::{bytes, curvature_tracker, take_buffer, zeroed, Problem, Session};
use crate::spec::{
    count, finite, parse_network, positive, ActivationSpec, DataSpec, InputKind, LayerType,
    LossSpec, NetInitSpec, ScheduleSpec, TargetGen,
};

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

fn opt_count(field: &str, x: Option<f64>, default: usize) -> Result<usize> {
    match x {
        None => Ok(default),
        Some(x) => Ok(count(field, x)? as usize),
    }
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

pub(crate) fn new_network(
    v: serde_json::Value,
    mut buffers: HashMap<String, Vec<f64>>,
) -> Result<Session> {
    let spec = parse_network(v)?;
    let d_in = positive("model.inputDim", spec.model.input_dim)?;
    if spec.model.layers.is_empty() {
        return Err(Error::range("model.layers", "expected at least one layer"));
    }
    let nl = spec.model.layers.len();
    let mut specs = Vec::with_capacity(nl);
    let mut cols = d_in;
    let mut pattern_bytes: u64 = 0;
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
                bytes(&pf, &[(rows, cols)])?;
                let data = take_buffer(&mut buffers, &pf, pr, rows, cols)?;
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
                let stride = opt_count(&format!("{f}.stride"), ls.stride, 1)?;
                if stride == 0 {
                    return Err(Error::range(
                        format!("{f}.stride"),
                        "expected a positive integer",
                    ));
                }
                let pad = opt_count(&format!("{f}.padding"), ls.padding, 0)?;
                let ih = if two {
                    opt_positive(&format!("{f}.inHeight"), ls.in_height, what)?
                } else {
                    1
                };
                if cols % (ic * ih) != 0 {
                    return Err(Error::shape(
                        format!("{f}.inChannels"),
                        format!(
                            "the layer's input has {cols} entries, not a multiple of \
                             inChannels{} = {}",
                            if two { " x inHeight" } else { "" },
                            ic * ih
                        ),
                    ));
                }
                let iw = cols / (ic * ih);
                let (kh, ph) = if two { (k, pad) } else { (1, 0) };
                let oh = pattern::conv_out(ih, kh, stride, ph);
                let ow = pattern::conv_out(iw, k, stride, pad);
                let (Some(oh), Some(ow)) = (oh, ow) else {
                    return Err(Error::range(
                        format!("{f}.kernel"),
                        format!(
                            "kernel {k} does not fit the padded input ({ih} x {iw}, padding {pad})"
                        ),
                    ));
                };
                let rows = oc
                    .checked_mul(oh)
                    .and_then(|r| r.checked_mul(ow))
                    .ok_or_else(|| Error::too_large(f.clone(), "size overflows"))?;
                bytes(&f, &[(rows, cols)])?;
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
        // Every layer's dense size (W_h, or the expanded pattern) within the memory limit.
        bytes(&f, &[(rows, cols)])?;
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
    let steps = count("steps", spec.steps)?;
    let record_every = positive("recordEvery", spec.record_every)? as u64;
    let tracker = curvature_tracker(spec.curvature.as_ref(), record_every)?;

    // Data.
    let (m, data) = match &spec.data {
        DataSpec::Explicit { x, y } => {
            let m = positive("data.x.rows", x.rows)?;
            let xd = take_buffer(&mut buffers, "data.x", x, m, d_in)?;
            let yd = take_buffer(&mut buffers, "data.y", y, m, d_out)?;
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
                    let mut dims = vec![d_in];
                    dims.extend(widths.iter().map(|&w| w as usize));
                    dims.push(d_out);
                    let parts: Vec<(usize, usize)> =
                        dims.windows(2).map(|p| (p[0], p[1])).collect();
                    bytes("data.targets", &parts)?;
                }
            }
            (m, None)
        }
    };
    let max_batch = match &spec.method {
        Some(crate::spec::MethodSpec::Sgd { batch_size, .. }) => {
            positive("method.batchSize", *batch_size)?.min(m)
        }
        _ => 0,
    };
    bytes(
        "model",
        &[
            (dim, 4 + Method::buffers(spec.method.as_ref())),
            (Network::workspace_len(d_in, &layers, m, max_batch), 1),
            (m, d_in + d_out),
            (pattern_bytes as usize, 1),
        ],
    )?;
    bytes("steps", &[((steps / record_every + 2) as usize, 64)])?;

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
                let wb = take_flat(
                    &mut buffers,
                    &name,
                    l.w_len,
                    l.rows,
                    l.cols,
                    l.pattern.is_some(),
                )?;
                let bb = if l.bias {
                    Some(take_flat(
                        &mut buffers,
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
    if let ScheduleSpec::Theorem31 { .. } = spec.schedule {
        return Err(Error::range(
            "schedule.kind",
            "the Theorem 3.1 schedule is defined for matrix factorization only",
        ));
    }
    let schedule = Schedule::from_spec(&spec.schedule, 1, 1.0)?;
    if let Some(name) = buffers.keys().next() {
        return Err(Error::request(
            name.clone(),
            "this buffer is not used by the spec (network buffers: data.x, data.y, init.w<h>, \
             init.b<h>, model.layers[i].pattern)",
        ));
    }
    let method = Method::from_spec(spec.method.as_ref(), spec.weight_decay, dim, Some(m))?;

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
    let rows_max = (steps / record_every + 2) as usize;
    Ok(Session::assemble(
        Problem::Net(net),
        w,
        method,
        schedule,
        steps,
        record_every,
        rows_max,
    )
    .with_curvature(tracker))
}

/// A flat buffer of `len` numbers (a dense `rows x cols` matrix, or a shared layer's `len` free
/// parameters).
fn take_flat(
    buffers: &mut HashMap<String, Vec<f64>>,
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
    let data = buffers
        .remove(name)
        .ok_or_else(|| Error::request(name, format!("expected {what}; it was not passed")))?;
    if data.len() != len {
        return Err(Error::shape(
            name,
            format!("expected {len} numbers ({what}), got {}", data.len()),
        ));
    }
    if let Some(i) = data.iter().position(|x| !x.is_finite()) {
        return Err(Error::non_finite(name, format!("entry {i} is {}", data[i])));
    }
    Ok(data)
}
