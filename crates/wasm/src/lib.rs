//! autobalance-wasm: the WebAssembly binding of `autobalance-core` (wasm-bindgen). Thin glue only:
//! convert JS values, call the core, map errors. The surface is the one in
//! docs/ARCHITECTURE.md ("The binding surface"), identical to crates/node without `advanceAsync`
//! and `hessianAsync` (in a browser the module runs in a Web Worker instead).
//!
//! Errors: every core error is thrown as a JS `Error` whose message is `err.to_js_message()`
//! (`AUTOBALANCE_ERROR:{"code":..,"field":..,"message":..}`), the same text as the N-API binding.
//! The wasm build aborts on panic (no unwinding on wasm32): the core validates every input before
//! work starts, and the cross-backend test suite runs each error case on both backends.
//!
//! Feature `threads` (experimental, docs/ARCHITECTURE.md, "The threaded wasm module"): the same
//! surface plus the pool entry points of [`pool`], for a build with `+atomics` and shared memory.

#[cfg(feature = "threads")]
mod pool;

use std::collections::HashMap;

use autobalance_core::curvature::{session_query, session_query_advance, QueryJob};
use autobalance_core::study::Study;
use autobalance_core::{Error as CoreError, Session, Status};
use js_sys::{Array, Float64Array, Object};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// A core error as the JS error the TS layer parses.
fn js_error(err: CoreError) -> JsValue {
    js_sys::Error::new(&err.to_js_message()).into()
}

/// A count argument (`maxSteps`, `start`), validated by the core.
fn count(field: &str, x: f64) -> Result<u64, JsValue> {
    autobalance_core::args::count_arg(field, x).map_err(js_error)
}

fn status_json(status: &Status) -> String {
    serde_json::to_string(status).expect("Status serializes")
}

/// `Record<string, Float64Array>` (or `undefined`/`null` for none), copied into the core's
/// `Vec<f64>`s; same rules and messages as the N-API binding.
fn buffers(value: &JsValue) -> Result<HashMap<String, Vec<f64>>, JsValue> {
    let mut out = HashMap::new();
    if value.is_undefined() || value.is_null() {
        return Ok(out);
    }
    if !value.is_object() {
        return Err(js_error(CoreError::request(
            "buffers",
            "expected an object mapping spec paths to Float64Array",
        )));
    }
    for entry in Object::entries(value.unchecked_ref()).iter() {
        let pair: Array = entry.unchecked_into();
        let key = pair.get(0).as_string().unwrap_or_default();
        let item = pair.get(1);
        if item.is_undefined() {
            continue; // `undefined` values are skipped, as absent keys
        }
        let array = item.dyn_into::<Float64Array>().map_err(|_| {
            js_error(CoreError::request(
                key.clone(),
                "expected a Float64Array (row-major data)",
            ))
        })?;
        out.insert(key, array.to_vec());
    }
    Ok(out)
}

/// A run of the core.
#[wasm_bindgen]
pub struct WasmSession {
    inner: Session,
    /// The curvature query advanced in chunks (`hessianStart` .. `hessianReport`).
    query: Option<QueryJob>,
}

#[wasm_bindgen]
impl WasmSession {
    /// Validate `spec` (JSON) and `buffers` and set up the run. Throws on invalid input.
    #[wasm_bindgen(constructor)]
    pub fn new(
        spec: &str,
        #[wasm_bindgen(unchecked_param_type = "Record<string, Float64Array>")] buffers: JsValue,
    ) -> Result<WasmSession, JsValue> {
        let buffers = self::buffers(&buffers)?;
        let inner = Session::new(spec, buffers).map_err(js_error)?;
        Ok(WasmSession { inner, query: None })
    }

    /// Take up to `maxSteps` steps; returns the `Status` JSON.
    pub fn advance(
        &mut self,
        #[wasm_bindgen(js_name = "maxSteps")] max_steps: f64,
    ) -> Result<String, JsValue> {
        let max_steps = count("maxSteps", max_steps)?;
        Ok(status_json(&self.inner.advance(max_steps)))
    }

    /// The `Status` JSON of the run.
    pub fn status(&self) -> String {
        status_json(&self.inner.status())
    }

    /// Names of the recorded metric columns, in order.
    #[wasm_bindgen(js_name = "columnNames")]
    pub fn column_names(&self) -> Vec<String> {
        self.inner
            .column_names()
            .iter()
            .map(|c| c.to_string())
            .collect()
    }

    /// The role of each recorded column, in the order of `columnNames` (`loss`, `norm`,
    /// `invariant`, `drift`, ...: see the core's `Role`).
    #[wasm_bindgen(js_name = "columnRoles")]
    pub fn column_roles(&self) -> Vec<String> {
        self.inner
            .column_roles()
            .iter()
            .map(|c| c.to_string())
            .collect()
    }

    /// Rows `start..` of a recorded column (a copy).
    pub fn column(&self, name: &str, start: f64) -> Result<Float64Array, JsValue> {
        let start = usize::try_from(count("start", start)?).unwrap_or(usize::MAX);
        let col = self.inner.column(name, start).map_err(js_error)?;
        Ok(Float64Array::from(col))
    }

    /// A matrix of the run (`U`, `V`, `U0`, `V0`, `target`), row-major (a copy).
    pub fn matrix(&self, name: &str) -> Result<Float64Array, JsValue> {
        let (_, _, data) = self.inner.matrix(name).map_err(js_error)?;
        Ok(Float64Array::from(data))
    }

    /// `[rows, cols]` of a matrix of the run.
    /// Names of the parameter blocks; `matrix(name + "_0")` is the initial value.
    #[wasm_bindgen(js_name = "paramNames")]
    pub fn param_names(&self) -> Vec<String> {
        self.inner.param_names()
    }

    /// A curvature query at the current point (JSON); returns the JSON report.
    pub fn hessian(&mut self, query: &str) -> Result<String, JsValue> {
        self.inner.hessian(query).map_err(js_error)
    }

    /// Validate a curvature query at the current point and keep it, to be advanced in chunks
    /// (`hessianAdvance`); replaces an earlier one. Throws on an invalid query.
    #[wasm_bindgen(js_name = "hessianStart")]
    pub fn hessian_start(&mut self, query: &str) -> Result<(), JsValue> {
        self.query = Some(session_query(&mut self.inner, query).map_err(js_error)?);
        Ok(())
    }

    /// Up to `maxUnits` units of the started query (Lanczos steps, probes); returns the
    /// `QueryStatus` JSON (`{"units","hvps","finished"}`).
    #[wasm_bindgen(js_name = "hessianAdvance")]
    pub fn hessian_advance(&mut self, max_units: f64) -> Result<String, JsValue> {
        let units = count("maxUnits", max_units)?;
        let Some(job) = self.query.as_mut() else {
            return Err(js_error(CoreError::request(
                "query",
                "no query started: call hessianStart first",
            )));
        };
        let st = session_query_advance(&mut self.inner, job, units).map_err(js_error)?;
        Ok(serde_json::to_string(&st).expect("QueryStatus serializes"))
    }

    /// The JSON report of the started query once `hessianAdvance` said it finished.
    #[wasm_bindgen(js_name = "hessianReport")]
    pub fn hessian_report(&self) -> Result<String, JsValue> {
        match self.query.as_ref().and_then(|j| j.report()) {
            Some(r) => Ok(r.to_string()),
            None => Err(js_error(CoreError::request(
                "query",
                "no finished query: call hessianStart, then hessianAdvance until finished",
            ))),
        }
    }

    /// Drop the started query (its work so far is discarded).
    #[wasm_bindgen(js_name = "hessianCancel")]
    pub fn hessian_cancel(&mut self) {
        self.query = None;
    }

    #[wasm_bindgen(js_name = "matrixShape", unchecked_return_type = "number[]")]
    pub fn matrix_shape(&self, name: &str) -> Result<Array, JsValue> {
        let (rows, cols, _) = self.inner.matrix(name).map_err(js_error)?;
        Ok(Array::of2(&(rows as f64).into(), &(cols as f64).into()))
    }
}

/// A study of the core (docs/studies.md): a computation that is not one run, advanced in units of
/// work.
#[wasm_bindgen]
pub struct WasmStudy {
    inner: Study,
}

#[wasm_bindgen]
impl WasmStudy {
    /// Validate `spec` (JSON with a `kind`) and `buffers` and set up the study. Throws on
    /// invalid input.
    #[wasm_bindgen(constructor)]
    pub fn new(
        spec: &str,
        #[wasm_bindgen(unchecked_param_type = "Record<string, Float64Array>")] buffers: JsValue,
    ) -> Result<WasmStudy, JsValue> {
        let buffers = self::buffers(&buffers)?;
        let inner = Study::new(spec, buffers).map_err(js_error)?;
        Ok(WasmStudy { inner })
    }

    /// Do up to `maxUnits` units of work; returns the `StudyStatus` JSON.
    pub fn advance(
        &mut self,
        #[wasm_bindgen(js_name = "maxUnits")] max_units: f64,
    ) -> Result<String, JsValue> {
        let max_units = count("maxUnits", max_units)?;
        let status = self.inner.advance(max_units).map_err(js_error)?;
        Ok(serde_json::to_string(&status).expect("StudyStatus serializes"))
    }

    /// The `StudyStatus` JSON.
    pub fn status(&self) -> String {
        serde_json::to_string(&self.inner.status()).expect("StudyStatus serializes")
    }

    /// The JSON result so far (format per study kind, docs/studies.md).
    pub fn result(&self) -> String {
        self.inner.result_json()
    }

    /// Names of the result columns, in order.
    #[wasm_bindgen(js_name = "columnNames")]
    pub fn column_names(&self) -> Vec<String> {
        self.inner.column_names().to_vec()
    }

    /// Rows `start..` of a result column (a copy).
    pub fn column(&self, name: &str, start: f64) -> Result<Float64Array, JsValue> {
        let start = usize::try_from(count("start", start)?).unwrap_or(usize::MAX);
        let col = self.inner.column(name, start).map_err(js_error)?;
        Ok(Float64Array::from(col))
    }

    /// The records finished since the last call (a sweep's rows), JSON Lines; "" when none.
    #[wasm_bindgen(js_name = "takeRecords")]
    pub fn take_records(&mut self) -> String {
        self.inner.take_records()
    }
}

/// `sweepPlan(spec, buffers)`: validate a sweep (every setting built once) and give its plan JSON.
#[wasm_bindgen(js_name = "sweepPlan")]
pub fn sweep_plan(
    spec: &str,
    #[wasm_bindgen(unchecked_param_type = "Record<string, Float64Array>")] buffers: JsValue,
) -> Result<String, JsValue> {
    let buffers = self::buffers(&buffers)?;
    autobalance_core::study::sweep::plan_json(spec, buffers).map_err(js_error)
}

/// `sweepTask(spec, buffers, run)`: one run of a sweep (place, seeds, values, hash, spec) as JSON.
#[wasm_bindgen(js_name = "sweepTask")]
pub fn sweep_task(
    spec: &str,
    #[wasm_bindgen(unchecked_param_type = "Record<string, Float64Array>")] buffers: JsValue,
    run: f64,
) -> Result<String, JsValue> {
    let buffers = self::buffers(&buffers)?;
    let run = count("run", run)?;
    autobalance_core::study::sweep::task_json(spec, buffers, run).map_err(js_error)
}

/// `sweepReduce(spec, rows)`: reduce one setting's rows (JSON Lines) to its table row (JSON).
#[wasm_bindgen(js_name = "sweepReduce")]
pub fn sweep_reduce(spec: &str, rows: &str) -> Result<String, JsValue> {
    autobalance_core::study::sweep::reduce_json(spec, rows).map_err(js_error)
}

/// The memory limit in bytes (2 GiB of the 4 GiB heap; the runs alive are held against it).
#[wasm_bindgen(js_name = "memoryLimit")]
pub fn memory_limit() -> f64 {
    autobalance_core::build::max_bytes() as f64
}

/// Version of the core crate.
#[wasm_bindgen(js_name = "coreVersion")]
pub fn core_version() -> String {
    autobalance_core::VERSION.to_string()
}

/// JSON list of the paper presets.
#[wasm_bindgen(js_name = "presetList")]
pub fn preset_list() -> String {
    autobalance_core::presets::list_json()
}

/// JSON list of the registered model families with their example specs.
#[wasm_bindgen(js_name = "familyList")]
pub fn family_list() -> String {
    autobalance_core::model::families_json()
}

/// JSON spec of one preset.
#[wasm_bindgen(js_name = "presetSpec")]
pub fn preset_spec(name: &str) -> Result<String, JsValue> {
    autobalance_core::presets::spec_json(name).map_err(js_error)
}
