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
