//! Studies: computations that are not one run (a grid of curvature queries along runs, sweeps,
//! continuation, kernel recursions), behind one entry point the bindings expose as one class.
//!
//! A study is described by JSON with a `kind` tag (plus optional `f64` buffers named by their
//! spec path, as for a run) and is advanced in chunks of *units* of work, like a run is advanced
//! in steps, so that the bindings can run it off the event loop, report progress and cancel it
//! between chunks without the core knowing about threads. It produces named `f64` columns (one
//! row per result point, so the existing plots and checks work on them) and a JSON result.
//!
//! Every study kind is one file in this folder implementing [`StudyKind`], registered by one line
//! in the [`registry!`] call below. A kind validates its whole spec in its `build` function, with
//! the full field path in every error, and checks its memory before any work.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// The buffers of a study: row-major `f64` data keyed by spec path (e.g. `run.target.matrix`).
pub type Buffers = HashMap<String, Vec<f64>>;

/// What a study kind implements: a computation advanced in units of work, with columns of
/// results and a JSON result. Built (and validated) by its [`Registration::build`].
pub trait StudyKind: Send {
    /// Units of work in all (known once the spec is validated).
    fn total(&self) -> u64;
    /// Units done so far.
    fn done(&self) -> u64;
    /// True once every unit is done.
    fn finished(&self) -> bool;
    /// Do up to `max_units` units (at least one unless finished or `max_units` is 0). An error
    /// stops the study: [`Study`] keeps it and returns it from every later `advance`.
    fn advance(&mut self, max_units: u64) -> Result<()>;
    /// Names of the columns, in order (fixed when the study is built).
    fn column_names(&self) -> &[String];
    /// The rows of column `index` computed so far (every column has the same length).
    fn column(&self, index: usize) -> &[f64];
    /// The JSON result so far (an object; [`Study::result_json`] adds `kind` and `status`).
    fn result(&self) -> serde_json::Map<String, Value>;
    /// Records (one JSON text each, no newline) finished since the last call, handed out once:
    /// kinds whose results are too many to keep (a sweep's rows) stream them this way.
    fn take_records(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// One registered study kind: its `kind` tag and its constructor, which validates the spec (with
/// `kind` removed) and the buffers and allocates nothing large before every check has passed.
pub struct Registration {
    /// The `kind` tag of the spec (camelCase).
    pub kind: &'static str,
    /// Validate the spec and set up the study; no work is done yet.
    pub build: fn(Value, Buffers) -> Result<Box<dyn StudyKind>>,
}

/// Declares the study kind modules and the registry [`KINDS`]: one line per kind, naming a module
/// of this folder that defines `pub const REGISTRATION: Registration`.
macro_rules! registry {
    ($($module:ident),* $(,)?) => {
        $(pub mod $module;)*
        /// Every study kind, in the order the docs list them.
        pub const KINDS: &[Registration] = &[$($module::REGISTRATION),*];
    };
}

registry! {
    hessian_grid,
    conservation,
    sweep,
    continuation,
    kernel,
}

pub mod path;

/// Where a study is. Serialized to JSON for the bindings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StudyStatus {
    /// Units of work done.
    pub done: u64,
    /// Units of work in all.
    pub total: u64,
    /// Rows of the columns so far.
    pub rows: usize,
    /// True once every unit is done.
    pub finished: bool,
}

/// A study: a validated spec of one registered kind and its state, advanced in chunks.
pub struct Study {
    kind: &'static str,
    inner: Box<dyn StudyKind>,
    /// The error that stopped the study, returned again by every later `advance`.
    failed: Option<Error>,
}

impl std::fmt::Debug for Study {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Study")
            .field("kind", &self.kind)
            .field("status", &self.status())
            .finish()
    }
}

/// The `kind` tags of every registered study kind.
pub fn kinds() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.kind).collect()
}

impl Study {
    /// Validate a study spec (JSON with a `kind` tag) and its buffers and set the study up.
    /// Nothing is computed before every input has been checked; errors name the full field path
    /// in the study spec (`run.model.rank`, `at.steps[2]`, `axis.values[1]`).
    pub fn new(spec_json: &str, buffers: Buffers) -> Result<Study> {
        let spec = parse_json(spec_json, "spec")?;
        let Value::Object(mut map) = spec else {
            return Err(Error::spec("spec", "expected a JSON object"));
        };
        let kind = match map.remove("kind") {
            Some(Value::String(k)) => k,
            Some(other) => {
                return Err(Error::spec(
                    "kind",
                    format!("expected a string, got {other}"),
                ))
            }
            None => {
                return Err(Error::spec(
                    "kind",
                    format!("missing field `kind` (one of {})", kinds().join(", ")),
                ))
            }
        };
        let reg = KINDS.iter().find(|r| r.kind == kind).ok_or_else(|| {
            Error::spec(
                "kind",
                format!(
                    "unknown study kind {kind:?}: expected one of {}",
                    kinds().join(", ")
                ),
            )
        })?;
        let inner = (reg.build)(Value::Object(map), buffers)?;
        Ok(Study {
            kind: reg.kind,
            inner,
            failed: None,
        })
    }

    /// The `kind` tag of this study.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Do up to `max_units` units of work (`advance(0)` does nothing). An error stops the study:
    /// the same error is returned by every later call, and the results so far stay readable.
    pub fn advance(&mut self, max_units: u64) -> Result<StudyStatus> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if let Err(e) = self.inner.advance(max_units) {
            self.failed = Some(e.clone());
            return Err(e);
        }
        Ok(self.status())
    }

    pub fn status(&self) -> StudyStatus {
        let rows = if self.inner.column_names().is_empty() {
            0
        } else {
            self.inner.column(0).len()
        };
        StudyStatus {
            done: self.inner.done(),
            total: self.inner.total(),
            rows,
            finished: self.inner.finished(),
        }
    }

    /// The records finished since the last call as JSON Lines (each record followed by `\n`;
    /// empty when there are none). The study keeps no record it has handed out.
    pub fn take_records(&mut self) -> String {
        let mut out = String::new();
        for r in self.inner.take_records() {
            out.push_str(&r);
            out.push('\n');
        }
        out
    }

    /// The error that stopped the study, if any.
    pub fn error(&self) -> Option<&Error> {
        self.failed.as_ref()
    }

    pub fn column_names(&self) -> &[String] {
        self.inner.column_names()
    }

    /// A column from row `start` on.
    pub fn column(&self, name: &str, start: usize) -> Result<&[f64]> {
        let i = self
            .inner
            .column_names()
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| Error::request("column", format!("no column named {name:?}")))?;
        let col = self.inner.column(i);
        Ok(&col[start.min(col.len())..])
    }

    /// The JSON result so far: `{"kind", "status", "error", ...}` with the kind's own fields
    /// (docs/studies.md). Non-finite numbers are written as `null`.
    pub fn result_json(&self) -> String {
        let mut out = self.inner.result();
        out.insert("kind".into(), Value::String(self.kind.into()));
        out.insert(
            "status".into(),
            serde_json::to_value(self.status()).unwrap_or(Value::Null),
        );
        out.insert(
            "error".into(),
            self.failed
                .as_ref()
                .and_then(|e| serde_json::to_value(e).ok())
                .unwrap_or(Value::Null),
        );
        Value::Object(out).to_string()
    }
}

pub(crate) use crate::spec::field_in_message;

/// Deserialize a study kind's spec from a JSON value, naming the offending field by its full path
/// (root-level missing and unknown fields included).
pub fn parse<T: DeserializeOwned>(v: Value) -> Result<T> {
    crate::spec::from_value(v, "", "spec")
}

/// JSON text to a value (numbers correctly rounded: serde_json's `float_roundtrip`); errors are
/// `invalid_spec` on `field`.
pub(crate) fn parse_json(text: &str, field: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| Error::spec(field, e.to_string()))
}
