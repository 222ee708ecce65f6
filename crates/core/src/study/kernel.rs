//! `kernelRecursion`: the infinite-width Gram matrices K^(H) of chapter 3 of Du's thesis (fully
//! connected, ResNet and convolutional ResNet, with the three corrections of REFERENCE.md section 3),
//! lambda_min(K^(H)) per depth, and the last-layer Gram G^(H) of actual random networks at
//! initialization for given widths and seeds, with the gap ||G^(H) - K^(H)||_2 and its fitted
//! exponent against the width (docs/kernel-recursions.md).
//!
//! ```json
//! {"kind": "kernelRecursion", "architecture": "resnet", "activation": "softplus",
//!  "depths": {"max": 30}, "cRes": 0.5, "variant": "corrected",
//!  "data": {"kind": "sphere", "n": 50, "d": 10, "seed": 1},
//!  "quadrature": {"nodes": 60},
//!  "finiteWidth": {"widths": [64, 256, 1024], "seeds": 3, "seed": 0, "depths": [3]}}
//! ```
//!
//! One recursion covers every architecture: the state is the un-aggregated pixel Gram
//! S_ij[l, r] (p x p per pair; p = 1 and no aggregation for the fully connected net and the
//! ResNet); the pre-activation covariance of a layer is agg(S) (the sum over the q patch offsets,
//! zero padding) for the conv ResNet, S itself otherwise. With t = cRes / H:
//!
//! - fully connected: S^(h) = c_sigma E_{A^(h-1)}[sigma(u) sigma(v)];
//! - ResNet / conv: S^(1) = c_sigma E[sigma sigma], b^(1) = sqrt(c_sigma) E sigma(N(0, A^(0)_ii));
//!   S^(h) = S^(h-1) + t (b_i[l] E sigma(v_r) + b_j[r] E sigma(u_l)) + t^2 E[sigma(u_l) sigma(v_r)],
//!   b^(h) = b^(h-1) + t E sigma(N(0, A^(h-1)_ii[l, l]));
//! - last layer: K^(H)_ij = c sum_l A^(H-1)_ij[l, l] E_{A^(H-1)}[sigma'(u_l) sigma'(v_l)], c = c_sigma
//!   (fully connected, or H = 1) or t^2.
//!
//! `variant: "asPrinted"` undoes the one correction of the chosen architecture (fix 1: the last
//! fully connected step takes its covariance from K^(H-2); fix 2: b_i pairs with sigma(u); fix 3:
//! the conv state is the aggregated Gram, K^(1) is not aggregated, the residual term has no t^2),
//! to show where the thesis's text disagrees with wide networks.
//!
//! Work units: one per row i of a pairwise pass (the pairs (i, j >= i) of one layer), one per
//! eigenvalue problem, one per (depth, seed, width) random network; each is deterministic and
//! independent of the thread count.

use std::collections::BTreeMap;

use nalgebra::DMatrix;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{parse, Buffers, Registration, StudyKind};
use crate::build::Budget;
use crate::error::{Error, Result};
use crate::linalg::{gemm, Layout};
use crate::par::Parallelism;
use crate::quadrature::{
    cholesky2, relu_relu, step_step, Activation, GaussHermite, MAX_NODES, PRUNE,
};
use crate::vecmath;
use crate::rng::Normal;
use crate::spec::{count, positive, positive_real};

pub const REGISTRATION: Registration = Registration {
    kind: "kernelRecursion",
    build,
};

/// Largest depth.
pub const MAX_DEPTH: usize = 1000;
/// Most seeds per width.
pub const MAX_SEEDS: usize = 1000;
/// Most rows of a pairwise pass done in one parallel batch (bounds the scratch memory).
const ROW_BATCH: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Architecture {
    FullyConnected,
    Resnet,
    ConvResnet,
}

impl Architecture {
    fn name(self) -> &'static str {
        match self {
            Architecture::FullyConnected => "fullyConnected",
            Architecture::Resnet => "resnet",
            Architecture::ConvResnet => "convResnet",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Variant {
    Corrected,
    AsPrinted,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Spec {
    architecture: Architecture,
    activation: Activation,
    depths: Value,
    #[serde(default)]
    c_res: Option<f64>,
    #[serde(default)]
    patch: Option<f64>,
    #[serde(default)]
    variant: Option<Variant>,
    data: DataSpec,
    #[serde(default)]
    quadrature: Option<QuadSpec>,
    #[serde(default)]
    finite_width: Option<FiniteSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
enum DataSpec {
    Sphere {
        n: f64,
        #[serde(default)]
        d: Option<f64>,
        #[serde(default)]
        channels: Option<f64>,
        #[serde(default)]
        length: Option<f64>,
        #[serde(default)]
        seed: f64,
    },
    Explicit {
        n: f64,
        #[serde(default)]
        d: Option<f64>,
        #[serde(default)]
        channels: Option<f64>,
        #[serde(default)]
        length: Option<f64>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuadSpec {
    nodes: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FiniteSpec {
    widths: Vec<f64>,
    #[serde(default = "one")]
    seeds: f64,
    #[serde(default)]
    seed: f64,
    #[serde(default)]
    depths: Option<Vec<f64>>,
}

fn one() -> f64 {
    1.0
}

/// Default quadrature nodes: 60 reach 1e-15 for softplus and sigmoid; tanh (poles at +-i pi/2)
/// needs about 150 for 1e-14.
pub fn default_nodes(act: Activation) -> usize {
    match act {
        Activation::Tanh => 150,
        _ => 60,
    }
}

/// The tensor rule with its pruned ranges: for node k1, the nodes k2 in lo[k1]..hi[k1] have
/// w_k1 w_k2 >= PRUNE.
struct Quad {
    act: Activation,
    z: Vec<f64>,
    w: Vec<f64>,
    lo: Vec<usize>,
    hi: Vec<usize>,
    gh: GaussHermite,
    /// Tests only: evaluate with the `libm` activations, one node at a time (the implementation
    /// before the batched one), to compare against.
    #[cfg(test)]
    reference: bool,
}

impl Quad {
    fn new(act: Activation, gh: GaussHermite) -> Quad {
        let z = gh.nodes().to_vec();
        let w = gh.weights().to_vec();
        let nq = z.len();
        let mut lo = vec![0; nq];
        let mut hi = vec![0; nq];
        for k1 in 0..nq {
            let keep: Vec<usize> = (0..nq).filter(|&k2| w[k1] * w[k2] >= PRUNE).collect();
            if let (Some(&a), Some(&b)) = (keep.first(), keep.last()) {
                lo[k1] = a;
                hi[k1] = b + 1;
            }
        }
        Quad {
            act,
            z,
            w,
            lo,
            hi,
            gh,
            #[cfg(test)]
            reference: false,
        }
    }

    /// E[sigma(u) sigma(v)] (if `ss`) and E[sigma'(u) sigma'(v)] (if `dd`) for
    /// (u, v) ~ N(0, [[a, c], [c, b]]). For each node z1, the pruned row of arguments
    /// mu z1 + sv z2 is evaluated in one batch ([`vecmath::sigma_d1_affine`]: portable exp/log1p,
    /// vectorized, the same bits on every target), then summed in node order.
    #[inline]
    fn expect(&self, a: f64, b: f64, c: f64, ss: bool, dd: bool) -> (f64, f64) {
        let act = self.act;
        if act == Activation::Relu {
            return (
                if ss { relu_relu(a, b, c) } else { 0.0 },
                if dd { step_step(a, b, c) } else { 0.0 },
            );
        }
        #[cfg(test)]
        if self.reference {
            return self.expect_libm(a, b, c, ss, dd);
        }
        let (su, mu, sv) = cholesky2(a, b, c);
        let (mut tss, mut tdd) = (0.0, 0.0);
        let mut gs = [0.0; MAX_NODES];
        let mut ds = [0.0; MAX_NODES];
        for k1 in 0..self.z.len() {
            let (lo, hi) = (self.lo[k1], self.hi[k1]);
            if lo >= hi {
                continue;
            }
            let z1 = self.z[k1];
            let (gu, du) = vecmath::sigma_d1(act, su * z1);
            let zs = &self.z[lo..hi];
            let ws = &self.w[lo..hi];
            let m = zs.len();
            vecmath::sigma_d1_affine(act, mu * z1, sv, zs, &mut gs[..m], &mut ds[..m]);
            if ss {
                let mut is = 0.0;
                for (&w2, &g) in ws.iter().zip(&gs[..m]) {
                    is += w2 * g;
                }
                tss += self.w[k1] * gu * is;
            }
            if dd {
                let mut id = 0.0;
                for (&w2, &d) in ws.iter().zip(&ds[..m]) {
                    id += w2 * d;
                }
                tdd += self.w[k1] * du * id;
            }
        }
        (tss, tdd)
    }

    /// [`Quad::expect`] as it was before the batched evaluation: `libm` one node at a time.
    #[cfg(test)]
    fn expect_libm(&self, a: f64, b: f64, c: f64, ss: bool, dd: bool) -> (f64, f64) {
        let act = self.act;
        let (su, mu, sv) = cholesky2(a, b, c);
        let (mut tss, mut tdd) = (0.0, 0.0);
        for k1 in 0..self.z.len() {
            let (lo, hi) = (self.lo[k1], self.hi[k1]);
            if lo >= hi {
                continue;
            }
            let z1 = self.z[k1];
            let (gu, du) = act.sigma_d1(su * z1);
            let base = mu * z1;
            let (mut is, mut id) = (0.0, 0.0);
            for (&z2, &w2) in self.z[lo..hi].iter().zip(&self.w[lo..hi]) {
                let (g, d) = act.sigma_d1(base + sv * z2);
                is += w2 * g;
                id += w2 * d;
            }
            if ss {
                tss += self.w[k1] * gu * is;
            }
            if dd {
                tdd += self.w[k1] * du * id;
            }
        }
        (tss, tdd)
    }

    /// E sigma(N(0, var)).
    fn mean(&self, var: f64) -> f64 {
        self.act.mean(&self.gh, var)
    }
}

/// One step of the schedule of work.
#[derive(Debug, Clone, Copy)]
enum Stage {
    /// State back to S^(0), b = 0 (one unit).
    Reset,
    /// S^(h) from S^(h-1) (n units), with t = cRes / H of the recursion.
    Level { h: usize, t: f64 },
    /// K^(H) from S^(H-1) (n units).
    Final { depth: usize, t: f64 },
    /// lambda_min, lambda_max of K^(depth) (one unit).
    Eig { depth: usize },
    /// The Gram G^(depth) of one random network (one unit).
    Network { depth: usize, width: usize, seed: u64 },
}

impl Stage {
    fn units(&self, n: usize) -> u64 {
        match self {
            Stage::Level { .. } | Stage::Final { .. } => n as u64,
            _ => 1,
        }
    }
}

/// Validated problem and state.
pub struct KernelStudy {
    arch: Architecture,
    variant: Variant,
    n: usize,
    /// Input channels (d for the dense nets).
    d0: usize,
    /// Pixels (1 for the dense nets).
    p: usize,
    /// Patch width q (1 for the dense nets) and half = q / 2.
    q: usize,
    half: usize,
    c_sigma: f64,
    c_res: f64,
    quad: Quad,
    nodes: usize,
    moment_check: f64,
    /// Inputs: sample i is x_i[c, l] at i d0 p + c p + l.
    x: Vec<f64>,
    s0: Vec<f64>,
    prev: Vec<f64>,
    cur: Vec<f64>,
    next: Vec<f64>,
    /// b_i[l] (n p).
    b: Vec<f64>,
    /// Scratch of the current pass: the covariance diagonal A_ii[l, l] (and of prev), means.
    diag: Vec<f64>,
    diag_prev: Vec<f64>,
    means: Vec<f64>,
    kfinal: Vec<f64>,
    stored: BTreeMap<usize, Vec<f64>>,
    level: usize,
    stages: Vec<Stage>,
    stage: usize,
    row: usize,
    done: u64,
    total: u64,
    finite_depths: Vec<usize>,
    widths: Vec<usize>,
    seeds: usize,
    seed0: u64,
    depths: Vec<usize>,
    lambda_min: BTreeMap<usize, f64>,
    lambda_max: BTreeMap<usize, f64>,
    /// (depth, width, seed index) -> (gap, rel, lambda_min(G))
    gaps: Vec<(usize, usize, usize, f64, f64, f64)>,
    /// Per (depth, width): the sum of G over the seeds so far, and the seed count.
    gsum: BTreeMap<(usize, usize), (Vec<f64>, usize)>,
    /// Per (depth, width): ||mean_seeds G - K||_2 (absolute, relative to ||K||_2).
    mean_gaps: BTreeMap<(usize, usize), (f64, f64)>,
    names: Vec<String>,
    cols: Vec<Vec<f64>>,
    par: Parallelism,
}

fn parse_depths(v: &Value) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    match v {
        Value::Array(a) => {
            if a.is_empty() {
                return Err(Error::spec("depths", "expected at least one depth"));
            }
            for (k, x) in a.iter().enumerate() {
                let f = format!("depths[{k}]");
                let x = x
                    .as_f64()
                    .ok_or_else(|| Error::spec(&f, format!("expected a number, got {x}")))?;
                let h = positive(&f, x)?;
                if h > MAX_DEPTH {
                    return Err(Error::range(
                        &f,
                        format!("expected a depth <= {MAX_DEPTH}, got {h}"),
                    ));
                }
                out.push(h);
            }
        }
        Value::Object(m) => {
            for key in m.keys() {
                if key != "max" {
                    return Err(Error::spec(
                        format!("depths.{key}"),
                        "unknown field (expected `max`)",
                    ));
                }
            }
            let x = m
                .get("max")
                .ok_or_else(|| Error::spec("depths.max", "missing field `max`"))?;
            let x = x
                .as_f64()
                .ok_or_else(|| Error::spec("depths.max", format!("expected a number, got {x}")))?;
            let h = positive("depths.max", x)?;
            if h > MAX_DEPTH {
                return Err(Error::range(
                    "depths.max",
                    format!("expected a depth <= {MAX_DEPTH}, got {h}"),
                ));
            }
            out.extend(1..=h);
        }
        other => {
            return Err(Error::spec(
                "depths",
                format!("expected a list of depths or {{\"max\": H}}, got {other}"),
            ))
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn build(spec: Value, mut buffers: Buffers) -> Result<Box<dyn StudyKind>> {
    let spec: Spec = parse(spec)?;
    Ok(Box::new(KernelStudy::new(spec, &mut buffers)?))
}

/// Least-squares slope of ln y against ln x over the pairs with x, y > 0 (None below two).
pub fn loglog_slope(x: &[f64], y: &[f64]) -> Option<f64> {
    let pts: Vec<(f64, f64)> = x
        .iter()
        .zip(y)
        .filter(|(a, b)| **a > 0.0 && **b > 0.0 && a.is_finite() && b.is_finite())
        .map(|(a, b)| (libm::log(*a), libm::log(*b)))
        .collect();
    if pts.len() < 2 {
        return None;
    }
    let k = pts.len() as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / k;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / k;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx <= 0.0 {
        return None;
    }
    Some(sxy / sxx)
}

impl KernelStudy {
    fn new(spec: Spec, buffers: &mut Buffers) -> Result<KernelStudy> {
        let arch = spec.architecture;
        let act = spec.activation;
        let conv = arch == Architecture::ConvResnet;
        let variant = spec.variant.unwrap_or(Variant::Corrected);
        let depths = parse_depths(&spec.depths)?;
        let c_res = match (arch, spec.c_res) {
            (Architecture::FullyConnected, Some(_)) => {
                return Err(Error::spec(
                    "cRes",
                    "cRes applies to the resnet and convResnet architectures only",
                ))
            }
            (Architecture::FullyConnected, None) => 0.0,
            (_, Some(c)) => positive_real("cRes", c)?,
            (_, None) => 0.5,
        };
        let q = match (conv, spec.patch) {
            (false, Some(_)) => {
                return Err(Error::spec(
                    "patch",
                    "patch applies to the convResnet architecture only",
                ))
            }
            (false, None) => 1,
            (true, None) => 3,
            (true, Some(x)) => {
                let q = positive("patch", x)?;
                if q % 2 == 0 {
                    return Err(Error::range(
                        "patch",
                        format!("expected an odd patch width (centred patches), got {q}"),
                    ));
                }
                q
            }
        };
        // Data shape.
        let (n, d, channels, length, sphere_seed) = match &spec.data {
            DataSpec::Sphere {
                n,
                d,
                channels,
                length,
                seed,
            } => (*n, *d, *channels, *length, Some(count("data.seed", *seed)?)),
            DataSpec::Explicit {
                n,
                d,
                channels,
                length,
            } => (*n, *d, *channels, *length, None),
        };
        let n = positive("data.n", n)?;
        let (d0, p) = if conv {
            if d.is_some() {
                return Err(Error::spec(
                    "data.d",
                    "a convResnet input is channels x length: give data.channels and data.length",
                ));
            }
            let c = channels
                .ok_or_else(|| Error::spec("data.channels", "missing field `channels`"))?;
            let l =
                length.ok_or_else(|| Error::spec("data.length", "missing field `length`"))?;
            (positive("data.channels", c)?, positive("data.length", l)?)
        } else {
            for (f, v) in [("data.channels", channels), ("data.length", length)] {
                if v.is_some() {
                    return Err(Error::spec(
                        f,
                        "channels and length apply to the convResnet architecture only (use data.d)",
                    ));
                }
            }
            let d = d.ok_or_else(|| Error::spec("data.d", "missing field `d`"))?;
            (positive("data.d", d)?, 1)
        };
        if conv && q > 2 * p + 1 {
            return Err(Error::range(
                "patch",
                format!("expected a patch width <= 2 length + 1 = {}, got {q}", 2 * p + 1),
            ));
        }
        let nodes = match &spec.quadrature {
            Some(qs) => {
                let k = positive("quadrature.nodes", qs.nodes)?;
                GaussHermite::with_field(k, "quadrature.nodes")?;
                k
            }
            None => default_nodes(act),
        };
        // Finite width.
        let (widths, seeds, seed0, finite_depths) = match &spec.finite_width {
            None => (Vec::new(), 0, 0, Vec::new()),
            Some(f) => {
                if f.widths.is_empty() {
                    return Err(Error::spec(
                        "finiteWidth.widths",
                        "expected at least one width",
                    ));
                }
                let mut w = Vec::new();
                for (k, &x) in f.widths.iter().enumerate() {
                    w.push(positive(&format!("finiteWidth.widths[{k}]"), x)?);
                }
                let s = positive("finiteWidth.seeds", f.seeds)?;
                if s > MAX_SEEDS {
                    return Err(Error::range(
                        "finiteWidth.seeds",
                        format!("expected at most {MAX_SEEDS} seeds, got {s}"),
                    ));
                }
                let s0 = count("finiteWidth.seed", f.seed)?;
                let fd = match &f.depths {
                    None => vec![*depths.last().unwrap_or(&1)],
                    Some(v) => {
                        if v.is_empty() {
                            return Err(Error::spec(
                                "finiteWidth.depths",
                                "expected at least one depth",
                            ));
                        }
                        let mut out = Vec::new();
                        for (k, &x) in v.iter().enumerate() {
                            let field = format!("finiteWidth.depths[{k}]");
                            let h = positive(&field, x)?;
                            if !depths.contains(&h) {
                                return Err(Error::range(
                                    &field,
                                    format!("depth {h} is not one of the study's depths"),
                                ));
                            }
                            out.push(h);
                        }
                        out.sort_unstable();
                        out.dedup();
                        out
                    }
                };
                (w, s, s0, fd)
            }
        };
        // Memory before any allocation: three states, the sample-size scratch, eigen-solver
        // copies, the stored kernels; then the largest random network.
        let np = n as u64 * p as u64;
        let nn = n as u64 * n as u64;
        let state = nn * (p as u64 * p as u64);
        let mut budget = Budget::new();
        budget.reserve(
            "data.n",
            &[
                (4u64, state),
                (np, 8u64),
                (nn, 4u64 + finite_depths.len() as u64),
                (ROW_BATCH as u64 * n as u64, (p * p) as u64),
                (n as u64 * d0 as u64, p as u64),
            ],
        )?;
        let largest = (0..widths.len()).max_by_key(|&k| widths[k]);
        if let Some(k) = largest {
            let m = widths[k];
            let mw = m as u64;
            let din = mw.max(d0 as u64);
            budget.check(
                &format!("finiteWidth.widths[{k}]"),
                &[
                    (mw * q as u64, din),
                    (q as u64 * din, np),
                    (4 * mw, np),
                    (3 * np, np),
                    (nn, 3u64 + widths.len() as u64),
                ],
            )?;
        }
        // Data.
        let len = n * d0 * p;
        let x = match sphere_seed {
            Some(seed) => {
                let mut x = vec![0.0; len];
                Normal::new(seed).fill(&mut x, 1.0);
                for row in x.chunks_mut(d0 * p) {
                    let s = row.iter().map(|v| v * v).sum::<f64>().sqrt();
                    for v in row {
                        *v /= s;
                    }
                }
                x
            }
            None => {
                let x = buffers.remove("data.x").ok_or_else(|| {
                    Error::spec(
                        "data.x",
                        format!("explicit data needs the buffer data.x ({len} numbers)"),
                    )
                })?;
                if x.len() != len {
                    return Err(Error::shape(
                        "data.x",
                        format!(
                            "expected {len} numbers (n x {}), got {}",
                            if conv { "channels x length" } else { "d" },
                            x.len()
                        ),
                    ));
                }
                if let Some(k) = x.iter().position(|v| !v.is_finite()) {
                    return Err(Error::non_finite(
                        format!("data.x[{k}]"),
                        "expected finite entries",
                    ));
                }
                x
            }
        };
        if let Some(name) = buffers.keys().next() {
            return Err(Error::spec(
                name.clone(),
                "unexpected buffer (only data.x is read, with explicit data)",
            ));
        }
        let gh = GaussHermite::with_field(nodes, "quadrature.nodes")?;
        let check = GaussHermite::new((2 * nodes).min(crate::quadrature::MAX_NODES))?;
        let moment_check = (act.second_moment(&gh) - act.second_moment(&check)).abs();
        let c_sigma = act.c_sigma(&gh);
        let quad = Quad::new(act, gh);

        // Schedule.
        let mut stages = Vec::new();
        match arch {
            Architecture::FullyConnected => {
                let hmax = *depths.last().unwrap_or(&1);
                stages.push(Stage::Reset);
                for h in 1..=hmax {
                    if depths.contains(&h) {
                        stages.push(Stage::Final { depth: h, t: 0.0 });
                        stages.push(Stage::Eig { depth: h });
                    }
                    if h < hmax {
                        stages.push(Stage::Level { h, t: 0.0 });
                    }
                }
            }
            _ => {
                for &hd in &depths {
                    let t = c_res / hd as f64;
                    stages.push(Stage::Reset);
                    for h in 1..hd {
                        stages.push(Stage::Level { h, t });
                    }
                    stages.push(Stage::Final { depth: hd, t });
                    stages.push(Stage::Eig { depth: hd });
                }
            }
        }
        for &hd in &finite_depths {
            for s in 0..seeds {
                for &m in &widths {
                    stages.push(Stage::Network {
                        depth: hd,
                        width: m,
                        seed: seed0 + s as u64,
                    });
                }
            }
        }
        let total = stages.iter().map(|s| s.units(n)).sum();
        let names: Vec<String> = [
            "depth",
            "lambdaMin",
            "lambdaMinH2",
            "width",
            "seed",
            "gapNorm",
            "gapRel",
            "lambdaMinG",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let cols = vec![Vec::new(); names.len()];
        let st = n * n * p * p;
        let mut study = KernelStudy {
            arch,
            variant,
            n,
            d0,
            p,
            q,
            half: q / 2,
            c_sigma,
            c_res,
            quad,
            nodes,
            moment_check,
            x,
            s0: vec![0.0; st],
            prev: vec![0.0; st],
            cur: vec![0.0; st],
            next: vec![0.0; st],
            b: vec![0.0; n * p],
            diag: vec![0.0; n * p],
            diag_prev: vec![0.0; n * p],
            means: vec![0.0; n * p],
            kfinal: vec![0.0; n * n],
            stored: BTreeMap::new(),
            level: 0,
            stages,
            stage: 0,
            row: 0,
            done: 0,
            total,
            finite_depths,
            widths,
            seeds,
            seed0,
            depths,
            lambda_min: BTreeMap::new(),
            lambda_max: BTreeMap::new(),
            gaps: Vec::new(),
            gsum: BTreeMap::new(),
            mean_gaps: BTreeMap::new(),
            names,
            cols,
            par: Parallelism::default(),
        };
        study.init_state();
        Ok(study)
    }

    /// Whether the covariance of a layer aggregates the state (the corrected conv ResNet).
    fn agg_cov(&self) -> bool {
        self.arch == Architecture::ConvResnet && self.variant == Variant::Corrected
    }

    /// S^(0): the pixel Gram x_i[:, l] . x_j[:, r] (aggregated for the as-printed conv ResNet).
    fn init_state(&mut self) {
        let (n, p, d0) = (self.n, self.p, self.d0);
        let mut h0 = vec![0.0; n * n * p * p];
        for i in 0..n {
            for j in 0..n {
                for l in 0..p {
                    for r in 0..p {
                        let mut s = 0.0;
                        for c in 0..d0 {
                            s += self.x[i * d0 * p + c * p + l] * self.x[j * d0 * p + c * p + r];
                        }
                        h0[((i * n + j) * p + l) * p + r] = s;
                    }
                }
            }
        }
        if self.arch == Architecture::ConvResnet && self.variant == Variant::AsPrinted {
            let mut a = vec![0.0; h0.len()];
            for i in 0..n {
                for j in 0..n {
                    for l in 0..p {
                        for r in 0..p {
                            a[((i * n + j) * p + l) * p + r] = agg(&h0, n, p, self.half, i, j, l, r);
                        }
                    }
                }
            }
            h0 = a;
        }
        self.s0 = h0;
    }

    fn fill_diag(&self, s: &[f64], out: &mut [f64]) {
        let (n, p) = (self.n, self.p);
        let ag = self.agg_cov();
        for i in 0..n {
            for l in 0..p {
                out[i * p + l] = if ag {
                    agg(s, n, p, self.half, i, i, l, l)
                } else {
                    s[((i * n + i) * p + l) * p + l]
                };
            }
        }
    }

    /// Row i of a level pass: the blocks (i, j), j >= i, each p x p.
    fn level_row(&self, i: usize, h: usize, t: f64) -> Vec<f64> {
        let (n, p) = (self.n, self.p);
        let ag = self.agg_cov();
        let fc = self.arch == Architecture::FullyConnected;
        let printed = self.variant == Variant::AsPrinted;
        let conv_printed = printed && self.arch == Architecture::ConvResnet;
        let res_printed = printed && self.arch == Architecture::Resnet;
        let t2 = if conv_printed { 1.0 } else { t * t };
        let mut out = vec![0.0; (n - i) * p * p];
        let mut block = vec![0.0; p * p];
        for j in i..n {
            for l in 0..p {
                for r in 0..p {
                    let a = self.diag[i * p + l];
                    let bb = self.diag[j * p + r];
                    let c = if ag {
                        agg(&self.cur, n, p, self.half, i, j, l, r)
                    } else {
                        self.cur[((i * n + j) * p + l) * p + r]
                    };
                    let (ss, _) = self.quad.expect(a, bb, c, true, false);
                    block[l * p + r] = if fc || h == 1 {
                        self.c_sigma * ss
                    } else {
                        let cross = if res_printed {
                            self.b[i * p + l] * self.means[i * p + l]
                                + self.b[j * p + r] * self.means[j * p + r]
                        } else {
                            self.b[i * p + l] * self.means[j * p + r]
                                + self.b[j * p + r] * self.means[i * p + l]
                        };
                        self.cur[((i * n + j) * p + l) * p + r] + t * cross + t2 * ss
                    };
                }
            }
            let o = &mut out[(j - i) * p * p..(j - i + 1) * p * p];
            if conv_printed && h >= 2 {
                // The printed text aggregates the new state (K^(h) = agg(H^(h))).
                for l in 0..p {
                    for r in 0..p {
                        let mut s = 0.0;
                        for k in 0..self.q {
                            let (ll, rr) = (l + k, r + k);
                            if ll >= self.half && rr >= self.half && ll - self.half < p && rr - self.half < p {
                                s += block[(ll - self.half) * p + rr - self.half];
                            }
                        }
                        o[l * p + r] = s;
                    }
                }
            } else {
                o.copy_from_slice(&block);
            }
        }
        out
    }

    /// Row i of the last-layer pass: K^(H)_ij, j >= i.
    fn final_row(&self, i: usize, depth: usize, t: f64) -> Vec<f64> {
        let (n, p) = (self.n, self.p);
        let ag = self.agg_cov();
        let fc = self.arch == Architecture::FullyConnected;
        let fix1_printed = fc && self.variant == Variant::AsPrinted && depth >= 2;
        let c_last = if fc || depth == 1 { self.c_sigma } else { t * t };
        let mut out = vec![0.0; n - i];
        for j in i..n {
            let mut s = 0.0;
            for l in 0..p {
                let c = if ag {
                    agg(&self.cur, n, p, self.half, i, j, l, l)
                } else {
                    self.cur[((i * n + j) * p + l) * p + l]
                };
                let (a, bb, cc) = if fix1_printed {
                    (
                        self.diag_prev[i * p + l],
                        self.diag_prev[j * p + l],
                        self.prev[((i * n + j) * p + l) * p + l],
                    )
                } else {
                    (self.diag[i * p + l], self.diag[j * p + l], c)
                };
                let (_, dd) = self.quad.expect(a, bb, cc, false, true);
                s += c * dd;
            }
            out[j - i] = c_last * s;
        }
        out
    }

    fn push_row(&mut self, vals: [f64; 8]) {
        for (c, v) in self.cols.iter_mut().zip(vals) {
            c.push(v);
        }
    }

    /// The last-layer Gram G^(H) of one random network of width m at initialization.
    fn network_gram(&self, depth: usize, m: usize, seed: u64) -> Result<Vec<f64>> {
        let (n, p, q, half) = (self.n, self.p, self.q, self.half);
        let np = n * p;
        let act = self.quad.act;
        let fc = self.arch == Architecture::FullyConnected;
        let t = if fc { 0.0 } else { self.c_res / depth as f64 };
        let mut rng = Normal::new(seed);
        // X: D x np, column i p + l.
        let mut dim = self.d0;
        let mut xm = vec![0.0; dim * np];
        for i in 0..n {
            for c in 0..dim {
                for l in 0..p {
                    xm[c * np + i * p + l] = self.x[i * dim * p + c * p + l];
                }
            }
        }
        let patches = |xm: &[f64], dim: usize| -> Vec<f64> {
            if q == 1 {
                return xm.to_vec();
            }
            let mut phi = vec![0.0; q * dim * np];
            for k in 0..q {
                for c in 0..dim {
                    let dst = &mut phi[(k * dim + c) * np..(k * dim + c + 1) * np];
                    let src = &xm[c * np..(c + 1) * np];
                    for i in 0..n {
                        for l in 0..p {
                            let ll = l + k;
                            if ll >= half && ll - half < p {
                                dst[i * p + l] = src[i * p + ll - half];
                            }
                        }
                    }
                }
            }
            phi
        };
        let mf = m as f64;
        for h in 1..depth {
            let mut w = vec![0.0; m * q * dim];
            rng.fill(&mut w, 1.0);
            let phi = patches(&xm, dim);
            let mut z = vec![0.0; m * np];
            gemm(
                1.0,
                &w,
                Layout::row_major(m, q * dim),
                &phi,
                Layout::row_major(q * dim, np),
                0.0,
                &mut z,
                Layout::row_major(m, np),
            );
            if fc || h == 1 {
                let s = (self.c_sigma / mf).sqrt();
                for v in z.iter_mut() {
                    *v = s * act.sigma(*v);
                }
                xm = z;
                dim = m;
            } else {
                let s = t / mf.sqrt();
                for (x, v) in xm.iter_mut().zip(&z) {
                    *x += s * act.sigma(*v);
                }
            }
        }
        let mut w = vec![0.0; m * q * dim];
        rng.fill(&mut w, 1.0);
        let mut a = vec![0.0; m * p];
        rng.fill(&mut a, 1.0);
        let phi = patches(&xm, dim);
        drop(xm);
        let mut z = vec![0.0; m * np];
        gemm(
            1.0,
            &w,
            Layout::row_major(m, q * dim),
            &phi,
            Layout::row_major(q * dim, np),
            0.0,
            &mut z,
            Layout::row_major(m, np),
        );
        drop(w);
        for alpha in 0..m {
            for col in 0..np {
                let v = &mut z[alpha * np + col];
                *v = a[alpha * p + col % p] * act.d1(*v);
            }
        }
        let mut mm = vec![0.0; np * np];
        let lz = Layout::row_major(m, np);
        gemm(1.0, &z, lz.t(), &z, lz, 0.0, &mut mm, Layout::row_major(np, np));
        drop(z);
        let mut pp = vec![0.0; np * np];
        let lp = Layout::row_major(q * dim, np);
        gemm(1.0, &phi, lp.t(), &phi, lp, 0.0, &mut pp, Layout::row_major(np, np));
        let c_last = if fc || depth == 1 { self.c_sigma } else { t * t };
        let mut g = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                let mut s = 0.0;
                for l in 0..p {
                    for r in 0..p {
                        let k = (i * p + l) * np + j * p + r;
                        s += pp[k] * mm[k];
                    }
                }
                g[i * n + j] = c_last / mf * s;
            }
        }
        Ok(g)
    }

    fn run_stage(&mut self, max_units: u64) -> Result<u64> {
        let n = self.n;
        let stage = self.stages[self.stage];
        match stage {
            Stage::Reset => {
                self.cur.copy_from_slice(&self.s0);
                self.prev.copy_from_slice(&self.s0);
                self.b.iter_mut().for_each(|v| *v = 0.0);
                self.level = 0;
                self.row = 0;
                self.stage += 1;
                Ok(1)
            }
            Stage::Level { h, t } | Stage::Final { depth: h, t } => {
                let is_final = matches!(stage, Stage::Final { .. });
                if self.row == 0 {
                    let mut d = std::mem::take(&mut self.diag);
                    self.fill_diag(&self.cur, &mut d);
                    self.diag = d;
                    let mut d = std::mem::take(&mut self.diag_prev);
                    self.fill_diag(&self.prev, &mut d);
                    self.diag_prev = d;
                    if !is_final {
                        let means: Vec<f64> = self.diag.iter().map(|&v| self.quad.mean(v)).collect();
                        self.means = means;
                    }
                }
                let start = self.row;
                let count = ((n - start) as u64).min(max_units).min(ROW_BATCH as u64) as usize;
                let this = &*self;
                let rows: Vec<Vec<f64>> = self.par.map(count, |k| {
                    if is_final {
                        this.final_row(start + k, h, t)
                    } else {
                        this.level_row(start + k, h, t)
                    }
                });
                let p = self.p;
                let pp = p * p;
                for (k, row) in rows.into_iter().enumerate() {
                    let i = start + k;
                    if is_final {
                        for (jj, &v) in row.iter().enumerate() {
                            let j = i + jj;
                            self.kfinal[i * n + j] = v;
                            self.kfinal[j * n + i] = v;
                        }
                    } else {
                        for jj in 0..n - i {
                            let j = i + jj;
                            let blk = &row[jj * pp..(jj + 1) * pp];
                            for l in 0..p {
                                for r in 0..p {
                                    let v = blk[l * p + r];
                                    self.next[((i * n + j) * p + l) * p + r] = v;
                                    self.next[((j * n + i) * p + r) * p + l] = v;
                                }
                            }
                        }
                    }
                }
                self.row += count;
                if self.row == n {
                    self.row = 0;
                    self.stage += 1;
                    if !is_final {
                        // b^(h) and the rotation prev <- cur <- next.
                        let sc = self.c_sigma.sqrt();
                        for (b, &mv) in self.b.iter_mut().zip(&self.means) {
                            *b = if h == 1 { sc * mv } else { *b + t * mv };
                        }
                        std::mem::swap(&mut self.prev, &mut self.cur);
                        std::mem::swap(&mut self.cur, &mut self.next);
                        self.level = h;
                    }
                }
                Ok(count as u64)
            }
            Stage::Eig { depth } => {
                let k = DMatrix::from_row_slice(n, n, &self.kfinal);
                let (lmin, lmax) = extremes(&k)?;
                self.lambda_min.insert(depth, lmin);
                self.lambda_max.insert(depth, lmax);
                if self.finite_depths.contains(&depth) {
                    self.stored.insert(depth, self.kfinal.clone());
                }
                let hh = (depth * depth) as f64;
                self.push_row([
                    depth as f64,
                    lmin,
                    lmin * hh,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                    f64::NAN,
                ]);
                self.stage += 1;
                Ok(1)
            }
            Stage::Network { depth, width, seed } => {
                let g = self.network_gram(depth, width, seed)?;
                let k = self
                    .stored
                    .get(&depth)
                    .ok_or_else(|| Error::request("finiteWidth", "internal: kernel missing"))?;
                let diff: Vec<f64> = g.iter().zip(k).map(|(a, b)| a - b).collect();
                let (dlo, dhi) = extremes(&DMatrix::from_row_slice(n, n, &diff))?;
                let gap = dlo.abs().max(dhi.abs());
                let (gmin, _) = extremes(&DMatrix::from_row_slice(n, n, &g))?;
                let lmin = self.lambda_min[&depth];
                let lmax = self.lambda_max[&depth];
                let rel = gap / lmax;
                let si = (seed - self.seed0) as usize;
                let seeds = self.seeds;
                let entry = self
                    .gsum
                    .entry((depth, width))
                    .or_insert_with(|| (vec![0.0; n * n], 0));
                for (s, v) in entry.0.iter_mut().zip(&g) {
                    *s += v;
                }
                entry.1 += 1;
                if entry.1 == seeds {
                    let (sum, _) = self.gsum.remove(&(depth, width)).unwrap_or_default();
                    let inv = 1.0 / seeds as f64;
                    let d: Vec<f64> = sum.iter().zip(k).map(|(a, b)| a * inv - b).collect();
                    let (lo, hi) = extremes(&DMatrix::from_row_slice(n, n, &d))?;
                    let mg = lo.abs().max(hi.abs());
                    self.mean_gaps.insert((depth, width), (mg, mg / lmax));
                }
                self.gaps.push((depth, width, si, gap, rel, gmin));
                let hh = (depth * depth) as f64;
                self.push_row([
                    depth as f64,
                    lmin,
                    lmin * hh,
                    width as f64,
                    seed as f64,
                    gap,
                    rel,
                    gmin,
                ]);
                self.stage += 1;
                Ok(1)
            }
        }
    }

    /// Per finite depth: widths, mean gap and relative gap over the seeds, fitted exponents.
    fn finite_summary(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for &hd in &self.finite_depths {
            let mut ws = Vec::new();
            let mut mg = Vec::new();
            let mut mr = Vec::new();
            let mut ml = Vec::new();
            let mut sg = Vec::new();
            let mut sr = Vec::new();
            for &m in &self.widths {
                let rows: Vec<_> = self
                    .gaps
                    .iter()
                    .filter(|g| g.0 == hd && g.1 == m)
                    .collect();
                if rows.is_empty() || ws.contains(&(m as f64)) {
                    continue;
                }
                let k = rows.len() as f64;
                ws.push(m as f64);
                mg.push(rows.iter().map(|g| g.3).sum::<f64>() / k);
                mr.push(rows.iter().map(|g| g.4).sum::<f64>() / k);
                ml.push(rows.iter().map(|g| g.5).sum::<f64>() / k);
                let (a, b) = self
                    .mean_gaps
                    .get(&(hd, m))
                    .copied()
                    .unwrap_or((f64::NAN, f64::NAN));
                sg.push(a);
                sr.push(b);
            }
            out.push(json!({
                "depth": hd,
                "widths": ws,
                "seeds": self.seeds,
                "meanGap": mg,
                "meanGapRel": mr,
                "meanLambdaMinG": ml,
                "seedMeanGap": sg,
                "seedMeanGapRel": sr,
                "lambdaMinK": self.lambda_min.get(&hd),
                "exponent": loglog_slope(&ws, &mg),
                "exponentRel": loglog_slope(&ws, &mr),
            }));
        }
        out
    }
}

/// agg(S)_ij[l, r] = sum over the patch offsets k of S_ij[l + k, r + k] (indices inside 0..p).
#[allow(clippy::too_many_arguments)]
#[inline]
fn agg(s: &[f64], n: usize, p: usize, half: usize, i: usize, j: usize, l: usize, r: usize) -> f64 {
    let base = (i * n + j) * p * p;
    let mut sum = 0.0;
    for k in 0..=2 * half {
        let (ll, rr) = (l + k, r + k);
        if ll >= half && rr >= half && ll - half < p && rr - half < p {
            sum += s[base + (ll - half) * p + rr - half];
        }
    }
    sum
}

impl StudyKind for KernelStudy {
    fn total(&self) -> u64 {
        self.total
    }
    fn done(&self) -> u64 {
        self.done
    }
    fn finished(&self) -> bool {
        self.stage >= self.stages.len()
    }
    fn advance(&mut self, max_units: u64) -> Result<()> {
        let mut left = max_units;
        while left > 0 && !self.finished() {
            let did = self.run_stage(left)?;
            self.done += did;
            left = left.saturating_sub(did);
        }
        Ok(())
    }
    fn column_names(&self) -> &[String] {
        &self.names
    }
    fn column(&self, index: usize) -> &[f64] {
        &self.cols[index]
    }
    fn result(&self) -> Map<String, Value> {
        let mut out = Map::new();
        let depths: Vec<usize> = self.lambda_min.keys().copied().collect();
        let lmin: Vec<f64> = self.lambda_min.values().copied().collect();
        let lmax: Vec<f64> = self.lambda_max.values().copied().collect();
        let hs: Vec<f64> = depths.iter().map(|&h| h as f64).collect();
        // The depth exponent over H >= 2 (H = 1 of a ResNet is its plain first layer).
        let (h2, l2): (Vec<f64>, Vec<f64>) = hs
            .iter()
            .zip(&lmin)
            .filter(|(h, _)| **h >= 2.0)
            .map(|(h, l)| (*h, *l))
            .unzip();
        out.insert("architecture".into(), json!(self.arch.name()));
        out.insert("activation".into(), json!(self.quad.act.name()));
        out.insert(
            "variant".into(),
            json!(match self.variant {
                Variant::Corrected => "corrected",
                Variant::AsPrinted => "asPrinted",
            }),
        );
        out.insert("n".into(), json!(self.n));
        out.insert("channels".into(), json!(self.d0));
        out.insert("length".into(), json!(self.p));
        out.insert("patch".into(), json!(self.q));
        out.insert("cSigma".into(), json!(self.c_sigma));
        if self.arch != Architecture::FullyConnected {
            out.insert("cRes".into(), json!(self.c_res));
        }
        out.insert("nodes".into(), json!(self.nodes));
        out.insert("quadratureCheck".into(), json!(self.moment_check));
        out.insert("requestedDepths".into(), json!(self.depths));
        out.insert("depths".into(), json!(depths));
        out.insert("lambdaMin".into(), json!(lmin));
        out.insert("lambdaMax".into(), json!(lmax));
        out.insert("depthExponent".into(), json!(loglog_slope(&h2, &l2)));
        // The per-layer factor exp(d ln lambda_min / dH) over the depths whose lambda_min is above
        // roundoff (1e-12 lambda_max), and the first depth below it.
        let ok: Vec<bool> = lmin
            .iter()
            .zip(&lmax)
            .map(|(a, b)| *a > 1e-12 * b.abs())
            .collect();
        let (hr, lr): (Vec<f64>, Vec<f64>) = hs
            .iter()
            .zip(&lmin)
            .zip(&ok)
            .filter(|(_, k)| **k)
            .map(|((h, l), _)| (libm::exp(*h), *l))
            .unzip();
        out.insert(
            "depthFactor".into(),
            json!(loglog_slope(&hr, &lr).map(libm::exp)),
        );
        let bad = depths.iter().zip(&ok).find(|(_, k)| !**k).map(|(h, _)| *h);
        out.insert("roundoffDepth".into(), json!(bad));
        let fin = self.finite_summary();
        let ge = fin.first().and_then(|v| v.get("exponent").cloned());
        let gr = fin.first().and_then(|v| v.get("exponentRel").cloned());
        out.insert("gapExponent".into(), ge.unwrap_or(Value::Null));
        out.insert("gapExponentRel".into(), gr.unwrap_or(Value::Null));
        out.insert("finiteWidth".into(), Value::Array(fin));
        out
    }
}

/// The smallest and largest eigenvalue of a symmetric kernel matrix (tridiagonalization and
/// bisection: `crate::decomp::symmetric_extremes`), or an error naming the data when the matrix
/// is not finite.
fn extremes(m: &DMatrix<f64>) -> Result<(f64, f64)> {
    crate::decomp::symmetric_extremes(m).ok_or_else(|| {
        Error::non_finite(
            "data",
            "a kernel matrix is not finite: its eigenvalues cannot be computed",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// K^(H) (the last depth) and lambda_min per depth, with the batched or the `libm` path.
    fn run(spec: &Value, reference: bool) -> (Vec<f64>, Vec<f64>) {
        let spec: Spec = parse(spec.clone()).unwrap();
        let mut st = KernelStudy::new(spec, &mut Buffers::new()).unwrap();
        st.quad.reference = reference;
        while !st.finished() {
            st.advance(1000).unwrap();
        }
        (st.kfinal.clone(), st.lambda_min.values().copied().collect())
    }

    /// The batched portable exp/log1p agree with the `libm` evaluation they replaced: K^(H)
    /// entrywise and lambda_min to 1e-13 relative, for every architecture and smooth activation.
    #[test]
    fn batched_activations_agree_with_libm() {
        for (arch, act, nodes) in [
            ("resnet", "softplus", 20),
            ("resnet", "softplus", 60),
            ("fullyConnected", "sigmoid", 60),
            ("resnet", "tanh", 150),
            ("convResnet", "tanh", 40),
            ("convResnet", "softplus", 30),
        ] {
            let conv = arch == "convResnet";
            let mut spec = json!({"architecture": arch,
                "activation": act, "depths": [1, 2, 5, 10], "quadrature": {"nodes": nodes},
                "data": {"kind": "sphere", "n": 12, "d": 4, "seed": 3}});
            if conv {
                spec["data"] =
                    json!({"kind": "sphere", "n": 5, "channels": 2, "length": 4, "seed": 3});
                spec["depths"] = json!([1, 2, 4]);
            }
            if arch != "fullyConnected" {
                spec["cRes"] = json!(0.5);
            }
            let (k, l) = run(&spec, false);
            let (k0, l0) = run(&spec, true);
            let kmax = k0.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (x, y) in k.iter().zip(&k0) {
                assert!((x - y).abs() <= 1e-13 * kmax, "{arch} {act}: K {x} vs {y}");
            }
            for (x, y) in l.iter().zip(&l0) {
                assert!((x - y).abs() <= 1e-13 * y.abs(), "{arch} {act}: lambda_min {x} vs {y}");
            }
        }
    }
}
