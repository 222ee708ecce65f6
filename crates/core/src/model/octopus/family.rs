//! The octopus family's spec (`model`, `init`), validation, memory budget and initial point.

use serde::Deserialize;
use serde_json::{json, Value};

use super::pieces::Params;
use super::{Arithmetic, Octopus, FIXED_COLUMNS, MAX_D};
use crate::build::{zeroed, Budget, Buffers};
use crate::error::{Error, Result};
use crate::model::{Built, Family, RunInfo};
use crate::rng::Normal;
use crate::spec::{count, finite, from_value, positive, positive_real, MethodSpec};

/// The family's part of a run spec: `model`, `init`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OctopusProblem {
    pub model: OctopusModelSpec,
    pub init: InitSpec,
}

fn one() -> f64 {
    1.0
}
fn e() -> f64 {
    std::f64::consts::E
}

/// The octopus function of dimension `d` with constants `L`, `gamma` (default 1), `tau`
/// (default e).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OctopusModelSpec {
    /// `"octopus"`.
    pub kind: String,
    pub d: f64,
    #[serde(rename = "L")]
    pub l: f64,
    #[serde(default = "one")]
    pub gamma: f64,
    #[serde(default = "e")]
    pub tau: f64,
    #[serde(default)]
    pub arithmetic: ArithmeticSpec,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ArithmeticSpec {
    #[default]
    Float,
    LogScale,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum InitSpec {
    /// x_j = low + (high - low) u_j, u_j = `rng::Normal::new(seed).uniform_open()` drawn in order
    /// j = 1..d (53-bit uniforms in (0, 1), ChaCha8: the same bits on every target).
    Uniform { low: f64, high: f64, seed: f64 },
    /// The point itself.
    Point { x: Vec<f64> },
}

/// Bounds of L, gamma and tau: inside them nu, d nu, 6 tau and the spline's coefficients are
/// finite.
const CONST_MIN: f64 = 1e-100;
const CONST_MAX: f64 = 1e100;

/// The octopus family.
pub struct OctopusFamily;

impl Family for OctopusFamily {
    fn kind(&self) -> &'static str {
        "octopus"
    }
    fn fields(&self) -> &'static [&'static str] {
        &["init"]
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
        let spec: OctopusProblem = from_value(problem, "", "spec")?;
        let m = spec.model;
        let d = positive("model.d", m.d)?;
        if d > MAX_D {
            return Err(Error::range(
                "model.d",
                format!("expected an integer in 1..={MAX_D}, got {d}"),
            ));
        }
        let l = positive_real("model.L", m.l)?;
        let gamma = positive_real("model.gamma", m.gamma)?;
        let tau = positive_real("model.tau", m.tau)?;
        for (f, v) in [("model.L", l), ("model.gamma", gamma), ("model.tau", tau)] {
            // Keeps nu, 6 tau and the spline's coefficients finite.
            if !(CONST_MIN..=CONST_MAX).contains(&v) {
                return Err(Error::range(
                    f,
                    format!(
                        "expected a number in [1e-100, 1e100], got {}",
                        crate::spec::num(v)
                    ),
                ));
            }
        }
        let p = Params::new(d, l, gamma, tau);
        let arithmetic = match m.arithmetic {
            ArithmeticSpec::Float => Arithmetic::Float,
            ArithmeticSpec::LogScale => {
                // The engine simulates plain GD, x <- x - eta grad f(x), and nothing else.
                if !matches!(run.method, None | Some(MethodSpec::Gd {})) {
                    return Err(Error::range(
                        "model.arithmetic",
                        "\"logScale\" simulates plain gradient descent only (method gd); use \"float\" with other methods",
                    ));
                }
                if run.weight_decay != 0.0 {
                    return Err(Error::range(
                        "model.arithmetic",
                        "\"logScale\" simulates plain gradient descent without weight decay; use \"float\" or weightDecay 0",
                    ));
                }
                Arithmetic::LogScale
            }
        };

        match &spec.init {
            InitSpec::Uniform { low, high, seed } => {
                finite("init.low", *low)?;
                finite("init.high", *high)?;
                if low > high {
                    return Err(Error::range(
                        "init.high",
                        format!("expected high >= low = {low}, got {high}"),
                    ));
                }
                if !(high - low).is_finite() {
                    return Err(Error::range(
                        "init.high",
                        format!("high - low overflows ({low}, {high})"),
                    ));
                }
                count("init.seed", *seed)?;
            }
            InitSpec::Point { x } => {
                if x.len() != d {
                    return Err(Error::shape(
                        "init.x",
                        format!("expected {d} numbers (model.d), got {}", x.len()),
                    ));
                }
                for (j, &v) in x.iter().enumerate() {
                    finite(&format!("init.x[{j}]"), v)?;
                }
            }
        }

        // In u64: the iterate and the method's vectors, the curvature tracker, the model's own
        // per-coordinate state (escapes, flags, the exact engine's sign/value/log per coordinate,
        // a gradient scratch for the query), and the recorded columns.
        let du = d as u64;
        budget.reserve(
            "model",
            &[
                (du, run.per_param as u64 + 8),
                (run.curvature_doubles(du), 1),
            ],
        )?;
        budget.reserve(
            "steps",
            &[(
                run.rows_max,
                (run.other_columns + FIXED_COLUMNS.len()) as u64 + du,
            )],
        )?;
        buffers.finish("the octopus family takes no buffers")?;

        // Work starts here.
        let mut w = zeroed("init", d)?;
        let field = match &spec.init {
            InitSpec::Uniform { low, high, seed } => {
                let mut rng = Normal::new(*seed as u64);
                for x in w.iter_mut() {
                    *x = low + (high - low) * rng.uniform_open();
                }
                "init"
            }
            InitSpec::Point { x } => {
                w.copy_from_slice(x);
                "init.x"
            }
        };
        if let Some(v) = p.violation(&w) {
            let at = if field == "init.x" {
                format!("init.x[{}]", v.j)
            } else {
                "init".to_string()
            };
            return Err(Error::range(
                at,
                format!(
                    "the initial point is outside the domain D: {}",
                    v.describe(&p)
                ),
            ));
        }
        Ok(Built {
            model: Box::new(Octopus::new(p, arithmetic)),
            w0: w,
        })
    }

    fn examples(&self) -> Vec<(&'static str, Value)> {
        vec![
            (
                "octopus-d2",
                json!({
                    "model": {"kind": "octopus", "d": 2, "L": 1.0, "gamma": 1.0, "tau": 1.0},
                    "init": {"kind": "uniform", "low": -1, "high": 1, "seed": 1},
                    "schedule": {"kind": "constant", "eta": 0.25},
                    "steps": 40,
                    "recordEvery": 4,
                }),
            ),
            (
                "octopus-d3",
                json!({
                    "model": {"kind": "octopus", "d": 3, "L": 2.0},
                    "init": {"kind": "uniform", "low": -1, "high": 1, "seed": 7},
                    "schedule": {"kind": "constant", "eta": 0.125},
                    "steps": 60,
                    "recordEvery": 5,
                }),
            ),
            (
                "octopus-spline",
                json!({
                    "model": {"kind": "octopus", "d": 3, "L": 2.0, "gamma": 0.5, "tau": 1.0},
                    "init": {"kind": "point", "x": [-4.5, 1.4, 0.3]},
                    "schedule": {"kind": "constant", "eta": 0.1},
                    "steps": 30,
                    "recordEvery": 3,
                }),
            ),
        ]
    }
}
