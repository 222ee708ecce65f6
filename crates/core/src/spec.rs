//! The description of a run: the single contract both bindings accept.
//!
//! A spec is small JSON (camelCase fields); bulk numbers (explicit target, explicit initial
//! factors) travel beside it as named `f64` buffers whose name is the spec path of the matrix
//! reference, e.g. `target.matrix`, `init.u0`, `init.v0`. A matrix reference in the spec holds
//! only its shape (`{"rows": 3, "cols": 2}`); the buffer holds the row-major data.
//!
//! Numeric fields that must be integers (sizes, counts, seeds) are read as JSON numbers and
//! checked here, so that a negative or fractional value gets an error naming the field instead of
//! a generic type error.

use serde::Deserialize;

use crate::error::{Error, Result};

/// Shape of a matrix whose data is passed as a buffer named after its spec path.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixRef {
    pub rows: f64,
    pub cols: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum ModelSpec {
    /// f(U, V) = 1/2 ||U V^T - M*||_F^2 + balanceWeight ||U^T U - V^T V||_F^2.
    #[serde(rename_all = "camelCase")]
    MatrixFactorization {
        d1: f64,
        d2: f64,
        rank: f64,
        #[serde(default)]
        balance_weight: f64,
    },
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

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum ScheduleSpec {
    /// eta_t = eta.
    Constant { eta: f64 },
    /// eta_t = c (t+1)^-(1/2+delta), 0 < delta <= 1/2.
    InversePower { c: f64, delta: f64 },
    /// Theorem 3.1 of Du, Hu & Lee: eta_t = sqrt(eps/r) / (100 (t+1) ||M*||_F^1.5).
    Theorem31 { eps: f64 },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunSpec {
    pub model: ModelSpec,
    pub target: TargetSpec,
    pub init: InitSpec,
    pub schedule: ScheduleSpec,
    pub steps: f64,
    #[serde(default = "one")]
    pub record_every: f64,
    /// The dynamics; default gradient descent with `schedule`.
    #[serde(default)]
    pub method: Option<MethodSpec>,
    /// L2 weight decay lambda: the dynamics see grad L + lambda w.
    #[serde(default)]
    pub weight_decay: f64,
    /// Record lambda_min and lambda_max of the Hessian along the run.
    #[serde(default)]
    pub curvature: Option<CurvatureSpec>,
}

/// Curvature along a trajectory: lambda_min and lambda_max by warm-started Lanczos at every
/// recorded row whose step is a multiple of `every` (and at the last step).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CurvatureSpec {
    /// A multiple of `recordEvery`.
    pub every: f64,
    /// Relative residual tolerance of the Lanczos solves (default 1e-6).
    #[serde(default = "curv_tol")]
    pub tol: f64,
    /// Lanczos steps per sample (default 300).
    #[serde(default = "curv_iter")]
    pub max_iter: f64,
    /// Seed of the first start vector (default 0).
    #[serde(default)]
    pub seed: f64,
}

fn curv_tol() -> f64 {
    1e-6
}
fn curv_iter() -> f64 {
    300.0
}

/// First-order methods and gradient-flow integrators. Every method takes its step size h from
/// `schedule` (eta_t); Dormand-Prince uses eta_0 as its first trial step.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum MethodSpec {
    /// w <- w - eta grad
    Gd {},
    /// Heavy ball: v <- beta v + grad; w <- w - eta v.
    Momentum { beta: f64 },
    /// v <- beta v + grad(w - eta beta v); w <- w - eta v.
    Nesterov { beta: f64 },
    /// Adam with bias correction.
    Adam {
        #[serde(default = "beta1")]
        beta1: f64,
        #[serde(default = "beta2")]
        beta2: f64,
        #[serde(default = "adam_eps")]
        eps: f64,
    },
    /// Mini-batch SGD: batches drawn without replacement from a seeded shuffle per epoch.
    #[serde(rename_all = "camelCase")]
    Sgd { batch_size: f64, seed: f64 },
    /// Explicit Euler on dw/dt = -grad (the same iterates as GD).
    Euler {},
    /// Classical 4th-order Runge-Kutta.
    Rk4 {},
    /// Adaptive Dormand-Prince 5(4).
    Dopri5 {
        #[serde(default = "rtol")]
        rtol: f64,
        #[serde(default = "atol")]
        atol: f64,
    },
    /// Implicit midpoint w' = w - h grad((w + w')/2), solved by fixed-point iteration until
    /// the update is below tol (1 + max|w|) (max norm), at most maxIter evaluations.
    #[serde(rename_all = "camelCase")]
    ImplicitMidpoint {
        #[serde(default = "imp_tol")]
        tol: f64,
        #[serde(default = "imp_iter")]
        max_iter: f64,
    },
}

fn beta1() -> f64 {
    0.9
}
fn beta2() -> f64 {
    0.999
}
fn adam_eps() -> f64 {
    1e-8
}
fn rtol() -> f64 {
    1e-6
}
fn atol() -> f64 {
    1e-9
}
fn imp_tol() -> f64 {
    1e-14
}
fn imp_iter() -> f64 {
    100.0
}

/// A network run: `model.kind` is `"network"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetRunSpec {
    pub model: NetModelSpec,
    pub data: DataSpec,
    pub init: NetInitSpec,
    pub schedule: ScheduleSpec,
    pub steps: f64,
    #[serde(default = "one")]
    pub record_every: f64,
    #[serde(default)]
    pub method: Option<MethodSpec>,
    #[serde(default)]
    pub weight_decay: f64,
    #[serde(default)]
    pub curvature: Option<CurvatureSpec>,
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
        #[serde(default = "one")]
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
        #[serde(default = "one")]
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
        #[serde(default = "one")]
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

/// Parse a network spec from a JSON value, naming the offending field.
pub fn parse_network(v: serde_json::Value) -> Result<NetRunSpec> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path == "?" {
            "spec".to_string()
        } else {
            path
        };
        Error::spec(field, e.into_inner().to_string())
    })
}

fn one() -> f64 {
    1.0
}

/// Parse a spec, naming the offending field on a type error or a missing field.
pub fn parse(json: &str) -> Result<RunSpec> {
    let de = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        // serde_path_to_error writes "." for the root and "?" where it lost track.
        let field = if path == "." || path == "?" {
            "spec".to_string()
        } else {
            path
        };
        Error::spec(field, e.into_inner().to_string())
    })
}

/// Largest integer an f64 holds exactly; counts above it are refused.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// A non-negative integer field (`steps`, `seed`, ...).
pub fn count(field: &str, x: f64) -> Result<u64> {
    if !x.is_finite() || x < 0.0 || x.fract() != 0.0 || x > MAX_EXACT {
        return Err(Error::range(
            field,
            format!("expected a non-negative integer, got {x}"),
        ));
    }
    Ok(x as u64)
}

/// A positive integer field (sizes, rank, recordEvery).
pub fn positive(field: &str, x: f64) -> Result<usize> {
    let n = count(field, x)
        .map_err(|_| Error::range(field, format!("expected a positive integer, got {x}")))?;
    if n == 0 || n > usize::MAX as u64 {
        return Err(Error::range(
            field,
            format!("expected a positive integer, got {x}"),
        ));
    }
    Ok(n as usize)
}

/// A finite real field.
pub fn finite(field: &str, x: f64) -> Result<f64> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(Error::non_finite(
            field,
            format!("expected a finite number, got {x}"),
        ))
    }
}

/// A finite, strictly positive real field.
pub fn positive_real(field: &str, x: f64) -> Result<f64> {
    finite(field, x)?;
    if x > 0.0 {
        Ok(x)
    } else {
        Err(Error::range(
            field,
            format!("expected a number > 0, got {x}"),
        ))
    }
}
